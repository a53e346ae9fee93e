//! Harnesses shared by the cargo-fuzz targets in `fuzz/` and by the replay of their corpus
//! in `tests/fuzz_corpus.rs`, so that plain `cargo test` runs every corpus input through
//! exactly the checks the fuzzer runs.
//!
//! Built only with the `fuzzing` feature and not part of the public API. Each function takes
//! the fuzzer's bytes, drives one part of the core with them, and **panics when an invariant
//! breaks**; returning normally means the input was handled correctly (which includes being
//! refused with an error). Like the rest of the core they read no clock: the session harness
//! takes its base `Instant` as an argument.

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

use crate::bundle::{self, TRAILER_LEN};
use crate::frame::{self, FrameDecoder, FrameError, Response, DEFAULT_MAX_FRAME_LEN, PREFIX_LEN};
use crate::json::{JsonMap, JsonValue};
use crate::log::{ErrorLink, Level, LogEncoder, RESERVED_KEYS};
use crate::messages::{
    BodyError, BundleInfo, DagRun, DagRunState, DagRunType, ErrorResponse, ErrorType, GetXCom,
    PutVariable, ResendLoggingFD, RetryTask, SetXCom, StartupDetails, SucceedTask, TIRunContext,
    TaskInstance, TaskState, TerminalState, ToSupervisor, ToTask, VariableResult,
};
use crate::messages::{GetConnection, GetVariable};
use crate::session::supervisor::{SupervisorConfig, SupervisorEvent, SupervisorSession};
use crate::session::task::{
    CloseReason, Event, LocalError, ReplyError, RequestId, SessionConfig, SessionState, TaskSession,
};
use crate::time::Timestamp;
use crate::uuid::Uuid;

/// A cursor that hands out the fuzzer's bytes as small values; past the end it yields zeros
/// and empty slices, so every input is a complete program.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        head
    }

    fn byte(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    fn le<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let bytes = self.take(N);
        out[..bytes.len()].copy_from_slice(bytes);
        out
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.le())
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.le())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.le())
    }

    /// Up to `max` bytes, the count taken from the next byte.
    fn short_bytes(&mut self, max: usize) -> &'a [u8] {
        let len = usize::from(self.byte()) % (max + 1);
        self.take(len)
    }

    /// A string of up to `max` bytes (invalid UTF-8 replaced).
    fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.short_bytes(max)).into_owned()
    }

    fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }
}

// ------------------------------------------------------------------------------------------
// frame_decoder
// ------------------------------------------------------------------------------------------

/// The frames a decoder returns and how its stream ends.
#[derive(Debug, PartialEq)]
struct Decoded {
    frames: Vec<Vec<u8>>,
    error: Option<FrameError>,
}

fn drain_frames(decoder: &mut FrameDecoder, out: &mut Decoded) {
    if out.error.is_some() {
        // A failed stream stays failed, with the same error, whatever arrives after.
        assert_eq!(decoder.next_frame().err(), out.error, "error is sticky");
        return;
    }
    loop {
        match decoder.next_frame() {
            Ok(Some(frame)) => out.frames.push(frame.to_vec()),
            Ok(None) => return,
            Err(error) => {
                out.error = Some(error);
                return;
            }
        }
    }
}

/// Feeds arbitrary bytes to a [`FrameDecoder`] in arbitrary chunks (alternating
/// `push` and `spare`/`commit`), and checks that the frames and the final error are the same
/// as when the bytes arrive at once, that every frame respects the limits, and that the frame
/// envelopes parse without panicking into slices of the frame.
///
/// Layout: one byte selects `max_frame_len`, one byte a number of cuts, two bytes per cut,
/// then the stream.
pub fn frame_decoder(data: &[u8]) {
    const LIMITS: [u32; 8] = [1, 2, 5, 16, 64, 300, 4096, DEFAULT_MAX_FRAME_LEN];
    let mut input = Input::new(data);
    let max = LIMITS[usize::from(input.byte() % 8)];
    let cut_count = input.byte() % 16;
    let raw_cuts: Vec<u16> = (0..cut_count).map(|_| input.u16()).collect();
    let stream = input.rest();
    let mut cuts: Vec<usize> = raw_cuts
        .iter()
        .map(|&c| usize::from(c) % (stream.len() + 1))
        .collect();
    cuts.push(stream.len());
    cuts.sort_unstable();

    let mut whole_decoder = FrameDecoder::new(max);
    whole_decoder.push(stream);
    let mut whole = Decoded {
        frames: Vec::new(),
        error: None,
    };
    drain_frames(&mut whole_decoder, &mut whole);

    let mut chunked_decoder = FrameDecoder::new(max);
    let mut chunked = Decoded {
        frames: Vec::new(),
        error: None,
    };
    let mut start = 0;
    for (index, &end) in cuts.iter().enumerate() {
        let chunk = &stream[start..end];
        start = end;
        if index % 2 == 0 {
            chunked_decoder.push(chunk);
        } else {
            let spare = chunked_decoder.spare(chunk.len());
            assert!(spare.len() >= chunk.len(), "spare is at least the minimum");
            spare[..chunk.len()].copy_from_slice(chunk);
            chunked_decoder.commit(chunk.len());
        }
        drain_frames(&mut chunked_decoder, &mut chunked);
    }
    assert_eq!(chunked, whole, "chunking changed the decoded frames");

    let mut consumed = 0u64;
    for frame in &whole.frames {
        assert!(!frame.is_empty(), "a zero-length frame came out");
        assert!(
            frame.len() as u64 <= u64::from(max),
            "a frame over the limit"
        );
        consumed += (PREFIX_LEN + frame.len()) as u64;
        check_envelopes(frame);
    }
    assert_eq!(whole_decoder.stream_offset(), consumed);
    match &whole.error {
        None => {
            let left = stream.len() - consumed as usize;
            assert_eq!(whole_decoder.buffered_len(), left);
            if left >= PREFIX_LEN {
                let prefix = &stream[consumed as usize..consumed as usize + PREFIX_LEN];
                let announced = u32::from_be_bytes(prefix.try_into().expect("four bytes"));
                assert!(
                    announced as usize > left - PREFIX_LEN,
                    "a complete frame was left in the buffer"
                );
            }
        }
        Some(FrameError::Empty { offset }) | Some(FrameError::TooLarge { offset, .. }) => {
            assert_eq!(
                *offset, consumed,
                "the error names the failing frame's offset"
            );
        }
        Some(other) => panic!("the decoder reported {other:?}, which only envelopes can"),
    }
}

