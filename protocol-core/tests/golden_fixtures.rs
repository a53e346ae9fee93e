//! Every frame produced by the real `apache-airflow-task-sdk==1.3.2` code decodes to the body
//! its manifest records, and the task session handles the whole recorded conversation.

mod common;

use std::time::{Duration, Instant};

use airflow_protocol::frame::{self, FrameDecoder};
use airflow_protocol::messages::{ErrorType, GetVariable, ToSupervisor, ToTask};
use airflow_protocol::{Event, Reply, ReplyError, SessionConfig, SessionState, TaskSession};
use common::{fixtures, frame_payload, manifest, normalise};

const SET: &str = "airflow-1.3.2";

fn read(file: &str) -> Vec<u8> {
    std::fs::read(fixtures(SET).join(file)).unwrap()
}

#[test]
fn every_to_task_frame_decodes_to_its_manifest_body() {
    let manifest = manifest(SET);
    let entries = manifest["to_task"].as_array().unwrap();
    assert!(entries.len() >= 16);
    for entry in entries {
        let file = entry["file"].as_str().unwrap();
        let bytes = read(file);
        let envelope = frame::parse_response(frame_payload(&bytes)).unwrap();
        let expected = &entry["msgpack"];
        assert_eq!(envelope.id, expected[0].as_i64().unwrap(), "{file}: id");
        let decoded_body = envelope.body.map(|b| ToTask::decode(b).unwrap());
        let decoded_error = envelope.error.map(|b| ToTask::decode(b).unwrap());
        for (slot, decoded, wanted) in [
            ("body", decoded_body, &expected[1]),
            ("error", decoded_error, &expected[2]),
        ] {
            match decoded {
                None => assert!(wanted.is_null(), "{file}: {slot} should be {wanted}"),
                Some(message) => {
                    assert!(
                        !matches!(message, ToTask::Unknown { .. }),
                        "{file}: known type"
                    );
                    let ours = serde_json::to_value(&message).unwrap();
                    assert_eq!(normalise(&ours), normalise(wanted), "{file}: {slot}");
                }
            }
        }
    }
}

#[test]
fn every_to_supervisor_frame_decodes_and_our_encoding_reads_the_same() {
    let manifest = manifest(SET);
    for entry in manifest["to_supervisor"].as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        let bytes = read(file);
        let envelope = frame::parse_request(frame_payload(&bytes)).unwrap();
        let body = ToSupervisor::decode(envelope.body.unwrap()).unwrap();
        let ours = serde_json::to_value(&body).unwrap();
        assert_eq!(normalise(&ours), normalise(&entry["msgpack"][1]), "{file}");

        // Our encoding of the same body decodes back to the same typed value.
        let mut out = Vec::new();
        frame::encode_request(&mut out, 7, &body, None, frame::DEFAULT_MAX_FRAME_LEN).unwrap();
        let again = frame::parse_request(frame_payload(&out)).unwrap();
        assert_eq!(again.id, 7);
        assert_eq!(
            ToSupervisor::decode(again.body.unwrap()).unwrap(),
            body,
            "{file}"
        );
    }
}

#[test]
fn startup_details_fields_are_read_exactly() {
    let bytes = read("to_task/StartupDetails.bin");
    let envelope = frame::parse_response(frame_payload(&bytes)).unwrap();
    let ToTask::StartupDetails(details) = ToTask::decode(envelope.body.unwrap()).unwrap() else {
        panic!("not StartupDetails");
    };
    assert_eq!(
        details.ti.id.to_string(),
        "01931b2c-0000-7000-8000-000000000001"
    );
    assert_eq!(details.ti.dag_id, "peer_dag");
    assert_eq!(details.ti.map_index, Some(-1));
    assert_eq!(
        details.start_date.to_rfc3339(),
        "2025-01-01T00:00:05.123456Z"
    );
    let run = &details.ti_context.dag_run;
    assert_eq!(
        run.logical_date.unwrap().to_rfc3339(),
        "2025-01-01T00:00:00.000000Z"
    );
    assert_eq!(run.run_type.as_str(), "manual");
    assert_eq!(run.conf.as_ref().map(|c| c.len()), Some(0));
    assert_eq!(details.ti_context.should_retry, Some(false));
    assert_eq!(
        details.ti_context.xcom_keys_to_clear.as_deref(),
        Some(&[][..])
    );
}

