//! `wss://` through rustls for both drivers, against servers on 127.0.0.1
//! whose CA and certificate are in `tests/data/tls/` (how they were made is
//! in its README).
#![cfg(all(feature = "rustls", feature = "tokio"))]

use rfc6455::websocket::{Event, WebSocket};
use rfc6455::{Config, Message, Plain};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

/// A CA, and a server certificate for `localhost` that it signed.
struct Pki {
    ca: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

fn pki() -> Pki {
    let ca = CertificateDer::from(include_bytes!("data/tls/ca.der").to_vec());
    let leaf = CertificateDer::from(include_bytes!("data/tls/localhost.der").to_vec());
    Pki {
        ca: ca.clone(),
        server_chain: vec![leaf, ca],
        server_key: include_bytes!("data/tls/localhost.key.der").to_vec(),
    }
}

/// The crate's provider (src/tls.rs says why ring, deprecated).
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(pki: &Pki) -> Arc<rustls::ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone()));
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(pki.server_chain.clone(), key)
            .unwrap(),
    )
}

/// A client configuration that trusts only the test CA.
fn client_config(pki: &Pki) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A blocking TLS echo server for `connections` connections, on a thread.
fn blocking_tls_echo_server(pki: &Pki, connections: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = server_config(pki);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(tcp) = stream else { continue };
            tcp.set_read_timeout(Some(LIMIT)).unwrap();
            let tls = rustls::StreamOwned::new(rustls::ServerConnection::new(Arc::clone(&config)).unwrap(), tcp);
            let Ok(mut ws) = WebSocket::accept(Plain(tls)) else {
                continue;
            };
            while let Ok(Some(message)) = ws.read() {
                match message {
                    Message::Text(text) => ws.send(text).unwrap(),
                    Message::Binary(bytes) => ws.send(bytes).unwrap(),
                    _ => {}
                }
            }
        }
    });
    port
}

/// The blocking client over wss:// with the test CA: the handshake, a
/// round trip of text and binary, and a clean close (RFC 6455 §4.1: "If
/// /secure/ is true, the client MUST perform a TLS handshake").
#[test]
fn blocking_wss_round_trip() {
    let pki = pki();
    let port = blocking_tls_echo_server(&pki, 1);
    let url = format!("wss://localhost:{port}/secure?x=1");
    let mut ws = WebSocket::connect_tls(&url, &[], Config::default(), client_config(&pki)).unwrap();
    assert_eq!(ws.url(), url);
    assert!(matches!(ws.next_event(), Some(Event::Open)));
    ws.send("over TLS").unwrap();
    ws.send(&[0u8, 1, 2, 255][..]).unwrap();
    let big = vec![7u8; 200_000];
    ws.send(big.as_slice()).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text("over TLS".into())));
    assert_eq!(ws.read().unwrap(), Some(Message::Binary(vec![0, 1, 2, 255].into())));
    assert_eq!(ws.read().unwrap(), Some(Message::Binary(big.into())));
    ws.close(Some(1000), Some("done")).unwrap();
    assert_eq!(ws.read().unwrap(), None);
    assert_eq!(ws.peer_close().and_then(|c| c.code).map(|c| c.0), Some(1000));
}

/// The default configuration trusts the public web's roots, not our CA:
/// the DOM constructor succeeds, then the connection fails (error, then
/// close with 1006), and the error names the certificate problem.
#[test]
fn blocking_wss_refuses_an_unknown_issuer() {
    let pki = pki();
    let port = blocking_tls_echo_server(&pki, 1);
    let mut ws = WebSocket::connect(&format!("wss://localhost:{port}/"), &[]).unwrap();
    let events: Vec<Event> = ws.events().collect();
    match events.as_slice() {
        [Event::Error(e), Event::Close(close)] => {
            let message = e.error.to_string();
            assert!(message.contains("certificate"), "{message}");
            assert_eq!(close.code, 1006);
            assert!(!close.was_clean);
        }
        other => panic!("expected error then close, got {other:?}"),
    }
}

/// A certificate for `localhost` does not cover `127.0.0.1`.
#[test]
fn blocking_wss_refuses_a_certificate_for_another_name() {
    let pki = pki();
    let port = blocking_tls_echo_server(&pki, 1);
    let mut ws = WebSocket::connect_tls(
        &format!("wss://127.0.0.1:{port}/"),
        &[],
        Config::default(),
        client_config(&pki),
    )
    .unwrap();
    match ws.next_event() {
        Some(Event::Error(e)) => assert!(e.error.to_string().contains("certificate"), "{}", e.error),
        other => panic!("expected an error event, got {other:?}"),
    }
}

