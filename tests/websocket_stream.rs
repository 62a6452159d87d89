#![cfg(feature = "tokio")]
//! `rfc6455::tokio::WebSocketStream`, step by step against the
//! WebSocketStream text of whatwg/websockets pull request 48 ("PR 48"
//! below): the constructor and `opened`, `close()`'s argument rules,
//! `closed`, `readable.cancel`, `writable.abort` and the writable's close,
//! the `signal`, and backpressure end to end over TCP.
//!
//! Every test runs under [`run`] (a real-time limit); traffic stays on
//! 127.0.0.1. The peers are this crate's tokio `WebSocket`, so what they
//! saw (close codes, reasons, message counts) is checked exactly.

use futures_util::{SinkExt, StreamExt};
use rfc6455::testkit::plain_config;
use rfc6455::tokio::{
    AbortController, CloseInfo, Opened, WebSocket, WebSocketError, WebSocketStream, WebSocketStreamOptions,
};
use rfc6455::{Error, Message, Misuse, OwnedCloseFrame};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{sleep, timeout};

/// How long any test may take.
const LIMIT: Duration = Duration::from_secs(30);

async fn run<T>(body: impl Future<Output = T>) -> T {
    match timeout(LIMIT, body).await {
        Ok(value) => value,
        Err(_) => panic!("the test did not finish within {LIMIT:?}: a hang"),
    }
}

/// A server accepting one client with this crate's tokio `WebSocket`
/// (subprotocol "chat" chosen when offered) and running `serve` on it; its
/// result comes back through the receiver.
async fn server<T, F>(
    serve: impl FnOnce(WebSocket<TcpStream>) -> F + Send + 'static,
) -> (SocketAddr, oneshot::Receiver<T>)
where
    F: Future<Output = T> + Send,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = WebSocket::accept_with(stream, rfc6455::Config::default(), |request| {
            Ok(if request.protocols().iter().any(|p| p == "chat") {
                rfc6455::Accept::new().protocol("chat")
            } else {
                rfc6455::Accept::new()
            })
        })
        .await
        .unwrap();
        let _ = tx.send(serve(ws).await);
    });
    (addr, rx)
}

/// Echoes text and binary messages until the close; returns the client's
/// close frame.
async fn echo(mut ws: WebSocket<TcpStream>) -> Option<OwnedCloseFrame> {
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            break;
        }
    }
    ws.peer_close().cloned()
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

async fn open(addr: SocketAddr, options: WebSocketStreamOptions) -> (WebSocketStream, Opened) {
    let wss = WebSocketStream::new(&url(addr), options).unwrap();
    let opened = wss.opened().await.unwrap();
    (wss, opened)
}

fn code_reason(frame: Option<OwnedCloseFrame>) -> (Option<u16>, String) {
    let frame = frame.expect("the server received a close frame");
    (frame.code.map(|c| c.0), frame.reason)
}

// ---------------------------------------------------------------- opening

/// PR 48, `opened`: resolves to the readable, the writable, the protocol
/// and the extensions; messages go both ways; `close()` with a code and
/// reason then resolves `closed` with the code and reason of the server's
/// reply, and the readable ends.
#[tokio::test]
async fn opened_echo_and_a_clean_close() {
    run(async {
        let (addr, seen) = server(echo).await;
        let wss = WebSocketStream::new(
            &url(addr),
            WebSocketStreamOptions::new().protocol("chat").protocol("other"),
        )
        .unwrap();
        assert_eq!(wss.url(), url(addr));
        let Opened {
            mut readable,
            mut writable,
            protocol,
            extensions,
        } = wss.opened().await.unwrap();
        assert_eq!(protocol, "chat");
        assert!(extensions.starts_with("permessage-deflate"), "{extensions}");
        writable.send(Message::text("hello")).await.unwrap();
        writable.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
        assert_eq!(readable.next().await.unwrap().unwrap(), Message::text("hello"));
        assert_eq!(
            readable.next().await.unwrap().unwrap(),
            Message::binary(vec![1u8, 2, 3])
        );

        wss.close(Some(CloseInfo::new(4000, "done"))).unwrap();
        // `closed` has the code and reason of the close frame received
        // (RFC 6455 §7.1.5, §7.1.6): the server echoes the code only.
        let closed = wss.closed().await.unwrap();
        assert_eq!(closed, CloseInfo::new(4000, ""));
        assert!(readable.next().await.is_none(), "the readable ends after a clean close");
        assert_eq!(code_reason(seen.await.unwrap()), (Some(4000), "done".into()));
        // The streams are handed out once.
        assert!(wss.opened().await.is_err());
    })
    .await;
}

