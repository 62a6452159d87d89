#![cfg(feature = "tokio")]
//! The tokio driver (`rfc6455::tokio`): the same DOM rules as the blocking
//! driver, over `AsyncRead + AsyncWrite`, plus `Stream`/`Sink`, `split`,
//! backpressure, cancellation safety and the core's timers on tokio's clock.
//!
//! Every test is bounded: each body runs under [`run`] (a real-time limit)
//! or [`run_paused`] (a limit on tokio's paused clock, which jumps forward
//! whenever every task is idle, so a hang fails at once instead of
//! stalling). Traffic stays on 127.0.0.1 or in `tokio::io::duplex` pipes.
//! Blocking peers run on std threads watched by [`Watch`], which shuts
//! their sockets down if they overrun.
//!
//! Hand-driven peers ([`Raw`]) are a sans-IO [`Connection`] without
//! permessage-deflate, so frames on the wire are exactly as sent and byte
//! counts are exact.

use futures_util::{FutureExt, Sink, SinkExt, StreamExt, TryStreamExt};
use rfc6455::error::{Misuse, ProtocolError, Timeout};
use rfc6455::testkit::{
    Ev, Fault, SEED, XorShift, binary, close_frame, cont, masks, own, pattern, ping, plain_config, text, text_bytes,
    wire,
};
use rfc6455::tokio::WebSocket;
use rfc6455::websocket::{BinaryType, Event, MessageData};
use rfc6455::{
    Accept, ClientRequest, CloseCode, Config, Connection, Error, HandshakeError, Message, OwnedCloseFrame, ReadyState,
    Request, Role,
};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, duplex};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep, timeout};

/// How long any test may take on the real clock.
const LIMIT: Duration = Duration::from_secs(30);
/// How long a blocking peer may take before its sockets are shut down.
const THREAD_LIMIT: Duration = Duration::from_secs(20);
/// How long any test may take on the paused clock.
const PAUSED_LIMIT: Duration = Duration::from_secs(3600);

/// Runs a test body under [`LIMIT`].
async fn run<T>(body: impl Future<Output = T>) -> T {
    match timeout(LIMIT, body).await {
        Ok(value) => value,
        Err(_) => panic!("the test did not finish within {LIMIT:?}: a hang"),
    }
}

/// Runs a test body under [`PAUSED_LIMIT`] of paused (virtual) time.
async fn run_paused<T>(body: impl Future<Output = T>) -> T {
    match timeout(PAUSED_LIMIT, body).await {
        Ok(value) => value,
        Err(_) => panic!("the test did not finish within {PAUSED_LIMIT:?} of virtual time: a hang"),
    }
}

// ---------------------------------------------------------------- DOM events

/// An owned, comparable mirror of a DOM event; big payloads print short.
#[derive(Clone, PartialEq, Eq)]
enum Seen {
    Open,
    Text(String),
    Binary(Vec<u8>),
    /// Which failure the error event reported.
    Error(Fault),
    Close {
        clean: bool,
        code: u16,
        reason: String,
    },
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seen::Open => f.write_str("Open"),
            Seen::Text(t) if t.len() > 64 => {
                let head: String = t.chars().take(16).collect();
                write!(f, "Text({} bytes, {head:?}…)", t.len())
            }
            Seen::Text(t) => write!(f, "Text({t:?})"),
            Seen::Binary(b) if b.len() > 64 => write!(f, "Binary({} bytes, {:?}…)", b.len(), &b[..16]),
            Seen::Binary(b) => write!(f, "Binary({b:?})"),
            Seen::Error(e) => write!(f, "Error({e:?})"),
            Seen::Close { clean, code, reason } => write!(f, "Close(clean {clean}, {code}, {reason:?})"),
        }
    }
}

fn seen(event: Event) -> Seen {
    match event {
        Event::Open => Seen::Open,
        Event::Message(m) => match m.data {
            MessageData::Text(t) => Seen::Text(t),
            MessageData::Blob(b) => Seen::Binary(b.to_vec()),
            MessageData::ArrayBuffer(b) => Seen::Binary(b),
        },
        Event::Error(e) => Seen::Error(Fault::from(&e.error)),
        Event::Close(c) => Seen::Close {
            clean: c.was_clean,
            code: c.code,
            reason: c.reason,
        },
    }
}

fn closed(clean: bool, code: u16, reason: &str) -> Seen {
    Seen::Close {
        clean,
        code,
        reason: reason.to_owned(),
    }
}

fn seen_text(t: &str) -> Seen {
    Seen::Text(t.to_owned())
}

/// A short description of a message, for failure output.
fn brief(m: &Message) -> String {
    match m {
        Message::Text(t) => format!("Text({} bytes)", t.len()),
        Message::Binary(b) => format!("Binary({} bytes)", b.len()),
        Message::Ping(p) => format!("Ping({p:?})"),
        Message::Pong(p) => format!("Pong({p:?})"),
        other => format!("{other:?}"),
    }
}

#[track_caller]
fn assert_messages(got: &[Message], expected: &[Message], what: &str) {
    assert!(
        got == expected,
        "{what}: got {:?}, expected {:?}",
        got.iter().map(brief).collect::<Vec<_>>(),
        expected.iter().map(brief).collect::<Vec<_>>()
    );
}

/// The next event, which must exist.
async fn next<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocket<S>) -> Seen {
    ws.next_event().await.map(seen).expect("an event, not the end")
}

/// Every event up to and including the close event; then checks that
/// `next_event` keeps returning `None` (WHATWG: nothing follows close).
async fn rest<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocket<S>) -> Vec<Seen> {
    let mut events = Vec::new();
    while let Some(event) = ws.next_event().await {
        events.push(seen(event));
        assert!(events.len() < 100_000, "no end of events: {:?}", &events[..10]);
    }
    for _ in 0..3 {
        assert!(ws.next_event().await.is_none(), "an event after the end");
    }
    events
}

/// A failure as the DOM reports it ("fail the WebSocket connection",
/// RFC 6455 §7.1.7; WHATWG "the WebSocket connection is closed" step 2):
/// one error event, then close with 1006, not clean, no reason.
#[track_caller]
fn assert_failed(events: &[Seen], error: Fault) {
    assert_eq!(events.len(), 2, "error then close: {events:?}");
    match &events[0] {
        Seen::Error(e) => assert_eq!(*e, error),
        other => panic!("expected an error event first, got {other:?} in {events:?}"),
    }
    assert_eq!(events[1], closed(false, 1006, ""), "{events:?}");
}

// ---------------------------------------------------------------- payloads

/// Text of exactly `len` bytes, mostly multibyte code points.
fn text_of_len(len: usize) -> String {
    let unit = "aé€𝄞"; // 1 + 2 + 3 + 4 bytes
    let mut text = unit.repeat(len / unit.len());
    text.push_str(&"z".repeat(len - text.len()));
    assert_eq!(text.len(), len);
    text
}

/// Across the 7-bit, 16-bit and 64-bit payload length forms (RFC 6455
/// §5.2: 125 and 126 bytes, 65535 and 65536 bytes) and at 1 MiB.
const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 1 << 20];

/// Message `i` of a numbered stream: text and binary alternate, sizes vary
/// from 0 to about 12 KiB, and the content identifies the message.
fn numbered(i: usize) -> Message {
    let len = (i * 7919) % 12_289;
    if i % 2 == 0 {
        let mut t = format!("#{i}:");
        t.push_str(&text_of_len(len));
        Message::Text(t.into())
    } else {
        let mut b = (i as u32).to_be_bytes().to_vec();
        b.extend(pattern(len));
        Message::Binary(b.into())
    }
}

fn frame_of(code: u16, reason: &str) -> Option<OwnedCloseFrame> {
    Some(OwnedCloseFrame {
        code: Some(CloseCode(code)),
        reason: reason.to_owned(),
    })
}

// ---------------------------------------------------------------- servers

async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn choose_superchat(request: &Request) -> Result<Accept, u16> {
    Ok(if request.protocols().iter().any(|p| p == "superchat") {
        Accept::new().protocol("superchat")
    } else {
        Accept::new()
    })
}

/// What a tokio echo server saw.
#[derive(Debug)]
struct Echoed {
    url: String,
    protocol: String,
    extensions: String,
    messages: Vec<Message>,
    peer_close: Option<OwnedCloseFrame>,
}

/// Accepts one connection with the tokio driver and echoes text and binary
/// until the close handshake is over.
async fn echo_server(
    listener: TcpListener,
    config: Config,
    decide: impl FnOnce(&Request) -> Result<Accept, u16> + Send + 'static,
) -> Result<Echoed, Error> {
    let (stream, _) = listener.accept().await?;
    let mut ws = WebSocket::accept_with(stream, config, decide).await?;
    assert_eq!(ws.ready_state(), ReadyState::Open, "accept returns once open");
    let (url, protocol, extensions) = (
        ws.url().to_owned(),
        ws.protocol().to_owned(),
        ws.extensions().to_owned(),
    );
    let mut messages = Vec::new();
    while let Some(message) = ws.read().await? {
        match &message {
            Message::Text(t) => ws.send(t.as_str()).await?,
            Message::Binary(b) => ws.send(&b[..]).await?,
            _ => {}
        }
        messages.push(message);
    }
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert!(ws.read().await?.is_none(), "read keeps returning Ok(None)");
    Ok(Echoed {
        url,
        protocol,
        extensions,
        messages,
        peer_close: ws.peer_close().cloned(),
    })
}

/// Accepts one connection and pipes its text and binary messages straight
/// back with `forward` over the split halves: a pipelined echo. Returns how
/// many messages went through.
async fn forward_server<S: AsyncRead + AsyncWrite + Unpin>(stream: S, config: Config) -> Result<usize, Error> {
    let ws = WebSocket::accept_with(stream, config, |_| Ok(Accept::new())).await?;
    let (read, write) = ws.split();
    let count = AtomicUsize::new(0);
    read.try_filter(|m| futures_util::future::ready(matches!(m, Message::Text(_) | Message::Binary(_))))
        .inspect_ok(|_| {
            count.fetch_add(1, Ordering::Relaxed);
        })
        .forward(write)
        .await?;
    Ok(count.into_inner())
}

// ---------------------------------------------------------------- raw peers

/// A hand-driven peer: a sans-IO [`Connection`] without permessage-deflate
/// over any tokio stream, reading and writing only when the test says so.
struct Raw<S> {
    io: S,
    conn: Connection,
    eof: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    /// Answers the opening handshake as a server.
    async fn server(io: S) -> Self {
        let mut raw = Raw {
            io,
            conn: Connection::server(plain_config()),
            eof: false,
        };
        loop {
            match raw.conn.poll_event().map(own) {
                Some(Ev::Request { .. }) => raw.conn.accept(Accept::new()).unwrap(),
                Some(Ev::Open) => break,
                Some(other) => panic!("raw server, during the handshake: {other:?}"),
                None => assert!(
                    raw.read_some().await.unwrap() > 0,
                    "the client hung up in the handshake"
                ),
            }
        }
        raw.flush().await.unwrap();
        raw
    }

    /// Performs the opening handshake as a client.
    async fn client(io: S, request: ClientRequest) -> Self {
        let mut raw = Raw {
            io,
            conn: Connection::client_with_masks(request, plain_config(), masks(SEED)),
            eof: false,
        };
        raw.flush().await.unwrap();
        loop {
            match raw.conn.poll_event().map(own) {
                Some(Ev::Open) => return raw,
                Some(other) => panic!("raw client, during the handshake: {other:?}"),
                None => assert!(
                    raw.read_some().await.unwrap() > 0,
                    "the server hung up in the handshake"
                ),
            }
        }
    }

