//! The process around one task run, shared by every adapter: command line, metadata,
//! logging, dialling both supervisor sockets, SIGTERM, exit status.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use airflow_protocol::messages::StartupDetails;
use airflow_protocol::SessionConfig;

use crate::bundle::Bundle;
use crate::cli::{self, Mode, TestArgs};
use crate::connection::Environment;
use crate::context::{Cancellation, TaskInfo};
use crate::execute::{RunLimits, RunOutcome};
use crate::handler::TaskHandler;
use crate::logging::{self, LogSink};
use crate::runtime::Runtime;

/// How long dialling each supervisor socket may take. The supervisor is already listening
/// when it starts the bundle, and gives up on it after `task_startup_timeout` (10 s).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the log writer may take to flush before the process exits.
pub const LOG_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Environment variable overriding the bound on each request, in seconds.
pub const REQUEST_TIMEOUT_ENV: &str = "AIRFLOW_RS_REQUEST_TIMEOUT";

/// Everything an adapter needs to run one task for the supervisor.
pub struct Launch {
    /// The connected comm socket.
    pub comm: TcpStream,
    /// The session limits (frame size, request and startup bounds).
    pub session: SessionConfig,
    /// The run limits.
    pub limits: RunLimits,
    /// Set when the supervisor sends SIGTERM.
    pub cancellation: Cancellation,
    /// Where `AIRFLOW_VAR_*` and `AIRFLOW_CONN_*` overrides come from.
    pub env: Environment,
}

impl Launch {
    /// The run's facts from the supervisor's `StartupDetails`.
    pub fn task_info(&self, details: StartupDetails) -> Arc<TaskInfo> {
        Arc::new(TaskInfo::new(details, self.env.clone()))
    }
}

/// What an adapter adds to its [`Runtime`] to serve bundles: how to run one task over a
/// connected comm socket, to the end.
pub trait Adapter: Runtime {
    /// After SIGTERM, how long a task may take to stop by itself before the run reports it
    /// terminated (zero when the adapter can drop the task).
    const STOP_GRACE: Duration;

    /// Runs the task instance the supervisor sends over `launch`, blocking until it ends.
    fn run_blocking(
        bundle: &Bundle<TaskHandler<Self>>,
        launch: Launch,
    ) -> Result<RunOutcome, LaunchError>;
}

/// Runs bundles: `bundle.serve()` in `main`.
pub trait Serve {
    /// Parses the command line and does what it asks: run one task for the supervisor
    /// (`--comm`/`--logs`), print metadata (`--airflow-metadata`), or run a task locally
    /// (`test DAG TASK`). Returns the process exit status.
    fn serve(self) -> ExitCode;

    /// [`Serve::serve`] with explicit arguments, the first being the program name.
    fn serve_args<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone;
}

impl<R: Adapter> Serve for Bundle<TaskHandler<R>> {
    fn serve(self) -> ExitCode {
        self.serve_args(std::env::args_os())
    }

    fn serve_args<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        serve_args(&self, R::STOP_GRACE, args, |launch| {
            R::run_blocking(&self, launch)
        })
    }
}

/// Why a run could not even reach the task; printed on stderr, exit status 1.
#[derive(Debug)]
pub struct LaunchError(pub String);

/// Runs a bundle executable's `main`: parses the command line and does what it asks. `run`
/// is the adapter's part: drive the comm socket, receive `StartupDetails`, and
/// [`execute`](crate::execute()) the task. `stop_grace` is how long a task may take to stop
/// by itself after SIGTERM (zero when the adapter can cancel it).
pub fn serve<H>(
    bundle: &Bundle<H>,
    stop_grace: Duration,
    run: impl FnOnce(Launch) -> Result<RunOutcome, LaunchError>,
) -> ExitCode {
    serve_args(bundle, stop_grace, std::env::args_os(), run)
}

