//! The run of one task instance, the same for every adapter: clear stale XComs, run the
//! task, push its return value, map the result to exactly one terminal message, send it and
//! wait (bounded) for the answer.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use airflow_protocol::messages::{self as m, TerminalState};
use airflow_protocol::{JsonValue, Reply, ReplyError, Timestamp, ToSupervisor};

use crate::runtime::ExchangeError;

use crate::client::RETURN_VALUE_KEY;
use crate::context::{Cancellation, TaskContext, TaskInfo};
use crate::error::{TaskError, TaskErrorKind};
use crate::runtime::Runtime;

/// What a task run produced: a return value (null for none), an error, or a panic.
pub type TaskReturn = Result<Result<JsonValue, TaskError>, Panicked>;

/// A task panicked; the panic's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked(pub String);

impl Panicked {
    /// The message of a caught panic payload.
    pub fn from_payload(payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        Self(message)
    }
}

/// Limits of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLimits {
    /// Bound on each request, the terminal message included.
    pub request_timeout: Duration,
    /// After SIGTERM, how long the task may take to stop on its own before the run reports
    /// it terminated. Zero drops the task at once (async adapters cancel the future).
    pub stop_grace: Duration,
}

/// The state the run ended in, as reported to the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalState {
    /// `SucceedTask`.
    Success,
    /// `TaskState failed`.
    Failed,
    /// `RetryTask`.
    UpForRetry,
    /// `TaskState skipped`.
    Skipped,
    /// `TaskState removed`.
    Removed,
    /// `DeferTask`.
    Deferred,
    /// `RescheduleTask`.
    UpForReschedule,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The state reported.
    pub state: FinalState,
    /// Why the protocol failed, when it did: then the terminal message may not have reached
    /// the supervisor and the process should exit non-zero.
    pub protocol_error: Option<String>,
}

impl RunOutcome {
    /// The process exit code: 0 once the supervisor acknowledged the terminal message (even
    /// with an API error, which it replays itself), 1 when the protocol failed.
    pub fn exit_code(&self) -> u8 {
        if self.protocol_error.is_some() {
            1
        } else {
            0
        }
    }
}

/// Runs a task instance. `task` is the bundle's handler already bound to a context, or
/// `None` when the bundle has no such task (reported as `removed`).
pub async fn execute<R, F, Fut>(
    runtime: R,
    info: Arc<TaskInfo>,
    cancellation: Cancellation,
    limits: RunLimits,
    task: Option<F>,
) -> RunOutcome
where
    R: Runtime,
    F: FnOnce(TaskContext<R>) -> Fut,
    Fut: Future<Output = TaskReturn> + Send,
{
    let span = tracing::info_span!(
        target: "airflow.task",
        "task",
        dag_id = info.dag_id(),
        task_id = info.task_id(),
        run_id = info.run_id(),
        try_number = info.try_number(),
    );
    tracing::Instrument::instrument(run(runtime, info, cancellation, limits, task), span).await
}

async fn run<R, F, Fut>(
    runtime: R,
    info: Arc<TaskInfo>,
    cancellation: Cancellation,
    limits: RunLimits,
    task: Option<F>,
) -> RunOutcome
where
    R: Runtime,
    F: FnOnce(TaskContext<R>) -> Fut,
    Fut: Future<Output = TaskReturn> + Send,
{
    let exchange = |body: ToSupervisor| runtime.exchange(Box::new(body), limits.request_timeout);

    let Some(task) = task else {
        tracing::error!(
            target: "airflow.task",
            "this bundle has no task {:?} in DAG {:?}; reporting it removed",
            info.task_id(),
            info.dag_id()
        );
        let terminal = m::TaskState {
            state: TerminalState::Removed,
            end_date: Some(now()),
            rendered_map_index: None,
        };
        return finish(exchange(terminal.into()).await, FinalState::Removed);
    };

    let result = match clear_stale_xcoms(&info, &exchange).await {
        Err(error) => Ok(Err(error)),
        Ok(()) => {
            let client =
                crate::client::Client::new(runtime.clone(), info.clone(), limits.request_timeout);
            let context = TaskContext::new(info.clone(), client, cancellation.clone());
            let stop = async {
                cancellation.cancelled().await;
                tracing::warn!(target: "airflow.task", "received SIGTERM: stopping the task");
                if !limits.stop_grace.is_zero() {
                    runtime.sleep(limits.stop_grace).await;
                }
            };
            match first_of(task(context), stop).await {
                Either::Left(result) => result,
                Either::Right(()) => Ok(Err(TaskError::msg(format!(
                    "the task was terminated by SIGTERM{}",
                    if limits.stop_grace.is_zero() {
                        String::new()
                    } else {
                        format!(
                            " and did not stop within {:.1} s",
                            limits.stop_grace.as_secs_f64()
                        )
                    }
                )))),
            }
        }
    };

    let result = match result {
        Ok(Ok(value)) => match push_return_value(&info, value, &exchange).await {
            Ok(()) => Ok(()),
            Err(error) => Err(error),
        },
        Ok(Err(error)) => Err(error),
        Err(Panicked(message)) => Err(TaskError::failure(PanicError(message))),
    };

    let (terminal, state) = terminal_message(&info, result);
    finish(exchange(terminal).await, state)
}

