//! Bad input never panics and never hangs.
//!
//! Thousands of random and mutated byte streams go to both roles, cut into
//! random chunks. After every chunk the events are polled until `None`
//! within a bound, and every event and every byte the connection queues is
//! checked against invariants; where the stream's frame layer starts at a
//! known offset, the events are also compared with a small reference
//! decoder written here from RFC 6455 §5.
//!
//! The PRNG is seeded, so every run sees the same inputs; a failure names
//! the seed that reproduces it. `RFC6455_FUZZ_CASES=100000` runs longer.

use rfc6455::connection::Event;
use rfc6455::error::{Limit, ProtocolError};
use rfc6455::handshake::accept_key;
use rfc6455::testkit::XorShift;
use rfc6455::{Accept, ClientRequest, Config, Connection, Error, HandshakeError, MaskSource, ReadyState, Role};

// ---------------------------------------------------------------- PRNG

/// The kit's generator (xorshift64*), with the draws this file adds.
#[derive(Debug, Clone)]
struct Rng(XorShift);

impl std::ops::Deref for Rng {
    type Target = XorShift;
    fn deref(&self) -> &XorShift {
        &self.0
    }
}

impl std::ops::DerefMut for Rng {
    fn deref_mut(&mut self) -> &mut XorShift {
        &mut self.0
    }
}

impl Rng {
    fn new(seed: u64) -> Self {
        Self(XorShift::new(seed ^ 0x5151_7a7a_0f0f_3c3c))
    }

    /// Up to `max` random bytes.
    fn noise(&mut self, max: usize) -> Vec<u8> {
        let n = self.range(0, max);
        self.bytes(n)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// A payload length, mostly small, sometimes at the 125/126 boundary,
    /// rarely at the 65535/65536 one.
    fn payload_len(&mut self) -> usize {
        match self.below(100) {
            0 => self.range(65534, 65537),
            1..=6 => self.range(123, 128),
            _ => self.range(0, 40),
        }
    }

    fn text(&mut self, max_bytes: usize) -> String {
        let mut s = String::new();
        loop {
            let c = self.char();
            if s.len() + c.len_utf8() > max_bytes {
                return s;
            }
            s.push(c);
        }
    }

    fn char(&mut self) -> char {
        loop {
            let code = match self.below(4) {
                0 => self.range(0x20, 0x7e),
                1 => self.range(0x80, 0x7ff),
                2 => self.range(0x800, 0xffff),
                _ => self.range(0x1_0000, 0x10_ffff),
            };
            if let Some(c) = char::from_u32(code as u32) {
                return c;
            }
        }
    }
}

/// Deterministic masking keys and handshake nonces.
fn masks(seed: u64) -> Box<dyn MaskSource> {
    Box::new(Rng::new(seed.wrapping_mul(31).wrapping_add(7)).0)
}

// ---------------------------------------------------------------- frames

const SENDABLE: [(u16, u16); 3] = [(1000, 1003), (1007, 1014), (3000, 4999)];

fn sendable(code: u16) -> bool {
    SENDABLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
}

fn random_sendable_code(rng: &mut Rng) -> u16 {
    let (lo, hi) = rng.pick(&SENDABLE);
    rng.range(usize::from(lo), usize::from(hi)) as u16
}

/// Encodes one frame in the minimal form, masking the payload when a key
/// is given.
fn encode_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    out.push(u8::from(fin) << 7 | opcode);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len <= 125 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
}

/// One complete frame as this crate's output must be: returns (fin, opcode,
/// masked, unmasked payload, frame length).
fn parse_output_frame(bytes: &[u8]) -> (bool, u8, bool, Vec<u8>, usize) {
    assert!(bytes.len() >= 2, "output frame too short: {bytes:x?}");
    let fin = bytes[0] & 0x80 != 0;
    assert_eq!(bytes[0] & 0x70, 0, "output frame has RSV bits: {bytes:x?}");
    let opcode = bytes[0] & 0x0f;
    let masked = bytes[1] & 0x80 != 0;
    let (len, mut pos) = match bytes[1] & 0x7f {
        126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
        127 => {
            let mut be = [0; 8];
            be.copy_from_slice(&bytes[2..10]);
            (u64::from_be_bytes(be) as usize, 10)
        }
        short => (usize::from(short), 2),
    };
    let key = masked.then(|| {
        let key = [bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]];
        pos += 4;
        key
    });
    assert!(bytes.len() >= pos + len, "output frame truncated: {bytes:x?}");
    let mut payload = bytes[pos..pos + len].to_vec();
    if let Some(key) = key {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    (fin, opcode, masked, payload, pos + len)
}

/// Checks that `out` is exactly one control frame with `opcode` and
/// `payload`, masked as `role` must mask.
fn assert_single_control_frame(out: &[u8], role: Role, opcode: u8, payload: &[u8], what: &str) {
    let (fin, op, masked, got, len) = parse_output_frame(out);
    assert!(fin, "{what}: control frame without FIN");
    assert_eq!(op, opcode, "{what}: opcode");
    assert_eq!(masked, role == Role::Client, "{what}: masking for {role:?}");
    assert_eq!(got, payload, "{what}: payload");
    assert_eq!(len, out.len(), "{what}: exactly one frame expected, output {out:x?}");
}

// ---------------------------------------------------------------- events

/// An owned event, comparable with the reference decoder's.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    /// The failure's kind and its detail (a length, code, opcode or bits).
    Failed(&'static str, u64),
}

/// What a connection reported, owned.
#[derive(Debug)]
enum Got {
    Request,
    Open,
    Frame(Ev),
    /// The close code and, for a handshake failure, why.
    Fail(Ev, Option<u16>, Option<HandshakeError>),
}

fn kind(e: &Error) -> (&'static str, u64) {
    match e {
        Error::Protocol(ProtocolError::ReservedBits(b)) => ("ReservedBits", u64::from(*b)),
        Error::Protocol(ProtocolError::ReservedOpcode(o)) => ("ReservedOpcode", u64::from(*o)),
        Error::Protocol(ProtocolError::UnmaskedFrame) => ("UnmaskedFrame", 0),
        Error::Protocol(ProtocolError::MaskedFrame) => ("MaskedFrame", 0),
        Error::Protocol(ProtocolError::NonMinimalLength) => ("NonMinimalLength", 0),
        Error::Protocol(ProtocolError::LengthOverflow) => ("LengthOverflow", 0),
        Error::Protocol(ProtocolError::ControlFrameTooLong(len)) => ("ControlFrameTooLong", *len),
        Error::Protocol(ProtocolError::FragmentedControlFrame) => ("FragmentedControlFrame", 0),
        Error::Protocol(ProtocolError::UnexpectedContinuation) => ("UnexpectedContinuation", 0),
        Error::Protocol(ProtocolError::ExpectedContinuation) => ("ExpectedContinuation", 0),
        Error::Protocol(ProtocolError::TruncatedClose) => ("TruncatedClose", 0),
        Error::Protocol(ProtocolError::InvalidCloseCode(code)) => ("InvalidCloseCode", u64::from(*code)),
        Error::Protocol(ProtocolError::InvalidUtf8) => ("InvalidUtf8", 0),
        Error::LimitExceeded {
            kind: Limit::FrameSize,
            len,
            ..
        } => ("FrameTooLarge", *len),
        Error::LimitExceeded {
            kind: Limit::MessageSize,
            len,
            ..
        } => ("MessageTooLarge", *len),
        Error::Handshake(_) => ("Handshake", 0),
        Error::UnexpectedEof => ("UnexpectedEof", 0),
        other => panic!("unexpected failure from received bytes: {other:?}"),
    }
}

