//! The DOM-style `WebSocket`: the browser's object, in Rust, as a thin
//! driver over the sans-IO [`Connection`] and any blocking byte transport.
//!
//! The driver owns no protocol rule: it validates the arguments the DOM
//! validates, moves bytes between the transport and the core, reads the
//! clock for the core (turning the core's next deadline into a read
//! timeout), and turns the core's events into the DOM's. Every protocol
//! decision is the core's, so other drivers get the same behaviour.
//!
//! Events can be pulled ([`WebSocket::next_event`]) or pushed to listeners
//! by [`WebSocket::run`]; push is a loop over pull.
//!
//! Beyond the browser, there is backpressure: a blocking [`WebSocket::send`]
//! returns once the queue is below [`WebSocket::high_water_mark`], the
//! non-blocking [`WebSocket::try_send`] refuses above it, and nothing is
//! read from the transport before the application asks for an event.

mod transport;

pub use crate::dom::{
    BinaryType, Blob, CloseEvent, Data, ErrorEvent, Event, EventType, ListenerId, Message, MessageData, MessageEvent,
};
pub use transport::{MaybeTlsStream, Plain, Transport};

use crate::close::{CloseCode, OwnedCloseFrame};
use crate::config::Config;
use crate::connection::{Connection, ReadyState};
use crate::dom::{Dom, Next, Received, dom_request, with_default_port};
use crate::error::Error;
use crate::handshake::{self, Accept, ClientRequest, Request};
use std::boxed::Box;
use std::io::{self, ErrorKind};
use std::net::TcpStream;
use std::string::String;
use std::time::{Duration, Instant};
use std::vec::Vec;

type Callback<S> = Box<dyn FnMut(&mut WebSocket<S>, &Event) + Send>;

struct Listener<S: Transport> {
    id: u64,
    kind: EventType,
    /// Set by `on_open` and friends: replaced in place when set again, as
    /// the DOM's event handler attributes are.
    handler: bool,
    /// `None` while it runs.
    callback: Option<Callback<S>>,
}

/// What the DOM layer's steps become, before `next_event` or `read`
/// filters them. `M` is a message in the form the caller returns.
enum Step<M> {
    Message(M),
    /// Open, error or close.
    Dom(Event),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A server handshake awaits a decision (see `accept_with`).
    Decide,
}

/// The browser's `WebSocket` over a blocking transport.
///
/// ```no_run
/// use rfc6455::websocket::{Event, WebSocket};
///
/// let mut ws = WebSocket::connect("ws://127.0.0.1:9001/", &["chat"])?;
/// while let Some(event) = ws.next_event() {
///     match event {
///         Event::Open => ws.send("Hello Server!")?,
///         Event::Message(m) => println!("{:?}", m.data),
///         Event::Error(e) => eprintln!("error: {}", e.error),
///         Event::Close(c) => println!("closed: {} {}", c.code, c.reason),
///     }
/// }
/// # Ok::<(), rfc6455::Error>(())
/// ```
pub struct WebSocket<S: Transport = MaybeTlsStream> {
    dom: Dom,
    /// `None` when the transport could not be opened.
    stream: Option<S>,
    binary_type: BinaryType,
    /// The epoch of the core's clock.
    start: Instant,
    /// The read timeout last given to the transport.
    timeout_set: Option<Duration>,
    high_water_mark: usize,
    listeners: Vec<Listener<S>>,
    next_listener: u64,
    /// Bytes the last read returned, to tell a quiet peer from a stream.
    last_read: usize,
}

/// Reads shorter than this suggest a quiet peer (see `read_once`).
const IDLE_READ: usize = 512;

impl<S: Transport> core::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebSocket")
            .field("dom", &self.dom)
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

fn open_tcp(request: &ClientRequest, default_port: u16) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(with_default_port(request.host(), default_port).as_str())?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The TLS settings a `wss://` connection uses.
#[cfg(feature = "rustls")]
type TlsConfig = std::sync::Arc<rustls::ClientConfig>;
#[cfg(not(feature = "rustls"))]
type TlsConfig = core::convert::Infallible;

