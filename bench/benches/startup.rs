//! The example bundles as processes (release builds), against the lean supervisor of
//! `airflow_sdk_bench::server` instead of Airflow's: how long from spawning the executable
//! to its first request, its CPU time, and its peak memory. Run by `scripts/bench`, or:
//!
//! ```sh
//! cargo build --release -p example-std-bundle -p example-tokio-bundle -p example-smol-bundle
//! cargo bench -p airflow-sdk-bench --bench startup
//! ```
//!
//! Each run spawns `<bundle> --comm=… --logs=…` for task `interop.bench_small` (one variable
//! read, its value pushed as XCom, success), accepts both connections, sends `StartupDetails`
//! at once, answers every request, and reaps the process with `wait4`. Recorded, from the
//! instant before `spawn`: the comm connection accepted, the first request frame decoded,
//! the process reaped; the CPU time `wait4` reports; and the process's own `VmHWM` (peak
//! RSS) read from `/proc/<pid>/status` while it waits for the answer to its terminal message.
//! A second series runs each bundle under GNU `time` (`/usr/bin/time -f %M`), whose
//! `ru_maxrss` is the peak over the whole life of the process (see `scripts/bench` and
//! docs/benchmarks.md for why plain `wait4` cannot give that here).
//!
//! Environment: `BENCH_STARTUP_RUNS` (default 30 per adapter, interleaved), `BENCH_BUNDLE_DIR`
//! (default `<workspace>/target/release`), `BENCH_OUT` a file for the JSON results;
//! `BENCH_STARTUP_WRAP="strace -f -tt -o FILE"` runs each bundle once behind that command
//! instead (for profiling).

use std::io::{self, BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use airflow_sdk_bench::{server, stats};
use airflow_task_sdk::local::{local_startup_details, test_args};
use serde_json::{json, Value};

const ADAPTERS: [&str; 3] = ["std", "tokio", "smol"];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn bundle_path(dir: &Path, adapter: &str) -> PathBuf {
    dir.join(format!("example-{adapter}-bundle"))
}

/// `/proc/<pid>/status` fields in KiB.
fn proc_status(pid: u32) -> Value {
    let mut out = serde_json::Map::new();
    if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        for line in text.lines() {
            let (key, rest) = line.split_once(':').unwrap_or((line, ""));
            if matches!(key, "VmHWM" | "VmRSS" | "RssAnon" | "RssFile" | "Threads") {
                if let Some(v) = rest
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    out.insert(key.to_owned(), json!(v));
                }
            }
        }
    }
    Value::Object(out)
}

struct Reaped {
    status: i32,
    user_s: f64,
    sys_s: f64,
    maxrss_kib: i64,
}

fn wait4(pid: u32) -> io::Result<Reaped> {
    let mut status = 0;
    // SAFETY: `rusage` is plain data that `wait4` fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to locals; `pid` is our unreaped child.
    let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    if reaped < 0 {
        return Err(io::Error::last_os_error());
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Reaped {
        status,
        user_s: secs(usage.ru_utime),
        sys_s: secs(usage.ru_stime),
        maxrss_kib: usage.ru_maxrss,
    })
}

/// One run of `command` (the bundle, possibly behind a wrapper): times in ms from the
/// instant before `spawn`.
fn run_once(command: &[PathBuf], extra: &[String]) -> io::Result<Value> {
    let comm = TcpListener::bind("127.0.0.1:0")?;
    let logs = TcpListener::bind("127.0.0.1:0")?;
    let (comm_address, logs_address) = (comm.local_addr()?, logs.local_addr()?);
    let details =
        local_startup_details(&test_args("interop", "bench_small")).map_err(io::Error::other)?;
    let logs_thread = std::thread::spawn(move || -> usize {
        let Ok((stream, _)) = logs.accept() else {
            return 0;
        };
        BufReader::new(stream).lines().map_while(Result::ok).count()
    });
    let started = Instant::now();
    let child = Command::new(&command[0])
        .args(&command[1..])
        .args(extra)
        .arg(format!("--comm={comm_address}"))
        .arg(format!("--logs={logs_address}"))
        .env("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
        // Cargo sets it for benches; the dynamic loader would search its directories first.
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let spawned = started.elapsed();
    let (stream, _) = comm.accept()?;
    let accepted = started.elapsed();
    stream.set_nodelay(true)?;
    let mut first_request = None;
    let mut memory = Value::Null;
    let mut bundle_pid = pid;
    if command.len() > 1 {
        // Behind a wrapper: the bundle is the wrapper's child.
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            if let Some(child) = children
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
            {
                bundle_pid = child;
            }
        }
    }
    let served = server::serve(stream, &details, |request| {
        first_request.get_or_insert_with(|| started.elapsed());
        if request.is_terminal() {
            memory = proc_status(bundle_pid);
        }
    })?;
    let served_at = started.elapsed();
    let reaped = wait4(pid)?;
    let exited = started.elapsed();
    drop(child);
    let log_lines = logs_thread.join().unwrap_or(0);
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    Ok(json!({
        "spawned_ms": ms(spawned),
        "accepted_ms": ms(accepted),
        "first_request_ms": first_request.map(ms),
        "terminal_answered_ms": ms(served_at),
        "exited_ms": ms(exited),
        "exit_status": reaped.status,
        "requests": served.requests,
        "success": matches!(served.terminal, Some(airflow_protocol::ToSupervisor::SucceedTask(_))),
        "cpu_user_s": reaped.user_s,
        "cpu_sys_s": reaped.sys_s,
        "wait4_maxrss_kib": reaped.maxrss_kib,
        "at_terminal_kib": memory,
        "log_lines": log_lines,
    }))
}