fn is_within(inner: &[u8], outer: &[u8]) -> bool {
    let outer = outer.as_ptr_range();
    let inner = inner.as_ptr_range();
    outer.start <= inner.start && inner.end <= outer.end
}

fn is_map_marker(byte: u8) -> bool {
    matches!(byte, 0x80..=0x8f | 0xde | 0xdf)
}

fn check_envelopes(payload: &[u8]) {
    if let Ok(envelope) = frame::parse_request(payload) {
        for slot in [envelope.body, envelope.context_carrier]
            .into_iter()
            .flatten()
        {
            assert!(is_within(slot, payload) && is_map_marker(slot[0]));
        }
    }
    if let Ok(envelope) = frame::parse_response(payload) {
        for slot in [envelope.body, envelope.error].into_iter().flatten() {
            assert!(is_within(slot, payload) && is_map_marker(slot[0]));
        }
    }
    // Decoding in one pass gives what the envelope and the body decoder give in two.
    frame::assert_one_pass_agrees(payload);
}

// ------------------------------------------------------------------------------------------
// body_decoder
// ------------------------------------------------------------------------------------------

/// Decodes arbitrary bytes as a body of each direction. Whatever decodes must encode again
/// (`encode_response`, in the body slot and, for an error, in the error slot; or
/// `encode_request`), parse as a frame, and decode to an equal value.
pub fn body_decoder(data: &[u8]) {
    // A body at the deepest nesting the decoder accepts may come back one level deeper: a
    // `bin` value reads as an array of its bytes. Only there may the round trip be refused.
    let at_depth_limit = crate::wire::Reader::new(data).skip_value() == Ok(crate::wire::MAX_DEPTH);
    match ToTask::decode(data) {
        Ok(message) => check_to_task_round_trip(&message, at_depth_limit),
        Err(BodyError::UnknownType(name)) => {
            panic!("ToTask::decode refused unknown type {name:?} instead of keeping it")
        }
        Err(_) => {}
    }
    match ToSupervisor::decode(data) {
        Ok(message) => check_to_supervisor_round_trip(&message, at_depth_limit),
        Err(BodyError::UnknownType(name)) => assert!(
            !ToSupervisor::TYPE_NAMES.contains(&name.as_str()),
            "a known type {name:?} was reported unknown"
        ),
        Err(_) => {}
    }
}

/// Panics unless `again` equals `original`. A value holding a NaN float is unequal to
/// itself; such values are compared by their encoding instead.
fn assert_same<T: PartialEq + fmt::Debug>(original: &T, again: &T, encode: impl Fn(&T) -> Vec<u8>) {
    #[allow(clippy::eq_op)]
    let comparable = original == original;
    if comparable {
        assert_eq!(original, again, "the round trip changed the value");
    } else {
        assert_eq!(
            encode(original),
            encode(again),
            "the round trip changed a NaN value"
        );
    }
}

/// Which slot of one of our own frames to read back.
#[derive(Clone, Copy)]
enum Slot {
    Request,
    Body,
    Error,
}

/// The bytes in `slot` of a frame our encoders wrote (`[1, …]`). When the envelope parser
/// refuses it for depth (a body decoded on its own may nest deeper than a frame may), the
/// slot is found by hand instead.
fn own_slot(frame_bytes: &[u8], slot: Slot) -> &[u8] {
    let payload = &frame_bytes[PREFIX_LEN..];
    let parsed = match slot {
        Slot::Request => frame::parse_request(payload).map(|e| e.body),
        Slot::Body => frame::parse_response(payload).map(|e| e.body),
        Slot::Error => frame::parse_response(payload).map(|e| e.error),
    };
    match parsed {
        Ok(Some(bytes)) => bytes,
        Ok(None) => panic!("our encoder left the slot empty"),
        Err(e) => {
            assert!(
                e.0.contains("nested deeper"),
                "our own frame was refused: {e}"
            );
            assert!(payload[0] & 0xf0 == 0x90 && payload[1] == 0x01);
            match slot {
                Slot::Request | Slot::Body => &payload[2..],
                Slot::Error => &payload[3..],
            }
        }
    }
}

