//! What the async adapters share around the core's session: routing requests from any task
//! to the connection's driver and each answer back to its caller, by id.
//!
//! An async adapter runs one driver future that owns the socket's reading side and a
//! [`Dispatcher`], and waits for whichever comes first: bytes from the socket, requests from
//! callers ([`Dispatcher::poll_requests`]), or the session's next deadline. Every protocol
//! decision stays in the core session; this module only keeps each caller's place for its
//! answer.
//!
//! Callers and the driver share one small table behind a mutex: the session, requests not yet
//! taken by the driver, and one slot per request awaiting its answer, each with the waker of
//! whoever waits. A round trip allocates nothing here and locks it a few times, uncontended on
//! a single-threaded executor; it works under any executor.
//!
//! Requests reach the socket in one of two ways:
//!
//! * **through the driver** ([`Dispatcher::new`]): a caller queues its request and wakes the
//!   driver, which takes every queued request into the session and writes them out together;
//! * **written by their callers** ([`Dispatcher::with_direct_writes`]): a caller whose
//!   request is alone (no other in flight, no answer waiting to be collected, and no more
//!   than one answer in the last read: requests going one at a time) encodes it into
//!   the session and writes it to the socket itself, with a write that never waits, in the
//!   same poll. The driver is woken only when that write could not take every byte, or when
//!   the session's next deadline is earlier than the driver's timer. This saves a turn of the
//!   driver per request when requests go one at a time; otherwise a request is queued as
//!   above, so that a caller sending a burst still gets one write for all of it. The driver
//!   must then keep reading for as long as the connection is open, since no caller tells it
//!   that an answer is owed.
//!
//! A caller that wrote its request itself may also **read its answer at once**
//! ([`Dispatcher::with_direct_io`]), in the same poll, right after the write: a read that
//! never waits and, if it finds nothing, another one after handing the CPU over once
//! (`sched_yield`). When the supervisor shares the CPU, the request's wake-up makes it
//! runnable there, and it answers in that hand-over as it would while a blocking read waited:
//! the request completes in the poll that sent it, without the driver, the reactor or a
//! wake-up. When both reads find nothing (a supervisor on another CPU, or a slow one), or
//! the caller skipped them (below), it wakes the driver, which reads only while an answer is
//! owed (so that a read registered with a reactor does not fire, after the fact, for answers
//! callers took), and waits as before. Callers then read ahead less often: after `n` misses in a row, the next
//! `2ⁿ − 1` requests (at most 63) skip it, so that a supervisor that never answers that fast
//! costs two failed reads and a yield in 64 requests. After 32 requests in a row complete in
//! the poll that sent them, the caller yields to its executor once: the 32nd answer is kept
//! for its next poll, which its own wake asks for, so that a task that only makes requests
//! still lets others run.
//!
//! Either way the driver alone waits: a caller that stops polling its request holds back no
//! one else's answer or deadline. Every read of the socket, a caller's or the driver's
//! ([`Dispatcher::poll_receive`]), is made with the table locked, so that the bytes reach the
//! session in the order they came.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use airflow_protocol::messages::StartupDetails;
use airflow_protocol::{
    CloseReason, Event, LocalError, Reply, ReplyError, SessionConfig, SessionState, TaskSession,
    ToSupervisor,
};

use crate::runtime::ExchangeError;

type Answer = Result<Reply, ExchangeError>;

/// `StartupDetails`, or why the connection ended before it came.
type StartupResult = Result<Box<StartupDetails>, String>;
type StartupSender = async_channel::Sender<StartupResult>;

/// A write to the comm socket that never waits: the count of bytes taken, or
/// [`io::ErrorKind::WouldBlock`] when the socket's buffer is full (a non-blocking socket's
/// `write`).
pub type DirectWrite = Box<dyn Fn(&[u8]) -> io::Result<usize> + Send + Sync>;

/// A read from the comm socket that never waits: the count of bytes read, 0 at the end of
/// the stream, or [`io::ErrorKind::WouldBlock`] when there is nothing to read (a non-blocking
/// socket's `read`).
pub type DirectRead = Box<dyn Fn(&mut [u8]) -> io::Result<usize> + Send + Sync>;

/// The size of the table's read buffer, which the driver's reads and the callers' share.
const READ_BUFFER: usize = 64 * 1024;

/// Requests in a row that may complete in the poll that sent them (see the module docs).
const MAX_READ_AHEAD_STREAK: u32 = 32;

/// After this many failed reads ahead in a row, a caller reads ahead once in `2^n` requests.
const MAX_READ_AHEAD_BACKOFF: u32 = 6;

/// The callers' side: sends requests to the driver. Cheap to clone.
pub struct Requester {
    shared: Arc<Shared>,
}

impl Clone for Requester {
    fn clone(&self) -> Self {
        self.shared.add_requester();
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Requester {
    fn drop(&mut self) {
        self.shared.release_requester();
    }
}

impl std::fmt::Debug for Requester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Requester")
    }
}

impl Requester {
    /// Sends `body` and resolves to its answer. The session bounds the wait by `timeout`, so
    /// this always resolves. Nothing is sent until it is first polled; dropped after that,
    /// its answer is discarded when it comes.
    pub fn exchange(&self, body: Box<ToSupervisor>, timeout: Duration) -> Exchange {
        // An exchange in flight keeps the driver running, as its requester would.
        self.shared.add_requester();
        Exchange {
            shared: self.shared.clone(),
            step: Step::Unsent(body, timeout),
        }
    }
}

/// What callers and the driver share.
struct Shared {
    table: Mutex<Table>,
    /// Set (under the lock) by whoever takes the driver's waker to wake it: until then, the
    /// driver, its waker in the table, knows without locking that it has nothing to do.
    driver_signalled: AtomicBool,
    /// Requesters and exchanges alive; the driver stops at zero. Counted outside the table:
    /// every call clones a requester and makes an exchange, and drops both.
    requesters: AtomicUsize,
    /// Set when callers write their own requests ([`Dispatcher::with_direct_writes`]).
    direct: Option<DirectWrite>,
    /// Set when callers also read their answers at once ([`Dispatcher::with_direct_io`]).
    read_ahead: Option<DirectRead>,
    /// The session closed: the driver stops reading. Set with the table locked.
    closed: AtomicBool,
}

struct Table {
    session: TaskSession,
    /// The ticket of each request id in flight, in id order: the session numbers requests
    /// upwards, and answers mostly come in order, so the one sought is mostly the first.
    tickets: VecDeque<(u64, usize)>,
    /// Where the driver's timer is set, if it is.
    timer_at: Option<Instant>,
    /// Requests the driver has not taken yet.
    queue: Vec<Queued>,
    /// A caller's direct write left the driver work: bytes to write, or its timer to move.
    driver_needed: bool,
    /// The driver, waiting for requests.
    driver: Option<Waker>,
    /// The driver is gone: nothing more is sent.
    driver_gone: bool,
    /// One per request taken and not yet answered, indexed by ticket.
    slots: Vec<Slot>,
    /// Answers in their slots that their callers have not collected yet: while there are
    /// any, a caller is likely in the middle of a burst of requests.
    uncollected: usize,
    /// How many answers the last read brought: more than one means requests are pipelined.
    last_read_answers: usize,
    /// Tickets free for reuse.
    free: Vec<usize>,
    /// Where the socket is read into, by the driver or by a caller reading ahead; allocated at
    /// the first read.
    read_buf: Vec<u8>,
    /// When callers read ahead.
    read_ahead: ReadAhead,
    /// Where `StartupDetails`, or why the connection ended before it came, goes.
    startup: Option<StartupSender>,
}

/// When a caller that wrote its request reads its answer at once (see the module docs).
#[derive(Default)]
struct ReadAhead {
    /// Requests in a row that completed in the poll that sent them.
    streak: u32,
    /// Failed reads ahead in a row.
    misses: u32,
    /// Requests to send before the next read ahead.
    skip: u32,
}