/// PR 48, the constructor: the URL is checked at once (the DOM's
/// `SyntaxError`), before any connection.
#[tokio::test]
async fn the_constructor_checks_the_url_and_protocols() {
    for bad in ["ftp://127.0.0.1/", "ws://127.0.0.1/#fragment", "not a url"] {
        let error = WebSocketStream::new(bad, WebSocketStreamOptions::new()).unwrap_err();
        assert!(matches!(error.cause(), Some(Error::Url(_))), "{bad}: {error:?}");
    }
    let error = WebSocketStream::new("ws://127.0.0.1/", WebSocketStreamOptions::new().protocol("a b")).unwrap_err();
    assert!(
        matches!(error.cause(), Some(Error::Misuse(Misuse::InvalidProtocol(_)))),
        "{error:?}"
    );
}

/// PR 48, `opened` rejects when the connection fails before opening, and
/// `closed` rejects with the same failure.
#[tokio::test]
async fn opened_and_closed_reject_when_the_handshake_fails() {
    run(async {
        // A listener that answers the upgrade with a 404.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = WebSocket::accept_with(stream, rfc6455::Config::default(), |_| Err(404)).await;
        });
        let wss = WebSocketStream::new(&url(addr), WebSocketStreamOptions::new()).unwrap();
        let error = wss.opened().await.unwrap_err();
        assert_eq!(error.close_code(), Some(1006));
        assert!(matches!(error.cause(), Some(Error::Handshake(_))), "{error:?}");
        let closed = wss.closed().await.unwrap_err();
        assert!(matches!(closed.cause(), Some(Error::Handshake(_))), "{closed:?}");
    })
    .await;
}

/// PR 48, the `signal`: aborting while the handshake is under way fails
/// it (a server that accepts TCP and never answers), and `closed` rejects
/// too. A signal aborted after open does nothing.
#[tokio::test]
async fn the_signal_aborts_the_handshake_only() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            sleep(Duration::from_secs(20)).await;
            drop(stream);
        });
        let controller = AbortController::new();
        let wss = WebSocketStream::new(&url(addr), WebSocketStreamOptions::new().signal(controller.signal())).unwrap();
        let abort = controller.clone();
        tokio::spawn(async move {
            sleep(Duration::from_millis(100)).await;
            abort.abort();
        });
        let error = wss.opened().await.unwrap_err();
        assert!(controller.signal().aborted());
        assert_eq!(error.close_code(), None, "{error:?}");
        assert!(error.cause().is_none(), "{error:?}");
        assert!(wss.closed().await.is_err());
        silent.abort();

        // After open the signal has nothing left to abort.
        let (addr, seen) = server(echo).await;
        let controller = AbortController::new();
        let (wss, mut opened) = open(addr, WebSocketStreamOptions::new().signal(controller.signal())).await;
        controller.abort();
        opened.writable.send(Message::text("still open")).await.unwrap();
        assert_eq!(
            opened.readable.next().await.unwrap().unwrap(),
            Message::text("still open")
        );
        wss.close(None).unwrap();
        assert!(wss.closed().await.is_ok());
        assert_eq!(code_reason(seen.await.unwrap()), (None, String::new()));
    })
    .await;
}

/// PR 48, `close()` before open: the handshake fails, `opened` and
/// `closed` reject.
#[tokio::test]
async fn close_before_open_fails_the_connection() {
    run(async {
        let (addr, _seen) = server(echo).await;
        let wss = WebSocketStream::new(&url(addr), WebSocketStreamOptions::new()).unwrap();
        wss.close(Some(CloseInfo::new(1000, ""))).unwrap();
        let error = wss.opened().await.unwrap_err();
        assert!(matches!(error.cause(), Some(Error::ClosedBeforeOpen)), "{error:?}");
        assert!(wss.closed().await.is_err());
    })
    .await;
}

