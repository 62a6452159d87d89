//! The same in-memory workloads through rfc6455 and its peers.
//!
//! Receive: the server role reads masked client frames (as a browser sends
//! them) from an endless in-memory stream that returns at most 64 KiB per
//! read, and hands each whole message to the application (each library's
//! normal message API: rfc6455's `poll_event` (the core), `read` (the
//! blocking and tokio drivers), tungstenite's `read`,
//! fastwebsockets' `FragmentCollector::read_frame`, tokio-websockets'
//! `Stream::next`). Send: the client role (masking with each library's
//! default random source) writes messages into a sink that discards them,
//! flushing after each message.
//!
//! One "iteration" is a batch of messages carrying 256 KiB of payload (at
//! least one message).

use bytes::Bytes;
use rfc6455::connection::Event;
use rfc6455::{Config, Connection, MaskSource, OpCode};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

pub const MAX_READ: usize = 64 << 10;
pub const BATCH_BYTES: usize = 256 << 10;

/// The libraries, in table order.
pub const LIBS: [&str; 7] = [
    "rfc6455",
    "rfc6455-driver",
    "rfc6455-tokio",
    "rfc6455-stream",
    "tungstenite",
    "fastwebsockets",
    "tokio-websockets",
];

/// Libraries that are not rfc6455 (ratios are against the fastest of them).
pub fn is_peer(lib: &str) -> bool {
    !lib.starts_with("rfc6455")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Single-frame binary messages.
    Binary,
    /// Single-frame ASCII text messages.
    Text,
    /// Single-frame multibyte text (1- to 4-byte sequences).
    TextMultibyte,
    /// One binary message in 64 KiB frames.
    BinaryFragmented,
    /// One multibyte text message in 64 KiB frames, every cut inside a
    /// UTF-8 sequence.
    TextFragmented,
}

#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Criterion group name and table label.
    pub name: &'static str,
    pub send: bool,
    pub kind: Kind,
    pub size: usize,
    /// Each read returns one message, and an async read returns `Pending`
    /// (waking its task) before each: a peer sending one message at a
    /// time, quiet in between, as most applications' peers do. Otherwise
    /// a read returns up to 64 KiB of messages, and never `Pending`.
    pub one_per_read: bool,
}

impl Spec {
    pub fn messages(&self) -> usize {
        (BATCH_BYTES / self.size).max(1)
    }

    pub fn payload(&self) -> usize {
        self.messages() * self.size
    }

    pub fn is_text(&self) -> bool {
        matches!(self.kind, Kind::Text | Kind::TextMultibyte | Kind::TextFragmented)
    }
}

pub const SPECS: [Spec; 11] = [
    Spec {
        name: "recv binary 16 B",
        send: false,
        kind: Kind::Binary,
        size: 16,
        one_per_read: false,
    },
    Spec {
        name: "recv binary 16 B one per read",
        send: false,
        kind: Kind::Binary,
        size: 16,
        one_per_read: true,
    },
    Spec {
        name: "recv text 16 B",
        send: false,
        kind: Kind::Text,
        size: 16,
        one_per_read: false,
    },
    Spec {
        name: "recv binary 1 KiB",
        send: false,
        kind: Kind::Binary,
        size: 1 << 10,
        one_per_read: false,
    },
    Spec {
        name: "recv text 1 KiB",
        send: false,
        kind: Kind::Text,
        size: 1 << 10,
        one_per_read: false,
    },
    Spec {
        name: "recv binary 64 KiB",
        send: false,
        kind: Kind::Binary,
        size: 64 << 10,
        one_per_read: false,
    },
    Spec {
        name: "recv text 64 KiB multibyte",
        send: false,
        kind: Kind::TextMultibyte,
        size: 64 << 10,
        one_per_read: false,
    },
    Spec {
        name: "recv binary 1 MiB in 64 KiB frames",
        send: false,
        kind: Kind::BinaryFragmented,
        size: 1 << 20,
        one_per_read: false,
    },
    Spec {
        name: "recv text 1 MiB in 64 KiB frames",
        send: false,
        kind: Kind::TextFragmented,
        size: 1 << 20,
        one_per_read: false,
    },
    Spec {
        name: "send binary 16 B",
        send: true,
        kind: Kind::Binary,
        size: 16,
        one_per_read: false,
    },
    Spec {
        name: "send binary 1 KiB",
        send: true,
        kind: Kind::Binary,
        size: 1 << 10,
        one_per_read: false,
    },
];

