//! What a running task knows: its task instance, its DAG run, a client, and whether it was
//! asked to stop.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use airflow_protocol::messages::{DagRun, DagRunType, StartupDetails, TaskInstance};
use airflow_protocol::{JsonMap, JsonValue, Text, Timestamp, Uuid};

use crate::client::Client;
use crate::connection::Environment;
use crate::runtime::Runtime;

/// Everything `StartupDetails` says about the run, shared by the context and the client.
#[derive(Debug)]
pub struct TaskInfo {
    details: StartupDetails,
    env: Environment,
}

impl TaskInfo {
    /// Wraps the details the supervisor sent, with the environment for overrides.
    pub fn new(details: StartupDetails, env: Environment) -> Self {
        Self { details, env }
    }

    /// The task instance.
    pub fn ti(&self) -> &TaskInstance {
        &self.details.ti
    }

    /// The task instance id.
    pub fn ti_id(&self) -> Uuid {
        self.details.ti.id
    }

    /// The DAG id.
    pub fn dag_id(&self) -> &str {
        &self.details.ti.dag_id
    }

    /// The task id.
    pub fn task_id(&self) -> &str {
        &self.details.ti.task_id
    }

    /// The DAG run id.
    pub fn run_id(&self) -> &str {
        &self.details.ti.run_id
    }

    /// The try number, from 1.
    pub fn try_number(&self) -> i64 {
        self.details.ti.try_number
    }

    /// The map index, or `None` when the task is not mapped.
    pub fn map_index(&self) -> Option<i64> {
        self.details.ti.map_index.filter(|&i| i >= 0)
    }

    /// The DAG run.
    pub fn dag_run(&self) -> &DagRun {
        &self.details.ti_context.dag_run
    }

    /// The logical date of the run, if it has one.
    pub fn logical_date(&self) -> Option<Timestamp> {
        self.dag_run().logical_date
    }

    /// The data interval of the run, if it has one.
    pub fn data_interval(&self) -> Option<(Timestamp, Timestamp)> {
        Some((
            self.dag_run().data_interval_start?,
            self.dag_run().data_interval_end?,
        ))
    }

    /// The run's configuration (`conf`); empty when none was given.
    pub fn conf(&self) -> &JsonMap {
        static EMPTY: std::sync::OnceLock<JsonMap> = std::sync::OnceLock::new();
        self.dag_run()
            .conf
            .as_ref()
            .unwrap_or_else(|| EMPTY.get_or_init(JsonMap::new))
    }

    /// How the run was created.
    pub fn run_type(&self) -> &DagRunType {
        &self.dag_run().run_type
    }

    /// Whether a failure now leads to a retry (the server's decision).
    pub fn should_retry(&self) -> bool {
        self.details.ti_context.should_retry.unwrap_or(false)
    }

    /// The maximum number of tries.
    pub fn max_tries(&self) -> i64 {
        self.details.ti_context.max_tries
    }

    /// When this try first started.
    pub fn start_date(&self) -> Timestamp {
        self.details.start_date
    }

    /// How the task is being resumed after a deferral, if it is.
    pub fn resume(&self) -> Option<Resume> {
        let ctx = &self.details.ti_context;
        let method = ctx.next_method.clone()?;
        let kwargs = match &ctx.next_kwargs {
            JsonValue::Object(map) => map.clone(),
            JsonValue::Null => JsonMap::new(),
            // A serialized string: keep it under a key rather than lose it.
            other => JsonMap::from_iter([("__serialized__".to_owned(), other.clone())]),
        };
        Some(Resume {
            method: method.to_string(),
            kwargs,
        })
    }

    /// XCom keys the server asked to clear before the task runs.
    pub fn xcom_keys_to_clear(&self) -> &[Text] {
        self.details
            .ti_context
            .xcom_keys_to_clear
            .as_deref()
            .unwrap_or(&[])
    }

    /// The whole `StartupDetails` message.
    pub fn startup_details(&self) -> &StartupDetails {
        &self.details
    }

    /// The environment used for `AIRFLOW_VAR_*` and `AIRFLOW_CONN_*` overrides.
    pub fn environment(&self) -> &Environment {
        &self.env
    }
}

/// How a deferred task is resumed: the method named in its deferral, and the kwargs the
/// trigger's event produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    /// The `next_method` of the deferral.
    pub method: String,
    /// The `next_kwargs`, usually with the trigger's `event`.
    pub kwargs: JsonMap,
}

/// A cancellation flag set when the supervisor asks the task to stop (SIGTERM). Cheap to
/// clone; usable from threads and from any async executor.
#[derive(Clone, Default)]
pub struct Cancellation {
    inner: Arc<CancellationInner>,
}

#[derive(Default)]
struct CancellationInner {
    cancelled: AtomicBool,
    wakers: Mutex<Wakers>,
}

// The waker of each pending `Cancelled` future, under a key of its own: one entry per future,
// however often it is polled. (`Waker::will_wake` cannot tell: tokio's `block_on` waker and
// its clones have different vtables, so it never recognises its own clone.)
#[derive(Default)]
struct Wakers {
    next_key: u64,
    entries: Vec<(u64, Waker)>,
}