/// With `rustls-native-roots` the default configuration trusts the
/// platform's roots, which `SSL_CERT_FILE` replaces: naming the test CA
/// there makes the plain DOM constructor (no TLS configuration given)
/// connect. The default configuration is built once per process, so the
/// test runs itself again in a child process with that environment.
#[cfg(feature = "rustls-native-roots")]
#[test]
fn platform_roots_are_trusted_by_default() {
    const CHILD: &str = "RFC6455_TEST_NATIVE_ROOTS_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls/ca.pem");
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "platform_roots_are_trusted_by_default", "--test-threads=1"])
            .env(CHILD, "1")
            .env("SSL_CERT_FILE", ca)
            .env_remove("SSL_CERT_DIR")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        // "1 passed": the child ran this test, not zero tests.
        assert!(output.status.success() && stdout.contains("1 passed"), "{stdout}");
        return;
    }
    let pki = pki();
    let port = blocking_tls_echo_server(&pki, 2);
    let mut ws = WebSocket::connect(&format!("wss://localhost:{port}/"), &[]).unwrap();
    assert!(
        matches!(ws.next_event(), Some(Event::Open)),
        "the platform roots were not used"
    );
    ws.send("platform roots").unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text("platform roots".into())));
    // The server takes one connection at a time.
    ws.close(Some(1000), None).unwrap();
    assert_eq!(ws.read().unwrap(), None);
    // A request built by hand, over TLS: the URL shown says so.
    let request = rfc6455::ClientRequest::new(format!("localhost:{port}"), "/by-hand");
    let mut ws = WebSocket::connect_request(request, true, Config::default()).unwrap();
    assert_eq!(ws.url(), format!("wss://localhost:{port}/by-hand"));
    ws.send("by hand").unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text("by hand".into())));
}

/// Sends the header of a 16 KiB TLS record of `content_type`, then one
/// byte every 100 ms for 4 s: each byte comes within any socket timeout, so
/// only a deadline checked between reads ends the wait.
fn trickle_a_record(tcp: &mut std::net::TcpStream, content_type: u8) {
    use std::io::Write;
    let started = std::time::Instant::now();
    if tcp.write_all(&[content_type, 0x03, 0x03, 0x40, 0x00]).is_err() {
        return;
    }
    while started.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(100));
        if tcp.write_all(&[0]).is_err() {
            return;
        }
    }
}

/// A server that reads the ClientHello, then trickles its first record.
fn trickling_tls_handshake() -> (u16, std::thread::JoinHandle<()>) {
    use std::io::Read;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let Ok((mut tcp, _)) = listener.accept() else { return };
        let mut hello = [0u8; 2048];
        let _ = tcp.read(&mut hello);
        trickle_a_record(&mut tcp, 0x16);
    });
    (port, server)
}

/// The handshake timeout covers the TLS handshake against a server that
/// trickles its first record (RFC 6455 §4.1's handshake, bounded by
/// `handshake_timeout`): it ran 4 s past a 500 ms timeout inside rustls's
/// read loop.
#[test]
fn blocking_handshake_timeout_holds_against_a_trickling_tls_server() {
    let (port, server) = trickling_tls_handshake();
    let started = std::time::Instant::now();
    let config = Config::default().handshake_timeout(Some(Duration::from_millis(500)));
    let mut ws = WebSocket::connect_with(&format!("wss://127.0.0.1:{port}/"), &[], config.clone()).unwrap();
    let event = ws.next_event();
    let took = started.elapsed();
    server.join().unwrap();
    assert!(
        took < Duration::from_millis(1500),
        "the 500 ms handshake timeout ended after {took:?}"
    );
    match event {
        Some(Event::Error(e)) => assert!(
            matches!(e.error, rfc6455::Error::Timeout(rfc6455::error::Timeout::Handshake)),
            "{:?}",
            e.error
        ),
        other => panic!("{other:?}"),
    }
    let started = std::time::Instant::now();
    let (port, server) = trickling_tls_handshake();
    let request = rfc6455::ClientRequest::new(format!("127.0.0.1:{port}"), "/");
    let refused = WebSocket::connect_request(request, true, config);
    let took = started.elapsed();
    server.join().unwrap();
    assert!(took < Duration::from_millis(1500), "connect_request took {took:?}");
    assert!(
        matches!(
            refused,
            Err(rfc6455::Error::Timeout(rfc6455::error::Timeout::Handshake))
        ),
        "{:?}",
        refused.err()
    );
}