impl ReadAhead {
    fn should_try(&mut self) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        true
    }

    /// Counts a request answered by its read ahead; true when its caller should now yield
    /// to its executor (see the module docs).
    fn hit(&mut self) -> bool {
        self.misses = 0;
        self.streak += 1;
        if self.streak >= MAX_READ_AHEAD_STREAK {
            self.streak = 0;
            return true;
        }
        false
    }

    fn miss(&mut self) {
        self.streak = 0;
        self.misses = (self.misses + 1).min(MAX_READ_AHEAD_BACKOFF);
        self.skip = (1 << self.misses) - 1;
    }
}

struct Queued {
    body: Box<ToSupervisor>,
    timeout: Duration,
    ticket: usize,
}

// Answers are large, but slots are reused: boxing them would allocate per round trip.
#[allow(clippy::large_enum_variant)]
enum Slot {
    Free,
    /// Sent or queued; the caller's waker, once it polled.
    Waiting(Option<Waker>),
    Answered(Answer),
    /// The caller gave up; the slot is freed when its answer comes.
    Abandoned,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table stays consistent across a panic elsewhere: every update is one step.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the driver's waker, to wake it once the table is unlocked.
    fn signal_driver(&self, table: &mut Table) -> Option<Waker> {
        self.driver_signalled.store(true, Ordering::Release);
        table.driver.take()
    }

    fn add_requester(&self) {
        // Only a live requester or exchange adds one, so the count is never zero here.
        self.requesters.fetch_add(1, Ordering::Relaxed);
    }

    fn release_requester(&self) {
        // The last one out tells the driver, under the lock, so that a driver checking the
        // count under the lock either sees zero or has left its waker to be taken here.
        if self.requesters.fetch_sub(1, Ordering::AcqRel) == 1 {
            let driver = self.signal_driver(&mut self.lock());
            if let Some(driver) = driver {
                driver.wake();
            }
        }
    }
}

impl Table {
    fn take_slot(&mut self, slot: Slot) -> usize {
        match self.free.pop() {
            Some(ticket) => {
                self.slots[ticket] = slot;
                ticket
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        }
    }

    fn free_slot(&mut self, ticket: usize) {
        self.slots[ticket] = Slot::Free;
        self.free.push(ticket);
    }

    /// Gives `answer` to the caller waiting on `ticket`; returns its waker.
    fn answer(&mut self, ticket: usize, answer: Answer) -> Option<Waker> {
        match std::mem::replace(&mut self.slots[ticket], Slot::Free) {
            Slot::Waiting(waker) => {
                self.slots[ticket] = Slot::Answered(answer);
                self.uncollected += 1;
                waker
            }
            Slot::Abandoned => {
                self.free.push(ticket);
                None
            }
            // A ticket is answered once; keep whatever is there.
            other => {
                self.slots[ticket] = other;
                None
            }
        }
    }

    /// Writes what the session has to send with `write` until all is written or the write
    /// would wait. A failed write ends the session as an end of stream does, and the bytes
    /// that can no longer be sent are dropped, so no one retries them.
    fn write_out(&mut self, mut write: impl FnMut(&[u8]) -> Poll<io::Result<usize>>) -> Poll<()> {
        while !self.session.transmit().is_empty() {
            match write(self.session.transmit()) {
                Poll::Ready(Ok(n)) if n > 0 => self.session.advance_transmit(n),
                Poll::Ready(_) => {
                    self.session.handle_eof(Instant::now());
                    let unsent = self.session.transmit().len();
                    self.session.advance_transmit(unsent);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(())
    }

    /// Routes the session's events: each answer into its caller's slot (and the caller's
    /// waker into `wake`), `StartupDetails` to the run. Sets `closed` if the session closed.
    /// What must wait until the table is unlocked is left in the returned [`Routed`].
    fn route(&mut self, closed: &AtomicBool, wake: &mut Vec<Waker>) -> Routed {
        let mut startup = None;
        let mut violation = None;
        let mut answers = 0;
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Startup(details) => startup = Some(Ok(details)),
                Event::Reply { id, result } => {
                    answers += 1;
                    if let Some(ticket) = take_ticket(&mut self.tickets, id.0) {
                        let answer = result.map_err(ExchangeError::Remote);
                        wake.extend(self.answer(ticket, answer));
                    }
                }
                Event::Closed(reason) => {
                    closed.store(true, Ordering::Release);
                    if let CloseReason::Violation(v) = &reason {
                        violation = Some(v.to_string());
                    }
                    startup.get_or_insert(Err(reason.to_string()));
                }
            }
        }
        if answers > 0 {
            self.last_read_answers = answers;
        }
        Routed {
            startup: startup.and_then(|details| Some((self.startup.take()?, details))),
            violation,
        }
    }

    /// Reads what the socket has with `read` (`Poll::Pending` when it has nothing) into the
    /// session: `Ready(true)` if the stream ended (or the read failed, which ends it too).
    fn receive(&mut self, read: impl FnOnce(&mut [u8]) -> Poll<io::Result<usize>>) -> Poll<bool> {
        if self.read_buf.is_empty() {
            self.read_buf = vec![0; READ_BUFFER];
        }
        let result = read(&mut self.read_buf);
        let now = Instant::now();
        match result {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(n)) if n > 0 => {
                self.session.handle_input(&self.read_buf[..n], now);
                Poll::Ready(false)
            }
            Poll::Ready(_) => {
                self.session.handle_eof(now);
                Poll::Ready(true)
            }
        }
    }
}

/// What routing the session's events leaves for after the table is unlocked.
#[must_use]
struct Routed {
    startup: Option<(StartupSender, StartupResult)>,
    violation: Option<String>,
}

impl Routed {
    fn finish(self) {
        if let Some(violation) = self.violation {
            tracing::error!(target: "airflow.sdk", "{violation}");
        }
        if let Some((tx, details)) = self.startup {
            let _ = tx.try_send(details);
        }
    }
}

/// A caller's read ahead: the socket's bytes, or, if it has none yet, one more read after
/// handing the CPU to whatever else waits for it. The supervisor, woken by the request, may
/// wait for this CPU: a blocking read would hand it over the same way.
fn read_ahead(read: &DirectRead, buf: &mut [u8]) -> Poll<io::Result<usize>> {
    for attempt in 0..2 {
        match read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if attempt == 0 {
                    std::thread::yield_now();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return Poll::Ready(other),
        }
    }
    Poll::Pending
}

/// Keeps `cx`'s waker in `slot`, cloning it only if it would wake another task.
fn keep_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        // `clone_from` keeps the waker it has when it `will_wake` the same task.
        Some(waker) => waker.clone_from(cx.waker()),
        None => *slot = Some(cx.waker().clone()),
    }
}

/// Takes the ticket of request `id` out of `tickets` (in id order).
fn take_ticket(tickets: &mut VecDeque<(u64, usize)>, id: u64) -> Option<usize> {
    let at = match tickets.front() {
        Some(&(first, _)) if first == id => 0,
        _ => tickets.binary_search_by_key(&id, |&(id, _)| id).ok()?,
    };
    tickets.remove(at).map(|(_, ticket)| ticket)
}

/// One caller's request, from sending to its answer: the future of
/// [`Requester::exchange`].
pub struct Exchange {
    shared: Arc<Shared>,
    step: Step,
}

enum Step {
    Unsent(Box<ToSupervisor>, Duration),
    Sent(usize),
    Done,
}

