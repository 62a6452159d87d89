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
//! # Reading drives the connection
//!
//! No task is spawned: as in a browser, where the event loop reads for the
//! page, the connection moves on only while something reads:
//! [`WebSocket::read`], [`WebSocket::next_event`], the `Stream` or the
//! [`ReadHalf`]. That is where pings are answered, the peer's close is
//! seen, and the close and keepalive timers fire (a send that waits on a
//! full transport checks the timers too). An application that only sends
//! should [`WebSocket::split`] the socket and keep a task draining the
//! read half: otherwise keepalive pings wait for the next read, and a
//! peer's close goes unseen until then.
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
#[cfg(feature = "rustls")]
mod tls;
mod websocket_stream;

pub use split::{ReadHalf, WriteHalf};
pub use stream::MaybeTlsStream;
#[cfg(feature = "rustls")]
pub use tls::TlsStream;
pub use websocket_stream::{
    AbortController, AbortSignal, CloseInfo, Closed, Opened, Readable, WebSocketError, WebSocketStream,
    WebSocketStreamOptions, Writable,
};

use crate::close::CloseCode;
use crate::config::Config;
use crate::connection::Connection;
use crate::dom::driver::{Driver, IDLE_READ, Io, TlsConfig, dom_attributes};
use crate::dom::{Data, Event, Message, client_url, dom_request, with_default_port};
use crate::error::{Error, Timeout};
use crate::handshake::{Accept, ClientRequest, Request};
use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::TcpStream;
use ::tokio::time::{Instant, Sleep};
use core::future::{Future, poll_fn};
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::task::{Context, Poll, Waker, ready};
use core::time::Duration;
use std::boxed::Box;
use std::io::{self, ErrorKind};
use std::string::String;

/// The driver's state; the halves of [`WebSocket::split`] share it.
struct Inner<S> {
    driver: Driver,
    /// `None` when the transport could not be opened.
    stream: Option<S>,
    /// The epoch of the core's clock.
    start: Instant,
    /// Armed while the core has a deadline; dropped when it has none, so
    /// an idle connection holds no timer.
    sleep: Option<Pin<Box<Sleep>>>,
    /// What dropping does: set where the transport's bounds are known
    /// (`Drop` cannot require them).
    on_drop: fn(&mut Inner<S>),
}

impl<S> Drop for Inner<S> {
    fn drop(&mut self) {
        (self.on_drop)(self);
    }
}

/// The tokio transport, the task's context and its timer as the driver
/// core's [`Io`].
struct Async<'a, 'b, S> {
    stream: Option<&'a mut S>,
    cx: &'a mut Context<'b>,
    start: Instant,
    sleep: &'a mut Option<Pin<Box<Sleep>>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Io for Async<'_, '_, S> {
    #[inline]
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    #[inline]
    fn poll_deadline(&mut self, deadline: Option<Duration>) -> Poll<()> {
        // A deadline past what the clock can show never fires.
        let Some(at) = deadline.and_then(|d| self.start.checked_add(d)) else {
            // No timer armed and none wanted, the common case while open.
            if self.sleep.is_some() {
                *self.sleep = None;
            }
            return Poll::Pending;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(::tokio::time::sleep_until(at)));
        if sleep.deadline() != at {
            sleep.as_mut().reset(at);
        }
        sleep.as_mut().poll(self.cx)
    }

