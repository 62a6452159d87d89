//! Model-based test of the whole engine: a client core and a server core
//! wired back to back in memory, driven by an arbitrary sequence of
//! operations on both sides (text, binary, `send_message` with and without
//! compression, fragmented messages through `send_frame`, messages as one
//! frame of declared length with a ping held behind it, pings, pongs,
//! closes, partial deliveries with arbitrary chunking, a fake clock that
//! stays below the timeouts, buffer releases),
//! checked against a model of RFC 6455:
//!
//! - Everything a side sends while open reaches the other side intact and in
//!   order: its messages, pings and pongs, the auto-pongs its core answers
//!   with, then its close frame (§5.5.1); what a side queues after its close
//!   (only auto-pongs, §5.5.2) is not delivered, since the peer stops reading
//!   at the close.
//! - A side that sent or received a close sends no data: `send_*`, `ping`
//!   and `pong` return `Err(Misuse(_))` and queue nothing; `close` again
//!   is a no-op.
//! - The close code and reason arrive; the reply echoes the code (and the
//!   reason with `echo_close_reason`).
//! - No event after a side's `Close`; no `Failed` anywhere; both end in
//!   `ReadyState::Closed`, cleanly, with the server closing the transport
//!   first (§7.1.1); the timers say exactly what the model says.
//! - Each side's byte stream is valid RFC 6455, checked by a reference
//!   decoder written here: minimal length encodings, masking exactly from
//!   client to server, RSV1 only on the first frame of a message and only
//!   with permessage-deflate negotiated, no RSV2/RSV3, control frames final
//!   and at most 125 bytes, valid close codes and UTF-8 reasons, well-formed
//!   fragmentation, nothing after a close but pongs. The decoder rebuilds
//!   every message (inflating compressed ones) and must find exactly what
//!   the model says the side sent.
//!
//! Runs with permessage-deflate negotiated (random parameters) and with it
//! disabled. Case counts are modest by default; `PROPTEST_CASES` sets them
//! for long runs.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rfc6455::testkit::{Ev, masks, own, random_bytes};
use rfc6455::{Accept, ClientRequest, CloseCode, Config, Connection, Error, OpCode, ReadyState};
use std::collections::VecDeque;
use std::time::Duration;

/// `PROPTEST_CASES` if set, else `default`. No regression files: this test
/// owns no directory to write them to; a failure prints its minimal case.
fn cases(default: u32) -> ProptestConfig {
    let mut config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    config
}

const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- operations

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Text(Side, String),
    Binary(Side, Vec<u8>),
    /// `send_message`, which may skip compression.
    Message {
        side: Side,
        text: bool,
        payload: Vec<u8>,
        compress: bool,
    },
    /// Starts a message sent with `send_frame`, cut after these byte counts
    /// (the rest is the last fragment); the first fragment goes at once,
    /// the others with `NextFragment` (or before the side's next message).
    Fragmented {
        side: Side,
        text: bool,
        payload: Vec<u8>,
        sizes: Vec<usize>,
    },
    NextFragment(Side),
    /// A message sent as one frame of declared length (`begin_message`,
    /// then `send_payload` of pieces cut after these byte counts), with a
    /// ping sent after piece `ping.0` if given: the ping is held and
    /// follows the frame (§5.4).
    Declared {
        side: Side,
        text: bool,
        payload: Vec<u8>,
        sizes: Vec<usize>,
        ping: Option<(usize, Vec<u8>)>,
    },
    Ping(Side, Vec<u8>),
    Pong(Side, Vec<u8>),
    /// `close(code, reason)`, or `close_without_code()` for `None`.
    Close(Side, Option<(u16, String)>),
    /// Moves at most `max` pending bytes of `from` to its peer, in reads of
    /// `chunk` bytes, through `read_buffer` + `commit_read` or `receive`,
    /// polling after every read or once at the end.
    Deliver {
        from: Side,
        max: usize,
        chunk: usize,
        zero_copy: bool,
        poll_each: bool,
    },
    /// Advances the fake clock (skipped if it would reach the close timeout).
    Advance(Duration),
    ReleaseBuffers(Side),
}

/// Deflate parameters of both ends.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "deflate"), allow(dead_code))]
struct DeflateSetup {
    offer_server_no_context_takeover: bool,
    offer_client_no_context_takeover: bool,
    offer_server_max_window_bits: Option<u8>,
    /// 0: not offered, 1: offered without a value, 8–15: offered with it.
    offer_client_max_window_bits: u8,
    server_max_window_bits: u8,
    client_max_window_bits: u8,
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    client_level: u32,
    server_level: u32,
    client_threshold: usize,
    server_threshold: usize,
}

#[derive(Debug, Clone)]
struct Case {
    /// `None`: permessage-deflate disabled on both ends.
    deflate: Option<DeflateSetup>,
    client_echo_reason: bool,
    server_echo_reason: bool,
    handshake_chunk: usize,
    ops: Vec<Op>,
    /// Who closes at the end if nobody did.
    final_closer: Side,
    final_close: Option<(u16, String)>,
    drain_chunk: usize,
    drain_zero_copy: bool,
    seed: u64,
    /// The side receives messages in parts (`Config::stream_messages`);
    /// joined, they must be exactly the messages sent.
    client_streams: bool,
    server_streams: bool,
}

// ---------------------------------------------------------------- the model

/// Where a side stands, as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Open,
    CloseSent,
    Closed,
}

