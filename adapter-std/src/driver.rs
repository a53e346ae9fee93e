//! Drives the core's task session over a blocking `TcpStream`.
//!
//! There is no reader thread: a caller waiting for its answer reads the socket itself, as a
//! blocking client would, so an answer reaches its caller without a hop between threads. When
//! several threads wait at once, one reads (it holds the read half) and the others wait on a
//! condition variable until the reader has fed the session; whoever reads or waits also runs
//! the session's timeouts, so no timer thread is needed. Every protocol decision (ids,
//! matching, deadlines, violations) is the session's.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use airflow_protocol::messages::StartupDetails;
use airflow_protocol::{
    CloseReason, Event, Reply, ReplyError, SessionConfig, TaskSession, ToSupervisor,
};
use airflow_task_sdk::ExchangeError;

// The longest a read blocks before the reader looks at the session's deadlines again; reads
// are shortened to end at the next deadline.
const READ_SLICE: Duration = Duration::from_secs(1);
const MIN_READ_TIMEOUT: Duration = Duration::from_millis(1);

/// The read half of the connection, held by the thread that reads.
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
    // The socket's read timeout as last set (each change is a system call).
    timeout: Duration,
}

impl Reader {
    // Reads once, returning by `deadline` at the latest.
    fn read(&mut self, deadline: Option<Instant>) -> std::io::Result<usize> {
        let want = deadline
            .map_or(READ_SLICE, |d| d.saturating_duration_since(Instant::now()))
            .clamp(MIN_READ_TIMEOUT, READ_SLICE);
        // Shorten it to end by the deadline; lengthen it again only when it is far too short.
        if want < self.timeout || want > self.timeout * 2 {
            self.stream.set_read_timeout(Some(want))?;
            self.timeout = want;
        }
        self.stream.read(&mut self.buf)
    }
}

struct State {
    session: TaskSession,
    replies: HashMap<u64, Result<Reply, ReplyError>>,
    startup: Option<Box<StartupDetails>>,
    closed: Option<CloseReason>,
    // `None` while a thread is reading.
    reader: Option<Box<Reader>>,
    // Threads waiting on `changed` (notifying nobody would still cost a system call).
    waiters: usize,
}

/// One comm connection and its session, shared by every thread of the task.
pub(crate) struct Connection {
    state: Mutex<State>,
    changed: Condvar,
    writer: Mutex<TcpStream>,
}

impl Connection {
    /// Takes over `stream`; nothing is read until a caller waits.
    pub(crate) fn start(stream: TcpStream, config: SessionConfig) -> std::io::Result<Arc<Self>> {
        let reader = stream.try_clone()?;
        reader.set_read_timeout(Some(READ_SLICE))?;
        Ok(Arc::new(Self {
            state: Mutex::new(State {
                session: TaskSession::new(config, Instant::now()),
                replies: HashMap::new(),
                startup: None,
                closed: None,
                reader: Some(Box::new(Reader {
                    stream: reader,
                    buf: vec![0u8; 64 * 1024],
                    timeout: READ_SLICE,
                })),
                waiters: 0,
            }),
            changed: Condvar::new(),
            writer: Mutex::new(stream),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // The drain rule of the session: write out, collect every event, wake the waiters.
    fn settle(&self, state: &mut State) {
        let pending = state.session.transmit();
        if !pending.is_empty() {
            let written = self
                .writer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .write_all(pending);
            let len = pending.len();
            match written {
                Ok(()) => state.session.advance_transmit(len),
                Err(_) => state.session.handle_eof(Instant::now()),
            }
        }
        while let Some(event) = state.session.poll_event() {
            match event {
                Event::Startup(details) => state.startup = Some(details),
                Event::Reply { id, result } => {
                    state.replies.insert(id.0, result);
                }
                Event::Closed(reason) => {
                    if let Ok(stream) = self.writer.lock() {
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                    state.closed = Some(reason);
                }
            }
        }
        if state.waiters > 0 {
            self.changed.notify_all();
        }
    }

    // Waits for a change, at most until the session's next deadline, then runs its timeouts.
    // Reads the socket itself when no other thread does.
    fn wait<'a>(&'a self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let deadline = state.session.poll_timeout();
        match state.reader.take() {
            Some(mut reader) if state.closed.is_none() => {
                drop(state);
                let read = reader.read(deadline);
                state = self.lock();
                let now = Instant::now();
                match read {
                    Ok(0) => state.session.handle_eof(now),
                    Ok(n) => state.session.handle_input(&reader.buf[..n], now),
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                        ) => {}
                    Err(_) => state.session.handle_eof(now),
                }
                state.reader = Some(reader);
            }
            reader => {
                // Another thread reads (or the connection is over): wait for its news.
                state.reader = reader;
                let wait = match deadline {
                    Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                    None => Duration::from_secs(3600),
                };
                if !wait.is_zero() {
                    state.waiters += 1;
                    state = self
                        .changed
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                    state.waiters -= 1;
                }
            }
        }
        state.session.handle_timeout(Instant::now());
        self.settle(&mut state);
        state
    }

    /// Waits for `StartupDetails` (bounded by the session's startup timeout).
    pub(crate) fn startup(&self) -> Result<Box<StartupDetails>, String> {
        let mut state = self.lock();
        loop {
            if let Some(details) = state.startup.take() {
                return Ok(details);
            }
            if let Some(reason) = &state.closed {
                return Err(reason.to_string());
            }
            state = self.wait(state);
        }
    }

    /// Sends one request and waits for its answer (bounded by `timeout`).
    pub(crate) fn exchange(
        &self,
        body: &ToSupervisor,
        timeout: Duration,
    ) -> Result<Reply, ExchangeError> {
        let mut state = self.lock();
        let id = state
            .session
            .send_with(body, timeout, None, Instant::now())?;
        self.settle(&mut state);
        loop {
            if let Some(result) = state.replies.remove(&id.0) {
                return Ok(result?);
            }
            state = self.wait(state);
        }
    }
}
