//! Parity of the DOM-style `WebSocket` with the WHATWG WebSockets Standard
//! (<https://websockets.spec.whatwg.org/>), walked one algorithm step at a
//! time. Each test names the step it checks.
//!
//! Most tests run the socket over [`Pipe`], an in-memory transport whose
//! other end is a scripted server: a sans-IO [`Connection`] in the server
//! role that answers the handshake as told, records everything it receives
//! and closes its side of the "TCP connection" once its close handshake is
//! over. The test drives the peer directly between calls on the socket, so
//! every exchange is deterministic. A read that would block forever panics
//! instead of hanging. A few tests use real TCP on 127.0.0.1 to cover
//! `WebSocket::connect`.

use rfc6455::connection::Event as PeerEvent;
use rfc6455::error::Misuse;
use rfc6455::error::ProtocolError;
use rfc6455::handshake::UrlError;
use rfc6455::testkit::{DomEv as Ev, Fault, own_dom};
use rfc6455::websocket::{BinaryType, CloseEvent, ErrorEvent, Event, EventType, ListenerId, MessageData, MessageEvent};
use rfc6455::{Accept, CloseCode, Config, Connection, Error, HandshakeError, ReadyState, Transport, WebSocket};
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

// ---------------------------------------------------------------- the scripted peer

/// How the scripted server answers the opening handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// 101, with this subprotocol if any.
    Accept(Option<&'static str>),
    /// An HTTP refusal with this status.
    Reject(u16),
    /// No answer at all (the socket stays CONNECTING).
    Silent,
    /// Closes the TCP connection instead of answering.
    Hangup,
}

/// What the scripted server received from the socket under test.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Request {
        target: String,
        host: String,
        protocols: Vec<String>,
    },
    Text(String),
    Binary(Vec<u8>),
    Ping,
    Pong,
    /// The close frame's code (`None`: no body) and reason.
    Close(Option<u16>, String),
    Failed(Fault),
}

/// Both directions of the in-memory connection and the server's state.
struct Wire {
    server: Connection,
    answer: Answer,
    /// Echo text and binary messages back.
    echo: bool,
    to_client: VecDeque<u8>,
    /// The server closed its side: reads see the end of the stream once
    /// `to_client` is drained.
    server_closed: bool,
    /// The connection was reset: reads and writes fail.
    reset: bool,
    /// The socket under test shut the transport down.
    client_shut: bool,
    /// The server receives but never answers (and never closes).
    mute: bool,
    /// Bytes the socket under test wrote.
    written_by_client: usize,
    seen: Vec<Seen>,
}

impl Wire {
    /// Lets the server act on what it received, then moves its output.
    fn pump(&mut self) {
        enum Then {
            Nothing,
            Decide,
            Echo(Vec<u8>, bool),
        }
        for _ in 0..10_000 {
            let then = match self.server.poll_event() {
                None => break,
                Some(PeerEvent::Request(r)) => {
                    self.seen.push(Seen::Request {
                        target: r.target().to_owned(),
                        host: r.host().to_owned(),
                        protocols: r.protocols().to_vec(),
                    });
                    Then::Decide
                }
                Some(PeerEvent::Open) => Then::Nothing,
                Some(PeerEvent::Text(text)) => {
                    self.seen.push(Seen::Text(text.to_owned()));
                    if self.echo {
                        Then::Echo(text.as_bytes().to_vec(), true)
                    } else {
                        Then::Nothing
                    }
                }
                Some(PeerEvent::Binary(data)) => {
                    self.seen.push(Seen::Binary(data.to_vec()));
                    if self.echo {
                        Then::Echo(data.to_vec(), false)
                    } else {
                        Then::Nothing
                    }
                }
                Some(PeerEvent::Ping(_)) => {
                    self.seen.push(Seen::Ping);
                    Then::Nothing
                }
                Some(PeerEvent::Pong(_)) => {
                    self.seen.push(Seen::Pong);
                    Then::Nothing
                }
                Some(PeerEvent::Close(frame)) => {
                    self.seen
                        .push(Seen::Close(frame.code.map(|c| c.0), frame.reason.to_owned()));
                    Then::Nothing
                }
                Some(PeerEvent::Failed(e)) => {
                    self.seen.push(Seen::Failed(Fault::from(&e)));
                    Then::Nothing
                }
                Some(other) => panic!("the scripted server does not expect {other:?}"),
            };
            match then {
                Then::Nothing => {}
                Then::Decide => match self.answer {
                    Answer::Accept(protocol) => {
                        let accept = protocol.map_or_else(Accept::new, |p| Accept::new().protocol(p));
                        self.server.accept(accept).expect("the scripted server accepts");
                    }
                    Answer::Reject(status) => self.server.reject(status).expect("the scripted server rejects"),
                    Answer::Silent => {}
                    Answer::Hangup => self.server_closed = true,
                },
                Then::Echo(data, true) => {
                    let _ = self.server.send_text(std::str::from_utf8(&data).unwrap());
                }
                Then::Echo(data, false) => {
                    let _ = self.server.send_binary(&data);
                }
            }
        }
        self.flush_server();
    }

