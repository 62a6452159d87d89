//! The DOM-style `WebSocket` over tokio: any `AsyncRead + AsyncWrite +
//! Unpin` transport, the same rules as the blocking driver.
//!
//! Both drivers run the same sans-IO layers — the protocol core
//! ([`Connection`]) and the DOM's rules (readyState, bufferedAmount, event
//! order) — and only move bytes and time. The core's timers become one
//! `tokio::time::Sleep`, armed only while the core has a deadline.
//!
//! # Panics
//!
//! The runtime needs its time driver (`#[tokio::main]` and
//! `Builder::enable_all` enable it): the opening handshake, the close
//! handshake and keepalive have deadlines, and tokio panics when a sleep is
//! polled on a runtime built with `enable_io` alone.
//!
//! Beyond the DOM's events, [`WebSocket`] is a `Stream` of [`Message`]s and
//! a `Sink` of them, and [`WebSocket::split`] gives a read half and a write
//! half for separate tasks. Every future here is cancellation-safe: state
//! lives in the socket, not in the future, so dropping a pending
//! [`WebSocket::next_event`] or [`WebSocket::read`] (in a `select!`, under
//! a timeout) loses nothing, and a dropped [`WebSocket::send`] has queued
//! its whole message.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rfc6455::Error> {
//! use rfc6455::tokio::WebSocket;
//! use rfc6455::Message;
//!
//! let mut ws = WebSocket::connect("ws://127.0.0.1:9001/", &[]).await?;
//! ws.send("Hello Server!").await?;
//! while let Some(message) = ws.read().await? {
//!     if let Message::Text(text) = message {
//!         println!("{text}");
//!         ws.close(Some(1000), None).await?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod split;
mod stream;

pub use split::{ReadHalf, WriteHalf};
pub use stream::MaybeTlsStream;

use crate::close::{CloseCode, OwnedCloseFrame};
use crate::config::Config;
use crate::connection::{Connection, ReadyState};
use crate::dom::{BinaryType, Data, Dom, Event, Message, Next, Received, dom_request, with_default_port};
use crate::error::Error;
use crate::handshake::{Accept, ClientRequest, Request};
use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::TcpStream;
use ::tokio::time::{Instant, Sleep};
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::boxed::Box;
use std::io::{self, ErrorKind};
use std::string::String;
use std::vec::Vec;

/// Reads shorter than this suggest a quiet peer: the next read waits in a
/// stack buffer, so an idle connection holds no read buffer.
const IDLE_READ: usize = 512;

/// What a poll of the DOM layer produced. `M` is a message in the form
/// the caller returns.
enum Step<M> {
    Message(M),
    /// Open, error or close.
    Dom(Event),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Decide,
}

/// The driver's state; the halves of [`WebSocket::split`] share it.
struct Inner<S> {
    dom: Dom,
    /// `None` when the transport could not be opened.
    stream: Option<S>,
    binary_type: BinaryType,
    /// The epoch of the core's clock.
    start: Instant,
    /// Armed while the core has a deadline; dropped when it has none, so
    /// an idle connection holds no timer.
    sleep: Option<Pin<Box<Sleep>>>,
    high_water_mark: usize,
    /// Bytes the last read returned, to tell a quiet peer from a stream.
    last_read: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    fn new(conn: Connection, stream: Option<S>, url: String) -> Self {
        Self {
            dom: Dom::new(conn, url),
            stream,
            binary_type: BinaryType::default(),
            start: Instant::now(),
            sleep: None,
            high_water_mark: 0,
            last_read: 0,
        }
    }

