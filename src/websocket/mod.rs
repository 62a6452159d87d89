//! The DOM-style `WebSocket`: the browser's object, in Rust, as a thin
//! driver over the sans-IO [`Connection`] and any blocking byte transport.
//!
//! The driver owns no rule: it opens the transport and adapts it to the
//! shared driver core (`dom::driver`), which decides when to read and
//! write, what a timeout or an I/O error means and how the transport is
//! closed; the core's next deadline becomes the read timeout. The tokio
//! driver runs the same core, so both behave alike.
//!
//! Events can be pulled ([`WebSocket::next_event`]) or pushed to listeners
//! by [`WebSocket::run`]; push is a loop over pull.
//!
//! As in a browser, where the event loop reads for the page, the connection
//! hears the peer only while the application reads ([`WebSocket::next_event`],
//! [`WebSocket::run`], [`WebSocket::read`]): pings are answered and the
//! peer's close is seen there. A blocking write gives the core the time, so
//! the close and keepalive timers fire while writing too; but keepalive
//! counts the peer silent until it is read, so an application that only
//! sends with `keepalive_interval` set must read as well.
//!
//! Beyond the browser, there is backpressure: a blocking [`WebSocket::send`]
//! returns once the queue is below [`WebSocket::high_water_mark`], the
//! non-blocking [`WebSocket::try_send`] refuses above it, and nothing is
//! read from the transport before the application asks for an event.
//!
//! An idle connection holds no read buffer: it waits in a small stack
//! buffer. After long reads, a transport whose reads time out
//! ([`Transport::reads_time_out`]: sockets) keeps its buffer until a second
//! passes without one, as the next large message likely follows, and the
//! read timeout gives it back; any other transport gives it back before
//! each read that may wait.
//!
//! While a timer is armed (the protocol's, or that release), the driver
//! sets the transport's read and write timeouts to it, in place of any the
//! application set, and puts the application's back
//! ([`Transport::timeouts`]) once none is.

mod transport;

pub use crate::dom::{
    BinaryType, Blob, CloseEvent, Data, ErrorEvent, Event, EventType, ListenerId, Message, MessageData, MessageEvent,
};
pub use transport::{MaybeTlsStream, Plain, Transport};

use crate::close::CloseCode;
use crate::config::Config;
use crate::connection::Connection;
use crate::dom::driver::{Driver, Io, TlsConfig, dom_attributes};
use crate::dom::{client_url, dom_request, with_default_port};
use crate::error::{Error, Timeout};
use crate::handshake::{Accept, ClientRequest, Request};
use core::task::Poll;
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
    driver: Driver,
    /// The transport and the clock, kept as the driver core's [`Io`] so
    /// that no call builds an adapter.
    io: Blocking<S>,
    listeners: Vec<Listener<S>>,
    next_listener: u64,
}

impl<S: Transport> core::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebSocket")
            .field("dom", &self.driver)
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

/// The blocking transport as the driver core's [`Io`]: the core's
/// deadline becomes the read timeout. With `wait` false (the `try_*`
/// methods over a non-blocking transport), "would block" is `Pending`.
struct Blocking<S> {
    /// `None` when the transport could not be opened.
    stream: Option<S>,
    /// The epoch of the core's clock.
    start: Instant,
    /// The read and write timeout last given to the transport.
    timeout_set: Option<Duration>,
    /// The application's timeouts (read, write), put back when no timer
    /// of ours needs the transport's any more.
    saved: (Option<Duration>, Option<Duration>),
    /// Set by each call: whether it may wait.
    wait: bool,
}

impl<S: Transport> Blocking<S> {
    /// A write's or flush's result: one that "would block" at once, before
    /// any timeout could run out, is a non-blocking transport's: it pends,
    /// whatever the call wanted (a flush that went round again instead had
    /// a blocking `close` spin until its close timeout ended the
    /// connection, over a TLS stream whose records wait in `flush`).
    #[inline(always)]
    fn wrote<T>(&self, started: Option<Instant>, result: io::Result<T>) -> Poll<io::Result<T>> {
        match result {
            Err(e)
                if e.kind() == ErrorKind::WouldBlock
                    && match started {
                        Some(t) => t.elapsed() < MIN_TIMEOUT,
                        // No timer of ours: the application's own write
                        // timeout ran out (the caller's error, see
                        // `cut_short`), unless it set none.
                        None => !self.app_write_timeout(),
                    } =>
            {
                Poll::Pending
            }
            result => self.done(result),
        }
    }

    /// Whether a write that ended with "would block" (no timer of ours
    /// armed) waited out a write timeout the application set.
    #[cold]
    fn app_write_timeout(&self) -> bool {
        self.wait && self.stream.as_ref().is_some_and(|s| s.timeouts().1.is_some())
    }

