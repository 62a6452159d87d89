#![cfg(feature = "tokio")]
//! The tokio driver over loopback TCP: its timers end a connection whatever
//! the application waits in (a flush behind a full socket, a read half
//! while the write half closed), and cancelled reads and sends lose
//! nothing. Every wait is bounded.

use rfc6455::testkit::{self, XorShift, binary, close_frame, cont, decode_frames, ping, plain_config, text, wire};
use rfc6455::tokio::WebSocket;
use rfc6455::{Accept, Config, Message, Role};
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, DuplexStream, duplex};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep, timeout};

const LIMIT: Duration = Duration::from_secs(60);

/// A hand-made client: the handshake by hand, then raw bytes.
async fn raw_client(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    raw_handshake(&mut s).await;
    s
}

/// The client's side of the handshake, by hand, over any stream.
async fn raw_handshake<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) {
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "head cut short");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
}

/// A server `WebSocket` over an in-memory pipe of `pipe` bytes each way,
/// whose shutdown (unlike a socket's) wakes no writer waiting on it.
async fn server_duplex(pipe: usize, config: Config) -> (WebSocket<DuplexStream>, DuplexStream) {
    let (ours, mut raw) = duplex(pipe);
    let (ws, ()) = tokio::join!(
        WebSocket::accept_with(ours, config, |_| Ok(Accept::new())),
        raw_handshake(&mut raw)
    );
    (ws.expect("server handshake"), raw)
}

/// Everything `raw` receives within `wait`, or until it ends.
async fn drain_for<S: AsyncRead + Unpin>(raw: &mut S, wait: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let end = Instant::now() + wait;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match tokio::time::timeout_at(end, raw.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// A server `WebSocket` over `wrap(tcp)` with a raw client at the other end.
async fn server_with<S, F>(config: Config, wrap: F) -> (WebSocket<S>, TcpStream)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(TcpStream) -> S,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted, raw) = tokio::join!(
        async {
            let (tcp, _) = listener.accept().await.unwrap();
            WebSocket::accept_with(wrap(tcp), config, |_| Ok(Accept::new())).await
        },
        raw_client(addr)
    );
    (accepted.expect("server handshake"), raw)
}

async fn server(config: Config) -> (WebSocket<TcpStream>, TcpStream) {
    server_with(config, |tcp| tcp).await
}

fn brief(m: &Message) -> (u8, Vec<u8>) {
    let kind = match m {
        Message::Text(_) => 1,
        Message::Binary(_) => 2,
        Message::TextPart(_) => 3,
        Message::BinaryPart(_) => 4,
        Message::Ping(_) => 9,
        Message::Pong(_) => 10,
        _ => 0,
    };
    (kind, m.as_bytes().to_vec())
}

// ====================================================================== 1

/// The write half closes while the read half waits in `read()` (the usual
/// split shape). The peer gets the close frame and never answers: the
/// close timeout (300 ms) must end the connection and the read half must
/// see it. The close arms the core's close timer from the write half; the
/// read half, parked on the socket with no timer, must be woken to watch
/// it (it was not, and waited for good).
#[tokio::test]
async fn split_close_from_the_write_half_times_out_while_the_read_half_waits() {
    timeout(LIMIT, async {
        let config = plain_config().close_timeout(Some(Duration::from_millis(300)));
        let (ws, mut raw) = server(config).await;
        let (mut read, mut write) = ws.split();
        let reader = tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                match read.read().await {
                    Ok(Some(m)) => seen.push(format!("{:?}", brief(&m))),
                    Ok(None) => break,
                    Err(e) => seen.push(format!("Err({e})")),
                }
            }
            seen
        });
        // Let the read half park in its read.
        sleep(Duration::from_millis(100)).await;
        let start = Instant::now();
        write.close(Some(1000), None).await.unwrap();
        // The peer receives the close frame and stays silent.
        let mut buf = [0u8; 16];
        let n = timeout(Duration::from_secs(2), raw.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(buf[0], 0x88, "a close frame: {:?}", &buf[..n]);
        let ended = timeout(Duration::from_secs(5), reader).await;
        let elapsed = start.elapsed();
        let seen = ended
            .unwrap_or_else(|_| {
                panic!("the read half did not end {elapsed:?} after a close with a 300 ms close timeout")
            })
            .unwrap();
        assert!(seen.iter().any(|s| s.contains("close")), "{seen:?}");
        drop(raw);
    })
    .await
    .expect("test bounded");
}

