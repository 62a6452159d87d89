//! The payload of a message that arrives in several frames, or
//! compressed, put back together.

use crate::copy;
use crate::mask::{apply_mask, mask_copy};
use alloc::vec::Vec;

/// How much of a piece new to the buffer is copied in before it is
/// unmasked in place: well within a core's L1 data cache.
const PIECE: usize = 16 << 10;

/// The payload of a message received in several frames, or compressed,
/// reassembled: `buf[..len]`. The bytes of `buf` past `len` are left over
/// from earlier messages and stay initialised, so appending writes each
/// byte once (no zero-filling before the unmasking copy).
#[derive(Debug, Default)]
pub(super) struct Reassembly {
    buf: Vec<u8>,
    len: usize,
}

impl Reassembly {
    pub(super) fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `src`, unmasked with `key` from key-stream byte `offset`,
    /// and returns the appended bytes. Capacity grows geometrically with
    /// what arrived, never past `cap` (the message's declared length so
    /// far, within max_message_size) unless the bytes themselves need it;
    /// once half of `cap` has arrived it is reserved whole, so a message
    /// ends in a buffer of exactly its size, grown at most once more
    /// (bench `receive_driver`, 64 KiB). Never more than twice what
    /// arrived: a length a peer merely declares allocates nothing.
    pub(super) fn append_unmasked(&mut self, src: &[u8], key: Option<[u8; 4]>, offset: usize, cap: usize) -> &[u8] {
        let start = self.len;
        let end = start + src.len();
        if end > self.buf.capacity() {
            let target = if cap <= end.saturating_mul(2) {
                cap.max(end)
            } else {
                end.max(self.buf.capacity().saturating_mul(2)).min(cap.max(end))
            };
            self.buf.reserve_exact(target - self.buf.len());
        }
        // Bytes left initialised by earlier messages are overwritten in one
        // pass; past them the bytes are copied in and unmasked in place,
        // not zero-filled first: a driver takes every message's buffer
        // away, so for it all the bytes are new, and the zeroing was a
        // third pass over 1 MiB (benches/compare callgrind,
        // recv_binary_1_mib_in_64_kib_frames).
        let reused = self.buf.len().clamp(start, end) - start;
        let (old, new) = src.split_at(reused);
        let dst = &mut self.buf[start..start + reused];
        match key {
            Some(key) => {
                mask_copy(dst, old, key, offset);
                // A piece at a time, so the unmasking pass finds the bytes
                // still in the L1 cache.
                let mut at = start + reused;
                for piece in new.chunks(PIECE) {
                    copy::extend(&mut self.buf, piece);
                    apply_mask(&mut self.buf[at..], key, offset + at - start);
                    at += piece.len();
                }
            }
            None => {
                copy::copy(dst, old);
                copy::extend(&mut self.buf, new);
            }
        }
        self.len = end;
        &self.buf[start..end]
    }

    /// Whether the buffer holds an allocation.
    pub(super) fn holds_allocation(&self) -> bool {
        self.buf.capacity() > 0
    }

    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The message as a vector, for code that appends to one (inflating).
    pub(super) fn as_vec(&mut self) -> &mut Vec<u8> {
        self.buf.truncate(self.len);
        &mut self.buf
    }

    /// The message, owned; the buffer starts again empty.
    pub(super) fn take(&mut self) -> Vec<u8> {
        let mut buf = core::mem::take(&mut self.buf);
        buf.truncate(self.len);
        self.len = 0;
        buf
    }

    /// Drops the first `n` bytes (at most all of them), keeping the rest.
    pub(super) fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// Takes the length back after [`Reassembly::as_vec`].
    pub(super) fn sync_len(&mut self) {
        self.len = self.buf.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::connection::testing::*;
    use crate::frame::OpCode;

    #[test]
    fn appended_pieces_are_unmasked_from_their_key_offset() {
        let key = [1, 2, 3, 4];
        let mut message = Reassembly::default();
        let masked: Vec<u8> = b"abcdef".iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k).collect();
        assert_eq!(message.append_unmasked(&masked[..3], Some(key), 0, 100), b"abc");
        assert_eq!(message.append_unmasked(&masked[3..], Some(key), 3, 100), b"def");
        assert_eq!(message.append_unmasked(b"!", None, 0, 100), b"!");
        assert_eq!(message.as_slice(), b"abcdef!");
    }