    #[inline(always)]
    fn done<T>(&self, result: io::Result<T>) -> Poll<io::Result<T>> {
        match result {
            Err(e) if !self.wait && e.kind() == ErrorKind::WouldBlock => Poll::Pending,
            result => Poll::Ready(result),
        }
    }

    fn stream(&mut self) -> io::Result<&mut S> {
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::from(ErrorKind::NotConnected))
    }
}

impl<S: Transport> Io for Blocking<S> {
    #[inline]
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    #[inline]
    fn poll_deadline(&mut self, deadline: Option<Duration>) -> Poll<()> {
        if deadline.is_none() && self.timeout_set.is_none() {
            // Nothing to arm or disarm: no clock read on the hot path.
            return Poll::Pending;
        }
        let now = self.now();
        if deadline.is_some_and(|d| d <= now) {
            return Poll::Ready(());
        }
        if self.wait {
            let timeout = deadline.map(|d| d.saturating_sub(now).max(MIN_TIMEOUT));
            if needs_new_timeout(self.timeout_set, timeout) {
                // Setting a timeout fails only on a transport that is gone,
                // which the read or write that follows reports.
                if let Some(stream) = self.stream.as_mut() {
                    if self.timeout_set.is_none() {
                        self.saved = stream.timeouts();
                    }
                    let (read, write) = match timeout {
                        Some(_) => (timeout, timeout),
                        None => self.saved,
                    };
                    let _ = stream.set_read_timeout(read);
                    let _ = stream.set_write_timeout(write);
                }
                self.timeout_set = timeout;
            }
        }
        Poll::Pending
    }

    #[inline]
    fn poll_read(&mut self, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let result = self.stream().and_then(|s| s.read(buf));
        self.done(result)
    }

    // Always inlined, as is `poll_flush`: with the core's checks they are
    // the whole of a blocking send's write (benches/compare callgrind,
    // send_binary_16_b, blocking driver).
    #[inline(always)]
    fn poll_write(&mut self, buf: &[u8]) -> Poll<io::Result<usize>> {
        let started = self.timeout_set.map(|_| Instant::now());
        let result = self.stream().and_then(|s| s.write(buf));
        self.wrote(started, result)
    }

    // Only for payloads queued by reference: out of line.
    #[inline(never)]
    fn poll_write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let started = self.timeout_set.map(|_| Instant::now());
        let result = self.stream().and_then(|s| s.write_vectored(bufs));
        self.wrote(started, result)
    }

    #[inline(always)]
    fn poll_flush(&mut self) -> Poll<io::Result<()>> {
        let started = self.timeout_set.map(|_| Instant::now());
        let result = self.stream().and_then(|s| s.flush());
        self.wrote(started, result)
    }

    #[inline]
    fn poll_shutdown(&mut self) -> Poll<io::Result<()>> {
        let result = self.stream.as_mut().map_or(Ok(()), |s| s.shutdown());
        self.done(result)
    }

    #[inline]
    fn writes_wait(&self) -> bool {
        self.wait
    }

    #[inline]
    fn has_timer(&self) -> bool {
        self.timeout_set.is_some()
    }

    #[inline]
    fn reads_time_out(&self) -> bool {
        self.stream.as_ref().is_some_and(Transport::reads_time_out)
    }
}

/// The shortest timeout given to the transport (zero would mean none).
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// Whether the transport's timeouts, last set to `set`, must change to
/// bound the next read or write by `wanted`. A timeout counts from each
/// call, so one set earlier may overshoot the deadline by the time since:
/// it is reset once that slack passes an eighth of what remains (or when
/// it is less than half of it), which keeps the `setsockopt` calls few
/// while each deadline fires at most ~12% late.
fn needs_new_timeout(set: Option<Duration>, wanted: Option<Duration>) -> bool {
    match (set, wanted) {
        (None, None) => false,
        (Some(set), Some(wanted)) => set > wanted + wanted / 8 || set < wanted / 2,
        _ => true,
    }
}

