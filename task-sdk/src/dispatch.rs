//! What the async adapters share around the core's session: routing requests from any task
//! to the connection's driver and each answer back to its caller, by id.
//!
//! An async adapter runs one driver future that owns the socket and a [`Dispatcher`], and
//! waits for whichever comes first: bytes from the socket, requests from callers
//! ([`Dispatcher::poll_requests`]), or the session's next deadline. Every protocol decision
//! stays in the core session; this module only keeps each caller's place for its answer.
//!
//! Callers and the driver share one small table behind a mutex: a queue of requests not yet
//! taken by the driver and one slot per request awaiting its answer, each with the waker of
//! whoever waits. A round trip allocates nothing here and locks it three times, uncontended
//! on a single-threaded executor; it works under any executor.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use airflow_protocol::messages::StartupDetails;
use airflow_protocol::{
    CloseReason, Event, LocalError, Reply, ReplyError, SessionConfig, SessionState, TaskSession,
    ToSupervisor,
};

use crate::runtime::{BoxFuture, ExchangeError};

type Answer = Result<Reply, ExchangeError>;

/// The callers' side: sends requests to the driver. Cheap to clone.
pub struct Requester {
    shared: Arc<Shared>,
}

impl Clone for Requester {
    fn clone(&self) -> Self {
        self.shared.lock().requesters += 1;
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
    /// Sends `body` through the driver and resolves to its answer. The session bounds the
    /// wait by `timeout`, so this always resolves. Nothing is sent until it is first polled;
    /// dropped after that, its answer is discarded when it comes.
    pub fn exchange(
        &self,
        body: Box<ToSupervisor>,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Reply, ExchangeError>> {
        // An exchange in flight keeps the driver running, as its requester would.
        self.shared.lock().requesters += 1;
        Box::pin(Exchange {
            shared: self.shared.clone(),
            step: Step::Unsent(body, timeout),
        })
    }
}

/// The table callers and the driver share.
struct Shared(Mutex<Table>);

struct Table {
    /// Requests the driver has not taken yet.
    queue: Vec<Queued>,
    /// The driver, waiting for requests.
    driver: Option<Waker>,
    /// Requesters and exchanges alive; the driver stops at zero.
    requesters: usize,
    /// The driver is gone: nothing more is sent.
    driver_gone: bool,
    /// One per request taken and not yet answered, indexed by ticket.
    slots: Vec<Slot>,
    /// Tickets free for reuse.
    free: Vec<usize>,
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
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn release_requester(&self) {
        let driver = {
            let mut table = self.lock();
            table.requesters -= 1;
            if table.requesters == 0 {
                table.driver.take()
            } else {
                None
            }
        };
        if let Some(driver) = driver {
            driver.wake();
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

/// One caller's request, from queueing to its answer.
struct Exchange {
    shared: Arc<Shared>,
    step: Step,
}

enum Step {
    Unsent(Box<ToSupervisor>, Duration),
    Sent(usize),
    Done,
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
                let ticket = table.take_slot(Slot::Waiting(Some(cx.waker().clone())));
                table.queue.push(Queued {
                    body,
                    timeout,
                    ticket,
                });
                this.step = Step::Sent(ticket);
                let driver = table.driver.take();
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
                Slot::Answered(_) => table.free_slot(ticket),
                _ => table.slots[ticket] = Slot::Abandoned,
            }
        }
        self.shared.release_requester();
    }
}

/// A session plus the place of each request in flight.
pub struct Dispatcher {
    session: TaskSession,
    shared: Arc<Shared>,
    /// The ticket of each request id in flight, in id order: the session numbers requests
    /// upwards, and answers mostly come in order, so the one sought is mostly the first.
    tickets: VecDeque<(u64, usize)>,
    /// Requests taken from the queue, reused between takes.
    taken: Vec<Queued>,
    /// Callers to wake once the table is unlocked.
    wake: Vec<Waker>,
    startup: Option<async_channel::Sender<Result<Box<StartupDetails>, String>>>,
    closed: bool,
    /// Where the driver's timer is set, if it is.
    timer_at: Option<Instant>,
}

/// Resolves to `StartupDetails`, or to why the connection ended before it came.
pub struct Startup(async_channel::Receiver<Result<Box<StartupDetails>, String>>);

impl Startup {
    /// Waits for `StartupDetails` (the session bounds the wait).
    pub async fn details(self) -> Result<Box<StartupDetails>, String> {
        self.0
            .recv()
            .await
            .unwrap_or_else(|_| Err("the connection driver stopped".to_owned()))
    }
}

impl Dispatcher {
    /// A dispatcher over a new session, the future of its `StartupDetails`, and the first
    /// requester (clone it for more).
    pub fn new(config: SessionConfig, now: Instant) -> (Self, Startup, Requester) {
        let (tx, rx) = async_channel::bounded(1);
        let shared = Arc::new(Shared(Mutex::new(Table {
            queue: Vec::new(),
            driver: None,
            requesters: 1,
            driver_gone: false,
            slots: Vec::new(),
            free: Vec::new(),
        })));
        let dispatcher = Self {
            session: TaskSession::new(config, now),
            shared: shared.clone(),
            tickets: VecDeque::new(),
            taken: Vec::new(),
            wake: Vec::new(),
            startup: Some(tx),
            closed: false,
            timer_at: None,
        };
        (dispatcher, Startup(rx), Requester { shared })
    }

    /// Feeds bytes read from the socket.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        self.session.handle_input(data, now);
        self.dispatch();
    }

    /// The socket reached its end (or failed).
    pub fn handle_eof(&mut self, now: Instant) {
        self.session.handle_eof(now);
        self.dispatch();
    }

    /// The driver's timer fired (see [`timer_to_set`](Self::timer_to_set)). Early calls are
    /// harmless: nothing is due yet.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.timer_at = None;
        self.session.handle_timeout(now);
        self.dispatch();
    }

