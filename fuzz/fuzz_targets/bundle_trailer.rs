#![no_main]
// Harness: airflow_protocol::fuzzing::bundle_trailer (shared with the corpus replay in cargo test).
libfuzzer_sys::fuzz_target!(|data: &[u8]| airflow_protocol::fuzzing::bundle_trailer(data));
