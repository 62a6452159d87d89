//! The blocking driver: a [`Connection`] over any `Read + Write` transport.
//!
//! The driver owns no protocol rule. It moves bytes between the transport
//! and the core, reads the clock for the core, and turns the core's next
//! deadline into a read timeout.

use crate::close::{CloseCode, OwnedCloseFrame};
use crate::config::Config;
use crate::connection::{Connection, Event, ReadyState};
use crate::error::{Error, HandshakeError};
use crate::handshake::{Accept, ClientRequest, Request};
use std::boxed::Box;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::string::String;
use std::time::{Duration, Instant};
use std::vec::Vec;

/// A byte transport the driver can run over.
///
/// The two hooks let the driver honour the core's timers and close the
/// transport when the protocol says so; their defaults do nothing, which
/// suits in-memory streams. Wrap any other `Read + Write` in [`Plain`].
pub trait Transport: Read + Write {
    /// Bounds the next blocking read (`None`: no bound).
    fn set_read_timeout(&mut self, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    /// Closes the transport in both directions.
    fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        TcpStream::shutdown(self, Shutdown::Both)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, Shutdown::Both)
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        (**self).shutdown()
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        (**self).shutdown()
    }
}

/// Any `Read + Write` as a [`Transport`] without timeouts or shutdown.
#[derive(Debug)]
pub struct Plain<S>(pub S);

impl<S: Read> Read for Plain<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Write> Write for Plain<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<S: Read + Write> Transport for Plain<S> {}

/// A received message, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping (already answered when [`Config::auto_pong`] is on).
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
}

/// A WebSocket over a blocking transport.
///
/// ```no_run
/// use std::net::TcpListener;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = TcpListener::bind("127.0.0.1:9001")?;
/// let (stream, _) = listener.accept()?;
/// let mut ws = rfc6455::WebSocket::accept(stream)?;
/// while let Some(message) = ws.read()? {
///     match message {
///         rfc6455::Message::Text(text) => ws.send_text(&text)?,
///         rfc6455::Message::Binary(data) => ws.send_binary(&data)?,
///         _ => {}
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct WebSocket<S: Transport> {
    conn: Connection,
    stream: S,
    /// The epoch of the core's clock.
    start: Instant,
    /// The read timeout last given to the transport.
    timeout_set: Option<Duration>,
    transport_closed: bool,
    peer_close: Option<OwnedCloseFrame>,
}

impl WebSocket<TcpStream> {
    /// Opens a TCP connection to a `ws://` URL and performs the client
    /// handshake with default settings.
    pub fn connect(url: &str) -> Result<Self, Error> {
        let (request, secure) = ClientRequest::from_url(url).map_err(Error::Url)?;
        Self::connect_request(request, secure, Config::default())
    }

    /// Like [`WebSocket::connect`], with a prepared request (subprotocols,
    /// headers) and settings. `secure` asks for TLS.
    pub fn connect_request(request: ClientRequest, secure: bool, config: Config) -> Result<Self, Error> {
        if secure {
            return Err(Error::TlsNotEnabled);
        }
        let addr = with_default_port(request.host(), 80);
        let stream = TcpStream::connect(addr.as_str())?;
        stream.set_nodelay(true)?;
        Self::client(stream, request, config)
    }
}

/// `host` (a `Host` value: name, IPv4 or bracketed IPv6, maybe `:port`)
/// as a `host:port` address.
fn with_default_port(host: &str, port: u16) -> String {
    let after_host = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(_, rest)| rest),
        None => host.rsplit_once(':').map_or("", |(_, p)| p),
    };
    if after_host.trim_start_matches(':').parse::<u16>().is_ok() {
        String::from(host)
    } else {
        std::format!("{host}:{port}")
    }
}

impl<S: Transport> WebSocket<S> {
    fn with(conn: Connection, stream: S) -> Self {
        Self {
            conn,
            stream,
            start: Instant::now(),
            timeout_set: None,
            transport_closed: false,
            peer_close: None,
        }
    }

    /// Performs the client handshake over `stream`.
    pub fn client(stream: S, request: ClientRequest, config: Config) -> Result<Self, Error> {
        let mut ws = Self::with(Connection::client(request, config), stream);
        loop {
            match ws.conn.poll_event() {
                Some(Event::Open) => return Ok(ws),
                Some(Event::Failed(e)) => return Err(ws.abandon(e)),
                Some(_) => {}
                None => {
                    ws.flush()?;
                    ws.fill()?;
                }
            }
        }
    }

    /// Performs the server handshake over `stream`, accepting any valid
    /// request without a subprotocol.
    pub fn accept(stream: S) -> Result<Self, Error> {
        Self::accept_with(stream, Config::default(), |_| Ok(Accept::new()))
    }