    /// One event, message, ping or pong, or `None` after the close event.
    /// `message` makes a received message into the form the caller returns.
    fn poll_step<M>(&mut self, cx: &mut Context<'_>, message: impl Fn(Received<'_>) -> M) -> Poll<Option<Step<M>>> {
        loop {
            match self.dom.next(&message) {
                Next::Event(event) => return Poll::Ready(Some(Step::Dom(event))),
                Next::Message(m) => return Poll::Ready(Some(Step::Message(m))),
                Next::Ping(data) => {
                    // Send the pong before handing the ping over, as far as
                    // the transport takes it now.
                    if let Poll::Ready(Err(e)) = self.poll_write_down_to(cx, 0) {
                        self.dom.write_failed(e);
                    }
                    return Poll::Ready(Some(Step::Ping(data)));
                }
                Next::Pong(data) => return Poll::Ready(Some(Step::Pong(data))),
                Next::Decide => return Poll::Ready(Some(Step::Decide)),
                Next::Done => return Poll::Ready(None),
                Next::CloseTransport => ready!(self.poll_close_transport(cx)),
                Next::Write => match self.poll_write_down_to(cx, 0) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => self.dom.write_failed(e),
                    // The peer may be waiting for us to read before it reads
                    // what we write (two pipelining peers): read on.
                    Poll::Pending if self.dom.may_read_while_write_blocked() => ready!(self.poll_read_once(cx)),
                    Poll::Pending => return Poll::Pending,
                },
                Next::Read => ready!(self.poll_read_once(cx)),
            }
        }
    }

    /// Writes until at most `limit` bytes stay queued (and flushes when
    /// `limit` is 0).
    fn poll_write_down_to(&mut self, cx: &mut Context<'_>, limit: usize) -> Poll<Result<(), Error>> {
        let stream = match &mut self.stream {
            Some(stream) if self.dom.transport_open() => stream,
            _ => return Poll::Ready(Err(Error::Io(io::Error::from(ErrorKind::NotConnected)))),
        };
        while self.dom.conn.pending_output().len() > limit {
            match ready!(Pin::new(&mut *stream).poll_write(cx, self.dom.conn.pending_output())) {
                Ok(0) => return Poll::Ready(Err(io::Error::from(ErrorKind::WriteZero).into())),
                Ok(n) => self.dom.wrote(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
        if limit == 0 {
            ready!(Pin::new(stream).poll_flush(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Reads once into the core, or lets the core's deadline pass; ready
    /// once something happened.
    fn poll_read_once(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(deadline) = self.dom.conn.poll_timeout() {
            let at = self.start + deadline;
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(::tokio::time::sleep_until(at)));
            if sleep.deadline() != at {
                sleep.as_mut().reset(at);
            }
            if sleep.as_mut().poll(cx).is_ready() {
                self.tick();
                return Poll::Ready(());
            }
        } else {
            self.sleep = None;
        }
        let stream = match &mut self.stream {
            Some(stream) if self.dom.transport_open() => Pin::new(stream),
            _ => {
                self.dom
                    .read_failed(Error::Io(io::Error::from(ErrorKind::NotConnected)));
                return Poll::Ready(());
            }
        };
        let conn = &mut self.dom.conn;
        let now = self.start.elapsed();
        // After a short read with nothing left to parse, the peer is likely
        // quiet: wait in a stack buffer so an idle connection holds no heap
        // buffer; a streaming peer keeps reading straight into the core.
        // The core hears the time before the bytes: timers the bytes
        // re-arm (keepalive) count from now.
        let result = if self.last_read < IDLE_READ && !conn.has_buffered_input() {
            conn.release_buffers();
            let mut small = [0u8; IDLE_READ];
            let mut buf = ReadBuf::new(&mut small);
            ready!(stream.poll_read(cx, &mut buf)).map(|()| {
                conn.handle_timeout(now);
                conn.receive(buf.filled());
                buf.filled().len()
            })
        } else {
            let mut buf = ReadBuf::new(conn.read_buffer());
            let result = ready!(stream.poll_read(cx, &mut buf));
            let n = buf.filled().len();
            result.map(|()| {
                conn.handle_timeout(now);
                conn.commit_read(n);
                n
            })
        };
        match result {
            Ok(0) => conn.receive_eof(),
            Ok(n) => self.last_read = n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => self.dom.read_failed(e.into()),
        }
        self.tick();
        Poll::Ready(())
    }

    /// Tells the core the time: timers it arms next (a close) count from
    /// now, not from the last read.
    fn tick(&mut self) {
        self.dom.conn.handle_timeout(self.start.elapsed());
    }

    /// Writes what the transport takes now (a close frame a failure
    /// queued, or an HTTP refusal), then shuts it down.
    fn poll_close_transport(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(stream) = &mut self.stream {
            while self.dom.flush_before_close() && !self.dom.conn.pending_output().is_empty() {
                match Pin::new(&mut *stream).poll_write(cx, self.dom.conn.pending_output()) {
                    Poll::Ready(Ok(n)) if n > 0 => self.dom.wrote(n),
                    _ => break,
                }
            }
            // A shutdown error changes nothing: the connection is over.
            let _ = ready!(Pin::new(stream).poll_shutdown(cx));
        }
        self.dom.transport_closed();
        self.sleep = None;
        Poll::Ready(())
    }

    /// The next event for [`WebSocket::next_event`].
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let binary_type = self.binary_type;
        loop {
            match ready!(self.poll_step(cx, |m| m.into_event(binary_type))) {
                Some(Step::Message(event) | Step::Dom(event)) => return Poll::Ready(Some(event)),
                Some(Step::Ping(_) | Step::Pong(_) | Step::Decide) => {}
                None => return Poll::Ready(None),
            }
        }
    }

    /// The next message for [`WebSocket::read`] and the `Stream`.
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        loop {
            // The message is copied once, from the core's buffer into the
            // `Message`; no event is built for it.
            match ready!(self.poll_step(cx, |m| m.into_message())) {
                Some(Step::Message(message)) => return Poll::Ready(Some(Ok(message))),
                Some(Step::Ping(data)) => return Poll::Ready(Some(Ok(Message::Ping(data)))),
                Some(Step::Pong(data)) => return Poll::Ready(Some(Ok(Message::Pong(data)))),
                Some(Step::Dom(Event::Error(e))) => return Poll::Ready(Some(Err(e.error))),
                Some(Step::Dom(_) | Step::Decide) => {}
                None => return Poll::Ready(None),
            }
        }
    }

    /// Drives the opening handshake to the open event, keeping that event
    /// for the application; a failure is the `Err`.
    fn poll_handshake(
        &mut self,
        cx: &mut Context<'_>,
        decide: &mut Option<impl FnOnce(&Request) -> Result<Accept, u16>>,
    ) -> Poll<Result<(), Error>> {
        let binary_type = self.binary_type;
        loop {
            match ready!(self.poll_step(cx, |m| m.into_event(binary_type))) {
                Some(Step::Dom(Event::Open)) => {
                    self.dom.unread(Event::Open);
                    return Poll::Ready(Ok(()));
                }
                Some(Step::Dom(Event::Error(e))) => return Poll::Ready(Err(e.error)),
                Some(Step::Decide) => self.dom.decide(decide)?,
                Some(_) => {}
                None => return Poll::Ready(Err(Error::Io(io::Error::from(ErrorKind::UnexpectedEof)))),
            }
        }
    }

    /// Backpressure: ready once at most the high-water mark is queued. A
    /// transport failure is not the caller's error (as in the DOM): it
    /// becomes error and close events.
    fn poll_drain(&mut self, cx: &mut Context<'_>, limit: usize) -> Poll<()> {
        if !self.dom.transport_open() {
            return Poll::Ready(());
        }
        if let Err(e) = ready!(self.poll_write_down_to(cx, limit)) {
            self.dom.write_failed(e);
        }
        Poll::Ready(())
    }

    /// After a close: write the close frame, or close the transport of a
    /// connection that failed.
    fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.dom.transport_to_close() {
            ready!(self.poll_close_transport(cx));
        }
        if self.dom.transport_open() && !self.dom.conn.pending_output().is_empty() {
            return self.poll_write_down_to(cx, 0);
        }
        Poll::Ready(Ok(()))
    }

    /// The `Sink`'s `start_send`: text and binary per the DOM's rules,
    /// pings and pongs as control frames.
    fn start_send(&mut self, message: Message) -> Result<(), Error> {
        match message {
            Message::Text(text) => self.dom.send(&Data::from(text)).map(drop),
            Message::Binary(bytes) => self.dom.send(&Data::from(bytes)).map(drop),
            Message::Ping(data) => self.dom.conn.ping(&data),
            Message::Pong(data) => self.dom.conn.pong(&data),
        }
    }

    /// The `Sink`'s `poll_close`: start the close handshake with 1000 if
    /// open, and write it. The peer's answer arrives on the read side.
    fn poll_sink_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.dom.ready_state() == ReadyState::Open {
            self.tick();
            self.dom.close(Some(1000), None)?;
        }
        self.poll_settle(cx)
    }
}

/// The browser's `WebSocket` over a tokio transport.
pub struct WebSocket<S = MaybeTlsStream> {
    inner: Inner<S>,
}

impl<S> core::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebSocket")
            .field("dom", &self.inner.dom)
            .finish_non_exhaustive()
    }
}

