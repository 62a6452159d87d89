//! Frames in, events out: headers checked against the message in
//! progress and the limits (RFC 6455 §5.2, §5.4, §10.4), payloads
//! unmasked, reassembled, inflated (RFC 7692) and validated (§8.1), and
//! each complete message or control frame handed out.

use super::reassembly::Reassembly;
use super::rx::Rx;
use super::{Connection, Event, Role, State};
use crate::close;
use crate::error::{Error, Limit, ProtocolError};
use crate::extension;
use crate::frame::{self, FrameHeader, HeaderRules, MAX_CONTROL_PAYLOAD, OpCode};
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;
use bytes::Bytes;

/// For the drivers ([`Connection::stream_large_messages`]), single-frame
/// messages larger than this stream onto the message buffer like
/// fragments instead of being read in place: the read buffer stays within
/// one busy read (64 KiB) whatever the frame's size, and the driver takes
/// the finished payload without copying it ([`Connection::take_payload`]).
/// The core alone keeps reading them in place, which lends them without
/// a copy at all. Bench `receive_driver`, 1 MiB; a 16 KiB threshold was
/// no clear gain between 16 and 64 KiB (benches/README.md).
#[cfg(feature = "std")]
pub(crate) const IN_PLACE_MAX: usize = 64 << 10;

/// A message read in place that is at least this long is handed out owned
/// as the read buffer's own bytes ([`Rx::split`]) rather than copied. Below
/// it a copy costs less than sharing, and a small message kept for long
/// would keep a whole read buffer alive (bench `receive_driver`).
pub(crate) const SHARE_MIN: usize = 16 << 10;

/// What reading frames keeps between calls. It holds something only while
/// frames flow (Open, CloseSent): the connection starts with an empty one
/// and swaps in a fresh one when it stops reading.
#[derive(Debug, Default)]
pub(super) struct Reader {
    frame: Option<InFrame>,
    fragmented: Fragmented,
    /// Payload of a fragmented or compressed message so far.
    message: Reassembly,
    /// Payload bytes of the current message declared so far (the frames
    /// received and the one arriving), for the size limit.
    message_len: u64,
    utf8: Utf8Validator,
    /// The message being received is compressed (RSV1 on its first frame).
    compressed: bool,
    /// Single frames longer than this stream onto `message`: `u64::MAX`
    /// (never) for the core alone, [`IN_PLACE_MAX`] for the drivers. Zero
    /// in a default reader: build one with [`Reader::new`].
    stream_above: u64,
    /// What handing out messages in parts keeps (`stream_messages`);
    /// boxed on first use, so a connection without parts carries 8 bytes
    /// of it (bench `memory`, inline sizes).
    parts: Option<alloc::boxed::Box<Parts>>,
    deferred: Deferred,
}

/// What handing out messages in parts keeps between calls.
#[derive(Debug, Default)]
struct Parts {
    /// The start of a character that a text fragment's end cut, kept until
    /// the rest arrives in the next fragment (parts end at character
    /// boundaries).
    carry: [u8; 4],
    carry_len: u8,
    /// `carry` was handed out: it starts again empty.
    carry_lent: bool,
    /// A compressed message: bytes at the front of `message` already lent
    /// as parts (kept as the inflater's window), and the message's bytes
    /// dropped from before them.
    lent: usize,
    dropped: usize,
    /// The last inflating step stopped at `PART_MAX`: the inflater may
    /// hold output, so the next step runs even without new input.
    inflating: bool,
}

/// With `stream_messages`, the most output one inflating step makes: a
/// compressed part is at most this (plus what the buffer already had room
/// for), whatever the compression ratio of the read.
const PART_MAX: usize = 64 << 10;

/// The most history a compressed message streamed in parts keeps: the
/// largest deflate window (RFC 7692 §7.1.2.1), which seeds the inflater
/// when a message's stream ends with a final block.
const DEFLATE_WINDOW: usize = 1 << 15;

impl Reader {
    pub(super) fn new() -> Self {
        Self {
            stream_above: u64::MAX,
            ..Self::default()
        }
    }

    /// Bytes from the first unparsed one to the end of the frame in
    /// progress, if one is.
    pub(super) fn frame_left(&self) -> Option<usize> {
        self.frame.map(|f| f.left())
    }

    /// Whether received bytes wait to be parsed: some past those the last
    /// event borrowed, or a partial frame.
    pub(super) fn has_input(&self, rx: &Rx) -> bool {
        rx.len() > self.deferred.consume || self.frame.is_some()
    }

    /// Finishes what handing out the previous event left to do.
    #[inline]
    pub(super) fn settle(&mut self, rx: &mut Rx) {
        if self.deferred.consume > 0 {
            rx.consume(self.deferred.consume);
            self.deferred.consume = 0;
        }
        if self.deferred.clear_message {
            self.deferred.clear_message = false;
            self.deferred.message_is_text = false;
            self.message.clear();
            if let Some(parts) = self.parts.as_mut() {
                parts.lent = 0;
                parts.dropped = 0;
            }
        }
    }

    fn parts(&mut self) -> &mut Parts {
        self.parts.get_or_insert_with(Default::default)
    }

    #[cfg(test)]
    pub(super) fn message(&self) -> &Reassembly {
        &self.message
    }

    /// Gives back the read buffer when it holds nothing, and the message
    /// buffer between messages.
    #[inline]
    pub(super) fn release_buffers(&mut self, rx: &mut Rx) {
        // A frame read in place keeps at least its header in `rx`, so an
        // empty `rx` holds nothing of a frame in progress (a streamed
        // frame keeps nothing there between reads).
        debug_assert!(!rx.is_empty() || self.frame.is_none_or(|f| f.reading != Reading::InPlace));
        rx.release();
        if self.message.is_empty() && self.message.holds_allocation() {
            self.message = Reassembly::default();
        }
    }
}

/// The frame whose payload is arriving.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    header: FrameHeader,
    /// Header bytes still at the front of the read buffer (0 once a
    /// streamed or passed frame's header is consumed).
    header_len: usize,
    /// Payload bytes already unmasked (and, for text, validated).
    done: usize,
    /// Payload bytes gone from the read buffer (moved onto the message,
    /// or lent as parts), at most `done`.
    consumed: usize,
    reading: Reading,
}

/// How a frame's payload is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The header and payload stay in the read buffer until the whole
    /// frame is there, and the payload is handed out where it lies
    /// (control frames and single-frame messages: the zero-copy path).
    InPlace,
    /// The header is consumed once decoded and payload bytes move onto the
    /// message buffer as they arrive, so the read buffer never holds more
    /// than one read of the frame (fragments of a message, every frame of
    /// a compressed message, large ones for the drivers).
    Streamed,
    /// With `stream_messages`: the header is consumed once decoded and
    /// payload bytes are lent as parts from the read buffer as they
    /// arrive; nothing is kept.
    Passed,
}

impl InFrame {
    /// Bytes from the front of the read buffer to the end of the frame.
    fn left(&self) -> usize {
        // Checked against max_frame_size (a usize) in start_frame.
        self.header_len + self.header.len as usize - self.consumed
    }
}