    /// Performs the server handshake over `stream`; `decide` sees the
    /// request and accepts it or refuses it with an HTTP status.
    pub fn accept_with(
        stream: S,
        config: Config,
        decide: impl FnOnce(&Request) -> Result<Accept, u16>,
    ) -> Result<Self, Error> {
        let mut ws = Self::with(Connection::server(config), stream);
        let mut decide = Some(decide);
        loop {
            let decision = match ws.conn.poll_event() {
                Some(Event::Request(request)) => decide.take().map(|d| d(request)),
                Some(Event::Open) => return Ok(ws),
                Some(Event::Failed(e)) => return Err(ws.abandon(e)),
                Some(_) => None,
                None => {
                    ws.flush()?;
                    ws.fill()?;
                    None
                }
            };
            match decision {
                Some(Ok(accept)) => ws.conn.accept(accept)?,
                Some(Err(status)) => {
                    ws.conn.reject(status)?;
                    return Err(ws.abandon(HandshakeError::Rejected(status).into()));
                }
                None => {}
            }
        }
    }

    /// Runs an already-open connection (see [`Connection::established`]).
    pub fn from_connection(conn: Connection, stream: S) -> Self {
        Self::with(conn, stream)
    }

    /// The sans-IO core, for what the driver does not wrap.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The DOM-style state.
    pub fn ready_state(&self) -> ReadyState {
        self.conn.ready_state()
    }

    /// The negotiated subprotocol.
    pub fn protocol(&self) -> Option<&str> {
        self.conn.protocol()
    }

    /// The peer's close frame, once received.
    pub fn peer_close(&self) -> Option<&OwnedCloseFrame> {
        self.peer_close.as_ref()
    }

    /// Whether the transport has been closed.
    pub fn is_terminated(&self) -> bool {
        self.transport_closed
    }

    /// The next message. Pings are answered before they are returned.
    ///
    /// Returns `Ok(None)` once the close handshake is over and the
    /// transport closed (see [`WebSocket::peer_close`]), and the failure as
    /// `Err` if the connection failed.
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        loop {
            let message = match self.conn.poll_event() {
                Some(Event::Text(text)) => Some(Message::Text(text.into())),
                Some(Event::Binary(data)) => Some(Message::Binary(data.to_vec())),
                Some(Event::Ping(data)) => Some(Message::Ping(data.to_vec())),
                Some(Event::Pong(data)) => Some(Message::Pong(data.to_vec())),
                Some(Event::Close(frame)) => {
                    self.peer_close = Some(frame.to_owned());
                    None
                }
                Some(Event::Failed(e)) => return Err(self.abandon(e)),
                Some(Event::Open | Event::Request(_)) => None,
                None => {
                    self.flush()?;
                    if self.conn.should_close_transport() || self.transport_closed {
                        self.close_transport();
                        return Ok(None);
                    }
                    self.fill()?;
                    None
                }
            };
            if let Some(message) = message {
                if matches!(message, Message::Ping(_)) {
                    self.flush()?;
                }
                return Ok(Some(message));
            }
        }
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.conn.send_text(text)?;
        self.flush()
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.conn.send_binary(data)?;
        self.flush()
    }

    /// Sends a ping.
    pub fn ping(&mut self, data: &[u8]) -> Result<(), Error> {
        self.conn.ping(data)?;
        self.flush()
    }

    /// Starts the close handshake; keep calling [`WebSocket::read`] until
    /// it returns `Ok(None)` to finish it.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.close(code, reason)?;
        self.flush()
    }

    /// Writes all pending output to the transport.
    pub fn flush(&mut self) -> Result<(), Error> {
        while !self.conn.pending_output().is_empty() {
            match self.stream.write(self.conn.pending_output()) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => self.conn.advance_output(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.stream.flush()?;
        Ok(())
    }

    /// Reads once from the transport into the core, bounded by the core's
    /// next deadline, then tells the core the time.
    fn fill(&mut self) -> Result<(), Error> {
        let timeout = self.conn.poll_timeout().map(|deadline| {
            deadline
                .saturating_sub(self.start.elapsed())
                .max(Duration::from_millis(1))
        });
        if timeout.is_some() || self.timeout_set.is_some() {
            self.stream.set_read_timeout(timeout)?;
            self.timeout_set = timeout;
        }
        let result = self.stream.read(self.conn.read_buffer());
        match result {
            Ok(0) => self.conn.receive_eof(),
            Ok(n) => self.conn.commit_read(n),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                self.close_transport();
                return Err(e.into());
            }
        }
        self.conn.handle_timeout(self.start.elapsed());
        Ok(())
    }

    /// After a failure: send what the core queued (a close frame or an HTTP
    /// refusal) as best we can, then close the transport.
    fn abandon(&mut self, error: Error) -> Error {
        let _ = self.flush();
        self.close_transport();
        error
    }

    fn close_transport(&mut self) {
        if !self.transport_closed {
            self.transport_closed = true;
            let _ = self.stream.shutdown();
        }
    }
}
