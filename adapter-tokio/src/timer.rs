//! The driver's one timer for the session's deadlines.
//!
//! On Linux it is a `timerfd` watched by tokio's reactor, not a tokio timer: while any tokio
//! timer is armed, every park of the runtime scans the timer wheel, reads the clock twice and
//! sleeps in `epoll_wait` with a timeout, which the kernel arms and cancels each time. A
//! request's deadline is armed for the whole round trip, so that cost came with every answer;
//! a `timerfd` costs a system call only when the deadline moves, which a steady run never
//! does. Elsewhere it is a tokio timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Fires once at the instant last [`set`](Self::set).
pub(crate) struct DeadlineTimer {
    clock: Clock,
    /// Where it is set, until it fires.
    at: Option<Instant>,
    /// The waker it was last polled with since it was set: until polled under another, the
    /// reactor wakes that one when it fires, and polls in between only read the clock.
    polled_with: Option<Waker>,
}

impl DeadlineTimer {
    pub(crate) fn new() -> Self {
        Self {
            clock: Clock::new(),
            at: None,
            polled_with: None,
        }
    }

    /// Sets it to fire at `at` (at once if `at` has passed), replacing the instant set
    /// before.
    pub(crate) fn set(&mut self, at: Instant) {
        self.clock.arm(at);
        self.at = Some(at);
        self.polled_with = None;
    }

    /// Ready once the instant set has come (and then not again until set anew).
    pub(crate) fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(at) = self.at else {
            return Poll::Pending;
        };
        if Instant::now() >= at {
            self.at = None;
            return Poll::Ready(());
        }
        if !self
            .polled_with
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            self.polled_with = Some(cx.waker().clone());
            self.clock.register(cx);
        }
        Poll::Pending
    }
}

/// What tells the reactor the time has come.
enum Clock {
    #[cfg(target_os = "linux")]
    TimerFd(linux::TimerFd),
    /// A tokio timer: elsewhere, or where no `timerfd` could be had (out of descriptors).
    Sleep(Pin<Box<tokio::time::Sleep>>),
}

impl Clock {
    fn new() -> Self {
        #[cfg(target_os = "linux")]
        match linux::TimerFd::new() {
            Ok(fd) => return Self::TimerFd(fd),
            Err(e) => {
                tracing::debug!(target: "airflow.sdk", "no timerfd ({e}); using a tokio timer")
            }
        }
        Self::Sleep(Box::pin(tokio::time::sleep(Duration::ZERO)))
    }

    fn arm(&mut self, at: Instant) {
        match self {
            #[cfg(target_os = "linux")]
            Self::TimerFd(fd) => {
                if let Err(e) = fd.arm(at) {
                    tracing::debug!(target: "airflow.sdk", "timerfd failed ({e}); using a tokio timer");
                    *self = Self::Sleep(Box::pin(tokio::time::sleep_until(at.into())));
                }
            }
            Self::Sleep(sleep) => sleep.as_mut().reset(at.into()),
        }
    }