    /// Moves the server's output into the client's direction; a server
    /// whose close handshake is over closes its side.
    fn flush_server(&mut self) {
        if self.mute {
            let n = self.server.pending_output().len();
            self.server.advance_output(n);
            return;
        }
        if !self.server_closed {
            let out = self.server.pending_output();
            self.to_client.extend(out.iter().copied());
        }
        let n = self.server.pending_output().len();
        self.server.advance_output(n);
        if self.server.should_close_transport() {
            self.server_closed = true;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The socket's end of the in-memory connection.
struct Pipe(Arc<Mutex<Wire>>);

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let outcome = {
            let mut wire = lock(&self.0);
            if wire.client_shut {
                Some(Err(ErrorKind::NotConnected.into()))
            } else if wire.reset {
                Some(Err(ErrorKind::ConnectionReset.into()))
            } else if !wire.to_client.is_empty() {
                let n = buf.len().min(wire.to_client.len());
                for (slot, byte) in buf.iter_mut().zip(wire.to_client.drain(..n)) {
                    *slot = byte;
                }
                Some(Ok(n))
            } else if wire.server_closed {
                Some(Ok(0))
            } else {
                None
            }
        };
        // Panic without holding the lock: the socket's Drop still writes.
        outcome.unwrap_or_else(|| panic!("the socket would block forever: the scripted server has nothing to send"))
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut wire = lock(&self.0);
        if wire.client_shut {
            return Err(ErrorKind::BrokenPipe.into());
        }
        if wire.reset {
            return Err(ErrorKind::ConnectionReset.into());
        }
        wire.written_by_client += buf.len();
        if !wire.server_closed {
            wire.server.receive(buf);
            wire.pump();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Pipe {
    fn shutdown(&mut self) -> io::Result<()> {
        lock(&self.0).client_shut = true;
        Ok(())
    }
}

/// The test's handle on the scripted server.
#[derive(Clone)]
struct Peer(Arc<Mutex<Wire>>);

impl Peer {
    fn send_text(&self, text: &str) {
        let mut wire = lock(&self.0);
        wire.server.send_text(text).unwrap();
        wire.flush_server();
    }

    fn send_binary(&self, data: &[u8]) {
        let mut wire = lock(&self.0);
        wire.server.send_binary(data).unwrap();
        wire.flush_server();
    }

    /// Hand-made bytes, e.g. an invalid frame.
    fn send_raw(&self, bytes: &[u8]) {
        lock(&self.0).to_client.extend(bytes.iter().copied());
    }

    fn close(&self, code: u16, reason: &str) {
        let mut wire = lock(&self.0);
        wire.server.close(CloseCode(code), reason).unwrap();
        wire.flush_server();
    }

    fn close_without_code(&self) {
        let mut wire = lock(&self.0);
        wire.server.close_without_code();
        wire.flush_server();
    }

    /// Closes the TCP connection without a close frame.
    fn hang_up(&self) {
        lock(&self.0).server_closed = true;
    }

    /// The connection is reset: both directions fail from now on.
    fn reset(&self) {
        lock(&self.0).reset = true;
    }

    fn seen(&self) -> Vec<Seen> {
        lock(&self.0).seen.clone()
    }

    /// The close frames the server received.
    fn closes(&self) -> Vec<(Option<u16>, String)> {
        self.seen()
            .into_iter()
            .filter_map(|s| match s {
                Seen::Close(code, reason) => Some((code, reason)),
                _ => None,
            })
            .collect()
    }

    /// The data messages the server received.
    fn messages(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| matches!(s, Seen::Text(_) | Seen::Binary(_)))
            .collect()
    }

    /// The `Sec-WebSocket-Extensions` value the server answered with.
    fn server_extensions(&self) -> String {
        lock(&self.0).server.extensions().to_owned()
    }

    fn written_by_client(&self) -> usize {
        lock(&self.0).written_by_client
    }
}

const URL: &str = "ws://example.com/chat";

fn wire(answer: Answer, server: Config, echo: bool) -> Arc<Mutex<Wire>> {
    Arc::new(Mutex::new(Wire {
        server: Connection::server(server),
        answer,
        echo,
        to_client: VecDeque::new(),
        server_closed: false,
        reset: false,
        client_shut: false,
        mute: false,
        written_by_client: 0,
        seen: Vec::new(),
    }))
}

/// A transport for constructors expected to fail.
fn idle_pipe() -> Pipe {
    Pipe(wire(Answer::Silent, Config::default(), false))
}

/// A socket over a [`Pipe`] to a scripted server, still CONNECTING: nothing
/// has been written yet.
fn pair_with(url: &str, protocols: &[&str], answer: Answer, server: Config, echo: bool) -> (WebSocket<Pipe>, Peer) {
    let wire = wire(answer, server, echo);
    let ws = WebSocket::with_stream(Pipe(wire.clone()), url, protocols, Config::default()).expect("a valid URL");
    (ws, Peer(wire))
}

fn pair(protocols: &[&str], answer: Answer) -> (WebSocket<Pipe>, Peer) {
    pair_with(URL, protocols, answer, Config::default(), false)
}

/// A socket that has delivered its open event.
fn open_pair() -> (WebSocket<Pipe>, Peer) {
    open_pair_with(Config::default(), false)
}

fn open_pair_with(server: Config, echo: bool) -> (WebSocket<Pipe>, Peer) {
    let (mut ws, peer) = pair_with(URL, &[], Answer::Accept(None), server, echo);
    let first = ws.next_event().map(|e| ev(&e));
    assert_eq!(first, Some(Ev::Open));
    assert_eq!(ws.ready_state(), ReadyState::Open);
    (ws, peer)
}

// ---------------------------------------------------------------- events

fn ev(event: &Event) -> Ev {
    own_dom(event)
}

fn close_ev(clean: bool, code: u16, reason: &str) -> Ev {
    Ev::close(clean, code, reason)
}

fn text(t: &str) -> Ev {
    Ev::Text(t.to_owned())
}

/// Every event up to and including the close event (at most 100).
fn rest(ws: &mut WebSocket<impl Transport>) -> Vec<Ev> {
    let mut out = Vec::new();
    for _ in 0..100 {
        match ws.next_event() {
            Some(event) => out.push(ev(&event)),
            None => return out,
        }
    }
    panic!("more than 100 events: {out:?}");
}

/// Asserts `events` are exactly an error event reporting `error`, then a
/// close event with 1006, not clean, no reason.
#[track_caller]
fn assert_failed(events: &[Ev], error: Fault) {
    assert_failed_with(events, |e| *e == error);
}

/// Asserts `events` are exactly an error event from a transport failure,
/// then a close event with 1006 (the I/O error's kind depends on the OS).
#[track_caller]
fn assert_failed_io(events: &[Ev]) {
    assert_failed_with(events, |e| matches!(e, Fault::Io(_)));
}

#[track_caller]
fn assert_failed_with(events: &[Ev], error: impl Fn(&Fault) -> bool) {
    match events {
        [
            Ev::Error(e),
            Ev::Close {
                clean: false,
                code: 1006,
                reason,
            },
        ] if error(e) && reason.is_empty() => {}
        _ => panic!("expected an error event then close 1006 (not clean), got {events:?}"),
    }
}

fn message(t: &str) -> Event {
    Event::Message(MessageEvent {
        data: MessageData::Text(t.to_owned()),
    })
}

type Log = Arc<Mutex<Vec<String>>>;

fn note(log: &Log, entry: impl Into<String>) {
    lock(log).push(entry.into());
}

fn entries(log: &Log) -> Vec<String> {
    lock(log).clone()
}

/// A URL no server listens on (a port just released).
fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("ws://{addr}/")
}

// ================================================================ constructor

/// WHATWG §The WebSocket interface, constructor steps 2–3: a URL the URL
/// parser rejects throws a "SyntaxError" DOMException (no base URL exists
/// outside a document, so relative URLs fail too).
#[test]
fn constructor_step_3_unparsable_url_is_a_syntax_error() {
    for url in [
        "",
        "not a url",
        "ws://",
        "ws://exa mple.com/",
        "//example.com/chat",
        "ws://[::1/",
        "ws://h:99999/",
    ] {
        for result in [
            WebSocket::connect(url, &[]).map(drop),
            WebSocket::with_stream(idle_pipe(), url, &[], Config::default()).map(drop),
        ] {
            match result {
                Err(e @ Error::Url(UrlError::Invalid)) => assert_eq!(e.dom_exception(), Some("SyntaxError"), "{url:?}"),
                other => panic!("{url:?}: expected Url(Invalid), got {other:?}"),
            }
        }
    }
}

/// WHATWG constructor steps 4–5: an "http" URL becomes "ws" and an "https"
/// URL becomes "wss" (and `url` shows the mapped scheme).
#[test]
fn constructor_steps_4_5_http_and_https_map_to_ws_and_wss() {
    let cases = [
        ("http://example.com/a?b=c", "ws://example.com/a?b=c"),
        ("HTTP://Example.COM", "ws://example.com/"),
        ("https://example.com:8443/x", "wss://example.com:8443/x"),
        ("https://example.com:443/x", "wss://example.com/x"),
        ("http://example.com:443/", "ws://example.com:443/"),
    ];
    for (input, shown) in cases {
        let (ws, _) = pair_with(input, &[], Answer::Silent, Config::default(), false);
        assert_eq!(ws.url(), shown, "{input}");
        assert_eq!(ws.ready_state(), ReadyState::Connecting);
    }
    // `connect` maps https to wss too: refused for want of TLS, not as a
    // bad scheme.
    #[cfg(not(feature = "rustls"))]
    match WebSocket::connect("https://example.com/", &[]) {
        Err(e @ Error::TlsNotEnabled) => assert_eq!(e.dom_exception(), None),
        other => panic!("expected TlsNotEnabled, got {other:?}"),
    }
}

/// WHATWG constructor step 6: any scheme but ws/wss (after steps 4–5) is a
/// "SyntaxError".
#[test]
fn constructor_step_6_other_schemes_are_a_syntax_error() {
    for url in [
        "ftp://example.com/",
        "file:///tmp/socket",
        "mailto:someone@example.com",
        "wsx://example.com/",
        "javascript:alert(1)",
        "data:text/plain,hello",
        "blob:https://example.com/uuid",
    ] {
        match WebSocket::connect(url, &[]) {
            Err(e @ Error::Url(UrlError::Scheme)) => assert_eq!(e.dom_exception(), Some("SyntaxError"), "{url}"),
            other => panic!("{url}: expected Url(Scheme), got {other:?}"),
        }
    }
}

/// WHATWG constructor step 7: a URL whose fragment is non-null — even the
/// empty fragment of a trailing `#` — is a "SyntaxError".
#[test]
fn constructor_step_7_fragment_is_a_syntax_error() {
    for url in [
        "ws://example.com/#x",
        "ws://example.com/#",
        "wss://example.com/chat?room=1#top",
        "http://example.com/p?q#f",
    ] {
        for result in [
            WebSocket::connect(url, &[]).map(drop),
            WebSocket::with_stream(idle_pipe(), url, &[], Config::default()).map(drop),
        ] {
            match result {
                Err(e @ Error::Url(UrlError::Fragment)) => {
                    assert_eq!(e.dom_exception(), Some("SyntaxError"), "{url}")
                }
                other => panic!("{url}: expected Url(Fragment), got {other:?}"),
            }
        }
    }
}

/// WHATWG constructor step 9: a protocol that occurs more than once or is
/// not a valid `Sec-WebSocket-Protocol` element (an HTTP token) is a
/// "SyntaxError"; valid tokens are accepted.
#[test]
fn constructor_step_9_bad_or_repeated_protocols_are_a_syntax_error() {
    let bad: [&[&str]; 11] = [
        &[""],
        &["a b"],
        &["a,b"],
        &["a/b"],
        &["chat:v2"],
        &["{x}"],
        &["caf\u{e9}"],
        &["x\u{7f}"],
        &["chat", "chat"],
        &["a", "b", "a"],
        &["ok", "not ok"],
    ];
    for protocols in bad {
        for result in [
            WebSocket::connect("ws://127.0.0.1:9/", protocols).map(drop),
            WebSocket::with_stream(idle_pipe(), URL, protocols, Config::default()).map(drop),
        ] {
            match result {
                Err(e @ Error::Misuse(Misuse::InvalidProtocol(_))) => {
                    assert_eq!(e.dom_exception(), Some("SyntaxError"), "{protocols:?}")
                }
                other => panic!("{protocols:?}: expected InvalidProtocol, got {other:?}"),
            }
        }
    }
    // Every tchar is allowed, and distinct tokens are fine.
    let (ws, _) = pair(&["chat", "v2.chat+json", "!#$%&'*+-.^_`|~09AZaz"], Answer::Silent);
    assert_eq!(ws.ready_state(), ReadyState::Connecting);
    // Steps 3–7 come before step 9: a bad URL wins over a bad protocol.
    assert!(matches!(
        WebSocket::connect("ftp://example.com/", &["a b"]),
        Err(Error::Url(UrlError::Scheme))
    ));
}

/// WHATWG constructor steps 10 and 12, "establish a WebSocket connection":
/// the request carries the URL's path and query, its host (with a
/// non-default port) and the protocols in order; the constructor itself
/// does no I/O and returns CONNECTING.
#[test]
fn constructor_steps_10_12_request_follows_the_url() {
    let (mut ws, peer) = pair_with(
        "ws://example.com:8080/chat?room=1",
        &["superchat", "chat"],
        Answer::Accept(Some("chat")),
        Config::default(),
        false,
    );
    assert_eq!(ws.ready_state(), ReadyState::Connecting);
    assert_eq!(peer.written_by_client(), 0, "the constructor does not write");
    assert_eq!(rest_until_open(&mut ws), vec![Ev::Open]);
    assert_eq!(
        peer.seen().first(),
        Some(&Seen::Request {
            target: "/chat?room=1".to_owned(),
            host: "example.com:8080".to_owned(),
            protocols: vec!["superchat".to_owned(), "chat".to_owned()],
        })
    );
}

/// Events until the open event (inclusive) or the close event.
fn rest_until_open(ws: &mut WebSocket<Pipe>) -> Vec<Ev> {
    let mut out = Vec::new();
    for _ in 0..10 {
        match ws.next_event().map(|e| ev(&e)) {
            Some(Ev::Open) => {
                out.push(Ev::Open);
                return out;
            }
            Some(e @ Ev::Close { .. }) => {
                out.push(e);
                return out;
            }
            Some(e) => out.push(e),
            None => return out,
        }
    }
    out
}

// ================================================================ attributes

/// WHATWG `url` getter: "this's url, serialized" — ws/wss, the host
/// lower-cased, the port only when not the scheme's default, the path
/// (at least `/`, percent-encoded) and the query.
#[test]
fn url_getter_returns_the_serialized_url() {
    let cases = [
        ("ws://example.com", "ws://example.com/"),
        ("ws://EXAMPLE.com/Chat", "ws://example.com/Chat"),
        ("ws://example.com:80/p", "ws://example.com/p"),
        ("wss://example.com:443/", "wss://example.com/"),
        ("wss://example.com:80/", "wss://example.com:80/"),
        (
            "ws://example.com:8080/chat?room=1&x=y",
            "ws://example.com:8080/chat?room=1&x=y",
        ),
        ("ws://example.com/?", "ws://example.com/?"),
        ("ws://example.com/a b", "ws://example.com/a%20b"),
        ("ws://127.0.0.1:9001", "ws://127.0.0.1:9001/"),
        ("ws://[::1]:9001/p", "ws://[::1]:9001/p"),
    ];
    for (input, shown) in cases {
        let (ws, _) = pair_with(input, &[], Answer::Silent, Config::default(), false);
        assert_eq!(ws.url(), shown, "{input}");
    }
    // The attribute does not change as the connection opens and closes.
    let (mut ws, peer) = pair_with(
        "ws://example.com:8080/chat?room=1",
        &[],
        Answer::Accept(None),
        Config::default(),
        false,
    );
    assert_eq!(rest_until_open(&mut ws), vec![Ev::Open]);
    assert_eq!(ws.url(), "ws://example.com:8080/chat?room=1");
    peer.close(1000, "");
    assert_eq!(rest(&mut ws), vec![close_ev(true, 1000, "")]);
    assert_eq!(ws.url(), "ws://example.com:8080/chat?room=1");
}

/// WHATWG `url` getter: the URL serializer keeps the username and password
/// (only the fragment can be excluded, and step 7 forbids one).
#[test]
fn url_getter_keeps_credentials() {
    let (ws, _) = pair_with(
        "ws://user:secret@example.com/chat",
        &[],
        Answer::Silent,
        Config::default(),
        false,
    );
    assert_eq!(ws.url(), "ws://user:secret@example.com/chat");
}

/// WHATWG interface definition: CONNECTING = 0, OPEN = 1, CLOSING = 2,
/// CLOSED = 3.
#[test]
fn ready_state_constants_have_the_dom_values() {
    assert_eq!(ReadyState::Connecting as u16, 0);
    assert_eq!(ReadyState::Open as u16, 1);
    assert_eq!(ReadyState::Closing as u16, 2);
    assert_eq!(ReadyState::Closed as u16, 3);
}

/// WHATWG: "When the object is created its readyState must be set to
/// CONNECTING"; "the WebSocket connection is established" step 1 → OPEN;
/// close() step 3 (third branch) → CLOSING; "the WebSocket connection is
/// closed" step 1 → CLOSED, before the close event is fired.
#[test]
fn ready_state_walks_connecting_open_closing_closed() {
    let (mut ws, peer) = pair(&[], Answer::Accept(None));
    assert_eq!(ws.ready_state() as u16, 0);
    assert_eq!(ws.next_event().map(|e| ev(&e)), Some(Ev::Open));
    assert_eq!(ws.ready_state() as u16, 1);
    ws.close(Some(1000), Some("bye")).unwrap();
    assert_eq!(ws.ready_state() as u16, 2);
    assert_eq!(peer.closes(), vec![(Some(1000), "bye".to_owned())]);
    assert_eq!(rest(&mut ws), vec![close_ev(true, 1000, "")]);
    assert_eq!(ws.ready_state() as u16, 3);

    // The same, as listeners see it while `run` dispatches.
    let (mut ws, _peer) = pair(&[], Answer::Accept(None));
    let log = Log::default();
    let l = log.clone();
    ws.on_open(move |ws| {
        note(&l, format!("open {}", ws.ready_state() as u16));
        ws.close(None, None).unwrap();
        note(&l, format!("after close() {}", ws.ready_state() as u16));
    });
    let l = log.clone();
    ws.on_close(move |ws, _| note(&l, format!("close {}", ws.ready_state() as u16)));
    ws.run();
    assert_eq!(entries(&log), ["open 1", "after close() 2", "close 3"]);
}

/// WHATWG "the WebSocket connection is established" steps 2–3 and the
/// `protocol`/`extensions` getters: empty strings until open, then the
/// subprotocol and the extensions in use as the server answered them (kept
/// after close). "Establish a WebSocket connection" offers a user-agent
/// defined permessage-deflate, so with the `deflate` feature that is what a
/// server that supports it agrees to.
#[test]
fn protocol_and_extensions_are_empty_until_open_then_negotiated() {
    let (mut ws, peer) = pair(&["superchat", "chat"], Answer::Accept(Some("chat")));
    assert_eq!((ws.protocol(), ws.extensions()), ("", ""));
    assert_eq!(ws.next_event().map(|e| ev(&e)), Some(Ev::Open));
    let agreed = peer.server_extensions();
    assert_eq!((ws.protocol(), ws.extensions()), ("chat", agreed.as_str()));
    #[cfg(feature = "deflate")]
    assert!(agreed.starts_with("permessage-deflate"), "agreed {agreed:?}");
    #[cfg(not(feature = "deflate"))]
    assert_eq!(agreed, "");
    peer.close(1000, "");
    assert_eq!(rest(&mut ws), vec![close_ev(true, 1000, "")]);
    assert_eq!((ws.protocol(), ws.extensions()), ("chat", agreed.as_str()));

    // No protocols offered, none chosen: open, with an empty protocol.
    let (mut ws, _peer) = pair(&[], Answer::Accept(None));
    assert_eq!(ws.next_event().map(|e| ev(&e)), Some(Ev::Open));
    assert_eq!(ws.protocol(), "");
}

/// WHATWG "establish a WebSocket connection", processResponse step 2: when
/// protocols were offered and the response names none, fail the WebSocket
/// connection — error, then close with 1006; never open.
#[test]
fn establish_step_2_server_choosing_no_protocol_fails_the_connection() {
    let (mut ws, _peer) = pair(&["chat"], Answer::Accept(None));
    let events = rest(&mut ws);
    assert_failed(&events, Fault::Handshake(HandshakeError::NoProtocol));
    assert_eq!(ws.protocol(), "");
    assert_eq!(ws.ready_state(), ReadyState::Closed);
}

// ================================================================ send()

/// WHATWG send(): "If readyState is CONNECTING, throw an
/// InvalidStateError" — nothing is queued or counted.
#[test]
fn send_while_connecting_is_an_invalid_state_error() {
    let (mut ws, peer) = pair(&[], Answer::Silent);
    for result in [ws.send("hello"), ws.send(&b"bytes"[..]), ws.send(Vec::new())] {
        match result {
            Err(e @ Error::Misuse(_)) => assert_eq!(e.dom_exception(), Some("InvalidStateError")),
            other => panic!("expected Misuse, got {other:?}"),
        }
    }
    assert_eq!(ws.buffered_amount(), 0);
    assert_eq!(ws.ready_state(), ReadyState::Connecting);
    assert_eq!(peer.written_by_client(), 0);
}

/// WHATWG send(), established and the closing handshake not started: "send
/// a WebSocket Message" with a text or binary opcode; once written, nothing
/// stays in bufferedAmount.
#[test]
fn send_while_open_transmits_text_and_binary() {
    let (mut ws, peer) = open_pair();
    ws.send("héllo").unwrap();
    ws.send(String::from("owned")).unwrap();
    ws.send(&[1u8, 2, 3]).unwrap();
    ws.send(vec![4u8; 300]).unwrap();
    ws.send(&b""[..]).unwrap();
    assert_eq!(ws.buffered_amount(), 0);
    assert_eq!(
        peer.messages(),
        vec![
            Seen::Text("héllo".to_owned()),
            Seen::Text("owned".to_owned()),
            Seen::Binary(vec![1, 2, 3]),
            Seen::Binary(vec![4; 300]),
            Seen::Binary(Vec::new()),
        ]
    );
}

/// WHATWG send() while CLOSING or CLOSED: nothing is sent, but "any
/// invocation … that does not throw must increase bufferedAmount" by the
/// UTF-8 length or byte length; the `bufferedAmount` note: "the number does
/// not reset to zero once the connection closes".
#[test]
fn send_while_closing_or_closed_discards_but_counts() {
    let (mut ws, peer) = open_pair();
    ws.close(None, None).unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Closing);
    ws.send("abc").unwrap();
    assert_eq!(ws.buffered_amount(), 3);
    ws.send(&[0u8; 5]).unwrap();
    assert_eq!(ws.buffered_amount(), 8);
    assert_eq!(rest(&mut ws), vec![close_ev(true, 1005, "")]);
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert_eq!(ws.buffered_amount(), 8, "no reset on close");
    ws.send("é€").unwrap(); // 2 + 3 bytes of UTF-8
    assert_eq!(ws.buffered_amount(), 13);
    ws.send(vec![7u8; 1000]).unwrap();
    assert_eq!(ws.buffered_amount(), 1013);
    assert!(ws.next_event().is_none());
    assert_eq!(ws.buffered_amount(), 1013);
    assert!(
        peer.messages().is_empty(),
        "nothing sent after close(): {:?}",
        peer.messages()
    );

    // The same after a close the server started.
    let (mut ws, peer) = open_pair();
    peer.close(4000, "");
    assert_eq!(rest(&mut ws), vec![close_ev(true, 4000, "")]);
    ws.send("x").unwrap();
    assert_eq!(ws.buffered_amount(), 1);
    assert!(peer.messages().is_empty());
}

// ================================================================ close()

const INVALID_CODES: [u16; 12] = [0, 999, 1001, 1002, 1005, 1006, 1011, 1015, 2999, 5000, 65535, 1999];

/// The socket in each ready state, with its peer.
fn in_each_state() -> Vec<(ReadyState, WebSocket<Pipe>, Peer)> {
    let (connecting, p0) = pair(&[], Answer::Silent);
    let (open, p1) = open_pair();
    let (mut closing, p2) = open_pair();
    // A server that never answers: the socket stays CLOSING.
    lock(&p2.0).mute = true;
    closing.close(Some(1000), None).unwrap();
    let (mut closed, p3) = open_pair();
    closed.close(Some(1000), None).unwrap();
    assert_eq!(rest(&mut closed), vec![close_ev(true, 1000, "")]);
    let sockets = vec![
        (ReadyState::Connecting, connecting, p0),
        (ReadyState::Open, open, p1),
        (ReadyState::Closing, closing, p2),
        (ReadyState::Closed, closed, p3),
    ];
    for (state, ws, _) in &sockets {
        assert_eq!(ws.ready_state(), *state);
    }
    sockets
}

/// WHATWG close() step 1: a code that is neither 1000 nor in 3000–4999
/// throws an "InvalidAccessError" — before the ready state is looked at, so
/// also while CONNECTING, CLOSING or CLOSED — and changes nothing.
#[test]
fn close_step_1_invalid_code_is_an_invalid_access_error_in_every_state() {
    for (state, mut ws, peer) in in_each_state() {
        let closes_before = peer.closes();
        for code in INVALID_CODES {
            match ws.close(Some(code), None) {
                Err(e @ Error::Misuse(Misuse::DomCloseCode(_))) => {
                    assert_eq!(e.dom_exception(), Some("InvalidAccessError"), "{code} in {state:?}")
                }
                other => panic!("close({code}) in {state:?}: expected Misuse::DomCloseCode, got {other:?}"),
            }
            assert_eq!(ws.ready_state(), state, "close({code}) changed the state");
        }
        assert_eq!(
            peer.closes(),
            closes_before,
            "a refused close() sent a close frame in {state:?}"
        );
    }
}

/// WHATWG close() step 1, the allowed codes: 1000 and 3000–4999 go out as
/// given.
#[test]
fn close_step_1_boundary_codes_are_sent() {
    for code in [1000, 3000, 3999, 4000, 4999] {
        let (mut ws, peer) = open_pair();
        ws.close(Some(code), None).unwrap();
        assert_eq!(peer.closes(), vec![(Some(code), String::new())]);
        assert_eq!(rest(&mut ws), vec![close_ev(true, code, "")]);
    }
}

/// WHATWG close() step 2: a reason whose UTF-8 encoding is longer than 123
/// bytes throws a "SyntaxError" (bytes, not characters), in every state;
/// step 1 is checked first.
#[test]
fn close_step_2_reason_over_123_utf8_bytes_is_a_syntax_error() {
    let ascii_124 = "r".repeat(124);
    let two_byte_124 = "é".repeat(62); // 62 characters, 124 bytes
    assert_eq!(two_byte_124.len(), 124);
    for (state, mut ws, peer) in in_each_state() {
        let closes_before = peer.closes();
        for reason in [ascii_124.as_str(), two_byte_124.as_str()] {
            for code in [Some(1000), None] {
                match ws.close(code, Some(reason)) {
                    Err(e @ Error::Misuse(Misuse::ReasonTooLong(124))) => {
                        assert_eq!(e.dom_exception(), Some("SyntaxError"))
                    }
                    other => panic!("{state:?}, code {code:?}: expected ReasonTooLong(124), got {other:?}"),
                }
            }
            // Step 1 before step 2.
            assert!(matches!(
                ws.close(Some(2999), Some(reason)),
                Err(Error::Misuse(Misuse::DomCloseCode(2999)))
            ));
            assert_eq!(ws.ready_state(), state);
        }
        assert_eq!(peer.closes(), closes_before);
    }
    // Exactly 123 bytes is fine, and is sent as given.
    let reason_123 = format!("{}a", "é".repeat(61));
    assert_eq!(reason_123.len(), 123);
    let (mut ws, peer) = open_pair();
    ws.close(Some(4001), Some(&reason_123)).unwrap();
    assert_eq!(peer.closes(), vec![(Some(4001), reason_123.clone())]);
}

/// WHATWG close() step 3, third branch: start the closing handshake; "if
/// neither code nor reason is present, the Close message must not have a
/// body"; otherwise the code, then the reason.
#[test]
fn close_step_3_sends_the_close_message() {
    let (mut ws, peer) = open_pair();
    ws.close(None, None).unwrap();
    assert_eq!(peer.closes(), vec![(None, String::new())]);
    assert_eq!(ws.ready_state(), ReadyState::Closing);

    let (mut ws, peer) = open_pair();
    ws.close(Some(4000), Some("bye κ")).unwrap();
    assert_eq!(peer.closes(), vec![(Some(4000), "bye κ".to_owned())]);

    let (mut ws, peer) = open_pair();
    ws.close(Some(1000), None).unwrap();
    assert_eq!(peer.closes(), vec![(Some(1000), String::new())]);
}

/// WHATWG close() step 3, first branch: while CLOSING or CLOSED, do
/// nothing — no second close frame, no error, no second close event.
#[test]
fn close_step_3_repeated_close_is_a_no_op() {
    let (mut ws, peer) = open_pair();
    ws.close(Some(4000), Some("first")).unwrap();
    ws.close(Some(4001), Some("second")).unwrap();
    ws.close(None, None).unwrap();
    ws.close_with(CloseCode::GOING_AWAY, "third").unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Closing);
    assert_eq!(peer.closes(), vec![(Some(4000), "first".to_owned())]);
    assert_eq!(rest(&mut ws), vec![close_ev(true, 4000, "")]);
    ws.close(Some(1000), None).unwrap();
    ws.close(None, None).unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert!(ws.next_event().is_none());
    assert_eq!(peer.closes().len(), 1);
}