    async fn read_some(&mut self) -> io::Result<usize> {
        let mut buf = vec![0u8; 64 << 10];
        let n = self.io.read(&mut buf).await?;
        if n == 0 {
            self.eof = true;
            self.conn.receive_eof();
        } else {
            self.conn.receive(&buf[..n]);
        }
        Ok(n)
    }

    async fn flush(&mut self) -> io::Result<()> {
        while !self.conn.pending_output().is_empty() {
            let n = self.io.write(self.conn.pending_output()).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.conn.advance_output(n);
        }
        self.io.flush().await
    }

    /// The next event, or `None` at the end of the stream. What the core
    /// queues in answer (pongs, the close reply) is written best effort:
    /// the other side may be gone already.
    async fn next(&mut self) -> Option<Ev> {
        loop {
            let event = self.conn.poll_event().map(own);
            let _ = self.flush().await;
            if event.is_some() {
                return event;
            }
            if self.eof {
                return None;
            }
            self.read_some().await.expect("the raw peer's read");
        }
    }

    /// Every event until the end of the stream.
    async fn rest(&mut self) -> Vec<Ev> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }

    async fn write_raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
        self.io.flush().await.unwrap();
    }

    async fn send_text(&mut self, t: &str) {
        self.conn.send_text(t).unwrap();
        self.flush().await.unwrap();
    }

    async fn close(&mut self, code: u16, reason: &str) {
        self.conn.close(CloseCode(code), reason).unwrap();
        self.flush().await.unwrap();
    }

    /// Closes the transport (a server does so after the close handshake,
    /// RFC 6455 §7.1.1).
    async fn hang_up(mut self) {
        let _ = self.io.shutdown().await;
    }
}

fn request() -> ClientRequest {
    ClientRequest::new("example.com", "/chat")
}

/// A tokio client over a duplex pipe of `pipe` bytes each way, open, with a
/// raw server at the other end. The open event is consumed.
async fn client_pair(pipe: usize, config: Config) -> (WebSocket<DuplexStream>, Raw<DuplexStream>) {
    let (a, b) = duplex(pipe);
    let (ws, raw) = tokio::join!(WebSocket::client(a, request(), config), Raw::server(b));
    let mut ws = ws.expect("the client handshake");
    assert_eq!(ws.next_event().await.map(seen), Some(Seen::Open));
    (ws, raw)
}

/// A tokio server over a duplex pipe, open, with a raw client at the other
/// end. The open event is consumed.
async fn server_pair(pipe: usize, config: Config) -> (WebSocket<DuplexStream>, Raw<DuplexStream>) {
    let (a, b) = duplex(pipe);
    let (ws, raw) = tokio::join!(
        WebSocket::accept_with(a, config, |_| Ok(Accept::new())),
        Raw::client(b, request())
    );
    let mut ws = ws.expect("the server handshake");
    assert_eq!(ws.next_event().await.map(seen), Some(Seen::Open));
    (ws, raw)
}

// ---------------------------------------------------------------- blocking peers

/// Sockets of blocking peers, shut down if a peer overruns.
#[derive(Clone, Default)]
struct Watch(Arc<Mutex<Vec<std::net::TcpStream>>>);

impl Watch {
    fn add(&self, stream: &std::net::TcpStream) {
        stream.set_write_timeout(Some(THREAD_LIMIT)).unwrap();
        self.0.lock().unwrap().push(stream.try_clone().unwrap());
    }

    /// Waits for `thread` without blocking the runtime; after
    /// [`THREAD_LIMIT`] shuts every watched socket down (which ends any
    /// blocked read) and fails the test.
    async fn join<T>(&self, thread: std::thread::JoinHandle<T>) -> T {
        let deadline = Instant::now() + THREAD_LIMIT;
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                for stream in self.0.lock().unwrap().iter() {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                }
                panic!("the blocking peer overran {THREAD_LIMIT:?}");
            }
            sleep(Duration::from_millis(2)).await;
        }
        thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

// ================================================================ 1. round trip

/// A text message of known length sent as one frame from its pieces
/// (`begin_message`, `send_payload`), cut inside multibyte characters, is
/// echoed back whole; text that would not be UTF-8 is refused before it
/// is queued.
#[tokio::test]
async fn a_declared_text_frame_is_echoed_whole() {
    run(async {
        let (listener, addr) = listen().await;
        let server = tokio::spawn(echo_server(listener, Config::default(), |_| Ok(Accept::new())));
        let mut ws = WebSocket::connect(&format!("ws://{addr}/"), &[]).await.unwrap();
        assert_eq!(next(&mut ws).await, Seen::Open);
        let text = "zß水🍌".repeat(20_000);
        ws.begin_message(true, text.len() as u64).await.unwrap();
        for piece in text.as_bytes().chunks(4_099) {
            ws.send_payload(piece).await.unwrap();
        }
        assert_eq!(next(&mut ws).await, Seen::Text(text.clone()));
        ws.begin_message(true, 2).await.unwrap();
        let refused = ws.send_payload(&[0xff]).await;
        assert!(
            matches!(refused, Err(Error::Misuse(rfc6455::Misuse::InvalidUtf8))),
            "{refused:?}"
        );
        ws.send_payload(b"ok").await.unwrap();
        assert_eq!(next(&mut ws).await, Seen::Text("ok".into()));
        ws.close(Some(1000), None).await.unwrap();
        while ws.next_event().await.is_some() {}
        let echoed = server.await.unwrap().unwrap();
        assert_eq!(echoed.messages.len(), 2);
    })
    .await;
}

/// Text and binary across the length forms, tokio client against tokio
/// server over TCP; the attributes the DOM exposes; the event order open →
/// message… → close; nothing after close.
#[tokio::test]
async fn round_trip_over_tcp_across_length_boundaries() {
    run(async {
        let (listener, addr) = listen().await;
        let server = tokio::spawn(echo_server(listener, Config::default(), |_| Ok(Accept::new())));
        let url = format!("ws://{addr}/");
        let mut ws = WebSocket::connect(&url, &[]).await.unwrap();
        // `connect` returns after the opening handshake (RFC 6455 §4.1).
        assert_eq!(ws.ready_state(), ReadyState::Open);
        assert_eq!(ws.url(), url);
        assert_eq!(ws.protocol(), "", "no subprotocol offered, none chosen");
        // WHATWG "establish a WebSocket connection" offers permessage-deflate
        // (RFC 7692); both ends support it, so it is in use.
        assert!(
            ws.extensions().starts_with("permessage-deflate"),
            "extensions {:?}",
            ws.extensions()
        );
        // WHATWG: the open event comes first.
        assert_eq!(next(&mut ws).await, Seen::Open);

        let mut sent = Vec::new();
        for len in SIZES {
            let data = pattern(len);
            ws.send(&data).await.unwrap();
            assert_eq!(ws.buffered_amount(), 0, "high-water mark 0: send returns once written");
            assert_eq!(next(&mut ws).await, Seen::Binary(data.clone()), "binary of {len} bytes");
            let t = text_of_len(len);
            ws.send(t.as_str()).await.unwrap();
            assert_eq!(next(&mut ws).await, Seen::Text(t.clone()), "text of {len} bytes");
            sent.extend([Message::Binary(data.into()), Message::Text(t.into())]);
        }
        // binaryType (WHATWG): ArrayBuffer hands out owned bytes.
        ws.set_binary_type(BinaryType::ArrayBuffer);
        ws.send(&[1u8, 2, 3]).await.unwrap();
        match ws.next_event().await {
            Some(Event::Message(m)) => assert_eq!(m.data, MessageData::ArrayBuffer(vec![1, 2, 3])),
            other => panic!("{other:?}"),
        }
        sent.push(Message::Binary(vec![1, 2, 3].into()));

        // WHATWG close() while open: start the closing handshake, CLOSING.
        ws.close(Some(1000), Some("bye")).await.unwrap();
        assert_eq!(ws.ready_state(), ReadyState::Closing);
        // The server echoes the code only (RFC 6455 §5.5.1 suggests so).
        assert_eq!(rest(&mut ws).await, [closed(true, 1000, "")]);
        assert_eq!(ws.ready_state(), ReadyState::Closed);
        assert!(ws.read().await.unwrap().is_none());
        assert_eq!(ws.peer_close().cloned(), frame_of(1000, ""));

        let echoed = server.await.unwrap().unwrap();
        assert_eq!(echoed.url, url, "the server's url: the request's host and target");
        assert_eq!(echoed.protocol, "");
        assert_eq!(echoed.extensions, ws.extensions(), "both ends agree on the extensions");
        assert_messages(&echoed.messages, &sent, "the server received");
        assert_eq!(
            echoed.peer_close,
            frame_of(1000, "bye"),
            "the close code and reason arrive"
        );
    })
    .await;
}

/// WHATWG readyState: CONNECTING (0) from construction, OPEN (1) when the
/// connection is established, CLOSING (2) from close(), CLOSED (3) when the
/// close event fires. `with_stream` is the DOM constructor: it returns
/// before the handshake. `protocol` is empty until open, then the server's
/// choice among the offered subprotocols (RFC 6455 §4.1, §4.2.2).
#[tokio::test]
async fn ready_state_walks_connecting_open_closing_closed() {
    run(async {
        let (listener, addr) = listen().await;
        let server = tokio::spawn(echo_server(listener, Config::default(), choose_superchat));
        let stream = TcpStream::connect(addr).await.unwrap();
        let url = format!("ws://{addr}/chat?room=1");
        let mut ws = WebSocket::with_stream(stream, &url, &["chat", "superchat"], Config::default()).unwrap();
        assert_eq!(ws.ready_state(), ReadyState::Connecting);
        assert_eq!(ws.ready_state() as u16, 0);
        assert_eq!((ws.protocol(), ws.extensions()), ("", ""));
        assert_eq!(ws.url(), url);
        assert_eq!(next(&mut ws).await, Seen::Open);
        assert_eq!(ws.ready_state() as u16, 1);
        assert_eq!(ws.protocol(), "superchat");
        assert!(ws.extensions().starts_with("permessage-deflate"));
        ws.send("hello").await.unwrap();
        assert_eq!(next(&mut ws).await, seen_text("hello"));
        ws.close(Some(3000), Some("leaving")).await.unwrap();
        assert_eq!(ws.ready_state() as u16, 2);
        // Closing is idempotent (close() step 3, "closing or closed: do nothing").
        ws.close(Some(1000), None).await.unwrap();
        assert_eq!(rest(&mut ws).await, [closed(true, 3000, "")]);
        assert_eq!(ws.ready_state() as u16, 3);
        // Kept after close.
        assert_eq!(ws.protocol(), "superchat");

        let echoed = server.await.unwrap().unwrap();
        assert_eq!(echoed.url, url);
        assert_eq!(echoed.protocol, "superchat");
        assert_messages(&echoed.messages, &[Message::Text("hello".into())], "server");
        assert_eq!(echoed.peer_close, frame_of(3000, "leaving"));
    })
    .await;
}

