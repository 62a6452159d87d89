//! The DOM's events (WHATWG WebSockets Standard §"Feedback from the
//! protocol"): open, message, error, close, and how binary data is handed
//! over.

use crate::error::Error;
use std::borrow::Cow;
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;

/// How binary messages are handed over: the DOM's `binaryType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BinaryType {
    /// Shared, immutable bytes ([`Blob`]): cloning is a reference-count
    /// increment, so one message can go to many listeners or threads
    /// without copies. The DOM's default.
    #[default]
    Blob,
    /// An owned, mutable buffer (`Vec<u8>`), for code that edits or keeps
    /// the bytes.
    ArrayBuffer,
}

/// Immutable binary data shared by reference count: the DOM's `Blob`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob(Arc<[u8]>);

impl Blob {
    /// The number of bytes (the DOM's `Blob.size`).
    pub fn size(&self) -> usize {
        self.0.len()
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Blob {
    fn from(bytes: &[u8]) -> Self {
        Blob(Arc::from(bytes))
    }
}

impl core::ops::Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// A message's data, in the form [`BinaryType`] chose when it was
/// dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageData {
    /// A text message.
    Text(String),
    /// A binary message while `binary_type` is [`BinaryType::Blob`].
    Blob(Blob),
    /// A binary message while `binary_type` is [`BinaryType::ArrayBuffer`].
    ArrayBuffer(Vec<u8>),
}

impl MessageData {
    pub(crate) fn binary(bytes: &[u8], kind: BinaryType) -> Self {
        match kind {
            BinaryType::Blob => MessageData::Blob(Blob::from(bytes)),
            BinaryType::ArrayBuffer => MessageData::ArrayBuffer(crate::copy::to_vec(bytes)),
        }
    }

    pub(crate) fn owned_binary(bytes: Vec<u8>, kind: BinaryType) -> Self {
        match kind {
            BinaryType::Blob => MessageData::Blob(Blob(Arc::from(bytes))),
            BinaryType::ArrayBuffer => MessageData::ArrayBuffer(bytes),
        }
    }

    /// The text, for a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            MessageData::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The bytes, for a binary message of either form.
    pub fn as_binary(&self) -> Option<&[u8]> {
        match self {
            MessageData::Blob(blob) => Some(blob),
            MessageData::ArrayBuffer(bytes) => Some(bytes),
            MessageData::Text(_) => None,
        }
    }
}

/// The DOM's `MessageEvent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEvent {
    /// The message.
    pub data: MessageData,
}

/// The DOM's `CloseEvent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseEvent {
    /// Whether the close handshake completed.
    pub was_clean: bool,
    /// The code of the peer's close frame; 1005 if it had none, 1006 if
    /// the connection ended without one (every failure).
    pub code: u16,
    /// The reason in the peer's close frame (empty for 1005 and 1006).
    pub reason: String,
}

/// The DOM's error event. The DOM gives scripts no detail; Rust callers
/// get the cause.
#[derive(Debug)]
pub struct ErrorEvent {
    /// Why the connection failed.
    pub error: Error,
}

/// An event, as a listener or `next_event` sees it.
#[derive(Debug)]
pub enum Event {
    /// `open`: the opening handshake completed.
    Open,
    /// `message`: a whole message arrived.
    Message(MessageEvent),
    /// `error`: the connection failed; a close event follows.
    Error(ErrorEvent),
    /// `close`: the connection is closed; nothing follows.
    Close(CloseEvent),
}

/// The four event types, for `add_event_listener`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `open`.
    Open,
    /// `message`.
    Message,
    /// `error`.
    Error,
    /// `close`.
    Close,
}

impl Event {
    /// This event's type.
    pub fn event_type(&self) -> EventType {
        match self {
            Event::Open => EventType::Open,
            Event::Message(_) => EventType::Message,
            Event::Error(_) => EventType::Error,
            Event::Close(_) => EventType::Close,
        }
    }
}

/// Data for `send`: `&str` and `String`
/// send text, `&[u8]` and `Vec<u8>` send binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data<'a> {
    /// A text message.
    Text(Cow<'a, str>),
    /// A binary message.
    Binary(Cow<'a, [u8]>),
}

impl Data<'_> {
    /// Payload bytes: what `buffered_amount` counts.
    pub fn len(&self) -> usize {
        match self {
            Data::Text(text) => text.len(),
            Data::Binary(bytes) => bytes.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a> From<&'a str> for Data<'a> {
    fn from(text: &'a str) -> Self {
        Data::Text(Cow::Borrowed(text))
    }
}

impl<'a> From<&'a String> for Data<'a> {
    fn from(text: &'a String) -> Self {
        Data::Text(Cow::Borrowed(text))
    }
}

impl From<String> for Data<'static> {
    fn from(text: String) -> Self {
        Data::Text(Cow::Owned(text))
    }
}

impl<'a> From<&'a crate::Utf8Bytes> for Data<'a> {
    fn from(text: &'a crate::Utf8Bytes) -> Self {
        Data::Text(Cow::Borrowed(text))
    }
}

impl<'a> From<&'a bytes::Bytes> for Data<'a> {
    fn from(bytes: &'a bytes::Bytes) -> Self {
        Data::Binary(Cow::Borrowed(bytes))
    }
}

/// Without a copy when the text owns its buffer alone; a received
/// message that shares the read buffer is copied (send `&text` to skip
/// that copy: the payload is copied into the output queue either way).
impl From<crate::Utf8Bytes> for Data<'static> {
    fn from(text: crate::Utf8Bytes) -> Self {
        Data::Text(Cow::Owned(text.into()))
    }
}

/// As `From<Utf8Bytes>`.
impl From<bytes::Bytes> for Data<'static> {
    fn from(bytes: bytes::Bytes) -> Self {
        Data::Binary(Cow::Owned(bytes.into()))
    }
}

impl<'a> From<&'a [u8]> for Data<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Data::Binary(Cow::Borrowed(bytes))
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Data<'a> {
    fn from(bytes: &'a [u8; N]) -> Self {
        Data::Binary(Cow::Borrowed(bytes))
    }
}

impl<'a> From<&'a Vec<u8>> for Data<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Data::Binary(Cow::Borrowed(bytes))
    }
}

impl From<Vec<u8>> for Data<'static> {
    fn from(bytes: Vec<u8>) -> Self {
        Data::Binary(Cow::Owned(bytes))
    }
}

impl<'a> From<&'a Blob> for Data<'a> {
    fn from(blob: &'a Blob) -> Self {
        Data::Binary(Cow::Borrowed(blob.as_bytes()))
    }
}

/// Identifies a listener for `remove_event_listener`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(pub(crate) u64);