/// WHATWG close() step 3, second branch: not yet established → fail the
/// WebSocket connection: an error event, then a close event with 1006 and
/// wasClean false; no open event, ever.
#[test]
fn close_step_3_while_connecting_fails_the_connection() {
    let (mut ws, peer) = pair(&[], Answer::Accept(None));
    ws.close(Some(1000), Some("never mind")).unwrap();
    let events = rest(&mut ws);
    assert_failed(&events, Fault::ClosedBeforeOpen);
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert!(ws.next_event().is_none());
    assert!(
        peer.closes().is_empty(),
        "no close frame before the connection is established"
    );

    // The same through the listeners.
    let (mut ws, _peer) = pair(&[], Answer::Accept(None));
    let log = Log::default();
    let l = log.clone();
    ws.on_open(move |_| note(&l, "open"));
    let l = log.clone();
    ws.on_error(move |_, _| note(&l, "error"));
    let l = log.clone();
    ws.on_close(move |_, c| note(&l, format!("close {} {}", c.code, c.was_clean)));
    ws.close(None, None).unwrap();
    ws.run();
    assert_eq!(entries(&log), ["error", "close 1006 false"]);
}

/// WHATWG close() step 3, second branch: "Fail the WebSocket connection and
/// set readyState to CLOSING"; CLOSED comes with the close event ("the
/// WebSocket connection is closed" step 1 runs in the task that fires it).
#[test]
fn close_step_3_while_connecting_sets_ready_state_closing() {
    let (mut ws, _peer) = pair(&[], Answer::Silent);
    ws.close(None, None).unwrap();
    let after_close = ws.ready_state();
    let events = rest(&mut ws);
    assert_failed(&events, Fault::ClosedBeforeOpen);
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert_eq!(
        after_close,
        ReadyState::Closing,
        "readyState right after close() on a CONNECTING socket"
    );
}

