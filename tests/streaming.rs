//! Messages in parts (`Config::stream_messages`) through both drivers over
//! TCP on 127.0.0.1: a relay that forwards each part it reads holds one
//! part, not the message; parts sent with `Message::TextPart` /
//! `Message::BinaryPart` go out as one fragmented message in order; the
//! DOM-style events still hand out whole messages.
//!
//! The heap is measured by a counting global allocator (the whole process:
//! the tests take a lock so that one runs at a time). Run with
//! `--nocapture` to see the figures.

use rfc6455::testkit::counting;

use counting::{peak_of, serial};
use rfc6455::websocket::Event;
use rfc6455::{Accept, ClientRequest, Config, Message, WebSocket};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// Parts on, no size limit: what a relay of unbounded messages sets.
fn streaming() -> Config {
    Config::default().stream_messages(true).max_message_size(usize::MAX)
}

/// The byte at `offset` of the test message: a pattern that a lost,
/// repeated or reordered part cannot reproduce.
fn byte_at(offset: usize) -> u8 {
    (offset % 251) as u8 ^ (offset >> 16) as u8
}

fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// A client, open when it returns.
fn connect(addr: SocketAddr) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    WebSocket::client(stream, ClientRequest::new(addr.to_string(), "/"), streaming()).unwrap()
}

fn accept(listener: &TcpListener) -> WebSocket<TcpStream> {
    let (stream, _) = listener.accept().unwrap();
    WebSocket::accept_with(stream, streaming(), |_| Ok(Accept::new())).unwrap()
}

/// Everything a connection reads until it closes.
fn read_all(mut ws: WebSocket<TcpStream>) -> Vec<Message> {
    let mut got = Vec::new();
    while let Some(message) = ws.read().unwrap() {
        got.push(message);
    }
    got
}