    #[inline]
    fn poll_read(&mut self, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let cx = &mut *self.cx;
        let Some(stream) = self.stream.as_deref_mut() else {
            return Poll::Ready(Err(io::Error::from(ErrorKind::NotConnected)));
        };
        let mut buf = ReadBuf::new(buf);
        ready!(Pin::new(stream).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }

    // Into uninitialised memory: the default zeroes its stack buffer first
    // (benches/compare callgrind, recv_binary_16_b_one_per_read: 59 of the
    // tokio driver's instructions per message).
    #[inline(always)]
    fn poll_read_stack(&mut self, take: impl FnOnce(Duration, &[u8])) -> Poll<(Duration, io::Result<usize>)> {
        let mut stack = [MaybeUninit::<u8>::uninit(); IDLE_READ];
        let mut buf = ReadBuf::uninit(&mut stack);
        let result = match self.stream.as_deref_mut() {
            Some(stream) => ready!(Pin::new(stream).poll_read(self.cx, &mut buf)),
            None => Err(io::Error::from(ErrorKind::NotConnected)),
        };
        let now = self.now();
        let result = result.map(|()| {
            take(now, buf.filled());
            buf.filled().len()
        });
        Poll::Ready((now, result))
    }

    #[inline]
    fn poll_write(&mut self, buf: &[u8]) -> Poll<io::Result<usize>> {
        let cx = &mut *self.cx;
        match self.stream.as_deref_mut() {
            Some(stream) => Pin::new(stream).poll_write(cx, buf),
            None => Poll::Ready(Err(io::Error::from(ErrorKind::NotConnected))),
        }
    }

    #[inline(never)]
    fn poll_write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let cx = &mut *self.cx;
        match self.stream.as_deref_mut() {
            Some(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            None => Poll::Ready(Err(io::Error::from(ErrorKind::NotConnected))),
        }
    }

    #[inline]
    fn poll_flush(&mut self) -> Poll<io::Result<()>> {
        let cx = &mut *self.cx;
        match self.stream.as_deref_mut() {
            Some(stream) => Pin::new(stream).poll_flush(cx),
            None => Poll::Ready(Err(io::Error::from(ErrorKind::NotConnected))),
        }
    }

    #[inline]
    fn poll_shutdown(&mut self) -> Poll<io::Result<()>> {
        let cx = &mut *self.cx;
        match self.stream.as_deref_mut() {
            Some(stream) => Pin::new(stream).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    #[inline]
    fn writes_wait(&self) -> bool {
        false
    }

    #[inline]
    fn has_timer(&self) -> bool {
        self.sleep.is_some()
    }

    // A read never waits: it returns `Pending`.
    #[inline]
    fn reads_time_out(&self) -> bool {
        true
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    fn new(conn: Connection, stream: Option<S>, url: String) -> Self {
        Self {
            driver: Driver::new(conn, url),
            stream,
            start: Instant::now(),
            sleep: None,
            on_drop: Self::close_on_drop,
        }
    }

    /// WHATWG "Garbage collection": an open socket that goes away starts
    /// the closing handshake with no status code. The close frame is
    /// queued and written as far as the transport takes it at once; nothing
    /// waits (a destructor cannot), so a full transport or a runtime
    /// already shut down means the peer sees the transport close instead.
    fn close_on_drop(&mut self) {
        if self.driver.close_on_drop(self.now()) {
            let mut cx = Context::from_waker(Waker::noop());
            let mut io = Async {
                stream: self.stream.as_mut(),
                cx: &mut cx,
                start: self.start,
                sleep: &mut self.sleep,
            };
            self.driver.write_what_fits(&mut io);
        }
    }

    /// Runs one driver-core call over the transport in this task's context.
    #[inline]
    fn drive<T>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Driver, &mut Async<'_, '_, S>) -> Poll<T>,
    ) -> Poll<T> {
        let mut io = Async {
            stream: self.stream.as_mut(),
            cx,
            start: self.start,
            sleep: &mut self.sleep,
        };
        f(&mut self.driver, &mut io)
    }

    /// The time on the core's clock.
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Backpressure down to the high-water mark.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let limit = self.driver.high_water_mark;
        self.drive(cx, |driver, io| driver.poll_drain(io, limit))
    }

    /// The `Sink`'s backpressure: down to the high-water mark, then an
    /// error if the connection can no longer take a message.
    fn poll_sink_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let limit = self.driver.high_water_mark;
        self.drive(cx, |driver, io| driver.poll_sink_drain(io, limit))
    }
}

/// What [`WebSocket::send`] takes: DOM data (`&str`/`String` as text,
/// bytes as binary) under the WHATWG rules, or a [`Message`] under the
/// `Sink`'s rules. Built by `From`, so `send` takes either directly.
#[derive(Debug)]
pub enum Outgoing<'a> {
    /// Text or bytes, as the DOM's `send(data)`: an error while
    /// connecting; discarded (and counted in `bufferedAmount`) once
    /// closing; a transport failure arrives as events.
    Data(Data<'a>),
    /// A message, as `SinkExt::send`: pings and pongs too; an error once
    /// closing or closed ([`Misuse::Closing`](crate::Misuse::Closing)) or
    /// after a transport failure (the I/O error).
    Message(Message),
}

