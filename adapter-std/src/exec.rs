//! Just enough of an executor for a blocking adapter: a one-shot result slot filled by
//! another thread, a timer thread, and a thread for each blocking task.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

struct SlotState<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

/// The sending half of a one-shot slot.
pub(crate) struct Filler<T>(Arc<Mutex<SlotState<T>>>);

/// A future of the value another thread puts in a one-shot slot.
pub(crate) struct Slot<T>(Arc<Mutex<SlotState<T>>>);

/// A one-shot slot: one side fills it from any thread, the other awaits it.
pub(crate) fn slot<T>() -> (Filler<T>, Slot<T>) {
    let state = Arc::new(Mutex::new(SlotState {
        value: None,
        waker: None,
    }));
    (Filler(state.clone()), Slot(state))
}

impl<T> Filler<T> {
    pub(crate) fn fill(self, value: T) {
        let waker = {
            let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
            state.value = Some(value);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Slot<T> {
    type Output = T;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match state.value.take() {
            Some(value) => Poll::Ready(value),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

// Work and the slot for its result, taken by whichever thread runs it.
type Job<T> = Mutex<Option<(Box<dyn FnOnce() -> T + Send>, Filler<T>)>>;

/// Runs `work` on its own thread; the future resolves to its result. The task thread is
/// named so panics and debuggers show it.
pub(crate) fn spawn_thread<T: Send + 'static>(
    work: Box<dyn FnOnce() -> T + Send>,
) -> impl Future<Output = T> + Send {
    let (filler, slot) = slot();
    let job = Arc::new(Mutex::new(Some((work, filler))));
    let for_thread = job.clone();
    let run = |job: &Job<T>| {
        let taken = job.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((work, filler)) = taken {
            filler.fill(work());
        }
    };
    let spawned = std::thread::Builder::new()
        .name("airflow-task".into())
        .spawn(move || run(&for_thread));
    if let Err(e) = spawned {
        // No thread to be had: run the work here rather than lose it.
        tracing::warn!(target: "airflow.sdk", "no thread for the task ({e}); running it inline");
        run(&job);
    }
    slot
}

/// A future completing after `duration`, timed by a short-lived thread.
pub(crate) fn sleep(duration: Duration) -> Slot<()> {
    let (filler, slot) = slot();
    std::thread::spawn(move || {
        std::thread::sleep(duration);
        filler.fill(());
    });
    slot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_filled_by_another_thread_completes_block_on() {
        let (filler, slot) = slot();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            filler.fill(42);
        });
        assert_eq!(airflow_task_sdk::block_on(slot), 42);
        airflow_task_sdk::block_on(sleep(Duration::from_millis(1)));
        assert_eq!(airflow_task_sdk::block_on(spawn_thread(Box::new(|| 7))), 7);
    }
}
