//! Every deadline fires whatever the write side does: a peer that stops
//! reading leaves our writes waiting, and the close timeout (RFC 6455
//! §7.1.1: an endpoint may give up on a close handshake) and keepalive
//! still end the connection — blocking and tokio drivers, blocking and
//! non-blocking transports. Real loopback sockets; every wait is bounded.

use rfc6455::testkit;

use rfc6455::error::Timeout;
use rfc6455::websocket::{Event, WebSocket};
use rfc6455::{ClientRequest, Config, Connection, Error, ReadyState, Role, Transport};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use testkit::{accept_for, plain_config, wire};

/// How long a test waits for what must happen in about two seconds.
const BOUND: Duration = Duration::from_secs(10);

fn timers() -> Config {
    plain_config()
        .close_timeout(Some(Duration::from_secs(1)))
        .keepalive_interval(Some(Duration::from_secs(1)))
}

/// Reads an HTTP head (up to the blank line).
fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "head cut short");
        head.push(byte[0]);
    }
    head
}

/// A server that answers the handshake and then never reads.
fn raw_server(listener: &TcpListener) -> TcpStream {
    let (mut stream, _) = listener.accept().unwrap();
    let request = read_head(&mut stream);
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_for(&request)
    );
    stream.write_all(response.as_bytes()).unwrap();
    stream
}

/// A client that completes the handshake by hand.
fn raw_client(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    stream
}

/// Sends ~4.5 MiB of pings to a peer (`to` is its role), as far as it
/// reads them, and then neither reads nor writes.
fn flood_pings(stream: &mut TcpStream, to: Role) {
    let ping = wire(to, &[testkit::ping(&[7; 125])]);
    let burst: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 36_000).collect();
    stream.set_write_timeout(Some(Duration::from_millis(500))).unwrap();
    let _ = stream.write_all(&burst);
}

/// Reads messages until the connection ends; its failure, if it failed.
fn read_to_the_end<S: rfc6455::Transport>(ws: &mut WebSocket<S>) -> Option<Error> {
    loop {
        match ws.read() {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
}

/// A server that answers the handshake, floods the client with pings as
/// far as it reads them, then neither reads nor writes.
fn flooding_server() -> (std::net::SocketAddr, thread::JoinHandle<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut stream = raw_server(&listener);
        flood_pings(&mut stream, Role::Client);
        stream
    });
    (addr, server)
}

/// Runs `f` on a thread; its result, or a failure if it takes past BOUND.
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(BOUND)
        .unwrap_or_else(|_| panic!("{what}: still waiting after {BOUND:?}"))
}

// ---------------------------------------------------------------- blocking

// Keepalive: a server whose client flooded pings and went silent, reading
// nothing, is dropped after two silent intervals though its pong writes
// wait.
#[test]
fn blocking_server_drops_a_client_that_stopped_reading() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = WebSocket::accept_with(stream, timers(), |_| Ok(rfc6455::Accept::new())).unwrap();
        let started = Instant::now();
        let failure = read_to_the_end(&mut ws);
        (failure, started.elapsed())
    });
    let mut client = raw_client(addr);
    flood_pings(&mut client, Role::Server);
    let (failure, took) = bounded("blocking server", move || server.join().unwrap());
    assert!(
        matches!(failure, Some(Error::Timeout(Timeout::Keepalive))),
        "{failure:?}"
    );
    assert!(took < Duration::from_secs(6), "dropped after {took:?}");
    drop(client);
}

// Keepalive in the client role: a server that flooded pings and went
// silent, reading nothing, is dropped by the blocking client.
#[test]
fn blocking_client_drops_a_server_that_stopped_reading() {
    let (addr, server) = flooding_server();
    let (failure, took) = bounded("blocking client", move || {
        let stream = TcpStream::connect(addr).unwrap();
        let mut ws = WebSocket::client(stream, ClientRequest::new("localhost", "/"), timers()).unwrap();
        let started = Instant::now();
        let failure = read_to_the_end(&mut ws);
        (failure, started.elapsed())
    });
    assert!(
        matches!(failure, Some(Error::Timeout(Timeout::Keepalive))),
        "{failure:?}"
    );
    assert!(took < Duration::from_secs(8), "dropped after {took:?}");
    drop(server.join());
}