/// The server starts the close handshake: its code and reason reach the
/// client's close event (clean), and the client's reply reaches the server
/// (RFC 6455 §5.5.1, §7.1.2). The server closes the TCP connection first
/// (§7.1.1), which ends the client.
#[tokio::test]
async fn server_initiated_close_reaches_the_client() {
    run(async {
        let (listener, addr) = listen().await;
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = WebSocket::accept(stream).await.unwrap();
            let first = ws.read().await.unwrap();
            ws.close(Some(4001), Some("server says bye")).await.unwrap();
            assert_eq!(ws.ready_state(), ReadyState::Closing);
            let after = ws.read().await.unwrap();
            assert_eq!(ws.ready_state(), ReadyState::Closed);
            assert!(ws.connection().is_closed_cleanly());
            (first, after, ws.peer_close().cloned())
        });
        let mut ws = WebSocket::connect(&format!("ws://{addr}/"), &[]).await.unwrap();
        ws.send("hi").await.unwrap();
        assert_eq!(rest(&mut ws).await, [Seen::Open, closed(true, 4001, "server says bye")]);
        let (first, after, peer_close) = server.await.unwrap();
        assert_eq!(first, Some(Message::Text("hi".into())));
        assert_eq!(after, None, "nothing but the close reply arrives");
        assert_eq!(peer_close, frame_of(4001, ""));
        // WHATWG send() while CLOSED: discarded, but counted.
        ws.send("late").await.unwrap();
        assert_eq!(ws.buffered_amount(), 4);
    })
    .await;
}

// ================================================================ 2. interop

/// The tokio server against the blocking client on a std thread: handshake
/// with a subprotocol and permessage-deflate, echo across the length forms,
/// a close the client starts.
#[tokio::test]
async fn tokio_server_against_the_blocking_client() {
    run(async {
        let (listener, addr) = listen().await;
        let server = tokio::spawn(echo_server(listener, Config::default(), choose_superchat));
        let watch = Watch::default();
        let w = watch.clone();
        let client = std::thread::spawn(move || -> Result<(String, String, Vec<Message>, Vec<String>), Error> {
            let mut ws = rfc6455::WebSocket::connect(&format!("ws://{addr}/interop"), &["superchat"])?;
            w.add(ws.get_ref().unwrap().tcp());
            assert!(matches!(ws.next_event(), Some(Event::Open)));
            let mut received = Vec::new();
            for len in SIZES {
                ws.send_binary(&pattern(len))?;
                received.push(ws.read()?.expect("an echo"));
                ws.send_text(&text_of_len(len))?;
                received.push(ws.read()?.expect("an echo"));
            }
            ws.close(Some(1000), Some("bye"))?;
            let events: Vec<String> = ws.events().map(|e| format!("{:?}", seen(e))).collect();
            Ok((ws.protocol().to_owned(), ws.extensions().to_owned(), received, events))
        });
        let (protocol, extensions, received, events) = watch.join(client).await.unwrap();
        let sent: Vec<Message> = SIZES
            .iter()
            .flat_map(|&len| {
                [
                    Message::Binary(pattern(len).into()),
                    Message::Text(text_of_len(len).into()),
                ]
            })
            .collect();
        assert_eq!(protocol, "superchat");
        assert!(extensions.starts_with("permessage-deflate"), "{extensions:?}");
        assert_messages(&received, &sent, "the blocking client received");
        assert_eq!(events, ["Close(clean true, 1000, \"\")"]);

        let echoed = server.await.unwrap().unwrap();
        assert_eq!(echoed.url, format!("ws://{addr}/interop"));
        assert_eq!(echoed.protocol, "superchat");
        assert_eq!(echoed.extensions, extensions);
        assert_messages(&echoed.messages, &sent, "the tokio server received");
        assert_eq!(echoed.peer_close, frame_of(1000, "bye"));
    })
    .await;
}

/// The tokio client against the blocking server on a std thread; the
/// blocking server starts the close.
#[tokio::test]
async fn tokio_client_against_the_blocking_server() {
    run(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let watch = Watch::default();
        let w = watch.clone();
        let server = std::thread::spawn(
            move || -> Result<(String, String, Vec<Message>, Option<OwnedCloseFrame>), Error> {
                let deadline = std::time::Instant::now() + THREAD_LIMIT;
                let stream = loop {
                    match listener.accept() {
                        Ok((stream, _)) => break stream,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            assert!(std::time::Instant::now() < deadline, "no client connected");
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err(e) => return Err(e.into()),
                    }
                };
                stream.set_nonblocking(false)?;
                w.add(&stream);
                let mut ws = rfc6455::WebSocket::accept_with(stream, Config::default(), choose_superchat)?;
                let (url, protocol) = (ws.url().to_owned(), ws.protocol().to_owned());
                let mut messages = Vec::new();
                while let Some(message) = ws.read()? {
                    match &message {
                        Message::Text(t) if t == "please close" => ws.close(Some(4002), Some("as you wish"))?,
                        Message::Text(t) => ws.send_text(t)?,
                        Message::Binary(b) => ws.send_binary(b)?,
                        _ => {}
                    }
                    messages.push(message);
                }
                Ok((url, protocol, messages, ws.peer_close().cloned()))
            },
        );
        let url = format!("ws://{addr}/blocking");
        let mut ws = WebSocket::connect(&url, &["chat", "superchat"]).await.unwrap();
        assert_eq!(ws.protocol(), "superchat");
        assert!(ws.extensions().starts_with("permessage-deflate"));
        assert_eq!(next(&mut ws).await, Seen::Open);
        let mut sent = Vec::new();
        for len in SIZES {
            let data = pattern(len);
            ws.send(&data).await.unwrap();
            assert!(
                ws.read().await.unwrap() == Some(Message::Binary(data.clone().into())),
                "binary {len}"
            );
            let t = text_of_len(len);
            ws.send(t.as_str()).await.unwrap();
            assert!(
                ws.read().await.unwrap() == Some(Message::Text(t.clone().into())),
                "text {len}"
            );
            sent.extend([Message::Binary(data.into()), Message::Text(t.into())]);
        }
        ws.send("please close").await.unwrap();
        sent.push(Message::Text("please close".into()));
        assert_eq!(rest(&mut ws).await, [closed(true, 4002, "as you wish")]);

        let (server_url, protocol, messages, peer_close) = watch.join(server).await.unwrap();
        assert_eq!(server_url, url);
        assert_eq!(protocol, "superchat");
        assert_messages(&messages, &sent, "the blocking server received");
        assert_eq!(peer_close, frame_of(4002, ""));
    })
    .await;
}

// ================================================================ 3. Stream and Sink

/// `StreamExt::next`, `SinkExt::send`, `feed` + `flush`, pings through the
/// sink, and `SinkExt::close`, which starts the close handshake with 1000;
/// the stream then ends. The server pipes messages back with `forward`.
#[tokio::test]
async fn stream_and_sink() {
    run(async {
        let (listener, addr) = listen().await;
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            forward_server(stream, plain_config()).await
        });
        let mut ws = WebSocket::connect(&format!("ws://{addr}/"), &[]).await.unwrap();
        assert_eq!(ws.extensions(), "", "the server declined permessage-deflate");

        // The stream skips the open event, as `read` does.
        SinkExt::send(&mut ws, Message::Text("one".into())).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::Text("one".into()));

        // `feed` only queues while at most the high-water mark is queued;
        // `flush` writes it all.
        ws.set_high_water_mark(1 << 20);
        let batch: Vec<Message> = (0..100).map(numbered).collect();
        let payload: usize = batch.iter().map(seen_len).sum();
        for message in &batch {
            ws.feed(message.clone()).await.unwrap();
        }
        assert_eq!(
            ws.buffered_amount(),
            payload as u64,
            "bufferedAmount: every queued payload byte, framing excluded"
        );
        SinkExt::flush(&mut ws).await.unwrap();
        assert_eq!(ws.buffered_amount(), 0);
        let mut echoed = Vec::new();
        for _ in 0..batch.len() {
            echoed.push(ws.next().await.unwrap().unwrap());
        }
        assert_messages(&echoed, &batch, "echoes of the fed batch");

        // RFC 6455 §5.5.3: the pong carries the ping's application data.
        SinkExt::send(&mut ws, Message::Ping(b"anyone?".to_vec().into()))
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Pong(b"anyone?".to_vec().into())
        );

        SinkExt::close(&mut ws).await.unwrap();
        assert_eq!(ws.ready_state(), ReadyState::Closing);
        assert!(ws.next().await.is_none(), "the stream ends after the close handshake");
        assert_eq!(ws.ready_state(), ReadyState::Closed);
        assert_eq!(ws.peer_close().cloned(), frame_of(1000, ""));
        assert!(ws.connection().is_closed_cleanly());
        assert!(ws.next().await.is_none());
        // Closing a closed sink is a no-op.
        SinkExt::close(&mut ws).await.unwrap();

        assert_eq!(server.await.unwrap().unwrap(), 1 + batch.len());
    })
    .await;
}

fn seen_len(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
        other => panic!("unexpected {other:?}"),
    }
}

/// `forward` from a stream of messages into the socket's sink, and the
/// socket's stream forwarded into a collecting sink.
#[tokio::test]
async fn forward_pipes_messages_both_ways() {
    run(async {
        let (listener, addr) = listen().await;
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            forward_server(stream, Config::default()).await
        });
        let ws = WebSocket::connect(&format!("ws://{addr}/"), &[]).await.unwrap();
        let (mut read, mut write) = ws.split();
        let outgoing: Vec<Message> = (0..500).map(numbered).collect();
        let mut source = futures_util::stream::iter(outgoing.clone().into_iter().map(Ok::<_, Error>));
        let collected = Arc::new(Mutex::new(Vec::new()));
        let sink = futures_util::sink::unfold(collected.clone(), |c, m: Message| async move {
            c.lock().unwrap().push(m);
            Ok::<_, Error>(c)
        });
        // `send_all` leaves the sink open: closing before the echoes are in
        // would drop them (WHATWG: no message events once CLOSING).
        let (sent, received) = tokio::join!(
            write.send_all(&mut source),
            (&mut read).take(outgoing.len()).forward(sink)
        );
        sent.unwrap();
        received.unwrap();
        assert_messages(&collected.lock().unwrap(), &outgoing, "forwarded back");
        // The server's `forward` ends with our close and closes its sink.
        SinkExt::close(&mut write).await.unwrap();
        assert_eq!(write.ready_state(), ReadyState::Closing);
        assert!(read.next().await.is_none());
        assert_eq!(read.ready_state(), ReadyState::Closed);
        assert_eq!(server.await.unwrap().unwrap(), outgoing.len());
    })
    .await;
}

// ================================================================ 4. split

/// Runs a client's split halves in two tasks against a pipelined echo:
/// the writer sends `count` numbered messages while the reader reads their
/// echoes, concurrently; then the writer closes and the reader sees the end.
async fn split_echo<S>(ws: WebSocket<S>, count: usize)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut read, mut write) = ws.split();
    let writer = tokio::spawn(async move {
        for i in 0..count {
            match numbered(i) {
                Message::Text(t) => write.send(t).await.unwrap(),
                Message::Binary(b) => write.send(b).await.unwrap(),
                _ => unreachable!(),
            }
        }
        write
    });
    let reader = tokio::spawn(async move {
        for i in 0..count {
            match read.read().await {
                Ok(Some(m)) => assert!(m == numbered(i), "message {i}: got {}", brief(&m)),
                other => panic!("message {i}: {other:?}"),
            }
        }
        read
    });
    let mut write = writer.await.unwrap();
    let mut read = reader.await.unwrap();
    assert_eq!(write.buffered_amount(), 0);
    write.close(Some(1000), Some("done")).await.unwrap();
    assert_eq!(read.ready_state(), ReadyState::Closing);
    assert_eq!(read.read().await.unwrap(), None);
    assert_eq!(read.ready_state(), ReadyState::Closed);
    assert_eq!(write.ready_state(), ReadyState::Closed);
}

