#![no_main]
// Harness: airflow_protocol::fuzzing::log_encoder (shared with the corpus replay in cargo test).
libfuzzer_sys::fuzz_target!(|data: &[u8]| airflow_protocol::fuzzing::log_encoder(data));
