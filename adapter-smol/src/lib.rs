//! The Rust Task SDK for Apache Airflow on smol, and on any executor of the `futures-io`
//! world (async-std included).
//!
//! The connection is driven through `futures-io` traits and `async-io` timers, so the whole
//! run is one future that any executor can poll: [`sdk::Serve::serve`] uses smol's `block_on`, and
//! async-std users can call [`run`] from `async_std::task::block_on`.
//!
//! ```no_run
//! use airflow_sdk_smol::prelude::*;
//!
//! async fn extract(ctx: TaskContext) -> Result<Vec<u32>, TaskError> {
//!     let url = ctx.get_variable("source_url").await?;
//!     tracing::info!(%url, "extracting");
//!     Ok(vec![1, 2, 3])
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Bundle::new("sales").dag("sales", |dag| dag.task("extract", extract)).serve()
//! }
//! ```
//!
//! [`run`] writes a request sent on its own from its caller's poll and reads ahead for the
//! answer in that poll ([`sdk::dispatch::Dispatcher::with_direct_io`]); [`run_over`], generic
//! over any `AsyncRead + AsyncWrite` stream, leaves every request to the driver. The driver
//! loop:
//!
//! ```text
//! loop {
//!     write what the session has to send (poll_transmit);
//!     poll, in this order, until one is ready:
//!         dispatcher.poll_requests(cx)                    => stop once no requester is left,
//!         dispatcher.poll_receive(cx, read), while an answer is owed
//!                                                         => bytes or the end, fed to the session,
//!         the timer, while set                            => dispatcher.handle_timeout(now),
//! }
//! ```
//!
//! The driver and the task are polled together as one future ([`sdk::together::Together`]),
//! each with its own waker.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::net::TcpStream;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use airflow_protocol::ToSupervisor;
use airflow_task_sdk::dispatch::{Dispatcher, Exchange, Requester, Startup};
use airflow_task_sdk::together::Together;
use airflow_task_sdk::{BoxFuture, ClientError, Launch, LaunchError, RunOutcome};
use async_io::{Async, Timer};
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::{future, AsyncWriteExt};

pub use airflow_task_sdk::{
    self as sdk, protocol, AssetKey, BundleMetadata, Cancellation, Connection, Defer, NotFound,
    Resume, TaskError, Timestamp, Wait, XComRef,
};

/// The smol / futures-io runtime: client calls are futures, any number in flight at once.
#[derive(Clone, Debug)]
pub struct SmolRuntime {
    requests: Requester,
}

impl airflow_task_sdk::Runtime for SmolRuntime {
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
        Box::pin(async move {
            Timer::after(duration).await;
        })
    }

    fn spawn_blocking<T: Send + 'static>(
        &self,
        work: Box<dyn FnOnce() -> T + Send>,
    ) -> BoxFuture<'static, T> {
        Box::pin(blocking::unblock(work))
    }
}

/// What a task function receives.
pub type TaskContext = sdk::TaskContext<SmolRuntime>;
/// The async client: every method returns a future of `Result<T, ClientError>`.
pub type Client = sdk::Client<SmolRuntime>;
/// A bundle of DAGs whose tasks are `async fn(TaskContext)` or `fn(&TaskContext)`.
pub type Bundle = sdk::Bundle<sdk::TaskHandler<SmolRuntime>>;

impl sdk::Adapter for SmolRuntime {
    // SIGTERM drops the task future at once, so no grace period is needed.
    const STOP_GRACE: Duration = Duration::ZERO;

    /// Polls the run with `async_io::block_on`, the reactor smol runs on.
    fn run_blocking(bundle: &Bundle, launch: Launch) -> Result<RunOutcome, LaunchError> {
        async_io::block_on(run(bundle, launch))
    }
}

/// Runs one task instance over a connected comm socket. The returned future needs no
/// particular executor: poll it with smol, `async_std::task::block_on`, or `async_io::block_on`.
///
/// A request sent on its own is written by its caller, in the poll that sends it, and its
/// caller reads ahead for the answer ([`sdk::dispatch::Dispatcher::with_direct_io`]).
pub async fn run(bundle: &Bundle, launch: Launch) -> Result<RunOutcome, LaunchError> {
    let comm_error = |e: std::io::Error| LaunchError(format!("comm socket: {e}"));
    launch.comm.set_nonblocking(true).map_err(comm_error)?;
    let stream = launch
        .comm
        .try_clone()
        .and_then(Async::<TcpStream>::new)
        .map_err(comm_error)?;
    // Callers write, and read ahead, through a second handle on the same socket: a plain
    // non-blocking `send` or `recv`, under the dispatcher's lock, so bytes keep their order
    // with the driver's writes and reads.
    let (dispatcher, startup, requester) =
        Dispatcher::with_direct_socket(launch.session.clone(), Instant::now(), &launch.comm)
            .map_err(comm_error)?;
    run_on(bundle, launch, stream, (dispatcher, startup, requester)).await
}

