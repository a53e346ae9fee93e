//! Codec benchmarks of the sans-IO core, on the golden frames recorded from the real
//! `apache-airflow-task-sdk==1.3.2` code (`tests/fixtures/airflow-1.3.2`).
//!
//! Run with `cargo bench -p airflow-protocol --bench codec`. What is measured:
//!
//! * `decode/startup_details`: a `StartupDetails` frame as the runtime reads it
//!   (`decode_response`: what `parse_response` + `ToTask::decode` give, in one pass);
//! * `decode/get_variable`: a `GetVariable` request as the supervisor side reads it
//!   (`decode_request`: what `parse_request` + `ToSupervisor::decode` give, in one pass);
//! * `encode/get_variable`, `encode/succeed_task`: `encode_request` into a reused buffer;
//! * `part/*`: the envelopes of the two decoded frames alone; each decode with its result
//!   checked and moved once more, as the harness timed it before (`*_checked`); and the
//!   allocation, copy, UTF-8 check and drop of an 8-byte `String`;
//! * `stream/*`: 10,000 response frames (a mix of every recorded answer) fed in 1 B, 7 B,
//!   4 KiB and 64 KiB chunks, to `FrameDecoder` alone (framing only) and to a `TaskSession`
//!   with 10,000 pending requests (framing, envelope, body decode, reply matching, events).
//!
//! After the Rust benchmarks, in benchmark mode only, the same `StartupDetails` and
//! `GetVariable` payloads are decoded by the real Python code with msgspec (and pydantic),
//! through `benches/msgspec_decode.py` and the interpreter printed by `scripts/python-env`,
//! and the numbers are printed next to the Rust ones. Set `CODEC_BENCH_PYTHON` to use
//! another interpreter, or `CODEC_BENCH_PYTHON=skip` to skip the comparison.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use airflow_protocol::frame::{self, FrameDecoder, DEFAULT_MAX_FRAME_LEN};
use airflow_protocol::messages::GetVariable;
use airflow_protocol::{Event, ReplyError, SessionConfig, TaskSession, ToSupervisor, ToTask};
use criterion::{criterion_group, BatchSize, Criterion, Throughput};

/// Frames in each stream benchmark.
const STREAM_FRAMES: usize = 10_000;

/// Chunk sizes the stream benchmarks feed, with their labels.
const CHUNKS: [(usize, &str); 4] = [
    (1, "1B"),
    (7, "7B"),
    (4 * 1024, "4KiB"),
    (64 * 1024, "64KiB"),
];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/airflow-1.3.2")
}

/// A whole golden frame file: 4-byte prefix and payload.
fn fixture(file: &str) -> Vec<u8> {
    let path = fixtures_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The payload of a golden frame file.
fn payload(file: &str) -> Vec<u8> {
    let bytes = fixture(file);
    let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    assert_eq!(
        len + 4,
        bytes.len(),
        "{file}: prefix matches the file length"
    );
    bytes[4..].to_vec()
}

/// Every recorded answer frame (all of `to_task` but `StartupDetails`), as payloads.
fn response_payloads() -> Vec<Vec<u8>> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir().join("to_task"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".bin") && name != "StartupDetails.bin")
        .collect();
    names.sort();
    assert!(names.len() >= 15, "the fixture set has its answers");
    names
        .iter()
        .map(|name| payload(&format!("to_task/{name}")))
        .collect()
}

