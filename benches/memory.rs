//! Heap held by an idle open connection, measured with a counting global
//! allocator (bytes requested from the allocator and still live; malloc's
//! own per-block overhead is not included). Prints a Markdown table.
//!
//! `cargo bench -p rfc6455-benches --bench memory` (`--features tokio` adds the tokio driver)

mod common;

use common::{ClientWire, Replay, XorShift, binary, receive_all};
use rfc6455::connection::Event;
use rfc6455::testkit::counting::{self, blocks, live};
use rfc6455::{Accept, Config, Connection, Message, OpCode, Plain, Role, WebSocket};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// Heap bytes and blocks still live after `build`, minus those held before
/// it, with what `build` returned kept alive.
fn held<T>(build: impl FnOnce() -> T) -> (T, usize, usize) {
    let (bytes_before, blocks_before) = (live(), blocks());
    let value = build();
    (value, live() - bytes_before, blocks() - blocks_before)
}

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nOrigin: https://example.com\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// A server that completed the handshake and wrote the 101.
fn accepted() -> Connection {
    let mut conn = Connection::server(Config::default());
    conn.receive(REQUEST);
    assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
    conn.accept(Accept::new()).unwrap();
    assert!(matches!(conn.poll_event(), Some(Event::Open)));
    let n = conn.pending_output().len();
    conn.advance_output(n);
    conn
}

fn one_message(size: usize) -> Vec<u8> {
    ClientWire::new().binary(&binary(size)).bytes()
}

fn fragmented_1m() -> Vec<u8> {
    ClientWire::new()
        .fragmented(OpCode::Binary, &binary(1 << 20), 64 << 10)
        .bytes()
}

struct Row {
    what: &'static str,
    bytes: usize,
    blocks: usize,
}

fn main() {
    // Criterion-style arguments (`--bench`) are accepted and ignored.
    let mut rows = Vec::new();
    let mut row = |what, (_, bytes, blocks): (Box<dyn std::any::Any>, usize, usize)| {
        rows.push(Row { what, bytes, blocks });
    };
    let small = one_message(16);
    let large = one_message(64 << 10);
    let frag = fragmented_1m();

    row(
        "core, server, `established` (no traffic)",
        boxed(held(|| Connection::established(Role::Server, Config::default(), &[]))),
    );
    row("core, server, after handshake (101 written)", boxed(held(accepted)));
    row(
        "core, server, after handshake + one 16 B message",
        boxed(held(|| {
            let mut conn = accepted();
            receive_all(&mut conn, &small);
            conn
        })),
    );
    row(
        "core, server, after one 64 KiB message",
        boxed(held(|| {
            let mut conn = accepted();
            receive_all(&mut conn, &large);
            conn
        })),
    );
    row(
        "core, server, after one 1 MiB message in 64 KiB frames",
        boxed(held(|| {
            let mut conn = accepted();
            receive_all(&mut conn, &frag);
            conn
        })),
    );
    row(
        "core, server, after one 1 MiB message in 64 KiB frames, then `release_buffers()`",
        boxed(held(|| {
            let mut conn = accepted();
            receive_all(&mut conn, &frag);
            conn.release_buffers();
            conn
        })),
    );
    row(
        "core, client, `established`, after sending one 16 B message",
        boxed(held(|| {
            let mut conn = Connection::established(Role::Client, Config::default(), &[]);
            conn.send_binary(&[0; 16]).unwrap();
            let n = conn.pending_output().len();
            conn.advance_output(n);
            conn
        })),
    );
    row(
        "core, client, fixed mask source (boxed, 8 B state)",
        boxed(held(|| {
            Connection::established_with_masks(Role::Client, Config::default(), &[], Box::new(XorShift::new(1)))
        })),
    );

    // The driver over an in-memory stream that already holds its bytes
    // (built outside the measurement).
    let stream = Plain(Replay::new(small.clone()));
    row(
        "core + blocking driver, server, `from_connection` (no traffic)",
        boxed(held(move || {
            WebSocket::from_connection(Connection::established(Role::Server, Config::default(), &[]), stream)
        })),
    );
    let stream = Plain(Replay::new(small.clone()));
    row(
        "core + blocking driver, server, after reading one 16 B message",
        boxed(held(move || {
            let mut ws =
                WebSocket::from_connection(Connection::established(Role::Server, Config::default(), &[]), stream);
            assert!(matches!(ws.read(), Ok(Some(Message::Binary(_)))));
            ws
        })),
    );

    // Replay loops over its data: exactly one message is read.
    for (what, wire) in [
        (
            "core + blocking driver, server, after reading one 1 MiB message (single frame), message dropped",
            one_message(1 << 20),
        ),
        (
            "core + blocking driver, server, after reading one 1 MiB message in 64 KiB frames, message dropped",
            fragmented_1m(),
        ),
    ] {
        let stream = Plain(Replay::new(wire));
        row(
            what,
            boxed(held(move || {
                let mut ws =
                    WebSocket::from_connection(Connection::established(Role::Server, Config::default(), &[]), stream);
                assert!(matches!(ws.read(), Ok(Some(Message::Binary(m))) if m.len() == 1 << 20));
                ws
            })),
        );
    }

    #[cfg(feature = "tokio")]
    {
        // The tokio driver over an in-memory pipe that already holds the
        // message (the pipe and the runtime are built outside the
        // measurement).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stream = runtime.block_on(async {
            use tokio::io::AsyncWriteExt;
            let (ours, mut theirs) = tokio::io::duplex(1024);
            theirs.write_all(&small).await.unwrap();
            std::mem::forget(theirs);
            ours
        });
        row(
            "core + tokio driver, server, after reading one 16 B message",
            boxed(held(move || {
                let conn = Connection::established(Role::Server, Config::default(), &[]);
                let mut ws = rfc6455::tokio::WebSocket::from_connection(conn, stream);
                let read = runtime.block_on(ws.read());
                assert!(matches!(read, Ok(Some(Message::Binary(_)))));
                (ws, runtime)
            })),
        );
    }

    println!("Heap per idle open connection (bytes requested from the allocator and still held;");
    println!(
        "default Config; inline sizes: Connection {} B, WebSocket<Plain<_>> {} B + the stream)\n",
        size_of::<Connection>(),
        size_of::<WebSocket<Plain<Replay>>>() - size_of::<Plain<Replay>>(),
    );
    println!("| state | heap bytes | heap blocks |");
    println!("| --- | ---: | ---: |");
    for r in &rows {
        println!("| {} | {} | {} |", r.what, r.bytes, r.blocks);
    }
}

/// Keeps the measured value alive until its row is recorded.
fn boxed<T: 'static>((value, bytes, blocks): (T, usize, usize)) -> (Box<dyn std::any::Any>, usize, usize) {
    // Boxing after the measurement does not count.
    (Box::new(value), bytes, blocks)
}
