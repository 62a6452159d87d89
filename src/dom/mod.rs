//! The browser `WebSocket` object's rules, sans-IO: what `readyState`
//! shows, what `bufferedAmount` counts, which events fire in which order,
//! and what `send` and `close` do in each state (WHATWG WebSockets
//! Standard).
//!
//! [`Dom`] owns the protocol core, [`Connection`], and holds every rule the
//! standard adds on top of RFC 6455. It performs no I/O either: it says
//! what to do next ([`Dom::next`]) — write, read, close the transport —
//! and hears back. [`driver`] does that over an `Io` adapter; the blocking
//! driver ([`crate::websocket`]) and the tokio driver are only adapters
//! (read, write, flush, shut down, tell the time), so the two cannot drift
//! apart.

pub(crate) mod driver;
mod event;
mod small;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use event::{
    BinaryType, Blob, CloseEvent, Data, ErrorEvent, Event, EventType, ListenerId, MessageData, MessageEvent,
};

use crate::close::{CloseCode, OwnedCloseFrame};
use crate::connection::{self, Connection, ReadyState, SHARE_MIN};
use crate::copy;
use crate::error::{Error, HandshakeError, Misuse};
use crate::handshake::{self, Accept, ClientRequest, Request};
use crate::payload::Utf8Bytes;
use bytes::Bytes;
use small::Small;
use std::boxed::Box;
use std::collections::VecDeque;
use std::string::String;
use std::vec::Vec;

/// A received message, owned: what the drivers' `read` and `Stream`
/// implementations return.
///
/// # Memory
///
/// A received payload may share its allocation with others, to spare
/// each message an allocation and a copy: one of 16 KiB or more is the
/// read buffer's own bytes, and one of at most 1 KiB received while the
/// peer streams is cut from a 4 KiB block with its neighbours. Keeping the
/// message keeps that allocation; to keep small messages for long, copy
/// them (`Bytes::copy_from_slice`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A part of a text message that more parts follow, ending at a
    /// character boundary: the message ends with the [`Message::Text`]
    /// after it, which carries its last part.
    ///
    /// Received with
    /// [`Config::stream_messages`](crate::Config::stream_messages) on, as
    /// a large message's bytes arrive (a message that arrives at once is a
    /// `Text` alone). Sent as one frame of a fragmented message: the first
    /// part starts it, and the next `Text` ends it. So forwarding each
    /// message received relays messages of any size in the memory of one
    /// part.
    TextPart(Utf8Bytes),
    /// A part of a binary message that more parts follow: the message
    /// ends with the [`Message::Binary`] after it (see
    /// [`Message::TextPart`]).
    BinaryPart(Bytes),
    /// A ping (already answered when [`Config::auto_pong`](crate::Config::auto_pong) is on).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Message::Binary(bytes.into())
    }

    /// Whether this is a text message, or a part of one.
    pub fn is_text(&self) -> bool {
        matches!(self, Message::Text(_) | Message::TextPart(_))
    }

    /// Whether this is a binary message, or a part of one.
    pub fn is_binary(&self) -> bool {
        matches!(self, Message::Binary(_) | Message::BinaryPart(_))
    }

    /// Whether this is a part of a message that more parts follow (see
    /// [`Message::TextPart`]).
    pub fn is_part(&self) -> bool {
        matches!(self, Message::TextPart(_) | Message::BinaryPart(_))
    }

    /// Whether this is a ping or a pong.
    pub fn is_control(&self) -> bool {
        matches!(self, Message::Ping(_) | Message::Pong(_))
    }

    /// The text of a text message or part.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) | Message::TextPart(text) => Some(text.as_str()),
            _ => None,
        }
    }

    /// The payload's bytes, whatever the kind (a text's UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) | Message::TextPart(text) => text.as_bytes(),
            Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes,
            Message::BinaryPart(data) => data,
        }
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload, owned, without a copy (a text's UTF-8 bytes).
    pub fn into_data(self) -> Bytes {
        match self {
            Message::Text(text) | Message::TextPart(text) => text.into_bytes(),
            Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes,
            Message::BinaryPart(data) => data,
        }
    }

    /// The text of a text message or part, owned; the message back otherwise.
    ///
    /// # Errors
    ///
    /// The message itself, unchanged, when it is not text.
    pub fn into_text(self) -> Result<Utf8Bytes, Self> {
        match self {
            Message::Text(text) | Message::TextPart(text) => Ok(text),
            other => Err(other),
        }
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::Text(text.into())
    }
}

impl From<Utf8Bytes> for Message {
    fn from(text: Utf8Bytes) -> Self {
        Message::Text(text)
    }
}

