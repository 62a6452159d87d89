//! A deterministic two-peer harness, in the spirit of quinn's in-memory
//! `Pair`: a client [`Connection`] and a server [`Connection`] wired back to
//! back, a fake clock, configurable chunking of the bytes in flight, owned
//! copies of every event, and builders for hand-made frames.
//!
//! Nothing here reads a real clock or a real RNG: the client masks with a
//! seeded xorshift, so every run produces the same bytes.

#![allow(dead_code)]

pub use rfc6455::error::{HandshakeError, Limit, ProtocolError, Timeout};
use rfc6455::{Accept, ClientRequest, Config, Connection, Error, Event, MaskSource, ReadyState, Role};
use std::time::Duration;

// ---------------------------------------------------------------- opcodes

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xa;

/// Opcodes RFC 6455 §5.2 reserves.
pub const RESERVED_OPCODES: [u8; 10] = [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf];

pub const ROLES: [Role; 2] = [Role::Client, Role::Server];

/// The other end.
pub fn peer_of(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub const NANO: Duration = Duration::from_nanos(1);

// ---------------------------------------------------------------- masks

/// A deterministic [`MaskSource`]: xorshift64*. Not a CSPRNG, which is the
/// point: tests get the same client bytes on every run.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl MaskSource for XorShift {
    fn fill(&mut self, dest: &mut [u8]) {
        for byte in dest {
            *byte = (self.next_u64() >> 56) as u8;
        }
    }
}

pub const SEED: u64 = 0x5eed_6455;

pub fn masks(seed: u64) -> Box<dyn MaskSource> {
    Box::new(XorShift::new(seed))
}

// ---------------------------------------------------------------- events

/// An owned mirror of [`Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Request {
        target: String,
        protocols: Vec<String>,
    },
    Open,
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The received code (`None`: empty close payload) and reason.
    Close(Option<u16>, String),
    /// The error's close code and which failure it was.
    Failed(Option<u16>, Fault),
}

impl Ev {
    pub fn text(s: &str) -> Self {
        Ev::Text(s.to_owned())
    }

    pub fn close(code: u16, reason: &str) -> Self {
        Ev::Close(Some(code), reason.to_owned())
    }

    pub fn request(target: &str) -> Self {
        Ev::Request {
            target: target.to_owned(),
            protocols: Vec::new(),
        }
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Ev::Failed(..))
    }
}

pub fn own(event: Event<'_>) -> Ev {
    match event {
        Event::Request(r) => Ev::Request {
            target: r.target().to_owned(),
            protocols: r.protocols().to_vec(),
        },
        Event::Open => Ev::Open,
        Event::Text(t) => Ev::Text(t.to_owned()),
        Event::Binary(b) => Ev::Binary(b.to_vec()),
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close(frame) => Ev::Close(frame.code.map(|c| c.0), frame.reason.to_owned()),
        Event::Failed(e) => Ev::Failed(e.close_code().map(|c| c.0), Fault::from(&e)),
    }
}

/// An [`Error`] as a value tests can compare: the variant and its data
/// (I/O errors by kind; misuse and anything else by its `Debug` form,
/// since no test here expects one from a peer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Protocol(ProtocolError),
    Limit(Limit, u64, usize),
    Handshake(HandshakeError),
    Timeout(Timeout),
    UnexpectedEof,
    ClosedBeforeOpen,
    Io(std::io::ErrorKind),
    Other(String),
}

impl From<&Error> for Fault {
    fn from(e: &Error) -> Self {
        match e {
            Error::Protocol(p) => Fault::Protocol(*p),
            Error::LimitExceeded { kind, len, max } => Fault::Limit(*kind, *len, *max),
            Error::Handshake(h) => Fault::Handshake(h.clone()),
            Error::Timeout(t) => Fault::Timeout(*t),
            Error::UnexpectedEof => Fault::UnexpectedEof,
            Error::ClosedBeforeOpen => Fault::ClosedBeforeOpen,
            Error::Io(io) => Fault::Io(io.kind()),
            other => Fault::Other(format!("{other:?}")),
        }
    }
}

/// Asserts that `events` end with exactly one failure, reported with close
/// code `code`; returns which failure it was.
#[track_caller]
pub fn assert_fails_with(events: &[Ev], code: u16) -> Fault {
    let failures: Vec<&Ev> = events.iter().filter(|e| e.is_failure()).collect();
    assert_eq!(failures.len(), 1, "expected exactly one failure in {events:?}");
    match events.last() {
        Some(Ev::Failed(Some(c), error)) if *c == code => error.clone(),
        _ => panic!("expected the events to end with a failure with code {code}, got {events:?}"),
    }
}

