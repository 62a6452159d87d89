//! Owned copies of the core's events, comparable in assertions.

use crate::connection::Event;
use crate::error::Error;
// What a `Fault` holds, so `use rfc6455::testkit::*` can name every failure.
pub use crate::error::{HandshakeError, Limit, ProtocolError, Timeout};
use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// An [`Error`] as a value tests can compare: the variant and its data
/// (I/O errors by kind; misuse and anything else by its `Debug` form,
/// which no test expects from a peer). Tests match this, never `Debug`
/// text, so a renamed variant fails to compile instead of to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Protocol(ProtocolError),
    Limit(Limit, u64, usize),
    Handshake(HandshakeError),
    Timeout(Timeout),
    UnexpectedEof,
    ClosedBeforeOpen,
    #[cfg(feature = "std")]
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
            #[cfg(feature = "std")]
            Error::Io(io) => Fault::Io(io.kind()),
            other => Fault::Other(format!("{other:?}")),
        }
    }
}

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
    /// A part of a message and whether it is the last.
    TextPart(String, bool),
    BinaryPart(Vec<u8>, bool),
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

/// The owned copy of `event`.
pub fn own(event: Event<'_>) -> Ev {
    match event {
        Event::Request(r) => Ev::Request {
            target: r.target().to_owned(),
            protocols: r.protocols().to_vec(),
        },
        Event::Open => Ev::Open,
        Event::Text(t) => Ev::Text(t.to_owned()),
        Event::Binary(b) => Ev::Binary(b.to_vec()),
        Event::TextPart { text, last } => Ev::TextPart(text.to_owned(), last),
        Event::BinaryPart { data, last } => Ev::BinaryPart(data.to_vec(), last),
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close(frame) => Ev::Close(frame.code.map(|c| c.0), frame.reason.to_owned()),
        Event::Failed(e) => Ev::Failed(e.close_code().map(|c| c.0), Fault::from(&e)),
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