/// TCP to the request's host, each address tried in turn, all of it by
/// `deadline` (the opening handshake's: a listener that never completes the
/// connection is given up on in time). Name resolution itself cannot be
/// bounded with the standard library.
fn open_tcp(request: &ClientRequest, default_port: u16, deadline: Option<Instant>) -> io::Result<TcpStream> {
    let address = with_default_port(request.host(), default_port);
    let Some(deadline) = deadline else {
        let stream = TcpStream::connect(address.as_str())?;
        stream.set_nodelay(true)?;
        return Ok(stream);
    };
    let mut last = io::Error::from(ErrorKind::AddrNotAvailable);
    for addr in std::net::ToSocketAddrs::to_socket_addrs(address.as_str())? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// When the opening handshake that starts at `start` must be over.
fn handshake_deadline(config: &Config, start: Instant) -> Option<Instant> {
    config.handshake_timeout.and_then(|t| start.checked_add(t))
}

/// A failure to connect, as the connection reports it: running out of
/// time is the handshake timeout.
fn connect_error(e: io::Error) -> Error {
    if e.kind() == ErrorKind::TimedOut {
        Error::Timeout(Timeout::Handshake)
    } else {
        Error::Io(e)
    }
}

/// TCP, then TLS when `secure`; a TCP failure is the `io::Error` (the DOM
/// constructor reports it as events), anything else is the constructor's.
fn open_stream(
    request: &ClientRequest,
    secure: bool,
    tls: Option<TlsConfig>,
    deadline: Option<Instant>,
) -> Result<io::Result<MaybeTlsStream>, Error> {
    if !secure {
        return Ok(open_tcp(request, 80, deadline).map(MaybeTlsStream::Plain));
    }
    #[cfg(feature = "rustls")]
    {
        let (config, name) = crate::tls::client_setup(request.host(), tls)?;
        let mut client = rustls::ClientConnection::new(config, name).map_err(|e| Error::Io(io::Error::other(e)))?;
        Ok(open_tcp(request, 443, deadline).and_then(|mut tcp| {
            transport::tls_handshake(&mut client, &mut tcp, deadline)?;
            Ok(MaybeTlsStream::Tls(Box::new(rustls::StreamOwned::new(client, tcp))))
        }))
    }
    #[cfg(not(feature = "rustls"))]
    {
        let _ = (tls, deadline);
        Err(Error::TlsNotEnabled)
    }
}

impl WebSocket<MaybeTlsStream> {
    /// `new WebSocket(url, protocols)`: opens a TCP connection (and TLS for
    /// `wss://`, with feature `rustls`) and starts the handshake, returning
    /// in [`ReadyState::Connecting`](crate::connection::ReadyState::Connecting). The outcome arrives as events: open,
    /// or error then close (code 1006).
    ///
    /// Errors only for the constructor's exceptions: a bad URL, a URL with
    /// a fragment, a protocol that is not a token or is repeated
    /// (`SyntaxError`, see [`Error::dom_exception`]), or `wss://` in a
    /// build without TLS.
    ///
    /// # Errors
    ///
    /// [`Error::Url`] for a URL that does not parse, has another scheme or
    /// a fragment; [`Error::Misuse`] with `InvalidProtocol` for a protocol
    /// that is not a token or is repeated; [`Error::TlsNotEnabled`] for
    /// `wss://` without feature `rustls`, and with it the TLS set-up's
    /// errors (as for `connect_tls`). Failing to connect is not an `Err`:
    /// it arrives as error and close events.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), rfc6455::Error> {
    /// use rfc6455::websocket::{Event, WebSocket};
    ///
    /// let mut ws = WebSocket::connect("ws://127.0.0.1:9001/", &["chat.v1"])?;
    /// while let Some(event) = ws.next_event() {
    ///     match event {
    ///         Event::Open => ws.send("hello")?,
    ///         Event::Message(message) => println!("{:?}", message.data),
    ///         Event::Error(error) => eprintln!("{}", error.error),
    ///         Event::Close(close) => println!("closed: {} {}", close.code, close.reason),
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect(url: &str, protocols: &[&str]) -> Result<Self, Error> {
        Self::connect_with(url, protocols, Config::default())
    }

    /// [`WebSocket::connect`] with settings.
    ///
    /// # Errors
    ///
    /// As [`WebSocket::connect`].
    pub fn connect_with(url: &str, protocols: &[&str], config: Config) -> Result<Self, Error> {
        Self::open(url, protocols, config, None)
    }

    /// [`WebSocket::connect`] with settings and the TLS client
    /// configuration for `wss://` (private roots, client certificates).
    ///
    /// # Errors
    ///
    /// As [`WebSocket::connect`]; also [`Error::Url`] for a host that is
    /// not a TLS server name and [`Error::Io`] when rustls refuses `tls`.
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
        // The opening handshake's deadline covers connecting and TLS too.
        let start = Instant::now();
        let deadline = handshake_deadline(&config, start);
        let (stream, failure) = match open_stream(&request, secure, tls, deadline)? {
            Ok(stream) => (Some(stream), None),
            Err(e) => (None, Some(connect_error(e))),
        };
        let mut ws = Self::new(Connection::client(request, config), stream, shown);
        ws.io.start = start;
        if let Some(error) = failure {
            ws.driver.fail(error);
        }
        Ok(ws)
    }

    /// Connects and completes the handshake before returning; any failure
    /// is the `Err`. `secure` asks for TLS (the default configuration,
    /// `rfc6455::tls::default_client_config` with feature `rustls`), and
    /// [`url`](Self::url) then shows `wss://`. The server's 101 headers are
    /// in `connection().response_headers()`; an `http::Request` becomes a
    /// request and `secure` through `rfc6455::http::client_request`
    /// (feature `http`).
    ///
    /// # Errors
    ///
    /// Whatever keeps the connection from opening: [`Error::Io`] when
    /// connecting or the transport fails, [`Error::Timeout`] once
    /// `handshake_timeout` passes (connecting included),
    /// [`Error::Handshake`] for a request that fails
    /// [`ClientRequest::check`] or an answer RFC 6455 §4.1 refuses, and
    /// [`Error::TlsNotEnabled`] for `secure` without feature `rustls` (with
    /// it, [`Error::Url`] for a host that is not a TLS server name).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), rfc6455::Error> {
    /// use rfc6455::{ClientRequest, Config, websocket::WebSocket};
    ///
    /// let request = ClientRequest::new("127.0.0.1:9001", "/chat").header("Cookie", "session=42");
    /// let mut ws = WebSocket::connect_request(request, false, Config::default())?;
    /// ws.send_text("open already")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect_request(request: ClientRequest, secure: bool, config: Config) -> Result<Self, Error> {
        let start = Instant::now();
        let deadline = handshake_deadline(&config, start);
        let stream = open_stream(&request, secure, None, deadline)?.map_err(connect_error)?;
        let url = client_url(&request, secure);
        Self::client_from(stream, request, config, start, url)
    }
}