impl WebSocket<MaybeTlsStream> {
    /// Connects to `url` (`ws://`, or `wss://` with feature `rustls`) with
    /// the given subprotocols and completes the handshake; any failure is
    /// the `Err` (the DOM constructor's exceptions included, see
    /// [`Error::dom_exception`]). The open event is still the first event.
    pub async fn connect(url: &str, protocols: &[&str]) -> Result<Self, Error> {
        Self::connect_with(url, protocols, Config::default()).await
    }

    /// [`WebSocket::connect`] with settings.
    pub async fn connect_with(url: &str, protocols: &[&str], config: Config) -> Result<Self, Error> {
        Self::open(url, protocols, config, None).await
    }

    /// [`WebSocket::connect`] with settings and the TLS client
    /// configuration for `wss://` (private roots, client certificates).
    #[cfg(feature = "rustls")]
    pub async fn connect_tls(
        url: &str,
        protocols: &[&str],
        config: Config,
        tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> Result<Self, Error> {
        Self::open(url, protocols, config, Some(tls)).await
    }

    async fn open(url: &str, protocols: &[&str], config: Config, tls: Option<TlsConfig>) -> Result<Self, Error> {
        let (request, secure, shown) = dom_request(url, protocols)?;
        if secure && cfg!(not(feature = "rustls")) {
            return Err(Error::TlsNotEnabled);
        }
        let tcp = TcpStream::connect(with_default_port(request.host(), if secure { 443 } else { 80 }).as_str()).await?;
        tcp.set_nodelay(true)?;
        let stream = if secure {
            tls_handshake(&request, tcp, tls).await?
        } else {
            MaybeTlsStream::Plain(tcp)
        };
        let mut ws = Self::with_inner(Inner::new(Connection::client(request, config), Some(stream), shown));
        ws.handshake(None::<fn(&Request) -> Result<Accept, u16>>).await?;
        Ok(ws)
    }
}

/// The TLS settings a `wss://` connection uses.
#[cfg(feature = "rustls")]
type TlsConfig = std::sync::Arc<rustls::ClientConfig>;
#[cfg(not(feature = "rustls"))]
type TlsConfig = core::convert::Infallible;

#[cfg(feature = "rustls")]
async fn tls_handshake(
    request: &ClientRequest,
    tcp: TcpStream,
    tls: Option<TlsConfig>,
) -> Result<MaybeTlsStream, Error> {
    let (config, name) = crate::tls::client_setup(request.host(), tls)?;
    let stream = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?;
    Ok(MaybeTlsStream::Tls(Box::new(stream)))
}

#[cfg(not(feature = "rustls"))]
async fn tls_handshake(_: &ClientRequest, _: TcpStream, _: Option<TlsConfig>) -> Result<MaybeTlsStream, Error> {
    Err(Error::TlsNotEnabled)
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    fn with_inner(inner: Inner<S>) -> Self {
        Self { inner }
    }

    /// `new WebSocket(url, protocols)` over a transport the caller opened
    /// (TLS, a Unix socket, a proxy tunnel): returns at once in
    /// [`ReadyState::Connecting`]; the outcome arrives as events (open, or
    /// error then close with 1006).
    pub fn with_stream(stream: S, url: &str, protocols: &[&str], config: Config) -> Result<Self, Error> {
        let (request, _, shown) = dom_request(url, protocols)?;
        Ok(Self::with_inner(Inner::new(
            Connection::client(request, config),
            Some(stream),
            shown,
        )))
    }

    /// Performs the client handshake over `stream`; any failure is the
    /// `Err`. The open event is still the first event.
    pub async fn client(stream: S, request: ClientRequest, config: Config) -> Result<Self, Error> {
        let url = std::format!("ws://{}{}", request.host(), request.resource());
        let mut ws = Self::with_inner(Inner::new(Connection::client(request, config), Some(stream), url));
        ws.handshake(None::<fn(&Request) -> Result<Accept, u16>>).await?;
        Ok(ws)
    }

    /// Performs the server handshake over `stream`, accepting any valid
    /// request without a subprotocol.
    pub async fn accept(stream: S) -> Result<Self, Error> {
        Self::accept_with(stream, Config::default(), |_| Ok(Accept::new())).await
    }

    /// Performs the server handshake over `stream`; `decide` sees the
    /// request and accepts it or refuses it with an HTTP status. Returns
    /// once open, with the 101 written.
    pub async fn accept_with(
        stream: S,
        config: Config,
        decide: impl FnOnce(&Request) -> Result<Accept, u16>,
    ) -> Result<Self, Error> {
        let mut ws = Self::with_inner(Inner::new(Connection::server(config), Some(stream), String::new()));
        ws.handshake(Some(decide)).await?;
        ws.flush().await?;
        Ok(ws)
    }

    async fn handshake(&mut self, decide: Option<impl FnOnce(&Request) -> Result<Accept, u16>>) -> Result<(), Error> {
        let mut decide = decide;
        poll_fn(|cx| self.inner.poll_handshake(cx, &mut decide)).await
    }

    /// Runs a connection whose handshake happened elsewhere (see
    /// [`Connection::established`]), e.g. after an HTTP server's upgrade.
    /// [`WebSocket::url`] is empty.
    pub fn from_connection(conn: Connection, stream: S) -> Self {
        Self::with_inner(Inner::new(conn, Some(stream), String::new()))
    }

    // ------------------------------------------------------------ attributes

    /// The DOM's `url`.
    pub fn url(&self) -> &str {
        &self.inner.dom.url
    }

    /// The DOM's `readyState` (see the blocking
    /// [`WebSocket::ready_state`](crate::websocket::WebSocket::ready_state)).
    pub fn ready_state(&self) -> ReadyState {
        self.inner.dom.ready_state()
    }

    /// The DOM's `protocol`: the subprotocol the server chose, or empty.
    pub fn protocol(&self) -> &str {
        self.inner.dom.conn.protocol().unwrap_or("")
    }

    /// The DOM's `extensions`: the extensions the server accepted.
    pub fn extensions(&self) -> &str {
        self.inner.dom.conn.extensions()
    }

    /// The DOM's `binaryType`, for [`WebSocket::next_event`].
    pub fn binary_type(&self) -> BinaryType {
        self.inner.binary_type
    }

    /// Sets `binaryType`; it applies to messages handed out from now on.
    pub fn set_binary_type(&mut self, binary_type: BinaryType) {
        self.inner.binary_type = binary_type;
    }

    /// The DOM's `bufferedAmount`: payload bytes passed to `send` and not
    /// yet handed to the transport, plus bytes sent while closing or
    /// closed (discarded but counted). Never resets.
    pub fn buffered_amount(&self) -> u64 {
        self.inner.dom.buffered_amount()
    }

    /// Bytes of output that may stay queued when [`WebSocket::send`]
    /// returns and the `Sink` is ready. Default 0: `send` completes once
    /// everything is written.
    pub fn high_water_mark(&self) -> usize {
        self.inner.high_water_mark
    }

    /// Sets the high-water mark.
    pub fn set_high_water_mark(&mut self, bytes: usize) {
        self.inner.high_water_mark = bytes;
    }

    /// The peer's close frame, once received.
    pub fn peer_close(&self) -> Option<&OwnedCloseFrame> {
        self.inner.dom.peer_close()
    }

    /// The sans-IO core.
    pub fn connection(&self) -> &Connection {
        &self.inner.dom.conn
    }

    /// The transport (`None` if it could not be opened).
    pub fn get_ref(&self) -> Option<&S> {
        self.inner.stream.as_ref()
    }

    // ------------------------------------------------------------ methods

    /// The DOM's `send(data)`: `&str`/`String` as text, `&[u8]`/`Vec<u8>` as
    /// binary. While connecting: [`Error::InvalidState`]. While closing or
    /// closed: discarded, counted in `bufferedAmount`. While open: queued,
    /// then written until at most the high-water mark stays queued.
    ///
    /// A transport failure is not the caller's error, as in the DOM: it
    /// arrives as error and close events. Cancelling the future leaves the
    /// whole message queued.
    pub async fn send<'a>(&mut self, data: impl Into<Data<'a>>) -> Result<(), Error> {
        if self.inner.dom.send(&data.into())? {
            let limit = self.inner.high_water_mark;
            poll_fn(|cx| self.inner.poll_drain(cx, limit)).await;
        }
        Ok(())
    }

