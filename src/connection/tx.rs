//! The output queue, with the source of the masking keys its frames need,
//! and the calls that queue messages and hand out the bytes to write.

use super::{Connection, State};
use crate::close::{CloseCode, MAX_REASON_LEN};
use crate::copy;
use crate::error::{Error, Misuse};
use crate::frame::{self, FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode};
use crate::mask::{MaskSource, apply_mask};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use bytes::Bytes;

/// A payload at least this long that goes out as it is (a server's frame,
/// uncompressed) is queued by reference rather than copied
/// ([`Connection::send_binary_bytes`]); below it the copy costs less than
/// a separate piece to write (bench `send_driver`, server_bytes).
pub(crate) const SHARE_MIN: usize = 16 << 10;

/// Bytes to send, `buf[start..]`, and the masking keys for the frames
/// appended to them (a client's; a server sends unmasked, RFC 6455 §5.1).
pub(super) struct Tx {
    buf: Vec<u8>,
    start: usize,
    masks: Option<Box<dyn MaskSource>>,
    /// The opcode (text or binary) of the fragmented message being sent:
    /// its first frame went out, its last not yet (RFC 6455 §5.4).
    fragmenting: Option<OpCode>,
    /// Payloads queued without a copy, `None` while there are none (boxed:
    /// a connection that never sends one carries 16 bytes of it).
    shared: Option<Box<Shared>>,
    /// Their bytes not yet written: kept here, so the pending length is a
    /// sum with no branch (the drivers ask for it several times per send;
    /// benches/compare callgrind, send_binary_16_b).
    shared_len: usize,
    /// A frame whose length was declared and whose payload is still
    /// arriving ([`Connection::begin_message`]); boxed, as `shared`.
    declared: Option<Box<Declared>>,
}

/// A frame sent with its length declared up front, payload to come.
struct Declared {
    /// Payload bytes still to come.
    left: u64,
    /// The frame's masking key, and how far into its key stream the
    /// payload has come.
    key: Option<[u8; 4]>,
    offset: usize,
    /// A text frame's payload is checked as it comes (RFC 6455 §8.1: the
    /// peer fails the connection on invalid UTF-8).
    text: Option<crate::utf8::Utf8Validator>,
    /// Control frames queued meanwhile: they may go between frames, never
    /// inside one (§5.4), so they follow the frame's last byte.
    held: Vec<u8>,
    /// Where in `held` the one pong kept is: §5.5.3 lets an endpoint answer
    /// only the latest of the pings it has not answered yet, so a peer's
    /// ping flood during a long frame costs one pong, not one per ping (a
    /// review measured 4 MiB held for 20,000 pings).
    pong: Option<core::ops::Range<usize>>,
}

/// Payloads queued by reference: each goes out after `buf[..at]` and
/// before `buf[at..]`, in order (`at` never decreases).
#[derive(Default)]
struct Shared {
    items: VecDeque<(usize, Bytes)>,
    /// Bytes of the first item already written.
    written: usize,
}

impl Shared {
    /// The pieces to write next, from `buf[start..]` and the items, in
    /// order; how many were put in `out`.
    fn pieces<'a>(&'a self, buf: &'a [u8], mut start: usize, out: &mut [&'a [u8]]) -> usize {
        let mut n = 0;
        let mut written = self.written;
        for (at, bytes) in &self.items {
            for piece in [&buf[start..*at], &bytes[written..]] {
                if n == out.len() {
                    return n;
                }
                if !piece.is_empty() {
                    out[n] = piece;
                    n += 1;
                }
            }
            start = *at;
            written = 0;
        }
        if n < out.len() && start < buf.len() {
            out[n] = &buf[start..];
            n += 1;
        }
        n
    }
}

impl Tx {
    /// A queue holding `queued` (a client's request), masking with `masks`.
    pub(super) fn new(queued: Vec<u8>, masks: Option<Box<dyn MaskSource>>) -> Self {
        Self {
            buf: queued,
            start: 0,
            masks,
            fragmenting: None,
            shared: None,
            shared_len: 0,
            declared: None,
        }
    }

    /// Whether a payload of `len` bytes can be queued by reference: it
    /// goes out unmasked (a server's) and is large enough to pay for it.
    pub(super) fn can_share(&self, len: usize) -> bool {
        self.masks.is_none() && len >= SHARE_MIN
    }

    /// Queues one unmasked final frame whose payload is written from
    /// `payload` itself, not copied.
    pub(super) fn push_shared_frame(&mut self, opcode: OpCode, payload: Bytes) {
        debug_assert!(self.masks.is_none(), "a masked payload cannot be shared");
        append_frame(
            &mut self.buf,
            frame_header(opcode, true, 0, None, payload.len() as u64),
            &[],
        );
        self.shared_len += payload.len();
        let shared = self.shared.get_or_insert_with(Default::default);
        shared.items.push_back((self.buf.len(), payload));
    }