impl Cancellation {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag and wakes everything waiting on [`Cancellation::cancelled`].
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(
            &mut self
                .inner
                .wakers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entries,
        );
        for (_, waker) in wakers {
            waker.wake();
        }
    }

    /// Whether the task was asked to stop. Long-running tasks should check it and return.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// A future that completes once the flag is set.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            cancellation: self.clone(),
            key: None,
            registered: None,
        }
    }
}

impl std::fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancellation")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The future of [`Cancellation::cancelled`].
#[derive(Debug)]
pub struct Cancelled {
    cancellation: Cancellation,
    // This future's entry among the wakers, once it registered one.
    key: Option<u64>,
    // A clone of the waker in that entry: a poll with the same waker need not lock.
    registered: Option<Waker>,
}

impl Future for Cancelled {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let inner = &this.cancellation.inner;
        if inner.cancelled.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        // The entry keeps this waker until `cancel` takes it, which it does after setting
        // the flag read above.
        if this
            .registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let mut wakers = inner.wakers.lock().unwrap_or_else(|p| p.into_inner());
        // Checked again under the lock: `cancel` takes the wakers under the same lock.
        if inner.cancelled.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        let key = match this.key {
            Some(key) => key,
            None => {
                let key = wakers.next_key;
                wakers.next_key += 1;
                this.key = Some(key);
                key
            }
        };
        match wakers.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, waker)) => {
                if !waker.will_wake(cx.waker()) {
                    waker.clone_from(cx.waker());
                }
            }
            None => wakers.entries.push((key, cx.waker().clone())),
        }
        this.registered = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let mut wakers = self
                .cancellation
                .inner
                .wakers
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            wakers.entries.retain(|(k, _)| *k != key);
        }
    }
}

/// What a task function receives: the run's facts, a client, and the cancellation flag.
/// Cheap to clone; `'static`, so async tasks can move it into futures.
pub struct TaskContext<R: Runtime> {
    info: Arc<TaskInfo>,
    client: Client<R>,
    cancellation: Cancellation,
}

impl<R: Runtime> Clone for TaskContext<R> {
    fn clone(&self) -> Self {
        Self {
            info: self.info.clone(),
            client: self.client.clone(),
            cancellation: self.cancellation.clone(),
        }
    }
}

impl<R: Runtime> TaskContext<R> {
    /// A context over a runtime's client.
    pub fn new(info: Arc<TaskInfo>, client: Client<R>, cancellation: Cancellation) -> Self {
        Self {
            info,
            client,
            cancellation,
        }
    }

    /// The run's facts: task instance, DAG run, run context.
    pub fn info(&self) -> &TaskInfo {
        &self.info
    }

    /// The task instance.
    pub fn ti(&self) -> &TaskInstance {
        self.info.ti()
    }

    /// The DAG run.
    pub fn dag_run(&self) -> &DagRun {
        self.info.dag_run()
    }

    /// The client for variables, connections, XComs and everything else.
    pub fn client(&self) -> &Client<R> {
        &self.client
    }

    /// Whether the supervisor asked the task to stop (SIGTERM). Check it in long loops.
    pub fn is_cancelled(&self) -> bool {
        self.cancellation.is_cancelled()
    }

    /// The cancellation flag, to wait on or hand to other threads.
    pub fn cancellation(&self) -> &Cancellation {
        &self.cancellation
    }

    /// How the task is being resumed after a deferral, if it is.
    pub fn resume(&self) -> Option<Resume> {
        self.info.resume()
    }

    /// A future that completes after `duration`, on the adapter's timer (whatever the
    /// executor). A blocking task can `.wait()` on it.
    pub fn sleep(&self, duration: std::time::Duration) -> crate::runtime::BoxFuture<'static, ()> {
        self.client.runtime().sleep(duration)
    }
}

/// The context reads as its client: `ctx.get_variable("k")` is `ctx.client().get_variable("k")`.
impl<R: Runtime> std::ops::Deref for TaskContext<R> {
    type Target = Client<R>;

    fn deref(&self) -> &Client<R> {
        &self.client
    }
}

impl<R: Runtime> std::fmt::Debug for TaskContext<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("dag_id", &self.info.dag_id())
            .field("task_id", &self.info.task_id())
            .field("run_id", &self.info.run_id())
            .field("try_number", &self.info.try_number())
            .field("map_index", &self.info.map_index())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Counter(Arc<AtomicUsize>);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_cancelled_future_keeps_one_waker_however_often_it_is_polled() {
        // A new waker on every poll, which `will_wake` cannot match with the last one (as
        // with tokio's `block_on` waker and its clones).
        let wakes = Arc::new(AtomicUsize::new(0));
        let poll = |future: &mut Pin<Box<Cancelled>>| {
            let waker = Waker::from(Arc::new(Counter(wakes.clone())));
            future.as_mut().poll(&mut Context::from_waker(&waker))
        };
        let cancellation = Cancellation::new();
        let mut first = Box::pin(cancellation.cancelled());
        let mut second = Box::pin(cancellation.cancelled());
        for _ in 0..1000 {
            assert!(poll(&mut first).is_pending());
            assert!(poll(&mut second).is_pending());
        }
        let entries = || cancellation.inner.wakers.lock().unwrap().entries.len();
        assert_eq!(entries(), 2);
        drop(second);
        assert_eq!(entries(), 1);
        cancellation.cancel();
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        assert!(poll(&mut first).is_ready());
        assert_eq!(entries(), 0);
    }
}
