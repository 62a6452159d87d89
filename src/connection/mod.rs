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

use crate::close::{self, CloseFrame};
use crate::config::Config;
use crate::copy;
use crate::error::{Error, HandshakeError};
use crate::frame::{self, FrameHeader, HeaderRules, MAX_CONTROL_PAYLOAD, OpCode};
use crate::handshake::{self, Accept, ClientRequest, Limits, Negotiated, Request};
use crate::mask::{MaskSource, apply_mask, mask_copy};
use crate::utf8::Utf8Validator;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine as _;
use core::time::Duration;

mod rx;
mod timers;
mod tx;

use rx::Rx;
use timers::{Timer, Timers};
use tx::Tx;

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
    AwaitingResponse { request: Box<ClientRequest>, key: String },
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

/// The frame whose payload is arriving.
///
/// A frame is read one of two ways. In place: the header and payload stay
/// in the read buffer until the whole frame is there, and the payload is
/// handed out where it lies (control frames and single-frame messages, the
/// zero-copy path). Streamed: the header is consumed once decoded and
/// payload bytes move onto the message buffer as they arrive, so the read
/// buffer never holds more than one read of the frame (fragments of a
/// message, and every frame of a compressed message).
#[derive(Debug, Clone, Copy)]
struct InFrame {
    header: FrameHeader,
    /// Header bytes still at the front of the read buffer (0 once a
    /// streamed frame's header is consumed).
    header_len: usize,
    /// Payload bytes already unmasked (and, for text, validated); for a
    /// streamed frame, also moved onto the message.
    done: usize,
    streamed: bool,
}

impl InFrame {
    /// Bytes from the front of the read buffer to the end of the frame.
    fn left(&self) -> usize {
        // Checked against max_frame_size (a usize) in start_frame.
        let len = self.header.len as usize;
        let consumed = if self.streamed { self.done } else { 0 };
        self.header_len + len - consumed
    }
}

/// The payload of a message received in several frames, or compressed,
/// reassembled: `buf[..len]`. The bytes of `buf` past `len` are left over
/// from earlier messages and stay initialised, so appending writes each
/// byte once (no zero-filling before the unmasking copy).
#[derive(Debug, Default)]
struct Reassembly {
    buf: Vec<u8>,
    len: usize,
}

impl Reassembly {
    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `src`, unmasked with `key` from key-stream byte `offset`,
    /// and returns the appended bytes. Capacity grows geometrically with
    /// what arrived, never past `cap` (max_message_size) unless the bytes
    /// themselves need it.
    fn append_unmasked(&mut self, src: &[u8], key: Option<[u8; 4]>, offset: usize, cap: usize) -> &[u8] {
        let start = self.len;
        let end = start + src.len();
        if end > self.buf.len() {
            if end > self.buf.capacity() {
                let target = end.max(self.buf.capacity().saturating_mul(2)).min(cap.max(end));
                self.buf.reserve_exact(target - self.buf.len());
            }
            self.buf.resize(end, 0);
        }
        let dst = &mut self.buf[start..end];
        match key {
            Some(key) => mask_copy(dst, src, key, offset),
            None => copy::copy(dst, src),
        }
        self.len = end;
        &self.buf[start..end]
    }

    /// The message as a vector, for code that appends to one (inflating).
    #[cfg(feature = "deflate")]
    fn as_vec(&mut self) -> &mut Vec<u8> {
        self.buf.truncate(self.len);
        &mut self.buf
    }

    /// Takes the length back after [`Reassembly::as_vec`].
    #[cfg(feature = "deflate")]
    fn sync_len(&mut self) {
        self.len = self.buf.len();
    }
}

/// Where a fragmented message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fragmented {
    None,
    Text,
    Binary,
}

/// Work left over from handing out a borrowed event, done at the next call.
#[derive(Debug, Default, Clone, Copy)]
struct Deferred {
    /// Bytes of the read buffer the last event borrowed.
    consume: usize,
    /// The message buffer was handed out and can be reused.
    clear_message: bool,
}

/// Something decided outside `poll_event` that must be reported by it.
#[derive(Debug)]
enum Queued {
    Open,
    Failed(Error),
}

