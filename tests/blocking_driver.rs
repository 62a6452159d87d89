//! The blocking driver over real TCP on 127.0.0.1: handshakes (with a
//! subprotocol, and refused), echo across the length-encoding boundaries,
//! automatic pongs, and close handshakes started by either end.
//!
//! Nothing here sleeps to synchronise, and nothing can hang CI:
//!
//! * The driver turns its own timers into read timeouts, replacing any set
//!   on the socket, and retries a read that timed out, so a socket read
//!   timeout alone cannot bound `WebSocket::read`. Servers therefore run
//!   over [`Bounded`], a [`Transport`] that keeps every read within the
//!   test's deadline and fails once it passes.
//! * Clients made by `WebSocket::connect` own their `TcpStream`; a
//!   [`Watchdog`] shuts every socket of a test down if the test overruns,
//!   which turns any blocked read into an end of stream.
//! * Writes have a socket write timeout, which the driver replaces only
//!   while one of its timers is armed (a close, or the read buffer's
//!   release a second after a large message); the watchdog stays the
//!   backstop.

use rfc6455::error::Misuse;
use rfc6455::handshake::UrlError;
use rfc6455::{
    Accept, ClientRequest, CloseCode, Config, Error, HandshakeError, Message, OwnedCloseFrame, Plain, ReadyState,
    Request, Transport, WebSocket,
};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long any one test may take.
const LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- bounds

/// Shuts down every watched socket if the test is still running after
/// [`LIMIT`], and unblocks a server still waiting in `accept`.
struct Watchdog {
    streams: Arc<Mutex<Vec<TcpStream>>>,
    fired: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    fn new(listener: Option<SocketAddr>) -> Self {
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let fired = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = {
            let (streams, fired) = (streams.clone(), fired.clone());
            thread::spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(LIMIT) {
                    fired.store(true, Ordering::SeqCst);
                    for stream in streams.lock().unwrap().iter() {
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                    if let Some(addr) = listener {
                        let _ = TcpStream::connect(addr);
                    }
                }
            })
        };
        Self {
            streams,
            fired,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn watch(&self, stream: &TcpStream) {
        stream.set_write_timeout(Some(LIMIT)).unwrap();
        self.streams.lock().unwrap().push(stream.try_clone().unwrap());
    }

    /// Ends the watch; fails the test if it had to step in.
    fn finish(mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        assert!(!self.fired.load(Ordering::SeqCst), "the test overran {LIMIT:?}");
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A TCP stream whose reads never outlast the test's deadline: the
/// driver's read timeouts are honoured but capped, and a read after the
/// deadline fails instead of being retried forever.
#[derive(Debug)]
struct Bounded {
    stream: TcpStream,
    deadline: Instant,
    requested: Option<Duration>,
    /// Calls to `write`.
    writes: usize,
}

impl Bounded {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            deadline: Instant::now() + LIMIT,
            requested: None,
            writes: 0,
        }
    }
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::other("test deadline passed"));
        }
        let bound = self
            .requested
            .map_or(left, |r| r.min(left))
            .max(Duration::from_millis(1));
        self.stream.set_read_timeout(Some(bound))?;
        self.stream.read(buf)
    }
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writes += 1;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl Transport for Bounded {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.requested = timeout;
        Ok(())
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Both)
    }
}

// ---------------------------------------------------------------- server side

/// What the server saw of the client's request.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    host: String,
    protocols: Vec<String>,
}

type ServerResult<R> = JoinHandle<(Option<Seen>, R)>;

/// Accepts one connection on a fresh listener in a thread: `decide`
/// answers the request, `body` gets the outcome of the handshake.
fn serve<R: Send + 'static>(
    config: Config,
    decide: impl FnOnce(&Request) -> Result<Accept, u16> + Send + 'static,
    body: impl FnOnce(Result<WebSocket<Bounded>, Error>) -> R + Send + 'static,
) -> (SocketAddr, Watchdog, ServerResult<R>) {
    serve_on(TcpListener::bind("127.0.0.1:0").unwrap(), config, decide, body)
}