/// Re-frames a recorded answer with another request id, keeping its body and error slots
/// byte for byte, as `[id, body, error]` with the 4-byte prefix.
fn reframe_response(payload: &[u8], id: u64, out: &mut Vec<u8>) {
    let envelope = frame::parse_response(payload).unwrap();
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    rmp::encode::write_array_len(out, 3).unwrap();
    rmp::encode::write_uint(out, id).unwrap();
    for slot in [envelope.body, envelope.error] {
        match slot {
            Some(bytes) => out.extend_from_slice(bytes),
            None => rmp::encode::write_nil(out).unwrap(),
        }
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// `STREAM_FRAMES` answers to requests 1 to `STREAM_FRAMES`, cycling through every recorded
/// answer, in the order of `ids`.
fn response_stream(ids: impl Iterator<Item = u64>) -> Vec<u8> {
    let payloads = response_payloads();
    let mut stream = Vec::new();
    for (i, id) in ids.enumerate() {
        reframe_response(&payloads[i % payloads.len()], id, &mut stream);
    }
    stream
}

/// The ids 1, N, N−1, …, 2. `TaskSession` keeps its outstanding requests in a list, searched
/// from the front and compacted with `swap_remove`: answered in this order, each answer is
/// found first, as it would be with the handful of requests a task has outstanding. (In
/// send order, each lookup would scan thousands of entries; `task_session_in_order` shows
/// that cost.)
fn lookup_friendly_ids() -> impl Iterator<Item = u64> {
    std::iter::once(1).chain((2..=STREAM_FRAMES as u64).rev())
}

fn decode_benches(c: &mut Criterion) {
    let startup = payload("to_task/StartupDetails.bin");
    let get_variable = payload("to_supervisor/GetVariable.bin");

    // The same bytes decode the same way every time: checked once, here, so that the timed
    // loop is the decode alone, its result handed to criterion (which drops it).
    let _ = decode_startup(&startup);
    let _ = decode_get_variable(&get_variable);
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("startup_details", |b| {
        b.iter(|| frame::decode_response(black_box(&startup)))
    });
    group.bench_function("get_variable", |b| {
        b.iter(|| frame::decode_request(black_box(&get_variable)))
    });
    group.finish();
}

/// Parts of the headline operations, and the cost of the one `String` a `GetVariable` owns,
/// to show where their time goes (no targets).
fn part_benches(c: &mut Criterion) {
    let startup = payload("to_task/StartupDetails.bin");
    let get_variable = payload("to_supervisor/GetVariable.bin");
    let mut group = c.benchmark_group("part");
    group.throughput(Throughput::Elements(1));
    group.bench_function("startup_details_envelope", |b| {
        b.iter(|| frame::parse_response(black_box(&startup)).unwrap())
    });
    group.bench_function("get_variable_envelope", |b| {
        b.iter(|| frame::parse_request(black_box(&get_variable)).unwrap())
    });
    // Each decode with its result checked in the timed loop and moved once more, out of the
    // function that checked it: how the decodes were timed before. The difference is one
    // copy of a freshly built result (496 and 280 bytes once; 128 and 280 now).
    group.bench_function("startup_details_checked", |b| {
        b.iter(|| decode_startup(black_box(&startup)))
    });
    group.bench_function("get_variable_checked", |b| {
        b.iter(|| decode_get_variable(black_box(&get_variable)))
    });
    // Allocation, copy, UTF-8 check and drop of an 8-byte `String`.
    group.bench_function("owned_key", |b| {
        b.iter(|| String::from_utf8(black_box(&b"greeting"[..]).to_vec()).unwrap())
    });
    group.finish();
}

/// `decode_response` of the `StartupDetails` payload, checked to be one (the runtime's first
/// frame: what `parse_response` and `ToTask::decode` of the body give, in one pass where it
/// can), and returned whole.
fn decode_startup(payload: &[u8]) -> Result<frame::DecodedResponse<'_>, frame::EnvelopeError> {
    let response = frame::decode_response(payload);
    assert!(matches!(
        &response,
        Ok(frame::DecodedResponse {
            body: Some(Ok(ToTask::StartupDetails(_))),
            ..
        })
    ));
    response
}

/// `decode_request` of the `GetVariable` payload, checked to be one (the supervisor side's
/// read of a request: what `parse_request` and `ToSupervisor::decode` of the body give), and
/// returned whole.
fn decode_get_variable(payload: &[u8]) -> Result<frame::DecodedRequest<'_>, frame::EnvelopeError> {
    let request = frame::decode_request(payload);
    assert!(matches!(
        &request,
        Ok(frame::DecodedRequest {
            body: Some(Ok(ToSupervisor::GetVariable(_))),
            ..
        })
    ));
    request
}

/// The two request bodies the encode benchmarks send: `GetVariable("greeting")`, and the
/// `SucceedTask` Python's task runner sent, read back into our type.
fn request_bodies() -> (ToSupervisor, ToSupervisor) {
    let get_variable = ToSupervisor::GetVariable(GetVariable {
        key: "greeting".into(),
    });
    let succeed_payload = payload("to_supervisor/SucceedTask.bin");
    let succeed_task = ToSupervisor::decode(
        frame::parse_request(&succeed_payload)
            .unwrap()
            .body
            .unwrap(),
    )
    .unwrap();
    assert!(matches!(succeed_task, ToSupervisor::SucceedTask(_)));
    (get_variable, succeed_task)
}