// ================================================================ events

/// WHATWG "the WebSocket connection is closed" (clean close started by the
/// server): messages, then close with wasClean true and the server's code
/// and reason; no error event; nothing after close.
#[test]
fn clean_close_by_server_fires_messages_then_close() {
    let (mut ws, peer) = open_pair();
    peer.send_text("one");
    peer.send_text("two");
    peer.close(4000, "bye κ");
    assert_eq!(
        rest(&mut ws),
        vec![text("one"), text("two"), close_ev(true, 4000, "bye κ")]
    );
    // The socket answered the close frame with the code.
    assert_eq!(peer.closes(), vec![(Some(4000), String::new())]);
    assert_eq!(ws.ready_state(), ReadyState::Closed);
}

/// WHATWG "a WebSocket message has been received": each message is its
/// own task, queued before the one "the WebSocket connection is closed"
/// queues. Three messages arrive in one read; the application takes the
/// first, then a `send` meets a reset transport: the two already received
/// still come out, while readyState is OPEN, and then error and close.
#[test]
fn messages_received_before_a_write_fails_are_handed_out_first() {
    let (mut ws, peer) = open_pair();
    peer.send_text("one");
    peer.send_text("two");
    peer.send_text("three");
    assert_eq!(ws.next_event().map(|e| ev(&e)), Some(text("one")));
    peer.reset();
    ws.send("x").unwrap();
    assert_eq!(ws.next_event().map(|e| ev(&e)), Some(text("two")));
    assert_eq!(ws.ready_state(), ReadyState::Open, "the messages fire while OPEN");
    assert_eq!(ws.next_event().map(|e| ev(&e)), Some(text("three")));
    assert_failed_io(&rest(&mut ws));
    assert_eq!(ws.ready_state(), ReadyState::Closed);
}

