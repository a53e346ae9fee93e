//! The Rust Task SDK for Apache Airflow on tokio.
//!
//! Tasks are async functions; plain functions run on tokio's blocking pool.
//!
//! ```no_run
//! use airflow_sdk_tokio::prelude::*;
//!
//! async fn extract(ctx: TaskContext) -> Result<Vec<u32>, TaskError> {
//!     let (a, b) = tokio::join!(ctx.get_variable("a"), ctx.get_variable("b")); // both in flight
//!     tracing::info!(a = %a?, b = %b?, "extracting");
//!     Ok(vec![1, 2, 3])
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Bundle::new("sales").dag("sales", |dag| dag.task("extract", extract)).serve()
//! }
//! ```
//!
//! The driver loop: one future owns the socket and a [`sdk::dispatch::Dispatcher`]
//! around the core's session, and waits for bytes, requests, or the session's deadline:
//!
//! ```text
//! loop {
//!     write dispatcher.transmit();
//!     select! {  // in this order
//!         _ = poll_fn(|cx| dispatcher.poll_requests(cx)) => {}  // taken into the session
//!         n = socket.read(&mut buf), if an answer is owed => dispatcher.handle_input(&buf[..n], now),
//!         _ = timer (at poll_timeout(), or earlier)           => dispatcher.handle_timeout(now),
//!     }
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use airflow_protocol::{Reply, ToSupervisor};
use airflow_task_sdk::dispatch::{Dispatcher, Requester};
use airflow_task_sdk::{BoxFuture, ClientError, ExchangeError, Launch, LaunchError, RunOutcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use airflow_task_sdk::{
    self as sdk, protocol, AssetKey, BundleMetadata, Cancellation, Connection, Defer, NotFound,
    Resume, TaskError, Timestamp, Wait, XComRef,
};

/// The tokio runtime: client calls are futures, any number in flight at once.
#[derive(Clone, Debug)]
pub struct TokioRuntime {
    requests: Requester,
}

impl airflow_task_sdk::Runtime for TokioRuntime {
    type Output<T: Send + 'static> = BoxFuture<'static, Result<T, ClientError>>;

    fn exchange(
        &self,
        body: Box<ToSupervisor>,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Reply, ExchangeError>> {
        self.requests.exchange(body, timeout)
    }

    fn deliver<T: Send + 'static>(
        call: BoxFuture<'static, Result<T, ClientError>>,
    ) -> Self::Output<T> {
        call
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn spawn_blocking<T: Send + 'static>(
        &self,
        work: Box<dyn FnOnce() -> T + Send>,
    ) -> BoxFuture<'static, T> {
        let handle = tokio::task::spawn_blocking(work);
        Box::pin(async move {
            match handle.await {
                Ok(value) => value,
                // The work catches its own panics; a join error means the runtime is
                // shutting down under us, and the run cannot report anything anyway.
                Err(e) => std::panic::resume_unwind(Box::new(format!("blocking task lost: {e}"))),
            }
        })
    }
}

/// What a task function receives.
pub type TaskContext = sdk::TaskContext<TokioRuntime>;
/// The async client: every method returns a future of `Result<T, ClientError>`.
pub type Client = sdk::Client<TokioRuntime>;
/// A bundle of DAGs whose tasks are `async fn(TaskContext)` or `fn(&TaskContext)`.
pub type Bundle = sdk::Bundle<sdk::TaskHandler<TokioRuntime>>;

impl sdk::Adapter for TokioRuntime {
    // SIGTERM drops the task future at once, so no grace period is needed.
    const STOP_GRACE: Duration = Duration::ZERO;

    /// Builds a current-thread tokio runtime and runs the task on it.
    fn run_blocking(bundle: &Bundle, launch: Launch) -> Result<RunOutcome, LaunchError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| LaunchError(format!("cannot start the tokio runtime: {e}")))?;
        runtime.block_on(run(bundle, launch))
    }
}

