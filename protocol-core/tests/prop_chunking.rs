//! Chunking invariance: however a byte stream is split into reads, the frame decoder returns
//! the same frames, and the task and supervisor sessions report the same events, as when the
//! whole stream arrives at once. The expected frames and events are also derived from what
//! was encoded, so "the same" cannot mean "equally wrong".

mod strategies;

use std::time::{Duration, Instant};

use airflow_protocol::frame::{self, ContextCarrier, FrameDecoder, FrameError, Response};
use airflow_protocol::fuzzing::sample_startup_details;
use airflow_protocol::messages::{ErrorResponse, ToSupervisor, ToTask};
use airflow_protocol::{
    CloseReason, ErrorSlot, Event, RemoteViolation, Reply, ReplyError, RequestId, SessionConfig,
    SupervisorConfig, SupervisorEvent, SupervisorSession, TaskSession,
};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use strategies::*;

/// Splits `bytes` at the given points (as indexes into its length, sorted, repeats allowed,
/// so empty chunks occur too).
fn split<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    points.sort_unstable();
    points.push(bytes.len());
    let mut start = 0;
    points
        .into_iter()
        .map(|end| {
            let chunk = &bytes[start..end];
            start = end;
            chunk
        })
        .collect()
}

fn framed(payload: &[u8]) -> Vec<u8> {
    [&(payload.len() as u32).to_be_bytes()[..], payload].concat()
}