// ---------------------------------------------------------------- closing

/// PR 48, `close(closeInfo)` shares `WebSocket.close()`'s rules: a code is
/// 1000 or in 3000–4999 (`InvalidAccessError`), a reason at most 123 UTF-8
/// bytes (`SyntaxError`); a reason without a code closes with 1000, and no
/// code closes without a body (the server sees 1005).
#[tokio::test]
async fn close_arguments_follow_the_dom_rules() {
    run(async {
        let (addr, seen) = server(echo).await;
        let (wss, _opened) = open(addr, WebSocketStreamOptions::new()).await;
        for code in [999, 1001, 1005, 2999, 5000] {
            assert!(
                matches!(wss.close(Some(CloseInfo::new(code, ""))), Err(Error::Misuse(Misuse::DomCloseCode(c))) if c == code),
                "{code}"
            );
        }
        let long = "é".repeat(62); // 124 bytes
        assert!(matches!(
            wss.close(Some(CloseInfo::new(1000, long))),
            Err(Error::Misuse(Misuse::ReasonTooLong(124)))
        ));
        // A refused close started nothing.
        let reason_only = CloseInfo {
            close_code: None,
            reason: "why".into(),
        };
        wss.close(Some(reason_only)).unwrap();
        assert_eq!(wss.closed().await.unwrap(), CloseInfo::new(1000, ""));
        assert_eq!(code_reason(seen.await.unwrap()), (Some(1000), "why".into()));

        let (addr, seen) = server(echo).await;
        let (wss, _opened) = open(addr, WebSocketStreamOptions::new()).await;
        wss.close(None).unwrap();
        // The server's reply echoes no code: 1005 on our side.
        assert_eq!(wss.closed().await.unwrap(), CloseInfo::new(1005, ""));
        assert_eq!(code_reason(seen.await.unwrap()), (None, String::new()));
    })
    .await;
}

/// PR 48, `new WebSocketError(message, {closeCode, reason})`: the same
/// rules as `close()`.
#[test]
fn websocket_error_checks_its_code_and_reason() {
    let error = WebSocketError::new("bye", Some(4001), "gone").unwrap();
    assert_eq!(
        (error.close_code(), error.reason(), error.message()),
        (Some(4001), "gone", "bye")
    );
    assert_eq!(WebSocketError::new("x", None, "why").unwrap().close_code(), Some(1000));
    assert_eq!(WebSocketError::new("x", None, "").unwrap().close_code(), None);
    assert!(matches!(
        WebSocketError::new("x", Some(1011), ""),
        Err(Error::Misuse(Misuse::DomCloseCode(1011)))
    ));
    assert!(matches!(
        WebSocketError::new("x", Some(1000), &"a".repeat(124)),
        Err(Error::Misuse(Misuse::ReasonTooLong(124)))
    ));
}

/// PR 48, the readable's cancel steps: cancelling with a `WebSocketError`
/// closes with its code and reason; without one, with no code.
#[tokio::test]
async fn cancelling_the_readable_closes_the_connection() {
    run(async {
        for (reason, expected) in [
            (
                Some(WebSocketError::new("done", Some(4001), "gone").unwrap()),
                (Some(4001), "gone"),
            ),
            (None, (None, "")),
        ] {
            let (addr, seen) = server(echo).await;
            let (wss, opened) = open(addr, WebSocketStreamOptions::new()).await;
            opened.readable.cancel(reason);
            let closed = wss.closed().await.unwrap();
            assert_eq!(closed.close_code, Some(expected.0.unwrap_or(1005)));
            assert_eq!(code_reason(seen.await.unwrap()), (expected.0, expected.1.into()));
        }
    })
    .await;
}