// ====================================================================== 2

/// Sends 1000-byte messages (high-water mark 0) until a send stays
/// pending for 300 ms: the peer stopped reading and the transport is full.
async fn fill<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocket<S>) {
    for _ in 0..200_000 {
        match timeout(Duration::from_millis(300), ws.send(vec![7u8; 1000])).await {
            Ok(r) => r.unwrap(),
            Err(_) => return,
        }
    }
    panic!("the transport never filled");
}

/// Reads to the end; the errors seen, or `None` if it did not end in 5 s.
async fn read_to_end<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocket<S>) -> Option<Vec<String>> {
    let mut errors = Vec::new();
    let ended = timeout(Duration::from_secs(5), async {
        loop {
            match ws.read().await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => errors.push(format!("{e:?}")),
            }
        }
    })
    .await;
    ended.ok().map(|()| errors)
}

/// A server over a transport that takes bytes and then waits in
/// `poll_flush` while the socket is full (as `TlsStream` does), filled by
/// sends that its peer (returned with it) never reads.
async fn full_behind_a_flush(config: Config) -> (WebSocket<BufWriter<TcpStream>>, TcpStream) {
    let (mut ws, raw) = server_with(config, |tcp| BufWriter::with_capacity(1 << 20, tcp)).await;
    fill(&mut ws).await;
    (ws, raw)
}

/// A transport that takes bytes and then waits in `poll_flush` while the
/// socket is full (as `TlsStream` does: `poll_write` is ready once rustls
/// took the plaintext; here `BufWriter<TcpStream>`), a peer that stopped
/// reading: `close()` must return by the close timeout (500 ms). The close
/// frame is taken by the write and the flush waits: it must watch the
/// timers as a waiting write does (it returned `Pending` without arming the
/// close timer's `Sleep`, and nothing woke the task).
#[tokio::test]
async fn close_returns_by_its_close_timeout_when_the_flush_waits() {
    timeout(LIMIT, async {
        let config = plain_config().close_timeout(Some(Duration::from_millis(500)));
        let (mut ws, raw) = full_behind_a_flush(config).await;
        let start = Instant::now();
        let closed = timeout(Duration::from_secs(5), ws.close(Some(1000), None)).await;
        let took = start.elapsed();
        assert!(
            closed.is_ok() && took < Duration::from_secs(3),
            "close() with a 500 ms close timeout: {closed:?} after {took:?}"
        );
        drop(raw);
    })
    .await
    .expect("test bounded");
}

/// The same transport, keepalive 300 ms, the application only reads: the
/// keepalive fails the connection, and `read()` must then end. The failure
/// makes the DOM layer close the transport first (`Next::CloseTransport`),
/// which may wait for the flush at most 10 ms (`CLOSE_WRITE_WAIT`) from its
/// first attempt (that wait was set anew at each poll, never passed, and
/// the error and close events never came out).
#[tokio::test]
async fn a_keepalive_failure_ends_read_when_the_transport_cannot_flush() {
    timeout(LIMIT, async {
        let config = plain_config().keepalive_interval(Some(Duration::from_millis(300)));
        let (mut ws, raw) = full_behind_a_flush(config).await;
        let start = Instant::now();
        let ended = read_to_end(&mut ws).await;
        let took = start.elapsed();
        let errors = ended.unwrap_or_else(|| panic!("read() did not end {took:?} after a 300 ms keepalive"));
        assert!(errors.len() == 1 && errors[0].contains("Keepalive"), "{errors:?}");
        drop(raw);
    })
    .await
    .expect("test bounded");
}

