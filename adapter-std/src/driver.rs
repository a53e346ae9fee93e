//! Drives the core's task session over a blocking `TcpStream`.
//!
//! A reader thread feeds received bytes to the session. Callers send under the session's lock
//! and wait on a condition variable for their answer; a waiting caller also runs the session's
//! timeouts, so no timer thread is needed. Every protocol decision (ids, matching, deadlines,
//! violations) is the session's.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use airflow_protocol::messages::StartupDetails;
use airflow_protocol::{
    CloseReason, Event, Reply, ReplyError, SessionConfig, TaskSession, ToSupervisor,
};
use airflow_task_sdk::ExchangeError;

struct State {
    session: TaskSession,
    replies: HashMap<u64, Result<Reply, ReplyError>>,
    startup: Option<Box<StartupDetails>>,
    closed: Option<CloseReason>,
}

/// One comm connection and its session, shared by every thread of the task.
pub(crate) struct Connection {
    state: Mutex<State>,
    changed: Condvar,
    writer: Mutex<TcpStream>,
}

impl Connection {
    /// Starts reading `stream` on a background thread.
    pub(crate) fn start(stream: TcpStream, config: SessionConfig) -> std::io::Result<Arc<Self>> {
        let reader = stream.try_clone()?;
        let connection = Arc::new(Self {
            state: Mutex::new(State {
                session: TaskSession::new(config, Instant::now()),
                replies: HashMap::new(),
                startup: None,
                closed: None,
            }),
            changed: Condvar::new(),
            writer: Mutex::new(stream),
        });
        let for_reader = connection.clone();
        std::thread::Builder::new()
            .name("airflow-comm".into())
            .spawn(move || for_reader.read_loop(reader))?;
        Ok(connection)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read_loop(&self, mut reader: TcpStream) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let read = reader.read(&mut buf);
            let mut state = self.lock();
            match read {
                Ok(0) | Err(_) => {
                    state.session.handle_eof(Instant::now());
                    self.settle(&mut state);
                    return;
                }
                Ok(n) => {
                    state.session.handle_input(&buf[..n], Instant::now());
                    self.settle(&mut state);
                    if state.closed.is_some() {
                        return;
                    }
                }
            }
        }
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
        self.changed.notify_all();
    }

    // Waits for a change, at most until the session's next deadline, then runs its timeouts.
    fn wait<'a>(&self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let wait = match state.session.poll_timeout() {
            Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(3600),
        };
        if !wait.is_zero() {
            state = self
                .changed
                .wait_timeout(state, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
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
