//! Each adapter's client, in process, against a supervisor listening on loopback: a bundle
//! whose tasks time their own variable reads, run through the adapter's `run_blocking` (what
//! `serve()` calls once the sockets are dialled).

use std::future::Future;
use std::io;
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use airflow_protocol::SessionConfig;
use airflow_task_sdk::{
    Adapter, Bundle, Cancellation, ClientError, Environment, FinalState, Launch, RunLimits,
    TaskError, TaskHandler,
};
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::KEY;

/// The adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `airflow-sdk-std`.
    Std,
    /// `airflow-sdk-tokio`.
    Tokio,
    /// `airflow-sdk-smol`.
    Smol,
}

impl Which {
    /// Every adapter.
    pub const ALL: [Which; 3] = [Which::Std, Which::Tokio, Which::Smol];

    /// The adapter's short name.
    pub fn name(self) -> &'static str {
        match self {
            Which::Std => "std",
            Which::Tokio => "tokio",
            Which::Smol => "smol",
        }
    }

    /// The adapter whose [`name`](Which::name) this is.
    pub fn named(name: &str) -> Option<Which> {
        Which::ALL.into_iter().find(|w| w.name() == name)
    }
}

/// The task ids of the bench bundle (DAG `bench`).
pub const ROUND_TRIPS: &str = "round_trips";
/// Requests in flight, in a sliding window.
pub const PIPELINED: &str = "pipelined";

// What the next run's task does (count, window), and what it measured. Runs are one at a
// time, so process-wide slots are enough.
static PLAN: Mutex<(usize, usize)> = Mutex::new((0, 0));
static MEASURED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn plan() -> (usize, usize) {
    *PLAN.lock().unwrap_or_else(|p| p.into_inner())
}

fn record(values: Vec<u64>) {
    *MEASURED.lock().unwrap_or_else(|p| p.into_inner()) = values;
}

fn nanos(since: Instant) -> u64 {
    since.elapsed().as_nanos() as u64
}

/// Issues `total` requests with at most `window` in flight; returns the time for all of them.
async fn sliding_window<F>(
    mut issue: impl FnMut() -> F,
    window: usize,
    total: usize,
) -> Result<u64, ClientError>
where
    F: Future<Output = Result<String, ClientError>>,
{
    let start = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut issued = 0;
    while issued < window.min(total) {
        in_flight.push(issue());
        issued += 1;
    }
    while let Some(answer) = in_flight.next().await {
        answer?;
        if issued < total {
            in_flight.push(issue());
            issued += 1;
        }
    }
    Ok(nanos(start))
}

fn std_round_trips(ctx: &airflow_sdk_std::TaskContext) -> Result<(), TaskError> {
    let (count, _) = plan();
    let mut each = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        ctx.get_variable(KEY)?;
        each.push(nanos(start));
    }
    record(each);
    Ok(())
}

// Times `plan().0` reads, one at a time.
async fn one_at_a_time<F, Fut>(get_variable: F) -> Result<(), TaskError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<String, ClientError>>,
{
    let (count, _) = plan();
    let mut each = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        get_variable().await?;
        each.push(nanos(start));
    }
    record(each);
    Ok(())
}

async fn tokio_round_trips(ctx: airflow_sdk_tokio::TaskContext) -> Result<(), TaskError> {
    one_at_a_time(|| ctx.get_variable(KEY)).await
}

async fn tokio_pipelined(ctx: airflow_sdk_tokio::TaskContext) -> Result<(), TaskError> {
    let (count, window) = plan();
    let total = sliding_window(|| ctx.get_variable(KEY), window, count).await?;
    record(vec![total]);
    Ok(())
}

async fn smol_round_trips(ctx: airflow_sdk_smol::TaskContext) -> Result<(), TaskError> {
    one_at_a_time(|| ctx.get_variable(KEY)).await
}

async fn smol_pipelined(ctx: airflow_sdk_smol::TaskContext) -> Result<(), TaskError> {
    let (count, window) = plan();
    let total = sliding_window(|| ctx.get_variable(KEY), window, count).await?;
    record(vec![total]);
    Ok(())
}

fn launch(address: &str) -> io::Result<Launch> {
    let comm = TcpStream::connect(address)?;
    // As the SDK dials the supervisor (`serve::dial`).
    comm.set_nodelay(true)?;
    Ok(Launch {
        comm,
        session: SessionConfig::default(),
        limits: RunLimits {
            request_timeout: Duration::from_secs(60),
            stop_grace: Duration::ZERO,
        },
        cancellation: Cancellation::new(),
        env: Environment::process(),
    })
}

fn run<R: Adapter>(bundle: &Bundle<TaskHandler<R>>, address: &str) -> io::Result<Vec<u64>> {
    let outcome = R::run_blocking(bundle, launch(address)?)
        .map_err(|e| io::Error::other(format!("the run did not start: {}", e.0)))?;
    if outcome.state != FinalState::Success || outcome.protocol_error.is_some() {
        return Err(io::Error::other(format!(
            "the bench task ended {:?} ({:?})",
            outcome.state, outcome.protocol_error
        )));
    }
    Ok(std::mem::take(
        &mut *MEASURED.lock().unwrap_or_else(|p| p.into_inner()),
    ))
}

/// Runs the bench bundle on `which` against the supervisor at `address`, whose
/// `StartupDetails` (DAG `bench`) name the task: [`ROUND_TRIPS`] returns each of `count` round
/// trips in nanoseconds; [`PIPELINED`] returns one value, the nanoseconds for `count` requests
/// with `window` in flight (async adapters only).
pub fn run_task(which: Which, address: &str, count: usize, window: usize) -> io::Result<Vec<u64>> {
    *PLAN.lock().unwrap_or_else(|p| p.into_inner()) = (count, window);
    match which {
        Which::Std => run(
            &airflow_sdk_std::Bundle::new("bench")
                .dag("bench", |dag| dag.task(ROUND_TRIPS, std_round_trips)),
            address,
        ),
        Which::Tokio => run(
            &airflow_sdk_tokio::Bundle::new("bench").dag("bench", |dag| {
                dag.task(ROUND_TRIPS, tokio_round_trips)
                    .task(PIPELINED, tokio_pipelined)
            }),
            address,
        ),
        Which::Smol => run(
            &airflow_sdk_smol::Bundle::new("bench").dag("bench", |dag| {
                dag.task(ROUND_TRIPS, smol_round_trips)
                    .task(PIPELINED, smol_pipelined)
            }),
            address,
        ),
    }
}
