#![no_main]
// Harness: airflow_protocol::fuzzing::task_session (shared with the corpus replay in cargo
// test). The core reads no clock; the harness gets its base instant from here.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    airflow_protocol::fuzzing::task_session(data, std::time::Instant::now())
});