/// WHATWG close event attributes (started by the client): code and reason
/// are "the WebSocket connection close code/reason", i.e. those of the
/// close frame the server sent back (RFC 6455 §7.1.5–7.1.6).
#[test]
fn clean_close_by_client_reports_the_servers_code_and_reason() {
    // A server that echoes code and reason.
    let echo_reason = Config::default().echo_close_reason(true);
    let (mut ws, _peer) = open_pair_with(echo_reason, false);
    ws.close(Some(4000), Some("done")).unwrap();
    assert_eq!(rest(&mut ws), vec![close_ev(true, 4000, "done")]);

    // A server that echoes the code only: the reason is the server's (none).
    let (mut ws, _peer) = open_pair();
    ws.close(Some(4000), Some("done")).unwrap();
    assert_eq!(rest(&mut ws), vec![close_ev(true, 4000, "")]);
}

/// WHATWG close event code: 1005 when the received close frame had no
/// status code (RFC 6455 §7.1.5), either side starting.
#[test]
fn close_frame_without_code_reports_1005() {
    let (mut ws, _peer) = open_pair();
    ws.close(None, None).unwrap();
    assert_eq!(rest(&mut ws), vec![close_ev(true, 1005, "")]);

    let (mut ws, peer) = open_pair();
    peer.send_text("last");
    peer.close_without_code();
    assert_eq!(rest(&mut ws), vec![text("last"), close_ev(true, 1005, "")]);
    assert_eq!(peer.closes(), vec![(None, String::new())]);
}

