//! Payload copies that stay clear of a slow `memcpy` case.
//!
//! A payload usually moves between buffers behind headers of different
//! lengths (2 to 14 bytes), so its destination is often a few bytes ahead
//! of its source modulo the 4 KiB page. There glibc's `memcpy` takes its
//! `rep movsb` path for large blocks, which on this project's AMD EPYC (fast
//! short `rep movsb`, glibc 2.36) runs about twenty times slower: 16 KiB took
//! 5–7 µs at distances of 1, 4 and 8 bytes (and 4096 + 4) against 0.2–0.3 µs
//! at 0, 16, 32, 60–65 and beyond (a C loop over those distances). The window
//! is taken as 1–63 bytes. Copies of at most 2 KiB never take that path
//! (glibc's lowest `rep movsb` threshold), so a large copy in that position is
//! done in 2 KiB pieces, which cost about what one call costs elsewhere
//! (0.33 µs for 16 KiB at distances 0, 4, 8 and 64).

#[cfg(feature = "std")]
use alloc::string::String;
use alloc::vec::Vec;

/// Copies up to this many bytes at once when the slow case threatens.
const PIECE: usize = 2 << 10;

/// Whether copying `len` bytes from `src` to `dst` could take the slow path:
/// a large block whose destination lies just ahead of its source modulo a
/// page.
#[inline]
fn near_ahead(dst: *const u8, src: *const u8, len: usize) -> bool {
    len > PIECE && matches!((dst as usize).wrapping_sub(src as usize) % 4096, 1..64)
}

/// `dst.copy_from_slice(src)` (same lengths), avoiding the slow case.
#[inline]
pub(crate) fn copy(dst: &mut [u8], src: &[u8]) {
    if near_ahead(dst.as_ptr(), src.as_ptr(), src.len()) {
        for (d, s) in dst.chunks_mut(PIECE).zip(src.chunks(PIECE)) {
            d.copy_from_slice(s);
        }
    } else {
        dst.copy_from_slice(src);
    }
}

/// `dst.extend_from_slice(src)`, avoiding the slow case.
// Small copies stay a plain inlined `extend_from_slice`, as in `to_vec`.
#[inline(always)]
pub(crate) fn extend(dst: &mut Vec<u8>, src: &[u8]) {
    if src.len() <= PIECE {
        dst.extend_from_slice(src);
    } else {
        large_extend(dst, src);
    }
}

#[cold]
#[inline(never)]
fn large_extend(dst: &mut Vec<u8>, src: &[u8]) {
    dst.reserve(src.len());
    let end = dst.as_ptr().wrapping_add(dst.len());
    if near_ahead(end, src.as_ptr(), src.len()) {
        for piece in src.chunks(PIECE) {
            dst.extend_from_slice(piece);
        }
    } else {
        dst.extend_from_slice(src);
    }
}

/// `src.to_vec()`, avoiding the slow case.
// Inlined, with the large path out of line: within a few instructions of a
// bare `to_vec` on the drivers' small receive, which the other
// arrangements tried were not (benches/compare callgrind, recv_binary_16_b).
// Owned messages: the drivers', and `Connection::take_message`'s.
#[inline(always)]
pub(crate) fn to_vec(src: &[u8]) -> Vec<u8> {
    if src.len() <= PIECE {
        src.to_vec()
    } else {
        large_to_vec(src)
    }
}

/// `Bytes::copy_from_slice(src)`, avoiding the slow case. Through a boxed
/// slice, which `Bytes` takes over in a few instructions; its
/// `From<Vec<u8>>` is a call that checks more (benches/compare callgrind,
/// recv_binary_16_b).
#[inline(always)]
pub(crate) fn to_bytes(src: &[u8]) -> bytes::Bytes {
    bytes::Bytes::from(to_vec(src).into_boxed_slice())
}

/// [`to_bytes`] for text.
#[cfg(feature = "std")] // Only the drivers make owned messages.
#[inline(always)]
pub(crate) fn to_utf8_bytes(src: &str) -> crate::payload::Utf8Bytes {
    crate::payload::Utf8Bytes::from(to_string(src).into_boxed_str())
}

#[cold]
#[inline(never)]
fn large_to_vec(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    if near_ahead(out.as_ptr(), src.as_ptr(), src.len()) {
        for piece in src.chunks(PIECE) {
            out.extend_from_slice(piece);
        }
    } else {
        out.extend_from_slice(src);
    }
    out
}