// ---------------------------------------------------------------- chunking

/// How a batch of bytes in flight is cut into the reads the receiver sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunking {
    /// One read per batch.
    Whole,
    /// Reads of at most this many bytes.
    Size(usize),
    /// Cut at these offsets into each batch (offsets outside the batch are
    /// ignored).
    At(Vec<usize>),
}

impl Chunking {
    pub fn split<'a>(&self, bytes: &'a [u8]) -> Vec<&'a [u8]> {
        match self {
            Chunking::Whole => vec![bytes],
            Chunking::Size(k) => bytes.chunks((*k).max(1)).collect(),
            Chunking::At(cuts) => {
                let mut cuts: Vec<usize> = cuts.iter().copied().filter(|&c| c > 0 && c < bytes.len()).collect();
                cuts.sort_unstable();
                cuts.dedup();
                let mut pieces = Vec::new();
                let mut prev = 0;
                for cut in cuts.into_iter().chain([bytes.len()]) {
                    pieces.push(&bytes[prev..cut]);
                    prev = cut;
                }
                pieces
            }
        }
    }
}

/// How bytes are handed to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// [`Connection::receive`].
    Receive,
    /// [`Connection::read_buffer`] + [`Connection::commit_read`].
    ReadBuffer,
}

/// What a server peer does with an [`Event::Request`].
#[derive(Debug, Clone)]
pub enum Decision {
    Accept(Accept),
    Reject(u16),
    /// Leave it to the test.
    Manual,
}

// ---------------------------------------------------------------- peers

/// One end of the pair.
pub struct Peer {
    pub conn: Connection,
    /// Every event this peer reported, owned, in order.
    pub events: Vec<Ev>,
    /// How this peer's output is cut on its way to the other peer.
    pub chunking: Chunking,
    /// How bytes from the other peer are handed to this one.
    pub delivery: Delivery,
    /// What to do with a request (server only).
    pub decision: Decision,
    /// Every byte this peer wrote, in order.
    pub sent: Vec<u8>,
    /// Whether the other peer closed the transport (EOF delivered here).
    pub eof: bool,
}

impl Peer {
    pub fn new(conn: Connection) -> Self {
        Self {
            conn,
            events: Vec::new(),
            chunking: Chunking::Whole,
            delivery: Delivery::Receive,
            decision: Decision::Accept(Accept::new()),
            sent: Vec::new(),
            eof: false,
        }
    }

    /// Hands bytes to the connection, without polling.
    pub fn deliver(&mut self, mut bytes: &[u8]) {
        match self.delivery {
            Delivery::Receive => self.conn.receive(bytes),
            Delivery::ReadBuffer => {
                while !bytes.is_empty() {
                    let buf = self.conn.read_buffer();
                    assert!(!buf.is_empty(), "read_buffer offered no room");
                    let n = buf.len().min(bytes.len());
                    buf[..n].copy_from_slice(&bytes[..n]);
                    self.conn.commit_read(n);
                    bytes = &bytes[n..];
                }
            }
        }
    }

    /// Polls until `None`, logging and returning the new events; applies
    /// [`Peer::decision`] to a request.
    pub fn poll(&mut self) -> Vec<Ev> {
        let mut new = Vec::new();
        for _ in 0..100_000 {
            let Some(event) = self.conn.poll_event().map(own) else {
                self.events.extend(new.iter().cloned());
                return new;
            };
            let is_request = matches!(event, Ev::Request { .. });
            new.push(event);
            if is_request {
                match self.decision.clone() {
                    Decision::Accept(accept) => self.conn.accept(accept).expect("accept"),
                    Decision::Reject(status) => self.conn.reject(status).expect("reject"),
                    Decision::Manual => {}
                }
            }
        }
        panic!("poll_event never returned None; events so far: {new:?}");
    }

    /// Takes the pending output, as written to the transport.
    pub fn take_output(&mut self) -> Vec<u8> {
        let out = self.conn.pending_output().to_vec();
        self.conn.advance_output(out.len());
        self.sent.extend_from_slice(&out);
        out
    }

    /// Takes the events logged so far.
    pub fn take_events(&mut self) -> Vec<Ev> {
        std::mem::take(&mut self.events)
    }
}