fn response_body_bytes(message: &ToTask) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_response(&mut out, 1, Response::Body(message), u32::MAX)
        .expect("a decoded body encodes");
    out
}

/// Reads back our own encoding of a decoded body; `None` when it is refused for depth at the
/// depth limit (see [`body_decoder`]).
fn read_back<T>(decoded: Result<T, BodyError>, at_depth_limit: bool) -> Option<T> {
    match decoded {
        Ok(value) => Some(value),
        Err(BodyError::Malformed(reason)) if at_depth_limit && reason.contains("nested deeper") => {
            None
        }
        Err(e) => panic!("our own encoding does not decode: {e}"),
    }
}

fn check_to_task_round_trip(message: &ToTask, at_depth_limit: bool) {
    if let ToTask::Unknown { type_name } = message {
        assert!(
            !ToTask::TYPE_NAMES.contains(&type_name.as_str()),
            "a known type {type_name:?} was read as unknown"
        );
        return;
    }
    let encoded = response_body_bytes(message);
    let Some(again) = read_back(
        ToTask::decode(own_slot(&encoded, Slot::Body)),
        at_depth_limit,
    ) else {
        return;
    };
    assert_same(message, &again, response_body_bytes);

    if let ToTask::ErrorResponse(error) = message {
        let mut out = Vec::new();
        frame::encode_response(&mut out, 1, Response::Error(error), u32::MAX)
            .expect("an error encodes");
        match read_back(ToTask::decode(own_slot(&out, Slot::Error)), at_depth_limit) {
            None => {}
            Some(ToTask::ErrorResponse(again)) => assert_same(error, &again, |e| {
                response_body_bytes(&ToTask::ErrorResponse(e.clone()))
            }),
            Some(other) => panic!("the error slot decoded as {other:?}"),
        }
    }
}

fn request_bytes(message: &ToSupervisor) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_request(&mut out, 1, message, None, u32::MAX).expect("a decoded body encodes");
    out
}

fn check_to_supervisor_round_trip(message: &ToSupervisor, at_depth_limit: bool) {
    let encoded = request_bytes(message);
    let decoded = ToSupervisor::decode(own_slot(&encoded, Slot::Request));
    let Some(again) = read_back(decoded, at_depth_limit) else {
        return;
    };
    assert_same(message, &again, request_bytes);
}

// ------------------------------------------------------------------------------------------
// task_session
// ------------------------------------------------------------------------------------------

/// A complete, valid `StartupDetails`, as a supervisor sends first.
pub fn sample_startup_details() -> StartupDetails {
    let at = |secs: i64, nanos: u32| Timestamp::from_unix(secs, nanos).expect("in range");
    StartupDetails {
        ti: TaskInstance {
            id: Uuid::from_bytes([0x11; 16]),
            task_id: "extract".into(),
            dag_id: "sales".into(),
            run_id: "manual__2025-01-01T00:00:00+00:00".into(),
            try_number: 1,
            dag_version_id: Uuid::from_bytes([0x22; 16]),
            map_index: Some(-1),
            hostname: Some("worker-1".into()),
            context_carrier: None,
            queue: Some("default".into()),
        },
        dag_rel_path: "sales.py".into(),
        bundle_info: BundleInfo {
            name: "dags-folder".into(),
            version: None,
        },
        start_date: at(1_735_689_605, 123_456_000),
        ti_context: TIRunContext {
            dag_run: DagRun {
                dag_id: "sales".into(),
                run_id: "manual__2025-01-01T00:00:00+00:00".into(),
                logical_date: Some(at(1_735_689_600, 0)),
                data_interval_start: Some(at(1_735_603_200, 0)),
                data_interval_end: Some(at(1_735_689_600, 0)),
                run_after: at(1_735_689_600, 0),
                start_date: Some(at(1_735_689_601, 500_000_000)),
                end_date: None,
                clear_number: Some(0),
                run_type: DagRunType::Manual,
                state: DagRunState::Running,
                conf: Some(JsonMap::new()),
                triggering_user_name: None,
                consumed_asset_events: Vec::new(),
                partition_key: None,
                partition_date: None,
                note: None,
                team_name: None,
            },
            task_reschedule_count: Some(0),
            max_tries: 1,
            variables: None,
            connections: None,
            next_method: None,
            next_kwargs: JsonValue::Null,
            xcom_keys_to_clear: None,
            should_retry: Some(false),
            start_date: None,
        },
        sentry_integration: Default::default(),
    }
}

/// What the harness knows of one request it sent.
struct Sent {
    id: u64,
    deadline: Instant,
}

/// The harness's account of a session, to hold the session to its invariants.
struct Tracker {
    now: Instant,
    last_id: u64,
    waiting: Vec<Sent>,
    done: Vec<u64>,
    terminal: Option<u64>,
    terminal_answered: bool,
    closed: bool,
    sent_bodies: Vec<(u64, ToSupervisor)>,
    supervisor: SupervisorSession,
    seen_by_supervisor: usize,
}

