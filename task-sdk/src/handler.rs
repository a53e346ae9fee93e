//! Task functions, as every adapter stores and runs them.
//!
//! A task is either a plain function `fn(&TaskContext) -> Result<T, E>`, run on a blocking
//! thread, or an async function `async fn(TaskContext) -> Result<T, E>`, polled by the
//! adapter's executor. `T` is any `Serialize` type (pushed as XCom `return_value` unless it is
//! null, as `()` is); `E` is any error or a [`TaskError`].

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use crate::bundle::{Bundle, FromTaskFn};
use crate::context::{Cancellation, TaskContext, TaskInfo};
use crate::error::TaskError;
use crate::execute::{self, catch_panic, Panicked, RunLimits, RunOutcome, TaskReturn};
use crate::runtime::{BoxFuture, Runtime};
use crate::JsonValue;

type TaskFn<R> = dyn Fn(TaskContext<R>) -> BoxFuture<'static, TaskReturn> + Send + Sync;

/// A task function of a bundle, for runtime `R`.
pub struct TaskHandler<R: Runtime>(Arc<TaskFn<R>>);

impl<R: Runtime> Clone for TaskHandler<R> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<R: Runtime> TaskHandler<R> {
    /// Starts the task with a context.
    pub fn call(&self, ctx: TaskContext<R>) -> BoxFuture<'static, TaskReturn> {
        (self.0)(ctx)
    }
}

/// Marks plain functions `fn(&TaskContext) -> Result<T, E>`: run on a blocking thread.
pub struct BlockingFn;

/// Marks async functions `async fn(TaskContext) -> Result<T, E>`.
pub struct AsyncFn;

fn to_json<T: Serialize>(value: T) -> Result<JsonValue, TaskError> {
    serde_json::to_value(&value)
        .map_err(|e| TaskError::msg(format!("the return value cannot be written as JSON: {e}")))
}

impl<R, F, T, E> FromTaskFn<F, BlockingFn> for TaskHandler<R>
where
    R: Runtime,
    F: Fn(&TaskContext<R>) -> Result<T, E> + Send + Sync + 'static,
    T: Serialize,
    E: Into<TaskError>,
{
    fn from_task_fn(f: F) -> Self {
        let f = Arc::new(f);
        Self(Arc::new(move |ctx: TaskContext<R>| {
            let f = f.clone();
            let runtime = ctx.client().runtime().clone();
            // The run's span (dag, task, run, try) follows the task onto its thread.
            let span = tracing::Span::current();
            runtime.spawn_blocking(Box::new(move || {
                let _entered = span.enter();
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    f(&ctx).map_err(Into::into).and_then(to_json)
                }))
                .map_err(|payload| Panicked::from_payload(&*payload))
            }))
        }))
    }
}

impl<R, F, Fut, T, E> FromTaskFn<F, AsyncFn> for TaskHandler<R>
where
    R: Runtime,
    F: Fn(TaskContext<R>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Serialize,
    E: Into<TaskError>,
{
    fn from_task_fn(f: F) -> Self {
        Self(Arc::new(move |ctx: TaskContext<R>| {
            let future = f(ctx);
            Box::pin(catch_panic(async move {
                future.await.map_err(Into::into).and_then(to_json)
            }))
        }))
    }
}

/// Runs the task of `bundle` that `info` names (or reports it removed): picks the handler
/// for a resume's `next_method`, and [`execute`](execute::execute)s it.
///
/// The handler is picked at once; the returned future does not borrow `bundle`, so an
/// adapter can spawn it as a task of its executor.
pub fn run_task<R: Runtime>(
    runtime: R,
    bundle: &Bundle<TaskHandler<R>>,
    info: Arc<TaskInfo>,
    cancellation: Cancellation,
    limits: RunLimits,
) -> impl Future<Output = RunOutcome> + 'static {
    let resume = info.resume().map(|r| r.method);
    let handler = bundle
        .find(info.dag_id(), info.task_id())
        .map(|task| task.handler_for(resume.as_deref()).clone());
    let task = handler.map(|handler| move |ctx: TaskContext<R>| handler.call(ctx));
    execute::execute(runtime, info, cancellation, limits, task)
}
