//! WebSockets over HTTP/2 (RFC 8441), both roles against each other: a
//! hyper 1.x HTTP/2 server (cleartext, prior knowledge) that accepts
//! extended CONNECTs through `rfc6455::http::accept`, and
//! `rfc6455::h2::Client`, which opens several WebSockets as streams of one
//! HTTP/2 connection. A raw `h2` server stands in where hyper cannot be
//! made to misbehave (a reset stream).
#![cfg(feature = "http2")]

#[path = "../examples/h2_echo_server.rs"]
#[allow(dead_code)]
mod example;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rfc6455::h2::Client;
use rfc6455::testkit::{decode_frames, frame, text, wire};
use rfc6455::tokio::WebSocket;
use rfc6455::{Accept, ClientRequest, Config, Error, HandshakeError, Message, Role};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

async fn run<T>(body: impl Future<Output = T>) -> T {
    match timeout(LIMIT, body).await {
        Ok(value) => value,
        Err(_) => panic!("the test did not finish within {LIMIT:?}: a hang"),
    }
}

/// What the server saw.
#[derive(Default)]
struct Seen {
    /// TCP connections accepted.
    connections: AtomicUsize,
    /// Requests accepted as WebSockets.
    websockets: AtomicUsize,
    /// Of these, the extended CONNECTs (RFC 8441).
    extended: AtomicUsize,
    /// Close codes the echo loops ended with.
    closes: std::sync::Mutex<Vec<Option<u16>>>,
}

/// A hyper HTTP/2 server; `enable` advertises SETTINGS_ENABLE_CONNECT_PROTOCOL.
/// Each accepted WebSocket echoes text and binary, choosing "chat" when
/// offered.
async fn h2_server(enable: bool) -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let served = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            served.connections.fetch_add(1, Ordering::SeqCst);
            let seen = Arc::clone(&served);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| handle(request, Arc::clone(&seen)));
                let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                if enable {
                    builder.enable_connect_protocol();
                }
                let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
            });
        }
    });
    (addr, seen)
}

async fn handle(
    mut request: hyper::Request<Incoming>,
    seen: Arc<Seen>,
) -> Result<hyper::Response<Empty<Bytes>>, std::convert::Infallible> {
    let accepted = rfc6455::http::accept(&request, Config::default(), |head| {
        if head.is_extended_connect() {
            seen.extended.fetch_add(1, Ordering::SeqCst);
        }
        Ok(if head.protocols().iter().any(|p| p == "chat") {
            Accept::new().protocol("chat")
        } else {
            Accept::new()
        })
    });
    let upgrade = match accepted {
        Ok(upgrade) => upgrade,
        Err(refused) => return Ok(refused.response.map(|()| Empty::new())),
    };
    seen.websockets.fetch_add(1, Ordering::SeqCst);
    let on_upgrade = hyper::upgrade::on(&mut request);
    let connection = upgrade.connection;
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let mut ws = WebSocket::from_connection(connection, TokioIo::new(upgraded));
        while let Some(Ok(message)) = ws.next().await {
            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                break;
            }
        }
        let code = ws.peer_close().and_then(|c| c.code).map(|c| c.0);
        seen.closes.lock().unwrap().push(code);
    });
    Ok(upgrade.response.map(|()| Empty::new()))
}

async fn client(addr: SocketAddr) -> Client {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    Client::handshake(tcp).await.unwrap()
}

fn request(addr: SocketAddr, path: &str) -> ClientRequest {
    ClientRequest::new(addr.to_string(), path)
}