/// TCP, then TLS when `secure`; a TCP failure is the `io::Error` (the DOM
/// constructor reports it as events), anything else is the constructor's.
fn open_stream(
    request: &ClientRequest,
    secure: bool,
    tls: Option<TlsConfig>,
) -> Result<io::Result<MaybeTlsStream>, Error> {
    if !secure {
        return Ok(open_tcp(request, 80).map(MaybeTlsStream::Plain));
    }
    #[cfg(feature = "rustls")]
    {
        let (config, name) = crate::tls::client_setup(request.host(), tls)?;
        let client = rustls::ClientConnection::new(config, name).map_err(|e| Error::Io(io::Error::other(e)))?;
        // The TLS handshake runs with the first write, inside the driver.
        Ok(open_tcp(request, 443).map(|tcp| MaybeTlsStream::Tls(Box::new(rustls::StreamOwned::new(client, tcp)))))
    }
    #[cfg(not(feature = "rustls"))]
    {
        let _ = tls;
        Err(Error::TlsNotEnabled)
    }
}

impl WebSocket<MaybeTlsStream> {
    /// `new WebSocket(url, protocols)`: opens a TCP connection (and TLS for
    /// `wss://`, with feature `rustls`) and starts the handshake, returning
    /// in [`ReadyState::Connecting`]. The outcome arrives as events: open,
    /// or error then close (code 1006).
    ///
    /// Errors only for the constructor's exceptions: a bad URL, a URL with
    /// a fragment, a protocol that is not a token or is repeated
    /// (`SyntaxError`, see [`Error::dom_exception`]), or `wss://` in a
    /// build without TLS.
    pub fn connect(url: &str, protocols: &[&str]) -> Result<Self, Error> {
        Self::connect_with(url, protocols, Config::default())
    }

    /// [`WebSocket::connect`] with settings.
    pub fn connect_with(url: &str, protocols: &[&str], config: Config) -> Result<Self, Error> {
        Self::open(url, protocols, config, None)
    }

    /// [`WebSocket::connect`] with settings and the TLS client
    /// configuration for `wss://` (private roots, client certificates).
    #[cfg(feature = "rustls")]
    pub fn connect_tls(
        url: &str,
        protocols: &[&str],
        config: Config,
        tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> Result<Self, Error> {
        Self::open(url, protocols, config, Some(tls))
    }

    fn open(url: &str, protocols: &[&str], config: Config, tls: Option<TlsConfig>) -> Result<Self, Error> {
        let (request, secure, shown) = dom_request(url, protocols)?;
        Ok(match open_stream(&request, secure, tls)? {
            Ok(stream) => Self::new(Connection::client(request, config), Some(stream), shown),
            Err(e) => {
                let mut ws = Self::new(Connection::client(request, config), None, shown);
                ws.dom.fail(Error::Io(e));
                ws
            }
        })
    }

    /// Connects and completes the handshake before returning; any failure
    /// is the `Err`. `secure` asks for TLS (the default configuration, see
    /// [`crate::tls::default_client_config`] with feature `rustls`).
    pub fn connect_request(request: ClientRequest, secure: bool, config: Config) -> Result<Self, Error> {
        let stream = open_stream(&request, secure, None)??;
        Self::client(stream, request, config)
    }
}

impl<S: Transport> WebSocket<S> {
    fn new(conn: Connection, stream: Option<S>, url: String) -> Self {
        Self {
            dom: Dom::new(conn, url),
            stream,
            binary_type: BinaryType::default(),
            start: Instant::now(),
            timeout_set: None,
            high_water_mark: 0,
            listeners: Vec::new(),
            next_listener: 0,
            last_read: 0,
        }
    }

    /// `new WebSocket(url, protocols)` over a transport the caller opened
    /// (a TLS stream, a Unix socket, a proxy tunnel). Returns in
    /// [`ReadyState::Connecting`]; see [`WebSocket::connect`].
    pub fn with_stream(stream: S, url: &str, protocols: &[&str], config: Config) -> Result<Self, Error> {
        let (request, _, shown) = dom_request(url, protocols)?;
        Ok(Self::new(Connection::client(request, config), Some(stream), shown))
    }

