//! The Rust Task SDK for Apache Airflow on blocking std I/O.
//!
//! Tasks are plain functions; the task runs on its own thread while the SDK talks to the
//! Airflow supervisor.
//!
//! ```no_run
//! use airflow_sdk_std::prelude::*;
//!
//! fn extract(ctx: &TaskContext) -> Result<Vec<u32>, TaskError> {
//!     let url = ctx.get_variable("source_url")?; // AIRFLOW_VAR_SOURCE_URL wins if set
//!     tracing::info!(%url, "extracting");         // lands in the Airflow task log
//!     Ok(vec![1, 2, 3])                           // pushed as XCom "return_value"
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Bundle::new("sales").dag("sales", |dag| dag.task("extract", extract)).serve()
//! }
//! ```
//!
//! The driver loop, in [`driver`](self) terms: a reader thread feeds received bytes to the
//! core's `TaskSession`; a caller sends under the session lock, writes
//! `session.transmit()`, and waits on a condition variable until its reply event arrives or
//! the session's `poll_timeout()` passes, when it calls `handle_timeout`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod driver;
mod exec;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use airflow_protocol::{Reply, ToSupervisor};
use airflow_task_sdk::execute::{Panicked, TaskReturn};
use airflow_task_sdk::{
    BoxFuture, ClientError, ExchangeError, FromTaskFn, JsonValue, Launch, LaunchError, RunOutcome,
};
use serde::Serialize;

pub use airflow_task_sdk::{
    self as sdk, protocol, AssetKey, BundleMetadata, Cancellation, Connection, Defer, NotFound,
    Resume, TaskError, Timestamp, XComRef,
};

/// How long a task may take to stop by itself after SIGTERM before the run reports it
/// terminated. A thread cannot be cancelled, so the task should check
/// [`TaskContext::is_cancelled`](sdk::TaskContext::is_cancelled).
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// The blocking runtime: requests are answered on the calling thread.
#[derive(Clone)]
pub struct StdRuntime {
    connection: Arc<driver::Connection>,
}

impl std::fmt::Debug for StdRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StdRuntime")
    }
}

impl airflow_task_sdk::Runtime for StdRuntime {
    type Output<T: Send + 'static> = Result<T, ClientError>;

    fn exchange(
        &self,
        body: ToSupervisor,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Reply, ExchangeError>> {
        let connection = self.connection.clone();
        Box::pin(async move { connection.exchange(&body, timeout) })
    }

    fn deliver<T: Send + 'static>(
        call: BoxFuture<'static, Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        exec::block_on(call)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(exec::sleep(duration))
    }
}

/// What a task function receives.
pub type TaskContext = sdk::TaskContext<StdRuntime>;
/// The blocking client: every method returns `Result<T, ClientError>`.
pub type Client = sdk::Client<StdRuntime>;
/// A bundle of DAGs whose tasks are plain functions.
pub type Bundle = sdk::Bundle<Handler>;

type TaskFn = dyn Fn(&TaskContext) -> Result<JsonValue, TaskError> + Send + Sync;

/// A task function, as stored in a [`Bundle`].
#[derive(Clone)]
pub struct Handler(Arc<TaskFn>);

/// Marks plain functions `fn(&TaskContext) -> Result<T, E>` as tasks.
pub struct PlainFn;

impl<F, T, E> FromTaskFn<F, PlainFn> for Handler
where
    F: Fn(&TaskContext) -> Result<T, E> + Send + Sync + 'static,
    T: Serialize,
    E: Into<TaskError>,
{
    fn from_task_fn(f: F) -> Handler {
        Handler(Arc::new(move |ctx: &TaskContext| {
            let value = f(ctx).map_err(Into::into)?;
            serde_json::to_value(&value).map_err(|e| {
                TaskError::msg(format!("the return value cannot be written as JSON: {e}"))
            })
        }))
    }
}

/// Runs bundles: `bundle.serve()` in `main`.
pub trait Serve {
    /// Parses the command line and does what it asks: run one task for the supervisor
    /// (`--comm`/`--logs`), print metadata (`--airflow-metadata`), or run a task locally
    /// (`test DAG TASK`). Returns the process exit status.
    fn serve(self) -> ExitCode;

    /// [`Serve::serve`] with explicit arguments, the first being the program name.
    fn serve_args<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone;
}

impl Serve for Bundle {
    fn serve(self) -> ExitCode {
        self.serve_args(std::env::args_os())
    }

    fn serve_args<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        sdk::serve::serve_args(&self, STOP_GRACE, args, |launch| run(&self, launch))
    }
}

/// Runs one task instance over a connected comm socket.
pub fn run(bundle: &Bundle, launch: Launch) -> Result<RunOutcome, LaunchError> {
    let stream = launch
        .comm
        .try_clone()
        .map_err(|e| LaunchError(format!("comm socket: {e}")))?;
    let connection = driver::Connection::start(stream, launch.session.clone())
        .map_err(|e| LaunchError(format!("comm socket: {e}")))?;
    let details = connection.startup().map_err(LaunchError)?;
    let info = launch.task_info(*details);
    let resume = info.resume().map(|r| r.method);
    let handler = bundle
        .find(info.dag_id(), info.task_id())
        .map(|task| task.handler_for(resume.as_deref()).clone());
    let task = handler.map(|handler| move |ctx: TaskContext| run_on_thread(handler, ctx));
    let runtime = StdRuntime { connection };
    Ok(exec::block_on(sdk::execute(
        runtime,
        info,
        launch.cancellation,
        launch.limits,
        task,
    )))
}

// The task runs on its own thread, so the run can still report an outcome if it does not
// stop after SIGTERM; a panic is caught there and reported as a failure.
fn run_on_thread(
    handler: Handler,
    ctx: TaskContext,
) -> impl std::future::Future<Output = TaskReturn> + Send {
    let (filler, slot) = exec::slot();
    // The run's span (dag, task, run, try) follows the task onto its thread.
    let span = tracing::Span::current();
    let spawned = std::thread::Builder::new()
        .name(format!("task {}", ctx.info().task_id()))
        .spawn(move || {
            let _entered = span.enter();
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (handler.0)(&ctx)));
            filler.fill(result.map_err(|payload| Panicked::from_payload(&*payload)));
        });
    async move {
        match spawned {
            Ok(_) => slot.await,
            Err(e) => Ok(Err(TaskError::msg(format!(
                "the task thread could not start: {e}"
            )))),
        }
    }
}

/// Everything a task author needs: `use airflow_sdk_std::prelude::*;`.
pub mod prelude {
    pub use crate::{Bundle, Client, Serve, TaskContext};
    pub use airflow_task_sdk::{ClientError, Connection, Defer, JsonValue, TaskError, Timestamp};
}
