//! A lean supervisor on the core's [`SupervisorSession`]: one blocking thread, one read and
//! one write per batch of requests, answers built once.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use airflow_protocol::frame::Response;
use airflow_protocol::messages::{self as m, StartupDetails, ToTask};
use airflow_protocol::{SupervisorConfig, SupervisorEvent, SupervisorSession, ToSupervisor};

use crate::{KEY, VALUE};

/// What [`serve`] saw.
#[derive(Debug, Default)]
pub struct Served {
    /// Requests answered.
    pub requests: u64,
    /// The terminal message, if the task sent one.
    pub terminal: Option<ToSupervisor>,
}

/// Serves one task over `stream` until it sent its terminal message or closed the connection:
/// sends `details`, answers every `GetVariable` with a `VariableResult` of [`VALUE`] and every
/// other request with the empty answer. `on_request` sees each request before it is answered.
pub fn serve(
    mut stream: TcpStream,
    details: &StartupDetails,
    mut on_request: impl FnMut(&ToSupervisor),
) -> io::Result<Served> {
    let mut session = SupervisorSession::new(SupervisorConfig::default());
    session.send_startup(details).map_err(io::Error::other)?;
    let answer = variable_result(KEY);
    let mut served = Served::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let pending = session.transmit();
        if !pending.is_empty() {
            stream.write_all(pending)?;
            let written = pending.len();
            session.advance_transmit(written);
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => session.handle_eof(),
            Ok(n) => session.handle_input(&buf[..n]),
        }
        while let Some(event) = session.poll_event() {
            match event {
                SupervisorEvent::Request { id, body, .. } => {
                    served.requests += 1;
                    on_request(&body);
                    let other;
                    let response = match &body {
                        ToSupervisor::GetVariable(r) if r.key == KEY => Response::Body(&answer),
                        ToSupervisor::GetVariable(r) => {
                            other = variable_result(&r.key);
                            Response::Body(&other)
                        }
                        _ => Response::Empty,
                    };
                    session.respond(id, response).map_err(io::Error::other)?;
                    if body.is_terminal() {
                        // The run is over once its terminal message is answered. (Airflow
                        // reads on until the process exits; an in-process run has no exit.)
                        stream.write_all(session.transmit())?;
                        served.terminal = Some(body);
                        return Ok(served);
                    }
                }
                SupervisorEvent::Unanswerable { id, reason } => {
                    return Err(io::Error::other(format!(
                        "request {id} cannot be answered: {reason}"
                    )));
                }
                SupervisorEvent::Closed { violation, .. } => {
                    if let Some(violation) = violation {
                        return Err(io::Error::other(violation.to_string()));
                    }
                    return Ok(served);
                }
            }
        }
    }
}

fn variable_result(key: &str) -> ToTask {
    ToTask::VariableResult(m::VariableResult {
        key: key.into(),
        value: Some(VALUE.into()),
    })
}