// A 16 MiB message, sent in 64 KiB parts, crosses a relay (a server
// connection forwarding each part it reads to a client connection) and is
// received in parts: every byte arrives, in order, as one message, and the
// whole process (sender, relay, receiver) never holds more than a few
// parts of heap. `RFC6455_RELAY_MIB` sets another size (1024 for the
// issue's 1 GiB, in a release build).
#[test]
fn a_blocking_relay_holds_parts_not_the_message() {
    let _serial = serial();
    let mib: usize = std::env::var("RFC6455_RELAY_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let len = mib << 20;
    const PART: usize = 64 << 10;
    let (relay_listener, relay_addr) = listen();
    let (receiver_listener, receiver_addr) = listen();

    let ((received, messages), peak) = peak_of(|| {
        let receiver = thread::spawn(move || {
            let mut ws = accept(&receiver_listener);
            let (mut received, mut messages) = (0usize, 0);
            while let Some(message) = ws.read().unwrap() {
                let (data, last) = match message {
                    Message::BinaryPart(data) => (data, false),
                    Message::Binary(data) => (data, true),
                    other => panic!("receiver: {other:?}"),
                };
                for (i, b) in data.iter().enumerate() {
                    assert_eq!(*b, byte_at(received + i), "receiver: byte {}", received + i);
                }
                received += data.len();
                messages += usize::from(last);
            }
            (received, messages)
        });
        let relay = thread::spawn(move || {
            let mut from = accept(&relay_listener);
            let mut to = connect(receiver_addr);
            while let Some(message) = from.read().unwrap() {
                to.send_message(message).unwrap();
            }
            to.close(Some(1000), None).unwrap();
            while to.read().unwrap().is_some() {}
        });
        let mut sender = connect(relay_addr);
        let mut part = vec![0u8; PART];
        for start in (0..len).step_by(PART) {
            for (i, b) in part.iter_mut().enumerate() {
                *b = byte_at(start + i);
            }
            let message = match start + PART == len {
                false => Message::BinaryPart(part.clone().into()),
                true => Message::Binary(part.clone().into()),
            };
            sender.send_message(message).unwrap();
        }
        sender.close(Some(1000), None).unwrap();
        while sender.read().unwrap().is_some() {}
        relay.join().unwrap();
        receiver.join().unwrap()
    });
    assert_eq!((received, messages), (len, 1));
    println!("{mib} MiB message relayed in parts: peak heap +{peak} bytes");
    assert!(peak < 1 << 20, "peak heap {peak} bytes for a {mib} MiB message");
}

// WHATWG dispatches whole messages: with parts on, the DOM-style events
// gather a fragmented text message (characters cut by the fragments'
// ends) into one message event.
#[test]
fn dom_events_gather_the_parts_into_one_message() {
    let _serial = serial();
    let (listener, addr) = listen();
    let text = "κόσμε, 𝄞 and € ".repeat(1000);
    let sent = text.clone();
    let server = thread::spawn(move || {
        let mut ws = accept(&listener);
        let bytes = sent.as_bytes();
        let cut = bytes.len() / 3;
        // Cut inside characters: &str parts must end at boundaries, so
        // find the nearest ones.
        let a = (cut..).find(|i| sent.is_char_boundary(*i)).unwrap();
        let b = (2 * cut..).find(|i| sent.is_char_boundary(*i)).unwrap();
        ws.send_message(Message::TextPart(sent[..a].to_owned().into())).unwrap();
        ws.send_message(Message::TextPart(sent[a..b].to_owned().into()))
            .unwrap();
        ws.send_message(Message::text(&sent[b..])).unwrap();
        ws.close(Some(1000), None).unwrap();
        while ws.read().unwrap().is_some() {}
    });
    let mut ws = WebSocket::connect_with(&format!("ws://{addr}/"), &[], streaming()).unwrap();
    let mut messages = Vec::new();
    while let Some(event) = ws.next_event() {
        if let Event::Message(message) = event {
            messages.push(message.data.as_text().unwrap().to_owned());
        }
    }
    server.join().unwrap();
    assert_eq!(messages, [text]);
}

// RFC 6455 §5.4 on the sending side: a part of the other kind while a
// message is sent in parts is refused and nothing is sent; a ping may go
// between the parts; a message of the same kind ends the one in parts.
#[test]
fn parts_keep_the_fragment_order() {
    let _serial = serial();
    let (listener, addr) = listen();
    let server = thread::spawn(move || read_all(accept(&listener)));
    let mut ws = connect(addr);
    ws.send_message(Message::TextPart("ab".into())).unwrap();
    for refused in [Message::BinaryPart(vec![1].into()), Message::binary(vec![2])] {
        let refused = ws.send_message(refused);
        assert!(
            matches!(refused, Err(rfc6455::Error::Misuse(rfc6455::Misuse::MessageInProgress))),
            "{refused:?}"
        );
    }
    ws.send_message(Message::Ping(b"between".to_vec().into())).unwrap();
    ws.send_message(Message::TextPart("cd".into())).unwrap();
    ws.send_message(Message::text("ef")).unwrap();
    ws.send_message(Message::text("next")).unwrap();
    ws.close(Some(1000), None).unwrap();
    while ws.read().unwrap().is_some() {}
    let got = server.join().unwrap();
    // The server reads in parts too: "abcdef" may arrive as one message or
    // in parts, but its pieces join to it, and "next" follows whole.
    let mut messages = Vec::new();
    let mut so_far = String::new();
    for message in &got {
        match message {
            Message::TextPart(text) => so_far.push_str(text),
            Message::Text(text) => messages.push(std::mem::take(&mut so_far) + text),
            Message::Ping(payload) => assert_eq!(payload, &b"between"[..]),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(messages, ["abcdef", "next"], "{got:?}");
}

// A message of known length sent as one frame (RFC 6455 §5.2) from its
// pieces, through the blocking driver: the receiver (parts on) gets every
// byte in order as one message, and a ping sent meanwhile arrives after
// it, not inside it (§5.4).
#[test]
fn a_declared_frame_arrives_whole_with_the_ping_after_it() {
    let _serial = serial();
    let (listener, addr) = listen();
    const LEN: usize = 300_000;
    let server = thread::spawn(move || read_all(accept(&listener)));
    let mut ws = connect(addr);
    ws.begin_message(false, LEN as u64).unwrap();
    let payload: Vec<u8> = (0..LEN).map(byte_at).collect();
    for (i, piece) in payload.chunks(7_001).enumerate() {
        ws.send_payload(piece).unwrap();
        if i == 3 {
            ws.send_message(Message::Ping(rfc6455::Bytes::from_static(b"meanwhile")))
                .unwrap();
            let refused = ws.send_message(Message::binary(vec![1]));
            assert!(
                matches!(refused, Err(rfc6455::Error::Misuse(rfc6455::Misuse::MessageInProgress))),
                "{refused:?}"
            );
        }
    }
    ws.send_message(Message::text("next")).unwrap();
    ws.close(Some(1000), None).unwrap();
    while ws.read().unwrap().is_some() {}
    let got = server.join().unwrap();
    let mut joined = Vec::new();
    let mut rest = got.iter();
    for message in rest.by_ref() {
        match message {
            Message::BinaryPart(data) => joined.extend_from_slice(data),
            Message::Binary(data) => {
                joined.extend_from_slice(data);
                break;
            }
            other => panic!("before the message ended: {other:?}"),
        }
    }
    assert!(joined == payload, "the message, byte for byte");
    let after: Vec<_> = rest.collect();
    assert_eq!(
        after,
        [
            &Message::Ping(rfc6455::Bytes::from_static(b"meanwhile")),
            &Message::text("next")
        ]
    );
}

// The tokio driver: a 1 MiB message is read in parts as it arrives (`Stream` of `Message`), and a relay task forwards them through
// the `Sink` of another connection, so the far end receives the message
// whole (its own parts off) and byte for byte.
#[cfg(feature = "tokio")]
#[test]
fn a_tokio_relay_forwards_parts_through_the_sink() {
    use futures_util::{SinkExt, StreamExt};
    use rfc6455::tokio::WebSocket as Ws;
    use tokio::net::{TcpListener, TcpStream};

    let _serial = serial();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Random bytes: permessage-deflate (negotiated by default) cannot
        // shrink them, so the message arrives over many reads.
        let payload = rfc6455::testkit::random_bytes(1 << 20, 7);
        let source = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let source_addr = source.local_addr().unwrap();
        let sink = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink_addr = sink.local_addr().unwrap();
        let sent = payload.clone();
        let source_task = tokio::spawn(async move {
            let (stream, _) = source.accept().await.unwrap();
            let mut ws = Ws::accept(stream).await.unwrap();
            ws.send(Message::Binary(sent.into())).await.unwrap();
            ws.close(Some(1000), None).await.unwrap();
            while ws.next().await.is_some() {}
        });
        let sink_task = tokio::spawn(async move {
            let (stream, _) = sink.accept().await.unwrap();
            let mut ws = Ws::accept(stream).await.unwrap();
            let mut got = Vec::new();
            while let Some(message) = ws.next().await {
                got.push(message.unwrap());
            }
            got
        });
        let request = |addr: std::net::SocketAddr| ClientRequest::new(addr.to_string(), "/");
        let upstream = TcpStream::connect(source_addr).await.unwrap();
        let mut from = Ws::client(upstream, request(source_addr), streaming()).await.unwrap();
        let downstream = TcpStream::connect(sink_addr).await.unwrap();
        let mut to = Ws::client(downstream, request(sink_addr), streaming()).await.unwrap();
        let mut parts = 0;
        while let Some(message) = from.next().await {
            let message = message.unwrap();
            parts += usize::from(message.is_part());
            SinkExt::send(&mut to, message).await.unwrap();
        }
        to.close(Some(1000), None).await.unwrap();
        while to.next().await.is_some() {}
        source_task.await.unwrap();
        let got = sink_task.await.unwrap();
        assert!(parts > 1, "a 1 MiB frame in {parts} part(s) before its end");
        assert_eq!(got.len(), 1, "one message at the far end");
        assert!(got[0] == Message::Binary(payload.into()), "the message, byte for byte");
    });
}

// A message whose first part went out to `read()` before the caller
// closed goes on to its end: after `close()` no new message is handed out
// (WHATWG), but cutting one under way would leave a relay with a message
// that never ends.
#[test]
fn a_message_under_way_at_close_is_read_to_its_end() {
    let _serial = serial();
    let (listener, addr) = listen();
    let (closed_tx, closed_rx) = std::sync::mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let mut ws = accept(&listener);
        ws.send_message(Message::TextPart("ab".into())).unwrap();
        // Wait until the client has closed, then finish the message and
        // send one more, which the client must not hand out.
        closed_rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        ws.send_message(Message::TextPart("cd".into())).unwrap();
        ws.send_message(Message::text("ef")).unwrap();
        ws.send_message(Message::text("after")).unwrap();
        while ws.read().unwrap().is_some() {}
    });
    let mut ws = connect(addr);
    assert_eq!(ws.read().unwrap(), Some(Message::TextPart("ab".into())));
    ws.close(Some(1000), None).unwrap();
    closed_tx.send(()).unwrap();
    let mut rest = Vec::new();
    while let Some(message) = ws.read().unwrap() {
        rest.push(message);
    }
    server.join().unwrap();
    let text: String = rest.iter().filter_map(|m| m.as_text()).collect();
    assert_eq!(text, "cdef", "{rest:?}");
    assert!(
        matches!(rest.last(), Some(Message::Text(_))),
        "the message ends: {rest:?}"
    );
}
