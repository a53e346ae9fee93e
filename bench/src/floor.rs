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

/// The reactor floors: the floor's client written on an async runtime, one request at a time,
/// each round trip in nanoseconds. No protocol work either; the difference to the blocking
/// floor is what a readiness-based reactor costs by itself (an `epoll_wait` or more per round
/// trip, and the runtime's bookkeeping around it), a part of every async adapter's distance.
pub mod reactor {
    use std::io;
    use std::time::Instant;

    use super::{request_frame, whole_frame};

    async fn round_trips<S>(mut stream: S, total: usize) -> io::Result<Vec<u64>>
    where
        S: Unpin + AsyncIo,
    {
        let request = request_frame(1);
        let mut buf = vec![0u8; 64 * 1024];
        let mut each = Vec::with_capacity(total);
        for _ in 0..total {
            let start = Instant::now();
            stream.write_all_bytes(&request).await?;
            let mut filled = 0;
            while whole_frame(&buf[..filled]).is_none() {
                let n = stream.read_bytes(&mut buf[filled..]).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                filled += n;
            }
            each.push(start.elapsed().as_nanos() as u64);
        }
        Ok(each)
    }

    /// The two operations the floor client needs, over either runtime's stream.
    #[allow(async_fn_in_trait)]
    pub trait AsyncIo {
        /// Writes all of `bytes`.
        async fn write_all_bytes(&mut self, bytes: &[u8]) -> io::Result<()>;
        /// Reads some bytes.
        async fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    }

    impl AsyncIo for tokio::net::TcpStream {
        async fn write_all_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
            tokio::io::AsyncWriteExt::write_all(self, bytes).await
        }
        async fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            tokio::io::AsyncReadExt::read(self, buf).await
        }
    }

    impl AsyncIo for async_io::Async<std::net::TcpStream> {
        async fn write_all_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
            futures_lite::AsyncWriteExt::write_all(self, bytes).await
        }
        async fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            futures_lite::AsyncReadExt::read(self, buf).await
        }
    }

    /// `total` round trips on a current-thread tokio runtime with I/O and timers (as the
    /// tokio adapter runs), reading once the reactor reports the socket readable.
    pub fn tokio(stream: std::net::TcpStream, total: usize) -> io::Result<Vec<u64>> {
        stream.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let stream = tokio::net::TcpStream::from_std(stream)?;
            round_trips(stream, total).await
        })
    }

    /// `total` round trips under `async_io::block_on` (as the smol adapter runs), each read
    /// trying `recv` before waiting for the reactor, as `futures-io` reads do.
    pub fn async_io(stream: std::net::TcpStream, total: usize) -> io::Result<Vec<u64>> {
        async_io::block_on(async {
            let stream = async_io::Async::new(stream)?;
            round_trips(stream, total).await
        })
    }
}
