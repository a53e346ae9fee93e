//! The runtime's side of one task run.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::frame::{self, ContextCarrier, EncodeError, FrameDecoder, FrameError};
use crate::messages::{
    BodyError, ErrorResponse, InvalidRequest, StartupDetails, ToSupervisor, ToTask,
};

/// Limits of a [`TaskSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The largest frame payload accepted or sent.
    pub max_frame_len: u32,
    /// How long a request may wait for its answer before it fails with
    /// [`ReplyError::TimedOut`]. The supervisor drops requests it cannot validate without
    /// answering, so there must always be a bound.
    pub request_timeout: Duration,
    /// How long to wait for `StartupDetails`. The supervisor sends it only after an HTTP
    /// call to the Execution API, so this is generous.
    pub startup_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_frame_len: frame::DEFAULT_MAX_FRAME_LEN,
            request_timeout: Duration::from_secs(60),
            startup_timeout: Duration::from_secs(120),
        }
    }
}

/// The id of a request, unique within a session and increasing from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where a [`TaskSession`] is in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Waiting for `StartupDetails`.
    AwaitingStartup,
    /// The task is running; requests may be sent.
    Running,
    /// A terminal message was sent; waiting for its answer.
    TerminalSent,
    /// The terminal message was answered. Close the sockets and exit.
    Finished,
    /// The connection ended (end of stream, a protocol violation by the supervisor, or no
    /// `StartupDetails` in time). Nothing more can be sent.
    Closed,
}

/// What the session reports to its driver.
// Replies are moved once from the session to their waiter; boxing them would cost an
// allocation per reply to save a copy of a few hundred bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The supervisor sent the task to run. Reported once.
    Startup(Box<StartupDetails>),
    /// A request was answered, failed or timed out. Reported exactly once per request.
    Reply {
        /// The request.
        id: RequestId,
        /// Its outcome.
        result: Result<Reply, ReplyError>,
    },
    /// The connection is over. Reported once; every request still waiting has been given a
    /// [`ReplyError::ConnectionClosed`] reply just before.
    Closed(CloseReason),
}

/// A successful answer.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The empty answer to writes and terminal messages.
    Empty,
    /// A result body (never an `ErrorResponse`; those are [`ReplyError::Error`]).
    Body(ToTask),
}

/// Where the supervisor put an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSlot {
    /// In the body: an expected outcome such as "not found".
    Body,
    /// In the error slot: the Execution API or the supervisor failed.
    Frame,
}

/// Why a request has no successful answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ReplyError {
    /// The supervisor answered with an error.
    Error {
        /// The error.
        error: ErrorResponse,
        /// Where it was.
        slot: ErrorSlot,
    },
    /// The answer's body could not be read.
    Malformed(BodyError),
    /// No answer within the request's bound.
    TimedOut {
        /// The message type of the request.
        request_type: &'static str,
        /// The bound that passed.
        after: Duration,
    },
    /// The connection ended before the answer came.
    ConnectionClosed,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error { error, .. } => write!(f, "supervisor answered {error}"),
            Self::Malformed(e) => write!(f, "supervisor's answer is unreadable: {e}"),
            Self::TimedOut {
                request_type,
                after,
            } => write!(
                f,
                "supervisor did not answer {request_type} within {:.1} s",
                after.as_secs_f64()
            ),
            Self::ConnectionClosed => {
                f.write_str("the connection to the supervisor closed before the answer came")
            }
        }
    }
}

impl std::error::Error for ReplyError {}

/// Why the connection ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CloseReason {
    /// The supervisor closed the connection.
    EndOfStream {
        /// Bytes of an incomplete frame left when it closed.
        truncated_bytes: usize,
    },
    /// The supervisor broke the protocol.
    Violation(RemoteViolation),
    /// No `StartupDetails` arrived in time.
    StartupTimedOut {
        /// The bound that passed.
        after: Duration,
    },
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EndOfStream { truncated_bytes: 0 } => f.write_str("the supervisor closed the connection"),
            Self::EndOfStream { truncated_bytes } => write!(
                f,
                "the supervisor closed the connection inside a frame ({truncated_bytes} bytes of it received)"
            ),
            Self::Violation(v) => write!(f, "protocol violation by the supervisor: {v}"),
            Self::StartupTimedOut { after } => write!(
                f,
                "no StartupDetails from the supervisor within {:.1} s",
                after.as_secs_f64()
            ),
        }
    }
}

