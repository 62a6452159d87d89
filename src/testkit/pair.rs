//! A deterministic two-peer harness, in the spirit of quinn's in-memory
//! `Pair`: a client [`Connection`] and a server [`Connection`] wired back to
//! back, a fake clock, configurable chunking of the bytes in flight, and
//! owned copies of every event.
//!
//! Nothing here reads a real clock or a real RNG: the client masks with a
//! seeded [`XorShift`](super::XorShift), so every run produces the same bytes.

use super::{Decoded, Ev, Fault, OP_CLOSE, SEED, assert_fails_with, decode_frames, masks, own};
use crate::{Accept, ClientRequest, CloseCode, Config, Connection, ReadyState, Role};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

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

/// What a server peer does with an [`Event::Request`](crate::connection::Event::Request).
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
        let mut out = Vec::new();
        while !self.conn.pending_output().is_empty() {
            let piece = self.conn.pending_output();
            out.extend_from_slice(piece);
            let n = piece.len();
            self.conn.advance_output(n);
        }
        self.sent.extend_from_slice(&out);
        out
    }

    /// Takes the events logged so far.
    pub fn take_events(&mut self) -> Vec<Ev> {
        core::mem::take(&mut self.events)
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
        if CloseCode(code).is_sendable() {
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

/// The accept key for the `Sec-WebSocket-Key` found in a request's bytes.
pub fn accept_for(request: &[u8]) -> String {
    let text = core::str::from_utf8(request).expect("request is ASCII");
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("request carries a key");
    crate::handshake::accept_key(key.trim().as_bytes())
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