impl Exchange {
    /// Encodes the request into the session and writes it out at once (direct writes), then,
    /// if callers read ahead, reads the socket once: its ticket, and its answer if that read
    /// brought it.
    fn send_directly(
        shared: &Shared,
        write: &DirectWrite,
        mut table: MutexGuard<'_, Table>,
        body: &ToSupervisor,
        timeout: Duration,
        cx: &Context<'_>,
    ) -> Result<(usize, Poll<Answer>), LocalError> {
        let now = Instant::now();
        let id = table.session.send_with(body, timeout, None, now)?;
        // No waker yet: an answer read ahead below is taken here, not woken for.
        let ticket = table.take_slot(Slot::Waiting(None));
        table.tickets.push_back((id.0, ticket));
        let written = table.write_out(|bytes| match write(bytes) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            other => Poll::Ready(other),
        });
        let mut wake = Vec::new();
        let mut routed = None;
        let mut yield_now = false;
        if let Some(read) = shared.read_ahead.as_ref() {
            let open = table.session.state() != SessionState::Closed;
            if written.is_ready() && open && table.read_ahead.should_try() {
                let received = table.receive(|buf| read_ahead(read, buf));
                if received.is_ready() {
                    routed = Some(table.route(&shared.closed, &mut wake));
                }
                if matches!(table.slots[ticket], Slot::Answered(_)) {
                    yield_now = table.read_ahead.hit();
                } else {
                    table.read_ahead.miss();
                }
            }
        }
        let outcome = match std::mem::replace(&mut table.slots[ticket], Slot::Free) {
            // Yielding: the answer stays in its slot for the next poll, which this caller's
            // own wake (below) asks for.
            Slot::Answered(answer) if yield_now => {
                table.slots[ticket] = Slot::Answered(answer);
                wake.push(cx.waker().clone());
                Poll::Pending
            }
            Slot::Answered(answer) => {
                table.free.push(ticket);
                table.uncollected -= 1;
                Poll::Ready(answer)
            }
            _ => {
                table.slots[ticket] = Slot::Waiting(Some(cx.waker().clone()));
                Poll::Pending
            }
        };
        // The driver finishes a write the socket would not take, and learns that the session
        // ended if it did here. If this request still waits, the driver moves its timer if the
        // request is due before it fires, and, when callers read ahead, starts reading: it
        // reads only while an answer is owed.
        let waits = outcome.is_pending() && !yield_now;
        let driver_needed = written.is_pending()
            || (waits
                && (shared.read_ahead.is_some()
                    || table.timer_at.is_none_or(|at| at > now + timeout)))
            || table.session.state() == SessionState::Closed;
        let driver = if driver_needed {
            table.driver_needed = true;
            shared.signal_driver(&mut table)
        } else {
            None
        };
        drop(table);
        if let Some(routed) = routed {
            routed.finish();
        }
        for waker in wake {
            waker.wake();
        }
        if let Some(driver) = driver {
            driver.wake();
        }
        Ok((ticket, outcome))
    }
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exchange")
    }
}

impl Future for Exchange {
    type Output = Answer;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answer> {
        let this = self.get_mut();
        let mut table = this.shared.lock();
        match std::mem::replace(&mut this.step, Step::Done) {
            Step::Unsent(body, timeout) => {
                if table.driver_gone {
                    return Poll::Ready(Err(ExchangeError::Local(LocalError::Closed)));
                }
                // Alone, a request is written at once. With others in flight, answers not yet
                // collected, or several answers in the last read (a caller pipelining), it
                // joins the queue, and the driver writes all queued requests in one write: a
                // system call per request would cost a pipelining caller far more.
                let alone = table.queue.is_empty()
                    && table.uncollected == 0
                    && table.last_read_answers <= 1
                    && table.session.pending_requests() == 0;
                if let Some(write) = this.shared.direct.as_ref().filter(|_| alone) {
                    return match Self::send_directly(&this.shared, write, table, &body, timeout, cx)
                    {
                        Ok((_, Poll::Ready(answer))) => Poll::Ready(answer),
                        Ok((ticket, Poll::Pending)) => {
                            this.step = Step::Sent(ticket);
                            Poll::Pending
                        }
                        Err(error) => Poll::Ready(Err(ExchangeError::Local(error))),
                    };
                }
                let ticket = table.take_slot(Slot::Waiting(Some(cx.waker().clone())));
                table.queue.push(Queued {
                    body,
                    timeout,
                    ticket,
                });
                this.step = Step::Sent(ticket);
                let driver = this.shared.signal_driver(&mut table);
                drop(table);
                if let Some(driver) = driver {
                    driver.wake();
                }
                Poll::Pending
            }
            Step::Sent(ticket) => match std::mem::replace(&mut table.slots[ticket], Slot::Free) {
                Slot::Waiting(mut waker) => {
                    keep_waker(&mut waker, cx);
                    table.slots[ticket] = Slot::Waiting(waker);
                    this.step = Step::Sent(ticket);
                    Poll::Pending
                }
                Slot::Answered(answer) => {
                    table.free.push(ticket);
                    table.uncollected -= 1;
                    Poll::Ready(answer)
                }
                Slot::Free | Slot::Abandoned => {
                    unreachable!("a ticket stays with its exchange until answered")
                }
            },
            Step::Done => panic!("an exchange polled after it completed"),
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if let Step::Sent(ticket) = self.step {
            let mut table = self.shared.lock();
            match table.slots[ticket] {
                Slot::Answered(_) => {
                    table.free_slot(ticket);
                    table.uncollected -= 1;
                }
                _ => table.slots[ticket] = Slot::Abandoned,
            }
        }
        self.shared.release_requester();
    }
}

/// The driver's side: feeds the session what the socket gives and routes each answer to its
/// caller.
pub struct Dispatcher {
    shared: Arc<Shared>,
    /// Requests taken from the queue, reused between takes.
    taken: Vec<Queued>,
    /// The driver's copy of the table's `timer_at`, read on every turn without the lock.
    timer_at: Option<Instant>,
    /// A clone of the driver's waker in the table, while it is there.
    registered: Option<Waker>,
    /// Callers to wake once the table is unlocked, reused.
    wake: Vec<Waker>,
}

/// Resolves to `StartupDetails`, or to why the connection ended before it came.
pub struct Startup(async_channel::Receiver<StartupResult>);

impl Startup {
    /// Waits for `StartupDetails` (the session bounds the wait).
    pub async fn details(self) -> StartupResult {
        self.0
            .recv()
            .await
            .unwrap_or_else(|_| Err("the connection driver stopped".to_owned()))
    }
}

impl Dispatcher {
    /// A dispatcher over a new session whose requests go out through the driver, the future
    /// of its `StartupDetails`, and the first requester (clone it for more).
    pub fn new(config: SessionConfig, now: Instant) -> (Self, Startup, Requester) {
        Self::build(config, now, None, None)
    }

    /// As [`new`](Self::new), but each caller writes its own request with `write`, in the
    /// poll that sends it (see the [module docs](self)). The driver must then read whenever
    /// the connection is open ([`is_closed`](Self::is_closed) is false), not only while an
    /// answer is owed, and still write out what [`poll_transmit`](Self::poll_transmit) has.
    pub fn with_direct_writes(
        config: SessionConfig,
        now: Instant,
        write: DirectWrite,
    ) -> (Self, Startup, Requester) {
        Self::build(config, now, Some(write), None)
    }

    /// As [`with_direct_writes`](Self::with_direct_writes), and a caller that wrote its
    /// request also reads its answer at once with `read`, in the same poll, while that keeps
    /// finding the answer there (see the [module docs](self)). The driver must then read
    /// through [`poll_receive`](Self::poll_receive), never outside the table's lock, and
    /// needs to read only while [`expects_input`](Self::expects_input): a caller whose
    /// request still waits after its write wakes the driver.
    pub fn with_direct_io(
        config: SessionConfig,
        now: Instant,
        write: DirectWrite,
        read: DirectRead,
    ) -> (Self, Startup, Requester) {
        Self::build(config, now, Some(write), Some(read))
    }

    /// [`with_direct_io`](Self::with_direct_io) over a TCP comm socket, already set
    /// non-blocking: callers write and read ahead through a second handle on it, with plain
    /// `send` and `recv` calls.
    pub fn with_direct_socket(
        config: SessionConfig,
        now: Instant,
        comm: &std::net::TcpStream,
    ) -> io::Result<(Self, Startup, Requester)> {
        let writer = Arc::new(comm.try_clone()?);
        let reader = writer.clone();
        Ok(Self::with_direct_io(
            config,
            now,
            Box::new(move |bytes| io::Write::write(&mut &*writer, bytes)),
            Box::new(move |buf| io::Read::read(&mut &*reader, buf)),
        ))
    }