/// A file-system-safe id for a spec (criterion directory name).
pub fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

// ------------------------------------------------------------ payloads

/// Deterministic masks (xorshift64*), so every run encodes the same bytes.
pub struct XorShift(pub u64);

impl MaskSource for XorShift {
    fn fill(&mut self, dest: &mut [u8]) {
        for byte in dest {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            *byte = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
    }
}

pub fn binary(len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    XorShift(0x9e37_79b9_7f4a_7c15).fill(&mut out);
    out
}

/// Mixed-width UTF-8, 16 bytes per period, after `prefix` ASCII bytes.
pub fn multibyte(len: usize, prefix: usize) -> String {
    const MIXED: &str = "aé€𝄞é€b";
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

/// The client frames of one batch of `spec`, as a browser would send them.
pub fn wire(spec: &Spec) -> Vec<u8> {
    let mut client =
        Connection::established_with_masks(rfc6455::Role::Client, Config::default(), &[], Box::new(XorShift(7)));
    let frame = 64 << 10;
    match spec.kind {
        Kind::Binary => {
            let data = binary(spec.size);
            for _ in 0..spec.messages() {
                client.send_binary(&data).unwrap();
            }
        }
        Kind::Text => {
            let text: String = (0..spec.size).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            for _ in 0..spec.messages() {
                client.send_text(&text).unwrap();
            }
        }
        Kind::TextMultibyte => {
            let text = multibyte(spec.size, 0);
            for _ in 0..spec.messages() {
                client.send_text(&text).unwrap();
            }
        }
        Kind::BinaryFragmented | Kind::TextFragmented => {
            let text = spec.kind == Kind::TextFragmented;
            let payload = if text {
                let t = multibyte(spec.size, 8);
                for cut in (frame..spec.size).step_by(frame) {
                    assert!(!t.is_char_boundary(cut));
                }
                t.into_bytes()
            } else {
                binary(spec.size)
            };
            let count = payload.len().div_ceil(frame);
            for (i, piece) in payload.chunks(frame).enumerate() {
                let op = match (i, text) {
                    (0, true) => OpCode::Text,
                    (0, false) => OpCode::Binary,
                    _ => OpCode::Continuation,
                };
                client.send_frame(op, piece, i + 1 == count).unwrap();
            }
        }
    }
    client.pending_output().to_vec()
}

// ------------------------------------------------------------ streams

/// An endless stream replaying whole batches, at most 64 KiB per read (one
/// message per read for a `one_per_read` spec); writes are discarded.
/// Blocking and tokio flavours.
pub struct Replay {
    data: Vec<u8>,
    pos: usize,
    max_read: usize,
    /// An async read returns `Pending` first, then the bytes.
    quiet: bool,
    /// The last async read returned `Pending`.
    waited: bool,
}

impl Replay {
    pub fn new(data: Vec<u8>) -> Self {
        assert!(!data.is_empty());
        Self {
            data,
            pos: 0,
            max_read: MAX_READ,
            quiet: false,
            waited: false,
        }
    }

    /// The client frames of one batch of `spec`, replayed as `spec` says.
    pub fn of(spec: &Spec) -> Self {
        let mut replay = Self::new(wire(spec));
        if spec.one_per_read {
            // Every frame of a batch has the same length.
            replay.max_read = replay.data.len() / spec.messages();
            replay.quiet = true;
        }
        replay
    }

    fn next_chunk(&mut self, room: usize) -> &[u8] {
        let n = room.min(self.max_read).min(self.data.len() - self.pos);
        let chunk = &self.data[self.pos..self.pos + n];
        self.pos = (self.pos + n) % self.data.len();
        chunk
    }
}

impl io::Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let chunk = self.next_chunk(buf.len());
        let n = chunk.len();
        buf[..n].copy_from_slice(chunk);
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
// waits past it: the blocking driver treats it as it treats a TcpStream.
impl rfc6455::Transport for Replay {
    fn reads_time_out(&self) -> bool {
        true
    }
}

impl tokio::io::AsyncRead for Replay {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.quiet && !this.waited {
            // The next message "arrives" at once: the task is woken now.
            this.waited = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.waited = false;
        let chunk = this.next_chunk(buf.remaining());
        buf.put_slice(chunk);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Replay {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(std::hint::black_box(buf).len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(std::hint::black_box(bufs).iter().map(|b| b.len()).sum()))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

// ------------------------------------------------------------ runners

/// One library set up for one workload; `run` does one batch and returns
/// the payload bytes handed to the application.
pub trait Runner {
    fn run(&mut self) -> usize;
}

/// Sets up `lib` for `spec`.
pub fn runner(lib: &str, spec: &Spec) -> Box<dyn Runner> {
    match (lib, spec.send) {
        ("rfc6455", false) => Box::new(recv::Rfc6455::new(spec)),
        ("rfc6455-driver", false) => Box::new(recv::Rfc6455Driver::new(spec)),
        ("rfc6455-tokio", false) => Box::new(recv::Rfc6455Tokio::new(spec)),
        ("rfc6455-stream", false) => Box::new(recv::Rfc6455Stream::new(spec)),
        ("tungstenite", false) => Box::new(recv::Tungstenite::new(spec)),
        ("fastwebsockets", false) => Box::new(recv::Fast::new(spec)),
        ("tokio-websockets", false) => Box::new(recv::Tokio::new(spec)),
        ("rfc6455", true) => Box::new(send::Rfc6455::new(spec)),
        ("rfc6455-driver", true) => Box::new(send::Rfc6455Driver::new(spec)),
        ("rfc6455-tokio", true) => Box::new(send::Rfc6455Tokio::new(spec)),
        ("rfc6455-stream", true) => Box::new(send::Rfc6455Stream::new(spec)),
        ("tungstenite", true) => Box::new(send::Tungstenite::new(spec)),
        ("fastwebsockets", true) => Box::new(send::Fast::new(spec)),
        ("tokio-websockets", true) => Box::new(send::Tokio::new(spec)),
        _ => panic!("unknown library {lib}"),
    }
}

pub mod recv {
    use super::*;
    use futures_util::StreamExt;

    /// The sans-IO core: copy at most 64 KiB into `read_buffer`, then
    /// `poll_event` until `None`; payloads are borrowed.
    pub struct Rfc6455 {
        conn: Connection,
        stream: Replay,
    }

    impl Rfc6455 {
        pub fn new(spec: &Spec) -> Self {
            Self {
                conn: Connection::established(rfc6455::Role::Server, Config::default(), &[]),
                stream: Replay::of(spec),
            }
        }
    }

    impl Runner for Rfc6455 {
        #[inline(never)]
        fn run(&mut self) -> usize {
            let len = self.stream.data.len();
            let mut bytes = 0;
            let mut read = 0;
            while read < len {
                let buf = self.conn.read_buffer();
                let n = io::Read::read(&mut self.stream, buf).unwrap();
                self.conn.commit_read(n);
                read += n;
                while let Some(event) = self.conn.poll_event() {
                    match event {
                        Event::Text(t) => bytes += std::hint::black_box(t).len(),
                        Event::Binary(b) => bytes += std::hint::black_box(b).len(),
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
            bytes
        }
    }

    /// The blocking driver: `WebSocket::read`, owned messages.
    pub struct Rfc6455Driver {
        ws: rfc6455::WebSocket<Replay>,
        messages: usize,
    }

    impl Rfc6455Driver {
        pub fn new(spec: &Spec) -> Self {
            let conn = Connection::established(rfc6455::Role::Server, Config::default(), &[]);
            Self {
                ws: rfc6455::WebSocket::from_connection(conn, Replay::of(spec)),
                messages: spec.messages(),
            }
        }
    }

    impl Runner for Rfc6455Driver {
        #[inline(never)]
        fn run(&mut self) -> usize {
            let mut bytes = 0;
            for _ in 0..self.messages {
                bytes += match self.ws.read() {
                    Ok(Some(rfc6455::Message::Text(t))) => std::hint::black_box(t).len(),
                    Ok(Some(rfc6455::Message::Binary(b))) => std::hint::black_box(b).len(),
                    other => panic!("unexpected {other:?}"),
                };
            }
            bytes
        }
    }

    /// The tokio driver: `WebSocket::read().await`, owned messages.
    pub struct Rfc6455Tokio {
        rt: tokio::runtime::Runtime,
        ws: rfc6455::tokio::WebSocket<Replay>,
        messages: usize,
    }

    impl Rfc6455Tokio {
        pub fn new(spec: &Spec) -> Self {
            let rt = runtime();
            let conn = Connection::established(rfc6455::Role::Server, Config::default(), &[]);
            let ws = {
                let _guard = rt.enter();
                rfc6455::tokio::WebSocket::from_connection(conn, Replay::of(spec))
            };
            Self {
                rt,
                ws,
                messages: spec.messages(),
            }
        }
    }

    impl Runner for Rfc6455Tokio {
        #[inline(never)]
        fn run(&mut self) -> usize {
            let Self { rt, ws, messages } = self;
            rt.block_on(async {
                let mut bytes = 0;
                for _ in 0..*messages {
                    bytes += match ws.read().await {
                        Ok(Some(rfc6455::Message::Text(t))) => std::hint::black_box(t).len(),
                        Ok(Some(rfc6455::Message::Binary(b))) => std::hint::black_box(b).len(),
                        other => panic!("unexpected {other:?}"),
                    };
                }
                bytes
            })
        }
    }

    /// The tokio driver under `WebSocketStream`: the readable, pulled.
    pub struct Rfc6455Stream {
        rt: tokio::runtime::Runtime,
        readable: rfc6455::tokio::Readable<Replay>,
        messages: usize,
    }

    impl Rfc6455Stream {
        pub fn new(spec: &Spec) -> Self {
            let rt = runtime();
            let conn = Connection::established(rfc6455::Role::Server, Config::default(), &[]);
            let readable = rt.block_on(async {
                let ws = rfc6455::tokio::WebSocket::from_connection(conn, Replay::of(spec));
                let wss = rfc6455::tokio::WebSocketStream::from_socket(ws, Default::default());
                wss.opened().await.unwrap().readable
            });
            Self {
                rt,
                readable,
                messages: spec.messages(),
            }
        }
    }

    impl Runner for Rfc6455Stream {
        #[inline(never)]
        fn run(&mut self) -> usize {
            use futures_util::StreamExt;
            let Self { rt, readable, messages } = self;
            rt.block_on(async {
                let mut bytes = 0;
                for _ in 0..*messages {
                    bytes += match readable.next().await {
                        Some(Ok(rfc6455::Message::Text(t))) => std::hint::black_box(t).len(),
                        Some(Ok(rfc6455::Message::Binary(b))) => std::hint::black_box(b).len(),
                        other => panic!("unexpected {other:?}"),
                    };
                }
                bytes
            })
        }
    }

    pub struct Tungstenite {
        ws: tungstenite::WebSocket<Replay>,
        messages: usize,
    }

    impl Tungstenite {
        pub fn new(spec: &Spec) -> Self {
            let ws =
                tungstenite::WebSocket::from_raw_socket(Replay::of(spec), tungstenite::protocol::Role::Server, None);
            Self {
                ws,
                messages: spec.messages(),
            }
        }
    }

    impl Runner for Tungstenite {
        #[inline(never)]
        fn run(&mut self) -> usize {
            let mut bytes = 0;
            for _ in 0..self.messages {
                bytes += match self.ws.read().unwrap() {
                    tungstenite::Message::Text(t) => std::hint::black_box(t).len(),
                    tungstenite::Message::Binary(b) => std::hint::black_box(b).len(),
                    other => panic!("unexpected {other:?}"),
                };
            }
            bytes
        }
    }

    pub struct Fast {
        rt: tokio::runtime::Runtime,
        ws: fastwebsockets::FragmentCollector<Replay>,
        messages: usize,
    }

    impl Fast {
        pub fn new(spec: &Spec) -> Self {
            let ws = fastwebsockets::WebSocket::after_handshake(Replay::of(spec), fastwebsockets::Role::Server);
            Self {
                rt: runtime(),
                ws: fastwebsockets::FragmentCollector::new(ws),
                messages: spec.messages(),
            }
        }
    }

    impl Runner for Fast {
        #[inline(never)]
        fn run(&mut self) -> usize {
            let Self { rt, ws, messages } = self;
            rt.block_on(async {
                let mut bytes = 0;
                for _ in 0..*messages {
                    let frame = ws.read_frame().await.unwrap();
                    assert!(matches!(
                        frame.opcode,
                        fastwebsockets::OpCode::Text | fastwebsockets::OpCode::Binary
                    ));
                    bytes += std::hint::black_box(&frame.payload[..]).len();
                }
                bytes
            })
        }
    }

    pub struct Tokio {
        rt: tokio::runtime::Runtime,
        ws: tokio_websockets::WebSocketStream<Replay>,
        messages: usize,
    }

    impl Tokio {
        pub fn new(spec: &Spec) -> Self {
            let rt = runtime();
            let ws = {
                let _guard = rt.enter();
                tokio_websockets::ServerBuilder::new().serve(Replay::of(spec))
            };
            Self {
                rt,
                ws,
                messages: spec.messages(),
            }
        }
    }

    impl Runner for Tokio {
        #[inline(never)]
        fn run(&mut self) -> usize {
            let Self { rt, ws, messages } = self;
            rt.block_on(async {
                let mut bytes = 0;
                for _ in 0..*messages {
                    let message = ws.next().await.unwrap().unwrap();
                    assert!(message.is_text() || message.is_binary());
                    bytes += std::hint::black_box(message.as_payload()).len();
                }
                bytes
            })
        }
    }
}

pub mod send {
    use super::*;
    use futures_util::SinkExt;
    use std::io::Write;

    /// The core: `send_binary`, then write `pending_output` to the sink.
    pub struct Rfc6455 {
        conn: Connection,
        sink: Replay,
        data: Vec<u8>,
        messages: usize,
    }

    impl Rfc6455 {
        pub fn new(spec: &Spec) -> Self {
            Self {
                conn: Connection::established(rfc6455::Role::Client, Config::default(), &[]),
                sink: Replay::new(vec![0]),
                data: binary(spec.size),
                messages: spec.messages(),
            }
        }
    }

    impl Runner for Rfc6455 {
        #[inline(never)]
        fn run(&mut self) -> usize {
            for _ in 0..self.messages {
                self.conn.send_binary(&self.data).unwrap();
                let n = self.sink.write(self.conn.pending_output()).unwrap();
                self.conn.advance_output(n);
            }
            self.messages * self.data.len()
        }
    }

    pub struct Rfc6455Driver {
        ws: rfc6455::WebSocket<Replay>,
        data: Vec<u8>,
        messages: usize,
    }

    impl Rfc6455Driver {
        pub fn new(spec: &Spec) -> Self {
            let conn = Connection::established(rfc6455::Role::Client, Config::default(), &[]);
            Self {
                ws: rfc6455::WebSocket::from_connection(conn, Replay::new(vec![0])),
                data: binary(spec.size),
                messages: spec.messages(),
            }
        }
    }

    impl Runner for Rfc6455Driver {
        #[inline(never)]
        fn run(&mut self) -> usize {
            for _ in 0..self.messages {
                self.ws.send_binary(&self.data).unwrap();
            }
            self.messages * self.data.len()
        }
    }

    /// The tokio driver: the DOM's `send(&[u8]).await` (queued, written at
    /// once with the default high-water mark of 0).
    pub struct Rfc6455Tokio {
        rt: tokio::runtime::Runtime,
        ws: rfc6455::tokio::WebSocket<Replay>,
        data: Vec<u8>,
        messages: usize,
    }

    impl Rfc6455Tokio {
        pub fn new(spec: &Spec) -> Self {
            let rt = runtime();
            let conn = Connection::established(rfc6455::Role::Client, Config::default(), &[]);
            let ws = {
                let _guard = rt.enter();
                rfc6455::tokio::WebSocket::from_connection(conn, Replay::new(vec![0]))
            };
            Self {
                rt,
                ws,
                data: binary(spec.size),
                messages: spec.messages(),
            }
        }
    }

    impl Runner for Rfc6455Tokio {
        #[inline(never)]
        fn run(&mut self) -> usize {
            let Self { rt, ws, data, messages } = self;
            rt.block_on(async {
                for _ in 0..*messages {
                    ws.send(&data[..]).await.unwrap();
                }
            });
            *messages * data.len()
        }
    }

    /// The tokio driver under `WebSocketStream`: the writable, one
    /// `SinkExt::send` (ready, start, flush) per message.
    pub struct Rfc6455Stream {
        rt: tokio::runtime::Runtime,
        writable: rfc6455::tokio::Writable<Replay>,
        data: Bytes,
        messages: usize,
    }

    impl Rfc6455Stream {
        pub fn new(spec: &Spec) -> Self {
            let rt = runtime();
            let conn = Connection::established(rfc6455::Role::Client, Config::default(), &[]);
            let writable = rt.block_on(async {
                let ws = rfc6455::tokio::WebSocket::from_connection(conn, Replay::new(vec![0]));
                let wss = rfc6455::tokio::WebSocketStream::from_socket(ws, Default::default());
                wss.opened().await.unwrap().writable
            });
            Self {
                rt,
                writable,
                data: Bytes::from(binary(spec.size)),
                messages: spec.messages(),
            }
        }
    }

    impl Runner for Rfc6455Stream {
        #[inline(never)]
        fn run(&mut self) -> usize {
            use futures_util::SinkExt;
            let Self {
                rt,
                writable,
                data,
                messages,
            } = self;
            rt.block_on(async {
                for _ in 0..*messages {
                    writable.send(rfc6455::Message::Binary(data.clone())).await.unwrap();
                }
            });
            *messages * data.len()
        }
    }

    pub struct Tungstenite {
        ws: tungstenite::WebSocket<Replay>,
        data: Bytes,
        messages: usize,
    }

    impl Tungstenite {
        pub fn new(spec: &Spec) -> Self {
            let ws = tungstenite::WebSocket::from_raw_socket(
                Replay::new(vec![0]),
                tungstenite::protocol::Role::Client,
                None,
            );
            Self {
                ws,
                data: Bytes::from(binary(spec.size)),
                messages: spec.messages(),
            }
        }
    }

    impl Runner for Tungstenite {
        #[inline(never)]
        fn run(&mut self) -> usize {
            for _ in 0..self.messages {
                self.ws.send(tungstenite::Message::Binary(self.data.clone())).unwrap();
            }
            self.messages * self.data.len()
        }
    }

    pub struct Fast {
        rt: tokio::runtime::Runtime,
        ws: fastwebsockets::WebSocket<Replay>,
        data: Vec<u8>,
        messages: usize,
    }

    impl Fast {
        pub fn new(spec: &Spec) -> Self {
            Self {
                rt: runtime(),
                ws: fastwebsockets::WebSocket::after_handshake(Replay::new(vec![0]), fastwebsockets::Role::Client),
                data: binary(spec.size),
                messages: spec.messages(),
            }
        }
    }

    impl Runner for Fast {
        #[inline(never)]
        fn run(&mut self) -> usize {
            let Self { rt, ws, data, messages } = self;
            rt.block_on(async {
                for _ in 0..*messages {
                    let frame = fastwebsockets::Frame::binary(fastwebsockets::Payload::Borrowed(data));
                    ws.write_frame(frame).await.unwrap();
                }
            });
            *messages * data.len()
        }
    }

    pub struct Tokio {
        rt: tokio::runtime::Runtime,
        ws: tokio_websockets::WebSocketStream<Replay>,
        data: Bytes,
        messages: usize,
    }

    impl Tokio {
        pub fn new(spec: &Spec) -> Self {
            let rt = runtime();
            let ws = {
                let _guard = rt.enter();
                tokio_websockets::ClientBuilder::new().take_over(Replay::new(vec![0]))
            };
            Self {
                rt,
                ws,
                data: Bytes::from(binary(spec.size)),
                messages: spec.messages(),
            }
        }
    }

    impl Runner for Tokio {
        #[inline(never)]
        fn run(&mut self) -> usize {
            let Self { rt, ws, data, messages } = self;
            rt.block_on(async {
                for _ in 0..*messages {
                    ws.send(tokio_websockets::Message::binary(data.clone())).await.unwrap();
                }
            });
            *messages * data.len()
        }
    }
}