/// PR 48, the writable's abort steps (as the readable's cancel) and its
/// close steps (the close handshake without a code).
#[tokio::test]
async fn aborting_or_closing_the_writable_closes_the_connection() {
    run(async {
        let (addr, seen) = server(echo).await;
        let (wss, opened) = open(addr, WebSocketStreamOptions::new()).await;
        opened
            .writable
            .abort(Some(WebSocketError::new("stop", Some(3333), "aborted").unwrap()));
        assert_eq!(wss.closed().await.unwrap(), CloseInfo::new(3333, ""));
        assert_eq!(code_reason(seen.await.unwrap()), (Some(3333), "aborted".into()));

        let (addr, seen) = server(echo).await;
        let (wss, mut opened) = open(addr, WebSocketStreamOptions::new()).await;
        opened.writable.send(Message::text("last")).await.unwrap();
        opened.writable.close().await.unwrap();
        // The echo of "last" is not handed out: once the close handshake
        // started, a message received is dropped (WHATWG WebSockets, "a
        // WebSocket message has been received", step 1), and the readable
        // ends.
        assert!(opened.readable.next().await.is_none());
        assert_eq!(wss.closed().await.unwrap(), CloseInfo::new(1005, ""));
        assert_eq!(code_reason(seen.await.unwrap()), (None, String::new()));
        // Writing after the close is refused.
        assert!(opened.writable.send(Message::text("late")).await.is_err());
    })
    .await;
}

/// PR 48, a connection that ends without a close handshake: `closed`
/// rejects with a `WebSocketError` (1006), the readable yields that error
/// once and ends, and the writable refuses with it.
#[tokio::test]
async fn a_failure_rejects_closed_and_errors_both_streams() {
    run(async {
        // A server that completes the handshake by hand, then closes the
        // TCP connection without a close frame.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                if stream.read(&mut byte).await.unwrap() == 0 {
                    return;
                }
                request.push(byte[0]);
            }
            let request = String::from_utf8(request).unwrap();
            let key = request
                .lines()
                .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
                .expect("a key");
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                rfc6455::handshake::accept_key(key.as_bytes())
            );
            stream.write_all(response.as_bytes()).await.unwrap();
            sleep(Duration::from_millis(50)).await;
        });
        let (wss, mut opened) = open(addr, WebSocketStreamOptions::new()).await;
        let error = opened.readable.next().await.unwrap().unwrap_err();
        assert_eq!(error.close_code(), Some(1006));
        assert!(opened.readable.next().await.is_none());
        let closed = wss.closed().await.unwrap_err();
        assert_eq!(closed.close_code(), Some(1006));
        let refused = opened.writable.send(Message::text("x")).await.unwrap_err();
        assert_eq!(refused.close_code(), Some(1006));
    })
    .await;
}

/// The server's close: the readable hands out what came before it, then
/// ends; `closed` has the server's code and reason.
#[tokio::test]
async fn the_peer_closing_ends_the_readable() {
    run(async {
        let (addr, _seen) = server(|mut ws: WebSocket<TcpStream>| async move {
            ws.send("one").await.unwrap();
            ws.send("two").await.unwrap();
            ws.close(Some(4100), Some("server done")).await.unwrap();
            while ws.next().await.is_some() {}
        })
        .await;
        let (wss, opened) = open(addr, WebSocketStreamOptions::new()).await;
        let messages: Vec<_> = opened.readable.map(|m| m.unwrap()).collect().await;
        assert_eq!(messages, [Message::text("one"), Message::text("two")]);
        assert_eq!(wss.closed().await.unwrap(), CloseInfo::new(4100, "server done"));
    })
    .await;
}

// ---------------------------------------------------------------- backpressure

const CHUNK: usize = 64 * 1024;

