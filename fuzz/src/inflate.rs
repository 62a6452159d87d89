//! The `inflate` target's harness: a server that negotiated
//! permessage-deflate (RFC 7692) with parameters from the input and has a
//! small `max_message_size` (1 B to 64 KiB), fed a client's messages:
//!
//! - raw bytes sent as a compressed payload (RSV1 set), which the inflater
//!   mostly rejects;
//! - real data compressed here with flate2 (so the fuzzer gets past the
//!   inflater into the size and UTF-8 checks), by a fresh compressor or by
//!   one that keeps its context across messages as the server allows, with
//!   the window the server agreed to or a larger one, ending with the usual
//!   stripped sync flush, with the tail kept (a peer bug), or with a final
//!   block;
//! - plain (uncompressed) messages;
//! - RSV violations: RSV1 on a continuation or a control frame, RSV2/RSV3;
//!
//! each cut into fragments at input-chosen offsets with pings and pongs
//! between them, the whole stream handed over in input-derived chunks
//! (alternating `receive` and `read_buffer`/`commit_read`), optionally
//! ending with a close frame.
//!
//! Besides [`Checker`]'s invariants, the harness knows what each message
//! must become. It tracks the server's inflater: whether it sits at a block
//! boundary, and the window of bytes a back-reference can reach (what it
//! inflated since its last reset). A message whose outcome is then known
//! must be delivered exactly (same bytes, same type) when it fits the limits
//! and is valid, and must fail the connection otherwise, with 1009 for a
//! frame, compressed message or inflated message over the limits and 1007
//! for invalid UTF-8; a message the inflater may legitimately refuse (a
//! window or context the server did not agree to, a final block) is
//! delivered exactly or fails with 1007; the outcome of raw bytes is only
//! bounded: delivered within the limit, or 1007/1009, and never delivered
//! when its compressed size alone exceeds the limit. RSV violations fail
//! with 1002, a close frame ends with `Close` (or 1002 for a code that may
//! not be sent). Pings and pongs arrive in order, and every failure queues a
//! close frame with its code. With [`heap::Metered`](crate::heap::Metered)
//! installed, the connection's heap stays within twice the bytes fed plus
//! three times the message limit plus 256 KiB.

use crate::{Checker, Ev, XorShift, chunks, heap, own, valid_request};
use arbitrary::Arbitrary;
use flate2::{Compress, Compression, FlushCompress, Status};
use rfc6455::connection::Event;
use rfc6455::deflate::{ClientWindow, DeflateConfig, DeflateOffer};
use rfc6455::{Accept, CloseCode, Config, Connection, ReadyState, Role};

/// Data the harness may produce per input, in all messages together:
/// keeps executions fast.
const DATA_BUDGET: usize = 256 << 10;
/// The deflate window (32 KiB at 15 bits): how far back a reference reaches.
const WINDOW: usize = 32 << 10;
/// The tail a sync flush ends with (RFC 7692 §7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

#[derive(Arbitrary, Debug, Clone)]
pub struct InflateInput {
    pub offer: Offer,
    pub server: ServerParams,
    /// `max_message_size - 1`: 1 B to 64 KiB.
    pub max_message: u16,
    /// `max_frame_size - 1`, or the default (16 MiB).
    pub max_frame: Option<u16>,
    /// `read_chunk` of 1 byte instead of 8 KiB.
    pub small_reads: bool,
    pub chunk_seed: u8,
    pub mask_seed: u32,
    /// The shared compressor resets after each message when the server
    /// asked for `client_no_context_takeover` (else it keeps its context
    /// against the agreement).
    pub honor_no_context: bool,
    pub messages: Vec<Message>,
    /// A close frame with this code after the messages.
    pub close: Option<u16>,
    /// The server receives messages in parts (`Config::stream_messages`);
    /// joined, they are checked as whole messages.
    pub stream_messages: bool,
}

