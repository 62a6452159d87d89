//! Byte transports the blocking driver runs over.

use std::boxed::Box;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A byte transport the driver can run over.
///
/// The two hooks let the driver honour the core's timers and close the
/// transport when the protocol says so; their defaults do nothing, which
/// suits in-memory streams. Wrap any other `Read + Write` in [`Plain`].
pub trait Transport: Read + Write {
    /// Bounds the next blocking read (`None`: no bound).
    ///
    /// # Errors
    ///
    /// The transport's own; the driver ignores them (the read or write
    /// that follows reports a transport that is gone).
    fn set_read_timeout(&mut self, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    /// Bounds the next blocking write (`None`: no bound), so the close and
    /// keepalive timeouts fire while a peer that stopped reading leaves a
    /// write waiting. A transport without it waits as long as the write
    /// does.
    ///
    /// # Errors
    ///
    /// As [`Transport::set_read_timeout`].
    fn set_write_timeout(&mut self, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    /// Whether [`Transport::set_read_timeout`] really bounds a blocking
    /// read (a socket's does). If so, the driver keeps its read buffer
    /// across a short read after long ones, as the next large message
    /// likely follows, and relies on the timeout to give the buffer back
    /// once a second passes without a long read; the transport's read and
    /// write timeouts are then the driver's for that second, as they are
    /// while any timer of the protocol is armed. If not (the default), the
    /// buffer goes back before every read that may wait long, so an idle
    /// connection holds none.
    fn reads_time_out(&self) -> bool {
        false
    }

    /// The read and write timeouts the transport has now (the
    /// application's), which the driver puts back once no timer of its own
    /// bounds reads and writes. The default, none, suits a transport whose
    /// setters do nothing.
    fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        (None, None)
    }

    /// Closes the transport in both directions.
    ///
    /// # Errors
    ///
    /// The transport's own; the driver ignores them, the connection being
    /// over.
    fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }

    fn reads_time_out(&self) -> bool {
        true
    }

    fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        (self.read_timeout().ok().flatten(), self.write_timeout().ok().flatten())
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

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)
    }

    fn reads_time_out(&self) -> bool {
        true
    }

    fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        (self.read_timeout().ok().flatten(), self.write_timeout().ok().flatten())
    }

    fn shutdown(&mut self) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, Shutdown::Both)
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(timeout)
    }

    fn reads_time_out(&self) -> bool {
        (**self).reads_time_out()
    }

    fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        (**self).timeouts()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        (**self).shutdown()
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(timeout)
    }

    fn reads_time_out(&self) -> bool {
        (**self).reads_time_out()
    }

    fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        (**self).timeouts()
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

    // A payload queued by reference goes out with its header in one write.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<S: Read + Write> Transport for Plain<S> {}

/// The transport [`WebSocket::connect`](super::WebSocket::connect) opens:
/// TCP for `ws://`, TLS over TCP for `wss://` (feature `rustls`).
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`: rustls over TCP.
    #[cfg(feature = "rustls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP socket underneath, for socket options.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(s) => s,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(s) => &s.sock,
        }
    }
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.read(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(s) => tls_read(s, buf),
        }
    }
}

/// The TLS handshake over `tcp`, over by `deadline` (the opening
/// handshake's). Each socket read and write is bounded by the time left,
/// and the deadline is checked between them: rustls's own loop reads until
/// a whole record has come, so a peer that sent a byte at a time, each
/// within a read timeout, held it for as long as it liked.
#[cfg(feature = "rustls")]
pub(super) fn tls_handshake(
    tls: &mut rustls::ClientConnection,
    tcp: &mut TcpStream,
    deadline: Option<std::time::Instant>,
) -> io::Result<()> {
    use std::io::ErrorKind;
    let timed_out = |e: io::Error| match e.kind() {
        ErrorKind::WouldBlock => io::Error::from(ErrorKind::TimedOut),
        _ => e,
    };
    loop {
        let left = match deadline {
            Some(deadline) => match deadline.saturating_duration_since(std::time::Instant::now()) {
                left if left.is_zero() => return Err(ErrorKind::TimedOut.into()),
                left => Some(left),
            },
            None => None,
        };
        tcp.set_read_timeout(left)?;
        tcp.set_write_timeout(left)?;
        while tls.wants_write() {
            tls.write_tls(tcp).map_err(timed_out)?;
        }
        if !tls.is_handshaking() {
            break;
        }
        if tls.read_tls(tcp).map_err(timed_out)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        if let Err(e) = tls.process_new_packets() {
            // The alert rustls queued, as far as TCP takes it.
            let _ = tls.write_tls(tcp);
            return Err(io::Error::new(ErrorKind::InvalidData, e));
        }
    }
    // The driver sets its own timeouts from here.
    tcp.set_read_timeout(None)?;
    tcp.set_write_timeout(None)
}

/// One read of plaintext with at most one read of the socket: what rustls
/// already decrypted, else what the next socket read completes. A record
/// still partial after it is `WouldBlock`, which the driver takes as a
/// read that timed out: it checks its deadlines and reads on.
/// (`StreamOwned::read` reads until a whole record has come, so a peer
/// trickling a record a byte at a time held a close timeout for as long
/// as it liked.)
#[cfg(feature = "rustls")]
fn tls_read(s: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>, buf: &mut [u8]) -> io::Result<usize> {
    use std::io::ErrorKind;
    if s.conn.is_handshaking() {
        // Only a stream made by hand gets here: `connect` finishes the
        // handshake first.
        return s.read(buf);
    }
    match s.conn.reader().read(buf) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        done => return done,
    }
    let failed = |s: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>, e: rustls::Error| {
        // The alert rustls queued, as far as TCP takes it.
        let _ = s.conn.write_tls(&mut s.sock);
        io::Error::new(ErrorKind::InvalidData, e)
    };
    // An error rustls kept from a record behind the plaintext just read
    // out (see below) ends the stream before the socket is read again.
    if let Err(e) = s.conn.process_new_packets() {
        return Err(failed(s, e));
    }
    while s.conn.wants_write() {
        s.conn.write_tls(&mut s.sock)?;
    }
    s.conn.read_tls(&mut s.sock)?;
    if let Err(e) = s.conn.process_new_packets() {
        // Records that came whole before the bad one were sent first:
        // their plaintext is read first, the error at the next read.
        return match s.conn.reader().read(buf) {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(failed(s, e)),
        };
    }
    // At the end of the stream rustls says `Ok(0)` after the peer's
    // close_notify and `UnexpectedEof` without it, never `WouldBlock`.
    s.conn.reader().read(buf)
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write_vectored(bufs),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.flush(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(s) => s.flush(),
        }
    }
}

impl Transport for MaybeTlsStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.set_read_timeout(timeout),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(s) => s.sock.set_read_timeout(timeout),
        }
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.set_write_timeout(timeout),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(s) => s.sock.set_write_timeout(timeout),
        }
    }

    // Both set the TCP socket's timeouts.
    fn reads_time_out(&self) -> bool {
        true
    }

    fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        match self {
            MaybeTlsStream::Plain(s) => Transport::timeouts(s),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(s) => Transport::timeouts(&s.sock),
        }
    }

    fn shutdown(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => TcpStream::shutdown(s, Shutdown::Both),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(s) => {
                // close_notify first (RFC 8446 §6.1), as best we can; a
                // session that never finished its handshake has nothing to
                // close, and flushing it would wait on the peer.
                if !s.conn.is_handshaking() {
                    s.conn.send_close_notify();
                    let _ = s.flush();
                }
                s.sock.shutdown(Shutdown::Both)
            }
        }
    }
}