/// MDN: the DOM's `WebSocket` cannot apply backpressure; WebSocketStream
/// does. A client that stops reading stops the reads: the server's sends
/// fill the TCP buffers and then wait, so both sides hold a bounded amount
/// (the client's queue stays empty, the server's writable is stuck well
/// below what it tried to send). Once the client reads again, every
/// message arrives, in order.
#[tokio::test]
async fn a_reader_that_stops_makes_the_sender_wait() {
    run(async {
        const TOTAL: usize = 2_000; // 125 MiB if nothing held it back
        let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
        let (addr, done) = server(move |ws: WebSocket<TcpStream>| async move {
            let wss = WebSocketStream::from_socket(ws, WebSocketStreamOptions::new());
            let mut opened = wss.opened().await.unwrap();
            for i in 0..TOTAL {
                let mut payload = vec![0u8; CHUNK];
                payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
                opened.writable.send(Message::binary(payload)).await.unwrap();
                progress_tx.send_replace(i + 1);
            }
            wss.close(Some(CloseInfo::new(1000, ""))).unwrap();
            wss.closed().await
        })
        .await;
        // Without permessage-deflate: these payloads would compress to
        // almost nothing.
        let (wss, mut opened) = open(addr, WebSocketStreamOptions::new().config(plain_config())).await;
        // Poll `closed` meanwhile: it must not read for the readable.
        let closed = wss.closed();
        let watcher = tokio::spawn(closed.clone());

        // Nobody reads: the server's progress stalls.
        let stalled_at = loop {
            let before = *progress.borrow_and_update();
            if timeout(Duration::from_millis(500), progress.changed()).await.is_err() {
                break before;
            }
        };
        // The kernel's buffers on both sides, and nothing more: far from
        // the 125 MiB sent without backpressure.
        assert!(
            stalled_at < 400,
            "the server sent {stalled_at} × 64 KiB while nobody read"
        );
        assert_eq!(opened.readable.queued_bytes(), 0);

        // Reading again: every message, in order, then the clean close.
        for i in 0..TOTAL {
            let message = opened.readable.next().await.unwrap().unwrap();
            assert_eq!(message.len(), CHUNK);
            assert_eq!(message.as_bytes()[..8], (i as u64).to_be_bytes(), "message {i}");
        }
        assert!(opened.readable.next().await.is_none());
        assert_eq!(watcher.await.unwrap().unwrap(), CloseInfo::new(1000, ""));
        assert_eq!(done.await.unwrap().unwrap(), CloseInfo::new(1000, ""));
        println!("the server stalled after {stalled_at} messages of 64 KiB");
    })
    .await;
}

/// The read-ahead room: with `read_ahead(N)`, `closed` (or a waiting
/// writable) reads ahead of the consumer until N bytes are queued, no
/// further; the consumer then gets them first, in order.
#[tokio::test]
async fn read_ahead_fills_to_its_mark_and_no_further() {
    run(async {
        const TOTAL: usize = 200;
        let (addr, _done) = server(move |mut ws: WebSocket<TcpStream>| async move {
            for i in 0..TOTAL {
                let mut payload = vec![0u8; CHUNK];
                payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
                if ws.send(Message::binary(payload)).await.is_err() {
                    return;
                }
            }
            ws.close(Some(1000), None).await.unwrap();
            while ws.next().await.is_some() {}
        })
        .await;
        let mark = 4 * CHUNK;
        let options = WebSocketStreamOptions::new().read_ahead(mark).config(plain_config());
        let (wss, mut opened) = open(addr, options).await;
        let watcher = tokio::spawn(wss.closed());
        // Wait for the queue to stop growing.
        let mut queued = 0;
        for _ in 0..100 {
            sleep(Duration::from_millis(20)).await;
            let now = opened.readable.queued_bytes();
            if now == queued && now > 0 {
                break;
            }
            queued = now;
        }
        assert!(queued >= mark, "read ahead {queued} bytes");
        assert!(queued <= mark + CHUNK, "read ahead {queued} bytes, past the mark");
        for i in 0..TOTAL {
            let message = opened.readable.next().await.unwrap().unwrap();
            assert_eq!(message.as_bytes()[..8], (i as u64).to_be_bytes(), "message {i}");
        }
        assert!(opened.readable.next().await.is_none());
        assert_eq!(watcher.await.unwrap().unwrap(), CloseInfo::new(1000, ""));
    })
    .await;
}

