//! Wire bytes and event helpers for the connection's unit tests.

use super::{Connection, Event, Role};
use crate::config::Config;
use crate::frame::{self, FrameHeader, MAX_HEADER_LEN, OpCode};
use crate::mask::{MaskSource, apply_mask};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

pub(super) const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

pub(super) struct NoMasks;

impl MaskSource for NoMasks {
    fn fill(&mut self, dest: &mut [u8]) {
        dest.fill(0x5a);
    }
}

pub(super) fn server(config: Config) -> Connection {
    Connection::established_with_masks(Role::Server, config, &[], Box::new(NoMasks))
}

/// The header of a masked frame (as a client sends it) declaring `len`.
pub(super) fn header(opcode: OpCode, fin: bool, len: u64) -> Vec<u8> {
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask: Some(KEY),
        len,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = frame::encode(&header, &mut head);
    head[..n].to_vec()
}

/// A whole masked frame.
pub(super) fn frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = header(opcode, fin, payload.len() as u64);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], KEY, 0);
    out
}

/// Events, owned.
#[derive(Debug, PartialEq)]
pub(super) enum Ev {
    Text(String),
    Binary(Vec<u8>),
    TextPart(String, bool),
    BinaryPart(Vec<u8>, bool),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Failed(Option<u16>),
    Other,
}

pub(super) fn poll_all(conn: &mut Connection) -> Vec<Ev> {
    let mut events = Vec::new();
    while let Some(event) = conn.poll_event() {
        events.push(match event {
            Event::Text(t) => Ev::Text(String::from(t)),
            Event::Binary(b) => Ev::Binary(b.to_vec()),
            Event::TextPart { text, last } => Ev::TextPart(String::from(text), last),
            Event::BinaryPart { data, last } => Ev::BinaryPart(data.to_vec(), last),
            Event::Ping(p) => Ev::Ping(p.to_vec()),
            Event::Pong(p) => Ev::Pong(p.to_vec()),
            Event::Failed(e) => Ev::Failed(e.close_code().map(|c| c.0)),
            _ => Ev::Other,
        });
    }
    events
}

/// Feeds `bytes` one at a time, alternating `receive` and
/// `read_buffer`, polling after each; returns the events and how many
/// bytes had gone in when the first event came out.
pub(super) fn trickle(conn: &mut Connection, bytes: &[u8]) -> (Vec<Ev>, Option<usize>) {
    let mut events = Vec::new();
    let mut first = None;
    for (i, &b) in bytes.iter().enumerate() {
        if i % 2 == 0 {
            conn.receive(&[b]);
        } else {
            conn.read_buffer()[0] = b;
            conn.commit_read(1);
        }
        let new = poll_all(conn);
        if !new.is_empty() && first.is_none() {
            first = Some(i + 1);
        }
        events.extend(new);
    }
    (events, first)
}

/// The server's close frame with `code`, unmasked.
pub(super) fn close_with(code: u16) -> Vec<u8> {
    let [hi, lo] = code.to_be_bytes();
    vec![0x88, 0x02, hi, lo]
}
