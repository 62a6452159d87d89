//! Workloads shared by the benches: payloads, pre-encoded masked client
//! frames (what a browser sends), and a socket-like reader that moves at
//! most 64 KiB per read into the core.

#![allow(dead_code)]

use rfc6455::connection::Event;
pub use rfc6455::testkit::XorShift;
use rfc6455::{Config, Connection, MaskSource, OpCode, Role};
use std::io;

/// Message sizes measured for receive and send.
pub const SIZES: [usize; 6] = [16, 125, 1 << 10, 16 << 10, 64 << 10, 1 << 20];

/// Largest read a "socket" returns, like a typical TCP receive.
pub const MAX_READ: usize = 64 << 10;

/// Payload bytes each iteration processes (at least one message), so small
/// messages are measured in batches as they arrive on a busy socket.
pub const BATCH_BYTES: usize = 256 << 10;

/// Messages per iteration for a message of `size` bytes.
pub fn batch(size: usize) -> usize {
    (BATCH_BYTES / size.max(1)).max(1)
}

/// `len` bytes of pseudo-random binary.
pub fn binary(len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    XorShift::new(0x9e37_79b9_7f4a_7c15).fill(&mut out);
    out
}

/// `len` bytes of printable ASCII.
pub fn ascii(len: usize) -> String {
    (0..len).map(|i| char::from(b' ' + (i % 95) as u8)).collect()
}

/// One period of the multibyte text: 1-, 2-, 3- and 4-byte sequences,
/// 16 bytes long, so every 64 KiB cut falls at the same place in it.
const MIXED: &str = "aé€𝄞é€b";

/// `len` bytes of mixed-width UTF-8 (7 code points per 16 bytes, 6 of them
/// non-ASCII), after `prefix` ASCII bytes; padded with ASCII to `len`.
pub fn multibyte(len: usize, prefix: usize) -> String {
    debug_assert_eq!(MIXED.len(), 16);
    let mut out = String::with_capacity(len);
    out.extend(std::iter::repeat_n('x', prefix.min(len)));
    while out.len() + MIXED.len() <= len {
        out.push_str(MIXED);
    }
    while out.len() < len {
        out.push('y');
    }
    out
}

/// Frames as a client sends them: masked, minimal headers.
pub struct ClientWire {
    conn: Connection,
}

impl Default for ClientWire {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientWire {
    pub fn new() -> Self {
        let conn = Connection::established_with_masks(Role::Client, Config::default(), &[], Box::new(XorShift::new(7)));
        Self { conn }
    }

    pub fn text(&mut self, text: &str) -> &mut Self {
        self.conn.send_text(text).unwrap();
        self
    }

    pub fn binary(&mut self, data: &[u8]) -> &mut Self {
        self.conn.send_binary(data).unwrap();
        self
    }

    /// One message cut into frames of `frame` bytes (the cuts land where
    /// they land, inside UTF-8 sequences too).
    pub fn fragmented(&mut self, opcode: OpCode, payload: &[u8], frame: usize) -> &mut Self {
        let count = payload.len().div_ceil(frame);
        for (i, piece) in payload.chunks(frame).enumerate() {
            let op = if i == 0 { opcode } else { OpCode::Continuation };
            self.conn.send_frame(op, piece, i + 1 == count).unwrap();
        }
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.conn.pending_output().to_vec()
    }
}

/// What a receive workload sends: the bytes on the wire, how many messages
/// they hold and how many payload bytes.
pub struct Workload {
    pub wire: Vec<u8>,
    pub messages: usize,
    pub payload: usize,
}

impl Workload {
    /// `count` copies of one single-frame message.
    pub fn repeated(text: bool, size: usize, count: usize) -> Self {
        let mut w = ClientWire::new();
        if text {
            let t = ascii(size);
            for _ in 0..count {
                w.text(&t);
            }
        } else {
            let b = binary(size);
            for _ in 0..count {
                w.binary(&b);
            }
        }
        Self {
            wire: w.bytes(),
            messages: count,
            payload: size * count,
        }
    }