/// Bytes no compressor shrinks (permessage-deflate is on by default, and
/// a repeated byte would not fill a window).
fn noise(seed: usize, len: usize) -> Vec<u8> {
    let mut state = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// RFC 9113 §5.2: unread data counts against its stream's window and the
/// connection's. WebSockets whose application stopped reading each hold
/// their stream's window (2 MiB); three of them took a 5 MiB connection
/// window whole, and a fourth WebSocket, read eagerly, got nothing more.
/// A stopped reader stops its own peer, not the connection's other
/// WebSockets. (Review finding; failed with the 5 MiB window.)
#[tokio::test]
async fn websockets_that_stop_reading_do_not_stall_the_others() {
    run(async {
        let (addr, _) = h2_server(true).await;
        let client = client(addr).await;
        let mut live = client
            .connect(request(addr, "/live"), false, Config::default())
            .await
            .unwrap();
        live.send("before").await.unwrap();
        assert!(matches!(live.read().await.unwrap(), Some(Message::Text(t)) if &*t == "before"));
        let mut stalled = Vec::new();
        for i in 0..3 {
            let mut ws = client
                .connect(request(addr, &format!("/stalled{i}")), false, Config::default())
                .await
                .unwrap();
            // 2.5 MiB each: the echo fills the stream's window, unread.
            ws.send(Message::binary(noise(i, 5 << 19))).await.unwrap();
            stalled.push(ws);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        live.send("after").await.unwrap();
        let echoed = timeout(Duration::from_secs(5), live.read()).await;
        assert!(
            matches!(&echoed, Ok(Ok(Some(Message::Text(t)))) if &**t == "after"),
            "the live WebSocket's echo never arrived: {echoed:?}"
        );
        drop(stalled);
    })
    .await;
}

/// RFC 8441 §4, §5: three WebSockets opened as streams of one HTTP/2
/// connection (the server saw one TCP connection and three extended
/// CONNECTs), each negotiating its subprotocol and permessage-deflate and
/// echoing its own messages, interleaved; each closes with its own code.
#[tokio::test]
async fn websockets_share_one_http2_connection() {
    run(async {
        let (addr, seen) = h2_server(true).await;
        let client = client(addr).await;
        assert!(client.supports_websockets());
        let mut sockets = Vec::new();
        for (i, path) in ["/a", "/b", "/c"].iter().enumerate() {
            let mut request = request(addr, path);
            if i != 1 {
                request = request.protocol("chat");
            }
            let ws = client.connect(request, false, Config::default()).await.unwrap();
            assert_eq!(ws.protocol(), if i != 1 { "chat" } else { "" });
            assert!(ws.extensions().starts_with("permessage-deflate"), "{}", ws.extensions());
            assert_eq!(ws.url(), format!("ws://{addr}{path}"));
            sockets.push(ws);
        }
        for round in 0..3 {
            for (i, ws) in sockets.iter_mut().enumerate() {
                ws.send(format!("socket {i} round {round}").as_str()).await.unwrap();
                let big: Vec<u8> = (0..70_000 + i).map(|b| (b * 7 + i) as u8).collect();
                ws.send(big.as_slice()).await.unwrap();
            }
            for (i, ws) in sockets.iter_mut().enumerate() {
                let text = ws.read().await.unwrap().unwrap();
                assert_eq!(text, Message::text(format!("socket {i} round {round}")));
                let big = ws.read().await.unwrap().unwrap();
                assert_eq!(big.len(), 70_000 + i);
                assert!(big.as_bytes().iter().enumerate().all(|(b, &v)| v == (b * 7 + i) as u8));
            }
        }
        for (i, ws) in sockets.iter_mut().enumerate() {
            ws.close(Some(4000 + i as u16), None).await.unwrap();
            assert!(ws.read().await.unwrap().is_none());
            let close = ws.peer_close().expect("the server answered the close");
            assert_eq!(close.code.map(|c| c.0), Some(4000 + i as u16));
        }
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
        assert_eq!(seen.websockets.load(Ordering::SeqCst), 3);
        assert_eq!(seen.extended.load(Ordering::SeqCst), 3);
        // The server's loops ended on the close handshake: the stream's
        // END_STREAM after it is no failure.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut closes = seen.closes.lock().unwrap().clone();
        closes.sort();
        assert_eq!(closes, [Some(4000), Some(4001), Some(4002)]);
    })
    .await;
}

/// RFC 8441 §3: without SETTINGS_ENABLE_CONNECT_PROTOCOL from the server,
/// the client sends no extended CONNECT.
#[tokio::test]
async fn no_websocket_without_the_setting() {
    run(async {
        let (addr, seen) = h2_server(false).await;
        let client = client(addr).await;
        assert!(!client.supports_websockets());
        let error = client
            .connect(request(addr, "/"), false, Config::default())
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::Handshake(HandshakeError::NoExtendedConnect)),
            "{error:?}"
        );
        assert_eq!(seen.websockets.load(Ordering::SeqCst), 0);
    })
    .await;
}

