//! Random interleavings of callers, the driver, the socket and the supervisor around a
//! `Dispatcher`, in its three modes (requests written by the driver; written by their
//! callers; written by their callers, who also read ahead for their answers), and what must
//! hold whatever the order:
//!
//! * every answer reaches the caller that asked for it;
//! * requests reach the supervisor whole, numbered upwards in the order they arrive,
//!   whichever of the caller and the driver wrote their bytes, and however the socket split
//!   the writes;
//! * nothing is resolved without waking its waiter: callers and the driver are polled only
//!   after a wake, as an executor polls them;
//! * once the supervisor answers everything it is sent, no caller still waits, also after
//!   the socket broke or the supervisor closed the connection (no deadline is needed for
//!   that: a wait that only a deadline would end is a hang).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use airflow_protocol::frame::Response;
use airflow_protocol::messages::{self as m, ToTask};
use airflow_protocol::{
    Reply, SessionConfig, SupervisorConfig, SupervisorEvent, SupervisorSession, ToSupervisor,
};
use airflow_task_sdk::dispatch::{Dispatcher, Exchange, Requester};
use airflow_task_sdk::local::{local_startup_details, test_args};
use airflow_task_sdk::ExchangeError;
use proptest::prelude::*;

/// Counts its wakes.
struct Wakes(AtomicUsize);

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker and its count.
struct Woken {
    count: Arc<Wakes>,
    waker: Waker,
    /// The count when its owner last saw it.
    seen: usize,
}

impl Woken {
    fn new() -> Self {
        let count = Arc::new(Wakes(AtomicUsize::new(0)));
        Self {
            waker: Waker::from(count.clone()),
            count,
            seen: 0,
        }
    }

    fn now(&self) -> usize {
        self.count.0.load(Ordering::SeqCst)
    }

    /// Whether it was woken since its owner last looked; marks it seen.
    fn take(&mut self) -> bool {
        let now = self.now();
        let woken = now != self.seen;
        self.seen = now;
        woken
    }
}

#[derive(Clone, Copy, Debug)]
enum SocketMode {
    /// Takes this many bytes more, then is full until changed.
    Takes(usize),
    Broken,
}

/// How the dispatcher sends requests and reads answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The driver writes every request.
    Driver,
    /// Callers write their own requests.
    DirectWrites,
    /// Callers write their own requests and read ahead for their answers.
    DirectIo,
}

/// The socket between the task and the supervisor, and the supervisor: what both the callers'
/// direct writes and reads and the driver see.
struct Socket {
    /// Written and not yet read by the supervisor.
    bytes: Vec<u8>,
    mode: SocketMode,
    supervisor: SupervisorSession,
    /// Requests the supervisor has read and not answered: id and key.
    unanswered: VecDeque<(i64, String)>,
    /// The last request id the supervisor read.
    last_id: i64,
    /// Answers on their way to the task.
    to_task: Vec<u8>,
    /// The supervisor closed the connection: reads end once `to_task` is read.
    closed: bool,
    /// The supervisor reads and answers each request as soon as it is written, as one on
    /// the same CPU does when the caller yields to it.
    eager: bool,
}

impl Socket {
    fn supervisor_reads(&mut self) {
        let bytes = std::mem::take(&mut self.bytes);
        self.supervisor.handle_input(&bytes);
        while let Some(event) = self.supervisor.poll_event() {
            match event {
                SupervisorEvent::Request {
                    id,
                    body: ToSupervisor::GetVariable(request),
                    ..
                } => {
                    assert!(id > self.last_id, "request {id} after {}", self.last_id);
                    self.last_id = id;
                    self.unanswered.push_back((id, request.key.to_string()));
                }
                other => panic!("the supervisor read something else: {other:?}"),
            }
        }
    }

    fn supervisor_answers(&mut self, count: usize, newest_first: bool) {
        if self.closed {
            return;
        }
        for _ in 0..count {
            let next = if newest_first {
                self.unanswered.pop_back()
            } else {
                self.unanswered.pop_front()
            };
            let Some((id, key)) = next else { break };
            let body = ToTask::VariableResult(m::VariableResult {
                key: key.as_str().into(),
                value: Some(key.as_str().into()),
            });
            self.supervisor.respond(id, Response::Body(&body)).unwrap();
        }
        let bytes = self.supervisor.transmit().to_vec();
        self.supervisor.advance_transmit(bytes.len());
        self.to_task.extend_from_slice(&bytes);
    }

