//! Small received messages without an allocation each.
//!
//! A `read` caller gets each message as an owned [`Bytes`]. For a message
//! of a few bytes, its own allocation (and the free when the caller drops
//! it) was half of what a driver spent on it (benches/compare callgrind,
//! recv_binary_16_b). While a peer streams (a read brought at least a
//! block's worth of bytes), small messages are instead copied into a
//! shared block and split off it: a message then costs a copy and a
//! reference count. The block is reused once every message cut from it
//! has been dropped. It is given back when a read finds nothing (an async
//! transport's `Pending`), when the driver waits in its stack buffer, and
//! at the close event, so an idle tokio connection holds none; a blocking
//! read waits with it, as it waits with the read buffer.
//!
//! The price: a message kept holds its block, at most [`BLOCK`] bytes,
//! until it is dropped. A caller that keeps small messages for long can
//! copy them out (`Bytes::copy_from_slice`).

use bytes::{Bytes, BytesMut};
use std::boxed::Box;

/// The block messages are cut from: what keeping one small message may
/// hold at most.
pub(crate) const BLOCK: usize = 4 << 10;

/// The largest message that goes into a block; larger ones are allocated
/// alone, where a block would hold few of them.
pub(crate) const MAX: usize = 1 << 10;

/// The block messages are cut from while the peer streams.
#[derive(Debug, Default)]
pub(crate) struct Small {
    /// Allocated at the first message cut while `on`. Boxed: 8 bytes in
    /// every connection instead of 32 (bench `memory`, inline sizes), for
    /// a box made once per burst.
    block: Option<Box<BytesMut>>,
    /// Whether messages are cut from a block now; while the peer is quiet
    /// each is allocated alone rather than a whole block for one.
    on: bool,
}

impl Small {
    /// `src` as a message cut from the block, or `None` if it goes alone.
    /// The block is empty before the copy (each cut takes all of it), so
    /// the message is exactly `src`.
    #[inline(always)]
    pub(crate) fn cut(&mut self, src: &[u8]) -> Option<Bytes> {
        if !self.on || src.len() > MAX {
            return None;
        }
        let block = match self.block.as_deref_mut() {
            Some(block) if block.capacity() >= src.len() => block,
            _ => self.refill(),
        };
        block.extend_from_slice(src);
        Some(block.split().freeze())
    }

    /// Takes the block back if no message cut from it is alive, or starts
    /// a new one.
    #[cold]
    #[inline(never)]
    fn refill(&mut self) -> &mut BytesMut {
        let block = self.block.get_or_insert_with(Box::default);
        block.reserve(BLOCK);
        block
    }

    /// A read brought `n` bytes: at least a block's worth means the peer
    /// streams, and small messages are cut from blocks. A smaller read
    /// holds a few messages at most, and a block for them would cost more
    /// than it saves.
    #[inline]
    pub(crate) fn read(&mut self, n: usize) {
        if n >= BLOCK {
            self.on = true;
        }
    }

    /// The peer went quiet: give the block back (messages cut from it keep
    /// it until they are dropped) and allocate messages alone.
    #[inline]
    pub(crate) fn stop(&mut self) {
        self.on = false;
        self.block = None;
    }

    /// Whether messages are cut from blocks now (the peer streams).
    #[inline(always)]
    pub(crate) fn is_on(&self) -> bool {
        self.on
    }

    #[cfg(test)]
    pub(crate) fn holds_block(&self) -> bool {
        self.block.is_some()
    }

    #[cfg(test)]
    fn block_ptr(&self) -> *const u8 {
        self.block.as_ref().map_or(core::ptr::null(), |block| block.as_ptr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn messages_go_alone_until_started_and_after_stopped() {
        let mut small = Small::default();
        assert_eq!(small.cut(b"abc"), None);
        small.read(BLOCK - 1);
        assert_eq!(small.cut(b"abc"), None, "a short read is no stream");
        assert!(!small.holds_block());
        small.read(BLOCK);
        assert_eq!(small.cut(b"abc").as_deref(), Some(&b"abc"[..]));
        small.stop();
        assert_eq!(small.cut(b"abc"), None);
        assert!(small.block.is_none(), "the block is given back");
    }

    #[test]
    fn only_messages_up_to_max_are_cut() {
        let mut small = Small::default();
        small.read(BLOCK);
        assert!(small.cut(&[7; MAX]).is_some());
        assert_eq!(small.cut(&[7; MAX + 1]), None);
        assert!(small.cut(&[]).is_some_and(|b| b.is_empty()));
    }

    // Each message keeps its own bytes, across block boundaries, whatever
    // the later messages write.
    #[test]
    fn messages_cut_from_blocks_keep_their_bytes() {
        let mut small = Small::default();
        small.read(BLOCK);
        let mut kept = Vec::new();
        for i in 0..3 * BLOCK / 100 {
            let len = (i * 37) % (MAX + 1);
            let src: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            kept.push((src.clone(), small.cut(&src).unwrap()));
        }
        for (src, cut) in &kept {
            assert_eq!(&src[..], &cut[..]);
        }
    }

    // Once every message cut from a block is dropped, the block is used
    // again; one kept message makes the next fill take a new block. The
    // addresses alone cannot tell reuse from a new block that malloc put
    // at the same place: `tests/allocations.rs` counts the allocations.
    #[test]
    fn a_block_is_reused_once_its_messages_are_dropped() {
        let mut small = Small::default();
        small.read(BLOCK);
        drop(small.cut(&[1; 16]));
        let start = small.block_ptr().wrapping_sub(16);
        for _ in 0..10 * BLOCK / 16 {
            drop(small.cut(&[2; 16]).unwrap());
        }
        // Filled and taken back ten times: the block starts where the
        // first one did.
        let at = small.block_ptr() as usize - start as usize;
        assert!(at < BLOCK, "a new block was allocated ({at} bytes on)");
        // One message kept: the next fill allocates a new block and
        // leaves the kept one its bytes.
        let kept = small.cut(&[3; 16]).unwrap();
        for _ in 0..BLOCK / 16 {
            drop(small.cut(&[4; 16]).unwrap());
        }
        assert_eq!(&kept[..], &[3; 16]);
        let distance = (small.block_ptr() as usize).wrapping_sub(start as usize);
        assert!(distance >= BLOCK, "the kept message's block was reused");
    }
}