/// WHATWG "the WebSocket connection is closed" after the server drops the
/// TCP connection without a close frame: messages received before are
/// delivered, then error (the connection failed), then close with 1006,
/// wasClean false, empty reason.
#[test]
fn abnormal_close_fires_error_then_close_1006() {
    let (mut ws, peer) = open_pair();
    peer.send_text("before");
    peer.hang_up();
    let events = rest(&mut ws);
    assert_eq!(events[0], text("before"));
    assert_failed(&events[1..], Fault::UnexpectedEof);
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert!(ws.next_event().is_none());
}

/// RFC 6455 §7.1.7 "fail the WebSocket connection" as the WHATWG API
/// reports it: invalid UTF-8 from the server → the socket sends 1007, then
/// error, then close 1006 (no close frame was received).
#[test]
fn protocol_violation_fails_the_connection() {
    let (mut ws, peer) = open_pair();
    peer.send_raw(&[0x81, 0x02, 0xff, 0xfe]); // a text frame with invalid UTF-8
    assert_failed(&rest(&mut ws), Fault::Protocol(ProtocolError::InvalidUtf8));
    assert_eq!(peer.closes(), vec![(Some(1007), String::new())]);
}

/// WHATWG "establish a WebSocket connection", processResponse step 1: a
/// status other than 101 fails the WebSocket connection — error, then
/// close 1006; never open.
#[test]
fn failed_handshake_fires_error_then_close_without_open() {
    let (mut ws, _peer) = pair(&[], Answer::Reject(403));
    assert_failed(
        &rest(&mut ws),
        Fault::Handshake(HandshakeError::Status {
            code: 403,
            reason: "Forbidden".into(),
        }),
    );
    assert_eq!(ws.ready_state(), ReadyState::Closed);

    // A server that hangs up instead of answering.
    let (mut ws, _peer) = pair(&[], Answer::Hangup);
    assert_failed(&rest(&mut ws), Fault::Handshake(HandshakeError::Eof));

    // Through the handlers: no open, error before close.
    let (mut ws, _peer) = pair(&[], Answer::Reject(404));
    let log = Log::default();
    let l = log.clone();
    ws.on_open(move |_| note(&l, "open"));
    let l = log.clone();
    ws.on_error(move |ws, _| note(&l, format!("error {}", ws.ready_state() as u16)));
    let l = log.clone();
    ws.on_close(move |_, c| note(&l, format!("close {} {} {:?}", c.code, c.was_clean, c.reason)));
    ws.run();
    assert_eq!(entries(&log), ["error 3", "close 1006 false \"\""]);
}

/// WHATWG "the WebSocket connection is closed" step 2: the error event
/// fires only when the connection was failed — never on a clean close,
/// whichever side starts it.
#[test]
fn error_never_fires_on_a_clean_close() {
    for client_starts in [true, false] {
        let (mut ws, peer) = open_pair();
        let log = Log::default();
        let l = log.clone();
        ws.on_error(move |_, e| note(&l, format!("error {}", e.error)));
        let l = log.clone();
        ws.on_message(move |ws, _| {
            note(&l, "message");
            if client_starts {
                ws.close(Some(1000), None).unwrap();
            }
        });
        let l = log.clone();
        ws.on_close(move |_, c| note(&l, format!("close {}", c.was_clean)));
        peer.send_text("x");
        if !client_starts {
            peer.close(1000, "");
        }
        ws.run();
        assert_eq!(
            entries(&log),
            ["message", "close true"],
            "client starts: {client_starts}"
        );
    }
}

/// WHATWG: the close event is the last; nothing is dispatched after it
/// (`next_event`, `try_next_event`, `events` and `run` all end).
#[test]
fn nothing_follows_the_close_event() {
    let (mut ws, peer) = open_pair();
    peer.close(1000, "");
    assert_eq!(rest(&mut ws), vec![close_ev(true, 1000, "")]);
    for _ in 0..3 {
        assert!(ws.next_event().is_none());
        assert!(ws.try_next_event().is_none());
    }
    assert_eq!(ws.events().count(), 0);
    let log = Log::default();
    for kind in [EventType::Open, EventType::Message, EventType::Error, EventType::Close] {
        let l = log.clone();
        ws.add_event_listener(kind, move |_, e| note(&l, format!("{:?}", e.event_type())));
    }
    ws.run();
    assert!(entries(&log).is_empty(), "dispatched after close: {:?}", entries(&log));

    // The same after a failure.
    let (mut ws, peer) = open_pair();
    peer.hang_up();
    assert_failed(&rest(&mut ws), Fault::UnexpectedEof);
    assert!(ws.next_event().is_none());
    assert_eq!(ws.events().count(), 0);
}

/// WHATWG "a WebSocket message has been received", step 1: "If readyState
/// is not OPEN, then return" — a message that arrives after close() was
/// called (CLOSING) is not dispatched.
#[test]
fn message_received_while_closing_is_not_dispatched() {
    let (mut ws, peer) = open_pair();
    // The server sent this before it saw our close frame.
    peer.send_text("late");
    ws.close(Some(1000), None).unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Closing);
    assert_eq!(rest(&mut ws), vec![close_ev(true, 1000, "")]);
}

/// WHATWG "a WebSocket message has been received", step 2: the binaryType
/// at the time the event is fired decides Blob or ArrayBuffer, per message
/// (the default is "blob"); text is unaffected.
#[test]
fn binary_type_decides_each_message_at_dispatch() {
    let (mut ws, peer) = open_pair();
    assert_eq!(ws.binary_type(), BinaryType::Blob, "the default is blob");
    // All four arrive together, before the first is dispatched.
    peer.send_binary(&[1]);
    peer.send_binary(&[2, 2]);
    peer.send_text("t");
    peer.send_binary(&[3, 3, 3]);
    assert_eq!(ws.next_event().map(|e| ev(&e)), Some(Ev::Blob(vec![1])));
    ws.set_binary_type(BinaryType::ArrayBuffer);
    assert_eq!(ws.binary_type(), BinaryType::ArrayBuffer);
    assert_eq!(ws.next_event().map(|e| ev(&e)), Some(Ev::ArrayBuffer(vec![2, 2])));
    assert_eq!(ws.next_event().map(|e| ev(&e)), Some(text("t")));
    ws.set_binary_type(BinaryType::Blob);
    match ws.next_event() {
        Some(Event::Message(MessageEvent {
            data: MessageData::Blob(blob),
        })) => {
            assert_eq!(blob.size(), 3);
            assert_eq!(blob.as_bytes(), &[3, 3, 3]);
        }
        other => panic!("expected a Blob, got {other:?}"),
    }
}

/// WHATWG binaryType, switched by a listener while `run` dispatches: the
/// new value applies from the next message on.
#[test]
fn binary_type_set_in_a_listener_applies_to_the_next_message() {
    let (mut ws, peer) = open_pair();
    for i in 0..4u8 {
        peer.send_binary(&[i]);
    }
    peer.close(1000, "");
    let log = Log::default();
    let l = log.clone();
    ws.on_message(move |ws, m| {
        let kind = match &m.data {
            MessageData::Blob(b) => format!("blob {:?}", b.as_bytes()),
            MessageData::ArrayBuffer(b) => format!("arraybuffer {b:?}"),
            MessageData::Text(t) => format!("text {t}"),
        };
        note(&l, kind);
        let next = match ws.binary_type() {
            BinaryType::Blob => BinaryType::ArrayBuffer,
            BinaryType::ArrayBuffer => BinaryType::Blob,
        };
        ws.set_binary_type(next);
    });
    ws.run();
    assert_eq!(
        entries(&log),
        ["blob [0]", "arraybuffer [1]", "blob [2]", "arraybuffer [3]"]
    );
}

// ================================================================ listeners

