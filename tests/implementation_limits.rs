//! Proven bounds: what a hostile or silent peer can make a connection
//! spend, measured with a counting global allocator (live and peak heap
//! bytes, a `realloc` counted as the change in size) and a fake clock.
//!
//! - A frame declaring 2^62 bytes is refused with 1009 before any of it is
//!   buffered.
//! - A fragmented message that never ends is refused with 1009 at
//!   `max_message_size`, holding at most the limit plus the read buffer.
//! - A header block that never ends is refused at `max_handshake_size` (431
//!   from a server).
//! - Slowloris: a handshake trickled byte by byte is dropped at exactly the
//!   handshake timeout; a peer that never answers our close is dropped at
//!   exactly the close timeout. Both roles.
//! - 10,000 idle connections through real TCP on 127.0.0.1 to a
//!   single-threaded non-blocking echo server: the heap each costs the
//!   server, and the server still echoes.
//!
//! Tests run one at a time (a mutex) so the counters mean something.

use rfc6455::testkit::{self, counting};

use counting::{peak_of, serial};
use rfc6455::error::{HandshakeError, Limit, Timeout};
use rfc6455::websocket::{Event as DomEvent, WebSocket};
use rfc6455::{Accept, ClientRequest, Config, Connection, ReadyState, Role};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use testkit::{Ev, Fault, KEY, LenForm, binary, cont, decode_frames, frame, masks, own};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

// ---------------------------------------------------------------- helpers

const ROLES: [Role; 2] = [Role::Client, Role::Server];

/// How bytes are handed to the core.
#[derive(Debug, Clone, Copy)]
enum Feed {
    Receive,
    ReadBuffer,
}

const FEEDS: [Feed; 2] = [Feed::Receive, Feed::ReadBuffer];

/// Hands `bytes` over in reads of at most 64 KiB, as a socket would.
fn feed(conn: &mut Connection, bytes: &[u8], how: Feed) {
    for piece in bytes.chunks(64 << 10) {
        match how {
            Feed::Receive => conn.receive(piece),
            Feed::ReadBuffer => {
                let mut rest = piece;
                while !rest.is_empty() {
                    let buf = conn.read_buffer();
                    assert!(!buf.is_empty(), "read_buffer offered no room");
                    let n = buf.len().min(rest.len());
                    buf[..n].copy_from_slice(&rest[..n]);
                    conn.commit_read(n);
                    rest = &rest[n..];
                }
            }
        }
    }
}

fn poll_all(conn: &mut Connection) -> Vec<Ev> {
    let mut events = Vec::new();
    for _ in 0..10_000 {
        match conn.poll_event().map(own) {
            Some(ev) => events.push(ev),
            None => return events,
        }
    }
    panic!("poll_event never returned None: {events:?}");
}

/// An open connection of `role` (its peer is the test).
fn established(role: Role, config: Config) -> Connection {
    Connection::established_with_masks(role, config, &[], masks(7))
}

/// Checks a 1009 failure: one `Failed` with code 1009 for the `limit`, a
/// close frame with 1009 queued (masked iff a client sends it), the
/// transport to be closed.
#[track_caller]
fn assert_refused_with_1009(conn: &mut Connection, role: Role, events: &[Ev], limit: Limit) {
    match events {
        [Ev::Failed(Some(1009), Fault::Limit(kind, ..))] => assert_eq!(*kind, limit, "{role:?}"),
        _ => panic!("{role:?}: expected one 1009 failure ({limit:?}), got {events:?}"),
    }
    let frames = decode_frames(conn.pending_output());
    assert_eq!(frames.len(), 1, "{role:?}: {frames:?}");
    assert_eq!(frames[0].opcode, testkit::OP_CLOSE);
    assert_eq!(frames[0].payload, 1009u16.to_be_bytes());
    assert_eq!(frames[0].masked, role == Role::Client);
    assert_eq!(conn.ready_state(), ReadyState::Closed);
    assert!(conn.should_close_transport());
    assert!(!conn.is_closed_cleanly());
}

// ---------------------------------------------------------------- (a)