    /// `count` copies of a multibyte text message.
    pub fn multibyte(size: usize, count: usize) -> Self {
        let t = multibyte(size, 0);
        let mut w = ClientWire::new();
        for _ in 0..count {
            w.text(&t);
        }
        Self {
            wire: w.bytes(),
            messages: count,
            payload: size * count,
        }
    }

    /// One message of `size` bytes in frames of `frame` bytes. For text,
    /// every cut splits a UTF-8 sequence (checked).
    pub fn fragmented(text: bool, size: usize, frame: usize) -> Self {
        let mut w = ClientWire::new();
        if text {
            // Cuts fall at multiples of 16 (the period); 8 bytes of prefix
            // put them in the middle of the 4-byte sequence.
            let t = multibyte(size, 8);
            for cut in (frame..size).step_by(frame) {
                assert!(!t.is_char_boundary(cut), "cut {cut} must split a sequence");
            }
            w.fragmented(OpCode::Text, t.as_bytes(), frame);
        } else {
            w.fragmented(OpCode::Binary, &binary(size), frame);
        }
        Self {
            wire: w.bytes(),
            messages: 1,
            payload: size,
        }
    }
}

/// A server-side connection, open, with the default settings.
pub fn server() -> Connection {
    server_with(Config::default())
}

/// [`server`] with settings.
pub fn server_with(config: Config) -> Connection {
    Connection::established(Role::Server, config, &[])
}

/// Feeds `wire` to `conn` as a socket would (reads of at most
/// [`MAX_READ`] bytes into `read_buffer`), polling events after each read.
/// Returns the number of messages and payload bytes seen.
#[inline]
pub fn receive_all(conn: &mut Connection, wire: &[u8]) -> (usize, usize) {
    let mut messages = 0;
    let mut bytes = 0;
    let mut off = 0;
    while off < wire.len() {
        let buf = conn.read_buffer();
        let n = buf.len().min(MAX_READ).min(wire.len() - off);
        buf[..n].copy_from_slice(&wire[off..off + n]);
        conn.commit_read(n);
        off += n;
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Text(t) => {
                    messages += 1;
                    bytes += std::hint::black_box(t).len();
                }
                Event::Binary(b) => {
                    messages += 1;
                    bytes += std::hint::black_box(b).len();
                }
                // With `stream_messages`: a message ends with its last part.
                Event::TextPart { text, last } => {
                    messages += usize::from(last);
                    bytes += std::hint::black_box(text).len();
                }
                Event::BinaryPart { data, last } => {
                    messages += usize::from(last);
                    bytes += std::hint::black_box(data).len();
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
    }
    (messages, bytes)
}

/// An endless in-memory stream replaying `data` (whole messages), at most
/// [`MAX_READ`] bytes per read; writes are discarded.
pub struct Replay {
    data: Vec<u8>,
    pos: usize,
}

impl Replay {
    pub fn new(data: Vec<u8>) -> Self {
        Self { data, pos: 0 }
    }
}

impl io::Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(MAX_READ).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos = (self.pos + n) % self.data.len();
        Ok(n)
    }
}

impl io::Write for Replay {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(std::hint::black_box(buf).len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// Its reads never wait, as a socket's bounded by a read timeout never
// waits past it: the blocking driver treats it as it treats a TcpStream
// (`Plain` around it: as a transport without timeouts).
impl rfc6455::Transport for Replay {
    fn reads_time_out(&self) -> bool {
        true
    }
}

/// A sink that copies what is written, as a kernel copies a write into
/// its socket buffer (into one reused 1 MiB buffer); reads find nothing.
pub struct Copying {
    kernel: Vec<u8>,
}

impl Copying {
    pub fn new() -> Self {
        Self {
            kernel: vec![0; 1 << 20],
        }
    }

    fn copy_in(&mut self, buf: &[u8]) -> usize {
        let n = buf.len().min(self.kernel.len());
        self.kernel[..n].copy_from_slice(&buf[..n]);
        std::hint::black_box(&mut self.kernel);
        n
    }
}

impl io::Read for Copying {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl io::Write for Copying {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.copy_in(buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut n = 0;
        for buf in bufs {
            let k = self.copy_in(buf);
            n += k;
            if k < buf.len() {
                break;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
