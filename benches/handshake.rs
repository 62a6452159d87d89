//! Opening handshakes per second.
//!
//! - `server_accept/*`: a new server `Connection`, the request bytes in,
//!   `Event::Request`, `accept`, `Event::Open`, the 101 response out, drop.
//! - `client_validate`: a client's response check alone (the client is
//!   built outside the timing): the 101 bytes in, `Event::Open`.
//! - `client_full`: a new client (nonce from a fixed source, request
//!   encoded), the 101 bytes in, `Event::Open`, drop.

mod common;

use common::XorShift;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::connection::Event;
use rfc6455::{Accept, ClientRequest, Config, Connection, handshake::accept_key};
use std::hint::black_box;
use std::time::Duration;

/// What Chromium sends (headers as of 2024, cookie-less).
const BROWSER_REQUEST: &[u8] = b"GET /chat?room=1 HTTP/1.1\r\n\
Host: example.com:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: https://example.com\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

/// The least a conforming client sends.
const MINIMAL_REQUEST: &[u8] = b"GET / HTTP/1.1\r\n\
Host: localhost\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\
\r\n";

fn server_accept(request: &[u8]) -> usize {
    let mut conn = Connection::server(Config::default());
    conn.receive(request);
    match conn.poll_event() {
        Some(Event::Request(r)) => {
            black_box(r.path());
        }
        other => panic!("expected the request, got {other:?}"),
    }
    conn.accept(Accept::new()).unwrap();
    assert!(matches!(conn.poll_event(), Some(Event::Open)));
    let n = black_box(conn.pending_output()).len();
    conn.advance_output(n);
    n
}

fn new_client() -> Connection {
    Connection::client_with_masks(
        ClientRequest::new("example.com:8080", "/chat?room=1").origin("https://example.com"),
        Config::default(),
        Box::new(XorShift::new(11)),
    )
}

/// The server's answer to what [`new_client`] sends.
fn response_for(client: &Connection) -> Vec<u8> {
    let request = std::str::from_utf8(client.pending_output()).unwrap();
    let key = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("key");
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key.as_bytes())
    )
    .into_bytes()
}

fn handshakes(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake");
    group.throughput(Throughput::Elements(1));
    group.bench_function("server_accept/browser", |b| b.iter(|| server_accept(BROWSER_REQUEST)));
    group.bench_function("server_accept/minimal", |b| b.iter(|| server_accept(MINIMAL_REQUEST)));

    let response = response_for(&new_client());
    group.bench_function("client_validate", |b| {
        b.iter_batched(
            || {
                let mut conn = new_client();
                let n = conn.pending_output().len();
                conn.advance_output(n);
                conn
            },
            |mut conn| {
                conn.receive(&response);
                assert!(matches!(conn.poll_event(), Some(Event::Open)));
                conn
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("client_full", |b| {
        b.iter(|| {
            let mut conn = new_client();
            let n = black_box(conn.pending_output()).len();
            conn.advance_output(n);
            conn.receive(&response);
            assert!(matches!(conn.poll_event(), Some(Event::Open)));
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = handshakes
}
criterion_main!(benches);