    // A piece that lands partly on bytes an earlier message left
    // initialised and partly past them is unmasked across the split with
    // one continuous key stream: lengths on both sides of the vector
    // kernels' threshold (256 bytes), and over several of the pieces new
    // bytes are unmasked in.
    #[test]
    fn a_piece_straddling_reused_and_new_bytes_is_unmasked_whole() {
        let key = [9, 8, 7, 6];
        for (left, len) in [(5, 10), (300, 700), (5, 1000), (700, 300), (1000, 1000), (3, 40_001)] {
            for offset in 0..4 {
                let mut message = Reassembly::default();
                message.append_unmasked(&alloc::vec![0xee; left], None, 0, 100_000);
                message.clear();
                let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
                let masked: Vec<u8> = plain
                    .iter()
                    .zip(key.iter().cycle().skip(offset))
                    .map(|(b, k)| b ^ k)
                    .collect();
                let what = alloc::format!("left {left} len {len} offset {offset}");
                assert_eq!(
                    message.append_unmasked(&masked, Some(key), offset, 4000),
                    plain,
                    "{what}"
                );
                assert_eq!(message.as_slice(), plain, "{what}");
                // And once more after it, continuing the key stream.
                let more = message
                    .append_unmasked(&masked[..7], Some(key), offset + len, 4000)
                    .to_vec();
                let expected: Vec<u8> = masked[..7]
                    .iter()
                    .zip(key.iter().cycle().skip((offset + len) % 4))
                    .map(|(b, k)| b ^ k)
                    .collect();
                assert_eq!(more, expected, "{what}");
            }
        }
    }

    // The buffer grows geometrically with what arrived, but not past the
    // message size limit; cleared, it keeps its bytes for the next message.
    #[test]
    fn capacity_follows_what_arrived_within_the_limit() {
        let mut message = Reassembly::default();
        message.append_unmasked(&[1; 600], None, 0, 1000);
        message.append_unmasked(&[2; 300], None, 0, 1000);
        assert!(message.buf.capacity() <= 1000, "{}", message.buf.capacity());
        message.clear();
        assert!(message.is_empty());
        assert_eq!(message.buf.len(), 900, "kept initialised for the next message");
        message.append_unmasked(&[3; 2], None, 0, 1000);
        assert_eq!(message.as_slice(), [3, 3]);
    }

    // Once half of the declared message has arrived, the rest is reserved
    // at once: the buffer ends at the message's size instead of doubling
    // past it, and never exceeds twice what arrived.
    #[test]
    fn the_declared_size_is_reserved_once_half_of_it_arrived() {
        let mut message = Reassembly::default();
        message.append_unmasked(&[1; 100], None, 0, 10_000);
        assert!(message.capacity() < 1000, "{}", message.capacity());
        message.append_unmasked(&[2; 5_000], None, 0, 10_000);
        assert_eq!(message.capacity(), 10_000);
        let at = message.as_slice().as_ptr();
        message.append_unmasked(&[3; 4_900], None, 0, 10_000);
        assert_eq!(message.as_slice().as_ptr(), at, "grew again");
        assert_eq!(message.len(), 10_000);
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
        assert_eq!(conn.reader.message().len(), 1000);
        assert!(
            conn.reader.message().capacity() < 4096,
            "{}",
            conn.reader.message().capacity()
        );
        assert!(conn.rx.is_empty(), "payload left in the read buffer");
        assert!(conn.rx.capacity() <= 64 << 10);
        assert!(conn.read_buffer().len() <= 64 << 10);
    }
}