/// `split` over TCP on a multi-threaded runtime: the read half in one task,
/// the write half in another, 4000 messages (about 24 MiB) each way through
/// a pipelined echo (the server's `forward` reads the next message only
/// once its echo is queued). Neither half may starve the other: a write
/// pending on the write half must not keep the read half from reading, or
/// both ends' buffers fill and everything stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_against_a_pipelined_echo_over_tcp() {
    run(async {
        const COUNT: usize = 4000;
        let (listener, addr) = listen().await;
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            forward_server(stream, plain_config()).await
        });
        let ws = WebSocket::connect(&format!("ws://{addr}/"), &[]).await.unwrap();
        split_echo(ws, COUNT).await;
        assert_eq!(server.await.unwrap().unwrap(), COUNT);
    })
    .await;
}

/// The same through a 4 KiB in-memory pipe on one thread: deterministic,
/// it stops after three messages.
#[tokio::test]
async fn split_halves_against_a_pipelined_echo_over_a_small_pipe() {
    run(async {
        const COUNT: usize = 2000;
        let (a, b) = duplex(4096);
        let server = tokio::spawn(forward_server(b, plain_config()));
        let ws = WebSocket::client(a, request(), Config::default()).await.unwrap();
        split_echo(ws, COUNT).await;
        assert_eq!(server.await.unwrap().unwrap(), COUNT);
    })
    .await;
}

fn numbered_ev(i: usize) -> Ev {
    match numbered(i) {
        Message::Text(t) => Ev::Text(t.into()),
        Message::Binary(b) => Ev::Binary(b.into()),
        _ => unreachable!(),
    }
}

/// The client's split halves in two tasks against a peer whose reading
/// never waits on its writing: one peer task writes `count` numbered frames
/// while another decodes the client's `count` numbered messages; at the
/// same time the client's write half sends and its read half reads. Then
/// the peer closes.
async fn split_independent<S, P>(ws: WebSocket<S>, raw: Raw<P>, count: usize)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    P: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut read, mut write) = ws.split();
    let Raw { io, mut conn, .. } = raw;
    let (mut peer_rd, mut peer_wr) = tokio::io::split(io);
    let peer_writer = tokio::spawn(async move {
        for i in 0..count {
            let frame = match numbered(i) {
                Message::Text(t) => text(&t),
                Message::Binary(b) => binary(&b),
                _ => unreachable!(),
            };
            peer_wr.write_all(&frame.bytes()).await.unwrap();
        }
        peer_wr
    });
    let peer_reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 << 10];
        let mut got = 0;
        while got < count {
            let n = peer_rd.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client hung up after {got} messages");
            conn.receive(&buf[..n]);
            while let Some(event) = conn.poll_event().map(own) {
                assert!(event == numbered_ev(got), "client message {got}");
                got += 1;
            }
        }
        (peer_rd, conn)
    });
    let writer = tokio::spawn(async move {
        for i in 0..count {
            match numbered(i) {
                Message::Text(t) => write.send(t).await.unwrap(),
                Message::Binary(b) => write.send(b).await.unwrap(),
                _ => unreachable!(),
            }
        }
        write
    });
    let reader = tokio::spawn(async move {
        for i in 0..count {
            match read.read().await {
                Ok(Some(m)) => assert!(m == numbered(i), "peer message {i}: got {}", brief(&m)),
                other => panic!("peer message {i}: {other:?}"),
            }
        }
        read
    });
    let write = writer.await.unwrap();
    let mut read = reader.await.unwrap();
    let peer_wr = peer_writer.await.unwrap();
    let (peer_rd, conn) = peer_reader.await.unwrap();
    assert_eq!(write.buffered_amount(), 0);
    let mut raw = Raw {
        io: peer_rd.unsplit(peer_wr),
        conn,
        eof: false,
    };
    let (end, ()) = tokio::join!(read.read(), async move {
        raw.close(1000, "done").await;
        assert_eq!(raw.next().await, Some(Ev::close(1000, "")));
        raw.hang_up().await;
    });
    assert!(matches!(end, Ok(None)), "{end:?}");
    assert_eq!(read.ready_state(), ReadyState::Closed);
}

/// `split` over TCP on a multi-threaded runtime: 4000 messages (about
/// 24 MiB) each way at once, the halves in two tasks; every message arrives
/// once, intact, in order, both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_in_two_tasks_over_tcp() {
    run(async {
        let (listener, addr) = listen().await;
        let peer = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            Raw::server(stream).await
        });
        let ws = WebSocket::connect(&format!("ws://{addr}/"), &[]).await.unwrap();
        let raw = peer.await.unwrap();
        split_independent(ws, raw, 4000).await;
    })
    .await;
}

/// The same through a 4 KiB in-memory pipe on one thread: the halves wait
/// on the transport all the time, and each must be woken when its
/// direction is ready (the shared waker).
#[tokio::test]
async fn split_halves_in_two_tasks_over_a_small_pipe() {
    run(async {
        let (ws, raw) = client_pair(4096, Config::default()).await;
        split_independent(ws, raw, 2000).await;
    })
    .await;
}

/// RFC 6455 §5.5.2: a ping is answered with a pong carrying its data. With
/// split halves the read half answers it while the application only reads;
/// the read half hands the ping over after the pong is written.
#[tokio::test]
async fn split_read_half_answers_pings_while_the_application_only_reads() {
    run(async {
        let (ws, mut raw) = client_pair(64 << 10, Config::default()).await;
        let (mut read, _write) = ws.split();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(m) = read.read().await.unwrap() {
                got.push(m);
            }
            got
        });
        raw.write_raw(&ping(b"are you there?").bytes()).await;
        assert_eq!(raw.next().await, Some(Ev::Pong(b"are you there?".to_vec())));
        raw.write_raw(&ping(b"").bytes()).await;
        assert_eq!(raw.next().await, Some(Ev::Pong(Vec::new())));
        raw.close(1000, "").await;
        assert_eq!(raw.next().await, Some(Ev::close(1000, "")));
        raw.hang_up().await;
        assert_eq!(
            reader.await.unwrap(),
            [
                Message::Ping(b"are you there?".to_vec().into()),
                Message::Ping(Vec::new().into())
            ]
        );
    })
    .await;
}

/// While the write half streams messages, a ping from the peer is answered
/// by the read half, waiting in `read` in its own task; the pong goes out
/// between the writer's frames (RFC 6455 §5.4: control frames may be
/// injected between frames), and every message arrives intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_ping_is_answered_while_the_write_half_streams() {
    run(async {
        const COUNT: usize = 600;
        let (ws, mut raw) = client_pair(16 << 10, Config::default()).await;
        let (mut read, mut write) = ws.split();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(m) = read.read().await.unwrap() {
                got.push(m);
            }
            got
        });
        let writer = tokio::spawn(async move {
            for i in 0..COUNT {
                match numbered(i) {
                    Message::Text(t) => write.send(t).await.unwrap(),
                    Message::Binary(b) => write.send(b).await.unwrap(),
                    _ => unreachable!(),
                }
            }
            write
        });
        let mut events = Vec::new();
        let mut data = 0;
        while data < COUNT {
            let event = raw.next().await.expect("the client's messages");
            if matches!(event, Ev::Text(_) | Ev::Binary(_)) {
                data += 1;
                if data == 50 {
                    raw.write_raw(&ping(b"mid-stream").bytes()).await;
                }
            }
            events.push(event);
        }
        let write = writer.await.unwrap();
        // The pong may trail the last message if the writer was fast.
        if !events.contains(&Ev::Pong(b"mid-stream".to_vec())) {
            events.push(raw.next().await.expect("the pong"));
        }
        let pongs: Vec<usize> = (0..events.len())
            .filter(|&i| events[i] == Ev::Pong(b"mid-stream".to_vec()))
            .collect();
        assert_eq!(pongs.len(), 1, "one pong");
        assert!(pongs[0] >= 50, "the pong follows the ping");
        let messages: Vec<Ev> = events.into_iter().filter(|e| !matches!(e, Ev::Pong(_))).collect();
        for (i, event) in messages.iter().enumerate() {
            let expected = match numbered(i) {
                Message::Text(t) => Ev::Text(t.into()),
                Message::Binary(b) => Ev::Binary(b.into()),
                _ => unreachable!(),
            };
            assert!(*event == expected, "message {i}");
        }
        raw.close(1000, "").await;
        assert_eq!(raw.next().await, Some(Ev::close(1000, "")));
        raw.hang_up().await;
        assert_eq!(reader.await.unwrap(), [Message::Ping(b"mid-stream".to_vec().into())]);
        assert_eq!(write.ready_state(), ReadyState::Closed);
    })
    .await;
}

// ================================================================ 5. backpressure

/// Decodes the client's frames from a raw peer until `count` data messages
/// arrived; returns them.
async fn drain_messages(raw: &mut Raw<DuplexStream>, count: usize) -> Vec<Ev> {
    let mut got = Vec::new();
    while got.len() < count {
        match raw.next().await {
            Some(e @ (Ev::Text(_) | Ev::Binary(_))) => got.push(e),
            other => panic!("after {} messages: {other:?}", got.len()),
        }
    }
    got
}

fn message_bytes(i: usize, len: usize) -> Vec<u8> {
    let mut b = pattern(len);
    b[..4].copy_from_slice(&(i as u32).to_be_bytes());
    b
}

/// `bufferedAmount` counts payload bytes not yet written (WHATWG), framing
/// excluded: within the mark plus one message, and short of the queued
/// bytes by at most the headers of the queued frames.
#[track_caller]
fn assert_buffered_within(buffered: u64, queued: usize, mark: usize, msg: usize, frame: usize) {
    let headers = (frame - msg) * (queued / frame + 2);
    assert!(
        buffered <= (mark + msg) as u64 && buffered + headers as u64 >= queued as u64 && buffered <= queued as u64,
        "bufferedAmount {buffered} with {queued} bytes queued, mark {mark}, messages of {msg}"
    );
}

