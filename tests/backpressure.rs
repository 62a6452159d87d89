//! Backpressure of the DOM-style `WebSocket` over real TCP on 127.0.0.1,
//! with the heap measured by a counting global allocator.
//!
//! * Receiving: a peer that writes 200 MiB of 64 KiB messages as fast as
//!   the socket takes them, to a consumer that pauses now and then. The
//!   driver reads from the transport only when asked for an event, so the
//!   kernel's buffers fill and the peer blocks; the consumer's heap stays
//!   at about one message.
//! * Sending, blocking: to a peer that does not read, `send` blocks once
//!   the kernel's buffers are full, and holds at most the frame being
//!   written.
//! * Sending, non-blocking: `try_send` refuses with `WouldBlock` above the
//!   high-water mark, `buffered_amount` counts the queued payload without
//!   framing, and both go back to normal once the peer drains.
//! * Sending with a high-water mark, blocking and non-blocking, over an
//!   in-memory transport that takes output in small pieces (so the run is
//!   deterministic): the queue never empties, and the heap must still stay
//!   near the mark rather than grow with what was sent.
//!
//! The TCP peers are hand-driven: a sans-IO server `Connection` does the
//! handshake, then frames are written or counted raw, so the peer itself
//! allocates nothing while the heap is measured. The peer declines
//! permessage-deflate, so frames on the wire are exactly as sent.
//!
//! The allocator counts the whole process; the tests take a lock so that
//! only one runs at a time. Run with `--nocapture` to see the figures.

use rfc6455::testkit::{counting, random_bytes};

use counting::{Window, serial};
use rfc6455::connection::Event as PeerEvent;
use rfc6455::websocket::Event;
use rfc6455::{Accept, Config, Connection, Error, ReadyState, Role, Transport, WebSocket};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- the heap

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

// ---------------------------------------------------------------- the peer

/// The message size throughout.
const MSG: usize = 64 << 10;
/// A client's frame of [`MSG`] bytes on the wire: 2 header bytes, an
/// 8-byte length, a 4-byte mask, the payload.
const CLIENT_FRAME: usize = MSG + 14;
/// A server's frame of [`MSG`] bytes on the wire: 2 header bytes, an
/// 8-byte length, the payload.
const SERVER_FRAME: usize = MSG + 10;
/// A bound on any one blocking call and on each test.
const LIMIT: Duration = Duration::from_secs(20);
/// How long `send` must stay blocked to count as blocked.
const STALL: Duration = Duration::from_millis(300);

/// The peer's settings: no permessage-deflate, so the frames on the wire
/// are the application's bytes and the byte counts below are exact.
fn peer_config() -> Config {
    #[allow(unused_mut)]
    let mut config = Config::default();
    #[cfg(feature = "deflate")]
    {
        config.deflate.enabled = false;
    }
    config
}

/// A listener on 127.0.0.1 and the ws:// URL for it.
fn listen(path: &str) -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}{path}", listener.local_addr().unwrap());
    (listener, url)
}

/// Accepts one connection and answers its opening handshake with a sans-IO
/// server; returns the stream and the server, open, for counting frames.
fn accept_peer(listener: &TcpListener) -> (TcpStream, Connection) {
    let (mut stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream.set_write_timeout(Some(LIMIT)).unwrap();
    let mut server = Connection::server(peer_config());
    let mut buf = [0u8; 4096];
    for _ in 0..1000 {
        enum Then {
            Accept,
            Opened,
            Read,
        }
        let then = match server.poll_event() {
            Some(PeerEvent::Request(_)) => Then::Accept,
            Some(PeerEvent::Open) => Then::Opened,
            Some(other) => panic!("unexpected during the handshake: {other:?}"),
            None => Then::Read,
        };
        match then {
            Then::Accept => server.accept(Accept::new()).unwrap(),
            Then::Opened => {
                stream.write_all(server.pending_output()).unwrap();
                let n = server.pending_output().len();
                server.advance_output(n);
                return (stream, server);
            }
            Then::Read => {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "the client hung up during the handshake");
                server.receive(&buf[..n]);
            }
        }
    }
    panic!("the handshake did not finish");
}