impl From<Bytes> for Message {
    fn from(bytes: Bytes) -> Self {
        Message::Binary(bytes)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::Text(text.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(bytes: Vec<u8>) -> Self {
        Message::Binary(bytes.into())
    }
}

impl From<&[u8]> for Message {
    fn from(bytes: &[u8]) -> Self {
        Message::Binary(Bytes::copy_from_slice(bytes))
    }
}

/// Unsolicited output (pongs, a close reply) above which a driver blocked on
/// a write stops reading (see [`Dom::may_read_while_write_blocked`]).
const READ_WHILE_WRITE_BLOCKED: u64 = 64 * 1024;

/// An application frame not yet wholly written, for `bufferedAmount`.
#[derive(Debug, Clone, Copy)]
struct Queued {
    /// Where the frame ends, counted in bytes ever queued.
    end: u64,
    /// The application's bytes (before compression).
    payload: u64,
    /// The frame's bytes on the wire.
    wire: u64,
}

/// The application frames not yet wholly written, oldest first. The oldest
/// is kept inline: with one message in flight at a time (an echo, a
/// request and its answer) the queue never allocates, and such a
/// connection keeps no room for it while idle (benches/compare idle.sh).
#[derive(Debug, Default)]
struct Unwritten {
    /// `None` only while `rest` is empty too.
    first: Option<Queued>,
    rest: VecDeque<Queued>,
}

impl Unwritten {
    fn push(&mut self, frame: Queued) {
        match self.first {
            None => self.first = Some(frame),
            Some(_) => self.rest.push_back(frame),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.first.iter().chain(&self.rest)
    }

    fn newest(&self) -> Option<&Queued> {
        self.rest.back().or(self.first.as_ref())
    }

    fn newest_mut(&mut self) -> Option<&mut Queued> {
        self.rest.back_mut().or(self.first.as_mut())
    }

    /// Forgets the frames that end by byte `written`.
    fn written(&mut self, written: u64) {
        while self.first.is_some_and(|f| f.end <= written) {
            self.first = self.rest.pop_front();
        }
    }
}

/// The transport as the DOM layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Open,
    /// The connection ended; the driver should write what it can and close
    /// the transport before handing out further events.
    ToClose,
    Closed,
}

/// A message the DOM hands over, still borrowed from the core's buffer:
/// the [`Form`] a driver passes to [`Dom::next`] copies it once, straight
/// into the form its API returns. (Building an [`Event`] for a `read`
/// caller only to take it apart again cost ~10% per 16-byte message.)
#[derive(Debug, Clone, Copy)]
pub(crate) enum Received<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

/// A large message taken whole from the core (no copy).
#[derive(Debug)]
pub(crate) enum Whole {
    Text(Utf8Bytes),
    Binary(Bytes),
}

/// A message's parts gathered for a form that takes messages whole.
#[derive(Debug)]
enum Gathered {
    Text(String),
    Binary(Vec<u8>),
}

impl Gathered {
    /// An empty message of `part`'s kind.
    fn of(part: &Received<'_>) -> Self {
        match part {
            Received::Text(_) => Gathered::Text(String::new()),
            Received::Binary(_) => Gathered::Binary(Vec::new()),
        }
    }

    fn into_whole(self) -> Whole {
        match self {
            Gathered::Text(text) => Whole::Text(text.into()),
            Gathered::Binary(bytes) => Whole::Binary(bytes.into()),
        }
    }
}

/// The form a driver hands messages out in: `read`'s [`Message`] or the
/// DOM's message [`Event`].
pub(crate) trait Form {
    type Out;
    /// A message still lent by the core, copied once (into a block that
    /// `small` lends, where the form can use one).
    fn lent(&self, message: Received<'_>, small: &mut Small) -> Self::Out;
    /// A large message, owned already.
    fn whole(&self, message: Whole) -> Self::Out;
    /// A part of a message (`Config::stream_messages`), or `None` if this
    /// form takes messages whole only: the DOM then gathers the parts.
    fn part(&self, part: &Received<'_>, last: bool) -> Option<Self::Out>;
}

/// `read`'s form: a [`Message`].
pub(crate) struct AsMessage;

impl Form for AsMessage {
    type Out = Message;

    // `#[inline(always)]`: the drivers are generic over the transport, so
    // their message loop is compiled in the user's crate, where this is
    // otherwise an opaque call (benches/compare callgrind, recv_binary_16_b).
    #[inline(always)]
    #[allow(unsafe_code)]
    fn lent(&self, message: Received<'_>, small: &mut Small) -> Message {
        match message {
            Received::Text(text) => Message::Text(match small.cut(text.as_bytes()) {
                // SAFETY: `cut` returns exactly the bytes it is given, here
                // a `str`'s.
                Some(bytes) => unsafe { Utf8Bytes::from_bytes_unchecked(bytes) },
                None => copy::to_utf8_bytes(text),
            }),
            Received::Binary(bytes) => Message::Binary(small.cut(bytes).unwrap_or_else(|| copy::to_bytes(bytes))),
        }
    }

    // Out of line, so the small-message path stays as tight as `lent`
    // alone makes it.
    #[cold]
    #[inline(never)]
    fn whole(&self, message: Whole) -> Message {
        match message {
            Whole::Text(text) => Message::Text(text),
            Whole::Binary(bytes) => Message::Binary(bytes),
        }
    }

    fn part(&self, part: &Received<'_>, last: bool) -> Option<Message> {
        // The last part is the `Text` or `Binary` that ends the message:
        // a `bool` in the part variants cost the blocking driver ~80
        // instructions per 16-byte message in `Message`'s layout
        // (benches/compare callgrind, recv_binary_16_b).
        Some(match (*part, last) {
            (Received::Text(text), false) => Message::TextPart(copy::to_utf8_bytes(text)),
            (Received::Binary(bytes), false) => Message::BinaryPart(copy::to_bytes(bytes)),
            (Received::Text(text), true) => Message::Text(copy::to_utf8_bytes(text)),
            (Received::Binary(bytes), true) => Message::Binary(copy::to_bytes(bytes)),
        })
    }
}

/// The DOM's form: a message event, binary data as `binary_type` chooses.
pub(crate) struct AsEvent(pub(crate) BinaryType);

impl Form for AsEvent {
    type Out = Event;

    #[inline(always)] // As `AsMessage::lent`.
    fn lent(&self, message: Received<'_>, _: &mut Small) -> Event {
        let data = match message {
            Received::Text(text) => MessageData::Text(copy::to_string(text)),
            Received::Binary(bytes) => MessageData::binary(bytes, self.0),
        };
        Event::Message(MessageEvent { data })
    }

    #[cold]
    #[inline(never)]
    fn whole(&self, message: Whole) -> Event {
        let data = match message {
            // The DOM's data are a `String` and a `Vec`: no copy when the
            // message owns its buffer alone, one when it shares the read
            // buffer's (as `lent` copies a smaller one).
            Whole::Text(text) => MessageData::Text(text.into()),
            Whole::Binary(bytes) => MessageData::owned_binary(bytes.into(), self.0),
        };
        Event::Message(MessageEvent { data })
    }

    /// WHATWG dispatches whole messages only.
    fn part(&self, _: &Received<'_>, _: bool) -> Option<Event> {
        None
    }
}

/// What a driver should do next (see [`Dom::next`]).
#[derive(Debug)]
pub(crate) enum Next<M> {
    /// Hand this event to the application (open, error or close).
    Event(Event),
    /// Hand this message, in the form the driver's closure made it, to the
    /// application.
    Message(M),
    /// A ping arrived (its pong, if automatic, is queued): write, then hand
    /// it over where the API shows pings.
    Ping(Vec<u8>),
    /// A pong arrived.
    Pong(Vec<u8>),
    /// A server handshake awaits the application's decision:
    /// [`Connection::request`] holds the request.
    Decide,
    /// Write [`Connection::pending_output`], reporting with [`Dom::wrote`]
    /// or [`Dom::write_failed`].
    Write,
    /// Write what the transport takes without waiting, close it, then call
    /// [`Dom::transport_closed`].
    CloseTransport,
    /// Read from the transport, waiting at most until the core's next
    /// deadline ([`Connection::poll_timeout`]); feed the bytes, the end of
    /// stream or [`Dom::read_failed`], and the time.
    Read,
    /// The close event was handed out: nothing follows.
    Done,
}

/// The DOM layer over a [`Connection`].
pub(crate) struct Dom {
    conn: Connection,
    // A boxed `str` (8 bytes less than a `String`) and, below, a boxed
    // close frame (24 less), in every connection (benches/compare idle.sh).
    url: Box<str>,
    transport: Transport,
    /// The readyState to show between a failure and its events: WHATWG
    /// sets CLOSED only when the error and close events fire.
    shown_state: Option<ReadyState>,
    /// Events decided but not yet handed out.
    pending: VecDeque<Event>,
    close_fired: bool,
    /// A close event is queued in `pending` (or was handed out): the close
    /// is decided. Kept so the check is not a scan of `pending` on every
    /// `Sink` call (benches/compare callgrind, send_binary_16_b).
    close_queued: bool,
    peer_close: Option<Box<OwnedCloseFrame>>,
    /// Bytes ever handed to the transport.
    written: u64,
    queued: Unwritten,
    /// Bytes "sent" while closing or closed: the DOM discards them but
    /// counts them in `bufferedAmount`.
    discarded: u64,
    /// The kind of the I/O error that failed the transport, for the
    /// Rust-facing senders (the error itself goes to the error event).
    io_failure: Option<std::io::ErrorKind>,
    /// The parts so far of a message received in parts, for a form that
    /// takes messages whole (`Config::stream_messages` under the DOM API);
    /// boxed, as it is rare: 8 bytes per connection instead of 32
    /// (bench `memory`, inline sizes).
    gathered: Option<Box<Gathered>>,
    /// A message's first parts went out to a form that takes parts; the
    /// rest follows even once closing.
    parts_started: bool,
    /// The block small messages are cut from while the peer streams.
    small: Small,
    /// A write failed while received bytes still waited to be parsed: the
    /// failure's events wait until those messages are handed out (boxed:
    /// rare, 8 bytes per connection).
    deferred_failure: Option<Box<Error>>,
}

impl Dom {
    pub(crate) fn new(mut conn: Connection, url: String) -> Self {
        // Large messages are handed to the application owned: taken whole
        // from the core instead of copied.
        conn.stream_large_messages();
        let open = conn.ready_state() == ReadyState::Open;
        let mut dom = Self {
            conn,
            url: url.into_boxed_str(),
            transport: Transport::Open,
            shown_state: None,
            pending: VecDeque::new(),
            close_fired: false,
            close_queued: false,
            peer_close: None,
            written: 0,
            queued: Unwritten::default(),
            discarded: 0,
            io_failure: None,
            gathered: None,
            parts_started: false,
            small: Small::default(),
            deferred_failure: None,
        };
        if open {
            // Started over an already-upgraded stream: open at once.
            dom.pending.push_back(Event::Open);
        }
        dom
    }

    /// The DOM's `readyState`. Closing lasts from the start of the close
    /// handshake (either side) until the transport is closed; Closed is
    /// final.
    pub(crate) fn ready_state(&self) -> ReadyState {
        if self.close_fired {
            return ReadyState::Closed;
        }
        if let Some(state) = self.shown_state {
            return state;
        }
        match self.conn.ready_state() {
            ReadyState::Closed => ReadyState::Closing,
            state => state,
        }
    }

    /// The DOM's `bufferedAmount` (see the drivers' docs).
    pub(crate) fn buffered_amount(&self) -> u64 {
        // WHATWG counts application data, not framing: an uncompressed frame
        // counts the payload bytes not yet written; a compressed one counts
        // its whole payload until its last byte is written.
        let queued: u64 = self
            .queued
            .iter()
            .map(|f| {
                let unwritten = f.end.saturating_sub(self.written);
                if f.wire >= f.payload {
                    unwritten.min(f.payload)
                } else {
                    f.payload
                }
            })
            .sum();
        self.discarded + queued
    }

    pub(crate) fn peer_close(&self) -> Option<&OwnedCloseFrame> {
        self.peer_close.as_deref()
    }

    /// Whether the transport is still usable.
    /// Whether a Rust-facing sender (the tokio `Sink`) may still send.
    /// Unlike the DOM's `send`, which discards silently once closing, it
    /// is told: the transport's I/O error (its kind) after a transport
    /// failure, [`Misuse::Closing`] once closing, closed or failed.
    pub(crate) fn sendable(&self) -> Result<(), Error> {
        self.transport_error()?;
        match self.conn.ready_state() {
            ReadyState::Open if self.transport == Transport::Open && !self.close_decided() => Ok(()),
            ReadyState::Connecting => Err(Error::Misuse(Misuse::NotOpen)),
            _ => Err(Error::Misuse(Misuse::Closing)),
        }
    }

    /// The transport's failure, once it failed.
    fn transport_error(&self) -> Result<(), Error> {
        match self.io_failure {
            Some(kind) => Err(Error::Io(std::io::Error::new(kind, "the transport failed"))),
            None => Ok(()),
        }
    }

    /// Whether an error event waits to be handed out.
    #[cfg(feature = "tokio")]
    pub(crate) fn failure_pending(&self) -> bool {
        self.pending.iter().any(|e| matches!(e, Event::Error(_)))
    }

    pub(crate) fn transport_open(&self) -> bool {
        self.transport == Transport::Open
    }

    /// Whether a driver whose write would block may still read: yes while
    /// what the core queued on its own after the application's last
    /// message (pongs, a close reply) stays small. Reading on lets two
    /// peers that both pipeline make progress; the bound stops a peer
    /// that floods pings without reading the pongs from growing our queue.
    pub(crate) fn may_read_while_write_blocked(&self) -> bool {
        let pending = self.conn.pending_output_len() as u64;
        let application = self.queued.newest().map_or(0, |f| f.end.saturating_sub(self.written));
        pending.saturating_sub(application) <= READ_WHILE_WRITE_BLOCKED
    }

    /// Whether the connection ended and the driver should close the
    /// transport (see [`Next::CloseTransport`]).
    pub(crate) fn transport_to_close(&self) -> bool {
        self.transport == Transport::ToClose
    }

    /// Puts an event back in front, for a driver that completed a
    /// handshake and keeps the open event for the application.
    pub(crate) fn unread(&mut self, event: Event) {
        self.pending.push_front(event);
    }

    /// The DOM's `send(data)` rules: `Ok(true)` if the message was queued
    /// for the transport, `Ok(false)` if it was discarded (closing or
    /// closed: it still counts in `bufferedAmount`); `InvalidStateError`
    /// while connecting.
    pub(crate) fn send(&mut self, data: &Data<'_>) -> Result<bool, Error> {
        self.send_with(data.len(), |conn| match data {
            Data::Text(text) => conn.send_text(text),
            Data::Binary(bytes) => conn.send_binary(bytes),
        })
    }

    /// [`Dom::send`] for a part of a message (`last` ends it), sent as one
    /// frame of a fragmented message.
    pub(crate) fn send_part(&mut self, data: &Data<'_>, last: bool) -> Result<bool, Error> {
        self.send_with(data.len(), |conn| match data {
            Data::Text(text) => conn.send_text_part(text, last),
            Data::Binary(bytes) => conn.send_binary_part(bytes, last),
        })
    }

    /// [`Connection::begin_message`] with the DOM's accounting.
    pub(crate) fn begin_message(&mut self, text: bool, len: u64) -> Result<bool, Error> {
        let opcode = if text {
            crate::OpCode::Text
        } else {
            crate::OpCode::Binary
        };
        self.send_with(0, |conn| conn.begin_message(opcode, len))
    }

    /// [`Connection::send_payload`] with the DOM's accounting while open.
    /// After the peer's close the frame is still finished (the core holds
    /// the close reply behind it), so this does not ask `sendable`.
    pub(crate) fn send_payload(&mut self, data: &[u8]) -> Result<bool, Error> {
        self.transport_error()?;
        if self.conn.ready_state() == ReadyState::Open {
            let held = self.conn.held_output_len() as u64;
            let sent = self.send_with(data.len(), |conn| conn.send_payload(data))?;
            if held > 0 && self.conn.held_output_len() == 0 {
                // The frame's last byte released the control frames held
                // behind it: they follow it in the output, but are no
                // application data (WHATWG `bufferedAmount`).
                if let Some(frame) = self.queued.newest_mut() {
                    frame.end = frame.end.saturating_sub(held);
                    frame.wire = frame.wire.saturating_sub(held);
                }
            }
            return Ok(sent);
        }
        self.conn.send_payload(data).map(|()| true)
    }

    /// [`Dom::send`] for an owned payload: a large one a server sends
    /// uncompressed is queued by reference, not copied
    /// ([`Connection::send_binary_bytes`]).
    pub(crate) fn send_owned(&mut self, message: Whole) -> Result<bool, Error> {
        let len = match &message {
            Whole::Text(text) => text.len(),
            Whole::Binary(bytes) => bytes.len(),
        };
        self.send_with(len, |conn| match message {
            Whole::Text(text) => conn.send_text_bytes(text),
            Whole::Binary(bytes) => conn.send_binary_bytes(bytes),
        })
    }

    #[inline(always)]
    fn send_with(
        &mut self,
        len: usize,
        queue: impl FnOnce(&mut Connection) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        match self.ready_state() {
            ReadyState::Connecting => Err(Error::Misuse(Misuse::SendWhileConnecting)),
            ReadyState::Open if self.conn.ready_state() == ReadyState::Open => {
                let before = self.conn.pending_output_len() as u64;
                queue(&mut self.conn)?;
                let after = self.conn.pending_output_len() as u64;
                self.queued.push(Queued {
                    end: self.written + after,
                    payload: len as u64,
                    wire: after - before,
                });
                Ok(true)
            }
            // Closing or closed, or failed with the events not yet handed
            // out.
            _ => {
                self.discarded += len as u64;
                Ok(false)
            }
        }
    }

    /// The DOM's `close(code, reason)`: arguments first (`code` 1000 or
    /// 3000–4999, `InvalidAccessError`; `reason` ≤ 123 UTF-8 bytes,
    /// `SyntaxError`), then the state's rule. A `reason` without a `code` is
    /// ignored, as in the DOM. The driver then writes.
    pub(crate) fn close(&mut self, code: Option<u16>, reason: Option<&str>) -> Result<(), Error> {
        let reason = reason.unwrap_or("");
        check_close(code, reason)?;
        match code {
            Some(code) => self.close_with(CloseCode(code), reason),
            None => self.close_common(|conn| {
                conn.close_without_code();
                Ok(())
            }),
        }
    }

    /// Close with any sendable code (servers need 1001, 1008, 1011…).
    pub(crate) fn close_with(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.close_common(|conn| conn.close(code, reason))
    }

    fn close_common(&mut self, start: impl FnOnce(&mut Connection) -> Result<(), Error>) -> Result<(), Error> {
        match self.ready_state() {
            ReadyState::Closing | ReadyState::Closed => Ok(()),
            ReadyState::Connecting => {
                start(&mut self.conn)?;
                // close() step 3: fail the connection, readyState CLOSING.
                self.shown_state = Some(ReadyState::Closing);
                self.fail(Error::ClosedBeforeOpen);
                Ok(())
            }
            ReadyState::Open => start(&mut self.conn),
        }
    }

    /// What to do next. Events come out in the DOM's order; the transport
    /// is read only when no event is ready, so nothing is read faster than
    /// the application consumes it. A message goes through `message`, which
    /// makes the caller's owned form of it (an event or a `read` result)
    /// while the core still lends the bytes.
    // `#[inline]`: inlined into the driver's loop, the per-message path
    // builds no `Next` to match again (benches/compare callgrind,
    // recv_binary_16_b).
    #[inline]
    pub(crate) fn next<F: Form>(&mut self, form: &F) -> Next<F::Out> {
        loop {
            if self.transport == Transport::ToClose {
                return Next::CloseTransport;
            }
            if let Some(event) = self.pending.pop_front() {
                // Only open, error and close events wait here, not
                // messages: an idle connection need not keep the room
                // (benches/compare idle.sh).
                if self.pending.is_empty() {
                    self.pending = VecDeque::new();
                }
                // WHATWG: readyState is CLOSED from the error event on.
                if matches!(event, Event::Close(_)) {
                    self.close_fired = true;
                    // Nothing is read after the close event.
                    self.small.stop();
                }
                if matches!(event, Event::Error(_)) {
                    self.shown_state = Some(ReadyState::Closed);
                }
                return Next::Event(event);
            }
            if self.close_fired {
                return Next::Done;
            }
            let open = self.ready_state() == ReadyState::Open;
            // A quiet peer's message that fills a read buffer made for it
            // takes the buffer along instead of a copy (never while the
            // peer streams: its buffer is no such thing). Asked before
            // `poll_event` settles the last event's bytes: a later message
            // of the same read may still match, and `take_payload`, which
            // checks again, copies it.
            let exact_end = match self.small.is_on() {
                true => 0,
                false => self.conn.exact_read_buffer_end(),
            };
            let lends_whole = |payload: &[u8]| exact_end != 0 && payload.as_ptr_range().end as usize == exact_end;
            // A large message is taken whole rather than copied: the core's
            // message buffer, or its bytes shared out of the read buffer.
            let whole = match self.conn.poll_event() {
                // WHATWG "a WebSocket message has been received", step 1:
                // "If readyState is not OPEN, then return."
                Some(connection::Event::Text(_) | connection::Event::Binary(_)) if !open => continue,
                // A message whose first parts went out to a `read` caller
                // goes on to its end: cutting it would leave a relay with a
                // message that never ends.
                Some(connection::Event::TextPart { .. } | connection::Event::BinaryPart { .. })
                    if !open && !self.parts_started =>
                {
                    continue;
                }
                Some(connection::Event::Text(text)) if text.len() < SHARE_MIN && !lends_whole(text.as_bytes()) => {
                    return Next::Message(form.lent(Received::Text(text), &mut self.small));
                }
                Some(connection::Event::Binary(bytes)) if bytes.len() < SHARE_MIN && !lends_whole(bytes) => {
                    return Next::Message(form.lent(Received::Binary(bytes), &mut self.small));
                }
                Some(connection::Event::Text(text)) => (true, text.len()),
                Some(connection::Event::Binary(bytes)) => (false, bytes.len()),
                Some(connection::Event::TextPart { text, last }) => {
                    match Self::part(
                        &mut self.gathered,
                        &mut self.parts_started,
                        form,
                        Received::Text(text),
                        last,
                    ) {
                        Some(out) => return Next::Message(out),
                        None => continue,
                    }
                }
                Some(connection::Event::BinaryPart { data, last }) => {
                    match Self::part(
                        &mut self.gathered,
                        &mut self.parts_started,
                        form,
                        Received::Binary(data),
                        last,
                    ) {
                        Some(out) => return Next::Message(out),
                        None => continue,
                    }
                }
                Some(connection::Event::Ping(data)) => return Next::Ping(data.to_vec()),
                Some(connection::Event::Pong(data)) => return Next::Pong(data.to_vec()),
                Some(connection::Event::Open) => return Next::Event(Event::Open),
                Some(connection::Event::Close(frame)) => {
                    self.peer_close = Some(Box::new(frame.to_owned()));
                    continue;
                }
                Some(connection::Event::Failed(e)) => {
                    self.fail(e);
                    continue;
                }
                Some(connection::Event::Request(request)) => {
                    self.url = std::format!("ws://{}{}", request.host(), request.target()).into_boxed_str();
                    return Next::Decide;
                }
                None => {
                    if let Some(error) = self.deferred_failure.take() {
                        self.fail(*error);
                        continue;
                    }
                    if !self.conn.pending_output().is_empty() {
                        return Next::Write;
                    }
                    if !self.conn.should_close_transport() {
                        return Next::Read;
                    }
                    self.finish_clean();
                    continue;
                }
            };
            return Next::Message(form.whole(self.take_whole(whole.0, whole.1)));
        }
    }

    /// A part of a message in `form`, or, for a form that takes messages
    /// whole, the part added to those `gathered` so far and the whole
    /// message once `last`. The core has checked the message's size
    /// against `max_message_size` as its frames arrived. Out of line: the
    /// small-message path stays tight (benches/compare callgrind,
    /// recv_binary_16_b).
    #[inline(never)]
    fn part<F: Form>(
        gathered: &mut Option<Box<Gathered>>,
        started: &mut bool,
        form: &F,
        part: Received<'_>,
        last: bool,
    ) -> Option<F::Out> {
        if let Some(out) = form.part(&part, last) {
            *started = !last;
            return Some(out);
        }
        match (
            &mut **gathered.get_or_insert_with(|| Box::new(Gathered::of(&part))),
            part,
        ) {
            (Gathered::Text(so_far), Received::Text(text)) => so_far.push_str(text),
            (Gathered::Binary(so_far), Received::Binary(bytes)) => so_far.extend_from_slice(bytes),
            // The core never mixes the kinds of one message's parts.
            _ => {}
        }
        match last {
            true => gathered.take().map(|whole| form.whole(whole.into_whole())),
            false => None,
        }
    }

    /// The large message `poll_event` just lent (text or not, `len`
    /// bytes), taken whole from the core.
    #[cold]
    #[inline(never)]
    fn take_whole(&mut self, text: bool, len: usize) -> Whole {
        match text {
            true => Whole::Text(self.conn.take_text(len)),
            false => Whole::Binary(self.conn.take_payload(len)),
        }
    }

    /// Answers [`Next::Decide`]: the application's `decide` (called at most
    /// once) accepts the request, or refuses it with an HTTP status, which
    /// fails the connection once the refusal is written.
    pub(crate) fn decide(
        &mut self,
        decide: &mut Option<impl FnOnce(&Request) -> Result<Accept, u16>>,
    ) -> Result<(), Error> {
        let (Some(decide), Some(request)) = (decide.take(), self.conn.request()) else {
            return Ok(());
        };
        match decide(request) {
            Ok(accept) => self.conn.accept(accept),
            Err(status) => {
                self.conn.reject(status)?;
                self.fail(HandshakeError::Rejected(status).into());
                Ok(())
            }
        }
    }

    /// `n` bytes of [`Connection::pending_output`] reached the transport.
    pub(crate) fn wrote(&mut self, n: usize) {
        self.conn.advance_output(n);
        self.written += n as u64;
        self.queued.written(self.written);
    }

    /// Writing failed (not "would block").
    pub(crate) fn write_failed(&mut self, error: Error) {
        if self.conn.is_closed_cleanly() {
            // Both close frames were exchanged; the peer just dropped the
            // transport first (a reset): done. Clean, as python-websockets
            // has it, though our answer may not have reached the peer
            // whole: whether it did is a race with the peer's close.
            self.finish_clean();
        } else if self.deferred_failure.is_none() {
            if self.conn.has_buffered_input() && !self.close_decided() {
                // WHATWG: each message received is its own task, queued
                // before the one "the WebSocket connection is closed"
                // queues. Messages that arrived before the write failed
                // are handed out first; nothing more is read or written.
                if let Error::Io(e) = &error {
                    self.io_failure.get_or_insert(e.kind());
                }
                self.close_transport();
                self.deferred_failure = Some(Box::new(error));
            } else {
                self.fail(error);
            }
        }
        // Else the first failure stands, its events behind the messages.
    }

    /// Reading failed (not "would block" or a timeout).
    pub(crate) fn read_failed(&mut self, error: Error) {
        if self.conn.is_closed_cleanly() {
            // After the close handshake a reset is just the peer closing
            // the transport first: the end of the stream, not a failure.
            self.conn.receive_eof();
        } else {
            self.fail(error);
        }
    }

    /// The driver closed the transport (or never had one).
    pub(crate) fn transport_closed(&mut self) {
        self.transport = Transport::Closed;
    }

    /// The transport closes after the close handshake (or a client's wait
    /// for the server to close it).
    fn finish_clean(&mut self) {
        if self.close_decided() {
            return;
        }
        self.close_transport();
        let (code, reason) = match &self.peer_close {
            Some(frame) => (frame.code.unwrap_or(CloseCode::NO_STATUS).0, frame.reason.clone()),
            None => (CloseCode::ABNORMAL.0, String::new()),
        };
        self.close_queued = true;
        self.pending.push_back(Event::Close(CloseEvent {
            was_clean: self.conn.is_closed_cleanly(),
            code,
            reason,
        }));
    }

    /// The WHATWG "fail the WebSocket connection": the driver sends what
    /// the core queued (a close frame) as best it can and closes the
    /// transport, then the error event, then close with 1006.
    pub(crate) fn fail(&mut self, error: Error) {
        if let Error::Io(e) = &error {
            self.io_failure.get_or_insert(e.kind());
        }
        if self.close_decided() {
            return;
        }
        if self.shown_state.is_none() {
            self.shown_state = Some(self.ready_state());
        }
        self.close_transport();
        self.pending.push_back(Event::Error(ErrorEvent { error }));
        self.close_queued = true;
        self.pending.push_back(Event::Close(CloseEvent {
            was_clean: false,
            code: CloseCode::ABNORMAL.0,
            reason: String::new(),
        }));
    }

    fn close_decided(&self) -> bool {
        debug_assert_eq!(
            self.close_queued,
            self.close_fired || self.pending.iter().any(|e| matches!(e, Event::Close(_)))
        );
        self.close_queued
    }

    fn close_transport(&mut self) {
        if self.transport == Transport::Open {
            self.transport = Transport::ToClose;
        }
    }

    /// Whether output still queued is worth writing before the transport
    /// closes: not after the transport itself failed (a TLS stream that
    /// failed its handshake would only block on it).
    pub(crate) fn flush_before_close(&self) -> bool {
        self.deferred_failure.is_none()
            && !matches!(
                self.pending.iter().find_map(|e| match e {
                    Event::Error(e) => Some(&e.error),
                    _ => None,
                }),
                Some(Error::Io(_))
            )
    }
}

impl core::fmt::Debug for Dom {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dom")
            .field("url", &self.url)
            .field("ready_state", &self.ready_state())
            .field("connection", &self.conn)
            .finish_non_exhaustive()
    }
}

/// Checks the DOM constructor's arguments and builds the request (WHATWG
/// "new WebSocket(url, protocols)" steps 1–10): returns it, whether it needs
/// TLS, and the URL as the `url` attribute shows it.
/// The close arguments' rules the DOM's `close()`, WebSocketStream's
/// `close()` and `new WebSocketError()` share: `code` 1000 or 3000–4999
/// (`InvalidAccessError`), `reason` at most 123 UTF-8 bytes (`SyntaxError`).
pub(crate) fn check_close(code: Option<u16>, reason: &str) -> Result<(), Error> {
    if let Some(code) = code {
        if code != 1000 && !(3000..=4999).contains(&code) {
            return Err(Error::Misuse(Misuse::DomCloseCode(code)));
        }
    }
    if reason.len() > crate::close::MAX_REASON_LEN {
        return Err(Error::Misuse(Misuse::ReasonTooLong(reason.len())));
    }
    Ok(())
}

pub(crate) fn dom_request(url: &str, protocols: &[&str]) -> Result<(ClientRequest, bool, String), Error> {
    let (mut request, secure) = ClientRequest::from_url(url).map_err(Error::Url)?;
    for (i, protocol) in protocols.iter().enumerate() {
        if !handshake::is_token(protocol) || protocols[..i].contains(protocol) {
            return Err(Error::Misuse(Misuse::InvalidProtocol(String::from(*protocol))));
        }
        request = request.protocol(*protocol);
    }
    // The `url` getter serializes the parsed URL, credentials included,
    // with http(s) mapped to ws(s).
    let mut parsed = url::Url::parse(url).map_err(|_| Error::Url(handshake::UrlError::Invalid))?;
    let _ = parsed.set_scheme(if secure { "wss" } else { "ws" });
    Ok((request.require_protocol(true), secure, String::from(parsed.as_str())))
}

/// The `url` attribute of a client whose request was built by hand.
pub(crate) fn client_url(request: &ClientRequest, secure: bool) -> String {
    let scheme = if secure { "wss" } else { "ws" };
    std::format!("{scheme}://{}{}", request.host(), request.resource())
}

/// `host` (a `Host` value: name, IPv4 or bracketed IPv6, maybe `:port`)
/// as a `host:port` address.
pub(crate) fn with_default_port(host: &str, port: u16) -> String {
    let after_host = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(_, rest)| rest),
        None => host.rsplit_once(':').map_or("", |(_, p)| p),
    };
    if after_host.trim_start_matches(':').parse::<u16>().is_ok() {
        String::from(host)
    } else {
        std::format!("{host}:{port}")
    }
}

// The WHATWG exception names belong to the DOM layer; the method sits on
// `Error` so a caller holding one can ask without importing anything.
impl Error {
    /// The `DOMException` name the WHATWG WebSocket standard throws for
    /// this misuse, if it is one (`SyntaxError`, `InvalidStateError`,
    /// `InvalidAccessError`).
    pub fn dom_exception(&self) -> Option<&'static str> {
        match self {
            Error::Url(_) | Error::Misuse(Misuse::InvalidProtocol(_) | Misuse::ReasonTooLong(_)) => Some("SyntaxError"),
            Error::Misuse(Misuse::DomCloseCode(_) | Misuse::CloseCodeNotSendable(_)) => Some("InvalidAccessError"),
            Error::Misuse(Misuse::ControlPayloadTooLong(_)) => None,
            Error::Misuse(_) => Some("InvalidStateError"),
            _ => None,
        }
    }
}
