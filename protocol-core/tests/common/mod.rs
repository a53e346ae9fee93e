//! Helpers shared by the golden-data tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use airflow_protocol::{JsonValue, Timestamp};

/// The folder of a golden-data set under `tests/fixtures`.
pub fn fixtures(set: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(set)
}

/// Reads `manifest.json` of a set.
pub fn manifest(set: &str) -> JsonValue {
    let path = fixtures(set).join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Normalises a manifest value or one of ours for comparison: `{"$timestamp": t}` and
/// RFC 3339 strings become one canonical text, nulls and empty lists are dropped from maps
/// (absent, nil and an empty list mean the same to a reader), and the literal `state` of the
/// terminal bodies, which this crate leaves to its default, is dropped.
pub fn normalise(value: &JsonValue) -> JsonValue {
    match value {
        JsonValue::Object(map) => {
            if let (1, Some(JsonValue::String(text))) = (map.len(), map.get("$timestamp")) {
                return JsonValue::String(canonical_time(text));
            }
            let literal_state = matches!(
                map.get("type").and_then(JsonValue::as_str),
                Some(
                    "SucceedTask" | "RetryTask" | "DeferTask" | "RescheduleTask" | "AwaitInputTask"
                )
            );
            JsonValue::Object(
                map.iter()
                    .filter(|(k, v)| {
                        !(v.is_null()
                            || v.as_array().is_some_and(Vec::is_empty)
                            || (literal_state && k.as_str() == "state"))
                    })
                    .map(|(k, v)| (k.clone(), normalise(v)))
                    .collect(),
            )
        }
        JsonValue::Array(items) => JsonValue::Array(items.iter().map(normalise).collect()),
        JsonValue::String(text) => JsonValue::String(canonical_time(text)),
        other => other.clone(),
    }
}

fn canonical_time(text: &str) -> String {
    match Timestamp::parse_rfc3339(text) {
        Ok(ts) if text.len() >= 20 => ts.to_rfc3339(),
        _ => text.to_owned(),
    }
}

/// Reads a whole frame file and returns its payload, checking the prefix.
pub fn frame_payload(bytes: &[u8]) -> &[u8] {
    let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    assert_eq!(len + 4, bytes.len(), "prefix matches the file length");
    &bytes[4..]
}
