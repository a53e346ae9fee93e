//! The sans-IO core of the Rust Task SDK for Apache Airflow: **it does no I/O, reads no
//! clock, starts no thread and depends on no executor.** Bytes received go in through
//! `handle_*` methods, frames to send and events come out through `poll_*` methods, and time
//! enters only as a `now: Instant` argument. Adapters for blocking std, tokio and smol move
//! bytes between this core and real sockets; every protocol decision is made here.
//!
//! What it covers, for supervisor schema [`SUPERVISOR_SCHEMA_VERSION`] (`2026-06-16`, the
//! `apache-airflow-task-sdk` 1.3.2 supervisor):
//!
//! * [`frame`]: the length-prefixed msgpack frame codec, a push decoder over one receive
//!   buffer and encoders into reused buffers;
//! * [`messages`]: every message body in both directions, typed (text fields are [`Text`],
//!   stored inline up to 24 bytes);
//! * [`TaskSession`]: the runtime's side of one task run, a state machine with request ids,
//!   reply matching and per-request deadlines;
//! * [`SupervisorSession`]: the supervisor's side, for tests, benchmarks and local runs;
//! * [`log`]: JSON log lines the supervisor can never choke on, and level filtering;
//! * [`bundle`]: the `AFBNDL01` trailer of executable bundles.
//!
//! # Driving a session
//!
//! ```
//! use std::time::Instant;
//! use airflow_protocol::{TaskSession, SessionConfig, Event};
//!
//! let mut session = TaskSession::new(SessionConfig::default(), Instant::now());
//! // Feed whatever the socket produced…
//! session.handle_input(&[], Instant::now());
//! // …then drain: bytes to write, events to act on, and the next deadline.
//! let _to_write: &[u8] = session.transmit();
//! while let Some(event) = session.poll_event() {
//!     let _ = event;
//! }
//! let _wake_at = session.poll_timeout();
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bundle;
pub mod frame;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod json;
pub mod log;
pub mod messages;
mod session;
pub mod time;
pub mod uuid;
mod wire;

pub use frame::{FrameDecoder, FrameError};
pub use json::{JsonMap, JsonValue};
pub use messages::{BodyError, Text, ToSupervisor, ToTask, SUPERVISOR_SCHEMA_VERSION};
pub use session::supervisor::{
    SupervisorConfig, SupervisorError, SupervisorEvent, SupervisorSession,
};
pub use session::task::{
    CloseReason, ErrorSlot, Event, LocalError, RemoteViolation, Reply, ReplyError, RequestId,
    SessionConfig, SessionState, TaskSession,
};
pub use time::Timestamp;
pub use uuid::Uuid;