impl<'a, T: Into<Data<'a>>> From<T> for Outgoing<'a> {
    fn from(data: T) -> Self {
        Outgoing::Data(data.into())
    }
}

impl From<Message> for Outgoing<'_> {
    fn from(message: Message) -> Self {
        Outgoing::Message(message)
    }
}

/// What a `send` waits for once its payload is queued.
enum Wait {
    /// Nothing: the DOM discarded it (closing) or nothing is above the mark.
    Nothing,
    /// The DOM's backpressure: down to the high-water mark.
    Drain,
    /// The `Sink`'s: down to the mark, then an error if the connection is gone.
    SinkReady,
}

/// Queues `outgoing` by its rules (see [`Outgoing`]). Always inlined: a
/// DOM send then costs what it did before `Outgoing` (benches/compare
/// callgrind, send_binary_16_b, tokio driver).
#[inline(always)]
fn queue(driver: &mut Driver, outgoing: Outgoing<'_>) -> Result<Wait, Error> {
    match outgoing {
        Outgoing::Data(data) => Ok(if driver.send(&data)? {
            Wait::Drain
        } else {
            Wait::Nothing
        }),
        Outgoing::Message(message) => {
            driver.start_send(message)?;
            Ok(Wait::SinkReady)
        }
    }
}

/// The browser's `WebSocket` over a tokio transport.
pub struct WebSocket<S = MaybeTlsStream> {
    inner: Inner<S>,
}

impl<S> core::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebSocket")
            .field("dom", &self.inner.driver)
            .finish_non_exhaustive()
    }
}

impl WebSocket<MaybeTlsStream> {
    /// Connects to `url` (`ws://`, or `wss://` with feature `rustls`) with
    /// the given subprotocols and completes the handshake; any failure is
    /// the `Err` (the DOM constructor's exceptions included, see
    /// [`Error::dom_exception`]). The open event is still the first event.
    ///
    /// # Errors
    ///
    /// [`Error::Url`] or [`Error::Misuse`] with `InvalidProtocol` for the
    /// arguments (see the blocking [`WebSocket::connect`](crate::websocket::WebSocket::connect)),
    /// then whatever keeps the connection from opening, as for
    /// [`WebSocket::connect_request`].
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rfc6455::Error> {
    /// use futures_util::StreamExt;
    /// use rfc6455::tokio::WebSocket;
    ///
    /// let mut ws = WebSocket::connect("ws://127.0.0.1:9001/chat", &["chat.v1"]).await?;
    /// ws.send("hello").await?;
    /// while let Some(message) = ws.next().await {
    ///     println!("{:?}", message?);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str, protocols: &[&str]) -> Result<Self, Error> {
        Self::connect_with(url, protocols, Config::default()).await
    }

    /// [`WebSocket::connect`] with settings.
    ///
    /// # Errors
    ///
    /// As [`WebSocket::connect`].
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rfc6455::Error> {
    /// use core::time::Duration;
    /// use rfc6455::{Config, tokio::WebSocket};
    ///
    /// let config = Config::default()
    ///     .max_message_size(1 << 20)
    ///     .keepalive_interval(Some(Duration::from_secs(30)));
    /// let ws = WebSocket::connect_with("ws://127.0.0.1:9001/", &[], config).await?;
    /// # let _ = ws;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_with(url: &str, protocols: &[&str], config: Config) -> Result<Self, Error> {
        Self::open(url, protocols, config, None).await
    }

