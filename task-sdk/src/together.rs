//! A connection's driver and the task that uses it, polled as one future.
//!
//! An async adapter could run the driver and the task as two tasks of its executor. Each
//! answer would then cost two task polls: the reactor wakes the driver, which reads the
//! answer and wakes the task, which the executor polls next. [`Together`] polls both inside
//! one task and gives each its own waker, so that a wake reaches the branch that asked for
//! it: when the reactor wakes the driver and the driver wakes the task, the task is polled in
//! the same poll, and a branch nobody woke is not polled at all.
//!
//! The driver keeps its own wakers (socket readiness, its timer), so it runs whenever the
//! executor polls this future, whatever the task does with its requests. What it cannot do
//! is run while the task blocks the thread inside a poll, as two tasks on one thread could
//! not either.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

/// How many times one poll goes round both branches while they keep waking each other,
/// before it yields to the executor (and asks to be polled again).
const MAX_ROUNDS: usize = 32;

/// Polls `driver` and `task` in one task, each with its own waker, until the task ends; the
/// output is the task's. A driver that ends first is not polled again.
pub struct Together<D, T> {
    driver: Option<D>,
    task: T,
    outer: Arc<Outer>,
    /// A clone of the waker in `outer`, compared without the lock.
    outer_waker: Option<Waker>,
    driver_wake: Branch,
    task_wake: Branch,
}

/// What the branches' wakers share: the waker of the task that polls [`Together`].
struct Outer {
    /// Set while [`Together`] polls its branches: a wake then only marks its branch, which
    /// is polled before the poll ends.
    polling: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// One branch's wake flag, and the waker that sets it.
struct Branch {
    flag: Arc<BranchFlag>,
    waker: Waker,
}

struct BranchFlag {
    woken: AtomicBool,
    outer: Arc<Outer>,
}

impl Wake for BranchFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Marked before `polling` is read, and `Together` clears `polling` before it reads
        // the marks (all sequentially consistent): either this wake sees the poll still
        // running, and that poll sees the mark, or it wakes the outer task.
        self.woken.store(true, SeqCst);
        if !self.outer.polling.load(SeqCst) {
            let waker = self
                .outer
                .waker
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(waker) = waker.as_ref() {
                waker.wake_by_ref();
            }
        }
    }
}