/// The server's refusal (RFC 6455 §4.2.1's rules applied to the CONNECT:
/// an unoffered subprotocol asked for, a wrong version) arrives as the
/// status, and the client fails the handshake with it.
#[tokio::test]
async fn a_refused_connect_fails_the_handshake() {
    run(async {
        let (addr, _seen) = h2_server(true).await;
        let client = client(addr).await;
        let request = request(addr, "/").header("Sec-WebSocket-Version", "8");
        let error = client.connect(request, false, Config::default()).await.unwrap_err();
        // The client's own version header comes first; a second one makes
        // the request's version invalid: 426 (RFC 6455 §4.2.2).
        assert!(
            matches!(&error, Error::Handshake(HandshakeError::Status { code: 426, .. })),
            "{error:?}"
        );
        // The connection still serves other streams.
        let mut ws = client
            .connect(request_ok(addr), false, Config::default())
            .await
            .unwrap();
        ws.send("still here").await.unwrap();
        assert_eq!(ws.read().await.unwrap().unwrap(), Message::text("still here"));
    })
    .await;
}

fn request_ok(addr: SocketAddr) -> ClientRequest {
    request(addr, "/ok")
}

/// RFC 8441 §5: a reset stream is a failed WebSocket connection (1006),
/// not a clean close. A raw h2 server accepts the CONNECT, then resets.
#[tokio::test]
async fn a_reset_stream_fails_the_connection() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut builder = h2::server::Builder::new();
            builder.enable_connect_protocol();
            let mut connection = builder.handshake::<_, Bytes>(tcp).await.unwrap();
            let (request, mut respond) = connection.accept().await.unwrap().unwrap();
            assert_eq!(request.method(), http::Method::CONNECT);
            assert_eq!(
                request.extensions().get::<h2::ext::Protocol>().map(|p| p.as_str()),
                Some("websocket")
            );
            assert!(request.headers().get("sec-websocket-key").is_none());
            assert_eq!(request.headers()["sec-websocket-version"], "13");
            let response = http::Response::builder().status(200).body(()).unwrap();
            let mut send = respond.send_response(response, false).unwrap();
            tokio::spawn(async move { while connection.accept().await.is_some() {} });
            tokio::time::sleep(Duration::from_millis(50)).await;
            send.send_reset(h2::Reason::INTERNAL_ERROR);
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let client = client(addr).await;
        let mut ws = client
            .connect(request(addr, "/"), false, Config::default())
            .await
            .unwrap();
        let failure = ws.read().await.unwrap_err();
        assert!(
            matches!(&failure, Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{failure:?}"
        );
        assert!(ws.peer_close().is_none());
    })
    .await;
}

/// The same handler serves HTTP/1.1 upgrades (a 101) when hyper speaks
/// HTTP/1.1: `Request::is_extended_connect` tells the two apart.
#[tokio::test]
async fn http1_upgrades_still_work_beside_http2() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let served = Arc::clone(&seen);
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(move |request| handle(request, Arc::clone(&served)));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        });
        let mut ws = WebSocket::connect(&format!("ws://{addr}/"), &["chat"]).await.unwrap();
        assert_eq!(ws.protocol(), "chat");
        ws.send("over HTTP/1.1").await.unwrap();
        assert_eq!(ws.read().await.unwrap().unwrap(), Message::text("over HTTP/1.1"));
        let _ = ws.close(Some(1000), None).await;
        assert_eq!(seen.websockets.load(Ordering::SeqCst), 1);
        assert_eq!(seen.extended.load(Ordering::SeqCst), 0);
    })
    .await;
}