/// [`run`] over any `futures-io` stream connected to the supervisor's comm socket (an
/// async-std `TcpStream`, for example). `launch.comm` is not used. Requests go out through
/// the driver, which reads the stream only while an answer is owed.
pub async fn run_over<S>(
    bundle: &Bundle,
    launch: Launch,
    stream: S,
) -> Result<RunOutcome, LaunchError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (dispatcher, startup, requester) = Dispatcher::new(launch.session.clone(), Instant::now());
    run_on(bundle, launch, stream, (dispatcher, startup, requester)).await
}

async fn run_on<S>(
    bundle: &Bundle,
    launch: Launch,
    stream: S,
    (dispatcher, startup, requester): (Dispatcher, Startup, Requester),
) -> Result<RunOutcome, LaunchError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let task = async {
        let details = startup.details().await.map_err(LaunchError)?;
        let info = launch.task_info(*details);
        let runtime = SmolRuntime {
            requests: requester,
        };
        Ok(sdk::run_task(
            runtime,
            bundle,
            info,
            launch.cancellation.clone(),
            launch.limits.clone(),
        )
        .await)
    };
    // The driver and the task are polled together, each only when its own waker fires
    // (`Together`): an answer wakes the task without polling the socket again (each poll of a
    // futures-io read tries a `recv` first), the task's requests wake the driver without
    // re-running the task, and an answer the driver reads reaches the task in the same poll.
    // It is one future, so any executor can poll it.
    Together::new(Box::pin(drive(stream, dispatcher)), Box::pin(task)).await
}

/// What woke the driver.
enum Turn {
    /// `false` once no requester is left.
    Requests(bool),
    /// Bytes, or the end of the stream, fed to the session.
    Received,
    Deadline,
}

// Owns the socket: moves bytes between it and the dispatcher until every requester is gone.
async fn drive<S>(mut stream: S, mut dispatcher: Dispatcher)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // One timer for the session's deadlines (`Dispatcher::timer_to_set`).
    let mut timer = Timer::never();
    loop {
        future::poll_fn(|cx| {
            dispatcher.poll_transmit(cx, |cx, bytes| Pin::new(&mut stream).poll_write(cx, bytes))
        })
        .await;
        let _ = stream.flush().await;
        if let Some(deadline) = dispatcher.timer_to_set() {
            timer.set_at(deadline);
        }
        // In this order: requests first, so that every queued one goes out in one write.
        let turn = future::poll_fn(|cx| {
            if let Poll::Ready(more) = dispatcher.poll_requests(cx) {
                return Poll::Ready(Turn::Requests(more));
            }
            // Only while an answer is owed: a futures-io read tries `recv` on every poll, and
            // a read registered with the reactor while callers take their answers themselves
            // would wake its thread for bytes already gone.
            if dispatcher.expects_input() {
                let received =
                    dispatcher.poll_receive(cx, |cx, buf| Pin::new(&mut stream).poll_read(cx, buf));
                if received.is_ready() {
                    return Poll::Ready(Turn::Received);
                }
            }
            if dispatcher.timer_is_set() && Pin::new(&mut timer).poll(cx).is_ready() {
                return Poll::Ready(Turn::Deadline);
            }
            Poll::Pending
        })
        .await;
        match turn {
            Turn::Requests(true) | Turn::Received => {}
            Turn::Requests(false) => return,
            Turn::Deadline => dispatcher.handle_timeout(Instant::now()),
        }
    }
}

/// Everything a task author needs: `use airflow_sdk_smol::prelude::*;`.
pub mod prelude {
    pub use crate::{Bundle, Client, TaskContext};
    pub use airflow_task_sdk::Serve;
    pub use airflow_task_sdk::{
        ClientError, Connection, Defer, JsonValue, TaskError, Timestamp, Wait,
    };
}
