//! Shared pieces of the fuzz targets: the test kit's deterministic mask
//! source (`rfc6455::testkit`), owned events, an invariant checker, chunking derived from the input, and the
//! structured engine harness used by `server_engine` and `client_engine`;
//! the `inflate` target's harness in [`inflate`], and a metering allocator
//! in [`heap`].
//!
//! Nothing here reads a clock or an RNG, so every input replays exactly.

use arbitrary::Arbitrary;
use core::time::Duration;
use rfc6455::connection::Event;
use rfc6455::{Accept, ClientRequest, CloseCode, Config, Connection, MaskSource, ReadyState, Role};

pub mod heap;
pub mod inflate;

// ---------------------------------------------------------------- masks

/// The kit's xorshift64*: deterministic masking keys and handshake nonces.
pub use rfc6455::testkit::XorShift;

/// The seed every target masks with, so a client's handshake key is fixed
/// (the committed 101 seeds carry the matching `Sec-WebSocket-Accept`).
pub const MASK_SEED: u64 = rfc6455::testkit::SEED;

pub fn masks() -> Box<dyn MaskSource> {
    Box::new(XorShift::new(MASK_SEED))
}

// ---------------------------------------------------------------- requests

/// The client request of `client_handshake` and `driver`: two subprotocols
/// and an extension offered, so negotiation paths are reachable.
pub fn fuzz_request(variant: u8) -> ClientRequest {
    let mut request = ClientRequest::new("example.com", "/chat?room=1");
    if variant & 1 != 0 {
        request = request.protocol("chat").protocol("superchat");
    }
    if variant & 2 != 0 {
        request = request.extension("permessage-deflate; client_max_window_bits");
    }
    if variant & 4 != 0 {
        request = request.require_protocol(true);
    }
    request
}

/// The `Sec-WebSocket-Key` of a queued client request.
pub fn request_key(request_bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(request_bytes);
    text.lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("client request without Sec-WebSocket-Key")
        .trim()
        .to_owned()
}