/// `String::from(src)`, avoiding the slow case.
// Out of line: inlined beside `to_vec`, it pushed the drivers' message
// closure past LLVM's inlining threshold (benches/compare callgrind,
// recv_text_16_b).
#[cfg(feature = "std")] // Only the drivers make owned messages.
#[inline(never)]
pub(crate) fn to_string(src: &str) -> String {
    if src.len() <= PIECE {
        String::from(src)
    } else {
        large_to_string(src)
    }
}

#[cfg(feature = "std")] // Only the drivers make owned messages.
#[cold]
#[inline(never)]
fn large_to_string(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    if near_ahead(out.as_ptr(), src.as_ptr(), src.len()) {
        push_in_pieces(&mut out, src);
    } else {
        out.push_str(src);
    }
    out
}

#[cfg(feature = "std")] // Only the drivers make owned messages.
/// Appends `text` at most [`PIECE`] bytes at a time, each piece ending on a
/// character boundary.
fn push_in_pieces(out: &mut String, mut text: &str) {
    while text.len() > PIECE {
        // A boundary lies within the 4 bytes at or below PIECE.
        let mut cut = PIECE;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&text[..cut]);
        text = &text[cut..];
    }
    out.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
    }

    // Every distance around the slow window and lengths around the piece
    // size land byte-exact, and nothing outside the destination changes.
    #[test]
    fn copies_are_exact_at_every_distance_and_length() {
        let src_buf = pattern(3 * 4096);
        for len in [0, 1, PIECE - 1, PIECE, PIECE + 1, 2 * PIECE + 7, 5000] {
            for dist in (0..80).chain(4090..4100) {
                let src = &src_buf[..len];
                let mut dst_buf = vec![0xeeu8; 2 * 4096 + len + 128];
                let at = ((src.as_ptr() as usize + dist).wrapping_sub(dst_buf.as_ptr() as usize)) % 4096;
                copy(&mut dst_buf[at..at + len], src);
                assert_eq!(&dst_buf[at..at + len], src, "len {len} dist {dist}");
                assert!(dst_buf[..at].iter().chain(&dst_buf[at + len..]).all(|&b| b == 0xee));
            }
        }
    }

    #[test]
    fn extends_are_exact_at_every_distance_and_length() {
        let src_buf = pattern(3 * 4096);
        for len in [0, 1, PIECE - 1, PIECE, PIECE + 1, 2 * PIECE + 7, 5000] {
            for dist in 0..80 {
                let src = &src_buf[..len];
                let mut dst = Vec::with_capacity(2 * 4096 + len + 128);
                let at = ((src.as_ptr() as usize + dist).wrapping_sub(dst.as_ptr() as usize)) % 4096;
                dst.resize(at, 7);
                extend(&mut dst, src);
                assert_eq!(dst.len(), at + len);
                assert_eq!(&dst[at..], src, "len {len} dist {dist}");
                assert!(dst[..at].iter().all(|&b| b == 7));
            }
        }
    }

    // A fresh allocation lands wherever the allocator puts it: sizes
    // around and well past the piece size, text cut on boundaries.
    #[test]
    fn owned_copies_are_exact() {
        let text: String = "a€𝄞é".repeat(3000);
        let bytes = pattern(3 * 4096);
        for len in (PIECE - 8..PIECE + 8).chain((PIECE..3 * 4096).step_by(97)) {
            assert_eq!(to_vec(&bytes[..len]), &bytes[..len]);
            let mut end = len.min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            assert_eq!(to_string(&text[..end]), &text[..end]);
        }
    }

    // Every position of the cut relative to 1- to 4-byte characters.
    #[test]
    fn text_pieces_end_on_character_boundaries() {
        for prefix in 0..4 {
            let text = "x".repeat(prefix) + &"𝄞€é".repeat(2000);
            let mut out = String::from("<");
            push_in_pieces(&mut out, &text);
            assert_eq!(out[1..], text);
        }
    }

    #[test]
    fn the_slow_window_is_where_the_destination_is_just_ahead() {
        let base = 0x10_0000usize as *const u8;
        let at = |d: usize| base.wrapping_add(d);
        assert!(near_ahead(at(4), base, PIECE + 1));
        assert!(near_ahead(at(4096 + 63), base, 16 << 10));
        assert!(!near_ahead(at(4), base, PIECE), "small copies never take it");
        assert!(!near_ahead(at(64), base, 16 << 10));
        assert!(!near_ahead(base, at(4), 16 << 10), "destination behind");
        assert!(!near_ahead(base, base, 16 << 10), "same offset");
    }
}