    /// Performs the client handshake over `stream` before returning; any
    /// failure is the `Err`. The open event is still delivered first.
    pub fn client(stream: S, request: ClientRequest, config: Config) -> Result<Self, Error> {
        let url = std::format!("ws://{}{}", request.host(), request.resource());
        let mut ws = Self::new(Connection::client(request, config), Some(stream), url);
        ws.handshake(None::<fn(&Request) -> Result<Accept, u16>>)?;
        Ok(ws)
    }

    /// Performs the server handshake over `stream`, accepting any valid
    /// request without a subprotocol.
    pub fn accept(stream: S) -> Result<Self, Error> {
        Self::accept_with(stream, Config::default(), |_| Ok(Accept::new()))
    }

    /// Performs the server handshake over `stream`; `decide` sees the
    /// request and accepts it or refuses it with an HTTP status. Returns
    /// once open; the open event is still delivered first.
    pub fn accept_with(
        stream: S,
        config: Config,
        decide: impl FnOnce(&Request) -> Result<Accept, u16>,
    ) -> Result<Self, Error> {
        let mut ws = Self::new(Connection::server(config), Some(stream), String::new());
        ws.handshake(Some(decide))?;
        // The 101 goes out now: a server that only sends later must not
        // leave the client waiting for it.
        ws.write_all()?;
        Ok(ws)
    }

    /// Drives the opening handshake to the open event, keeping that event
    /// for `next_event`; a failure is the `Err`.
    fn handshake(&mut self, decide: Option<impl FnOnce(&Request) -> Result<Accept, u16>>) -> Result<(), Error> {
        let mut decide = decide;
        let binary_type = self.binary_type;
        loop {
            match self.step(true, |m| m.into_event(binary_type)) {
                Some(Step::Dom(Event::Open)) => {
                    self.dom.unread(Event::Open);
                    return Ok(());
                }
                Some(Step::Dom(Event::Error(e))) => return Err(e.error),
                Some(Step::Decide) => self.dom.decide(&mut decide)?,
                Some(_) => {}
                None => return Err(Error::Io(io::Error::from(ErrorKind::UnexpectedEof))),
            }
        }
    }

    /// Runs a connection whose handshake happened elsewhere (see
    /// [`Connection::established`]). [`WebSocket::url`] is empty.
    pub fn from_connection(conn: Connection, stream: S) -> Self {
        Self::new(conn, Some(stream), String::new())
    }

    // ------------------------------------------------------------ attributes

    /// The DOM's `url`: the URL as resolved (`ws`/`wss`, host with a
    /// non-default port, path and query).
    pub fn url(&self) -> &str {
        &self.dom.url
    }

    /// The DOM's `readyState`. `as u16` gives the numeric value (0–3).
    ///
    /// Closing lasts from the start of the close handshake (either side)
    /// until the transport is closed; Closed is final.
    pub fn ready_state(&self) -> ReadyState {
        self.dom.ready_state()
    }
    /// The DOM's `protocol`: the subprotocol the server chose, empty until
    /// open or when none.
    pub fn protocol(&self) -> &str {
        self.dom.conn.protocol().unwrap_or("")
    }

    /// The DOM's `extensions`: the negotiated extensions, empty until open.
    pub fn extensions(&self) -> &str {
        self.dom.conn.extensions()
    }

    /// The DOM's `binaryType`.
    pub fn binary_type(&self) -> BinaryType {
        self.binary_type
    }

    /// Sets how binary messages dispatched from now on are handed over.
    pub fn set_binary_type(&mut self, binary_type: BinaryType) {
        self.binary_type = binary_type;
    }

    /// The DOM's `bufferedAmount`: payload bytes passed to `send` and not
    /// yet handed to the transport (framing excluded), plus bytes sent
    /// while closing or closed, which are discarded but still counted.
    /// It never resets when the socket closes.
    pub fn buffered_amount(&self) -> u64 {
        self.dom.buffered_amount()
    }

    /// Bytes of output that may stay queued when [`WebSocket::send`]
    /// returns, and above which [`WebSocket::try_send`] refuses. Default 0:
    /// a blocking send returns once everything is written.
    pub fn high_water_mark(&self) -> usize {
        self.high_water_mark
    }