/// Reads and decodes the client's frames until `count` binary messages of
/// [`MSG`] bytes arrived; returns the payload bytes.
fn receive_messages(stream: &mut TcpStream, server: &mut Connection, count: usize) -> u64 {
    let mut buf = vec![0u8; 256 << 10];
    let (mut messages, mut bytes) = (0, 0u64);
    let deadline = Instant::now() + LIMIT;
    while messages < count {
        assert!(
            Instant::now() < deadline,
            "{messages} of {count} messages after {LIMIT:?}"
        );
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the client hung up after {messages} messages");
        server.receive(&buf[..n]);
        while let Some(event) = server.poll_event() {
            match event {
                PeerEvent::Binary(data) => {
                    assert_eq!(data.len(), MSG);
                    messages += 1;
                    bytes += data.len() as u64;
                }
                other => panic!("unexpected from the client: {other:?}"),
            }
        }
    }
    bytes
}

/// Some payload that does not compress.
fn payload() -> Vec<u8> {
    random_bytes(MSG, 0x2545_f491)
}

/// Connects a client over TCP and completes its handshake with
/// [`accept_peer`] in a thread; returns the open client and the peer.
fn open_client(path: &str) -> (WebSocket, TcpStream, Connection) {
    let (listener, url) = listen(path);
    let peer = thread::spawn(move || accept_peer(&listener));
    let mut ws = WebSocket::connect(&url, &[]).unwrap();
    ws.get_ref().unwrap().tcp().set_write_timeout(Some(LIMIT)).unwrap();
    assert!(matches!(ws.next_event(), Some(Event::Open)));
    let (stream, server) = peer.join().unwrap();
    (ws, stream, server)
}

// ---------------------------------------------------------------- receiving