// Deletes the XComs the server listed, as Airflow's own runtime does before a task runs.
async fn clear_stale_xcoms<E, Fut>(info: &TaskInfo, exchange: &E) -> Result<(), TaskError>
where
    E: Fn(ToSupervisor) -> Fut,
    Fut: Future<Output = Result<Reply, ExchangeError>>,
{
    for key in info.xcom_keys_to_clear() {
        let body = m::DeleteXCom {
            key: key.clone(),
            dag_id: info.dag_id().into(),
            run_id: info.run_id().into(),
            task_id: info.task_id().into(),
            map_index: info.map_index(),
        };
        if let Err(e) = exchange(body.into()).await {
            return Err(TaskError::msg(format!(
                "clearing stale XCom {key:?} failed: {e}"
            )));
        }
    }
    Ok(())
}

async fn push_return_value<E, Fut>(
    info: &TaskInfo,
    value: JsonValue,
    exchange: &E,
) -> Result<(), TaskError>
where
    E: Fn(ToSupervisor) -> Fut,
    Fut: Future<Output = Result<Reply, ExchangeError>>,
{
    if value.is_null() {
        return Ok(());
    }
    let body = m::SetXCom {
        key: RETURN_VALUE_KEY.into(),
        value,
        dag_id: info.dag_id().into(),
        run_id: info.run_id().into(),
        task_id: info.task_id().into(),
        map_index: info.map_index(),
        dag_result: false,
        mapped_length: None,
    };
    match exchange(body.into()).await {
        Ok(_) => Ok(()),
        Err(e) => Err(TaskError::msg(format!(
            "pushing the return value as XCom failed: {e}"
        ))),
    }
}