impl Branch {
    fn new(outer: &Arc<Outer>) -> Self {
        let flag = Arc::new(BranchFlag {
            // Both branches are polled on the first poll.
            woken: AtomicBool::new(true),
            outer: outer.clone(),
        });
        Self {
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    fn take_wake(&self) -> bool {
        // A wake between the load and the store is not lost: the branch is polled after it.
        // Checked first so that a branch nobody woke costs no locked instruction.
        self.flag.woken.load(SeqCst) && {
            self.flag.woken.store(false, SeqCst);
            true
        }
    }

    fn is_woken(&self) -> bool {
        self.flag.woken.load(SeqCst)
    }
}

impl<D, T> Together<D, T>
where
    D: Future<Output = ()> + Unpin,
    T: Future + Unpin,
{
    /// Polls `driver` and `task` together (pin them, in a `Box` or on the stack, to pass
    /// futures that are not `Unpin`).
    pub fn new(driver: D, task: T) -> Self {
        let outer = Arc::new(Outer {
            polling: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        Self {
            driver: Some(driver),
            task,
            driver_wake: Branch::new(&outer),
            task_wake: Branch::new(&outer),
            outer,
            outer_waker: None,
        }
    }
}

impl<D, T> std::fmt::Debug for Together<D, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Together")
            .field("driver_running", &self.driver.is_some())
            .finish_non_exhaustive()
    }
}

impl<D, T> Future for Together<D, T>
where
    D: Future<Output = ()> + Unpin,
    T: Future + Unpin,
{
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        if !this
            .outer_waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            this.outer_waker = Some(cx.waker().clone());
            *this
                .outer
                .waker
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
        }
        for _ in 0..MAX_ROUNDS {
            this.outer.polling.store(true, SeqCst);
            // The driver first: what it reads is what the task waits for.
            if this.driver_wake.take_wake() {
                if let Some(driver) = this.driver.as_mut() {
                    let mut driver_cx = Context::from_waker(&this.driver_wake.waker);
                    if Pin::new(driver).poll(&mut driver_cx).is_ready() {
                        this.driver = None;
                    }
                }
            }
            if this.task_wake.take_wake() {
                let mut task_cx = Context::from_waker(&this.task_wake.waker);
                if let Poll::Ready(output) = Pin::new(&mut this.task).poll(&mut task_cx) {
                    this.outer.polling.store(false, SeqCst);
                    return Poll::Ready(output);
                }
                // Woken while it was polled: most likely by itself, to yield (a task that
                // yields wakes itself and returns). Polling it again here would defeat that.
                if this.task_wake.is_woken() {
                    break;
                }
            }
            this.outer.polling.store(false, SeqCst);
            if !this.driver_wake.is_woken() && !this.task_wake.is_woken() {
                return Poll::Pending;
            }
        }
        // The task yields, or the branches still wake each other (or an executor's budget ran
        // out): let other tasks run first.
        this.outer.polling.store(false, SeqCst);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the wakes of the task that polls `Together`.
    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    /// A branch: counts its polls, keeps the waker of the last, on each poll wakes whatever
    /// it was told to, and ends when told.
    #[derive(Default)]
    struct Probe {
        polls: AtomicUsize,
        waker: Mutex<Option<Waker>>,
        wake_on_poll: Mutex<Option<Waker>>,
        wakes_left: AtomicUsize,
        done: AtomicBool,
        /// Runs on the next poll.
        during_poll: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    }

    impl Probe {
        fn polls(&self) -> usize {
            self.polls.load(SeqCst)
        }

        fn waker(&self) -> Waker {
            self.waker.lock().unwrap().clone().expect("polled")
        }

        /// On each of its next `times` polls, wakes `waker`.
        fn wake_when_polled(&self, waker: Waker, times: usize) {
            *self.wake_on_poll.lock().unwrap() = Some(waker);
            self.wakes_left.store(times, SeqCst);
        }
    }

    struct Polled(Arc<Probe>);

    impl Future for Polled {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let probe = &self.0;
            probe.polls.fetch_add(1, SeqCst);
            *probe.waker.lock().unwrap() = Some(cx.waker().clone());
            if probe.wakes_left.load(SeqCst) > 0 {
                probe.wakes_left.fetch_sub(1, SeqCst);
                if let Some(waker) = probe.wake_on_poll.lock().unwrap().as_ref() {
                    waker.wake_by_ref();
                }
            }
            let during_poll = probe.during_poll.lock().unwrap().take();
            if let Some(during_poll) = during_poll {
                during_poll();
            }
            if probe.done.load(SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    struct Setup {
        driver: Arc<Probe>,
        task: Arc<Probe>,
        together: Together<Polled, Polled>,
        outer: Arc<CountWakes>,
        outer_waker: Waker,
    }

    impl Setup {
        fn new() -> Self {
            let (driver, task) = (Arc::new(Probe::default()), Arc::new(Probe::default()));
            let outer = Arc::new(CountWakes(AtomicUsize::new(0)));
            Self {
                together: Together::new(Polled(driver.clone()), Polled(task.clone())),
                driver,
                task,
                outer_waker: Waker::from(outer.clone()),
                outer,
            }
        }

        fn poll(&mut self) -> Poll<()> {
            let mut cx = Context::from_waker(&self.outer_waker);
            Pin::new(&mut self.together).poll(&mut cx)
        }

        fn outer_wakes(&self) -> usize {
            self.outer.0.load(SeqCst)
        }

        /// How often the driver and the task were polled.
        fn polls(&self) -> (usize, usize) {
            (self.driver.polls(), self.task.polls())
        }
    }

    #[test]
    fn only_a_woken_branch_is_polled_and_a_wake_from_outside_wakes_the_outer_task() {
        let mut s = Setup::new();
        assert!(s.poll().is_pending());
        assert_eq!(s.polls(), (1, 1), "both on the first poll");
        assert!(
            !s.driver.waker().will_wake(&s.task.waker()),
            "one waker per branch"
        );
        assert!(s.poll().is_pending());
        assert_eq!(s.polls(), (1, 1), "nobody was woken");

        // The reactor wakes the driver, outside any poll.
        s.driver.waker().wake();
        assert_eq!(s.outer_wakes(), 1);
        assert!(s.poll().is_pending());
        assert_eq!(s.polls(), (2, 1), "only the driver");

        s.task.waker().wake_by_ref();
        assert_eq!(s.outer_wakes(), 2);
        assert!(s.poll().is_pending());
        assert_eq!(s.polls(), (2, 2), "only the task");
    }

    #[test]
    fn an_answer_routed_by_the_driver_reaches_the_task_in_the_same_poll() {
        let mut s = Setup::new();
        assert!(s.poll().is_pending());
        s.driver.wake_when_polled(s.task.waker(), 1);
        s.driver.waker().wake();
        let wakes = s.outer_wakes();
        assert!(s.poll().is_pending());
        assert_eq!(s.polls(), (2, 2));
        assert_eq!(
            s.outer_wakes(),
            wakes,
            "a wake inside the poll reschedules nothing"
        );
        // And the task ends in that same poll when its answer was all it waited for.
        s.task.done.store(true, SeqCst);
        s.driver.wake_when_polled(s.task.waker(), 1);
        s.driver.waker().wake();
        assert!(s.poll().is_ready());
    }

    #[test]
    fn work_the_task_leaves_the_driver_is_done_in_the_same_poll() {
        let mut s = Setup::new();
        assert!(s.poll().is_pending());
        s.task.wake_when_polled(s.driver.waker(), 1);
        s.task.waker().wake();
        let wakes = s.outer_wakes();
        assert!(s.poll().is_pending());
        assert_eq!(s.polls(), (2, 2), "a second round for the driver");
        assert_eq!(s.outer_wakes(), wakes);
    }

    #[test]
    fn branches_that_keep_waking_each_other_yield_to_the_executor() {
        let mut s = Setup::new();
        assert!(s.poll().is_pending());
        s.driver.wake_when_polled(s.task.waker(), usize::MAX);
        s.task.wake_when_polled(s.driver.waker(), usize::MAX);
        s.driver.waker().wake();
        let wakes = s.outer_wakes();
        assert!(s.poll().is_pending(), "the poll ends");
        assert_eq!(s.driver.polls(), 1 + MAX_ROUNDS);
        assert_eq!(s.outer_wakes(), wakes + 1, "and asks to be polled again");
    }

    #[test]
    fn a_task_that_wakes_itself_yields_to_the_executor() {
        let mut s = Setup::new();
        assert!(s.poll().is_pending());
        s.task.wake_when_polled(s.task.waker(), 1);
        s.task.waker().wake();
        let wakes = s.outer_wakes();
        assert!(s.poll().is_pending());
        assert_eq!(
            s.polls(),
            (1, 2),
            "the task is not polled again in that poll"
        );
        assert_eq!(s.outer_wakes(), wakes + 1, "but asks to be polled again");
        assert!(s.poll().is_pending());
        assert_eq!(s.polls(), (1, 3), "and is, in the next");
    }

    #[test]
    fn a_driver_that_ends_is_not_polled_again_and_the_task_goes_on() {
        let mut s = Setup::new();
        s.driver.done.store(true, SeqCst);
        assert!(s.poll().is_pending());
        assert_eq!(s.driver.polls(), 1);
        s.driver.waker().wake();
        s.task.waker().wake();
        assert!(s.poll().is_pending());
        assert_eq!(s.polls(), (1, 2));
        s.task.done.store(true, SeqCst);
        s.task.waker().wake();
        assert!(s.poll().is_ready());
    }

    #[test]
    fn a_wake_from_another_thread_during_a_poll_is_not_lost() {
        let mut s = Setup::new();
        assert!(s.poll().is_pending());
        // The task's next poll has another thread wake it, and waits for that wake: it lands
        // after the poll took the task's mark and before the poll ends.
        let task_waker = s.task.waker();
        *s.task.during_poll.lock().unwrap() = Some(Box::new(move || {
            let waker = task_waker.clone();
            std::thread::spawn(move || waker.wake()).join().unwrap();
        }));
        s.task.waker().wake();
        let (polls, wakes) = (s.task.polls(), s.outer_wakes());
        assert!(s.poll().is_pending());
        assert!(
            s.task.polls() > polls + 1 || s.outer_wakes() > wakes,
            "the wake neither re-polled the task nor woke the outer task"
        );
    }
}