/// One thing a side sent, as the peer must report it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Out {
    ev: Ev,
    /// Sent with RSV1 (permessage-deflate).
    compressed: bool,
}

/// A fragmented message under way.
#[derive(Debug)]
struct Fragment {
    text: bool,
    payload: Vec<u8>,
    pieces: VecDeque<Vec<u8>>,
    first: bool,
}

struct End {
    side: Side,
    conn: Connection,
    state: St,
    /// What this side sent (in wire order), auto-pongs and close reply
    /// included.
    outbound: Vec<Out>,
    /// How many of the peer's `outbound` this side reported.
    received: usize,
    /// Every byte this side wrote.
    wire: Vec<u8>,
    fragment: Option<Fragment>,
    deflate: bool,
    threshold: usize,
    echo_reason: bool,
    /// When this side sent its close frame.
    close_sent_at: Option<Duration>,
    /// When the close handshake ended for this side.
    closed_at: Option<Duration>,
    /// The parts so far of a message received in parts.
    partial: Option<Ev>,
    /// This side has `stream_messages` on.
    streams: bool,
}

impl End {
    fn new(side: Side, conn: Connection, echo_reason: bool) -> Self {
        Self {
            side,
            conn,
            state: St::Open,
            outbound: Vec::new(),
            received: 0,
            wire: Vec::new(),
            fragment: None,
            deflate: false,
            threshold: 0,
            echo_reason,
            close_sent_at: None,
            closed_at: None,
            partial: None,
            streams: false,
        }
    }

    /// Checks a send's result: `Ok` while open, else `Misuse` with
    /// nothing queued. Returns whether it was sent.
    fn check_send(&self, result: Result<(), Error>, pending_before: usize, what: &str) -> Result<bool, TestCaseError> {
        if self.state == St::Open {
            prop_assert!(result.is_ok(), "{:?}: {what} while open: {result:?}", self.side);
            Ok(true)
        } else {
            prop_assert!(
                matches!(result, Err(Error::Misuse(_))),
                "{:?}: {what} in {:?} must be Misuse, got {result:?}",
                self.side,
                self.state
            );
            prop_assert_eq!(
                self.conn.pending_output().len(),
                pending_before,
                "{:?}: refused {} queued bytes",
                self.side,
                what
            );
            Ok(false)
        }
    }

    fn push(&mut self, ev: Ev, compressed: bool) {
        self.outbound.push(Out { ev, compressed });
    }

    /// Whether `send_text`/`send_binary` of `len` bytes is compressed.
    fn compresses(&self, len: usize) -> bool {
        self.deflate && len >= self.threshold
    }

    fn next_fragment(&mut self) -> Result<(), TestCaseError> {
        let Some(fragment) = self.fragment.as_mut() else {
            return Ok(());
        };
        let piece = fragment.pieces.pop_front().unwrap_or_default();
        let fin = fragment.pieces.is_empty();
        let opcode = match (fragment.first, fragment.text) {
            (true, true) => OpCode::Text,
            (true, false) => OpCode::Binary,
            (false, _) => OpCode::Continuation,
        };
        fragment.first = false;
        let before = self.conn.pending_output().len();
        let result = self.conn.send_frame(opcode, &piece, fin);
        if !self.check_send(result, before, "send_frame")? {
            // Closed mid-message: the rest is never sent, the peer drops
            // the start.
            self.fragment = None;
            return Ok(());
        }
        if fin {
            let fragment = self.fragment.take().expect("fragment under way");
            let ev = if fragment.text {
                Ev::Text(String::from_utf8(fragment.payload).expect("text payload"))
            } else {
                Ev::Binary(fragment.payload)
            };
            self.push(ev, false);
        }
        Ok(())
    }

    fn finish_fragment(&mut self) -> Result<(), TestCaseError> {
        for _ in 0..10_000 {
            if self.fragment.is_none() {
                return Ok(());
            }
            self.next_fragment()?;
        }
        Err(TestCaseError::fail("fragment never finished"))
    }

    /// Checks the core's state and timers against the model.
    fn check_state(&self) -> Result<(), TestCaseError> {
        let side = self.side;
        let (ready, timeout) = match self.state {
            St::Open => (ReadyState::Open, None),
            St::CloseSent => (ReadyState::Closing, self.close_sent_at.map(|t| t + CLOSE_TIMEOUT)),
            // §7.1.1: a client waits (bounded) for the server to close the
            // transport; the server closes it at once.
            St::Closed => (
                ReadyState::Closed,
                match side {
                    Side::Client => self.closed_at.map(|t| t + CLOSE_TIMEOUT),
                    Side::Server => None,
                },
            ),
        };
        prop_assert_eq!(self.conn.ready_state(), ready, "{:?} ready state", side);
        prop_assert_eq!(
            self.conn.is_closed_cleanly(),
            self.state == St::Closed,
            "{:?} clean",
            side
        );
        prop_assert_eq!(
            self.conn.poll_timeout(),
            timeout,
            "{:?} poll_timeout in {:?}",
            side,
            self.state
        );
        prop_assert_eq!(
            self.conn.should_close_transport(),
            self.state == St::Closed && side == Side::Server,
            "{:?} should_close_transport in {:?}",
            side,
            self.state
        );
        Ok(())
    }
}

