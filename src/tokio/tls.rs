//! `wss://` for the tokio driver: rustls' own state machine over a tokio
//! `TcpStream`.
//!
//! rustls is sans-IO like our core (`read_tls` / `process_new_packets` /
//! `reader` in, `writer` / `write_tls` out), so the glue is small. Doing it
//! here rather than through tokio-rustls keeps tokio out of a build that
//! enables `rustls` for the blocking driver alone.

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::TcpStream;
use core::pin::Pin;
use core::task::{Context, Poll};
use rustls::ClientConnection;
use rustls::pki_types::ServerName;
use std::io::{self, ErrorKind, Read, Write};
use std::sync::Arc;

/// A TLS client session over TCP, as [`WebSocket::connect`](super::WebSocket::connect)
/// opens it for `wss://`.
#[derive(Debug)]
pub struct TlsStream {
    tcp: TcpStream,
    tls: ClientConnection,
}

/// The TCP socket seen through `std::io` for rustls: a read or write that
/// would wait is `WouldBlock`, with the task's waker registered by the
/// poll underneath.
struct Sync<'a, 'b> {
    tcp: &'a mut TcpStream,
    cx: &'a mut Context<'b>,
}

impl Read for Sync<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut buf = ReadBuf::new(buf);
        match Pin::new(&mut *self.tcp).poll_read(self.cx, &mut buf) {
            Poll::Ready(Ok(())) => Ok(buf.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for Sync<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.tcp).poll_write(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(ErrorKind::WouldBlock.into()),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match Pin::new(&mut *self.tcp).poll_write_vectored(self.cx, bufs) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.tcp).poll_flush(self.cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(ErrorKind::WouldBlock.into()),
        }
    }
}

/// rustls' verdicts (a certificate refused, a bad record) as I/O errors,
/// as tokio-rustls reports them.
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, e)
}

impl TlsStream {
    /// Runs the TLS handshake for `name` over `tcp`.
    pub(crate) async fn connect(
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        tcp: TcpStream,
    ) -> io::Result<Self> {
        let tls = ClientConnection::new(config, name).map_err(tls_error)?;
        let mut stream = TlsStream { tcp, tls };
        core::future::poll_fn(|cx| stream.poll_handshake(cx)).await?;
        Ok(stream)
    }

    /// The TCP socket and the rustls session (negotiated ALPN protocol,
    /// peer certificates, …).
    pub fn get_ref(&self) -> (&TcpStream, &ClientConnection) {
        (&self.tcp, &self.tls)
    }

    fn sync<'a, 'b>(tcp: &'a mut TcpStream, cx: &'a mut Context<'b>) -> Sync<'a, 'b> {
        Sync { tcp, cx }
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.poll_write_tls(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            if !self.tls.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            match self.tls.read_tls(&mut Self::sync(&mut self.tcp, cx)) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "the server closed the connection during the TLS handshake",
                    )));
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
            if let Err(e) = self.process(cx) {
                // A handshake that completed before a bad record is done:
                // the records between come out of the first reads, and the
                // error, which rustls keeps, after them.
                return Poll::Ready(match self.tls.is_handshaking() {
                    true => Err(e),
                    false => Ok(()),
                });
            }
        }
    }

    /// Hands what rustls has queued (records, alerts) to TCP; `Pending`
    /// while TCP is full.
    fn poll_write_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut Self::sync(&mut self.tcp, cx)) {
                Ok(0) => return Poll::Ready(Err(ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Decrypts what `read_tls` took in. On a TLS error rustls has queued
    /// an alert for the peer: it goes out if TCP takes it at once.
    fn process(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.tls.process_new_packets() {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = self.tls.write_tls(&mut Self::sync(&mut self.tcp, cx));
                Err(tls_error(e))
            }
        }
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            // Plaintext rustls already holds; at the transport's end it
            // says `Ok(0)` after the peer's close_notify and
            // `UnexpectedEof` without one, never `WouldBlock`, so the loop
            // ends.
            match this.tls.reader().read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            // An error rustls kept from a record behind the plaintext just
            // read out (see below) ends the stream before the socket is
            // read again, where a quiet peer would leave it waiting.
            this.process(cx)?;
            match this.tls.read_tls(&mut Self::sync(&mut this.tcp, cx)) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
            if let Err(e) = this.process(cx) {
                // Records that came whole before the bad one were sent
                // first: their plaintext is read first, and the error, which
                // rustls keeps, at the next read (a review saw a message
                // lost to an alert that followed it in one segment).
                return match this.tls.reader().read(buf.initialize_unfilled()) {
                    Ok(n) if n > 0 => {
                        buf.advance(n);
                        Poll::Ready(Ok(()))
                    }
                    _ => Poll::Ready(Err(e)),
                };
            }
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut taken = 0;
        let mut drained_full = false;
        loop {
            // rustls takes plaintext up to its buffer limit, encrypted at
            // once into records.
            let n = this.tls.writer().write(&buf[taken..])?;
            taken += n;
            if n == 0 && taken == 0 {
                // Its buffer was full: once drained below, it takes more.
                // `Ok(0)` would tell the caller the stream is dead
                // (`WriteZero`, a review found a 12 MiB wss send failed so).
                if drained_full {
                    return Poll::Ready(Err(ErrorKind::WriteZero.into()));
                }
                drained_full = true;
            }
            match this.poll_write_tls(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // The records wait in rustls; the next write or flush
                // sends them (TCP's waker is registered).
                Poll::Pending if taken > 0 => return Poll::Ready(Ok(taken)),
                Poll::Pending => return Poll::Pending,
            }
            if taken == buf.len() || (n == 0 && taken > 0) {
                return Poll::Ready(Ok(taken));
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.tls.writer().flush()?;
        match this.poll_write_tls(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.tcp).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // rustls queues the alert once, however often shutdown is polled.
        this.tls.send_close_notify();
        match this.poll_write_tls(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.tcp).poll_shutdown(cx),
            other => other,
        }
    }
}
