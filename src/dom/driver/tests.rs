//! The driver core over an in-memory transport with a hand-moved
//! clock: the rules both drivers share, tested once, without sockets.

use super::super::small;
use super::*;
use crate::config::Config;
use crate::connection::Role;
use crate::error::{ProtocolError, Timeout};
use bytes::Bytes;
use std::collections::VecDeque;
use std::string::String;
use std::vec;

/// A transport whose reads come from `input` (then `Pending`), whose
/// writes take at most `room` bytes (then `Pending`), and whose clock
/// reads `now`.
#[derive(Default)]
struct Fake {
    now: Duration,
    input: VecDeque<Vec<u8>>,
    output: Vec<u8>,
    room: usize,
    shut: bool,
    deadline: Option<Duration>,
    /// A blocking transport with the deadline as its write timeout: a
    /// full transport waits until the deadline, then times out.
    blocking: bool,
    /// Writes attempted, to bound loops.
    writes: usize,
    /// The length of each buffer offered to a read.
    offered: Vec<usize>,
    /// A blocking transport whose reads time out at the deadline: with
    /// nothing to read, a read waits until the deadline, then times out.
    timed_reads: bool,
    /// The room a blocking write finds once it has waited out its timeout.
    room_after_wait: usize,
    /// Flushes that wait out the deadline and time out (a TLS stream writes
    /// its records to the socket when flushed).
    flush_waits: usize,
}

impl Io for Fake {
    fn now(&self) -> Duration {
        self.now
    }

    fn poll_deadline(&mut self, deadline: Option<Duration>) -> Poll<()> {
        self.deadline = deadline;
        match deadline {
            Some(d) if d <= self.now => Poll::Ready(()),
            _ => Poll::Pending,
        }
    }