/// DOM "inner invoke": a listener that throws is reported and stays
/// registered. In Rust the panic goes on to the caller; a caller that
/// catches it finds the listener (and an `on_*` handler) still called for
/// later events, not silently dropped.
#[test]
fn a_listener_that_panicked_is_still_called_for_later_events() {
    let (mut ws, _peer) = pair(&[], Answer::Silent);
    let log = Log::default();
    let (l, h) = (log.clone(), log.clone());
    let mut first = (true, true);
    let id = ws.add_event_listener(EventType::Message, move |_, e| {
        let Event::Message(m) = e else { return };
        note(&l, format!("listener {}", m.data.as_text().unwrap()));
        if std::mem::take(&mut first.0) {
            panic!("a listener's bug");
        }
    });
    ws.on_message(move |_, m| {
        note(&h, format!("handler {}", m.data.as_text().unwrap()));
        if std::mem::take(&mut first.1) {
            panic!("a handler's bug");
        }
    });
    // "1": the listener panics, which ends that event's dispatch; "2": the
    // listener runs again, then the handler panics.
    for text in ["1", "2"] {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ws.dispatch_event(&message(text))));
        assert!(caught.is_err(), "{text}: the panic goes on to the caller");
    }
    ws.dispatch_event(&message("3"));
    assert_eq!(
        entries(&log),
        ["listener 1", "listener 2", "handler 2", "listener 3", "handler 3"],
        "a panic ends the event's dispatch; both run for later events"
    );
    assert!(ws.remove_event_listener(id));
}

/// DOM "inner invoke": listeners of a type run in the order they were
/// added; other types' listeners do not run.
#[test]
fn listeners_run_in_registration_order() {
    let (mut ws, _peer) = pair(&[], Answer::Silent);
    let log = Log::default();
    for name in ["a", "b", "c"] {
        let l = log.clone();
        ws.add_event_listener(EventType::Message, move |_, e| {
            assert_eq!(e.event_type(), EventType::Message);
            note(&l, name);
        });
    }
    let l = log.clone();
    ws.add_event_listener(EventType::Close, move |_, _| note(&l, "close"));
    ws.dispatch_event(&message("m"));
    assert_eq!(entries(&log), ["a", "b", "c"]);
    ws.dispatch_event(&Event::Close(CloseEvent {
        was_clean: true,
        code: 1000,
        reason: String::new(),
    }));
    assert_eq!(entries(&log), ["a", "b", "c", "close"]);
}

/// HTML "event handler attributes": onmessage is registered as a listener
/// where it was first set; setting it again replaces the callback in place.
#[test]
fn event_handler_keeps_its_first_position_and_is_replaced_in_place() {
    let (mut ws, _peer) = pair(&[], Answer::Silent);
    let log = Log::default();
    let l = log.clone();
    ws.add_event_listener(EventType::Message, move |_, _| note(&l, "first"));
    let l = log.clone();
    ws.on_message(move |_, _| note(&l, "handler 1"));
    let l = log.clone();
    ws.add_event_listener(EventType::Message, move |_, _| note(&l, "last"));
    ws.dispatch_event(&message("m"));
    let l = log.clone();
    ws.on_message(move |_, m| note(&l, format!("handler 2 {}", m.data.as_text().unwrap())));
    ws.dispatch_event(&message("m2"));
    assert_eq!(
        entries(&log),
        ["first", "handler 1", "last", "first", "handler 2 m2", "last"]
    );

    // Each handler attribute is its own: onopen, onerror, onclose.
    let l = log.clone();
    ws.on_open(move |_| note(&l, "onopen"));
    let l = log.clone();
    ws.on_error(move |_, e: &ErrorEvent| note(&l, format!("onerror {}", e.error)));
    let l = log.clone();
    ws.on_close(move |_, c| note(&l, format!("onclose {}", c.code)));
    lock(&log).clear();
    ws.dispatch_event(&Event::Open);
    ws.dispatch_event(&Event::Error(ErrorEvent {
        error: Error::UnexpectedEof,
    }));
    ws.dispatch_event(&Event::Close(CloseEvent {
        was_clean: false,
        code: 1006,
        reason: String::new(),
    }));
    assert_eq!(
        entries(&log),
        [
            "onopen".to_owned(),
            format!("onerror {}", Error::UnexpectedEof),
            "onclose 1006".to_owned()
        ]
    );
}

/// DOM removeEventListener: a removed listener no longer runs; removing it
/// again reports that there was nothing to remove.
#[test]
fn remove_event_listener_stops_a_listener() {
    let (mut ws, _peer) = pair(&[], Answer::Silent);
    let log = Log::default();
    let l = log.clone();
    let a = ws.add_event_listener(EventType::Message, move |_, _| note(&l, "a"));
    let l = log.clone();
    let b = ws.add_event_listener(EventType::Message, move |_, _| note(&l, "b"));
    assert!(ws.remove_event_listener(a));
    assert!(!ws.remove_event_listener(a), "already removed");
    ws.dispatch_event(&message("m"));
    assert_eq!(entries(&log), ["b"]);
    assert!(ws.remove_event_listener(b));
    ws.dispatch_event(&message("m"));
    assert_eq!(entries(&log), ["b"]);
}

/// DOM "dispatch" clones the listener list first: a listener added while an
/// event is dispatched does not run for that event, only for later ones.
#[test]
fn listener_added_during_dispatch_waits_for_the_next_event() {
    let (mut ws, _peer) = pair(&[], Answer::Silent);
    let log = Log::default();
    let l = log.clone();
    let mut added = false;
    ws.add_event_listener(EventType::Message, move |ws, e| {
        note(&l, format!("adder {}", msg_text(e)));
        if !added {
            added = true;
            let l2 = l.clone();
            ws.add_event_listener(EventType::Message, move |_, e| {
                note(&l2, format!("added {}", msg_text(e)))
            });
        }
    });
    let l = log.clone();
    ws.add_event_listener(EventType::Message, move |_, e| {
        note(&l, format!("second {}", msg_text(e)))
    });
    ws.dispatch_event(&message("1"));
    ws.dispatch_event(&message("2"));
    assert_eq!(entries(&log), ["adder 1", "second 1", "adder 2", "second 2", "added 2"]);
}

fn msg_text(event: &Event) -> String {
    match event {
        Event::Message(m) => m.data.as_text().unwrap_or("<binary>").to_owned(),
        other => format!("{:?}", other.event_type()),
    }
}

/// DOM "inner invoke" skips listeners whose removed flag is set: one
/// removed by an earlier listener during dispatch does not run; a listener
/// that removes itself runs once.
#[test]
fn listener_removed_during_dispatch_does_not_run() {
    let (mut ws, _peer) = pair(&[], Answer::Silent);
    let log = Log::default();
    let victim: Arc<Mutex<Option<ListenerId>>> = Arc::default();
    let own: Arc<Mutex<Option<ListenerId>>> = Arc::default();

    let (l, v) = (log.clone(), victim.clone());
    ws.add_event_listener(EventType::Message, move |ws, _| {
        note(&l, "remover");
        if let Some(id) = lock(&v).take() {
            assert!(ws.remove_event_listener(id));
        }
    });
    let (l, o) = (log.clone(), own.clone());
    let once = ws.add_event_listener(EventType::Message, move |ws, _| {
        note(&l, "once");
        if let Some(id) = lock(&o).take() {
            assert!(ws.remove_event_listener(id));
        }
    });
    *lock(&own) = Some(once);
    let l = log.clone();
    let removed = ws.add_event_listener(EventType::Message, move |_, _| note(&l, "victim"));
    *lock(&victim) = Some(removed);
    let l = log.clone();
    ws.add_event_listener(EventType::Message, move |_, _| note(&l, "last"));

    ws.dispatch_event(&message("1"));
    ws.dispatch_event(&message("2"));
    assert_eq!(entries(&log), ["remover", "once", "last", "remover", "last"]);
}