/// `examples/h2_echo_server.rs`: HTTP/1.1 upgrades and RFC 8441 on one
/// port. Our HTTP/2 client opens two WebSockets on one h2c connection and
/// the HTTP/1.1 client one beside it; `/stats` shows how each arrived.
#[tokio::test]
async fn the_example_serves_both_http_versions_on_one_port() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = tokio_rustls::TlsAcceptor::from(Arc::new(example::tls_config(None, None).unwrap()));
        tokio::spawn(example::serve(listener, tls));
        let client = client(addr).await;
        assert!(client.supports_websockets());
        let mut over_h2 = Vec::new();
        for path in ["/one", "/two"] {
            let request = request(addr, path).protocol("chat");
            over_h2.push(client.connect(request, false, Config::default()).await.unwrap());
        }
        let mut over_h1 = WebSocket::connect(&format!("ws://{addr}/three"), &["chat"])
            .await
            .unwrap();
        for (i, ws) in over_h2.iter_mut().enumerate() {
            assert_eq!(ws.protocol(), "chat");
            ws.send(format!("message {i}").as_str()).await.unwrap();
            assert_eq!(ws.read().await.unwrap().unwrap(), Message::text(format!("message {i}")));
        }
        assert_eq!(over_h1.protocol(), "chat");
        over_h1.send("over HTTP/1.1").await.unwrap();
        assert_eq!(over_h1.read().await.unwrap().unwrap(), Message::text("over HTTP/1.1"));
        // /stats over HTTP/1.1, read by hand: one line of JSON.
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).await.unwrap();
        let h2 = r#""http":"HTTP/2","tls":false,"extended":true"#;
        let h1 = r#""http":"HTTP/1.1","tls":false,"extended":false"#;
        assert_eq!(answer.matches(h2).count(), 2, "{answer}");
        assert_eq!(answer.matches(h1).count(), 1, "{answer}");
        for ws in &mut over_h2 {
            ws.close(Some(1000), None).await.unwrap();
            assert!(ws.read().await.unwrap().is_none());
        }
        over_h1.close(Some(1000), None).await.unwrap();
        assert!(over_h1.read().await.unwrap().is_none());
    })
    .await;
}

