//! A state-machine model test of `TaskSession`: random operations (sends of normal, terminal
//! and invalid requests; answers to waiting, unknown, answered, timed-out and abandoned ids;
//! abandons; virtual time and `handle_timeout`; end of stream; garbage frames) run against
//! the session and against a plain reference model of its pending ids, deadlines and states.
//! After every operation the events, the send results, `state()`, `pending_requests()` and
//! `poll_timeout()` must equal the model's. Time is virtual: an `Instant` base plus offsets.
//!
//! On top of the model, the run checks the session's invariants directly: exactly one event
//! per request that was not abandoned, ids strictly increasing from 1, at most one terminal
//! message, and after a remote violation exactly one `Closed` and sends failing with
//! `LocalError::Closed`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use airflow_protocol::frame::{self, Response};
use airflow_protocol::fuzzing::sample_startup_details;
use airflow_protocol::messages::{
    BodyError, ErrorResponse, ErrorType, GetVariable, ResendLoggingFD, SucceedTask, ToSupervisor,
    ToTask, VariableResult,
};
use airflow_protocol::{
    CloseReason, ErrorSlot, Event, FrameError, JsonMap, LocalError, RemoteViolation, Reply,
    ReplyError, RequestId, SessionConfig, SessionState, TaskSession, Timestamp,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

const STARTUP_TIMEOUT_MS: u64 = 10_000;
const MAX_FRAME_LEN: u32 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq)]
enum AnswerKind {
    Empty,
    Variable,
    ErrorInBody,
    ErrorSlot,
    /// A `VariableResult` without its required `key`.
    InvalidBody,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RequestKind {
    Normal,
    Terminal,
    /// Refused locally (`ResendLoggingFD` cannot go over TCP).
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Garbage {
    ZeroLength,
    /// A frame whose payload is a map, not an array.
    NotAnArray,
    /// A frame whose id is a string.
    StringId,
}

#[derive(Debug, Clone)]
enum Op {
    /// Feed a `StartupDetails` frame (id 0), or a `VariableResult` in its place.
    Startup {
        valid: bool,
        split: Index,
    },
    Send {
        kind: RequestKind,
        timeout_ms: u16,
    },
    /// Answer a waiting request (no-op when none waits).
    Answer {
        pick: Index,
        kind: AnswerKind,
        split: Index,
    },
    /// Answer an id that was never sent: 0, negative, or past the last id.
    AnswerUnknown {
        choice: u8,
        offset: u16,
    },
    /// Answer an id that was answered, timed out or abandoned (no-op when there is none).
    AnswerAgain {
        pick: Index,
    },
    Abandon {
        pick: Index,
        sent: bool,
    },
    Advance {
        ms: u16,
    },
    /// Advance to the earliest deadline (pending request or startup), give or take 1 ms.
    AdvanceToDeadline {
        delta: i8,
    },
    Eof,
    /// Part of a frame, then end of stream.
    TruncatedEof {
        partial: u8,
    },
    Garbage(Garbage),
}

fn op() -> impl Strategy<Value = Op> {
    let answer_kind = prop_oneof![
        Just(AnswerKind::Empty),
        Just(AnswerKind::Variable),
        Just(AnswerKind::ErrorInBody),
        Just(AnswerKind::ErrorSlot),
        Just(AnswerKind::InvalidBody),
    ];
    let request_kind = prop_oneof![
        8 => Just(RequestKind::Normal),
        2 => Just(RequestKind::Terminal),
        1 => Just(RequestKind::Invalid),
    ];
    prop_oneof![
        3 => (prop::bool::weighted(0.9), any::<Index>())
            .prop_map(|(valid, split)| Op::Startup { valid, split }),
        10 => (request_kind, 1u16..3000).prop_map(|(kind, timeout_ms)| Op::Send { kind, timeout_ms }),
        8 => (any::<Index>(), answer_kind, any::<Index>())
            .prop_map(|(pick, kind, split)| Op::Answer { pick, kind, split }),
        1 => (any::<u8>(), any::<u16>()).prop_map(|(choice, offset)| Op::AnswerUnknown { choice, offset }),
        1 => any::<Index>().prop_map(|pick| Op::AnswerAgain { pick }),
        2 => (any::<Index>(), any::<bool>()).prop_map(|(pick, sent)| Op::Abandon { pick, sent }),
        4 => (0u16..4000).prop_map(|ms| Op::Advance { ms }),
        3 => (-1i8..=1).prop_map(|delta| Op::AdvanceToDeadline { delta }),
        1 => Just(Op::Eof),
        1 => (0u8..20).prop_map(|partial| Op::TruncatedEof { partial }),
        1 => prop_oneof![
            Just(Garbage::ZeroLength),
            Just(Garbage::NotAnArray),
            Just(Garbage::StringId),
        ]
        .prop_map(Op::Garbage),
    ]
}

// --- what goes on the wire ----------------------------------------------------------------

fn answer_frame(id: i64, kind: AnswerKind) -> Vec<u8> {
    let mut out = Vec::new();
    let body;
    let error;
    let response = match kind {
        AnswerKind::Empty => Response::Empty,
        AnswerKind::Variable => {
            body = ToTask::VariableResult(VariableResult {
                key: format!("key{id}").into(),
                value: Some("value".into()),
            });
            Response::Body(&body)
        }
        AnswerKind::ErrorInBody => {
            body = ToTask::ErrorResponse(not_found());
            Response::Body(&body)
        }
        AnswerKind::ErrorSlot => {
            error = api_error();
            Response::Error(&error)
        }
        AnswerKind::InvalidBody => {
            // [id, {"type": "VariableResult"}, nil]
            let mut payload = vec![0x93];
            rmp::encode::write_sint(&mut payload, id).unwrap();
            payload.extend_from_slice(&[0x81, 0xa4]);
            payload.extend_from_slice(b"type");
            payload.push(0xa0 | 14);
            payload.extend_from_slice(b"VariableResult");
            payload.push(0xc0);
            return framed(&payload);
        }
    };
    frame::encode_response(&mut out, id, response, MAX_FRAME_LEN).unwrap();
    out
}

fn not_found() -> ErrorResponse {
    ErrorResponse {
        error: ErrorType::VariableNotFound,
        detail: Some(JsonMap::from_iter([("key".to_owned(), "k".into())])),
    }
}

fn api_error() -> ErrorResponse {
    ErrorResponse {
        error: ErrorType::ApiServerError,
        detail: Some(JsonMap::from_iter([
            ("status_code".to_owned(), 500.into()),
            ("message".to_owned(), "boom".into()),
        ])),
    }
}

fn framed(payload: &[u8]) -> Vec<u8> {
    [&(payload.len() as u32).to_be_bytes()[..], payload].concat()
}

fn startup_frame(valid: bool) -> Vec<u8> {
    if !valid {
        return answer_frame(0, AnswerKind::Variable);
    }
    let mut out = Vec::new();
    let body = ToTask::StartupDetails(Box::new(sample_startup_details()));
    frame::encode_response(&mut out, 0, Response::Body(&body), MAX_FRAME_LEN).unwrap();
    out
}

fn request_body(kind: RequestKind, n: u64) -> ToSupervisor {
    match kind {
        RequestKind::Normal => GetVariable {
            key: format!("key{n}").into(),
        }
        .into(),
        RequestKind::Terminal => SucceedTask {
            end_date: Timestamp::from_unix(1_735_689_605, 0).unwrap(),
            task_outlets: Vec::new(),
            outlet_events: Vec::new(),
            rendered_map_index: None,
        }
        .into(),
        RequestKind::Invalid => ResendLoggingFD {}.into(),
    }
}

// --- the reference model ------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Pending {
    deadline_ms: u64,
    timeout: Duration,
    type_name: &'static str,
}

/// What the session should be: plain bookkeeping, no protocol code.
#[derive(Debug)]
struct Model {
    state: SessionState,
    now_ms: u64,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    answered: Vec<u64>,
    /// Timed out or abandoned: a late answer is dropped quietly.
    forgotten: Vec<u64>,
    terminal: Option<u64>,
    /// Bytes of whole frames the session consumed.
    offset: u64,
}

impl Model {
    fn new() -> Self {
        Self {
            state: SessionState::AwaitingStartup,
            now_ms: 0,
            next_id: 1,
            pending: BTreeMap::new(),
            answered: Vec::new(),
            forgotten: Vec::new(),
            terminal: None,
            offset: 0,
        }
    }