/// Polls `rx` until `None`, checking every event against what `tx` sent.
fn poll(rx: &mut End, tx: &End, now: Duration) -> Result<(), TestCaseError> {
    for _ in 0..100_000 {
        let Some(ev) = rx.conn.poll_event().map(own) else {
            return Ok(());
        };
        prop_assert!(
            !(rx.streams && matches!(ev, Ev::Text(_) | Ev::Binary(_))),
            "{:?} received a whole message with stream_messages on",
            rx.side
        );
        // Parts are gathered, and the whole message checked once it ends.
        let ev = match (ev, rx.partial.take()) {
            (Ev::TextPart(text, last), partial) => {
                let so_far = match partial {
                    None => text,
                    Some(Ev::TextPart(so_far, _)) => so_far + &text,
                    Some(other) => return Err(TestCaseError::fail(format!("text part after {other:?}"))),
                };
                match last {
                    true => Ev::Text(so_far),
                    false => {
                        rx.partial = Some(Ev::TextPart(so_far, false));
                        continue;
                    }
                }
            }
            (Ev::BinaryPart(data, last), partial) => {
                let so_far = match partial {
                    None => data,
                    Some(Ev::BinaryPart(mut so_far, _)) => {
                        so_far.extend_from_slice(&data);
                        so_far
                    }
                    Some(other) => return Err(TestCaseError::fail(format!("binary part after {other:?}"))),
                };
                match last {
                    true => Ev::Binary(so_far),
                    false => {
                        rx.partial = Some(Ev::BinaryPart(so_far, false));
                        continue;
                    }
                }
            }
            (ev, partial) => {
                rx.partial = partial;
                ev
            }
        };

        prop_assert!(
            rx.state != St::Closed,
            "{:?} reported {:?} after its close",
            rx.side,
            ev
        );
        prop_assert!(!ev.is_failure(), "{:?} failed: {:?}", rx.side, ev);
        let expected = tx.outbound.get(rx.received).map(|o| &o.ev);
        prop_assert_eq!(
            Some(&ev),
            expected,
            "{:?}'s event #{} (peer sent {:?})",
            rx.side,
            rx.received,
            &tx.outbound
        );
        rx.received += 1;
        match ev {
            // §5.5.2: answered, even after our own close.
            Ev::Ping(payload) => rx.push(Ev::Pong(payload), false),
            Ev::Close(code, reason) => {
                if rx.state == St::Open {
                    // §5.5.1: the reply echoes the code.
                    let reason = if rx.echo_reason && code.is_some() {
                        reason
                    } else {
                        String::new()
                    };
                    rx.push(Ev::Close(code, reason), false);
                }
                rx.state = St::Closed;
                rx.closed_at = Some(now);
            }
            _ => {}
        }
    }
    Err(TestCaseError::fail("poll_event never returned None"))
}