/// A peer that does not read, a 16 KiB pipe, a 32 KiB high-water mark:
/// `send` completes while at most the mark stays queued, then stays
/// pending; `bufferedAmount` stays within the mark plus one message. Once
/// the peer drains, the pending send's message (its future dropped) and
/// every other arrive intact, and `bufferedAmount` is 0 again.
#[tokio::test(start_paused = true)]
async fn send_stays_pending_above_the_high_water_mark() {
    run_paused(async {
        const PIPE: usize = 16 << 10;
        const MARK: usize = 32 << 10;
        const MSG: usize = 1000;
        // A client frame of 1000 bytes: 2 + 2 length + 4 mask.
        const FRAME: usize = MSG + 8;
        let (mut ws, mut raw) = client_pair(PIPE, Config::default()).await;
        ws.set_high_water_mark(MARK);
        assert_eq!(ws.high_water_mark(), MARK);
        let mut completed = 0;
        let blocked_at = loop {
            let data = message_bytes(completed, MSG);
            match timeout(Duration::from_secs(10), ws.send(&data)).await {
                Ok(result) => {
                    result.unwrap();
                    completed += 1;
                    assert!(ws.buffered_amount() <= MARK as u64, "after send returned");
                }
                // Pending for 10 s of idle time: blocked. The future is
                // dropped; its message stays queued.
                Err(_) => break completed,
            }
            assert!(completed < 1000, "send never blocked");
        };
        // The pipe takes PIPE bytes; MARK more may stay queued.
        assert_eq!(blocked_at, (PIPE + MARK) / FRAME, "sends completed before blocking");
        // Queued: the frames the pipe did not take, one beyond the mark.
        let queued = ws.connection().pending_output().len();
        assert_eq!(queued, (blocked_at + 1) * FRAME - PIPE);
        assert!(queued > MARK && queued <= MARK + FRAME, "{queued} queued");
        let buffered = ws.buffered_amount();
        assert_buffered_within(buffered, queued, MARK, MSG, FRAME);
        // Still blocked: nothing moves while the peer reads nothing.
        assert!(
            timeout(Duration::from_secs(60), ws.flush()).await.is_err(),
            "flush completed with a peer that reads nothing"
        );
        assert_eq!(ws.buffered_amount(), buffered);

        // The peer drains: everything arrives, in order, exactly once.
        let total = blocked_at + 1;
        let (flushed, got) = tokio::join!(ws.flush(), drain_messages(&mut raw, total));
        flushed.unwrap();
        for (i, event) in got.iter().enumerate() {
            assert!(*event == Ev::Binary(message_bytes(i, MSG)), "message {i}");
        }
        assert_eq!(ws.buffered_amount(), 0);
        assert_eq!(ws.ready_state(), ReadyState::Open);
    })
    .await;
}

/// The same through the `Sink`: `poll_ready` stays pending while more than
/// the mark is queued, and `feed` queues at most one message beyond it.
#[tokio::test(start_paused = true)]
async fn sink_poll_ready_stays_pending_above_the_high_water_mark() {
    run_paused(async {
        const PIPE: usize = 8 << 10;
        const MARK: usize = 20_000;
        const MSG: usize = 3000;
        const FRAME: usize = MSG + 8;
        let (mut ws, mut raw) = client_pair(PIPE, Config::default()).await;
        ws.set_high_water_mark(MARK);
        let mut fed = 0;
        loop {
            let message = Message::Binary(message_bytes(fed, MSG).into());
            match timeout(Duration::from_secs(10), ws.feed(message)).await {
                Ok(result) => {
                    result.unwrap();
                    fed += 1;
                    assert!(ws.buffered_amount() <= (MARK + MSG) as u64);
                }
                // `feed` waits in poll_ready before it takes the message:
                // a dropped feed sent nothing.
                Err(_) => break,
            }
            assert!(fed < 1000, "poll_ready never stayed pending");
        }
        // poll_ready is ready while the queue is at most the mark, after
        // the pipe took its share: each feed adds one frame.
        let expected = (PIPE + MARK) / FRAME + 1;
        assert_eq!(fed, expected, "messages fed before poll_ready stayed pending");
        let queued = ws.connection().pending_output().len();
        assert_eq!(queued, fed * FRAME - PIPE);
        assert!(queued > MARK && queued <= MARK + FRAME, "{queued} queued");
        assert_buffered_within(ws.buffered_amount(), queued, MARK, MSG, FRAME);
        let ready = timeout(
            Duration::from_secs(60),
            futures_util::future::poll_fn(|cx| Pin::new(&mut ws).poll_ready(cx)),
        )
        .await;
        assert!(ready.is_err(), "poll_ready became ready with a peer that reads nothing");

        // The peer drains: poll_ready completes, and a flush writes the rest.
        let (flushed, got) = tokio::join!(
            async {
                futures_util::future::poll_fn(|cx| Pin::new(&mut ws).poll_ready(cx)).await?;
                SinkExt::flush(&mut ws).await
            },
            drain_messages(&mut raw, fed)
        );
        flushed.unwrap();
        for (i, event) in got.iter().enumerate() {
            assert!(*event == Ev::Binary(message_bytes(i, MSG)), "message {i}");
        }
        assert_eq!(ws.buffered_amount(), 0);
    })
    .await;
}

/// Nothing is read faster than it is consumed (the DOM layer reads only
/// when no event is ready): a peer floods 400 KiB into an 8 KiB pipe; while
/// the application does not poll, the driver takes nothing, so the peer
/// stays blocked with at most the pipe and one read chunk ahead of what was
/// consumed. Every message then arrives, in order.
#[tokio::test(start_paused = true)]
async fn nothing_is_read_faster_than_it_is_consumed() {
    run_paused(async {
        const PIPE: usize = 8 << 10;
        const CHUNK: usize = 4 << 10;
        const MSG: usize = 1000;
        // A server frame: 2 + 2 length, unmasked.
        const FRAME: usize = MSG + 4;
        const COUNT: usize = 400;
        let config = Config::default().read_chunk(CHUNK);
        let (mut ws, raw) = client_pair(PIPE, config).await;
        let Raw { mut io, .. } = raw;
        let written = Arc::new(AtomicUsize::new(0));
        let counter = written.clone();
        let flood = tokio::spawn(async move {
            let frames: Vec<_> = (0..COUNT).map(|i| binary(&message_bytes(i, MSG))).collect();
            let mut bytes = wire(Role::Client, &frames);
            bytes.extend(close_frame(1000, b"flooded").bytes());
            let mut at = 0;
            while at < bytes.len() {
                let n = io.write(&bytes[at..]).await.unwrap();
                at += n;
                counter.fetch_add(n, Ordering::SeqCst);
            }
            io
        });
        let mut consumed = 0;
        for pause_after in [1, 2, 9, 10, 100, 250] {
            while consumed < pause_after {
                assert_eq!(next(&mut ws).await, Seen::Binary(message_bytes(consumed, MSG)));
                consumed += 1;
            }
            // The application stops polling; the flood runs.
            sleep(Duration::from_secs(1)).await;
            let before = written.load(Ordering::SeqCst);
            sleep(Duration::from_secs(30)).await;
            let after = written.load(Ordering::SeqCst);
            assert_eq!(before, after, "bytes were read while the application did not poll");
            let ahead = after - consumed * FRAME;
            assert!(ahead >= PIPE, "the peer is blocked by a full pipe ({ahead} bytes ahead)");
            assert!(
                ahead <= PIPE + 2 * CHUNK + FRAME,
                "{ahead} bytes written beyond the {consumed} messages consumed: the driver read ahead of the application"
            );
        }
        while consumed < COUNT {
            assert_eq!(next(&mut ws).await, Seen::Binary(message_bytes(consumed, MSG)));
            consumed += 1;
        }
        let mut io = flood.await.unwrap();
        let (events, reply) = tokio::join!(rest(&mut ws), async move {
            // Our close reply (masked, code only): 2 + 4 + 2 bytes; then
            // the server hangs up.
            let mut reply = [0u8; 8];
            io.read_exact(&mut reply).await.unwrap();
            reply
        });
        assert_eq!(reply[..2], [0x88, 0x82]);
        assert_eq!(events, [closed(true, 1000, "flooded")]);
    })
    .await;
}

// ================================================================ 6. cancellation

/// What a raw server trickles to the client, one byte per 10 ms: messages
/// of every length form, a fragmented text message split inside a code
/// point with a ping between its fragments (RFC 6455 §5.4), an empty
/// message, and a close.
fn trickled() -> (Vec<u8>, Vec<Seen>) {
    let split = "fragmented é".as_bytes();
    let cut = split.len() - 1; // inside the 2-byte "é"
    let frames = [
        text("hello"),
        binary(&pattern(126)),
        text_bytes(&split[..cut]).fin(false),
        ping(b"mid"),
        cont(&split[cut..]),
        binary(b""),
        text(&text_of_len(300)),
        close_frame(1000, b"bye"),
    ];
    let expected = vec![
        seen_text("hello"),
        Seen::Binary(pattern(126)),
        seen_text("fragmented é"),
        Seen::Binary(Vec::new()),
        Seen::Text(text_of_len(300)),
    ];
    (wire(Role::Client, &frames), expected)
}

/// Trickles `bytes` one at a time, then reads the client's answers (the
/// pong, the close reply) and hangs up as a server does after the close
/// handshake.
fn trickle(mut raw: Raw<DuplexStream>, bytes: Vec<u8>) -> tokio::task::JoinHandle<Vec<Ev>> {
    tokio::spawn(async move {
        for byte in bytes {
            raw.write_raw(&[byte]).await;
            sleep(Duration::from_millis(10)).await;
        }
        let mut answers = Vec::new();
        while answers.len() < 2 {
            answers.push(raw.next().await.expect("the client's answers"));
        }
        raw.hang_up().await;
        answers
    })
}

/// Dropping `next_event` futures (under a 3 ms timeout) while a peer
/// trickles bytes loses nothing: every event arrives once, intact, in
/// order, and the ping is answered.
#[tokio::test(start_paused = true)]
async fn dropped_next_event_futures_lose_nothing() {
    run_paused(async {
        let (mut ws, raw) = client_pair(64 << 10, Config::default()).await;
        let (bytes, mut expected) = trickled();
        let len = bytes.len();
        let peer = trickle(raw, bytes);
        let (mut events, mut cancelled) = (Vec::new(), 0);
        loop {
            match timeout(Duration::from_millis(3), ws.next_event()).await {
                Err(_) => cancelled += 1,
                Ok(Some(event)) => events.push(seen(event)),
                Ok(None) => break,
            }
        }
        expected.push(closed(true, 1000, "bye"));
        assert_eq!(events, expected);
        assert!(cancelled >= 2 * len, "only {cancelled} cancellations for {len} bytes");
        assert_eq!(peer.await.unwrap(), [Ev::Pong(b"mid".to_vec()), Ev::close(1000, "")]);
    })
    .await;
}

/// The same with `read` and `StreamExt::next`, alternately, raced against a
/// timer in `select!`; the ping shows as a message.
#[tokio::test(start_paused = true)]
async fn dropped_read_futures_lose_nothing() {
    run_paused(async {
        let (mut ws, raw) = client_pair(64 << 10, Config::default()).await;
        let (bytes, expected) = trickled();
        let len = bytes.len();
        let peer = trickle(raw, bytes);
        let (mut messages, mut cancelled, mut turn) = (Vec::new(), 0, 0u64);
        loop {
            turn += 1;
            let got = if turn % 2 == 0 {
                tokio::select! {
                    m = ws.read() => Some(m.unwrap()),
                    _ = sleep(Duration::from_millis(3)) => None,
                }
            } else {
                tokio::select! {
                    m = ws.next() => Some(m.transpose().unwrap()),
                    _ = sleep(Duration::from_millis(3)) => None,
                }
            };
            match got {
                None => cancelled += 1,
                Some(Some(m)) => messages.push(m),
                Some(None) => break,
            }
        }
        let mut expected: Vec<Message> = expected
            .into_iter()
            .map(|s| match s {
                Seen::Text(t) => Message::Text(t.into()),
                Seen::Binary(b) => Message::Binary(b.into()),
                other => panic!("{other:?}"),
            })
            .collect();
        // The ping arrives between the fragments, so before the message.
        expected.insert(2, Message::Ping(b"mid".to_vec().into()));
        assert_messages(&messages, &expected, "read under cancellation");
        assert!(cancelled >= 2 * len, "only {cancelled} cancellations for {len} bytes");
        assert_eq!(ws.peer_close().cloned(), frame_of(1000, "bye"));
        assert_eq!(peer.await.unwrap(), [Ev::Pong(b"mid".to_vec()), Ev::close(1000, "")]);
    })
    .await;
}