/// Runs one task instance over a connected comm socket, on the current tokio runtime. Use
/// it to serve from your own runtime instead of [`sdk::Serve::serve`].
pub async fn run(bundle: &Bundle, launch: Launch) -> Result<RunOutcome, LaunchError> {
    launch
        .comm
        .set_nonblocking(true)
        .map_err(|e| LaunchError(format!("comm socket: {e}")))?;
    let stream = TcpStream::from_std(
        launch
            .comm
            .try_clone()
            .map_err(|e| LaunchError(format!("comm socket: {e}")))?,
    )
    .map_err(|e| LaunchError(format!("comm socket: {e}")))?;
    let (dispatcher, startup, requester) = Dispatcher::new(launch.session.clone(), Instant::now());
    let _driver = AbortOnDrop(tokio::spawn(drive(stream, dispatcher)));
    let details = startup.details().await.map_err(LaunchError)?;
    let info = launch.task_info(*details);
    let runtime = TokioRuntime {
        requests: requester,
    };
    let task = sdk::run_task(
        runtime,
        bundle,
        info,
        launch.cancellation.clone(),
        launch.limits.clone(),
    );
    // The task runs as a task of its own rather than inside `block_on`: a spawned task woken
    // by the driver on the same thread is queued locally, where waking `block_on`'s future
    // would write to the runtime's eventfd and cost an extra `epoll_wait`, on every answer.
    let mut task = AbortOnDrop(tokio::spawn(task));
    match (&mut task.0).await {
        Ok(outcome) => Ok(outcome),
        // `execute` catches the task's panics; a join error means the runtime is shutting
        // down under us.
        Err(e) => Err(LaunchError(format!("the task was lost: {e}"))),
    }
}

// Aborts a spawned task when the run is dropped (SIGTERM, or the caller giving up).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

// Owns the socket: moves bytes between it and the dispatcher until every requester is gone.
async fn drive(mut stream: TcpStream, mut dispatcher: Dispatcher) {
    let mut buf = vec![0u8; 64 * 1024];
    // One timer for the session's deadlines (`Dispatcher::timer_to_set`). Once polled after
    // it is set, it wakes this task when due; polling it again on every turn would cost more
    // than the rest of the loop, so until it is set anew only its state is checked.
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    let mut timer_polled = false;
    loop {
        while !dispatcher.transmit().is_empty() {
            match stream.write(dispatcher.transmit()).await {
                Ok(0) | Err(_) => dispatcher.handle_eof(Instant::now()),
                Ok(n) => dispatcher.advance_transmit(n),
            }
        }
        if let Some(deadline) = dispatcher.timer_to_set() {
            timer.as_mut().reset(deadline.into());
            timer_polled = false;
        }
        let deadline = std::future::poll_fn(|cx| {
            if timer.is_elapsed() {
                Poll::Ready(())
            } else if !timer_polled {
                timer_polled = true;
                timer.as_mut().poll(cx)
            } else {
                Poll::Pending
            }
        });
        // In this order, without drawing a random order each turn as `select!` otherwise
        // does. Neither side can starve the other: each read takes all the bytes there are,
        // and callers wait for answers, so requests stop coming while none are read.
        tokio::select! {
            biased;
            // Takes every queued request, so that they go out in one write.
            more = std::future::poll_fn(|cx| dispatcher.poll_requests(cx)) => if !more {
                return;
            },
            // Only while an answer is owed (the supervisor speaks only to answer): polling
            // the read after every answer would cost a reactor look-up each time; an end of
            // stream while nothing is owed is seen with the next request.
            read = stream.read(&mut buf), if dispatcher.expects_input() => match read {
                Ok(0) | Err(_) => dispatcher.handle_eof(Instant::now()),
                Ok(n) => dispatcher.handle_input(&buf[..n], Instant::now()),
            },
            () = deadline, if dispatcher.timer_is_set() => {
                dispatcher.handle_timeout(Instant::now());
            }
        }
    }
}

/// Everything a task author needs: `use airflow_sdk_tokio::prelude::*;`.
pub mod prelude {
    pub use crate::{Bundle, Client, TaskContext};
    pub use airflow_task_sdk::Serve;
    pub use airflow_task_sdk::{
        ClientError, Connection, Defer, JsonValue, TaskError, Timestamp, Wait,
    };
}