    /// Queues one frame, masked when there is a mask source.
    pub(super) fn push_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        self.push_any_frame(opcode, fin, 0, payload);
    }

    /// Queues a final frame with RSV bits set by an extension.
    pub(super) fn push_frame_rsv(&mut self, opcode: OpCode, rsv: u8, payload: &[u8]) {
        self.push_any_frame(opcode, true, rsv, payload);
    }

    fn push_any_frame(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) {
        if self.declared.is_some() && opcode.is_control() {
            return self.hold_control(opcode, payload);
        }
        let mask = self.masks.as_mut().map(|m| m.mask_key());
        append_frame(
            &mut self.buf,
            frame_header(opcode, fin, rsv, mask, payload.len() as u64),
            payload,
        );
    }

    /// Queues a control frame after the declared frame under way.
    #[cold]
    #[inline(never)]
    fn hold_control(&mut self, opcode: OpCode, payload: &[u8]) {
        let mask = self.masks.as_mut().map(|m| m.mask_key());
        if let Some(declared) = self.declared.as_mut() {
            if opcode == OpCode::Pong {
                if let Some(older) = declared.pong.take() {
                    declared.held.drain(older);
                }
            }
            let start = declared.held.len();
            let header = frame_header(opcode, true, 0, mask, payload.len() as u64);
            append_frame(&mut declared.held, header, payload);
            if opcode == OpCode::Pong {
                declared.pong = Some(start..declared.held.len());
            }
        }
    }

    /// Queues the header of a final frame of `len` payload bytes, which
    /// `push_declared` then queues as they come.
    fn begin_declared(&mut self, opcode: OpCode, len: u64) {
        let key = self.masks.as_mut().map(|m| m.mask_key());
        append_frame(&mut self.buf, frame_header(opcode, true, 0, key, len), &[]);
        if len == 0 {
            return;
        }
        self.declared = Some(Box::new(Declared {
            left: len,
            key,
            offset: 0,
            text: (opcode == OpCode::Text).then(Default::default),
            held: Vec::new(),
            pong: None,
        }));
    }

    /// Queues the next payload bytes of the declared frame (the caller
    /// checked that they fit and, for text, are UTF-8 so far); after its
    /// last byte, the control frames held meanwhile.
    fn push_declared(&mut self, data: &[u8]) {
        let Some(declared) = self.declared.as_mut() else {
            return;
        };
        let start = self.buf.len();
        copy::extend(&mut self.buf, data);
        if let Some(key) = declared.key {
            apply_mask(&mut self.buf[start..], key, declared.offset);
        }
        declared.offset = (declared.offset + data.len()) % 4;
        declared.left -= data.len() as u64;
        if declared.left == 0 {
            let held = core::mem::take(&mut declared.held);
            self.declared = None;
            self.buf.extend_from_slice(&held);
        }
    }

    /// Whether a declared frame is still arriving, so frames queued after
    /// it (a close reply) are not written yet.
    pub(super) fn holds_frames(&self) -> bool {
        self.declared.is_some()
    }

    /// Bytes of the control frames held behind the declared frame.
    #[cfg(feature = "std")]
    fn held_len(&self) -> usize {
        self.declared.as_ref().map_or(0, |d| d.held.len())
    }

    /// Queues bytes as they are (an HTTP response).
    pub(super) fn push_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    // Inlined through `Connection::pending_output` into the drivers' write
    // loops, which ask for it before and after each write
    // (benches/compare callgrind, send_binary_16_b).
    #[inline]
    pub(super) fn pending(&self) -> &[u8] {
        match &self.shared {
            None => &self.buf[self.start..],
            Some(shared) => self.first_piece(shared),
        }
    }

    #[inline(never)]
    fn first_piece<'a>(&'a self, shared: &'a Shared) -> &'a [u8] {
        let mut piece: [&[u8]; 1] = [&[]];
        shared.pieces(&self.buf, self.start, &mut piece);
        piece[0]
    }

    /// The pieces to write next, in order, as many as fit in `out`; how
    /// many there are.
    pub(super) fn pending_pieces<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        match &self.shared {
            None if self.start == self.buf.len() || out.is_empty() => 0,
            None => {
                out[0] = &self.buf[self.start..];
                1
            }
            Some(shared) => shared.pieces(&self.buf, self.start, out),
        }
    }

    /// How many bytes wait to be written, all pieces together.
    #[inline]
    pub(super) fn pending_len(&self) -> usize {
        self.buf.len() - self.start + self.shared_len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.start == self.buf.len() && self.shared.is_none()
    }

    /// Marks `n` pending bytes written, at most as many as are pending.
    #[inline]
    pub(super) fn advance(&mut self, n: usize) {
        if self.shared.is_some() {
            return self.advance_shared(n);
        }
        // Clamped before adding, so a written byte is never queued again.
        self.start += n.min(self.buf.len() - self.start);
        self.compact();
    }

    /// `advance` across pieces (a vectored write may cover several).
    #[inline(never)]
    fn advance_shared(&mut self, mut n: usize) {
        while n > 0 {
            let Some(shared) = self.shared.as_mut() else {
                break;
            };
            match shared.items.front() {
                Some(&(at, ref bytes)) if at == self.start => {
                    let k = n.min(bytes.len() - shared.written);
                    shared.written += k;
                    self.shared_len -= k;
                    if shared.written == bytes.len() {
                        shared.items.pop_front();
                        shared.written = 0;
                    }
                    n -= k;
                }
                Some(&(at, _)) => {
                    let k = n.min(at - self.start);
                    self.start += k;
                    n -= k;
                }
                None => {
                    self.shared = None;
                    break;
                }
            }
            if self.shared.as_ref().is_some_and(|s| s.items.is_empty()) {
                self.shared = None;
            }
        }
        if self.shared.is_none() {
            // Clamped, so a written byte is never queued again.
            self.start += n.min(self.buf.len() - self.start);
        }
        self.compact();
    }

    /// Drops what was written from the front of `buf`.
    #[inline]
    fn compact(&mut self) {
        if self.start == self.buf.len() && self.shared.is_none() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= 64 << 10 && self.start >= self.buf.len() / 2 {
            // A queue that never empties (a slow peer, a high-water mark)
            // must not keep what was written: drop it. Moving at most as
            // many bytes as were dropped keeps this amortised O(1).
            self.buf.drain(..self.start);
            if let Some(shared) = self.shared.as_mut() {
                for (at, _) in shared.items.iter_mut() {
                    *at -= self.start;
                }
            }
            self.start = 0;
        }
    }

    /// Copies pending bytes into `out` and marks them written.
    pub(super) fn take(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        while n < out.len() {
            let pending = self.pending();
            let k = pending.len().min(out.len() - n);
            if k == 0 {
                break;
            }
            out[n..n + k].copy_from_slice(&pending[..k]);
            self.advance(k);
            n += k;
        }
        n
    }

    /// Drops everything pending, unsent.
    pub(super) fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.declared = None;
        self.shared = None;
        self.shared_len = 0;
    }

    /// Gives the buffer back once everything in it is written.
    #[inline]
    pub(super) fn release(&mut self) {
        if self.is_empty() && (self.buf.capacity() > 0 || self.shared.is_some()) {
            self.reset();
        }
    }

    #[cold]
    #[inline(never)]
    fn reset(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
        self.shared = None;
        self.shared_len = 0;
    }
}