/// [`serve`] with explicit arguments (the first is the program name).
pub fn serve_args<H, I, T>(
    bundle: &Bundle<H>,
    stop_grace: Duration,
    args: I,
    run: impl FnOnce(Launch) -> Result<RunOutcome, LaunchError>,
) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let metadata = bundle.metadata();
    let version = metadata
        .version
        .clone()
        .unwrap_or_else(|| crate::bundle::SDK_VERSION.to_owned());
    let mode = match cli::parse_mode(&metadata.name, &version, args) {
        Ok(mode) => mode,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    if !bundle.problems().is_empty() {
        eprintln!("error: the bundle is not valid:");
        for problem in bundle.problems() {
            eprintln!("  - {problem}");
        }
        return ExitCode::from(1);
    }
    match mode {
        Mode::Metadata(format) => {
            let text = cli::render_metadata(&metadata, format);
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(text.as_bytes())
                .and_then(|_| stdout.flush())
                .is_err()
            {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Mode::Run { comm, logs } => run_for_supervisor(&comm, &logs, stop_grace, run),
        Mode::Test(args) => run_locally(&args, stop_grace, run),
    }
}

pub(crate) fn run_for_supervisor(
    comm: &str,
    logs: &str,
    stop_grace: Duration,
    run: impl FnOnce(Launch) -> Result<RunOutcome, LaunchError>,
) -> ExitCode {
    // Logging first, so that nothing said before the logs socket connects is lost.
    let sink = logging::install(|name| std::env::var(name).ok());
    let cancellation = Cancellation::new();
    if let Err(e) = watch_signals(&cancellation) {
        tracing::warn!(target: "airflow.sdk", "SIGTERM cannot be handled: {e}");
    }
    let (comm, logs) = dial_both(comm, logs);
    let held = hold_until_exit([comm.as_ref().ok(), logs.as_ref().ok()]);
    match logs {
        Ok(stream) => sink.attach(stream),
        Err(e) => sink.use_stderr(&e),
    }
    let comm = match comm {
        Ok(stream) => stream,
        Err(e) => return fail(&sink, &e),
    };
    let outcome = run(Launch {
        comm,
        session: session_config(),
        limits: run_limits(stop_grace),
        cancellation,
        env: Environment::process(),
    });
    let code = finish(&sink, outcome);
    // Closed by the kernel as the process exits.
    std::mem::forget(held);
    code
}

/// Second handles on the supervisor's sockets, so that they stay open until the process
/// exits whatever the adapter drops before. The supervisor takes a task for done when its
/// sockets have closed and it can reap the process; when the sockets close first, it sees a
/// live process with nothing left to watch, and waits up to its heartbeat interval (5 s)
/// before it looks again. Closed by the kernel as the process exits, they close a moment
/// before it can be reaped instead of while `main` is still returning.
fn hold_until_exit<const N: usize>(sockets: [Option<&TcpStream>; N]) -> Vec<TcpStream> {
    sockets
        .into_iter()
        .flatten()
        .filter_map(|socket| socket.try_clone().ok())
        .collect()
}

fn run_locally(
    args: &TestArgs,
    stop_grace: Duration,
    run: impl FnOnce(Launch) -> Result<RunOutcome, LaunchError>,
) -> ExitCode {
    crate::local::run(args, stop_grace, run)
}

pub(crate) fn finish(sink: &LogSink, outcome: Result<RunOutcome, LaunchError>) -> ExitCode {
    match outcome {
        Ok(outcome) => {
            if let Some(error) = &outcome.protocol_error {
                tracing::error!(target: "airflow.sdk", "{error}");
            }
            sink.flush(LOG_FLUSH_TIMEOUT);
            if let Some(error) = &outcome.protocol_error {
                eprintln!("error: {error}");
            }
            ExitCode::from(outcome.exit_code())
        }
        Err(LaunchError(error)) => fail(sink, &error),
    }
}

fn fail(sink: &LogSink, error: &str) -> ExitCode {
    tracing::error!(target: "airflow.sdk", "{error}");
    sink.flush(LOG_FLUSH_TIMEOUT);
    eprintln!("error: {error}");
    ExitCode::from(1)
}

/// The session limits, with the request bound from `AIRFLOW_RS_REQUEST_TIMEOUT` if set.
pub fn session_config() -> SessionConfig {
    let mut config = SessionConfig::default();
    if let Some(timeout) = request_timeout_override() {
        config.request_timeout = timeout;
    }
    config
}

/// The run limits, with the request bound from `AIRFLOW_RS_REQUEST_TIMEOUT` if set.
pub fn run_limits(stop_grace: Duration) -> RunLimits {
    RunLimits {
        request_timeout: request_timeout_override()
            .unwrap_or(crate::client::DEFAULT_REQUEST_TIMEOUT),
        stop_grace,
    }
}

fn request_timeout_override() -> Option<Duration> {
    let text = std::env::var(REQUEST_TIMEOUT_ENV).ok()?;
    match text
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
    {
        Some(timeout) if !timeout.is_zero() => Some(timeout),
        _ => {
            tracing::warn!(target: "airflow.sdk", "ignoring {REQUEST_TIMEOUT_ENV}={text:?}: not a positive number of seconds");
            None
        }
    }
}

/// Dials both sockets at the same time, each within [`DIAL_TIMEOUT`].
pub fn dial_both(comm: &str, logs: &str) -> (Result<TcpStream, String>, Result<TcpStream, String>) {
    let logs = logs.to_owned();
    let logs_thread = std::thread::spawn(move || dial(&logs, "logs"));
    let comm = dial(comm, "comm");
    let logs = logs_thread
        .join()
        .unwrap_or_else(|_| Err("dialling the logs socket panicked".to_owned()));
    (comm, logs)
}

fn dial(address: &str, which: &str) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve the {which} address {address:?}: {e}"))?
        .collect();
    let mut last = format!("the {which} address {address:?} resolves to nothing");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, DIAL_TIMEOUT) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => {
                last = format!("cannot connect to the supervisor's {which} socket at {addr}: {e}")
            }
        }
    }
    Err(last)
}

/// Sets `cancellation` when SIGTERM or SIGINT arrives.
pub fn watch_signals(cancellation: &Cancellation) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    let cancellation = cancellation.clone();
    std::thread::Builder::new()
        .name("airflow-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let name = if signal == SIGTERM { "SIGTERM" } else { "SIGINT" };
                tracing::warn!(target: "airflow.sdk", signal = name, "the supervisor asked the task to stop");
                cancellation.cancel();
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Read};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn held_sockets_stay_open_when_their_first_handles_are_dropped() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let task_side = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut supervisor_side, _) = listener.accept().unwrap();
        let held = hold_until_exit([Some(&task_side), None]);
        assert_eq!(held.len(), 1);
        drop(task_side);
        supervisor_side
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut byte = [0u8; 1];
        // Still open: the read waits (an end of stream would read 0 bytes).
        let waited = supervisor_side.read(&mut byte).unwrap_err();
        assert!(
            matches!(waited.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{waited:?}"
        );
        drop(held);
        assert_eq!(supervisor_side.read(&mut byte).unwrap(), 0);
    }
}