    /// A non-blocking read of at most `up_to` bytes of what the supervisor sent.
    fn read(&mut self, buf: &mut [u8], up_to: usize) -> io::Result<usize> {
        let n = buf.len().min(up_to).min(self.to_task.len());
        if n == 0 {
            return if self.closed && self.to_task.is_empty() {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        buf[..n].copy_from_slice(&self.to_task[..n]);
        self.to_task.drain(..n);
        Ok(n)
    }
}

fn write(socket: &Mutex<Socket>, data: &[u8]) -> io::Result<usize> {
    let mut socket = socket.lock().unwrap();
    let written = match socket.mode {
        SocketMode::Broken => Err(io::ErrorKind::BrokenPipe.into()),
        SocketMode::Takes(0) => Err(io::ErrorKind::WouldBlock.into()),
        SocketMode::Takes(budget) => {
            let n = data.len().min(budget);
            socket.bytes.extend_from_slice(&data[..n]);
            socket.mode = SocketMode::Takes(budget - n);
            Ok(n)
        }
    };
    if socket.eager {
        socket.supervisor_reads();
        socket.supervisor_answers(usize::MAX, false);
    }
    written
}

#[derive(Clone, Debug)]
enum Op {
    /// A new caller sends a request and polls it once.
    Call {
        timeout_ms: u64,
    },
    /// The callers woken since they last ran are polled.
    RunCallers,
    /// A caller drops its request (the one at this index among those waiting, modulo).
    Drop(usize),
    Socket(SocketMode),
    /// The driver runs, if woken.
    Driver,
    /// The supervisor reads what was written and answers up to this many requests, the
    /// oldest or the newest first.
    Supervisor {
        answer: usize,
        newest_first: bool,
    },
    /// Up to this many bytes of answers reach the task; the driver reads them.
    Deliver(usize),
    /// The driver's timer fires this long after the start.
    Timeout {
        after_ms: u64,
    },
    /// The supervisor closes the connection; the driver reads the end of the stream.
    Eof,
    /// The supervisor answers each request as soon as it is written, or stops doing so.
    Eager(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u64..200).prop_map(|timeout_ms| Op::Call { timeout_ms }),
        4 => Just(Op::RunCallers),
        1 => any::<usize>().prop_map(Op::Drop),
        2 => (0usize..120).prop_map(|n| Op::Socket(SocketMode::Takes(n))),
        1 => Just(Op::Socket(SocketMode::Takes(usize::MAX))),
        1 => Just(Op::Socket(SocketMode::Broken)),
        4 => Just(Op::Driver),
        3 => (0usize..6, any::<bool>())
            .prop_map(|(answer, newest_first)| Op::Supervisor { answer, newest_first }),
        3 => (1usize..200).prop_map(Op::Deliver),
        1 => (0u64..300).prop_map(|after_ms| Op::Timeout { after_ms }),
        1 => Just(Op::Eof),
        2 => any::<bool>().prop_map(Op::Eager),
    ]
}

struct Caller {
    key: String,
    exchange: Option<Pin<Box<Exchange>>>,
    woken: Woken,
    result: Option<Result<Reply, ExchangeError>>,
}

struct Model {
    dispatcher: Dispatcher,
    requester: Requester,
    socket: Arc<Mutex<Socket>>,
    mode: Mode,
    driver: Woken,
    /// The driver's last write found the socket full: it waits for it to take bytes.
    driver_waits_to_write: bool,
    /// Whether the driver reads the socket: with callers reading ahead, only if its last turn
    /// found an answer owed (`expects_input`), as the adapters' drivers do.
    driver_reads: bool,
    callers: Vec<Caller>,
    start: Instant,
}

impl Model {
    fn new(mode: Mode) -> Self {
        let mut supervisor = SupervisorSession::new(SupervisorConfig::default());
        let details = local_startup_details(&test_args("dag", "task")).unwrap();
        supervisor.send_startup(&details).unwrap();
        let startup = supervisor.transmit().to_vec();
        supervisor.advance_transmit(startup.len());
        let socket = Arc::new(Mutex::new(Socket {
            bytes: Vec::new(),
            mode: SocketMode::Takes(usize::MAX),
            supervisor,
            unanswered: VecDeque::new(),
            last_id: 0,
            to_task: startup,
            closed: false,
            eager: false,
        }));
        let now = Instant::now();
        let config = SessionConfig::default();
        let writer = socket.clone();
        let write = Box::new(move |data: &[u8]| write(&writer, data));
        let (dispatcher, _startup, requester) = match mode {
            Mode::Driver => Dispatcher::new(config, now),
            Mode::DirectWrites => Dispatcher::with_direct_writes(config, now, write),
            Mode::DirectIo => {
                let reader = socket.clone();
                let read = move |buf: &mut [u8]| reader.lock().unwrap().read(buf, usize::MAX);
                Dispatcher::with_direct_io(config, now, write, Box::new(read))
            }
        };
        let mut model = Self {
            dispatcher,
            requester,
            socket,
            mode,
            driver: Woken::new(),
            driver_waits_to_write: false,
            driver_reads: true,
            callers: Vec::new(),
            start: now,
        };
        model.deliver(usize::MAX);
        model
    }