impl Tracker {
    /// Drains every event and checks it against what was sent and when.
    fn drain(&mut self, session: &mut TaskSession) {
        while let Some(event) = session.poll_event() {
            assert!(!self.closed, "an event after Closed: {event:?}");
            match event {
                Event::Startup(_) => panic!("a second Startup event"),
                Event::Reply { id, result } => {
                    let index = self
                        .waiting
                        .iter()
                        .position(|s| s.id == id.0)
                        .unwrap_or_else(|| {
                            panic!("event for {id}, which does not wait: {result:?}")
                        });
                    let sent = self.waiting.swap_remove(index);
                    self.done.push(sent.id);
                    match &result {
                        Err(ReplyError::TimedOut { .. }) => {
                            assert!(sent.deadline <= self.now, "{id} timed out early");
                        }
                        Err(ReplyError::ConnectionClosed) => {}
                        _ => {
                            if self.terminal == Some(sent.id) {
                                self.terminal_answered = true;
                            }
                        }
                    }
                }
                Event::Closed(reason) => {
                    assert!(
                        self.waiting.is_empty(),
                        "Closed while requests still wait: {:?}",
                        self.waiting.iter().map(|s| s.id).collect::<Vec<_>>()
                    );
                    if let CloseReason::StartupTimedOut { .. } = reason {
                        panic!("the startup deadline fired after startup");
                    }
                    self.closed = true;
                }
            }
        }
        self.check_state(session);
    }

    fn check_state(&mut self, session: &mut TaskSession) {
        let state = session.state();
        assert_eq!(
            state == SessionState::Closed,
            self.closed,
            "state {state:?}"
        );
        if !self.closed {
            let expected = match (self.terminal, self.terminal_answered) {
                (None, _) => SessionState::Running,
                (Some(_), false) => SessionState::TerminalSent,
                (Some(_), true) => SessionState::Finished,
            };
            assert_eq!(state, expected);
        }
        assert_eq!(session.pending_requests(), self.waiting.len());
        let earliest = self.waiting.iter().map(|s| s.deadline).min();
        assert_eq!(
            session.poll_timeout(),
            if self.closed { None } else { earliest },
            "poll_timeout"
        );
    }

    fn send(&mut self, session: &mut TaskSession, body: ToSupervisor, timeout: Duration) {
        let result = session.send_with(&body, timeout, None, self.now);
        let invalid = body.validate().is_err();
        match result {
            Ok(RequestId(id)) => {
                assert!(!self.closed && self.terminal.is_none() && !invalid);
                assert_eq!(id, self.last_id + 1, "ids increase by one from 1");
                self.last_id = id;
                self.waiting.push(Sent {
                    id,
                    deadline: self.now + timeout,
                });
                if body.is_terminal() {
                    self.terminal = Some(id);
                }
                self.sent_bodies.push((id, body));
            }
            Err(LocalError::Closed) => assert!(self.closed),
            Err(LocalError::AfterTerminal { .. }) => {
                assert!(!self.closed && self.terminal.is_some())
            }
            Err(LocalError::Invalid(_)) => {
                assert!(!self.closed && self.terminal.is_none() && invalid)
            }
            Err(other) => panic!("send failed with {other:?}"),
        }
        self.check_state(session);
    }

    /// Moves up to `n` bytes of the session's output to the local supervisor, which must
    /// read exactly the requests sent, in order.
    fn flush(&mut self, session: &mut TaskSession, n: usize) {
        let out = session.transmit();
        let n = n.min(out.len());
        self.supervisor.handle_input(&out[..n]);
        session.advance_transmit(n);
        while let Some(event) = self.supervisor.poll_event() {
            match event {
                SupervisorEvent::Request { id, body, .. } => {
                    let (sent_id, sent_body) = &self.sent_bodies[self.seen_by_supervisor];
                    assert_eq!(
                        id, *sent_id as i64,
                        "requests reach the supervisor in order"
                    );
                    assert_same(sent_body, &body, request_bytes);
                    self.seen_by_supervisor += 1;
                }
                other => panic!("the session wrote something the supervisor refuses: {other:?}"),
            }
        }
    }

    fn pick_waiting(&self, choice: u8) -> Option<u64> {
        (!self.waiting.is_empty())
            .then(|| self.waiting[usize::from(choice) % self.waiting.len()].id)
    }
}

fn response_frame(id: i64, kind: u8, text: String) -> Vec<u8> {
    let mut out = Vec::new();
    let body;
    let error;
    let response = match kind % 5 {
        0 => Response::Empty,
        1 => {
            body = ToTask::VariableResult(VariableResult {
                key: text.into(),
                value: Some("v".into()),
            });
            Response::Body(&body)
        }
        2 => {
            body = ToTask::ErrorResponse(ErrorResponse {
                error: ErrorType::VariableNotFound,
                detail: None,
            });
            Response::Body(&body)
        }
        3 => {
            error = ErrorResponse {
                error: ErrorType::ApiServerError,
                detail: Some(JsonMap::from_iter([(
                    "message".to_owned(),
                    JsonValue::String(text),
                )])),
            };
            Response::Error(&error)
        }
        _ => {
            body = ToTask::StartupDetails(Box::new(sample_startup_details()));
            Response::Body(&body)
        }
    };
    frame::encode_response(&mut out, id, response, DEFAULT_MAX_FRAME_LEN).expect("encodes");
    out
}

