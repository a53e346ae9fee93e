//! Request round trips on loopback TCP: each adapter's client against a lean supervisor on
//! the core's `SupervisorSession`, beside the floor (a minimal blocking echo with the same
//! frame sizes); pipelined throughput of the async adapters. Run by `scripts/bench`, or:
//!
//! ```sh
//! cargo bench -p airflow-sdk-bench --bench loopback
//! ```
//!
//! Environment: `BENCH_COUNT` round trips per run (default 20,000, after `BENCH_WARMUP`,
//! default 2,000), `BENCH_ROUNDS` (default 5; the configurations run in a rotating order in
//! each round), `BENCH_PIPELINED` requests per throughput run (default 100,000),
//! `BENCH_WINDOWS` requests in flight (default `16,256`), `BENCH_OUT` a file for the JSON
//! results, `BENCH_ONLY` a comma-separated list of configurations to run (for profiling; the
//! summary needs `floor`), `BENCH_PIN=apart` to run the client's threads on CPU 0 and the
//! server's on CPU 1 (every wake-up then crosses CPUs; without it the scheduler places them,
//! and `taskset -c 0` puts all on one CPU).

use std::collections::BTreeMap;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use airflow_sdk_bench::clients::{self, Which};
use airflow_sdk_bench::floor::{self, FrameClient};
use airflow_sdk_bench::{server, stats};
use airflow_task_sdk::local::{local_startup_details, test_args};
use serde_json::{json, Value};

struct Config {
    only: Option<Vec<String>>,
    count: usize,
    warmup: usize,
    rounds: usize,
    pipelined: usize,
    windows: Vec<usize>,
}

impl Config {
    fn selected(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == name))
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Config {
    fn from_env() -> Self {
        Self {
            only: std::env::var("BENCH_ONLY")
                .ok()
                .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect()),
            count: env_usize("BENCH_COUNT", 20_000),
            warmup: env_usize("BENCH_WARMUP", 2_000),
            rounds: env_usize("BENCH_ROUNDS", 5),
            pipelined: env_usize("BENCH_PIPELINED", 100_000),
            windows: std::env::var("BENCH_WINDOWS")
                .unwrap_or_else(|_| "16,256".to_owned())
                .split(',')
                .filter_map(|w| w.trim().parse().ok())
                .collect(),
        }
    }
}

/// The round-trip configurations, in the order the first round runs them.
const LATENCY: [&str; 7] = [
    "floor",
    "tokio_echo",
    "async_io_echo",
    "raw_client_session_server",
    "std",
    "tokio",
    "smol",
];
/// The throughput configurations.
const THROUGHPUT: [&str; 4] = ["floor", "raw_client_session_server", "tokio", "smol"];

/// Runs `client` against a server on its own thread; the server gets the accepted stream.
fn with_server<T>(
    serve: impl FnOnce(TcpStream) -> io::Result<()> + Send + 'static,
    client: impl FnOnce(&str) -> io::Result<T>,
) -> io::Result<T> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?.to_string();
    let server = std::thread::spawn(move || -> io::Result<()> {
        if pinned_apart() {
            pin_current_thread(1)?;
        }
        let (stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        serve(stream)
    });
    let result = client(&address);
    let served = server
        .join()
        .map_err(|_| io::Error::other("the server panicked"))?;
    let result = result?;
    served?;
    Ok(result)
}

/// Whether `BENCH_PIN=apart` asks for the client on CPU 0 and the server on CPU 1.
fn pinned_apart() -> bool {
    std::env::var("BENCH_PIN").is_ok_and(|v| v == "apart")
}

/// Binds the calling thread (and the threads it spawns from now on) to one CPU.
fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: `cpu_set_t` is plain bits, for which all zeroes is the empty set; `CPU_SET`
    // writes within it, and `sched_setaffinity` only reads the set it is given by reference.
    let status = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if status != 0 {
        let error = io::Error::last_os_error();
        return Err(io::Error::other(format!(
            "pinning a thread to CPU {cpu}: {error}"
        )));
    }
    Ok(())
}

