//! The sans-IO connection: the opening handshake, then frames, then the
//! close handshake, as one state machine that never touches a socket or a
//! clock.
//!
//! The caller moves bytes and time in and out:
//!
//! 1. Bytes from the peer go in with [`Connection::read_buffer`] +
//!    [`Connection::commit_read`] (no copy) or [`Connection::receive`];
//!    the end of the stream with [`Connection::receive_eof`].
//! 2. [`Connection::poll_event`] hands out what those bytes meant, one
//!    [`Event`] at a time, until it returns `None` (more bytes needed).
//! 3. Messages go out with `send_*` and [`Connection::close`];
//!    [`Connection::pending_output`] and [`Connection::advance_output`] give
//!    the bytes to write.
//! 4. [`Connection::handle_timeout`] tells the time; [`Connection::poll_timeout`]
//!    says when it next matters.
//! 5. Once [`Connection::should_close_transport`] is true and the output is
//!    written, close the transport.

use crate::close::CloseFrame;
use crate::config::Config;
use crate::error::Error;
use crate::extension::{self, Codec};
use crate::frame::OpCode;
use crate::handshake::{ClientRequest, Negotiated, Request};
use crate::mask::MaskSource;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine as _;
use core::time::Duration;

mod opening;
mod reader;
#[cfg(feature = "std")]
#[cfg(feature = "std")]
pub(crate) use reader::SHARE_MIN;
mod reassembly;
mod rx;
#[cfg(test)]
mod testing;
mod timers;
mod tx;

use reader::Reader;
use rx::Rx;
use timers::{Timer, Timers};
use tx::Tx;

/// The largest [`Config::read_chunk`] honoured (larger ones are clamped).
const MAX_READ_CHUNK: usize = 1 << 20;

/// Which end of the connection this is. Clients mask what they send and
/// servers require masking (RFC 6455 §5.1); servers close the transport
/// first (§7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Opened the connection.
    Client,
    /// Accepted the connection.
    Server,
}

/// Where the connection is, in the terms of the DOM's `readyState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadyState {
    /// The opening handshake is under way (0).
    Connecting = 0,
    /// Messages flow both ways (1).
    Open = 1,
    /// A close frame has been sent and the peer's is awaited (2).
    Closing = 2,
    /// The close handshake is over, or the connection failed (3).
    Closed = 3,
}