/// A WebSocket connection, either role, without I/O. See the
/// [module docs](self) for the calling contract.
///
/// ```
/// use rfc6455::{ClientRequest, Config, Connection, Event, Role};
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
    config: Config,
    state: State,
    rx: Rx,
    eof: bool,
    frame: Option<InFrame>,
    fragmented: Fragmented,
    /// Payload of a fragmented or compressed message so far.
    message: Reassembly,
    /// Payload bytes of the current message declared so far (the frames
    /// received and the one arriving), for the size limit.
    message_len: u64,
    utf8: Utf8Validator,
    deferred: Deferred,
    queued: Option<Queued>,
    tx: Tx,
    negotiated: Negotiated,
    now: Duration,
    timers: Timers,
    /// permessage-deflate, once negotiated.
    #[cfg(feature = "deflate")]
    codec: Option<Box<crate::deflate::Codec>>,
    /// The message being received is compressed (RSV1 on its first frame).
    compressed: bool,
    /// Compressed output of the message being sent.
    #[cfg(feature = "deflate")]
    scratch: Vec<u8>,
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
        // From time zero: the connection is made before any time is told.
        timers.arm(Timer::Handshake, Duration::ZERO, config.handshake_timeout);
        Self {
            role,
            config,
            state,
            rx: Rx::default(),
            eof: false,
            frame: None,
            fragmented: Fragmented::None,
            message: Reassembly::default(),
            message_len: 0,
            utf8: Utf8Validator::default(),
            deferred: Deferred::default(),
            queued: None,
            tx,
            negotiated: Negotiated::default(),
            now: Duration::ZERO,
            timers,
            #[cfg(feature = "deflate")]
            codec: None,
            compressed: false,
            #[cfg(feature = "deflate")]
            scratch: Vec::new(),
        }
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
        #[cfg(feature = "deflate")]
        let request = match config.deflate.enabled {
            true => config
                .deflate
                .offers
                .iter()
                .fold(request, |r, offer| r.extension(offer.to_header())),
            false => request,
        };
        let mut nonce = [0u8; 16];
        masks.fill(&mut nonce);
        let key = base64::engine::general_purpose::STANDARD.encode(nonce);
        let bytes = request.encode(&key);
        let state = State::AwaitingResponse {
            request: Box::new(request),
            key,
        };
        Self::new(Role::Client, config, state, Tx::new(bytes, Some(masks)))
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
        conn.timers.stop(Timer::Handshake);
        conn.arm_keepalive();
        conn.receive(already_read);
        conn
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The DOM-style state.
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
    pub fn is_closed_cleanly(&self) -> bool {
        matches!(self.state, State::Closed { clean: true })
    }

    /// The subprotocol agreed on in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.negotiated.protocol.as_deref()
    }

    /// The extensions agreed on, as the `Sec-WebSocket-Extensions` value
    /// (empty when none).
    pub fn extensions(&self) -> &str {
        &self.negotiated.extensions
    }

    /// Server: the request awaiting [`Connection::accept`] or
    /// [`Connection::reject`].
    pub fn request(&self) -> Option<&Request> {
        match &self.state {
            State::AwaitingDecision { request } => Some(request),
            _ => None,
        }
    }

    // ------------------------------------------------------------ input

    /// Whether received bytes wait to be parsed (a partial frame included).
    pub fn has_buffered_input(&self) -> bool {
        self.rx.len() > self.deferred.consume || self.frame.is_some()
    }

    /// Gives back the buffers that hold nothing now, so an idle connection
    /// costs next to no heap: the read buffer when no input waits, the
    /// message buffer between messages, the output buffer once written.
    /// They are allocated again when needed. Drivers call it before a wait
    /// that is likely long.
    pub fn release_buffers(&mut self) {
        self.settle();
        // A frame read in place keeps at least its header in `rx`, so an
        // empty `rx` holds nothing of a frame in progress (a streamed
        // frame keeps nothing there between reads).
        debug_assert!(!self.rx.is_empty() || self.frame.is_none_or(|f| f.streamed));
        self.rx.release();
        if self.message.is_empty() {
            self.message = Reassembly::default();
        }
        self.tx.release();
    }

    /// Room to read received bytes into; follow with [`Connection::commit_read`].
    ///
    /// The buffer is at least [`Config::read_chunk`] bytes, more when a
    /// frame in progress needs it; it only grows as bytes actually arrive,
    /// never from a length the peer merely declared.
    pub fn read_buffer(&mut self) -> &mut [u8] {
        self.settle();
        let frame_left = self.frame.map(|f| f.left());
        let chunk = self.config.read_chunk;
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
        let frame_left = self.frame.map(|f| f.left());
        self.rx.extend(data, frame_left, self.config.read_chunk);
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
                Queued::Failed(e) => Event::Failed(e),
            });
        }
        match self.state {
            State::AwaitingResponse { .. } => self.poll_response(),
            State::AwaitingRequest => self.poll_request(),
            State::AwaitingDecision { .. } => {
                // Frames sent before our answer wait in the read buffer; a
                // client may not pile up more than one frame's worth.
                if self.rx.len() > self.config.max_frame_size + frame::MAX_HEADER_LEN {
                    // Too much sent with the request: 431, as for a request
                    // over max_handshake_size.
                    self.tx.push_raw(&handshake::encode_reject(431));
                    return Some(self.fail(HandshakeError::TooLarge.into()));
                }
                None
            }
            State::Open | State::CloseSent => self.poll_frame(),
            State::Closed { .. } => None,
        }
    }

    // ------------------------------------------------------------ handshake

    fn limits(&self) -> Limits {
        Limits {
            max_bytes: self.config.max_handshake_size,
            max_headers: self.config.max_headers,
        }
    }

    /// Whether the buffered handshake bytes hold a complete header block,
    /// or enough bytes to hit the size limit: only then is parsing worth
    /// it, which keeps a byte-at-a-time sender from costing quadratic time.
    fn handshake_ready(&mut self) -> bool {
        self.rx.len() >= self.config.max_handshake_size || self.rx.has_header_end()
    }

    fn poll_response(&mut self) -> Option<Event<'_>> {
        if !self.handshake_ready() {
            return self.eof.then(|| self.fail(HandshakeError::Eof.into()));
        }
        let State::AwaitingResponse { request, key } = &self.state else {
            return None;
        };
        match handshake::validate_response(self.rx.unparsed(), request, key, self.limits()) {
            Ok(Some((negotiated, consumed))) => {
                self.rx.consume(consumed);
                if let Err(e) = self.agree_extensions(&negotiated.extensions) {
                    return Some(self.fail(e.into()));
                }
                self.negotiated = negotiated;
                self.open();
                Some(Event::Open)
            }
            Ok(None) => self.eof.then(|| self.fail(HandshakeError::Eof.into())),
            Err(e) => Some(self.fail(e.into())),
        }
    }

    /// Client: sets up what the server's `Sec-WebSocket-Extensions` agreed
    /// to (RFC 7692 §7.1: at most one permessage-deflate, within our offers).
    #[cfg(feature = "deflate")]
    fn agree_extensions(&mut self, extensions: &str) -> Result<(), HandshakeError> {
        use crate::deflate;
        let mut items = extensions
            .split(',')
            .map(str::trim)
            .filter(|i| i.split(';').next().map(str::trim) == Some(deflate::NAME));
        let Some(item) = items.next() else {
            return Ok(());
        };
        if items.next().is_some() {
            return Err(HandshakeError::BadExtension(String::from(extensions)));
        }
        let agreed = deflate::validate_response(item, &self.config.deflate.offers)?;
        self.codec = Some(Box::new(deflate::Codec::new(agreed, &self.config.deflate)));
        Ok(())
    }

    #[cfg(not(feature = "deflate"))]
    fn agree_extensions(&mut self, _extensions: &str) -> Result<(), HandshakeError> {
        Ok(())
    }

    fn poll_request(&mut self) -> Option<Event<'_>> {
        if !self.handshake_ready() {
            return self.eof.then(|| self.fail(HandshakeError::Eof.into()));
        }
        match handshake::parse_request(self.rx.unparsed(), self.limits()) {
            Ok(Some((request, consumed))) => {
                self.rx.consume(consumed);
                self.state = State::AwaitingDecision {
                    request: Box::new(request),
                };
                match &self.state {
                    State::AwaitingDecision { request } => Some(Event::Request(request)),
                    _ => None,
                }
            }
            Ok(None) => self.eof.then(|| self.fail(HandshakeError::Eof.into())),
            Err(bad) => {
                self.tx.push_raw(&handshake::encode_reject(bad.status));
                Some(self.fail(bad.error.into()))
            }
        }
    }

    /// Server: accepts the request announced by [`Event::Request`]. The 101
    /// response is queued and [`Event::Open`] follows from `poll_event`.
    pub fn accept(&mut self, accept: Accept) -> Result<(), Error> {
        let State::AwaitingDecision { request } = &self.state else {
            return Err(Error::InvalidState("no request awaits a decision"));
        };
        if let Some(chosen) = accept.selected_protocol() {
            if !request.protocols().iter().any(|p| p == chosen) {
                return Err(Error::InvalidState("the chosen subprotocol was not offered"));
            }
        }
        #[cfg(feature = "deflate")]
        let deflate = crate::deflate::accept_offer(request.extensions(), &self.config.deflate);
        #[cfg(not(feature = "deflate"))]
        let deflate: Option<(String, ())> = None;
        let extensions = deflate.as_ref().map_or("", |(item, _)| item.as_str());
        self.tx
            .push_raw(&handshake::encode_accept(request, &accept, extensions));
        self.negotiated.protocol = accept.selected_protocol().map(String::from);
        self.negotiated.extensions = String::from(extensions);
        #[cfg(feature = "deflate")]
        if let Some((_, agreed)) = deflate {
            self.codec = Some(Box::new(crate::deflate::Codec::new(agreed, &self.config.deflate)));
        }
        self.open();
        self.queued = Some(Queued::Open);
        Ok(())
    }

    /// Server: refuses the request with an HTTP `status` (e.g. 403). The
    /// response is queued and the connection is closed.
    pub fn reject(&mut self, status: u16) -> Result<(), Error> {
        if !matches!(self.state, State::AwaitingDecision { .. }) {
            return Err(Error::InvalidState("no request awaits a decision"));
        }
        self.tx.push_raw(&handshake::encode_reject(status));
        self.state = State::Closed { clean: false };
        self.release_input();
        self.timers.stop_all();
        Ok(())
    }

    fn open(&mut self) {
        self.state = State::Open;
        self.timers.stop(Timer::Handshake);
        self.arm_keepalive();
    }

    // ------------------------------------------------------------ frames

    fn header_rules(&self) -> HeaderRules {
        #[cfg(feature = "deflate")]
        let allowed_rsv = if self.codec.is_some() { 0b100 } else { 0 };
        #[cfg(not(feature = "deflate"))]
        let allowed_rsv = 0;
        HeaderRules {
            expect_masked: self.role == Role::Server,
            allowed_rsv,
        }
    }

    /// Reads frames until one completes an event or the bytes run out.
    fn poll_frame(&mut self) -> Option<Event<'_>> {
        loop {
            // The frame in progress is held here and put back in
            // `self.frame` only while it waits for more bytes.
            let mut frame = match self.frame.take() {
                Some(frame) => frame,
                None => match self.start_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => return self.eof.then(|| self.fail(Error::UnexpectedEof)),
                    Err(e) => return Some(self.fail(e)),
                },
            };
            if frame.streamed {
                match self.stream_payload(&mut frame) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.frame = Some(frame);
                        return self.eof.then(|| self.fail(Error::UnexpectedEof));
                    }
                    Err(e) => return Some(self.fail(e)),
                }
                if frame.header.fin {
                    let kind = match self.message_is_text(frame.header.opcode) {
                        true => OpCode::Text,
                        false => OpCode::Binary,
                    };
                    self.fragmented = Fragmented::None;
                    self.compressed = false;
                    self.deferred.clear_message = true;
                    return self.deliver(kind, 0, self.message.len, true);
                }
                continue;
            }
            let len = frame.header.len as usize;
            let payload_at = frame.header_len;
            let arrived = (self.rx.len() - payload_at).min(len);
            if arrived > frame.done {
                // Only single-frame messages are text read in place.
                let is_text = frame.header.opcode == OpCode::Text;
                let fresh = self.rx.get_mut(payload_at + frame.done..payload_at + arrived);
                if let Some(key) = frame.header.mask {
                    apply_mask(fresh, key, frame.done);
                }
                if is_text && self.utf8.feed(fresh).is_err() {
                    return Some(self.fail(Error::InvalidUtf8));
                }
                frame.done = arrived;
            }
            if frame.done < len {
                self.frame = Some(frame);
                return self.eof.then(|| self.fail(Error::UnexpectedEof));
            }
            let end = payload_at + len;
            self.deferred.consume = end;
            return match frame.header.opcode {
                OpCode::Ping | OpCode::Pong | OpCode::Close => self.control_frame(frame.header.opcode, payload_at, end),
                // A single-frame message: hand it out where it lies.
                opcode => self.deliver(opcode, payload_at, end, false),
            };
        }
    }

    /// Moves the payload bytes of the streamed frame that have arrived onto
    /// the message: unmasked in the same pass as the copy and, for text,
    /// validated as they land (§8.1: an invalid byte fails the connection
    /// as soon as it arrives, not when the frame or message ends). A
    /// compressed frame is unmasked in place and inflated instead. Returns
    /// whether the frame is complete.
    ///
    /// Called once per read, not per byte: kept out of line so that the
    /// small-message path through `poll_event` stays tight.
    #[inline(never)]
    fn stream_payload(&mut self, frame: &mut InFrame) -> Result<bool, Error> {
        // The header is consumed on the first call.
        self.rx.consume(frame.header_len);
        frame.header_len = 0;
        let len = frame.header.len as usize;
        let take = self.rx.len().min(len - frame.done);
        let complete = frame.done + take == len;
        let text = self.message_is_text(frame.header.opcode);
        #[cfg(feature = "deflate")]
        if self.compressed {
            if let Some(key) = frame.header.mask {
                apply_mask(self.rx.get_mut(0..take), key, frame.done);
            }
            let last = complete && frame.header.fin;
            if take > 0 || last {
                self.inflate(take, last, text)?;
            }
        }
        if !self.compressed && take > 0 {
            let max = self.config.max_message_size;
            let fresh = self
                .message
                .append_unmasked(self.rx.get(0..take), frame.header.mask, frame.done, max);
            if text && self.utf8.feed(fresh).is_err() {
                return Err(Error::InvalidUtf8);
            }
        }
        self.rx.consume(take);
        frame.done += take;
        Ok(complete)
    }

    /// Inflates the first `take` unparsed bytes, compressed payload, onto the message
    /// (RFC 7692 §7.2.2), validating text as it comes out; `last` ends the
    /// message.
    #[cfg(feature = "deflate")]
    fn inflate(&mut self, take: usize, last: bool, text: bool) -> Result<(), Error> {
        use crate::deflate::InflateError;
        let max = self.config.max_message_size;
        let before = self.message.len;
        let codec = self.codec.as_mut().ok_or(Error::ReservedBits(0b100))?;
        let result = codec.decompress(self.rx.get(0..take), last, self.message.as_vec(), max);
        self.message.sync_len();
        match result {
            Ok(()) => {}
            Err(InflateError::TooBig) => {
                return Err(Error::MessageTooLarge {
                    len: self.message.len as u64 + 1,
                    max,
                });
            }
            Err(InflateError::Corrupt) => return Err(Error::InvalidCompressedData),
        }
        if text && self.utf8.feed(&self.message.as_slice()[before..]).is_err() {
            return Err(Error::InvalidUtf8);
        }
        Ok(())
    }

    /// Whether a data frame with this opcode belongs to a text message.
    fn message_is_text(&self, opcode: OpCode) -> bool {
        opcode == OpCode::Text || (opcode == OpCode::Continuation && self.fragmented == Fragmented::Text)
    }

    /// Decodes the next header and checks it against the message in
    /// progress and the limits; `Ok(None)` while it is incomplete.
    fn start_frame(&mut self) -> Result<Option<InFrame>, Error> {
        let decoded = frame::decode(self.rx.unparsed(), self.header_rules());
        let Some((header, header_len)) = decoded.map_err(Error::from)? else {
            return Ok(None);
        };
        if header.rsv != 0 && (header.opcode.is_control() || header.opcode == OpCode::Continuation) {
            // RFC 7692 §6.1: RSV1 marks only a message's first frame, and
            // never a control frame.
            return Err(Error::ReservedBits(header.rsv));
        }
        // Control frames are read in place.
        let mut streamed = false;
        if !header.opcode.is_control() {
            if header.opcode != OpCode::Continuation {
                self.compressed = header.rsv & 0b100 != 0;
            }
            // §5.4: a message is one start frame and its continuations.
            match (header.opcode, self.fragmented) {
                (OpCode::Continuation, Fragmented::None) => return Err(Error::UnexpectedContinuation),
                (OpCode::Text | OpCode::Binary, Fragmented::Text | Fragmented::Binary) => {
                    return Err(Error::ExpectedContinuation);
                }
                _ => {}
            }
            let max = self.config.max_frame_size;
            if header.len > max as u64 {
                return Err(Error::FrameTooLarge { len: header.len, max });
            }
            if header.opcode != OpCode::Continuation {
                self.message_len = 0;
            }
            self.message_len += header.len;
            let max = self.config.max_message_size;
            if self.message_len > max as u64 {
                return Err(Error::MessageTooLarge {
                    len: self.message_len,
                    max,
                });
            }
            if !header.fin && header.opcode != OpCode::Continuation {
                self.fragmented = match header.opcode {
                    OpCode::Text => Fragmented::Text,
                    _ => Fragmented::Binary,
                };
            }
            // §5.4: a message in several frames is reassembled, so its
            // frames stream onto the message buffer as they arrive; so does
            // a compressed message, which is inflated there. A single-frame
            // message is read in place and handed out from the read buffer.
            streamed = self.compressed || !header.fin || header.opcode == OpCode::Continuation;
        }
        Ok(Some(InFrame {
            header,
            header_len,
            done: 0,
            streamed,
        }))
    }

    /// Hands out a complete message lying in `rx` (`start..end` of the
    /// unparsed bytes) or in `message`.
    fn deliver(&mut self, opcode: OpCode, start: usize, end: usize, from_message: bool) -> Option<Event<'_>> {
        if opcode == OpCode::Text && self.utf8.finish().is_err() {
            return Some(self.fail(Error::InvalidUtf8));
        }
        let payload = if from_message {
            &self.message.as_slice()[start..end]
        } else {
            self.rx.get(start..end)
        };
        Some(match opcode {
            OpCode::Text => {
                debug_assert!(
                    core::str::from_utf8(payload).is_ok(),
                    "validator accepted invalid UTF-8"
                );
                // Every byte of `payload` went through `self.utf8` in order
                // as it arrived (`poll_frame` feeds each unmasked piece of a
                // single-frame text message, `stream_payload` each piece of
                // a fragmented one as it lands on the message, `inflate`
                // each inflated piece), no other bytes did, and `finish`
                // just confirmed no code point is left open. The caller can
                // write only past the received bytes (`Rx::room`), and
                // their end never moves back over them (`Rx::commit` clamps
                // before adding), so none of them changed after validation.
                // `Utf8Validator` accepts exactly what `core::str::from_utf8`
                // accepts (utf8.rs compares them at every split point; the
                // debug assertion above re-checks in every test run).
                // Validating twice would double the cost of text (bench
                // `receive`, text_multibyte).
                #[allow(unsafe_code)]
                // SAFETY: `payload` is valid UTF-8, as shown above.
                let text = unsafe { core::str::from_utf8_unchecked(payload) };
                Event::Text(text)
            }
            _ => Event::Binary(payload),
        })
    }

    fn control_frame(&mut self, opcode: OpCode, start: usize, end: usize) -> Option<Event<'_>> {
        match opcode {
            OpCode::Ping => {
                // §5.5.2: answer "unless it already received a Close frame";
                // having sent ours does not excuse us.
                if self.config.auto_pong && matches!(self.state, State::Open | State::CloseSent) {
                    self.tx.push_frame(OpCode::Pong, true, self.rx.get(start..end));
                }
                Some(Event::Ping(self.rx.get(start..end)))
            }
            OpCode::Pong => Some(Event::Pong(self.rx.get(start..end))),
            _ => {
                if let Err(bad) = close::parse(self.rx.get(start..end)) {
                    return Some(self.fail(bad.into()));
                }
                if matches!(self.state, State::Open) {
                    // §5.5.1: reply with a close frame, echoing the code.
                    let mut reply = [0u8; MAX_CONTROL_PAYLOAD];
                    let received = self.rx.get(start..end);
                    let n = if self.config.echo_close_reason {
                        received.len()
                    } else {
                        received.len().min(2)
                    };
                    reply[..n].copy_from_slice(&received[..n]);
                    self.tx.push_frame(OpCode::Close, true, &reply[..n]);
                }
                self.state = State::Closed { clean: true };
                self.after_close(true);
                // The frame stays in rx until the next call; only state changed.
                let frame = close::parse(self.rx.get(start..end)).ok()?;
                Some(Event::Close(frame))
            }
        }
    }

    /// Fails the connection (§7.1.7): queue a close frame with the error's
    /// code when one may still be sent, and stop reading.
    fn fail<'a>(&mut self, error: Error) -> Event<'a> {
        let code = error.close_code().filter(|c| c.is_sendable());
        if let (Some(code), State::Open) = (code, &self.state) {
            self.tx.push_frame(OpCode::Close, true, &code.0.to_be_bytes());
        }
        self.state = State::Closed { clean: false };
        self.release_input();
        self.after_close(false);
        Event::Failed(error)
    }

    /// Stops reading: whatever the peer sends now is discarded.
    fn release_input(&mut self) {
        self.rx = Rx::default();
        self.frame = None;
        self.message = Reassembly::default();
        self.fragmented = Fragmented::None;
        self.deferred = Deferred::default();
    }

    /// Timers once the close handshake ended: only a client after a clean
    /// close still waits, for the server to close the transport.
    fn after_close(&mut self, clean: bool) {
        self.timers.stop_all();
        if clean && self.role == Role::Client {
            self.timers.arm(Timer::Close, self.now, self.config.close_timeout);
        }
    }

    // ------------------------------------------------------------ buffers

    /// Finishes what handing out the previous event left to do.
    fn settle(&mut self) {
        if matches!(self.state, State::Closed { .. }) {
            // Nothing after the close is read (§5.5.1): drop it unparsed.
            self.release_input();
            return;
        }
        if self.deferred.consume > 0 {
            self.rx.consume(self.deferred.consume);
            self.deferred.consume = 0;
        }
        if self.deferred.clear_message {
            self.deferred.clear_message = false;
            self.message.clear();
        }
        self.rx.rewind_if_empty();
    }

    // ------------------------------------------------------------ output

    fn start_close(&mut self, payload: &[u8]) {
        match self.state {
            State::Open => {
                self.tx.push_frame(OpCode::Close, true, payload);
                self.state = State::CloseSent;
                self.timers.stop(Timer::Ping);
                self.timers.stop(Timer::KeepaliveDead);
                self.timers.arm(Timer::Close, self.now, self.config.close_timeout);
            }
            State::AwaitingResponse { .. } | State::AwaitingRequest | State::AwaitingDecision { .. } => {
                // Abandoned: an unsent request goes unsent.
                self.state = State::Closed { clean: false };
                self.release_input();
                self.timers.stop_all();
                self.tx.clear();
            }
            State::CloseSent | State::Closed { .. } => {}
        }
    }

    /// Whether the transport should be closed once the pending output is
    /// written: after a failure, after a server's close handshake, and for
    /// a client once the server closed its side or the close timeout ran
    /// out (§7.1.1: the server closes the TCP connection first).
    pub fn should_close_transport(&self) -> bool {
        match self.state {
            State::Closed { clean } => {
                !clean || self.role == Role::Server || self.eof || !self.timers.is_armed(Timer::Close)
            }
            _ => false,
        }
    }

    fn fail_later(&mut self, error: Error) {
        if let Event::Failed(error) = self.fail(error) {
            self.queued = Some(Queued::Failed(error));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::MAX_HEADER_LEN;
    use alloc::vec;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    struct NoMasks;

    impl MaskSource for NoMasks {
        fn fill(&mut self, dest: &mut [u8]) {
            dest.fill(0x5a);
        }
    }

    fn server(config: Config) -> Connection {
        Connection::established_with_masks(Role::Server, config, &[], Box::new(NoMasks))
    }

    /// The header of a masked frame (as a client sends it) declaring `len`.
    fn header(opcode: OpCode, fin: bool, len: u64) -> Vec<u8> {
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
    fn frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = header(opcode, fin, payload.len() as u64);
        let start = out.len();
        out.extend_from_slice(payload);
        apply_mask(&mut out[start..], KEY, 0);
        out
    }

    /// Events, owned.
    #[derive(Debug, PartialEq)]
    enum Ev {
        Text(String),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Failed(Option<u16>),
        Other,
    }

    fn poll_all(conn: &mut Connection) -> Vec<Ev> {
        let mut events = Vec::new();
        while let Some(event) = conn.poll_event() {
            events.push(match event {
                Event::Text(t) => Ev::Text(String::from(t)),
                Event::Binary(b) => Ev::Binary(b.to_vec()),
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
    fn trickle(conn: &mut Connection, bytes: &[u8]) -> (Vec<Ev>, Option<usize>) {
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
    fn close_with(code: u16) -> Vec<u8> {
        let [hi, lo] = code.to_be_bytes();
        vec![0x88, 0x02, hi, lo]
    }

    // RFC 6455 §5.4 (fragments of a message) and §8.1 ("fail fast"): the
    // payload of a fragment is validated as it lands on the message, so an
    // invalid byte fails the connection with 1007 the moment it arrives,
    // though its frame declares more bytes that never come.
    #[test]
    fn invalid_utf8_in_a_partial_fragment_fails_with_1007_before_the_frame_completes() {
        // (complete frames first, then a frame declaring 100 bytes of which
        // these arrive; the last one is the first impossible byte).
        /// Complete frames, then the opcode and the bytes of a partial one.
        type Case<'a> = (&'a [(OpCode, &'a [u8])], OpCode, &'a [u8]);
        let cases: [Case; 4] = [
            (&[], OpCode::Text, b"hello \xff"),
            (&[], OpCode::Text, "κόσμε \u{20ac}".as_bytes().split_last().unwrap().1),
            // F4 may start a code point past U+FFFF; F4 90 is past U+10FFFF.
            (&[(OpCode::Text, b"abc\xf4")], OpCode::Continuation, b"\x90"),
            // A surrogate (ED A0), split over fragments.
            (
                &[(OpCode::Text, "κό".as_bytes()), (OpCode::Continuation, b"x\xed")],
                OpCode::Continuation,
                b"\xa0",
            ),
        ];
        for (n, (complete, opcode, partial)) in cases.into_iter().enumerate() {
            let valid_prefix = n == 1;
            let mut wire = Vec::new();
            for &(op, payload) in complete {
                wire.extend(frame(op, false, payload));
            }
            let mut last = header(opcode, false, 100);
            let start = last.len();
            last.extend_from_slice(partial);
            apply_mask(&mut last[start..], KEY, 0);
            wire.extend(&last);

            // All at once.
            let mut conn = server(Config::default());
            conn.receive(&wire);
            let events = poll_all(&mut conn);
            if valid_prefix {
                assert_eq!(events, [], "case {n}: a valid prefix waits for the rest");
                assert!(conn.frame.is_some_and(|f| f.streamed && f.done == partial.len()));
                continue;
            }
            assert_eq!(events, [Ev::Failed(Some(1007))], "case {n}");
            assert_eq!(conn.pending_output(), close_with(1007), "case {n}");

            // Byte by byte: the failure comes with the invalid byte, no later.
            let mut conn = server(Config::default());
            let (events, at) = trickle(&mut conn, &wire);
            assert_eq!(events, [Ev::Failed(Some(1007))], "case {n}");
            assert_eq!(at, Some(wire.len()), "case {n}: failed only after {at:?} bytes");
            assert_eq!(conn.ready_state(), ReadyState::Closed);
        }
    }

    // RFC 6455 §5.4 and §10.4: the size limit applies to the message
    // across its fragments, on each header: a fragment that would take the
    // message past max_message_size fails with 1009 as soon as its header
    // arrives, with none of its payload read and nothing allocated for it.
    #[test]
    fn a_fragment_declared_past_max_message_size_fails_with_1009_on_its_header() {
        let config = Config {
            max_message_size: 1000,
            // So that the message limit, not the frame limit, refuses.
            max_frame_size: usize::MAX,
            ..Config::default()
        };
        for declared in [401, 1 << 20, (1 << 63) - 1] {
            let mut conn = server(config.clone());
            conn.receive(&frame(OpCode::Binary, false, &[7; 600]));
            assert_eq!(poll_all(&mut conn), []);
            assert_eq!(conn.message.as_slice(), &[7; 600][..]);
            assert!(conn.message.buf.capacity() <= 1000);
            let rx_capacity = conn.rx.capacity();

            // Only the header: the failure does not wait for payload.
            conn.receive(&header(OpCode::Continuation, false, declared));
            assert!(conn.rx.capacity() <= rx_capacity, "the read buffer grew");
            assert!(conn.message.buf.capacity() <= 1000, "the message grew");
            let failed = conn.poll_event().map(|e| match e {
                Event::Failed(Error::MessageTooLarge { len, max }) => Some((len, max)),
                _ => None,
            });
            assert_eq!(failed, Some(Some((600 + declared, 1000))), "declared {declared}");
            assert_eq!(conn.pending_output(), close_with(1009));
            assert!(conn.poll_event().is_none());
        }
    }

    // A peer cannot make us allocate what it merely declares: a fragment
    // declaring 16 MiB (within the limits) costs only what has arrived,
    // and its bytes leave the read buffer as they come.
    #[test]
    fn a_large_declared_fragment_allocates_only_what_arrived() {
        let mut conn = server(Config::default());
        let declared = 16 << 20;
        let mut wire = header(OpCode::Binary, false, declared);
        wire.extend_from_slice(&[1; 1000]);
        for piece in wire.chunks(100) {
            conn.receive(piece);
            assert_eq!(poll_all(&mut conn), []);
        }
        assert_eq!(conn.message.len, 1000);
        assert!(conn.message.buf.capacity() < 4096, "{}", conn.message.buf.capacity());
        assert!(conn.rx.is_empty(), "payload left in the read buffer");
        assert!(conn.rx.capacity() <= 64 << 10);
        assert!(conn.read_buffer().len() <= 64 << 10);
    }

    // RFC 6455 §5.4: "Control frames MAY be injected in the middle of a
    // fragmented message." They are read in place and handed out while the
    // fragments around them stream onto the message.
    #[test]
    fn control_frames_between_streamed_fragments() {
        let text = "héllo wörld, 𝄞 and €";
        let bytes = text.as_bytes();
        // Cuts inside code points: é is bytes 1..3, 𝄞 starts at 16.
        let (a, rest) = bytes.split_at(2);
        let (b, c) = rest.split_at(15);
        let mut wire = frame(OpCode::Text, false, a);
        wire.extend(frame(OpCode::Ping, true, b"p1"));
        wire.extend(frame(OpCode::Continuation, false, b));
        wire.extend(frame(OpCode::Pong, true, b"p2"));
        wire.extend(frame(OpCode::Continuation, true, c));
        let expected = [
            Ev::Ping(b"p1".to_vec()),
            Ev::Pong(b"p2".to_vec()),
            Ev::Text(String::from(text)),
        ];
        for chunk in [1, 2, 3, 7, 13, wire.len()] {
            let mut conn = server(Config::default());
            let mut events = Vec::new();
            for piece in wire.chunks(chunk) {
                conn.receive(piece);
                events.extend(poll_all(&mut conn));
                // Streamed payload never waits in the read buffer.
                if conn.frame.is_some_and(|f| f.streamed) {
                    assert!(conn.rx.is_empty(), "chunk {chunk}");
                }
            }
            assert_eq!(events, expected, "chunk {chunk}");
            // The auto-pong answers the ping (§5.5.2).
            assert_eq!(conn.pending_output(), [0x8a, 0x02, b'p', b'1'], "chunk {chunk}");
        }

        // Binary too, with a close after the message.
        let mut wire = frame(OpCode::Binary, false, &[1, 2, 3]);
        wire.extend(frame(OpCode::Ping, true, b""));
        wire.extend(frame(OpCode::Continuation, false, &[]));
        wire.extend(frame(OpCode::Continuation, true, &[4, 5]));
        let mut conn = server(Config::default());
        let (events, _) = trickle(&mut conn, &wire);
        assert_eq!(events, [Ev::Ping(vec![]), Ev::Binary(vec![1, 2, 3, 4, 5])]);
    }

    // A single-frame message is handed out from the read buffer: the
    // reassembly buffer is never touched (zero-copy).
    #[test]
    fn single_frame_messages_do_not_use_the_message_buffer() {
        let mut conn = server(Config::default());
        let mut wire = frame(OpCode::Text, true, "a whole message".as_bytes());
        wire.extend(frame(OpCode::Binary, true, &[9; 70_000]));
        conn.receive(&wire);
        let events = poll_all(&mut conn);
        assert_eq!(
            events,
            [Ev::Text(String::from("a whole message")), Ev::Binary(vec![9; 70_000])]
        );
        assert_eq!(conn.message.buf.capacity(), 0);
    }
}