fn to_got(event: Event<'_>, config: &Config) -> Got {
    match event {
        Event::Request(_) => Got::Request,
        Event::Open => Got::Open,
        Event::Text(text) => {
            // A &str is UTF-8 by type; that it is the right text, what the
            // reference decoder makes of the bytes, is checked by comparing
            // the runs' events with `reference_decode`.
            Got::Frame(Ev::Text(text.to_owned()))
        }
        Event::Binary(data) => Got::Frame(Ev::Binary(data.to_vec())),
        Event::Ping(data) => {
            assert!(data.len() <= 125, "ping payload over 125 bytes");
            Got::Frame(Ev::Ping(data.to_vec()))
        }
        Event::Pong(data) => {
            assert!(data.len() <= 125, "pong payload over 125 bytes");
            Got::Frame(Ev::Pong(data.to_vec()))
        }
        Event::Close(frame) => {
            if let Some(code) = frame.code {
                assert!(code.is_sendable(), "Close event with unsendable code {code}");
            } else {
                assert_eq!(frame.reason, "", "a close frame without a code has no reason");
            }
            assert!(frame.reason.len() <= 123);
            Got::Frame(Ev::Close(frame.code.map(|c| c.0), frame.reason.to_owned()))
        }
        Event::Failed(error) => {
            let code = error.close_code().map(|c| c.0);
            assert!(
                matches!(code, Some(1002 | 1007 | 1009 | 1006)),
                "failure {error:?} has close code {code:?}"
            );
            let expected_code = match &error {
                Error::Protocol(ProtocolError::InvalidUtf8) => 1007,
                Error::LimitExceeded {
                    kind: Limit::FrameSize, ..
                }
                | Error::LimitExceeded {
                    kind: Limit::MessageSize,
                    ..
                } => 1009,
                Error::Handshake(_) | Error::UnexpectedEof => 1006,
                _ => 1002,
            };
            assert_eq!(code, Some(expected_code), "{error:?}");
            match &error {
                Error::LimitExceeded {
                    kind: Limit::FrameSize,
                    len,
                    max,
                } => {
                    assert_eq!(*max, config.max_frame_size);
                    assert!(*len > *max as u64);
                }
                Error::LimitExceeded {
                    kind: Limit::MessageSize,
                    len,
                    max,
                } => {
                    assert_eq!(*max, config.max_message_size);
                    assert!(*len > *max as u64);
                }
                _ => {}
            }
            let handshake = match &error {
                Error::Handshake(h) => Some(h.clone()),
                _ => None,
            };
            let (kind, detail) = kind(&error);
            Got::Fail(Ev::Failed(kind, detail), code, handshake)
        }
        other => panic!("unexpected {other:?}"),
    }
}

// ---------------------------------------------------------------- reference decoder

/// What the reference decoder expects of the bytes after the handshake.
struct RefLimits {
    max_frame: usize,
    max_message: usize,
}

struct RefHeader {
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: u64,
    header_len: usize,
}

/// A frame header per RFC 6455 §5.2, checking each rule as soon as the
/// bytes it needs are present.
fn ref_header(b: &[u8], expect_masked: bool) -> Result<Option<RefHeader>, (&'static str, u64)> {
    let Some(&b0) = b.first() else { return Ok(None) };
    let fin = b0 & 0x80 != 0;
    let rsv = (b0 >> 4) & 7;
    if rsv != 0 {
        return Err(("ReservedBits", u64::from(rsv)));
    }
    let opcode = b0 & 0x0f;
    if !matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10) {
        return Err(("ReservedOpcode", u64::from(opcode)));
    }
    let control = opcode >= 8;
    if control && !fin {
        return Err(("FragmentedControlFrame", 0));
    }
    let Some(&b1) = b.get(1) else { return Ok(None) };
    let masked = b1 & 0x80 != 0;
    if masked != expect_masked {
        return Err((if masked { "MaskedFrame" } else { "UnmaskedFrame" }, 0));
    }
    let (len, mut pos) = match b1 & 0x7f {
        126 => {
            let Some(x) = b.get(2..4) else { return Ok(None) };
            let len = u64::from(u16::from_be_bytes([x[0], x[1]]));
            if len < 126 {
                return Err(("NonMinimalLength", 0));
            }
            (len, 4)
        }
        127 => {
            let Some(x) = b.get(2..10) else { return Ok(None) };
            let mut be = [0; 8];
            be.copy_from_slice(x);
            let len = u64::from_be_bytes(be);
            if len >= 1 << 63 {
                return Err(("LengthOverflow", 0));
            }
            if len < 0x1_0000 {
                return Err(("NonMinimalLength", 0));
            }
            (len, 10)
        }
        short => (u64::from(short), 2),
    };
    if control && len > 125 {
        return Err(("ControlFrameTooLong", len));
    }
    let mask = if masked {
        let Some(x) = b.get(pos..pos + 4) else { return Ok(None) };
        pos += 4;
        Some([x[0], x[1], x[2], x[3]])
    } else {
        None
    };
    Ok(Some(RefHeader {
        fin,
        opcode,
        mask,
        len,
        header_len: pos,
    }))
}