/// What received bytes meant. Payloads borrow the connection's buffers and
/// are valid until the next call on the connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Server: a client's request arrived. Inspect it, then call
    /// [`Connection::accept`] or [`Connection::reject`].
    Request(&'a Request),
    /// The opening handshake is complete; messages may flow.
    Open,
    /// A whole text message, validated as UTF-8.
    Text(&'a str),
    /// A whole binary message.
    Binary(&'a [u8]),
    /// With [`Config::stream_messages`]: the next part of a text message,
    /// as much of it as has arrived, ending at a character boundary and
    /// validated as UTF-8; `last` ends the message. A message's parts
    /// arrive in order, and control frames may come between them.
    TextPart {
        /// The text.
        text: &'a str,
        /// This part ends the message.
        last: bool,
    },
    /// With [`Config::stream_messages`]: the next part of a binary
    /// message, as much of it as has arrived; `last` ends the message.
    BinaryPart {
        /// The bytes.
        data: &'a [u8],
        /// This part ends the message.
        last: bool,
    },
    /// A ping. With [`Config::auto_pong`] the pong is already queued.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer's close frame. If we had not sent ours, the reply is
    /// already queued; nothing after it is read.
    Close(CloseFrame<'a>),
    /// The connection failed. Where the failure has a sendable close code,
    /// a close frame with it is queued; nothing more is read.
    Failed(Error),
}

/// The states, and the data each needs.
#[derive(Debug)]
enum State {
    /// Client: our request is queued; the response is awaited.
    AwaitingResponse { sent: Box<Sent> },
    /// Server: the request is awaited.
    AwaitingRequest,
    /// Server: the request is parsed; the application's decision is awaited.
    AwaitingDecision { request: Box<Request> },
    /// Frames flow both ways.
    Open,
    /// We sent a close frame; the peer's is awaited (§7.1.2). Data frames
    /// still arrive and are delivered.
    CloseSent,
    /// The close handshake is over, or the connection failed: nothing more
    /// is read, and the transport closes once the output is written.
    Closed { clean: bool },
}

/// A client's request, and the key the response must answer.
#[derive(Debug)]
struct Sent {
    request: ClientRequest,
    key: String,
}

/// Something decided outside `poll_event` that must be reported by it.
#[derive(Debug)]
enum Queued {
    Open,
    // Boxed: rare, and 16 bytes rather than 32 in every connection.
    Failed(Box<Error>),
}

/// A WebSocket connection, either role, without I/O. See the
/// [module docs](self) for the calling contract.
///
/// ```
/// use rfc6455::connection::Event;
/// use rfc6455::{ClientRequest, Config, Connection, Role};
///
/// // A client and a server wired back to back in memory.
/// let mut client = Connection::client(ClientRequest::new("localhost", "/"), Config::default());
/// let mut server = Connection::server(Config::default());
/// let mut pump = |from: &mut Connection, to: &mut Connection| {
///     let n = from.pending_output().len();
///     to.receive(from.pending_output());
///     from.advance_output(n);
/// };
///
/// pump(&mut client, &mut server);
/// assert!(matches!(server.poll_event(), Some(Event::Request(r)) if r.path() == "/"));
/// server.accept(rfc6455::Accept::new()).unwrap();
/// assert!(matches!(server.poll_event(), Some(Event::Open)));
/// pump(&mut server, &mut client);
/// assert!(matches!(client.poll_event(), Some(Event::Open)));
///
/// client.send_text("hello").unwrap();
/// pump(&mut client, &mut server);
/// assert!(matches!(server.poll_event(), Some(Event::Text("hello"))));
/// ```
pub struct Connection {
    role: Role,
    /// What the open connection needs of its [`Config`].
    settings: Settings,
    /// The whole [`Config`], while the opening handshake needs it (limits,
    /// timeout, extension offers); boxed and dropped once open, so an
    /// open connection keeps 64 bytes of it rather than 144
    /// (benches/compare idle.sh).
    opening: Option<Box<Config>>,
    state: State,
    rx: Rx,
    /// The peer closed its side of the transport.
    eof: bool,
    reader: Reader,
    queued: Option<Queued>,
    tx: Tx,
    /// What the handshake agreed on; `None` while nothing was (a server
    /// with no subprotocol or extension): 8 bytes in every connection
    /// rather than 64 (benches/compare idle.sh).
    negotiated: Option<Box<Negotiated>>,
    now: Duration,
    timers: Timers,
    /// The extension codec, once negotiated (see `extension`). Not part
    /// of the reader: the same codec compresses what is sent.
    codec: Option<Box<Codec>>,
}

/// The part of [`Config`] an open connection reads.
#[derive(Debug, Clone, Copy)]
struct Settings {
    max_frame_size: usize,
    max_message_size: usize,
    /// Clamped to `1..=MAX_READ_CHUNK`.
    read_chunk: usize,
    close_timeout: Option<Duration>,
    keepalive_interval: Option<Duration>,
    auto_pong: bool,
    echo_close_reason: bool,
    stream_messages: bool,
}

impl Settings {
    fn new(config: &Config) -> Self {
        Self {
            max_frame_size: config.max_frame_size,
            max_message_size: config.max_message_size,
            // Configured sizes bound what is allocated, never set it: a
            // read chunk past 1 MiB (up to usize::MAX) would be reserved
            // as such.
            read_chunk: config.read_chunk.clamp(1, MAX_READ_CHUNK),
            close_timeout: config.close_timeout,
            keepalive_interval: config.keepalive_interval,
            auto_pong: config.auto_pong,
            echo_close_reason: config.echo_close_reason,
            stream_messages: config.stream_messages,
        }
    }
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("buffered_in", &self.rx.len())
            .field("buffered_out", &self.tx.pending().len())
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn new(role: Role, config: Config, state: State, tx: Tx) -> Self {
        let mut timers = Timers::default();
        let settings = Settings::new(&config);
        let opening = match state {
            State::Open => None,
            _ => {
                // From time zero: the connection is made before any time is told.
                timers.arm(Timer::Handshake, Duration::ZERO, config.handshake_timeout);
                Some(Box::new(config))
            }
        };
        Self {
            role,
            settings,
            opening,
            state,
            rx: Rx::default(),
            eof: false,
            reader: Reader::new(),
            queued: None,
            tx,
            negotiated: None,
            now: Duration::ZERO,
            timers,
            codec: None,
        }
    }

    /// Sets the connection's clock to `now` (on the caller's monotonic
    /// clock, the same one later given to
    /// [`handle_timeout`](Connection::handle_timeout)) and counts the
    /// handshake timeout from it.
    ///
    /// The constructors start the clock at zero, which suits a caller that
    /// measures time from the connection's creation (both drivers do). A
    /// caller with a shared clock — one epoch for many connections, as an
    /// event loop has — calls this right after constructing, or a
    /// connection created an hour into that clock would fail its handshake
    /// at the first `handle_timeout`.
    ///
    /// ```
    /// use core::time::Duration;
    /// use rfc6455::{Config, Connection};
    ///
    /// let loop_clock = Duration::from_secs(3600);
    /// let mut conn = Connection::server(Config::default()).started_at(loop_clock);
    /// conn.handle_timeout(loop_clock + Duration::from_secs(1));
    /// assert!(conn.poll_event().is_none(), "one second into a 10 s handshake");
    /// ```
    #[must_use]
    pub fn started_at(mut self, now: Duration) -> Self {
        self.now = self.now.max(now);
        if self.timers.is_armed(Timer::Ping) {
            self.arm_keepalive();
        }
        if let Some(config) = &self.opening {
            if self.timers.is_armed(Timer::Handshake) {
                self.timers.arm(Timer::Handshake, self.now, config.handshake_timeout);
            }
        }
        self
    }

    /// A client that starts by sending `request`, masking with `rand`'s
    /// thread-local CSPRNG.
    #[cfg(feature = "std")]
    pub fn client(request: ClientRequest, config: Config) -> Self {
        Self::client_with_masks(request, config, Box::new(crate::mask::ThreadRngSource))
    }

    /// A client that starts by sending `request`, drawing its handshake
    /// nonce and masking keys from `masks`.
    ///
    /// The request bytes are queued at once: write [`Connection::pending_output`].
    /// The handshake timeout counts from time zero on the caller's clock.
    pub fn client_with_masks(request: ClientRequest, config: Config, mut masks: Box<dyn MaskSource>) -> Self {
        let request = extension::offer(request, &config);
        let mut nonce = [0u8; 16];
        masks.fill(&mut nonce);
        let key = base64::engine::general_purpose::STANDARD.encode(nonce);
        // A string that would add a header line (CR, LF) is the
        // application's mistake: nothing is sent, and the connection fails
        // at once with the reason.
        let checked = request.check();
        let bytes = match checked {
            Ok(()) => request.encode(&key),
            Err(_) => Vec::new(),
        };
        let state = State::AwaitingResponse {
            sent: Box::new(Sent { request, key }),
        };
        let mut conn = Self::new(Role::Client, config, state, Tx::new(bytes, Some(masks)));
        if let Err(e) = checked {
            conn.fail_later(e.into());
        }
        conn
    }

    /// A client whose request an HTTP/2 stack sends as an extended CONNECT
    /// (RFC 8441): nothing is queued, and the response (a `200` with the
    /// subprotocol and extensions, no accept key) comes in as HTTP/1.1
    /// head bytes; see `http::ClientHandshake::extended_connect`.
    #[cfg(feature = "http")]
    pub(crate) fn client_extended_connect(request: ClientRequest, config: Config) -> Self {
        let request = extension::offer(request, &config);
        let state = State::AwaitingResponse {
            sent: Box::new(Sent {
                request,
                key: String::new(),
            }),
        };
        Self::new(
            Role::Client,
            config,
            state,
            Tx::new(Vec::new(), Some(Box::new(crate::mask::ThreadRngSource))),
        )
    }

    /// A server awaiting a client's request.
    ///
    /// The handshake timeout counts from time zero on the caller's clock.
    pub fn server(config: Config) -> Self {
        Self::new(Role::Server, config, State::AwaitingRequest, Tx::new(Vec::new(), None))
    }

    /// A connection whose handshake happened elsewhere (an HTTP framework's
    /// upgrade, an HTTP/2 or HTTP/3 extended CONNECT): frames from the
    /// first byte. `already_read` holds bytes read past the handshake. A
    /// client masks with `rand`'s thread-local CSPRNG.
    #[cfg(feature = "std")]
    pub fn established(role: Role, config: Config, already_read: &[u8]) -> Self {
        Self::established_with_masks(role, config, already_read, Box::new(crate::mask::ThreadRngSource))
    }

    /// Like [`Connection::established`], drawing masking keys from `masks`
    /// (unused by a server).
    pub fn established_with_masks(role: Role, config: Config, already_read: &[u8], masks: Box<dyn MaskSource>) -> Self {
        let masks = (role == Role::Client).then_some(masks);
        let mut conn = Self::new(role, config, State::Open, Tx::new(Vec::new(), masks));
        conn.enter_open();
        conn.receive(already_read);
        conn
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The DOM-style state.
    #[inline]
    pub fn ready_state(&self) -> ReadyState {
        match self.state {
            State::AwaitingResponse { .. } | State::AwaitingRequest | State::AwaitingDecision { .. } => {
                ReadyState::Connecting
            }
            State::Open => ReadyState::Open,
            State::CloseSent => ReadyState::Closing,
            State::Closed { .. } => ReadyState::Closed,
        }
    }

    /// Whether the close handshake completed: both close frames were
    /// exchanged. `false` while open and after a failure.
    #[inline]
    pub fn is_closed_cleanly(&self) -> bool {
        matches!(self.state, State::Closed { clean: true })
    }

    /// The subprotocol agreed on in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.negotiated.as_ref()?.protocol.as_deref()
    }

    /// The extensions agreed on, as the `Sec-WebSocket-Extensions` value
    /// (empty when none).
    pub fn extensions(&self) -> &str {
        self.negotiated.as_ref().map_or("", |n| &n.extensions)
    }

    /// Client: the header fields of the server's 101 response, in the
    /// order received (empty before the handshake completes, and for a
    /// server). Names keep the server's case; compare them ignoring it.
    pub fn response_headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.negotiated
            .iter()
            .flat_map(|n| n.headers.iter())
            .map(|(name, value)| (name.as_str(), value.as_slice()))
    }

    /// Client: the value of the server's response header `name` (case
    /// ignored), the first if repeated.
    pub fn response_header(&self, name: &str) -> Option<&[u8]> {
        self.negotiated
            .as_ref()?
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    /// Server: the request awaiting [`Connection::accept`] or
    /// [`Connection::reject`].
    pub fn request(&self) -> Option<&Request> {
        match &self.state {
            State::AwaitingDecision { request } => Some(request),
            _ => None,
        }
    }

    /// Whether the transport should be closed once the pending output is
    /// written: after a failure, after a server's close handshake (and the
    /// declared frame its close reply waits behind), and for a client once
    /// the server closed its side or the close timeout ran out (§7.1.1:
    /// the server closes the TCP connection first).
    pub fn should_close_transport(&self) -> bool {
        match self.state {
            // A server closes once its close frame is written, unless the
            // frame is held behind a declared frame still arriving
            // (`begin_message`): then it waits for that frame, within the
            // close timeout.
            State::Closed { clean } => {
                // The close timer ran out. With no close timeout there is
                // none to run out: a declared frame is waited for as long
                // as it takes, and a client, with no deadline for the
                // server's close, closes once nothing is held.
                let gave_up = self.settings.close_timeout.is_some() && !self.timers.is_armed(Timer::Close);
                !clean
                    || self.eof
                    || gave_up
                    || (!self.tx.holds_frames() && (self.role == Role::Server || self.settings.close_timeout.is_none()))
            }
            _ => false,
        }
    }

    // ------------------------------------------------------------ input

    /// Whether received bytes wait to be parsed (a partial frame included).
    pub fn has_buffered_input(&self) -> bool {
        self.reader.has_input(&self.rx)
    }

    /// Gives back the buffers that hold nothing now, so an idle connection
    /// costs next to no heap: the read buffer when no input waits, the
    /// message buffer between messages, the output buffer once written.
    /// They are allocated again when needed. Drivers call it before a wait
    /// that is likely long.
    pub fn release_buffers(&mut self) {
        self.settle();
        self.reader.release_buffers(&mut self.rx);
        self.tx.release();
    }

    /// Whether the read buffer holds an allocation (see
    /// [`Connection::release_buffers`]).
    pub(crate) fn holds_read_buffer(&self) -> bool {
        self.rx.holds_allocation()
    }

    /// Room to read received bytes into; follow with [`Connection::commit_read`].
    ///
    /// The buffer is at least [`Config::read_chunk`] bytes, more when a
    /// frame in progress needs it; it only grows as bytes actually arrive,
    /// never from a length the peer merely declared.
    pub fn read_buffer(&mut self) -> &mut [u8] {
        self.settle();
        let frame_left = self.reader.frame_left();
        let chunk = self.settings.read_chunk;
        let want = self.rx.want(frame_left, chunk);
        self.rx.room(want, frame_left, chunk)
    }

    /// Records that the first `n` bytes of [`Connection::read_buffer`] were
    /// filled. `n` is clamped to the buffer's length.
    pub fn commit_read(&mut self, n: usize) {
        if self.rx.commit(n) > 0 {
            self.heard_from_peer();
        }
    }

    /// Copies received bytes in. Equivalent to filling
    /// [`Connection::read_buffer`] and committing.
    pub fn receive(&mut self, data: &[u8]) {
        self.settle();
        if matches!(self.state, State::Closed { .. }) || data.is_empty() {
            return;
        }
        self.heard_from_peer();
        let frame_left = self.reader.frame_left();
        self.rx.extend(data, frame_left, self.settings.read_chunk);
    }

    /// Records that the peer closed its side of the transport.
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    /// The next thing the received bytes mean, or `None` until more bytes
    /// (or time) arrive.
    ///
    /// Call it until it returns `None` after every read. An event's borrow
    /// ends at the next call on the connection.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        self.settle();
        if let Some(queued) = self.queued.take() {
            return Some(match queued {
                Queued::Open => Event::Open,
                Queued::Failed(e) => Event::Failed(*e),
            });
        }
        match self.state {
            State::AwaitingResponse { .. } => self.poll_response(),
            State::AwaitingRequest => self.poll_request(),
            State::AwaitingDecision { .. } => self.poll_decision(),
            State::Open | State::CloseSent => self.poll_frame(),
            State::Closed { .. } => None,
        }
    }

    // ------------------------------------------------------------ transitions

    /// Messages may flow: the handshake timer stops, the keepalive starts.
    fn enter_open(&mut self) {
        self.state = State::Open;
        self.opening = None;
        self.timers.stop(Timer::Handshake);
        self.arm_keepalive();
    }

    /// Starts the close handshake with a close frame carrying `payload`
    /// (see [`Connection::close`]).
    fn start_close(&mut self, payload: &[u8]) {
        match self.state {
            State::Open => {
                self.tx.push_frame(OpCode::Close, true, payload);
                self.state = State::CloseSent;
                self.timers.stop(Timer::Ping);
                self.timers.stop(Timer::KeepaliveDead);
                self.timers.arm(Timer::Close, self.now, self.settings.close_timeout);
            }
            State::AwaitingResponse { .. } | State::AwaitingRequest | State::AwaitingDecision { .. } => {
                // Abandoned: an unsent request goes unsent.
                self.enter_closed(false);
                self.tx.clear();
            }
            State::CloseSent | State::Closed { .. } => {}
        }
    }

    /// The close handshake is over (`clean`), or the connection failed or
    /// was given up: nothing more is read and the timers stop, except that
    /// a client after a clean close waits for the server to close the
    /// transport (§7.1.1), and either side waits for a declared frame its
    /// close frame is held behind, both within the close timeout.
    fn enter_closed(&mut self, clean: bool) {
        self.state = State::Closed { clean };
        self.timers.stop_all();
        if clean && (self.role == Role::Client || self.tx.holds_frames()) {
            self.timers.arm(Timer::Close, self.now, self.settings.close_timeout);
        }
        // A clean close's frame is still borrowed by `Event::Close`: the
        // next call's `settle` drops the input instead.
        if !clean {
            self.release_input();
        }
    }

    /// Fails the connection (§7.1.7): queue a close frame with the error's
    /// code when one may still be sent, and stop reading.
    fn fail<'a>(&mut self, error: Error) -> Event<'a> {
        let code = error.close_code().filter(|c| c.is_sendable());
        if let (Some(code), State::Open) = (code, &self.state) {
            self.tx.push_frame(OpCode::Close, true, &code.0.to_be_bytes());
        }
        self.enter_closed(false);
        Event::Failed(error)
    }

    /// Fails the connection from outside `poll_event` (a timer); the
    /// next `poll_event` reports it.
    fn fail_later(&mut self, error: Error) {
        if let Event::Failed(error) = self.fail(error) {
            self.queued = Some(Queued::Failed(Box::new(error)));
        }
    }

    /// Stops reading: whatever the peer sends now is discarded.
    fn release_input(&mut self) {
        self.rx = Rx::default();
        self.reader = Reader::new();
    }

    // ------------------------------------------------------------ buffers

    /// Finishes what handing out the previous event left to do.
    fn settle(&mut self) {
        if matches!(self.state, State::Closed { .. }) {
            // Nothing after the close is read (§5.5.1): drop it unparsed.
            self.release_input();
            return;
        }
        self.reader.settle(&mut self.rx);
        self.rx.rewind_if_empty();
    }
}