/// The close timeout holds over TLS against a server that, after the
/// handshake, trickles a record instead of answering the close: rustls's
/// own read waits for the whole record, so one call ran past the deadline.
#[test]
fn blocking_close_timeout_holds_against_a_trickling_tls_server() {
    use std::io::Read;
    let pki = pki();
    let (port, server) = tls_server_after_the_upgrade(&pki, |tls| {
        let mut close = [0u8; 256];
        let _ = tls.sock.read(&mut close);
        trickle_a_record(&mut tls.sock, 0x17);
    });
    let config = Config::default().close_timeout(Some(Duration::from_millis(500)));
    let url = format!("wss://localhost:{port}/");
    let mut ws = WebSocket::connect_tls(&url, &[], config, client_config(&pki)).unwrap();
    assert!(matches!(ws.next_event(), Some(Event::Open)));
    ws.close(Some(1000), None).unwrap();
    let started = std::time::Instant::now();
    let mut events = Vec::new();
    while let Some(event) = ws.next_event() {
        events.push(format!("{event:?}"));
    }
    let took = started.elapsed();
    server.join().unwrap();
    assert!(
        took < Duration::from_millis(1500),
        "the 500 ms close timeout ended after {took:?}: {events:?}"
    );
    assert!(events.iter().any(|e| e.contains("Timeout(Close)")), "{events:?}");
}

/// A TLS server that, once the client has its 101, sends a text message
/// "one" and, in the same TCP write, a record the client cannot accept (a
/// plaintext fatal alert), then keeps the socket open for a while.
fn server_sending_a_message_then_a_bad_record(pki: &Pki) -> (u16, std::thread::JoinHandle<()>) {
    use std::io::Write;
    tls_server_after_the_upgrade(pki, |tls| {
        std::thread::sleep(Duration::from_millis(300));
        tls.conn.writer().write_all(&[0x81, 0x03, b'o', b'n', b'e']).unwrap();
        let mut out = Vec::new();
        while tls.conn.wants_write() {
            tls.conn.write_tls(&mut out).unwrap();
        }
        out.extend_from_slice(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50]);
        tls.sock.write_all(&out).unwrap();
        std::thread::sleep(Duration::from_secs(2));
    })
}

/// A blocking TLS server for one connection that upgrades it and then
/// hands the raw TLS stream to `then`. The socket is forgotten, not
/// dropped: dropped, it would write a close frame of its own.
fn tls_server_after_the_upgrade(
    pki: &Pki,
    then: impl FnOnce(&mut rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>) + Send + 'static,
) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = server_config(pki);
    let server = std::thread::spawn(move || {
        let Ok((tcp, _)) = listener.accept() else { return };
        tcp.set_read_timeout(Some(LIMIT)).unwrap();
        let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config).unwrap(), tcp);
        match WebSocket::accept(Plain(&mut tls)) {
            Ok(ws) => std::mem::forget(ws),
            Err(_) => return,
        }
        then(&mut tls);
    });
    (port, server)
}

/// RFC 8446 §6: an error ends the connection from its record on. The
/// message that came whole before a bad record, in the same TCP segment,
/// is read first, then the error (it was lost to the error).
#[test]
fn blocking_wss_reads_a_message_sent_before_a_bad_record() {
    let pki = pki();
    let (port, server) = server_sending_a_message_then_a_bad_record(&pki);
    let url = format!("wss://localhost:{port}/");
    let mut ws = WebSocket::connect_tls(&url, &[], Config::default(), client_config(&pki)).unwrap();
    assert!(matches!(ws.next_event(), Some(Event::Open)));
    assert_eq!(ws.read().unwrap(), Some(Message::Text("one".into())));
    assert!(ws.read().is_err(), "then the bad record's error");
    server.join().unwrap();
}

mod tokio_driver {
    use super::*;
    use futures_util::StreamExt;
    use rfc6455::tokio::WebSocket;
    use tokio::time::timeout;