/// The client's offer.
#[derive(Arbitrary, Debug, Clone)]
pub struct Offer {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    /// 8 + n % 8.
    pub server_max_window_bits: Option<u8>,
    pub client_max_window_bits: OfferedBits,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum OfferedBits {
    NotOffered,
    Any,
    /// 8 + n % 8.
    Max(u8),
}

/// The server's `DeflateConfig`.
#[derive(Arbitrary, Debug, Clone)]
pub struct ServerParams {
    /// 8 + n % 8.
    pub server_max_window_bits: u8,
    /// 8 + n % 8.
    pub client_max_window_bits: u8,
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Message {
    pub text: bool,
    pub body: Body,
    /// Where the payload is cut into frames (each taken modulo the payload
    /// length + 1; at most 16 cuts; equal cuts make empty frames).
    pub cuts: Vec<u16>,
    /// Control frames, each before the frame of this index (modulo the
    /// frame count + 1; at most 4).
    pub controls: Vec<(u8, Control)>,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Body {
    /// These bytes as the compressed payload (RSV1 set).
    Raw(Vec<u8>),
    /// Data compressed here (RSV1 set).
    Deflated {
        data: Data,
        /// zlib level, n % 10.
        level: u8,
        /// The compressor that keeps its context across messages, instead
        /// of a fresh one.
        shared: bool,
        /// A fresh compressor's window, 9 + n % 7, instead of the agreed one.
        window: Option<u8>,
        tail: Tail,
    },
    /// Uncompressed (RSV1 clear).
    Plain(Data),
    /// A frame sequence that breaks RFC 7692's use of the RSV bits.
    Violation(Violation),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Sync flush, `00 00 ff ff` removed (RFC 7692 §7.2.1).
    Strip,
    /// Sync flush, tail left on, against §7.2.1: the message inflates as
    /// usual, but the tail the receiver appends then starts a stored block
    /// whose length comes from the next message's first bytes.
    Keep,
    /// A final block and one 0x00 octet (RFC 7692 §7.2.3.4).
    Final,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Data {
    Bytes(Vec<u8>),
    Text(String),
    /// `len % (2 * max_message_size + 2)` copies of `byte`: bombs, as
    /// often over the limit as within it.
    Fill {
        byte: u8,
        len: u32,
    },
    /// `pattern` (at most 64 bytes) `times` times, up to twice the limit
    /// + 1.
    Repeat {
        pattern: Vec<u8>,
        times: u16,
    },
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Control {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Violation {
    /// A compressed message whose continuation frame has RSV1 set.
    Rsv1OnContinuation,
    /// A ping with RSV1 set.
    Rsv1OnControl,
    /// A binary frame with RSV2 set.
    Rsv2,
    /// A binary frame with RSV3 set.
    Rsv3,
}

/// What a run reached, for seed selection.
#[derive(Debug, Default, Clone)]
pub struct InflateReport {
    /// Events after `Open`.
    pub events: Vec<Ev>,
    /// The close code of the failure, if the connection failed.
    pub failure: Option<u16>,
    /// Messages delivered whose content the harness knew.
    pub exact: usize,
    /// Delivered messages that were compressed here, that were raw, that
    /// were fragmented, that used the shared compressor after a message.
    pub deflated: usize,
    pub raw: usize,
    pub fragmented: usize,
    pub shared_context: usize,
    /// The failure was a compressed message of known content refused for
    /// inflating past the limit, its compressed size being within it.
    pub bomb_refused: bool,
    /// The connection's peak heap while reading frames, when metered.
    pub peak_heap: Option<usize>,
}

fn bits(n: u8) -> u8 {
    8 + n % 8
}

impl InflateInput {
    fn config(&self) -> Config {
        let s = &self.server;
        Config::default()
            .max_message_size(usize::from(self.max_message) + 1)
            .max_frame_size(self.max_frame.map_or(16 << 20, |n| usize::from(n) + 1))
            .read_chunk(if self.small_reads { 1 } else { 8 << 10 })
            .handshake_timeout(None)
            .close_timeout(None)
            .keepalive_interval(None)
            .stream_messages(self.stream_messages)
            .deflate(
                DeflateConfig::default()
                    .server_max_window_bits(bits(s.server_max_window_bits))
                    .client_max_window_bits(bits(s.client_max_window_bits))
                    .server_no_context_takeover(s.server_no_context_takeover)
                    .client_no_context_takeover(s.client_no_context_takeover),
            )
    }

    fn offer(&self) -> DeflateOffer {
        let o = &self.offer;
        DeflateOffer::default()
            .server_no_context_takeover(o.server_no_context_takeover)
            .client_no_context_takeover(o.client_no_context_takeover)
            .server_max_window_bits(o.server_max_window_bits.map(bits))
            .client_max_window_bits(match o.client_max_window_bits {
                OfferedBits::NotOffered => ClientWindow::NotOffered,
                OfferedBits::Any => ClientWindow::Any,
                OfferedBits::Max(n) => ClientWindow::Max(bits(n)),
            })
    }
}

impl Data {
    /// The bytes, within what is left of `budget`, for a limit of `max`.
    fn bytes(&self, max: usize, budget: &mut usize) -> Vec<u8> {
        let cap = (2 * max + 1).min(*budget);
        let out = match self {
            Data::Bytes(b) => b[..b.len().min(cap)].to_vec(),
            Data::Text(t) => t.as_bytes()[..t.len().min(cap)].to_vec(),
            Data::Fill { byte, len } => vec![*byte; (*len as usize % (2 * max + 2)).min(cap)],
            Data::Repeat { pattern, times } => {
                let pattern = &pattern[..pattern.len().min(64)];
                let len = (pattern.len() * usize::from(*times)).min(cap);
                pattern.iter().copied().cycle().take(len).collect()
            }
        };
        *budget -= out.len();
        out
    }
}

/// The agreement, as the server's response states it (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy)]
struct Agreement {
    /// The server resets its inflater after each message.
    client_no_context_takeover: bool,
    /// The window the server inflates with is 2^max(this, 9).
    client_max_window_bits: u8,
}

fn agreement(response: &str, offer: &DeflateOffer) -> Agreement {
    let mut params = response.split(';').map(str::trim);
    assert_eq!(params.next(), Some("permessage-deflate"), "response item {response:?}");
    let mut agreed = Agreement {
        client_no_context_takeover: false,
        client_max_window_bits: 15,
    };
    let mut server_no_context = false;
    for param in params {
        match param.split_once('=') {
            None if param == "client_no_context_takeover" => agreed.client_no_context_takeover = true,
            None if param == "server_no_context_takeover" => server_no_context = true,
            Some(("client_max_window_bits", n)) => {
                assert!(
                    offer.client_max_window_bits != ClientWindow::NotOffered,
                    "client_max_window_bits answered but not offered: {response:?}"
                );
                agreed.client_max_window_bits = n.parse().expect("window bits");
                assert!((8..=15).contains(&agreed.client_max_window_bits), "{response:?}");
                if let ClientWindow::Max(max) = offer.client_max_window_bits {
                    assert!(agreed.client_max_window_bits <= max, "{response:?} over the offer");
                }
            }
            Some(("server_max_window_bits", n)) => {
                let n: u8 = n.parse().expect("window bits");
                if let Some(max) = offer.server_max_window_bits {
                    assert!(n <= max, "{response:?} over the offer");
                }
            }
            _ => panic!("unexpected parameter {param:?} in {response:?}"),
        }
    }
    assert!(
        server_no_context || !offer.server_no_context_takeover,
        "server_no_context_takeover asked for but not agreed: {response:?}"
    );
    agreed
}

/// Compresses `data` as RFC 7692 §7.2.1 describes, or with a final block.
fn deflate(compress: &mut Compress, data: &[u8], tail: Tail) -> Vec<u8> {
    let flush = if tail == Tail::Final {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let start = compress.total_in();
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64));
        }
        let consumed = (compress.total_in() - start) as usize;
        let status = compress
            .compress_vec(&data[consumed..], &mut out, flush)
            .expect("compress");
        let consumed = (compress.total_in() - start) as usize;
        let done = match tail {
            Tail::Final => status == Status::StreamEnd,
            _ => consumed == data.len() && out.len() < out.capacity(),
        };
        if done {
            break;
        }
    }
    if tail != Tail::Final && !out.ends_with(&TAIL) {
        // A sync flush right after another, with no input, writes nothing
        // (zlib): send the empty stored block §7.2.3.6 describes.
        assert!(out.is_empty(), "sync flush without its tail");
        out.push(0x00);
        out.extend_from_slice(&TAIL);
    }
    match tail {
        Tail::Strip => out.truncate(out.len() - TAIL.len()),
        Tail::Keep => {}
        Tail::Final => out.push(0x00),
    }
    out
}

/// How well the harness can predict a compressed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// It inflates to exactly its data.
    Exact,
    /// It inflates to exactly its data, or the inflater refuses it (1007).
    ExactOrCorrupt,
    /// The inflater's state is unknown: anything within the limits, or 1007.
    Unknown,
}

#[derive(Debug)]
enum Kind {
    Deflated {
        fresh: bool,
        /// The shared compressor's last `WINDOW` bytes before this message.
        context: Vec<u8>,
        /// A window above the agreed one, or a final block.
        may_be_refused: bool,
        /// Ends with the tail kept or a final block: the inflater's state
        /// after it is unknown.
        odd_tail: bool,
    },
    Raw,
    Plain,
    Violation,
}

/// One message as sent.
#[derive(Debug)]
struct Sent {
    text: bool,
    kind: Kind,
    /// The data before compression (empty for raw bytes and violations).
    data: Vec<u8>,
    /// Some frame or the payload as a whole is over the limits.
    wire_too_big: bool,
    frames: usize,
}

impl Sent {
    /// How well its outcome is known, given the server's inflater; `None`
    /// for an RSV violation, which can only fail.
    fn known(&self, boundary: bool, window: &[u8]) -> Option<Known> {
        Some(match &self.kind {
            Kind::Violation => return None,
            Kind::Raw => Known::Unknown,
            Kind::Plain => Known::Exact,
            Kind::Deflated {
                fresh,
                context,
                may_be_refused,
                ..
            } => known(boundary, *fresh, context, window, *may_be_refused),
        })
    }
}

/// A masked frame.
fn frame(out: &mut Vec<u8>, first: u8, payload: &[u8], key: [u8; 4]) {
    out.push(first);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    let at = out.len();
    out.extend_from_slice(payload);
    for (i, b) in out[at..].iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

fn key(rng: &mut XorShift) -> [u8; 4] {
    (rng.next_u64() as u32).to_be_bytes()
}

/// A ping or pong (payload cut to 125 bytes), and the event it must give.
fn control_frame(wire: &mut Vec<u8>, control: &Control, rng: &mut XorShift) -> Ev {
    let (opcode, data) = match control {
        Control::Ping(d) => (0x9, &d[..d.len().min(125)]),
        Control::Pong(d) => (0xa, &d[..d.len().min(125)]),
    };
    frame(wire, 0x80 | opcode, data, key(rng));
    match control {
        Control::Ping(_) => Ev::Ping(data.to_vec()),
        Control::Pong(_) => Ev::Pong(data.to_vec()),
    }
}

fn suffix(bytes: &[u8]) -> &[u8] {
    &bytes[bytes.len().saturating_sub(WINDOW)..]
}

/// Runs one input; panics on any broken invariant.
pub fn run_inflate(input: &InflateInput) -> InflateReport {
    let config = input.config();
    let offer = input.offer();
    let max = config.max_message_size;
    let max_frame = config.max_frame_size;

    // The opening handshake, offering permessage-deflate.
    let mut request = valid_request(false);
    request.truncate(request.len() - 2);
    request.extend_from_slice(format!("Sec-WebSocket-Extensions: {}\r\n\r\n", offer.to_header()).as_bytes());
    let mut conn = Connection::server(config.clone());
    let mut check = Checker::new(Role::Server, &config, false);
    check.receive(&mut conn, &request);
    assert_eq!(check.poll_one(&mut conn), Some(Ev::Request));
    conn.accept(Accept::new()).expect("accept");
    assert_eq!(check.poll_one(&mut conn), Some(Ev::Open));
    assert_eq!(check.poll_one(&mut conn), None);
    let agreed = agreement(conn.extensions(), &offer);
    let response = conn.pending_output().len();
    conn.advance_output(response);
    let recv_bits = agreed.client_max_window_bits.max(9);
    let server_resets = agreed.client_no_context_takeover;

    // The client's frames.
    let mut rng = XorShift::new(u64::from(input.mask_seed) | 1 << 40);
    let mut wire = Vec::new();
    let mut sent: Vec<Sent> = Vec::new();
    let mut controls: Vec<Ev> = Vec::new();
    let mut budget = DATA_BUDGET;
    let mut shared: Option<Compress> = None;
    let mut shared_history: Vec<u8> = Vec::new();
    for message in &input.messages {
        let opcode = if message.text { 0x1 } else { 0x2 };
        let (kind, data, payload, rsv) = match &message.body {
            Body::Raw(bytes) => (Kind::Raw, Vec::new(), bytes.clone(), 0x40),
            Body::Plain(data) => {
                let data = data.bytes(max, &mut budget);
                (Kind::Plain, data.clone(), data, 0)
            }
            Body::Deflated {
                data,
                level,
                shared: use_shared,
                window,
                tail,
            } => {
                let data = data.bytes(max, &mut budget);
                let level = Compression::new(u32::from(level % 10));
                // A final block ends the compressor's stream: fresh only.
                let fresh = !use_shared || *tail == Tail::Final;
                let window = match window {
                    Some(n) if fresh => 9 + n % 7,
                    _ => recv_bits,
                };
                let (payload, context) = if fresh {
                    let mut compress = Compress::new_with_window_bits(level, false, window);
                    (deflate(&mut compress, &data, *tail), Vec::new())
                } else {
                    let compress =
                        shared.get_or_insert_with(|| Compress::new_with_window_bits(level, false, recv_bits));
                    let context = suffix(&shared_history).to_vec();
                    let payload = deflate(compress, &data, *tail);
                    shared_history.extend_from_slice(&data);
                    let keep = shared_history.len().saturating_sub(WINDOW);
                    shared_history.drain(..keep);
                    if server_resets && input.honor_no_context {
                        shared = None;
                        shared_history.clear();
                    }
                    (payload, context)
                };
                let kind = Kind::Deflated {
                    fresh,
                    context,
                    may_be_refused: window > recv_bits || *tail == Tail::Final,
                    odd_tail: *tail != Tail::Strip,
                };
                (kind, data, payload, 0x40)
            }
            Body::Violation(v) => {
                let k = key(&mut rng);
                match v {
                    Violation::Rsv1OnContinuation => {
                        frame(&mut wire, 0x40 | 0x2, &[], k);
                        frame(&mut wire, 0x80 | 0x40, &[], k);
                    }
                    Violation::Rsv1OnControl => frame(&mut wire, 0x80 | 0x40 | 0x9, &[], k),
                    Violation::Rsv2 => frame(&mut wire, 0x80 | 0x20 | 0x2, &[], k),
                    Violation::Rsv3 => frame(&mut wire, 0x80 | 0x10 | 0x2, &[], k),
                }
                sent.push(Sent {
                    text: message.text,
                    kind: Kind::Violation,
                    data: Vec::new(),
                    wire_too_big: false,
                    frames: 1,
                });
                continue;
            }
        };
        let mut cuts: Vec<usize> = message
            .cuts
            .iter()
            .take(16)
            .map(|&c| usize::from(c) % (payload.len() + 1))
            .collect();
        cuts.sort_unstable();
        let mut bounds = vec![0];
        bounds.extend_from_slice(&cuts);
        bounds.push(payload.len());
        let frames = bounds.len() - 1;
        let mut before: Vec<Vec<&Control>> = vec![Vec::new(); frames + 1];
        for (at, control) in message.controls.iter().take(4) {
            before[usize::from(*at) % (frames + 1)].push(control);
        }
        // A compressed message is held to its inflated size (RFC 7692 §8.1:
        // `data.len() > max`, checked where it is delivered), not its wire
        // bytes; a frame is held to `max_frame` either way.
        let mut wire_too_big = rsv == 0 && payload.len() > max;
        for (i, pair) in bounds.windows(2).enumerate() {
            for control in &before[i] {
                controls.push(control_frame(&mut wire, control, &mut rng));
            }
            let fin = if i + 1 == frames { 0x80 } else { 0 };
            let first = if i == 0 { rsv | opcode } else { 0 };
            let piece = &payload[pair[0]..pair[1]];
            wire_too_big |= piece.len() > max_frame;
            frame(&mut wire, fin | first, piece, key(&mut rng));
        }
        for control in &before[frames] {
            controls.push(control_frame(&mut wire, control, &mut rng));
        }
        sent.push(Sent {
            text: message.text,
            kind,
            data,
            wire_too_big,
            frames,
        });
    }
    if let Some(code) = input.close {
        frame(&mut wire, 0x88, &code.to_be_bytes(), key(&mut rng));
    }

    // Feed it in chunks, polling after each, metering the connection.
    heap::reset();
    let opened = check.events.len();
    for (i, piece) in chunks(&wire, input.chunk_seed).into_iter().enumerate() {
        heap::metered(|| {
            if (i + usize::from(input.chunk_seed)) % 2 == 0 {
                check.receive(&mut conn, piece);
            } else {
                check.receive_buffered(&mut conn, piece);
            }
        });
        drain(&mut check, &mut conn);
    }
    drain(&mut check, &mut conn);
    let peak_heap = heap::peak();
    if let Some(peak) = peak_heap {
        let bound = 2 * check.fed + 3 * max + (256 << 10);
        assert!(
            peak <= bound,
            "connection heap peaked at {peak} bytes, over {bound} (fed {}, max_message_size {max})",
            check.fed
        );
    }

    // Every event against what was sent.
    let events = crate::join_parts(&check.events[opened..]);
    let mut report = InflateReport {
        events: events.clone(),
        peak_heap,
        ..InflateReport::default()
    };
    let mut next = 0; // the next message expected
    let mut next_control = 0;
    // The server's inflater: at a block boundary, and what a reference
    // can reach (the last WINDOW bytes it inflated since its last reset).
    let mut boundary = true;
    let mut window: Vec<u8> = Vec::new();
    let mut terminal = false;
    for ev in &events {
        assert!(!terminal, "event after the end: {events:?}");
        match ev {
            Ev::Ping(_) | Ev::Pong(_) => {
                assert_eq!(controls.get(next_control), Some(ev), "control frames out of order");
                next_control += 1;
            }
            Ev::Text(_) | Ev::Binary(_) => {
                let (got, text) = match ev {
                    Ev::Text(t) => (t.as_bytes(), true),
                    Ev::Binary(b) => (&b[..], false),
                    _ => unreachable!(),
                };
                let m = sent
                    .get(next)
                    .unwrap_or_else(|| panic!("message {next} delivered but not sent"));
                assert_eq!(text, m.text, "message {next}: text {text}, sent as text {}", m.text);
                assert!(
                    got.len() <= max,
                    "message {next}: {} bytes over the limit {max}",
                    got.len()
                );
                assert!(
                    !m.wire_too_big,
                    "message {next} delivered although a frame or the payload is over the limits"
                );
                let known = m
                    .known(boundary, &window)
                    .unwrap_or_else(|| panic!("message {next} delivered despite its RSV bits"));
                if known != Known::Unknown {
                    assert_eq!(got.len(), m.data.len(), "message {next} ({known:?}): wrong length");
                    assert!(got == m.data, "message {next} ({known:?}): wrong content");
                    report.exact += 1;
                }
                match &m.kind {
                    Kind::Plain | Kind::Violation => {}
                    Kind::Raw | Kind::Deflated { .. } => {
                        if server_resets {
                            boundary = true;
                            window.clear();
                        } else {
                            boundary &= matches!(m.kind, Kind::Deflated { odd_tail: false, .. });
                            window.extend_from_slice(got);
                            let keep = window.len().saturating_sub(WINDOW);
                            window.drain(..keep);
                        }
                    }
                }
                match &m.kind {
                    Kind::Raw => report.raw += 1,
                    Kind::Deflated { fresh, context, .. } => {
                        report.deflated += 1;
                        if !fresh && !context.is_empty() {
                            report.shared_context += 1;
                        }
                    }
                    _ => {}
                }
                if m.frames > 1 {
                    report.fragmented += 1;
                }
                next += 1;
            }
            Ev::Failed(why) => {
                terminal = true;
                let code = check.failure_code.unwrap_or_else(|| panic!("{why}: no close code"));
                report.failure = Some(code);
                let allowed: Vec<u16> = match sent.get(next) {
                    None => {
                        let close = input
                            .close
                            .expect("failed after the last message without a close frame");
                        assert!(!CloseCode(close).is_sendable(), "close code {close} refused: {why}");
                        vec![1002]
                    }
                    Some(m) => {
                        report.bomb_refused = code == 1009
                            && !m.wire_too_big
                            && m.data.len() > max
                            && matches!(m.kind, Kind::Deflated { .. });
                        allowed_codes(m, max, boundary, &window)
                    }
                };
                assert!(
                    allowed.contains(&code),
                    "message {next} failed with {code} ({why}), allowed {allowed:?}: {:?}",
                    sent.get(next).map(|m| (&m.kind, m.text, m.data.len(), m.wire_too_big)),
                );
                // §7.1.7: the failure is reported to the peer.
                let out = conn.pending_output();
                let [.., 0x88, 0x02, hi, lo] = out else {
                    panic!("failed with {code} but no close frame queued: {out:02x?}");
                };
                assert_eq!(u16::from_be_bytes([*hi, *lo]), code, "close frame code");
            }
            Ev::Close(code, _) => {
                terminal = true;
                assert_eq!(next, sent.len(), "close before message {next} was delivered");
                assert_eq!(*code, input.close, "close code");
            }
            Ev::Request | Ev::Open => panic!("{ev:?} after the handshake"),
            Ev::TextPart(..) | Ev::BinaryPart(..) => unreachable!("parts are joined"),
        }
    }
    if !terminal {
        assert_eq!(
            next,
            sent.len(),
            "message {next} neither delivered nor refused: {events:?}"
        );
        assert_eq!(input.close, None, "close frame ignored");
        assert_eq!(conn.ready_state(), ReadyState::Open);
    }
    if !terminal || matches!(events.last(), Some(Ev::Close(..))) {
        assert_eq!(next_control, controls.len(), "control frames lost");
    }
    report
}

/// Polls every event, metering `poll_event` but not the owned copy.
fn drain(check: &mut Checker, conn: &mut Connection) {
    loop {
        heap::set(true);
        let event = conn.poll_event();
        heap::set(false);
        let Some(event) = event else { break };
        let code = match &event {
            Event::Failed(e) => e.close_code().map(|c| c.0),
            _ => None,
        };
        let ev = own(event);
        check.record(conn, ev, code);
    }
    check.check_output(conn);
}

fn known(boundary: bool, fresh: bool, context: &[u8], window: &[u8], may_be_refused: bool) -> Known {
    if !boundary {
        return Known::Unknown;
    }
    // References reach only into the message itself (fresh), or into a
    // context the server holds too. Into an empty window they cannot
    // resolve at all, which the inflater must refuse (1007).
    let references = if fresh || context == suffix(window) {
        Known::Exact
    } else if window.is_empty() {
        Known::ExactOrCorrupt
    } else {
        Known::Unknown
    };
    match references {
        Known::Exact if may_be_refused => Known::ExactOrCorrupt,
        other => other,
    }
}

/// The close codes message `m` may fail with (empty: it must be delivered).
fn allowed_codes(m: &Sent, max: usize, boundary: bool, window: &[u8]) -> Vec<u16> {
    let Some(known) = m.known(boundary, window) else {
        return vec![1002];
    };
    let mut codes = Vec::new();
    if known == Known::Unknown {
        return vec![1007, 1009];
    }
    if m.wire_too_big || m.data.len() > max {
        codes.push(1009);
    }
    if known == Known::ExactOrCorrupt || (m.text && std::str::from_utf8(&m.data).is_err()) {
        codes.push(1007);
    }
    codes
}