// `[id, <raw>, nil]` around arbitrary bytes, with a correct length prefix.
fn raw_response_frame(id: i64, raw: &[u8]) -> Vec<u8> {
    let mut payload = vec![0x93];
    rmp::encode::write_sint(&mut payload, id).expect("writing to a Vec cannot fail");
    payload.extend_from_slice(raw);
    payload.push(0xc0);
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&payload);
    out
}

fn request_body(input: &mut Input<'_>) -> ToSupervisor {
    let text = input.text(24);
    match input.byte() % 8 {
        0 => GetVariable { key: text.into() }.into(),
        1 => GetConnection {
            conn_id: text.into(),
        }
        .into(),
        2 => GetXCom {
            key: text.into(),
            dag_id: "sales".into(),
            run_id: "r".into(),
            task_id: "t".into(),
            map_index: Some(-1),
            include_prior_dates: false,
        }
        .into(),
        3 => SetXCom {
            key: "return_value".into(),
            value: JsonValue::String(text),
            dag_id: "sales".into(),
            run_id: "r".into(),
            task_id: "t".into(),
            map_index: None,
            dag_result: false,
            mapped_length: None,
        }
        .into(),
        4 => PutVariable {
            key: text.into(),
            value: None,
            description: None,
        }
        .into(),
        // Refused locally: never sent, never answered.
        5 => ResendLoggingFD {}.into(),
        6 => RetryTask {
            end_date: Timestamp::UNIX_EPOCH,
            rendered_map_index: None,
            retry_delay_seconds: Some(f64::NAN),
            retry_reason: None,
        }
        .into(),
        _ => GetVariable {
            key: Default::default(),
        }
        .into(),
    }
}

fn terminal_body(input: &mut Input<'_>) -> ToSupervisor {
    let end_date = Timestamp::from_unix(i64::from(input.u32()), 0).expect("in range");
    match input.byte() % 3 {
        0 => SucceedTask {
            end_date,
            task_outlets: Vec::new(),
            outlet_events: Vec::new(),
            rendered_map_index: None,
        }
        .into(),
        1 => TaskState {
            state: TerminalState::Failed,
            end_date: Some(end_date),
            rendered_map_index: None,
        }
        .into(),
        _ => RetryTask {
            end_date,
            rendered_map_index: None,
            retry_delay_seconds: Some(1.5),
            retry_reason: Some("flaky".into()),
        }
        .into(),
    }
}

/// Feeds bytes to the session, in up to three pieces, through `handle_input` or through
/// `receive_buffer`/`handle_received`.
fn feed(session: &mut TaskSession, bytes: &[u8], how: u8, now: Instant) {
    let first = usize::from(how >> 2) % (bytes.len() + 1);
    let second = first + (bytes.len() - first) / 2;
    for piece in [&bytes[..first], &bytes[first..second], &bytes[second..]] {
        if how & 1 == 0 {
            session.handle_input(piece, now);
        } else {
            let buffer = session.receive_buffer(piece.len());
            buffer[..piece.len()].copy_from_slice(piece);
            session.handle_received(piece.len(), now);
        }
    }
}