    fn poll_read(&mut self, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.offered.push(buf.len());
        let Some(chunk) = self.input.front_mut() else {
            if let (true, Some(deadline)) = (self.timed_reads, self.deadline) {
                self.now = self.now.max(deadline);
                return Poll::Ready(Err(io::Error::from(ErrorKind::WouldBlock)));
            }
            return Poll::Pending;
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.input.pop_front();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write(&mut self, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.shut {
            return Poll::Ready(Err(io::Error::from(ErrorKind::BrokenPipe)));
        }
        self.writes += 1;
        let n = buf.len().min(self.room);
        if n == 0 && self.blocking {
            // Waited as long as the write timeout allowed.
            if let Some(deadline) = self.deadline {
                self.now = self.now.max(deadline);
            }
            self.room = self.room_after_wait;
            return Poll::Ready(Err(io::Error::from(ErrorKind::WouldBlock)));
        }
        if n == 0 {
            return Poll::Pending;
        }
        self.room -= n;
        self.output.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    // As a socket's `writev`: the pieces in order, as far as the room goes.
    fn poll_write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        self.poll_write(&joined)
    }

    fn poll_flush(&mut self) -> Poll<io::Result<()>> {
        if let (1.., Some(deadline)) = (self.flush_waits, self.deadline) {
            self.flush_waits -= 1;
            self.now = self.now.max(deadline);
            return Poll::Ready(Err(io::Error::from(ErrorKind::WouldBlock)));
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(&mut self) -> Poll<io::Result<()>> {
        self.shut = true;
        Poll::Ready(Ok(()))
    }

    fn writes_wait(&self) -> bool {
        self.blocking
    }

    fn has_timer(&self) -> bool {
        self.deadline.is_some()
    }

    fn reads_time_out(&self) -> bool {
        self.timed_reads
    }
}

fn server() -> Driver {
    Driver::new(
        Connection::established(Role::Server, Config::default(), &[]),
        String::new(),
    )
}

/// A client's frame, masked with the zero key (RFC 6455 §5.3 allows any
/// key; zero leaves the payload as it is).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

/// A transport that takes every write, blocking or not.
fn roomy(blocking: bool) -> Fake {
    Fake {
        room: usize::MAX,
        blocking,
        ..Fake::default()
    }
}

fn open(driver: &mut Driver, io: &mut Fake) {
    assert!(matches!(driver.poll_event(io), Poll::Ready(Some(Event::Open))));
}

#[test]
fn a_message_is_read_and_a_send_written() {
    let mut driver = server();
    let mut io = Fake {
        room: usize::MAX,
        ..Fake::default()
    };
    io.input.push_back(client_frame(0x1, b"hi"));
    open(&mut driver, &mut io);
    match driver.poll_message(&mut io) {
        Poll::Ready(Some(Ok(Message::Text(text)))) => assert_eq!(text, "hi"),
        other => panic!("{:?}", other.map(|m| m.map(|m| m.map(drop)))),
    }
    assert!(driver.poll_message(&mut io).is_pending());
    assert!(driver.send(&Data::from("yo")).unwrap());
    assert!(matches!(driver.poll_drain(&mut io, 0), Poll::Ready(())));
    assert_eq!(io.output, [0x81, 0x02, b'y', b'o']);
    assert_eq!(driver.buffered_amount(), 0);
}

/// A client's binary frame of 126 to 65,535 bytes, masked with the zero
/// key.
fn client_frame_16(payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).unwrap();
    let mut frame = vec![0x82, 0x80 | 126];
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(payload);
    frame
}

// The idle-read policy. A transport that returns `Pending` says when the
// peer is quiet, so a short read that ends a burst keeps the read buffer
// for the next read, and the `Pending` read gives it back. A transport
// that may wait gives no such signal: after a short read the next read
// waits in a stack buffer, the heap buffer given back first.
#[test]
fn the_read_buffer_is_given_back_when_the_peer_is_quiet() {
    for blocking in [false, true] {
        let (mut driver, mut io) = (server(), roomy(blocking));
        // Each frame's last 10 bytes come in a read of their own.
        for byte in [1, 2] {
            let frame = client_frame_16(&[byte; 20_000]);
            let (most, last) = frame.split_at(frame.len() - 10);
            io.input.extend([most.to_vec(), last.to_vec()]);
        }
        open(&mut driver, &mut io);
        let read = |driver: &mut Driver, io: &mut Fake, byte| match driver.poll_message(io) {
            Poll::Ready(Some(Ok(Message::Binary(m)))) => assert!(m.len() == 20_000 && m[0] == byte),
            other => panic!("{:?}", other.map(|m| m.map(|m| m.map(drop)))),
        };
        read(&mut driver, &mut io, 1);
        read(&mut driver, &mut io, 2);
        // The read after the first short one: into the heap buffer kept,
        // or into the stack buffer.
        let after_short = io.offered[io.offered.iter().position(|&n| n < 100).unwrap() + 1];
        assert_eq!(
            after_short > IDLE_READ,
            !blocking,
            "blocking {blocking}: {:?}",
            io.offered
        );
        assert!(driver.poll_message(&mut io).is_pending());
        assert!(
            !driver.dom.conn.holds_read_buffer(),
            "blocking {blocking}: kept while quiet"
        );
        // A burst that ends with a full read keeps the buffer through the
        // wait: the next large message needs it.
        io.input.push_back(client_frame_16(&[3; 20_000]));
        read(&mut driver, &mut io, 3);
        if !blocking {
            assert!(driver.poll_message(&mut io).is_pending());
            assert!(driver.dom.conn.holds_read_buffer());
        }
    }
}

// A transport that returns `Pending` after a burst whose last read was
// long keeps the read buffer for the next burst, but not for good: the
// buffer goes back once the peer has been quiet for `KEEP_READ_BUFFER`,
// and the next read waits in the stack buffer.
#[test]
fn a_read_buffer_kept_after_a_long_read_goes_back_when_the_peer_stays_quiet() {
    let mut driver = server();
    let mut io = roomy(false);
    io.input.push_back(client_frame_16(&[5; 2_000]));
    open(&mut driver, &mut io);
    assert!(matches!(
        driver.poll_message(&mut io),
        Poll::Ready(Some(Ok(Message::Binary(_))))
    ));
    assert!(driver.poll_message(&mut io).is_pending());
    assert!(driver.dom.conn.holds_read_buffer(), "given back at once");
    assert_eq!(io.deadline, Some(KEEP_READ_BUFFER), "no timer for the release");
    // A message within the interval: read into the buffer kept.
    io.now = KEEP_READ_BUFFER / 2;
    io.input.push_back(client_frame_16(&[6; 2_000]));
    assert!(matches!(
        driver.poll_message(&mut io),
        Poll::Ready(Some(Ok(Message::Binary(_))))
    ));
    assert!(*io.offered.last().unwrap() > IDLE_READ);
    assert!(driver.poll_message(&mut io).is_pending());
    // The interval counts from the last `Pending`.
    assert_eq!(io.deadline, Some(KEEP_READ_BUFFER / 2 + KEEP_READ_BUFFER));
    io.now = KEEP_READ_BUFFER * 2;
    assert!(driver.poll_message(&mut io).is_pending());
    assert!(!driver.dom.conn.holds_read_buffer(), "kept while quiet");
    assert_eq!(io.deadline, None, "a timer left armed");
    assert_eq!(*io.offered.last().unwrap(), IDLE_READ);
}

/// A blocking socket, its reads and writes bounded by its timeouts.
fn socket() -> Fake {
    Fake {
        room: usize::MAX,
        blocking: true,
        timed_reads: true,
        ..Fake::default()
    }
}

/// A client's binary frame of 20,000 bytes of `byte`, its last 10 bytes in
/// a read of their own: the read that ends the message is short.
fn ending_short(io: &mut Fake, byte: u8) {
    let frame = client_frame_16(&[byte; 20_000]);
    let (most, last) = frame.split_at(frame.len() - 10);
    io.input.extend([most.to_vec(), last.to_vec()]);
}

fn read_binary(driver: &mut Driver, io: &mut Fake) -> Bytes {
    match driver.poll_message(io) {
        Poll::Ready(Some(Ok(Message::Binary(m)))) => m,
        other => panic!("{:?}", other.map(|m| m.map(|m| m.map(drop)))),
    }
}

// A blocking socket cannot say whether its next read will wait, but its
// reads time out: it keeps the read buffer across a short read for
// `KEEP_READ_BUFFER` from its last long read (a peer sending large
// messages one at a time costs no new, zeroed buffer each), and the read
// timeout gives the buffer back once the peer stays quiet that long.
#[test]
fn a_blocking_socket_keeps_its_read_buffer_for_a_while_after_long_reads() {
    let (mut driver, mut io) = (server(), socket());
    ending_short(&mut io, 1);
    open(&mut driver, &mut io);
    assert_eq!(read_binary(&mut driver, &mut io)[0], 1);
    // The interval starts at the first short read, and each long read
    // after it starts it again; a short read does not.
    for (byte, quarters) in [(2, 1), (3, 3)] {
        io.now = KEEP_READ_BUFFER * quarters / 4;
        ending_short(&mut io, byte);
        assert_eq!(read_binary(&mut driver, &mut io)[0], byte);
    }
    io.now = KEEP_READ_BUFFER * 6 / 4;
    io.input.push_back(client_frame(0x2, b"short"));
    assert_eq!(&read_binary(&mut driver, &mut io)[..], b"short");
    let first_short = io.offered.iter().position(|&n| n < 100).unwrap();
    assert!(io.offered[first_short + 1] > IDLE_READ, "{:?}", io.offered);
    assert!(driver.dom.conn.holds_read_buffer());
    // Quiet: the read waits until the interval since the last long read
    // has passed, times out, and the buffer goes back.
    assert!(driver.poll_message(&mut io).is_pending());
    assert_eq!(io.now, KEEP_READ_BUFFER * 7 / 4, "released at the wrong time");
    assert!(!driver.dom.conn.holds_read_buffer(), "kept while quiet");
    assert_eq!(io.deadline, None, "a timer left armed");
    assert_eq!(*io.offered.last().unwrap(), IDLE_READ);
}

// After a long read moves the release, the next read goes without a
// clock reading first (the socket's timeout bounds it), but only while the
// release is the one deadline: a deadline of the core's that came due
// meanwhile (a keepalive ping) is handled before that read, not after it.
#[test]
fn a_deadline_of_the_core_s_is_checked_before_the_read_after_a_long_one() {
    for keepalive in [false, true] {
        let mut driver = match keepalive {
            true => keepalive_server(KEEP_READ_BUFFER * 4),
            false => server(),
        };
        let mut io = socket();
        ending_short(&mut io, 1);
        open(&mut driver, &mut io);
        assert_eq!(read_binary(&mut driver, &mut io)[0], 1);
        // A message in one long read, the release armed: it moves.
        io.input.push_back(client_frame_16(&[2; 2_000]));
        assert_eq!(read_binary(&mut driver, &mut io)[0], 2);
        assert!(driver.release_at.is_some());
        let reads = io.offered.len();
        io.now = KEEP_READ_BUFFER * 5;
        assert!(driver.poll_read_once(&mut io).is_ready());
        match keepalive {
            true => {
                assert_eq!(io.offered.len(), reads, "read before the due ping");
                assert!(driver.has_output(), "no keepalive ping queued");
            }
            false => assert_eq!(io.offered.len(), reads + 1, "the clock asked before the read"),
        }
    }
}

// The read buffer's release is a deadline of the driver's own: a blocking
// write that its timeout cuts short goes on, where a timeout with no
// deadline armed (the caller's own) is reported. So does a flush: a TLS
// stream writes its records to the socket when flushed, and one cut short
// had failed the connection (and dropped what it held).
#[test]
fn a_blocking_write_or_flush_outlasts_the_read_buffer_release() {
    for flush in [false, true] {
        let (mut driver, mut io) = (server(), socket());
        ending_short(&mut io, 1);
        io.input.push_back(client_frame(0x2, b"armed"));
        open(&mut driver, &mut io);
        read_binary(&mut driver, &mut io);
        assert_eq!(&read_binary(&mut driver, &mut io)[..], b"armed");
        assert_eq!(io.deadline, Some(KEEP_READ_BUFFER), "no release armed");
        match flush {
            true => io.flush_waits = 1,
            false => (io.room, io.room_after_wait) = (0, usize::MAX),
        }
        assert!(driver.send(&Data::from("late")).unwrap());
        assert!(matches!(driver.poll_drain(&mut io, 0), Poll::Ready(())));
        assert_eq!(io.now, KEEP_READ_BUFFER, "flush {flush}: did not wait");
        assert_eq!(io.output, [0x81, 0x04, b'l', b'a', b't', b'e']);
        assert_eq!(io.flush_waits, 0);
        assert!(!driver.dom.conn.holds_read_buffer());
        assert!(driver.poll_message(&mut io).is_pending(), "flush {flush}: failed");
        assert_eq!(driver.ready_state(), ReadyState::Open);
    }
}

// Nothing is read after the close event, so a release still armed then
// would stay a deadline in the past for good (`next_deadline`, an event
// loop sleeping until it).
#[test]
fn no_release_deadline_outlives_the_transport() {
    let (mut driver, mut io) = (server(), socket());
    ending_short(&mut io, 1);
    io.input.push_back(client_frame(0x8, &[0x03, 0xe8]));
    open(&mut driver, &mut io);
    read_binary(&mut driver, &mut io);
    loop {
        match driver.poll_event(&mut io) {
            Poll::Ready(Some(Event::Close(_))) => break,
            Poll::Ready(Some(_)) => {}
            other => panic!("{:?}", other.map(|e| e.is_some())),
        }
    }
    io.now = KEEP_READ_BUFFER * 5;
    assert!(matches!(driver.poll_event(&mut io), Poll::Ready(None)));
    assert_eq!(driver.poll_timeout(), None, "a deadline after the close event");
}

// A peer that stops mid-frame leaves its bytes in the read buffer: there
// is nothing to give back, so no timer is armed for it (one would fire
// every interval for nothing).
#[test]
fn no_release_timer_while_a_frame_is_unfinished() {
    let mut driver = server();
    let mut io = roomy(false);
    let frame = client_frame_16(&[5; 2_000]);
    io.input.push_back(frame[..1_500].to_vec());
    open(&mut driver, &mut io);
    for second in 0..5 {
        io.now = KEEP_READ_BUFFER * second;
        assert!(driver.poll_message(&mut io).is_pending());
        assert_eq!(io.deadline, None, "a timer at {second} s");
    }
    io.input.push_back(frame[1_500..].to_vec());
    assert!(matches!(driver.poll_message(&mut io), Poll::Ready(Some(Ok(Message::Binary(m)))) if m.len() == 2_000));
}

// Small messages read from a streaming peer are cut from shared blocks
// (no allocation each): text and binary alike keep their bytes whatever
// the messages after them do, and the block goes back with the read
// buffer once the peer is quiet.
#[test]
fn small_messages_share_blocks_while_the_peer_streams() {
    for blocking in [false, true] {
        let (mut driver, mut io) = (server(), roomy(blocking));
        let count = 3 * small::BLOCK / 16;
        let frames: Vec<Vec<u8>> = (0..count)
            .map(|i| client_frame(if i % 2 == 0 { 0x2 } else { 0x1 }, &[b'a' + (i % 26) as u8; 16]))
            .collect();
        // The last frame in a read of its own: the burst ends short.
        io.input.push_back(frames[..count - 1].concat());
        io.input.push_back(frames[count - 1].clone());
        open(&mut driver, &mut io);
        let mut kept = Vec::new();
        for i in 0..count {
            let bytes = match driver.poll_message(&mut io) {
                Poll::Ready(Some(Ok(Message::Binary(m)))) if i % 2 == 0 => m,
                Poll::Ready(Some(Ok(Message::Text(m)))) if i % 2 == 1 => Bytes::from(m),
                other => panic!("{i}: {:?}", other.map(|m| m.map(|m| m.map(drop)))),
            };
            kept.push(bytes);
        }
        for (i, m) in kept.iter().enumerate() {
            assert_eq!(&m[..], &[b'a' + (i % 26) as u8; 16], "blocking {blocking}, message {i}");
        }
        // Past the first read (a stack buffer's worth, messages alone),
        // neighbours lie side by side in one block.
        let side_by_side = kept
            .windows(2)
            .filter(|w| w[1].as_ptr() == w[0].as_ptr().wrapping_add(16))
            .count();
        assert!(
            side_by_side > count * 3 / 4,
            "blocking {blocking}: {side_by_side} of {count}"
        );
        assert!(driver.poll_message(&mut io).is_pending());
        assert!(!driver.dom.small.holds_block(), "blocking {blocking}: kept while quiet");
        // A quiet peer's message is allocated alone: no block for it.
        io.input.push_back(client_frame(0x2, b"alone"));
        assert!(matches!(
            driver.poll_message(&mut io),
            Poll::Ready(Some(Ok(Message::Binary(_))))
        ));
        assert!(!driver.dom.small.holds_block(), "blocking {blocking}");
    }
}

// The block goes back whenever a read finds nothing, even after a burst
// whose last read was long (the read buffer then stays for the next
// burst; the block would keep 4 KiB on an idle connection), and at the
// close event, after which nothing is read.
#[test]
fn the_block_goes_back_on_pending_and_at_close() {
    let burst = |count: usize| -> Vec<u8> { (0..count).flat_map(|_| client_frame(0x2, &[7; 16])).collect() };
    let mut driver = server();
    let mut io = roomy(false);
    io.input.push_back(burst(2 * small::BLOCK / 16));
    open(&mut driver, &mut io);
    while let Poll::Ready(Some(Ok(_))) = driver.poll_message(&mut io) {}
    assert!(io.input.is_empty());
    assert!(!driver.dom.small.holds_block(), "kept while idle");
    for blocking in [false, true] {
        let mut driver = server();
        let mut io = roomy(blocking);
        io.input.push_back(burst(2 * small::BLOCK / 16));
        open(&mut driver, &mut io);
        for _ in 0..2 * small::BLOCK / 16 - 1 {
            assert!(matches!(driver.poll_message(&mut io), Poll::Ready(Some(Ok(_)))));
        }
        assert!(
            driver.dom.small.holds_block(),
            "blocking {blocking}: no block while streaming"
        );
        io.input.push_back(vec![0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
        while let Poll::Ready(Some(_)) = driver.poll_event(&mut io) {}
        assert!(!driver.dom.small.holds_block(), "blocking {blocking}: kept after close");
    }
}

// The opening-handshake deadline (RFC 6455 §4.1 leaves it to the
// client; WHATWG fails the connection) fires on the clock alone: no
// byte arrives, yet the error and close events come out.
#[test]
fn a_deadline_fires_without_input() {
    let mut driver = Driver::new(Connection::server(Config::default()), String::new());
    let mut io = Fake::default();
    assert!(driver.poll_event(&mut io).is_pending());
    assert_eq!(io.deadline, Some(Duration::from_secs(10)));
    io.now = Duration::from_secs(10);
    match driver.poll_event(&mut io) {
        Poll::Ready(Some(Event::Error(e))) => assert!(matches!(e.error, Error::Timeout(Timeout::Handshake))),
        _ => panic!("no error event"),
    }
    match driver.poll_event(&mut io) {
        Poll::Ready(Some(Event::Close(close))) => assert_eq!(close.code, 1006),
        _ => panic!("no close event"),
    }
    assert!(io.shut, "the transport was not closed");
    assert!(matches!(driver.poll_event(&mut io), Poll::Ready(None)));
    assert_eq!(io.deadline, None, "a timer outlived the connection");
}

// Two peers that both pipeline must not deadlock: while our write
// waits, we read on as long as what we queued unasked (pongs) is small.
#[test]
fn a_blocked_write_reads_on_while_unsolicited_output_is_small() {
    let mut driver = server();
    let mut io = Fake::default();
    open(&mut driver, &mut io);
    io.input.push_back(client_frame(0x9, b"p"));
    io.input.push_back(client_frame(0x2, b"data"));
    // The pong (RFC 6455 §5.5.2) cannot be written: the message still
    // comes through.
    match driver.poll_message(&mut io) {
        Poll::Ready(Some(Ok(Message::Ping(p)))) => assert_eq!(p, &b"p"[..]),
        _ => panic!("no ping"),
    }
    match driver.poll_message(&mut io) {
        Poll::Ready(Some(Ok(Message::Binary(b)))) => assert_eq!(b, &b"data"[..]),
        _ => panic!("no message while the pong waited"),
    }
    io.room = usize::MAX;
    assert!(driver.poll_message(&mut io).is_pending());
    assert_eq!(io.output, [0x8a, 0x01, b'p']);
}

#[test]
fn a_blocked_write_stops_reading_past_the_unsolicited_bound() {
    let mut driver = server();
    let mut io = Fake::default();
    open(&mut driver, &mut io);
    // 700 pings of 125 bytes queue ~88 KiB of pongs nobody reads.
    let ping = client_frame(0x9, &[7; 125]);
    for _ in 0..700 {
        io.input.push_back(ping.clone());
    }
    let mut pings = 0;
    while let Poll::Ready(Some(Ok(Message::Ping(_)))) = driver.poll_message(&mut io) {
        pings += 1;
    }
    assert!(pings < 700, "read every ping though the pongs piled up");
    assert!(!io.input.is_empty());
}

// A failed connection closes its transport after writing what it takes
// of the close frame (RFC 6455 §7.1.7), and only once.
#[test]
fn a_failure_writes_the_close_frame_then_shuts_the_transport() {
    let mut driver = server();
    let mut io = Fake {
        room: usize::MAX,
        ..Fake::default()
    };
    open(&mut driver, &mut io);
    // Reserved opcode 0x3: protocol error (§5.2), close code 1002.
    io.input.push_back(client_frame(0x3, b""));
    match driver.poll_message(&mut io) {
        Poll::Ready(Some(Err(Error::Protocol(ProtocolError::ReservedOpcode(3))))) => {}
        _ => panic!("no protocol error"),
    }
    assert_eq!(io.output, [0x88, 0x02, 0x03, 0xea]);
    assert!(io.shut);
    assert!(matches!(driver.poll_message(&mut io), Poll::Ready(None)));
    assert_eq!(driver.ready_state(), ReadyState::Closed);
}

fn keepalive_server(interval: Duration) -> Driver {
    let config = Config {
        keepalive_interval: Some(interval),
        ..Config::default()
    };
    Driver::new(Connection::established(Role::Server, config, &[]), String::new())
}

/// Pings until the driver stops reading them (its pongs pile up).
fn flood_pings(driver: &mut Driver, io: &mut Fake) {
    let ping = client_frame(0x9, &[7; 125]);
    for _ in 0..700 {
        io.input.push_back(ping.clone());
    }
    while let Poll::Ready(Some(Ok(Message::Ping(_)))) = driver.poll_message(io) {}
}

// Keepalive (the WHATWG/RFC 6455 §5.5.2 ping-pong liveness check) must
// fire though the peer stopped reading and our write waits: a
// peer that neither reads nor writes is dropped.
#[test]
fn keepalive_fires_while_a_write_waits() {
    let mut driver = keepalive_server(Duration::from_secs(1));
    let mut io = Fake::default();
    open(&mut driver, &mut io);
    flood_pings(&mut driver, &mut io);
    io.input.clear();
    assert!(driver.poll_message(&mut io).is_pending());
    assert!(io.deadline.is_some(), "no timer armed while the write waits");
    // One interval of silence: a ping is queued (behind the pongs),
    // and the peer has one more interval to answer.
    io.now = Duration::from_secs(1);
    assert!(driver.poll_message(&mut io).is_pending());
    assert_eq!(io.deadline, Some(Duration::from_secs(2)));
    io.now = Duration::from_secs(2);
    match driver.poll_message(&mut io) {
        Poll::Ready(Some(Err(Error::Timeout(Timeout::Keepalive)))) => {}
        other => panic!("not dropped: {:?}", other.map(|m| m.map(|m| m.map(drop)))),
    }
    assert!(io.shut);
}

// RFC 6455 §7.1.1 lets an endpoint give up on a close handshake the
// peer does not finish: the close timeout fires though the close frame
// itself cannot be written.
#[test]
fn the_close_timeout_fires_while_the_close_frame_waits() {
    let mut driver = server();
    let mut io = Fake::default();
    open(&mut driver, &mut io);
    assert!(driver.send(&Data::from(&[1u8; 100_000][..])).unwrap());
    assert!(driver.poll_drain(&mut io, 0).is_pending());
    driver.close(io.now, Some(1000), None).unwrap();
    assert!(driver.poll_settle(&mut io).is_pending());
    io.now = Duration::from_secs(6);
    assert!(matches!(driver.poll_settle(&mut io), Poll::Ready(Ok(()))));
    match driver.poll_event(&mut io) {
        Poll::Ready(Some(Event::Error(e))) => assert!(matches!(e.error, Error::Timeout(Timeout::Close))),
        _ => panic!("no close timeout"),
    }
    assert!(matches!(driver.poll_event(&mut io), Poll::Ready(Some(Event::Close(_)))));
    assert!(io.shut);
}

// The same through a blocking transport whose write times out at the
// deadline: the blocked write gives way to the timer, and the close
// of the transport does not wait again.
#[test]
fn a_blocking_write_gives_way_to_the_close_timeout() {
    let mut driver = server();
    let mut io = Fake {
        blocking: true,
        ..Fake::default()
    };
    open(&mut driver, &mut io);
    assert!(driver.send(&Data::from(&[1u8; 100_000][..])).unwrap());
    driver.close(io.now, Some(1000), None).unwrap();
    assert!(matches!(driver.poll_settle(&mut io), Poll::Ready(Ok(()))));
    assert!(io.writes < 10, "{} writes", io.writes);
    assert_eq!(io.now, Duration::from_secs(5), "waited past the close timeout");
    match driver.poll_event(&mut io) {
        Poll::Ready(Some(Event::Error(e))) => assert!(matches!(e.error, Error::Timeout(Timeout::Close))),
        _ => panic!("no close timeout"),
    }
    assert!(
        io.now < Duration::from_secs(6),
        "closing the transport waited {:?}",
        io.now
    );
    assert!(io.shut);
}