/// The read-ahead mark bounds a queue of empty messages too: each counts
/// its place in the queue, not only its (empty) payload. While `closed`
/// alone drives the connection, the peer's 100,000 empty messages stop at
/// the mark and its writes wait; then every one of them is read, in order.
#[tokio::test]
async fn read_ahead_bounds_empty_messages_too() {
    run(async {
        const MESSAGES: usize = 100_000;
        let (client, mut server) = tokio::io::duplex(16 << 10);
        let conn = rfc6455::Connection::established(rfc6455::Role::Client, plain_config(), &[]);
        let ws = WebSocket::from_connection(conn, client);
        let options = WebSocketStreamOptions::new().read_ahead(16 << 10);
        let wss = WebSocketStream::from_socket(ws, options);
        let mut opened = wss.opened().await.unwrap();
        let writer = tokio::spawn(async move {
            // Empty binary frames from the server, unmasked, then a text
            // frame to mark the end.
            let empty: Vec<u8> = [0x82u8, 0x00].repeat(1000);
            for _ in 0..MESSAGES / 1000 {
                server.write_all(&empty).await.unwrap();
            }
            server.write_all(&[0x81, 0x03, b'e', b'n', b'd']).await.unwrap();
            server
        });
        let closed = timeout(Duration::from_millis(300), wss.closed()).await;
        assert!(closed.is_err(), "the connection is open");
        assert!(!writer.is_finished(), "the peer's writes wait once the queue is full");
        for i in 0..MESSAGES {
            let message = opened.readable.next().await.unwrap().unwrap();
            assert_eq!(message, Message::binary(Vec::new()), "message {i}");
        }
        assert_eq!(opened.readable.next().await.unwrap().unwrap(), Message::text("end"));
        drop(writer.await.unwrap());
    })
    .await;
}

/// A server-side stream: `accept` runs the handshake; a dropped readable
/// no longer holds the connection back (what arrives is discarded, so the
/// close handshake completes through `closed`).
#[tokio::test]
async fn accept_and_a_dropped_readable() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let wss = WebSocketStream::accept(stream, WebSocketStreamOptions::new())
                .await
                .unwrap();
            let Opened {
                readable, mut writable, ..
            } = wss.opened().await.unwrap();
            drop(readable);
            writable.send(Message::text("from the server")).await.unwrap();
            wss.closed().await
        });
        let mut client = WebSocket::connect(&url(addr), &[]).await.unwrap();
        client.send("ignored").await.unwrap();
        let first = client.read().await.unwrap().unwrap();
        assert_eq!(first, Message::text("from the server"));
        client.close(Some(4200), Some("client done")).await.unwrap();
        while client.read().await.unwrap().is_some() {}
        assert_eq!(server.await.unwrap().unwrap(), CloseInfo::new(4200, "client done"));
    })
    .await;
}

// ---------------------------------------------------------------- wakeups

/// `closed` awaited in another task, while the connection is open and
/// nothing reads, is woken when the writable starts the close: nothing else
/// would wake it (it reads nothing while the connection is open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_elsewhere_sees_the_writable_close() {
    run(async {
        let (addr, _seen) = server(echo).await;
        let (wss, mut opened) = open(addr, WebSocketStreamOptions::new()).await;
        let watcher = tokio::spawn(wss.closed());
        sleep(Duration::from_millis(100)).await;
        opened.writable.close().await.unwrap();
        let closed = timeout(Duration::from_secs(5), watcher).await;
        assert_eq!(closed.expect("closed woke").unwrap().unwrap(), CloseInfo::new(1005, ""));
    })
    .await;
}

/// One signal for several streams (the standard's `AbortSignal` may be
/// shared): aborting it fails every handshake under way, not only the one
/// that polled last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_signal_aborts_every_handshake() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut silent = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                silent.push(stream);
            }
        });
        let controller = AbortController::new();
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let options = WebSocketStreamOptions::new().signal(controller.signal());
            let wss = WebSocketStream::new(&url(addr), options).unwrap();
            tasks.push(tokio::spawn(async move { wss.opened().await.map(drop) }));
            sleep(Duration::from_millis(50)).await;
        }
        controller.abort();
        for (i, task) in tasks.into_iter().enumerate() {
            let opened = timeout(Duration::from_secs(3), task).await;
            let error = opened
                .unwrap_or_else(|_| panic!("stream {i} was not woken"))
                .unwrap()
                .unwrap_err();
            assert!(error.cause().is_none(), "stream {i}: {error:?}");
        }
    })
    .await;
}