/// Whether `bytes` can still become valid UTF-8 (§8.1 "fail fast").
fn utf8_prefix_ok(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// Decodes a whole frame stream at once: the events a receiver expecting
/// masked (server) or unmasked (client) frames must report, ending with a
/// failure, a close, or nothing when more bytes are needed.
fn reference_decode(bytes: &[u8], expect_masked: bool, limits: &RefLimits, eof: bool) -> Vec<Ev> {
    let mut events = Vec::new();
    let mut pos = 0;
    // Some(is_text) while a fragmented message is open.
    let mut fragmented: Option<bool> = None;
    let mut message: Vec<u8> = Vec::new();
    let mut message_len: u64 = 0;
    let eof_event = |events: &mut Vec<Ev>| {
        if eof {
            events.push(Ev::Failed("UnexpectedEof", 0));
        }
    };
    loop {
        let header = match ref_header(&bytes[pos..], expect_masked) {
            Err((kind, detail)) => {
                events.push(Ev::Failed(kind, detail));
                return events;
            }
            Ok(None) => {
                eof_event(&mut events);
                return events;
            }
            Ok(Some(h)) => h,
        };
        let control = header.opcode >= 8;
        if !control {
            match (header.opcode, fragmented) {
                (0, None) => {
                    events.push(Ev::Failed("UnexpectedContinuation", 0));
                    return events;
                }
                (1 | 2, Some(_)) => {
                    events.push(Ev::Failed("ExpectedContinuation", 0));
                    return events;
                }
                _ => {}
            }
            if header.len > limits.max_frame as u64 {
                events.push(Ev::Failed("FrameTooLarge", header.len));
                return events;
            }
            if header.opcode != 0 {
                message_len = 0;
            }
            message_len += header.len;
            if message_len > limits.max_message as u64 {
                events.push(Ev::Failed("MessageTooLarge", message_len));
                return events;
            }
            if !header.fin && header.opcode != 0 {
                fragmented = Some(header.opcode == 1);
            }
        }
        let start = pos + header.header_len;
        let available = (bytes.len() - start).min(header.len as usize);
        let mut payload = bytes[start..start + available].to_vec();
        if let Some(key) = header.mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        let is_text = header.opcode == 1 || (header.opcode == 0 && fragmented == Some(true));
        if is_text {
            let mut so_far = message.clone();
            so_far.extend_from_slice(&payload);
            if !utf8_prefix_ok(&so_far) {
                events.push(Ev::Failed("InvalidUtf8", 0));
                return events;
            }
        }
        if available < header.len as usize {
            eof_event(&mut events);
            return events;
        }
        pos = start + available;
        match header.opcode {
            9 => events.push(Ev::Ping(payload)),
            10 => events.push(Ev::Pong(payload)),
            8 => {
                events.push(match payload.as_slice() {
                    [] => Ev::Close(None, String::new()),
                    [_] => Ev::Failed("TruncatedClose", 0),
                    [hi, lo, reason @ ..] => {
                        let code = u16::from_be_bytes([*hi, *lo]);
                        if !sendable(code) {
                            Ev::Failed("InvalidCloseCode", u64::from(code))
                        } else {
                            match std::str::from_utf8(reason) {
                                Ok(reason) => Ev::Close(Some(code), reason.to_owned()),
                                Err(_) => Ev::Failed("InvalidUtf8", 0),
                            }
                        }
                    }
                });
                return events;
            }
            _ => {
                message.extend_from_slice(&payload);
                if header.fin {
                    let text = is_text;
                    let whole = std::mem::take(&mut message);
                    fragmented = None;
                    if text {
                        match String::from_utf8(whole) {
                            Ok(s) => events.push(Ev::Text(s)),
                            Err(_) => {
                                events.push(Ev::Failed("InvalidUtf8", 0));
                                return events;
                            }
                        }
                    } else {
                        events.push(Ev::Binary(whole));
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- driving

/// The knobs a run varies.
#[derive(Clone)]
struct Setup {
    config: Config,
    /// Call `close` at a random chunk boundary while open.
    local_close: bool,
    /// Feed the end of the stream after the last chunk.
    eof: bool,
}

fn random_setup(rng: &mut Rng, small_limits: bool) -> Setup {
    let mut config = plain_config()
        .auto_pong(rng.chance(3, 4))
        .echo_close_reason(rng.chance(1, 2));
    if rng.chance(1, 3) {
        config.read_chunk = rng.range(1, 40);
    }
    if small_limits && rng.chance(1, 3) {
        config.max_frame_size = rng.range(0, 200);
        config.max_message_size = rng.range(0, 400);
    }
    Setup {
        config,
        local_close: rng.chance(1, 4),
        eof: rng.chance(1, 2),
    }
}

/// Splits `len` bytes into random chunk lengths.
fn random_chunks(rng: &mut Rng, len: usize) -> Vec<usize> {
    let max = match rng.below(10) {
        0 => 1,
        1 => len.max(1),
        2..=5 => 8,
        _ => 300,
    };
    // One-byte chunks over a 64 KiB frame are slow in debug builds and add
    // nothing the small streams do not already cover.
    let max = if len > 4096 { max.max(2048) } else { max };
    let mut chunks = Vec::new();
    let mut left = len;
    while left > 0 {
        let n = rng.range(1, max).min(left);
        chunks.push(n);
        left -= n;
    }
    chunks
}

/// Runs one connection over a stream and checks the invariants of every
/// event; returns what it reported.
struct Driver<'r> {
    conn: Connection,
    rng: &'r mut Rng,
    setup: Setup,
    got: Vec<Got>,
    terminal: bool,
    /// A request awaits the application's decision.
    undecided: bool,
    fed: usize,
    label: String,
}

impl Driver<'_> {
    fn role(&self) -> Role {
        self.conn.role()
    }

    /// Feeds `data` through `receive` or `read_buffer` + `commit_read`.
    fn feed(&mut self, data: &[u8]) {
        self.fed += data.len();
        if self.rng.chance(1, 2) {
            self.conn.receive(data);
            return;
        }
        let bound = self.setup.config.read_chunk.max(64 << 10) + self.fed;
        let mut rest = data;
        while !rest.is_empty() {
            let buf = self.conn.read_buffer();
            assert!(!buf.is_empty(), "{}: read_buffer is empty", self.label);
            // Memory follows bytes that arrived, never declared lengths.
            assert!(buf.len() <= bound, "{}: read_buffer of {} bytes", self.label, buf.len());
            let n = buf.len().min(rest.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.conn.commit_read(n);
            rest = &rest[n..];
        }
    }

    fn take_output(&mut self) -> Vec<u8> {
        let out = self.conn.pending_output().to_vec();
        self.conn.advance_output(out.len());
        assert!(self.conn.pending_output().is_empty());
        out
    }

    /// Polls until `None`, within a bound: each event consumes input, so
    /// there can never be more events than bytes fed (plus Request/Open).
    fn poll_all(&mut self) {
        let bound = self.fed + 4;
        for _ in 0..=bound {
            let before = self.conn.ready_state();
            let config = self.setup.config.clone();
            let Some(event) = self.conn.poll_event() else {
                return;
            };
            let got = to_got(event, &config);
            self.check(before, got);
        }
        panic!("{}: poll_event did not return None after {bound} events", self.label);
    }

    fn check(&mut self, before: ReadyState, got: Got) {
        let label = self.label.clone();
        assert!(!self.terminal, "{label}: event {got:?} after the connection ended");
        let role = self.role();
        let out = self.take_output();
        let opened = self.got.iter().any(|g| matches!(g, Got::Open));
        match &got {
            Got::Request => {
                assert_eq!(role, Role::Server, "{label}");
                assert_eq!(before, ReadyState::Connecting, "{label}");
                assert!(out.is_empty(), "{label}: output before the decision");
                assert!(self.conn.request().is_some(), "{label}: request() after Event::Request");
                // Sometimes the application takes its time, and more bytes
                // arrive before it decides.
                if self.rng.chance(1, 3) {
                    self.undecided = true;
                } else {
                    self.accept();
                }
            }
            Got::Open => {
                assert!(!opened, "{label}: Open twice");
                assert_eq!(
                    before,
                    if role == Role::Server {
                        ReadyState::Open
                    } else {
                        ReadyState::Connecting
                    }
                );
                assert_eq!(self.conn.ready_state(), ReadyState::Open, "{label}");
                assert!(out.is_empty(), "{label}: output on Open");
            }
            Got::Frame(ev) => {
                assert!(
                    matches!(before, ReadyState::Open | ReadyState::Closing),
                    "{label}: frame event in {before:?}"
                );
                match ev {
                    // §5.5.2: a ping is answered unless the peer's close
                    // arrived; our own close in flight does not excuse it.
                    Ev::Ping(payload) if self.setup.config.auto_pong => {
                        assert_single_control_frame(&out, role, 0xa, payload, &label);
                    }
                    Ev::Close(code, reason) => {
                        if before == ReadyState::Open {
                            let mut sent = Vec::new();
                            if let Some(code) = code {
                                sent.extend_from_slice(&code.to_be_bytes());
                                if self.setup.config.echo_close_reason {
                                    sent.extend_from_slice(reason.as_bytes());
                                }
                            }
                            assert_single_control_frame(&out, role, 0x8, &sent, &label);
                        } else {
                            assert!(out.is_empty(), "{label}: close reply while closing");
                        }
                        assert_eq!(self.conn.ready_state(), ReadyState::Closed, "{label}");
                        assert!(self.conn.is_closed_cleanly(), "{label}");
                        self.terminal = true;
                    }
                    _ => assert!(
                        out.is_empty(),
                        "{label}: output {out:x?} for {ev:?} in {before:?}, auto_pong {}",
                        self.setup.config.auto_pong
                    ),
                }
            }
            Got::Fail(ev, code, handshake) => {
                // A server that waited too long to decide can be failed by
                // what piled up meanwhile (431): nothing is left to accept.
                self.undecided = false;
                let code = code.expect("checked in to_got");
                match before {
                    ReadyState::Open if code != 1006 => {
                        assert_single_control_frame(&out, role, 0x8, &code.to_be_bytes(), &label);
                    }
                    ReadyState::Connecting
                        if role == Role::Server && handshake.as_ref() != Some(&HandshakeError::Eof) =>
                    {
                        let status = match handshake {
                            Some(HandshakeError::Version) => "426",
                            Some(HandshakeError::TooLarge) => "431",
                            Some(_) => "400",
                            None => panic!("{label}: {ev:?} during the handshake"),
                        };
                        let expected = format!("HTTP/1.1 {status} ");
                        assert!(
                            out.starts_with(expected.as_bytes()),
                            "{label}: {ev:?} answered {:?}",
                            String::from_utf8_lossy(&out)
                        );
                        assert!(out.ends_with(b"\r\n\r\n"), "{label}");
                    }
                    _ => assert!(out.is_empty(), "{label}: output {out:x?} for {ev:?} in {before:?}"),
                }
                assert_eq!(self.conn.ready_state(), ReadyState::Closed, "{label}");
                assert!(!self.conn.is_closed_cleanly(), "{label}");
                assert!(self.conn.should_close_transport(), "{label}");
                assert_eq!(self.conn.poll_timeout(), None, "{label}: timers after a failure");
                self.terminal = true;
            }
        }
        self.got.push(got);
    }

    fn accept(&mut self) {
        self.undecided = false;
        self.conn
            .accept(Accept::new())
            .expect("accepting the announced request");
        let response = self.take_output();
        assert!(response.starts_with(b"HTTP/1.1 101 "), "{}: {response:x?}", self.label);
        assert!(response.ends_with(b"\r\n\r\n"), "{}", self.label);
    }

    fn maybe_close_locally(&mut self) {
        if self.setup.local_close && self.conn.ready_state() == ReadyState::Open && self.rng.chance(1, 8) {
            let code = random_sendable_code(self.rng);
            self.conn.close(code.into(), "bye").expect("close while open");
            let out = self.take_output();
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend_from_slice(b"bye");
            let role = self.role();
            assert_single_control_frame(&out, role, 0x8, &payload, &self.label);
            assert_eq!(self.conn.ready_state(), ReadyState::Closing);
        }
    }

    /// Feeds `stream` in random chunks, polling after each, then the end
    /// of the stream if asked; returns everything reported.
    fn run(mut self, stream: &[u8]) -> Vec<Got> {
        // A client's request is already queued.
        let request = self.take_output();
        if self.role() == Role::Client && self.conn.ready_state() == ReadyState::Connecting {
            assert!(request.starts_with(b"GET "), "{}", self.label);
        }
        self.poll_all();
        let chunks = random_chunks(self.rng, stream.len());
        let mut at = 0;
        for n in chunks {
            if self.undecided && self.rng.chance(1, 2) {
                self.accept();
                self.poll_all();
            }
            self.maybe_close_locally();
            self.feed(&stream[at..at + n]);
            at += n;
            self.poll_all();
        }
        if self.setup.eof {
            self.conn.receive_eof();
            if self.undecided {
                self.poll_all();
                assert_eq!(self.conn.ready_state(), ReadyState::Connecting, "{}", self.label);
                self.accept();
            }
            self.poll_all();
            assert!(
                self.terminal,
                "{}: end of stream did not end the connection",
                self.label
            );
        }
        if self.terminal {
            // Nothing after the end is read, and nothing more is reported.
            let junk = self.rng.bytes(17);
            self.feed(&junk);
            self.conn.receive_eof();
            for _ in 0..3 {
                assert!(self.conn.poll_event().is_none(), "{}: event after the end", self.label);
            }
            assert_eq!(self.conn.ready_state(), ReadyState::Closed);
        } else {
            assert_ne!(self.conn.ready_state(), ReadyState::Closed, "{}", self.label);
            if self.undecided {
                self.accept();
                self.poll_all();
            }
        }
        self.got
    }
}

fn driver<'r>(conn: Connection, rng: &'r mut Rng, setup: Setup, label: String) -> Driver<'r> {
    Driver {
        conn,
        rng,
        setup,
        got: Vec::new(),
        terminal: false,
        undecided: false,
        fed: 0,
        label,
    }
}

/// The frame events (and the failure, if any) of a run, for comparison
/// with the reference decoder.
fn frame_events(got: &[Got]) -> Vec<Ev> {
    got.iter()
        .filter_map(|g| match g {
            Got::Frame(ev) | Got::Fail(ev, ..) => Some(ev.clone()),
            _ => None,
        })
        .collect()
}

fn limits(config: &Config) -> RefLimits {
    RefLimits {
        max_frame: config.max_frame_size,
        max_message: config.max_message_size,
    }
}

// ---------------------------------------------------------------- streams

/// A client request, as a client connection would send it.
fn valid_request(rng: &mut Rng) -> Vec<u8> {
    let mut request = ClientRequest::new("example.com:8080", format!("/chat/{}", rng.below(1000)));
    if rng.chance(1, 2) {
        request = request.protocol("chat").protocol("superchat");
    }
    if rng.chance(1, 2) {
        request = request.origin("https://example.com");
    }
    let conn = Connection::client_with_masks(request, plain_config(), masks(rng.next_u64()));
    conn.pending_output().to_vec()
}

/// A client whose request is out, and the server's valid 101 answer.
fn client_and_response(rng: &mut Rng, config: Config) -> (Connection, Vec<u8>) {
    let request = ClientRequest::new("localhost", "/");
    // Mostly seeded masks; sometimes the default CSPRNG, which changes only
    // the bytes we send, and those are checked for any key.
    let conn = if rng.chance(1, 4) {
        Connection::client(request, config)
    } else {
        Connection::client_with_masks(request, config, masks(rng.next_u64()))
    };
    let request = String::from_utf8(conn.pending_output().to_vec()).unwrap();
    let key = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("request carries a key");
    let mut response = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    response.push_str(if rng.chance(1, 2) {
        "Upgrade: websocket\r\n"
    } else {
        "upgrade: WebSocket\r\n"
    });
    response.push_str("Connection: Upgrade\r\n");
    response.push_str(&format!("Sec-WebSocket-Accept: {}\r\n\r\n", accept_key(key.as_bytes())));
    (conn, response.into_bytes())
}

/// A valid frame sequence: messages, fragmented messages with control
/// frames between fragments, and sometimes a close at the end.
fn valid_frames(rng: &mut Rng, masked: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let key = |rng: &mut Rng| masked.then(|| [rng.byte(), rng.byte(), rng.byte(), rng.byte()]);
    for _ in 0..rng.range(0, 6) {
        match rng.below(6) {
            0 => {
                let n = rng.payload_len();
                let text = rng.text(n);
                let k = key(rng);
                encode_frame(&mut out, true, 1, text.as_bytes(), k);
            }
            1 => {
                let n = rng.payload_len();
                let data = rng.bytes(n);
                let k = key(rng);
                encode_frame(&mut out, true, 2, &data, k);
            }
            2 | 3 => {
                let n = rng.range(0, 125);
                let data = rng.bytes(n);
                let k = key(rng);
                encode_frame(&mut out, true, if rng.chance(1, 2) { 9 } else { 10 }, &data, k);
            }
            _ => {
                let text = rng.chance(1, 2);
                let whole = if text {
                    let n = rng.range(0, 60);
                    rng.text(n).into_bytes()
                } else {
                    let n = rng.range(0, 60);
                    rng.bytes(n)
                };
                // Cut anywhere, even inside a code point.
                let pieces = rng.range(1, 4);
                let mut cuts: Vec<usize> = (0..pieces - 1).map(|_| rng.range(0, whole.len())).collect();
                cuts.sort_unstable();
                cuts.push(whole.len());
                let mut prev = 0;
                for (i, &cut) in cuts.iter().enumerate() {
                    let opcode = if i == 0 { if text { 1 } else { 2 } } else { 0 };
                    let k = key(rng);
                    encode_frame(&mut out, i == cuts.len() - 1, opcode, &whole[prev..cut], k);
                    prev = cut;
                    if rng.chance(1, 3) {
                        let n = rng.range(0, 20);
                        let data = rng.bytes(n);
                        let k = key(rng);
                        encode_frame(&mut out, true, 9, &data, k);
                    }
                }
            }
        }
    }
    match rng.below(3) {
        0 => {
            let mut payload = random_sendable_code(rng).to_be_bytes().to_vec();
            let n = rng.range(0, 40);
            payload.extend_from_slice(rng.text(n).as_bytes());
            let k = key(rng);
            encode_frame(&mut out, true, 8, &payload, k);
        }
        1 => {
            let k = key(rng);
            encode_frame(&mut out, true, 8, &[], k);
        }
        _ => {}
    }
    out
}

/// Random frames with random headers: every opcode, both mask bits, every
/// length form (minimal or not), payloads with and without valid UTF-8.
fn structured_random_frames(rng: &mut Rng, masked: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.range(1, 6) {
        let fin = rng.chance(4, 5);
        let rsv = if rng.chance(1, 20) { rng.range(1, 7) as u8 } else { 0 };
        let opcode = if rng.chance(1, 10) {
            rng.below(16) as u8
        } else {
            rng.pick(&[0u8, 1, 2, 8, 9, 10])
        };
        let mask = if rng.chance(19, 20) { masked } else { !masked };
        let len = if rng.chance(1, 30) {
            rng.range(126, 300)
        } else {
            rng.range(0, 30)
        };
        let payload = match rng.below(3) {
            0 => rng.bytes(len),
            1 => {
                let mut p = random_sendable_code(rng).to_be_bytes().to_vec();
                p.extend_from_slice(rng.text(len).as_bytes());
                p
            }
            _ => rng.text(len).into_bytes(),
        };
        out.push(u8::from(fin) << 7 | rsv << 4 | opcode);
        let mask_bit = if mask { 0x80 } else { 0 };
        match rng.below(12) {
            0 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            }
            1 => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
            }
            2 => {
                // A length the payload does not have.
                out.push(mask_bit | 127);
                out.extend_from_slice(&(rng.next_u64() >> rng.range(0, 63)).to_be_bytes());
            }
            _ if payload.len() > 125 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            }
            _ => out.push(mask_bit | payload.len() as u8),
        }
        if mask {
            let key = [rng.byte(), rng.byte(), rng.byte(), rng.byte()];
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            out.extend_from_slice(&payload);
        }
    }
    out
}

/// Applies 1–4 random mutations at or after `from`; returns the lowest
/// index touched (`usize::MAX` if none).
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, from: usize) -> usize {
    const INTERESTING: [u8; 12] = [0x00, 0xff, 0x7d, 0x7e, 0x7f, 0x80, 0x81, 0x88, 0x89, 0xc0, 0xed, 0xf4];
    let mut lowest = usize::MAX;
    for _ in 0..rng.range(1, 4) {
        let len = data.len();
        if len <= from {
            let extra = rng.range(1, 8);
            data.extend(rng.bytes(extra));
            lowest = lowest.min(len);
            continue;
        }
        let pos = rng.range(from, len - 1);
        match rng.below(7) {
            0 => data[pos] ^= 1 << rng.below(8),
            1 => data[pos] = rng.byte(),
            2 => data[pos] = rng.pick(&INTERESTING),
            3 => {
                let n = rng.range(1, 8);
                let bytes = rng.bytes(n);
                data.splice(pos..pos, bytes);
            }
            4 => {
                let end = (pos + rng.range(1, 8)).min(len);
                data.drain(pos..end);
            }
            5 => data.truncate(pos),
            _ => {
                let start = rng.range(from, len - 1);
                let end = (start + rng.range(1, 16)).min(len);
                let copy = data[start..end].to_vec();
                data.splice(pos..pos, copy);
            }
        }
        lowest = lowest.min(pos);
    }
    lowest
}