fn echo_server(stream: TcpStream) -> io::Result<()> {
    floor::serve_echo(stream, &floor::response_frame(1)).map(drop)
}

fn session_server(task: &'static str) -> impl FnOnce(TcpStream) -> io::Result<()> {
    move |stream| {
        let details = local_startup_details(&test_args("bench", task)).map_err(io::Error::other)?;
        server::serve(stream, &details, |_| {}).map(drop)
    }
}

fn connect(address: &str) -> io::Result<FrameClient> {
    let stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    Ok(FrameClient::new(stream))
}

/// Each round trip of `count` after `warmup`, in nanoseconds.
fn latencies(name: &str, cfg: &Config) -> io::Result<Vec<u64>> {
    let total = cfg.warmup + cfg.count;
    let all = match name {
        "floor" => with_server(echo_server, |address| {
            let mut client = connect(address)?;
            let request = floor::request_frame(1);
            let mut each = Vec::with_capacity(total);
            for _ in 0..total {
                let start = Instant::now();
                client.round_trip(&request)?;
                each.push(start.elapsed().as_nanos() as u64);
            }
            Ok(each)
        })?,
        "tokio_echo" | "async_io_echo" => with_server(echo_server, |address| {
            let stream = TcpStream::connect(address)?;
            stream.set_nodelay(true)?;
            if name == "tokio_echo" {
                floor::reactor::tokio(stream, total)
            } else {
                floor::reactor::async_io(stream, total)
            }
        })?,
        "raw_client_session_server" => {
            with_server(session_server(clients::ROUND_TRIPS), |address| {
                let mut client = connect(address)?;
                client.receive(1)?; // StartupDetails
                let mut each = Vec::with_capacity(total);
                for id in 1..=total as u64 {
                    let request = floor::request_frame(id);
                    let start = Instant::now();
                    client.round_trip(&request)?;
                    each.push(start.elapsed().as_nanos() as u64);
                }
                Ok(each)
            })?
        }
        adapter => {
            let which = Which::named(adapter).expect("a known adapter");
            with_server(session_server(clients::ROUND_TRIPS), |address| {
                clients::run_task(which, address, total, 1)
            })?
        }
    };
    Ok(all[cfg.warmup..].to_vec())
}

/// Requests per second for `count` requests with `window` in flight.
fn throughput(name: &str, count: usize, window: usize) -> io::Result<f64> {
    let nanos = match name {
        "floor" | "raw_client_session_server" => {
            let session = name != "floor";
            let serve: Box<dyn FnOnce(TcpStream) -> io::Result<()> + Send> = if session {
                Box::new(session_server(clients::PIPELINED))
            } else {
                Box::new(echo_server)
            };
            with_server(serve, |address| {
                let mut client = connect(address)?;
                if session {
                    client.receive(1)?;
                }
                // Batches of `window` requests in one write, then their answers.
                let mut batch = Vec::new();
                let mut next_id = 1u64;
                let start = Instant::now();
                let mut done = 0;
                while done < count {
                    let size = window.min(count - done);
                    batch.clear();
                    for _ in 0..size {
                        batch.extend_from_slice(&floor::request_frame(next_id));
                        next_id += 1;
                    }
                    client.send(&batch)?;
                    client.receive(size)?;
                    done += size;
                }
                Ok(start.elapsed().as_nanos() as u64)
            })?
        }
        adapter => {
            let which = Which::named(adapter).expect("a known adapter");
            with_server(session_server(clients::PIPELINED), |address| {
                clients::run_task(which, address, count, window)
            })?[0]
        }
    };
    Ok(count as f64 / (nanos as f64 / 1e9))
}

fn rotated<'a>(names: &[&'a str], round: usize) -> Vec<&'a str> {
    let mut names = names.to_vec();
    let len = names.len();
    names.rotate_left(round % len);
    names
}