/// Every frame a decoder gives for `chunks`, and the error it ends with, if any.
fn decode_frames(
    chunks: &[&[u8]],
    max: u32,
    via_spare: bool,
) -> (Vec<Vec<u8>>, Option<FrameError>) {
    let mut decoder = FrameDecoder::new(max);
    let mut frames = Vec::new();
    for chunk in chunks {
        if via_spare {
            decoder.spare(chunk.len())[..chunk.len()].copy_from_slice(chunk);
            decoder.commit(chunk.len());
        } else {
            decoder.push(chunk);
        }
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame.to_vec()),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

/// What ends a stream after its valid frames.
#[derive(Debug, Clone)]
enum Tail {
    Nothing,
    /// Part of a frame: the stream ends inside it.
    Truncated(Vec<u8>),
    ZeroLength,
    TooLarge,
}

fn tail() -> impl Strategy<Value = Tail> {
    prop_oneof![
        2 => Just(Tail::Nothing),
        1 => vec(any::<u8>(), 1..4).prop_map(Tail::Truncated),
        1 => Just(Tail::ZeroLength),
        1 => Just(Tail::TooLarge),
    ]
}

/// The frame limit of every decoder and session here (bodies with 64 KiB strings fit).
const MAX: u32 = 1 << 24;

impl Tail {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Tail::Nothing => Vec::new(),
            // A prefix announcing more than follows.
            Tail::Truncated(partial) => {
                [&(partial.len() as u32 + 10).to_be_bytes()[..], partial].concat()
            }
            Tail::ZeroLength => vec![0, 0, 0, 0],
            Tail::TooLarge => (MAX + 1).to_be_bytes().to_vec(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any sequence of frames, split anywhere, comes out of the decoder as the same frames,
    /// and a bad or truncated tail is reported the same way (with the offset of the frame).
    #[test]
    fn frame_decoder_is_chunking_invariant(
        payloads in vec(vec(any::<u8>(), 1..300), 0..8),
        tail in tail(),
        cuts in vec(any::<Index>(), 0..24),
        via_spare in any::<bool>(),
    ) {
        let mut stream: Vec<u8> = payloads.iter().flat_map(|p| framed(p)).collect();
        let tail_offset = stream.len() as u64;
        stream.extend(tail.bytes());
        let whole = decode_frames(&[&stream], MAX, false);
        let chunked = decode_frames(&split(&stream, &cuts), MAX, via_spare);
        prop_assert_eq!(&chunked, &whole);
        prop_assert_eq!(&whole.0, &payloads);
        let expected_error = match tail {
            Tail::Nothing | Tail::Truncated(_) => None,
            Tail::ZeroLength => Some(FrameError::Empty { offset: tail_offset }),
            Tail::TooLarge => Some(FrameError::TooLarge { offset: tail_offset, len: MAX + 1, max: MAX }),
        };
        prop_assert_eq!(whole.1, expected_error);
    }
}

// --- the task session ---------------------------------------------------------------------

/// How the supervisor answers one request.
#[derive(Debug, Clone)]
enum Answer {
    Empty,
    Body(Box<ToTask>),
    ErrorSlot(ErrorResponse),
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        1 => Just(Answer::Empty),
        3 => to_task().prop_map(|body| Answer::Body(Box::new(body))),
        1 => error_response().prop_map(Answer::ErrorSlot),
    ]
}

impl Answer {
    fn encode(&self, id: i64, out: &mut Vec<u8>) {
        let response = match self {
            Answer::Empty => Response::Empty,
            Answer::Body(body) => Response::Body(body),
            Answer::ErrorSlot(error) => Response::Error(error),
        };
        frame::encode_response(out, id, response, MAX).unwrap();
    }

    fn expected(&self) -> Result<Reply, ReplyError> {
        match self {
            Answer::Empty => Ok(Reply::Empty),
            Answer::Body(body) => match &**body {
                ToTask::ErrorResponse(error) => Err(ReplyError::Error {
                    error: error.clone(),
                    slot: ErrorSlot::Body,
                }),
                body => Ok(Reply::Body(body.clone())),
            },
            Answer::ErrorSlot(error) => Err(ReplyError::Error {
                error: error.clone(),
                slot: ErrorSlot::Frame,
            }),
        }
    }
}

/// A task session that has received `StartupDetails` (fed in `startup_chunks`) and sent
/// `requests` requests, then receives `answers`; returns every event.
fn run_task_session(
    startup_chunks: &[&[u8]],
    requests: usize,
    answer_chunks: &[&[u8]],
) -> Vec<Event> {
    let now = Instant::now();
    let config = SessionConfig {
        max_frame_len: MAX,
        ..SessionConfig::default()
    };
    let mut session = TaskSession::new(config, now);
    let mut events = Vec::new();
    for chunk in startup_chunks {
        session.handle_input(chunk, now);
        events.extend(std::iter::from_fn(|| session.poll_event()));
    }
    for i in 0..requests {
        let body = airflow_protocol::messages::GetVariable {
            key: format!("k{i}").into(),
        };
        session
            .send_with(&body.into(), Duration::from_secs(60), None, now)
            .unwrap();
    }
    for (index, chunk) in answer_chunks.iter().enumerate() {
        // Alternate between the copying and the zero-copy way in.
        if index % 2 == 0 {
            session.handle_input(chunk, now);
        } else {
            session.receive_buffer(chunk.len())[..chunk.len()].copy_from_slice(chunk);
            session.handle_received(chunk.len(), now);
        }
        events.extend(std::iter::from_fn(|| session.poll_event()));
    }
    session.handle_eof(now);
    events.extend(std::iter::from_fn(|| session.poll_event()));
    events
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The supervisor's stream (StartupDetails, then answers to a random subset of the
    /// requests in a random order, then maybe a bad tail), split anywhere, gives the same
    /// events as whole; and those events are the answers that were encoded, in stream order,
    /// then `ConnectionClosed` for the unanswered requests and one `Closed`.
    #[test]
    fn task_session_events_are_chunking_invariant(
        (requests, ids) in (0u64..8).prop_flat_map(|n| {
            // Answer a random subset of the ids 1..=n, in a random order.
            (Just(n as usize), Just((1..=n).collect::<Vec<u64>>()).prop_shuffle(), 0..=n as usize)
                .prop_map(|(n, ids, count)| (n, ids[..count].to_vec()))
        }),
        answers in vec(answer(), 8),
        tail in tail(),
        startup_cuts in vec(any::<Index>(), 0..8),
        answer_cuts in vec(any::<Index>(), 0..24),
    ) {
        let details = sample_startup_details();
        let mut startup = Vec::new();
        frame::encode_response(
            &mut startup, 0,
            Response::Body(&ToTask::StartupDetails(Box::new(details.clone()))),
            frame::DEFAULT_MAX_FRAME_LEN,
        ).unwrap();
        let mut stream = Vec::new();
        for (id, answer) in ids.iter().zip(&answers) {
            answer.encode(*id as i64, &mut stream);
        }
        let tail_offset = (startup.len() + stream.len()) as u64;
        stream.extend(tail.bytes());

        let whole = run_task_session(&[&startup], requests, &[&stream]);
        let chunked = run_task_session(&split(&startup, &startup_cuts), requests, &split(&stream, &answer_cuts));
        prop_assert_eq!(&chunked, &whole);

        let mut expected = vec![Event::Startup(Box::new(details))];
        for (id, answer) in ids.iter().zip(&answers) {
            expected.push(Event::Reply { id: RequestId(*id), result: answer.expected() });
        }
        let mut unanswered: Vec<u64> = (1..=requests as u64).filter(|id| !ids.contains(id)).collect();
        let mut closing: Vec<u64> = whole[expected.len()..]
            .iter()
            .filter_map(|e| match e {
                Event::Reply { id, result: Err(ReplyError::ConnectionClosed) } => Some(id.0),
                _ => None,
            })
            .collect();
        closing.sort_unstable();
        unanswered.sort_unstable();
        prop_assert_eq!(&closing, &unanswered, "every unanswered request fails once");
        let close = match tail {
            Tail::Nothing => CloseReason::EndOfStream { truncated_bytes: 0 },
            Tail::Truncated(partial) => CloseReason::EndOfStream { truncated_bytes: 4 + partial.len() },
            Tail::ZeroLength => CloseReason::Violation(RemoteViolation::Frame(FrameError::Empty { offset: tail_offset })),
            Tail::TooLarge => CloseReason::Violation(RemoteViolation::Frame(FrameError::TooLarge {
                offset: tail_offset, len: MAX + 1, max: MAX,
            })),
        };
        prop_assert_eq!(&whole[..expected.len()], &expected[..]);
        prop_assert_eq!(whole.len(), expected.len() + unanswered.len() + 1);
        prop_assert_eq!(whole.last(), Some(&Event::Closed(close)));
    }
}

// --- the supervisor session ---------------------------------------------------------------

/// One request frame as a runtime may write it.
#[derive(Debug, Clone)]
enum Sent {
    Request(Box<ToSupervisor>, Option<ContextCarrier>),
    /// `[id, nil]`: the real supervisor would not answer it.
    NilBody,
}

fn sent() -> impl Strategy<Value = Sent> {
    prop_oneof![
        8 => (to_supervisor(), option::of(btree_map(string(), string(), 0..3)))
            .prop_map(|(body, carrier)| Sent::Request(Box::new(body), carrier)),
        1 => Just(Sent::NilBody),
    ]
}

fn run_supervisor(chunks: &[&[u8]]) -> Vec<SupervisorEvent> {
    let mut session = SupervisorSession::new(SupervisorConfig { max_frame_len: MAX });
    let mut events = Vec::new();
    for chunk in chunks {
        session.handle_input(chunk);
        events.extend(std::iter::from_fn(|| session.poll_event()));
    }
    session.handle_eof();
    events.extend(std::iter::from_fn(|| session.poll_event()));
    events
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The runtime's stream of requests, split anywhere, gives the supervisor session the
    /// same events as whole: each request as encoded (with its carrier), in order, then one
    /// `Closed` that names a bad tail.
    #[test]
    fn supervisor_session_events_are_chunking_invariant(
        requests in vec(sent(), 0..6),
        tail in tail(),
        cuts in vec(any::<Index>(), 0..24),
    ) {
        let mut stream = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            let id = index as u64 + 1;
            match request {
                Sent::Request(body, carrier) => {
                    frame::encode_request(&mut stream, id, body, carrier.as_ref(), MAX).unwrap();
                }
                Sent::NilBody => stream.extend(framed(&[0x92, id as u8, 0xc0])),
            }
        }
        let tail_offset = stream.len() as u64;
        stream.extend(tail.bytes());

        let whole = run_supervisor(&[&stream]);
        prop_assert_eq!(&run_supervisor(&split(&stream, &cuts)), &whole);

        prop_assert_eq!(whole.len(), requests.len() + 1);
        for (index, (event, request)) in whole.iter().zip(&requests).enumerate() {
            let id = index as i64 + 1;
            match (event, request) {
                (SupervisorEvent::Request { id: got, body, context_carrier }, Sent::Request(sent, carrier)) => {
                    prop_assert_eq!(*got, id);
                    prop_assert_eq!(body, &**sent);
                    prop_assert_eq!(context_carrier, carrier);
                }
                (SupervisorEvent::Unanswerable { id: got, .. }, Sent::NilBody) => prop_assert_eq!(*got, id),
                (event, request) => prop_assert!(false, "{:?} for {:?}", event, request),
            }
        }
        let (violation, truncated_bytes) = match tail {
            Tail::Nothing => (None, 0),
            Tail::Truncated(partial) => (None, 4 + partial.len()),
            Tail::ZeroLength => (Some(FrameError::Empty { offset: tail_offset }), 0),
            Tail::TooLarge => (Some(FrameError::TooLarge { offset: tail_offset, len: MAX + 1, max: MAX }), 0),
        };
        prop_assert_eq!(whole.last(), Some(&SupervisorEvent::Closed { violation, truncated_bytes }));
    }
}
