//! Bundles packed by `airflow-rust-pack`, found and run by Airflow's own
//! `ExecutableCoordinator` (apache-airflow-task-sdk 1.3.2), not by the rig's command
//! coordinator.
//!
//! Each example bundle is packed into a fresh executables root that also holds files the
//! coordinator must pass over: a plain executable, a valid bundle for another DAG, and two
//! bundles for the same DAG that it must skip (a wrong SHA-256, not executable), whose
//! executables would fail the task if run. The coordinator has to walk the root recursively,
//! read the trailers, hash, parse the YAML, match the DAG id and accept the schema version;
//! the task must then succeed with its XCom, and the path it chose must be the packed bundle.
//!
//! The negative case builds a bundle whose metadata declares a supervisor schema 1.3.2 does
//! not know, with the core's `trailer_region`, and checks that Airflow rejects it before
//! starting any process, and that `airflow-rust-pack verify` refuses it too.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use airflow_protocol::bundle::trailer_region;
use airflow_sdk_interop::{
    binary, binary_named, json, python, repo_root, run_with_executable_coordinator,
};
use sha2::{Digest, Sha256};

/// A directory removed when the test ends.
struct Root(PathBuf);

impl Root {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("airflow-rs-exec-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn packer() -> Command {
    Command::new(binary_named("airflow-bundle-pack", "airflow-rust-pack"))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Metadata YAML as a packer writes it, for `dag_id` and schema `schema`.
fn metadata_yaml(dag_id: &str, schema: &str) -> String {
    format!(
        "airflow_bundle_metadata_version: \"1.0\"\nsdk:\n  language: \"rust\"\n  \
         version: \"0.1.0\"\n  supervisor_schema_version: \"{schema}\"\ndags:\n  \
         \"{dag_id}\":\n    tasks:\n      - \"extract\"\n"
    )
}

/// `executable` + trailer region, with the executable's SHA-256 unless `digest` is given.
fn hand_built_bundle(executable: &[u8], yaml: &str, digest: Option<[u8; 32]>) -> Vec<u8> {
    let sha = digest.unwrap_or_else(|| Sha256::digest(executable).into());
    let mut file = executable.to_vec();
    file.extend(trailer_region(b"", yaml.as_bytes(), sha).unwrap());
    file
}

/// An executable that fails the task if the coordinator ever runs it.
const WRONG_ONE: &[u8] =
    b"#!/bin/sh\n# a decoy: never to be chosen\necho 'the wrong executable ran' >&2\nexit 3\n";

fn verify_message(path: &Path) -> (bool, String) {
    let out = packer().arg("verify").arg(path).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn packs_and_runs_under_the_executable_coordinator(adapter: &str) {
    if python().is_none() {
        return;
    }
    let package = format!("example-{adapter}-bundle");
    let root = Root::new(adapter);
    let good = root
        .0
        .join("nested/deeper")
        .join(format!("{package}.bundle"));
    fs::create_dir_all(good.parent().unwrap()).unwrap();
    let out = packer()
        .arg("pack")
        .arg(binary(&package))
        .arg("--source")
        .arg(repo_root().join(format!("examples/{adapter}-bundle/src/main.rs")))
        .arg("-o")
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pack: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What the coordinator must pass over.
    let decoy = root.0.join("decoy.sh");
    write_file(&decoy, WRONG_ONE, 0o755);
    let other_dag = root.0.join("other/other-dag.bundle");
    write_file(
        &other_dag,
        &hand_built_bundle(
            WRONG_ONE,
            &metadata_yaml("some_other_dag", "2026-06-16"),
            None,
        ),
        0o755,
    );
    let bad_hash = root.0.join("trap-bad-hash.bundle");
    write_file(
        &bad_hash,
        &hand_built_bundle(
            WRONG_ONE,
            &metadata_yaml("interop", "2026-06-16"),
            Some([7; 32]),
        ),
        0o755,
    );
    let not_executable = root.0.join("trap-not-executable.bundle");
    write_file(
        &not_executable,
        &hand_built_bundle(WRONG_ONE, &metadata_yaml("interop", "2026-06-16"), None),
        0o644,
    );

    // Our verify agrees with what Airflow must do with each file.
    assert_eq!(verify_message(&good), (true, String::new()));
    assert!(verify_message(&other_dag).0);
    for (path, why) in [
        (&decoy, "bad magic"),
        (&bad_hash, "SHA-256 mismatch"),
        (&not_executable, "not executable"),
    ] {
        let (ok, message) = verify_message(path);
        assert!(
            !ok && message.contains(why),
            "{}: {message}",
            path.display()
        );
    }

    let Some(r) = run_with_executable_coordinator(
        &[&root.0],
        json!({
            "dag_id": "interop",
            "task_id": "extract",
            "variables": {"source_path": "/data/in.csv"},
            "connections": {"warehouse": {"conn_type": "postgres", "host": "db.internal"}},
        }),
    ) else {
        return;
    };
    assert_eq!(r.error(), None, "{}", r.dump());
    assert_eq!(
        r.resolved_bundle(),
        Some(fs::canonicalize(&good).unwrap().to_str().unwrap()),
        "the coordinator chose the packed bundle\n{}",
        r.dump()
    );
    assert_eq!(r.raw["resolved_command"][1], "2026-06-16");
    assert_eq!(r.final_state(), "success", "{}", r.dump());
    assert_eq!(r.exit_code(), Some(0));
    assert_eq!(
        r.xcom("extract", "return_value"),
        Some(&json!({"source": "/data/in.csv", "host": "db.internal", "rows": [3, 1, 2]})),
        "{}",
        r.dump()
    );
    assert_eq!(r.state_updates().len(), 1, "{}", r.dump());
    assert_eq!(r.state_updates()[0]["state"], "success");
}

#[test]
fn std_bundle_found_and_run_by_the_executable_coordinator() {
    packs_and_runs_under_the_executable_coordinator("std");
}

#[test]
fn tokio_bundle_found_and_run_by_the_executable_coordinator() {
    packs_and_runs_under_the_executable_coordinator("tokio");
}

#[test]
fn smol_bundle_found_and_run_by_the_executable_coordinator() {
    packs_and_runs_under_the_executable_coordinator("smol");
}

#[test]
fn a_bundle_with_an_unknown_schema_version_is_rejected_before_anything_runs() {
    if python().is_none() {
        return;
    }
    let root = Root::new("stale-schema");
    let executable = fs::read(binary("example-std-bundle")).unwrap();
    let stale = root.0.join("stale-schema.bundle");
    write_file(
        &stale,
        &hand_built_bundle(&executable, &metadata_yaml("interop", "2026-10-30"), None),
        0o755,
    );
    let (ok, message) = verify_message(&stale);
    assert!(
        !ok && message.contains("\"2026-10-30\" is not one Airflow 1.3.2 accepts"),
        "{message}"
    );

    let Some(r) = run_with_executable_coordinator(
        &[&root.0],
        json!({"dag_id": "interop", "task_id": "extract"}),
    ) else {
        return;
    };
    let error = r
        .error()
        .unwrap_or_else(|| panic!("no error\n{}", r.dump()));
    let path = fs::canonicalize(&stale).unwrap();
    for expected in [
        "FileNotFoundError: cannot find executable bundle with usable supervisor_schema_version \
         for dag_id='interop'",
        "matching bundles were rejected (",
        &format!(
            "{}: Version '2026-10-30' not found in supervisor schema bundle",
            path.display()
        ),
    ] {
        assert!(error.contains(expected), "{expected:?} in {error}");
    }
    assert_eq!(r.resolved_bundle(), None);
    assert!(
        r.calls().is_empty(),
        "no task process started, so the Execution API saw nothing\n{}",
        r.dump()
    );

    // With no bundle for the DAG at all, the message says so.
    fs::remove_file(&stale).unwrap();
    write_file(
        &root.0.join("other.bundle"),
        &hand_built_bundle(
            WRONG_ONE,
            &metadata_yaml("some_other_dag", "2026-06-16"),
            None,
        ),
        0o755,
    );
    let Some(r) = run_with_executable_coordinator(
        &[&root.0],
        json!({"dag_id": "interop", "task_id": "extract"}),
    ) else {
        return;
    };
    let error = r
        .error()
        .unwrap_or_else(|| panic!("no error\n{}", r.dump()));
    assert!(
        error.starts_with(
            "FileNotFoundError: cannot find executable bundle containing dag_id='interop' in "
        ),
        "{error}"
    );
}

/// DAG ids that YAML 1.1 would read as an integer, a boolean, a date, null or a float are
/// quoted by the packer, so Airflow's real bundle search (PyYAML `safe_load`) finds each of
/// them; the same metadata with plain keys, as Go's packer writes them, is not found.
#[test]
fn dag_ids_yaml_would_retype_are_found_by_the_real_bundle_search() {
    let Some(python) = python() else { return };
    let root = Root::new("tricky-ids");
    let ids = ["123", "true", "2024-01-01", "yes", "null", "1.5", "0x1F"];
    let dags: serde_json::Map<_, _> = ids
        .iter()
        .map(|id| (id.to_string(), json!({"tasks": ["t"]})))
        .collect();
    let metadata = json!({
        "bundle": {"name": "tricky", "version": "1"},
        "sdk": {"language": "rust", "version": "0.1.0", "supervisor_schema_version": "2026-06-16"},
        "dags": dags,
    });
    let fake = root.0.join("src/fake-sdk-binary");
    write_file(
        &fake,
        format!(
            "#!/bin/sh\n[ \"$1\" = --airflow-metadata ] || exit 2\ncat <<'END'\n{metadata}\nEND\n"
        )
        .as_bytes(),
        0o755,
    );
    let quoted = root.0.join("bundles/tricky.bundle");
    fs::create_dir_all(quoted.parent().unwrap()).unwrap();
    let out = packer()
        .arg("pack")
        .arg(&fake)
        .arg("--source")
        .arg(&fake)
        .arg("-o")
        .arg(&quoted)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain_keys: String = ids
        .iter()
        .map(|id| format!("  {id}:\n    tasks: [t]\n"))
        .collect();
    let plain = root.0.join("plain/plain.bundle");
    write_file(
        &plain,
        &hand_built_bundle(
            WRONG_ONE,
            &format!("sdk:\n  supervisor_schema_version: \"2026-06-16\"\ndags:\n{plain_keys}"),
            None,
        ),
        0o755,
    );

    let script = r#"
import json, pathlib, sys
from airflow.sdk.coordinators.executable.coordinator import _Bundle
found = {}
for root, dag_id in json.loads(sys.argv[1]):
    try:
        found[root + " " + dag_id] = str(_Bundle.find([pathlib.Path(root)], dag_id).path)
    except FileNotFoundError as e:
        found[root + " " + dag_id] = "not found"
print(json.dumps(found))
"#;
    let dir = |p: &Path| p.parent().unwrap().to_string_lossy().into_owned();
    let queries: Vec<_> = ids
        .iter()
        .flat_map(|id| [json!([dir(&quoted), id]), json!([dir(&plain), id])])
        .collect();
    let out = Command::new(python)
        .args(["-c", script, &json!(queries).to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let quoted_path = fs::canonicalize(&quoted).unwrap();
    for id in ids {
        assert_eq!(
            found[format!("{} {id}", dir(&quoted))],
            quoted_path.to_str().unwrap(),
            "quoted {id}: {found}"
        );
        assert_eq!(
            found[format!("{} {id}", dir(&plain))],
            "not found",
            "plain {id}: {found}"
        );
    }
}