    /// One turn of the driver, as the adapters' loops run it: write out, move the timer,
    /// take queued requests, until there is nothing left to do. Only if woken, unless
    /// `forced` by what the reactor reports: its read done, its timer, or the socket taking
    /// bytes again while it waits to write.
    fn run_driver(&mut self, forced: bool) {
        if !self.driver.take() && !forced {
            return;
        }
        let mut cx = Context::from_waker(&self.driver.waker);
        for _ in 0..1000 {
            let socket = &self.socket;
            let written =
                self.dispatcher
                    .poll_transmit(&mut cx, |_, data| match write(socket, data) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
                        other => Poll::Ready(other),
                    });
            self.driver_waits_to_write = written.is_pending();
            if written.is_pending() {
                // The adapters' drivers wait for the write before anything else.
                self.driver_reads = self.mode != Mode::DirectIo;
                return;
            }
            let _ = self.dispatcher.timer_to_set();
            match self.dispatcher.poll_requests(&mut cx) {
                Poll::Ready(true) => continue,
                Poll::Ready(false) => panic!("the driver stopped while a requester lives"),
                Poll::Pending => {
                    self.driver_reads =
                        self.mode != Mode::DirectIo || self.dispatcher.expects_input();
                    return;
                }
            }
        }
        panic!("the driver never settled");
    }

    fn poll_caller(caller: &mut Caller) {
        let Some(exchange) = caller.exchange.as_mut() else {
            return;
        };
        let waker = caller.woken.waker.clone();
        let mut cx = Context::from_waker(&waker);
        let mut before = caller.woken.now();
        let mut polled = exchange.as_mut().poll(&mut cx);
        if polled.is_pending() && caller.woken.now() != before {
            // Only a caller yielding after a streak of answers read ahead wakes itself; its
            // answer is kept for the poll it asked for.
            assert_eq!(caller.woken.now(), before + 1, "a caller woke itself twice");
            before = caller.woken.now();
            polled = exchange.as_mut().poll(&mut cx);
            assert!(
                polled.is_ready(),
                "a caller woke itself with no answer to take"
            );
        }
        if let Poll::Ready(result) = polled {
            caller.result = Some(result);
            caller.exchange = None;
        }
        // Any other wake during its own poll would make the executor poll it again at once.
        assert_eq!(caller.woken.now(), before, "a caller woke itself");
    }

    fn run_callers(&mut self) {
        for caller in &mut self.callers {
            if caller.exchange.is_some() && caller.woken.take() {
                Self::poll_caller(caller);
            }
        }
    }

