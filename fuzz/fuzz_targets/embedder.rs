//! The core as a careless embedder drives it: arbitrary sequences of every
//! public `Connection` call with arbitrary arguments — lengths past the
//! buffers and `usize::MAX` (a `-1` read result cast), time going backwards
//! and to `Duration::MAX`, extreme `Config`s, strings with CR/LF.
//!
//! Checked: no panic; every `Text` event is valid UTF-8 (checked on its
//! bytes, not trusted); `advance_output(n)` drops exactly the first
//! `min(n, pending)` bytes and never queues a written byte again;
//! `take_output` hands out what `pending_output` showed.

#![no_main]

use arbitrary::Arbitrary;
use core::time::Duration;
use libfuzzer_sys::fuzz_target;
use rfc6455::connection::Event;
use rfc6455::{Accept, ClientRequest, CloseCode, Config, Connection, OpCode, Role};
use rfc6455_fuzz::masks;

#[derive(Arbitrary, Debug)]
enum Len {
    Small(u8),
    Any(usize),
    Max,
    MaxMinus(u8),
}

impl Len {
    fn get(&self) -> usize {
        match *self {
            Len::Small(n) => n as usize,
            Len::Any(n) => n,
            Len::Max => usize::MAX,
            Len::MaxMinus(n) => usize::MAX - n as usize,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Time {
    Millis(u32),
    Secs(u64),
    Max,
    Back(u16),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Receive(Vec<u8>),
    /// Writes these bytes into `read_buffer()` (as far as they fit) and
    /// commits `len`, which may be anything.
    Fill(Vec<u8>, Len),
    Commit(Len),
    Eof,
    Poll(u8),
    SendText(String),
    SendBinary(Vec<u8>),
    SendFrame(u8, Vec<u8>, bool),
    SendMessage(u8, Vec<u8>, bool),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
    CloseWithoutCode,
    Accept(Option<String>, Option<(String, String)>),
    Reject(u16),
    Advance(Len),
    Take(u16),
    Time(Time),
    ReleaseBuffers,
}

#[derive(Arbitrary, Debug)]
struct FuzzConfig {
    max_frame_size: Len,
    max_message_size: Len,
    max_handshake_size: Len,
    max_headers: Len,
    read_chunk: Len,
    handshake_timeout: Option<Time>,
    close_timeout: Option<Time>,
    keepalive_interval: Option<Time>,
    auto_pong: bool,
    echo_close_reason: bool,
}

fn duration(time: &Time) -> Duration {
    match *time {
        Time::Millis(ms) => Duration::from_millis(ms.into()),
        Time::Secs(s) => Duration::from_secs(s),
        Time::Max => Duration::MAX,
        Time::Back(ms) => Duration::from_millis(ms.into()),
    }
}

impl FuzzConfig {
    fn to_config(&self) -> Config {
        Config::default()
            .max_frame_size(self.max_frame_size.get())
            .max_message_size(self.max_message_size.get())
            .max_handshake_size(self.max_handshake_size.get())
            .max_headers(self.max_headers.get())
            .read_chunk(self.read_chunk.get())
            .handshake_timeout(self.handshake_timeout.as_ref().map(duration))
            .close_timeout(self.close_timeout.as_ref().map(duration))
            .keepalive_interval(self.keepalive_interval.as_ref().map(duration))
            .auto_pong(self.auto_pong)
            .echo_close_reason(self.echo_close_reason)
    }
}

#[derive(Arbitrary, Debug)]
enum Start {
    Server,
    Client {
        resource: String,
        header: Option<(String, String)>,
        protocol: Option<String>,
    },
    Established(bool, Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    start: Start,
    config: FuzzConfig,
    ops: Vec<Op>,
}

fn opcode(b: u8) -> OpCode {
    match b % 6 {
        0 => OpCode::Continuation,
        1 => OpCode::Text,
        2 => OpCode::Binary,
        3 => OpCode::Close,
        4 => OpCode::Ping,
        _ => OpCode::Pong,
    }
}

fn poll(conn: &mut Connection, max: u8) {
    for _ in 0..=max {
        match conn.poll_event() {
            None => return,
            Some(Event::Text(text)) => {
                assert!(
                    core::str::from_utf8(text.as_bytes()).is_ok(),
                    "a Text event with invalid UTF-8"
                );
            }
            Some(_) => {}
        }
    }
}

fuzz_target!(|input: Input| {
    let config = input.config.to_config();
    let mut conn = match &input.start {
        Start::Server => Connection::server(config),
        Start::Client {
            resource,
            header,
            protocol,
        } => {
            let mut request = ClientRequest::new("h", resource.as_str());
            if let Some((name, value)) = header {
                request = request.header(name.as_str(), value.as_str());
            }
            if let Some(protocol) = protocol {
                request = request.protocol(protocol.as_str());
            }
            Connection::client_with_masks(request, config, masks())
        }
        Start::Established(client, already) => {
            let role = if *client { Role::Client } else { Role::Server };
            Connection::established_with_masks(role, config, already, masks())
        }
    };
    let mut now = Duration::ZERO;
    for op in input.ops.iter().take(256) {
        match op {
            Op::Receive(bytes) => conn.receive(bytes),
            Op::Fill(bytes, len) => {
                let buf = conn.read_buffer();
                let n = buf.len().min(bytes.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                conn.commit_read(len.get());
            }
            Op::Commit(len) => conn.commit_read(len.get()),
            Op::Eof => conn.receive_eof(),
            Op::Poll(max) => poll(&mut conn, *max),
            Op::SendText(text) => drop(conn.send_text(text)),
            Op::SendBinary(bytes) => drop(conn.send_binary(bytes)),
            Op::SendFrame(op, bytes, fin) => drop(conn.send_frame(opcode(*op), bytes, *fin)),
            Op::SendMessage(op, bytes, compress) => drop(conn.send_message(opcode(*op), bytes, *compress)),
            Op::Ping(bytes) => drop(conn.ping(bytes)),
            Op::Pong(bytes) => drop(conn.pong(bytes)),
            Op::Close(code, reason) => drop(conn.close(CloseCode(*code), reason)),
            Op::CloseWithoutCode => conn.close_without_code(),
            Op::Accept(protocol, header) => {
                let mut accept = Accept::new();
                if let Some(protocol) = protocol {
                    accept = accept.protocol(protocol.as_str());
                }
                if let Some((name, value)) = header {
                    accept = accept.header(name.as_str(), value.as_str());
                }
                drop(conn.accept(accept));
            }
            Op::Reject(status) => drop(conn.reject(*status)),
            Op::Advance(len) => {
                let before = conn.pending_output().to_vec();
                let n = len.get().min(before.len());
                conn.advance_output(len.get());
                assert_eq!(
                    conn.pending_output(),
                    &before[n..],
                    "advance_output({}) re-queued bytes",
                    len.get()
                );
            }
            Op::Take(len) => {
                let before = conn.pending_output().to_vec();
                let mut out = vec![0u8; *len as usize];
                let n = conn.take_output(&mut out);
                assert_eq!(&out[..n], &before[..n]);
                assert_eq!(conn.pending_output(), &before[n..]);
            }
            Op::Time(time) => {
                now = match time {
                    Time::Back(ms) => now.saturating_sub(Duration::from_millis((*ms).into())),
                    Time::Max => Duration::MAX,
                    other => now.saturating_add(duration(other)),
                };
                conn.handle_timeout(now);
                let _ = conn.poll_timeout();
            }
            Op::ReleaseBuffers => conn.release_buffers(),
        }
    }
    poll(&mut conn, u8::MAX);
});