    fn build(
        config: SessionConfig,
        now: Instant,
        direct: Option<DirectWrite>,
        read_ahead: Option<DirectRead>,
    ) -> (Self, Startup, Requester) {
        let (tx, rx) = async_channel::bounded(1);
        let shared = Arc::new(Shared {
            table: Mutex::new(Table {
                session: TaskSession::new(config, now),
                tickets: VecDeque::new(),
                timer_at: None,
                queue: Vec::new(),
                driver_needed: false,
                driver: None,
                driver_gone: false,
                slots: Vec::new(),
                uncollected: 0,
                last_read_answers: 0,
                free: Vec::new(),
                read_buf: Vec::new(),
                read_ahead: ReadAhead::default(),
                startup: Some(tx),
            }),
            direct,
            read_ahead,
            closed: AtomicBool::new(false),
            driver_signalled: AtomicBool::new(false),
            requesters: AtomicUsize::new(1),
        });
        let dispatcher = Self {
            shared: shared.clone(),
            taken: Vec::new(),
            timer_at: None,
            registered: None,
            wake: Vec::new(),
        };
        (dispatcher, Startup(rx), Requester { shared })
    }

    /// Reads the socket with `read`, a non-blocking read such as `AsyncRead::poll_read`
    /// (called with the table locked), and feeds the session what it gives:
    /// `Ready(Received::End)` if the stream ended or the read failed, `Ready(Received::Bytes)`
    /// after other bytes, `Pending` while there is nothing to read. Must be the driver's only
    /// way to read when callers read ahead ([`with_direct_io`](Self::with_direct_io)).
    pub fn poll_receive(
        &mut self,
        cx: &mut Context<'_>,
        read: impl FnOnce(&mut Context<'_>, &mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<Received> {
        let mut table = self.shared.lock();
        let Poll::Ready(ended) = table.receive(|buf| read(cx, buf)) else {
            return Poll::Pending;
        };
        route(&self.shared, &mut self.wake, table);
        Poll::Ready(if ended {
            Received::End
        } else {
            Received::Bytes
        })
    }

    /// Feeds bytes read from the socket.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        let mut table = self.shared.lock();
        table.session.handle_input(data, now);
        route(&self.shared, &mut self.wake, table);
    }

    /// The socket reached its end (or failed).
    pub fn handle_eof(&mut self, now: Instant) {
        let mut table = self.shared.lock();
        table.session.handle_eof(now);
        route(&self.shared, &mut self.wake, table);
    }

    /// The driver's timer fired (see [`timer_to_set`](Self::timer_to_set)). Early calls are
    /// harmless: nothing is due yet.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut table = self.shared.lock();
        table.timer_at = None;
        self.timer_at = None;
        table.session.handle_timeout(now);
        route(&self.shared, &mut self.wake, table);
    }

    /// Takes the callers' queued requests into the session, all of them, so that they go out
    /// in one write: `Ready(true)` if there were any, or if a caller's direct write left the
    /// driver work (bytes to write, its timer to move); `Ready(false)` once no requester is
    /// left (the driver's work is done); else `Pending` until one of these.
    pub fn poll_requests(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        // Nobody took the waker this driver left in the table (as anyone with work for it
        // does): nothing to do, and the same waker still waits there.
        if !self.shared.driver_signalled.load(Ordering::Acquire)
            && self
                .registered
                .as_ref()
                .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let mut table = self.shared.lock();
        self.shared.driver_signalled.store(false, Ordering::Relaxed);
        self.registered = None;
        let needed = std::mem::take(&mut table.driver_needed);
        if table.queue.is_empty() {
            if needed {
                return Poll::Ready(true);
            }
            if self.shared.requesters.load(Ordering::Acquire) == 0 {
                return Poll::Ready(false);
            }
            keep_waker(&mut table.driver, cx);
            self.registered = Some(cx.waker().clone());
            return Poll::Pending;
        }
        std::mem::swap(&mut table.queue, &mut self.taken);
        let now = Instant::now();
        for request in self.taken.drain(..) {
            match table
                .session
                .send_with(&request.body, request.timeout, None, now)
            {
                Ok(id) => table.tickets.push_back((id.0, request.ticket)),
                Err(error) => self
                    .wake
                    .extend(table.answer(request.ticket, Err(ExchangeError::Local(error)))),
            }
        }
        drop(table);
        self.wake_callers();
        Poll::Ready(true)
    }

    /// Writes what the session has to send with `write`, a non-blocking write such as
    /// `AsyncWrite::poll_write` (called with the table locked): `Ready` once everything is
    /// written, `Pending` while the socket takes no more. A failed write ends the session as
    /// an end of stream does: the callers waiting learn that the connection closed, and the
    /// bytes that can no longer be sent are dropped.
    pub fn poll_transmit(
        &mut self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&mut Context<'_>, &[u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<()> {
        let mut table = self.shared.lock();
        let written = table.write_out(|bytes| write(cx, bytes));
        // A write that failed here, or a caller's that failed, closed the session: its
        // callers learn it now.
        if !self.is_closed() && table.session.state() == SessionState::Closed {
            route(&self.shared, &mut self.wake, table);
        }
        written
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.shared.lock().session.poll_timeout()
    }

    /// Where the driver's one timer must be moved, if anywhere: to the session's next
    /// deadline when the timer is not set or set later. Each request's deadline is later than
    /// those before it, so a steady run never moves it, and when it fires for a request
    /// already answered, [`handle_timeout`](Self::handle_timeout) finds nothing due.
    pub fn timer_to_set(&mut self) -> Option<Instant> {
        let mut table = self.shared.lock();
        let deadline = table.session.poll_timeout()?;
        if table.timer_at.is_some_and(|at| at <= deadline) {
            return None;
        }
        table.timer_at = Some(deadline);
        self.timer_at = Some(deadline);
        Some(deadline)
    }

    /// Whether the driver's timer is set: only then is it worth waiting for.
    pub fn timer_is_set(&self) -> bool {
        self.timer_at.is_some()
    }

    /// Whether the connection is over (stop reading; requests are refused).
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Whether the supervisor owes the task something (`StartupDetails`, or the answer to a
    /// request). The supervisor speaks only to answer, so a driver whose reads cost a system
    /// call each may leave the socket alone otherwise (unless callers write directly); an end
    /// of stream is then seen with the next request.
    pub fn expects_input(&self) -> bool {
        let table = self.shared.lock();
        !self.is_closed()
            && (table.session.state() == SessionState::AwaitingStartup
                || table.session.pending_requests() > 0)
    }
}

/// Routes the session's events (see [`Table::route`]), then, with the table unlocked, wakes
/// whoever they are for.
fn route(shared: &Shared, wake: &mut Vec<Waker>, mut table: MutexGuard<'_, Table>) {
    let routed = table.route(&shared.closed, wake);
    drop(table);
    routed.finish();
    for waker in wake.drain(..) {
        waker.wake();
    }
}

impl Dispatcher {
    fn wake_callers(&mut self) {
        for waker in self.wake.drain(..) {
            waker.wake();
        }
    }
}

/// What [`Dispatcher::poll_receive`] read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// Bytes, fed to the session.
    Bytes,
    /// The end of the stream, or a failed read: the session is closed.
    End,
}

impl Drop for Dispatcher {
    // Whoever still waits learns that the connection is gone, and nothing more is queued.
    fn drop(&mut self) {
        let mut table = self.shared.lock();
        table.driver_gone = true;
        for queued in std::mem::take(&mut table.queue) {
            let waker = table.answer(queued.ticket, Err(ExchangeError::Local(LocalError::Closed)));
            self.wake.extend(waker);
        }
        for (_, ticket) in std::mem::take(&mut table.tickets) {
            let closed = Err(ExchangeError::Remote(ReplyError::ConnectionClosed));
            let waker = table.answer(ticket, closed);
            self.wake.extend(waker);
        }
        drop(table);
        self.wake_callers();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use airflow_protocol::frame::Response;
    use airflow_protocol::messages::{self as m, ToTask};
    use airflow_protocol::{SupervisorConfig, SupervisorEvent, SupervisorSession};

    use super::*;
    use crate::local::{local_startup_details, test_args};

    /// Counts its wakes.
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<Wakes>, Waker) {
        let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
        (wakes.clone(), Waker::from(wakes))
    }