    /// Sets the high-water mark; queued output below it is written by
    /// [`WebSocket::flush`], before the next read, or by a later send.
    pub fn set_high_water_mark(&mut self, bytes: usize) {
        self.high_water_mark = bytes;
    }

    /// The peer's close frame, once received.
    pub fn peer_close(&self) -> Option<&OwnedCloseFrame> {
        self.dom.peer_close()
    }

    /// The sans-IO core.
    pub fn connection(&self) -> &Connection {
        &self.dom.conn
    }

    /// The transport (`None` if it could not be opened).
    pub fn get_ref(&self) -> Option<&S> {
        self.stream.as_ref()
    }

    /// When the core next needs the clock, on the `Instant` scale; for
    /// event loops driving a non-blocking transport.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.dom.conn.poll_timeout().map(|d| self.start + d)
    }

    // ------------------------------------------------------------ methods

    /// The DOM's `send(data)`: `&str`/`String` as text, `&[u8]`/`Vec<u8>` as
    /// binary.
    ///
    /// While connecting: [`Error::InvalidState`] (`InvalidStateError`).
    /// While closing or closed: the data is discarded and
    /// [`WebSocket::buffered_amount`] grows. While open: the message is
    /// queued and written until at most [`WebSocket::high_water_mark`]
    /// bytes stay queued, blocking as the transport does.
    ///
    /// As in the DOM, a transport failure is not the caller's error: it
    /// fails the connection and arrives as error and close events.
    pub fn send<'a>(&mut self, data: impl Into<Data<'a>>) -> Result<(), Error> {
        if self.dom.send(&data.into())? {
            if let Err(e) = self.write_down_to(self.high_water_mark) {
                self.dom.write_failed(e);
            }
        }
        Ok(())
    }

    /// Sends a text message (see [`WebSocket::send`]).
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send(text)
    }

    /// Sends a binary message (see [`WebSocket::send`]).
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send(data)
    }

    /// Non-blocking send for event loops over a non-blocking transport:
    /// refuses with [`Error::WouldBlock`] while more than the high-water
    /// mark is queued, otherwise queues the message and writes what the
    /// transport takes now.
    pub fn try_send<'a>(&mut self, data: impl Into<Data<'a>>) -> Result<(), Error> {
        if self.ready_state() == ReadyState::Open && self.dom.conn.pending_output().len() > self.high_water_mark {
            return Err(Error::WouldBlock);
        }
        if self.dom.send(&data.into())? {
            self.try_flush()?;
        }
        Ok(())
    }

    /// Sends a ping.
    pub fn ping(&mut self, data: &[u8]) -> Result<(), Error> {
        self.dom.conn.ping(data)?;
        self.write_all()
    }

    /// The DOM's `close(code, reason)`.
    ///
    /// Arguments first: `code` must be 1000 or 3000–4999
    /// (`InvalidAccessError`), `reason` at most 123 UTF-8 bytes
    /// (`SyntaxError`). Then: closing or closed, nothing happens;
    /// connecting, the connection fails (error, then close with 1006);
    /// open, the close handshake starts. A `reason` without a `code` is
    /// ignored, as in the DOM.
    pub fn close(&mut self, code: Option<u16>, reason: Option<&str>) -> Result<(), Error> {
        self.tick();
        self.dom.close(code, reason)?;
        self.settle()
    }

    /// Starts the close handshake with any sendable code (1001 going away,
    /// 1008 policy, 1011 server error…), which servers need and the DOM
    /// does not allow. Otherwise as [`WebSocket::close`].
    pub fn close_with(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.tick();
        self.dom.close_with(code, reason)?;
        self.settle()
    }

    /// After a close: write the close frame, or, if the connection failed,
    /// close the transport now rather than at the next event.
    fn settle(&mut self) -> Result<(), Error> {
        if self.dom.transport_to_close() {
            self.close_transport();
        }
        if self.dom.transport_open() && !self.dom.conn.pending_output().is_empty() {
            return self.write_all();
        }
        Ok(())
    }

    /// Writes all queued output, blocking as the transport does.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.write_all()
    }

    /// Writes what the transport takes without blocking; `true` once
    /// nothing is queued.
    pub fn try_flush(&mut self) -> Result<bool, Error> {
        match self.write_down_to(0) {
            Ok(()) => Ok(true),
            Err(Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    // ------------------------------------------------------------ events

    /// The next event, blocking until there is one; `None` after the close
    /// event. Reads from the transport only when no event is ready.
    pub fn next_event(&mut self) -> Option<Event> {
        let binary_type = self.binary_type;
        loop {
            match self.step(true, |m| m.into_event(binary_type)) {
                Some(Step::Message(event) | Step::Dom(event)) => return Some(event),
                Some(Step::Ping(_) | Step::Pong(_) | Step::Decide) => {}
                None => return None,
            }
        }
    }

    /// [`WebSocket::next_event`] for a non-blocking transport: `None` when
    /// no event is ready yet (or after the close event; see
    /// [`WebSocket::ready_state`]).
    pub fn try_next_event(&mut self) -> Option<Event> {
        let binary_type = self.binary_type;
        loop {
            match self.step(false, |m| m.into_event(binary_type)) {
                Some(Step::Message(event) | Step::Dom(event)) => return Some(event),
                Some(Step::Ping(_) | Step::Pong(_) | Step::Decide) => {}
                None => return None,
            }
        }
    }

    /// The events, until the close event (inclusive).
    pub fn events(&mut self) -> impl Iterator<Item = Event> + '_ {
        core::iter::from_fn(move || self.next_event())
    }

    /// The next message, pings and pongs included; skips the open event.
    /// `Ok(None)` once the connection closed cleanly (see
    /// [`WebSocket::peer_close`]); the failure as `Err` if it failed.
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        let mut failure = None;
        loop {
            // The message is copied once, from the core's buffer into the
            // `Message`; no event is built for it.
            match self.step(true, |m| m.into_message()) {
                Some(Step::Message(message)) => return Ok(Some(message)),
                Some(Step::Ping(data)) => return Ok(Some(Message::Ping(data))),
                Some(Step::Pong(data)) => return Ok(Some(Message::Pong(data))),
                // The close event follows: the failure is returned after it.
                Some(Step::Dom(Event::Error(e))) => failure = Some(e.error),
                Some(Step::Dom(_) | Step::Decide) => {}
                None => return failure.map_or(Ok(None), Err),
            }
        }
    }

    /// One event or message, or `None` when finished (or, non-blocking,
    /// when nothing is ready): the DOM layer decides, this does the I/O.
    /// `message` makes a received message into the form the caller returns.
    fn step<M>(&mut self, blocking: bool, message: impl Fn(Received<'_>) -> M) -> Option<Step<M>> {
        loop {
            match self.dom.next(&message) {
                Next::Event(event) => return Some(Step::Dom(event)),
                Next::Message(m) => return Some(Step::Message(m)),
                Next::Ping(data) => {
                    // Send the pong before handing the ping over.
                    let _ = self.write(blocking);
                    return Some(Step::Ping(data));
                }
                Next::Pong(data) => return Some(Step::Pong(data)),
                Next::Decide => return Some(Step::Decide),
                Next::Done => return None,
                Next::CloseTransport => self.close_transport(),
                Next::Write => match self.write(blocking) {
                    Ok(()) => {}
                    Err(Error::Io(e)) if !blocking && e.kind() == ErrorKind::WouldBlock => return None,
                    Err(e) => self.dom.write_failed(e),
                },
                Next::Read => match self.read_once(blocking) {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => self.dom.read_failed(e),
                },
            }
        }
    }

    /// Writes everything (blocking) or what the transport takes now.
    fn write(&mut self, blocking: bool) -> Result<(), Error> {
        if blocking {
            self.write_all()
        } else {
            self.write_down_to(0)
        }
    }

    // ------------------------------------------------------------ listeners

    /// The DOM's `addEventListener(type, listener)`. Listeners of a type run
    /// in the order they were added; the returned id removes it.
    pub fn add_event_listener(
        &mut self,
        kind: EventType,
        listener: impl FnMut(&mut WebSocket<S>, &Event) + Send + 'static,
    ) -> ListenerId {
        self.push_listener(kind, false, Box::new(listener))
    }

    fn push_listener(&mut self, kind: EventType, handler: bool, callback: Callback<S>) -> ListenerId {
        self.next_listener += 1;
        self.listeners.push(Listener {
            id: self.next_listener,
            kind,
            handler,
            callback: Some(callback),
        });
        ListenerId(self.next_listener)
    }

    /// The DOM's `removeEventListener`; `false` if no such listener.
    pub fn remove_event_listener(&mut self, id: ListenerId) -> bool {
        let before = self.listeners.len();
        self.listeners.retain(|l| l.id != id.0);
        self.listeners.len() != before
    }

    /// Sets an event handler attribute: it keeps the place in the listener
    /// order where it was first set, and setting it again replaces it.
    fn set_handler(&mut self, kind: EventType, callback: Callback<S>) {
        match self.listeners.iter_mut().find(|l| l.handler && l.kind == kind) {
            Some(slot) => slot.callback = Some(callback),
            None => {
                self.push_listener(kind, true, callback);
            }
        }
    }

    /// The DOM's `onopen`.
    pub fn on_open(&mut self, mut handler: impl FnMut(&mut WebSocket<S>) + Send + 'static) {
        self.set_handler(EventType::Open, Box::new(move |ws, _| handler(ws)));
    }

    /// The DOM's `onmessage`.
    pub fn on_message(&mut self, mut handler: impl FnMut(&mut WebSocket<S>, &MessageEvent) + Send + 'static) {
        self.set_handler(
            EventType::Message,
            Box::new(move |ws, event| {
                if let Event::Message(m) = event {
                    handler(ws, m);
                }
            }),
        );
    }

    /// The DOM's `onerror`.
    pub fn on_error(&mut self, mut handler: impl FnMut(&mut WebSocket<S>, &ErrorEvent) + Send + 'static) {
        self.set_handler(
            EventType::Error,
            Box::new(move |ws, event| {
                if let Event::Error(e) = event {
                    handler(ws, e);
                }
            }),
        );
    }

    /// The DOM's `onclose`.
    pub fn on_close(&mut self, mut handler: impl FnMut(&mut WebSocket<S>, &CloseEvent) + Send + 'static) {
        self.set_handler(
            EventType::Close,
            Box::new(move |ws, event| {
                if let Event::Close(c) = event {
                    handler(ws, c);
                }
            }),
        );
    }

    /// The DOM's `dispatchEvent`: runs the listeners of the event's type in
    /// order. A listener added during dispatch waits for the next event; one
    /// removed during dispatch does not run.
    pub fn dispatch_event(&mut self, event: &Event) {
        let kind = event.event_type();
        let ids: Vec<u64> = self.listeners.iter().filter(|l| l.kind == kind).map(|l| l.id).collect();
        for id in ids {
            let Some(callback) = self
                .listeners
                .iter_mut()
                .find(|l| l.id == id)
                .and_then(|l| l.callback.take())
            else {
                continue;
            };
            let mut callback = callback;
            callback(self, event);
            if let Some(slot) = self.listeners.iter_mut().find(|l| l.id == id) {
                // A handler set again while running keeps the new callback.
                slot.callback.get_or_insert(callback);
            }
        }
    }

    /// Pulls events and dispatches each to the listeners until the close
    /// event has been dispatched: the browser's event loop, for one socket.
    pub fn run(&mut self) {
        while let Some(event) = self.next_event() {
            self.dispatch_event(&event);
        }
    }

    // ------------------------------------------------------------ transport

    fn write_all(&mut self) -> Result<(), Error> {
        self.write_down_to(0)
    }

    /// Writes until at most `limit` bytes stay queued.
    fn write_down_to(&mut self, limit: usize) -> Result<(), Error> {
        let stream = match &mut self.stream {
            Some(stream) if self.dom.transport_open() => stream,
            _ => return Err(Error::Io(io::Error::from(ErrorKind::NotConnected))),
        };
        while self.dom.conn.pending_output().len() > limit {
            match stream.write(self.dom.conn.pending_output()) {
                Ok(0) => return Err(io::Error::from(ErrorKind::WriteZero).into()),
                Ok(n) => self.dom.wrote(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if limit == 0 {
            stream.flush()?;
        }
        Ok(())
    }

    /// Reads once into the core, bounded by the core's next deadline, then
    /// tells the core the time. `Ok(false)`: a non-blocking read would block.
    fn read_once(&mut self, blocking: bool) -> Result<bool, Error> {
        let stream = match &mut self.stream {
            Some(stream) if self.dom.transport_open() => stream,
            _ => return Err(Error::Io(io::Error::from(ErrorKind::NotConnected))),
        };
        let conn = &mut self.dom.conn;
        if blocking {
            let timeout = conn.poll_timeout().map(|deadline| {
                deadline
                    .saturating_sub(self.start.elapsed())
                    .max(Duration::from_millis(1))
            });
            if timeout.is_some() || self.timeout_set.is_some() {
                stream.set_read_timeout(timeout)?;
                self.timeout_set = timeout;
            }
        }
        // After a short read with nothing left to parse, the peer is likely
        // quiet: wait with no heap buffer held (idle connections then cost
        // almost nothing) and copy the next few bytes in. Streams that fill
        // their reads keep reading straight into the core's buffer.
        let idle = self.last_read < IDLE_READ && !conn.has_buffered_input();
        // The core hears the time before the bytes: timers the bytes
        // re-arm (keepalive) count from now.
        let start = self.start;
        let result = if idle {
            conn.release_buffers();
            let mut small = [0u8; IDLE_READ];
            stream.read(&mut small).inspect(|&n| {
                conn.handle_timeout(start.elapsed());
                conn.receive(&small[..n]);
            })
        } else {
            stream.read(conn.read_buffer()).inspect(|&n| {
                conn.handle_timeout(start.elapsed());
                conn.commit_read(n);
            })
        };
        let progressed = match result {
            Ok(0) => {
                conn.receive_eof();
                true
            }
            Ok(n) => {
                self.last_read = n;
                true
            }
            // A blocking read that timed out reports WouldBlock or TimedOut:
            // the clock, below, decides what that means.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => blocking,
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            Err(e) => {
                self.dom.read_failed(e.into());
                true
            }
        };
        self.tick();
        Ok(progressed)
    }

    /// Tells the core the time: timers it arms next (a close) count from
    /// now, not from the last read.
    fn tick(&mut self) {
        self.dom.conn.handle_timeout(self.start.elapsed());
    }

    /// Writes what the transport takes (the close frame a failure queued,
    /// or an HTTP refusal) and closes it.
    fn close_transport(&mut self) {
        if !self.dom.transport_to_close() {
            return;
        }
        if let Some(stream) = &mut self.stream {
            while self.dom.flush_before_close() && !self.dom.conn.pending_output().is_empty() {
                match stream.write(self.dom.conn.pending_output()) {
                    Ok(n) if n > 0 => self.dom.wrote(n),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    _ => break,
                }
            }
            if self.dom.flush_before_close() {
                let _ = stream.flush();
            }
            let _ = stream.shutdown();
        }
        self.dom.transport_closed();
    }
}

impl<S: Transport> Drop for WebSocket<S> {
    /// Dropping an open socket starts a close with 1001 (going away), as a
    /// browser does for a page that goes away, and writes it as best it can.
    fn drop(&mut self) {
        self.tick();
        if self.ready_state() == ReadyState::Open && self.dom.conn.close(CloseCode::GOING_AWAY, "").is_ok() {
            let _ = self.write_all();
        }
    }
}

impl From<handshake::UrlError> for Error {
    fn from(e: handshake::UrlError) -> Self {
        Error::Url(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_is_send() {
        fn is_send<T: Send>() {}
        is_send::<WebSocket<TcpStream>>();
        is_send::<WebSocket>();
    }

    #[test]
    fn default_ports() {
        assert_eq!(with_default_port("example.com", 80), "example.com:80");
        assert_eq!(with_default_port("example.com:8080", 80), "example.com:8080");
        assert_eq!(with_default_port("[::1]", 80), "[::1]:80");
        assert_eq!(with_default_port("[::1]:9001", 80), "[::1]:9001");
        assert_eq!(with_default_port("127.0.0.1:1", 80), "127.0.0.1:1");
    }
}