/// The readable and the writable in two tasks on two threads, in lockstep
/// with an echo server: each message is sent once the previous echo was
/// read, so every round trip needs a wake to reach the handle waiting for
/// it. A handle keeps its waker only when its poll is pending, and a wake
/// that comes between that poll and the registration is passed on; were
/// it lost, a round trip would hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockstep_round_trips_across_threads_never_stall() {
    run(async {
        const ROUNDS: u32 = 3_000;
        let (addr, _seen) = server(echo).await;
        let (_wss, opened) = open(addr, WebSocketStreamOptions::new()).await;
        let Opened {
            mut readable,
            mut writable,
            ..
        } = opened;
        let (echoed, mut next) = tokio::sync::mpsc::channel(1);
        let reader = tokio::spawn(async move {
            for i in 0..ROUNDS {
                let message = readable.next().await.expect("an echo").expect("no error");
                assert_eq!(message.as_bytes(), i.to_be_bytes());
                echoed.send(()).await.unwrap();
            }
        });
        for i in 0..ROUNDS {
            writable.send(Message::binary(i.to_be_bytes().to_vec())).await.unwrap();
            timeout(Duration::from_secs(5), next.recv())
                .await
                .unwrap_or_else(|_| panic!("round trip {i} stalled"))
                .expect("the reader goes on");
        }
        reader.await.unwrap();
    })
    .await;
}

/// A handle's waker is kept only while it lives: `closed` futures dropped
/// while pending (under a timeout, in a `select!`) leave nothing behind.
#[tokio::test]
async fn dropped_closed_futures_keep_no_waker() {
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};
    struct Counted;
    impl Wake for Counted {
        fn wake(self: Arc<Self>) {}
    }
    run(async {
        let (addr, _seen) = server(echo).await;
        let (wss, _opened) = open(addr, WebSocketStreamOptions::new()).await;
        let wakers: Vec<Arc<Counted>> = (0..1_000).map(|_| Arc::new(Counted)).collect();
        for counted in &wakers {
            let waker = Waker::from(Arc::clone(counted));
            let mut closed = std::pin::pin!(wss.closed());
            assert!(closed.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        }
        let kept = wakers.iter().filter(|w| Arc::strong_count(w) > 1).count();
        assert_eq!(kept, 0, "wakers of dropped futures kept");
    })
    .await;
}

/// Both peers write 8 MiB before they read (more than the TCP buffers
/// hold): with read-ahead room for it, the writable reads into the room
/// while its writes wait, through `send` (poll_flush) as through `feed`
/// (poll_ready), so neither side waits on the other for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_ahead_breaks_a_write_write_deadlock() {
    run(async {
        const N: usize = 64;
        const SIZE: usize = 128 * 1024;
        for use_send in [true, false] {
            let (addr, _done) = server(|mut ws: WebSocket<TcpStream>| async move {
                for _ in 0..N {
                    if ws.send(Message::binary(vec![7u8; SIZE])).await.is_err() {
                        return;
                    }
                }
                let mut read = 0;
                while read < N {
                    match ws.next().await {
                        Some(Ok(m)) if m.is_binary() => read += 1,
                        Some(Ok(_)) => {}
                        _ => return,
                    }
                }
                let _ = ws.close(Some(1000), None).await;
                while ws.next().await.is_some() {}
            })
            .await;
            let options = WebSocketStreamOptions::new()
                .config(plain_config())
                .read_ahead(N * SIZE + 1);
            let (wss, mut opened) = open(addr, options).await;
            let wrote = timeout(Duration::from_secs(10), async {
                for _ in 0..N {
                    let message = Message::binary(vec![1u8; SIZE]);
                    if use_send {
                        opened.writable.send(message).await.unwrap();
                    } else {
                        opened.writable.feed(message).await.unwrap();
                    }
                }
                opened.writable.flush().await.unwrap();
            })
            .await;
            assert!(wrote.is_ok(), "deadlocked (send: {use_send})");
            for _ in 0..N {
                assert_eq!(opened.readable.next().await.unwrap().unwrap().len(), SIZE);
            }
            assert_eq!(wss.closed().await.unwrap(), CloseInfo::new(1000, ""));
        }
    })
    .await;
}

