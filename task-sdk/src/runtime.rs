//! What an adapter provides to the shared layer: one request round trip, a timer, and the
//! shape of client results (plain values when blocking, futures when async).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use std::fmt;

use airflow_protocol::{LocalError, Reply, ReplyError, ToSupervisor};

use crate::error::ClientError;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The services an adapter gives the shared layer. Everything protocol-related is decided by
/// the core session the adapter drives; this trait only moves requests and time.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// What client methods return: `Result<T, ClientError>` for a blocking adapter, a future
    /// of it for an async one.
    type Output<T: Send + 'static>;

    /// The future of [`exchange`](Self::exchange). A named type rather than a boxed one:
    /// every client call awaits one, and the box would be an allocation per request.
    type Exchange: Future<Output = Result<Reply, ExchangeError>> + Send + 'static;

    /// Sends one request and resolves to its answer, or to `ReplyError::TimedOut` after
    /// `timeout`. The body comes boxed: it passes through several layers on its way to the
    /// session, and a `ToSupervisor` is large to move.
    fn exchange(&self, body: Box<ToSupervisor>, timeout: Duration) -> Self::Exchange;

    /// Turns a client call into this runtime's result shape.
    fn deliver<T: Send + 'static>(
        call: BoxFuture<'static, Result<T, ClientError>>,
    ) -> Self::Output<T>;

    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// Runs blocking work (a plain task function) on a thread where it may block, and
    /// resolves to its result.
    fn spawn_blocking<T: Send + 'static>(
        &self,
        work: Box<dyn FnOnce() -> T + Send>,
    ) -> BoxFuture<'static, T>;
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ExchangeError {
    /// The session refused to send it (after the terminal message, invalid, closed).
    Local(LocalError),
    /// It was sent and failed: an error answer, a timeout, or the connection closing.
    Remote(ReplyError),
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(e) => e.fmt(f),
            Self::Remote(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ExchangeError {}

impl From<LocalError> for ExchangeError {
    fn from(e: LocalError) -> Self {
        Self::Local(e)
    }
}

impl From<ReplyError> for ExchangeError {
    fn from(e: ReplyError) -> Self {
        Self::Remote(e)
    }
}

/// How an answer becomes a typed value, boxed. A call may use its own closure type instead
/// (the `D` of [`Call`] and [`Main`]), which saves an allocation on the hottest calls.
pub(crate) type Decode<T> =
    Box<dyn FnOnce(Result<Reply, ExchangeError>) -> Result<T, ClientError> + Send>;

/// A decode step as a bound: any closure from an answer to a typed value.
pub(crate) trait DecodeFn<T>:
    FnOnce(Result<Reply, ExchangeError>) -> Result<T, ClientError> + Send + 'static
{
}

impl<T, F> DecodeFn<T> for F where
    F: FnOnce(Result<Reply, ExchangeError>) -> Result<T, ClientError> + Send + 'static
{
}

/// One client operation: requests to send, and how to produce its value.
pub(crate) struct Call<T, D = Decode<T>> {
    /// Requests sent first and awaited, whose answers are only logged on failure (used for
    /// `MaskSecret` before handing out an environment-sourced secret).
    pub(crate) side: Vec<ToSupervisor>,
    pub(crate) main: Main<T, D>,
    pub(crate) timeout: Duration,
}

pub(crate) enum Main<T, D = Decode<T>> {
    Ready(Result<T, ClientError>),
    Request(Box<ToSupervisor>, D),
}

impl<T: Send + 'static, D: DecodeFn<T>> Main<T, D> {
    /// Turns the value, once there is one, into another.
    pub(crate) fn and_then<U: Send + 'static>(
        self,
        then: impl FnOnce(T) -> Result<U, ClientError> + Send + 'static,
    ) -> Main<U, impl DecodeFn<U>> {
        match self {
            Main::Ready(value) => Main::Ready(value.and_then(then)),
            Main::Request(body, decode) => {
                Main::Request(body, move |reply| decode(reply).and_then(then))
            }
        }
    }
}

impl<T: Send + 'static, D: DecodeFn<T>> Call<T, D> {
    /// Runs the call over a runtime's exchange.
    pub(crate) async fn run<R: Runtime>(self, runtime: R) -> Result<T, ClientError> {
        let Call {
            side,
            main,
            timeout,
        } = self;
        if !side.is_empty() {
            // Boxed: side requests are rare, and their state would make every call's future
            // (moved into its box on each call) larger.
            Box::pin(send_side_requests(side, &runtime, timeout)).await;
        }
        match main {
            Main::Ready(value) => value,
            Main::Request(body, decode) => decode(runtime.exchange(body, timeout).await),
        }
    }
}

async fn send_side_requests<R: Runtime>(side: Vec<ToSupervisor>, runtime: &R, timeout: Duration) {
    for side in side {
        let type_name = side.type_name();
        if let Err(e) = runtime.exchange(Box::new(side), timeout).await {
            tracing::warn!(target: "airflow.sdk", request = type_name, error = %e, "side request failed");
        }
    }
}
