//! WebSockets over HTTP/2 (RFC 8441), the client's side, on the `h2`
//! crate: each WebSocket is one stream of a shared HTTP/2 connection,
//! opened with an extended CONNECT.
//!
//! The server's side needs no module of its own: [`http::accept`] judges
//! an extended CONNECT that hyper's HTTP/2 server hands over (with
//! `http2().enable_connect_protocol()`) and answers it with a `200`; the
//! upgraded stream then runs under [`WebSocket::from_connection`], as for
//! an HTTP/1.1 upgrade. The axum extractor does the same.
//!
//! What RFC 8441 changes, and where it is done:
//! - §3: no extended CONNECT before the server's `SETTINGS` enabled it
//!   ([`Client::handshake`] waits for them; [`Client::connect`] refuses
//!   with [`HandshakeError::NoExtendedConnect`]);
//! - §4, §5: `CONNECT` with `:protocol` `websocket`, no
//!   `Sec-WebSocket-Key` or `-Accept`, header names in lowercase (as HTTP/2
//!   sends every name), a `200` to accept ([`http::ClientHandshake::extended_connect`]);
//! - §5: the stream carries the frames; the close handshake ends with
//!   `END_STREAM` (the transport's shutdown), and a stream reset fails the
//!   connection (a read or write error) ([`H2Stream`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), rfc6455::Error> {
//! use rfc6455::{ClientRequest, Config, Message};
//!
//! // h2c with prior knowledge; over TLS, a stream whose ALPN chose "h2".
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:9003").await?;
//! tcp.set_nodelay(true)?;
//! let client = rfc6455::h2::Client::handshake(tcp).await?;
//! let request = ClientRequest::new("127.0.0.1:9003", "/chat").protocol("chat");
//! let mut chat = client.connect(request, false, Config::default()).await?;
//! let mut feed = client.connect(ClientRequest::new("127.0.0.1:9003", "/feed"), false, Config::default()).await?;
//! chat.send("hello").await?;
//! if let Some(Message::Text(text)) = feed.read().await? {
//!     println!("{text}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`http::accept`]: crate::http::accept
//! [`http::ClientHandshake::extended_connect`]: crate::http::ClientHandshake::extended_connect
//! [`WebSocket::from_connection`]: crate::tokio::WebSocket::from_connection
//! [`HandshakeError::NoExtendedConnect`]: crate::HandshakeError::NoExtendedConnect

use crate::config::Config;
use crate::dom::client_url;
use crate::error::{Error, HandshakeError, Timeout};
use crate::handshake::ClientRequest;
use crate::http::ClientHandshake;
use crate::tokio::WebSocket;
use ::h2::client::SendRequest;
use ::h2::{Ping, RecvStream, SendStream};
use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use bytes::Bytes;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::io;
use std::string::ToString;

/// The flow-control window of each stream (a WebSocket), in bytes.
pub const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
/// The flow-control window of the whole connection, in bytes: the largest
/// HTTP/2 allows. A smaller one than the sum of the streams' windows lets
/// a few WebSockets whose application stopped reading (each holding
/// [`STREAM_WINDOW`] unread) take it all and stall every other WebSocket
/// of the connection; what is buffered stays bounded by the streams'
/// windows.
pub const CONNECTION_WINDOW: u32 = (1 << 31) - 1;

/// An HTTP/2 connection to a server that accepts WebSockets (RFC 8441):
/// open as many as needed with [`connect`](Self::connect). Cloning shares
/// the connection.
#[derive(Clone, Debug)]
pub struct Client {
    send: SendRequest<Bytes>,
}

fn h2_error(error: ::h2::Error) -> Error {
    Error::Io(to_io(error))
}