/// Like [`serve`], on a given listener.
fn serve_on<R: Send + 'static>(
    listener: TcpListener,
    config: Config,
    decide: impl FnOnce(&Request) -> Result<Accept, u16> + Send + 'static,
    body: impl FnOnce(Result<WebSocket<Bounded>, Error>) -> R + Send + 'static,
) -> (SocketAddr, Watchdog, ServerResult<R>) {
    let addr = listener.local_addr().unwrap();
    let dog = Watchdog::new(Some(addr));
    let streams = dog.streams.clone();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_write_timeout(Some(LIMIT)).unwrap();
        streams.lock().unwrap().push(stream.try_clone().unwrap());
        let mut seen = None;
        let ws = WebSocket::accept_with(Bounded::new(stream), config, |request| {
            seen = Some(Seen {
                target: request.target().to_owned(),
                host: request.host().to_owned(),
                protocols: request.protocols().to_vec(),
            });
            decide(request)
        });
        (seen, body(ws))
    });
    (addr, dog, server)
}

/// What an echo server saw.
#[derive(Debug)]
struct Echoed {
    messages: Vec<Message>,
    peer_close: Option<OwnedCloseFrame>,
    protocol: Option<String>,
}

/// Echoes text and binary until the close handshake is over, forwarding
/// each message as received: one of 16 KiB or more goes back out of the
/// buffer it arrived in, neither end copying it (`send_message` with the
/// received `Bytes`).
fn echo(ws: Result<WebSocket<Bounded>, Error>) -> Result<Echoed, Error> {
    let mut ws = ws?;
    let mut messages = Vec::new();
    while let Some(message) = ws.read()? {
        if message.is_text() || message.is_binary() {
            ws.send_message(message.clone())?;
        }
        messages.push(message);
    }
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert!(ws.get_ref().is_some(), "the transport was opened");
    Ok(Echoed {
        messages,
        peer_close: ws.peer_close().cloned(),
        protocol: Some(ws.protocol().to_owned()).filter(|p| !p.is_empty()),
    })
}

fn choose_superchat(request: &Request) -> Result<Accept, u16> {
    Ok(if request.protocols().iter().any(|p| p == "superchat") {
        Accept::new().protocol("superchat")
    } else {
        Accept::new()
    })
}

fn close_frame(code: u16, reason: &str) -> Option<OwnedCloseFrame> {
    Some(OwnedCloseFrame {
        code: Some(CloseCode(code)),
        reason: reason.to_owned(),
    })
}

/// Text of exactly `len` bytes, mostly multibyte code points.
fn text_of_len(len: usize) -> String {
    let unit = "aé€𝄞"; // 1 + 2 + 3 + 4 bytes
    let mut text = unit.repeat(len / unit.len());
    text.push_str(&"z".repeat(len - text.len()));
    assert_eq!(text.len(), len);
    text
}

fn binary_of_len(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ (i >> 8) as u8).collect()
}