    fn closed(&self) -> bool {
        self.state == SessionState::Closed
    }

    /// Closing fails every waiting request, in id order, then reports the reason.
    fn close(&mut self, reason: CloseReason, events: &mut Vec<Event>) {
        if self.closed() {
            return;
        }
        self.state = SessionState::Closed;
        for id in std::mem::take(&mut self.pending).into_keys() {
            events.push(Event::Reply {
                id: RequestId(id),
                result: Err(ReplyError::ConnectionClosed),
            });
        }
        events.push(Event::Closed(reason));
    }

    /// One whole frame of `len` bytes arrives carrying an answer to `id`.
    fn frame_in(
        &mut self,
        len: usize,
        id: i64,
        result: Result<Reply, ReplyError>,
        events: &mut Vec<Event>,
    ) {
        if self.closed() {
            return;
        }
        self.offset += len as u64;
        if self.state == SessionState::AwaitingStartup {
            self.close(
                CloseReason::Violation(RemoteViolation::UnexpectedFirstFrame {
                    found: String::new(),
                }),
                events,
            );
            return;
        }
        let known = u64::try_from(id)
            .ok()
            .filter(|&id| id >= 1 && id < self.next_id);
        match known {
            Some(id) if self.pending.contains_key(&id) => {
                self.pending.remove(&id);
                self.answered.push(id);
                if self.terminal == Some(id) {
                    self.state = SessionState::Finished;
                }
                events.push(Event::Reply {
                    id: RequestId(id),
                    result,
                });
            }
            Some(id) if self.forgotten.contains(&id) => {}
            Some(id) => self.close(
                CloseReason::Violation(RemoteViolation::RepeatedResponseId { id: id as i64 }),
                events,
            ),
            None => self.close(
                CloseReason::Violation(RemoteViolation::UnknownResponseId { id }),
                events,
            ),
        }
    }