impl<S: Transport> WebSocket<S> {
    fn new(conn: Connection, stream: Option<S>, url: String) -> Self {
        Self {
            driver: Driver::new(conn, url),
            io: Blocking {
                stream,
                start: Instant::now(),
                timeout_set: None,
                saved: (None, None),
                wait: true,
            },
            listeners: Vec::new(),
            next_listener: 0,
        }
    }

    /// Runs one driver-core call over the transport; `wait` false makes a
    /// transport that would block answer `Pending`.
    #[inline]
    fn drive<T>(&mut self, wait: bool, f: impl FnOnce(&mut Driver, &mut Blocking<S>) -> Poll<T>) -> Poll<T> {
        self.io.wait = wait;
        f(&mut self.driver, &mut self.io)
    }

    /// A blocking call's result (a blocking [`Io`] never pends; a transport
    /// that is non-blocking all the same reports `WouldBlock`).
    fn wait(&mut self, f: impl FnOnce(&mut Driver, &mut Blocking<S>) -> Poll<Result<(), Error>>) -> Result<(), Error> {
        match self.drive(true, f) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::Error::from(ErrorKind::WouldBlock).into()),
        }
    }

    /// `new WebSocket(url, protocols)` over a transport the caller opened
    /// (a TLS stream, a Unix socket, a proxy tunnel). Returns in
    /// [`ReadyState::Connecting`](crate::connection::ReadyState::Connecting); see [`WebSocket::connect`].
    ///
    /// # Errors
    ///
    /// The constructor's exceptions only: [`Error::Url`] for a bad URL,
    /// [`Error::Misuse`] with `InvalidProtocol` for a bad protocol list.
    pub fn with_stream(stream: S, url: &str, protocols: &[&str], config: Config) -> Result<Self, Error> {
        let (request, _, shown) = dom_request(url, protocols)?;
        Ok(Self::new(Connection::client(request, config), Some(stream), shown))
    }

    /// Performs the client handshake over `stream` before returning; any
    /// failure is the `Err`. The open event is still delivered first.
    ///
    /// # Errors
    ///
    /// As [`WebSocket::connect_request`], the stream being open already.
    pub fn client(stream: S, request: ClientRequest, config: Config) -> Result<Self, Error> {
        // The caller's stream may be TLS; nothing here can tell.
        let url = client_url(&request, false);
        Self::client_from(stream, request, config, Instant::now(), url)
    }

    /// [`WebSocket::client`] for a handshake whose deadline counts from
    /// `start`.
    fn client_from(
        stream: S,
        request: ClientRequest,
        config: Config,
        start: Instant,
        url: String,
    ) -> Result<Self, Error> {
        let mut ws = Self::new(Connection::client(request, config), Some(stream), url);
        ws.io.start = start;
        ws.handshake(None::<fn(&Request) -> Result<Accept, u16>>)?;
        Ok(ws)
    }

    /// Performs the server handshake over `stream`, accepting any valid
    /// request without a subprotocol.
    ///
    /// # Errors
    ///
    /// [`Error::Handshake`] for a request RFC 6455 §4.2.1 refuses (the 400,
    /// 426 or 431 is written first) or a transport that ends before it,
    /// [`Error::Timeout`] once `handshake_timeout` passes, [`Error::Io`]
    /// when the transport fails.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), rfc6455::Error> {
    /// use rfc6455::{Message, websocket::WebSocket};
    ///
    /// let listener = std::net::TcpListener::bind("127.0.0.1:9001")?;
    /// for stream in listener.incoming() {
    ///     std::thread::spawn(move || -> Result<(), rfc6455::Error> {
    ///         let mut ws = WebSocket::accept(stream?)?;
    ///         while let Some(message) = ws.read()? {
    ///             match message {
    ///                 Message::Text(text) => ws.send_text(&text)?,
    ///                 Message::Binary(bytes) => ws.send_binary(&bytes)?,
    ///                 _ => {}
    ///             }
    ///         }
    ///         Ok(())
    ///     });
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn accept(stream: S) -> Result<Self, Error> {
        Self::accept_with(stream, Config::default(), |_| Ok(Accept::new()))
    }

    /// Performs the server handshake over `stream`; `decide` sees the
    /// request and accepts it or refuses it with an HTTP status. Returns
    /// once open; the open event is still delivered first.
    ///
    /// # Errors
    ///
    /// As [`WebSocket::accept`]; also [`Error::Handshake`] with
    /// `Rejected(status)` when `decide` refuses, and the error of
    /// [`Connection::accept`] when it refuses what `decide` accepted with.
    pub fn accept_with(
        stream: S,
        config: Config,
        decide: impl FnOnce(&Request) -> Result<Accept, u16>,
    ) -> Result<Self, Error> {
        let mut ws = Self::new(Connection::server(config), Some(stream), String::new());
        ws.handshake(Some(decide))?;
        // The 101 goes out now: a server that only sends later must not
        // leave the client waiting for it.
        ws.flush()?;
        Ok(ws)
    }

    /// Drives the opening handshake to the open event, keeping that event
    /// for `next_event`; a failure is the `Err`.
    fn handshake(&mut self, decide: Option<impl FnOnce(&Request) -> Result<Accept, u16>>) -> Result<(), Error> {
        let mut decide = decide;
        self.wait(|driver, io| driver.poll_handshake(io, &mut decide))
    }

    /// Runs a connection whose handshake happened elsewhere (see
    /// [`Connection::established`]). [`WebSocket::url`] is empty.
    pub fn from_connection(conn: Connection, stream: S) -> Self {
        Self::new(conn, Some(stream), String::new())
    }

    // ------------------------------------------------------------ attributes

    dom_attributes!(driver);

    /// The transport (`None` if it could not be opened).
    pub fn get_ref(&self) -> Option<&S> {
        self.io.stream.as_ref()
    }

    /// When the socket next needs the clock (a timer of the protocol, or
    /// giving an idle connection's read buffer back), on the `Instant`
    /// scale; for event loops driving a non-blocking transport.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.driver.poll_timeout().and_then(|d| self.io.start.checked_add(d))
    }

    // ------------------------------------------------------------ methods

    /// The DOM's `send(data)`: `&str`/`String` as text, `&[u8]`/`Vec<u8>` as
    /// binary.
    ///
    /// While connecting: [`Error::Misuse`] (`InvalidStateError`).
    /// While closing or closed: the data is discarded and
    /// [`WebSocket::buffered_amount`] grows. While open: the message is
    /// queued and written until at most [`WebSocket::high_water_mark`]
    /// bytes stay queued, blocking as the transport does.
    ///
    /// As in the DOM, a transport failure is not the caller's error: it
    /// fails the connection and arrives as error and close events.
    ///
    /// # Errors
    ///
    /// [`Error::Misuse`] with `SendWhileConnecting` before the connection
    /// is open.
    pub fn send<'a>(&mut self, data: impl Into<Data<'a>>) -> Result<(), Error> {
        if self.driver.send(&data.into())? {
            let limit = self.driver.high_water_mark;
            let _ = self.drive(true, |driver, io| driver.poll_drain(io, limit));
        }
        Ok(())
    }

    /// Sends a text message (see [`WebSocket::send`]).
    ///
    /// # Errors
    ///
    /// As [`WebSocket::send`].
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send(text)
    }

    /// Sends a binary message (see [`WebSocket::send`]).
    ///
    /// # Errors
    ///
    /// As [`WebSocket::send`].
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send(data)
    }

    /// Sends a [`Message`] by the rules a Rust caller expects rather than
    /// the DOM's: text, binary, a part of a message (one frame of a
    /// fragmented message, see [`Message::TextPart`]; the next text or
    /// binary message of its kind ends it), a ping or a pong,
    /// written until at most [`WebSocket::high_water_mark`] bytes stay
    /// queued. Forwarding each message [`WebSocket::read`] returns relays
    /// them, parts included.
    ///
    /// ```no_run
    /// use rfc6455::{ClientRequest, Config, WebSocket};
    /// use std::net::{TcpListener, TcpStream};
    ///
    /// // Relay messages of any size in the memory of one read.
    /// let config = Config::default().stream_messages(true).max_message_size(usize::MAX);
    /// let (client, _) = TcpListener::bind("127.0.0.1:9004")?.accept()?;
    /// let mut from = WebSocket::accept_with(client, config.clone(), |_| Ok(Default::default()))?;
    /// let upstream = TcpStream::connect("127.0.0.1:9001")?;
    /// let mut to = WebSocket::client(upstream, ClientRequest::new("127.0.0.1:9001", "/"), config)?;
    /// while let Some(message) = from.read()? {
    ///     to.send_message(message)?;
    /// }
    /// # Ok::<(), rfc6455::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Misuse`] before the connection is open
    /// ([`Misuse::NotOpen`](crate::Misuse::NotOpen)), once it is closing or
    /// closed ([`Misuse::Closing`](crate::Misuse::Closing)) and for what
    /// the core refuses (a part of the other kind while a message is sent
    /// in parts, a control payload over 125 bytes); the transport's I/O
    /// error once it failed.
    pub fn send_message(&mut self, message: Message) -> Result<(), Error> {
        self.driver.start_send(message)?;
        let limit = self.driver.high_water_mark;
        self.wait(|driver, io| driver.poll_sink_drain(io, limit))
    }

    /// Starts a message sent as one frame whose header declares its
    /// length, `len` bytes of text (`text`) or binary, for a message whose
    /// size is known before its bytes (a file): the payload follows through
    /// [`WebSocket::send_payload`], and no other message goes out until
    /// its last byte has (pings and pongs wait behind it; see
    /// [`Connection::begin_message`]).
    ///
    /// # Errors
    ///
    /// Those of [`WebSocket::send_message`], and
    /// [`Misuse::MessageInProgress`](crate::Misuse::MessageInProgress)
    /// while a message is under way.
    pub fn begin_message(&mut self, text: bool, len: u64) -> Result<(), Error> {
        self.driver.begin_message(text, len)?;
        let limit = self.driver.high_water_mark;
        self.wait(|driver, io| driver.poll_sink_drain(io, limit))
    }

    /// The next bytes of the frame [`WebSocket::begin_message`] declared,
    /// written down to the high-water mark. A frame under way is finished
    /// even after the peer's close: the close reply follows it.
    ///
    /// # Errors
    ///
    /// Those of [`Connection::send_payload`] (more bytes than declared,
    /// text that is not UTF-8, no frame under way, the connection failed),
    /// and the transport's once it failed.
    pub fn send_payload(&mut self, data: &[u8]) -> Result<(), Error> {
        self.driver.send_payload(data)?;
        let limit = self.driver.high_water_mark;
        self.wait(|driver, io| driver.poll_drain(io, limit).map(Ok))
    }

    /// Non-blocking send for event loops over a non-blocking transport:
    /// refuses with [`Error::WouldBlock`] while more than the high-water
    /// mark is queued, otherwise queues the message and writes what the
    /// transport takes now.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] above the high-water mark (nothing is
    /// queued), the errors of [`WebSocket::send`], and those of
    /// [`WebSocket::try_flush`] for the write.
    pub fn try_send<'a>(&mut self, data: impl Into<Data<'a>>) -> Result<(), Error> {
        if self.driver.over_high_water_mark() {
            return Err(Error::WouldBlock);
        }
        if self.driver.send(&data.into())? {
            self.try_flush()?;
        }
        Ok(())
    }

    /// Sends a ping.
    ///
    /// # Errors
    ///
    /// Those of [`Connection::ping`] (not open, or a payload over 125
    /// bytes), then those of [`WebSocket::flush`].
    pub fn ping(&mut self, data: &[u8]) -> Result<(), Error> {
        self.driver.ping(data)?;
        self.flush()
    }

    /// The DOM's `close(code, reason)`.
    ///
    /// Arguments first: `code` must be 1000 or 3000–4999
    /// (`InvalidAccessError`), `reason` at most 123 UTF-8 bytes
    /// (`SyntaxError`). Then: closing or closed, nothing happens;
    /// connecting, the connection fails (error, then close with 1006);
    /// open, the close handshake starts. A `reason` without a `code` is
    /// ignored, as in the DOM.
    ///
    /// # Errors
    ///
    /// [`Error::Misuse`] with `DomCloseCode` or `ReasonTooLong` for the
    /// arguments (nothing changes then); [`Error::Io`] when writing the
    /// close frame fails.
    pub fn close(&mut self, code: Option<u16>, reason: Option<&str>) -> Result<(), Error> {
        self.driver.close(self.io.now(), code, reason)?;
        self.settle()
    }

    /// Starts the close handshake with any sendable code (1001 going away,
    /// 1008 policy, 1011 server error…), which servers need and the DOM
    /// does not allow. Otherwise as [`WebSocket::close`].
    ///
    /// # Errors
    ///
    /// As [`Connection::close`] for the arguments, then [`Error::Io`] when
    /// writing the close frame fails.
    pub fn close_with(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.driver.close_with(self.io.now(), code, reason)?;
        self.settle()
    }

    /// After a close: write the close frame, or, if the connection failed,
    /// close the transport now rather than at the next event. Over a
    /// non-blocking transport the close has started all the same: the rest
    /// goes out with `try_flush` or `try_next_event`.
    fn settle(&mut self) -> Result<(), Error> {
        match self.wait(|driver, io| driver.poll_settle(io)) {
            Err(Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => Ok(()),
            result => result,
        }
    }

    /// Writes all queued output, blocking as the transport does.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a write fails or the transport is already closed.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.wait(|driver, io| driver.poll_write_down_to(io, 0))
    }

    /// Writes what the transport takes without blocking; `true` once
    /// nothing is queued.
    ///
    /// # Errors
    ///
    /// As [`WebSocket::flush`].
    pub fn try_flush(&mut self) -> Result<bool, Error> {
        match self.drive(false, |driver, io| driver.poll_write_down_to(io, 0)) {
            Poll::Ready(Ok(())) => Ok(true),
            Poll::Pending => Ok(false),
            Poll::Ready(Err(e)) => Err(e),
        }
    }

    // ------------------------------------------------------------ events

    /// The next event, blocking until there is one; `None` after the close
    /// event. Reads from the transport only when no event is ready.
    ///
    /// Over a non-blocking transport use [`WebSocket::try_next_event`]:
    /// here a read that would block is read again at once, as a blocking
    /// read that timed out is (the transport cannot tell them apart), so
    /// the call spins until bytes arrive.
    pub fn next_event(&mut self) -> Option<Event> {
        match self.drive(true, |driver, io| driver.poll_event(io)) {
            Poll::Ready(event) => event,
            Poll::Pending => None,
        }
    }

    /// [`WebSocket::next_event`] for a non-blocking transport: `None` when
    /// no event is ready yet (or after the close event; see
    /// [`WebSocket::ready_state`]).
    pub fn try_next_event(&mut self) -> Option<Event> {
        match self.drive(false, |driver, io| driver.poll_event(io)) {
            Poll::Ready(event) => event,
            Poll::Pending => None,
        }
    }

    /// The events, until the close event (inclusive).
    pub fn events(&mut self) -> impl Iterator<Item = Event> + '_ {
        core::iter::from_fn(move || self.next_event())
    }

    /// The next message, pings and pongs included; skips the open event.
    /// `Ok(None)` once the connection closed (see
    /// [`WebSocket::peer_close`]); a failure is one `Err`, then `Ok(None)`.
    ///
    /// # Errors
    ///
    /// The failure that ended the connection, once, as its error event
    /// carries it: the peer's ([`Error::Protocol`],
    /// [`Error::LimitExceeded`]), the handshake's, a timer's or the
    /// transport's ([`Error::Io`], [`Error::UnexpectedEof`]).
    /// [`Error::WouldBlock`] when a non-blocking transport cannot take a
    /// write now.
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        match self.drive(true, |driver, io| driver.poll_message(io)) {
            Poll::Ready(message) => message.transpose(),
            Poll::Pending => Err(Error::WouldBlock),
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
            // A listener that panics stays registered and callable (DOM
            // "inner invoke": an exception is reported, the listener kept):
            // it goes back into its slot before the panic goes on.
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(self, event)));
            if let Some(slot) = self.listeners.iter_mut().find(|l| l.id == id) {
                // A handler set again while running keeps the new callback.
                slot.callback.get_or_insert(callback);
            }
            if let Err(panic) = ran {
                std::panic::resume_unwind(panic);
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
}