/// Reads the next message, which must not be the end.
fn next(ws: &mut WebSocket<impl Transport>) -> Message {
    match ws.read() {
        Ok(Some(message)) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Drains the close handshake: `read` must return `Ok(None)` with no
/// message before it.
fn read_to_end(ws: &mut WebSocket<impl Transport>) {
    match ws.read() {
        Ok(None) => {}
        other => panic!("expected the end of the connection, got {other:?}"),
    }
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert!(ws.get_ref().is_some(), "the transport was opened");
    assert!(ws.connection().is_closed_cleanly());
}

// ---------------------------------------------------------------- tests

const LENGTHS: [usize; 10] = [0, 1, 125, 126, 127, 65535, 65536, 65537, 200_000, 1 << 20];

/// Text and binary echo across the 7/16/64-bit length boundaries and at
/// 1 MiB, over a handshake that negotiates a subprotocol; the client then
/// closes.
#[test]
fn echo_across_length_boundaries_with_a_subprotocol() {
    let (addr, dog, server) = serve(Config::default(), choose_superchat, echo);
    let request = ClientRequest::new(addr.to_string(), "/echo?x=1")
        .protocol("chat")
        .protocol("superchat");
    let mut ws = WebSocket::connect_request(request, false, Config::default()).unwrap();
    dog.watch(ws.get_ref().unwrap().tcp());
    assert_eq!(ws.protocol(), "superchat");
    assert_eq!(ws.ready_state(), ReadyState::Open);

    let mut sent = Vec::new();
    for len in LENGTHS {
        let data = binary_of_len(len);
        ws.send_binary(&data).unwrap();
        assert_eq!(
            next(&mut ws),
            Message::Binary(data.clone().into()),
            "binary of {len} bytes"
        );
        sent.push(Message::Binary(data.into()));

        let text = text_of_len(len);
        ws.send_text(&text).unwrap();
        assert_eq!(next(&mut ws), Message::Text(text.clone().into()), "text of {len} bytes");
        sent.push(Message::Text(text.into()));
    }

    ws.close_with(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Closing);
    read_to_end(&mut ws);
    // The server echoes the code only (RFC 6455 §5.5.1 suggests no reason).
    assert_eq!(ws.peer_close().cloned(), close_frame(1000, ""));

    let (seen, echoed) = server.join().unwrap();
    let seen = seen.expect("the server saw a request");
    assert_eq!(seen.target, "/echo?x=1");
    assert_eq!(seen.host, addr.to_string());
    assert_eq!(seen.protocols, ["chat", "superchat"]);
    let echoed = echoed.unwrap();
    assert_eq!(echoed.protocol.as_deref(), Some("superchat"));
    assert_eq!(echoed.peer_close, close_frame(1000, "done"));
    assert!(
        echoed.messages == sent,
        "the server received other messages than were sent"
    );
    dog.finish();
}

/// `WebSocket::connect` with a ws:// URL; text with every UTF-8 width,
/// the largest code point, NUL and an empty message.
#[test]
fn connect_by_url_and_echo_multibyte_text() {
    let (addr, dog, server) = serve(Config::default(), |_| Ok(Accept::new()), echo);
    let mut ws = WebSocket::connect(&format!("ws://{addr}/a/b?c=d"), &[]).unwrap();
    assert_eq!(ws.url(), format!("ws://{addr}/a/b?c=d"));
    assert_eq!(
        ws.ready_state(),
        ReadyState::Connecting,
        "the DOM constructor returns before the handshake"
    );
    assert!(matches!(ws.next_event(), Some(rfc6455::websocket::Event::Open)));
    dog.watch(ws.get_ref().unwrap().tcp());
    assert_eq!(ws.protocol(), "");
    let texts = [
        "κόσμε",
        "Hello, 世界! 🎉🦀",
        "𝄞\u{10ffff}\u{fffd}\u{feff}",
        "",
        "nul\0inside",
        "\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}",
    ];
    for text in texts {
        ws.send_text(text).unwrap();
        assert_eq!(next(&mut ws), Message::Text(text.to_owned().into()));
    }
    ws.close_with(CloseCode(4000), "client leaving ✓").unwrap();
    read_to_end(&mut ws);
    assert_eq!(ws.peer_close().cloned(), close_frame(4000, ""));
    // Closed: WHATWG send() discards the data but counts it.
    ws.send_text("late").unwrap();
    assert_eq!(ws.buffered_amount(), 4);

    let (seen, echoed) = server.join().unwrap();
    assert_eq!(seen.unwrap().target, "/a/b?c=d");
    let echoed = echoed.unwrap();
    assert_eq!(echoed.peer_close, close_frame(4000, "client leaving ✓"));
    let received: Vec<_> = echoed.messages.into_iter().collect();
    let expected: Vec<_> = texts.iter().map(|t| Message::Text((*t).to_owned().into())).collect();
    assert_eq!(received, expected);
    dog.finish();
}

/// Under a high-water mark, the echoes of a pipelined burst leave in a few
/// writes: `read` writes what is queued only once nothing already received
/// is left to return, and always before it waits on the socket (else the
/// client, waiting for its echoes, would wait forever).
#[test]
fn a_pipelined_burst_is_echoed_in_a_few_writes_under_a_high_water_mark() {
    const BURST: usize = 200;
    let (addr, dog, server) = serve(
        Config::default(),
        |_| Ok(Accept::new()),
        |ws| {
            let mut ws = ws.unwrap();
            ws.set_high_water_mark(64 << 10);
            let mut echoed = 0;
            while let Some(message) = ws.read().unwrap() {
                if let Message::Binary(data) = message {
                    ws.send_binary(&data).unwrap();
                    echoed += 1;
                }
            }
            (echoed, ws.get_ref().unwrap().writes)
        },
    );
    let mut ws = WebSocket::connect(&format!("ws://{addr}/"), &[]).unwrap();
    assert!(matches!(ws.next_event(), Some(rfc6455::websocket::Event::Open)));
    dog.watch(ws.get_ref().unwrap().tcp());
    // The whole burst goes out in one write.
    ws.set_high_water_mark(1 << 20);
    for i in 0..BURST {
        ws.send_binary(&binary_of_len(100 + i)).unwrap();
    }
    ws.flush().unwrap();
    for i in 0..BURST {
        assert_eq!(
            next(&mut ws),
            Message::Binary(binary_of_len(100 + i).into()),
            "echo {i}"
        );
    }
    ws.close(Some(1000), None).unwrap();
    read_to_end(&mut ws);
    let (_, (echoed, writes)) = server.join().unwrap();
    assert_eq!(echoed, BURST);
    // One write per message would be 200; the 101 response, the bursts
    // the socket reads cut the input into, and the close reply remain.
    assert!(writes <= 20, "{writes} writes for {BURST} echoes");
    dog.finish();
}

/// Pings are answered by the driver: the pinging end sees the pong, in
/// both directions, with payloads of 0 and 125 bytes.
#[test]
fn pings_are_answered_automatically() {
    let (addr, dog, server) = serve(
        Config::default(),
        |_| Ok(Accept::new()),
        |ws| -> Result<Vec<Message>, Error> {
            let mut ws = ws?;
            let mut messages = Vec::new();
            while let Some(message) = ws.read()? {
                if message == Message::Text("ping me".into()) {
                    ws.ping(b"from server").unwrap();
                }
                messages.push(message);
            }
            Ok(messages)
        },
    );
    let mut ws = WebSocket::connect(&format!("ws://{addr}/"), &[]).unwrap();
    assert_eq!(
        ws.ready_state(),
        ReadyState::Connecting,
        "the DOM constructor returns before the handshake"
    );
    assert!(matches!(ws.next_event(), Some(rfc6455::websocket::Event::Open)));
    dog.watch(ws.get_ref().unwrap().tcp());

    let long = [0x5a; 125];
    for payload in [&b"are you there?"[..], b"", &long] {
        ws.ping(payload).unwrap();
        assert_eq!(next(&mut ws), Message::Pong(payload.to_vec().into()));
    }
    assert!(matches!(
        ws.ping(&[0; 126]),
        Err(Error::Misuse(Misuse::ControlPayloadTooLong(126)))
    ));

    ws.send_text("ping me").unwrap();
    // Returned after the pong is already on its way.
    assert_eq!(next(&mut ws), Message::Ping(b"from server".to_vec().into()));
    ws.close_with(CloseCode::NORMAL, "").unwrap();
    read_to_end(&mut ws);

    let (_, messages) = server.join().unwrap();
    assert_eq!(
        messages.unwrap(),
        [
            Message::Ping(b"are you there?".to_vec().into()),
            Message::Ping(Vec::new().into()),
            Message::Ping(long.to_vec().into()),
            Message::Text("ping me".into()),
            Message::Pong(b"from server".to_vec().into()),
        ]
    );
    dog.finish();
}

/// The server starts the close handshake; its code and reason reach the
/// client, whose `read` then returns `Ok(None)` once the server has closed
/// the transport (§7.1.1). With `echo_close_reason` the client's reply
/// carries the reason back.
#[test]
fn server_initiated_close() {
    for echo_reason in [false, true] {
        let (addr, dog, server) = serve(
            Config::default(),
            |_| Ok(Accept::new()),
            |ws| -> Result<(Option<Message>, Option<OwnedCloseFrame>), Error> {
                let mut ws = ws?;
                let first = ws.read()?;
                ws.close_with(CloseCode(4001), "server says bye").unwrap();
                assert_eq!(ws.ready_state(), ReadyState::Closing);
                // Nothing but the client's close reply arrives.
                let rest = ws.read()?;
                assert_eq!(rest, None);
                assert!(ws.connection().is_closed_cleanly());
                assert!(ws.get_ref().is_some(), "the transport was opened");
                Ok((first, ws.peer_close().cloned()))
            },
        );
        let config = Config::default().echo_close_reason(echo_reason);
        let request = ClientRequest::new(addr.to_string(), "/");
        let mut ws = WebSocket::connect_request(request, false, config).unwrap();
        dog.watch(ws.get_ref().unwrap().tcp());
        ws.send_text("hi").unwrap();
        read_to_end(&mut ws);
        assert_eq!(ws.peer_close().cloned(), close_frame(4001, "server says bye"));
        // WHATWG send() while closed: discarded, but counted.
        ws.send_binary(b"late").unwrap();
        assert_eq!(ws.buffered_amount(), 4);

        let (_, result) = server.join().unwrap();
        let (first, peer_close) = result.unwrap();
        assert_eq!(first, Some(Message::Text("hi".into())));
        let reply = if echo_reason { "server says bye" } else { "" };
        assert_eq!(peer_close, close_frame(4001, reply), "echo_close_reason {echo_reason}");
        dog.finish();
    }
}

/// A server refusing with 403 makes the client's connect fail with the
/// status; the server's accept reports the refusal.
#[test]
fn refused_handshake_reports_the_status() {
    let (addr, dog, server) = serve(
        Config::default(),
        |request| {
            if request.path() == "/private" {
                Err(403)
            } else {
                Ok(Accept::new())
            }
        },
        |ws| ws.map(|_| ()),
    );
    // The DOM constructor succeeds; the refusal arrives as error + close
    // events, which `read` turns into the error.
    let mut ws = WebSocket::connect(&format!("ws://{addr}/private"), &[]).unwrap();
    match ws.read() {
        Err(Error::Handshake(HandshakeError::Status { code, reason })) => {
            assert_eq!(code, 403);
            assert_eq!(reason, "Forbidden");
        }
        other => panic!("expected a 403, got {other:?}"),
    }
    let (seen, outcome) = server.join().unwrap();
    assert_eq!(seen.unwrap().target, "/private");
    match outcome {
        Err(Error::Handshake(HandshakeError::Rejected(403))) => {}
        other => panic!("server: {other:?}"),
    }
    dog.finish();
}

/// A `Plain` transport (no timeouts, no shutdown) runs the client side;
/// the server closing the transport ends the client's read.
#[test]
fn plain_transport_client() {
    let (addr, dog, server) = serve(Config::default(), |_| Ok(Accept::new()), echo);
    let stream = TcpStream::connect(addr).unwrap();
    dog.watch(&stream);
    let request = ClientRequest::new(addr.to_string(), "/plain");
    let mut ws = WebSocket::client(Plain(stream), request, Config::default()).unwrap();
    ws.send_binary(&[1, 2, 3]).unwrap();
    assert_eq!(next(&mut ws), Message::Binary(vec![1, 2, 3].into()));
    ws.close_with(CloseCode::GOING_AWAY, "").unwrap();
    read_to_end(&mut ws);
    let (_, echoed) = server.join().unwrap();
    let echoed = echoed.unwrap();
    assert_eq!(echoed.messages, [Message::Binary(vec![1, 2, 3].into())]);
    assert_eq!(echoed.peer_close, close_frame(1001, ""));
    dog.finish();
}

/// Whether anything connected to `listener` (which must be non-blocking).
fn connected(listener: &TcpListener) -> bool {
    match listener.accept() {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("{e}"),
    }
}

/// wss:// needs TLS, which this build lacks: refused before connecting.
/// (With feature `rustls`, tests/tls.rs covers wss://.)
#[cfg(not(feature = "rustls"))]
#[test]
fn wss_is_refused_without_tls() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    assert!(matches!(
        WebSocket::connect(&format!("wss://{addr}/"), &[]),
        Err(Error::TlsNotEnabled)
    ));
    assert!(matches!(
        WebSocket::connect(&format!("https://{addr}/"), &[]),
        Err(Error::TlsNotEnabled)
    ));
    let request = ClientRequest::new(addr.to_string(), "/");
    assert!(matches!(
        WebSocket::connect_request(request, true, Config::default()),
        Err(Error::TlsNotEnabled)
    ));
    assert!(!connected(&listener), "no TCP connection may be attempted");
}

/// URLs the WHATWG WebSocket constructor refuses are refused here too,
/// before connecting.
#[test]
fn bad_urls_are_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let cases = [
        (format!("ws://{addr}/#fragment"), UrlError::Fragment),
        (format!("ws://{addr}/path?q=1#"), UrlError::Fragment),
        (format!("ftp://{addr}/"), UrlError::Scheme),
        ("not a url".to_owned(), UrlError::Invalid),
    ];
    for (url, expected) in cases {
        match WebSocket::connect(&url, &[]) {
            Err(Error::Url(e)) => assert_eq!(e, expected, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    assert!(!connected(&listener), "no TCP connection may be attempted");
}

/// An IPv6 literal with a port connects to that port.
#[test]
fn ipv6_literal_with_a_port() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let (addr, dog, server) = serve_on(listener, Config::default(), |_| Ok(Accept::new()), echo);
    let mut ws = WebSocket::connect(&format!("ws://[::1]:{}/v6", addr.port()), &[]).unwrap();
    assert_eq!(
        ws.ready_state(),
        ReadyState::Connecting,
        "the DOM constructor returns before the handshake"
    );
    assert!(matches!(ws.next_event(), Some(rfc6455::websocket::Event::Open)));
    dog.watch(ws.get_ref().unwrap().tcp());
    ws.send_text("over v6").unwrap();
    assert_eq!(next(&mut ws), Message::Text("over v6".into()));
    ws.close_with(CloseCode::NORMAL, "").unwrap();
    read_to_end(&mut ws);
    let (seen, echoed) = server.join().unwrap();
    assert_eq!(seen.unwrap().host, format!("[::1]:{}", addr.port()));
    assert_eq!(echoed.unwrap().messages, [Message::Text("over v6".into())]);
    dog.finish();
}

/// RFC 6455 §3: a ws:// URL without a port means port 80, IPv6 literals
/// included. `ws://[::1]/` must try [::1]:80 (refused here, or whatever
/// the network says) rather than fail to form a socket address.
#[test]
fn ipv6_literal_without_a_port_means_port_80() {
    for url in ["ws://[::1]/", "ws://[::1]:80/"] {
        // Ok, or another error: something answered or the network refused,
        // so the address was formed.
        let outcome = WebSocket::connect(url, &[]).and_then(|mut ws| ws.read());
        if let Err(Error::Io(e)) = outcome {
            assert_ne!(
                e.kind(),
                io::ErrorKind::InvalidInput,
                "{url}: no socket address was formed ({e}); port 80 was not tried"
            );
        }
    }
}

/// RFC 6455 §7.1.1: once both close frames are exchanged the server closes
/// the TCP connection. A server that drops it with our close reply still
/// unread makes the kernel send a reset; for the client that is the end of
/// the stream after a clean close handshake, not a failure (WHATWG: close
/// event with wasClean true, no error event).
#[test]
fn a_reset_after_the_close_handshake_is_a_clean_end() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut conn = rfc6455::Connection::server(Config::default());
        let mut buf = [0u8; 4096];
        let mut asked = false;
        for _ in 0..100 {
            let n = stream.read(&mut buf).unwrap();
            conn.receive(&buf[..n]);
            if matches!(conn.poll_event(), Some(rfc6455::connection::Event::Request(_))) {
                asked = true;
                break;
            }
        }
        assert!(asked, "the client's request arrived");
        conn.accept(Accept::new()).unwrap();
        while conn.poll_event().is_some() {}
        conn.close(CloseCode::NORMAL, "bye").unwrap();
        stream.write_all(conn.pending_output()).unwrap();
        // Wait for the client's reply, leave it unread, and drop: reset.
        let mut peek = [0u8; 1];
        assert!(stream.peek(&mut peek).unwrap() > 0, "the client replied");
        drop(stream);
    });
    let mut ws = WebSocket::connect(&format!("ws://{addr}/"), &[]).unwrap();
    let mut events = Vec::new();
    for _ in 0..10 {
        match ws.next_event() {
            Some(event) => events.push(format!("{event:?}")),
            None => break,
        }
    }
    server.join().unwrap();
    assert_eq!(events.len(), 2, "open, then close: {events:?}");
    assert!(events[0].starts_with("Open"), "{events:?}");
    assert!(
        events[1].contains("was_clean: true") && events[1].contains("code: 1000") && events[1].contains("\"bye\""),
        "{events:?}"
    );
}