/// The same over a real `wss://` connection (the crate's `TlsStream`): a
/// server that stops reading after the handshake; the client fills the
/// socket, closes with a 500 ms close timeout, then reads to the end.
#[cfg(feature = "rustls")]
#[tokio::test]
async fn wss_close_to_a_server_that_stopped_reading_ends_by_the_close_timeout() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::sync::Arc;
    timeout(LIMIT, async {
        // The crate's provider (src/tls.rs says why ring, deprecated).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca = CertificateDer::from(include_bytes!("data/tls/ca.der").to_vec());
        let leaf = CertificateDer::from(include_bytes!("data/tls/localhost.der").to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            include_bytes!("data/tls/localhost.key.der").to_vec(),
        ));
        let server_config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![leaf, ca.clone()], key)
                .unwrap(),
        );
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).unwrap();
        let client_config = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Handshakes, then neither reads nor writes for 12 s.
        std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let tls = rustls::StreamOwned::new(rustls::ServerConnection::new(server_config).unwrap(), tcp);
            let ws = rfc6455::websocket::WebSocket::accept(rfc6455::Plain(tls));
            std::thread::sleep(Duration::from_secs(12));
            drop(ws);
        });
        let config = plain_config().close_timeout(Some(Duration::from_millis(500)));
        let mut ws = WebSocket::connect_tls(&format!("wss://localhost:{port}/"), &[], config, client_config)
            .await
            .unwrap();
        fill(&mut ws).await;
        let start = Instant::now();
        let closed = timeout(Duration::from_secs(4), ws.close(Some(1000), None)).await;
        let close_took = start.elapsed();
        let ended = read_to_end(&mut ws).await;
        let took = start.elapsed();
        assert!(
            closed.is_ok() && close_took < Duration::from_secs(3),
            "close() with a 500 ms close timeout: {closed:?} after {close_took:?}"
        );
        assert!(
            ended.is_some(),
            "read() did not end {took:?} after close() (500 ms close timeout)"
        );
    })
    .await
    .expect("test bounded");
}

// ====================================================================== 3

/// What the raw client sends, and what `read()` must return for it.
fn script(seed: u64, count: usize) -> (Vec<u8>, Vec<(u8, Vec<u8>)>) {
    let mut rng = XorShift::new(seed);
    let mut frames = Vec::new();
    let mut expected = Vec::new();
    for i in 0..count {
        let len = (rng.next_u64() % 3000) as usize;
        let body: Vec<u8> = (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect();
        match rng.next_u64() % 4 {
            0 => {
                frames.push(text(std::str::from_utf8(&body).unwrap()));
                expected.push((1, body));
            }
            1 => {
                frames.push(binary(&body));
                expected.push((2, body));
            }
            2 => {
                // Fragmented, a ping in the middle.
                let cut = len / 2;
                let p = format!("p{i}").into_bytes();
                frames.push(testkit::frame(testkit::OP_TEXT, &body[..cut]).fin(false));
                frames.push(ping(&p));
                frames.push(cont(&body[cut..]));
                expected.push((9, p));
                expected.push((1, body));
            }
            _ => {
                let p = format!("q{i}").into_bytes();
                frames.push(ping(&p));
                expected.push((9, p));
            }
        }
    }
    frames.push(close_frame(1000, b""));
    (wire(Role::Server, &frames), expected)
}

/// Sends `bytes` in random chunks with random pauses; then reads to EOF
/// and returns what the server wrote.
async fn trickle(mut raw: TcpStream, bytes: Vec<u8>, seed: u64) -> Vec<u8> {
    let (mut rd, mut wr) = raw.split();
    let reading = async {
        let mut all = Vec::new();
        rd.read_to_end(&mut all).await.unwrap();
        all
    };
    let writing = async {
        let mut rng = XorShift::new(seed);
        let mut at = 0;
        while at < bytes.len() {
            let n = (1 + rng.next_u64() % 1500) as usize;
            let end = (at + n).min(bytes.len());
            wr.write_all(&bytes[at..end]).await.unwrap();
            at = end;
            match rng.next_u64() % 4 {
                0 => sleep(Duration::from_micros(rng.next_u64() % 300)).await,
                1 => tokio::task::yield_now().await,
                _ => {}
            }
        }
    };
    let (all, ()) = tokio::join!(reading, writing);
    all
}

#[tokio::test]
async fn cancelled_reads_lose_nothing_over_tcp() {
    timeout(LIMIT, async {
        for seed in 1..=6u64 {
            let (mut ws, raw) = server(plain_config()).await;
            let (bytes, expected) = script(seed, 400);
            let peer = tokio::spawn(trickle(raw, bytes, seed));
            let mut got = Vec::new();
            let mut cancels = 0usize;
            let mut rng = XorShift::new(seed * 7);
            loop {
                let mode = rng.next_u64() % 3;
                tokio::select! {
                    biased;
                    r = ws.read() => match r {
                        Ok(Some(m)) => got.push(brief(&m)),
                        Ok(None) => break,
                        Err(e) => panic!("seed {seed}: {e}"),
                    },
                    _ = async {
                        match mode {
                            0 => tokio::task::yield_now().await,
                            1 => sleep(Duration::from_micros(50)).await,
                            _ => sleep(Duration::from_millis(5)).await,
                        }
                    } => cancels += 1,
                }
            }
            assert!(cancels > 50, "seed {seed}: only {cancels} cancellations");
            assert_eq!(got.len(), expected.len(), "seed {seed}");
            for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                assert_eq!(g, e, "seed {seed}: item {i}");
            }
            let out = timeout(Duration::from_secs(10), peer).await.unwrap().unwrap();
            let frames = decode_frames(&out);
            let pongs: Vec<Vec<u8>> = frames
                .iter()
                .filter(|f| f.opcode == testkit::OP_PONG)
                .map(|f| f.payload.clone())
                .collect();
            let pings: Vec<Vec<u8>> = expected
                .iter()
                .filter(|(k, _)| *k == 9)
                .map(|(_, p)| p.clone())
                .collect();
            assert_eq!(pongs, pings, "seed {seed}: every ping answered once, in order");
            assert_eq!(frames.last().map(|f| f.opcode), Some(testkit::OP_CLOSE));
        }
    })
    .await
    .expect("test bounded");
}