/// Encodes a request as frame id 1 into a cleared, reused buffer.
fn encode_into(out: &mut Vec<u8>, body: &ToSupervisor) -> usize {
    out.clear();
    frame::encode_request(out, 1, body, None, DEFAULT_MAX_FRAME_LEN).unwrap();
    out.len()
}

fn encode_benches(c: &mut Criterion) {
    let (get_variable, succeed_task) = request_bodies();
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    for (name, body) in [
        ("get_variable", &get_variable),
        ("succeed_task", &succeed_task),
    ] {
        let mut out = Vec::with_capacity(256);
        group.bench_function(name, |b| b.iter(|| encode_into(&mut out, black_box(body))));
    }
    group.finish();
}

fn stream_benches(c: &mut Criterion) {
    let stream = response_stream(lookup_friendly_ids());
    let in_order = response_stream(1..=STREAM_FRAMES as u64);
    let startup = fixture("to_task/StartupDetails.bin");

    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Elements(STREAM_FRAMES as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));

    for (chunk, label) in CHUNKS {
        // Framing only: one warmed-up decoder, its buffer reused across iterations.
        let mut decoder = FrameDecoder::default();
        group.bench_function(format!("frame_decoder/{label}"), |b| {
            b.iter(|| {
                let mut frames = 0usize;
                for piece in stream.chunks(chunk) {
                    decoder.push(piece);
                    while let Some(frame) = decoder.next_frame().unwrap() {
                        black_box(frame);
                        frames += 1;
                    }
                }
                assert_eq!(frames, STREAM_FRAMES);
            })
        });

        // Full decode: a started session waiting for 10,000 answers; setup not timed.
        group.bench_function(format!("task_session/{label}"), |b| {
            b.iter_batched_ref(
                || started_session(&startup),
                |(session, now)| feed_session(session, *now, &stream, chunk),
                BatchSize::PerIteration,
            )
        });
    }
    group.bench_function("task_session_in_order/4KiB", |b| {
        b.iter_batched_ref(
            || started_session(&startup),
            |(session, now)| feed_session(session, *now, &in_order, 4096),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Feeds a stream of answers to a session in `chunk`-byte pieces, draining its events.
fn feed_session(session: &mut TaskSession, now: Instant, stream: &[u8], chunk: usize) {
    let mut replies = 0usize;
    for piece in stream.chunks(chunk) {
        session.handle_input(piece, now);
        while let Some(event) = session.poll_event() {
            if let Event::Reply { result, .. } = &event {
                assert!(!matches!(result, Err(ReplyError::Malformed(_))));
                replies += 1;
            }
            black_box(event);
        }
    }
    assert_eq!(replies, STREAM_FRAMES);
}

/// A session that received `StartupDetails` and sent `STREAM_FRAMES` requests (ids 1, 2, …).
fn started_session(startup: &[u8]) -> (TaskSession, Instant) {
    let now = Instant::now();
    let mut session = TaskSession::new(SessionConfig::default(), now);
    session.handle_input(startup, now);
    assert!(matches!(session.poll_event(), Some(Event::Startup(_))));
    let body = ToSupervisor::GetVariable(GetVariable {
        key: "greeting".into(),
    });
    for _ in 0..STREAM_FRAMES {
        session.send(&body, now).unwrap();
    }
    let sent = session.transmit().len();
    session.advance_transmit(sent);
    (session, now)
}

criterion_group!(
    benches,
    decode_benches,
    encode_benches,
    part_benches,
    stream_benches
);

fn main() {
    if let Ok(op) = std::env::var("CODEC_BENCH_REPEAT") {
        return repeat_op(&op);
    }
    let started = SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Only when measuring: not for `--test` (each benchmark run once) or `--list`.
    let args: Vec<String> = std::env::args().collect();
    let measuring = args.iter().any(|a| a == "--bench")
        && !args
            .iter()
            .any(|a| a == "--test" || a == "--list" || a == "--profile-time");
    if measuring {
        summary(started);
        python_comparison(started);
    }
}

/// The headline operations and their targets, in ns.
const TARGETS: [(&str, f64); 4] = [
    ("decode/startup_details", 1000.0),
    ("decode/get_variable", 50.0),
    ("encode/get_variable", 30.0),
    ("encode/succeed_task", 30.0),
];

/// The parts of the headline operations (`part_benches`).
const PARTS: [&str; 5] = [
    "part/startup_details_envelope",
    "part/get_variable_envelope",
    "part/startup_details_checked",
    "part/get_variable_checked",
    "part/owned_key",
];

/// Prints this run's medians next to the targets, those of the parts, and the stream
/// throughputs.
fn summary(started: SystemTime) {
    println!(
        "\n{:<34} {:>12} {:>22} {:>8} {:>10}",
        "operation", "median", "95% CI of median", "MAD", "target"
    );
    for (id, target) in TARGETS {
        let Some(e) = rust_estimate(id, started) else {
            continue;
        };
        println!(
            "{id:<34} {:>9.1} ns {:>22} {:>5.1} ns {:>7} ns {}",
            e.median,
            format!("[{:.1}, {:.1}]", e.low, e.high),
            e.mad,
            target,
            if e.median <= target { "met" } else { "MISSED" }
        );
    }
    for id in PARTS {
        let Some(e) = rust_estimate(id, started) else {
            continue;
        };
        println!(
            "{id:<34} {:>9.1} ns {:>22} {:>5.1} ns",
            e.median,
            format!("[{:.1}, {:.1}]", e.low, e.high),
            e.mad,
        );
    }
    let mut streams: Vec<String> = CHUNKS
        .iter()
        .flat_map(|(_, label)| {
            [
                format!("stream/frame_decoder/{label}"),
                format!("stream/task_session/{label}"),
            ]
        })
        .collect();
    streams.push("stream/task_session_in_order/4KiB".to_owned());
    for id in streams {
        let Some(e) = rust_estimate(&id, started) else {
            continue;
        };
        let per_second = |ns: f64| STREAM_FRAMES as f64 / ns * 1e3;
        println!(
            "{id:<34} {:>8.3} M frames/s [{:.3}, {:.3}] ({:.0} ns/frame)",
            per_second(e.median),
            per_second(e.high),
            per_second(e.low),
            e.median / STREAM_FRAMES as f64
        );
    }
}

/// Runs one headline operation (or part) `CODEC_BENCH_ITERS` times (default 10,000) and nothing else,
/// for instruction counting: `benches/instructions.sh` runs this under callgrind with two
/// counts and reports the difference per operation, which excludes setup and start-up.
fn repeat_op(op: &str) {
    let iters: usize = std::env::var("CODEC_BENCH_ITERS")
        .ok()
        .map(|n| n.parse().expect("CODEC_BENCH_ITERS is a number"))
        .unwrap_or(10_000);
    let startup = payload("to_task/StartupDetails.bin");
    let get_variable_frame = payload("to_supervisor/GetVariable.bin");
    let (get_variable, succeed_task) = request_bodies();
    let mut out = Vec::with_capacity(256);
    // Match the operation once, so that the loop holds nothing but the operation.
    match op {
        "decode/startup_details" => repeat(iters, || {
            let _ = black_box(frame::decode_response(black_box(&startup)));
        }),
        "decode/get_variable" => repeat(iters, || {
            let _ = black_box(frame::decode_request(black_box(&get_variable_frame)));
        }),
        "part/startup_details_checked" => repeat(iters, || {
            let _ = black_box(decode_startup(black_box(&startup)));
        }),
        "part/get_variable_checked" => repeat(iters, || {
            let _ = black_box(decode_get_variable(black_box(&get_variable_frame)));
        }),
        "encode/get_variable" => repeat(iters, || {
            black_box(encode_into(&mut out, black_box(&get_variable)));
        }),
        "encode/succeed_task" => repeat(iters, || {
            black_box(encode_into(&mut out, black_box(&succeed_task)));
        }),
        "part/startup_details_envelope" => repeat(iters, || {
            black_box(frame::parse_response(black_box(&startup)).unwrap());
        }),
        "part/get_variable_envelope" => repeat(iters, || {
            black_box(frame::parse_request(black_box(&get_variable_frame)).unwrap());
        }),
        "part/owned_key" => repeat(iters, || {
            black_box(String::from_utf8(black_box(&b"greeting"[..]).to_vec()).unwrap());
        }),
        other => panic!("unknown CODEC_BENCH_REPEAT operation {other:?}"),
    }
}

fn repeat(iters: usize, mut op: impl FnMut()) {
    for _ in 0..iters {
        op();
    }
}

/// Headline operations: (Rust benchmark id, Python op name, label).
const COMPARED: [(&str, &str, &str); 2] = [
    (
        "decode/startup_details",
        "startup_details",
        "StartupDetails decode",
    ),
    ("decode/get_variable", "get_variable", "GetVariable decode"),
];

fn python_comparison(started: SystemTime) {
    let python = match std::env::var("CODEC_BENCH_PYTHON") {
        Ok(value) if value == "skip" => {
            println!("\nmsgspec comparison skipped (CODEC_BENCH_PYTHON=skip)");
            return;
        }
        Ok(value) => Some(value),
        Err(_) => python_from_env_script(),
    };
    let Some(python) = python else {
        loud_skip("scripts/python-env did not provide a python");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/msgspec_decode.py");
    println!("\nmsgspec comparison: {python} {}", script.display());
    let output = Command::new(&python)
        .arg(&script)
        .arg(fixtures_dir())
        .output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            loud_skip(&format!(
                "{python} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
            return;
        }
        Err(e) => {
            loud_skip(&format!("{python} could not be started: {e}"));
            return;
        }
    };
    let mut python_results = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(versions) = value.get("versions") {
            println!("  versions: {versions}");
        } else {
            python_results.push(value);
        }
    }

    println!(
        "\n{:<24} {:>22} {:>22} {:>22}",
        "operation (ns/op)", "Rust", "msgspec", "msgspec+pydantic"
    );
    for (rust_id, python_op, label) in COMPARED {
        let rust = rust_estimate(rust_id, started)
            .map(|e| format!("{:.0} [{:.0}, {:.0}]", e.median, e.low, e.high))
            .unwrap_or_else(|| "not run".to_owned());
        let python_cell = |stage: &str| {
            python_results
                .iter()
                .find(|r| r["op"] == python_op && r["stage"] == stage)
                .map(|r| {
                    format!(
                        "{:.0} [{:.0}, {:.0}]",
                        r["median_ns"].as_f64().unwrap_or(f64::NAN),
                        r["min_ns"].as_f64().unwrap_or(f64::NAN),
                        r["max_ns"].as_f64().unwrap_or(f64::NAN)
                    )
                })
                .unwrap_or_else(|| "missing".to_owned())
        };
        println!(
            "{label:<24} {rust:>22} {:>22} {:>22}",
            python_cell("msgspec"),
            python_cell("msgspec+pydantic")
        );
    }
    println!(
        "Rust: criterion median and its 95% interval; Python: median and min/max of the rounds."
    );
}

fn python_from_env_script() -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/python-env");
    let output = Command::new(&script).output().ok()?;
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr).trim());
        return None;
    }
    let path = String::from_utf8(output.stdout).ok()?;
    let path = path.lines().last()?.trim().to_owned();
    (!path.is_empty()).then_some(path)
}