/// A `send` future dropped after its first poll has queued its whole
/// message: the driver writes the rest on its own (here while waiting for
/// the next event, with no explicit flush), and the message arrives intact,
/// followed by the next one.
#[tokio::test]
async fn a_send_dropped_after_its_first_poll_still_delivers_the_whole_message() {
    run(async {
        const PIPE: usize = 1024;
        let (mut ws, mut raw) = client_pair(PIPE, Config::default()).await;
        let big = pattern(200_000);
        assert!(
            ws.send(&big).now_or_never().is_none(),
            "a 200 kB send cannot complete through a 1 KiB pipe"
        );
        // The pipe took 1024 bytes: the 14-byte header (2 + 8 length + 4
        // mask) and 1010 payload bytes.
        assert_eq!(ws.buffered_amount(), 200_000 - (PIPE as u64 - 14));
        assert!(ws.send("after").now_or_never().is_none());
        assert_eq!(ws.buffered_amount(), 200_000 - (PIPE as u64 - 14) + 5);
        let peer = tokio::spawn(async move {
            let first = raw.next().await;
            let second = raw.next().await;
            raw.close(1000, "got them").await;
            let reply = raw.next().await;
            raw.hang_up().await;
            (first, second, reply)
        });
        assert_eq!(rest(&mut ws).await, [closed(true, 1000, "got them")]);
        let (first, second, reply) = peer.await.unwrap();
        assert!(first == Some(Ev::Binary(big)), "the big message arrived whole");
        assert_eq!(second, Some(Ev::text("after")));
        assert_eq!(reply, Some(Ev::close(1000, "")));
        assert_eq!(ws.buffered_amount(), 0);
    })
    .await;
}

// ================================================================ 7. timers

/// `Config::handshake_timeout` for a server: a client that connects and
/// never sends its request is dropped when the timeout runs out, not
/// before; the server writes nothing and closes the transport.
#[tokio::test(start_paused = true)]
async fn server_handshake_timeout_drops_a_silent_client() {
    run_paused(async {
        let (a, mut b) = duplex(4096);
        let config = Config::default().handshake_timeout(Some(Duration::from_secs(3)));
        let start = Instant::now();
        let outcome = WebSocket::accept_with(a, config, |_| Ok(Accept::new())).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert!(
            matches!(outcome, Err(Error::Timeout(Timeout::Handshake))),
            "{outcome:?}"
        );
        let mut left = Vec::new();
        b.read_to_end(&mut left).await.unwrap();
        assert_eq!(left, b"", "nothing written to a client that sent nothing");
    })
    .await;
}

/// `Config::handshake_timeout` for a client: a server that reads the
/// request and never answers. `client` fails; the DOM constructor
/// (`with_stream`) reports error then close 1006 (WHATWG "fail the
/// WebSocket connection") at the default 10 s.
#[tokio::test(start_paused = true)]
async fn client_handshake_timeout_drops_a_silent_server() {
    run_paused(async {
        let (a, mut b) = duplex(4096);
        let silent = tokio::spawn(async move {
            let mut request = Vec::new();
            b.read_to_end(&mut request).await.unwrap();
            request
        });
        let config = Config::default().handshake_timeout(Some(Duration::from_secs(4)));
        let start = Instant::now();
        let outcome = WebSocket::client(a, request(), config).await;
        assert_eq!(start.elapsed(), Duration::from_secs(4));
        assert!(
            matches!(outcome, Err(Error::Timeout(Timeout::Handshake))),
            "{outcome:?}"
        );
        let request = silent.await.unwrap();
        assert!(request.starts_with(b"GET /chat HTTP/1.1\r\n"), "the request was sent");

        let (a, mut b) = duplex(4096);
        let silent = tokio::spawn(async move {
            let mut request = Vec::new();
            b.read_to_end(&mut request).await.unwrap();
        });
        let start = Instant::now();
        let mut ws = WebSocket::with_stream(a, "ws://example.com/", &[], Config::default()).unwrap();
        assert_eq!(ws.ready_state(), ReadyState::Connecting);
        let events = rest(&mut ws).await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert_failed(&events, Fault::Timeout(Timeout::Handshake));
        assert_eq!(ws.ready_state(), ReadyState::Closed);
        silent.await.unwrap();
    })
    .await;
}

/// Opens a pair with a 2 s close timeout, stays quiet for `idle`, closes
/// from the `role` end with a peer that never answers; returns how long
/// after the close the connection ended.
async fn close_unanswered(role: Role, idle: Duration) -> Duration {
    let config = Config::default().close_timeout(Some(Duration::from_secs(2)));
    let (mut ws, mut raw) = match role {
        Role::Client => client_pair(4096, config).await,
        Role::Server => server_pair(4096, config).await,
    };
    sleep(idle).await;
    let start = Instant::now();
    ws.close(Some(1000), None).await.unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Closing);
    let events = rest(&mut ws).await;
    let elapsed = start.elapsed();
    assert_failed(&events, Fault::Timeout(Timeout::Close));
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    // The peer got our close frame, then the end of the stream.
    assert_eq!(raw.rest().await, [Ev::close(1000, "")], "{role:?}");
    elapsed
}

/// `Config::close_timeout`: "how long to wait for the peer's close frame
/// after sending ours" (RFC 6455 §7.1.1 leaves the wait to us). A peer that
/// never answers is dropped once it runs out: the DOM reports a failure
/// (error, then close 1006 unclean), as the core does in `tests/timers.rs`.
#[tokio::test(start_paused = true)]
async fn close_timeout_drops_a_peer_that_never_answers() {
    run_paused(async {
        for role in [Role::Client, Role::Server] {
            assert_eq!(
                close_unanswered(role, Duration::ZERO).await,
                Duration::from_secs(2),
                "{role:?}"
            );
        }
    })
    .await;
}

/// The close timeout counts from the close, whatever happened before: a
/// connection that was quiet for 7 s waits the full 2 s for the answer.
#[tokio::test(start_paused = true)]
async fn close_timeout_counts_from_the_close_not_from_the_last_read() {
    run_paused(async {
        for role in [Role::Client, Role::Server] {
            let elapsed = close_unanswered(role, Duration::from_secs(7)).await;
            assert_eq!(
                elapsed,
                Duration::from_secs(2),
                "{role:?}: the close timeout counts from the close"
            );
        }
    })
    .await;
}

/// The realistic face of the same rule: a connection quiet for longer than
/// the close timeout (default 5 s) closes, the peer answers at once, and
/// the close is clean (RFC 6455 §7.1.2 — WHATWG close event wasClean true,
/// the peer's code), not a Timeout(Close) failure.
#[tokio::test(start_paused = true)]
async fn close_after_a_quiet_period_completes_cleanly() {
    run_paused(async {
        for role in [Role::Client, Role::Server] {
            let (mut ws, mut raw) = match role {
                Role::Client => client_pair(4096, Config::default()).await,
                Role::Server => server_pair(4096, Config::default()).await,
            };
            sleep(Duration::from_secs(6)).await;
            let peer = tokio::spawn(async move {
                let close = raw.next().await;
                raw.hang_up().await;
                close
            });
            ws.close(Some(1000), Some("bye")).await.unwrap();
            assert_eq!(rest(&mut ws).await, [closed(true, 1000, "")], "{role:?}");
            assert_eq!(peer.await.unwrap(), Some(Ev::close(1000, "bye")));
        }
    })
    .await;
}

/// RFC 6455 §7.1.1: after the close handshake the server closes the TCP
/// connection first, and the client waits for it — for at most the close
/// timeout. The close handshake did complete, so the close event is clean.
#[tokio::test(start_paused = true)]
async fn client_waits_at_most_the_close_timeout_for_the_server_to_hang_up() {
    run_paused(async {
        let config = Config::default().close_timeout(Some(Duration::from_secs(3)));
        let (mut ws, mut raw) = client_pair(4096, config).await;
        let peer = tokio::spawn(async move {
            // Answers the close, then keeps the transport open.
            let close = raw.next().await;
            sleep(Duration::from_secs(600)).await;
            (close, raw)
        });
        let start = Instant::now();
        ws.close(Some(1000), Some("done")).await.unwrap();
        assert_eq!(rest(&mut ws).await, [closed(true, 1000, "")]);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert!(ws.connection().is_closed_cleanly());
        let (close, _raw) = peer.await.unwrap();
        assert_eq!(close, Some(Ev::close(1000, "done")));
    })
    .await;
}

/// `Config::keepalive_interval` on tokio's clock: a silent peer gets a ping
/// after one interval and is dropped after another (Timeout(Keepalive), then
/// close 1006); a peer that answers keeps the connection open.
#[tokio::test(start_paused = true)]
async fn keepalive_pings_a_silent_peer_and_drops_it() {
    run_paused(async {
        let config = Config::default().keepalive_interval(Some(Duration::from_secs(5)));
        let (mut ws, mut raw) = client_pair(4096, config.clone()).await;
        let start = Instant::now();
        let events = rest(&mut ws).await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert_failed(&events, Fault::Timeout(Timeout::Keepalive));
        // One ping, then the end of the stream without a close frame.
        assert_eq!(
            raw.rest().await,
            [Ev::Ping(Vec::new()), Ev::Failed(Some(1006), Fault::UnexpectedEof)]
        );

        // A peer that answers (its core pongs automatically).
        let (mut ws, mut raw) = client_pair(4096, config).await;
        let pings = tokio::spawn(async move {
            let mut pings = 0;
            while let Some(event) = raw.next().await {
                assert_eq!(event, Ev::Ping(Vec::new()));
                pings += 1;
                if pings == 11 {
                    break;
                }
            }
            raw
        });
        let start = Instant::now();
        assert!(
            timeout(Duration::from_secs(58), ws.next_event()).await.is_err(),
            "no event"
        );
        assert_eq!(ws.ready_state(), ReadyState::Open);
        let mut raw = pings.await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(55));
        let (events, ()) = tokio::join!(rest(&mut ws), async move {
            raw.close(1000, "").await;
            assert_eq!(raw.next().await, Some(Ev::close(1000, "")));
            raw.hang_up().await;
        });
        assert_eq!(events, [closed(true, 1000, "")]);
    })
    .await;
}

/// `Config::keepalive_interval`: "send a ping after this long without
/// hearing from the peer". Data received at 9 s moves the ping to 19 s, as
/// `received_data_resets_keepalive` in `tests/timers.rs` expects of the core.
#[tokio::test(start_paused = true)]
async fn keepalive_counts_from_the_last_data_received() {
    run_paused(async {
        let config = Config::default().keepalive_interval(Some(Duration::from_secs(10)));
        let (mut ws, mut raw) = client_pair(4096, config).await;
        let start = Instant::now();
        let peer = async move {
            sleep(Duration::from_secs(9)).await;
            raw.send_text("still here").await;
            assert_eq!(raw.next().await, Some(Ev::Ping(Vec::new())));
            let pinged = start.elapsed();
            raw.close(1000, "").await;
            assert_eq!(raw.next().await, Some(Ev::close(1000, "")));
            raw.hang_up().await;
            pinged
        };
        let (events, pinged) = tokio::join!(rest(&mut ws), peer);
        assert_eq!(events, [seen_text("still here"), closed(true, 1000, "")]);
        assert_eq!(
            pinged,
            Duration::from_secs(19),
            "the ping comes one interval after the data"
        );
    })
    .await;
}