    /// Takes the callers' queued requests into the session, all of them, so that they go out
    /// in one write: `Ready(true)` if there were any, `Ready(false)` once no requester is
    /// left (the driver's work is done), else `Pending` until a caller queues one.
    pub fn poll_requests(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        {
            let mut table = self.shared.lock();
            if table.queue.is_empty() {
                if table.requesters == 0 {
                    return Poll::Ready(false);
                }
                keep_waker(&mut table.driver, cx);
                return Poll::Pending;
            }
            std::mem::swap(&mut table.queue, &mut self.taken);
        }
        let now = Instant::now();
        let mut refused = Vec::new();
        for request in self.taken.drain(..) {
            match self
                .session
                .send_with(&request.body, request.timeout, None, now)
            {
                Ok(id) => {
                    self.tickets.push_back((id.0, request.ticket));
                }
                Err(error) => refused.push((request.ticket, error)),
            }
        }
        if !refused.is_empty() {
            let mut table = self.shared.lock();
            for (ticket, error) in refused {
                self.wake
                    .extend(table.answer(ticket, Err(ExchangeError::Local(error))));
            }
            drop(table);
            self.wake_callers();
        }
        Poll::Ready(true)
    }

    /// Bytes to write to the socket.
    pub fn transmit(&self) -> &[u8] {
        self.session.transmit()
    }

    /// Marks `n` bytes of [`transmit`](Self::transmit) as written.
    pub fn advance_transmit(&mut self, n: usize) {
        self.session.advance_transmit(n);
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    /// Where the driver's one timer must be moved, if anywhere: to the session's next
    /// deadline when the timer is not set or set later. Each request's deadline is later than
    /// those before it, so a steady run never moves it, and when it fires for a request
    /// already answered, [`handle_timeout`](Self::handle_timeout) finds nothing due.
    pub fn timer_to_set(&mut self) -> Option<Instant> {
        let deadline = self.session.poll_timeout()?;
        if self.timer_at.is_some_and(|at| at <= deadline) {
            return None;
        }
        self.timer_at = Some(deadline);
        Some(deadline)
    }

    /// Whether the driver's timer is set: only then is it worth waiting for.
    pub fn timer_is_set(&self) -> bool {
        self.timer_at.is_some()
    }

    /// Whether the connection is over (stop reading; requests are refused).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the supervisor owes the task something (`StartupDetails`, or the answer to a
    /// request). The supervisor speaks only to answer, so a driver whose reads cost a system
    /// call each may leave the socket alone otherwise; an end of stream is then seen with the
    /// next request.
    pub fn expects_input(&self) -> bool {
        !self.closed
            && (self.session.state() == SessionState::AwaitingStartup
                || self.session.pending_requests() > 0)
    }

    fn dispatch(&mut self) {
        let mut table = None;
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Startup(details) => {
                    if let Some(tx) = self.startup.take() {
                        let _ = tx.try_send(Ok(details));
                    }
                }
                Event::Reply { id, result } => {
                    if let Some(ticket) = take_ticket(&mut self.tickets, id.0) {
                        let table = table.get_or_insert_with(|| self.shared.lock());
                        self.wake
                            .extend(table.answer(ticket, result.map_err(ExchangeError::Remote)));
                    }
                }
                Event::Closed(reason) => {
                    self.closed = true;
                    if let Some(tx) = self.startup.take() {
                        let _ = tx.try_send(Err(reason.to_string()));
                    }
                    if let CloseReason::Violation(violation) = &reason {
                        tracing::error!(target: "airflow.sdk", "{violation}");
                    }
                }
            }
        }
        drop(table);
        self.wake_callers();
    }

    fn wake_callers(&mut self) {
        for waker in self.wake.drain(..) {
            waker.wake();
        }
    }
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
        for (_, ticket) in std::mem::take(&mut self.tickets) {
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
        let bytes = dispatcher.transmit().to_vec();
        dispatcher.advance_transmit(bytes.len());
        supervisor.handle_input(&bytes);
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

    fn get_variable(requester: &Requester, key: &str) -> BoxFuture<'static, Answer> {
        requester.exchange(
            Box::new(m::GetVariable { key: key.into() }.into()),
            Duration::from_secs(30),
        )
    }

    fn value_of(answer: Poll<Answer>) -> String {
        match answer {
            Poll::Ready(Ok(Reply::Body(ToTask::VariableResult(v)))) => v.value.unwrap().to_string(),
            other => panic!("expected a variable, got {other:?}"),
        }
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
        let mut call = requester.exchange(
            Box::new(m::GetVariable { key: "k".into() }.into()),
            Duration::from_millis(5),
        );
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
        let mut second = requester.exchange(
            Box::new(
                m::GetVariable {
                    key: "second".into(),
                }
                .into(),
            ),
            Duration::from_secs(60),
        );
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
}