// ---------------------------------------------------------------- the pair

pub struct Pair {
    pub client: Peer,
    pub server: Peer,
    /// The fake clock.
    pub now: Duration,
}

impl Default for Pair {
    fn default() -> Self {
        Self::new()
    }
}

pub fn default_request() -> ClientRequest {
    ClientRequest::new("example.com", "/chat")
}

impl Pair {
    /// A client and a server before the handshake; the client's request is
    /// queued, nothing has moved.
    pub fn new() -> Self {
        Self::with_configs(plain_config(), plain_config())
    }

    pub fn with_config(config: Config) -> Self {
        Self::with_configs(config.clone(), config)
    }

    pub fn with_configs(client: Config, server: Config) -> Self {
        Self::with_request(default_request(), client, server)
    }

    pub fn with_request(request: ClientRequest, client: Config, server: Config) -> Self {
        Self {
            client: Peer::new(Connection::client_with_masks(request, client, masks(SEED))),
            server: Peer::new(Connection::server(server)),
            now: Duration::ZERO,
        }
    }

    /// A pair that completed the handshake through the wire; logs cleared.
    pub fn connected() -> Self {
        Self::connected_with(plain_config())
    }

    pub fn connected_with(config: Config) -> Self {
        let mut pair = Self::with_config(config);
        pair.drive();
        assert_eq!(pair.server.take_events(), [Ev::request("/chat"), Ev::Open]);
        assert_eq!(pair.client.take_events(), [Ev::Open]);
        pair.client.sent.clear();
        pair.server.sent.clear();
        pair
    }

    /// A pair created open with `Connection::established_with_masks`.
    pub fn established() -> Self {
        Self::established_with(plain_config())
    }

    pub fn established_with(config: Config) -> Self {
        Self {
            client: Peer::new(Connection::established_with_masks(
                Role::Client,
                config.clone(),
                &[],
                masks(SEED),
            )),
            server: Peer::new(Connection::established_with_masks(
                Role::Server,
                config,
                &[],
                masks(SEED),
            )),
            now: Duration::ZERO,
        }
    }

    pub fn peer(&self, role: Role) -> &Peer {
        match role {
            Role::Client => &self.client,
            Role::Server => &self.server,
        }
    }

    pub fn peer_mut(&mut self, role: Role) -> &mut Peer {
        match role {
            Role::Client => &mut self.client,
            Role::Server => &mut self.server,
        }
    }

    pub fn conn(&mut self, role: Role) -> &mut Connection {
        &mut self.peer_mut(role).conn
    }

    /// (receiver, sender) for bytes going to `to`.
    fn towards(&mut self, to: Role) -> (&mut Peer, &mut Peer) {
        match to {
            Role::Client => (&mut self.client, &mut self.server),
            Role::Server => (&mut self.server, &mut self.client),
        }
    }

