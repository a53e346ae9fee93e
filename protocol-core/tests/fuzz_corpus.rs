//! Replays every file of the checked-in fuzz corpus (`fuzz/corpus/<target>/`) through the
//! same harness the fuzz target runs (`airflow_protocol::fuzzing`), so that plain
//! `cargo test` on stable covers every input the fuzzers kept, including the ones that
//! once found a bug.
//!
//! `cargo test -p airflow-protocol --test fuzz_corpus -- --ignored write_seed_corpus`
//! rewrites the hand-made and fixture-derived seeds (`seed-*` files).

use std::path::{Path, PathBuf};
use std::time::Instant;

use airflow_protocol::fuzzing;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn replay(target: &str, harness: impl Fn(&[u8])) {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "{}: the seed corpus is missing",
        dir.display()
    );
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| harness(&data)));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{target}: {} fails: {message}", file.display());
        }
    }
}

#[test]
fn frame_decoder_corpus() {
    replay("frame_decoder", fuzzing::frame_decoder);
}

#[test]
fn body_decoder_corpus() {
    replay("body_decoder", fuzzing::body_decoder);
}

#[test]
fn task_session_corpus() {
    replay("task_session", |data| {
        fuzzing::task_session(data, Instant::now())
    });
}

#[test]
fn log_encoder_corpus() {
    replay("log_encoder", fuzzing::log_encoder);
}

#[test]
fn bundle_trailer_corpus() {
    replay("bundle_trailer", fuzzing::bundle_trailer);
}

// --- seeds ---------------------------------------------------------------------------------

/// Programs for the harnesses, written with the byte layout each harness reads.
mod program {
    /// A `text` of the harness: a length byte, then the bytes.
    pub fn text(out: &mut Vec<u8>, s: &str) {
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    }
}

