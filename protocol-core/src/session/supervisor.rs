//! The supervisor's side of the protocol, for tests, benchmarks and local task runs.

use std::fmt;

use crate::frame::{self, ContextCarrier, EncodeError, FrameDecoder, FrameError, Response};
use crate::messages::{BodyError, ErrorResponse, StartupDetails, ToSupervisor, ToTask};

/// Limits of a [`SupervisorSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorConfig {
    /// The largest frame payload accepted or sent.
    pub max_frame_len: u32,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            max_frame_len: frame::DEFAULT_MAX_FRAME_LEN,
        }
    }
}

/// What a [`SupervisorSession`] reports.
// Requests are moved once to the caller; boxing would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SupervisorEvent {
    /// A request to answer with [`SupervisorSession::respond`].
    Request {
        /// Its id, to echo.
        id: i64,
        /// The body.
        body: ToSupervisor,
        /// The trace context the runtime sent along.
        context_carrier: Option<ContextCarrier>,
    },
    /// A request the real supervisor would drop without an answer (nil body, unknown type,
    /// invalid fields). The runtime waiting for it would hang without a timeout.
    Unanswerable {
        /// Its id.
        id: i64,
        /// Why it cannot be answered.
        reason: BodyError,
    },
    /// The connection is over. Reported once.
    Closed {
        /// A frame-level violation (which would crash the real supervisor), or `None` for a
        /// clean end of stream.
        violation: Option<FrameError>,
        /// Bytes of an incomplete frame left at the end of the stream.
        truncated_bytes: usize,
    },
}

/// The caller misused the supervisor session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SupervisorError {
    /// `StartupDetails` was already sent.
    StartupAlreadySent,
    /// Requests are answered only after `StartupDetails` was sent.
    NotStarted,
    /// No request with this id waits for an answer.
    NoSuchRequest(i64),
    /// The connection is closed.
    Closed,
    /// The frame could not be encoded.
    Encode(EncodeError),
}

impl fmt::Display for SupervisorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StartupAlreadySent => f.write_str("StartupDetails was already sent"),
            Self::NotStarted => f.write_str("StartupDetails must be sent first"),
            Self::NoSuchRequest(id) => write!(f, "no request with id {id} waits for an answer"),
            Self::Closed => f.write_str("the connection is closed"),
            Self::Encode(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SupervisorError {}

/// The supervisor's side of one task run: sends `StartupDetails`, decodes requests, encodes
/// answers. It keeps the same drain rule as [`crate::TaskSession`]: after every input, write
/// out [`transmit`](Self::transmit) and drain [`poll_event`](Self::poll_event).
#[derive(Debug)]
pub struct SupervisorSession {
    config: SupervisorConfig,
    decoder: FrameDecoder,
    transmit: Vec<u8>,
    transmit_sent: usize,
    started: bool,
    closed: bool,
    outstanding: Vec<i64>,
    events: std::collections::VecDeque<SupervisorEvent>,
    terminal: Option<ToSupervisor>,
}

impl SupervisorSession {
    /// A session that has sent nothing yet.
    pub fn new(config: SupervisorConfig) -> Self {
        Self {
            decoder: FrameDecoder::new(config.max_frame_len),
            config,
            transmit: Vec::with_capacity(1024),
            transmit_sent: 0,
            started: false,
            closed: false,
            outstanding: Vec::new(),
            events: Default::default(),
            terminal: None,
        }
    }

    /// Queues `StartupDetails` as frame id 0, as the supervisor sends it.
    pub fn send_startup(&mut self, details: &StartupDetails) -> Result<(), SupervisorError> {
        if self.started {
            return Err(SupervisorError::StartupAlreadySent);
        }
        if self.closed {
            return Err(SupervisorError::Closed);
        }
        let body = ToTask::StartupDetails(Box::new(details.clone()));
        frame::encode_response(
            &mut self.transmit,
            0,
            Response::Body(&body),
            self.config.max_frame_len,
        )
        .map_err(SupervisorError::Encode)?;
        self.started = true;
        Ok(())
    }

    /// Queues the answer to request `id`.
    pub fn respond(&mut self, id: i64, response: Response<'_>) -> Result<(), SupervisorError> {
        if self.closed {
            return Err(SupervisorError::Closed);
        }
        let index = self
            .outstanding
            .iter()
            .position(|&o| o == id)
            .ok_or(SupervisorError::NoSuchRequest(id))?;
        frame::encode_response(&mut self.transmit, id, response, self.config.max_frame_len)
            .map_err(SupervisorError::Encode)?;
        self.outstanding.swap_remove(index);
        Ok(())
    }

    /// Queues an error in the error slot, as the supervisor does for Execution API failures.
    pub fn respond_error(&mut self, id: i64, error: &ErrorResponse) -> Result<(), SupervisorError> {
        self.respond(id, Response::Error(error))
    }

    /// Feeds bytes received from the runtime.
    pub fn handle_input(&mut self, data: &[u8]) {
        if self.closed {
            return;
        }
        self.decoder.push(data);
        loop {
            let offset = self.decoder.stream_offset();
            let event = match self.decoder.next_frame() {
                Ok(None) => return,
                Err(violation) => {
                    self.finish(Some(violation));
                    return;
                }
                Ok(Some(payload)) => match frame::decode_request(payload) {
                    Err(e) => Err(FrameError::Malformed {
                        offset,
                        reason: e.0,
                    }),
                    Ok(envelope) => Ok(request_event(envelope)),
                },
            };
            match event {
                Ok(event) => {
                    if let SupervisorEvent::Request { id, body, .. } = &event {
                        self.outstanding.push(*id);
                        if body.is_terminal() && self.terminal.is_none() {
                            self.terminal = Some(body.clone());
                        }
                    }
                    self.events.push_back(event);
                }
                Err(violation) => {
                    self.finish(Some(violation));
                    return;
                }
            }
        }
    }

    /// The runtime closed the connection.
    pub fn handle_eof(&mut self) {
        self.finish(None);
    }

    /// The first terminal message the runtime sent, if any.
    pub fn terminal_message(&self) -> Option<&ToSupervisor> {
        self.terminal.as_ref()
    }

    /// Whether `StartupDetails` was sent.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Bytes to write to the runtime.
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
    pub fn poll_event(&mut self) -> Option<SupervisorEvent> {
        self.events.pop_front()
    }

    fn finish(&mut self, violation: Option<FrameError>) {
        if self.closed {
            return;
        }
        self.closed = true;
        let truncated_bytes = if violation.is_none() {
            self.decoder.buffered_len()
        } else {
            0
        };
        self.events.push_back(SupervisorEvent::Closed {
            violation,
            truncated_bytes,
        });
    }
}

fn request_event(request: frame::DecodedRequest<'_>) -> SupervisorEvent {
    let id = request.id;
    let Some(body) = request.body else {
        return SupervisorEvent::Unanswerable {
            id,
            reason: BodyError::MissingType,
        };
    };
    let body = match body {
        Ok(body) => body,
        Err(reason) => return SupervisorEvent::Unanswerable { id, reason },
    };
    let context_carrier = match request
        .context_carrier
        .map(rmp_serde::from_slice::<ContextCarrier>)
    {
        None => None,
        Some(Ok(carrier)) => Some(carrier),
        Some(Err(e)) => {
            return SupervisorEvent::Unanswerable {
                id,
                reason: BodyError::Malformed(format!("context_carrier: {e}")),
            }
        }
    };
    SupervisorEvent::Request {
        id,
        body,
        context_carrier,
    }
}