fn main() -> io::Result<()> {
    let cfg = Config::from_env();
    if pinned_apart() {
        // Before any client thread exists: the runtimes' threads inherit it.
        pin_current_thread(0)?;
    }
    println!(
        "loopback: {} round trips per run after {} warm-up, {} rounds; throughput: {} requests, windows {:?}",
        cfg.count, cfg.warmup, cfg.rounds, cfg.pipelined, cfg.windows
    );
    let mut latency: BTreeMap<&str, Vec<stats::Summary>> = BTreeMap::new();
    let mut rates: BTreeMap<(&str, usize), Vec<f64>> = BTreeMap::new();
    for round in 0..cfg.rounds {
        for name in rotated(&LATENCY, round) {
            if !cfg.selected(name) {
                continue;
            }
            let summary = stats::summarize(&latencies(name, &cfg)?);
            println!(
                "  round {round} {name:<28} p50 {:>8.0} ns  p99 {:>8.0} ns",
                summary.p50, summary.p99
            );
            latency.entry(name).or_default().push(summary);
        }
        for &window in &cfg.windows {
            for name in rotated(&THROUGHPUT, round) {
                if !cfg.selected(name) {
                    continue;
                }
                let rate = throughput(name, cfg.pipelined, window)?;
                println!("  round {round} {name:<28} window {window:>4}: {rate:>10.0} requests/s");
                rates.entry((name, window)).or_default().push(rate);
            }
        }
    }

    if cfg.only.is_some() {
        return Ok(());
    }
    // Differences to the floor are taken within each round (every configuration runs within a
    // second or two of the floor, in the same phase of the machine's speed), then their median.
    let above_floor = |runs: &[stats::Summary], field: fn(&stats::Summary) -> f64| {
        let diffs: Vec<f64> = runs
            .iter()
            .zip(&latency["floor"])
            .map(|(run, floor)| field(run) - field(floor))
            .collect();
        stats::median(&diffs)
    };
    println!(
        "\n{:<28} {:>24} {:>24} {:>12} {:>12}",
        "round trip (ns)", "p50 median [range]", "p99 median [range]", "p50 - floor", "p99 - floor"
    );
    let mut latency_json = serde_json::Map::new();
    for name in LATENCY {
        let runs = &latency[name];
        let p50: Vec<f64> = runs.iter().map(|s| s.p50).collect();
        let p99: Vec<f64> = runs.iter().map(|s| s.p99).collect();
        let p999: Vec<f64> = runs.iter().map(|s| s.p999).collect();
        let (lo50, hi50) = stats::range(&p50);
        let (lo99, hi99) = stats::range(&p99);
        println!(
            "{name:<28} {:>24} {:>24} {:>12.0} {:>12.0}",
            format!("{:.0} [{lo50:.0}, {hi50:.0}]", stats::median(&p50)),
            format!("{:.0} [{lo99:.0}, {hi99:.0}]", stats::median(&p99)),
            above_floor(runs, |s| s.p50),
            above_floor(runs, |s| s.p99),
        );
        latency_json.insert(
            name.to_owned(),
            json!({"p50": p50, "p99": p99, "p999": p999}),
        );
    }
    println!(
        "\n{:<28} {:>8} {:>30}",
        "throughput", "window", "requests/s median [range]"
    );
    let mut throughput_json = serde_json::Map::new();
    for name in THROUGHPUT {
        let mut by_window = serde_json::Map::new();
        for &window in &cfg.windows {
            let runs = &rates[&(name, window)];
            let (lo, hi) = stats::range(runs);
            println!(
                "{name:<28} {window:>8} {:>30}",
                format!("{:.0} [{lo:.0}, {hi:.0}]", stats::median(runs))
            );
            by_window.insert(window.to_string(), json!(runs));
        }
        throughput_json.insert(name.to_owned(), Value::Object(by_window));
    }
    if let Ok(path) = std::env::var("BENCH_OUT") {
        let out = json!({
            "count": cfg.count, "warmup": cfg.warmup, "rounds": cfg.rounds,
            "pipelined": cfg.pipelined, "windows": cfg.windows,
            "request_frame_bytes": floor::request_frame(1).len(),
            "response_frame_bytes": floor::response_frame(1).len(),
            "latency": latency_json, "throughput": throughput_json,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&out)?)?;
        println!("\nwrote {path}");
    }
    Ok(())
}
