//! `examples/hyper_upgrade.rs` — hyper 1.x upgrading `/ws` through
//! `rfc6455::http::accept` — against the crate's own clients.
#![cfg(all(feature = "tokio", feature = "http"))]

#[path = "../examples/hyper_upgrade.rs"]
#[allow(dead_code)]
mod example;

use futures_util::{SinkExt, StreamExt};
use rfc6455::tokio::WebSocket;
use rfc6455::{Error, HandshakeError, Message};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

async fn server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example::serve(listener));
    format!("ws://{addr}")
}

/// The upgrade negotiates a subprotocol and permessage-deflate (RFC 7692)
/// and echoes text and binary of every length class of RFC 6455 §5.2.
#[tokio::test]
async fn hyper_upgrade_echoes_for_the_async_client() {
    let base = server().await;
    let mut ws = timeout(LIMIT, WebSocket::connect(&format!("{base}/ws"), &["chat"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ws.protocol(), "chat");
    assert!(ws.extensions().starts_with("permessage-deflate"), "{}", ws.extensions());
    for len in [0usize, 1, 125, 126, 65_535, 65_536, 300_000] {
        let text: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        ws.send(text.as_str()).await.unwrap();
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        ws.send(bytes.as_slice()).await.unwrap();
        assert_eq!(
            timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap(),
            Message::Text(text.into())
        );
        assert_eq!(
            timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap(),
            Message::Binary(bytes.into())
        );
    }
    ws.close(Some(1000), Some("bye")).await.unwrap();
    assert!(timeout(LIMIT, ws.next()).await.unwrap().is_none());
    let close = ws.peer_close().expect("the server answered the close");
    assert_eq!(close.code.map(|c| c.0), Some(1000));
}

/// The blocking client on a thread, against the same server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_upgrade_echoes_for_the_blocking_client() {
    let url = format!("{}/ws", server().await);
    let echoed = tokio::task::spawn_blocking(move || {
        let mut ws = rfc6455::websocket::WebSocket::connect_request(
            rfc6455::ClientRequest::from_url(&url).unwrap().0,
            false,
            rfc6455::Config::default(),
        )
        .unwrap();
        ws.send("over hyper").unwrap();
        let echoed = ws.read().unwrap();
        ws.close(Some(1000), None).unwrap();
        echoed
    });
    let echoed = timeout(LIMIT, echoed).await.unwrap().unwrap();
    assert_eq!(echoed, Some(Message::Text("over hyper".into())));
}

/// hyper answers other paths itself; the client sees a non-101 status and
/// fails the connection (RFC 6455 §4.1: "If the status code received from
/// the server is not 101, the client handles the response per HTTP").
#[tokio::test]
async fn other_paths_are_not_upgraded() {
    let base = server().await;
    let result = timeout(LIMIT, WebSocket::connect(&format!("{base}/nope"), &[]))
        .await
        .unwrap();
    match result {
        Err(Error::Handshake(HandshakeError::Status { code, .. })) => assert_eq!(code, 404),
        other => panic!("expected a 404 refusal, got {other:?}"),
    }
}

/// A request the core refuses (here: version 8, RFC 6455 §4.4) gets the
/// core's 426 through hyper, with the version the server speaks.
#[tokio::test]
async fn a_bad_version_is_refused_with_426_through_hyper() {
    let base = server().await;
    let addr = base.trim_start_matches("ws://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = timeout(LIMIT, stream.read(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 426"), "{answer}");
    assert!(answer.contains("sec-websocket-version: 13"), "{answer}");
}

/// The Sink side: `send_all` of a stream of messages through hyper.
#[tokio::test]
async fn sink_send_all_through_hyper() {
    let base = server().await;
    let mut ws = timeout(LIMIT, WebSocket::connect(&format!("{base}/ws"), &[]))
        .await
        .unwrap()
        .unwrap();
    let mut outgoing = futures_util::stream::iter((0..100).map(|i| Ok(Message::Text(format!("m{i}").into()))));
    timeout(LIMIT, ws.send_all(&mut outgoing)).await.unwrap().unwrap();
    for i in 0..100 {
        let got = timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(got, Message::Text(format!("m{i}").into()));
    }
}

/// `http::accept_parts` judges a request head by the same core rules as a
/// raw socket: a wrong version is refused with 426 (RFC 6455 §4.2.2), a
/// refusal by `decide` carries its status.
#[test]
fn accept_parts_refuses_by_the_core_rules() {
    let head = |version: &str| {
        http::Request::get("/chat")
            .header("Host", "example.com")
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", version)
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let config = rfc6455::Config::default;
    let refused = rfc6455::http::accept_parts(&head("12"), config(), |_| Ok(rfc6455::Accept::new())).unwrap_err();
    assert_eq!(refused.response.status(), 426);
    assert!(
        matches!(refused.error, Error::Handshake(HandshakeError::Version)),
        "{:?}",
        refused.error
    );

    let refused = rfc6455::http::accept_parts(&head("13"), config(), |_| Err(403)).unwrap_err();
    assert_eq!(refused.response.status(), 403);
    assert!(matches!(refused.error, Error::Handshake(HandshakeError::Rejected(403))));
    // A refusal is never a switch or a success (an HTTP stack would send
    // a 101 as an upgrade): a status that is none goes out as 500.
    for status in [101, 200] {
        let refused = rfc6455::http::accept_parts(&head("13"), config(), |_| Err(status)).unwrap_err();
        assert_eq!(refused.response.status(), 500, "refused with {status}");
        assert!(matches!(refused.error, Error::Handshake(HandshakeError::Rejected(500))));
    }

    let upgrade = rfc6455::http::accept_parts(&head("13"), config(), |_| Ok(rfc6455::Accept::new())).unwrap();
    assert_eq!(upgrade.response.status(), 101);
}

/// A client request given as an `http::Request` (as tokio-tungstenite's
/// `connect_async(request)` takes it): its headers reach the server, its
/// protocol header is the offer, and the URL shown is the request's.
#[tokio::test]
async fn connect_with_an_http_request() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut seen = None;
        let ws = WebSocket::accept_with(tcp, rfc6455::Config::default(), |request| {
            let header = |name| request.header_str(name).map(str::to_owned);
            seen = Some((request.path().to_owned(), header("authorization"), header("cookie")));
            Ok(rfc6455::Accept::new().protocol("feed.v1"))
        })
        .await
        .unwrap();
        (ws, seen.unwrap())
    });
    let request = http::Request::get(format!("ws://{addr}/feed?since=42"))
        .header("Authorization", "Bearer t0ken")
        .header("Cookie", "session=1")
        .header("Sec-WebSocket-Protocol", "feed.v2, feed.v1")
        .body(())
        .unwrap();
    let (request, secure) = rfc6455::http::client_request(&request).unwrap();
    let mut ws = timeout(
        LIMIT,
        WebSocket::connect_request(request, secure, rfc6455::Config::default()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(ws.url(), format!("ws://{addr}/feed?since=42"));
    assert_eq!(ws.protocol(), "feed.v1");
    let (mut theirs, (path, authorization, cookie)) = server.await.unwrap();
    assert_eq!(path, "/feed");
    assert_eq!(authorization.as_deref(), Some("Bearer t0ken"));
    assert_eq!(cookie.as_deref(), Some("session=1"));
    SinkExt::send(&mut theirs, Message::Text("hello".into())).await.unwrap();
    assert_eq!(
        timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap(),
        Message::Text("hello".into())
    );
}