fn fixture_frames() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut frames = Vec::new();
    for set in ["airflow-1.3.2", "generated"] {
        for direction in ["to_task", "to_supervisor"] {
            let dir = root.join(set).join(direction);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "bin"))
                .collect();
            paths.sort();
            for path in paths {
                let name = format!(
                    "{set}-{direction}-{}",
                    path.file_stem().unwrap().to_string_lossy()
                );
                frames.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    frames
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = corpus_dir(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
}

fn frame_decoder_seeds() {
    // [limit selector, cut count, cuts (u16 LE)…, stream…]; selector 7 is the default limit.
    let frames = fixture_frames();
    let conversation = |direction: &str| -> Vec<u8> {
        frames
            .iter()
            .filter(|(n, _)| n.starts_with(&format!("airflow-1.3.2-{direction}")))
            .flat_map(|(_, f)| f.clone())
            .collect()
    };
    let header = |limit: u8, cuts: &[u16]| -> Vec<u8> {
        let mut out = vec![limit, cuts.len() as u8];
        for cut in cuts {
            out.extend_from_slice(&cut.to_le_bytes());
        }
        out
    };
    for direction in ["to_task", "to_supervisor"] {
        let stream = conversation(direction);
        write(
            "frame_decoder",
            &format!("{direction}-whole"),
            &[header(7, &[]), stream.clone()].concat(),
        );
        write(
            "frame_decoder",
            &format!("{direction}-cut"),
            &[header(7, &[1, 3, 4, 5, 200, 201, 999]), stream.clone()].concat(),
        );
        write(
            "frame_decoder",
            &format!("{direction}-limit-300"),
            &[header(5, &[7, 600]), stream].concat(),
        );
    }
    write(
        "frame_decoder",
        "zero-length",
        &[header(7, &[2]), vec![0, 0, 0, 1, 0xc0, 0, 0, 0, 0]].concat(),
    );
    write(
        "frame_decoder",
        "too-large",
        &[header(3, &[]), vec![0, 0, 0, 17], vec![0x90; 17]].concat(),
    );
    write(
        "frame_decoder",
        "truncated",
        &[header(7, &[1]), vec![0, 0, 0, 9, 0x93, 1]].concat(),
    );
    write(
        "frame_decoder",
        "max-u32",
        &[header(7, &[]), vec![0xff; 4]].concat(),
    );
    write(
        "frame_decoder",
        "envelopes",
        &[
            header(6, &[]),
            // [5, {}, nil, "x"], [7], {"id": 1}, [5, 1], [1, {}, {}], [-1, nil, nil]
            vec![0, 0, 0, 6, 0x94, 0x05, 0x80, 0xc0, 0xa1, b'x'],
            vec![0, 0, 0, 2, 0x91, 0x07],
            vec![0, 0, 0, 5, 0x81, 0xa2, b'i', b'd', 0x01],
            vec![0, 0, 0, 3, 0x92, 0x05, 0x01],
            vec![0, 0, 0, 4, 0x93, 0x01, 0x80, 0x80],
            vec![0, 0, 0, 4, 0x93, 0xff, 0xc0, 0xc0],
            vec![
                0, 0, 0, 10, 0x92, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
        ]
        .concat(),
    );
}

fn body_decoder_seeds() {
    use airflow_protocol::frame;
    for (name, bytes) in fixture_frames() {
        let payload = &bytes[4..];
        let slots = if name.contains("to_task") {
            let envelope = frame::parse_response(payload).unwrap();
            [envelope.body, envelope.error]
        } else {
            let envelope = frame::parse_request(payload).unwrap();
            [envelope.body, None]
        };
        for (index, slot) in slots.into_iter().enumerate() {
            if let Some(body) = slot {
                let slot_name = if index == 0 { "" } else { "-error" };
                write("body_decoder", &format!("{name}{slot_name}"), body);
            }
        }
    }
    // Hand-made edge cases: nesting, extensions, odd keys.
    let mut deep = vec![0x82, 0xa4];
    deep.extend_from_slice(b"type");
    deep.push(0xaa);
    deep.extend_from_slice(b"XComResult");
    deep.extend_from_slice(&[0xa5]);
    deep.extend_from_slice(b"value");
    deep.extend(std::iter::repeat_n(0x91, 90));
    deep.push(0xc0);
    write("body_decoder", "deep-json", &deep);
    let mut odd = vec![0x84, 0xa4];
    odd.extend_from_slice(b"type");
    odd.push(0xa9);
    odd.extend_from_slice(b"TaskState");
    odd.extend_from_slice(&[0xa5]);
    odd.extend_from_slice(b"state");
    odd.extend_from_slice(&[0xa6]);
    odd.extend_from_slice(b"failed");
    odd.extend_from_slice(&[0xa8]);
    odd.extend_from_slice(b"end_date");
    odd.extend_from_slice(&[
        0xc7, 12, 0xff, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
    odd.extend_from_slice(&[0x01, 0xc4, 0x01, 0x00]);
    write("body_decoder", "ext96-and-int-key", &odd);
}

/// Op codes of `fuzzing::task_session` (the op byte is taken modulo 12).
mod op {
    pub const SEND: u8 = 0;
    pub const TERMINAL: u8 = 2;
    pub const ANSWER: u8 = 3;
    pub const RAW_ANSWER: u8 = 5;
    pub const RAW: u8 = 6;
    pub const ADVANCE: u8 = 7;
    pub const ABANDON: u8 = 8;
    pub const ANSWER_DONE: u8 = 9;
    pub const FLUSH: u8 = 10;
    pub const EOF: u8 = 11;
}

fn task_session_seeds() {
    use program::text;
    // send(key, kind, timeout ms)
    let send = |p: &mut Vec<u8>, key: &str, kind: u8, timeout: u16| {
        p.push(op::SEND);
        text(p, key);
        p.push(kind);
        p.extend_from_slice(&timeout.to_le_bytes());
    };
    let answer = |p: &mut Vec<u8>, choice: u8, kind: u8, how: u8, key: &str| {
        p.extend_from_slice(&[op::ANSWER, choice, kind, how]);
        text(p, key);
    };
    let flush = |p: &mut Vec<u8>| p.extend_from_slice(&[op::FLUSH, 0xff, 0xff]);
    let terminal = |p: &mut Vec<u8>, kind: u8| {
        p.push(op::TERMINAL);
        p.extend_from_slice(&1_735_689_605u32.to_le_bytes());
        p.push(kind);
    };
    let advance_ms = |p: &mut Vec<u8>, ms: u16| {
        p.extend_from_slice(&[op::ADVANCE, 1]);
        p.extend_from_slice(&ms.to_le_bytes());
    };

    let mut happy = vec![0];
    send(&mut happy, "source_url", 0, 5000);
    flush(&mut happy);
    answer(&mut happy, 0, 1, 0, "source_url");
    send(&mut happy, "return_value", 3, 5000);
    answer(&mut happy, 0, 0, 9, "");
    terminal(&mut happy, 0);
    flush(&mut happy);
    answer(&mut happy, 0, 0, 0, "");
    write("task_session", "happy-path", &happy);

    let mut timeouts = vec![1];
    for (key, ms) in [("a", 100), ("b", 200), ("c", 300)] {
        send(&mut timeouts, key, 1, ms);
    }
    advance_ms(&mut timeouts, 200);
    timeouts.extend_from_slice(&[op::ANSWER_DONE, 0, 0]);
    advance_ms(&mut timeouts, 200);
    answer(&mut timeouts, 0, 2, 5, "late");
    write("task_session", "timeouts-and-late-answer", &timeouts);

    let mut abandon = vec![0];
    send(&mut abandon, "x", 0, 1000);
    send(&mut abandon, "y", 0, 1000);
    abandon.extend_from_slice(&[op::ABANDON, 0]);
    abandon.extend_from_slice(&[op::ANSWER_DONE, 0, 1]);
    answer(&mut abandon, 0, 3, 0, "boom");
    write("task_session", "abandon-then-late-answer", &abandon);

    let mut repeated = vec![0];
    send(&mut repeated, "x", 0, 1000);
    answer(&mut repeated, 0, 3, 0, "api error");
    repeated.extend_from_slice(&[op::ANSWER_DONE, 0, 0]);
    send(&mut repeated, "after", 0, 1000);
    write("task_session", "repeated-answer-closes", &repeated);

    let mut unknown = vec![0];
    send(&mut unknown, "x", 0, 1000);
    unknown.extend_from_slice(&[op::ANSWER_DONE, 0x80, 0]);
    unknown.extend_from_slice(&42u64.to_le_bytes());
    write("task_session", "unknown-id", &unknown);

    let mut garbage = vec![0];
    send(&mut garbage, "x", 0, 1000);
    garbage.extend_from_slice(&[op::RAW, 0, 4, 0, 0, 0, 0]);
    write("task_session", "zero-length-frame", &garbage);

    let mut raw_body = vec![0];
    send(&mut raw_body, "x", 0, 1000);
    // [1, {"type": nil}, nil]: the raw bytes end where the harness appends the final nil.
    raw_body.extend_from_slice(&[op::RAW_ANSWER, 0, 0, 6, 0x81, 0xa4]);
    raw_body.extend_from_slice(b"type");
    send(&mut raw_body, "y", 0, 1000);
    raw_body.extend_from_slice(&[op::RAW_ANSWER, 0, 0, 2, 0x81, 0x01]);
    write("task_session", "raw-bodies", &raw_body);

    let mut invalid = vec![0];
    send(&mut invalid, "fd", 5, 1000);
    send(&mut invalid, "nan", 6, 1000);
    terminal(&mut invalid, 1);
    send(&mut invalid, "after terminal", 0, 1000);
    invalid.extend_from_slice(&[op::EOF, 0]);
    write("task_session", "invalid-and-after-terminal", &invalid);

    let mut truncated = vec![1];
    send(&mut truncated, "x", 0, 1000);
    truncated.extend_from_slice(&[op::RAW, 0, 3, 0, 0, 0]);
    truncated.extend_from_slice(&[op::EOF, 4]);
    write("task_session", "truncated-then-eof", &truncated);

    let mut partial_writes = vec![0];
    for key in ["a", "bb", "ccc"] {
        send(&mut partial_writes, key, 4, 60_000);
    }
    for n in [1u16, 3, 7, 100] {
        partial_writes.push(op::FLUSH);
        partial_writes.extend_from_slice(&n.to_le_bytes());
    }
    answer(&mut partial_writes, 2, 4, 0x55, "");
    write(
        "task_session",
        "partial-writes-and-startup-as-answer",
        &partial_writes,
    );
}

fn log_encoder_seeds() {
    use program::text;
    let line = |secs: u64, nanos: u32, level: u8, logger: &str, event: &str, fields: &[u8]| {
        let mut p = secs.to_le_bytes().to_vec();
        p.extend_from_slice(&nanos.to_le_bytes());
        p.push(level);
        text(&mut p, logger);
        text(&mut p, event);
        p.extend_from_slice(fields);
        p
    };
    // A field: name, kind (0 str, 1 i64, 2 u64, 3 f64, 4 bool, 5 json, 6+ exception), value.
    let field = |name: &str, kind: u8, value: &[u8]| {
        let mut p = Vec::new();
        text(&mut p, name);
        p.push(kind);
        p.extend_from_slice(value);
        p
    };
    let epoch_2025 = (1_735_689_605i64 + 62_135_596_800) as u64;
    let mut reserved = vec![6u8];
    for name in ["msg", "target", "timestamp", "level", "self", "msg_"] {
        reserved.extend(field(name, 0, &[1, b'x']));
    }
    write(
        "log_encoder",
        "reserved-names",
        &line(epoch_2025, 123_456_000, 2, "my::module", "hello", &reserved),
    );
    let mut repeated = vec![4u8];
    for _ in 0..4 {
        repeated.extend(field("k", 1, &(-5i64).to_le_bytes()));
    }
    write(
        "log_encoder",
        "repeated-names",
        &line(0, 0, 0, "", "", &repeated),
    );
    let mut kinds = vec![7u8];
    kinds.extend(field("s", 0, &[3, 0xe2, 0x9c, 0x93]));
    kinds.extend(field("u", 2, &u64::MAX.to_le_bytes()));
    kinds.extend(field("nan", 3, &f64::NAN.to_bits().to_le_bytes()));
    kinds.extend(field("tiny", 3, &1e-300f64.to_bits().to_le_bytes()));
    kinds.extend(field("b", 4, &[1]));
    let json = br#"{"a":[1,2.5,null,"\n"],"b":{}}"#;
    kinds.extend(field("j", 5, &[&[json.len() as u8][..], json].concat()));
    kinds.extend(field("bad json", 5, &[2, b'{', b'x']));
    write(
        "log_encoder",
        "every-kind",
        &line(u64::MAX, u32::MAX, 5, "a.b", "ünï\u{0}", &kinds),
    );
    let mut chains = vec![3u8];
    let mut chain = field("", 6, &[2]);
    text(&mut chain, "ValueError");
    text(&mut chain, "bad value");
    text(&mut chain, "IoError");
    text(&mut chain, "disk \"full\"");
    chains.extend(chain);
    chains.extend(field("exception", 0, &[1, b'e']));
    let mut second = field("", 6, &[1]);
    text(&mut second, "Other");
    text(&mut second, "second chain");
    chains.extend(second);
    write(
        "log_encoder",
        "two-error-chains",
        &line(epoch_2025, 0, 4, "task", "failed", &chains),
    );
    let pre_1970 = line(
        62_135_596_800 - 86_401,
        999_999_999,
        1,
        "a::b::c",
        "before",
        &[0],
    );
    let second = line(0, 1000, 3, "x", "second line", &[1, 1, b'k', 4, 0]);
    write("log_encoder", "two-lines", &[pre_1970, second].concat());
    let mut empty_names = vec![3u8];
    for _ in 0..3 {
        empty_names.extend(field("", 0, &[0]));
    }
    write(
        "log_encoder",
        "empty-names",
        &line(1, 1, 2, "", "", &empty_names),
    );
}

fn bundle_trailer_seeds() {
    use airflow_protocol::bundle::{trailer_region, TRAILER_LEN};
    let mut valid = b"\x7fELF an executable".to_vec();
    valid.extend(trailer_region(b"print('dag')\n", b"dags: {}\n", [7; 32]).unwrap());
    write("bundle_trailer", "valid", &valid);
    let mut bad_magic = valid.clone();
    *bad_magic.last_mut().unwrap() = b'2';
    write("bundle_trailer", "bad-magic", &bad_magic);
    let mut version = valid.clone();
    let at = version.len() - TRAILER_LEN + 8;
    version[at] = 2;
    write("bundle_trailer", "version-2", &version);
    let mut reserved = valid.clone();
    let at = reserved.len() - 20;
    reserved[at] = 1;
    write("bundle_trailer", "reserved-not-zero", &reserved);
    let mut huge = valid.clone();
    let at = huge.len() - TRAILER_LEN;
    huge[at..at + 8].copy_from_slice(&[0xff; 8]);
    write("bundle_trailer", "lengths-overflow", &huge);
    let no_executable = valid[b"\x7fELF an executable".len()..].to_vec();
    write("bundle_trailer", "no-executable", &no_executable);
    write(
        "bundle_trailer",
        "trailer-only",
        &valid[valid.len() - TRAILER_LEN..],
    );
    write("bundle_trailer", "too-short", &valid[valid.len() - 10..]);
}

#[test]
#[ignore = "writes the seed corpus into fuzz/corpus; run by hand"]
fn write_seed_corpus() {
    frame_decoder_seeds();
    body_decoder_seeds();
    task_session_seeds();
    log_encoder_seeds();
    bundle_trailer_seeds();
}
