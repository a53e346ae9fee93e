//! Regression tests for what fuzzing and the property tests found in the core, one per bug.
//! (The other two live next to their fix: `log::tests::a_second_error_chain_gets_its_own_key`
//! and `serde_helpers::…::seconds_are_read_to_the_microsecond_as_pydantic_reads_them`.)

use airflow_protocol::messages::{BodyError, ToSupervisor, ToTask};

/// `{"type": <type_name>, <field>: [[[…nil…]]]}` with `depth` nested arrays.
fn nested_body(type_name: &str, field: &str, depth: usize) -> Vec<u8> {
    let mut body = vec![0x82, 0xa4];
    body.extend_from_slice(b"type");
    body.push(0xa0 | type_name.len() as u8);
    body.extend_from_slice(type_name.as_bytes());
    body.push(0xa0 | field.len() as u8);
    body.extend_from_slice(field.as_bytes());
    body.extend(std::iter::repeat_n(0x91, depth));
    body.push(0xc0);
    body
}

/// Runs `f` on a thread with 2 MiB of stack, the default of spawned threads (tokio workers
/// and test threads included), where the overflow was seen.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no panic");
}

// Found by the `body_decoder` fuzz target: a body decoded on its own (not through a frame,
// whose envelope bounds the nesting) was handed to serde's recursive decoding with a budget
// of 1024 levels, and ~500 nested arrays overflowed a 2 MiB stack: the process aborted.
#[test]
fn deeply_nested_bodies_are_refused_without_exhausting_the_stack() {
    on_small_stack(|| {
        for depth in [101, 500, 1_000, 100_000] {
            let task = ToTask::decode(&nested_body("XComSequenceIndexResult", "root", depth));
            assert!(
                matches!(&task, Err(BodyError::Malformed(reason)) if reason.contains("nested deeper")),
                "{depth}: {task:?}"
            );
            let request = ToSupervisor::decode(&nested_body("MaskSecret", "value", depth));
            assert!(
                matches!(&request, Err(BodyError::Malformed(reason)) if reason.contains("nested deeper")),
                "{depth}: {request:?}"
            );
        }
    });
}

#[test]
fn bodies_as_deep_as_a_frame_allows_still_decode() {
    on_small_stack(|| {
        // The body map is one level; 98 arrays inside it make 99, and the frame's envelope
        // array the 100th, the deepest a frame may be.
        let task = ToTask::decode(&nested_body("XComSequenceIndexResult", "root", 98)).unwrap();
        assert_eq!(task.type_name(), "XComSequenceIndexResult");
        ToSupervisor::decode(&nested_body("MaskSecret", "value", 98)).unwrap();
    });
}
