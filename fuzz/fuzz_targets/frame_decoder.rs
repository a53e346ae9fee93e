#![no_main]
// Harness: airflow_protocol::fuzzing::frame_decoder (shared with the corpus replay in cargo test).
libfuzzer_sys::fuzz_target!(|data: &[u8]| airflow_protocol::fuzzing::frame_decoder(data));