#[inline(always)]
fn frame_header(opcode: OpCode, fin: bool, rsv: u8, mask: Option<[u8; 4]>, len: u64) -> FrameHeader {
    FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        len,
    }
}

/// Appends a frame: `header`, then `payload` masked with the header's key
/// (an empty `payload` for a header whose payload follows elsewhere).
#[inline(always)]
fn append_frame(dst: &mut Vec<u8>, header: FrameHeader, payload: &[u8]) {
    let mut head = [0u8; MAX_HEADER_LEN];
    let head_len = frame::encode(&header, &mut head);
    dst.reserve(head_len + payload.len());
    dst.extend_from_slice(&head[..head_len]);
    let start = dst.len();
    copy::extend(dst, payload);
    if let Some(key) = header.mask {
        apply_mask(&mut dst[start..], key, 0);
    }
}

impl Connection {
    fn check_open(&self) -> Result<(), Error> {
        match self.state {
            State::Open => Ok(()),
            State::AwaitingResponse { .. } | State::AwaitingRequest | State::AwaitingDecision { .. } => {
                Err(Error::Misuse(Misuse::NotOpen))
            }
            State::CloseSent | State::Closed { .. } => Err(Error::Misuse(Misuse::Closing)),
        }
    }

    /// Queues a text message as one frame.
    ///
    /// # Errors
    ///
    /// As [`Connection::send_message`]: [`Error::Misuse`] when not open or
    /// while a fragmented message is being sent.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send_message(OpCode::Text, text.as_bytes(), true)
    }

    /// Queues a binary message as one frame.
    ///
    /// # Errors
    ///
    /// As [`Connection::send_message`]: [`Error::Misuse`] when not open or
    /// while a fragmented message is being sent.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send_message(OpCode::Binary, data, true)
    }

    /// Queues one frame of a fragmented message: `OpCode::Text` or
    /// `OpCode::Binary` for the first, `OpCode::Continuation` after, `fin`
    /// on the last. The order is checked as the peer checks it (§5.4): a
    /// message started while another is under way, or a continuation with
    /// none under way, is refused and nothing is queued. Control frames may
    /// go between the fragments.
    ///
    /// # Errors
    ///
    /// [`Error::Misuse`] with [`Misuse::NotOpen`] before the opening
    /// handshake completes, [`Misuse::Closing`] once the close handshake
    /// has started, [`Misuse::ControlOpcode`] for a control opcode,
    /// [`Misuse::MessageInProgress`] for a first frame while another
    /// message is unfinished and [`Misuse::NoMessageInProgress`] for a
    /// continuation with none. Nothing is queued then.
    pub fn send_frame(&mut self, opcode: OpCode, data: &[u8], fin: bool) -> Result<(), Error> {
        if opcode.is_control() {
            return Err(Error::Misuse(Misuse::ControlOpcode));
        }
        self.check_open()?;
        if self.tx.declared.is_some() {
            return Err(Error::Misuse(Misuse::MessageInProgress));
        }
        let kind = match (opcode, self.tx.fragmenting) {
            (OpCode::Continuation, Some(kind)) => kind,
            (OpCode::Continuation, None) => return Err(Error::Misuse(Misuse::NoMessageInProgress)),
            (_, Some(_)) => return Err(Error::Misuse(Misuse::MessageInProgress)),
            (opcode, None) => opcode,
        };
        self.tx.fragmenting = (!fin).then_some(kind);
        self.tx.push_frame(opcode, fin, data);
        Ok(())
    }

    /// Queues the next part of a text message as one frame, starting the
    /// message if none is under way; `last` ends it. Each part is a
    /// `&str`, so a message sent in parts is valid UTF-8 whatever the
    /// cuts. Parts go out uncompressed. With
    /// [`Config::stream_messages`](crate::Config::stream_messages), a
    /// relay forwards each [`Event::TextPart`](super::Event::TextPart) it
    /// receives with this call.
    ///
    /// # Errors
    ///
    /// As [`Connection::send_frame`], and [`Misuse::MessageInProgress`]
    /// while a binary message is being sent in parts. Nothing is queued
    /// then.
    pub fn send_text_part(&mut self, text: &str, last: bool) -> Result<(), Error> {
        self.send_part(OpCode::Text, text.as_bytes(), last)
    }

    /// Queues the next part of a binary message as one frame, starting the
    /// message if none is under way; `last` ends it (see
    /// [`Connection::send_text_part`]).
    ///
    /// # Errors
    ///
    /// As [`Connection::send_frame`], and [`Misuse::MessageInProgress`]
    /// while a text message is being sent in parts. Nothing is queued then.
    pub fn send_binary_part(&mut self, data: &[u8], last: bool) -> Result<(), Error> {
        self.send_part(OpCode::Binary, data, last)
    }

    /// Starts a message sent as one frame whose payload length, `len`, is
    /// declared in its header: the payload follows in any number of
    /// [`Connection::send_payload`] calls, for a message whose size is
    /// known before its bytes are (a file, a proxied body), without
    /// fragmenting it. Nothing is compressed. Until its last byte is
    /// queued no other message may start, and pings, pongs and a close
    /// frame (the application's or the automatic ones) wait behind it:
    /// RFC 6455 §5.4 lets control frames go between frames, never inside
    /// one. A text frame's payload must be UTF-8 as a whole; each piece is
    /// checked as it comes.
    ///
    /// ```
    /// use rfc6455::{Config, Connection, OpCode, Role};
    ///
    /// let mut server = Connection::established(Role::Server, Config::default(), &[]);
    /// server.begin_message(OpCode::Binary, 5).unwrap();
    /// server.send_payload(b"he").unwrap();
    /// server.ping(b"p").unwrap(); // held until the frame is complete
    /// server.send_payload(b"llo").unwrap();
    /// assert_eq!(server.pending_output(), b"\x82\x05hello\x89\x01p");
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Connection::send_message`], [`Misuse::MessageInProgress`]
    /// while a declared frame is under way, and
    /// [`Misuse::DeclaredLengthTooLong`] for a `len` of 2^63 or more.
    /// Nothing is queued then.
    pub fn begin_message(&mut self, opcode: OpCode, len: u64) -> Result<(), Error> {
        if !matches!(opcode, OpCode::Text | OpCode::Binary) {
            return Err(Error::Misuse(Misuse::NotAMessage));
        }
        // §5.2: "the most significant bit MUST be 0".
        if len >> 63 != 0 {
            return Err(Error::Misuse(Misuse::DeclaredLengthTooLong(len)));
        }
        self.check_open()?;
        if self.tx.fragmenting.is_some() {
            return Err(Error::Misuse(Misuse::MessageInProgress));
        }
        // Other data waits until the frame is complete: while it is under
        // way the message counts as being sent in parts.
        self.tx.fragmenting = (len > 0).then_some(opcode);
        self.tx.begin_declared(opcode, len);
        Ok(())
    }

    /// Bytes of the control frames (pings, pongs, a close) waiting behind
    /// the declared frame under way: [`Connection::send_payload`]'s last
    /// byte releases them into the pending output with the frame's end.
    #[cfg(feature = "std")]
    pub(crate) fn held_output_len(&self) -> usize {
        self.tx.held_len()
    }

    /// Queues the next bytes of the frame [`Connection::begin_message`]
    /// declared; the last of them completes it (and the message).
    ///
    /// # Errors
    ///
    /// [`Misuse::NoMessageInProgress`] with no declared frame under way,
    /// [`Misuse::PayloadOverrun`] for more bytes than the frame has left,
    /// [`Misuse::InvalidUtf8`] for bytes that cannot continue a text
    /// frame's UTF-8 (or leave it unfinished at its end), and
    /// [`Misuse::Closing`] once the connection has failed. Nothing is
    /// queued then.
    pub fn send_payload(&mut self, data: &[u8]) -> Result<(), Error> {
        let Some(declared) = self.tx.declared.as_mut() else {
            return Err(Error::Misuse(Misuse::NoMessageInProgress));
        };
        // A frame under way is finished even after the peer's close (our
        // reply waits behind it), not after a failure.
        if matches!(self.state, State::Closed { clean: false }) {
            return Err(Error::Misuse(Misuse::Closing));
        }
        if data.len() as u64 > declared.left {
            return Err(Error::Misuse(Misuse::PayloadOverrun {
                left: declared.left,
                len: data.len(),
            }));
        }
        if let Some(text) = declared.text.as_mut() {
            // Checked on a copy of the validator, so a refused piece leaves
            // the frame as it was.
            let mut next = text.clone();
            let ends = data.len() as u64 == declared.left;
            if next.feed(data).is_err() || (ends && next.finish().is_err()) {
                return Err(Error::Misuse(Misuse::InvalidUtf8));
            }
            *text = next;
        }
        let completes = data.len() as u64 == declared.left;
        self.tx.push_declared(data);
        if completes {
            self.tx.fragmenting = None;
            self.resume_keepalive();
        }
        Ok(())
    }

    /// The kind (text or binary) of the message being sent in fragments,
    /// if one is.
    #[cfg(feature = "std")]
    pub(crate) fn message_in_parts(&self) -> Option<OpCode> {
        self.tx.fragmenting
    }

    fn send_part(&mut self, kind: OpCode, data: &[u8], last: bool) -> Result<(), Error> {
        let opcode = match self.tx.fragmenting {
            Some(under_way) if under_way != kind => return Err(Error::Misuse(Misuse::MessageInProgress)),
            Some(_) => OpCode::Continuation,
            None => kind,
        };
        self.send_frame(opcode, data, last)
    }

    /// Queues a whole message, compressed when permessage-deflate is
    /// negotiated, `compress` allows it and it reaches the configured
    /// threshold.
    ///
    /// # Errors
    ///
    /// [`Error::Misuse`] with [`Misuse::NotOpen`] before the opening
    /// handshake completes, [`Misuse::Closing`] once the close handshake
    /// has started, [`Misuse::NotAMessage`] for an opcode other than text
    /// or binary and [`Misuse::MessageInProgress`] while a fragmented
    /// message is being sent. Nothing is queued then.
    pub fn send_message(&mut self, opcode: OpCode, data: &[u8], compress: bool) -> Result<(), Error> {
        if !matches!(opcode, OpCode::Text | OpCode::Binary) {
            return Err(Error::Misuse(Misuse::NotAMessage));
        }
        self.check_open()?;
        // RFC 6455 §5.4: no message between the fragments of another.
        if self.tx.fragmenting.is_some() {
            return Err(Error::Misuse(Misuse::MessageInProgress));
        }
        if let Some(codec) = self.codec.as_mut().filter(|c| compress && data.len() >= c.threshold()) {
            self.tx.push_frame_rsv(opcode, 0b100, codec.compress_message(data));
            return Ok(());
        }
        self.tx.push_frame(opcode, true, data);
        Ok(())
    }

    /// [`Connection::send_binary`] for a payload the caller owns as
    /// [`Bytes`] (a message received, for an echo or a proxy): queued by
    /// reference, not copied, when it goes out as it is (a server's frame,
    /// not compressed) and is at least 16 KiB; its bytes are then written
    /// from `data` itself, as a piece of its own
    /// ([`Connection::pending_output_pieces`]). Copied like
    /// `send_binary`'s otherwise. Compressed when permessage-deflate is
    /// negotiated and `data` reaches its threshold.
    ///
    /// # Errors
    ///
    /// As [`Connection::send_message`].
    pub fn send_binary_bytes(&mut self, data: Bytes) -> Result<(), Error> {
        self.send_shared(OpCode::Binary, data)
    }

    /// [`Connection::send_binary_bytes`] for text.
    ///
    /// # Errors
    ///
    /// As [`Connection::send_message`].
    pub fn send_text_bytes(&mut self, text: crate::payload::Utf8Bytes) -> Result<(), Error> {
        self.send_shared(OpCode::Text, text.into_bytes())
    }

    fn send_shared(&mut self, opcode: OpCode, data: Bytes) -> Result<(), Error> {
        let compressed = self.codec.as_ref().is_some_and(|c| data.len() >= c.threshold());
        if compressed || !self.tx.can_share(data.len()) {
            return self.send_message(opcode, &data, true);
        }
        self.check_open()?;
        if self.tx.fragmenting.is_some() {
            return Err(Error::Misuse(Misuse::MessageInProgress));
        }
        self.tx.push_shared_frame(opcode, data);
        Ok(())
    }

    /// Queues a ping (payload at most 125 bytes).
    ///
    /// # Errors
    ///
    /// [`Error::Misuse`] with [`Misuse::NotOpen`] before the opening
    /// handshake completes, [`Misuse::Closing`] once the close handshake
    /// has started and [`Misuse::ControlPayloadTooLong`] for a payload over
    /// 125 bytes. Nothing is queued then.
    pub fn ping(&mut self, data: &[u8]) -> Result<(), Error> {
        self.control(OpCode::Ping, data)
    }

    /// Queues an unsolicited pong (payload at most 125 bytes).
    ///
    /// # Errors
    ///
    /// As [`Connection::ping`].
    pub fn pong(&mut self, data: &[u8]) -> Result<(), Error> {
        self.control(OpCode::Pong, data)
    }

    fn control(&mut self, opcode: OpCode, data: &[u8]) -> Result<(), Error> {
        if data.len() > MAX_CONTROL_PAYLOAD {
            return Err(Error::Misuse(Misuse::ControlPayloadTooLong(data.len())));
        }
        self.check_open()?;
        self.tx.push_frame(opcode, true, data);
        Ok(())
    }

    /// Starts the close handshake (§7.1.2): queues a close frame with `code`
    /// and `reason`, after which no data is sent.
    ///
    /// Arguments are checked first: the code must be sendable and the
    /// reason at most 123 bytes. Then: while open, the frame is queued;
    /// while connecting, the connection is abandoned without a frame;
    /// when already closing or closed, nothing happens.
    ///
    /// # Errors
    ///
    /// [`Error::Misuse`] with [`Misuse::CloseCodeNotSendable`] for a code
    /// that may not be sent, or [`Misuse::ReasonTooLong`] for a reason
    /// over 123 bytes; the connection is left as it was.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if !code.is_sendable() {
            return Err(Error::Misuse(Misuse::CloseCodeNotSendable(code.0)));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(Error::Misuse(Misuse::ReasonTooLong(reason.len())));
        }
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        payload[..2].copy_from_slice(&code.0.to_be_bytes());
        payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
        self.start_close(&payload[..2 + reason.len()]);
        Ok(())
    }

    /// Like [`Connection::close`], with a close frame that carries no code
    /// (the peer reports 1005), as the DOM's `close()` without arguments.
    pub fn close_without_code(&mut self) {
        self.start_close(&[]);
    }

    /// The next bytes to write to the transport: all of them, unless a
    /// payload was queued by reference ([`Connection::send_binary_bytes`]),
    /// which comes out as a piece of its own. Write, [`advance_output`]
    /// and ask again until it is empty, or write every piece at once with
    /// [`Connection::pending_output_pieces`].
    ///
    /// [`advance_output`]: Connection::advance_output
    #[inline]
    pub fn pending_output(&self) -> &[u8] {
        self.tx.pending()
    }

    /// The pieces of output waiting to be written, in order, for a
    /// vectored write: as many as fit in `out`; returns how many. One
    /// piece, [`Connection::pending_output`], unless payloads were queued
    /// by reference. Follow with [`Connection::advance_output`] for the
    /// bytes written, across pieces.
    ///
    /// ```
    /// use rfc6455::{Bytes, Config, Connection, Role};
    ///
    /// let mut server = Connection::established(Role::Server, Config::default(), &[]);
    /// let payload = Bytes::from(vec![7u8; 20_000]);
    /// server.send_binary_bytes(payload.clone()).unwrap();
    /// server.send_text("after").unwrap();
    /// let mut pieces = [&[][..]; 4];
    /// let n = server.pending_output_pieces(&mut pieces);
    /// // The header, the payload itself (not a copy), the next frame.
    /// assert_eq!(n, 3);
    /// assert_eq!(pieces[1].as_ptr(), payload.as_ptr());
    /// assert_eq!(server.pending_output_len(), 4 + 20_000 + 7);
    /// server.advance_output(server.pending_output_len());
    /// assert!(server.pending_output().is_empty());
    /// ```
    pub fn pending_output_pieces<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        self.tx.pending_pieces(out)
    }

    /// How many bytes wait to be written, every piece together.
    #[inline]
    pub fn pending_output_len(&self) -> usize {
        self.tx.pending_len()
    }

    /// Records that the first `n` bytes of [`Connection::pending_output`]
    /// (or of the pieces [`Connection::pending_output_pieces`] gave, in
    /// order) were written. `n` is clamped to what is pending.
    pub fn advance_output(&mut self, n: usize) {
        self.tx.advance(n);
    }

    /// Copies pending output into `out` and marks it written; returns how
    /// many bytes were copied.
    pub fn take_output(&mut self, out: &mut [u8]) -> usize {
        self.tx.take(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::connection::Role;
    use alloc::vec;

    /// Every key byte 0x5a.
    struct Fixed;

    impl MaskSource for Fixed {
        fn fill(&mut self, dest: &mut [u8]) {
            dest.fill(0x5a);
        }
    }

    // RFC 6455 §5.1: a server does not mask; §5.2: the 7-bit length form
    // for payloads up to 125 bytes.
    #[test]
    fn an_unmasked_frame_is_header_then_payload() {
        let mut tx = Tx::new(Vec::new(), None);
        tx.push_frame(OpCode::Binary, true, b"abc");
        tx.push_frame(OpCode::Continuation, false, b"");
        assert_eq!(tx.pending(), [0x82, 0x03, b'a', b'b', b'c', 0x00, 0x00]);
    }

    // RFC 6455 §5.1, §5.3: a client masks every frame, the key following
    // the length and applied to the payload from its first byte.
    #[test]
    fn a_masked_frame_carries_its_key_and_a_masked_payload() {
        let mut tx = Tx::new(Vec::new(), Some(Box::new(Fixed)));
        tx.push_frame(OpCode::Text, true, b"hi");
        let p = tx.pending();
        assert_eq!(p[..6], [0x81, 0x82, 0x5a, 0x5a, 0x5a, 0x5a]);
        assert_eq!(p[6..], [b'h' ^ 0x5a, b'i' ^ 0x5a]);
    }

    #[test]
    fn advance_is_clamped_and_the_queue_keeps_its_order() {
        let mut tx = Tx::new(vec![1, 2, 3, 4, 5], None);
        tx.advance(2);
        assert_eq!(tx.pending(), [3, 4, 5]);
        tx.push_raw(&[6]);
        let mut out = [0; 3];
        assert_eq!(tx.take(&mut out), 3);
        assert_eq!(out, [3, 4, 5]);
        tx.advance(usize::MAX);
        assert!(tx.is_empty());
        tx.advance(usize::MAX);
        tx.push_raw(&[7]);
        assert_eq!(tx.pending(), [7], "written bytes queued again");
    }

    // A queue that never empties drops what was written once that is
    // most of it, so its memory follows what is pending.
    #[test]
    fn a_queue_that_never_empties_drops_what_was_written() {
        let mut tx = Tx::new(vec![0; 100 << 10], None);
        tx.advance((64 << 10) - 1);
        assert_eq!(tx.start, (64 << 10) - 1);
        tx.advance(1);
        assert_eq!(tx.start, 0);
        assert_eq!(tx.pending().len(), 36 << 10);
        tx.clear();
        tx.release();
        assert_eq!(tx.buf.capacity(), 0);
    }

    // Safe calls with any `usize` the caller computes, `usize::MAX` (a
    // `-1` write result cast) included, never resend written bytes.
    #[test]
    fn advance_output_past_the_queue_is_clamped_and_never_resends() {
        let mut conn = Connection::established(Role::Client, Config::default(), &[]);
        conn.send_binary(b"xyz").unwrap();
        let queued = conn.pending_output().len();
        assert!(queued > 0);
        conn.advance_output(1);
        conn.advance_output(usize::MAX);
        assert_eq!(conn.pending_output(), &[] as &[u8], "written bytes queued again");

        conn.send_binary(b"xyz").unwrap();
        conn.advance_output(usize::MAX);
        assert!(conn.pending_output().is_empty());
    }

    // RFC 6455 §5.4: "The fragments of one message MUST NOT be interleaved
    // between the fragments of another message unless an extension has been
    // negotiated that can interpret the interleaving", and a continuation
    // belongs to a message under way. What we send is checked as what we
    // receive is; control frames may go between the fragments.
    #[test]
    fn outgoing_fragments_keep_their_order() {
        for role in [crate::connection::Role::Client, crate::connection::Role::Server] {
            let mut conn = Connection::established(role, crate::config::Config::default(), &[]);
            let misuse = |r: Result<(), Error>| match r {
                Err(Error::Misuse(m)) => Some(m),
                _ => None,
            };
            assert_eq!(
                misuse(conn.send_frame(OpCode::Continuation, b"x", true)),
                Some(Misuse::NoMessageInProgress)
            );
            assert!(conn.pending_output().is_empty());
            conn.send_frame(OpCode::Text, b"He", false).unwrap();
            let queued = conn.pending_output().len();
            assert_eq!(misuse(conn.send_text("between")), Some(Misuse::MessageInProgress));
            assert_eq!(
                misuse(conn.send_frame(OpCode::Binary, b"b", true)),
                Some(Misuse::MessageInProgress)
            );
            assert_eq!(conn.pending_output().len(), queued, "a refused frame was queued");
            conn.ping(b"p").unwrap();
            conn.send_frame(OpCode::Continuation, b"ll", false).unwrap();
            conn.send_frame(OpCode::Continuation, b"o", true).unwrap();
            conn.send_text("next").unwrap();
            assert_eq!(
                misuse(conn.send_frame(OpCode::Continuation, b"x", true)),
                Some(Misuse::NoMessageInProgress)
            );
        }
    }

    // Payloads queued by reference go out where their frame was queued,
    // byte for byte as the copied ones would: the same operations on two
    // servers, one sending `Bytes`, one slices, give the same wire bytes
    // whatever the writes' sizes, whether they take one piece at a time
    // (`pending_output`), several (`pending_output_pieces`, a vectored
    // write cut short anywhere) or copy out (`take_output`), and across
    // the queue's compaction.
    #[test]
    fn shared_payloads_go_out_in_order_as_copies_would() {
        for seed in 1..=40u64 {
            let mut rng = crate::testkit::XorShift::new(seed);
            let mut shared = Connection::established(Role::Server, Config::default(), &[]);
            let mut copied = Connection::established(Role::Server, Config::default(), &[]);
            let (mut wire, mut expected) = (Vec::new(), Vec::new());
            for step in 0..60 {
                match rng.next_u64() % 5 {
                    0 | 1 => {
                        let len = [SHARE_MIN, 20_000, 70_000, 100, 0, 15_000, 9_000][(rng.next_u64() % 7) as usize];
                        let payload: Vec<u8> = (0..len).map(|i| (i as u64 ^ seed) as u8).collect();
                        shared.send_binary_bytes(Bytes::from(payload.clone())).unwrap();
                        copied.send_binary(&payload).unwrap();
                    }
                    2 => {
                        let text = "é".repeat(10_000 + step);
                        shared
                            .send_text_bytes(crate::payload::Utf8Bytes::from(text.as_str()))
                            .unwrap();
                        copied.send_text(&text).unwrap();
                    }
                    3 => {
                        shared.ping(b"p").unwrap();
                        copied.ping(b"p").unwrap();
                    }
                    _ => {}
                }
                // Write some of what is pending, one of three ways.
                let budget = (rng.next_u64() % 30_000) as usize;
                match rng.next_u64() % 3 {
                    0 => {
                        let piece = shared.pending_output();
                        let n = piece.len().min(budget);
                        wire.extend_from_slice(&piece[..n]);
                        shared.advance_output(n);
                    }
                    1 => {
                        let mut pieces = [&[][..]; 3];
                        let count = shared.pending_output_pieces(&mut pieces);
                        let mut n = 0;
                        for piece in &pieces[..count] {
                            let k = piece.len().min(budget - n);
                            wire.extend_from_slice(&piece[..k]);
                            n += k;
                        }
                        shared.advance_output(n);
                    }
                    _ => {
                        let mut out = vec![0; budget];
                        let n = shared.take_output(&mut out);
                        wire.extend_from_slice(&out[..n]);
                    }
                }
                expected.extend_from_slice(copied.pending_output());
                copied.advance_output(usize::MAX);
            }
            while shared.pending_output_len() > 0 {
                let before = shared.pending_output_len();
                wire.extend_from_slice(shared.pending_output());
                shared.advance_output(shared.pending_output().len());
                assert!(shared.pending_output_len() < before, "seed {seed}: no progress");
            }
            assert!(shared.pending_output().is_empty());
            assert_eq!(wire.len(), expected.len(), "seed {seed}");
            assert!(wire == expected, "seed {seed}: the wire bytes differ");
        }
    }

    // Only what goes out as it is is shared: a client masks (a copy), a
    // small payload is copied (and a compressed one is the compressor's
    // output, `send_shared`).
    #[test]
    fn only_large_unmasked_uncompressed_payloads_are_shared() {
        let payload = Bytes::from(vec![3u8; SHARE_MIN]);
        let mut pieces = [&[][..]; 4];
        let mut server = Connection::established(Role::Server, Config::default(), &[]);
        server.send_binary_bytes(payload.clone()).unwrap();
        assert_eq!(server.pending_output_pieces(&mut pieces), 2);
        assert_eq!(pieces[1].as_ptr(), payload.as_ptr(), "shared, not copied");
        let mut small = Connection::established(Role::Server, Config::default(), &[]);
        small.send_binary_bytes(payload.slice(..SHARE_MIN - 1)).unwrap();
        assert_eq!(small.pending_output_pieces(&mut pieces), 1);
        let mut client = Connection::established(Role::Client, Config::default(), &[]);
        client.send_binary_bytes(payload.clone()).unwrap();
        assert_eq!(client.pending_output_pieces(&mut pieces), 1);
        assert_eq!(
            client.pending_output_len(),
            8 + SHARE_MIN,
            "masked: header with key, then payload"
        );
        // Misuse is refused as by `send_binary`, nothing queued.
        let mut fragmenting = Connection::established(Role::Server, Config::default(), &[]);
        fragmenting.send_frame(OpCode::Binary, b"a", false).unwrap();
        let queued = fragmenting.pending_output_len();
        assert!(matches!(
            fragmenting.send_binary_bytes(payload.clone()),
            Err(Error::Misuse(Misuse::MessageInProgress))
        ));
        assert_eq!(fragmenting.pending_output_len(), queued);
    }

    // RFC 6455 §5.2: one frame whose header declares the payload length,
    // the payload queued as it comes; §5.4: control frames may be injected
    // between frames, never inside one, so they wait for its last byte.
    // The wire bytes equal one `send_binary` of the whole payload followed
    // by the held control frames, for either role, whatever the cuts.
    #[test]
    fn a_declared_frame_goes_out_as_one_frame_with_control_frames_after_it() {
        for role in [Role::Client, Role::Server] {
            for cut in [0, 1, 3, 4, 7, 70_000, 99_999, 100_000] {
                let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
                let mut conn = Connection::established_with_masks(role, Config::default(), &[], Box::new(Fixed));
                let mut plain = Connection::established_with_masks(role, Config::default(), &[], Box::new(Fixed));
                conn.begin_message(OpCode::Binary, payload.len() as u64).unwrap();
                conn.send_payload(&payload[..cut]).unwrap();
                conn.ping(b"held").unwrap();
                if cut < payload.len() {
                    let refused = conn.send_binary(b"no");
                    assert!(matches!(refused, Err(Error::Misuse(Misuse::MessageInProgress))));
                    assert!(matches!(
                        conn.send_frame(OpCode::Continuation, b"no", true),
                        Err(Error::Misuse(Misuse::MessageInProgress))
                    ));
                }
                if cut < payload.len() {
                    conn.send_payload(&payload[cut..]).unwrap();
                }
                conn.send_text("next").unwrap();
                plain.send_binary(&payload).unwrap();
                plain.ping(b"held").unwrap();
                plain.send_text("next").unwrap();
                assert!(
                    conn.pending_output() == plain.pending_output(),
                    "{role:?}, cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn a_declared_frame_refuses_what_it_cannot_carry() {
        let mut conn = Connection::established(Role::Server, Config::default(), &[]);
        assert!(matches!(
            conn.send_payload(b"x"),
            Err(Error::Misuse(Misuse::NoMessageInProgress))
        ));
        conn.begin_message(OpCode::Text, 4).unwrap();
        let queued = conn.pending_output_len();
        assert!(matches!(
            conn.begin_message(OpCode::Binary, 1),
            Err(Error::Misuse(Misuse::MessageInProgress))
        ));
        assert!(matches!(
            conn.send_payload(b"12345"),
            Err(Error::Misuse(Misuse::PayloadOverrun { left: 4, len: 5 }))
        ));
        // "é" cut after its first byte is fine mid-frame, not at its end.
        conn.send_payload(b"ab\xc3").unwrap();
        assert!(matches!(
            conn.send_payload(b"\xff"),
            Err(Error::Misuse(Misuse::InvalidUtf8))
        ));
        assert_eq!(conn.pending_output_len(), queued + 3, "refused bytes were queued");
        conn.send_payload(b"\xa9").unwrap();
        assert_eq!(conn.pending_output(), b"\x81\x04ab\xc3\xa9");
        let mut unfinished = Connection::established(Role::Server, Config::default(), &[]);
        unfinished.begin_message(OpCode::Text, 1).unwrap();
        assert!(matches!(
            unfinished.send_payload(b"\xc3"),
            Err(Error::Misuse(Misuse::InvalidUtf8))
        ));
        // An empty frame is complete at once.
        let mut empty = Connection::established(Role::Server, Config::default(), &[]);
        empty.begin_message(OpCode::Binary, 0).unwrap();
        empty.send_binary(b"after").unwrap();
        assert_eq!(empty.pending_output(), b"\x82\x00\x82\x05after");
        // §5.2: a 64-bit length's top bit is 0, so 2^63 - 1 is the most a
        // frame can declare.
        for role in [Role::Server, Role::Client] {
            let mut huge = Connection::established(role, Config::default(), &[]);
            for len in [1 << 63, u64::MAX] {
                assert!(matches!(
                    huge.begin_message(OpCode::Binary, len),
                    Err(Error::Misuse(Misuse::DeclaredLengthTooLong(l))) if l == len
                ));
                assert!(huge.pending_output().is_empty(), "refused, yet queued");
            }
            huge.begin_message(OpCode::Binary, (1 << 63) - 1).unwrap();
            let header = huge.pending_output();
            assert_eq!(header[1] & 0x7f, 127, "the 64-bit form");
            assert_eq!(header[2..10], ((1u64 << 63) - 1).to_be_bytes());
        }
    }

    // §5.5.3: with pongs owed, an endpoint "MAY elect to send a Pong frame
    // for only the most recently processed Ping frame". Behind a declared
    // frame the pongs a peer's pings ask for are one, the latest, so a
    // ping flood during a long frame holds a frame's worth, not a pong per
    // ping; the application's own ping stays, in its place.
    #[test]
    fn pings_during_a_declared_frame_are_answered_by_the_latest_pong_only() {
        let mut conn = Connection::established(Role::Server, Config::default(), &[]);
        conn.begin_message(OpCode::Binary, 3).unwrap();
        conn.ping(b"mine").unwrap();
        for i in 0..10_000u32 {
            // A masked ping from the client, key 0.
            let [a, b, c, d] = i.to_be_bytes();
            conn.receive(&[0x89, 0x84, 0, 0, 0, 0, a, b, c, d]);
            while conn.poll_event().is_some() {}
            assert!(
                conn.tx.held_len() <= 6 + 6,
                "{} bytes held after {i} pings",
                conn.tx.held_len()
            );
        }
        conn.send_payload(b"abc").unwrap();
        let mut expected = vec![0x82, 3, b'a', b'b', b'c', 0x89, 4];
        expected.extend_from_slice(b"mine");
        expected.extend_from_slice(&[0x8a, 4, 0, 0, 0x27, 0x0f]);
        assert_eq!(
            conn.pending_output(),
            expected,
            "the frame, our ping, the pong for ping 9,999"
        );
    }

    // §5.5.1: the close reply goes out after the frame under way, not
    // inside it; the frame is still completed after the peer's close.
    #[test]
    fn a_close_reply_waits_for_the_declared_frame() {
        let mut conn = Connection::established(Role::Server, Config::default(), &[]);
        conn.begin_message(OpCode::Binary, 6).unwrap();
        conn.send_payload(b"abc").unwrap();
        // The client's close 1000, masked with a zero key.
        conn.receive(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
        while conn.poll_event().is_some() {}
        assert_eq!(conn.pending_output(), b"\x82\x06abc", "nothing inside the frame");
        // §7.1.1: the server closes the transport after its close frame,
        // which waits behind the frame: not before, within the close timeout.
        assert!(!conn.should_close_transport(), "the close reply is not written yet");
        conn.send_payload(b"def").unwrap();
        assert_eq!(conn.pending_output(), b"\x82\x06abcdef\x88\x02\x03\xe8");
        assert!(conn.should_close_transport());

        let mut stalled = Connection::established(Role::Server, Config::default(), &[]);
        stalled.begin_message(OpCode::Binary, 6).unwrap();
        stalled.receive(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
        while stalled.poll_event().is_some() {}
        assert!(!stalled.should_close_transport());
        let deadline = stalled.poll_timeout().expect("the close timeout is armed");
        stalled.handle_timeout(deadline);
        assert!(
            stalled.should_close_transport(),
            "an unfinished frame is given up after the close timeout"
        );
    }
}