// ====================================================================== 4

/// Sends cancelled at random points (mid-write on a small socket buffer):
/// the peer, the crate's own client, must see a valid stream with every
/// message whose send was polled, whole and in order.
#[tokio::test]
async fn cancelled_sends_keep_the_stream_valid() {
    timeout(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = WebSocket::accept_with(tcp, plain_config(), |_| Ok(Accept::new()))
                .await
                .unwrap();
            let mut rng = XorShift::new(99);
            let mut sent = Vec::new();
            for i in 0..300usize {
                let len = rng.below(200_000);
                let body: Vec<u8> = (0..len).map(|j| ((i * 31 + j) % 251) as u8).collect();
                {
                    let mut fut = Box::pin(ws.send(body.clone()));
                    // Polled at least once: the message is queued.
                    let first = futures_util::FutureExt::now_or_never(std::future::poll_fn(|cx| {
                        std::task::Poll::Ready(fut.as_mut().poll(cx))
                    }))
                    .unwrap();
                    if first.is_pending() {
                        let _ = timeout(Duration::from_micros(rng.below(500) as u64), fut).await;
                    }
                }
                sent.push(body);
                if rng.chance(1, 10) {
                    let _ = timeout(Duration::from_micros(100), ws.flush()).await;
                }
            }
            timeout(Duration::from_secs(20), ws.close(Some(1000), None))
                .await
                .unwrap()
                .unwrap();
            while let Ok(Some(_)) = timeout(Duration::from_secs(20), ws.read()).await.unwrap() {}
            sent
        });
        let mut client = WebSocket::connect_with(&format!("ws://{addr}/"), &[], plain_config())
            .await
            .unwrap();
        let mut got = Vec::new();
        loop {
            tokio::select! {
                biased;
                r = client.read() => match r {
                    Ok(Some(Message::Binary(b))) => got.push(b.to_vec()),
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => panic!("the client saw an invalid stream: {e}"),
                },
                _ = sleep(Duration::from_micros(300)) => {}
            }
        }
        let sent = server.await.unwrap();
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "messages differ");
    })
    .await
    .expect("test bounded");
}

