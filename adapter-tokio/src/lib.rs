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
//! A request sent on its own (the usual case: one call awaited after another) is written to
//! the socket by its caller, in the poll that sends it, with a write that never waits, and
//! the caller reads ahead for its answer in that same poll
//! ([`sdk::dispatch::Dispatcher::with_direct_io`]): when the supervisor answers during the
//! caller's hand-over of the CPU, the request completes without the driver or the reactor.
//! Requests sent in a burst are queued and written together. One driver future reads the
//! socket into the core's session while an answer is owed, routes each answer to its caller,
//! and writes the queued requests and whatever a caller's write left over:
//!
//! ```text
//! loop {
//!     after taking requests, a timeout or the end: write what the session has to send, and
//!     move the timer if the session's next deadline is earlier;
//!     poll, in this order, until one is ready:
//!         dispatcher.poll_requests(cx)                    => stop once no requester is left,
//!         dispatcher.poll_receive(cx, read), while an answer is owed
//!                                                         => bytes or the end, fed to the session,
//!         the timer, while set                            => dispatcher.handle_timeout(now),
//! }
//! ```
//!
//! The driver and the task run in one tokio task, polled together
//! ([`sdk::together::Together`]), each with its own waker: an answer the driver reads reaches
//! the task in the same poll. The session's deadlines are kept on one timer, a `timerfd` in
//! tokio's reactor on Linux (a tokio timer elsewhere), so that parking the runtime between
//! round trips involves no timer at all.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::pin::Pin;
use std::time::{Duration, Instant};

use airflow_protocol::ToSupervisor;
use airflow_task_sdk::dispatch::{Dispatcher, Exchange, Received, Requester};
use airflow_task_sdk::together::Together;
use airflow_task_sdk::{BoxFuture, ClientError, Launch, LaunchError, RunOutcome};
use std::task::Poll;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

mod timer;
use timer::DeadlineTimer;

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

    type Exchange = Exchange;

    fn exchange(&self, body: Box<ToSupervisor>, timeout: Duration) -> Exchange {
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
    let comm_error = |e: std::io::Error| LaunchError(format!("comm socket: {e}"));
    launch.comm.set_nonblocking(true).map_err(comm_error)?;
    let stream =
        TcpStream::from_std(launch.comm.try_clone().map_err(comm_error)?).map_err(comm_error)?;
    // Callers write, and read ahead, through a second handle on the same socket: a plain
    // non-blocking `send` or `recv`, under the dispatcher's lock, so bytes keep their order
    // with the driver's writes and reads. A read ahead that takes what tokio's reactor was
    // about to report costs no spurious wake-up: epoll drops a readiness event whose socket
    // has nothing left to read by the time it is collected.
    let (dispatcher, startup, requester) =
        Dispatcher::with_direct_socket(launch.session.clone(), Instant::now(), &launch.comm)
            .map_err(comm_error)?;
    let mut driver = Box::pin(drive(stream, dispatcher));
    let details = tokio::select! {
        biased;
        details = startup.details() => details.map_err(LaunchError)?,
        () = driver.as_mut() => {
            return Err(LaunchError("the connection driver stopped before StartupDetails".into()))
        }
    };
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
    // The driver and the task are polled together, in a task of their own. Together, an
    // answer the driver reads reaches the task in the same poll. In a task of their own
    // rather than in `block_on`'s future: a spawned task woken by the reactor is queued
    // locally, where waking `block_on`'s future would write to the runtime's eventfd and cost
    // an extra `epoll_wait`, on every answer.
    let mut run = AbortOnDrop(tokio::spawn(Together::new(driver, Box::pin(task))));
    match (&mut run.0).await {
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

/// What woke the driver.
enum Turn {
    /// `false` once no requester is left.
    Requests(bool),
    Received(Received),
    Deadline,
}

// Reads the socket into the dispatcher, and writes what callers' writes left over, until
// every requester is gone.
async fn drive(mut stream: TcpStream, mut dispatcher: Dispatcher) {
    // One timer for the session's deadlines (`Dispatcher::timer_to_set`).
    let mut timer = DeadlineTimer::new();
    // Whether the session may have bytes to write or a new deadline: only after the driver
    // took requests, a caller's write left it work, or the session timed out or closed. A
    // read only brings answers, so the turns that follow reads skip both (and their locks).
    let mut after_requests = true;
    loop {
        if std::mem::take(&mut after_requests) {
            std::future::poll_fn(|cx| {
                dispatcher
                    .poll_transmit(cx, |cx, bytes| Pin::new(&mut stream).poll_write(cx, bytes))
            })
            .await;
            if let Some(deadline) = dispatcher.timer_to_set() {
                timer.set(deadline);
            }
        }
        // In this order. Neither side can starve the other: each read takes all the bytes
        // there are, and callers wait for answers, so requests stop coming while none are
        // read.
        let turn = std::future::poll_fn(|cx| {
            // Ready when a caller left work for the driver, or when no requester is left.
            if let Poll::Ready(more) = dispatcher.poll_requests(cx) {
                return Poll::Ready(Turn::Requests(more));
            }
            // Only while an answer is owed (a caller whose request waits wakes the driver): a
            // read registered while callers take their answers themselves would only wake
            // the driver for bytes already gone.
            if dispatcher.expects_input() {
                let read = dispatcher.poll_receive(cx, |cx, buf| {
                    let mut buf = ReadBuf::new(buf);
                    Pin::new(&mut stream)
                        .poll_read(cx, &mut buf)
                        .map_ok(|()| buf.filled().len())
                });
                if let Poll::Ready(received) = read {
                    return Poll::Ready(Turn::Received(received));
                }
            }
            if dispatcher.timer_is_set() && timer.poll_fired(cx).is_ready() {
                return Poll::Ready(Turn::Deadline);
            }
            Poll::Pending
        })
        .await;
        match turn {
            Turn::Requests(true) | Turn::Received(Received::End) => after_requests = true,
            Turn::Requests(false) => return,
            Turn::Received(Received::Bytes) => {}
            Turn::Deadline => {
                dispatcher.handle_timeout(Instant::now());
                after_requests = true;
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