    fn expected_poll_timeout(&self, base: Instant) -> Option<Instant> {
        let at = |ms: u64| base + Duration::from_millis(ms);
        match self.state {
            SessionState::AwaitingStartup => Some(at(STARTUP_TIMEOUT_MS)),
            SessionState::Closed => None,
            _ => self.pending.values().map(|p| p.deadline_ms).min().map(at),
        }
    }
}

fn expected_result(kind: AnswerKind, id: i64) -> Result<Reply, ReplyError> {
    match kind {
        AnswerKind::Empty => Ok(Reply::Empty),
        AnswerKind::Variable => Ok(Reply::Body(ToTask::VariableResult(VariableResult {
            key: format!("key{id}").into(),
            value: Some("value".into()),
        }))),
        AnswerKind::ErrorInBody => Err(ReplyError::Error {
            error: not_found(),
            slot: ErrorSlot::Body,
        }),
        AnswerKind::ErrorSlot => Err(ReplyError::Error {
            error: api_error(),
            slot: ErrorSlot::Frame,
        }),
        AnswerKind::InvalidBody => Err(ReplyError::Malformed(BodyError::Invalid {
            type_name: "VariableResult".into(),
            reason: String::new(),
        })),
    }
}

/// Clears the texts the model does not predict (error messages), and puts each run of
/// timeout or connection-closed failures (reported together, in no promised order) in id
/// order.
fn normalise(mut events: Vec<Event>) -> Vec<Event> {
    for event in &mut events {
        match event {
            Event::Reply {
                result: Err(ReplyError::Malformed(BodyError::Invalid { reason, .. })),
                ..
            } => reason.clear(),
            Event::Closed(CloseReason::Violation(RemoteViolation::UnexpectedFirstFrame {
                found,
            })) => found.clear(),
            Event::Closed(CloseReason::Violation(RemoteViolation::Frame(
                FrameError::Malformed { reason, .. },
            ))) => reason.clear(),
            _ => {}
        }
    }
    let is_batch = |e: &Event| {
        matches!(
            e,
            Event::Reply {
                result: Err(ReplyError::TimedOut { .. } | ReplyError::ConnectionClosed),
                ..
            }
        )
    };
    let mut start = 0;
    while start < events.len() {
        let mut end = start;
        while end < events.len() && is_batch(&events[end]) {
            end += 1;
        }
        events[start..end].sort_by_key(|e| match e {
            Event::Reply { id, .. } => *id,
            _ => unreachable!(),
        });
        start = end + 1;
    }
    events
}

/// Runs `ops` and a final end of stream, checking the session against the model after each.
fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let base = Instant::now();
    let config = SessionConfig {
        max_frame_len: MAX_FRAME_LEN,
        request_timeout: Duration::from_secs(60),
        startup_timeout: Duration::from_millis(STARTUP_TIMEOUT_MS),
    };
    let mut session = TaskSession::new(config, base);
    let mut model = Model::new();
    let mut all_events: Vec<Event> = Vec::new();
    let mut sent_ids: Vec<u64> = Vec::new();
    let mut abandoned: Vec<u64> = Vec::new();
    let mut terminals = 0;
    let mut violated = false;
    let final_eof = [Op::Eof];