// Replays the recorded conversation through a task session: StartupDetails, then each
// recorded answer re-addressed to the id our session gave the matching request.
#[test]
fn task_session_handles_the_recorded_conversation_in_any_chunking() {
    let manifest = manifest(SET);
    let answers: Vec<Vec<u8>> = manifest["to_task"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|entry| {
            let mut bytes = read(entry["file"].as_str().unwrap());
            // Payload byte 1 is the fixint id (0..=14); ours start at 1.
            assert!(bytes[5] < 0x7f);
            bytes[5] += 1;
            bytes
        })
        .collect();
    let mut stream = read("to_task/StartupDetails.bin");
    for answer in &answers {
        stream.extend_from_slice(answer);
    }
    for chunk in [1, 3, 7, 64, stream.len()] {
        let now = Instant::now();
        let mut session = TaskSession::new(SessionConfig::default(), now);
        let mut events = Vec::new();
        let (startup, rest) = stream.split_at(read("to_task/StartupDetails.bin").len());
        for piece in startup.chunks(chunk) {
            session.handle_input(piece, now);
        }
        events.extend(std::iter::from_fn(|| session.poll_event()));
        assert!(matches!(events[0], Event::Startup(_)), "chunk {chunk}");
        for _ in &answers {
            session
                .send(
                    &ToSupervisor::GetVariable(GetVariable { key: "k".into() }),
                    now,
                )
                .unwrap();
        }
        for piece in rest.chunks(chunk) {
            session.handle_input(piece, now);
        }
        events.extend(std::iter::from_fn(|| session.poll_event()));
        assert_eq!(events.len(), 1 + answers.len(), "chunk {chunk}");
        let replies: Vec<_> = events[1..]
            .iter()
            .map(|e| match e {
                Event::Reply { result, .. } => result.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert!(
            matches!(&replies[0], Ok(Reply::Body(ToTask::VariableResult(v))) if v.value.as_deref() == Some("hello world"))
        );
        assert!(
            matches!(&replies[1], Err(ReplyError::Error { error, .. }) if error.error == ErrorType::VariableNotFound)
        );
        assert!(matches!(&replies[5], Ok(Reply::Body(ToTask::XComResult(x))) if x.value.is_null()));
        assert!(matches!(&replies[6], Ok(Reply::Empty)));
        match &replies[8] {
            Err(ReplyError::Error { error, slot }) => {
                assert_eq!(*slot, airflow_protocol::ErrorSlot::Frame);
                assert_eq!(error.status_code(), Some(409));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(session.state(), SessionState::Running);
        assert_eq!(session.poll_timeout(), None, "nothing pending");
        let _ = Duration::ZERO;
    }
}

#[test]
fn frame_decoder_splits_the_recorded_stream_identically_in_any_chunking() {
    let mut stream = Vec::new();
    let manifest = manifest(SET);
    let mut expected = Vec::new();
    for entry in manifest["to_task"].as_array().unwrap() {
        let bytes = read(entry["file"].as_str().unwrap());
        expected.push(bytes[4..].to_vec());
        stream.extend_from_slice(&bytes);
    }
    for chunk in 1..=stream.len().min(97) {
        let mut decoder = FrameDecoder::default();
        let mut frames = Vec::new();
        for piece in stream.chunks(chunk) {
            decoder.push(piece);
            while let Some(payload) = decoder.next_frame().unwrap() {
                frames.push(payload.to_vec());
            }
        }
        assert_eq!(frames, expected, "chunk {chunk}");
    }
}