    /// [`WebSocket::connect`] with settings and the TLS client
    /// configuration for `wss://` (private roots, client certificates).
    ///
    /// # Errors
    ///
    /// As [`WebSocket::connect`]; also [`Error::Url`] for a host that is
    /// not a TLS server name.
    #[cfg(feature = "rustls")]
    pub async fn connect_tls(
        url: &str,
        protocols: &[&str],
        config: Config,
        tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> Result<Self, Error> {
        Self::open(url, protocols, config, Some(tls)).await
    }

    /// Connects to the request's host (port 80, or 443 with `secure`,
    /// unless the `Host` names one) with exactly this request — headers
    /// such as `Authorization` or `Cookie` included — over TLS when
    /// `secure` (feature `rustls`), and completes the handshake. The
    /// server's 101 headers are then in
    /// [`connection().response_headers()`](Connection::response_headers).
    /// An `http::Request` becomes a request and `secure` through
    /// `rfc6455::http::client_request` (feature `http`).
    ///
    /// # Errors
    ///
    /// Whatever keeps the connection from opening: [`Error::Io`] when name
    /// resolution, connecting, TLS or the transport fails,
    /// [`Error::Timeout`] once `handshake_timeout` passes (all of that
    /// included), [`Error::Handshake`] for a request that fails
    /// [`ClientRequest::check`] or an answer RFC 6455 §4.1 refuses, and
    /// [`Error::TlsNotEnabled`] for `secure` without feature `rustls` (with
    /// it, [`Error::Url`] for a host that is not a TLS server name).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rfc6455::Error> {
    /// use rfc6455::{ClientRequest, Config, tokio::WebSocket};
    ///
    /// let request = ClientRequest::new("127.0.0.1:9001", "/chat")
    ///     .header("Authorization", "Bearer t0ken")
    ///     .protocol("chat.v1");
    /// let ws = WebSocket::connect_request(request, false, Config::default()).await?;
    /// if let Some(server) = ws.connection().response_header("Server") {
    ///     println!("server: {}", String::from_utf8_lossy(server));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_request(request: ClientRequest, secure: bool, config: Config) -> Result<Self, Error> {
        let shown = client_url(&request, secure);
        Self::open_request(request, secure, shown, config, None).await
    }

    async fn open(url: &str, protocols: &[&str], config: Config, tls: Option<TlsConfig>) -> Result<Self, Error> {
        let (request, secure, shown) = dom_request(url, protocols)?;
        Self::open_request(request, secure, shown, config, tls).await
    }

    async fn open_request(
        request: ClientRequest,
        secure: bool,
        shown: String,
        config: Config,
        tls: Option<TlsConfig>,
    ) -> Result<Self, Error> {
        if secure && cfg!(not(feature = "rustls")) {
            return Err(Error::TlsNotEnabled);
        }
        // The opening handshake's deadline covers name resolution, TCP and
        // TLS too, not only the HTTP exchange the core times.
        let start = Instant::now();
        let deadline = config.handshake_timeout.and_then(|t| start.checked_add(t));
        let open = async move {
            let address = with_default_port(request.host(), if secure { 443 } else { 80 });
            let tcp = TcpStream::connect(address.as_str()).await?;
            tcp.set_nodelay(true)?;
            let stream = if secure {
                tls_handshake(&request, tcp, tls).await?
            } else {
                MaybeTlsStream::Plain(tcp)
            };
            let mut inner = Inner::new(Connection::client(request, config), Some(stream), shown);
            inner.start = start;
            let mut ws = Self::with_inner(inner);
            ws.handshake(None::<fn(&Request) -> Result<Accept, u16>>).await?;
            Ok(ws)
        };
        match deadline {
            Some(deadline) => ::tokio::time::timeout_at(deadline, open)
                .await
                .unwrap_or(Err(Error::Timeout(Timeout::Handshake))),
            None => open.await,
        }
    }
}