/// A blocking client with `queued` bytes it cannot write to a server that
/// never reads.
fn stuck_blocking_client(queued: usize) -> (WebSocket<TcpStream>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || raw_server(&listener));
    let stream = TcpStream::connect(addr).unwrap();
    let request = ClientRequest::new("localhost", "/");
    let mut ws = WebSocket::client(stream, request, timers()).unwrap();
    let server = server.join().unwrap();
    assert!(matches!(ws.next_event(), Some(Event::Open)));
    ws.set_high_water_mark(usize::MAX);
    ws.send(vec![1u8; queued]).unwrap();
    (ws, server)
}

// The close timeout bounds close() though the close frame sits behind
// 16 MiB the server never reads.
#[test]
fn blocking_close_returns_by_the_close_timeout_when_the_server_never_reads() {
    let (mut ws, server) = stuck_blocking_client(16 << 20);
    let took = bounded("close()", move || {
        let started = Instant::now();
        ws.close(Some(1000), None).unwrap();
        let events: Vec<_> = ws.events().collect();
        let took = started.elapsed();
        match events.as_slice() {
            [Event::Error(e), Event::Close(c)] => {
                assert!(matches!(e.error, Error::Timeout(Timeout::Close)), "{:?}", e.error);
                assert_eq!(c.code, 1006);
            }
            other => panic!("{other:?}"),
        }
        took
    });
    assert!(took < Duration::from_secs(3), "close took {took:?}");
    drop(server);
}

// Dropping the socket starts a close and writes it as best it can: no
// longer than the close timeout.
#[test]
fn blocking_drop_returns_by_the_close_timeout_when_the_server_never_reads() {
    let (ws, server) = stuck_blocking_client(16 << 20);
    let took = bounded("drop()", move || {
        let started = Instant::now();
        drop(ws);
        started.elapsed()
    });
    assert!(took < Duration::from_secs(3), "drop took {took:?}");
    drop(server);
}

// Over a non-blocking transport: close() starts the close (no error for a
// write that would block), and try_next_event() reports the close timeout
// once it is due, with no read or write ever completing.
#[test]
fn nonblocking_transport_reports_the_close_timeout_when_due() {
    let (mut ws, server) = stuck_blocking_client(16 << 20);
    ws.get_ref().unwrap().set_nonblocking(true).unwrap();
    let started = Instant::now();
    ws.close(Some(1000), None).unwrap();
    let mut events = Vec::new();
    while started.elapsed() < BOUND && events.len() < 2 {
        match ws.try_next_event() {
            Some(event) => events.push(event),
            None => thread::sleep(Duration::from_millis(20)),
        }
    }
    let took = started.elapsed();
    match events.as_slice() {
        [Event::Error(e), Event::Close(c)] => {
            assert!(matches!(e.error, Error::Timeout(Timeout::Close)), "{:?}", e.error);
            assert_eq!(c.code, 1006);
        }
        other => panic!("after {took:?}: {other:?}"),
    }
    assert!(took >= Duration::from_millis(900), "fired early: {took:?}");
    assert!(took < Duration::from_secs(3), "fired late: {took:?}");
    drop(server);
}

/// A TLS server that reads the ClientHello and never answers.
#[cfg(feature = "rustls")]
fn silent_tls_server() -> (std::net::SocketAddr, thread::JoinHandle<Option<TcpStream>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().ok()?;
        let mut hello = [0u8; 512];
        let _ = stream.read(&mut hello);
        Some(stream)
    });
    (addr, server)
}

#[cfg(feature = "rustls")]
fn handshake_in_a_second() -> Config {
    plain_config().handshake_timeout(Some(Duration::from_secs(1)))
}