fn field(runs: &[Value], pick: impl Fn(&Value) -> Option<f64>) -> Vec<f64> {
    runs.iter().filter_map(pick).collect()
}

fn show(label: &str, values: &[f64], unit: &str) {
    let (lo, hi) = stats::range(values);
    println!(
        "  {label:<34} {:>9.2} {unit}  [{lo:.2}, {hi:.2}]",
        stats::median(values)
    );
}

fn main() -> io::Result<()> {
    let runs = env_usize("BENCH_STARTUP_RUNS", 30);
    let memory_runs = env_usize("BENCH_STARTUP_MEMORY_RUNS", 5);
    let dir = std::env::var_os("BENCH_BUNDLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release"));
    for adapter in ADAPTERS {
        let path = bundle_path(&dir, adapter);
        if !path.exists() {
            eprintln!(
                "startup: {} is missing; build it first: cargo build --release -p example-{adapter}-bundle",
                path.display()
            );
            std::process::exit(2);
        }
    }
    let time = Path::new("/usr/bin/time");
    println!(
        "startup: {runs} runs per adapter (interleaved), then {memory_runs} under {} for the lifetime peak RSS",
        time.display()
    );
    let mut results = serde_json::Map::new();
    if let Ok(wrap) = std::env::var("BENCH_STARTUP_WRAP") {
        // Profiling aid: one run of each bundle behind a wrapper (`strace -f -tt -o FILE`).
        let wrap: Vec<PathBuf> = wrap.split_whitespace().map(PathBuf::from).collect();
        for adapter in ADAPTERS {
            let mut command = wrap.clone();
            command.push(bundle_path(&dir, adapter));
            println!("{adapter} behind {wrap:?}: {}", run_once(&command, &[])?);
        }
        return Ok(());
    }
    let mut all: Vec<Vec<Value>> = vec![Vec::new(); ADAPTERS.len()];
    for _ in 0..runs {
        for (i, adapter) in ADAPTERS.iter().enumerate() {
            all[i].push(run_once(&[bundle_path(&dir, adapter)], &[])?);
        }
    }
    let mut lifetime: Vec<Vec<Value>> = vec![Vec::new(); ADAPTERS.len()];
    if time.exists() {
        for _ in 0..memory_runs {
            for (i, adapter) in ADAPTERS.iter().enumerate() {
                let out =
                    std::env::temp_dir().join(format!("bench-time-{}.txt", std::process::id()));
                let command = [
                    time.to_path_buf(),
                    "-f".into(),
                    "%M %U %S".into(),
                    "-o".into(),
                    out.clone(),
                    bundle_path(&dir, adapter),
                ];
                let mut run = run_once(&command, &[])?;
                let text = std::fs::read_to_string(&out).unwrap_or_default();
                let _ = std::fs::remove_file(&out);
                let fields: Vec<f64> = text
                    .split_whitespace()
                    .filter_map(|f| f.parse().ok())
                    .collect();
                if let [maxrss, user, sys] = fields[..] {
                    run["time_maxrss_kib"] = json!(maxrss);
                    run["time_user_s"] = json!(user);
                    run["time_sys_s"] = json!(sys);
                }
                lifetime[i].push(run);
            }
        }
    }
    for (i, adapter) in ADAPTERS.iter().enumerate() {
        let runs = &all[i];
        let ok = runs
            .iter()
            .all(|r| r["success"] == true && r["exit_status"] == 0);
        println!(
            "\n{adapter} ({} runs{})",
            runs.len(),
            if ok { "" } else { ", NOT ALL SUCCEEDED" }
        );
        let num = |key: &'static str| move |r: &Value| r[key].as_f64();
        show(
            "spawn -> comm connected",
            &field(runs, num("accepted_ms")),
            "ms",
        );
        show(
            "spawn -> first request",
            &field(runs, num("first_request_ms")),
            "ms",
        );
        show(
            "StartupDetails sent -> first request",
            &field(runs, |r| {
                Some(r["first_request_ms"].as_f64()? - r["accepted_ms"].as_f64()?)
            }),
            "ms",
        );
        show(
            "spawn -> exited (reaped)",
            &field(runs, num("exited_ms")),
            "ms",
        );
        show(
            "CPU time (user + sys)",
            &field(runs, |r| {
                Some((r["cpu_user_s"].as_f64()? + r["cpu_sys_s"].as_f64()?) * 1e3)
            }),
            "ms",
        );
        show(
            "VmHWM at the terminal message",
            &field(runs, |r| {
                Some(r["at_terminal_kib"]["VmHWM"].as_f64()? / 1024.0)
            }),
            "MiB",
        );
        let life = &lifetime[i];
        if !life.is_empty() {
            show(
                "lifetime peak RSS (GNU time)",
                &field(life, |r| Some(r["time_maxrss_kib"].as_f64()? / 1024.0)),
                "MiB",
            );
        }
        results.insert(
            (*adapter).to_owned(),
            json!({"runs": runs, "lifetime_runs": life}),
        );
    }
    if let Ok(path) = std::env::var("BENCH_OUT") {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&Value::Object(results))?,
        )?;
        println!("\nwrote {path}");
    }
    Ok(())
}