    for (step, op) in ops.iter().chain(&final_eof).enumerate() {
        let now = base + Duration::from_millis(model.now_ms);
        let mut expected = Vec::new();
        let feed = |session: &mut TaskSession, bytes: &[u8], split: &Index| {
            let (a, b) = bytes.split_at(split.index(bytes.len() + 1));
            session.handle_input(a, now);
            session.receive_buffer(b.len())[..b.len()].copy_from_slice(b);
            session.handle_received(b.len(), now);
        };
        match op {
            Op::Startup { valid, split } => {
                let bytes = startup_frame(*valid);
                feed(&mut session, &bytes, split);
                if model.state == SessionState::AwaitingStartup && *valid {
                    model.offset += bytes.len() as u64;
                    model.state = SessionState::Running;
                    expected.push(Event::Startup(Box::new(sample_startup_details())));
                } else {
                    let result = expected_result(AnswerKind::Variable, 0);
                    model.frame_in(bytes.len(), 0, result, &mut expected);
                }
            }
            Op::Send { kind, timeout_ms } => {
                let body = request_body(*kind, model.next_id);
                let timeout = Duration::from_millis(u64::from(*timeout_ms));
                let got = session.send_with(&body, timeout, None, now);
                let want = match model.state {
                    SessionState::AwaitingStartup => Err(LocalError::NotStarted),
                    SessionState::TerminalSent | SessionState::Finished => {
                        Err(LocalError::AfterTerminal {
                            refused: body.type_name(),
                        })
                    }
                    SessionState::Closed => Err(LocalError::Closed),
                    SessionState::Running if *kind == RequestKind::Invalid => {
                        prop_assert!(
                            matches!(got, Err(LocalError::Invalid(_))),
                            "step {}: {:?}",
                            step,
                            got
                        );
                        got.clone()
                    }
                    SessionState::Running => {
                        let id = model.next_id;
                        model.next_id += 1;
                        model.pending.insert(
                            id,
                            Pending {
                                deadline_ms: model.now_ms + u64::from(*timeout_ms),
                                timeout,
                                type_name: body.type_name(),
                            },
                        );
                        if *kind == RequestKind::Terminal {
                            model.terminal = Some(id);
                            model.state = SessionState::TerminalSent;
                        }
                        Ok(RequestId(id))
                    }
                };
                prop_assert_eq!(&got, &want, "step {}: send {:?}", step, kind);
                if let Ok(RequestId(id)) = got {
                    sent_ids.push(id);
                    if *kind == RequestKind::Terminal {
                        terminals += 1;
                    }
                }
                if violated {
                    prop_assert_eq!(got, Err(LocalError::Closed), "a send after a violation");
                }
            }
            Op::Answer { pick, kind, split } => {
                if let Some(&id) = pending_pick(&model, pick) {
                    let bytes = answer_frame(id as i64, *kind);
                    feed(&mut session, &bytes, split);
                    model.frame_in(
                        bytes.len(),
                        id as i64,
                        expected_result(*kind, id as i64),
                        &mut expected,
                    );
                }
            }
            Op::AnswerUnknown { choice, offset } => {
                let id = match choice % 3 {
                    0 => 0,
                    1 => -1 - i64::from(*offset),
                    _ => model.next_id as i64 + i64::from(*offset),
                };
                let bytes = answer_frame(id, AnswerKind::Empty);
                session.handle_input(&bytes, now);
                model.frame_in(bytes.len(), id, Ok(Reply::Empty), &mut expected);
            }
            Op::AnswerAgain { pick } => {
                let done: Vec<u64> = model
                    .answered
                    .iter()
                    .chain(&model.forgotten)
                    .copied()
                    .collect();
                if !done.is_empty() {
                    let id = done[pick.index(done.len())] as i64;
                    let bytes = answer_frame(id, AnswerKind::Empty);
                    session.handle_input(&bytes, now);
                    model.frame_in(bytes.len(), id, Ok(Reply::Empty), &mut expected);
                }
            }
            Op::Abandon { pick, sent } => {
                let id = match pending_pick(&model, pick) {
                    Some(&id) if *sent => id,
                    _ => model.next_id + 5,
                };
                session.abandon(RequestId(id));
                if model.pending.remove(&id).is_some() {
                    model.forgotten.push(id);
                    abandoned.push(id);
                }
            }
            Op::Advance { .. } | Op::AdvanceToDeadline { .. } => {
                model.now_ms = match op {
                    Op::Advance { ms } => model.now_ms + u64::from(*ms),
                    Op::AdvanceToDeadline { delta } => {
                        let deadline = match model.state {
                            SessionState::AwaitingStartup => Some(STARTUP_TIMEOUT_MS),
                            _ => model.pending.values().map(|p| p.deadline_ms).min(),
                        };
                        let target = deadline
                            .map_or(model.now_ms, |d| d.saturating_add_signed(i64::from(*delta)));
                        target.max(model.now_ms)
                    }
                    _ => unreachable!(),
                };
                session.handle_timeout(base + Duration::from_millis(model.now_ms));
                match model.state {
                    SessionState::Closed => {}
                    SessionState::AwaitingStartup => {
                        if model.now_ms >= STARTUP_TIMEOUT_MS {
                            let after = Duration::from_millis(STARTUP_TIMEOUT_MS);
                            model.close(CloseReason::StartupTimedOut { after }, &mut expected);
                        }
                    }
                    _ => {
                        let due: Vec<u64> = model
                            .pending
                            .iter()
                            .filter(|(_, p)| p.deadline_ms <= model.now_ms)
                            .map(|(&id, _)| id)
                            .collect();
                        for id in due {
                            let p = model.pending.remove(&id).unwrap();
                            model.forgotten.push(id);
                            expected.push(Event::Reply {
                                id: RequestId(id),
                                result: Err(ReplyError::TimedOut {
                                    request_type: p.type_name,
                                    after: p.timeout,
                                }),
                            });
                        }
                    }
                }
            }
            Op::Eof => {
                session.handle_eof(now);
                model.close(
                    CloseReason::EndOfStream { truncated_bytes: 0 },
                    &mut expected,
                );
            }
            Op::TruncatedEof { partial } => {
                let mut bytes = (u32::from(*partial) + 5).to_be_bytes().to_vec();
                bytes.extend(std::iter::repeat_n(0x90, usize::from(*partial)));
                session.handle_input(&bytes, now);
                session.handle_eof(now);
                let truncated_bytes = bytes.len();
                model.close(CloseReason::EndOfStream { truncated_bytes }, &mut expected);
            }
            Op::Garbage(kind) => {
                let bytes = match kind {
                    Garbage::ZeroLength => vec![0, 0, 0, 0],
                    Garbage::NotAnArray => framed(&[0x80]),
                    Garbage::StringId => framed(&[0x93, 0xa1, b'x', 0xc0, 0xc0]),
                };
                session.handle_input(&bytes, now);
                let offset = model.offset;
                let error = match kind {
                    Garbage::ZeroLength => FrameError::Empty { offset },
                    _ => FrameError::Malformed {
                        offset,
                        reason: String::new(),
                    },
                };
                model.close(
                    CloseReason::Violation(RemoteViolation::Frame(error)),
                    &mut expected,
                );
            }
        }

        let got = normalise(std::iter::from_fn(|| session.poll_event()).collect());
        prop_assert_eq!(&got, &expected, "step {}: events after {:?}", step, op);
        if got
            .iter()
            .any(|e| matches!(e, Event::Closed(CloseReason::Violation(_))))
        {
            violated = true;
        }
        all_events.extend(got);
        prop_assert_eq!(
            session.state(),
            model.state,
            "step {}: state after {:?}",
            step,
            op
        );
        prop_assert_eq!(
            session.pending_requests(),
            model.pending.len(),
            "step {}",
            step
        );
        prop_assert_eq!(
            session.poll_timeout(),
            model.expected_poll_timeout(base),
            "step {}",
            step
        );
    }