/// What a streamed or passed frame's newly arrived bytes make.
enum Plan {
    /// Nothing yet: wait for more bytes.
    Wait,
    /// The frame is done and made nothing: read the next one.
    Next,
    Fail(Error),
    /// Hand out a part of a message (`Config::stream_messages`).
    Part {
        source: PartSource,
        text: bool,
        start: usize,
        end: usize,
        last: bool,
    },
    /// Hand out the message buffer, a whole message of this kind.
    Whole(OpCode),
}

/// What a passed frame's newly arrived bytes allow.
enum Pass {
    /// Nothing to hand out until more bytes arrive.
    Wait,
    /// The frame ended with nothing left to hand out; the message goes on.
    Next,
    /// Hand out the first `len` bytes of the read buffer as a part (and
    /// consume `consume` of them, the part and a cut character moved to
    /// `carry`); `last` ends the message.
    Rx { len: usize, consume: usize, last: bool },
    /// Hand out the character completed in `carry`.
    Carry { last: bool },
}

/// Where a part lent by [`Connection::part`] lies.
#[derive(Debug, Clone, Copy)]
enum PartSource {
    Rx,
    Message,
    Carry,
}

/// Where a fragmented message stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Fragmented {
    #[default]
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
    /// What was handed out of the message buffer was text, validated whole
    /// (`deliver` checked the validator's `finish`).
    message_is_text: bool,
}

impl Connection {
    fn header_rules(&self) -> HeaderRules {
        HeaderRules {
            expect_masked: self.role == Role::Server,
            allowed_rsv: extension::allowed_rsv(self.codec.as_deref()),
        }
    }