// ================================================================ 8. failures

/// RFC 6455 §8.1: invalid UTF-8 in a text message fails the connection
/// with 1007 (§7.4.1). The peer receives the close frame with 1007; the
/// application gets error, then close 1006 (no close frame was received).
#[tokio::test]
async fn invalid_utf8_from_the_server_fails_the_client() {
    run(async {
        let (mut ws, mut raw) = client_pair(4096, Config::default()).await;
        raw.send_text("valid first").await;
        raw.write_raw(&text_bytes(&[0xff, 0xfe]).bytes()).await;
        let events = rest(&mut ws).await;
        assert_eq!(events[0], seen_text("valid first"));
        assert_failed(&events[1..], Fault::Protocol(ProtocolError::InvalidUtf8));
        assert_eq!(ws.ready_state(), ReadyState::Closed);
        assert!(!ws.connection().is_closed_cleanly());
        assert_eq!(raw.rest().await, [Ev::close(1007, "")]);
    })
    .await;
}

/// The same for the tokio server, through `read`: one `Err`, then `Ok(None)`.
#[tokio::test]
async fn invalid_utf8_from_the_client_fails_the_server() {
    run(async {
        let (mut ws, mut raw) = server_pair(4096, Config::default()).await;
        // Split inside a code point across two frames: still invalid at the end.
        raw.write_raw(&text_bytes(&[0xce]).fin(false).to(Role::Server).bytes())
            .await;
        raw.write_raw(&cont(&[0x41]).to(Role::Server).bytes()).await;
        assert!(matches!(
            ws.read().await,
            Err(Error::Protocol(ProtocolError::InvalidUtf8))
        ));
        assert!(matches!(ws.read().await, Ok(None)));
        assert_eq!(ws.ready_state(), ReadyState::Closed);
        assert_eq!(raw.rest().await, [Ev::close(1007, "")]);
    })
    .await;
}

/// A peer that resets the TCP connection: error (the transport failed),
/// then close 1006, not clean.
#[tokio::test]
async fn a_reset_by_the_peer_fails_the_connection() {
    run(async {
        let (listener, addr) = listen().await;
        let peer = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut raw = Raw::server(stream).await;
            let last = raw.next().await;
            (raw, last)
        });
        let mut ws = WebSocket::connect(&format!("ws://{addr}/"), &[]).await.unwrap();
        assert_eq!(next(&mut ws).await, Seen::Open);
        ws.send("last words").await.unwrap();
        let (raw, last) = peer.await.unwrap();
        assert_eq!(last, Some(Ev::text("last words")));
        // SO_LINGER 0: closing sends a reset.
        raw.io.set_zero_linger().unwrap();
        drop(raw);
        let events = rest(&mut ws).await;
        assert_failed(&events, Fault::Io(std::io::ErrorKind::ConnectionReset));
        assert_eq!(ws.ready_state(), ReadyState::Closed);
    })
    .await;
}

/// A peer that hangs up without a close frame: error (UnexpectedEof), then
/// close 1006; messages received before are delivered first.
#[tokio::test]
async fn a_hang_up_without_a_close_frame_fails_the_connection() {
    run(async {
        let (mut ws, mut raw) = client_pair(4096, Config::default()).await;
        raw.send_text("before").await;
        raw.hang_up().await;
        let events = rest(&mut ws).await;
        assert_eq!(events[0], seen_text("before"));
        assert_failed(&events[1..], Fault::UnexpectedEof);
    })
    .await;
}

/// WHATWG send(): "If this's readyState is CONNECTING, throw an
/// InvalidStateError" — through `send` and the `Sink` alike; nothing is
/// queued or counted, and the first frames the server sees are those sent
/// after open.
#[tokio::test]
async fn send_while_connecting_is_an_invalid_state_error() {
    run(async {
        let (a, b) = duplex(4096);
        let mut ws = WebSocket::with_stream(a, "ws://example.com/chat", &[], Config::default()).unwrap();
        assert_eq!(ws.ready_state(), ReadyState::Connecting);
        for result in [
            ws.send("hello").await,
            ws.send(&b"bytes"[..]).await,
            Pin::new(&mut ws).start_send(Message::Text("sink".into())),
            Pin::new(&mut ws).start_send(Message::Binary(vec![1].into())),
        ] {
            match result {
                Err(e @ Error::Misuse(_)) => assert_eq!(e.dom_exception(), Some("InvalidStateError")),
                other => panic!("expected Misuse, got {other:?}"),
            }
        }
        assert_eq!(ws.buffered_amount(), 0);
        assert_eq!(ws.ready_state(), ReadyState::Connecting);
        let (open, raw) = tokio::join!(ws.next_event(), Raw::server(b));
        let mut raw = raw;
        assert_eq!(open.map(seen), Some(Seen::Open));
        ws.send("now").await.unwrap();
        assert_eq!(raw.next().await, Some(Ev::text("now")));
    })
    .await;
}

/// WHATWG close() step 1: a code other than 1000 or 3000–4999 throws an
/// InvalidAccessError (1001 included: servers use `close_with`); step 2: a
/// reason over 123 UTF-8 bytes throws a SyntaxError. Nothing is sent and
/// the connection stays open.
#[tokio::test]
async fn close_argument_errors() {
    run(async {
        let (mut ws, mut raw) = client_pair(4096, Config::default()).await;
        for code in [1001, 0, 999, 1002, 1005, 1006, 1011, 1015, 2999, 5000, 65535] {
            match ws.close(Some(code), None).await {
                Err(e @ Error::Misuse(Misuse::DomCloseCode(c))) => {
                    assert_eq!(c, code);
                    assert_eq!(e.dom_exception(), Some("InvalidAccessError"));
                }
                other => panic!("close({code}): {other:?}"),
            }
        }
        let long = "é".repeat(62); // 124 bytes
        match ws.close(Some(1000), Some(&long)).await {
            Err(e @ Error::Misuse(Misuse::ReasonTooLong(124))) => assert_eq!(e.dom_exception(), Some("SyntaxError")),
            other => panic!("{other:?}"),
        }
        assert_eq!(ws.ready_state(), ReadyState::Open);
        ws.send("still open").await.unwrap();
        assert_eq!(raw.next().await, Some(Ev::text("still open")));
        // 123 bytes is fine; `close_with` allows 1001 going away.
        ws.close_with(CloseCode::GOING_AWAY, &"a".repeat(123)).await.unwrap();
        assert_eq!(raw.next().await, Some(Ev::close(1001, &"a".repeat(123))));
        raw.hang_up().await;
        assert_eq!(rest(&mut ws).await, [closed(true, 1001, "")]);
    })
    .await;
}

/// WHATWG close() step 3 while CONNECTING: "fail the WebSocket connection
/// and set readyState to CLOSING" — then error and close 1006, never open.
#[tokio::test]
async fn close_while_connecting_fails_the_connection() {
    run(async {
        let (a, _b) = duplex(4096);
        let mut ws = WebSocket::with_stream(a, "ws://example.com/", &[], Config::default()).unwrap();
        ws.close(None, None).await.unwrap();
        assert_eq!(ws.ready_state(), ReadyState::Closing);
        assert_failed(&rest(&mut ws).await, Fault::ClosedBeforeOpen);
        assert_eq!(ws.ready_state(), ReadyState::Closed);
    })
    .await;
}

/// RFC 6455 §4.2.2: a server may refuse the handshake with an HTTP status;
/// §4.1: a client receiving anything but 101 fails. `accept_with` returns
/// the refusal; `connect` returns the status; the DOM constructor reports
/// error then close 1006 (WHATWG "establish a WebSocket connection").
#[tokio::test]
async fn a_refused_handshake_fails_both_ends() {
    run(async {
        for dom in [false, true] {
            let (listener, addr) = listen().await;
            let server = tokio::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let mut target = String::new();
                let outcome = WebSocket::accept_with(stream, Config::default(), |request| {
                    target = request.target().to_owned();
                    Err(403)
                })
                .await;
                (target, outcome.map(drop))
            });
            let url = format!("ws://{addr}/private");
            if dom {
                let stream = TcpStream::connect(addr).await.unwrap();
                let mut ws = WebSocket::with_stream(stream, &url, &[], Config::default()).unwrap();
                assert_failed(
                    &rest(&mut ws).await,
                    Fault::Handshake(HandshakeError::Status {
                        code: 403,
                        reason: "Forbidden".into(),
                    }),
                );
            } else {
                match WebSocket::connect(&url, &[]).await {
                    Err(Error::Handshake(HandshakeError::Status { code, reason })) => {
                        assert_eq!((code, reason.as_str()), (403, "Forbidden"));
                    }
                    other => panic!("expected a 403, got {other:?}"),
                }
            }
            let (target, outcome) = server.await.unwrap();
            assert_eq!(target, "/private");
            assert!(
                matches!(outcome, Err(Error::Handshake(HandshakeError::Rejected(403)))),
                "{outcome:?}"
            );
        }
    })
    .await;
}

/// The constructor's exceptions come before any connection: wss:// in a
/// build without TLS, a URL with a fragment, a repeated protocol (WHATWG
/// "new WebSocket(url, protocols)" steps 7 and 9).
#[tokio::test]
async fn connect_refuses_what_the_dom_constructor_refuses() {
    run(async {
        let (listener, addr) = listen().await;
        #[cfg(not(feature = "rustls"))]
        assert!(matches!(
            WebSocket::connect(&format!("wss://{addr}/"), &[]).await,
            Err(Error::TlsNotEnabled)
        ));
        assert!(matches!(
            WebSocket::connect(&format!("ws://{addr}/#frag"), &[]).await,
            Err(Error::Url(_))
        ));
        assert!(matches!(
            WebSocket::connect(&format!("ws://{addr}/"), &["chat", "chat"]).await,
            Err(Error::Misuse(Misuse::InvalidProtocol(_)))
        ));
        assert!(
            timeout(Duration::from_millis(50), listener.accept()).await.is_err(),
            "no TCP connection may be attempted"
        );
    })
    .await;
}

/// WHATWG `bufferedAmount` counts application data, "not framing overhead":
/// with permessage-deflate (RFC 7692) a compressed message counts its
/// whole uncompressed size until its last compressed byte is written, not
/// the compressed bytes still queued.
#[tokio::test]
async fn buffered_amount_counts_application_bytes_of_a_compressed_message() {
    run(async {
        let (a, b) = duplex(1024);
        let (client, server) = tokio::join!(WebSocket::client(a, request(), Config::default()), WebSocket::accept(b));
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        assert!(client.extensions().starts_with("permessage-deflate"));
        assert_eq!(client.next_event().await.map(seen), Some(Seen::Open));
        // Four letters at random: about 2 bits a byte once compressed, so
        // the frame is smaller than the text and larger than the pipe.
        let mut rng = XorShift::new(0x2545_f491_4f6c_dd1d);
        let text: String = (0..200_000).map(|_| char::from(b"acgt"[rng.below(4)])).collect();
        client.set_high_water_mark(1 << 20);
        client.send(text.as_str()).await.unwrap();
        let queued = client.connection().pending_output().len();
        assert!(queued > 0 && queued < text.len(), "{queued} bytes queued");
        assert_eq!(client.buffered_amount(), text.len() as u64);
        // The server reads: the message arrives whole, the count drops to 0.
        let (flushed, echoed) = tokio::join!(client.flush(), server.read());
        flushed.unwrap();
        assert_eq!(echoed.unwrap(), Some(Message::Text(text.into())));
        assert_eq!(client.buffered_amount(), 0);
    })
    .await;
}

