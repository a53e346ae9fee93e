//! Round trips of every message body through the frame codec, in both directions:
//! requests through `encode_request` → `parse_request` → `ToSupervisor::decode`, responses
//! through `encode_response` (body slot and error slot) → `parse_response` →
//! `ToTask::decode`. Every type of each direction gets its own run, so none can be skipped.

mod strategies;

use airflow_protocol::frame::{self, ContextCarrier, Response, DEFAULT_MAX_FRAME_LEN, PREFIX_LEN};
use airflow_protocol::messages::{TaskRescheduleStartDate, ToSupervisor, ToTask};
use airflow_protocol::Timestamp;
use proptest::collection::btree_map;
use proptest::option;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use strategies::*;

/// Cases per message type; `PROPTEST_CASES` overrides it for a deeper run.
const CASES_PER_TYPE: u32 = 40;

fn runner() -> TestRunner {
    let defaults = Config::default();
    let cases = match std::env::var_os("PROPTEST_CASES") {
        Some(_) => defaults.cases,
        None => CASES_PER_TYPE,
    };
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..defaults
    })
}

fn carrier() -> impl Strategy<Value = ContextCarrier> {
    btree_map(string(), string(), 0..3)
}

/// The payload of a whole frame, after checking its length prefix.
fn payload(frame_bytes: &[u8]) -> Result<&[u8], TestCaseError> {
    prop_assert!(frame_bytes.len() > PREFIX_LEN);
    let len = u32::from_be_bytes(frame_bytes[..PREFIX_LEN].try_into().unwrap()) as usize;
    prop_assert_eq!(
        len + PREFIX_LEN,
        frame_bytes.len(),
        "prefix counts the payload"
    );
    Ok(&frame_bytes[PREFIX_LEN..])
}

fn request_round_trip(
    body: &ToSupervisor,
    id: u64,
    carrier: Option<&ContextCarrier>,
) -> Result<(), TestCaseError> {
    let mut out = vec![0xAA; 3]; // bytes already queued stay untouched
    frame::encode_request(&mut out, id, body, carrier, DEFAULT_MAX_FRAME_LEN)
        .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    prop_assert_eq!(&out[..3], &[0xAA; 3]);
    let envelope = frame::parse_request(payload(&out[3..])?)
        .map_err(|e| TestCaseError::fail(format!("parse: {e}")))?;
    prop_assert_eq!(envelope.id, id as i64);
    let decoded = ToSupervisor::decode(envelope.body.expect("a body"))
        .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(&decoded, body);
    prop_assert_eq!(decoded.type_name(), body.type_name());
    let decoded_carrier = envelope
        .context_carrier
        .map(|bytes| rmp_serde::from_slice::<ContextCarrier>(bytes).unwrap());
    prop_assert_eq!(decoded_carrier.as_ref(), carrier);
    Ok(())
}

fn response_round_trip(body: &ToTask, id: i64) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    frame::encode_response(&mut out, id, Response::Body(body), DEFAULT_MAX_FRAME_LEN)
        .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    let envelope = frame::parse_response(payload(&out)?)
        .map_err(|e| TestCaseError::fail(format!("parse: {e}")))?;
    prop_assert_eq!(envelope.id, id);
    prop_assert!(envelope.error.is_none());
    let decoded = ToTask::decode(envelope.body.expect("a body"))
        .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(&decoded, body);

    // The error slot carries an ErrorResponse the same way.
    if let ToTask::ErrorResponse(error) = body {
        let mut out = Vec::new();
        frame::encode_response(&mut out, id, Response::Error(error), DEFAULT_MAX_FRAME_LEN)
            .unwrap();
        let envelope = frame::parse_response(payload(&out)?).unwrap();
        prop_assert!(envelope.body.is_none());
        let decoded = ToTask::decode(envelope.error.expect("an error")).unwrap();
        prop_assert_eq!(decoded, ToTask::ErrorResponse(error.clone()));
    }

    // A peer that writes datetimes as RFC 3339 text (an older schema, another SDK) is read
    // the same: every timestamp field accepts both forms.
    let mut text_form = Vec::new();
    body.serialize(
        &mut rmp_serde::Serializer::new(&mut text_form)
            .with_struct_map()
            .with_human_readable(),
    )
    .unwrap();
    let decoded = ToTask::decode(&text_form)
        .map_err(|e| TestCaseError::fail(format!("decode of the text form: {e}")))?;
    prop_assert_eq!(&decoded, body);
    Ok(())
}

use serde::Serialize;