/// A `select!` whose other branch is ready first drops `send(..)` before
/// polling it: the docs promise that a dropped send has queued its whole
/// message, so it is queued at the call, not at the first poll. Both the
/// socket's `send` and the write half's.
#[tokio::test]
async fn a_send_dropped_unpolled_by_select_has_queued_its_message() {
    timeout(LIMIT, async {
        let (mut ws, mut raw) = server_duplex(1 << 16, plain_config()).await;
        tokio::select! {
            biased;
            () = std::future::ready(()) => {}
            r = ws.send("whole") => r.unwrap(),
        }
        let (_read, mut write) = ws.split();
        tokio::select! {
            biased;
            () = std::future::ready(()) => {}
            r = write.send("half") => r.unwrap(),
        }
        write.send("next").await.unwrap();
        let got = drain_for(&mut raw, Duration::from_millis(300)).await;
        let payloads: Vec<Vec<u8>> = decode_frames(&got).into_iter().map(|f| f.payload).collect();
        assert_eq!(
            payloads,
            [&b"whole"[..], b"half", b"next"],
            "the dropped sends' messages"
        );
    })
    .await
    .expect("test bounded");
}

/// The write half waits on a full transport (the peer stopped reading)
/// when the read half fails the connection (invalid UTF-8 from the peer)
/// and closes the transport: the write half must be woken to see it, by
/// its `send` and by its `Sink`. Over a pipe, whose shutdown wakes no
/// writer; over TCP the kernel's wake-up had hidden it.
#[tokio::test]
async fn a_write_half_parked_on_a_full_transport_ends_when_the_read_half_fails() {
    use futures_util::SinkExt;
    timeout(LIMIT, async {
        for sink in [false, true] {
            let (ws, mut raw) = server_duplex(4096, plain_config()).await;
            let (mut read, mut write) = ws.split();
            let writer = tokio::spawn(async move {
                match sink {
                    false => write.send(vec![7u8; 64 << 10]).await,
                    true => {
                        for _ in 0..64 {
                            SinkExt::send(&mut write, Message::Binary(vec![7u8; 1024].into())).await?;
                        }
                        Ok(())
                    }
                }
            });
            sleep(Duration::from_millis(100)).await;
            assert!(!writer.is_finished(), "sink {sink}: the write waits on the full pipe");
            raw.write_all(&wire(Role::Server, &[testkit::text_bytes(&[0xff, 0xfe])]))
                .await
                .unwrap();
            let got = timeout(Duration::from_secs(2), read.read())
                .await
                .expect("the read half ends");
            assert!(matches!(got, Err(rfc6455::Error::Protocol(_))), "{got:?}");
            let sent = timeout(Duration::from_secs(3), writer).await;
            let sent = sent.unwrap_or_else(|_| panic!("sink {sink}: the write half still waits"));
            // The DOM-style `send` reports a transport failure as events;
            // the `Sink` as an error.
            assert_eq!(sent.unwrap().is_err(), sink, "sink {sink}");
            drop(raw);
        }
    })
    .await
    .expect("test bounded");
}

/// API misuse must not panic: send after close, polling after the end.
#[tokio::test]
async fn misuse_after_the_end_does_not_panic() {
    use futures_util::{SinkExt, StreamExt};
    timeout(LIMIT, async {
        let (mut ws, mut raw) = server(plain_config()).await;
        raw.write_all(&wire(Role::Server, &[close_frame(1000, b"")]))
            .await
            .unwrap();
        assert!(ws.read().await.unwrap().is_none());
        assert!(ws.read().await.unwrap().is_none());
        assert!(ws.next().await.is_none());
        assert!(ws.next_event().await.is_none());
        let _ = ws.send("late").await;
        let _ = ws.send(Message::text("late")).await;
        let _ = SinkExt::send(&mut ws, Message::binary(vec![1u8])).await;
        let _ = ws.close(Some(1000), None).await;
        let _ = ws.flush().await;
        let _ = SinkExt::close(&mut ws).await;
        let (mut r, mut w) = ws.split();
        assert!(r.read().await.unwrap().is_none());
        let _ = w.send("x").await;
        let _ = w.close(None, None).await;
    })
    .await
    .expect("test bounded");
}