// WHATWG "establish a WebSocket connection" and RFC 6455 §4.1: the opening
// handshake includes the TLS handshake for wss://, so its deadline covers it.
#[cfg(feature = "rustls")]
#[test]
fn blocking_handshake_timeout_covers_a_tls_handshake_that_never_ends() {
    let (addr, server) = silent_tls_server();
    let (failure, took) = bounded("blocking wss connect", move || {
        let started = Instant::now();
        let mut ws = WebSocket::connect_with(
            &format!("wss://127.0.0.1:{}/", addr.port()),
            &[],
            handshake_in_a_second(),
        )
        .unwrap();
        let failure = match ws.next_event() {
            Some(Event::Error(e)) => Some(e.error),
            _ => None,
        };
        (failure, started.elapsed())
    });
    assert!(
        matches!(failure, Some(Error::Timeout(Timeout::Handshake))),
        "{failure:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    drop(server.join());
}

// ---------------------------------------------------------------- tokio

#[cfg(feature = "tokio")]
mod tokio_driver {
    use super::*;
    use futures_util::TryStreamExt;
    use rfc6455::Message;
    use rfc6455::tokio::WebSocket;

    // As the blocking server above.
    #[test]
    fn tokio_server_drops_a_client_that_stopped_reading() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let runtime = ::tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                listener.set_nonblocking(true).unwrap();
                let listener = ::tokio::net::TcpListener::from_std(listener).unwrap();
                let (stream, _) = listener.accept().await.unwrap();
                let ws = WebSocket::accept_with(stream, timers(), |_| Ok(rfc6455::Accept::new()))
                    .await
                    .unwrap();
                let started = Instant::now();
                let failure = ws.try_for_each(|_| async { Ok(()) }).await.err();
                (failure, started.elapsed())
            })
        });
        let mut client = raw_client(addr);
        flood_pings(&mut client, Role::Server);
        let (failure, took) = bounded("tokio server", move || server.join().unwrap());
        assert!(
            matches!(failure, Some(Error::Timeout(Timeout::Keepalive))),
            "{failure:?}"
        );
        assert!(took < Duration::from_secs(6), "dropped after {took:?}");
        drop(client);
    }

    // As the blocking test: the deadline covers TCP and TLS.
    #[cfg(feature = "rustls")]
    #[test]
    fn tokio_handshake_timeout_covers_a_tls_handshake_that_never_ends() {
        let (addr, server) = silent_tls_server();
        let (result, took) = bounded("tokio wss connect", move || {
            let runtime = ::tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let started = Instant::now();
                let url = format!("wss://127.0.0.1:{}/", addr.port());
                let result = WebSocket::connect_with(&url, &[], handshake_in_a_second()).await;
                (result.map(drop), started.elapsed())
            })
        });
        assert!(matches!(result, Err(Error::Timeout(Timeout::Handshake))), "{result:?}");
        assert!(took < Duration::from_secs(3), "took {took:?}");
        drop(server.join());
    }

    // The close timeout in the server role: close() with 16 MiB queued
    // for a client that never reads ends by the close timeout.
    #[test]
    fn tokio_server_close_ends_by_the_close_timeout_when_the_client_never_reads() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let runtime = ::tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                listener.set_nonblocking(true).unwrap();
                let listener = ::tokio::net::TcpListener::from_std(listener).unwrap();
                let (stream, _) = listener.accept().await.unwrap();
                let config = timers().keepalive_interval(None);
                let mut ws = WebSocket::accept_with(stream, config, |_| Ok(rfc6455::Accept::new()))
                    .await
                    .unwrap();
                ws.set_high_water_mark(usize::MAX);
                ws.send(vec![1u8; 16 << 20]).await.unwrap();
                let started = Instant::now();
                ws.close(Some(1000), None).await.unwrap();
                let mut last = None;
                while let Some(event) = ws.next_event().await {
                    last = Some(event);
                }
                assert!(
                    matches!(last, Some(rfc6455::websocket::Event::Close(ref c)) if c.code == 1006),
                    "{last:?}"
                );
                started.elapsed()
            })
        });
        let client = raw_client(addr);
        let took = bounded("tokio server close", move || server.join().unwrap());
        assert!(took < Duration::from_secs(3), "took {took:?}");
        drop(client);
    }

    // A client whose server floods pings and never reads: close() and the
    // events after it end by the close timeout.
    #[test]
    fn tokio_client_close_ends_by_the_close_timeout_when_the_server_never_reads() {
        let (addr, server) = flooding_server();
        let took = bounded("tokio close", move || {
            let runtime = ::tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let config = timers().keepalive_interval(None);
                let mut ws = WebSocket::connect_with(&format!("ws://{addr}/"), &[], config)
                    .await
                    .unwrap();
                // Read pings until the pongs fill the way back.
                let stop = Instant::now() + Duration::from_secs(2);
                while Instant::now() < stop {
                    match ::tokio::time::timeout(Duration::from_millis(200), ws.read()).await {
                        Ok(Ok(Some(Message::Ping(_)))) => {}
                        _ => break,
                    }
                }
                let started = Instant::now();
                ws.close(Some(1000), None).await.unwrap();
                let mut last = None;
                while let Some(event) = ws.next_event().await {
                    last = Some(event);
                }
                assert!(
                    matches!(last, Some(rfc6455::websocket::Event::Close(ref c)) if c.code == 1006),
                    "{last:?}"
                );
                started.elapsed()
            })
        });
        assert!(took < Duration::from_secs(3), "took {took:?}");
        drop(server.join().unwrap());
    }
}

