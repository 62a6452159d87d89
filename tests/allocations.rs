//! Allocations per received message through the drivers' `read`: a reader
//! that drops each small message as it reads it makes the driver allocate
//! nothing per message while the peer streams (the shared blocks of
//! `src/dom/small.rs`), and one per message, no block, for a peer that
//! sends one message at a time.

use rfc6455::testkit::counting;
use rfc6455::testkit::{binary, text, wire};
use rfc6455::{Config, Connection, Message, Plain, Role, WebSocket};
use std::io::{self, Read, Write};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// A peer whose bytes come out in reads of at most `piece` bytes; what we
/// write is dropped.
struct Peer {
    input: Vec<u8>,
    at: usize,
    piece: usize,
}

impl Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.piece).min(self.input.len() - self.at);
        buf[..n].copy_from_slice(&self.input[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for Peer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads `count` client messages of 16 bytes, text and binary in turn,
/// arriving in reads of `piece` bytes, dropping each; the allocations this
/// thread made while reading the second half (the first half warms the
/// buffers up; the harness reporting another test meanwhile allocates on
/// its own thread, which had made 1,012 of 1,000 in a CI run).
fn allocations_reading(count: usize, piece: usize) -> usize {
    let frames: Vec<_> = (0..count)
        .map(|i| match i % 2 {
            0 => binary(&[i as u8; 16]),
            _ => text("sixteen bytes!!!"),
        })
        .collect();
    let input = wire(Role::Server, &frames);
    let conn = Connection::established(Role::Server, Config::default(), &[]);
    let mut ws = WebSocket::from_connection(conn, Plain(Peer { input, at: 0, piece }));
    let read = |ws: &mut WebSocket<Plain<Peer>>, i: usize| match ws.read() {
        Ok(Some(Message::Binary(m))) if i % 2 == 0 => assert_eq!(&m[..], &[i as u8; 16]),
        Ok(Some(Message::Text(m))) if i % 2 == 1 => assert_eq!(m, "sixteen bytes!!!"),
        other => panic!("message {i}: {other:?}"),
    };
    for i in 0..count / 2 {
        read(&mut ws, i);
    }
    let before = counting::thread_allocations();
    for i in count / 2..count {
        read(&mut ws, i);
    }
    counting::thread_allocations() - before
}

#[test]
fn a_streaming_peer_costs_no_allocation_per_small_message() {
    let _serial = counting::serial();
    let made = allocations_reading(20_000, 64 << 10);
    // 10,000 messages read: a handful of blocks at most, not one each.
    assert!(made < 100, "{made} allocations for 10,000 messages");
}

#[test]
fn a_peer_sending_one_message_at_a_time_gets_no_block() {
    let _serial = counting::serial();
    // 22-byte frames, one per read: no read is a block's worth, so no
    // block (a box, the block and its shared header) is made for a single
    // message. What each message costs then: the read buffer made for the
    // bytes after the stack buffer, which the message takes along (it was
    // three: that buffer, a shared header for it, and a copy).
    let made = allocations_reading(2_000, 22);
    assert!(made <= 1_000, "{made} allocations for 1,000 messages");
}

// An idle tokio connection whose last read was long keeps its read buffer
// only for a while (the driver's `KEEP_READ_BUFFER`, 1 s): it had kept it
// for good, 12 KiB of RSS per idle connection after one 2,000-byte message
// (benches/compare idle.sh with that message).
#[cfg(feature = "tokio")]
#[test]
fn an_idle_tokio_connection_gives_its_read_buffer_back() {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    let _serial = counting::serial();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(64 << 10);
        let conn = Connection::established(Role::Server, Config::default(), &[]);
        let mut ws = rfc6455::tokio::WebSocket::from_connection(conn, server);
        client
            .write_all(&wire(Role::Server, &[binary(&[5; 2_000])]))
            .await
            .unwrap();
        match ws.read().await {
            Ok(Some(Message::Binary(m))) => assert_eq!(m.len(), 2_000),
            other => panic!("{other:?}"),
        }
        // The socket then waits in one read, as an application's task
        // does: the driver's own timer must give the buffer back.
        let before = counting::live();
        let waiting = tokio::spawn(async move {
            let read = ws.read().await;
            (ws, read.map(|m| m.is_none()))
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let kept = counting::live();
        assert!(kept + 1024 >= before, "given back before the interval");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = counting::live();
        assert!(
            before >= after + 2_000,
            "the read buffer is still held: {before} B live before, {after} B after"
        );
        assert!(!waiting.is_finished(), "nothing was sent");
        waiting.abort();
    });
}
