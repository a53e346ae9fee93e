//! Waiting for a future on the current thread, for code that is not async: a blocking task
//! in an async adapter, or the blocking adapter itself.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the current thread, parking while it is pending. The
/// client's futures need no particular executor, so this works for them anywhere except
/// inside an executor's own worker thread (it would block that thread).
pub fn block_on<F: Future>(future: F) -> F::Output {
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

/// `.wait()` on a future: [`block_on`] it. For client calls in plain (blocking) task
/// functions of the async adapters: `ctx.get_variable("k").wait()?`.
pub trait Wait: Future + Sized {
    /// Blocks the current thread until the future completes.
    fn wait(self) -> Self::Output {
        block_on(self)
    }
}

impl<F: Future> Wait for F {}