// ------------------------------------------------- blocking, each a fix
//
// Each test below failed before its fix (the comments say what happened
// then): the application's write timeout
// reported rather than taken for "would block", a borrowed socket's
// timeouts given back, the close timeout kept by a transport that buffers
// writes.

/// A connected pair of loopback sockets: (ours, the peer's).
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (peer, _) = listener.accept().unwrap();
    (ours, peer)
}

// ------------------------------------------------------------------ 2

// The application bounds writes with its own socket write timeout (what
// the timeouts' restore of 6661ee7 is for), and the peer floods pings and
// never reads. Once more than 64 KiB of pongs wait, a blocking
// `next_event()` whose write timed out on the application's timeout gets
// `Pending` from the core (`Blocking::wrote` takes a WouldBlock with no
// timer of ours armed for a non-blocking transport's) and returns `None`,
// "after the close event", while the socket is Open and no close event
// was ever delivered: `run()` and `events()` stop as if closed.
#[test]
fn next_event_does_not_end_while_open_when_the_application_s_write_timeout_fires() {
    let (ours, mut peer) = pair();
    ours.set_write_timeout(Some(Duration::from_millis(5))).unwrap();
    let conn = Connection::established(Role::Server, plain_config(), &[]);
    let mut ws = WebSocket::from_connection(conn, ours);
    assert!(matches!(ws.next_event(), Some(Event::Open)));
    // Fill the socket through the driver: 16 MiB the peer never reads
    // (the write gives up on the application's timeout).
    ws.send(vec![1u8; 16 << 20]).unwrap();
    assert!(ws.buffered_amount() > 0, "the peer took 16 MiB");
    // 600 pings (76 KiB of pongs to answer), then silence; the peer
    // never reads.
    let ping = wire(Role::Server, &[testkit::ping(&[7; 125])]);
    let burst: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 600).collect();
    peer.write_all(&burst).unwrap();
    let (event, state) = bounded("next_event()", move || {
        let event = ws.next_event();
        (format!("{event:?}"), ws.ready_state())
    });
    assert!(
        !(event == "None" && state == ReadyState::Open),
        "next_event() returned {event} (the end of the events) with readyState {state:?} and no close event"
    );
    drop(peer);
}

// ------------------------------------------------------------------ 3

