//! The axum extractor (`rfc6455::axum::WebSocketUpgrade`, issue #15 item 4):
//! an axum app upgrades, chooses a subprotocol by the server's preference,
//! echoes; a request that is no valid upgrade is refused by the core's
//! rules (RFC 6455 §4.2.1) before the handler runs.

#![cfg(feature = "axum")]

use axum::{Router, routing::get};
use rfc6455::axum::WebSocketUpgrade;
use rfc6455::tokio::WebSocket;
use rfc6455::{Message, ReadyState};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

/// Serves `/ws` (echo, protocols "v2" then "v1") on a free port; returns
/// the address and how many times the handler ran.
async fn serve() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let handled = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&handled);
    let app = Router::new().route(
        "/ws",
        get(move |upgrade: WebSocketUpgrade| {
            count.fetch_add(1, Ordering::SeqCst);
            // Offered by the one client that gets this far, in its order.
            assert_eq!(upgrade.offered_protocols(), ["v1", "v2"]);
            async move {
                upgrade.protocols(["v2", "v1"]).on_upgrade(|mut socket| async move {
                    while let Ok(Some(message)) = socket.read().await {
                        if message.is_text() || message.is_binary() {
                            let _ = socket.send(message).await;
                        }
                    }
                })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, handled)
}

/// The next message, within a bound.
async fn read(ws: &mut WebSocket) -> Result<Option<Message>, rfc6455::Error> {
    timeout(Duration::from_secs(10), ws.read()).await.expect("in time")
}

#[tokio::test]
async fn an_axum_handler_upgrades_chooses_a_protocol_and_echoes() {
    let (address, handled) = serve().await;
    let url = format!("ws://{address}/ws");
    let mut ws = timeout(Duration::from_secs(10), WebSocket::connect(&url, &["v1", "v2"]))
        .await
        .expect("in time")
        .expect("upgraded");
    assert_eq!(ws.protocol(), "v2", "the server's preference among the offered");
    ws.send(Message::text("hello")).await.unwrap();
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(read(&mut ws).await.unwrap(), Some(Message::text("hello")));
    assert_eq!(read(&mut ws).await.unwrap(), Some(Message::binary(vec![1, 2, 3])));
    ws.close(Some(1000), None).await.unwrap();
    assert_eq!(read(&mut ws).await.unwrap(), None);
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert_eq!(handled.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_plain_get_is_refused_before_the_handler() {
    let (address, handled) = serve().await;
    let mut tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET /ws HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    timeout(Duration::from_secs(10), tcp.read_to_end(&mut response))
        .await
        .expect("in time")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    let status = response.split(' ').nth(1).unwrap_or("");
    assert!(status.starts_with('4'), "a client error, got: {response}");
    assert_eq!(handled.load(Ordering::SeqCst), 0, "the handler never ran");
}

/// Serves `/ws`, whose handler upgrades with `config` and reads one message.
async fn serve_with(config: rfc6455::Config) -> std::net::SocketAddr {
    let app = Router::new().route(
        "/ws",
        get(move |upgrade: WebSocketUpgrade| async move {
            upgrade.config(config).on_upgrade(|mut socket| async move {
                let _ = socket.read().await;
            })
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

// The handler's handshake limits are the ones that count: a request past
// the defaults (16 KiB, 64 headers) is refused with 431 by a handler that
// keeps them, and upgraded by one that raised them (the extractor had
// judged every request with the defaults before the handler ran, so no
// handler could admit it: a review finding).
#[tokio::test]
async fn the_handler_s_handshake_limits_are_the_ones_that_count() {
    let raised = rfc6455::Config::default().max_handshake_size(64 << 10).max_headers(100);
    let big_cookie = |host: String| rfc6455::ClientRequest::new(host, "/ws").header("Cookie", "c=".repeat(10 << 10));
    let many_headers = |host: String| {
        (0..70).fold(rfc6455::ClientRequest::new(host, "/ws"), |r, i| {
            r.header(format!("X-H{i}"), "v")
        })
    };
    for request in [big_cookie, many_headers] {
        for (config, upgrades) in [(rfc6455::Config::default(), false), (raised.clone(), true)] {
            let address = serve_with(config).await;
            let opened = timeout(
                Duration::from_secs(10),
                WebSocket::connect_request(request(address.to_string()), false, rfc6455::Config::default()),
            )
            .await
            .expect("in time");
            match (opened, upgrades) {
                (Ok(_), true) => {}
                (Err(rfc6455::Error::Handshake(rfc6455::HandshakeError::Status { code: 431, .. })), false) => {}
                (other, _) => panic!("upgrades: {upgrades}, got {:?}", other.map(|_| ())),
            }
        }
    }
}