#[cfg(feature = "rustls")]
async fn tls_handshake(
    request: &ClientRequest,
    tcp: TcpStream,
    tls: Option<TlsConfig>,
) -> Result<MaybeTlsStream, Error> {
    let (config, name) = crate::tls::client_setup(request.host(), tls)?;
    let stream = tls::TlsStream::connect(config, name, tcp).await?;
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
    /// [`ReadyState::Connecting`](crate::connection::ReadyState::Connecting);
    /// the outcome arrives as events (open, or error then close with 1006).
    ///
    /// # Errors
    ///
    /// As the blocking [`WebSocket::with_stream`](crate::websocket::WebSocket::with_stream).
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
    ///
    /// # Errors
    ///
    /// As [`WebSocket::connect_request`], the stream being open already.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rfc6455::Error> {
    /// use rfc6455::{ClientRequest, Config, tokio::WebSocket};
    ///
    /// let stream = tokio::net::TcpStream::connect("127.0.0.1:9001").await?;
    /// let request = ClientRequest::new("127.0.0.1:9001", "/chat")
    ///     .header("Authorization", "Bearer t0ken")
    ///     .protocol("chat.v1");
    /// let ws = WebSocket::client(stream, request, Config::default()).await?;
    /// # let _ = ws;
    /// # Ok(())
    /// # }
    /// ```
    pub fn client(stream: S, request: ClientRequest, config: Config) -> impl Future<Output = Result<Self, Error>> {
        // The caller's stream may be TLS; nothing here can tell.
        let url = client_url(&request, false);
        let ws = Self::with_inner(Inner::new(Connection::client(request, config), Some(stream), url));
        ws.opening(None::<fn(&Request) -> Result<Accept, u16>>, false)
    }

    /// Performs the server handshake over `stream`, accepting any valid
    /// request without a subprotocol.
    ///
    /// # Errors
    ///
    /// As the blocking [`WebSocket::accept`](crate::websocket::WebSocket::accept).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rfc6455::Error> {
    /// use futures_util::{SinkExt, StreamExt};
    /// use rfc6455::tokio::WebSocket;
    ///
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
    /// loop {
    ///     let (stream, _) = listener.accept().await?;
    ///     tokio::spawn(async move {
    ///         let Ok(mut ws) = WebSocket::accept(stream).await else { return };
    ///         while let Some(Ok(message)) = ws.next().await {
    ///             if message.is_text() || message.is_binary() {
    ///                 let _ = ws.send(message).await; // echo
    ///             }
    ///         }
    ///     });
    /// }
    /// # }
    /// ```
    pub fn accept(stream: S) -> impl Future<Output = Result<Self, Error>> {
        Self::accept_with(stream, Config::default(), |_| Ok(Accept::new()))
    }

    /// Performs the server handshake over `stream`; `decide` sees the
    /// request and accepts it or refuses it with an HTTP status. Returns
    /// once open, with the 101 written.
    ///
    /// # Errors
    ///
    /// As the blocking
    /// [`WebSocket::accept_with`](crate::websocket::WebSocket::accept_with).
    ///
    /// ```no_run
    /// # async fn demo(stream: tokio::net::TcpStream) -> Result<(), rfc6455::Error> {
    /// use rfc6455::{Accept, Config, tokio::WebSocket};
    ///
    /// let ws = WebSocket::accept_with(stream, Config::default(), |request| {
    ///     if request.target() != "/chat" {
    ///         return Err(404);
    ///     }
    ///     let chosen = request.protocols().iter().find(|p| *p == "chat.v1");
    ///     Ok(chosen.map_or_else(Accept::new, |p| Accept::new().protocol(p)))
    /// })
    /// .await?;
    /// # let _ = ws;
    /// # Ok(())
    /// # }
    /// ```
    pub fn accept_with<F: FnOnce(&Request) -> Result<Accept, u16>>(
        stream: S,
        config: Config,
        decide: F,
    ) -> impl Future<Output = Result<Self, Error>> {
        let ws = Self::with_inner(Inner::new(Connection::server(config), Some(stream), String::new()));
        ws.opening(Some(decide), true)
    }

    /// The opening handshake of a socket built at the call, not at the
    /// first poll: the returned future then holds a box, not the socket and
    /// its `Config`. A caller's `let ws = WebSocket::accept(s).await` keeps
    /// this future beside its own slot for the socket for the whole
    /// connection (the async fn's layout gives them no shared room), so
    /// its size is paid by every idle connection (`benches/compare`'s
    /// `idle.sh`).
    fn opening<F: FnOnce(&Request) -> Result<Accept, u16>>(
        self,
        decide: Option<F>,
        flush: bool,
    ) -> impl Future<Output = Result<Self, Error>> {
        let mut ws = Box::new(self);
        async move {
            ws.handshake(decide).await?;
            if flush {
                ws.flush().await?;
            }
            Ok(*ws)
        }
    }

    async fn handshake(&mut self, decide: Option<impl FnOnce(&Request) -> Result<Accept, u16>>) -> Result<(), Error> {
        let mut decide = decide;
        poll_fn(|cx| {
            self.inner
                .drive(cx, |driver, io| driver.poll_handshake(io, &mut decide))
        })
        .await
    }

    /// Runs a connection whose handshake happened elsewhere (see
    /// [`Connection::established`]), e.g. after an HTTP server's upgrade.
    /// [`WebSocket::url`] is empty.
    pub fn from_connection(conn: Connection, stream: S) -> Self {
        Self::with_inner(Inner::new(conn, Some(stream), String::new()))
    }

    /// [`WebSocket::from_connection`] whose `url` is known (an HTTP/2
    /// client's stream).
    #[cfg(feature = "http2")]
    pub(crate) fn from_connection_at(conn: Connection, stream: S, url: String) -> Self {
        Self::with_inner(Inner::new(conn, Some(stream), url))
    }

    // ------------------------------------------------------------ attributes

    dom_attributes!(inner.driver);

    /// The transport (`None` if it could not be opened).
    pub fn get_ref(&self) -> Option<&S> {
        self.inner.stream.as_ref()
    }

    // ------------------------------------------------------------ methods

    /// The DOM's `send(data)`: `&str`/`String` as text, `&[u8]`/`Vec<u8>` as
    /// binary. While connecting: [`Error::Misuse`]. While closing or
    /// closed: discarded, counted in `bufferedAmount`. While open: queued,
    /// then written until at most the high-water mark stays queued.
    ///
    /// A transport failure is not the caller's error, as in the DOM: it
    /// arrives as error and close events. Cancelling the future leaves the
    /// whole message queued.
    ///
    /// A [`Message`] goes by the `Sink`'s rules instead (see [`Outgoing`]),
    /// so `ws.send(message)` is what `SinkExt::send` does.
    ///
    /// # Errors
    ///
    /// Data: [`Error::Misuse`] with `SendWhileConnecting` before the
    /// connection is open. A [`Message`]: [`Error::Misuse`] with `NotOpen`
    /// before open, `Closing` once closing or closed, or
    /// `ControlPayloadTooLong` for a ping or pong over 125 bytes, and
    /// [`Error::Io`] once the transport failed (before or while writing).
    pub fn send<'a>(&mut self, data: impl Into<Outgoing<'a>>) -> impl Future<Output = Result<(), Error>> + '_ {
        // Queued at the call, not at the first poll: a send a `select!`
        // drops unpolled has queued its message too.
        let queued = queue(&mut self.inner.driver, data.into());
        async move {
            match queued? {
                Wait::Nothing => Ok(()),
                Wait::Drain => {
                    poll_fn(|cx| self.inner.poll_ready(cx)).await;
                    Ok(())
                }
                Wait::SinkReady => poll_fn(|cx| self.inner.poll_sink_ready(cx)).await,
            }
        }
    }

    /// Sends a ping.
    ///
    /// # Errors
    ///
    /// Those of [`Connection::ping`] (not open, or a payload over 125
    /// bytes), then those of [`WebSocket::flush`].
    pub async fn ping(&mut self, data: &[u8]) -> Result<(), Error> {
        self.inner.driver.ping(data)?;
        self.flush().await
    }

    /// Starts a message sent as one frame whose header declares its
    /// length (see the blocking
    /// [`WebSocket::begin_message`](crate::websocket::WebSocket::begin_message)).
    ///
    /// # Errors
    ///
    /// As the blocking
    /// [`WebSocket::begin_message`](crate::websocket::WebSocket::begin_message).
    pub async fn begin_message(&mut self, text: bool, len: u64) -> Result<(), Error> {
        self.inner.driver.begin_message(text, len)?;
        poll_fn(|cx| self.inner.poll_sink_ready(cx)).await
    }

    /// The next bytes of the frame [`WebSocket::begin_message`] declared;
    /// resolves once no more than the high-water mark is queued. A frame
    /// under way is finished even after the peer's close.
    ///
    /// # Errors
    ///
    /// As the blocking
    /// [`WebSocket::send_payload`](crate::websocket::WebSocket::send_payload).
    pub async fn send_payload(&mut self, data: &[u8]) -> Result<(), Error> {
        self.inner.driver.send_payload(data)?;
        poll_fn(|cx| self.inner.poll_ready(cx)).await;
        Ok(())
    }

    /// The DOM's `close(code, reason)`: the same argument checks and state
    /// rules as the blocking
    /// [`WebSocket::close`](crate::websocket::WebSocket::close); writes the
    /// close frame. The close event follows from [`WebSocket::next_event`].
    ///
    /// # Errors
    ///
    /// As the blocking [`WebSocket::close`](crate::websocket::WebSocket::close).
    pub async fn close(&mut self, code: Option<u16>, reason: Option<&str>) -> Result<(), Error> {
        let now = self.inner.now();
        self.inner.driver.close(now, code, reason)?;
        poll_fn(|cx| self.inner.drive(cx, |driver, io| driver.poll_settle(io))).await
    }

    /// Starts the close handshake with any sendable code (1001, 1008,
    /// 1011…), which servers need and the DOM does not allow.
    ///
    /// # Errors
    ///
    /// As [`Connection::close`] for the arguments, then [`Error::Io`] when
    /// writing the close frame fails.
    pub async fn close_with(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let now = self.inner.now();
        self.inner.driver.close_with(now, code, reason)?;
        poll_fn(|cx| self.inner.drive(cx, |driver, io| driver.poll_settle(io))).await
    }

    /// Writes all queued output.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a write fails or the transport is already closed.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.inner.drive(cx, |driver, io| driver.poll_write_down_to(io, 0))).await
    }

    // ------------------------------------------------------------ events

    /// The next event; `None` after the close event. Reads from the
    /// transport only when no event is ready. Cancellation-safe.
    pub async fn next_event(&mut self) -> Option<Event> {
        poll_fn(|cx| self.inner.drive(cx, |driver, io| driver.poll_event(io))).await
    }

    /// The next message, pings and pongs included; skips open and close.
    /// `Ok(None)` once closed (see [`WebSocket::peer_close`]); a failure is
    /// one `Err`, then `Ok(None)`. Cancellation-safe.
    ///
    /// # Errors
    ///
    /// The failure that ended the connection, once, as its error event
    /// carries it (see the blocking
    /// [`WebSocket::read`](crate::websocket::WebSocket::read)).
    pub async fn read(&mut self) -> Result<Option<Message>, Error> {
        poll_fn(|cx| self.inner.drive(cx, |driver, io| driver.poll_message(io)))
            .await
            .transpose()
    }

    /// Splits into a read half and a write half usable from different
    /// tasks. Pings are still answered by whichever half runs.
    ///
    /// ```no_run
    /// # async fn demo(ws: rfc6455::tokio::WebSocket) -> Result<(), rfc6455::Error> {
    /// use futures_util::StreamExt;
    ///
    /// let (mut read, mut write) = ws.split();
    /// let writer = tokio::spawn(async move {
    ///     for i in 0..10 {
    ///         write.send(format!("tick {i}")).await?;
    ///     }
    ///     write.close(Some(1000), None).await
    /// });
    /// while let Some(message) = read.next().await {
    ///     println!("{:?}", message?);
    /// }
    /// println!("closed: {:?}", read.peer_close());
    /// writer.await.expect("the writer task")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        split::split(self.inner)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    /// As [`WebSocket::read`]: messages, pings and pongs; a failure is one
    /// `Err`; the stream ends after the close.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.drive(cx, |driver, io| driver.poll_message(io))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WebSocket<S> {
    type Error = Error;

    /// Ready once at most the high-water mark is queued; an error once
    /// the connection is closing or its transport failed.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.poll_sink_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().inner.driver.start_send(message)
    }

    /// Writes everything queued; the transport's error if it failed.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.drive(cx, |driver, io| driver.poll_sink_flush(io))
    }

    /// Starts the close handshake (1000) and writes it.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner.drive(cx, |driver, io| driver.poll_sink_close(io))
    }
}