// `Transport` is implemented for `&mut T`, so a socket the application
// lends keeps its own read and write timeouts. Dropping an open socket
// writes its close frame under the close timeout, which replaces the
// application's timeouts, and nothing puts them back: the application's
// socket is left with the driver's 5 s close-timeout bounds.
#[test]
fn dropping_a_socket_over_a_borrowed_stream_puts_the_application_s_timeouts_back() {
    let (mut ours, _peer) = pair();
    let app = (Some(Duration::from_secs(30)), Some(Duration::from_secs(40)));
    ours.set_read_timeout(app.0).unwrap();
    ours.set_write_timeout(app.1).unwrap();
    {
        let conn = Connection::established(Role::Server, plain_config(), &[]);
        let mut ws = WebSocket::from_connection(conn, &mut ours);
        assert!(matches!(ws.next_event(), Some(Event::Open)));
        ws.send("hello").unwrap();
        // Dropped open: the close frame goes out with the close timer armed.
    }
    let now = (ours.read_timeout().unwrap(), ours.write_timeout().unwrap());
    assert_eq!(now, app, "the application's timeouts after the socket was dropped");
}

// ------------------------------------------------------------------ 4

/// A socket whose peer stopped reading and whose buffers are full: every
/// write waits out the write timeout (for good without one; bounded here)
/// and reports `WouldBlock`, as a blocking socket with `SO_SNDTIMEO` does.
/// Reads find nothing the same way.
struct FullSocket {
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl FullSocket {
    fn wait(timeout: Option<Duration>) -> io::Error {
        thread::sleep(timeout.unwrap_or(BOUND));
        ErrorKind::WouldBlock.into()
    }
}

/// rustls 0.23's `Stream` over [`FullSocket`], reduced to what matters:
/// `write` first pushes out what it holds (errors reported), takes the new
/// bytes, then tries to push them out and ignores a failure ("don't let
/// any errors mask the fact we've consumed `len` bytes"); `flush` pushes
/// out what it holds, errors reported.
struct LikeRustls {
    sock: FullSocket,
    held: Vec<u8>,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl LikeRustls {
    fn push_out(&mut self, what: &str) -> io::Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let e = FullSocket::wait(self.sock.write_timeout);
        self.log
            .lock()
            .unwrap()
            .push(format!("{what}: socket write waited {:?}", started.elapsed()));
        Err(e)
    }
}

impl Read for LikeRustls {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        self.push_out("read")?;
        Err(FullSocket::wait(self.sock.read_timeout))
    }
}

impl Write for LikeRustls {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push_out("write (prior)")?;
        let n = buf.len().min(16 * 1024);
        self.held.extend_from_slice(&buf[..n]);
        let _ = self.push_out("write");
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.push_out("flush")
    }
}

impl Transport for LikeRustls {
    fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.sock.read_timeout = t;
        Ok(())
    }
    fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.sock.write_timeout = t;
        Ok(())
    }
    fn reads_time_out(&self) -> bool {
        true
    }
    fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        (self.sock.read_timeout, self.sock.write_timeout)
    }
}

// The peer stopped reading and the socket is full; `close()` with a 1 s
// close timeout. The close frame's write waits out the whole timeout and,
// like rustls's, reports success (the bytes are taken); the core has no
// more to write, so it asks no timer, and the flush that follows runs on
// the same socket timeout, set for the deadline that has just passed: it
// waits a second full close timeout. close() returns after twice the
// close timeout (the driver promises deadlines at most ~12% late); the
// same holds for a keepalive ending a write.
#[test]
fn close_over_a_buffering_transport_returns_by_the_close_timeout() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let config: Config = plain_config().close_timeout(Some(Duration::from_secs(1)));
    let conn = Connection::established(Role::Server, config, &[]);
    let mut ws = WebSocket::from_connection(
        conn,
        LikeRustls {
            sock: FullSocket {
                read_timeout: None,
                write_timeout: None,
            },
            held: Vec::new(),
            log: Arc::clone(&log),
        },
    );
    assert!(matches!(ws.try_next_event(), Some(Event::Open)));
    let took = bounded("close()", move || {
        let started = Instant::now();
        let closed = ws.close(Some(1000), None);
        let took = started.elapsed();
        assert!(closed.is_ok(), "{closed:?}");
        took
    });
    assert!(
        took < Duration::from_millis(1_500),
        "close() took {took:?} with a 1 s close timeout: {:?}",
        log.lock().unwrap()
    );
}