/// The terminal message for a task's result, and the state it reports. Logs the failure.
pub fn terminal_message(
    info: &TaskInfo,
    result: Result<(), TaskError>,
) -> (ToSupervisor, FinalState) {
    let error = match result {
        Ok(()) => {
            tracing::info!(target: "airflow.task", "Task succeeded");
            let body = m::SucceedTask {
                end_date: now(),
                task_outlets: Vec::new(),
                outlet_events: Vec::new(),
                rendered_map_index: None,
            };
            return (body.into(), FinalState::Success);
        }
        Err(error) => error,
    };
    let retry_or_fail = |reason: String, delay: Option<Duration>| -> (ToSupervisor, FinalState) {
        if info.should_retry() {
            let body = m::RetryTask {
                end_date: now(),
                rendered_map_index: None,
                retry_delay_seconds: delay.map(|d| d.as_secs_f64()),
                retry_reason: Some(truncate(&reason, 500).into()),
            };
            (body.into(), FinalState::UpForRetry)
        } else {
            (failed(TerminalState::Failed), FinalState::Failed)
        }
    };
    match error.into_kind() {
        TaskErrorKind::Failed(e) => {
            let will_retry = info.should_retry();
            tracing::error!(
                target: "airflow.task",
                error = &*e as &(dyn std::error::Error + 'static),
                "Task failed{}",
                if will_retry { "; it will be retried" } else { "" }
            );
            retry_or_fail(e.to_string(), None)
        }
        TaskErrorKind::FailedWithoutRetry(e) => {
            tracing::error!(
                target: "airflow.task",
                error = &*e as &(dyn std::error::Error + 'static),
                "Task failed and asked not to be retried"
            );
            (failed(TerminalState::Failed), FinalState::Failed)
        }
        TaskErrorKind::Retry { delay, reason } => {
            let reason = reason.unwrap_or_else(|| "the task asked for a retry".to_owned());
            if info.should_retry() {
                tracing::warn!(target: "airflow.task", reason = %reason, delay_seconds = ?delay.map(|d| d.as_secs_f64()), "Task asked for a retry");
            } else {
                tracing::error!(target: "airflow.task", reason = %reason, "Task asked for a retry but has no tries left; failing it");
            }
            retry_or_fail(reason, delay)
        }
        TaskErrorKind::Skip { reason } => {
            tracing::info!(target: "airflow.task", reason = reason.as_deref().unwrap_or(""), "Task skipped");
            (failed(TerminalState::Skipped), FinalState::Skipped)
        }
        TaskErrorKind::Defer(defer) => {
            tracing::info!(target: "airflow.task", trigger = %defer.classpath, next_method = %defer.next_method, "Task deferred");
            let body = m::DeferTask {
                classpath: defer.classpath.into(),
                trigger_kwargs: Some(JsonValue::Object(defer.kwargs)),
                trigger_timeout: defer.timeout,
                queue: None,
                next_method: defer.next_method.into(),
                next_kwargs: defer.next_kwargs,
                rendered_map_index: None,
            };
            (body.into(), FinalState::Deferred)
        }
        TaskErrorKind::Reschedule { at } => {
            tracing::info!(target: "airflow.task", reschedule_date = %at, "Task rescheduled");
            let body = m::RescheduleTask {
                reschedule_date: at,
                end_date: now(),
            };
            (body.into(), FinalState::UpForReschedule)
        }
    }
}

fn failed(state: TerminalState) -> ToSupervisor {
    m::TaskState {
        state,
        end_date: Some(now()),
        rendered_map_index: None,
    }
    .into()
}

fn finish(reply: Result<Reply, ExchangeError>, state: FinalState) -> RunOutcome {
    match reply {
        Ok(_) => RunOutcome {
            state,
            protocol_error: None,
        },
        // The supervisor received the message; it keeps it and replays it at exit.
        Err(ExchangeError::Remote(ReplyError::Error { error, .. })) => {
            tracing::error!(target: "airflow.task", error = %error, "the supervisor could not record the task's final state");
            RunOutcome {
                state,
                protocol_error: None,
            }
        }
        Err(other) => RunOutcome {
            state,
            protocol_error: Some(format!("the final state was not acknowledged: {other}")),
        },
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// The current time as a protocol timestamp.
pub fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A panic, as an error for the log and the retry reason.
#[derive(Debug)]
struct PanicError(String);

impl std::fmt::Display for PanicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the task panicked: {}", self.0)
    }
}

impl std::error::Error for PanicError {}

/// Either of two results.
#[derive(Debug)]
pub enum Either<A, B> {
    /// The first.
    Left(A),
    /// The second.
    Right(B),
}

/// Polls two futures and returns the first to finish, dropping the other.
pub fn first_of<A: Future, B: Future>(a: A, b: B) -> FirstOf<A, B> {
    FirstOf {
        a: Box::pin(a),
        b: Box::pin(b),
    }
}

/// The future of [`first_of`].
pub struct FirstOf<A, B> {
    a: Pin<Box<A>>,
    b: Pin<Box<B>>,
}

impl<A: Future, B: Future> Future for FirstOf<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(a) = self.a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(a));
        }
        if let Poll::Ready(b) = self.b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(b));
        }
        Poll::Pending
    }
}

/// Runs a future, turning a panic inside any of its polls into [`Panicked`].
pub fn catch_panic<F: Future>(future: F) -> CatchPanic<F> {
    CatchPanic {
        future: Box::pin(future),
    }
}

/// The future of [`catch_panic`].
pub struct CatchPanic<F> {
    future: Pin<Box<F>>,
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.future.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(Panicked::from_payload(&*payload))),
        }
    }
}