impl Client {
    /// The HTTP/2 handshake over `io` (TLS whose ALPN chose `h2`, or
    /// cleartext with prior knowledge); the connection then runs in a tokio
    /// task of its own. Set `TCP_NODELAY` on a TCP transport first: the
    /// streams share it, and Nagle's algorithm would hold each small frame
    /// for the peer's delayed ACK. Returns once the server's `SETTINGS` arrived (a
    /// ping's answer follows them), so [`supports_websockets`](Self::supports_websockets)
    /// is known.
    ///
    /// # Errors
    ///
    /// The HTTP/2 handshake's or the ping's failure, as [`Error::Io`].
    pub async fn handshake<T>(io: T) -> Result<Self, Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // hyper's client windows: the protocol's default of 64 KiB a
        // stream would hold a large message to one window per round trip.
        // A stream nobody reads holds at most its window.
        let (send, mut connection) = ::h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake(io)
            .await
            .map_err(h2_error)?;
        let mut ping = connection.ping_pong();
        ::tokio::spawn(async move {
            // The connection's end reaches every stream as its error.
            let _ = connection.await;
        });
        if let Some(ping) = ping.as_mut() {
            ping.ping(Ping::opaque()).await.map_err(h2_error)?;
        }
        Ok(Self { send })
    }

    /// Whether the server enabled extended CONNECT
    /// (`SETTINGS_ENABLE_CONNECT_PROTOCOL`, RFC 8441 §3).
    pub fn supports_websockets(&self) -> bool {
        self.send.is_extended_connect_protocol_enabled()
    }

    /// Opens a WebSocket as a new stream: the extended CONNECT for
    /// `request` (its host is the `:authority`, `secure` picks the
    /// `:scheme` `https` or `http`), and once the server's `200` is
    /// checked, the socket over the stream, open. The handshake timeout of
    /// `config` bounds the wait.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::NoExtendedConnect`] when the server did not
    /// enable extended CONNECT; the response's failure to accept (its
    /// status, an unoffered subprotocol or extension) as
    /// [`Error::Handshake`]; HTTP/2 errors as [`Error::Io`];
    /// [`Timeout::Handshake`].
    pub async fn connect(
        &self,
        request: ClientRequest,
        secure: bool,
        config: Config,
    ) -> Result<WebSocket<H2Stream>, Error> {
        let deadline = config.handshake_timeout;
        let open = self.open(request, secure, config);
        match deadline {
            Some(limit) => ::tokio::time::timeout(limit, open)
                .await
                .unwrap_or(Err(Error::Timeout(Timeout::Handshake))),
            None => open.await,
        }
    }

    async fn open(&self, request: ClientRequest, secure: bool, config: Config) -> Result<WebSocket<H2Stream>, Error> {
        let mut send = self.send.clone().ready().await.map_err(h2_error)?;
        if !send.is_extended_connect_protocol_enabled() {
            return Err(HandshakeError::NoExtendedConnect.into());
        }
        let url = client_url(&request, secure);
        let handshake = ClientHandshake::extended_connect(request, secure, config);
        let connect = handshake.request()?;
        let (response, stream) = send.send_request(connect, false).map_err(h2_error)?;
        let response = response.await.map_err(h2_error)?;
        let (head, body) = response.into_parts();
        // A refusal drops both halves of the stream, which resets it.
        let conn = handshake.finish(&::http::Response::from_parts(head, ()))?;
        Ok(WebSocket::from_connection_at(conn, H2Stream::new(stream, body), url))
    }
}

/// One HTTP/2 stream as a byte transport: DATA frames in, DATA frames out,
/// `END_STREAM` on shutdown. A reset stream reads and writes as an error.
#[derive(Debug)]
pub struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// Received bytes not yet read.
    unread: Bytes,
    /// The peer ended its side (`END_STREAM`).
    ended: bool,
    /// We ended ours.
    shut: bool,
}

impl H2Stream {
    /// The stream of an accepted extended CONNECT: its send half and the
    /// response body.
    pub fn new(send: SendStream<Bytes>, recv: RecvStream) -> Self {
        Self {
            send,
            recv,
            unread: Bytes::new(),
            ended: false,
            shut: false,
        }
    }
}

impl AsyncRead for H2Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.unread.is_empty() && !this.ended {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // The bytes are ours now: let the peer send as many more.
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    this.unread = data;
                }
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
                None => this.ended = true,
            }
        }
        let n = this.unread.len().min(buf.remaining());
        buf.put_slice(&this.unread.split_to(n));
        Poll::Ready(Ok(()))
    }
}

fn to_io(error: ::h2::Error) -> io::Error {
    if error.is_reset() {
        return io::Error::new(io::ErrorKind::ConnectionReset, error);
    }
    match error.get_io() {
        Some(e) => io::Error::new(e.kind(), error.to_string()),
        None => io::Error::other(error),
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = &mut *self;
        // HTTP/2 flow control: write what the peer's window allows now.
        // No window exceeds 2^31 - 1 (RFC 9113 §6.9.1), and h2 takes the
        // reservation as a u32: a write of 4 GiB reserved nothing and
        // waited for good.
        this.send.reserve_capacity(buf.len().min(CONNECTION_WINDOW as usize));
        loop {
            match ready!(this.send.poll_capacity(cx)) {
                Some(Ok(0)) => continue,
                Some(Ok(room)) => {
                    let n = room.min(buf.len());
                    this.send
                        .send_data(Bytes::copy_from_slice(&buf[..n]), false)
                        .map_err(to_io)?;
                    return Poll::Ready(Ok(n));
                }
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
                None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The connection task writes what the streams queued.
        Poll::Ready(Ok(()))
    }

    /// RFC 8441 §5: after the close handshake, `END_STREAM`.
    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.shut {
            self.shut = true;
            self.send.send_data(Bytes::new(), true).map_err(to_io)?;
        }
        Poll::Ready(Ok(()))
    }
}