    /// Moves output both ways, chunked, polling the receiver after every
    /// chunk, until nothing moves.
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            self.client.poll();
            self.server.poll();
            let a = Self::transfer(&mut self.client, &mut self.server);
            let b = Self::transfer(&mut self.server, &mut self.client);
            if !a && !b {
                return;
            }
        }
        panic!("drive did not settle");
    }

    /// Moves one batch from `from` to `to`; whether anything moved.
    fn transfer(from: &mut Peer, to: &mut Peer) -> bool {
        let bytes = from.take_output();
        if bytes.is_empty() {
            return false;
        }
        for chunk in from.chunking.split(&bytes) {
            to.deliver(chunk);
            to.poll();
        }
        true
    }

    /// Moves one batch of `from`'s output to its peer (no reply).
    pub fn send_one_way(&mut self, from: Role) -> Vec<Ev> {
        let (to, sender) = self.towards(peer_of(from));
        let bytes = sender.take_output();
        let mut new = Vec::new();
        for chunk in sender.chunking.split(&bytes) {
            to.deliver(chunk);
            new.extend(to.poll());
        }
        new
    }

    /// Hands hand-made bytes to `to` as if its peer sent them (chunked by
    /// the peer's chunking); returns the events they caused. The output of
    /// `to` stays pending.
    pub fn inject(&mut self, to: Role, bytes: &[u8]) -> Vec<Ev> {
        let (receiver, sender) = self.towards(to);
        let mut new = Vec::new();
        for chunk in sender.chunking.split(bytes) {
            receiver.deliver(chunk);
            new.extend(receiver.poll());
        }
        new
    }

    /// Takes `role`'s pending output without delivering it.
    pub fn output(&mut self, role: Role) -> Vec<u8> {
        self.peer_mut(role).take_output()
    }

    /// Takes `role`'s pending output and decodes it as frames.
    pub fn output_frames(&mut self, role: Role) -> Vec<Decoded> {
        decode_frames(&self.output(role))
    }

    /// `from` closes the transport: its peer sees end of stream.
    pub fn close_transport(&mut self, from: Role) -> Vec<Ev> {
        let (to, _) = self.towards(peer_of(from));
        to.eof = true;
        to.conn.receive_eof();
        to.poll()
    }

    /// Advances the fake clock by `d` and tells both connections.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        let now = self.now;
        for peer in [&mut self.client, &mut self.server] {
            peer.conn.handle_timeout(now);
            peer.poll();
        }
    }

    /// Advances the fake clock to `t` (not backwards).
    pub fn advance_to(&mut self, t: Duration) {
        assert!(t >= self.now, "the clock does not go back");
        self.advance(t - self.now);
    }

    /// Injects `bytes` into `to` and checks the failure: the events end with
    /// `Failed` reported as `code`, a close frame carrying `code` is queued
    /// when the code may be sent (masked iff `to` is the client), nothing
    /// else is queued, and the transport is to be closed. Returns which
    /// failure it was.
    #[track_caller]
    pub fn fails_with(&mut self, to: Role, bytes: &[u8], code: u16) -> Fault {
        let events = self.inject(to, bytes);
        let error = assert_fails_with(&events, code);
        self.assert_failed_state(to, code);
        error
    }

    /// After a failure of `role` with `code`: one close frame with `code`
    /// queued (for a sendable code), state closed, transport to be closed.
    #[track_caller]
    pub fn assert_failed_state(&mut self, role: Role, code: u16) {
        let frames = self.output_frames(role);
        if rfc6455::CloseCode(code).is_sendable() {
            assert_eq!(
                frames.len(),
                1,
                "{role:?} should queue exactly one close frame: {frames:?}"
            );
            let frame = &frames[0];
            assert_eq!(frame.opcode, OP_CLOSE, "{frame:?}");
            assert!(frame.fin);
            assert_eq!(frame.masked, role == Role::Client, "masking of {role:?}'s close frame");
            assert_eq!(frame.payload, code.to_be_bytes(), "close frame carries {code}");
        } else {
            assert!(frames.is_empty(), "no close frame for {code}: {frames:?}");
        }
        let conn = self.conn(role);
        assert_eq!(conn.ready_state(), ReadyState::Closed);
        assert!(conn.should_close_transport(), "{role:?} should close the transport");
        assert!(!conn.is_closed_cleanly());
    }
}

// ---------------------------------------------------------------- frames

/// How the payload length is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LenForm {
    /// The minimal form, as §5.2 requires.
    Minimal,
    /// Always the 7-bit form (the declared length must be ≤ 127).
    Short,
    /// Always the 16-bit form (126).
    Sixteen,
    /// Always the 64-bit form (127).
    SixtyFour,
}

/// The masking key of RFC 6455 §5.7's examples.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A hand-made frame: any opcode, RSV bits, FIN, mask and length encoding.
#[derive(Debug, Clone)]
pub struct RawFrame {
    pub fin: bool,
    /// RSV1-3 as a 3-bit value (RSV1 = 0b100).
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload: Vec<u8>,
    pub form: LenForm,
    /// A length to declare instead of the payload's.
    pub declared: Option<u64>,
}

/// An unmasked final frame.
pub fn frame(opcode: u8, payload: &[u8]) -> RawFrame {
    RawFrame {
        fin: true,
        rsv: 0,
        opcode,
        mask: None,
        payload: payload.to_vec(),
        form: LenForm::Minimal,
        declared: None,
    }
}

pub fn text(s: &str) -> RawFrame {
    frame(OP_TEXT, s.as_bytes())
}

pub fn text_bytes(b: &[u8]) -> RawFrame {
    frame(OP_TEXT, b)
}

pub fn binary(b: &[u8]) -> RawFrame {
    frame(OP_BINARY, b)
}

pub fn cont(b: &[u8]) -> RawFrame {
    frame(OP_CONT, b)
}

pub fn ping(b: &[u8]) -> RawFrame {
    frame(OP_PING, b)
}

pub fn pong(b: &[u8]) -> RawFrame {
    frame(OP_PONG, b)
}