/// Runs a [`TaskSession`] that has received a valid `StartupDetails` through a program read
/// from the fuzzer's bytes: requests (normal, terminal, locally invalid), answers to waiting,
/// unknown, answered, timed-out and abandoned ids, answers whose body is arbitrary bytes,
/// arbitrary bytes, virtual time and timeouts, abandons, partial writes and end of stream.
///
/// After every step it checks: exactly one event per request that was not abandoned, and
/// none after it; ids 1, 2, 3…; at most one terminal message; the state, the count of
/// waiting requests and `poll_timeout` agree with what was sent and answered; a timeout
/// fires only at or after its deadline; after `Closed` (reported once, after every waiting
/// request was failed) no event comes and every send fails with [`LocalError::Closed`]; and
/// every byte the session writes is read by a [`SupervisorSession`] as exactly the requests
/// sent, in order.
pub fn task_session(data: &[u8], base: Instant) {
    let mut input = Input::new(data);
    let config = SessionConfig {
        max_frame_len: DEFAULT_MAX_FRAME_LEN,
        request_timeout: Duration::from_millis(500),
        startup_timeout: Duration::from_secs(10),
    };
    let mut session = TaskSession::new(config, base);
    let mut startup = Vec::new();
    let details = sample_startup_details();
    frame::encode_response(
        &mut startup,
        0,
        Response::Body(&ToTask::StartupDetails(Box::new(details.clone()))),
        DEFAULT_MAX_FRAME_LEN,
    )
    .expect("encodes");
    let how = input.byte();
    feed(&mut session, &startup, how, base);
    assert_eq!(
        session.poll_event(),
        Some(Event::Startup(Box::new(details)))
    );
    assert_eq!(session.poll_event(), None);

    let mut tracker = Tracker {
        now: base,
        last_id: 0,
        waiting: Vec::new(),
        done: Vec::new(),
        terminal: None,
        terminal_answered: false,
        closed: false,
        sent_bodies: Vec::new(),
        supervisor: SupervisorSession::new(SupervisorConfig::default()),
        seen_by_supervisor: 0,
    };
    tracker.check_state(&mut session);

    while !input.is_empty() {
        let now = tracker.now;
        match input.byte() % 12 {
            0 | 1 => {
                let body = request_body(&mut input);
                let timeout = Duration::from_millis(u64::from(input.u16()));
                tracker.send(&mut session, body, timeout);
            }
            2 => {
                let body = terminal_body(&mut input);
                tracker.send(&mut session, body, Duration::from_secs(1));
            }
            3 | 4 => {
                let choice = input.byte();
                let kind = input.byte();
                let how = input.byte();
                if let Some(id) = tracker.pick_waiting(choice) {
                    let text = input.text(16);
                    feed(
                        &mut session,
                        &response_frame(id as i64, kind, text),
                        how,
                        now,
                    );
                }
            }
            5 => {
                let choice = input.byte();
                let how = input.byte();
                let raw = input.short_bytes(48);
                let id = tracker.pick_waiting(choice).unwrap_or(0) as i64;
                feed(&mut session, &raw_response_frame(id, raw), how, now);
            }
            6 => {
                let how = input.byte();
                let raw = input.short_bytes(64);
                feed(&mut session, raw, how, now);
            }
            7 => {
                let step = match input.byte() % 4 {
                    0 => Duration::from_millis(u64::from(input.byte())),
                    1 => Duration::from_millis(u64::from(input.u16())),
                    2 => Duration::from_micros(u64::from(input.u32())),
                    _ => Duration::ZERO,
                };
                tracker.now += step;
                session.handle_timeout(tracker.now);
                tracker.drain(&mut session);
                assert!(
                    tracker.closed || tracker.waiting.iter().all(|s| s.deadline > tracker.now),
                    "a request outlived its deadline"
                );
            }
            8 => {
                let choice = input.byte();
                let id = match tracker.pick_waiting(choice) {
                    Some(id) if choice & 0x80 == 0 => id,
                    _ => input.u64(),
                };
                session.abandon(RequestId(id));
                if let Some(index) = tracker.waiting.iter().position(|s| s.id == id) {
                    tracker.waiting.swap_remove(index);
                    tracker.done.push(id);
                }
            }
            9 => {
                // An answer to an id that is not waiting: answered, timed out, abandoned,
                // or never sent. Quietly dropped or a violation; the invariants decide.
                let choice = input.byte();
                let kind = input.byte();
                let id = if tracker.done.is_empty() || choice & 0x80 != 0 {
                    input.u64() as i64
                } else {
                    tracker.done[usize::from(choice) % tracker.done.len()] as i64
                };
                feed(
                    &mut session,
                    &response_frame(id, kind, String::new()),
                    0,
                    now,
                );
            }
            10 => {
                let n = usize::from(input.u16());
                tracker.flush(&mut session, n);
            }
            _ => {
                if input.byte() % 4 == 0 {
                    session.handle_eof(now);
                }
            }
        }
        tracker.drain(&mut session);
    }

    // Whatever happened, the end of the stream settles every request.
    tracker.flush(&mut session, usize::MAX);
    session.handle_eof(tracker.now);
    tracker.drain(&mut session);
    assert!(tracker.closed, "end of stream closes the session");
    assert!(tracker.waiting.is_empty());
    let mut settled = tracker.done.clone();
    settled.sort_unstable();
    let expected: Vec<u64> = (1..=tracker.last_id).collect();
    assert_eq!(settled, expected, "every request settled exactly once");
    assert_eq!(
        session.send(&GetVariable { key: "k".into() }.into(), tracker.now),
        Err(LocalError::Closed)
    );
    session.handle_input(&startup, tracker.now);
    session.handle_timeout(tracker.now + Duration::from_secs(3600));
    assert_eq!(session.poll_event(), None, "a closed session is silent");
}

// ------------------------------------------------------------------------------------------
// log_encoder
// ------------------------------------------------------------------------------------------

/// The entries of one JSON object, duplicates kept, in order.
struct Entries(Vec<(String, JsonValue)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, JsonValue>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(EntriesVisitor)
    }
}

/// One call the harness made on a line, and what it must produce.
enum Call {
    Field { name: String, value: Expected },
    Exception(Vec<(String, String)>),
}

/// What a field's value must read back as.
enum Expected {
    /// This JSON value, parsed.
    Json(JsonValue),
    /// A number whose text reads, correctly rounded, as exactly this float. (serde_json's
    /// default parser is not correctly rounded, so the parsed value is not compared; the
    /// supervisor's msgspec is.)
    Float(f64),
    /// Exactly this JSON text: serde_json's own rendering of a value.
    Text(String),
}