/// Hands `bytes` to `conn`, copying or through its read buffer.
fn feed(conn: &mut Connection, mut bytes: &[u8], zero_copy: bool) -> Result<(), TestCaseError> {
    if !zero_copy {
        conn.receive(bytes);
        return Ok(());
    }
    while !bytes.is_empty() {
        let buf = conn.read_buffer();
        prop_assert!(!buf.is_empty(), "read_buffer offered no room");
        let n = buf.len().min(bytes.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        conn.commit_read(n);
        bytes = &bytes[n..];
    }
    Ok(())
}

struct World {
    ends: [End; 2],
    now: Duration,
}

impl World {
    fn end(&mut self, side: Side) -> &mut End {
        &mut self.ends[side.index()]
    }

    /// (sender, receiver).
    fn pair(&mut self, from: Side) -> (&mut End, &mut End) {
        let [client, server] = &mut self.ends;
        match from {
            Side::Client => (client, server),
            Side::Server => (server, client),
        }
    }

    fn deliver(
        &mut self,
        from: Side,
        max: usize,
        chunk: usize,
        zero_copy: bool,
        poll_each: bool,
    ) -> Result<(), TestCaseError> {
        let now = self.now;
        let (tx, rx) = self.pair(from);
        let pending = tx.conn.pending_output();
        let n = pending.len().min(max);
        if n == 0 {
            return Ok(());
        }
        let bytes = pending[..n].to_vec();
        tx.conn.advance_output(n);
        tx.wire.extend_from_slice(&bytes);
        for piece in bytes.chunks(chunk.max(1)) {
            feed(&mut rx.conn, piece, zero_copy)?;
            if poll_each {
                poll(rx, tx, now)?;
            }
        }
        poll(rx, tx, now)
    }

    /// Moves everything both ways until nothing is pending.
    fn drain(&mut self, chunk: usize, zero_copy: bool) -> Result<(), TestCaseError> {
        for _ in 0..64 {
            if self.ends.iter().all(|e| e.conn.pending_output().is_empty()) {
                return Ok(());
            }
            self.deliver(Side::Client, usize::MAX, chunk, zero_copy, true)?;
            self.deliver(Side::Server, usize::MAX, chunk, zero_copy, true)?;
        }
        Err(TestCaseError::fail("the output never drained"))
    }

    fn close(&mut self, side: Side, close: &Option<(u16, String)>) -> Result<(), TestCaseError> {
        let now = self.now;
        let end = self.end(side);
        let before = end.conn.pending_output().len();
        let ev = match close {
            Some((code, reason)) => {
                let result = end.conn.close(CloseCode(*code), reason);
                prop_assert!(
                    result.is_ok(),
                    "{:?}: close({}, {:?}): {:?}",
                    side,
                    code,
                    reason,
                    result
                );
                Ev::Close(Some(*code), reason.clone())
            }
            None => {
                end.conn.close_without_code();
                Ev::Close(None, String::new())
            }
        };
        if end.state == St::Open {
            end.push(ev, false);
            end.state = St::CloseSent;
            end.close_sent_at = Some(now);
        } else {
            prop_assert_eq!(
                end.conn.pending_output().len(),
                before,
                "{:?}: a second close queued bytes",
                side
            );
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Text(side, text) => {
                let end = self.end(*side);
                end.finish_fragment()?;
                let before = end.conn.pending_output().len();
                let result = end.conn.send_text(text);
                if end.check_send(result, before, "send_text")? {
                    let compressed = end.compresses(text.len());
                    end.push(Ev::Text(text.clone()), compressed);
                }
            }
            Op::Binary(side, data) => {
                let end = self.end(*side);
                end.finish_fragment()?;
                let before = end.conn.pending_output().len();
                let result = end.conn.send_binary(data);
                if end.check_send(result, before, "send_binary")? {
                    let compressed = end.compresses(data.len());
                    end.push(Ev::Binary(data.clone()), compressed);
                }
            }
            Op::Message {
                side,
                text,
                payload,
                compress,
            } => {
                let end = self.end(*side);
                end.finish_fragment()?;
                let before = end.conn.pending_output().len();
                let opcode = if *text { OpCode::Text } else { OpCode::Binary };
                let result = end.conn.send_message(opcode, payload, *compress);
                if end.check_send(result, before, "send_message")? {
                    let compressed = *compress && end.compresses(payload.len());
                    let ev = if *text {
                        Ev::Text(String::from_utf8(payload.clone()).expect("text payload"))
                    } else {
                        Ev::Binary(payload.clone())
                    };
                    end.push(ev, compressed);
                }
            }
            Op::Fragmented {
                side,
                text,
                payload,
                sizes,
            } => {
                let end = self.end(*side);
                end.finish_fragment()?;
                let mut pieces = VecDeque::new();
                let mut rest = payload.as_slice();
                for &size in sizes {
                    let (piece, tail) = rest.split_at(size.min(rest.len()));
                    pieces.push_back(piece.to_vec());
                    rest = tail;
                }
                pieces.push_back(rest.to_vec());
                end.fragment = Some(Fragment {
                    text: *text,
                    payload: payload.clone(),
                    pieces,
                    first: true,
                });
                end.next_fragment()?;
            }
            Op::NextFragment(side) => self.end(*side).next_fragment()?,
            Op::Declared {
                side,
                text,
                payload,
                sizes,
                ping,
            } => {
                let end = self.end(*side);
                end.finish_fragment()?;
                let before = end.conn.pending_output().len();
                let opcode = if *text { OpCode::Text } else { OpCode::Binary };
                let result = end.conn.begin_message(opcode, payload.len() as u64);
                if end.check_send(result, before, "begin_message")? {
                    let mut rest = payload.as_slice();
                    let mut pinged = None;
                    for (i, &size) in sizes.iter().enumerate() {
                        let (piece, tail) = rest.split_at(size.min(rest.len()));
                        if !piece.is_empty() {
                            let sent = end.conn.send_payload(piece);
                            prop_assert!(sent.is_ok(), "{:?}: send_payload: {:?}", side, sent);
                        }
                        rest = tail;
                        if let Some((_, data)) = ping.as_ref().filter(|(at, _)| *at == i) {
                            let sent = end.conn.ping(data);
                            prop_assert!(sent.is_ok(), "{:?}: ping in a declared frame: {:?}", side, sent);
                            pinged = Some(data.clone());
                        }
                    }
                    if !rest.is_empty() {
                        let sent = end.conn.send_payload(rest);
                        prop_assert!(sent.is_ok(), "{:?}: send_payload: {:?}", side, sent);
                    }
                    // Never compressed; the ping was held behind it.
                    let ev = if *text {
                        Ev::Text(String::from_utf8(payload.clone()).expect("text payload"))
                    } else {
                        Ev::Binary(payload.clone())
                    };
                    end.push(ev, false);
                    if let Some(data) = pinged {
                        end.push(Ev::Ping(data), false);
                    }
                }
            }
            Op::Ping(side, payload) => {
                let end = self.end(*side);
                let before = end.conn.pending_output().len();
                let result = end.conn.ping(payload);
                if end.check_send(result, before, "ping")? {
                    end.push(Ev::Ping(payload.clone()), false);
                }
            }
            Op::Pong(side, payload) => {
                let end = self.end(*side);
                let before = end.conn.pending_output().len();
                let result = end.conn.pong(payload);
                if end.check_send(result, before, "pong")? {
                    end.push(Ev::Pong(payload.clone()), false);
                }
            }
            Op::Close(side, close) => self.close(*side, close)?,
            Op::Deliver {
                from,
                max,
                chunk,
                zero_copy,
                poll_each,
            } => self.deliver(*from, *max, *chunk, *zero_copy, *poll_each)?,
            Op::Advance(d) => {
                let now = self.now + *d;
                // Below every timer the model runs: the close timeout counts
                // from a close sent at or after time zero.
                if now < CLOSE_TIMEOUT {
                    self.now = now;
                    for end in &mut self.ends {
                        end.conn.handle_timeout(now);
                    }
                    let (client, server) = self.pair(Side::Client);
                    poll(client, server, now)?;
                    poll(server, client, now)?;
                }
            }
            Op::ReleaseBuffers(side) => self.end(*side).conn.release_buffers(),
        }
        for end in &self.ends {
            end.check_state()?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- setup

fn configs(case: &Case) -> (Config, Config) {
    let mut client = Config::default()
        .stream_messages(case.client_streams)
        .echo_close_reason(case.client_echo_reason)
        .close_timeout(Some(CLOSE_TIMEOUT));
    let mut server = Config::default()
        .stream_messages(case.server_streams)
        .echo_close_reason(case.server_echo_reason)
        .close_timeout(Some(CLOSE_TIMEOUT));
    #[cfg(feature = "deflate")]
    match &case.deflate {
        None => {
            client.deflate.enabled = false;
            server.deflate.enabled = false;
        }
        Some(d) => {
            use rfc6455::deflate::{ClientWindow, DeflateOffer};
            client.deflate.offers = vec![
                DeflateOffer::default()
                    .server_no_context_takeover(d.offer_server_no_context_takeover)
                    .client_no_context_takeover(d.offer_client_no_context_takeover)
                    .server_max_window_bits(d.offer_server_max_window_bits)
                    .client_max_window_bits(match d.offer_client_max_window_bits {
                        0 => ClientWindow::NotOffered,
                        1 => ClientWindow::Any,
                        bits => ClientWindow::Max(bits),
                    }),
            ];
            client.deflate.level = d.client_level;
            client.deflate.threshold = d.client_threshold;
            server.deflate.server_max_window_bits = d.server_max_window_bits;
            server.deflate.client_max_window_bits = d.client_max_window_bits;
            server.deflate.server_no_context_takeover = d.server_no_context_takeover;
            server.deflate.client_no_context_takeover = d.client_no_context_takeover;
            server.deflate.level = d.server_level;
            server.deflate.threshold = d.server_threshold;
        }
    }
    #[cfg(not(feature = "deflate"))]
    let _ = (&mut client, &mut server);
    (client, server)
}

/// The opening handshake through the wire, cut into `chunk`-byte reads.
fn open(case: &Case) -> Result<World, TestCaseError> {
    let (client_config, server_config) = configs(case);
    let request = ClientRequest::new("localhost", "/model");
    let client = Connection::client_with_masks(request, client_config, masks(case.seed));
    let server = Connection::server(server_config);
    let mut world = World {
        ends: [
            End::new(Side::Client, client, case.client_echo_reason),
            End::new(Side::Server, server, case.server_echo_reason),
        ],
        now: Duration::ZERO,
    };
    let (client, server) = world.pair(Side::Client);
    let request = client.conn.pending_output().to_vec();
    client.conn.advance_output(request.len());
    client.wire.extend_from_slice(&request);
    let mut events = Vec::new();
    for piece in request.chunks(case.handshake_chunk.max(1)) {
        server.conn.receive(piece);
        while let Some(ev) = server.conn.poll_event().map(own) {
            if matches!(ev, Ev::Request { .. }) {
                server
                    .conn
                    .accept(Accept::new())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            events.push(ev);
            prop_assert!(events.len() <= 2, "server events {:?}", events);
        }
    }
    prop_assert_eq!(&events, &[Ev::request("/model"), Ev::Open], "server handshake events");
    let response = server.conn.pending_output().to_vec();
    server.conn.advance_output(response.len());
    server.wire.extend_from_slice(&response);
    let mut events = Vec::new();
    for piece in response.chunks(case.handshake_chunk.max(1)) {
        client.conn.receive(piece);
        while let Some(ev) = client.conn.poll_event().map(own) {
            events.push(ev);
            prop_assert!(events.len() <= 1, "client events {:?}", events);
        }
    }
    prop_assert_eq!(&events, &[Ev::Open], "client handshake events");
    let extensions = server.conn.extensions().to_owned();
    prop_assert_eq!(
        client.conn.extensions(),
        extensions.as_str(),
        "both ends agree on extensions"
    );
    let negotiated = extensions.starts_with("permessage-deflate");
    prop_assert_eq!(
        negotiated,
        case.deflate.is_some(),
        "permessage-deflate negotiated: {:?}",
        extensions
    );
    client.streams = case.client_streams;
    server.streams = case.server_streams;
    if let Some(d) = &case.deflate {
        client.deflate = true;
        client.threshold = d.client_threshold;
        server.deflate = true;
        server.threshold = d.server_threshold;
    }
    for end in &world.ends {
        end.check_state()?;
    }
    Ok(world)
}

fn run(case: Case) -> Result<(), TestCaseError> {
    let mut world = open(&case)?;
    for op in &case.ops {
        world.apply(op)?;
    }

    // The end: finish what is under way, drain, close if nobody did, drain.
    for end in &mut world.ends {
        if end.state == St::Open {
            end.finish_fragment()?;
        }
    }
    world.drain(case.drain_chunk, case.drain_zero_copy)?;
    let states = [world.ends[0].state, world.ends[1].state];
    prop_assert!(
        states == [St::Open, St::Open] || states == [St::Closed, St::Closed],
        "after draining: {:?}",
        states
    );
    if states[0] == St::Open {
        world.close(case.final_closer, &case.final_close)?;
        world.drain(case.drain_chunk, case.drain_zero_copy)?;
    }

    for i in 0..2 {
        let (end, peer) = (&world.ends[i], &world.ends[1 - i]);
        end.check_state()?;
        prop_assert_eq!(end.state, St::Closed, "{:?} closed", end.side);
        prop_assert!(end.conn.is_closed_cleanly(), "{:?} closed cleanly", end.side);
        // Everything the peer sent up to its close arrived; nothing after.
        let close_at = peer.outbound.iter().position(|o| matches!(o.ev, Ev::Close(..)));
        prop_assert_eq!(
            Some(end.received),
            close_at.map(|i| i + 1),
            "{:?} received up to the close",
            end.side
        );
        // The bytes on the wire say exactly what the model says was sent.
        let decoded = decode_stream(&end.wire, end.side, end.deflate)
            .map_err(|e| TestCaseError::fail(format!("{:?}'s byte stream is not valid RFC 6455: {e}", end.side)))?;
        prop_assert_eq!(&decoded, &end.outbound, "{:?}'s wire against the model", end.side);
    }

    // §7.1.1: the server closes the transport; the client then may.
    let [client, server] = &mut world.ends;
    prop_assert!(server.conn.should_close_transport());
    prop_assert!(!client.conn.should_close_transport());
    client.conn.receive_eof();
    prop_assert!(client.conn.should_close_transport());
    prop_assert!(client.conn.poll_event().is_none() && server.conn.poll_event().is_none());
    prop_assert!(client.conn.pending_output().is_empty() && server.conn.pending_output().is_empty());
    Ok(())
}

// ---------------------------------------------------------------- reference decoder

fn sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(feature = "deflate")]
struct Inflater(flate2::Decompress);

#[cfg(feature = "deflate")]
impl Inflater {
    fn new() -> Self {
        // A 15-bit window inflates whatever window the sender used.
        Self(flate2::Decompress::new(false))
    }

    /// RFC 7692 §7.2.2: append 00 00 ff ff and inflate.
    fn inflate(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
        use flate2::{FlushDecompress, Status};
        let mut input = payload.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        let start = self.0.total_in();
        for _ in 0..100_000 {
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            }
            let consumed = (self.0.total_in() - start) as usize;
            let status = self
                .0
                .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
                .map_err(|e| format!("inflate: {e}"))?;
            if status == Status::StreamEnd {
                return Err("a final deflate block inside a message".into());
            }
            let consumed = (self.0.total_in() - start) as usize;
            if consumed == input.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
        Err("inflate made no progress".into())
    }
}

#[cfg(not(feature = "deflate"))]
struct Inflater;

#[cfg(not(feature = "deflate"))]
impl Inflater {
    fn new() -> Self {
        Self
    }

    fn inflate(&mut self, _: &[u8]) -> Result<Vec<u8>, String> {
        Err("RSV1 without permessage-deflate support".into())
    }
}

/// Decodes everything `side` wrote: its handshake head, then frames, each
/// checked against RFC 6455 §5 (and RFC 7692 §6 when negotiated). Returns
/// the messages and control frames, as the peer must report them.
fn decode_stream(bytes: &[u8], side: Side, deflate: bool) -> Result<Vec<Out>, String> {
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of the handshake head")?
        + 4;
    let head = std::str::from_utf8(&bytes[..head_end]).map_err(|_| "handshake head not UTF-8")?;
    let head_lower = head.to_ascii_lowercase();
    match side {
        Side::Client => {
            if !head.starts_with("GET /model HTTP/1.1\r\n") {
                return Err(format!("client request: {head:?}"));
            }
        }
        Side::Server => {
            if !head.starts_with("HTTP/1.1 101 ") {
                return Err(format!("server response: {head:?}"));
            }
        }
    }
    // The client offers; the server's answer says what was agreed.
    let answered = head_lower.contains("\r\nsec-websocket-extensions: permessage-deflate");
    if side == Side::Server && answered != deflate {
        return Err(format!(
            "negotiated {deflate}, yet the response says {answered}: {head:?}"
        ));
    }
    let mut rest = &bytes[head_end..];
    let mut out = Vec::new();
    // (text, compressed, payload so far) of a fragmented message.
    let mut message: Option<(bool, bool, Vec<u8>)> = None;
    let mut closed = false;
    let mut inflater = Inflater::new();
    while !rest.is_empty() {
        if rest.len() < 2 {
            return Err("truncated header".into());
        }
        let (b0, b1) = (rest[0], rest[1]);
        let fin = b0 & 0x80 != 0;
        let rsv1 = b0 & 0x40 != 0;
        if b0 & 0x30 != 0 {
            return Err(format!("RSV2/RSV3 set: {b0:#04x}"));
        }
        let opcode = b0 & 0x0f;
        let masked = b1 & 0x80 != 0;
        let (len, mut pos) = match b1 & 0x7f {
            126 => {
                let b = rest.get(2..4).ok_or("truncated 16-bit length")?;
                let len = u64::from(u16::from_be_bytes([b[0], b[1]]));
                if len < 126 {
                    return Err(format!("16-bit length {len} fits in 7 bits"));
                }
                (len, 4)
            }
            127 => {
                let b = rest.get(2..10).ok_or("truncated 64-bit length")?;
                let len = u64::from_be_bytes(b.try_into().expect("8 bytes"));
                if len >> 63 != 0 {
                    return Err("64-bit length with the top bit set".into());
                }
                if len <= 0xffff {
                    return Err(format!("64-bit length {len} fits in 16 bits"));
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        // §5.1/§5.3: clients mask every frame, servers none.
        if masked != (side == Side::Client) {
            return Err(format!("{side:?} frame with mask bit {masked}"));
        }
        let key = if masked {
            let key: [u8; 4] = rest.get(pos..pos + 4).ok_or("truncated mask")?.try_into().expect("4");
            pos += 4;
            Some(key)
        } else {
            None
        };
        let len = usize::try_from(len).map_err(|_| "length beyond usize")?;
        let mut payload = rest.get(pos..pos + len).ok_or("truncated payload")?.to_vec();
        if let Some(key) = key {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        rest = &rest[pos + len..];

        if closed && opcode != 0xa {
            return Err(format!("opcode {opcode:#x} after the close frame"));
        }
        match opcode {
            0x8..=0xa => {
                if !fin {
                    return Err("fragmented control frame".into());
                }
                if len > 125 {
                    return Err(format!("control frame of {len} bytes"));
                }
                if rsv1 {
                    return Err("RSV1 on a control frame".into());
                }
                let ev = match opcode {
                    0x9 => Ev::Ping(payload),
                    0xa => Ev::Pong(payload),
                    _ => {
                        closed = true;
                        match payload.len() {
                            0 => Ev::Close(None, String::new()),
                            1 => return Err("one-byte close payload".into()),
                            _ => {
                                let code = u16::from_be_bytes([payload[0], payload[1]]);
                                if !sendable(code) {
                                    return Err(format!("close code {code} may not be sent"));
                                }
                                let reason =
                                    String::from_utf8(payload[2..].to_vec()).map_err(|_| "close reason not UTF-8")?;
                                Ev::Close(Some(code), reason)
                            }
                        }
                    }
                };
                out.push(Out { ev, compressed: false });
            }
            0x0..=0x2 => {
                let mut current = match (opcode, message.take()) {
                    (0x0, None) => return Err("continuation without a message".into()),
                    (0x0, Some(m)) => {
                        if rsv1 {
                            return Err("RSV1 on a continuation frame".into());
                        }
                        m
                    }
                    (_, Some(_)) => return Err("new message inside a fragmented one".into()),
                    (_, None) => {
                        if rsv1 && !deflate {
                            return Err("RSV1 without permessage-deflate".into());
                        }
                        (opcode == 0x1, rsv1, Vec::new())
                    }
                };
                current.2.extend_from_slice(&payload);
                if !fin {
                    message = Some(current);
                    continue;
                }
                let (text, compressed, data) = current;
                let data = if compressed { inflater.inflate(&data)? } else { data };
                let ev = if text {
                    Ev::Text(String::from_utf8(data).map_err(|_| "text message not UTF-8")?)
                } else {
                    Ev::Binary(data)
                };
                out.push(Out { ev, compressed });
            }
            _ => return Err(format!("reserved opcode {opcode:#x}")),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- strategies

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Client), Just(Side::Server)]
}

fn any_text(max_chars: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..max_chars).prop_map(|chars| chars.into_iter().collect())
}

fn binary_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(Vec::new()),
        8 => vec(any::<u8>(), 0..200),
        // Around the 7/16-bit and 16/64-bit length boundaries, random so
        // they stay that long when compressed.
        1 => (120usize..=130, any::<u64>()).prop_map(|(n, s)| random_bytes(n, s)),
        1 => (65_530usize..=65_540, any::<u64>()).prop_map(|(n, s)| random_bytes(n, s)),
        // Compressible.
        1 => (0usize..3000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
}

fn text_payload() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        8 => any_text(60),
        1 => (1usize..5000).prop_map(|n| "aé€𝄞".repeat(n / 10 + 1)),
    ]
}

fn control_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..=125), vec(any::<u8>(), 125..=125)]
}

fn close_code() -> impl Strategy<Value = u16> {
    prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999]
}

/// Any reason of at most 123 bytes, often exactly at the limit.
fn close_reason() -> impl Strategy<Value = String> {
    prop_oneof![
        any_text(124).prop_map(|s| {
            let mut end = s.len().min(123);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s[..end].to_owned()
        }),
        "[a-z]{123}",
        Just(String::new()),
    ]
}

fn close_arg() -> impl Strategy<Value = Option<(u16, String)>> {
    prop_oneof![
        6 => (close_code(), close_reason()).prop_map(Some),
        1 => Just(None),
    ]
}

fn chunk() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..4, 1usize..64, 1usize..3000, Just(usize::MAX)]
}