// ---------------------------------------------------------------- the fuzz targets

/// Cases per fuzz target: 1000, or `RFC6455_FUZZ_CASES` for long runs.
fn fuzz_cases() -> u64 {
    std::env::var("RFC6455_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

/// Server role, handshake included. `frames_at` is where the frames start
/// when the handshake bytes are intact (then the events are compared with
/// the reference decoder).
fn run_server(seed: u64, rng: &mut Rng, stream: &[u8], frames_at: Option<usize>, small_limits: bool) {
    let setup = random_setup(rng, small_limits);
    let config = setup.config.clone();
    let eof = setup.eof;
    let label = format!("server seed {seed}");
    let got = driver(Connection::server(config.clone()), rng, setup, label.clone()).run(stream);
    if let Some(at) = frames_at {
        assert!(matches!(got.first(), Some(Got::Request)), "{label}: {got:?}");
        if let Some(Got::Fail(_, _, Some(HandshakeError::TooLarge))) = got.get(1) {
            // The application took its time and more than a frame's worth
            // piled up before it decided: refused with 431, never opened.
            assert!(stream.len() - at > config.max_frame_size, "{label}: refused early");
            return;
        }
        assert!(matches!(got.get(1), Some(Got::Open)), "{label}: {got:?}");
        let expected = reference_decode(&stream[at..], true, &limits(&config), eof);
        assert_eq!(frame_events(&got), expected, "{label}");
    }
}

/// Client role after a valid 101 response.
fn run_client(seed: u64, rng: &mut Rng, tail: impl FnOnce(&mut Rng) -> Vec<u8>, mutated: bool) {
    let setup = random_setup(rng, true);
    let config = setup.config.clone();
    let eof = setup.eof;
    let (conn, response) = client_and_response(rng, config.clone());
    let mut stream = response.clone();
    stream.extend(tail(rng));
    let intact = !mutated || mutate(rng, &mut stream, 0) >= response.len();
    let label = format!("client seed {seed}");
    let got = driver(conn, rng, setup, label.clone()).run(&stream);
    if intact {
        assert!(matches!(got.first(), Some(Got::Open)), "{label}: {got:?}");
        let expected = reference_decode(&stream[response.len()..], false, &limits(&config), eof);
        assert_eq!(frame_events(&got), expected, "{label}");
    }
}

/// Either role, with the handshake done elsewhere; a random prefix of the
/// stream goes in as `already_read`.
fn run_established(seed: u64, rng: &mut Rng, role: Role, stream: &[u8]) {
    let setup = random_setup(rng, true);
    let config = setup.config.clone();
    let eof = setup.eof;
    let split = if rng.chance(1, 3) {
        rng.range(0, stream.len())
    } else {
        0
    };
    // The first `split` bytes go in as `already_read`, or through the
    // checked feed.
    let already_read = rng.chance(1, 2);
    let first = if already_read { &stream[..split] } else { &[][..] };
    let conn = Connection::established_with_masks(role, config.clone(), first, masks(seed));
    let label = format!("established {role:?} seed {seed} split {split} already_read {already_read}");
    let mut d = driver(conn, rng, setup, label.clone());
    if already_read {
        d.fed = split;
    } else {
        d.feed(&stream[..split]);
    }
    d.poll_all();
    let got = d.run(&stream[split..]);
    let expected = reference_decode(stream, role == Role::Server, &limits(&config), eof);
    assert_eq!(frame_events(&got), expected, "{label}");
}

#[test]
fn random_bytes_to_a_server_handshake() {
    for seed in 0..fuzz_cases() {
        let mut rng = Rng::new(seed);
        let mut stream = match rng.below(4) {
            // Pure noise.
            0 => rng.noise(300),
            // Noise after a plausible request line.
            1 => {
                let mut s = b"GET / HTTP/1.1\r\n".to_vec();
                let n = rng.range(0, 300);
                s.extend(rng.bytes(n));
                s
            }
            // Noise lines ending the header block.
            2 => {
                let mut s = b"GET /x HTTP/1.1\r\nHost: a\r\n".to_vec();
                let n = rng.range(0, 60);
                s.extend(rng.bytes(n));
                s.extend_from_slice(b"\r\n\r\n");
                s
            }
            // A valid request followed by noise frames.
            _ => {
                let mut s = valid_request(&mut rng);
                let n = rng.range(0, 200);
                s.extend(rng.bytes(n));
                s
            }
        };
        if rng.chance(1, 10) {
            stream.extend_from_slice(b"\r\n\r\n");
        }
        run_server(seed, &mut rng, &stream, None, true);
    }
}

#[test]
fn random_bytes_to_a_server_after_a_valid_request() {
    for seed in 0..fuzz_cases() {
        let mut rng = Rng::new(seed ^ 0xa5a5);
        let mut stream = valid_request(&mut rng);
        let at = stream.len();
        if rng.chance(1, 2) {
            let n = rng.range(0, 200);
            stream.extend(rng.bytes(n));
        } else {
            stream.extend(structured_random_frames(&mut rng, true));
        }
        run_server(seed, &mut rng, &stream, Some(at), true);
    }
}

#[test]
fn random_bytes_to_a_client_after_a_valid_response() {
    for seed in 0..fuzz_cases() {
        let mut rng = Rng::new(seed ^ 0x5a5a);
        if rng.chance(1, 2) {
            run_client(seed, &mut rng, |r| r.noise(200), false);
        } else {
            run_client(seed, &mut rng, |r| structured_random_frames(r, false), false);
        }
    }
}

#[test]
fn random_bytes_to_established_connections() {
    for seed in 0..fuzz_cases() {
        let mut rng = Rng::new(seed ^ 0x3c3c);
        for role in [Role::Client, Role::Server] {
            let stream = if rng.chance(1, 3) {
                let n = rng.range(0, 200);
                rng.bytes(n)
            } else {
                structured_random_frames(&mut rng, role == Role::Server)
            };
            run_established(seed, &mut rng, role, &stream);
        }
    }
}

#[test]
fn mutated_valid_streams_to_a_server() {
    for seed in 0..fuzz_cases() {
        let mut rng = Rng::new(seed ^ 0x1111);
        let mut stream = valid_request(&mut rng);
        let at = stream.len();
        stream.extend(valid_frames(&mut rng, true));
        // Half the time the handshake may be hit too; then only the
        // invariants are checked.
        let from = if rng.chance(1, 2) { at } else { 0 };
        let intact = mutate(&mut rng, &mut stream, from) >= at;
        run_server(seed, &mut rng, &stream, intact.then_some(at), true);
    }
}

#[test]
fn mutated_valid_streams_to_a_client() {
    for seed in 0..fuzz_cases() {
        let mut rng = Rng::new(seed ^ 0x2222);
        run_client(seed, &mut rng, |r| valid_frames(r, false), true);
    }
}

#[test]
fn mutated_valid_streams_to_established_connections() {
    for seed in 0..fuzz_cases() {
        let mut rng = Rng::new(seed ^ 0x3333);
        for role in [Role::Client, Role::Server] {
            let mut stream = valid_frames(&mut rng, role == Role::Server);
            mutate(&mut rng, &mut stream, 0);
            run_established(seed, &mut rng, role, &stream);
        }
    }
}

/// Unmutated valid streams decode to exactly what was sent: the
/// reference decoder and the driver agree on the good path too, so the
/// fuzz targets above are not vacuous.
#[test]
fn valid_streams_decode_completely() {
    for seed in 0..200 {
        let mut rng = Rng::new(seed ^ 0x4444);
        for role in [Role::Client, Role::Server] {
            let stream = valid_frames(&mut rng, role == Role::Server);
            let events = reference_decode(&stream, role == Role::Server, &limits(&plain_config()), false);
            assert!(
                events.iter().all(|e| !matches!(e, Ev::Failed(..))),
                "seed {seed}: the generator made an invalid stream: {events:?}"
            );
            run_established(seed, &mut rng, role, &stream);
        }
    }
}

/// Every truncation of a valid stream, followed by the end of the stream,
/// ends the connection: with the close if it arrived whole, otherwise
/// with a 1006 failure (or an earlier 1007 for a cut code point).
#[test]
fn every_truncation_then_eof_ends_the_connection() {
    let mut rng = Rng::new(77);
    for role in [Role::Client, Role::Server] {
        let masked = role == Role::Server;
        let key = masked.then_some([1, 2, 3, 4]);
        let mut stream = Vec::new();
        encode_frame(&mut stream, true, 1, "héllo wörld 𝄞".as_bytes(), key);
        encode_frame(&mut stream, false, 2, &[1, 2, 3], key);
        encode_frame(&mut stream, true, 9, b"ping", key);
        encode_frame(&mut stream, true, 0, &[0; 200], key);
        encode_frame(&mut stream, true, 8, b"\x03\xe8done", key);
        for cut in 0..=stream.len() {
            let setup = Setup {
                config: plain_config(),
                local_close: false,
                eof: true,
            };
            let label = format!("{role:?} cut {cut}");
            let conn = Connection::established_with_masks(role, plain_config(), &[], masks(cut as u64));
            let got = driver(conn, &mut rng, setup, label.clone()).run(&stream[..cut]);
            let events = frame_events(&got);
            let last = events.last().expect("the end of the stream is reported");
            if cut == stream.len() {
                assert_eq!(last, &Ev::Close(Some(1000), "done".into()), "{label}");
            } else {
                assert!(
                    matches!(last, Ev::Failed("UnexpectedEof" | "InvalidUtf8", 0)),
                    "{label}: {last:?}"
                );
            }
            let expected = reference_decode(&stream[..cut], masked, &limits(&plain_config()), true);
            assert_eq!(events, expected, "{label}");
        }
    }
}

// ---------------------------------------------------------------- memory bounds

/// Feeds `data` to an established connection in `chunk`-byte pieces until
/// an event fails it; returns the error and how many bytes it took.
fn feed_until_failure(conn: &mut Connection, data: &[u8], chunk: usize) -> (Error, usize) {
    let mut fed = 0;
    for piece in data.chunks(chunk) {
        conn.receive(piece);
        fed += piece.len();
        for _ in 0..=fed {
            match conn.poll_event() {
                None => break,
                Some(Event::Failed(e)) => return (e, fed),
                Some(Event::Binary(_) | Event::Text(_)) => panic!("a message within an over-long stream"),
                Some(_) => {}
            }
        }
    }
    panic!("no failure after {fed} bytes");
}

fn assert_close_frame_queued(conn: &Connection, code: u16) {
    assert_single_control_frame(
        conn.pending_output(),
        conn.role(),
        0x8,
        &code.to_be_bytes(),
        "queued close",
    );
}

/// RFC 6455 §10.4: a peer declaring a 2^62-byte frame is refused on the
/// header alone, before any payload, in both roles.
#[test]
fn huge_declared_frame_is_refused_on_its_header() {
    for role in [Role::Client, Role::Server] {
        let config = plain_config();
        let mut conn = Connection::established_with_masks(role, config.clone(), &[], masks(1));
        let mut header = vec![0x82, 127];
        header.extend_from_slice(&(1u64 << 62).to_be_bytes());
        if role == Role::Server {
            header[1] |= 0x80;
            header.extend_from_slice(&[9, 9, 9, 9]);
        }
        let (error, fed) = feed_until_failure(&mut conn, &header, 1);
        assert_eq!(fed, header.len(), "{role:?}: refused once the header is whole");
        match error {
            Error::LimitExceeded {
                kind: Limit::FrameSize,
                len,
                max,
            } => {
                assert_eq!(len, 1 << 62);
                assert_eq!(max, config.max_frame_size);
            }
            other => panic!("{role:?}: {other:?}"),
        }
        assert_eq!(error.close_code().map(|c| c.0), Some(1009));
        assert_close_frame_queued(&conn, 1009);
        assert_eq!(conn.ready_state(), ReadyState::Closed);
        assert!(conn.should_close_transport());
    }
}

/// With the limits lifted, a declared 2^62-byte frame still costs only
/// the bytes that actually arrive: the read buffer is never sized from the
/// declared length.
#[test]
fn declared_length_never_reserves_memory() {
    let config = plain_config().max_frame_size(usize::MAX).max_message_size(usize::MAX);
    let mut conn = Connection::established_with_masks(Role::Client, config.clone(), &[], masks(2));
    let mut header = vec![0x82, 127];
    header.extend_from_slice(&(1u64 << 62).to_be_bytes());
    conn.receive(&header);
    assert!(conn.poll_event().is_none());
    let cap = config.read_chunk.max(64 << 10);
    let mut arrived = 0;
    for _ in 0..8 {
        let buf = conn.read_buffer();
        assert!(buf.len() <= cap, "read_buffer offered {} bytes", buf.len());
        let n = buf.len().min(10_000);
        buf[..n].fill(0xab);
        conn.commit_read(n);
        arrived += n;
        assert!(conn.poll_event().is_none());
    }
    assert_eq!(arrived, 80_000);
    conn.receive_eof();
    assert!(matches!(conn.poll_event(), Some(Event::Failed(Error::UnexpectedEof))));
}

/// An endless fragmented message is refused as soon as the fragments
/// declared pass `max_message_size`, control frames between them
/// notwithstanding.
#[test]
fn endless_fragmented_message_is_refused_at_max_message_size() {
    for role in [Role::Client, Role::Server] {
        let max = 64 << 10;
        let config = plain_config().max_message_size(max);
        let key = (role == Role::Server).then_some([7, 7, 7, 7]);
        let fragment = vec![b'x'; 1000];
        let mut stream = Vec::new();
        encode_frame(&mut stream, false, 1, &fragment, key);
        for i in 0..100 {
            encode_frame(&mut stream, false, 0, &fragment, key);
            if i % 10 == 0 {
                encode_frame(&mut stream, true, 9, b"still here", key);
            }
        }
        let mut conn = Connection::established_with_masks(role, config.clone(), &[], masks(3));
        let (error, fed) = feed_until_failure(&mut conn, &stream, 997);
        match error {
            Error::LimitExceeded {
                kind: Limit::MessageSize,
                len,
                max: m,
            } => {
                assert_eq!(m, max);
                assert_eq!(len, 66_000, "{role:?}: the 66th fragment crosses 64 KiB");
            }
            other => panic!("{role:?}: {other:?}"),
        }
        // Refused at the crossing fragment's header, not later.
        let overhead = 14 + 12;
        assert!(
            fed <= max + 8 * (1000 + overhead) + 997,
            "{role:?}: {fed} bytes read first"
        );
        // The auto-pongs were queued first; the close frame is last.
        let mut pending = conn.pending_output();
        let mut frames = Vec::new();
        while !pending.is_empty() {
            let (fin, opcode, masked, payload, len) = parse_output_frame(pending);
            assert!(fin && masked == (role == Role::Client), "{role:?}");
            frames.push((opcode, payload));
            pending = &pending[len..];
        }
        let (last, pongs) = frames.split_last().expect("a close frame is queued");
        assert_eq!(last, &(0x8, 1009u16.to_be_bytes().to_vec()), "{role:?}");
        assert!(
            !pongs.is_empty() && pongs.iter().all(|f| f == &(0xa, b"still here".to_vec())),
            "{role:?}"
        );
    }
}

/// A single frame over `max_frame_size` is refused on its header even
/// when the message limit would allow it.
#[test]
fn frame_over_max_frame_size_is_refused() {
    let config = plain_config().max_frame_size(1000);
    let mut conn = Connection::established_with_masks(Role::Client, config, &[], masks(4));
    let mut stream = Vec::new();
    encode_frame(&mut stream, true, 2, &[0; 1000], None);
    encode_frame(&mut stream, true, 2, &[0; 1001], None);
    conn.receive(&stream[..stream.len() - 1001]);
    assert!(matches!(conn.poll_event(), Some(Event::Binary(b)) if b.len() == 1000));
    assert!(matches!(
        conn.poll_event(),
        Some(Event::Failed(Error::LimitExceeded {
            kind: Limit::FrameSize,
            len: 1001,
            max: 1000
        }))
    ));
    assert_close_frame_queued(&conn, 1009);
}

/// Feeds a handshake that never ends to a fresh connection; returns the
/// error and the bytes fed when it failed.
fn feed_endless_handshake(conn: &mut Connection, start: &[u8], line: &[u8], chunk: usize) -> (Error, usize) {
    let mut stream = start.to_vec();
    while stream.len() < 200_000 {
        stream.extend_from_slice(line);
    }
    let mut fed = 0;
    for piece in stream.chunks(chunk) {
        conn.receive(piece);
        fed += piece.len();
        match conn.poll_event() {
            None => {}
            Some(Event::Failed(e)) => return (e, fed),
            Some(other) => panic!("{other:?} from an endless header block"),
        }
    }
    panic!("an endless header block was read to the end");
}

/// RFC 6455 §10.4 / RFC 9110: an endless header block is refused once it
/// passes `max_handshake_size` (431 from a server), however it is cut.
#[test]
fn endless_header_block_is_refused_at_max_handshake_size() {
    for (max, chunk) in [(16 << 10, 1000), (1000, 1), (1000, 7), (4096, 4096)] {
        let config = plain_config().max_handshake_size(max).max_headers(100_000);
        let cases: [(&[u8], &[u8]); 3] = [
            (
                b"GET / HTTP/1.1\r\n",
                b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            ),
            (b"GET /", b"a"),
            (b"", b"\x00garbage without a line end"),
        ];
        for (start, line) in cases {
            let mut server = Connection::server(config.clone());
            let (error, fed) = feed_endless_handshake(&mut server, start, line, chunk);
            let what = format!("max {max} chunk {chunk} start {start:?}");
            assert!(fed <= max + chunk, "{what}: {fed} bytes read first");
            assert_eq!(error.close_code().map(|c| c.0), Some(1006), "{what}");
            match error {
                // Garbage may be refused as malformed before the limit.
                Error::Handshake(HandshakeError::TooLarge) => {
                    assert!(fed >= max, "{what}: refused before the limit");
                    assert!(server.pending_output().starts_with(b"HTTP/1.1 431 "), "{what}");
                }
                Error::Handshake(HandshakeError::Malformed(_)) if start.is_empty() => {
                    assert!(server.pending_output().starts_with(b"HTTP/1.1 400 "), "{what}");
                }
                other => panic!("{what}: {other:?}"),
            }
            assert_eq!(server.ready_state(), ReadyState::Closed);
            assert!(server.should_close_transport());

            let mut rng = Rng::new(max as u64);
            let (mut client, _) = client_and_response(&mut rng, config.clone());
            client.advance_output(usize::MAX);
            let response_start: &[u8] = if start.is_empty() {
                b""
            } else {
                b"HTTP/1.1 101 Switching Protocols\r\n"
            };
            let (error, fed) = feed_endless_handshake(&mut client, response_start, line, chunk);
            assert!(fed <= max + chunk, "client {what}: {fed} bytes read first");
            assert!(
                matches!(
                    error,
                    Error::Handshake(HandshakeError::TooLarge | HandshakeError::Malformed(_))
                ),
                "client {what}: {error:?}"
            );
            if !start.is_empty() {
                assert!(matches!(error, Error::Handshake(HandshakeError::TooLarge)), "{what}");
            }
            assert!(client.pending_output().is_empty(), "a client answers nothing");
            assert_eq!(client.ready_state(), ReadyState::Closed);
        }
    }
}

/// More header lines than `max_headers` are refused with 431 too.
#[test]
fn too_many_headers_are_refused() {
    let config = plain_config().max_headers(8);
    let mut request = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..20 {
        request.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let mut server = Connection::server(config);
    server.receive(&request);
    assert!(matches!(
        server.poll_event(),
        Some(Event::Failed(Error::Handshake(HandshakeError::TooLarge)))
    ));
    assert!(server.pending_output().starts_with(b"HTTP/1.1 431 "));
    assert!(server.poll_event().is_none());
}

/// RFC 6455 alone (the reference decoder knows no extension).
fn plain_config() -> Config {
    #[allow(unused_mut)]
    let mut config = Config::default();
    #[cfg(feature = "deflate")]
    {
        config.deflate.enabled = false;
    }
    config
}