    fn woken(wakes: &Wakes) -> usize {
        wakes.0.load(Ordering::SeqCst)
    }

    /// A dispatcher whose session got its `StartupDetails`, its first requester, and the
    /// supervisor's side.
    fn running() -> (Dispatcher, Requester, SupervisorSession) {
        let now = Instant::now();
        let (mut dispatcher, _startup, requester) = Dispatcher::new(SessionConfig::default(), now);
        let mut supervisor = SupervisorSession::new(SupervisorConfig::default());
        let details = local_startup_details(&test_args("dag", "task")).unwrap();
        supervisor.send_startup(&details).unwrap();
        move_bytes_to_task(&mut supervisor, &mut dispatcher);
        (dispatcher, requester, supervisor)
    }

    fn move_bytes_to_task(supervisor: &mut SupervisorSession, dispatcher: &mut Dispatcher) {
        let bytes = supervisor.transmit().to_vec();
        supervisor.advance_transmit(bytes.len());
        dispatcher.handle_input(&bytes, Instant::now());
    }

    /// Moves what the task wrote to the supervisor; returns each request's id and key.
    fn requests_at_supervisor(
        dispatcher: &mut Dispatcher,
        supervisor: &mut SupervisorSession,
    ) -> Vec<(i64, String)> {
        requests_in(&transmitted(dispatcher), supervisor)
    }