/// A valid 101 answer to a request whose key is `key`.
pub fn response_for(key: &str, protocol: Option<&str>) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        rfc6455::handshake::accept_key(key.as_bytes())
    );
    if let Some(p) = protocol {
        out.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// A valid client request, as a browser would send it.
pub fn valid_request(protocols: bool) -> Vec<u8> {
    let mut out = String::from(
        "GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\n",
    );
    if protocols {
        out.push_str("Sec-WebSocket-Protocol: chat, superchat\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

// ---------------------------------------------------------------- events

/// An owned mirror of [`Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Request,
    Open,
    Text(String),
    Binary(Vec<u8>),
    /// A part of a message (`Config::stream_messages`) and whether it is
    /// the last.
    TextPart(String, bool),
    BinaryPart(Vec<u8>, bool),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Failed(String),
}

/// `events` with each message received in parts joined into the whole
/// message, as a connection without `Config::stream_messages` reports it
/// (control frames between the parts come first); the parts of a message
/// never ended are dropped, as such a connection never reports it.
pub fn join_parts(events: &[Ev]) -> Vec<Ev> {
    let mut joined = Vec::new();
    let mut message: Option<Ev> = None;
    for event in events {
        let (bytes, text, last) = match event {
            Ev::TextPart(t, last) => (t.as_bytes(), true, *last),
            Ev::BinaryPart(b, last) => (&b[..], false, *last),
            other => {
                joined.push(other.clone());
                continue;
            }
        };
        let so_far = message.get_or_insert_with(|| match text {
            true => Ev::Text(String::new()),
            false => Ev::Binary(Vec::new()),
        });
        match so_far {
            Ev::Text(t) => t.push_str(core::str::from_utf8(bytes).expect("a text part")),
            Ev::Binary(b) => b.extend_from_slice(bytes),
            _ => unreachable!(),
        }
        assert_eq!(
            text,
            matches!(so_far, Ev::Text(_)),
            "parts of both kinds in one message"
        );
        if last {
            joined.extend(message.take());
        }
    }
    joined
}

pub fn own(event: Event<'_>) -> Ev {
    match event {
        Event::Request(_) => Ev::Request,
        Event::Open => Ev::Open,
        Event::Text(t) => Ev::Text(t.to_owned()),
        Event::Binary(b) => Ev::Binary(b.to_vec()),
        Event::TextPart { text, last } => Ev::TextPart(text.to_owned(), last),
        Event::BinaryPart { data, last } => Ev::BinaryPart(data.to_vec(), last),
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close(f) => Ev::Close(f.code.map(|c| c.0), f.reason.to_owned()),
        Event::Failed(e) => Ev::Failed(format!("{e:?}")),
        other => panic!("unexpected {other:?}"),
    }
}

// ---------------------------------------------------------------- checker

/// Checks the invariants of one connection's event stream and output.
#[derive(Debug)]
pub struct Checker {
    pub role: Role,
    pub max_message_size: usize,
    /// Frames flow from the start (established connection).
    pub opened: bool,
    pub requested: bool,
    /// A `Close` or `Failed` event was seen: nothing may follow.
    pub terminal: bool,
    /// Bytes handed to the connection.
    pub fed: usize,
    /// Payload bytes given to `send_*`, plus a per-call allowance.
    pub sent: usize,
    pub events: Vec<Ev>,
    /// The close code of the `Failed` event, if there was one.
    pub failure_code: Option<u16>,
    /// Bytes of the message arriving in parts so far.
    pub in_parts: usize,
}

impl Checker {
    pub fn new(role: Role, config: &Config, established: bool) -> Self {
        Self {
            role,
            max_message_size: config.max_message_size,
            opened: established,
            requested: false,
            terminal: false,
            fed: 0,
            sent: 0,
            events: Vec::new(),
            failure_code: None,
            in_parts: 0,
        }
    }

    /// Hands `data` to the connection with `receive`.
    pub fn receive(&mut self, conn: &mut Connection, data: &[u8]) {
        self.fed += data.len();
        conn.receive(data);
    }

    /// Hands `data` to the connection through `read_buffer`/`commit_read`.
    pub fn receive_buffered(&mut self, conn: &mut Connection, mut data: &[u8]) {
        self.fed += data.len();
        while !data.is_empty() {
            let buf = conn.read_buffer();
            assert!(!buf.is_empty(), "read_buffer offered no room");
            let n = buf.len().min(data.len());
            buf[..n].copy_from_slice(&data[..n]);
            conn.commit_read(n);
            data = &data[n..];
        }
    }

    /// Polls one event; `None` when there is none.
    pub fn poll_one(&mut self, conn: &mut Connection) -> Option<Ev> {
        let event = conn.poll_event()?;
        let code = match &event {
            Event::Failed(e) => e.close_code().map(|c| c.0),
            _ => None,
        };
        let ev = own(event);
        self.record(conn, ev.clone(), code);
        Some(ev)
    }

    /// Checks and keeps an event polled elsewhere; `code` is a `Failed`
    /// event's `Error::close_code`.
    pub fn record(&mut self, conn: &Connection, ev: Ev, code: Option<u16>) {
        self.check_event(conn, &ev);
        if matches!(ev, Ev::Failed(_)) {
            self.failure_code = code;
        }
        self.events.push(ev);
    }

    /// Polls until `poll_event` returns `None`, which must happen within a
    /// number of events bounded by the bytes fed.
    pub fn drain(&mut self, conn: &mut Connection) {
        while self.poll_one(conn).is_some() {}
        self.check_output(conn);
    }

    fn check_event(&mut self, conn: &Connection, ev: &Ev) {
        assert!(
            !self.terminal,
            "event {ev:?} after a Close or Failed event: {:?}",
            self.events
        );
        // Every event but Request/Open/Failed consumes at least a 2-byte
        // frame header, so more events than bytes means a livelock.
        assert!(
            self.events.len() <= self.fed + 8,
            "{} events from {} bytes: poll_event does not settle",
            self.events.len(),
            self.fed
        );
        match ev {
            Ev::Request => {
                assert_eq!(self.role, Role::Server, "Request event on a client");
                assert!(!self.requested && !self.opened, "second Request event");
                assert_eq!(conn.ready_state(), ReadyState::Connecting);
                assert!(conn.request().is_some(), "Request event but request() is None");
                self.requested = true;
            }
            Ev::Open => {
                assert!(!self.opened, "second Open event");
                if self.role == Role::Server {
                    assert!(self.requested, "Open before Request on a server");
                }
                self.opened = true;
            }
            Ev::Text(_) | Ev::Binary(_) | Ev::Ping(_) | Ev::Pong(_) => {
                assert!(self.opened, "{ev:?} before Open");
                // Control payloads are bounded by §5.5, messages by the config.
                let len = match ev {
                    Ev::Text(t) => t.len(),
                    Ev::Binary(b) => b.len(),
                    Ev::Ping(p) | Ev::Pong(p) => {
                        assert!(p.len() <= 125, "control payload of {} bytes", p.len());
                        0
                    }
                    _ => unreachable!(),
                };
                assert!(
                    len <= self.max_message_size,
                    "message of {len} bytes over the limit {}",
                    self.max_message_size
                );
            }
            Ev::TextPart(_, last) | Ev::BinaryPart(_, last) => {
                assert!(self.opened, "{ev:?} before Open");
                let len = match ev {
                    Ev::TextPart(t, _) => t.len(),
                    Ev::BinaryPart(b, _) => b.len(),
                    _ => unreachable!(),
                };
                // The limit holds for the message, not each part.
                self.in_parts += len;
                assert!(
                    self.in_parts <= self.max_message_size,
                    "message of {} bytes in parts over the limit {}",
                    self.in_parts,
                    self.max_message_size
                );
                if *last {
                    self.in_parts = 0;
                }
            }
            Ev::Close(code, reason) => {
                assert!(self.opened, "Close before Open");
                if let Some(code) = code {
                    assert!(
                        CloseCode(*code).is_sendable(),
                        "Close event with unsendable code {code}"
                    );
                }
                assert!(reason.len() <= 123, "close reason of {} bytes", reason.len());
                assert_eq!(conn.ready_state(), ReadyState::Closed, "after Close");
                assert!(conn.is_closed_cleanly(), "Close event but not closed cleanly");
                self.terminal = true;
            }
            Ev::Failed(_) => {
                assert_eq!(conn.ready_state(), ReadyState::Closed, "after Failed");
                assert!(!conn.is_closed_cleanly(), "Failed but closed cleanly");
                assert!(
                    conn.should_close_transport(),
                    "Failed but should_close_transport is false"
                );
                self.terminal = true;
            }
        }
    }

    /// Output can only come from the handshake, our sends, pongs echoing
    /// pings (at most 3x their size), close replies and keepalive pings.
    pub fn check_output(&self, conn: &Connection) {
        let bound = 4096 + 4 * self.fed + self.sent;
        let pending = conn.pending_output().len();
        assert!(pending <= bound, "pending output {pending} over the bound {bound}");
    }
}

// ---------------------------------------------------------------- chunking

/// Cuts `data` into reads, with sizes drawn from a PRNG seeded by the
/// input: mostly small reads (header splits), sometimes large ones.
pub fn chunks(data: &[u8], seed: u8) -> Vec<&[u8]> {
    if seed == 0 {
        return if data.is_empty() { Vec::new() } else { vec![data] };
    }
    let mut rng = XorShift::new(u64::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = match rng.below(4) {
            0 => 1,
            1 => 1 + rng.below(4),
            2 => 1 + rng.below(32),
            _ => 1 + rng.below(1024),
        }
        .min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// Small limits chosen by a byte, so the limit paths are reachable.
pub fn config_from_byte(b: u8) -> Config {
    const FRAME: [usize; 4] = [125, 1024, 16 << 10, 64 << 10];
    const MESSAGE: [usize; 4] = [126, 4096, 32 << 10, 64 << 10];
    const CHUNK: [usize; 2] = [1, 8 << 10];
    Config::default()
        .max_frame_size(FRAME[usize::from(b & 3)])
        .max_message_size(MESSAGE[usize::from((b >> 2) & 3)])
        .max_handshake_size(if b & 0x10 != 0 { 512 } else { 16 << 10 })
        .max_headers(if b & 0x10 != 0 { 8 } else { 64 })
        .auto_pong(b & 0x20 == 0)
        .echo_close_reason(b & 0x40 != 0)
        .handshake_timeout(None)
        .close_timeout(None)
        .keepalive_interval(None)
        .read_chunk(CHUNK[usize::from(b >> 7)])
}

// ---------------------------------------------------------------- engine

/// Limits and timers of an engine run.
#[derive(Arbitrary, Debug, Clone)]
pub struct FuzzConfig {
    pub max_frame: Size,
    pub max_message: Size,
    pub auto_pong: bool,
    pub echo_close_reason: bool,
    pub handshake_timeout_ms: Option<u16>,
    pub close_timeout_ms: Option<u16>,
    pub keepalive_ms: Option<u16>,
    pub read_chunk: Size,
    pub stream_messages: bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Size {
    Tiny,
    Small,
    Max,
    Exact(u16),
}

impl Size {
    fn bytes(self) -> usize {
        match self {
            Size::Tiny => 125,
            Size::Small => 1024,
            Size::Max => 64 << 10,
            Size::Exact(n) => usize::from(n),
        }
    }
}

fn ms(v: Option<u16>) -> Option<Duration> {
    // Zero-length timers are degenerate; keep every timer at least 1 ms.
    v.map(|ms| Duration::from_millis(u64::from(ms.max(1))))
}

impl FuzzConfig {
    pub fn to_config(&self) -> Config {
        Config::default()
            .max_frame_size(self.max_frame.bytes())
            .max_message_size(self.max_message.bytes())
            .auto_pong(self.auto_pong)
            .echo_close_reason(self.echo_close_reason)
            .handshake_timeout(ms(self.handshake_timeout_ms))
            .close_timeout(ms(self.close_timeout_ms))
            .keepalive_interval(ms(self.keepalive_ms))
            .read_chunk(self.read_chunk.bytes())
            .stream_messages(self.stream_messages)
    }
}

/// How the connection under test gets past the handshake.
#[derive(Arbitrary, Debug, Clone)]
pub enum Start {
    /// `Connection::established_with_masks` with these bytes already read.
    Established { already_read: Vec<u8> },
    /// A real opening handshake with the reference peer (which negotiates
    /// whatever the default `Config` enables, e.g. permessage-deflate);
    /// `trailing` arrives with the peer's handshake bytes.
    Handshake {
        offer_protocols: bool,
        select_protocol: bool,
        trailing: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    /// Raw bytes through `receive`.
    Feed(Vec<u8>),
    /// Raw bytes through `read_buffer`/`commit_read`.
    FeedBuffered(Vec<u8>),
    /// A frame built from fields, possibly malformed.
    Frame(FrameSpec),
    /// The same frame `count` times (cheap floods and fragment runs).
    Repeat {
        count: u8,
        frame: FrameSpec,
    },
    /// Poll up to this many events (0: until `None`).
    Poll(u8),
    SendText(String),
    SendBinary(Vec<u8>),
    /// One frame of a fragmented message we send; the harness keeps the
    /// sequence valid (first frame Text/Binary, then Continuation).
    SendFragment {
        text: bool,
        data: String,
        fin: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close {
        code: u16,
        reason: String,
    },
    CloseNormal,
    /// Advance the clock by this many milliseconds.
    Advance(u16),
    /// Advance the clock to the next deadline.
    AdvanceToDeadline,
    /// Write (and log) up to this many bytes of output.
    WriteOutput(u16),
    /// The reference peer sends a message (compressed when the handshake
    /// negotiated permessage-deflate); its frames are fed in.
    PeerSend {
        text: bool,
        data: String,
    },
    /// The reference peer sends a ping.
    PeerPing(Vec<u8>),
    /// The reference peer starts the close handshake.
    PeerClose(u16),
    /// The peer closed its side of the transport.
    Eof,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct FrameSpec {
    pub fin: bool,
    pub rsv: Rsv,
    pub opcode: Opcode,
    pub mask: MaskMode,
    pub length: LengthEncoding,
    pub payload: Payload,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Rsv {
    Clear,
    Bits(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
    Raw(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum MaskMode {
    /// Masked iff the receiver is a server, as §5.1 requires.
    Proper([u8; 4]),
    /// The opposite.
    Wrong([u8; 4]),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum LengthEncoding {
    Minimal,
    /// 126 + 16-bit length (non-minimal below 126).
    Ext16,
    /// 127 + 64-bit length (non-minimal below 65536).
    Ext64,
    /// Minimal encoding of this declared length, whatever the payload.
    Declared(u64),
    /// Only the first `n` bytes of the frame.
    Truncated(u16),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Payload {
    Bytes(Vec<u8>),
    Text(String),
    Close {
        code: u16,
        reason: String,
    },
    /// `len` copies of `byte`: reaches the size limits cheaply.
    Fill {
        byte: u8,
        len: u16,
    },
}

impl Payload {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Payload::Bytes(b) => b.clone(),
            Payload::Text(t) => t.as_bytes().to_vec(),
            Payload::Close { code, reason } => {
                let mut v = code.to_be_bytes().to_vec();
                v.extend_from_slice(reason.as_bytes());
                v
            }
            Payload::Fill { byte, len } => vec![*byte; usize::from(*len)],
        }
    }
}

impl FrameSpec {
    /// The frame's bytes as a peer of `receiver` would send them.
    pub fn encode(&self, receiver: Role) -> Vec<u8> {
        let opcode = match self.opcode {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xa,
            Opcode::Raw(b) => b & 0xf,
        };
        let rsv = match self.rsv {
            Rsv::Clear => 0,
            Rsv::Bits(b) => b & 7,
        };
        let payload = self.payload.bytes();
        let (masked, key) = match self.mask {
            MaskMode::Proper(k) => (receiver == Role::Server, k),
            MaskMode::Wrong(k) => (receiver != Role::Server, k),
        };
        let mut out = vec![(u8::from(self.fin) << 7) | (rsv << 4) | opcode];
        let mask_bit = if masked { 0x80 } else { 0 };
        let len = payload.len() as u64;
        let push_minimal = |out: &mut Vec<u8>, len: u64| {
            if len < 126 {
                out.push(mask_bit | len as u8);
            } else if len <= 0xffff {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(mask_bit | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
        };
        match self.length {
            LengthEncoding::Minimal | LengthEncoding::Truncated(_) => push_minimal(&mut out, len),
            LengthEncoding::Ext16 if len <= 0xffff => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            LengthEncoding::Ext16 | LengthEncoding::Ext64 => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
            LengthEncoding::Declared(d) => push_minimal(&mut out, d),
        }
        if masked {
            out.extend_from_slice(&key);
        }
        let at = out.len();
        out.extend_from_slice(&payload);
        if masked {
            for (i, b) in out[at..].iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        if let LengthEncoding::Truncated(n) = self.length {
            out.truncate(usize::from(n));
        }
        out
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct EngineInput {
    pub config: FuzzConfig,
    pub start: Start,
    pub ops: Vec<Op>,
}

/// What an engine run reached (for seed selection and sanity checks).
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub events: Vec<Ev>,
    /// Messages the peer received from our output.
    pub peer_events: Vec<Ev>,
}

/// A message we sent successfully, as the peer must receive it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    Text(String),
    Binary(Vec<u8>),
}

fn other(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

fn take_output(conn: &mut Connection) -> Vec<u8> {
    let out = conn.pending_output().to_vec();
    conn.advance_output(out.len());
    out
}

/// The reference peer's masks differ from the connection under test's.
fn peer_masks() -> Box<dyn MaskSource> {
    Box::new(XorShift::new(MASK_SEED + 1))
}

/// Runs `input` against a connection in `role`, checking invariants after
/// every step, next to a reference peer with default settings. At the end
/// everything the connection wrote goes to the peer, which must accept it
/// and receive exactly the messages that were sent.
pub fn run_engine(role: Role, input: &EngineInput) -> Report {
    let config = input.config.to_config();
    let peer_role = other(role);
    let peer_config = Config::default();
    let mut now = Duration::ZERO;
    // Output written "on the wire" after the handshake.
    let mut wire: Vec<u8> = Vec::new();
    let mut check = Checker::new(role, &config, false);
    let mut peer_check = Checker::new(peer_role, &peer_config, false);
    let (mut conn, mut peer) = match &input.start {
        Start::Established { already_read } => {
            let mut conn = Connection::established_with_masks(role, config.clone(), &[], masks());
            let peer = Connection::established_with_masks(peer_role, peer_config.clone(), &[], peer_masks());
            check.opened = true;
            peer_check.opened = true;
            check.receive(&mut conn, already_read);
            (conn, peer)
        }
        Start::Handshake {
            offer_protocols,
            select_protocol,
            trailing,
        } => {
            let variant = u8::from(*offer_protocols);
            let choice = (*offer_protocols && *select_protocol).then_some("superchat");
            let accept = || choice.map_or_else(Accept::new, |p| Accept::new().protocol(p));
            match role {
                Role::Server => {
                    let mut peer =
                        Connection::client_with_masks(fuzz_request(variant), peer_config.clone(), peer_masks());
                    let mut conn = Connection::server(config.clone());
                    let mut bytes = take_output(&mut peer);
                    bytes.extend_from_slice(trailing);
                    check.receive(&mut conn, &bytes);
                    assert_eq!(
                        check.poll_one(&mut conn),
                        Some(Ev::Request),
                        "valid request not announced"
                    );
                    conn.accept(accept()).expect("accept failed");
                    assert_eq!(check.poll_one(&mut conn), Some(Ev::Open), "accepted but no Open");
                    let response = take_output(&mut conn);
                    assert!(response.starts_with(b"HTTP/1.1 101 "));
                    peer_check.receive(&mut peer, &response);
                    assert_eq!(
                        peer_check.poll_one(&mut peer),
                        Some(Ev::Open),
                        "our 101 refused by the peer"
                    );
                    (conn, peer)
                }
                Role::Client => {
                    let mut conn = Connection::client_with_masks(fuzz_request(variant), config.clone(), masks());
                    let mut peer = Connection::server(peer_config.clone());
                    let request = take_output(&mut conn);
                    peer_check.receive(&mut peer, &request);
                    assert_eq!(
                        peer_check.poll_one(&mut peer),
                        Some(Ev::Request),
                        "our request refused by the peer"
                    );
                    peer.accept(accept()).expect("accept failed");
                    assert_eq!(peer_check.poll_one(&mut peer), Some(Ev::Open));
                    let mut bytes = take_output(&mut peer);
                    bytes.extend_from_slice(trailing);
                    check.receive(&mut conn, &bytes);
                    assert_eq!(check.poll_one(&mut conn), Some(Ev::Open), "valid response refused");
                    (conn, peer)
                }
            }
        }
    };
    if matches!(input.start, Start::Handshake { .. }) {
        assert_eq!(
            conn.protocol(),
            peer.protocol(),
            "the two ends disagree on the subprotocol"
        );
        assert_eq!(
            conn.extensions(),
            peer.extensions(),
            "the two ends disagree on the extensions"
        );
    }

    let mut eof = false;
    let mut expected: Vec<Sent> = Vec::new();
    // A fragmented message we are sending: (text, payload so far).
    let mut fragment: Option<(bool, Vec<u8>)> = None;

    for op in &input.ops {
        let state = conn.ready_state();
        match op {
            Op::Feed(data) if !eof => check.receive(&mut conn, data),
            Op::FeedBuffered(data) if !eof => check.receive_buffered(&mut conn, data),
            Op::Frame(frame) if !eof => check.receive(&mut conn, &frame.encode(role)),
            Op::Repeat { count, frame } if !eof => {
                let bytes = frame.encode(role);
                for _ in 0..(*count % 32) {
                    check.receive(&mut conn, &bytes);
                }
            }
            Op::PeerSend { text, data } if !eof => {
                let r = if *text {
                    peer.send_text(data)
                } else {
                    peer.send_binary(data.as_bytes())
                };
                if r.is_ok() {
                    let bytes = take_output(&mut peer);
                    check.receive(&mut conn, &bytes);
                }
            }
            Op::PeerPing(data) if !eof => {
                if peer.ping(data).is_ok() {
                    let bytes = take_output(&mut peer);
                    check.receive(&mut conn, &bytes);
                }
            }
            Op::PeerClose(code) if !eof => {
                if peer.close(CloseCode(*code), "").is_ok() {
                    let bytes = take_output(&mut peer);
                    check.receive(&mut conn, &bytes);
                }
            }
            Op::Feed(_)
            | Op::FeedBuffered(_)
            | Op::Frame(_)
            | Op::Repeat { .. }
            | Op::PeerSend { .. }
            | Op::PeerPing(_)
            | Op::PeerClose(_) => {}
            Op::Poll(0) => check.drain(&mut conn),
            Op::Poll(n) => {
                for _ in 0..*n {
                    if check.poll_one(&mut conn).is_none() {
                        break;
                    }
                }
            }
            Op::SendText(text) if fragment.is_none() => {
                check.sent += text.len() + 16;
                let r = conn.send_text(text);
                assert_eq!(r.is_ok(), state == ReadyState::Open, "send_text in {state:?}: {r:?}");
                if r.is_ok() {
                    expected.push(Sent::Text(text.clone()));
                }
            }
            Op::SendBinary(data) if fragment.is_none() => {
                check.sent += data.len() + 16;
                let r = conn.send_binary(data);
                assert_eq!(r.is_ok(), state == ReadyState::Open, "send_binary in {state:?}: {r:?}");
                if r.is_ok() {
                    expected.push(Sent::Binary(data.clone()));
                }
            }
            Op::SendText(_) | Op::SendBinary(_) => {}
            Op::SendFragment { text, data, fin } => {
                check.sent += data.len() + 16;
                let (opcode, text) = match &fragment {
                    Some((t, _)) => (rfc6455::OpCode::Continuation, *t),
                    None if *text => (rfc6455::OpCode::Text, true),
                    None => (rfc6455::OpCode::Binary, false),
                };
                let r = conn.send_frame(opcode, data.as_bytes(), *fin);
                assert_eq!(r.is_ok(), state == ReadyState::Open, "send_frame in {state:?}: {r:?}");
                if r.is_ok() {
                    let acc = &mut fragment.get_or_insert_with(|| (text, Vec::new())).1;
                    acc.extend_from_slice(data.as_bytes());
                    if *fin {
                        let (text, acc) = fragment.take().unwrap();
                        expected.push(if text {
                            Sent::Text(String::from_utf8(acc).expect("fragments of strings"))
                        } else {
                            Sent::Binary(acc)
                        });
                    }
                }
            }
            Op::Ping(data) | Op::Pong(data) => {
                check.sent += data.len() + 16;
                let r = match op {
                    Op::Ping(_) => conn.ping(data),
                    _ => conn.pong(data),
                };
                let ok = state == ReadyState::Open && data.len() <= 125;
                assert_eq!(r.is_ok(), ok, "ping/pong of {} in {state:?}: {r:?}", data.len());
            }
            Op::Close { code, reason } => {
                check.sent += reason.len() + 16;
                let r = conn.close(CloseCode(*code), reason);
                let valid = CloseCode(*code).is_sendable() && reason.len() <= 123;
                assert_eq!(r.is_ok(), valid, "close({code}, {} bytes): {r:?}", reason.len());
                if valid {
                    let after = conn.ready_state();
                    match state {
                        ReadyState::Open => assert_eq!(after, ReadyState::Closing),
                        ReadyState::Connecting => assert_eq!(after, ReadyState::Closed),
                        _ => assert_eq!(after, state),
                    }
                }
            }
            Op::CloseNormal => {
                check.sent += 16;
                conn.close(CloseCode::NORMAL, "bye").expect("close(1000) refused");
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(*ms));
                tick(&mut conn, now);
            }
            Op::AdvanceToDeadline => {
                if let Some(deadline) = conn.poll_timeout() {
                    now = now.max(deadline);
                    tick(&mut conn, now);
                }
            }
            Op::WriteOutput(n) => {
                let pending = conn.pending_output();
                let n = usize::from(*n).min(pending.len());
                wire.extend_from_slice(&pending[..n]);
                conn.advance_output(n);
            }
            Op::Eof => {
                eof = true;
                conn.receive_eof();
            }
        }
        check.check_output(&conn);
        if check.terminal {
            assert_eq!(conn.ready_state(), ReadyState::Closed);
        }
    }
    check.drain(&mut conn);
    wire.extend_from_slice(conn.pending_output());

    // Everything we wrote must be valid frames for the peer, carrying
    // exactly the messages we sent.
    peer_check.receive(&mut peer, &wire);
    peer_check.drain(&mut peer);
    for ev in &peer_check.events {
        assert!(
            !matches!(ev, Ev::Failed(_)),
            "the peer failed on our output: {ev:?}\nwire: {wire:02x?}"
        );
    }
    let received: Vec<Sent> = peer_check
        .events
        .iter()
        .filter_map(|ev| match ev {
            Ev::Text(t) => Some(Sent::Text(t.clone())),
            Ev::Binary(b) => Some(Sent::Binary(b.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(received, expected, "the peer received other messages than we sent");

    Report {
        events: check.events,
        peer_events: peer_check.events,
    }
}

/// `handle_timeout`, then: no deadline may be left in the past.
fn tick(conn: &mut Connection, now: Duration) {
    conn.handle_timeout(now);
    if let Some(deadline) = conn.poll_timeout() {
        assert!(
            deadline > now,
            "deadline {deadline:?} not after now {now:?} after handle_timeout"
        );
    }
}