/// A dropped readable lets the writable read (and discard) while it waits,
/// so a peer that writes before it reads is not stuck behind unread data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_readable_does_not_block_the_writable() {
    run(async {
        const N: usize = 64;
        const SIZE: usize = 128 * 1024;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let wss = WebSocketStream::accept(stream, WebSocketStreamOptions::new().config(plain_config()))
                .await
                .unwrap();
            let opened = wss.opened().await.unwrap();
            drop(opened.readable);
            let mut writable = opened.writable;
            for _ in 0..N {
                writable.send(Message::binary(vec![7u8; SIZE])).await.unwrap();
            }
        });
        let mut client = WebSocket::connect_with(&url(addr), &[], plain_config()).await.unwrap();
        let client = tokio::spawn(async move {
            for _ in 0..N {
                client.send(Message::binary(vec![1u8; SIZE])).await.unwrap();
            }
            let mut read = 0;
            while read < N {
                if client.next().await.unwrap().unwrap().is_binary() {
                    read += 1;
                }
            }
        });
        let both = timeout(Duration::from_secs(10), async {
            server.await.unwrap();
            client.await.unwrap();
        })
        .await;
        assert!(both.is_ok(), "the writable of a dropped readable never read");
    })
    .await;
}

/// A writer to a peer that neither reads nor answers: the keepalive gives
/// up on it while a write waits (RFC 6455 §5.5.2 pings unanswered), and
/// the writable's refusal is that failure (close code 1006, the timeout
/// as its cause), the same error `closed` rejects with, not a bare
/// "closing" although no handle had read the failure's events yet.
#[tokio::test]
async fn a_write_that_sees_the_keepalive_fail_reports_the_failure() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            // Answers the handshake, then never reads again.
            let ws = WebSocket::accept(stream).await.unwrap();
            let _ = stopped.await;
            drop(ws);
        });
        let config = plain_config().keepalive_interval(Some(Duration::from_millis(100)));
        let (wss, mut opened) = open(addr, WebSocketStreamOptions::new().config(config)).await;
        let payload = Message::binary(vec![7u8; 64 * 1024]);
        let refused = loop {
            if let Err(e) = opened.writable.send(payload.clone()).await {
                break e;
            }
        };
        assert_eq!(refused.close_code(), Some(1006), "{refused:?}");
        assert!(matches!(refused.cause(), Some(Error::Timeout(_))), "{refused:?}");
        let closed = wss.closed().await.unwrap_err();
        assert_eq!(closed.close_code(), Some(1006));
        assert!(matches!(closed.cause(), Some(Error::Timeout(_))), "{closed:?}");
        let _ = stop.send(());
    })
    .await;
}

/// Messages already received are not lost when the connection then fails
/// (WHATWG: each message is queued before the close). The server writes
/// three text frames at once, which one read brings in; the readable takes
/// the first; the server goes away, so the next write fails. The other two
/// still come out of the readable, then the failure.
#[tokio::test]
async fn messages_received_before_a_write_fails_are_read_first() {
    run(async {
        let (client, mut server) = tokio::io::duplex(64 << 10);
        let conn = rfc6455::Connection::established(rfc6455::Role::Client, rfc6455::Config::default(), &[]);
        let ws = WebSocket::from_connection(conn, client);
        let wss = WebSocketStream::from_socket(ws, WebSocketStreamOptions::new());
        let mut opened = wss.opened().await.unwrap();
        let mut frames = Vec::new();
        for text in ["one", "two", "three"] {
            frames.extend_from_slice(&[0x81, text.len() as u8]);
            frames.extend_from_slice(text.as_bytes());
        }
        server.write_all(&frames).await.unwrap();
        assert_eq!(opened.readable.next().await.unwrap().unwrap(), Message::text("one"));
        drop(server);
        assert!(
            opened.writable.send(Message::text("x")).await.is_err(),
            "the write fails"
        );
        let mut rest = Vec::new();
        for _ in 0..10 {
            match opened.readable.next().await {
                Some(item) => rest.push(item.map_err(|e| e.close_code())),
                None => break,
            }
        }
        assert_eq!(
            rest,
            [Ok(Message::text("two")), Ok(Message::text("three")), Err(Some(1006))],
            "the readable"
        );
    })
    .await;
}
