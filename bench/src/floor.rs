//! The floor: a minimal blocking echo over the same kind of socket (loopback TCP, `TCP_NODELAY`)
//! with the same frame sizes, and no protocol work at all: the server answers every complete
//! frame with fixed bytes, the client writes fixed bytes and reads one frame back.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use airflow_protocol::frame::{self, Response, DEFAULT_MAX_FRAME_LEN};
use airflow_protocol::messages::{self as m, ToTask};
use airflow_protocol::ToSupervisor;

use crate::{KEY, VALUE};

/// A `GetVariable` request frame for [`KEY`] with request id `id`, as a task sends it.
pub fn request_frame(id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let body = ToSupervisor::GetVariable(m::GetVariable { key: KEY.into() });
    frame::encode_request(&mut out, id, &body, None, DEFAULT_MAX_FRAME_LEN)
        .expect("a GetVariable frame encodes");
    out
}

/// The `VariableResult` answer frame for [`KEY`], as a supervisor sends it.
pub fn response_frame(id: i64) -> Vec<u8> {
    let mut out = Vec::new();
    let body = ToTask::VariableResult(m::VariableResult {
        key: KEY.into(),
        value: Some(VALUE.into()),
    });
    frame::encode_response(&mut out, id, Response::Body(&body), DEFAULT_MAX_FRAME_LEN)
        .expect("a VariableResult frame encodes");
    out
}

/// Answers every complete frame read from `stream` with `response` (the answers to one read
/// in one write) until the peer closes. Returns the number of frames answered.
pub fn serve_echo(mut stream: TcpStream, response: &[u8]) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let mut out = Vec::with_capacity(64 * 1024);
    let mut frames = 0;
    loop {
        let n = match stream.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => return Ok(frames),
            Ok(n) => n,
        };
        filled += n;
        let mut start = 0;
        while let Some(len) = whole_frame(&buf[start..filled]) {
            start += len;
            out.extend_from_slice(response);
            frames += 1;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
        }
    }
}

// The length of the complete frame at the start of `data`, prefix included.
fn whole_frame(data: &[u8]) -> Option<usize> {
    let prefix: [u8; 4] = data.get(..4)?.try_into().ok()?;
    let len = 4 + u32::from_be_bytes(prefix) as usize;
    (data.len() >= len).then_some(len)
}

/// The client half of the floor: writes requests, reads whole frames back.
pub struct FrameClient {
    stream: TcpStream,
    buf: Vec<u8>,
    filled: usize,
}

impl FrameClient {
    /// A client over a connected stream.
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: vec![0u8; 64 * 1024],
            filled: 0,
        }
    }

    /// Writes `bytes` in one write.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads until `count` whole frames arrived, and drops them.
    pub fn receive(&mut self, count: usize) -> io::Result<()> {
        let mut got = 0;
        loop {
            let mut start = 0;
            while got < count {
                match whole_frame(&self.buf[start..self.filled]) {
                    Some(len) => {
                        start += len;
                        got += 1;
                    }
                    None => break,
                }
            }
            self.buf.copy_within(start..self.filled, 0);
            self.filled -= start;
            if got == count {
                return Ok(());
            }
            if self.filled == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = self.stream.read(&mut self.buf[self.filled..])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.filled += n;
        }
    }

    /// One round trip: writes `request`, reads one frame back.
    pub fn round_trip(&mut self, request: &[u8]) -> io::Result<()> {
        self.send(request)?;
        self.receive(1)
    }
}