/// HTML event handlers: a handler that sets its own attribute while it runs
/// finishes the current event; the new handler, in the same place, gets
/// the next.
#[test]
fn handler_replaced_while_running_takes_effect_for_the_next_event() {
    let (mut ws, _peer) = pair(&[], Answer::Silent);
    let log = Log::default();
    let l = log.clone();
    ws.on_message(move |ws, m| {
        note(&l, format!("old {}", m.data.as_text().unwrap()));
        let l2 = l.clone();
        ws.on_message(move |_, m| note(&l2, format!("new {}", m.data.as_text().unwrap())));
    });
    let l = log.clone();
    ws.add_event_listener(EventType::Message, move |_, e| {
        note(&l, format!("after {}", msg_text(e)))
    });
    ws.dispatch_event(&message("1"));
    ws.dispatch_event(&message("2"));
    assert_eq!(entries(&log), ["old 1", "after 1", "new 2", "after 2"]);
}

/// The browser's event loop for one socket: `run` dispatches open, the
/// messages and close, in order, to the listeners, and returns after the
/// close event.
#[test]
fn run_dispatches_until_close() {
    let echo_reason = Config::default().echo_close_reason(true);
    let (mut ws, peer) = pair_with(URL, &[], Answer::Accept(None), echo_reason, true);
    let log = Log::default();
    let l = log.clone();
    ws.on_open(move |ws| {
        note(&l, "open");
        ws.send("hello").unwrap();
        ws.send(&[1u8, 2, 3]).unwrap();
    });
    let l = log.clone();
    let mut received = 0;
    ws.on_message(move |ws, m| {
        received += 1;
        note(&l, format!("message {:?}", m.data));
        if received == 2 {
            ws.close(Some(1000), Some("done")).unwrap();
        }
    });
    let l = log.clone();
    ws.on_error(move |_, e| note(&l, format!("error {}", e.error)));
    let l = log.clone();
    ws.on_close(move |ws, c| {
        note(
            &l,
            format!(
                "close {} {} {} state {}",
                c.was_clean,
                c.code,
                c.reason,
                ws.ready_state() as u16
            ),
        )
    });
    ws.run();
    assert_eq!(
        entries(&log),
        [
            "open".to_owned(),
            format!("message {:?}", MessageData::Text("hello".to_owned())),
            format!("message {:?}", MessageData::Blob((&[1u8, 2, 3][..]).into())),
            "close true 1000 done state 3".to_owned(),
        ]
    );
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert_eq!(
        peer.messages(),
        vec![Seen::Text("hello".to_owned()), Seen::Binary(vec![1, 2, 3])]
    );
}

// ================================================================ going away

/// WHATWG §Garbage collection: "If a WebSocket object is garbage
/// collected while its connection is still open, the user agent must start
/// the WebSocket closing handshake, with no status code for the Close
/// message." Dropping the socket is that moment (1001 is for a document
/// that unloads, which a Rust value has no equivalent of).
#[test]
fn dropping_an_open_socket_starts_the_close_with_no_status_code() {
    let (ws, peer) = open_pair();
    drop(ws);
    assert_eq!(peer.closes(), vec![(None, String::new())]);
}

/// WHATWG "make disappear", first and third branches: a socket not yet
/// established is failed (no close frame); one already closing or closed
/// does nothing more.
#[test]
fn dropping_a_connecting_closing_or_closed_socket_sends_no_close_frame() {
    let (ws, peer) = pair(&[], Answer::Silent);
    drop(ws);
    assert!(peer.closes().is_empty());

    let (mut ws, peer) = open_pair();
    ws.close(Some(4000), None).unwrap();
    drop(ws);
    assert_eq!(peer.closes(), vec![(Some(4000), String::new())]);

    let (mut ws, peer) = open_pair();
    peer.close(1000, "");
    assert_eq!(rest(&mut ws), vec![close_ev(true, 1000, "")]);
    drop(ws);
    assert_eq!(peer.closes(), vec![(Some(1000), String::new())]);
}

/// RFC 6455 §7.1.7 via the WHATWG events: a transport that fails (here,
/// reset while open) surfaces as an error event, then close 1006.
#[test]
fn transport_failure_fires_error_then_close() {
    let (mut ws, peer) = open_pair();
    peer.reset();
    // Whether `send` returns the I/O error is this crate's choice; the
    // events must report the failure either way.
    let _ = ws.send("into the void");
    assert_failed_io(&rest(&mut ws));
    assert_eq!(ws.ready_state(), ReadyState::Closed);
}

// ================================================================ over TCP

/// How long a TCP test may block in any one read.
const TCP_LIMIT: Duration = Duration::from_secs(10);

/// `WebSocket::connect` against the crate's own server on 127.0.0.1: the
/// whole life cycle, with the attributes at each step (constructor, url
/// getter, established steps 1–3, a clean close started by the server).
#[test]
fn connect_over_tcp_walks_the_whole_life_cycle() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || -> Result<(String, Vec<String>), Error> {
        let (stream, _) = listener.accept()?;
        stream.set_write_timeout(Some(TCP_LIMIT))?;
        let mut seen = (String::new(), Vec::new());
        let mut ws = WebSocket::accept_with(stream, Config::default(), |request| {
            seen = (request.target().to_owned(), request.protocols().to_vec());
            Ok(Accept::new().protocol("chat"))
        })?;
        assert!(matches!(ws.next_event(), Some(Event::Open)));
        ws.send("hi")?;
        ws.close(Some(4000), Some("bye"))?;
        // The close timeout (5 s) bounds this.
        let events: Vec<Ev> = ws.events().map(|e| ev(&e)).collect();
        assert_eq!(events, vec![close_ev(true, 4000, "")]);
        Ok(seen)
    });

    let url = format!("ws://{addr}/chat?x=1");
    let mut ws = WebSocket::connect(&url, &["superchat", "chat"]).unwrap();
    ws.get_ref().unwrap().tcp().set_write_timeout(Some(TCP_LIMIT)).unwrap();
    assert_eq!(ws.url(), url);
    assert_eq!(ws.ready_state(), ReadyState::Connecting);
    assert_eq!(ws.protocol(), "");
    let events = rest(&mut ws);
    assert_eq!(events, vec![Ev::Open, text("hi"), close_ev(true, 4000, "bye")]);
    assert_eq!(ws.protocol(), "chat");
    assert_eq!(ws.ready_state(), ReadyState::Closed);

    let (target, protocols) = server.join().unwrap().unwrap();
    assert_eq!(target, "/chat?x=1");
    assert_eq!(protocols, ["superchat", "chat"]);
}

/// WHATWG establish processResponse step 1 over TCP: the crate's server
/// refuses with 403; the client fires error then close 1006, never open.
#[test]
fn connect_over_tcp_refused_handshake_fires_error_then_close() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        WebSocket::accept_with(stream, Config::default(), |_| Err(403)).map(drop)
    });
    let mut ws = WebSocket::connect(&format!("ws://{addr}/"), &[]).unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Connecting);
    assert_failed(
        &rest(&mut ws),
        Fault::Handshake(HandshakeError::Status {
            code: 403,
            reason: "Forbidden".into(),
        }),
    );
    assert!(matches!(
        server.join().unwrap(),
        Err(Error::Handshake(HandshakeError::Rejected(403)))
    ));
}

/// WHATWG constructor: it returns CONNECTING and establishes the connection
/// "in parallel"; a server that cannot be reached fails the connection
/// later — error, then close 1006.
#[test]
fn connect_to_an_unreachable_server_fires_error_then_close() {
    let mut ws = WebSocket::connect(&refused_url(), &[]).unwrap();
    assert_failed_io(&rest(&mut ws));
    assert_eq!(ws.ready_state(), ReadyState::Closed);
}

/// WHATWG: "When the object is created its readyState must be set to
/// CONNECTING"; it becomes CLOSED only in the task that fires the close
/// event ("the WebSocket connection is closed" step 1), even when the
/// connection cannot be made at all.
#[test]
fn connect_to_an_unreachable_server_returns_connecting() {
    let mut ws = WebSocket::connect(&refused_url(), &[]).unwrap();
    let after_constructor = ws.ready_state();
    assert_failed_io(&rest(&mut ws));
    assert_eq!(
        after_constructor,
        ReadyState::Connecting,
        "readyState right after the constructor returned"
    );
}
