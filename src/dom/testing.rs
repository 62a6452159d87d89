//! `DomPair`: a client [`Dom`] and a server [`Dom`] wired back to back
//! through in-memory buffers, with a fake clock, so the WHATWG steps are
//! tested here, sans-IO, once each; the driver suites keep the I/O
//! concerns (sockets, cancellation, backpressure).
//!
//! It plays the driver's part as `driver.rs` does, without waiting: a
//! `Next::Write` moves the whole pending output into the peer's inbox, a
//! `Next::Read` hands the inbox over in the peer's chunking (or the end of
//! stream once the peer closed its transport), and a side whose inbox is
//! empty simply stops until the other side or the test moves.

use super::{AsEvent, BinaryType, Dom, Next};
use crate::connection::{Connection, ReadyState, Role};
use crate::error::Error;
use crate::handshake::{Accept, ClientRequest};
use crate::testkit::{Chunking, DomEv, SEED, masks, own_dom, plain_config};
use core::time::Duration;
use std::string::String;
use std::vec::Vec;

/// One end: its DOM, what it saw, and its side of the "transport".
pub(super) struct Side {
    pub(super) dom: Dom,
    /// Every event handed out, in order.
    pub(super) events: Vec<DomEv>,
    /// The readyState when each event was handed out.
    pub(super) states: Vec<ReadyState>,
    /// Bytes the peer wrote that this side has not read yet.
    pub(super) inbox: Vec<u8>,
    /// How this side's reads are cut.
    pub(super) chunking: Chunking,
    /// The peer closed its transport: once the inbox is read, end of stream.
    peer_closed: bool,
    eof_delivered: bool,
    /// A server's answer to the opening handshake.
    decision: Result<Accept, u16>,
}

impl Side {
    fn new(dom: Dom) -> Self {
        Self {
            dom,
            events: Vec::new(),
            states: Vec::new(),
            inbox: Vec::new(),
            chunking: Chunking::Whole,
            peer_closed: false,
            eof_delivered: false,
            decision: Ok(Accept::new()),
        }
    }

    /// Takes the events seen so far.
    pub(super) fn take_events(&mut self) -> Vec<DomEv> {
        self.states.clear();
        core::mem::take(&mut self.events)
    }

    pub(super) fn ready_state(&self) -> ReadyState {
        self.dom.ready_state()
    }
}

/// A client and a server [`Dom`] back to back.
pub(super) struct DomPair {
    pub(super) client: Side,
    pub(super) server: Side,
    /// The fake clock.
    pub(super) now: Duration,
}

impl DomPair {
    /// Both CONNECTING; nothing has moved.
    pub(super) fn new() -> Self {
        let request = ClientRequest::new("example.com", "/chat");
        let url = super::client_url(&request, false);
        let client = Connection::client_with_masks(request, plain_config(), masks(SEED));
        Self {
            client: Side::new(Dom::new(client, url)),
            server: Side::new(Dom::new(Connection::server(plain_config()), String::new())),
            now: Duration::ZERO,
        }
    }

    /// A pair whose server answers the handshake with `status`.
    pub(super) fn refused(status: u16) -> Self {
        let mut pair = Self::new();
        pair.server.decision = Err(status);
        pair
    }

    /// Both sides past their open event; logs cleared.
    pub(super) fn open() -> Self {
        let mut pair = Self::new();
        pair.run();
        assert_eq!(pair.client.take_events(), [DomEv::Open]);
        assert_eq!(pair.server.take_events(), [DomEv::Open]);
        pair
    }

    pub(super) fn side(&mut self, role: Role) -> &mut Side {
        match role {
            Role::Client => &mut self.client,
            Role::Server => &mut self.server,
        }
    }

    /// Runs both sides until neither can move.
    pub(super) fn run(&mut self) {
        for _ in 0..10_000 {
            let a = Self::step(&mut self.client, &mut self.server);
            let b = Self::step(&mut self.server, &mut self.client);
            if !a && !b {
                return;
            }
        }
        panic!("the pair did not settle");
    }

    /// Runs only `role`'s side until it would wait (the peer does not
    /// move: what `role` writes stays in the peer's inbox).
    pub(super) fn run_one(&mut self, role: Role) {
        let (me, peer) = match role {
            Role::Client => (&mut self.client, &mut self.server),
            Role::Server => (&mut self.server, &mut self.client),
        };
        Self::step(me, peer);
    }

    /// Advances the fake clock by `d`, tells only `role`'s side and runs
    /// it (the peer stays silent).
    pub(super) fn advance_one(&mut self, role: Role, d: Duration) {
        self.now += d;
        let now = self.now;
        self.side(role).dom.conn.handle_timeout(now);
        self.run_one(role);
    }

    /// Drives `me` as a driver would until it has to wait; whether
    /// anything happened.
    fn step(me: &mut Side, peer: &mut Side) -> bool {
        let mut moved = false;
        for _ in 0..100_000 {
            match me.dom.next(&AsEvent(BinaryType::ArrayBuffer)) {
                Next::Event(event) | Next::Message(event) => {
                    me.events.push(own_dom(&event));
                    me.states.push(me.dom.ready_state());
                }
                // Pongs are automatic; the DOM shows neither.
                Next::Ping(_) | Next::Pong(_) => {}
                Next::Decide => {
                    let answer = me.decision.clone();
                    me.dom.decide(&mut Some(|_: &_| answer)).expect("decide");
                }
                Next::Write => Self::write(me, peer),
                Next::CloseTransport => {
                    if me.dom.flush_before_close() {
                        Self::write(me, peer);
                    }
                    me.dom.transport_closed();
                    peer.peer_closed = true;
                }
                Next::Read => {
                    if !Self::read(me) {
                        return moved;
                    }
                }
                Next::Done => return moved,
            }
            moved = true;
        }
        panic!("the DOM never waited");
    }

    /// Writes all of `me`'s output into the peer's inbox (dropped if the
    /// peer already closed its transport, as a socket whose peer is gone
    /// still takes bytes until it learns so).
    fn write(me: &mut Side, peer: &mut Side) {
        while !me.dom.conn.pending_output().is_empty() {
            let n = me.dom.conn.pending_output().len();
            if peer.dom.transport_open() {
                peer.inbox.extend_from_slice(me.dom.conn.pending_output());
            }
            me.dom.wrote(n);
        }
    }

    /// One read: a chunk of the inbox, or the end of stream; `false` if
    /// there is nothing to read yet.
    fn read(me: &mut Side) -> bool {
        if !me.dom.transport_open() {
            // As the drivers do: reading a transport closed on our side.
            me.dom.read_failed(Error::Io(std::io::ErrorKind::NotConnected.into()));
            return true;
        }
        if !me.inbox.is_empty() {
            let len = me.chunking.split(&me.inbox)[0].len();
            let chunk: Vec<u8> = me.inbox.drain(..len).collect();
            me.dom.conn.receive(&chunk);
            return true;
        }
        if me.peer_closed && !me.eof_delivered {
            me.eof_delivered = true;
            me.dom.conn.receive_eof();
            return true;
        }
        false
    }
}
