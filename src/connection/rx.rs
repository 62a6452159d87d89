//! The read buffer: received bytes waiting to be parsed, and the room the
//! caller reads into.

use super::reader::SHARE_MIN;
use crate::frame::MAX_HEADER_LEN;
use alloc::vec::Vec;
use bytes::{Buf, Bytes, BytesMut};
use core::ops::Range;

/// A streaming peer is offered up to this much room per read.
const BUSY_READ: usize = 64 << 10;

/// Received bytes: `buf[start..end]` are unparsed, `buf[end..]` is room
/// to read into (initialised: it is lent as `&mut [u8]`).
///
/// The buffer is a [`BytesMut`] so that a large message read in place can
/// be handed out without a copy ([`Rx::split`]): the message keeps the
/// front of the allocation, the buffer goes on in the rest, and takes the
/// whole allocation back once the message is dropped.
///
/// `end` never moves back over bytes already received except when every
/// one of them is parsed: the parser unmasks and validates bytes in place,
/// and a byte offered again for writing could change after validation.
#[derive(Debug, Default)]
pub(super) struct Rx {
    buf: BytesMut,
    start: usize,
    end: usize,
    /// The last read filled all the room offered: the peer is streaming,
    /// so the next read is offered more (see `want`).
    busy: bool,
    /// How far the handshake's end-of-headers search has looked (a `u32`
    /// packs beside the flags: `Connection` is 8 bytes smaller, bench
    /// `memory`).
    scanned: u32,
    /// The address one past the last byte of the buffer's allocation known
    /// to be initialised, 0 when none is: every byte of the allocation
    /// before it has been in `buf[..len]` (see `reuse_initialised`).
    init_end: usize,
    /// Bytes were split off the front since the buffer last had its whole
    /// allocation (see `reclaim_after_split`).
    split_off: bool,
}