// ================================================================ drop

/// WHATWG §Garbage collection: an open socket that goes away starts the
/// closing handshake with no status code. The tokio driver queues the close
/// frame and writes what the transport takes at once (a destructor cannot
/// wait); the peer sees an empty close frame, not a bare reset.
#[tokio::test]
async fn dropping_an_open_socket_sends_a_close_with_no_status_code() {
    run(async {
        let (ws, mut raw) = server_pair(4096, plain_config()).await;
        drop(ws);
        let events = raw.rest().await;
        assert_eq!(events.first(), Some(&Ev::Close(None, String::new())), "{events:?}");
    })
    .await;
}

/// The same through split halves: the close goes out when the last half
/// is dropped, not before.
#[tokio::test]
async fn dropping_both_halves_sends_the_close() {
    run(async {
        let (ws, mut raw) = client_pair(4096, plain_config()).await;
        let (read, write) = ws.split();
        drop(read);
        raw.send_text("still open").await;
        drop(write);
        let events = raw.rest().await;
        assert_eq!(events.first(), Some(&Ev::Close(None, String::new())), "{events:?}");
    })
    .await;
}

/// Split halves under a high-water mark: a send that stays queued below the
/// mark is written by the read half, which waits in a read (the write half
/// returned at once). It used to stay queued until the next read of data.
#[tokio::test]
async fn a_send_queued_below_the_mark_is_written_while_the_read_half_waits() {
    run(async {
        let (ws, mut raw) = server_pair(1 << 20, plain_config()).await;
        let (mut read, mut write) = ws.split();
        write.set_high_water_mark(64 << 10);
        let reader = tokio::spawn(async move { read.next_event().await.map(seen) });
        // Let the read half park in its read.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        write.send("hello").await.unwrap();
        let got = timeout(Duration::from_secs(2), raw.next()).await;
        assert_eq!(
            got.ok().flatten(),
            Some(Ev::text("hello")),
            "the queued send never went out"
        );
        reader.abort();
    })
    .await;
}

// ---------------------------------------------------------------- the Rust-facing send (issue #15)

/// Sends 1 KiB messages through `sink` to a peer that is gone: the first
/// or second fails, with the transport's I/O error.
async fn sink_fails_with_io(sink: &mut (impl Sink<Message, Error = Error> + Unpin)) {
    for sent in 0..2000 {
        if let Err(error) = SinkExt::send(sink, Message::Binary(vec![7; 1024].into())).await {
            assert!(sent < 2, "failed only after {sent} sends");
            assert!(matches!(error, Error::Io(_)), "{error:?}");
            return;
        }
    }
    panic!("2000 Sink sends succeeded to a peer that is gone");
}

/// Issue #15, bug 2: a task that only writes learns that the peer is gone.
/// The `Sink` reports the transport's failure as the I/O error (and keeps
/// reporting it); the DOM-style `send(data)` keeps the WHATWG rule and
/// discards silently.
#[tokio::test]
async fn the_sink_reports_a_transport_that_is_gone() {
    let (mut ws, raw) = client_pair(4096, plain_config()).await;
    drop(raw);
    sink_fails_with_io(&mut ws).await;
    let again = SinkExt::send(&mut ws, Message::Binary(vec![7].into())).await;
    assert!(matches!(again, Err(Error::Io(_))), "{again:?}");
    assert!(ws.send("the DOM's send stays silent").await.is_ok());
}

/// Issue #15, bug 2: after the Sink's close, a send is refused, not
/// swallowed.
#[tokio::test]
async fn the_sink_refuses_a_send_after_its_close() {
    let (mut ws, _raw) = client_pair(4096, plain_config()).await;
    SinkExt::close(&mut ws).await.expect("the close frame is written");
    let late = SinkExt::send(&mut ws, Message::Text("late".into())).await;
    assert!(matches!(late, Err(Error::Misuse(Misuse::Closing))), "{late:?}");
}

/// Issue #15, bug 3: `ws.send(Message)` compiles and sends what the
/// message is, control frames included, with the Sink's rules.
#[tokio::test]
async fn send_takes_a_message() {
    let (mut ws, mut raw) = client_pair(4096, plain_config()).await;
    ws.send(Message::Text("hello".into())).await.unwrap();
    ws.send(Message::Ping(b"p".to_vec().into())).await.unwrap();
    ws.send(Message::Binary(vec![1, 2].into())).await.unwrap();
    assert_eq!(raw.next().await, Some(Ev::text("hello")));
    assert_eq!(raw.next().await, Some(Ev::Ping(b"p".to_vec())));
    assert_eq!(raw.next().await, Some(Ev::Binary(vec![1, 2])));
    SinkExt::close(&mut ws).await.unwrap();
    let late = ws.send(Message::Text("late".into())).await;
    assert!(matches!(late, Err(Error::Misuse(Misuse::Closing))), "{late:?}");
}

/// Issue #15, bug 2, for split halves: the write half's `Sink` and its
/// `send(Message)` report the failed transport too.
#[tokio::test]
async fn the_write_half_reports_a_transport_that_is_gone() {
    let (ws, raw) = client_pair(4096, plain_config()).await;
    let (_read, mut write) = ws.split();
    drop(raw);
    sink_fails_with_io(&mut write).await;
    let again = write.send(Message::Text("again".into())).await;
    assert!(matches!(again, Err(Error::Io(_))), "{again:?}");
}

/// Issue #15, item 6: the read half learns the peer's close frame; the
/// write half pings; the halves reunite into one socket that still works.
#[tokio::test]
async fn split_halves_ping_learn_the_close_and_reunite() {
    let (ws, mut raw) = client_pair(4096, plain_config()).await;
    let (read, mut write) = ws.split();
    write.ping(b"are you there").await.unwrap();
    assert_eq!(raw.next().await, Some(Ev::Ping(b"are you there".to_vec())));

    let mut ws = read.reunite(write).expect("halves of one split");
    ws.send("after reuniting").await.unwrap();
    assert_eq!(raw.next().await, Some(Ev::text("after reuniting")));

    let (mut read, write) = ws.split();
    assert!(read.peer_close().is_none());
    raw.close(4001, "bye").await;
    raw.hang_up().await;
    // The raw peer's automatic pong to the ping comes first.
    assert_eq!(
        read.read().await.unwrap(),
        Some(Message::Pong(b"are you there".to_vec().into()))
    );
    assert_eq!(read.read().await.unwrap(), None, "the stream ends with the close");
    let close = read.peer_close().expect("the peer's close frame");
    assert_eq!((close.code, close.reason.as_str()), (Some(CloseCode(4001)), "bye"));

    let (other, _other_raw) = client_pair(4096, plain_config()).await;
    let (other_read, other_write) = other.split();
    let (read, _) = read.reunite(other_write).expect_err("halves of different sockets");
    assert!(other_read.reunite(write).is_err());
    drop(read);
}

/// Issue #15, item 5: a client connects with its own request (an
/// Authorization header the server checks) over TCP, and reads the
/// server's 101 headers.
#[tokio::test]
async fn connect_request_sends_its_headers_and_keeps_the_response_headers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = WebSocket::accept_with(stream, plain_config(), |request| {
            match request.header("authorization") {
                Some(b"Bearer t0ken") => Ok(Accept::new().header("X-Session", "42")),
                _ => Err(401),
            }
        })
        .await;
        ws.map(drop)
    });
    let request = ClientRequest::new(address.to_string(), "/chat").header("Authorization", "Bearer t0ken");
    let ws = WebSocket::connect_request(request, false, plain_config())
        .await
        .unwrap();
    assert_eq!(ws.connection().response_header("x-session"), Some(&b"42"[..]));
    assert!(
        ws.connection()
            .response_headers()
            .any(|(name, _)| name.eq_ignore_ascii_case("upgrade"))
    );
    assert_eq!(ws.url(), format!("ws://{address}/chat"));
    server.await.unwrap().expect("the server accepted");

    // Without the header the server refuses, and the client sees the 401.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = WebSocket::accept_with(stream, plain_config(), |_| Err(401)).await;
    });
    let refused = WebSocket::connect_request(ClientRequest::new(address.to_string(), "/"), false, plain_config()).await;
    assert!(
        matches!(refused, Err(Error::Handshake(HandshakeError::Status { code: 401, .. }))),
        "{refused:?}"
    );
    server.await.unwrap();
}

/// The opening handshake's futures hold the socket in a box. A task that
/// writes `let ws = WebSocket::accept(stream).await` keeps that future's
/// room beside the socket's own for its whole life (an async fn's layout
/// gives the two no shared room), so a future holding the socket inline
/// doubled what every idle connection costs (`benches/compare`'s
/// `idle.sh`: 3,047 bytes of RSS, 1,990 with the box).
#[tokio::test]
async fn opening_futures_hold_the_socket_in_a_box() {
    let socket = std::mem::size_of::<WebSocket<DuplexStream>>();
    let (a, _b) = duplex(64);
    let accept = WebSocket::accept(a);
    let (a, _b) = duplex(64);
    let accept_with = WebSocket::accept_with(a, Config::default(), |_| Ok(Accept::new()));
    let (a, _b) = duplex(64);
    let client = WebSocket::client(a, request(), Config::default());
    for (name, size) in [
        ("accept", std::mem::size_of_val(&accept)),
        ("accept_with", std::mem::size_of_val(&accept_with)),
        ("client", std::mem::size_of_val(&client)),
    ] {
        assert!(size <= 128, "{name}'s future is {size} bytes; the socket is {socket}");
    }
    // Built at the call, the sockets are whole and unpolled: dropping the
    // futures drops them.
    drop((accept, accept_with, client));
}

/// RFC 6455 §5.4 and §5.5.1: the peer's close arriving in the middle of a
/// frame of declared length (`begin_message`) does not cut the frame. The
/// driver reads the close (the socket is CLOSING), the application sends
/// the rest of the payload, and the close reply goes out after the frame's
/// last byte, never inside it; the close handshake then completes cleanly.
#[tokio::test]
async fn the_peers_close_waits_for_a_declared_frame_to_finish() {
    run(async {
        const LEN: usize = 200_000;
        let payload: Vec<u8> = (0..LEN).map(|i| (i * 7 % 251) as u8).collect();
        let (mut ws, mut raw) = client_pair(1 << 20, Config::default()).await;
        raw.close(1000, "bye").await;
        ws.begin_message(false, LEN as u64).await.unwrap();
        ws.send_payload(&payload[..LEN / 2]).await.unwrap();
        // Reads the close; no event yet: the reply waits for the frame.
        assert!(timeout(Duration::from_millis(200), ws.next_event()).await.is_err());
        assert_eq!(ws.ready_state(), ReadyState::Closing);
        ws.send_payload(&payload[LEN / 2..]).await.unwrap();
        ws.flush().await.unwrap();

        let mut got = Vec::new();
        loop {
            match raw.next().await.expect("the client's frames") {
                event @ Ev::Close(..) => {
                    got.push(event);
                    break;
                }
                event => got.push(event),
            }
        }
        assert_eq!(got.len(), 2, "one message, then the reply");
        assert!(got[0] == Ev::Binary(payload), "the message, byte for byte");
        assert_eq!(got[1], Ev::close(1000, ""));
        raw.hang_up().await;
        assert_eq!(ws.next_event().await.map(seen), Some(closed(true, 1000, "bye")));
    })
    .await;
}