fn loud_skip(reason: &str) {
    let bar = "!".repeat(78);
    println!("\n{bar}\n!!! msgspec comparison SKIPPED: {reason}\n!!! Run scripts/python-env to create the pinned venv, or set CODEC_BENCH_PYTHON.\n{bar}");
}

/// Criterion's estimate of a benchmark's time per iteration, from this run (not an earlier
/// one), in ns: the median of the samples, its 95% confidence interval, and the median
/// absolute deviation of the samples.
struct Estimate {
    median: f64,
    low: f64,
    high: f64,
    mad: f64,
}

fn rust_estimate(id: &str, started: SystemTime) -> Option<Estimate> {
    // Criterion names the directory of `group/function/…` as `group/function_…`.
    let (group, function) = id.split_once('/')?;
    let path = criterion_dir()
        .join(group)
        .join(function.replace('/', "_"))
        .join("new/estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < started {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let median = &value["median"];
    Some(Estimate {
        median: median["point_estimate"].as_f64()?,
        low: median["confidence_interval"]["lower_bound"].as_f64()?,
        high: median["confidence_interval"]["upper_bound"].as_f64()?,
        mad: value["median_abs_dev"]["point_estimate"].as_f64()?,
    })
}

/// Where criterion writes its results, found the way criterion finds it: `CRITERION_HOME`,
/// else `criterion` under `CARGO_TARGET_DIR` or the target directory `cargo metadata`
/// names, else `target/criterion`.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let cargo = std::env::var_os("CARGO")?;
            let output = Command::new(cargo)
                .args(["metadata", "--format-version", "1", "--no-deps"])
                .output()
                .ok()?;
            let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
            metadata["target_directory"].as_str().map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("criterion")
}