/// The supervisor broke the protocol. The session is closed after any of these.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RemoteViolation {
    /// The byte stream is not a sequence of frames.
    Frame(FrameError),
    /// The first frame is not a `StartupDetails` body.
    UnexpectedFirstFrame {
        /// What it was instead.
        found: String,
    },
    /// The supervisor answered a request that was never sent.
    UnknownResponseId {
        /// The id it named.
        id: i64,
    },
    /// The supervisor answered a request a second time.
    RepeatedResponseId {
        /// The id it named.
        id: i64,
    },
}

impl fmt::Display for RemoteViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Frame(e) => e.fmt(f),
            Self::UnexpectedFirstFrame { found } => {
                write!(f, "expected StartupDetails as the first frame, got {found}")
            }
            Self::UnknownResponseId { id } => {
                write!(f, "response to request id {id}, which was never sent")
            }
            Self::RepeatedResponseId { id } => {
                write!(f, "second response to request id {id}")
            }
        }
    }
}

impl std::error::Error for RemoteViolation {}

/// The caller misused the session; nothing was sent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LocalError {
    /// Requests can only be sent after `StartupDetails` arrived.
    NotStarted,
    /// A terminal message was already sent; nothing more may be sent.
    AfterTerminal {
        /// The message that was refused.
        refused: &'static str,
    },
    /// The connection is closed.
    Closed,
    /// The supervisor would refuse this request and never answer it.
    Invalid(InvalidRequest),
    /// The request could not be encoded.
    Encode(EncodeError),
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotStarted => f.write_str("no request may be sent before StartupDetails arrives"),
            Self::AfterTerminal { refused } => write!(
                f,
                "{refused} refused: the task's terminal message was already sent"
            ),
            Self::Closed => f.write_str("the connection to the supervisor is closed"),
            Self::Invalid(e) => e.fmt(f),
            Self::Encode(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LocalError {}

#[derive(Debug)]
struct Pending {
    id: u64,
    deadline: Instant,
    timeout: Duration,
    type_name: &'static str,
}

// Ids whose requests timed out or were abandoned: a late answer to one is dropped quietly.
const ABANDONED_MEMORY: usize = 1024;

/// The runtime's side of the protocol for one task run.
///
/// Inputs are [`handle_input`](Self::handle_input), [`handle_eof`](Self::handle_eof),
/// [`handle_timeout`](Self::handle_timeout) and [`send`](Self::send); outputs are
/// [`transmit`](Self::transmit), [`poll_event`](Self::poll_event) and
/// [`poll_timeout`](Self::poll_timeout).
///
/// **After every input, the driver MUST write out [`transmit`](Self::transmit), drain
/// [`poll_event`](Self::poll_event) until it returns `None`, and then re-arm its timer from
/// [`poll_timeout`](Self::poll_timeout).** Events are edge-triggered: each is returned once.
#[derive(Debug)]
pub struct TaskSession {
    config: SessionConfig,
    state: SessionState,
    decoder: FrameDecoder,
    transmit: Vec<u8>,
    transmit_sent: usize,
    next_id: u64,
    pending: Vec<Pending>,
    abandoned: VecDeque<u64>,
    events: VecDeque<Event>,
    startup_deadline: Instant,
    terminal_id: Option<u64>,
}

impl TaskSession {
    /// A session waiting for `StartupDetails`, which must arrive by `now +
    /// config.startup_timeout`.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        Self {
            decoder: FrameDecoder::new(config.max_frame_len),
            startup_deadline: now + config.startup_timeout,
            config,
            state: SessionState::AwaitingStartup,
            transmit: Vec::with_capacity(256),
            transmit_sent: 0,
            next_id: 1,
            pending: Vec::new(),
            abandoned: VecDeque::new(),
            events: VecDeque::new(),
            terminal_id: None,
        }
    }

    /// The session's limits.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Where the session is in the run.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// How many requests wait for an answer.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// Feeds bytes received from the supervisor.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        if self.state == SessionState::Closed {
            return;
        }
        self.decoder.push(data);
        self.process_frames(now);
    }

    /// A writable region of at least `min` bytes to read socket data into, avoiding a copy;
    /// follow it with [`handle_received`](Self::handle_received).
    pub fn receive_buffer(&mut self, min: usize) -> &mut [u8] {
        self.decoder.spare(min)
    }

    /// Marks `n` bytes of [`receive_buffer`](Self::receive_buffer) as received and processes
    /// them.
    pub fn handle_received(&mut self, n: usize, now: Instant) {
        self.decoder.commit(n);
        if self.state != SessionState::Closed {
            self.process_frames(now);
        }
    }

    /// The supervisor closed the connection.
    pub fn handle_eof(&mut self, _now: Instant) {
        let truncated_bytes = self.decoder.buffered_len();
        self.close(CloseReason::EndOfStream { truncated_bytes });
    }

    /// Fails every request whose deadline is at or before `now`, and the session itself if
    /// `StartupDetails` is overdue.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            SessionState::Closed => {}
            SessionState::AwaitingStartup => {
                if now >= self.startup_deadline {
                    self.close(CloseReason::StartupTimedOut {
                        after: self.config.startup_timeout,
                    });
                }
            }
            _ => {
                let mut index = 0;
                while index < self.pending.len() {
                    if self.pending[index].deadline <= now {
                        let expired = self.pending.swap_remove(index);
                        self.remember_abandoned(expired.id);
                        self.events.push_back(Event::Reply {
                            id: RequestId(expired.id),
                            result: Err(ReplyError::TimedOut {
                                request_type: expired.type_name,
                                after: expired.timeout,
                            }),
                        });
                    } else {
                        index += 1;
                    }
                }
            }
        }
    }

    /// Sends a request with the configured timeout.
    pub fn send(&mut self, body: &ToSupervisor, now: Instant) -> Result<RequestId, LocalError> {
        self.send_with(body, self.config.request_timeout, None, now)
    }

    /// Sends a request with its own timeout and an optional trace context carrier.
    pub fn send_with(
        &mut self,
        body: &ToSupervisor,
        timeout: Duration,
        context_carrier: Option<&ContextCarrier>,
        now: Instant,
    ) -> Result<RequestId, LocalError> {
        match self.state {
            SessionState::AwaitingStartup => return Err(LocalError::NotStarted),
            SessionState::TerminalSent | SessionState::Finished => {
                return Err(LocalError::AfterTerminal {
                    refused: body.type_name(),
                })
            }
            SessionState::Closed => return Err(LocalError::Closed),
            SessionState::Running => {}
        }
        body.validate().map_err(LocalError::Invalid)?;
        let id = self.next_id;
        frame::encode_request(
            &mut self.transmit,
            id,
            body,
            context_carrier,
            self.config.max_frame_len,
        )
        .map_err(LocalError::Encode)?;
        self.next_id += 1;
        self.pending.push(Pending {
            id,
            deadline: now + timeout,
            timeout,
            type_name: body.type_name(),
        });
        if body.is_terminal() {
            self.state = SessionState::TerminalSent;
            self.terminal_id = Some(id);
        }
        Ok(RequestId(id))
    }

    /// Stops waiting for a request (its caller gave up). No event is reported for it, and a
    /// late answer is dropped quietly.
    pub fn abandon(&mut self, id: RequestId) {
        if let Some(index) = self.pending.iter().position(|p| p.id == id.0) {
            self.pending.swap_remove(index);
            self.remember_abandoned(id.0);
        }
    }

    /// Bytes to write to the supervisor; call [`advance_transmit`](Self::advance_transmit)
    /// with the count written.
    pub fn transmit(&self) -> &[u8] {
        &self.transmit[self.transmit_sent..]
    }

    /// Marks `n` bytes of [`transmit`](Self::transmit) as written.
    pub fn advance_transmit(&mut self, n: usize) {
        self.transmit_sent = (self.transmit_sent + n).min(self.transmit.len());
        if self.transmit_sent == self.transmit.len() {
            self.transmit.clear();
            self.transmit_sent = 0;
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            SessionState::AwaitingStartup => Some(self.startup_deadline),
            SessionState::Closed => None,
            _ => self.pending.iter().map(|p| p.deadline).min(),
        }
    }

    fn remember_abandoned(&mut self, id: u64) {
        if self.abandoned.len() == ABANDONED_MEMORY {
            self.abandoned.pop_front();
        }
        self.abandoned.push_back(id);
    }

    fn process_frames(&mut self, _now: Instant) {
        loop {
            let awaiting_startup = self.state == SessionState::AwaitingStartup;
            let offset = self.decoder.stream_offset();
            // Decode into owned values first, so that the frame's borrow of the receive
            // buffer ends before the bookkeeping below.
            let parsed = match self.decoder.next_frame() {
                Ok(None) => return,
                Err(e) => Err(RemoteViolation::Frame(e)),
                Ok(Some(payload)) => match frame::decode_response(payload) {
                    Err(e) => Err(RemoteViolation::Frame(FrameError::Malformed {
                        offset,
                        reason: e.0,
                    })),
                    Ok(envelope) if awaiting_startup => {
                        startup_event(envelope).map(Parsed::Startup)
                    }
                    Ok(envelope) => Ok(Parsed::Reply {
                        id: envelope.id,
                        result: reply_result(envelope),
                    }),
                },
            };
            let outcome = parsed.and_then(|parsed| match parsed {
                Parsed::Startup(details) => {
                    self.state = SessionState::Running;
                    Ok(Some(Event::Startup(details)))
                }
                Parsed::Reply { id, result } => self.reply_event(id, result),
            });
            match outcome {
                Ok(Some(event)) => self.events.push_back(event),
                Ok(None) => {}
                Err(violation) => {
                    self.close(CloseReason::Violation(violation));
                    return;
                }
            }
        }
    }

    fn reply_event(
        &mut self,
        id: i64,
        result: Result<Reply, ReplyError>,
    ) -> Result<Option<Event>, RemoteViolation> {
        let Some(index) = self.pending.iter().position(|p| p.id as i64 == id) else {
            if self.abandoned.iter().any(|&a| a as i64 == id) {
                return Ok(None);
            }
            return Err(if id >= 1 && (id as u64) < self.next_id {
                RemoteViolation::RepeatedResponseId { id }
            } else {
                RemoteViolation::UnknownResponseId { id }
            });
        };
        let request = self.pending.swap_remove(index);
        if self.terminal_id == Some(request.id) {
            self.state = SessionState::Finished;
        }
        Ok(Some(Event::Reply {
            id: RequestId(request.id),
            result,
        }))
    }

    fn close(&mut self, reason: CloseReason) {
        if self.state == SessionState::Closed {
            return;
        }
        self.state = SessionState::Closed;
        for request in std::mem::take(&mut self.pending) {
            self.events.push_back(Event::Reply {
                id: RequestId(request.id),
                result: Err(ReplyError::ConnectionClosed),
            });
        }
        self.events.push_back(Event::Closed(reason));
    }
}