/// Writes one log line from the fuzzer's bytes (timestamp, level, logger, event, then
/// fields of every kind with arbitrary names, and error chains) and checks it: one JSON
/// object on one line ending in a newline, the canonical keys first with a lower-case level
/// and an RFC 3339 timestamp that reads back as the one given, no duplicate key, no reserved
/// key but the canonical ones, every user field exactly once under its name or its name
/// followed by underscores with its value, and every error chain in order.
pub fn log_encoder(data: &[u8]) {
    let mut input = Input::new(data);
    let mut encoder = LogEncoder::new();
    // Two lines through one encoder: the second must not see the first's keys.
    for _ in 0..2 {
        if input.is_empty() {
            break;
        }
        one_log_line(&mut encoder, &mut input);
    }
}

fn one_log_line(encoder: &mut LogEncoder, input: &mut Input<'_>) {
    const LEVELS: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warning,
        Level::Error,
        Level::Critical,
    ];
    let span = (253_402_300_799i64 + 62_135_596_800) as u64 + 1;
    let secs = (input.u64() % span) as i64 - 62_135_596_800;
    let timestamp = Timestamp::from_unix(secs, input.u32() % 1_000_000_000).expect("in range");
    let level = LEVELS[usize::from(input.byte()) % LEVELS.len()];
    let logger = input.text(24);
    let event = input.text(40);
    let count = input.byte() % 12;
    let mut calls = Vec::new();
    let mut line = encoder.begin(timestamp, level, &logger, &event);
    for _ in 0..count {
        let name = input.text(12);
        let value = match input.byte() % 8 {
            0 => {
                let text = input.text(24);
                line.str(&name, &text);
                Expected::Json(JsonValue::String(text))
            }
            1 => {
                let v = input.u64() as i64;
                line.i64(&name, v);
                Expected::Json(JsonValue::from(v))
            }
            2 => {
                let v = input.u64();
                line.u64(&name, v);
                Expected::Json(JsonValue::from(v))
            }
            3 => {
                let v = f64::from_bits(input.u64());
                line.f64(&name, v);
                if v.is_finite() {
                    Expected::Float(v)
                } else {
                    Expected::Json(JsonValue::String(v.to_string()))
                }
            }
            4 => {
                let v = input.byte() & 1 == 1;
                line.bool(&name, v);
                Expected::Json(JsonValue::Bool(v))
            }
            5 => {
                let raw = input.short_bytes(48);
                let v = serde_json::from_slice::<JsonValue>(raw)
                    .unwrap_or_else(|_| JsonValue::String(String::from_utf8_lossy(raw).into()));
                line.json(&name, &v);
                Expected::Text(serde_json::to_string(&v).expect("a JSON value encodes"))
            }
            _ => {
                let links: Vec<(String, String)> = (0..input.byte() % 4)
                    .map(|_| (input.text(16), input.text(24)))
                    .collect();
                let chain: Vec<ErrorLink<'_>> = links
                    .iter()
                    .map(|(t, m)| ErrorLink {
                        type_name: t,
                        message: m,
                    })
                    .collect();
                line.exception(&chain);
                calls.push(Call::Exception(links));
                continue;
            }
        };
        calls.push(Call::Field { name, value });
    }
    let bytes = line.finish();
    check_log_line(bytes, timestamp, level, &logger, &event, &calls);
}

fn check_log_line(
    bytes: &[u8],
    timestamp: Timestamp,
    level: Level,
    logger: &str,
    event: &str,
    calls: &[Call],
) {
    let text = std::str::from_utf8(bytes).expect("a log line is UTF-8");
    let body = text
        .strip_suffix('\n')
        .expect("a log line ends with a newline");
    assert!(!body.contains('\n'), "a log line is one line");
    let Entries(entries) =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not a JSON object ({e}): {body}"));
    let raw = raw_entries(body);
    assert_eq!(
        raw.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        entries.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );

    let mut seen = HashSet::new();
    for (key, _) in &entries {
        assert!(seen.insert(key.as_str()), "duplicate key {key:?} in {body}");
    }
    let canonical: Vec<&str> = entries.iter().take(4).map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        canonical,
        ["timestamp", "level", "event", "logger"],
        "{body}"
    );
    let stamp = entries[0].1.as_str().expect("timestamp is text");
    assert_eq!(
        Timestamp::parse_rfc3339(stamp),
        Ok(timestamp),
        "timestamp {stamp:?}"
    );
    assert!(stamp.ends_with('Z'));
    let written_level = entries[1].1.as_str().expect("level is text");
    assert!(
        ["debug", "info", "warning", "error", "critical"].contains(&written_level),
        "level {written_level:?}"
    );
    assert_eq!(written_level, level.as_str());
    assert_eq!(entries[2].1.as_str(), Some(event));
    assert_eq!(
        entries[3].1.as_str(),
        Some(logger.replace("::", ".").as_str())
    );

    let mut rest = entries[4..].iter().zip(&raw[4..]);
    let mut exceptions = 0;
    for call in calls {
        match call {
            Call::Exception(links) if links.is_empty() => {}
            Call::Exception(links) => {
                let ((key, value), _) = rest.next().expect("an exception entry");
                let is_first = exceptions == 0;
                exceptions += 1;
                if is_first {
                    assert_eq!(key, "exception");
                } else {
                    assert!(
                        key.starts_with("exception") && key[9..].chars().all(|c| c == '_'),
                        "a further error chain under {key:?}"
                    );
                }
                let items = value.as_array().expect("an exception is a list");
                assert_eq!(items.len(), links.len());
                for (index, (item, (type_name, message))) in items.iter().zip(links).enumerate() {
                    assert_eq!(item["exc_type"].as_str(), Some(type_name.as_str()));
                    assert_eq!(item["exc_value"].as_str(), Some(message.as_str()));
                    assert_eq!(item["is_cause"].as_bool(), Some(index > 0));
                    assert!(item["frames"].is_array());
                }
            }
            Call::Field { name, value } => {
                let ((key, written), (_, text)) = rest.next().expect("an entry per field");
                let suffix = key
                    .strip_prefix(name.as_str())
                    .unwrap_or_else(|| panic!("field {name:?} written as {key:?}"));
                assert!(
                    suffix.chars().all(|c| c == '_'),
                    "field {name:?} written as {key:?}"
                );
                match value {
                    Expected::Json(value) => assert_eq!(written, value, "field {name:?}"),
                    Expected::Float(v) => {
                        let read: f64 = text.parse().expect("a number");
                        assert_eq!(read.to_bits(), v.to_bits(), "field {name:?}: {text}");
                    }
                    Expected::Text(value) => assert_eq!(text, value, "field {name:?}"),
                }
            }
        }
    }
    assert!(rest.next().is_none(), "entries nobody wrote: {body}");
    for (key, _) in &entries[4..] {
        let allowed = key == "exception" && exceptions > 0;
        assert!(
            allowed || !RESERVED_KEYS.contains(&key.as_str()),
            "reserved key {key:?} written by a user field"
        );
    }
}