impl Rx {
    /// How many bytes are unparsed.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.end - self.start
    }

    pub(super) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    #[inline]
    pub(super) fn unparsed(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Unparsed bytes `range`, counted from the first unparsed byte.
    #[inline]
    pub(super) fn get(&self, range: Range<usize>) -> &[u8] {
        debug_assert!(range.end <= self.len());
        // One bounds check, not one per nested slice: this is on the path
        // of every small message (bench `receive`).
        &self.buf[self.start + range.start..self.start + range.end]
    }

    #[inline]
    pub(super) fn get_mut(&mut self, range: Range<usize>) -> &mut [u8] {
        debug_assert!(range.end <= self.len());
        &mut self.buf[self.start + range.start..self.start + range.end]
    }

    /// Marks the first `n` unparsed bytes parsed.
    #[inline]
    pub(super) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
    }

    /// Once everything is parsed, reads start again at the front.
    #[inline]
    pub(super) fn rewind_if_empty(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.scanned = 0;
        }
    }

    /// How much room the next read should have: the rest of the frame in
    /// progress (`frame_left` bytes from the first unparsed one), within
    /// [chunk, 64 KiB], so a large frame is read in large pieces but never
    /// reserved ahead of its bytes.
    pub(super) fn want(&self, frame_left: Option<usize>, chunk: usize) -> usize {
        let chunk = chunk.max(1);
        // The last bytes of a large frame read in place: read them and at
        // most the next frame's header. The frame leaves as a message split
        // from the buffer, and whatever was read past it must then move to
        // the front before the buffer takes its allocation back; a whole
        // chunk of the next frame moved cost the drivers 600 instructions
        // per 64 KiB message (benches/compare callgrind, recv_binary_64_kib).
        if let Some(left) = frame_left.filter(|&left| left >= SHARE_MIN) {
            let missing = left.saturating_sub(self.len());
            if missing > 0 && missing < chunk {
                return missing + MAX_HEADER_LEN;
            }
        }
        // A peer that filled the last read has more waiting: take up to
        // 64 KiB at once (several frames per read) instead of one frame.
        if self.busy {
            return BUSY_READ.saturating_sub(self.len()).max(chunk);
        }
        match frame_left {
            Some(left) => {
                let missing = left.saturating_sub(self.len());
                missing.clamp(chunk, chunk.max(BUSY_READ))
            }
            None => chunk,
        }
    }

    /// Room for at least `want` bytes after the unparsed ones. Growth stops
    /// at the frame in progress plus one `chunk`, so a frame at the size
    /// limit costs its size, not the next power of two.
    pub(super) fn room(&mut self, want: usize, frame_left: Option<usize>, chunk: usize) -> &mut [u8] {
        self.reserve(want, frame_left, chunk);
        &mut self.buf[self.end..]
    }

    fn reserve(&mut self, want: usize, frame_left: Option<usize>, chunk: usize) {
        if self.split_off && self.start == self.end {
            self.reclaim_after_split(want);
        }
        if self.buf.len() - self.end >= want {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let needed = self.end + want;
        if self.buf.len() >= needed {
            return;
        }
        if self.buf.capacity() < needed {
            // The stale room would be copied along with the unparsed bytes.
            self.buf.truncate(self.end);
            // Taking back the allocation a split message left (once it is
            // dropped) moves the unparsed bytes to its front, nothing more.
            if self.buf.try_reclaim(want) {
                self.reuse_initialised(needed);
            } else {
                self.split_off = false;
                let mut target = needed.max(self.buf.capacity().saturating_mul(2));
                if let Some(left) = frame_left {
                    target = target.min(needed.max(left.saturating_add(chunk)));
                }
                if self.buf.capacity() == 0 {
                    // A first buffer: made as a `BytesMut` of its own,
                    // not converted from a `Vec`, which gives it a shared
                    // header, an allocation more (one per message for a
                    // quiet peer before `extend` made its buffer itself).
                    self.buf = BytesMut::with_capacity(target);
                    self.init_end = 0;
                } else {
                    // As a `Vec`, for `reserve_exact` (`BytesMut::reserve`
                    // doubles past a large frame) and for `realloc`, which grows
                    // a large block in place instead of holding old and new at
                    // once (test `a_message_at_the_limit_costs_about_the_limit`).
                    // No copy unless a message still shares the allocation.
                    let mut grown = Vec::from(core::mem::take(&mut self.buf));
                    grown.reserve_exact(target - grown.len());
                    self.buf = BytesMut::from(Bytes::from(grown));
                    self.init_end = 0;
                }
            }
        }
        // Zero-fills only what `reuse_initialised` did not cover. Capacity
        // is `needed` already: `resize` keeps the allocation `init_end`
        // describes.
        debug_assert!(self.buf.capacity() >= needed);
        let before = self.buf.as_ptr();
        self.buf.resize(needed, 0);
        debug_assert_eq!(self.buf.as_ptr(), before, "resize reallocated");
        self.init_end = self.init_end.max(self.buf.as_ptr() as usize + self.buf.len());
    }

    /// With nothing unparsed after a split, takes the whole allocation back
    /// once the bytes split off are dropped: reads are then offered all of
    /// it again, not only what follows the split bytes, where a 16 KiB
    /// message was cut in two reads one time in four (strace of the
    /// loopback echo at 16 KiB, one message in flight).
    #[cold]
    #[inline(never)]
    fn reclaim_after_split(&mut self, want: usize) {
        self.start = 0;
        self.end = 0;
        self.buf.clear();
        if self.buf.try_reclaim(want.max(BUSY_READ)) {
            self.split_off = false;
        }
        // Taken back or not, the bytes the view had stay its room.
        self.reuse_initialised(self.buf.capacity());
    }

    /// After `try_reclaim`, takes the allocation's bytes known to be
    /// initialised back into the buffer's length without zeroing them
    /// again: a split message leaves the read buffer to refill its whole
    /// allocation, and zeroing it per message cost the drivers a third at
    /// 64 KiB (bench `receive_driver/binary/65536`, 15.9 against 10.9 µs).
    fn reuse_initialised(&mut self, needed: usize) {
        let start = self.buf.as_ptr() as usize;
        let known = self.init_end.saturating_sub(start).min(needed);
        if known > self.buf.len() {
            debug_assert!(known <= self.buf.capacity());
            // Why the bytes below `known` are initialised: `try_reclaim`
            // and `clear` never allocate, so `buf` is still a view of the
            // allocation `init_end` was recorded in (`init_end` is reset to
            // 0 whenever `buf` gets another), starting at or after its
            // front. Every byte before `init_end` has been within
            // `buf[..len]` since that allocation was made: the view starts
            // at the front, moves forward only by `split` (past bytes it
            // held) and back only to the front, and `init_end` is the
            // furthest its end has been. Bytes once initialised stay so
            // while the allocation lives, which it does while `buf` holds
            // it; the messages split from it are immutable `Bytes`.
            #[allow(unsafe_code)]
            // SAFETY: `known <= needed <= capacity` (callers pass at most
            // the capacity), and `buf[..known]` is initialised, by the
            // argument just above.
            unsafe {
                self.buf.set_len(known)
            };
        }
    }

    /// Hands out unparsed bytes `range` without copying them, dropping
    /// every unparsed byte before `range.end` (the frame's header). The
    /// returned bytes share the buffer's allocation: the buffer goes on
    /// after them and takes the allocation back when they are dropped.
    pub(super) fn split(&mut self, range: Range<usize>) -> Bytes {
        debug_assert!(range.start <= range.end && range.end <= self.len());
        let cut = self.start + range.end;
        if cut == self.buf.len() {
            return self.hand_over(range.start);
        }
        let mut front = self.buf.split_to(cut);
        front.advance(self.start + range.start);
        self.end -= cut;
        self.start = 0;
        self.split_off = true;
        front.freeze()
    }

    /// [`Rx::split`] of everything up to the end of the buffer: the whole
    /// allocation leaves with the bytes, frozen as it is, which never
    /// allocates (a split does, for the header the two halves share).
    #[cold]
    fn hand_over(&mut self, from: usize) -> Bytes {
        let skip = self.start + from;
        let mut whole = core::mem::take(&mut self.buf).freeze();
        whole.advance(skip);
        *self = Self {
            busy: self.busy,
            ..Self::default()
        };
        whole
    }

    /// Whether the unparsed bytes, `len` of them, fill the buffer's whole
    /// allocation: a quiet peer's frame, copied in from the stack buffer
    /// into a buffer made for it, which [`Rx::split`] hands over whole.
    /// Never after a split: the buffer is then the rest of an allocation a
    /// large message shares, which a small one handed over would keep
    /// alive (a review found 8 bytes keeping 20 KB).
    #[inline]
    pub(super) fn holds_exactly(&self, len: usize) -> bool {
        !self.split_off && self.start == 0 && self.end == len && self.buf.capacity() == len && self.buf.len() == len
    }

    /// The address one past the unparsed bytes if [`Rx::holds_exactly`]
    /// them all, else 0.
    #[inline]
    pub(super) fn exact_end(&self) -> usize {
        match self.holds_exactly(self.end) && self.end > 0 {
            true => self.buf.as_ptr() as usize + self.end,
            false => 0,
        }
    }

    /// Records that the first `n` bytes of the room were filled, at most
    /// the room's length; returns how many were.
    pub(super) fn commit(&mut self, n: usize) -> usize {
        let room = self.buf.len() - self.end;
        // Clamped before adding: `end` only ever moves forward here, so
        // bytes already parsed (and UTF-8-validated) are never offered
        // again, whatever the caller computed (`-1 as usize` included).
        let n = n.min(room);
        self.busy = n == room && room > 0;
        self.end += n;
        n
    }

    /// Copies `data` in after the unparsed bytes.
    pub(super) fn extend(&mut self, mut data: &[u8], frame_left: Option<usize>, chunk: usize) {
        if self.buf.capacity() == 0 {
            // A quiet peer's bytes after a driver's stack buffer: a buffer
            // of exactly them, made as the copy (`reserve` would zero it
            // first; benches/compare callgrind,
            // recv_binary_16_b_one_per_read).
            self.buf = BytesMut::from(data);
            self.start = 0;
            self.end = data.len();
            self.split_off = false;
            self.init_end = self.buf.as_ptr() as usize + self.end;
            return;
        }
        while !data.is_empty() {
            let room = self.room(data.len(), frame_left, chunk);
            let n = room.len().min(data.len());
            room[..n].copy_from_slice(&data[..n]);
            self.end += n;
            data = &data[n..];
        }
    }

    /// Forgets that the peer was streaming and, when nothing is unparsed,
    /// gives the buffer back.
    #[inline]
    pub(super) fn release(&mut self) {
        self.busy = false;
        // Nothing held, the common case (a quiet connection asks before
        // every read): no reset.
        if self.is_empty() && self.holds_allocation() {
            self.reset();
        }
    }

    #[cold]
    #[inline(never)]
    fn reset(&mut self) {
        *self = Self::default();
    }

    /// Whether the unparsed bytes hold the blank line that ends an HTTP
    /// header block: an LF, then an LF or CR LF. The parser takes a bare LF
    /// as a line's end (RFC 9112 §2.2 allows it), so the search must too,
    /// or such a head would wait for the size limit. Each call searches
    /// only what arrived since the last (and the two bytes before), so a
    /// byte-at-a-time sender does not cost quadratic time.
    pub(super) fn has_header_end(&mut self) -> bool {
        let buffered = &self.buf[self.start..self.end];
        let from = (self.scanned as usize).saturating_sub(2).min(buffered.len());
        let tail = &buffered[from..];
        let found = tail
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'\n' && matches!(tail.get(i + 1..), Some([b'\n', ..] | [b'\r', b'\n', ..])));
        self.scanned = u32::try_from(buffered.len()).unwrap_or(u32::MAX);
        found
    }

    pub(super) fn holds_allocation(&self) -> bool {
        self.buf.capacity() > 0
    }

    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::connection::{Connection, Event, Role};

    #[test]
    fn commit_is_clamped_to_the_room_and_never_rewinds() {
        let mut rx = Rx::default();
        let room = rx.room(8, None, 8).len();
        assert_eq!(rx.commit(3), 3);
        assert_eq!(rx.commit(usize::MAX), room - 3);
        assert_eq!(rx.end, room);
        assert_eq!(rx.commit(usize::MAX), 0, "no room, nothing committed");
        assert_eq!(rx.end, room);
    }

    // A read that fills all the room offered says the peer has more: the
    // next read is offered 64 KiB, whatever the frame in progress needs.
    #[test]
    fn a_full_read_is_followed_by_a_larger_one() {
        let mut rx = Rx::default();
        let room = rx.room(rx.want(None, 4096), None, 4096).len();
        assert_eq!(room, 4096);
        rx.commit(100);
        assert_eq!(rx.want(None, 4096), 4096);
        assert_eq!(rx.want(Some(10_000), 4096), 10_000 - 100);
        rx.commit(usize::MAX);
        assert_eq!(rx.want(Some(10), 4096), BUSY_READ - 4096);
        rx.release();
        assert_eq!(rx.want(Some(10), 4096), 4096);
    }

    // RFC 6455 §5.2 framing, read economically: the end of a large frame
    // is read with at most the next frame's header, so nothing of the next
    // frame's payload has to move when the large one leaves the buffer.
    #[test]
    fn a_large_frame_is_finished_with_at_most_the_next_header() {
        let mut rx = Rx::default();
        let frame = SHARE_MIN + 100;
        rx.room(frame - 30, Some(frame), 4096);
        rx.commit(frame - 30);
        for busy in [true, false] {
            rx.busy = busy;
            assert_eq!(rx.want(Some(frame), 4096), 30 + MAX_HEADER_LEN, "busy {busy}");
        }
        // A small frame's end is read with whatever follows.
        let mut rx = Rx::default();
        rx.extend(&[1; 1000], Some(1030), 4096);
        assert_eq!(rx.want(Some(1030), 4096), 4096);
        // As is a large frame's end when much of it is missing.
        assert_eq!(rx.want(Some(SHARE_MIN + 5000), 4096), SHARE_MIN + 4000);
    }

    // A large frame is read in large pieces, but the buffer grows only to
    // the frame plus one chunk, never to what a peer merely declares
    // beyond 64 KiB.
    #[test]
    fn room_grows_with_the_frame_in_progress_within_bounds() {
        let mut rx = Rx::default();
        assert_eq!(rx.want(Some(1 << 30), 100), BUSY_READ);
        rx.extend(&[1; 6000], Some(10_000), 100);
        let want = rx.want(Some(10_000), 100);
        assert_eq!(want, 4000);
        assert_eq!(rx.room(want, Some(10_000), 100).len(), 4000);
        // Doubling would have reserved 12,000.
        assert!(rx.capacity() <= 10_000 + 100, "{}", rx.capacity());
    }

    #[test]
    fn parsed_bytes_are_dropped_before_the_buffer_grows() {
        let mut rx = Rx::default();
        rx.extend(b"abcdef", None, 8);
        rx.consume(4);
        assert_eq!(rx.unparsed(), b"ef");
        let capacity = rx.capacity();
        rx.room(capacity - 2, None, 8);
        assert_eq!(rx.unparsed(), b"ef", "the unparsed bytes moved with the compaction");
        assert_eq!(rx.capacity(), capacity, "grew instead of compacting");
        rx.consume(2);
        rx.rewind_if_empty();
        assert_eq!((rx.start, rx.end), (0, 0));
    }

    // `split` hands out bytes without a copy; once they are dropped the
    // buffer takes its allocation back, and the bytes it had initialised
    // are room again without being zeroed (`reuse_initialised`): the room
    // shows what was there. While they are held, it moves to fresh
    // (zeroed) memory and they stay as they were.
    #[test]
    fn split_bytes_share_the_allocation_and_give_it_back() {
        for held in [false, true] {
            let mut rx = Rx::default();
            rx.extend(&[7; 1000], None, 1000);
            let base = rx.buf.as_ptr();
            let capacity = rx.capacity();
            rx.consume(10);
            let message = rx.split(0..900);
            assert_eq!(message.as_ptr(), base.wrapping_add(10), "no copy");
            assert_eq!((rx.len(), rx.unparsed()), (90, &[7; 90][..]));
            let kept = held.then_some(message);
            let room = rx.room(capacity - 90, None, 1000);
            assert_eq!(room.len(), capacity - 90);
            match &kept {
                None => {
                    assert_eq!(rx.buf.as_ptr(), base, "the allocation came back");
                    assert!(
                        rx.buf[90..900].iter().all(|&b| b == 7),
                        "initialised bytes kept, not zeroed"
                    );
                }
                Some(message) => {
                    assert_ne!(rx.buf.as_ptr(), base);
                    assert!(rx.buf[90..].iter().all(|&b| b == 0), "fresh room is zeroed");
                    assert_eq!(message, &[7; 900][..]);
                }
            }
            assert_eq!(rx.unparsed(), &[7; 90][..]);
            rx.commit(5);
            assert_eq!(rx.len(), 95);
        }
    }

    // With nothing unparsed after a split and the split bytes dropped, a
    // read is offered the whole allocation again, not what follows them:
    // a message is not cut at the view's end (strace, loopback echo).
    #[test]
    fn reads_get_the_whole_allocation_back_after_a_split() {
        let mut rx = Rx::default();
        rx.room(BUSY_READ, None, 8);
        let capacity = rx.capacity();
        rx.commit(20_000);
        let message = rx.split(0..20_000);
        drop(message);
        assert_eq!(rx.room(8, None, 8).len(), capacity, "the whole allocation, initialised");
        rx.commit(30_000);
        let held = rx.split(0..30_000);
        // While a message holds the allocation, the rest of it is the room.
        assert_eq!(rx.room(8, None, 8).len(), capacity - 30_000);
        drop(held);
        assert_eq!(rx.room(8, None, 8).len(), capacity);
    }

    #[test]
    fn the_header_end_is_found_across_reads_without_rescanning() {
        let mut rx = Rx::default();
        rx.extend(b"GET / HTTP/1.1\r\n\r", None, 64);
        assert!(!rx.has_header_end());
        assert_eq!(rx.scanned as usize, rx.len());
        rx.extend(b"\n", None, 64);
        assert!(rx.has_header_end(), "the blank line straddles two reads");
    }

    // RFC 9112 §2.2: a recipient may take a bare LF as a line's end, as the
    // parser does; the search for the head's end agrees, byte by byte too.
    #[test]
    fn a_head_whose_lines_end_in_a_bare_lf_is_found_whole() {
        for (head, ends) in [
            (&b"GET / HTTP/1.1\nHost: h\n\n"[..], true),
            (b"GET / HTTP/1.1\nHost: h\n\r\n", true),
            (b"GET / HTTP/1.1\r\nHost: h\r\n\n", true),
            (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nHost: h\r\n\r", false),
            (b"GET / HTTP/1.1\r\nHost: h\r\r\n", false),
            (b"GET / HTTP/1.1\r\nHost: h\n\rX", false),
        ] {
            let mut whole = Rx::default();
            whole.extend(head, None, 64);
            assert_eq!(whole.has_header_end(), ends, "{:?}", head.escape_ascii());
            let mut bytewise = Rx::default();
            let mut found = false;
            for byte in head {
                bytewise.extend(&[*byte], None, 64);
                found |= bytewise.has_header_end();
            }
            assert_eq!(found, ends, "byte by byte: {:?}", head.escape_ascii());
        }
    }

    // Safe calls with any `usize` the caller computes, `usize::MAX` (a
    // `-1` read result cast) included, never rewind the buffer.

    fn client() -> Connection {
        Connection::established(Role::Client, Config::default(), &[])
    }

    // RFC 6455 §8.1: a text message is valid UTF-8. An over-long commit
    // once moved the read end backwards, re-offering a validated byte to
    // be overwritten and handed out unchecked as text.
    #[test]
    fn commit_read_past_the_buffer_is_clamped_and_never_rewinds() {
        let mut conn = client();
        conn.receive(&[0x81, 0x06, b'a', b'b', b'c']);
        assert!(conn.poll_event().is_none());
        let room = conn.read_buffer().len();
        assert!(room > 0);
        conn.commit_read(usize::MAX);
        // The clamp filled the whole room with whatever was there: the
        // frame (3 bytes short) completes and any bytes after it follow.
        let buf = conn.read_buffer();
        let n = buf.len().min(4);
        buf[..n].copy_from_slice(&[0xff, b'd', b'e', b'f'][..n]);
        conn.commit_read(n);
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Text(text) => assert!(core::str::from_utf8(text.as_bytes()).is_ok()),
                Event::Failed(_) => break,
                _ => {}
            }
        }
        // Whatever came out, nothing before the clamp was handed out again.
        assert!(conn.rx.end <= conn.rx.buf.len());
    }

    #[test]
    fn a_text_byte_already_validated_cannot_be_replaced() {
        let mut conn = client();
        conn.receive(&[0x81, 0x06, b'a', b'b', b'c']);
        assert!(conn.poll_event().is_none());
        let before = conn.rx.end;
        let _ = conn.read_buffer();
        conn.commit_read(usize::MAX);
        assert!(
            conn.rx.end >= before,
            "the read end moved back: {} -> {}",
            before,
            conn.rx.end
        );
    }
}