#[allow(clippy::large_enum_variant)]
enum Parsed {
    Startup(Box<StartupDetails>),
    Reply {
        id: i64,
        result: Result<Reply, ReplyError>,
    },
}

fn startup_event(
    response: frame::DecodedResponse<'_>,
) -> Result<Box<StartupDetails>, RemoteViolation> {
    let unexpected = |found: String| RemoteViolation::UnexpectedFirstFrame { found };
    if let Some(error) = response.error {
        let text = match ToTask::decode(error) {
            Ok(ToTask::ErrorResponse(e)) => e.to_string(),
            _ => "an unreadable error".to_owned(),
        };
        return Err(unexpected(format!("an error: {text}")));
    }
    let Some(body) = response.body else {
        return Err(unexpected("an empty frame".to_owned()));
    };
    match body {
        Ok(ToTask::StartupDetails(details)) => Ok(details),
        Ok(ToTask::Unknown { type_name }) => Err(unexpected(format!(
            "{type_name} (this runtime only runs tasks)"
        ))),
        Ok(other) => Err(unexpected(other.type_name().to_owned())),
        Err(e) => Err(unexpected(format!("an unreadable body ({e})"))),
    }
}

fn reply_result(response: frame::DecodedResponse<'_>) -> Result<Reply, ReplyError> {
    if let Some(error) = response.error {
        return match ToTask::decode(error) {
            Ok(ToTask::ErrorResponse(error)) => Err(ReplyError::Error {
                error,
                slot: ErrorSlot::Frame,
            }),
            Ok(other) => Err(ReplyError::Malformed(BodyError::Invalid {
                type_name: other.type_name().to_owned(),
                reason: "the error slot must hold an ErrorResponse".to_owned(),
            })),
            Err(e) => Err(ReplyError::Malformed(e)),
        };
    }
    match response.body {
        None => Ok(Reply::Empty),
        Some(Ok(ToTask::ErrorResponse(error))) => Err(ReplyError::Error {
            error,
            slot: ErrorSlot::Body,
        }),
        Some(Ok(body)) => Ok(Reply::Body(body)),
        Some(Err(e)) => Err(ReplyError::Malformed(e)),
    }
}
