//! Frames written by the real `apache-airflow-task-sdk==1.3.2` code for every message type of
//! both directions (`tests/fixtures/generated`, made by `tests/python/gen_vectors.py`) decode
//! with this crate to the value the generator recorded, and the set covers every type.
//!
//! Regenerate with `$(scripts/python-env) tests/python/gen_vectors.py` from the repository root;
//! `tests/python_validation.rs` checks that the checked-in files are what the script writes.

mod common;

use std::collections::BTreeSet;

use airflow_protocol::frame;
use airflow_protocol::messages::{ErrorType, ToSupervisor, ToTask};
use airflow_protocol::{JsonMap, JsonValue};
use common::{fixtures, frame_payload, manifest, normalise};

const SET: &str = "generated";

fn read(file: &str) -> Vec<u8> {
    let path = fixtures(SET).join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn entries(manifest: &JsonValue, direction: &str) -> Vec<JsonValue> {
    manifest[direction]
        .as_array()
        .unwrap_or_else(|| panic!("manifest has no {direction} list"))
        .clone()
}

/// Keys whose value is a duration: the supervisor writes ISO 8601 text (`PT90S`), this crate
/// writes seconds. They are compared as numbers of seconds.
const DURATION_KEYS: [&str; 2] = ["trigger_timeout", "timeout"];

/// Seconds of an ISO 8601 duration as msgspec writes `timedelta` (`P3DT0.00025S`, `PT7201.5S`).
fn iso_duration_secs(text: &str) -> f64 {
    let rest = text
        .strip_prefix('P')
        .unwrap_or_else(|| panic!("duration {text:?}"));
    let mut total = 0.0;
    let mut number = String::new();
    for c in rest.chars() {
        let unit = match c {
            'T' => continue,
            'W' => 604_800.0,
            'D' => 86_400.0,
            'H' => 3_600.0,
            'M' => 60.0,
            'S' => 1.0,
            digit => {
                number.push(digit);
                continue;
            }
        };
        total += number.parse::<f64>().unwrap() * unit;
        number.clear();
    }
    total
}

fn seconds(value: &JsonValue) -> f64 {
    match value {
        JsonValue::String(text) => iso_duration_secs(text),
        other => other.as_f64().unwrap_or_else(|| panic!("duration {other}")),
    }
}

/// Brings the Python-side value into the shape this crate's JSON form has, for the few
/// places where the two differ by representation only. Returns mismatches it already found.
fn reconcile(ours: &mut JsonMap, expected: &mut JsonMap, defaults: &JsonMap) -> Vec<String> {
    let mut problems = Vec::new();
    // A key the frame left out stands for the model's default: our reader may keep it
    // absent (nil) or fill in that default, but nothing else.
    for (key, default) in defaults {
        if expected.contains_key(key) {
            continue;
        }
        match ours.get(key) {
            None | Some(JsonValue::Null) => {
                ours.remove(key);
            }
            Some(value) if value == default => {
                expected.insert(key.clone(), default.clone());
            }
            Some(value) => problems.push(format!(
                "absent key {key} means {default}, but we read {value}"
            )),
        }
    }
    for key in DURATION_KEYS {
        let (a, b) = (ours.remove(key), expected.remove(key));
        match (a.filter(|v| !v.is_null()), b.filter(|v| !v.is_null())) {
            (None, None) => {}
            (Some(a), Some(b)) if (seconds(&a) - seconds(&b)).abs() < 1e-6 => {}
            (a, b) => problems.push(format!("{key}: ours {a:?}, theirs {b:?}")),
        }
    }
    // `StartupDetails` is dumped without `by_alias`, so preloaded connections carry their
    // schema as `schema_` (the pydantic field name); this crate reads it as `schema`.
    if let Some(JsonValue::Array(connections)) = expected
        .get_mut("ti_context")
        .and_then(|c| c.get_mut("connections"))
    {
        for connection in connections.iter_mut().filter_map(JsonValue::as_object_mut) {
            if let Some(schema) = connection.remove("schema_") {
                connection.insert("schema".into(), schema);
            }
        }
    }
    // `AssetsByAliasResult.assets` holds `AssetResult` models, which carry their own `type`
    // discriminator; this crate reads them as plain assets.
    if let Some(JsonValue::Array(assets)) = expected.get_mut("assets") {
        for asset in assets.iter_mut().filter_map(JsonValue::as_object_mut) {
            if asset.get("type").and_then(JsonValue::as_str) == Some("AssetResult") {
                asset.remove("type");
            }
        }
    }
    problems
}

/// Compares one decoded body with the manifest's record of it; returns what differs.
fn compare(ours: JsonValue, expected: &JsonValue, defaults: &JsonValue) -> Vec<String> {
    let (JsonValue::Object(mut ours), JsonValue::Object(mut expected)) = (ours, expected.clone())
    else {
        return vec!["a body is not a map".into()];
    };
    let empty = JsonMap::new();
    let defaults = defaults.as_object().unwrap_or(&empty);
    let mut problems = reconcile(&mut ours, &mut expected, defaults);
    let (ours, expected) = (
        normalise(&JsonValue::Object(ours)),
        normalise(&JsonValue::Object(expected)),
    );
    if ours != expected {
        problems.push(format!(
            "decoded value differs\n   ours:   {ours}\n   theirs: {expected}"
        ));
    }
    problems
}

fn finish(direction: &str, checked: usize, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} of {checked} {direction} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_to_task_vector_decodes_to_its_manifest_value() {
    let manifest = manifest(SET);
    let list = entries(&manifest, "to_task");
    let mut failures = Vec::new();
    for entry in &list {
        let file = entry["file"].as_str().unwrap();
        let bytes = read(file);
        assert_eq!(
            bytes.len() as u64,
            entry["length"].as_u64().unwrap() + 4,
            "{file}: length"
        );
        let envelope = match frame::parse_response(frame_payload(&bytes)) {
            Ok(envelope) => envelope,
            Err(e) => {
                failures.push(format!("{file}: envelope refused: {e}"));
                continue;
            }
        };
        if Some(envelope.id) != entry["id"].as_i64() {
            failures.push(format!("{file}: id {} != {}", envelope.id, entry["id"]));
        }
        let slot = entry["slot"].as_str().unwrap();
        let (carried, other) = match slot {
            "body" => (envelope.body, envelope.error),
            "error" => (envelope.error, envelope.body),
            "empty" => {
                if envelope.body.is_some() || envelope.error.is_some() {
                    failures.push(format!("{file}: empty response carries a map"));
                }
                continue;
            }
            other => panic!("{file}: unknown slot {other}"),
        };
        if other.is_some() {
            failures.push(format!("{file}: both slots are set"));
        }
        let Some(carried) = carried else {
            failures.push(format!("{file}: the {slot} slot is nil"));
            continue;
        };
        let message = match ToTask::decode(carried) {
            Ok(message) => message,
            Err(e) => {
                failures.push(format!("{file}: does not decode: {e}"));
                continue;
            }
        };
        let wanted_type = entry["type"].as_str().unwrap();
        if matches!(message, ToTask::Unknown { .. }) || message.type_name() != wanted_type {
            failures.push(format!(
                "{file}: decoded as {}, expected {wanted_type}",
                message.type_name()
            ));
            continue;
        }
        if slot == "error" && !matches!(message, ToTask::ErrorResponse(_)) {
            failures.push(format!("{file}: error slot holds {}", message.type_name()));
        }
        let ours = serde_json::to_value(&message).unwrap();
        for problem in compare(ours, &entry[slot], &entry["defaults"]) {
            failures.push(format!("{file}: {problem}"));
        }
    }
    finish("to_task", list.len(), failures);
}

#[test]
fn every_to_supervisor_vector_decodes_to_its_manifest_value_and_reencodes() {
    let manifest = manifest(SET);
    let list = entries(&manifest, "to_supervisor");
    let mut failures = Vec::new();
    for entry in &list {
        let file = entry["file"].as_str().unwrap();
        let bytes = read(file);
        let envelope = match frame::parse_request(frame_payload(&bytes)) {
            Ok(envelope) => envelope,
            Err(e) => {
                failures.push(format!("{file}: envelope refused: {e}"));
                continue;
            }
        };
        if Some(envelope.id) != entry["id"].as_i64() {
            failures.push(format!("{file}: id {} != {}", envelope.id, entry["id"]));
        }
        match (envelope.context_carrier, &entry["context_carrier"]) {
            (None, JsonValue::Null) => {}
            (Some(carrier), JsonValue::Object(expected)) => {
                let carrier: frame::ContextCarrier = rmp_serde::from_slice(carrier).unwrap();
                let expected: frame::ContextCarrier = expected
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect();
                if carrier != expected {
                    failures.push(format!("{file}: context carrier {carrier:?}"));
                }
            }
            (ours, theirs) => failures.push(format!(
                "{file}: context carrier {:?} vs {theirs}",
                ours.is_some()
            )),
        }
        let Some(body) = envelope.body else {
            failures.push(format!("{file}: nil body"));
            continue;
        };
        let message = match ToSupervisor::decode(body) {
            Ok(message) => message,
            Err(e) => {
                failures.push(format!("{file}: does not decode: {e}"));
                continue;
            }
        };
        if message.type_name() != entry["type"].as_str().unwrap() {
            failures.push(format!("{file}: decoded as {}", message.type_name()));
            continue;
        }
        let ours = serde_json::to_value(&message).unwrap();
        for problem in compare(ours, &entry["body"], &entry["defaults"]) {
            failures.push(format!("{file}: {problem}"));
        }

        // Our encoding of the same message decodes back to it.
        let mut out = Vec::new();
        frame::encode_request(&mut out, 9, &message, None, frame::DEFAULT_MAX_FRAME_LEN).unwrap();
        let again = frame::parse_request(frame_payload(&out)).unwrap();
        let again = ToSupervisor::decode(again.body.unwrap()).unwrap();
        if again != message {
            failures.push(format!(
                "{file}: our re-encoding reads back as {again:?}, not {message:?}"
            ));
        }
    }
    finish("to_supervisor", list.len(), failures);
}

fn names(value: &JsonValue) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn covered(manifest: &JsonValue, direction: &str) -> BTreeSet<String> {
    entries(manifest, direction)
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_unions_match_our_type_names_and_every_type_has_a_vector() {
    let manifest = manifest(SET);
    for (union, direction, ours) in [
        ("ToTask", "to_task", ToTask::TYPE_NAMES),
        ("ToSupervisor", "to_supervisor", ToSupervisor::TYPE_NAMES),
    ] {
        let python = names(&manifest["union_members"][union]);
        let ours: BTreeSet<String> = ours.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            python.difference(&ours).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "members of the real {union} union missing from {union}::TYPE_NAMES"
        );
        assert_eq!(
            ours.difference(&python).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "{union}::TYPE_NAMES entries that are not members of the real union"
        );
        let covered = covered(&manifest, direction);
        let missing: Vec<_> = ours.difference(&covered).collect();
        assert!(missing.is_empty(), "{direction}: no vector for {missing:?}");
        assert!(
            covered.is_subset(&ours),
            "{direction}: vectors of unknown types {:?}",
            covered.difference(&ours).collect::<Vec<_>>()
        );
    }
}

#[test]
fn every_error_type_is_covered_in_both_response_slots() {
    let manifest = manifest(SET);
    let python = names(&manifest["error_types"]);
    let ours: BTreeSet<String> = ErrorType::ALL
        .iter()
        .map(|e| e.as_str().to_owned())
        .collect();
    assert_eq!(python, ours, "ErrorType values");
    for slot in ["body", "error"] {
        let seen: BTreeSet<String> = entries(&manifest, "to_task")
            .iter()
            .filter(|e| e["slot"] == slot && e["type"] == "ErrorResponse")
            .filter_map(|e| e[slot]["error"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(seen, ours, "ErrorType values in the {slot} slot");
    }
    let empty = entries(&manifest, "to_task")
        .iter()
        .filter(|e| e["slot"] == "empty")
        .count();
    assert!(empty >= 1, "the empty response [id, nil, nil] has a vector");
}

fn wire_types(value: &JsonValue, out: &mut BTreeSet<String>) {
    match value {
        JsonValue::String(kind) => {
            out.insert(kind.clone());
        }
        JsonValue::Object(map) => {
            for child in map
                .get("items")
                .and_then(JsonValue::as_array)
                .into_iter()
                .flatten()
            {
                wire_types(child, out);
            }
            for child in map
                .get("fields")
                .and_then(JsonValue::as_object)
                .into_iter()
                .flat_map(|m| m.values())
            {
                wire_types(child, out);
            }
        }
        _ => {}
    }
}

#[test]
fn vectors_cover_every_timestamp_width_and_the_variants() {
    let manifest = manifest(SET);
    for direction in ["to_task", "to_supervisor"] {
        let mut kinds = BTreeSet::new();
        let list = entries(&manifest, direction);
        for entry in &list {
            wire_types(&entry["wire_types"], &mut kinds);
        }
        for width in [
            "fixext4(-1) timestamp32",
            "fixext8(-1) timestamp64",
            "ext8(-1) timestamp96",
        ] {
            assert!(kinds.contains(width), "{direction}: no {width} value");
        }
        for kind in ["uint64", "int64", "float64", "str8"] {
            assert!(kinds.contains(kind), "{direction}: no {kind} value");
        }
        // A type with a `_minimal` vector also has a `_full` one.
        let files: BTreeSet<&str> = list.iter().map(|e| e["file"].as_str().unwrap()).collect();
        for file in &files {
            if let Some(stem) = file.strip_suffix("_minimal.bin") {
                let full = format!("{stem}_full.bin");
                assert!(files.contains(full.as_str()), "{file} has no {full}");
            }
        }
    }
}
