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
//! The driver loop, in [`driver`](self) terms: a caller sends under the session lock, writes
//! `session.transmit()`, and then reads the socket itself, feeding the core's `TaskSession`
//! until its reply event arrives; reads end at the session's `poll_timeout()`, when it calls
//! `handle_timeout`. While one thread reads, other waiting threads sleep on a condition
//! variable and are woken when it has fed the session.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod driver;
mod exec;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use airflow_protocol::{Reply, ToSupervisor};
use airflow_task_sdk::{BoxFuture, ClientError, ExchangeError, Launch, LaunchError, RunOutcome};

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

/// The blocking runtime's exchange: the request goes out, and its answer is waited for, in
/// the one poll that `block_on` gives it.
pub struct BlockingExchange {
    connection: Arc<driver::Connection>,
    request: Option<(Box<ToSupervisor>, Duration)>,
}

impl std::fmt::Debug for BlockingExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockingExchange")
    }
}

impl Future for BlockingExchange {
    type Output = Result<Reply, ExchangeError>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        match self.request.take() {
            Some((body, timeout)) => Poll::Ready(self.connection.exchange(&body, timeout)),
            None => panic!("a blocking exchange polled after it completed"),
        }
    }
}

impl airflow_task_sdk::Runtime for StdRuntime {
    type Output<T: Send + 'static> = Result<T, ClientError>;

    type Exchange = BlockingExchange;

    fn exchange(&self, body: Box<ToSupervisor>, timeout: Duration) -> BlockingExchange {
        BlockingExchange {
            connection: self.connection.clone(),
            request: Some((body, timeout)),
        }
    }

    fn deliver<T: Send + 'static>(
        call: BoxFuture<'static, Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        sdk::block_on(call)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(exec::sleep(duration))
    }

    fn spawn_blocking<T: Send + 'static>(
        &self,
        work: Box<dyn FnOnce() -> T + Send>,
    ) -> BoxFuture<'static, T> {
        Box::pin(exec::spawn_thread(work))
    }
}

/// What a task function receives.
pub type TaskContext = sdk::TaskContext<StdRuntime>;
/// The blocking client: every method returns `Result<T, ClientError>`.
pub type Client = sdk::Client<StdRuntime>;
/// A bundle of DAGs whose tasks are plain functions `fn(&TaskContext) -> Result<T, E>`.
pub type Bundle = sdk::Bundle<sdk::TaskHandler<StdRuntime>>;

impl sdk::Adapter for StdRuntime {
    const STOP_GRACE: Duration = STOP_GRACE;

    fn run_blocking(bundle: &Bundle, launch: Launch) -> Result<RunOutcome, LaunchError> {
        run(bundle, launch)
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
    let runtime = StdRuntime { connection };
    Ok(sdk::block_on(sdk::run_task(
        runtime,
        bundle,
        info,
        launch.cancellation,
        launch.limits,
    )))
}

/// Everything a task author needs: `use airflow_sdk_std::prelude::*;`.
pub mod prelude {
    pub use crate::{Bundle, Client, TaskContext};
    pub use airflow_task_sdk::Serve;
    pub use airflow_task_sdk::{ClientError, Connection, Defer, JsonValue, TaskError, Timestamp};
}