fn op() -> impl Strategy<Value = Op> {
    let fragmented = (
        side(),
        prop_oneof![
            any_text(60).prop_map(|t| (true, t.into_bytes())),
            vec(any::<u8>(), 0..300).prop_map(|b| (false, b)),
        ],
        vec(0usize..80, 0..6),
    )
        .prop_map(|(side, (text, payload), sizes)| Op::Fragmented {
            side,
            text,
            payload,
            sizes,
        });
    let deliver = (
        side(),
        prop_oneof![1usize..40, 1usize..5000, Just(usize::MAX)],
        chunk(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(from, max, chunk, zero_copy, poll_each)| Op::Deliver {
            from,
            max,
            chunk,
            zero_copy,
            poll_each,
        });
    let message = (
        side(),
        prop_oneof![
            text_payload().prop_map(|t| (true, t.into_bytes())),
            binary_payload().prop_map(|b| (false, b)),
        ],
        any::<bool>(),
    )
        .prop_map(|(side, (text, payload), compress)| Op::Message {
            side,
            text,
            payload,
            compress,
        });
    let declared = (
        side(),
        prop_oneof![
            text_payload().prop_map(|t| (true, t.into_bytes())),
            binary_payload().prop_map(|b| (false, b)),
        ],
        vec(0usize..200, 0..6),
        proptest::option::of((0usize..6, control_payload())),
    )
        .prop_map(|(side, (text, payload), sizes, ping)| Op::Declared {
            side,
            text,
            payload,
            sizes,
            ping,
        });
    prop_oneof![
        4 => (side(), text_payload()).prop_map(|(s, t)| Op::Text(s, t)),
        2 => declared,
        1 => message,
        4 => (side(), binary_payload()).prop_map(|(s, b)| Op::Binary(s, b)),
        3 => fragmented,
        2 => side().prop_map(Op::NextFragment),
        2 => (side(), control_payload()).prop_map(|(s, p)| Op::Ping(s, p)),
        1 => (side(), control_payload()).prop_map(|(s, p)| Op::Pong(s, p)),
        1 => (side(), close_arg()).prop_map(|(s, c)| Op::Close(s, c)),
        8 => deliver,
        1 => (0u64..400).prop_map(|ms| Op::Advance(Duration::from_millis(ms))),
        2 => side().prop_map(Op::ReleaseBuffers),
    ]
}

/// Any parameters: this engine's client and server must always agree on
/// permessage-deflate.
fn deflate_setup() -> impl Strategy<Value = DeflateSetup> {
    (
        (any::<bool>(), any::<bool>(), proptest::option::of(8u8..=15)),
        prop_oneof![Just(0u8), Just(1u8), 8u8..=15],
        (8u8..=15, 8u8..=15, any::<bool>(), any::<bool>()),
        (
            0u32..=9,
            0u32..=9,
            prop_oneof![Just(0usize), 0usize..64],
            prop_oneof![Just(0usize), 0usize..64],
        ),
    )
        .prop_map(
            |(
                (offer_server_nct, offer_client_nct, offer_server_bits),
                offer_client_bits,
                (server_bits, client_bits, server_nct, client_nct),
                (client_level, server_level, client_threshold, server_threshold),
            )| DeflateSetup {
                offer_server_no_context_takeover: offer_server_nct,
                offer_client_no_context_takeover: offer_client_nct,
                offer_server_max_window_bits: offer_server_bits,
                offer_client_max_window_bits: offer_client_bits,
                server_max_window_bits: server_bits,
                client_max_window_bits: client_bits,
                server_no_context_takeover: server_nct,
                client_no_context_takeover: client_nct,
                client_level,
                server_level,
                client_threshold,
                server_threshold,
            },
        )
}

fn case(deflate: impl Strategy<Value = Option<DeflateSetup>>) -> impl Strategy<Value = Case> {
    (
        deflate,
        (any::<bool>(), any::<bool>(), chunk()),
        vec(op(), 0..48),
        (side(), close_arg()),
        (chunk(), any::<bool>(), any::<u64>()),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                deflate,
                (client_echo_reason, server_echo_reason, handshake_chunk),
                ops,
                (final_closer, final_close),
                (drain_chunk, drain_zero_copy, seed),
                (client_streams, server_streams),
            )| Case {
                deflate,
                client_echo_reason,
                server_echo_reason,
                handshake_chunk,
                ops,
                final_closer,
                final_close,
                drain_chunk,
                drain_zero_copy,
                seed,
                client_streams,
                server_streams,
            },
        )
}