    #[tokio::test]
    async fn tokio_wss_round_trip() {
        let pki = pki();
        let port = blocking_tls_echo_server(&pki, 1);
        let url = format!("wss://localhost:{port}/");
        let mut ws = timeout(
            LIMIT,
            WebSocket::connect_tls(&url, &[], Config::default(), client_config(&pki)),
        )
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("connect failed: {e}"));
        assert_eq!(ws.url(), url);
        assert!(matches!(ws.get_ref(), Some(rfc6455::tokio::MaybeTlsStream::Tls(_))));
        for len in [0usize, 125, 126, 65_536, 500_000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            ws.send(bytes.as_slice()).await.unwrap();
            let echoed = timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap();
            assert_eq!(echoed, Message::Binary(bytes.into()));
        }
        ws.close(Some(1000), None).await.unwrap();
        assert!(timeout(LIMIT, ws.next()).await.unwrap().is_none());
        assert_eq!(ws.peer_close().and_then(|c| c.code).map(|c| c.0), Some(1000));
    }

    /// The default roots refuse the test CA: `connect` fails with the
    /// certificate error.
    #[tokio::test]
    async fn tokio_wss_refuses_an_unknown_issuer() {
        let pki = pki();
        let port = blocking_tls_echo_server(&pki, 1);
        let result = timeout(LIMIT, WebSocket::connect(&format!("wss://localhost:{port}/"), &[]))
            .await
            .unwrap();
        match result {
            Err(e) => assert!(e.to_string().contains("certificate"), "{e}"),
            Ok(_) => panic!("a certificate from an unknown CA was accepted"),
        }
    }

    /// Both directions at once through split halves: 48 messages of 64 KiB
    /// go out while their echoes come back, so the TLS session writes with
    /// TCP full and reads at the same time without either half stalling.
    #[tokio::test]
    async fn tokio_wss_split_halves_stream_both_ways() {
        let pki = pki();
        let port = blocking_tls_echo_server(&pki, 1);
        let url = format!("wss://localhost:{port}/");
        let ws = timeout(
            LIMIT,
            WebSocket::connect_tls(&url, &[], Config::default(), client_config(&pki)),
        )
        .await
        .unwrap()
        .unwrap();
        let (mut read, mut write) = ws.split();
        let message = |i: usize| Message::Binary(vec![i as u8; 64 << 10].into());
        let sender = tokio::spawn(async move {
            for i in 0..48 {
                write.send(message(i)).await.unwrap();
            }
            write
        });
        for i in 0..48 {
            let echoed = timeout(LIMIT, read.next()).await.unwrap().unwrap().unwrap();
            assert_eq!(echoed, message(i), "message {i}");
        }
        let mut write = sender.await.unwrap();
        write.close(Some(1000), None).await.unwrap();
        assert!(timeout(LIMIT, read.next()).await.unwrap().is_none());
    }

    /// A message larger than rustls's 64 KiB of outgoing records, to a
    /// server that reads only after a pause: the send waits for TCP, and
    /// when rustls's buffer is full and then drained the TLS stream must
    /// not report a write of 0 bytes (the driver takes that for a dead
    /// transport: a review saw `WriteZero` fail such a send).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokio_wss_large_send_to_a_server_that_reads_late() {
        let pki = pki();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = server_config(&pki);
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().ok()?;
            tcp.set_read_timeout(Some(LIMIT)).unwrap();
            let tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config).unwrap(), tcp);
            let roomy = Config::default().max_message_size(16 << 20);
            let mut ws =
                rfc6455::websocket::WebSocket::accept_with(Plain(tls), roomy, |_| Ok(Default::default())).ok()?;
            std::thread::sleep(Duration::from_millis(1500));
            let Ok(Some(Message::Binary(bytes))) = ws.read() else {
                return None;
            };
            ws.send(bytes.len().to_string()).ok()?;
            while let Ok(Some(_)) = ws.read() {}
            Some(bytes)
        });
        let size = 12 << 20;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        // Incompressible, so permessage-deflate cannot shrink it.
        let data: Vec<u8> = (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let url = format!("wss://localhost:{port}/");
        let answer = timeout(LIMIT, async {
            let mut ws = WebSocket::connect_tls(&url, &[], Config::default(), client_config(&pki))
                .await
                .unwrap();
            ws.send(data.as_slice()).await.unwrap();
            let answer = ws.next().await;
            ws.close(Some(1000), None).await.unwrap();
            while let Some(Ok(_)) = ws.next().await {}
            answer
        })
        .await
        .expect("bounded");
        assert_eq!(answer.unwrap().unwrap(), Message::Text(size.to_string().into()));
        assert!(
            server.join().unwrap() == Some(data.into()),
            "the server got the message whole"
        );
    }

    /// As `blocking_wss_reads_a_message_sent_before_a_bad_record`, over
    /// the tokio driver's own TLS stream.
    #[tokio::test]
    async fn tokio_wss_reads_a_message_sent_before_a_bad_record() {
        let pki = pki();
        let (port, server) = server_sending_a_message_then_a_bad_record(&pki);
        let url = format!("wss://localhost:{port}/");
        timeout(LIMIT, async {
            let mut ws = WebSocket::connect_tls(&url, &[], Config::default(), client_config(&pki))
                .await
                .unwrap();
            assert_eq!(ws.read().await.unwrap(), Some(Message::Text("one".into())));
            assert!(ws.read().await.is_err(), "then the bad record's error");
        })
        .await
        .expect("bounded");
        server.join().unwrap();
    }

    /// A server that hangs up during the TLS handshake: `connect` fails
    /// with an I/O error instead of waiting.
    #[tokio::test]
    async fn tokio_wss_server_gone_during_the_tls_handshake() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || drop(listener.accept()));
        let result = timeout(LIMIT, WebSocket::connect(&format!("wss://localhost:{port}/"), &[]))
            .await
            .unwrap();
        server.join().unwrap();
        match result {
            Err(rfc6455::Error::Io(e)) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ),
                "{e}"
            ),
            Err(e) => panic!("expected an I/O error, got {e:?}"),
            Ok(_) => panic!("connected to a server that hung up"),
        }
    }
}