impl<S: Transport> Drop for WebSocket<S> {
    /// Dropping an open socket starts the closing handshake with no status
    /// code (WHATWG, "Garbage collection") and writes the close frame,
    /// blocking at most until the close timeout. The peer's answer is not
    /// awaited; close with [`WebSocket::close`] and read to the close event
    /// for a complete close handshake.
    fn drop(&mut self) {
        if self.driver.close_on_drop(self.io.now()) {
            let _ = self.flush();
        }
        // A borrowed transport (`&mut T`) outlives the socket: give it back
        // with the application's timeouts, not a deadline of ours.
        if self.io.timeout_set.is_some() {
            self.io.wait = true;
            let _ = self.io.poll_deadline(None);
        }
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

    // Only a transport whose reads time out keeps its read buffer across a
    // short read (the driver's `KEEP_READ_BUFFER`): for any other, the
    // timer that gives it back could never cut a read short.
    #[test]
    fn sockets_bound_their_reads_and_plain_streams_do_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert!(tcp.reads_time_out());
        assert!(<&mut TcpStream as Transport>::reads_time_out(&&mut tcp));
        assert!(Box::new(MaybeTlsStream::Plain(tcp.try_clone().unwrap())).reads_time_out());
        let blocking = |stream: Box<dyn Transport>| Blocking {
            stream: Some(stream),
            start: Instant::now(),
            timeout_set: None,
            saved: (None, None),
            wait: true,
        };
        assert!(Io::reads_time_out(&blocking(Box::new(tcp))));
        #[cfg(unix)]
        assert!(std::os::unix::net::UnixStream::pair().unwrap().0.reads_time_out());
        assert!(!Plain(io::empty()).reads_time_out());
        assert!(!Io::reads_time_out(&blocking(Box::new(Plain(io::empty())))));
    }