/// The axum extractor over HTTP/2: `axum::serve` enables extended CONNECT,
/// and a route that takes any method (a WebSocket comes as GET over
/// HTTP/1.1, CONNECT over HTTP/2) upgrades both ways with the same handler.
#[cfg(feature = "axum")]
#[tokio::test]
async fn the_axum_extractor_accepts_extended_connect() {
    run(async {
        let app = axum::Router::new().route(
            "/ws",
            axum::routing::any(|upgrade: rfc6455::axum::WebSocketUpgrade| async move {
                upgrade.protocols(["chat"]).on_upgrade(|mut socket| async move {
                    while let Ok(Some(message)) = socket.read().await {
                        if message.is_text() && socket.send(message).await.is_err() {
                            break;
                        }
                    }
                })
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = client(addr).await;
        assert!(client.supports_websockets());
        let mut over_h2 = client
            .connect(request(addr, "/ws").protocol("chat"), false, Config::default())
            .await
            .unwrap();
        assert_eq!(over_h2.protocol(), "chat");
        over_h2.send("axum over HTTP/2").await.unwrap();
        assert_eq!(
            over_h2.read().await.unwrap().unwrap(),
            Message::text("axum over HTTP/2")
        );
        let mut over_h1 = WebSocket::connect(&format!("ws://{addr}/ws"), &["chat"]).await.unwrap();
        over_h1.send("axum over HTTP/1.1").await.unwrap();
        assert_eq!(
            over_h1.read().await.unwrap().unwrap(),
            Message::text("axum over HTTP/1.1")
        );
        over_h2.close(Some(1000), None).await.unwrap();
        assert!(over_h2.read().await.unwrap().is_none());
    })
    .await;
}

/// A failure right behind a message, over HTTP/2 (Autobahn 4.2.3's shape:
/// a text, then a frame with reserved opcode 13, in one write): the server
/// echoes the text, fails with 1002 (RFC 6455 §5.2) and drops the socket at
/// once; the client still gets the echo and the close frame, then
/// `END_STREAM`, in every round (the socket's drop resets nothing queued).
#[tokio::test]
async fn a_failure_right_after_a_message_loses_no_frame() {
    run(async {
        let (addr, _seen) = h2_server(true).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (send, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        for round in 0..20 {
            let mut send = send.clone().ready().await.unwrap();
            let connect = http::Request::builder()
                .method(http::Method::CONNECT)
                .version(http::Version::HTTP_2)
                .uri(format!("http://{addr}/"))
                .extension(h2::ext::Protocol::from_static("websocket"))
                .header("sec-websocket-version", "13")
                .body(())
                .unwrap();
            let (response, mut stream) = send.send_request(connect, false).unwrap();
            let mut body = response.await.unwrap().into_body();
            let frames = wire(Role::Server, &[text("hello"), frame(13, b"reserved")]);
            stream.send_data(Bytes::from(frames), false).unwrap();
            let mut received = Vec::new();
            while let Some(data) = body.data().await {
                let data = data.unwrap_or_else(|e| panic!("round {round}: {e} after {} bytes", received.len()));
                let _ = body.flow_control().release_capacity(data.len());
                received.extend_from_slice(&data);
            }
            let frames = decode_frames(&received);
            let seen: Vec<(u8, Vec<u8>)> = frames.iter().map(|f| (f.opcode, f.payload.clone())).collect();
            assert_eq!(
                seen,
                [(1, b"hello".to_vec()), (8, 1002u16.to_be_bytes().to_vec())],
                "round {round}"
            );
        }
    })
    .await;
}

/// `H2Stream` over a stream of a raw h2 connection whose server hands the
/// request body to `serve`.
async fn raw_h2_stream<F, Fut>(serve: F) -> rfc6455::h2::H2Stream
where
    F: FnOnce(h2::RecvStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut connection = h2::server::Builder::new().handshake::<_, Bytes>(tcp).await.unwrap();
        let (request, mut respond) = connection.accept().await.unwrap().unwrap();
        let response = http::Response::builder().status(200).body(()).unwrap();
        let _send = respond.send_response(response, false).unwrap();
        tokio::spawn(async move { while connection.accept().await.is_some() {} });
        serve(request.into_body()).await;
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut send = send.ready().await.unwrap();
    let request = http::Request::post("http://localhost/").body(()).unwrap();
    let (response, stream) = send.send_request(request, false).unwrap();
    rfc6455::h2::H2Stream::new(stream, response.await.unwrap().into_body())
}

/// A write of 4 GiB writes what the window allows: h2 takes the capacity
/// asked for as a u32, and a request of exactly 2^32 bytes reserved none
/// and waited for good (RFC 9113 §6.9.1: no window exceeds 2^31 - 1).
#[tokio::test]
async fn a_write_of_4_gib_writes_what_the_window_allows() {
    run(async {
        let mut stream = raw_h2_stream(|mut body| async move {
            while let Some(Ok(data)) = body.data().await {
                let _ = body.flow_control().release_capacity(data.len());
            }
        })
        .await;
        // Zeroed pages the kernel maps lazily: only what is written is read.
        let huge = vec![0u8; 1 << 32];
        let wrote = timeout(Duration::from_secs(5), stream.write(&huge)).await;
        assert!(matches!(wrote, Ok(Ok(n)) if n > 0), "{wrote:?}");
    })
    .await;
}