    /// Reads frames until one completes an event or the bytes run out.
    pub(super) fn poll_frame(&mut self) -> Option<Event<'_>> {
        loop {
            // The frame in progress is held here and put back in
            // `self.reader.frame` only while it waits for more bytes.
            let mut frame = match self.reader.frame.take() {
                Some(frame) => frame,
                // Nothing arrived since the last call, the question a
                // driver woken without bytes asks (benches/compare
                // callgrind, recv_binary_16_b_one_per_read).
                None if self.rx.is_empty() => return self.eof.then(|| self.fail(Error::UnexpectedEof)),
                None => match self.start_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => return self.eof.then(|| self.fail(Error::UnexpectedEof)),
                    Err(e) => return Some(self.fail(e)),
                },
            };
            if frame.reading != Reading::InPlace {
                // Out of line: the in-place path below is the small-message
                // path (benches/compare callgrind, recv_binary_16_b).
                match self.poll_moving(frame) {
                    Plan::Next => continue,
                    Plan::Wait => return self.eof.then(|| self.fail(Error::UnexpectedEof)),
                    Plan::Fail(e) => return Some(self.fail(e)),
                    Plan::Part {
                        source,
                        text,
                        start,
                        end,
                        last,
                    } => return Some(self.part(source, text, start, end, last)),
                    Plan::Whole(kind) => return self.deliver(kind, 0, self.reader.message.len(), true),
                }
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
                if is_text && self.reader.utf8.feed(fresh).is_err() {
                    return Some(self.fail(Error::Protocol(ProtocolError::InvalidUtf8)));
                }
                frame.done = arrived;
            }
            if frame.done < len {
                self.reader.frame = Some(frame);
                return self.eof.then(|| self.fail(Error::UnexpectedEof));
            }
            let end = payload_at + len;
            self.reader.deferred.consume = end;
            return match frame.header.opcode {
                OpCode::Ping | OpCode::Pong | OpCode::Close => self.control_frame(frame.header.opcode, payload_at, end),
                // A single-frame message: hand it out where it lies.
                opcode => self.deliver(opcode, payload_at, end, false),
            };
        }
    }

    /// Reads what arrived of a streamed or passed frame and plans the
    /// event it makes, if any.
    #[inline(never)]
    fn poll_moving(&mut self, mut frame: InFrame) -> Plan {
        let text = self.message_is_text(frame.header.opcode);
        if frame.reading == Reading::Passed {
            let pass = match self.pass_payload(&mut frame, text) {
                Ok(pass) => pass,
                Err(e) => return Plan::Fail(e),
            };
            if frame.consumed < frame.header.len as usize {
                self.reader.frame = Some(frame);
            } else if frame.header.fin {
                self.reader.fragmented = Fragmented::None;
            }
            let (source, end, last) = match pass {
                Pass::Wait => return Plan::Wait,
                Pass::Next => return Plan::Next,
                Pass::Rx { len, consume, last } => {
                    self.reader.deferred.consume = consume;
                    (PartSource::Rx, len, last)
                }
                Pass::Carry { last } => {
                    let parts = self.reader.parts();
                    parts.carry_lent = true;
                    (PartSource::Carry, usize::from(parts.carry_len), last)
                }
            };
            return Plan::Part {
                source,
                text,
                start: 0,
                end,
                last,
            };
        }
        let complete = match self.stream_payload(&mut frame) {
            Ok(complete) => complete,
            Err(e) => return Plan::Fail(e),
        };
        if !complete {
            self.reader.frame = Some(frame);
        }
        let last = complete && frame.header.fin;
        if last {
            self.reader.fragmented = Fragmented::None;
            self.reader.compressed = false;
            self.reader.deferred.clear_message = true;
        }
        if self.settings.stream_messages {
            // Compressed: what was inflated goes out as a part.
            if last && text && self.reader.utf8.finish().is_err() {
                return Plan::Fail(Error::Protocol(ProtocolError::InvalidUtf8));
            }
            let start = self.reader.parts().lent;
            let pending = if text { self.reader.utf8.pending() } else { 0 };
            let end = self.reader.message.len() - pending;
            if start == end && !last {
                return if complete { Plan::Next } else { Plan::Wait };
            }
            self.reader.parts().lent = end;
            return Plan::Part {
                source: PartSource::Message,
                text,
                start,
                end,
                last,
            };
        }
        match (complete, last) {
            (false, _) => Plan::Wait,
            (true, false) => Plan::Next,
            (true, true) => {
                self.reader.deferred.message_is_text = text;
                Plan::Whole(if text { OpCode::Text } else { OpCode::Binary })
            }
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
        let text = self.message_is_text(frame.header.opcode);
        if self.reader.compressed {
            return self.stream_compressed(frame, text);
        }
        let take = self.rx.len().min(len - frame.done);
        let complete = frame.done + take == len;
        if !self.reader.compressed && take > 0 {
            // Declared so far: the frames received and this one, which
            // start_frame checked against max_message_size.
            let declared = usize::try_from(self.reader.message_len).unwrap_or(usize::MAX);
            let fresh =
                self.reader
                    .message
                    .append_unmasked(self.rx.get(0..take), frame.header.mask, frame.done, declared);
            if text && self.reader.utf8.feed(fresh).is_err() {
                return Err(Error::Protocol(ProtocolError::InvalidUtf8));
            }
        }
        self.rx.consume(take);
        frame.done += take;
        frame.consumed = frame.done;
        Ok(complete)
    }

    /// [`Connection::stream_payload`] for a frame of a compressed message:
    /// the arrived bytes are unmasked in place once, then inflated onto the
    /// message. With `stream_messages` a step makes at most [`PART_MAX`]
    /// bytes, so a step may leave input in the read buffer (unmasked:
    /// `done` past `consumed`) or output in the inflater, and the frame is
    /// complete only once both are taken.
    fn stream_compressed(&mut self, frame: &mut InFrame, text: bool) -> Result<bool, Error> {
        let len = frame.header.len as usize;
        if self.settings.stream_messages {
            // Parts already lent are dropped, but for the inflater's window.
            let keep_from = self.reader.message.len().saturating_sub(DEFLATE_WINDOW);
            let parts = self.reader.parts();
            let drop = parts.lent.min(keep_from);
            parts.lent -= drop;
            parts.dropped += drop;
            self.reader.message.drop_front(drop);
        }
        let ready = frame.done - frame.consumed;
        let arrived = self.rx.len().min(len - frame.consumed);
        if arrived > ready {
            if let Some(key) = frame.header.mask {
                apply_mask(self.rx.get_mut(ready..arrived), key, frame.done);
            }
            frame.done = frame.consumed + arrived;
        }
        let last = frame.done == len && frame.header.fin;
        let held = self.reader.parts.as_ref().is_some_and(|p| p.inflating);
        let mut taken = arrived;
        let mut inflating = false;
        if arrived > 0 || last || held {
            if let Some(partly) = self.inflate(arrived, last, text)? {
                taken = partly;
                inflating = true;
            }
        }
        if inflating || held {
            self.reader.parts().inflating = inflating;
        }
        self.rx.consume(taken);
        frame.consumed += taken;
        Ok(frame.consumed == len && !inflating)
    }

    /// Unmasks (and, for text, validates) the bytes of a passed frame that
    /// arrived, and decides what part they make. Text parts end at a
    /// character boundary: a character the frame's end cuts moves to
    /// `carry` and goes out, completed, from the next fragment.
    fn pass_payload(&mut self, frame: &mut InFrame, text: bool) -> Result<Pass, Error> {
        let parts = self.reader.parts();
        if parts.carry_lent {
            parts.carry_lent = false;
            parts.carry_len = 0;
        }
        self.rx.consume(frame.header_len);
        frame.header_len = 0;
        let len = frame.header.len as usize;
        // Bytes of this frame at the front of the read buffer: `ready`
        // unmasked and validated, then the fresh ones.
        let ready = frame.done - frame.consumed;
        let arrived = self.rx.len().min(len - frame.consumed);
        if arrived > ready {
            let fresh = self.rx.get_mut(ready..arrived);
            if let Some(key) = frame.header.mask {
                apply_mask(fresh, key, frame.done);
            }
            if text && self.reader.utf8.feed(fresh).is_err() {
                return Err(Error::Protocol(ProtocolError::InvalidUtf8));
            }
            frame.done = frame.consumed + arrived;
        }
        let frame_end = frame.done == len;
        let message_end = frame_end && frame.header.fin;
        let invalid = Error::Protocol(ProtocolError::InvalidUtf8);
        let pending = if text { self.reader.utf8.pending() } else { 0 };
        let carried = usize::from(self.reader.parts().carry_len);
        if carried > 0 {
            let parts = self.reader.parts();
            if pending == carried + arrived {
                // The cut character is still not complete: all of it waits.
                parts.carry[carried..pending].copy_from_slice(self.rx.get(0..arrived));
                parts.carry_len = pending as u8;
                self.rx.consume(arrived);
                frame.consumed += arrived;
                return match (frame_end, message_end) {
                    (_, true) => Err(invalid),
                    (true, false) => Ok(Pass::Next),
                    (false, _) => Ok(Pass::Wait),
                };
            }
            let need = crate::utf8::sequence_len(parts.carry[0]) - carried;
            parts.carry[carried..carried + need].copy_from_slice(self.rx.get(0..need));
            parts.carry_len = (carried + need) as u8;
            self.rx.consume(need);
            frame.consumed += need;
            let last = message_end && frame.consumed == len;
            return Ok(Pass::Carry { last });
        }
        let lend = arrived - pending;
        if frame_end && pending > 0 {
            if message_end {
                return Err(invalid);
            }
            let parts = self.reader.parts();
            parts.carry[..pending].copy_from_slice(self.rx.get(lend..arrived));
            parts.carry_len = pending as u8;
            frame.consumed += arrived;
            if lend == 0 {
                self.rx.consume(arrived);
                return Ok(Pass::Next);
            }
            return Ok(Pass::Rx {
                len: lend,
                consume: arrived,
                last: false,
            });
        }
        if lend == 0 && !message_end {
            return Ok(if frame_end { Pass::Next } else { Pass::Wait });
        }
        frame.consumed += lend;
        Ok(Pass::Rx {
            len: lend,
            consume: lend,
            last: message_end,
        })
    }

    /// Hands out a part of a message lent from `source` (`start..end`).
    fn part(&mut self, source: PartSource, text: bool, start: usize, end: usize, last: bool) -> Event<'_> {
        if last && text && self.reader.utf8.finish().is_err() {
            return self.fail(Error::Protocol(ProtocolError::InvalidUtf8));
        }
        let bytes = match source {
            PartSource::Rx => self.rx.get(start..end),
            PartSource::Message => &self.reader.message.as_slice()[start..end],
            // `Pass::Carry` is only planned once `parts` exists.
            PartSource::Carry => match self.reader.parts.as_deref() {
                Some(parts) => &parts.carry[start..end],
                None => &[],
            },
        };
        if !text {
            return Event::BinaryPart { data: bytes, last };
        }
        debug_assert!(core::str::from_utf8(bytes).is_ok(), "validator accepted invalid UTF-8");
        // As in `deliver`, every byte of the message went through
        // `self.reader.utf8`, in order, as it arrived (`pass_payload` feeds
        // each unmasked piece, `inflate` each inflated one) and none changed
        // since. A part starts where the previous one ended, or at the
        // message's start, and ends short of the validator's `pending`
        // bytes, so at a character boundary; a character cut by a frame's
        // end goes out alone from `carry`, once `pass_payload` completed it
        // with the `sequence_len` bytes its lead byte asks for, which the
        // validator accepted. The last part also passed `finish` above.
        #[allow(unsafe_code)]
        // SAFETY: `bytes` is valid UTF-8, by the argument just above.
        let text = unsafe { core::str::from_utf8_unchecked(bytes) };
        Event::TextPart { text, last }
    }

    /// Inflates the first `take` unparsed bytes, compressed payload, onto the message
    /// (RFC 7692 §7.2.2), validating text as it comes out; `last` ends the
    /// message. With `stream_messages`, a step stops after [`PART_MAX`]
    /// bytes of output: `Some(taken)`, the input bytes taken.
    fn inflate(&mut self, take: usize, last: bool, text: bool) -> Result<Option<usize>, Error> {
        // Parts already dropped (`stream_messages`) count towards the limit.
        let dropped = self.reader.parts.as_ref().map_or(0, |p| p.dropped);
        let max = self.settings.max_message_size - dropped;
        let before = self.reader.message.len();
        let cap = match self.settings.stream_messages {
            true => before.saturating_add(PART_MAX),
            false => usize::MAX,
        };
        let codec = self
            .codec
            .as_mut()
            .ok_or(Error::Protocol(ProtocolError::ReservedBits(0b100)))?;
        let result = extension::inflate(
            codec,
            self.rx.get(0..take),
            last,
            self.reader.message.as_vec(),
            max,
            cap,
        );
        self.reader.message.sync_len();
        let taken = result?;
        if text
            && self
                .reader
                .utf8
                .feed(&self.reader.message.as_slice()[before..])
                .is_err()
        {
            return Err(Error::Protocol(ProtocolError::InvalidUtf8));
        }
        Ok(taken)
    }

    /// Whether a data frame with this opcode belongs to a text message.
    fn message_is_text(&self, opcode: OpCode) -> bool {
        opcode == OpCode::Text || (opcode == OpCode::Continuation && self.reader.fragmented == Fragmented::Text)
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
            return Err(Error::Protocol(ProtocolError::ReservedBits(header.rsv)));
        }
        // Control frames are read in place.
        let mut reading = Reading::InPlace;
        if !header.opcode.is_control() {
            if header.opcode != OpCode::Continuation {
                self.reader.compressed = header.rsv & 0b100 != 0;
            }
            // §5.4: a message is one start frame and its continuations.
            match (header.opcode, self.reader.fragmented) {
                (OpCode::Continuation, Fragmented::None) => {
                    return Err(Error::Protocol(ProtocolError::UnexpectedContinuation));
                }
                (OpCode::Text | OpCode::Binary, Fragmented::Text | Fragmented::Binary) => {
                    return Err(Error::Protocol(ProtocolError::ExpectedContinuation));
                }
                _ => {}
            }
            let max = self.settings.max_frame_size;
            if header.len > max as u64 {
                return Err(Error::LimitExceeded {
                    kind: Limit::FrameSize,
                    len: header.len,
                    max,
                });
            }
            if header.opcode != OpCode::Continuation {
                self.reader.message_len = 0;
            }
            self.reader.message_len = self.reader.message_len.saturating_add(header.len);
            let max = self.settings.max_message_size;
            // The limit is on the message, so a compressed one is held to
            // it as it inflates (RFC 7692 §8.1): its frames declare
            // compressed bytes, which for incompressible data exceed the
            // message's own, and are inflated as they arrive, never held.
            if self.reader.message_len > max as u64 && !self.reader.compressed {
                return Err(Error::LimitExceeded {
                    kind: Limit::MessageSize,
                    len: self.reader.message_len,
                    max,
                });
            }
            if !header.fin && header.opcode != OpCode::Continuation {
                self.reader.fragmented = match header.opcode {
                    OpCode::Text => Fragmented::Text,
                    _ => Fragmented::Binary,
                };
            }
            // §5.4: a message in several frames is reassembled, so its
            // frames stream onto the message buffer as they arrive; so does
            // a compressed message, which is inflated there, and a large
            // one. A small single-frame message is read in place and handed
            // out from the read buffer.
            let streamed = self.reader.compressed
                || !header.fin
                || header.opcode == OpCode::Continuation
                || header.len > self.reader.stream_above;
            // With `stream_messages`, uncompressed data is lent as it
            // arrives, never gathered; compressed data is inflated onto the
            // message buffer and lent from there.
            reading = match (self.settings.stream_messages && !self.reader.compressed, streamed) {
                (true, _) => Reading::Passed,
                (false, true) => Reading::Streamed,
                (false, false) => Reading::InPlace,
            };
        }
        Ok(Some(InFrame {
            header,
            header_len,
            done: 0,
            consumed: 0,
            reading,
        }))
    }

    /// From now on, single-frame messages over [`IN_PLACE_MAX`] stream onto
    /// the message buffer, for [`Connection::take_payload`] to hand over.
    #[cfg(feature = "std")]
    pub(crate) fn stream_large_messages(&mut self) {
        self.reader.stream_above = IN_PLACE_MAX as u64;
    }

    /// The address one past the unparsed bytes if they fill the read
    /// buffer's whole allocation from its front (a quiet peer's bytes,
    /// copied in from a driver's stack buffer into a buffer made for
    /// them), else 0. A message the next [`Connection::poll_event`] lends
    /// from the read buffer and that ends there is all the buffer holds:
    /// [`Connection::take_payload`] hands the allocation over with it, so
    /// the message costs no copy and no allocation of its own, and pins
    /// nothing but its frame header.
    #[inline]
    pub(crate) fn exact_read_buffer_end(&self) -> usize {
        self.rx.exact_end()
    }

    /// The payload of the message the last [`Connection::poll_event`]
    /// handed out (`len` bytes), owned: the message buffer itself when the
    /// message was reassembled there (several frames, compressed, or over
    /// [`IN_PLACE_MAX`]); the read buffer's own bytes, shared, when it was
    /// read in place and is at least [`SHARE_MIN`] or is all the buffer
    /// holds ([`Connection::exact_read_buffer_end`]); a copy otherwise.
    pub(crate) fn take_payload(&mut self, len: usize) -> Bytes {
        if self.reader.deferred.clear_message {
            self.reader.deferred.clear_message = false;
            self.reader.deferred.message_is_text = false;
            let mut payload = self.reader.message.take();
            // The message buffer held exactly this message.
            payload.truncate(len);
            return Bytes::from(payload);
        }
        let end = self.reader.deferred.consume;
        debug_assert!(end >= len, "no lent message of {len} bytes to take");
        let start = end.saturating_sub(len);
        if len >= SHARE_MIN || self.rx.holds_exactly(end) {
            // The header and payload leave the read buffer with the split.
            self.reader.deferred.consume = 0;
            return self.rx.split(start..end);
        }
        crate::copy::to_bytes(self.rx.get(start..end))
    }

    /// The payload of the [`Event::Text`] or [`Event::Binary`] the last
    /// [`Connection::poll_event`] returned, owned, for a caller that must
    /// keep it past the next call (an echo, a queue between tasks), without
    /// a copy where one can be avoided: the message buffer itself when the
    /// message was reassembled there (in several frames, or compressed);
    /// the read buffer's own bytes when the message was read in place and
    /// is at least 16 KiB (the [`Bytes`] then shares the read buffer's
    /// allocation, which goes back to the connection when it is dropped;
    /// see [`crate::payload`]), or when it is all a read buffer made for
    /// the bytes given to [`Connection::receive`] holds (the message then
    /// takes that allocation, its frame header and payload, along); a
    /// copy below that, made with the crate's
    /// own copy, which stays clear of a slow `memcpy` case on some CPUs
    /// (benches/README.md, "Loopback echo"). A second call for the same
    /// event copies again, or returns `None` once the message was taken
    /// without a copy.
    ///
    /// `None` after any other event, and with
    /// [`Config::stream_messages`](crate::Config::stream_messages) (parts
    /// are lent; copy them).
    ///
    /// ```
    /// use rfc6455::connection::Event;
    /// use rfc6455::{Bytes, Config, Connection, Role};
    ///
    /// let mut server = Connection::established(Role::Server, Config::default(), &[]);
    /// // A masked binary frame "hi" from a client (mask key 0).
    /// server.receive(&[0x82, 0x82, 0, 0, 0, 0, b'h', b'i']);
    /// assert!(matches!(server.poll_event(), Some(Event::Binary(b"hi"))));
    /// let owned: Bytes = server.take_message().unwrap();
    /// server.send_binary(&owned).unwrap(); // the borrow has ended: echo it
    /// assert_eq!(owned, &b"hi"[..]);
    /// ```
    pub fn take_message(&mut self) -> Option<Bytes> {
        if self.settings.stream_messages || !matches!(self.state, State::Open | State::CloseSent) {
            return None;
        }
        if self.reader.deferred.clear_message {
            let len = self.reader.message.len();
            return Some(self.take_payload(len));
        }
        let (_, len) = self.lent_in_place()?;
        Some(self.take_payload(len))
    }

    /// The opcode and length of the message the last event lent from the
    /// read buffer, if it was one: it still has its header at the front of
    /// the read buffer, its payload (unmasked) up to `consume`.
    fn lent_in_place(&self) -> Option<(OpCode, usize)> {
        // Parts lend payload bytes with no header before them.
        if self.reader.deferred.consume == 0 || self.settings.stream_messages {
            return None;
        }
        let (header, header_len) = frame::decode(self.rx.unparsed(), self.header_rules()).ok()??;
        let message = matches!(header.opcode, OpCode::Text | OpCode::Binary) && header.fin && header.rsv == 0;
        let len = self.reader.deferred.consume.checked_sub(header_len)?;
        (message && len as u64 == header.len).then_some((header.opcode, len))
    }

    /// [`Connection::take_payload`] for the text message the last
    /// `poll_event` handed out (`len` bytes).
    #[cfg(feature = "std")]
    pub(crate) fn take_text(&mut self, len: usize) -> crate::payload::Utf8Bytes {
        use crate::payload::Utf8Bytes;
        // `deliver` hands out text only once the validator has accepted
        // all of it and `finish`ed, from the message buffer (flagged
        // `message_is_text`, both flags cleared by `settle` before the
        // buffer is written again) or from the read buffer, where an
        // unfragmented, uncompressed text frame whose payload ends at
        // `consume` is what it lent (`lent_in_place`; the read buffer's
        // bytes before `end` never change, see `deliver`).
        let validated = if self.reader.deferred.clear_message {
            self.reader.deferred.message_is_text
        } else {
            self.lent_in_place() == Some((OpCode::Text, len))
        };
        let payload = self.take_payload(len);
        if !validated {
            // Not text `deliver` lent: checked, never assumed.
            return match Utf8Bytes::try_from(payload.clone()) {
                Ok(text) => text,
                Err(_) => Utf8Bytes::from(alloc::string::String::from_utf8_lossy(&payload).into_owned()),
            };
        }
        // Validating the whole message again cost more than receiving it
        // (bench `receive_driver`, text_fragmented_64k: 872 µs against 97
        // for the same bytes as binary). `take_payload` returned the bytes
        // `deliver` lent as a `&str` of `len` bytes (the message buffer
        // truncated to `len`, or the read buffer's `consume - len..consume`).
        #[allow(unsafe_code)]
        // SAFETY: `payload` is valid UTF-8, by the argument just above.
        unsafe {
            Utf8Bytes::from_bytes_unchecked(payload)
        }
    }

    /// Hands out a complete message lying in `rx` (`start..end` of the
    /// unparsed bytes) or in `message`.
    fn deliver(&mut self, opcode: OpCode, start: usize, end: usize, from_message: bool) -> Option<Event<'_>> {
        if opcode == OpCode::Text && self.reader.utf8.finish().is_err() {
            return Some(self.fail(Error::Protocol(ProtocolError::InvalidUtf8)));
        }
        let payload = if from_message {
            &self.reader.message.as_slice()[start..end]
        } else {
            self.rx.get(start..end)
        };
        Some(match opcode {
            OpCode::Text => {
                // Validating twice would double the cost of text (bench
                // `receive`, text_multibyte); the debug assertion re-checks
                // in every test run.
                debug_assert!(
                    core::str::from_utf8(payload).is_ok(),
                    "validator accepted invalid UTF-8"
                );
                // Every byte of `payload` went through
                // `self.reader.utf8`, in order, as it arrived, and no other
                // byte did: `poll_frame` feeds each unmasked piece of a
                // single-frame text message, `stream_payload` each piece of
                // a fragmented one as it lands on the message, `inflate`
                // each inflated piece; `finish` above confirmed that no code
                // point is left open. None of them changed since: the caller
                // writes only past the received bytes (`Rx::room`), whose
                // end never moves back over them (`Rx::commit` clamps before
                // adding), and the message buffer is only appended to until
                // it is handed out. `Utf8Validator` accepts exactly what
                // `core::str::from_utf8` accepts (utf8.rs compares them at
                // every split point).
                #[allow(unsafe_code)]
                // SAFETY: `payload` is valid UTF-8, by the argument just above.
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
                if self.settings.auto_pong && matches!(self.state, State::Open | State::CloseSent) {
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
                    let n = if self.settings.echo_close_reason {
                        received.len()
                    } else {
                        received.len().min(2)
                    };
                    reply[..n].copy_from_slice(&received[..n]);
                    self.tx.push_frame(OpCode::Close, true, &reply[..n]);
                }
                self.enter_closed(true);
                // The frame stays in rx until the next call; only state changed.
                let frame = close::parse(self.rx.get(start..end)).ok()?;
                Some(Event::Close(frame))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::connection::ReadyState;
    use crate::connection::testing::*;
    use crate::mask::apply_mask;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;

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
                assert!(
                    conn.reader
                        .frame
                        .is_some_and(|f| f.reading == Reading::Streamed && f.done == partial.len())
                );
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
            assert_eq!(conn.reader.message.as_slice(), &[7; 600][..]);
            assert!(conn.reader.message.capacity() <= 1000);
            let rx_capacity = conn.rx.capacity();

            // Only the header: the failure does not wait for payload.
            conn.receive(&header(OpCode::Continuation, false, declared));
            assert!(conn.rx.capacity() <= rx_capacity, "the read buffer grew");
            assert!(conn.reader.message.capacity() <= 1000, "the message grew");
            let failed = conn.poll_event().map(|e| match e {
                Event::Failed(Error::LimitExceeded {
                    kind: Limit::MessageSize,
                    len,
                    max,
                }) => Some((len, max)),
                _ => None,
            });
            assert_eq!(failed, Some(Some((600 + declared, 1000))), "declared {declared}");
            assert_eq!(conn.pending_output(), close_with(1009));
            assert!(conn.poll_event().is_none());
        }
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
                if conn.reader.frame.is_some_and(|f| f.reading == Reading::Streamed) {
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
    // message buffer is never touched (zero-copy); with the drivers'
    // setting, up to IN_PLACE_MAX.
    #[test]
    fn single_frame_messages_do_not_use_the_message_buffer() {
        for (stream, size) in [(false, 1 << 20), (true, IN_PLACE_MAX)] {
            let mut conn = server(Config::default());
            if stream {
                conn.stream_large_messages();
            }
            let mut wire = frame(OpCode::Text, true, "a whole message".as_bytes());
            wire.extend(frame(OpCode::Binary, true, &vec![9; size]));
            conn.receive(&wire);
            let events = poll_all(&mut conn);
            assert_eq!(
                events,
                [Ev::Text(String::from("a whole message")), Ev::Binary(vec![9; size])]
            );
            assert_eq!(conn.reader.message.capacity(), 0);
        }
    }

    /// Feeds `wire` as a socket would, in reads of what `read_buffer`
    /// offers, and returns the events and the largest read buffer seen.
    fn read_like_a_socket(conn: &mut Connection, mut wire: &[u8]) -> (Vec<Ev>, usize) {
        let (mut events, mut largest) = (Vec::new(), 0);
        while !wire.is_empty() {
            let room = conn.read_buffer();
            let n = room.len().min(wire.len());
            room[..n].copy_from_slice(&wire[..n]);
            conn.commit_read(n);
            wire = &wire[n..];
            largest = largest.max(conn.rx.capacity());
            events.extend(poll_all(conn));
        }
        (events, largest)
    }

    // A larger single frame streams onto the message buffer as it arrives
    // (unmasked, text validated, in the same pass): the read buffer stays
    // within one busy read instead of growing to the frame, and the
    // finished payload can be taken without a copy.
    #[test]
    fn a_large_single_frame_streams_and_its_payload_is_taken_whole() {
        let mut conn = server(Config::default());
        conn.stream_large_messages();
        let big = vec![7u8; 1 << 20];
        let (events, largest) = read_like_a_socket(&mut conn, &frame(OpCode::Binary, true, &big));
        assert_eq!(events, [Ev::Binary(big.clone())]);
        assert!(largest <= 64 << 10, "read buffer grew to {largest}, past one busy read");

        let text = "é".repeat(300_000);
        let wire = frame(OpCode::Text, true, text.as_bytes());
        let mut events = Vec::new();
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let n = conn.read_buffer().len().min(rest.len());
            conn.read_buffer()[..n].copy_from_slice(&rest[..n]);
            conn.commit_read(n);
            rest = &rest[n..];
            if let Some(Event::Text(t)) = conn.poll_event() {
                events.push(t.len());
            }
        }
        assert_eq!(events, [text.len()]);
        let at = conn.reader.message.as_slice().as_ptr();
        let taken = conn.take_payload(text.len());
        assert_eq!(taken, text.as_bytes());
        assert_eq!(taken.as_ptr(), at, "the payload was copied, not taken");
        assert_eq!(conn.reader.message.capacity(), 0);
        // The next message starts from an empty buffer and is whole.
        let (events, _) = read_like_a_socket(&mut conn, &frame(OpCode::Binary, false, &big[..100_000]));
        assert_eq!(events, []);
        let (events, _) = read_like_a_socket(&mut conn, &frame(OpCode::Continuation, true, b"end"));
        let mut whole = big[..100_000].to_vec();
        whole.extend_from_slice(b"end");
        assert_eq!(events, [Ev::Binary(whole)]);
    }

    // §8.1 fail-fast holds on the streamed path: an invalid byte in a large
    // single text frame fails the connection when it arrives, long before
    // the frame ends.
    #[test]
    fn invalid_utf8_in_a_large_single_frame_fails_on_arrival() {
        for stream in [false, true] {
            let mut conn = server(Config::default());
            if stream {
                conn.stream_large_messages();
            }
            let mut payload = vec![b'a'; 1 << 20];
            payload[1000] = 0xff;
            let wire = frame(OpCode::Text, true, &payload);
            conn.receive(&wire[..4000]);
            match conn.poll_event() {
                Some(Event::Failed(e)) => assert_eq!(e.close_code().map(|c| c.0), Some(1007)),
                other => panic!("expected a 1007 failure (streamed: {stream}), got {other:?}"),
            }
        }
    }

    // The edges of `take_text`'s unchecked conversion: it trusts only text
    // the message buffer held and the validator finished (a fragmented
    // multibyte message cut inside its sequences, a compressed one); text
    // lent from the read buffer, or a binary message's bytes, are checked.
    #[test]
    fn take_text_trusts_only_validated_message_text() {
        let text = "aé€𝄞".repeat(10_000);
        let bytes = text.as_bytes();
        let mut conn = server(Config::default());
        conn.stream_large_messages();
        let mut wire = frame(OpCode::Text, false, &bytes[..1]);
        wire.extend(frame(OpCode::Continuation, false, &bytes[1..bytes.len() - 2]));
        wire.extend(frame(OpCode::Continuation, true, &bytes[bytes.len() - 2..]));
        conn.receive(&wire);
        assert!(matches!(conn.poll_event(), Some(Event::Text(t)) if t.len() == bytes.len()));
        assert!(conn.reader.deferred.message_is_text);
        assert_eq!(conn.take_text(bytes.len()), text);

        // A binary message that is not UTF-8, taken as text by mistake:
        // replaced, never trusted.
        let mut wire = frame(OpCode::Binary, false, &[0xff, 0xfe]);
        wire.extend(frame(OpCode::Continuation, true, &[0x80]));
        conn.receive(&wire);
        assert!(matches!(conn.poll_event(), Some(Event::Binary(_))));
        assert!(!conn.reader.deferred.message_is_text);
        assert_eq!(conn.take_text(3), "\u{fffd}\u{fffd}\u{fffd}");

        // Text lent from the read buffer: checked, and whole.
        conn.receive(&frame(OpCode::Text, true, "in place €".as_bytes()));
        assert!(matches!(conn.poll_event(), Some(Event::Text("in place €"))));
        assert_eq!(conn.take_text("in place €".len()), "in place €");
    }

    // Taking a payload that was read in place copies it out of the read
    // buffer; the bytes after it stay for the next event.
    #[test]
    fn taking_an_in_place_payload_copies_it() {
        let mut conn = server(Config::default());
        let mut wire = frame(OpCode::Binary, true, b"first");
        wire.extend(frame(OpCode::Text, true, b"second"));
        conn.receive(&wire);
        assert!(matches!(conn.poll_event(), Some(Event::Binary(b"first"))));
        assert_eq!(conn.take_payload(5), &b"first"[..]);
        assert!(matches!(conn.poll_event(), Some(Event::Text("second"))));
    }

    // ------------------------------------------------- stream_messages

    fn streaming() -> Connection {
        server(Config::default().stream_messages(true))
    }

    /// The parts in `events`, joined, and whether only the final one is
    /// marked last; `None` if anything else is among them.
    fn joined(events: &[Ev]) -> Option<(Vec<u8>, bool)> {
        let mut bytes = Vec::new();
        let mut lasts = Vec::new();
        for event in events {
            match event {
                Ev::TextPart(text, last) => {
                    bytes.extend_from_slice(text.as_bytes());
                    lasts.push(*last);
                }
                Ev::BinaryPart(data, last) => {
                    bytes.extend_from_slice(data);
                    lasts.push(*last);
                }
                _ => return None,
            }
        }
        let last_only_at_end = lasts.last() == Some(&true) && lasts.iter().filter(|l| **l).count() == 1;
        Some((bytes, last_only_at_end))
    }

    // A frame far larger than a read goes out in parts as its bytes arrive:
    // the read buffer never holds more than a read, nothing gathers it.
    #[test]
    fn a_large_frame_is_lent_in_parts_as_it_arrives() {
        let mut conn = streaming();
        let payload = crate::testkit::pattern(1 << 20);
        let wire = frame(OpCode::Binary, true, &payload);
        let mut events = Vec::new();
        let mut max_part = 0;
        for piece in wire.chunks(8_000) {
            let buf = conn.read_buffer();
            buf[..piece.len()].copy_from_slice(piece);
            conn.commit_read(piece.len());
            for event in poll_all(&mut conn) {
                if let Ev::BinaryPart(data, _) = &event {
                    max_part = max_part.max(data.len());
                }
                events.push(event);
            }
            assert!(conn.rx.capacity() <= 64 << 10, "read buffer {}", conn.rx.capacity());
        }
        assert_eq!(joined(&events), Some((payload, true)));
        assert!(max_part <= 8_000, "a part of {max_part} bytes");
        assert_eq!(events.len(), wire.len().div_ceil(8_000));
        assert_eq!(conn.reader.message().capacity(), 0, "the message buffer stays unused");
    }

    // A message that arrives whole is one part, marked last, lent where it
    // lies; an empty message is one empty part.
    #[test]
    fn a_whole_message_is_one_last_part() {
        let mut conn = streaming();
        let mut wire = frame(OpCode::Text, true, "héllo".as_bytes());
        wire.extend(frame(OpCode::Binary, true, b""));
        wire.extend(frame(OpCode::Text, false, b""));
        wire.extend(frame(OpCode::Continuation, true, b""));
        conn.receive(&wire);
        assert_eq!(
            poll_all(&mut conn),
            [
                Ev::TextPart("héllo".into(), true),
                Ev::BinaryPart(Vec::new(), true),
                Ev::TextPart(String::new(), true),
            ]
        );
    }

    // §8.1 with parts: each part is whole characters. A text message cut
    // into two fragments at every byte, and fed one byte at a time or all
    // at once, arrives as parts that join to the text; a character cut by
    // a fragment's end goes out once complete.
    #[test]
    fn text_parts_end_at_character_boundaries() {
        let text = "aé€𝄞z€𝄞é";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut wire = frame(OpCode::Text, false, &bytes[..cut]);
            wire.extend(frame(OpCode::Continuation, true, &bytes[cut..]));
            let mut conn = streaming();
            let (events, _) = trickle(&mut conn, &wire);
            assert_eq!(joined(&events), Some((bytes.to_vec(), true)), "cut at {cut}, trickled");
            let mut conn = streaming();
            conn.receive(&wire);
            assert_eq!(
                joined(&poll_all(&mut conn)),
                Some((bytes.to_vec(), true)),
                "cut at {cut}"
            );
        }
        // One byte per fragment, as Autobahn's 6.2 cases send.
        let mut wire = frame(OpCode::Text, false, &bytes[..1]);
        for (i, b) in bytes[1..].iter().enumerate() {
            wire.extend(frame(OpCode::Continuation, i + 2 == bytes.len(), &[*b]));
        }
        let mut conn = streaming();
        let events = {
            conn.receive(&wire);
            poll_all(&mut conn)
        };
        assert_eq!(joined(&events), Some((bytes.to_vec(), true)));
    }

    // §8.1, fail fast with parts: an impossible byte fails the connection
    // when it arrives, before the rest of the frame, and nothing after the
    // last valid character is lent.
    #[test]
    fn invalid_text_fails_as_it_arrives_with_parts() {
        let mut conn = streaming();
        let mut wire = header(OpCode::Text, true, 100);
        let mut payload = "κόσμε".as_bytes().to_vec();
        payload.extend_from_slice(&[0xf4, 0x90]);
        let start = wire.len();
        wire.extend_from_slice(&payload);
        apply_mask(&mut wire[start..], KEY, 0);
        conn.receive(&wire[..start + "κόσμε".len()]);
        assert_eq!(poll_all(&mut conn), [Ev::TextPart("κόσμε".into(), false)]);
        conn.receive(&wire[start + "κόσμε".len()..]);
        assert_eq!(poll_all(&mut conn), [Ev::Failed(Some(1007))]);

        // A character the final fragment leaves unfinished.
        let mut conn = streaming();
        let mut wire = frame(OpCode::Text, false, "ok".as_bytes());
        wire.extend(frame(OpCode::Continuation, true, &"€".as_bytes()[..2]));
        conn.receive(&wire);
        assert_eq!(
            poll_all(&mut conn),
            [Ev::TextPart("ok".into(), false), Ev::Failed(Some(1007))]
        );
    }

    // §10.4 with parts: the limit is on the message, not on what is held,
    // so a message declared past it fails with 1009 even though its
    // earlier parts went out.
    #[test]
    fn parts_still_count_against_max_message_size() {
        let mut conn = server(Config::default().stream_messages(true).max_message_size(10));
        let mut wire = frame(OpCode::Binary, false, b"123456");
        wire.extend(frame(OpCode::Continuation, true, b"789012"));
        conn.receive(&wire);
        assert_eq!(
            poll_all(&mut conn),
            [Ev::BinaryPart(b"123456".to_vec(), false), Ev::Failed(Some(1009))]
        );
    }

    // §5.4: control frames may come between the parts of a message.
    #[test]
    fn control_frames_between_parts() {
        let mut conn = streaming();
        let mut wire = frame(OpCode::Binary, false, b"ab");
        wire.extend(frame(OpCode::Ping, true, b"p"));
        wire.extend(frame(OpCode::Continuation, true, b"cd"));
        conn.receive(&wire);
        assert_eq!(
            poll_all(&mut conn),
            [
                Ev::BinaryPart(b"ab".to_vec(), false),
                Ev::Ping(b"p".to_vec()),
                Ev::BinaryPart(b"cd".to_vec(), true),
            ]
        );
    }

    // `take_message`: the payload of the last whole message, owned; never
    // a control frame's, never a part's.
    #[test]
    fn take_message_hands_over_the_last_message_only() {
        let mut conn = server(Config::default());
        let mut wire = frame(OpCode::Binary, true, b"in place");
        wire.extend(frame(OpCode::Ping, true, b"ping"));
        wire.extend(frame(OpCode::Text, false, "frag".as_bytes()));
        wire.extend(frame(OpCode::Continuation, true, "mented €".as_bytes()));
        conn.receive(&wire);
        assert_eq!(conn.take_message(), None, "before any event");
        assert!(matches!(conn.poll_event(), Some(Event::Binary(b"in place"))));
        assert_eq!(conn.take_message().as_deref(), Some(&b"in place"[..]));
        assert!(matches!(conn.poll_event(), Some(Event::Ping(b"ping"))));
        assert_eq!(conn.take_message(), None, "a ping is not a message");
        assert!(matches!(conn.poll_event(), Some(Event::Text("fragmented €"))));
        assert_eq!(conn.take_message().as_deref(), Some("fragmented €".as_bytes()));
        assert_eq!(conn.take_message(), None, "the message buffer was taken");
        assert!(conn.poll_event().is_none());

        let mut conn = streaming();
        conn.receive(&frame(OpCode::Binary, true, b"a part"));
        assert!(matches!(conn.poll_event(), Some(Event::BinaryPart { .. })));
        assert_eq!(conn.take_message(), None, "parts are lent");
    }

    // A message read in place of at least SHARE_MIN is handed out as the
    // read buffer's own bytes: the `Bytes` starts where the event's slice
    // did. So is a smaller one that is all a buffer made for it holds (a
    // quiet peer's frame, `receive`d into an empty connection), and it takes
    // the whole allocation along. Below SHARE_MIN with more bytes after it,
    // it is a copy.
    #[test]
    fn a_large_message_read_in_place_is_taken_without_a_copy() {
        let ping = frame(OpCode::Ping, true, b"after");
        for (opcode, len, after) in [
            (OpCode::Binary, SHARE_MIN, &[][..]),
            (OpCode::Text, 40 << 10, &[][..]),
            (OpCode::Binary, SHARE_MIN - 1, &[][..]),
            (OpCode::Text, 16, &[][..]),
            (OpCode::Binary, SHARE_MIN - 1, &ping[..]),
            (OpCode::Text, 16, &ping[..]),
        ] {
            let mut conn = server(Config::default());
            let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            conn.receive(&[frame(opcode, true, &payload), after.to_vec()].concat());
            let exact_end = conn.exact_read_buffer_end();
            let lent = match conn.poll_event() {
                Some(Event::Binary(data)) => data.as_ptr_range(),
                Some(Event::Text(text)) => text.as_bytes().as_ptr_range(),
                other => panic!("{other:?}"),
            };
            assert_eq!(lent.end as usize == exact_end, after.is_empty(), "{len} bytes");
            let taken = match opcode {
                OpCode::Text => conn.take_text(len).into_bytes(),
                _ => conn.take_message().unwrap(),
            };
            assert_eq!(taken, payload);
            assert_eq!(
                taken.as_ptr() == lent.start,
                len >= SHARE_MIN || after.is_empty(),
                "{len} bytes shared, not copied"
            );
            if after.is_empty() {
                assert!(!conn.holds_read_buffer(), "the allocation stayed");
            }
            match conn.poll_event() {
                Some(Event::Ping(b"after")) => assert!(!after.is_empty()),
                None => assert!(after.is_empty()),
                other => panic!("{other:?}"),
            }
            assert_eq!(conn.take_message(), None, "taken once");
        }
    }

    // A small message is handed over only from a buffer made for it, so it
    // keeps nothing but its frame: after a frame before it in the same
    // buffer, in a buffer with room left, or in the rest of an allocation a
    // large message was split from, it is a copy.
    #[test]
    fn a_small_message_keeps_no_allocation_but_its_own() {
        let small = frame(OpCode::Binary, true, b"hi");
        let large = frame(OpCode::Binary, true, &[7; SHARE_MIN]);
        let ping = frame(OpCode::Ping, true, b"first");
        // Bytes `receive`d in one piece, or read into `read_buffer`.
        for (wire, received) in [
            ([ping.clone(), small.clone()].concat(), true),
            (small.clone(), false),
            ([large, small].concat(), true),
        ] {
            let mut conn = server(Config::default());
            if received {
                conn.receive(&wire);
            } else {
                let room = conn.read_buffer();
                room[..wire.len()].copy_from_slice(&wire);
                conn.commit_read(wire.len());
            }
            let mut kept = Vec::new();
            while let Some(event) = conn.poll_event() {
                let lent = match event {
                    Event::Binary(data) => data.as_ptr(),
                    Event::Ping(_) => continue,
                    other => panic!("{other:?}"),
                };
                let taken = conn.take_message().unwrap();
                assert_eq!(
                    taken.as_ptr() == lent,
                    taken.len() >= SHARE_MIN,
                    "{} bytes",
                    taken.len()
                );
                kept.push(taken);
            }
            assert_eq!(&kept.last().unwrap()[..], b"hi");
        }
        // A buffer grown past its bytes (8-byte chunks: 4 bytes, then the
        // room grows to 12 in an allocation of 16): filled to its length,
        // not to its capacity.
        let mut conn = server(Config::default().read_chunk(8));
        let wire = frame(OpCode::Binary, true, b"sixsix");
        for piece in wire.chunks(4).take(1).chain([&wire[4..]]) {
            let room = conn.read_buffer();
            room[..piece.len()].copy_from_slice(piece);
            conn.commit_read(piece.len());
        }
        let Some(Event::Binary(data)) = conn.poll_event() else {
            panic!("no message")
        };
        let lent = data.as_ptr();
        assert!(
            conn.rx.capacity() > wire.len(),
            "the buffer did not grow past the frame"
        );
        assert_ne!(
            conn.take_message().unwrap().as_ptr(),
            lent,
            "handed over with room to spare"
        );
    }

    // Messages taken out of the read buffer stay intact while it reads on:
    // held ones keep their allocation (the buffer moves to a new one),
    // dropped ones give it back. Frames of every size, in reads of what
    // `read_buffer` offers, some in pieces of odd lengths.
    #[test]
    fn taken_messages_stay_intact_while_the_buffer_reads_on() {
        for keep in [true, false] {
            let mut conn = server(Config::default());
            let mut wire = Vec::new();
            let mut sent = Vec::new();
            for i in 0..60usize {
                let len = [20 << 10, 7, SHARE_MIN, 60 << 10, 1000, 33_333][i % 6];
                let payload: Vec<u8> = (0..len).map(|j| (i * 31 + j * 7) as u8).collect();
                wire.extend(frame(OpCode::Binary, true, &payload));
                sent.push(payload);
            }
            let mut held = Vec::new();
            let mut offset = 0;
            let mut step = 0;
            while offset < wire.len() {
                step += 1;
                let room = conn.read_buffer();
                let n = room
                    .len()
                    .min(wire.len() - offset)
                    .min(if step % 3 == 0 { 4093 } else { usize::MAX });
                room[..n].copy_from_slice(&wire[offset..offset + n]);
                conn.commit_read(n);
                offset += n;
                while let Some(event) = conn.poll_event() {
                    assert!(matches!(event, Event::Binary(_)), "{event:?}");
                    let message = conn.take_message().unwrap();
                    assert_eq!(message, sent[held.len()], "message {}", held.len());
                    held.push(if keep { message } else { Bytes::new() });
                }
            }
            assert_eq!(held.len(), sent.len());
            if keep {
                for (i, (message, payload)) in held.iter().zip(&sent).enumerate() {
                    assert_eq!(message, payload, "message {i}, held while 60 more were read");
                }
            }
        }
    }
}
