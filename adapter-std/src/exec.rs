//! Just enough of an executor for a blocking adapter: `block_on`, a one-shot result slot
//! filled by another thread, and a timer thread.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the current thread, parking while it is pending.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::park();
    }
}

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
        assert_eq!(block_on(slot), 42);
        block_on(sleep(Duration::from_millis(1)));
    }
}
