//! The output queue, with the source of the masking keys its frames need,
//! and the calls that queue messages and hand out the bytes to write.

use super::{Connection, State};
use crate::close::{CloseCode, MAX_REASON_LEN};
use crate::copy;
use crate::error::{Error, Misuse};
use crate::frame::{self, FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode};
use crate::mask::{MaskSource, apply_mask};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Bytes to send, `buf[start..]`, and the masking keys for the frames
/// appended to them (a client's; a server sends unmasked, RFC 6455 §5.1).
pub(super) struct Tx {
    buf: Vec<u8>,
    start: usize,
    masks: Option<Box<dyn MaskSource>>,
    /// The opcode (text or binary) of the fragmented message being sent:
    /// its first frame went out, its last not yet (RFC 6455 §5.4).
    fragmenting: Option<OpCode>,
}

impl Tx {
    /// A queue holding `queued` (a client's request), masking with `masks`.
    pub(super) fn new(queued: Vec<u8>, masks: Option<Box<dyn MaskSource>>) -> Self {
        Self {
            buf: queued,
            start: 0,
            masks,
            fragmenting: None,
        }
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
        let mask = self.masks.as_mut().map(|m| m.mask_key());
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            len: payload.len() as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let head_len = frame::encode(&header, &mut head);
        let tx = &mut self.buf;
        tx.reserve(head_len + payload.len());
        tx.extend_from_slice(&head[..head_len]);
        let start = tx.len();
        copy::extend(tx, payload);
        if let Some(key) = mask {
            apply_mask(&mut tx[start..], key, 0);
        }
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
        &self.buf[self.start..]
    }

    pub(super) fn is_empty(&self) -> bool {
        self.start == self.buf.len()
    }

    /// Marks `n` pending bytes written, at most as many as are pending.
    pub(super) fn advance(&mut self, n: usize) {
        // Clamped before adding, so a written byte is never queued again.
        self.start += n.min(self.buf.len() - self.start);
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= 64 << 10 && self.start >= self.buf.len() / 2 {
            // A queue that never empties (a slow peer, a high-water mark)
            // must not keep what was written: drop it. Moving at most as
            // many bytes as were dropped keeps this amortised O(1).
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }

    /// Copies pending bytes into `out` and marks them written.
    pub(super) fn take(&mut self, out: &mut [u8]) -> usize {
        let pending = self.pending();
        let n = pending.len().min(out.len());
        out[..n].copy_from_slice(&pending[..n]);
        self.advance(n);
        n
    }

    /// Drops everything pending, unsent.
    pub(super) fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }

    /// Gives the buffer back once everything in it is written.
    pub(super) fn release(&mut self) {
        if self.is_empty() {
            self.buf = Vec::new();
            self.start = 0;
        }
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
            codec.compress(data, &mut self.scratch);
            self.tx.push_frame_rsv(opcode, 0b100, &self.scratch);
            return Ok(());
        }
        self.tx.push_frame(opcode, true, data);
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

    /// Bytes waiting to be written to the transport.
    #[inline]
    pub fn pending_output(&self) -> &[u8] {
        self.tx.pending()
    }

    /// Records that the first `n` bytes of [`Connection::pending_output`]
    /// were written. `n` is clamped to what is pending.
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
}
