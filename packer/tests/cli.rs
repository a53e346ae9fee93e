//! The `airflow-rust-pack` command line end to end: pack → verify → inspect, determinism,
//! `--repack`, and every refusal with its message.
//!
//! The binaries packed here are shell scripts that answer `--airflow-metadata --format json`
//! like an SDK binary, so each test controls exactly what the packer is told. The real
//! example bundles are packed and run under Airflow's ExecutableCoordinator by
//! `tests/tests/executable_coordinator.rs`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use airflow_protocol::bundle::trailer_region;
use serde_json::json;
use sha2::{Digest, Sha256};

fn packer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_airflow-rust-pack"))
}

fn run(args: &[&str]) -> Output {
    packer().args(args).output().expect("the packer runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write_exec(path: &Path, content: &[u8], mode: u32) {
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// SDK-shaped metadata JSON with these DAGs.
fn metadata_json(dags: &[(&str, &[&str])], schema: &str) -> serde_json::Value {
    let dags: serde_json::Map<_, _> = dags
        .iter()
        .map(|(dag, tasks)| (dag.to_string(), json!({ "tasks": tasks })))
        .collect();
    json!({
        "airflow_bundle_metadata_version": "1.0",
        "bundle": {"name": "fake", "version": "1.2.3"},
        "sdk": {"language": "rust", "version": "0.1.0", "supervisor_schema_version": schema},
        "source": null,
        "dags": dags,
    })
}

/// A fake SDK binary: prints `stdout` for `--airflow-metadata --format json` (exit `code`),
/// and exits 2 for anything else.
fn fake_binary(dir: &Path, name: &str, stdout: &str, code: i32) -> PathBuf {
    let path = dir.join(name);
    let script = format!(
        "#!/bin/sh\n# a fake Airflow Rust Task SDK binary\n\
         if [ \"$1 $2 $3\" = \"--airflow-metadata --format json\" ]; then\n\
         cat <<'AIRFLOW_JSON_END'\n{stdout}\nAIRFLOW_JSON_END\n\
         echo 'something on stderr' >&2\nexit {code}\nfi\nexit 2\n"
    );
    write_exec(&path, script.as_bytes(), 0o755);
    path
}

fn good_binary(dir: &Path) -> PathBuf {
    let meta = metadata_json(&[("etl", &["extract", "load"])], "2026-06-16");
    fake_binary(dir, "etl-bin", &meta.to_string(), 0)
}

fn source_file(dir: &Path) -> PathBuf {
    let path = dir.join("etl_dag.rs");
    fs::write(&path, "// the DAG source, é\nfn main() {}\n").unwrap();
    path
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn pack_ok(binary: &Path, source: &Path, output: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["pack", s(binary), "--source", s(source), "-o", s(output)];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(out.status.success(), "pack failed: {}", stderr(&out));
    out
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[test]
fn pack_writes_the_spec_layout_then_verify_and_inspect_accept_it() {
    let dir = tempfile::tempdir().unwrap();
    let binary = good_binary(dir.path());
    let source = source_file(dir.path());
    let output = dir.path().join("out").join("etl.bundle");
    fs::create_dir(output.parent().unwrap()).unwrap();
    let out = pack_ok(&binary, &source, &output, &[]);
    assert!(
        stdout(&out).contains("DAGs: etl (2 tasks)"),
        "{}",
        stdout(&out)
    );

    let bundle = fs::read(&output).unwrap();
    let exe = fs::read(&binary).unwrap();
    let src = fs::read(&source).unwrap();
    assert_eq!(
        fs::metadata(&output).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    // The layout of spec E.1, read independently of the code under test.
    let n = bundle.len();
    let trailer = &bundle[n - 64..];
    let u32_at = |at: usize| u32::from_le_bytes(trailer[at..at + 4].try_into().unwrap()) as usize;
    let (source_len, metadata_len) = (u32_at(0), u32_at(4));
    assert_eq!(u32_at(8), 1, "footer version");
    assert_eq!(&trailer[12..44], sha256(&exe), "SHA-256 of the executable");
    assert_eq!(&trailer[44..56], [0u8; 12], "reserved");
    assert_eq!(&trailer[56..64], b"AFBNDL01");
    assert_eq!(source_len, src.len());
    assert_eq!(n, exe.len() + source_len + metadata_len + 64);
    assert_eq!(&bundle[..exe.len()], exe);
    assert_eq!(&bundle[exe.len()..exe.len() + source_len], src);
    let yaml = std::str::from_utf8(&bundle[exe.len() + source_len..n - 64]).unwrap();
    assert_eq!(
        yaml,
        "airflow_bundle_metadata_version: \"1.0\"\nbundle:\n  name: \"fake\"\n  version: \"1.2.3\"\n\
         sdk:\n  language: \"rust\"\n  version: \"0.1.0\"\n  supervisor_schema_version: \"2026-06-16\"\n\
         source: \"etl_dag.rs\"\ndags:\n  \"etl\":\n    tasks:\n      - \"extract\"\n      - \"load\"\n"
    );
    // Only the bundle is left in the output directory: no temporary file.
    let names: Vec<_> = fs::read_dir(output.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["etl.bundle"]);

    let verified = run(&["verify", s(&output)]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(
        stdout(&verified).contains("supervisor schema 2026-06-16, DAGs: etl (2 tasks)"),
        "{}",
        stdout(&verified)
    );

    let inspected = run(&["inspect", s(&output)]);
    assert!(inspected.status.success(), "{}", stderr(&inspected));
    let text = stdout(&inspected);
    let exe_len = exe.len();
    for expected in [
        format!("executable  bytes 0..{exe_len} ({exe_len} bytes)"),
        format!("sha256    {} (trailer)", hex(&sha256(&exe))),
        "matches the executable region".to_owned(),
        format!(
            "source      bytes {exe_len}..{} ({source_len} bytes), sha256 {}",
            exe_len + source_len,
            hex(&sha256(&src))
        ),
        format!("trailer     bytes {}..{n}", n - 64),
        format!("metadata YAML:\n{yaml}"),
    ] {
        assert!(text.contains(&expected), "{expected:?} in\n{text}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_same_inputs_give_byte_identical_bundles() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let binary = good_binary(a.path());
    let source = source_file(a.path());
    pack_ok(&binary, &source, &a.path().join("one"), &[]);
    pack_ok(&binary, &source, &b.path().join("two.bundle"), &[]);
    let one = fs::read(a.path().join("one")).unwrap();
    assert_eq!(one, fs::read(b.path().join("two.bundle")).unwrap());
    // A different source changes the bytes (the test can fail).
    fs::write(&source, "// changed\n").unwrap();
    pack_ok(&binary, &source, &b.path().join("three"), &[]);
    assert_ne!(one, fs::read(b.path().join("three")).unwrap());
}

#[test]
fn name_and_version_override_what_the_binary_reports() {
    let dir = tempfile::tempdir().unwrap();
    let binary = good_binary(dir.path());
    let source = source_file(dir.path());
    let output = dir.path().join("b");
    pack_ok(
        &binary,
        &source,
        &output,
        &["--name", "renamed", "--version", "2025.1"],
    );
    let inspected = stdout(&run(&["inspect", s(&output)]));
    assert!(
        inspected.contains("  name: \"renamed\"\n  version: \"2025.1\"\n"),
        "{inspected}"
    );
}

#[test]
fn dag_ids_that_yaml_would_retype_are_quoted_and_read_back_as_strings() {
    let dir = tempfile::tempdir().unwrap();
    let ids = [
        "123",
        "true",
        "2024-01-01",
        "yes",
        "null",
        "0x1F",
        "1.5",
        "etl.daily-v2",
    ];
    let dags: Vec<(&str, &[&str])> = ids.iter().map(|id| (*id, &["t"][..])).collect();
    let meta = metadata_json(&dags, "2026-06-16");
    let binary = fake_binary(dir.path(), "tricky", &meta.to_string(), 0);
    let source = source_file(dir.path());
    let output = dir.path().join("tricky.bundle");
    pack_ok(&binary, &source, &output, &[]);
    let inspected = stdout(&run(&["inspect", s(&output)]));
    for id in ids {
        assert!(
            inspected.contains(&format!("\n  \"{id}\":\n    tasks:\n")),
            "{id} quoted in\n{inspected}"
        );
    }
    let verified = run(&["verify", s(&output)]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    for id in ids {
        assert!(stdout(&verified).contains(&format!("{id} (1 tasks)")));
    }
}

#[test]
fn a_bundle_is_refused_as_input_unless_repack_which_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let binary = good_binary(dir.path());
    let source = source_file(dir.path());
    let first = dir.path().join("first");
    pack_ok(&binary, &source, &first, &[]);

    let again = run(&[
        "pack",
        s(&first),
        "--source",
        s(&source),
        "-o",
        s(&dir.path().join("second")),
    ]);
    assert_eq!(again.status.code(), Some(1));
    let message = stderr(&again);
    assert!(
        message.contains(&format!(
            "{}: already an executable bundle (it ends with an AFBNDL01 trailer); pack the plain \
             binary, or pass --repack",
            first.display()
        )),
        "{message}"
    );
    let len = fs::metadata(&first).unwrap().len();
    assert!(
        message.contains(&format!("(at bytes {}..{len})", len - 64)),
        "{message}"
    );
    assert!(!dir.path().join("second").exists());

    // --repack strips the old trailer: the result is what packing the plain binary gives.
    let second = dir.path().join("second");
    let out = pack_ok(&first, &source, &second, &["--repack"]);
    assert!(stdout(&out).starts_with("repacked "), "{}", stdout(&out));
    assert_eq!(fs::read(&first).unwrap(), fs::read(&second).unwrap());

    // --repack refuses a bundle whose executable no longer matches its trailer.
    let mut tampered = fs::read(&first).unwrap();
    tampered[20] ^= 0x20;
    let tampered_path = dir.path().join("tampered");
    write_exec(&tampered_path, &tampered, 0o755);
    let out = run(&[
        "pack",
        s(&tampered_path),
        "--repack",
        "--source",
        s(&source),
        "-o",
        s(&dir.path().join("third")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot --repack: the executable region no longer matches"),
        "{}",
        stderr(&out)
    );
}

/// Runs `pack` with a fake binary printing `stdout` and returns the error message.
fn pack_refused(stdout: &str, code: i32, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let binary = fake_binary(dir.path(), "bin", stdout, code);
    let source = source_file(dir.path());
    let output = dir.path().join("never");
    let mut args = vec!["pack", s(&binary), "--source", s(&source), "-o", s(&output)];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", self::stdout(&out));
    assert!(!output.exists(), "nothing is written on failure");
    let message = stderr(&out);
    assert!(
        message.starts_with(&format!("airflow-rust-pack: error: {}: ", binary.display())),
        "{message}"
    );
    message
}

#[test]
fn pack_refuses_binaries_that_print_no_usable_metadata() {
    let good = metadata_json(&[("etl", &["t"])], "2026-06-16").to_string();
    let message = pack_refused(&good, 3, &[]);
    assert!(
        message.contains("--airflow-metadata --format json` failed (exit status: 3)")
            && message.contains("something on stderr"),
        "{message}"
    );
    let message = pack_refused("not json at all", 0, &[]);
    assert!(
        message.contains("printed invalid JSON") && message.contains("not json at all"),
        "{message}"
    );
    let message = pack_refused("{\"sdk\": {}}", 0, &[]);
    assert!(
        message.contains("printed metadata the packer cannot read"),
        "{message}"
    );
    let newer = metadata_json(&[("etl", &["t"])], "2026-10-30").to_string();
    let message = pack_refused(&newer, 0, &[]);
    assert!(
        message.contains(
            "declares supervisor schema \"2026-10-30\"; this packer packs \"2026-06-16\""
        ),
        "{message}"
    );
    let empty = metadata_json(&[], "2026-06-16").to_string();
    let message = pack_refused(&empty, 0, &[]);
    assert!(message.contains("lists no DAG"), "{message}");
}

#[test]
fn pack_gives_up_on_a_binary_that_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("hangs");
    write_exec(&binary, b"#!/bin/sh\nexec sleep 30\n", 0o755);
    let source = source_file(dir.path());
    let started = std::time::Instant::now();
    let out = run(&[
        "pack",
        s(&binary),
        "--source",
        s(&source),
        "-o",
        s(&dir.path().join("o")),
        "--timeout",
        "1",
    ]);
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("did not finish within 1s"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pack_refuses_missing_or_unreadable_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let binary = good_binary(dir.path());
    let source = source_file(dir.path());
    let missing = dir.path().join("missing");
    let out = run(&["pack", s(&missing), "--source", s(&source), "-o", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("{}: cannot open", missing.display())),
        "{}",
        stderr(&out)
    );

    let latin1 = dir.path().join("latin1.rs");
    fs::write(&latin1, b"// caf\xe9\n").unwrap();
    let out = run(&["pack", s(&binary), "--source", s(&latin1), "-o", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the DAG source is not UTF-8 (at byte 6)"),
        "{}",
        stderr(&out)
    );

    let out = run(&[
        "pack",
        s(&binary),
        "--source",
        s(&source),
        "-o",
        s(&dir.path().join("no-such-dir").join("b")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot create the temporary output"),
        "{}",
        stderr(&out)
    );

    let usage = run(&["pack", s(&binary), "-o", "x"]);
    assert_eq!(usage.status.code(), Some(2), "clap usage error");
    assert!(stderr(&usage).contains("--source <FILE>"));
}

/// A valid bundle to break in the verify tests, and its parts.
struct Parts {
    dir: tempfile::TempDir,
    exe: Vec<u8>,
    bundle: Vec<u8>,
}

fn packed() -> Parts {
    let dir = tempfile::tempdir().unwrap();
    let binary = good_binary(dir.path());
    let source = source_file(dir.path());
    let output = dir.path().join("good");
    pack_ok(&binary, &source, &output, &[]);
    Parts {
        exe: fs::read(&binary).unwrap(),
        bundle: fs::read(&output).unwrap(),
        dir,
    }
}

/// Writes `bytes` as an executable file, runs `verify` on it, and returns the message after
/// checking the exit code and that the message names the file.
fn verify_refused(parts: &Parts, name: &str, bytes: &[u8], mode: u32) -> String {
    let path = parts.dir.path().join(name);
    write_exec(&path, bytes, mode);
    let out = run(&["verify", s(&path)]);
    assert_eq!(out.status.code(), Some(1), "{name}: {}", stdout(&out));
    let message = stderr(&out);
    assert!(
        message.starts_with(&format!("airflow-rust-pack: error: {}: ", path.display())),
        "{message}"
    );
    message
}

fn with_metadata(parts: &Parts, yaml: &[u8]) -> Vec<u8> {
    let mut file = parts.exe.clone();
    file.extend(trailer_region(b"", yaml, sha256(&parts.exe)).unwrap());
    file
}

#[test]
fn verify_refuses_truncated_files() {
    let p = packed();
    let message = verify_refused(&p, "tiny", &p.bundle[..10], 0o755);
    assert!(
        message.contains(
            "truncated or not a bundle: 10 bytes is shorter than the 64-byte AFBNDL01 trailer \
             (at bytes 0..10)"
        ),
        "{message}"
    );
    // The front cut off: the trailer's lengths no longer fit in the file.
    let cut = &p.bundle[p.exe.len() + 5..];
    let message = verify_refused(&p, "front-cut", cut, 0o755);
    assert!(
        message.contains("truncated: the trailer declares")
            && message.contains(&format!("but only {} bytes precede it", cut.len() - 64)),
        "{message}"
    );
    // The end cut off: no trailer at all.
    let message = verify_refused(&p, "end-cut", &p.bundle[..p.bundle.len() - 3], 0o755);
    assert!(message.contains("bad magic"), "{message}");
    // Exactly the executable missing: no executable region.
    let message = verify_refused(&p, "no-exe", &p.bundle[p.exe.len()..], 0o755);
    assert!(message.contains("leave no executable"), "{message}");
}

#[test]
fn verify_refuses_a_bad_trailer() {
    let p = packed();
    let n = p.bundle.len();
    let mut bad_magic = p.bundle.clone();
    bad_magic[n - 1] = b'2';
    let message = verify_refused(&p, "magic", &bad_magic, 0o755);
    assert!(
        message.contains(
            "bad magic: not an AFBNDL01 bundle (the last 8 bytes are \"AFBNDL02\", not \"AFBNDL01\")"
        ) && message.contains(&format!("(at bytes {}..{n})", n - 8)),
        "{message}"
    );
    let message = verify_refused(&p, "plain", &p.exe, 0o755);
    assert!(message.contains("bad magic"), "{message}");

    let mut version = p.bundle.clone();
    version[n - 56] = 2;
    let message = verify_refused(&p, "version", &version, 0o755);
    assert!(
        message.contains("unsupported footer version 2")
            && message.contains(&format!("(at bytes {}..{})", n - 56, n - 52)),
        "{message}"
    );

    let mut reserved = p.bundle.clone();
    reserved[n - 12] = 1;
    let message = verify_refused(&p, "reserved", &reserved, 0o755);
    assert!(
        message.contains("reserved bytes are not all zero")
            && message.contains(&format!("(at bytes {}..{})", n - 20, n - 8)),
        "{message}"
    );
}

#[test]
fn verify_refuses_a_hash_mismatch() {
    let p = packed();
    let mut tampered = p.bundle.clone();
    tampered[3] ^= 1;
    let message = verify_refused(&p, "tampered", &tampered, 0o755);
    let exe_len = p.exe.len();
    assert!(
        message.contains(&format!(
            "executable SHA-256 mismatch: the executable region hashes to {}, the trailer records {}",
            hex(&sha256(&tampered[..exe_len])),
            hex(&sha256(&p.exe))
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("(at bytes 0..{exe_len} hashed; trailer bytes")),
        "{message}"
    );
    // inspect still shows it, and flags it.
    let path = p.dir.path().join("tampered");
    let out = run(&["inspect", s(&path)]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("MISMATCH: the executable region hashes to"));
}

#[test]
fn verify_refuses_bad_metadata() {
    let p = packed();
    let start = p.exe.len();
    let good_sdk = "sdk:\n  supervisor_schema_version: \"2026-06-16\"\n";
    for (name, yaml, expected) in [
        (
            "list",
            "- a\n- b\n".to_owned(),
            "bad metadata: metadata is a list, not a mapping",
        ),
        (
            "scalar",
            "hello\n".to_owned(),
            "bad metadata: metadata is a string, not a mapping",
        ),
        ("empty", String::new(), "bad metadata: metadata is empty"),
        (
            "invalid",
            format!("{good_sdk}dags: {{etl: [1, 2}}\n"),
            "bad metadata: metadata is not valid YAML",
        ),
        (
            "no-dags",
            good_sdk.to_owned(),
            "bad metadata: metadata has no `dags` key",
        ),
        (
            "int-dag",
            format!("{good_sdk}dags:\n  123:\n    tasks: [a]\n"),
            "bad metadata: DAG id `123` is read by yaml.safe_load as an integer, not a string",
        ),
        (
            "date-dag",
            format!("{good_sdk}dags:\n  2024-01-01: {{}}\n"),
            "as a date/timestamp, not a string",
        ),
        (
            "bool-dag",
            format!("{good_sdk}dags:\n  true: {{}}\n"),
            "as a boolean, not a string",
        ),
        (
            "no-schema",
            "dags: {etl: {}}\nsdk: {language: rust}\n".to_owned(),
            "`sdk` has no `supervisor_schema_version`",
        ),
        (
            "new-schema",
            "dags: {etl: {}}\nsdk: {supervisor_schema_version: \"2026-10-30\"}\n".to_owned(),
            "\"2026-10-30\" is not one Airflow 1.3.2 accepts (2026-06-16)",
        ),
        (
            "date-schema",
            "dags: {etl: {}}\nsdk: {supervisor_schema_version: 2026-06-16}\n".to_owned(),
            "is read by yaml.safe_load as a date/timestamp, not a string: quote it",
        ),
    ] {
        let bundle = with_metadata(&p, yaml.as_bytes());
        let message = verify_refused(&p, name, &bundle, 0o755);
        let end = start + yaml.len();
        assert!(message.contains(expected), "{name}: {message}");
        assert!(
            message.contains(&format!("metadata is bytes {start}..{end})"))
                || message.contains(&format!("(at bytes {start}..{end})")),
            "{name}: located: {message}"
        );
    }
    let message = verify_refused(
        &p,
        "int-dag",
        &with_metadata(
            &p,
            format!("{good_sdk}dags:\n  123:\n    tasks: [a]\n").as_bytes(),
        ),
        0o755,
    );
    assert!(
        message.contains("(at metadata line 4, column 3; metadata is bytes"),
        "{message}"
    );
    let message = verify_refused(
        &p,
        "latin1",
        &with_metadata(&p, b"dags: {caf\xe9: x}\n"),
        0o755,
    );
    assert!(
        message.contains("bad metadata: metadata is not UTF-8 (at metadata byte 10;"),
        "{message}"
    );
}

#[test]
fn verify_refuses_a_file_the_user_cannot_execute() {
    let p = packed();
    let message = verify_refused(&p, "not-executable", &p.bundle, 0o644);
    assert!(
        message.contains("not executable for the current user (mode 0644)"),
        "{message}"
    );
}

#[test]
fn inspect_fails_only_when_there_is_no_layout() {
    let p = packed();
    let path = p.dir.path().join("plain");
    write_exec(&path, &p.exe, 0o755);
    let out = run(&["inspect", s(&path)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("bad magic"), "{}", stderr(&out));
    let out = run(&["verify", s(&p.dir.path().join("absent"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("absent: cannot open"),
        "{}",
        stderr(&out)
    );
}