/// The top-level entries of a JSON object as key and raw value text, in order.
fn raw_entries(body: &str) -> Vec<(String, &str)> {
    let mut entries = Vec::new();
    assert!(body.starts_with('{'));
    let mut pos = 1;
    loop {
        match body.as_bytes()[pos] {
            b'}' => break,
            b',' => pos += 1,
            _ => {}
        }
        let mut keys = serde_json::Deserializer::from_str(&body[pos..]).into_iter::<String>();
        let key = keys.next().expect("a key").expect("a string key");
        pos += keys.byte_offset();
        assert_eq!(body.as_bytes()[pos], b':');
        pos += 1;
        let mut values =
            serde_json::Deserializer::from_str(&body[pos..]).into_iter::<serde::de::IgnoredAny>();
        values.next().expect("a value").expect("a JSON value");
        let end = pos + values.byte_offset();
        entries.push((key, &body[pos..end]));
        pos = end;
    }
    assert_eq!(pos + 1, body.len(), "nothing after the object");
    entries
}

// ------------------------------------------------------------------------------------------
// bundle_trailer
// ------------------------------------------------------------------------------------------

/// Reads arbitrary bytes as a bundle: a layout that is accepted must tile the file exactly,
/// leave a non-empty executable, and re-encode to the same trailer bytes. Then builds a
/// bundle from pieces of the same bytes and checks that it reads back exactly.
pub fn bundle_trailer(data: &[u8]) {
    match bundle::read_layout(data) {
        Ok(layout) => {
            let len = data.len() as u64;
            assert_eq!(layout.executable.start, 0);
            assert!(
                layout.executable.end > 0,
                "an empty executable was accepted"
            );
            assert_eq!(layout.executable.end, layout.source.start);
            assert_eq!(layout.source.end, layout.metadata.start);
            assert_eq!(layout.metadata.end + TRAILER_LEN as u64, len);
            assert_eq!(
                layout.source.end - layout.source.start,
                u64::from(layout.trailer.source_len)
            );
            assert_eq!(
                layout.metadata.end - layout.metadata.start,
                u64::from(layout.trailer.metadata_len)
            );
            assert_eq!(
                layout.trailer.to_bytes()[..],
                data[data.len() - TRAILER_LEN..],
                "an accepted trailer re-encodes to the same bytes"
            );
            assert!(bundle::check_digest(&layout, layout.trailer.binary_sha256).is_ok());
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }

    let mut input = Input::new(data);
    let exe_len = 1 + usize::from(input.byte());
    let source_len = usize::from(input.byte());
    let digest: [u8; 32] = input.le();
    let executable = input.take(exe_len);
    if executable.is_empty() {
        return;
    }
    let source = input.take(source_len);
    let metadata = input.rest();
    let mut file = executable.to_vec();
    file.extend(bundle::trailer_region(source, metadata, digest).expect("small regions fit"));
    let layout = bundle::read_layout(&file).expect("a bundle we wrote reads back");
    let region = |r: &std::ops::Range<u64>| &file[r.start as usize..r.end as usize];
    assert_eq!(region(&layout.executable), executable);
    assert_eq!(region(&layout.source), source);
    assert_eq!(region(&layout.metadata), metadata);
    assert_eq!(layout.trailer.binary_sha256, digest);
    let mut other = digest;
    other[0] ^= 1;
    assert!(bundle::check_digest(&layout, other).is_err());
}