    /// Sends a ping.
    pub async fn ping(&mut self, data: &[u8]) -> Result<(), Error> {
        self.inner.dom.conn.ping(data)?;
        self.flush().await
    }

    /// The DOM's `close(code, reason)`: the same argument checks and state
    /// rules as the blocking
    /// [`WebSocket::close`](crate::websocket::WebSocket::close); writes the
    /// close frame. The close event follows from [`WebSocket::next_event`].
    pub async fn close(&mut self, code: Option<u16>, reason: Option<&str>) -> Result<(), Error> {
        self.inner.tick();
        self.inner.dom.close(code, reason)?;
        poll_fn(|cx| self.inner.poll_settle(cx)).await
    }

    /// Starts the close handshake with any sendable code (1001, 1008,
    /// 1011…), which servers need and the DOM does not allow.
    pub async fn close_with(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.inner.tick();
        self.inner.dom.close_with(code, reason)?;
        poll_fn(|cx| self.inner.poll_settle(cx)).await
    }

    /// Writes all queued output.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.inner.poll_write_down_to(cx, 0)).await
    }

    // ------------------------------------------------------------ events

    /// The next event; `None` after the close event. Reads from the
    /// transport only when no event is ready. Cancellation-safe.
    pub async fn next_event(&mut self) -> Option<Event> {
        poll_fn(|cx| self.inner.poll_event(cx)).await
    }

    /// The next message, pings and pongs included; skips open and close.
    /// `Ok(None)` once closed (see [`WebSocket::peer_close`]); a failure is
    /// one `Err`, then `Ok(None)`. Cancellation-safe.
    pub async fn read(&mut self) -> Result<Option<Message>, Error> {
        poll_fn(|cx| self.inner.poll_message(cx)).await.transpose()
    }

    /// Splits into a read half and a write half usable from different
    /// tasks. Pings are still answered by whichever half runs.
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        split::split(self.inner)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    /// As [`WebSocket::read`]: messages, pings and pongs; a failure is one
    /// `Err`; the stream ends after the close.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_message(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WebSocket<S> {
    type Error = Error;

    /// Ready once at most the high-water mark is queued.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let inner = &mut self.get_mut().inner;
        let limit = inner.high_water_mark;
        inner.poll_drain(cx, limit).map(Ok)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().inner.start_send(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_drain(cx, 0).map(Ok)
    }

    /// Starts the close handshake (1000) and writes it.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_sink_close(cx)
    }
}