    fn register(&mut self, cx: &mut Context<'_>) {
        match self {
            #[cfg(target_os = "linux")]
            Self::TimerFd(fd) => fd.register(cx),
            Self::Sleep(sleep) => {
                // Ready or not, `poll_fired` goes by the clock.
                let _ = sleep.as_mut().poll(cx);
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::task::{Context, Poll};
    use std::time::Instant;

    use rustix::fd::OwnedFd;
    use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};
    use tokio::io::unix::AsyncFd;

    /// A monotonic `timerfd` (the clock `Instant` reads on Linux) in tokio's reactor.
    pub(super) struct TimerFd(AsyncFd<OwnedFd>);

    impl TimerFd {
        pub(super) fn new() -> io::Result<Self> {
            let fd = rustix::time::timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )?;
            // `AsyncFd::new` is deprecated because the descriptor of a borrowed `AsRawFd` could
            // be closed while the reactor watches it; an `OwnedFd` moved into the `AsyncFd`
            // cannot, so this use is sound (and works with every tokio 1.x).
            #[allow(deprecated)]
            Ok(Self(AsyncFd::new(fd)?))
        }

        pub(super) fn arm(&mut self, at: Instant) -> io::Result<()> {
            let wait = at.saturating_duration_since(Instant::now());
            // A zero value disarms a timerfd: one nanosecond fires at once instead.
            let value = Timespec {
                tv_sec: wait.as_secs().try_into().unwrap_or(i64::MAX),
                tv_nsec: wait.subsec_nanos().max(u32::from(wait.is_zero())).into(),
            };
            let spec = Itimerspec {
                it_interval: Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: value,
            };
            rustix::time::timerfd_settime(self.0.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
            Ok(())
        }

        /// Asks the reactor to wake `cx` when the timer fires. Readiness left from an
        /// earlier setting is cleared first (arming anew resets the expiry count, so the
        /// read finds nothing).
        pub(super) fn register(&mut self, cx: &mut Context<'_>) {
            while let Poll::Ready(Ok(mut ready)) = self.0.poll_read_ready(cx) {
                let mut expirations = [0u8; 8];
                match rustix::io::read(self.0.get_ref(), &mut expirations) {
                    Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
                    // Fired for the current setting between `poll_fired`'s look at the clock
                    // and here, or failed (not expected from a timerfd; the reactor keeps it
                    // ready): poll again, and the clock decides.
                    _ => {
                        cx.waker().wake_by_ref();
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn fired(timer: &mut DeadlineTimer) {
        std::future::poll_fn(|cx| timer.poll_fired(cx)).await;
    }

    /// Whether `timer` fires within `within`.
    async fn fires_within(timer: &mut DeadlineTimer, within: Duration) -> bool {
        tokio::time::timeout(within, fired(timer)).await.is_ok()
    }

    #[tokio::test]
    async fn fires_at_the_instant_set_and_only_once() {
        let mut timer = DeadlineTimer::new();
        assert!(
            !fires_within(&mut timer, Duration::from_millis(20)).await,
            "never set"
        );
        let start = Instant::now();
        timer.set(start + Duration::from_millis(60));
        assert!(fires_within(&mut timer, Duration::from_secs(5)).await);
        assert!(start.elapsed() >= Duration::from_millis(60), "fired early");
        assert!(
            !fires_within(&mut timer, Duration::from_millis(50)).await,
            "fired twice for one setting"
        );
    }

    #[tokio::test]
    async fn a_new_setting_replaces_the_old_one_either_way() {
        let mut timer = DeadlineTimer::new();
        let start = Instant::now();
        timer.set(start + Duration::from_secs(60));
        assert!(!fires_within(&mut timer, Duration::from_millis(20)).await);
        // Earlier: fires then, not in a minute.
        timer.set(start + Duration::from_millis(80));
        assert!(fires_within(&mut timer, Duration::from_secs(5)).await);
        assert!(start.elapsed() >= Duration::from_millis(80));
        // Later than a setting that has not fired: the earlier one no longer counts.
        let start = Instant::now();
        timer.set(start + Duration::from_millis(30));
        timer.set(start + Duration::from_millis(150));
        assert!(fires_within(&mut timer, Duration::from_secs(5)).await);
        assert!(
            start.elapsed() >= Duration::from_millis(150),
            "the replaced setting fired"
        );
    }

    #[tokio::test]
    async fn an_instant_passed_fires_at_once_and_leaves_nothing_behind() {
        let mut timer = DeadlineTimer::new();
        timer.set(Instant::now() - Duration::from_millis(5));
        assert!(fires_within(&mut timer, Duration::from_millis(500)).await);
        timer.set(Instant::now());
        // Let the clock expire while no one polls, so that the reactor holds its readiness.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(fires_within(&mut timer, Duration::from_millis(500)).await);
        // That readiness must not fire the next setting early.
        let start = Instant::now();
        timer.set(start + Duration::from_millis(100));
        assert!(fires_within(&mut timer, Duration::from_secs(5)).await);
        assert!(start.elapsed() >= Duration::from_millis(100), "fired early");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn on_linux_it_is_a_timerfd() {
        let timer = DeadlineTimer::new();
        assert!(matches!(timer.clock, Clock::TimerFd(_)));
    }
}