    /// Up to `up_to` bytes of answers reach the task, read by the driver; then it runs.
    fn deliver(&mut self, up_to: usize) {
        let mut cx = Context::from_waker(&self.driver.waker);
        let socket = &self.socket;
        if !self.driver_reads {
            // The bytes wait in the socket, for a caller reading ahead or the driver's next
            // read.
            return;
        }
        if self.mode == Mode::DirectIo {
            // Through the dispatcher, with its table locked, as callers read ahead. The end
            // of the stream is read as the adapters' drivers read it.
            let _ = self.dispatcher.poll_receive(&mut cx, |_, buf| {
                match socket.lock().unwrap().read(buf, up_to) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
                    other => Poll::Ready(other),
                }
            });
        } else {
            let mut peer = socket.lock().unwrap();
            let n = up_to.min(peer.to_task.len());
            let chunk: Vec<u8> = peer.to_task.drain(..n).collect();
            let ended = peer.closed && peer.to_task.is_empty();
            drop(peer);
            if !chunk.is_empty() {
                self.dispatcher.handle_input(&chunk, Instant::now());
            }
            if ended {
                self.dispatcher.handle_eof(Instant::now());
            }
        }
        self.run_driver(true);
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Call { timeout_ms } => {
                let key = format!("k{}", self.callers.len());
                let body = m::GetVariable {
                    key: key.as_str().into(),
                };
                let exchange = self.requester.exchange(
                    Box::new(ToSupervisor::from(body)),
                    Duration::from_millis(timeout_ms),
                );
                let mut caller = Caller {
                    key,
                    exchange: Some(Box::pin(exchange)),
                    woken: Woken::new(),
                    result: None,
                };
                Self::poll_caller(&mut caller);
                self.callers.push(caller);
            }
            Op::RunCallers => self.run_callers(),
            Op::Drop(index) => {
                let mut waiting: Vec<_> = self
                    .callers
                    .iter_mut()
                    .filter(|c| c.exchange.is_some())
                    .collect();
                if !waiting.is_empty() {
                    let len = waiting.len();
                    waiting[index % len].exchange = None;
                }
            }
            Op::Socket(mode) => self.set_socket(mode),
            Op::Driver => self.run_driver(false),
            Op::Supervisor {
                answer,
                newest_first,
            } => {
                let mut peer = self.socket.lock().unwrap();
                peer.supervisor_reads();
                peer.supervisor_answers(answer, newest_first);
            }
            Op::Deliver(up_to) => self.deliver(up_to),
            Op::Timeout { after_ms } => {
                self.dispatcher
                    .handle_timeout(self.start + Duration::from_millis(after_ms));
                self.run_driver(true);
            }
            Op::Eof => {
                // What the supervisor sent before closing arrives first.
                self.socket.lock().unwrap().closed = true;
                self.deliver(usize::MAX);
            }
            Op::Eager(eager) => self.socket.lock().unwrap().eager = eager,
        }
    }

    fn set_socket(&mut self, mode: SocketMode) {
        self.socket.lock().unwrap().mode = mode;
        // Taking bytes again is a readiness event for a driver waiting to write; breaking is
        // too (the write fails).
        let ready = !matches!(mode, SocketMode::Takes(0));
        if ready && self.driver_waits_to_write {
            self.run_driver(true);
        }
    }

    /// The socket takes everything (unless broken), and the supervisor answers everything it
    /// is sent, until nothing moves. No deadline is passed here: whatever still waits after
    /// this is stuck.
    fn settle(&mut self) {
        let broken = matches!(self.socket.lock().unwrap().mode, SocketMode::Broken);
        if !broken {
            self.set_socket(SocketMode::Takes(usize::MAX));
        }
        for _ in 0..100 {
            self.run_driver(false);
            let mut peer = self.socket.lock().unwrap();
            peer.supervisor_reads();
            peer.supervisor_answers(usize::MAX, false);
            drop(peer);
            self.deliver(usize::MAX);
            self.run_callers();
        }
    }

    fn check(&mut self) {
        for caller in &mut self.callers {
            if let Some(exchange) = caller.exchange.as_mut() {
                let mut cx = Context::from_waker(Waker::noop());
                let lost = if exchange.as_mut().poll(&mut cx).is_ready() {
                    "ready but never woken: a lost wake-up"
                } else {
                    "still waiting after the supervisor answered everything"
                };
                panic!("request {:?}: {lost}", caller.key);
            }
            match caller.result.as_ref() {
                None => {} // dropped by its caller
                Some(Ok(Reply::Body(ToTask::VariableResult(v)))) => {
                    let value = v.value.as_ref().map(|v| v.to_string());
                    assert_eq!(
                        value.as_deref(),
                        Some(caller.key.as_str()),
                        "misrouted answer"
                    );
                }
                Some(Ok(other)) => panic!("request {:?} got {other:?}", caller.key),
                Some(Err(_)) => {} // timed out, refused or closed: an answer all the same
            }
        }
    }
}

fn run(mode: Mode, ops: &[Op]) {
    let mut model = Model::new(mode);
    // Half the cases start with a supervisor that answers at once: callers reading ahead
    // then find most answers in the poll that sent them.
    model.apply(&Op::Eager(ops.len() % 2 == 0));
    for op in ops {
        model.apply(op);
    }
    model.settle();
    model.check();
}

/// 400 cases per mode in the test suite; `PROPTEST_CASES` for longer runs.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn requests_written_by_their_callers_always_get_their_own_answers(
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run(Mode::DirectWrites, &ops);
    }

    #[test]
    fn requests_written_by_the_driver_always_get_their_own_answers(
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run(Mode::Driver, &ops);
    }

    #[test]
    fn callers_reading_ahead_always_get_their_own_answers(
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run(Mode::DirectIo, &ops);
    }
}

/// A direct write the socket takes only part of, then a request queued behind it.
#[test]
fn a_partial_direct_write_then_a_queued_request_keeps_their_order() {
    let ops = [
        Op::Socket(SocketMode::Takes(7)),
        Op::Call { timeout_ms: 100 },
        Op::Call { timeout_ms: 100 },
        Op::Supervisor {
            answer: 5,
            newest_first: false,
        },
        Op::Driver,
    ];
    run(Mode::DirectWrites, &ops);
}

/// With callers reading ahead, the driver reads only while an answer is owed: a request that
/// still waits after its caller's write (here one that skips its read ahead after a miss)
/// must set it reading again, though its deadline leaves the driver's timer alone.
#[test]
fn a_request_still_waiting_after_its_write_sets_the_driver_reading() {
    let ops = [
        Op::Eager(false),
        Op::Call { timeout_ms: 100 },
        Op::Supervisor {
            answer: 1,
            newest_first: false,
        },
        Op::Driver,
        Op::Deliver(usize::MAX),
        Op::RunCallers,
        Op::Call { timeout_ms: 100 },
    ];
    run(Mode::DirectIo, &ops);
}