    /// An in-memory transport: reads find nothing (a non-blocking socket),
    /// writes are taken, `flush` would block if `.2` is set (a TLS stream
    /// over a socket whose send buffer is full: rustls writes its records
    /// in `flush`), and the timeouts it is given are kept, starting with
    /// the application's.
    struct Mem(Option<Duration>, Option<Duration>, bool);

    impl io::Read for Mem {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(ErrorKind::WouldBlock.into())
        }
    }

    impl io::Write for Mem {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            match self.2 {
                true => Err(ErrorKind::WouldBlock.into()),
                false => Ok(()),
            }
        }
    }

    impl Transport for Mem {
        fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
            self.0 = timeout;
            Ok(())
        }

        fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
            self.1 = timeout;
            Ok(())
        }

        fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
            (self.0, self.1)
        }
    }

    // The driver's deadlines bound reads and writes in place of the
    // application's timeouts only while one is armed: once none is, the
    // application's come back (they had been cleared for good, so after
    // the read buffer's release a write to a peer that stopped reading
    // could wait forever where the application had bounded it).
    #[test]
    fn the_application_s_timeouts_come_back_once_no_deadline_is_armed() {
        let app = (Some(Duration::from_secs(7)), Some(Duration::from_secs(9)));
        let mut io = Blocking {
            stream: Some(Mem(app.0, app.1, false)),
            start: Instant::now(),
            timeout_set: None,
            saved: (None, None),
            wait: true,
        };
        let ours = |io: &Blocking<Mem>, at_most: u64| {
            let Mem(read, write, _) = io.stream.as_ref().unwrap();
            let bound = Duration::from_secs(at_most);
            assert!(read.is_some_and(|t| t <= bound) && read == write, "{read:?} {write:?}");
        };
        assert!(io.poll_deadline(Some(io.now() + Duration::from_secs(60))).is_pending());
        ours(&io, 60);
        // A sooner deadline replaces ours, not the application's.
        assert!(io.poll_deadline(Some(io.now() + Duration::from_secs(1))).is_pending());
        ours(&io, 1);
        assert!(io.poll_deadline(None).is_pending());
        let Mem(read, write, _) = io.stream.as_ref().unwrap();
        assert_eq!((*read, *write), app);

        // A socket reports the timeouts it was given.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert_eq!(Transport::timeouts(&tcp), (None, None));
        tcp.set_read_timeout(app.0).unwrap();
        tcp.set_write_timeout(app.1).unwrap();
        assert_eq!(Transport::timeouts(&tcp), app);
        assert_eq!(Transport::timeouts(&MaybeTlsStream::Plain(tcp)), app);
    }

    // A flush that "would block" at once is a non-blocking transport's, as
    // a write that does: the call reports it (`close` has started all the
    // same) instead of flushing again until a timer of ours ends the
    // connection, which a `close` (its close timeout) and a `flush` with
    // keepalive on did for seconds, spinning.
    #[test]
    fn a_flush_that_would_block_at_once_is_reported_not_retried() {
        let server = |config| {
            let conn = Connection::established(crate::connection::Role::Server, config, &[]);
            let mut ws = WebSocket::from_connection(conn, Mem(None, None, true));
            assert!(matches!(ws.try_next_event(), Some(Event::Open)));
            ws
        };
        let mut ws = server(Config::default());
        let started = Instant::now();
        assert!(ws.close(Some(1000), None).is_ok());
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "close spun {:?}",
            started.elapsed()
        );
        assert_eq!(ws.ready_state(), crate::connection::ReadyState::Closing);

        let mut ws = server(Config::default().keepalive_interval(Some(Duration::from_secs(1))));
        ws.try_send("hello").unwrap();
        let started = Instant::now();
        let flushed = ws.flush();
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "flush spun {:?}",
            started.elapsed()
        );
        assert!(
            matches!(&flushed, Err(Error::Io(e)) if e.kind() == ErrorKind::WouldBlock),
            "{flushed:?}"
        );
        assert_eq!(ws.ready_state(), crate::connection::ReadyState::Open);
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
