//! The blocking `WebSocket` driver over a scripted in-memory transport that
//! replays the input in reads (with `WouldBlock`/`Interrupted` between
//! some), then reports EOF or an error; writes can be short or fail.
//!
//! Input: `[mode, io flags, chunk seed, stream...]`.
//! mode % 4: 0 server handshake (`accept_with`), 1 established server,
//! 2 established client, 3 client handshake (`client_with_masks` through
//! `from_connection`). mode bit 2 echoes every message back (`read()`
//! loop); mode bit 3 pulls DOM events with `next_event()` instead.
//! io flags: bits 0-2 short writes of that many bytes (0: whole), bit 3
//! writes fail after 64 bytes, bit 4 the stream ends in an error instead of
//! EOF, bit 5 injects WouldBlock/Interrupted reads, bits 6-7 the config.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::websocket::Event;
use rfc6455::{Accept, Config, Connection, Message, MessageData, ReadyState, Role, Transport, WebSocket};
use rfc6455_fuzz::{XorShift, chunks, config_from_byte, fuzz_request, masks};
use std::collections::VecDeque;
use std::io::{self, Read, Write};

enum Step {
    Data(Vec<u8>),
    WouldBlock,
    Interrupted,
}

struct Script {
    steps: VecDeque<Step>,
    end_with_error: bool,
    short_writes: usize,
    fail_writes_after: Option<usize>,
    written: usize,
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.steps.pop_front() {
            Some(Step::Data(mut data)) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                if n < data.len() {
                    data.drain(..n);
                    self.steps.push_front(Step::Data(data));
                }
                Ok(n)
            }
            Some(Step::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Some(Step::Interrupted) => Err(io::ErrorKind::Interrupted.into()),
            None if self.end_with_error => Err(io::ErrorKind::ConnectionReset.into()),
            None => Ok(0),
        }
    }
}

impl Write for Script {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.fail_writes_after.is_some_and(|limit| self.written >= limit) {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let n = if self.short_writes == 0 {
            buf.len()
        } else {
            buf.len().min(self.short_writes)
        };
        self.written += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Script {
    fn shutdown(&mut self) -> io::Result<()> {
        // Nothing more is read after a shutdown.
        self.steps.clear();
        self.end_with_error = false;
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, io_flags, seed, stream @ ..] = data else {
        return;
    };
    let mut rng = XorShift::new(u64::from(*seed) + 1);
    let mut steps = VecDeque::new();
    for piece in chunks(stream, *seed) {
        if io_flags & 0x20 != 0 {
            match rng.below(4) {
                0 => steps.push_back(Step::WouldBlock),
                1 => steps.push_back(Step::Interrupted),
                _ => {}
            }
        }
        steps.push_back(Step::Data(piece.to_vec()));
    }
    let script = Script {
        steps,
        end_with_error: io_flags & 0x10 != 0,
        short_writes: usize::from(io_flags & 7),
        fail_writes_after: (io_flags & 8 != 0).then_some(64),
        written: 0,
    };
    // No timers: the driver reads the real clock.
    let config = config_from_byte((io_flags >> 6) << 2)
        .handshake_timeout(None)
        .close_timeout(None)
        .keepalive_interval(None)
        .stream_messages(mode & 16 != 0);
    let echo = mode & 4 != 0;
    let ws = match mode % 4 {
        0 => WebSocket::accept_with(script, config.clone(), |request| {
            let mut accept = Accept::new();
            if let Some(p) = request.protocols().first() {
                accept = accept.protocol(p.clone());
            }
            Ok(accept)
        }),
        1 => Ok(WebSocket::from_connection(
            Connection::established_with_masks(Role::Server, config.clone(), &[], masks()),
            script,
        )),
        2 => Ok(WebSocket::from_connection(
            Connection::established_with_masks(Role::Client, config.clone(), &[], masks()),
            script,
        )),
        _ => Ok(WebSocket::from_connection(
            Connection::client_with_masks(fuzz_request(1), config.clone(), masks()),
            script,
        )),
    };
    let Ok(ws) = ws else {
        return;
    };
    if mode & 8 != 0 {
        dom_events(ws, stream.len(), &config);
    } else {
        messages(ws, stream.len(), &config, echo);
    }
});

fn check_len(len: usize, config: &Config) {
    assert!(
        len <= config.max_message_size,
        "message of {len} bytes over {}",
        config.max_message_size
    );
}

/// `read()` until `Ok(None)` or `Err`, echoing messages when asked.
fn messages(mut ws: WebSocket<Script>, input_len: usize, config: &Config, echo: bool) {
    // Bytes of the message arriving in parts so far.
    let mut in_parts = 0;
    // Each message consumes at least a 2-byte header, each part at least
    // one byte: a bounded loop.
    for _ in 0..input_len + 8 {
        match ws.read() {
            Ok(Some(message)) => {
                match &message {
                    Message::Text(_) | Message::Binary(_) if config.stream_messages => {
                        check_len(in_parts + message.len(), config);
                        in_parts = 0;
                    }
                    Message::TextPart(_) | Message::BinaryPart(_) => {
                        assert!(config.stream_messages, "a part with stream_messages off");
                        in_parts += message.len();
                        check_len(in_parts, config);
                    }
                    Message::Text(t) => check_len(t.len(), config),
                    Message::Binary(b) => check_len(b.len(), config),
                    Message::Ping(p) | Message::Pong(p) => assert!(p.len() <= 125),
                    other => panic!("unexpected {other:?}"),
                }
                if echo && config.stream_messages && !message.is_control() {
                    // Parts, and the message that ends them, go back as
                    // they came.
                    let _ = ws.send_message(message);
                } else if echo {
                    let _ = match message {
                        Message::Text(t) => ws.send_text(&t),
                        Message::Binary(b) => ws.send_binary(&b),
                        Message::Ping(p) => ws.ping(&p),
                        Message::Pong(_) => ws.close_with(rfc6455::CloseCode::NORMAL, "pong"),
                        other => panic!("unexpected {other:?}"),
                    };
                }
            }
            Ok(None) | Err(_) => {
                assert_eq!(
                    ws.ready_state(),
                    ReadyState::Closed,
                    "read() finished but the socket is not closed"
                );
                assert!(matches!(ws.read(), Ok(None) | Err(_)));
                return;
            }
        }
    }
    panic!("read() kept returning messages past the input's length");
}

/// `next_event()` until `None`: open first, messages, error only right
/// before close, close last.
fn dom_events(mut ws: WebSocket<Script>, input_len: usize, config: &Config) {
    let mut opened = false;
    let mut errored = false;
    for _ in 0..input_len + 8 {
        let Some(event) = ws.next_event() else {
            panic!("next_event() returned None before the close event");
        };
        assert!(
            !errored || matches!(event, Event::Close(_)),
            "{event:?} after an error event"
        );
        match event {
            Event::Open => {
                assert!(!opened, "second open event");
                opened = true;
            }
            Event::Message(m) => {
                assert!(opened, "message before open");
                match &m.data {
                    MessageData::Text(t) => check_len(t.len(), config),
                    MessageData::Blob(b) => check_len(b.size(), config),
                    MessageData::ArrayBuffer(b) => check_len(b.len(), config),
                }
            }
            Event::Error(_) => errored = true,
            Event::Close(c) => {
                if errored {
                    assert!(!c.was_clean && c.code == 1006, "close after error: {c:?}");
                }
                assert_eq!(ws.ready_state(), ReadyState::Closed, "after the close event");
                assert!(ws.next_event().is_none(), "an event after the close event");
                return;
            }
        }
    }
    panic!("next_event() kept returning events past the input's length");
}