/// A close frame with `code` and `reason` bytes.
pub fn close_frame(code: u16, reason: &[u8]) -> RawFrame {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    frame(OP_CLOSE, &payload)
}

impl RawFrame {
    pub fn fin(mut self, fin: bool) -> Self {
        self.fin = fin;
        self
    }

    pub fn rsv(mut self, rsv: u8) -> Self {
        self.rsv = rsv;
        self
    }

    pub fn mask(mut self, key: [u8; 4]) -> Self {
        self.mask = Some(key);
        self
    }

    pub fn unmasked(mut self) -> Self {
        self.mask = None;
        self
    }

    /// Masked as a client must (when sent to a server), unmasked as a server
    /// must (when sent to a client).
    pub fn to(self, receiver: Role) -> Self {
        match receiver {
            Role::Server => self.mask(KEY),
            Role::Client => self.unmasked(),
        }
    }

    /// Masked the wrong way for `receiver`.
    pub fn wrongly_to(self, receiver: Role) -> Self {
        self.to(peer_of(receiver))
    }

    pub fn form(mut self, form: LenForm) -> Self {
        self.form = form;
        self
    }

    pub fn declare(mut self, len: u64) -> Self {
        self.declared = Some(len);
        self
    }

    /// The header alone.
    pub fn header(&self) -> Vec<u8> {
        let len = self.declared.unwrap_or(self.payload.len() as u64);
        let mut out = vec![u8::from(self.fin) << 7 | (self.rsv & 7) << 4 | (self.opcode & 0x0f)];
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let form = match self.form {
            LenForm::Minimal if len <= 125 => LenForm::Short,
            LenForm::Minimal if len <= 0xffff => LenForm::Sixteen,
            LenForm::Minimal => LenForm::SixtyFour,
            other => other,
        };
        match form {
            LenForm::Short => {
                assert!(len <= 127, "7-bit form holds at most 127");
                out.push(mask_bit | len as u8);
            }
            LenForm::Sixteen => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
        }
        out
    }

    /// Header and (masked) payload.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.header();
        let start = out.len();
        out.extend_from_slice(&self.payload);
        if let Some(key) = self.mask {
            for (i, b) in out[start..].iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        out
    }
}

/// Concatenates frames, each masked as `receiver` requires.
pub fn wire(receiver: Role, frames: &[RawFrame]) -> Vec<u8> {
    frames.iter().flat_map(|f| f.clone().to(receiver).bytes()).collect()
}

// ---------------------------------------------------------------- decoding

/// A frame decoded by the harness's own (independent) decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub mask: Option<[u8; 4]>,
    /// Header bytes, mask key included.
    pub header_len: usize,
    /// Unmasked.
    pub payload: Vec<u8>,
}

/// Decodes a sequence of whole frames; panics on trailing garbage.
pub fn decode_frames(mut bytes: &[u8]) -> Vec<Decoded> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 2, "truncated frame header: {bytes:?}");
        let (b0, b1) = (bytes[0], bytes[1]);
        let masked = b1 & 0x80 != 0;
        let (len, mut pos) = match b1 & 0x7f {
            126 => (u64::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()), 10),
            n => (u64::from(n), 2),
        };
        let mask = masked.then(|| {
            let key: [u8; 4] = bytes[pos..pos + 4].try_into().unwrap();
            pos += 4;
            key
        });
        let len = len as usize;
        assert!(bytes.len() >= pos + len, "truncated frame payload");
        let mut payload = bytes[pos..pos + len].to_vec();
        if let Some(key) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        frames.push(Decoded {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode: b0 & 0x0f,
            masked,
            mask,
            header_len: pos,
            payload,
        });
        bytes = &bytes[pos + len..];
    }
    frames
}

/// Deterministic filler bytes.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// The accept key for the `Sec-WebSocket-Key` found in a request's bytes.
pub fn accept_for(request: &[u8]) -> String {
    let text = std::str::from_utf8(request).expect("request is ASCII");
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("request carries a key");
    rfc6455::handshake::accept_key(key.trim().as_bytes())
}

/// RFC 6455 alone: no extension negotiated, so RSV bits are reserved and
/// payloads travel as sent. Extension tests turn permessage-deflate on.
pub fn plain_config() -> Config {
    #[allow(unused_mut)]
    let mut config = Config::default();
    #[cfg(feature = "deflate")]
    {
        config.deflate.enabled = false;
    }
    config
}