proptest! {
    #![proptest_config(cases(256))]

    /// RFC 6455 alone: no extension, RSV bits reserved.
    #[test]
    fn model_without_deflate(case in case(Just(None))) {
        run(case)?;
    }
}

#[cfg(feature = "deflate")]
proptest! {
    // Fewer by default: zlib in a debug build is the slow part.
    #![proptest_config(cases(128))]

    /// permessage-deflate negotiated, with random parameters.
    #[test]
    fn model_with_deflate(case in case(deflate_setup().prop_map(Some))) {
        run(case)?;
    }
}

/// RFC 7692 §7.1.2.1: "A server accepts an extension negotiation offer with
/// this parameter by including the server_max_window_bits extension
/// parameter in the extension negotiation response [...] with the same or
/// smaller value as the offer." Every value a client may offer, 8 to 15,
/// must lead to an agreement between this engine's client and server.
#[cfg(feature = "deflate")]
#[test]
fn offered_server_max_window_bits_are_answered() {
    use rfc6455::deflate::DeflateOffer;
    let mut failures = Vec::new();
    for bits in 8u8..=15 {
        let mut client_config = Config::default();
        client_config.deflate.offers = vec![DeflateOffer::default().server_max_window_bits(Some(bits))];
        let request = ClientRequest::new("localhost", "/model");
        let mut client = Connection::client_with_masks(request, client_config, masks(u64::from(bits)));
        let mut server = Connection::server(Config::default());
        server.receive(client.pending_output());
        client.advance_output(usize::MAX);
        assert!(matches!(server.poll_event().map(own), Some(Ev::Request { .. })));
        server.accept(Accept::new()).unwrap();
        assert_eq!(server.poll_event().map(own), Some(Ev::Open));
        let response = String::from_utf8_lossy(server.pending_output()).into_owned();
        client.receive(server.pending_output());
        server.advance_output(usize::MAX);
        let answer = response
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("sec-websocket-extensions:"))
            .unwrap_or("(none)")
            .to_owned();
        match client.poll_event().map(own) {
            Some(Ev::Open) => assert_eq!(client.extensions(), server.extensions()),
            other => failures.push(format!(
                "offer server_max_window_bits={bits}: answer {answer:?}, client {other:?}"
            )),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
