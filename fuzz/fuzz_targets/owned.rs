//! Owned payloads: messages taken without a copy and payloads sent by
//! reference, on an open connection of either role. Frames up to 70 KB
//! built from a pattern are fed in reads of any size (from 61 bytes) and
//! taken owned (`take_message`, which shares the read buffer from 16 KiB,
//! and takes the allocation back once the message is dropped); payloads
//! go out by reference (`send_binary_bytes`, `send_text_bytes`) or in a
//! frame of declared length (`begin_message`, `send_payload`), between
//! small frames, pings and closes; the output is written in pieces of
//! any length.
//!
//! Checked: no panic; a message taken from a frame parsed from its first
//! byte is that frame's payload; one kept stays as it was taken however
//! the connection reads on; `advance_output(n)` drops exactly the first
//! `min(n, pending)` bytes of all the pieces together, and `take_output`
//! hands out what was pending.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rfc6455::connection::Event;
use rfc6455::{Bytes, CloseCode, Config, Connection, OpCode, Role, Utf8Bytes};
use rfc6455_fuzz::masks;

#[derive(Arbitrary, Debug)]
enum Op {
    /// A whole frame of `len % 70_000` pattern bytes, text or binary,
    /// masked as the role expects, in reads of at most `read` bytes; the
    /// message taken at once, then kept or dropped.
    Frame {
        text: bool,
        len: u32,
        read: u16,
        keep: bool,
    },
    /// Bytes as they are (a partial or invalid frame included).
    Receive(Vec<u8>),
    /// `take_message` after whatever came last, kept or dropped.
    Take(bool),
    /// Drops the oldest message kept.
    Drop,
    SendBytes(bool, u16),
    SendBinary(Vec<u8>),
    Begin(bool, u32),
    Payload(Vec<u8>),
    Ping(Vec<u8>),
    Close(u16),
    /// Writes up to this many bytes, from the pieces or by copying out.
    Write(u32, bool),
    ReleaseBuffers,
}

#[derive(Arbitrary, Debug)]
struct Input {
    client: bool,
    ops: Vec<Op>,
}

/// The pattern a frame carries: lowercase ASCII (so valid text), shifted
/// by its length, so a message cut or mixed with other bytes differs.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + ((i + len) % 26) as u8).collect()
}

/// Everything pending, all pieces together.
fn all_pending(conn: &Connection) -> Vec<u8> {
    let mut pieces = [&[][..]; 256];
    let n = conn.pending_output_pieces(&mut pieces);
    let out: Vec<u8> = pieces[..n].concat();
    assert_eq!(out.len(), conn.pending_output_len(), "pieces and pending length differ");
    out
}

/// A frame of `payload`, masked when a client sends it (to a server).
fn frame(text: bool, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut wire = vec![if text { 0x81 } else { 0x82 }];
    let mask = if masked { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => wire.push(mask | len as u8),
        len @ 126..=65535 => {
            wire.push(mask | 126);
            wire.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            wire.push(mask | 127);
            wire.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    let key = [0x12, 0x34, 0x56, 0x78];
    if masked {
        wire.extend_from_slice(&key);
        wire.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        wire.extend_from_slice(payload);
    }
    wire
}

fuzz_target!(|input: Input| {
    let role = if input.client { Role::Client } else { Role::Server };
    let mut conn = Connection::established_with_masks(role, Config::default(), &[], masks());
    // Messages kept, each with a copy made when it was taken.
    let mut held: Vec<(Bytes, Vec<u8>)> = Vec::new();
    for op in input.ops.iter().take(64) {
        match op {
            Op::Frame { text, len, read, keep } => {
                let payload = pattern(*len as usize % 70_000);
                let wire = frame(*text, &payload, role == Role::Server);
                // With nothing received before it, the frame is parsed from
                // its first byte, and a message it makes is it.
                let clean = !conn.has_buffered_input();
                let mut rest = wire.as_slice();
                while !rest.is_empty() {
                    let room = conn.read_buffer();
                    let n = room.len().min(rest.len()).min(usize::from(*read).max(61));
                    if n == 0 {
                        break;
                    }
                    room[..n].copy_from_slice(&rest[..n]);
                    conn.commit_read(n);
                    rest = &rest[n..];
                    if let Some(Event::Text(_) | Event::Binary(_)) = conn.poll_event()
                        && let Some(message) = conn.take_message()
                    {
                        if clean {
                            assert!(message == payload, "a message taken is not the frame sent");
                        }
                        if *keep && held.len() < 8 {
                            held.push((message.clone(), message.to_vec()));
                        }
                    }
                }
            }
            Op::Receive(bytes) => {
                conn.receive(bytes);
                while conn.poll_event().is_some() {}
            }
            Op::Take(keep) => {
                if let Some(message) = conn.take_message()
                    && *keep
                    && held.len() < 8
                {
                    held.push((message.clone(), message.to_vec()));
                }
            }
            Op::Drop => drop((!held.is_empty()).then(|| held.remove(0))),
            Op::SendBytes(text, len) => {
                let payload = pattern(usize::from(*len));
                drop(match text {
                    true => conn.send_text_bytes(Utf8Bytes::try_from(payload).expect("ASCII")),
                    false => conn.send_binary_bytes(Bytes::from(payload)),
                });
            }
            Op::SendBinary(bytes) => drop(conn.send_binary(bytes)),
            Op::Begin(text, len) => {
                let opcode = if *text { OpCode::Text } else { OpCode::Binary };
                drop(conn.begin_message(opcode, u64::from(*len % 100_000)));
            }
            Op::Payload(bytes) => drop(conn.send_payload(bytes)),
            Op::Ping(bytes) => drop(conn.ping(bytes)),
            Op::Close(code) => drop(conn.close(CloseCode(*code), "")),
            Op::Write(len, copy_out) => {
                let before = all_pending(&conn);
                let want = *len as usize;
                let n = match copy_out {
                    true => {
                        let mut out = vec![0u8; want.min(1 << 20)];
                        let n = conn.take_output(&mut out);
                        assert!(out[..n] == before[..n], "take_output handed out other bytes");
                        n
                    }
                    false => {
                        conn.advance_output(want);
                        want.min(before.len())
                    }
                };
                assert!(all_pending(&conn) == before[n..], "written bytes queued again or lost");
            }
            Op::ReleaseBuffers => conn.release_buffers(),
        }
        for (message, copy) in &held {
            assert!(message == copy, "a message kept changed while the connection read on");
        }
    }
});