#[test]
fn every_request_type_round_trips() {
    for &name in ToSupervisor::TYPE_NAMES {
        let strategy = (
            to_supervisor_of(name),
            0..=i64::MAX as u64,
            option::of(carrier()),
        );
        runner()
            .run(&strategy, |(body, id, carrier)| {
                request_round_trip(&body, id, carrier.as_ref())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn every_response_type_round_trips() {
    for &name in ToTask::TYPE_NAMES {
        runner()
            .run(&(to_task_of(name), any::<i64>()), |(body, id)| {
                response_round_trip(&body, id)
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// The msgpack timestamp extension for an instant, built from the msgpack spec rather than
/// from the crate: the smallest of timestamp32, timestamp64 and timestamp96 that holds it.
fn spec_ext(t: &Timestamp) -> Vec<u8> {
    let (secs, nanos) = (t.unix_seconds(), t.subsec_nanos());
    match ext_width(t) {
        4 => [&[0xd6, 0xff][..], &(secs as u32).to_be_bytes()].concat(),
        8 => [
            &[0xd7, 0xff][..],
            &((u64::from(nanos) << 34) | secs as u64).to_be_bytes(),
        ]
        .concat(),
        _ => [
            &[0xc7, 12, 0xff][..],
            &nanos.to_be_bytes(),
            &secs.to_be_bytes(),
        ]
        .concat(),
    }
}

proptest! {
    #![proptest_config(Config { cases: 512, ..Config::default() })]

    /// Responses carry datetimes as the smallest msgpack timestamp extension, as the
    /// supervisor's msgspec writes them, and every width reads back exactly.
    #[test]
    fn response_timestamps_use_the_smallest_extension(t in timestamp()) {
        let body = ToTask::TaskRescheduleStartDate(TaskRescheduleStartDate { start_date: Some(t) });
        let mut out = Vec::new();
        frame::encode_response(&mut out, 1, Response::Body(&body), DEFAULT_MAX_FRAME_LEN).unwrap();
        // The body is the frame's last element but one; its last value is the timestamp.
        let expected = [spec_ext(&t), vec![0xc0]].concat();
        prop_assert!(out.ends_with(&expected), "{:02x?} does not end with {:02x?}", out, expected);
        let envelope = frame::parse_response(&out[PREFIX_LEN..]).unwrap();
        prop_assert_eq!(ToTask::decode(envelope.body.unwrap()).unwrap(), body);
    }

    /// Requests carry datetimes as RFC 3339 text in UTC with a `Z`, which reads back exactly.
    #[test]
    fn request_timestamps_are_rfc3339_text(t in timestamp()) {
        let text = t.to_rfc3339();
        prop_assert!(text.ends_with('Z'));
        prop_assert_eq!(Timestamp::parse_rfc3339(&text), Ok(t));
        let body = ToSupervisor::from(airflow_protocol::messages::RescheduleTask {
            reschedule_date: t,
            end_date: t,
        });
        let mut out = Vec::new();
        frame::encode_request(&mut out, 1, &body, None, DEFAULT_MAX_FRAME_LEN).unwrap();
        let needle = [&[0xa0 | text.len() as u8][..], text.as_bytes()].concat();
        prop_assert!(text.len() < 32 && out.windows(needle.len()).any(|w| w == needle));
    }

    /// Any mix of request bodies round trips (the per-type runs above cover each type).
    #[test]
    fn any_request_round_trips(body in to_supervisor(), id in 0..=i64::MAX as u64) {
        request_round_trip(&body, id, None)?;
    }

    /// Any mix of response bodies round trips.
    #[test]
    fn any_response_round_trips(body in to_task(), id in any::<i64>()) {
        response_round_trip(&body, id)?;
    }
}

#[test]
fn the_strategies_reach_every_timestamp_width() {
    let mut runner = TestRunner::deterministic();
    let mut widths = [false; 3];
    let strategy = timestamp();
    for _ in 0..500 {
        let t = strategy.new_tree(&mut runner).unwrap().current();
        widths[match ext_width(&t) {
            4 => 0,
            8 => 1,
            _ => 2,
        }] = true;
        if t.unix_seconds() < 0 {
            widths[2] = true;
        }
    }
    assert_eq!(widths, [true; 3]);
}

#[test]
fn empty_responses_have_neither_body_nor_error() {
    for id in [0, 1, -1, i64::MAX, i64::MIN] {
        let mut out = Vec::new();
        frame::encode_response(&mut out, id, Response::Empty, DEFAULT_MAX_FRAME_LEN).unwrap();
        let envelope = frame::parse_response(&out[PREFIX_LEN..]).unwrap();
        assert_eq!(
            (envelope.id, envelope.body, envelope.error),
            (id, None, None)
        );
    }
}