    /// What the driver writes of the session's bytes to a socket that takes them all.
    fn transmitted(dispatcher: &mut Dispatcher) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut cx = Context::from_waker(Waker::noop());
        let written = dispatcher.poll_transmit(&mut cx, |_, out| {
            bytes.extend_from_slice(out);
            Poll::Ready(Ok(out.len()))
        });
        assert!(written.is_ready());
        bytes
    }

    /// The requests in `bytes`, as the supervisor reads them: each one's id and key.
    fn requests_in(bytes: &[u8], supervisor: &mut SupervisorSession) -> Vec<(i64, String)> {
        supervisor.handle_input(bytes);
        let mut seen = Vec::new();
        while let Some(event) = supervisor.poll_event() {
            match event {
                SupervisorEvent::Request {
                    id,
                    body: ToSupervisor::GetVariable(r),
                    ..
                } => seen.push((id, r.key.to_string())),
                other => panic!("unexpected {other:?}"),
            }
        }
        seen
    }

    fn answer(supervisor: &mut SupervisorSession, id: i64, value: &str) {
        let body = ToTask::VariableResult(m::VariableResult {
            key: value.into(),
            value: Some(value.into()),
        });
        supervisor.respond(id, Response::Body(&body)).unwrap();
    }

    fn get_variable(requester: &Requester, key: &str) -> Pin<Box<Exchange>> {
        exchange_with_timeout(requester, key, Duration::from_secs(30))
    }

    fn value_of(answer: Poll<Answer>) -> String {
        match answer {
            Poll::Ready(Ok(Reply::Body(ToTask::VariableResult(v)))) => v.value.unwrap().to_string(),
            other => panic!("expected a variable, got {other:?}"),
        }
    }

    /// What a direct writer's socket does with each write.
    #[derive(Clone, Copy)]
    enum Socket {
        /// Takes this many bytes more, then is full.
        Takes(usize),
        Broken,
    }

    /// A socket for direct writes: what it was given, and how it behaves now.
    #[derive(Clone)]
    struct DirectSocket(Arc<Mutex<(Vec<u8>, Socket)>>);

    impl DirectSocket {
        fn new() -> Self {
            Self(Arc::new(Mutex::new((
                Vec::new(),
                Socket::Takes(usize::MAX),
            ))))
        }

        fn set(&self, socket: Socket) {
            self.0.lock().unwrap().1 = socket;
        }

        fn take_written(&self) -> Vec<u8> {
            std::mem::take(&mut self.0.lock().unwrap().0)
        }

        fn writer(&self) -> DirectWrite {
            let this = self.clone();
            Box::new(move |bytes| {
                let mut state = this.0.lock().unwrap();
                match state.1 {
                    Socket::Takes(0) => Err(io::ErrorKind::WouldBlock.into()),
                    Socket::Takes(budget) => {
                        let n = bytes.len().min(budget);
                        state.0.extend_from_slice(&bytes[..n]);
                        state.1 = Socket::Takes(budget - n);
                        Ok(n)
                    }
                    Socket::Broken => Err(io::ErrorKind::BrokenPipe.into()),
                }
            })
        }
    }

    /// As [`running`], with callers writing directly to `socket`.
    fn running_direct(socket: &DirectSocket) -> (Dispatcher, Requester, SupervisorSession) {
        let (mut dispatcher, _startup, requester) = Dispatcher::with_direct_writes(
            SessionConfig::default(),
            Instant::now(),
            socket.writer(),
        );
        let mut supervisor = SupervisorSession::new(SupervisorConfig::default());
        let details = local_startup_details(&test_args("dag", "task")).unwrap();
        supervisor.send_startup(&details).unwrap();
        move_bytes_to_task(&mut supervisor, &mut dispatcher);
        (dispatcher, requester, supervisor)
    }

    fn exchange_with_timeout(
        requester: &Requester,
        key: &str,
        timeout: Duration,
    ) -> Pin<Box<Exchange>> {
        Box::pin(requester.exchange(Box::new(m::GetVariable { key: key.into() }.into()), timeout))
    }

    /// Answers, at the supervisor, the requests in `bytes` with their keys, and feeds the
    /// answers to the dispatcher.
    fn answer_all(bytes: &[u8], supervisor: &mut SupervisorSession, dispatcher: &mut Dispatcher) {
        for (id, key) in requests_in(bytes, supervisor) {
            answer(supervisor, id, &key);
        }
        move_bytes_to_task(supervisor, dispatcher);
    }

    #[test]
    fn direct_writes_go_out_in_the_callers_poll_and_wake_the_driver_only_to_move_its_timer() {
        let socket = DirectSocket::new();
        let (mut dispatcher, requester, mut supervisor) = running_direct(&socket);
        let (driver_wakes, driver) = counting_waker();
        let mut driver_cx = Context::from_waker(&driver);
        assert!(dispatcher.poll_requests(&mut driver_cx).is_pending());
        let mut cx = Context::from_waker(Waker::noop());

        let mut first = exchange_with_timeout(&requester, "first", Duration::from_secs(30));
        assert!(first.as_mut().poll(&mut cx).is_pending());
        let written = socket.take_written();
        assert!(!written.is_empty(), "written in the caller's poll");
        assert_eq!(woken(&driver_wakes), 1, "no timer yet: the driver sets it");
        assert_eq!(dispatcher.poll_requests(&mut driver_cx), Poll::Ready(true));
        let first_deadline = dispatcher.timer_to_set().expect("the first deadline");
        assert!(dispatcher.poll_requests(&mut driver_cx).is_pending());
        answer_all(&written, &mut supervisor, &mut dispatcher);
        assert_eq!(value_of(first.as_mut().poll(&mut cx)), "first");

        // Due after the driver's timer: the driver is left alone.
        let mut second = exchange_with_timeout(&requester, "second", Duration::from_secs(60));
        assert!(second.as_mut().poll(&mut cx).is_pending());
        let written = socket.take_written();
        assert!(!written.is_empty(), "written in the caller's poll");
        assert_eq!(woken(&driver_wakes), 1);
        assert!(dispatcher.poll_requests(&mut driver_cx).is_pending());
        assert_eq!(dispatcher.timer_to_set(), None);
        answer_all(&written, &mut supervisor, &mut dispatcher);
        assert_eq!(value_of(second.as_mut().poll(&mut cx)), "second");

        // Due before it: the driver is woken to move its timer there.
        let mut third = exchange_with_timeout(&requester, "third", Duration::from_secs(1));
        assert!(third.as_mut().poll(&mut cx).is_pending());
        let written = socket.take_written();
        assert_eq!(woken(&driver_wakes), 2);
        assert_eq!(dispatcher.poll_requests(&mut driver_cx), Poll::Ready(true));
        let moved = dispatcher
            .timer_to_set()
            .expect("an earlier deadline moves the timer");
        assert!(moved < first_deadline);
        answer_all(&written, &mut supervisor, &mut dispatcher);
        assert_eq!(value_of(third.as_mut().poll(&mut cx)), "third");
    }

    #[test]
    fn in_a_burst_direct_writers_queue_and_the_driver_writes_their_requests_together() {
        let socket = DirectSocket::new();
        let (mut dispatcher, requester, mut supervisor) = running_direct(&socket);
        let (driver_wakes, driver) = counting_waker();
        let mut driver_cx = Context::from_waker(&driver);
        let mut cx = Context::from_waker(Waker::noop());
        let mut first = get_variable(&requester, "first");
        assert!(first.as_mut().poll(&mut cx).is_pending());
        let first_sent = requests_in(&socket.take_written(), &mut supervisor);
        assert_eq!(first_sent.len(), 1, "alone: written directly");
        assert_eq!(dispatcher.poll_requests(&mut driver_cx), Poll::Ready(true));
        dispatcher.timer_to_set();
        assert!(dispatcher.poll_requests(&mut driver_cx).is_pending());
        let woken_before = woken(&driver_wakes);

        let mut later: Vec<_> = ["second", "third"]
            .iter()
            .map(|key| get_variable(&requester, key))
            .collect();
        for call in &mut later {
            assert!(call.as_mut().poll(&mut cx).is_pending());
        }
        assert!(socket.take_written().is_empty(), "queued, not written");
        assert_eq!(woken(&driver_wakes), woken_before + 1);
        assert_eq!(dispatcher.poll_requests(&mut driver_cx), Poll::Ready(true));
        let mut writes = Vec::new();
        let written = dispatcher.poll_transmit(&mut driver_cx, |_, bytes| {
            writes.push(bytes.to_vec());
            Poll::Ready(Ok(bytes.len()))
        });
        assert!(written.is_ready());
        assert_eq!(writes.len(), 1, "one write for both");
        let later_sent = requests_in(&writes[0], &mut supervisor);
        let keys: Vec<_> = later_sent.iter().map(|(_, key)| key.as_str()).collect();
        assert_eq!(keys, ["second", "third"]);

        // Everything answered, one answer not collected yet: still queued (a burst in
        // progress); once it is collected, the next request is written directly.
        for (id, key) in first_sent.iter().chain(&later_sent) {
            answer(&mut supervisor, *id, key);
        }
        move_bytes_to_task(&mut supervisor, &mut dispatcher);
        for call in &mut later {
            assert!(call.as_mut().poll(&mut cx).is_ready());
        }
        let mut fourth = get_variable(&requester, "fourth");
        assert!(fourth.as_mut().poll(&mut cx).is_pending());
        assert!(
            socket.take_written().is_empty(),
            "queued behind an uncollected answer"
        );
        assert_eq!(value_of(first.as_mut().poll(&mut cx)), "first");
        let mut fifth = get_variable(&requester, "fifth");
        assert!(fifth.as_mut().poll(&mut cx).is_pending());
        assert!(
            socket.take_written().is_empty(),
            "the fourth is still in flight"
        );
        assert_eq!(dispatcher.poll_requests(&mut driver_cx), Poll::Ready(true));
        let out = transmitted(&mut dispatcher);
        answer_all(&out, &mut supervisor, &mut dispatcher);
        assert_eq!(value_of(fourth.as_mut().poll(&mut cx)), "fourth");
        assert_eq!(value_of(fifth.as_mut().poll(&mut cx)), "fifth");
        // Nothing in flight, all collected, but the last read brought two answers: a caller
        // pipelining, so still queued.
        let mut sixth = get_variable(&requester, "sixth");
        assert!(sixth.as_mut().poll(&mut cx).is_pending());
        assert!(
            socket.take_written().is_empty(),
            "two answers in the last read"
        );
        assert_eq!(dispatcher.poll_requests(&mut driver_cx), Poll::Ready(true));
        let out = transmitted(&mut dispatcher);
        answer_all(&out, &mut supervisor, &mut dispatcher);
        assert_eq!(value_of(sixth.as_mut().poll(&mut cx)), "sixth");
        // One answer in the last read, nothing in flight or uncollected: one at a time again.
        let mut seventh = get_variable(&requester, "seventh");
        assert!(seventh.as_mut().poll(&mut cx).is_pending());
        assert!(
            !socket.take_written().is_empty(),
            "alone again: written directly"
        );
    }

    #[test]
    fn what_a_direct_write_leaves_the_driver_writes_in_order() {
        let socket = DirectSocket::new();
        let (mut dispatcher, requester, mut supervisor) = running_direct(&socket);
        let (driver_wakes, driver) = counting_waker();
        let mut driver_cx = Context::from_waker(&driver);
        let mut cx = Context::from_waker(Waker::noop());
        // Set the driver's timer, so that only the unfinished write wakes it below.
        let mut warm = get_variable(&requester, "warm");
        assert!(warm.as_mut().poll(&mut cx).is_pending());
        assert_eq!(dispatcher.poll_requests(&mut driver_cx), Poll::Ready(true));
        assert!(dispatcher.timer_to_set().is_some());
        assert!(dispatcher.poll_requests(&mut driver_cx).is_pending());
        answer_all(&socket.take_written(), &mut supervisor, &mut dispatcher);
        assert_eq!(value_of(warm.as_mut().poll(&mut cx)), "warm");

        // The socket takes 7 bytes of the first request, then nothing. The second, sent
        // while the first is in flight, is queued behind it.
        socket.set(Socket::Takes(7));
        let mut first = get_variable(&requester, "first");
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert_eq!(woken(&driver_wakes), 1, "the driver finishes the write");
        let mut second = get_variable(&requester, "second");
        assert!(second.as_mut().poll(&mut cx).is_pending());
        let mut out = socket.take_written();
        assert_eq!(out.len(), 7);
        assert_eq!(dispatcher.poll_requests(&mut driver_cx), Poll::Ready(true));

        // Once the socket takes bytes again, the driver writes the rest, the first one first.
        out.extend(transmitted(&mut dispatcher));
        let keys: Vec<_> = requests_in(&out, &mut supervisor)
            .into_iter()
            .map(|(_, key)| key)
            .collect();
        assert_eq!(keys, ["first", "second"]);
    }

    #[test]
    fn a_failed_write_ends_the_session_its_callers_learn_it_and_nothing_is_retried() {
        // Through the driver.
        let (mut dispatcher, requester, _supervisor) = running();
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut call = get_variable(&requester, "k");
        assert!(call.as_mut().poll(&mut cx).is_pending());
        assert_eq!(dispatcher.poll_requests(&mut cx), Poll::Ready(true));
        let mut writes = 0;
        let written = dispatcher.poll_transmit(&mut cx, |_, _| {
            writes += 1;
            Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
        });
        assert!(written.is_ready(), "the unsendable bytes are dropped");
        assert_eq!(writes, 1);
        assert!(dispatcher.is_closed());
        assert!(woken(&wakes) > 0);
        assert_eq!(
            call.as_mut().poll(&mut cx),
            Poll::Ready(Err(ExchangeError::Remote(ReplyError::ConnectionClosed)))
        );
        let again = dispatcher.poll_transmit(&mut cx, |_, _| panic!("nothing is left to write"));
        assert!(again.is_ready());

        // Written by the caller: the driver is woken and tells the caller.
        let socket = DirectSocket::new();
        let (mut dispatcher, requester, _supervisor) = running_direct(&socket);
        let (driver_wakes, driver) = counting_waker();
        let mut driver_cx = Context::from_waker(&driver);
        assert!(dispatcher.poll_requests(&mut driver_cx).is_pending());
        socket.set(Socket::Broken);
        let mut call = get_variable(&requester, "k");
        assert!(call.as_mut().poll(&mut cx).is_pending());
        assert_eq!(woken(&driver_wakes), 1);
        assert_eq!(dispatcher.poll_requests(&mut driver_cx), Poll::Ready(true));
        assert!(dispatcher
            .poll_transmit(&mut driver_cx, |_, _| panic!("nothing is left to write"))
            .is_ready());
        assert!(dispatcher.is_closed());
        assert_eq!(
            call.as_mut().poll(&mut cx),
            Poll::Ready(Err(ExchangeError::Remote(ReplyError::ConnectionClosed)))
        );
        let mut late = get_variable(&requester, "late");
        assert_eq!(
            late.as_mut().poll(&mut cx),
            Poll::Ready(Err(ExchangeError::Local(LocalError::Closed)))
        );
    }

    #[test]
    fn queued_requests_go_out_together_and_answers_find_their_callers_in_any_order() {
        let (mut dispatcher, requester, mut supervisor) = running();
        let (driver_wakes, driver) = counting_waker();
        let mut driver_cx = Context::from_waker(&driver);
        assert!(dispatcher.poll_requests(&mut driver_cx).is_pending());

        let (caller_wakes, caller) = counting_waker();
        let mut cx = Context::from_waker(&caller);
        let mut calls: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|key| get_variable(&requester, key))
            .collect();
        for call in &mut calls {
            assert!(call.as_mut().poll(&mut cx).is_pending());
        }
        // The first request woke the driver; it takes all three at once.
        assert_eq!(woken(&driver_wakes), 1);
        assert_eq!(dispatcher.poll_requests(&mut driver_cx), Poll::Ready(true));
        let sent = requests_at_supervisor(&mut dispatcher, &mut supervisor);
        let keys: Vec<_> = sent.iter().map(|(_, key)| key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);

        // Answered last first, each with its own key as the value.
        for (id, key) in sent.iter().rev() {
            answer(&mut supervisor, *id, key);
        }
        move_bytes_to_task(&mut supervisor, &mut dispatcher);
        assert_eq!(woken(&caller_wakes), 3);
        for (call, key) in calls.iter_mut().zip(["a", "b", "c"]) {
            assert_eq!(value_of(call.as_mut().poll(&mut cx)), key);
        }
    }

    #[test]
    fn an_abandoned_request_has_its_answer_dropped_and_its_slot_reused() {
        let (mut dispatcher, requester, mut supervisor) = running();
        let noop = Waker::noop();
        let mut cx = Context::from_waker(noop);
        let mut first = get_variable(&requester, "first");
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert_eq!(dispatcher.poll_requests(&mut cx), Poll::Ready(true));
        let sent = requests_at_supervisor(&mut dispatcher, &mut supervisor);
        drop(first);

        answer(&mut supervisor, sent[0].0, "first");
        move_bytes_to_task(&mut supervisor, &mut dispatcher);
        let mut second = get_variable(&requester, "second");
        assert!(second.as_mut().poll(&mut cx).is_pending());
        assert_eq!(dispatcher.poll_requests(&mut cx), Poll::Ready(true));
        let sent = requests_at_supervisor(&mut dispatcher, &mut supervisor);
        answer(&mut supervisor, sent[0].0, "second");
        move_bytes_to_task(&mut supervisor, &mut dispatcher);
        assert_eq!(value_of(second.as_mut().poll(&mut cx)), "second");
        let table = dispatcher.shared.lock();
        assert_eq!(table.slots.len(), 1, "the freed slot was reused");
        assert!(matches!(table.slots[0], Slot::Free));
    }

    #[test]
    fn a_request_never_answered_times_out() {
        let (mut dispatcher, requester, mut supervisor) = running();
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut call = exchange_with_timeout(&requester, "k", Duration::from_millis(5));
        assert!(call.as_mut().poll(&mut cx).is_pending());
        assert_eq!(dispatcher.poll_requests(&mut cx), Poll::Ready(true));
        requests_at_supervisor(&mut dispatcher, &mut supervisor);
        let deadline = dispatcher
            .poll_timeout()
            .expect("a request in flight has a deadline");
        // Early calls find nothing due.
        dispatcher.handle_timeout(deadline - Duration::from_millis(1));
        assert!(call.as_mut().poll(&mut cx).is_pending());
        dispatcher.handle_timeout(deadline);
        assert!(woken(&wakes) > 0);
        assert!(matches!(
            call.as_mut().poll(&mut cx),
            Poll::Ready(Err(ExchangeError::Remote(ReplyError::TimedOut { .. })))
        ));
    }

    #[test]
    fn the_timer_moves_only_to_an_earlier_deadline() {
        let (mut dispatcher, requester, mut supervisor) = running();
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(
            dispatcher.timer_to_set(),
            None,
            "nothing in flight, nothing due"
        );
        let mut first = get_variable(&requester, "first");
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert_eq!(dispatcher.poll_requests(&mut cx), Poll::Ready(true));
        let first_deadline = dispatcher.poll_timeout();
        assert_eq!(dispatcher.timer_to_set(), first_deadline);
        assert!(dispatcher.timer_is_set());
        // A later request's deadline is later: the timer stays where it is.
        let mut second = exchange_with_timeout(&requester, "second", Duration::from_secs(60));
        assert!(second.as_mut().poll(&mut cx).is_pending());
        assert_eq!(dispatcher.poll_requests(&mut cx), Poll::Ready(true));
        assert_eq!(dispatcher.timer_to_set(), None);
        // Fired early (the first was answered): set again, to what is due next.
        let sent = requests_at_supervisor(&mut dispatcher, &mut supervisor);
        answer(&mut supervisor, sent[0].0, "first");
        move_bytes_to_task(&mut supervisor, &mut dispatcher);
        dispatcher.handle_timeout(Instant::now());
        assert!(!dispatcher.timer_is_set());
        let next = dispatcher.poll_timeout();
        assert!(next > first_deadline);
        assert_eq!(dispatcher.timer_to_set(), next);
    }

    #[test]
    fn when_the_driver_goes_callers_learn_it_and_new_requests_are_refused() {
        let (mut dispatcher, requester, mut supervisor) = running();
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut sent = get_variable(&requester, "sent");
        assert!(sent.as_mut().poll(&mut cx).is_pending());
        assert_eq!(dispatcher.poll_requests(&mut cx), Poll::Ready(true));
        requests_at_supervisor(&mut dispatcher, &mut supervisor);
        let mut queued = get_variable(&requester, "queued");
        assert!(queued.as_mut().poll(&mut cx).is_pending());

        drop(dispatcher);
        assert_eq!(woken(&wakes), 2);
        assert_eq!(
            sent.as_mut().poll(&mut cx),
            Poll::Ready(Err(ExchangeError::Remote(ReplyError::ConnectionClosed)))
        );
        assert_eq!(
            queued.as_mut().poll(&mut cx),
            Poll::Ready(Err(ExchangeError::Local(LocalError::Closed)))
        );
        let mut late = get_variable(&requester, "late");
        assert_eq!(
            late.as_mut().poll(&mut cx),
            Poll::Ready(Err(ExchangeError::Local(LocalError::Closed)))
        );
    }

    #[test]
    fn the_driver_is_done_once_no_requester_or_exchange_is_left() {
        let (mut dispatcher, requester, mut supervisor) = running();
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let second = requester.clone();
        let mut call = get_variable(&second, "k");
        drop(requester);
        drop(second);
        // The exchange still in flight keeps the driver running.
        assert!(call.as_mut().poll(&mut cx).is_pending());
        assert_eq!(dispatcher.poll_requests(&mut cx), Poll::Ready(true));
        assert!(dispatcher.poll_requests(&mut cx).is_pending());
        let sent = requests_at_supervisor(&mut dispatcher, &mut supervisor);
        answer(&mut supervisor, sent[0].0, "v");
        move_bytes_to_task(&mut supervisor, &mut dispatcher);
        assert_eq!(value_of(call.as_mut().poll(&mut cx)), "v");
        let before = woken(&wakes);
        drop(call);
        assert_eq!(
            woken(&wakes),
            before + 1,
            "the last one out wakes the driver"
        );
        assert_eq!(dispatcher.poll_requests(&mut cx), Poll::Ready(false));
    }

    /// A supervisor behind a socket whose callers read ahead: it reads each request as it is
    /// written and, when `eager`, answers it at once (as one sharing the task's CPU does
    /// during the caller's yield); otherwise when told. Counts the callers' reads.
    struct Peer {
        supervisor: SupervisorSession,
        to_task: Vec<u8>,
        unanswered: Vec<(i64, String)>,
        eager: bool,
        ended: bool,
        reads: usize,
    }

    #[derive(Clone)]
    struct PeerSocket(Arc<Mutex<Peer>>);

    impl PeerSocket {
        fn peer(&self) -> MutexGuard<'_, Peer> {
            self.0.lock().unwrap()
        }

        fn answer_unanswered(&self) {
            let mut peer = self.peer();
            let peer = &mut *peer;
            for (id, key) in peer.unanswered.drain(..) {
                answer(&mut peer.supervisor, id, &key);
            }
            let bytes = peer.supervisor.transmit().to_vec();
            peer.supervisor.advance_transmit(bytes.len());
            peer.to_task.extend_from_slice(&bytes);
        }

        /// The driver reads what the peer sent (not counted as a caller's read).
        fn deliver(&self, dispatcher: &mut Dispatcher) -> Poll<Received> {
            let mut cx = Context::from_waker(Waker::noop());
            dispatcher.poll_receive(&mut cx, |_, buf| Poll::Ready(self.take_into(buf)))
        }

        fn take_into(&self, buf: &mut [u8]) -> io::Result<usize> {
            let mut peer = self.peer();
            if peer.to_task.is_empty() {
                return if peer.ended {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            let n = buf.len().min(peer.to_task.len());
            buf[..n].copy_from_slice(&peer.to_task[..n]);
            peer.to_task.drain(..n);
            Ok(n)
        }
    }

    /// A dispatcher whose callers write and read ahead through `PeerSocket`, past its
    /// `StartupDetails`.
    fn reading_ahead() -> (Dispatcher, Requester, PeerSocket) {
        let mut supervisor = SupervisorSession::new(SupervisorConfig::default());
        let details = local_startup_details(&test_args("dag", "task")).unwrap();
        supervisor.send_startup(&details).unwrap();
        let to_task = supervisor.transmit().to_vec();
        supervisor.advance_transmit(to_task.len());
        let socket = PeerSocket(Arc::new(Mutex::new(Peer {
            supervisor,
            to_task,
            unanswered: Vec::new(),
            eager: true,
            ended: false,
            reads: 0,
        })));
        let writer = socket.clone();
        let reader = socket.clone();
        let (mut dispatcher, _startup, requester) = Dispatcher::with_direct_io(
            SessionConfig::default(),
            Instant::now(),
            Box::new(move |bytes| {
                let eager = {
                    let mut peer = writer.peer();
                    let seen = requests_in(bytes, &mut peer.supervisor);
                    peer.unanswered.extend(seen);
                    peer.eager
                };
                if eager {
                    writer.answer_unanswered();
                }
                Ok(bytes.len())
            }),
            Box::new(move |buf| {
                reader.peer().reads += 1;
                reader.take_into(buf)
            }),
        );
        assert_eq!(
            socket.deliver(&mut dispatcher),
            Poll::Ready(Received::Bytes)
        );
        (dispatcher, requester, socket)
    }

    #[test]
    fn a_caller_reading_ahead_takes_its_answer_in_the_poll_that_sent_it_and_wakes_no_one() {
        let (mut dispatcher, requester, socket) = reading_ahead();
        let (driver_wakes, driver) = counting_waker();
        assert!(dispatcher
            .poll_requests(&mut Context::from_waker(&driver))
            .is_pending());
        let (caller_wakes, caller) = counting_waker();
        let mut cx = Context::from_waker(&caller);
        for key in ["first", "second", "third"] {
            let mut call = get_variable(&requester, key);
            assert_eq!(value_of(call.as_mut().poll(&mut cx)), key);
        }
        assert_eq!(socket.peer().reads, 3, "one read each");
        assert_eq!(woken(&caller_wakes), 0);
        assert_eq!(woken(&driver_wakes), 0, "the driver had nothing to do");
        assert_eq!(dispatcher.timer_to_set(), None);
    }

    #[test]
    fn after_a_streak_of_answers_read_ahead_the_caller_yields_once_keeping_its_answer() {
        let (_dispatcher, requester, _socket) = reading_ahead();
        let (caller_wakes, caller) = counting_waker();
        let mut cx = Context::from_waker(&caller);
        for round in 0..3 {
            for n in 1..MAX_READ_AHEAD_STREAK {
                let key = format!("{round}-{n}");
                let mut call = get_variable(&requester, &key);
                assert_eq!(value_of(call.as_mut().poll(&mut cx)), key);
            }
            let before = woken(&caller_wakes);
            let mut call = get_variable(&requester, "last");
            assert!(call.as_mut().poll(&mut cx).is_pending(), "round {round}");
            assert_eq!(
                woken(&caller_wakes),
                before + 1,
                "it asks to be polled again"
            );
            assert_eq!(value_of(call.as_mut().poll(&mut cx)), "last");
        }
    }

    /// Sends one request and sees it answered: how many times its caller read the socket,
    /// and whether its first poll took the answer.
    fn one_request(
        dispatcher: &mut Dispatcher,
        requester: &Requester,
        socket: &PeerSocket,
    ) -> (usize, bool) {
        let mut cx = Context::from_waker(Waker::noop());
        let reads = socket.peer().reads;
        let mut call = get_variable(requester, "k");
        let at_once = call.as_mut().poll(&mut cx).is_ready();
        let reads = socket.peer().reads - reads;
        if !at_once {
            // The driver reads the answer.
            socket.answer_unanswered();
            assert_eq!(socket.deliver(dispatcher), Poll::Ready(Received::Bytes));
            assert_eq!(value_of(call.as_mut().poll(&mut cx)), "k");
        }
        (reads, at_once)
    }

    #[test]
    fn a_caller_whose_reads_ahead_keep_missing_reads_ahead_less_often() {
        let (mut dispatcher, requester, socket) = reading_ahead();
        socket.peer().eager = false;
        let mut tried = Vec::new();
        for n in 0..200 {
            match one_request(&mut dispatcher, &requester, &socket) {
                (0, false) => {}
                // A read, a yield, and a read.
                (2, false) => tried.push(n),
                other => panic!("request {n}: {other:?}"),
            }
        }
        // Skips 1, 3, 7, ... 63 requests after each miss, and 63 from then on.
        assert_eq!(tried, [0, 2, 6, 14, 30, 62, 126, 190]);

        // One answer in time, and it reads ahead on every request again.
        socket.peer().eager = true;
        let first_hit = (200..300).find(|_| one_request(&mut dispatcher, &requester, &socket).1);
        assert_eq!(first_hit, Some(254));
        assert_eq!(one_request(&mut dispatcher, &requester, &socket), (1, true));
    }

    #[test]
    fn the_end_of_the_stream_read_ahead_ends_the_session_and_wakes_the_driver() {
        let (mut dispatcher, requester, socket) = reading_ahead();
        let (driver_wakes, driver) = counting_waker();
        let mut driver_cx = Context::from_waker(&driver);
        assert!(dispatcher.poll_requests(&mut driver_cx).is_pending());
        {
            let mut peer = socket.peer();
            peer.eager = false;
            peer.ended = true;
        }
        let mut call = get_variable(&requester, "k");
        let answer = call.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(
            matches!(
                answer,
                Poll::Ready(Err(ExchangeError::Remote(ReplyError::ConnectionClosed)))
            ),
            "{answer:?}"
        );
        assert!(dispatcher.is_closed());
        assert_eq!(woken(&driver_wakes), 1, "the driver learns it");
        assert!(!dispatcher.expects_input());
    }
}
