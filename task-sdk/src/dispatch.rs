//! What the async adapters share around the core's session: routing requests from any task
//! to the connection's driver and each answer back to its caller, by id.
//!
//! An async adapter runs one driver future that owns the socket and a [`Dispatcher`], and
//! waits for whichever comes first: bytes from the socket, a [`Request`] from a caller, or the
//! session's next deadline. Every protocol decision stays in the core session; this module
//! only keeps the per-request reply channels. Its channels work under any executor.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use airflow_protocol::messages::StartupDetails;
use airflow_protocol::{
    CloseReason, Event, LocalError, Reply, ReplyError, SessionConfig, SessionState, TaskSession,
    ToSupervisor,
};

use crate::runtime::{BoxFuture, ExchangeError};

type ReplySender = async_channel::Sender<Result<Reply, ExchangeError>>;

/// One request on its way to the driver, with the channel its answer goes back on.
pub struct Request {
    body: ToSupervisor,
    timeout: Duration,
    reply: ReplySender,
}

/// The callers' side: sends requests to the driver. Cheap to clone.
#[derive(Clone)]
pub struct Requester {
    tx: async_channel::Sender<Request>,
}

impl std::fmt::Debug for Requester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Requester")
    }
}

/// The driver's side of the request channel.
pub type Requests = async_channel::Receiver<Request>;

/// A channel for requests from any number of callers to one driver.
pub fn request_channel() -> (Requester, Requests) {
    let (tx, rx) = async_channel::unbounded();
    (Requester { tx }, rx)
}

impl Requester {
    /// Sends `body` through the driver and resolves to its answer. The session bounds the
    /// wait by `timeout`, so this always resolves.
    pub fn exchange(
        &self,
        body: ToSupervisor,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Reply, ExchangeError>> {
        let tx = self.tx.clone();
        Box::pin(async move {
            let (reply, answer) = async_channel::bounded(1);
            if tx
                .send(Request {
                    body,
                    timeout,
                    reply,
                })
                .await
                .is_err()
            {
                return Err(ExchangeError::Local(LocalError::Closed));
            }
            answer
                .recv()
                .await
                .unwrap_or(Err(ExchangeError::Remote(ReplyError::ConnectionClosed)))
        })
    }
}

/// A session plus the reply channel of each request in flight.
pub struct Dispatcher {
    session: TaskSession,
    waiting: HashMap<u64, ReplySender>,
    startup: Option<async_channel::Sender<Result<Box<StartupDetails>, String>>>,
    closed: bool,
}

/// Resolves to `StartupDetails`, or to why the connection ended before it came.
pub struct Startup(async_channel::Receiver<Result<Box<StartupDetails>, String>>);

impl Startup {
    /// Waits for `StartupDetails` (the session bounds the wait).
    pub async fn details(self) -> Result<Box<StartupDetails>, String> {
        self.0
            .recv()
            .await
            .unwrap_or_else(|_| Err("the connection driver stopped".to_owned()))
    }
}

impl Dispatcher {
    /// A dispatcher over a new session, and the future of its `StartupDetails`.
    pub fn new(config: SessionConfig, now: Instant) -> (Self, Startup) {
        let (tx, rx) = async_channel::bounded(1);
        let dispatcher = Self {
            session: TaskSession::new(config, now),
            waiting: HashMap::new(),
            startup: Some(tx),
            closed: false,
        };
        (dispatcher, Startup(rx))
    }

    /// Feeds bytes read from the socket.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        self.session.handle_input(data, now);
        self.dispatch();
    }

    /// The socket reached its end (or failed).
    pub fn handle_eof(&mut self, now: Instant) {
        self.session.handle_eof(now);
        self.dispatch();
    }

    /// The session's deadline passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
        self.dispatch();
    }

    /// Takes a caller's request into the session; a refusal is answered at once.
    pub fn submit(&mut self, request: Request, now: Instant) {
        match self
            .session
            .send_with(&request.body, request.timeout, None, now)
        {
            Ok(id) => {
                self.waiting.insert(id.0, request.reply);
            }
            Err(error) => {
                let _ = request.reply.try_send(Err(ExchangeError::Local(error)));
            }
        }
    }

    /// Bytes to write to the socket.
    pub fn transmit(&self) -> &[u8] {
        self.session.transmit()
    }

    /// Marks `n` bytes of [`transmit`](Self::transmit) as written.
    pub fn advance_transmit(&mut self, n: usize) {
        self.session.advance_transmit(n);
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    /// Whether the connection is over (stop reading; requests are refused).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the supervisor owes the task something (`StartupDetails`, or the answer to a
    /// request). The supervisor speaks only to answer, so a driver whose reads cost a system
    /// call each may leave the socket alone otherwise; an end of stream is then seen with the
    /// next request.
    pub fn expects_input(&self) -> bool {
        !self.closed
            && (self.session.state() == SessionState::AwaitingStartup
                || self.session.pending_requests() > 0)
    }

    fn dispatch(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Startup(details) => {
                    if let Some(tx) = self.startup.take() {
                        let _ = tx.try_send(Ok(details));
                    }
                }
                Event::Reply { id, result } => {
                    if let Some(reply) = self.waiting.remove(&id.0) {
                        // A caller that gave up has dropped its receiver; nothing to do.
                        let _ = reply.try_send(result.map_err(ExchangeError::Remote));
                    }
                }
                Event::Closed(reason) => {
                    self.closed = true;
                    if let Some(tx) = self.startup.take() {
                        let _ = tx.try_send(Err(reason.to_string()));
                    }
                    if let CloseReason::Violation(violation) = &reason {
                        tracing::error!(target: "airflow.sdk", "{violation}");
                    }
                }
            }
        }
    }
}