/// The close timeout counts from the close, not from the last read (RFC
/// 6455 §7.1.1 leaves the wait to the client; ours is
/// `Config::close_timeout`): a close started after a quiet spell longer
/// than the timeout still completes cleanly when the peer answers at once.
/// Before the driver told the core the time at `close()`, the timer was
/// armed from the last read and fired immediately.
#[test]
fn close_after_a_quiet_spell_longer_than_the_close_timeout_is_clean() {
    let (addr, dog, server) = serve(Config::default(), |_| Ok(Accept::new()), echo);
    let config = Config::default().close_timeout(Some(Duration::from_millis(300)));
    let request = ClientRequest::new(addr.to_string(), "/");
    let mut ws = WebSocket::connect_request(request, false, config).unwrap();
    dog.watch(ws.get_ref().unwrap().tcp());
    assert!(matches!(ws.next_event(), Some(rfc6455::websocket::Event::Open)));
    ws.send_text("before the quiet").unwrap();
    assert_eq!(next(&mut ws), Message::Text("before the quiet".into()));
    thread::sleep(Duration::from_millis(600));
    ws.close(Some(1000), None).unwrap();
    match ws.next_event() {
        Some(rfc6455::websocket::Event::Close(close)) => {
            assert!(close.was_clean, "{close:?}");
            assert_eq!(close.code, 1000);
        }
        other => panic!("expected a clean close, got {other:?}"),
    }
    let (_, echoed) = server.join().unwrap();
    assert_eq!(echoed.unwrap().peer_close, close_frame(1000, ""));
    dog.finish();
}

/// Issue #15, item 5, blocking: `connect_request` sends the request's own
/// headers, and the server's 101 headers are kept.
#[test]
fn connect_request_sends_its_headers_and_keeps_the_response_headers() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        WebSocket::accept_with(stream, Config::default(), |request| match request.header("cookie") {
            Some(b"session=7") => Ok(rfc6455::Accept::new().header("X-Session", "7")),
            _ => Err(403),
        })
        .map(drop)
    });
    let request = rfc6455::ClientRequest::new(address.to_string(), "/").header("Cookie", "session=7");
    let ws = WebSocket::connect_request(request, false, Config::default()).unwrap();
    assert_eq!(ws.connection().response_header("X-SESSION"), Some(&b"7"[..]));
    server.join().unwrap().expect("the server accepted");
}