/// A peer declares a 2^62-byte frame, then streams payload: refused with
/// 1009 on the header, and what follows is dropped unbuffered.
#[test]
fn a_frame_declaring_2_pow_62_bytes_is_refused_with_bounded_heap() {
    let _serial = serial();
    const BOUND: usize = 64 << 10;
    // Default limits (the frame limit refuses it), and no frame limit at
    // all (the message limit does).
    let unlimited_frames = Config::default().max_frame_size(usize::MAX).max_message_size(1 << 20);
    for (config, error) in [
        (Config::default(), Limit::FrameSize),
        (unlimited_frames, Limit::MessageSize),
    ] {
        for role in ROLES {
            for how in FEEDS {
                let header = binary(&[]).declare(1 << 62).form(LenForm::Minimal);
                let header = match role {
                    Role::Server => header.mask(KEY),
                    Role::Client => header,
                }
                .header();
                assert_eq!(header.len(), if role == Role::Server { 14 } else { 10 });
                let stream = testkit::pattern(1 << 20);
                let config = config.clone();
                let ((), peak) = peak_of(|| {
                    let mut conn = established(role, config);
                    feed(&mut conn, &header, how);
                    let events = poll_all(&mut conn);
                    assert_refused_with_1009(&mut conn, role, &events, error);
                    // The peer keeps streaming its 2^62 bytes: dropped.
                    feed(&mut conn, &stream, how);
                    assert!(poll_all(&mut conn).is_empty());
                    drop(conn);
                });
                println!("2^62-byte frame to a {role:?} ({how:?}, {error:?}): refused, peak heap {peak} bytes");
                assert!(peak <= BOUND, "{role:?} {how:?}: peak heap {peak} > {BOUND}");
            }
        }
    }
}

// ---------------------------------------------------------------- (b)

/// Hands `bytes` over as [`feed`] does, polling after every read as a
/// driver does; stops at the first event and returns the events.
fn feed_and_poll(conn: &mut Connection, bytes: &[u8], how: Feed) -> Vec<Ev> {
    for piece in bytes.chunks(64 << 10) {
        feed(conn, piece, how);
        let events = poll_all(conn);
        if !events.is_empty() {
            return events;
        }
    }
    Vec::new()
}