/// A peer floods 200 MiB in 64 KiB messages; the consumer sleeps 1 ms
/// every 32 messages. Every message arrives, in order, and the consumer's
/// heap never holds more than a few messages' worth.
#[test]
fn slow_consumer_heap_stays_bounded_while_the_peer_floods() {
    const COUNT: usize = 3200; // 200 MiB
    const BOUND: usize = 1 << 20;
    let _serial = serial();
    let (listener, url) = listen("/flood");
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let peer = thread::spawn(move || -> io::Result<Duration> {
        let (mut stream, _) = accept_peer(&listener);
        // A server frame: not masked, 8-byte length.
        let mut frame = Vec::with_capacity(10 + MSG);
        frame.extend_from_slice(&[0x82, 127]);
        frame.extend_from_slice(&(MSG as u64).to_be_bytes());
        frame.resize(10 + MSG, 0xa5);
        ready_tx.send(()).unwrap();
        if go_rx.recv().is_err() {
            return Ok(Duration::ZERO);
        }
        let start = Instant::now();
        for i in 0..COUNT {
            frame[10] = i as u8;
            frame[10 + MSG - 1] = (i >> 8) as u8;
            stream.write_all(&frame)?;
        }
        let writing = start.elapsed();
        stream.write_all(&[0x88, 0x02, 0x03, 0xe8])?;
        // The client's masked reply: 2 header bytes, the mask, the code.
        let mut reply = [0u8; 8];
        stream.read_exact(&mut reply)?;
        assert_eq!(reply[0], 0x88, "a close frame");
        stream.shutdown(Shutdown::Both)?;
        Ok(writing)
    });

    let mut ws = WebSocket::connect(&url, &[]).unwrap();
    ws.get_ref().unwrap().tcp().set_write_timeout(Some(LIMIT)).unwrap();
    assert!(matches!(ws.next_event(), Some(Event::Open)));
    ready_rx.recv_timeout(LIMIT).unwrap();
    let window = Window::start();
    go_tx.send(()).unwrap();
    let start = Instant::now();
    let (mut messages, mut bytes, mut close) = (0usize, 0u64, None);
    for _ in 0..COUNT + 2 {
        match ws.next_event() {
            Some(Event::Message(m)) => {
                let data = m.data.as_binary().expect("a binary message");
                assert_eq!(data.len(), MSG);
                assert_eq!(
                    (data[0], data[MSG / 2], data[MSG - 1]),
                    (messages as u8, 0xa5, (messages >> 8) as u8),
                    "message {messages}"
                );
                messages += 1;
                bytes += data.len() as u64;
                if messages % 32 == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            Some(Event::Close(c)) => {
                close = Some(c);
                break;
            }
            other => panic!("after {messages} messages: {other:?}"),
        }
    }
    let elapsed = start.elapsed();
    let peak = window.peak();
    let writing = peer.join().unwrap().unwrap();
    println!(
        "slow consumer: {messages} messages, {} MiB in {elapsed:.2?} (peer blocked writing for {writing:.2?}); \
         consumer peak heap {} above its start (bound {})",
        bytes >> 20,
        kib(peak),
        kib(BOUND)
    );
    assert_eq!(messages, COUNT);
    assert_eq!(bytes, (COUNT * MSG) as u64);
    let close = close.expect("a close event");
    assert!(close.was_clean && close.code == 1000, "{close:?}");
    assert!(
        peak < BOUND,
        "peak heap {} while consuming, bound {}",
        kib(peak),
        kib(BOUND)
    );
}

// ---------------------------------------------------------------- sending

/// A peer that does not read: a blocking `send` (high-water mark 0) stops
/// returning once the kernel's buffers are full, holding one frame, and
/// resumes when the peer reads.
#[test]
fn send_blocks_while_the_peer_does_not_read() {
    const COUNT: usize = 256; // 16 MiB, far beyond what the kernel buffers for a peer that reads nothing
    const BOUND: usize = 512 << 10;
    let _serial = serial();
    let (listener, url) = listen("/sink");
    let ws = WebSocket::connect(&url, &[]).unwrap();
    let (window_tx, window_rx) = mpsc::channel::<Window>();
    let (progress_tx, progress_rx) = mpsc::channel::<usize>();
    let sender = thread::spawn(move || -> Result<WebSocket, Error> {
        let mut ws = ws;
        ws.get_ref().unwrap().tcp().set_write_timeout(Some(LIMIT))?;
        assert!(matches!(ws.next_event(), Some(Event::Open)));
        assert_eq!(ws.high_water_mark(), 0);
        let data = payload();
        progress_tx.send(0).unwrap();
        window_tx.send(Window::start()).unwrap();
        for sent in 1..=COUNT {
            ws.send(&data)?;
            if progress_tx.send(sent).is_err() {
                break;
            }
        }
        Ok(ws)
    });
    let (mut peer, mut server) = accept_peer(&listener);
    let window = window_rx.recv_timeout(LIMIT).unwrap();

    // Wait until `send` stops returning.
    let deadline = Instant::now() + LIMIT;
    let mut done = 0;
    let stalled = loop {
        match progress_rx.recv_timeout(STALL) {
            Ok(n) => done = n,
            Err(RecvTimeoutError::Timeout) => break true,
            Err(RecvTimeoutError::Disconnected) => break false,
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    let still_blocked = matches!(
        progress_rx.recv_timeout(Duration::from_millis(200)),
        Err(RecvTimeoutError::Timeout)
    );
    let peak_blocked = window.peak();
    println!(
        "blocking send: {done} messages ({} MiB) returned before the kernel's buffers filled; \
         then no return for {:?}; sender peak heap {} above its start (bound {})",
        (done * CLIENT_FRAME) >> 20,
        STALL + Duration::from_millis(200),
        kib(peak_blocked),
        kib(BOUND)
    );
    assert!(
        stalled && still_blocked,
        "send never blocked ({done} of {COUNT} returned)"
    );
    assert!(
        done < COUNT / 2,
        "{done} of {COUNT} sends returned to a peer that reads nothing"
    );

    // The peer reads: every send returns, every message arrives.
    let bytes = receive_messages(&mut peer, &mut server, COUNT);
    let ws = sender.join().unwrap().unwrap();
    let last = progress_rx.try_iter().last();
    assert_eq!(last, Some(COUNT));
    assert_eq!(bytes, (COUNT * MSG) as u64);
    assert_eq!(ws.buffered_amount(), 0);
    assert_eq!(ws.ready_state(), ReadyState::Open);
    assert!(
        peak_blocked < BOUND,
        "peak heap {} while blocked, bound {}",
        kib(peak_blocked),
        kib(BOUND)
    );
}

/// A peer that does not read, a non-blocking socket, a 256 KiB high-water
/// mark: `try_send` refuses with `WouldBlock` once more than the mark is
/// queued; `buffered_amount` is the queued payload (framing excluded);
/// after the peer drains, `try_flush` reports an empty queue and
/// `buffered_amount` is 0 again.
#[test]
fn try_send_refuses_above_the_high_water_mark() {
    const MARK: usize = 256 << 10;
    const MAX_SENDS: usize = 4096; // 256 MiB: the loop ends long before
    const BOUND: usize = 2 << 20;
    let _serial = serial();
    let (mut ws, mut peer, mut server) = open_client("/nonblocking");
    ws.get_ref().unwrap().tcp().set_nonblocking(true).unwrap();
    ws.set_high_water_mark(MARK);
    assert_eq!(ws.high_water_mark(), MARK);
    let data = payload();

    let window = Window::start();
    let mut accepted = 0;
    let mut refused = false;
    for _ in 0..MAX_SENDS {
        match ws.try_send(&data) {
            Ok(()) => accepted += 1,
            Err(Error::WouldBlock) => {
                refused = true;
                break;
            }
            Err(e) => panic!("try_send failed after {accepted} messages: {e}"),
        }
    }
    assert!(refused, "try_send never refused ({accepted} messages accepted)");
    let pending = ws.connection().pending_output().len();
    let (whole, partial) = (pending / CLIENT_FRAME, pending % CLIENT_FRAME);
    let expected = (whole * MSG + partial.min(MSG)) as u64;
    println!(
        "try_send: {accepted} messages accepted, then WouldBlock with {} queued on the wire and \
         buffered_amount {} (mark {}); peak heap {} above its start (bound {})",
        kib(pending),
        kib(ws.buffered_amount() as usize),
        kib(MARK),
        kib(window.peak()),
        kib(BOUND)
    );
    assert!(pending > MARK, "refused at {pending} bytes queued, mark {MARK}");
    assert!(pending <= MARK + CLIENT_FRAME, "{pending} bytes queued, mark {MARK}");
    assert_eq!(
        ws.buffered_amount(),
        expected,
        "payload bytes of {pending} queued bytes"
    );
    assert!(ws.buffered_amount() < pending as u64, "framing is not counted");

    // A refusal queues nothing and writes nothing.
    let before = (ws.buffered_amount(), pending);
    assert!(matches!(ws.try_send(&data), Err(Error::WouldBlock)));
    assert_eq!((ws.buffered_amount(), ws.connection().pending_output().len()), before);
    let peak = window.peak();
    assert!(
        peak < BOUND,
        "peak heap {} with the queue full, bound {}",
        kib(peak),
        kib(BOUND)
    );

    // The peer drains; the queue empties.
    let drain = thread::spawn(move || receive_messages(&mut peer, &mut server, accepted));
    let deadline = Instant::now() + LIMIT;
    let mut polls = 0u64;
    while !ws.try_flush().unwrap() {
        assert!(Instant::now() < deadline, "the queue did not empty");
        polls += 1;
        // A non-blocking loop without a poller idles briefly.
        thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(ws.buffered_amount(), 0);
    assert!(ws.connection().pending_output().is_empty());
    assert_eq!(drain.join().unwrap(), (accepted * MSG) as u64);
    println!("try_send: drained after {polls} try_flush polls; buffered_amount 0");
    // Below the mark again: accepted.
    ws.try_send(&data).unwrap();
}

/// A transport whose peer takes output in small pieces: at most `piece`
/// bytes per write, and (non-blocking) only as much as `credit` allows,
/// else `WouldBlock` — a slow TCP peer, or a TLS stream writing record by
/// record. It keeps nothing: it counts.
struct Trickle {
    piece: usize,
    /// `None`: blocking, no limit but `piece`.
    credit: Option<Arc<AtomicUsize>>,
    taken: Arc<AtomicUsize>,
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut n = buf.len().min(self.piece);
        if let Some(credit) = &self.credit {
            n = n.min(credit.load(Ordering::Relaxed));
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            credit.fetch_sub(n, Ordering::Relaxed);
        }
        self.taken.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Trickle {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Transport for Trickle {}

/// An open server socket (frames not masked) over a [`Trickle`].
fn trickle_socket(piece: usize, credit: Option<Arc<AtomicUsize>>) -> (WebSocket<Trickle>, Arc<AtomicUsize>) {
    let taken = Arc::new(AtomicUsize::new(0));
    let transport = Trickle {
        piece,
        credit,
        taken: taken.clone(),
    };
    let conn = Connection::established(Role::Server, Config::default(), &[]);
    let mut ws = WebSocket::from_connection(conn, transport);
    assert!(matches!(ws.next_event(), Some(Event::Open)));
    (ws, taken)
}

/// Blocking `send` with a 256 KiB high-water mark over a transport that
/// takes 16 KiB per write: each send returns with up to the mark still
/// queued, so the queue never empties. 16 MiB later the heap must still
/// hold about the mark, not what was sent.
#[test]
fn blocking_send_under_a_high_water_mark_keeps_the_heap_bounded() {
    const MARK: usize = 256 << 10;
    const COUNT: usize = 256; // 16 MiB
    const BOUND: usize = 2 << 20;
    let _serial = serial();
    let (mut ws, taken) = trickle_socket(16 << 10, None);
    ws.set_high_water_mark(MARK);
    let data = payload();

    let window = Window::start();
    let mut max_queued = 0;
    for _ in 0..COUNT {
        ws.send(&data).unwrap();
        let queued = ws.connection().pending_output().len();
        assert!(queued <= MARK, "send returned with {queued} bytes queued, mark {MARK}");
        max_queued = max_queued.max(queued);
    }
    let peak = window.peak();
    ws.flush().unwrap();
    println!(
        "blocking send, mark {}: {} MiB sent, at most {} queued on return; peak heap {} above the start \
         (bound {})",
        kib(MARK),
        (COUNT * MSG) >> 20,
        kib(max_queued),
        kib(peak),
        kib(BOUND)
    );
    assert_eq!(taken.load(Ordering::Relaxed), COUNT * SERVER_FRAME);
    assert_eq!(ws.buffered_amount(), 0);
    assert!(
        peak < BOUND,
        "peak heap {} after sending {} MiB with at most {} queued, bound {}",
        kib(peak),
        (COUNT * MSG) >> 20,
        kib(max_queued),
        kib(BOUND)
    );
}

/// `try_send` with a 256 KiB high-water mark to a peer that takes 16 KiB
/// per turn of the event loop: the queue stays at the mark, never empty,
/// and the heap must stay near it over 16 MiB.
#[test]
fn try_send_streaming_under_a_high_water_mark_keeps_the_heap_bounded() {
    const MARK: usize = 256 << 10;
    const COUNT: usize = 256; // 16 MiB
    const BOUND: usize = 2 << 20;
    let _serial = serial();
    let credit = Arc::new(AtomicUsize::new(0));
    let (mut ws, taken) = trickle_socket(usize::MAX, Some(credit.clone()));
    ws.set_high_water_mark(MARK);
    let data = payload();

    let window = Window::start();
    let (mut sent, mut refusals, mut turns, mut max_queued) = (0, 0u64, 0u64, 0);
    while sent < COUNT {
        turns += 1;
        assert!(turns < 100 * COUNT as u64, "{sent} of {COUNT} sent after {turns} turns");
        // The peer reads 16 KiB per turn.
        credit.fetch_add(16 << 10, Ordering::Relaxed);
        match ws.try_send(&data) {
            Ok(()) => sent += 1,
            Err(Error::WouldBlock) => {
                refusals += 1;
                ws.try_flush().unwrap();
            }
            Err(e) => panic!("try_send failed after {sent} messages: {e}"),
        }
        max_queued = max_queued.max(ws.connection().pending_output().len());
    }
    let peak = window.peak();
    credit.store(usize::MAX / 2, Ordering::Relaxed);
    assert!(ws.try_flush().unwrap());
    println!(
        "try_send streaming, mark {}: {} MiB sent in {turns} turns, {refusals} WouldBlock refusals, at most {} \
         queued; peak heap {} above the start (bound {})",
        kib(MARK),
        (COUNT * MSG) >> 20,
        kib(max_queued),
        kib(peak),
        kib(BOUND)
    );
    assert_eq!(taken.load(Ordering::Relaxed), COUNT * SERVER_FRAME);
    assert_eq!(ws.buffered_amount(), 0);
    assert!(refusals > 0, "the high-water mark was never reached");
    assert!(
        peak < BOUND,
        "peak heap {} after sending {} MiB with at most {} queued, bound {}",
        kib(peak),
        (COUNT * MSG) >> 20,
        kib(max_queued),
        kib(BOUND)
    );
}