    // The invariants, checked on the whole run rather than step by step.
    prop_assert!(model.closed(), "the final end of stream closes the session");
    let expected_ids: Vec<u64> = (1..=sent_ids.len() as u64).collect();
    prop_assert_eq!(&sent_ids, &expected_ids, "ids strictly increasing from 1");
    prop_assert!(terminals <= 1, "{} terminal messages sent", terminals);
    for &id in &sent_ids {
        let events = all_events
            .iter()
            .filter(|e| matches!(e, Event::Reply { id: RequestId(i), .. } if *i == id))
            .count();
        let wanted = usize::from(!abandoned.contains(&id));
        prop_assert_eq!(events, wanted, "events for request {}", id);
    }
    let closes = all_events
        .iter()
        .filter(|e| matches!(e, Event::Closed(_)))
        .count();
    prop_assert_eq!(closes, 1, "exactly one Closed");
    let after_close = all_events
        .iter()
        .position(|e| matches!(e, Event::Closed(_)))
        .unwrap();
    prop_assert_eq!(after_close, all_events.len() - 1, "nothing after Closed");
    prop_assert_eq!(
        session.send(&request_body(RequestKind::Normal, 0), base),
        Err(LocalError::Closed)
    );
    Ok(())
}

fn pending_pick<'a>(model: &'a Model, pick: &Index) -> Option<&'a u64> {
    if model.pending.is_empty() {
        return None;
    }
    model.pending.keys().nth(pick.index(model.pending.len()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn task_session_follows_the_model(ops in vec(op(), 1..60)) {
        run(&ops)?;
    }

    /// Runs that start properly, so that most steps exercise the running session.
    #[test]
    fn started_task_session_follows_the_model(split in any::<Index>(), ops in vec(op(), 1..80)) {
        let start = Op::Startup { valid: true, split };
        let ops: Vec<Op> = std::iter::once(start).chain(ops).collect();
        run(&ops)?;
    }
}