/// Continuation frames forever, read as from a socket (reads of at most
/// 64 KiB, events polled after each): refused with 1009 on the header of
/// the first frame that would take the message past `max_message_size`,
/// with the heap at most the limit plus one read (fragments stream onto the
/// message as they arrive: no frame is held whole), plus a little.
#[test]
fn an_endless_fragmented_message_is_refused_at_the_message_limit() {
    let _serial = serial();
    const LIMIT: usize = 1 << 20;
    // One read of 64 KiB, and a little for frame headers and the
    // connection itself.
    const BOUND: usize = LIMIT + (64 << 10) + (4 << 10);
    let config = Config::default().max_message_size(LIMIT);
    let mut failures = Vec::new();
    for size in [1_000usize, 10_000, 16 << 10, 40_000, 64 << 10, 256 << 10, LIMIT - 64] {
        for role in ROLES {
            for how in FEEDS {
                let payload = testkit::pattern(size);
                let to = |f: testkit::RawFrame| match role {
                    Role::Server => f.mask(KEY).bytes(),
                    Role::Client => f.bytes(),
                };
                let first = to(binary(&payload).fin(false));
                let next = to(cont(&payload).fin(false));
                let config = config.clone();
                let (frames, peak) = peak_of(|| {
                    let mut conn = established(role, config);
                    let mut events = feed_and_poll(&mut conn, &first, how);
                    let mut frames = 1;
                    while events.is_empty() {
                        assert!(
                            frames <= LIMIT / size + 1,
                            "{role:?}: {frames} frames of {size} accepted"
                        );
                        events = feed_and_poll(&mut conn, &next, how);
                        frames += 1;
                    }
                    assert_refused_with_1009(&mut conn, role, &events, Limit::MessageSize);
                    frames
                });
                // Refused on the header of the first frame that would pass
                // the limit, not later.
                assert_eq!(frames, LIMIT / size + 1, "{role:?} {how:?}: frames of {size}");
                println!(
                    "endless message of {size}-byte frames to a {role:?} ({how:?}): refused after {frames} frames, \
                     peak heap {peak} bytes (limit {LIMIT})"
                );
                if peak > BOUND {
                    failures.push(format!(
                        "{size}-byte frames to a {role:?} ({how:?}): peak {peak} > {BOUND}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "peak heap above max_message_size + 68 KiB ({BOUND} bytes):\n{}",
        failures.join("\n")
    );
}

/// A single message of exactly `max_message_size`, one frame or many, is
/// accepted, and costs the heap the limit plus the same small constant:
/// one read of 64 KiB and a little.
#[test]
fn a_message_at_the_limit_costs_about_the_limit() {
    let _serial = serial();
    const LIMIT: usize = 1 << 20;
    const BOUND: usize = LIMIT + (64 << 10) + (4 << 10);
    let config = Config::default().max_message_size(LIMIT);
    let payload = testkit::pattern(LIMIT);
    let mut failures = Vec::new();
    for fragment in [LIMIT, 64 << 10, 1000] {
        for role in ROLES {
            for how in FEEDS {
                let mut wire = Vec::new();
                let pieces: Vec<&[u8]> = payload.chunks(fragment).collect();
                for (i, piece) in pieces.iter().enumerate() {
                    let f = if i == 0 { binary(piece) } else { cont(piece) }.fin(i == pieces.len() - 1);
                    wire.extend(match role {
                        Role::Server => f.mask(KEY).bytes(),
                        Role::Client => f.bytes(),
                    });
                }
                let config = config.clone();
                let ((), peak) = peak_of(|| {
                    let mut conn = established(role, config);
                    let mut got = false;
                    for piece in wire.chunks(64 << 10) {
                        feed(&mut conn, piece, how);
                        while let Some(event) = conn.poll_event() {
                            match event {
                                rfc6455::connection::Event::Binary(data) => {
                                    assert!(data == payload.as_slice(), "{role:?}: the message arrives intact");
                                    got = true;
                                }
                                other => panic!("{role:?}: {other:?}"),
                            }
                        }
                    }
                    assert!(got, "{role:?}: the message arrived");
                    drop(conn);
                });
                println!(
                    "a {LIMIT}-byte message in {fragment}-byte frames to a {role:?} ({how:?}): peak heap {peak} bytes"
                );
                if peak > BOUND {
                    failures.push(format!(
                        "{fragment}-byte frames to a {role:?} ({how:?}): peak {peak} > {BOUND}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "peak heap above max_message_size + 68 KiB ({BOUND} bytes):\n{}",
        failures.join("\n")
    );
}

// ---------------------------------------------------------------- (c)

/// A header block that never ends, byte by byte or in chunks: refused at
/// `max_handshake_size` (the server answers 431), the heap a few times the
/// limit at most.
#[test]
fn an_endless_header_block_is_refused_at_the_handshake_limit() {
    let _serial = serial();
    const LIMIT: usize = 16 << 10;
    const BOUND: usize = 4 * LIMIT;
    let config = Config::default().max_handshake_size(LIMIT);
    // One header line that never ends, so the byte limit (not the header
    // count) is what refuses it.
    let mut endless = Vec::new();
    for role in ROLES {
        endless.clear();
        endless.extend_from_slice(match role {
            Role::Server => b"GET /chat HTTP/1.1\r\nHost: example.com\r\nX-Endless: ".as_slice(),
            Role::Client => b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-Endless: ".as_slice(),
        });
        endless.resize(4 * LIMIT, b'a');
        for chunk in [1usize, 7, 1000, 4096] {
            let config = config.clone();
            let ((delivered, events, response), peak) = peak_of(|| {
                let mut conn = match role {
                    Role::Server => Connection::server(config),
                    Role::Client => {
                        let mut conn =
                            Connection::client_with_masks(ClientRequest::new("example.com", "/chat"), config, masks(3));
                        let n = conn.pending_output().len();
                        conn.advance_output(n);
                        conn
                    }
                };
                let mut delivered = 0;
                let mut events = Vec::new();
                for piece in endless.chunks(chunk) {
                    conn.receive(piece);
                    delivered += piece.len();
                    events = poll_all(&mut conn);
                    if !events.is_empty() {
                        break;
                    }
                }
                assert_eq!(conn.ready_state(), ReadyState::Closed, "{role:?}");
                assert!(conn.should_close_transport(), "{role:?}");
                let response = String::from_utf8_lossy(conn.pending_output()).into_owned();
                (delivered, events, response)
            });
            assert_eq!(
                events,
                [Ev::Failed(Some(1006), Fault::Handshake(HandshakeError::TooLarge))],
                "{role:?} chunk {chunk}"
            );
            // Refused as soon as the limit is reached.
            assert!(
                delivered >= LIMIT && delivered < LIMIT + chunk,
                "{role:?}: refused after {delivered} bytes (limit {LIMIT}, chunk {chunk})"
            );
            match role {
                Role::Server => assert!(response.starts_with("HTTP/1.1 431 "), "{response:?}"),
                Role::Client => assert!(response.is_empty(), "{response:?}"),
            }
            println!(
                "endless header block to a {role:?} in {chunk}-byte reads: refused after {delivered} bytes, peak heap \
                 {peak} bytes (limit {LIMIT})"
            );
            assert!(peak <= BOUND, "{role:?} chunk {chunk}: peak heap {peak} > {BOUND}");
        }
    }

    // Short header lines forever, byte by byte: refused with 431 by the
    // time the limit is reached, whichever limit (size or header count)
    // refuses it.
    let mut request = b"GET /chat HTTP/1.1\r\nHost: example.com\r\n".to_vec();
    for i in 0..5000 {
        request.extend_from_slice(format!("X-{i}: a\r\n").as_bytes());
    }
    let mut conn = Connection::server(config.clone());
    let mut events = Vec::new();
    let mut delivered = 0;
    for &byte in &request {
        conn.receive(&[byte]);
        delivered += 1;
        events = poll_all(&mut conn);
        if !events.is_empty() {
            break;
        }
    }
    assert_eq!(
        events,
        [Ev::Failed(Some(1006), Fault::Handshake(HandshakeError::TooLarge))]
    );
    assert!(delivered <= LIMIT, "refused after {delivered} bytes");
    assert!(String::from_utf8_lossy(conn.pending_output()).starts_with("HTTP/1.1 431 "));

    // A complete request with exactly max_headers headers is accepted; one
    // more header and it is refused with 431 at once.
    let mut request = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        .to_vec();
    for i in 5..config.max_headers {
        request.extend_from_slice(format!("X-{i}: a\r\n").as_bytes());
    }
    let mut conn = Connection::server(config.clone());
    conn.receive(&[request.as_slice(), b"\r\n"].concat());
    assert!(
        matches!(poll_all(&mut conn).as_slice(), [Ev::Request { .. }]),
        "{} headers are not too many",
        config.max_headers
    );
    request.extend_from_slice(b"X-Last: a\r\n\r\n");
    let mut conn = Connection::server(config);
    conn.receive(&request);
    assert_eq!(
        poll_all(&mut conn),
        [Ev::Failed(Some(1006), Fault::Handshake(HandshakeError::TooLarge))]
    );
    assert!(String::from_utf8_lossy(conn.pending_output()).starts_with("HTTP/1.1 431 "));
}

// ---------------------------------------------------------------- (d)

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
const NANO: Duration = Duration::from_nanos(1);

/// Slowloris: the handshake trickles in one byte every 50 ms, never
/// complete in time (a header that never ends). Nothing happens before the
/// handshake timeout; at exactly the timeout the connection fails with
/// `Timeout(Handshake)` and the transport is to be closed.
#[test]
fn a_trickled_handshake_is_dropped_at_exactly_the_handshake_timeout() {
    let _serial = serial();
    let config = Config::default().handshake_timeout(Some(HANDSHAKE_TIMEOUT));
    for role in ROLES {
        let mut conn = match role {
            Role::Server => Connection::server(config.clone()),
            Role::Client => {
                let mut conn =
                    Connection::client_with_masks(ClientRequest::new("example.com", "/"), config.clone(), masks(5));
                let n = conn.pending_output().len();
                conn.advance_output(n);
                conn
            }
        };
        assert_eq!(conn.poll_timeout(), Some(HANDSHAKE_TIMEOUT), "{role:?}");
        let mut trickle = match role {
            Role::Server => b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Slow: ".to_vec(),
            Role::Client => b"HTTP/1.1 101 Switching Protocols\r\nX-Slow: ".to_vec(),
        };
        trickle.resize(1000, b'z');
        let step = Duration::from_millis(50);
        let mut now = Duration::ZERO;
        let mut bytes = trickle.iter();
        while now + step < HANDSHAKE_TIMEOUT {
            now += step;
            conn.receive(&[*bytes.next().expect("enough bytes")]);
            conn.handle_timeout(now);
            assert!(poll_all(&mut conn).is_empty(), "{role:?} at {now:?}");
            assert_eq!(conn.ready_state(), ReadyState::Connecting);
            // Bytes arriving do not push the deadline back.
            assert_eq!(conn.poll_timeout(), Some(HANDSHAKE_TIMEOUT), "{role:?} at {now:?}");
        }
        conn.handle_timeout(HANDSHAKE_TIMEOUT - NANO);
        assert!(poll_all(&mut conn).is_empty(), "{role:?}: 1 ns before the timeout");
        assert!(!conn.should_close_transport());
        conn.handle_timeout(HANDSHAKE_TIMEOUT);
        assert_eq!(
            poll_all(&mut conn),
            [Ev::Failed(Some(1006), Fault::Timeout(Timeout::Handshake))],
            "{role:?}"
        );
        assert_eq!(conn.ready_state(), ReadyState::Closed);
        assert!(conn.should_close_transport(), "{role:?}");
        assert_eq!(conn.poll_timeout(), None);
        // Nothing more happens, whatever arrives.
        conn.receive(b"\r\n\r\n");
        conn.handle_timeout(HANDSHAKE_TIMEOUT * 2);
        assert!(poll_all(&mut conn).is_empty());
        println!(
            "{role:?}: handshake trickled at 1 byte / 50 ms dropped at exactly {HANDSHAKE_TIMEOUT:?} with \
             Timeout(Handshake)"
        );
    }
}

/// A peer that never answers our close, though it keeps sending data
/// (which is delivered) and pings (which are answered): dropped at exactly
/// the close timeout after our close, with `Timeout(Close)`.
#[test]
fn a_peer_that_never_answers_our_close_is_dropped_at_exactly_the_close_timeout() {
    let _serial = serial();
    let config = Config::default().close_timeout(Some(CLOSE_TIMEOUT));
    for role in ROLES {
        let mut conn = established(role, config.clone());
        let to = |f: testkit::RawFrame| match role {
            Role::Server => f.mask(KEY).bytes(),
            Role::Client => f.bytes(),
        };
        let start = Duration::from_secs(3);
        conn.handle_timeout(start);
        conn.close(rfc6455::CloseCode::NORMAL, "bye").unwrap();
        assert_eq!(conn.ready_state(), ReadyState::Closing);
        assert_eq!(conn.poll_timeout(), Some(start + CLOSE_TIMEOUT), "{role:?}");
        let n = conn.pending_output().len();
        conn.advance_output(n);
        let deadline = start + CLOSE_TIMEOUT;
        let mut now = start;
        let mut i = 0u32;
        while now + Duration::from_millis(100) < deadline {
            now += Duration::from_millis(100);
            i += 1;
            let (bytes, expected) = if i % 2 == 0 {
                (to(binary(&i.to_be_bytes())), Ev::Binary(i.to_be_bytes().to_vec()))
            } else {
                (
                    to(frame(testkit::OP_PING, b"still here")),
                    Ev::Ping(b"still here".to_vec()),
                )
            };
            conn.receive(&bytes);
            conn.handle_timeout(now);
            assert_eq!(poll_all(&mut conn), [expected], "{role:?} at {now:?}");
            assert_eq!(
                conn.poll_timeout(),
                Some(deadline),
                "{role:?}: traffic does not push the deadline"
            );
        }
        conn.handle_timeout(deadline - NANO);
        assert!(poll_all(&mut conn).is_empty());
        assert!(!conn.should_close_transport());
        conn.handle_timeout(deadline);
        assert_eq!(
            poll_all(&mut conn),
            [Ev::Failed(Some(1006), Fault::Timeout(Timeout::Close))],
            "{role:?}"
        );
        assert_eq!(conn.ready_state(), ReadyState::Closed);
        assert!(!conn.is_closed_cleanly());
        assert!(conn.should_close_transport(), "{role:?}");
        assert_eq!(conn.poll_timeout(), None);
        println!("{role:?}: close never answered, dropped at exactly {CLOSE_TIMEOUT:?} after it with Timeout(Close)");
    }

    // §7.1.1: after a clean close the client waits for the server to close
    // the TCP connection, but only for the close timeout.
    let mut client = established(Role::Client, config);
    let start = Duration::from_secs(1);
    client.handle_timeout(start);
    client.receive(&frame(testkit::OP_CLOSE, &1000u16.to_be_bytes()).bytes());
    assert_eq!(poll_all(&mut client), [Ev::Close(Some(1000), String::new())]);
    assert!(client.is_closed_cleanly());
    assert!(!client.should_close_transport());
    client.handle_timeout(start + CLOSE_TIMEOUT - NANO);
    assert!(!client.should_close_transport());
    client.handle_timeout(start + CLOSE_TIMEOUT);
    assert!(client.should_close_transport());
    assert!(
        poll_all(&mut client).is_empty(),
        "no failure: the close handshake was clean"
    );
    assert!(client.is_closed_cleanly());
}

// ---------------------------------------------------------------- (e)

const IDLE_TEST: &str = "ten_thousand_idle_connections_through_tcp";
const IDLE_WANTED: usize = 10_000;
/// Set in the child process that holds the client ends: `addr,count`.
const CHILD_ENV: &str = "RFC6455_BOUNDS_IDLE_CLIENTS";
/// Set when this test re-ran itself with a raised descriptor limit.
const RAISED_ENV: &str = "RFC6455_BOUNDS_FD_RAISED";
/// Overrides the number of connections (for a quick run).
const COUNT_ENV: &str = "RFC6455_BOUNDS_IDLE_COUNT";
/// Descriptors kept aside for everything but the connections.
const FD_MARGIN: usize = 64;

/// The soft and hard limits on open descriptors, from /proc/self/limits.
fn fd_limits() -> Option<(usize, usize)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut numbers = line["Max open files".len()..].split_whitespace();
    let soft = numbers.next()?.parse().ok()?;
    let hard = numbers.next()?.parse().unwrap_or(soft);
    Some((soft, hard))
}

/// A command that runs this test binary, for `test`, with the soft
/// descriptor limit raised to the hard one.
fn this_test_raised(test: &str) -> Command {
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(r#"ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@""#)
        .arg("bash")
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"]);
    command
}

/// 10,000 idle WebSocket connections through real TCP on 127.0.0.1 to a
/// single-threaded non-blocking echo server in this process (the chat
/// server example's loop); the client ends live in a child process, so each
/// process needs one descriptor per connection. Measures the heap each idle
/// connection costs the server, then checks the server still echoes.
#[test]
fn ten_thousand_idle_connections_through_tcp() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return idle_clients(&spec);
    }
    let _serial = serial();
    let started = Instant::now();
    let (soft, hard) = fd_limits().unwrap_or((1024, 1024));
    let needed = IDLE_WANTED + FD_MARGIN;
    if soft < needed && hard > soft && std::env::var_os(RAISED_ENV).is_none() {
        // Raise our own limit the only way std allows: run again under a
        // shell that raised it.
        println!("descriptor limit {soft} (hard {hard}): running again with it raised");
        let output = this_test_raised(IDLE_TEST)
            .env(RAISED_ENV, "1")
            .stdin(Stdio::null())
            .output()
            .expect("run the test again");
        print!("{}", String::from_utf8_lossy(&output.stdout));
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "the re-run failed: {}", output.status);
        return;
    }
    let count = IDLE_WANTED.min(soft.saturating_sub(FD_MARGIN));
    // A smaller count for a quick look.
    let count = std::env::var(COUNT_ENV)
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(count);
    if count < IDLE_WANTED {
        println!("descriptor limit {soft}: {count} connections instead of {IDLE_WANTED}");
    }
    assert!(count >= 100, "descriptor limit {soft} leaves too few connections");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut child = this_test_raised(IDLE_TEST)
        .env(CHILD_ENV, format!("{addr},{count}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the client process");
    let mut child_in = child.stdin.take().unwrap();
    let child_out = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(child_out).lines() {
            let Ok(line) = line else { break };
            // libtest may print "test name ... " on the same line first.
            if let Some(at) = line.find("IDLE-CHILD ") {
                if lines_tx.send(line[at + "IDLE-CHILD ".len()..].to_owned()).is_err() {
                    break;
                }
            }
        }
    });
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serve_idle(&listener, count, &lines, &mut child_in, started)
    }));
    let _ = writeln!(child_in, "EXIT");
    drop(child_in);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        match child.try_wait().expect("child status") {
            Some(status) => break Some(status),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    reader.join().expect("reader thread");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "the client process ended with {status:?}"
    );
    println!(
        "{count} idle connections: {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}

/// Waits for a line from the child, accepting or polling meanwhile.
fn child_line(lines: &mpsc::Receiver<String>, deadline: Instant, mut meanwhile: impl FnMut()) -> String {
    loop {
        match lines.try_recv() {
            Ok(line) => {
                assert!(!line.starts_with("FAILED"), "client process: {line}");
                return line;
            }
            Err(mpsc::TryRecvError::Disconnected) => panic!("the client process ended early"),
            Err(mpsc::TryRecvError::Empty) => {}
        }
        assert!(Instant::now() < deadline, "the client process is too slow");
        meanwhile();
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The server: accepts `count` connections, measures them idle, echoes.
fn serve_idle(
    listener: &TcpListener,
    count: usize,
    lines: &mpsc::Receiver<String>,
    child_in: &mut impl Write,
    started: Instant,
) {
    let deadline = Instant::now() + Duration::from_secs(180);
    // The application's own table, allocated before the baseline: what is
    // measured is what each connection holds.
    let mut sockets: Vec<WebSocket<TcpStream>> = Vec::with_capacity(count);
    let baseline = counting::live();
    while sockets.len() < count {
        assert!(Instant::now() < deadline, "accepted only {} connections", sockets.len());
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut ws = WebSocket::accept_with(stream, Config::default(), |_| Ok(Accept::new()))
                    .unwrap_or_else(|e| panic!("handshake {}: {e}", sockets.len()));
                ws.get_ref().unwrap().set_nonblocking(true).unwrap();
                // `accept_with` returns with the 101 still queued; the event
                // loop's next round would write it.
                assert!(ws.try_flush().unwrap(), "the 101 did not fit in the socket buffer");
                sockets.push(ws);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if let Ok(line) = lines.try_recv() {
                    panic!("client process: {line}");
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
    let ready = child_line(lines, deadline, || {});
    assert_eq!(ready, format!("READY {count}"));
    let accepted_in = started.elapsed();

    // One round of the event loop: each reports its open event, then has
    // nothing to say; buffers go back while idle.
    for (i, ws) in sockets.iter_mut().enumerate() {
        assert!(matches!(ws.try_next_event(), Some(DomEvent::Open)), "connection {i}");
        assert!(ws.try_next_event().is_none(), "connection {i} is not idle");
        assert_eq!(ws.ready_state(), ReadyState::Open);
    }
    let held = counting::live().saturating_sub(baseline);
    let per_connection = held / count;
    println!(
        "{count} idle connections open in {:.1} s; server heap {held} bytes: {per_connection} bytes per idle \
         connection (permessage-deflate negotiated; plus {} bytes of WebSocket struct in the application's table)",
        accepted_in.as_secs_f64(),
        std::mem::size_of::<WebSocket<TcpStream>>()
    );
    assert!(per_connection <= 1 << 10, "{per_connection} bytes per idle connection");

    // The server still echoes, on one of them.
    let pick = count / 2;
    writeln!(child_in, "ECHO {pick}").unwrap();
    child_in.flush().unwrap();
    let echoed = child_line(lines, deadline, || {
        for (i, ws) in sockets.iter_mut().enumerate() {
            while let Some(event) = ws.try_next_event() {
                match event {
                    DomEvent::Message(message) => {
                        let text = message.data.as_text().expect("a text message").to_owned();
                        ws.try_send(text.as_str()).unwrap();
                    }
                    other => panic!("connection {i}: {other:?}"),
                }
            }
        }
    });
    assert_eq!(echoed, format!("ECHOED echo {pick}"));
    for ws in &sockets {
        assert_eq!(ws.ready_state(), ReadyState::Open);
    }
    // Dropping them closes with 1001 (going away).
    drop(sockets);
}

/// The child: opens `count` connections in batches, completes each
/// handshake, reports, then echoes on request.
fn idle_clients(spec: &str) {
    let outcome = std::panic::catch_unwind(|| {
        let (addr, count) = spec.split_once(',').expect("addr,count");
        let count: usize = count.parse().expect("count");
        let mut clients: Vec<(TcpStream, Connection)> = Vec::with_capacity(count);
        let mut buf = vec![0u8; 4096];
        while clients.len() < count {
            let start = clients.len();
            for _ in start..count.min(start + 64) {
                let mut stream = TcpStream::connect(addr).expect("connect");
                stream.set_nodelay(true).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let mut conn = Connection::client(ClientRequest::new(addr, "/idle"), Config::default());
                stream.write_all(conn.pending_output()).unwrap();
                let n = conn.pending_output().len();
                conn.advance_output(n);
                clients.push((stream, conn));
            }
            for (stream, conn) in &mut clients[start..] {
                wait_for(stream, conn, &mut buf, |ev| ev == &Ev::Open);
                conn.release_buffers();
            }
        }
        println!("IDLE-CHILD READY {count}");
        let mut stdin = std::io::stdin().lock();
        let mut line = String::new();
        for _ in 0..100 {
            line.clear();
            if stdin.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            match line.trim().split_once(' ') {
                Some(("ECHO", i)) => {
                    let (stream, conn) = &mut clients[i.parse::<usize>().expect("index")];
                    let text = format!("echo {i}");
                    conn.send_text(&text).unwrap();
                    stream.write_all(conn.pending_output()).unwrap();
                    let n = conn.pending_output().len();
                    conn.advance_output(n);
                    let ev = wait_for(stream, conn, &mut buf, |ev| matches!(ev, Ev::Text(_)));
                    let Ev::Text(echoed) = ev else { unreachable!() };
                    println!("IDLE-CHILD ECHOED {echoed}");
                }
                _ => break,
            }
        }
    });
    if outcome.is_err() {
        println!("IDLE-CHILD FAILED");
        std::process::exit(1);
    }
}

/// Reads until `want` matches an event; panics on anything else.
fn wait_for(stream: &mut TcpStream, conn: &mut Connection, buf: &mut [u8], want: impl Fn(&Ev) -> bool) -> Ev {
    for _ in 0..10_000 {
        if let Some(ev) = conn.poll_event().map(own) {
            assert!(want(&ev), "client got {ev:?}");
            return ev;
        }
        let n = stream.read(buf).expect("read");
        assert!(n > 0, "the server closed the connection");
        conn.receive(&buf[..n]);
    }
    panic!("no event");
}
