//! Payload masking (RFC 6455 §5.3).
//!
//! Masking is an XOR with a 4-byte key repeated over the payload, so the same
//! function masks and unmasks. The key phase carries across calls through
//! `offset`, which lets a payload be unmasked piecewise as its bytes arrive.

/// Where masking keys come from (RFC 6455 §5.3, §10.3).
///
/// A client masks every frame with a fresh key that the peer's network
/// path must not be able to predict, so a source must be cryptographically
/// strong: "derived from a strong source of entropy". The handshake's
/// `Sec-WebSocket-Key` nonce comes from the same source.
///
/// With the `std` feature, [`ThreadRngSource`] is the default.
pub trait MaskSource: Send {
    /// Fills `dest` with unpredictable bytes.
    fn fill(&mut self, dest: &mut [u8]);

    /// A fresh masking key.
    fn mask_key(&mut self) -> [u8; 4] {
        let mut key = [0; 4];
        self.fill(&mut key);
        key
    }
}

/// The default [`MaskSource`]: `rand`'s thread-local CSPRNG (ChaCha12, seeded
/// from the operating system). Zero-sized, so it costs a connection nothing.
#[cfg(feature = "std")]
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadRngSource;

#[cfg(feature = "std")]
impl MaskSource for ThreadRngSource {
    fn fill(&mut self, dest: &mut [u8]) {
        rand::RngCore::fill_bytes(&mut rand::rng(), dest);
    }

    fn mask_key(&mut self) -> [u8; 4] {
        rand::RngCore::next_u32(&mut rand::rng()).to_ne_bytes()
    }
}

/// XORs `buf` with `key`, starting at byte `offset` of the key stream.
///
/// `offset` is how many payload bytes precede `buf` in the frame, so
/// unmasking a payload in several pieces gives the same bytes as unmasking
/// it whole.
// Always inlined: the compiler otherwise outlines it once the receive path
// has a second caller, which cost a 16-byte message about 20 instructions
// (callgrind, benches/compare).
#[inline(always)]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let phase = offset % 4;
    let rotated = [
        key[phase],
        key[(phase + 1) % 4],
        key[(phase + 2) % 4],
        key[(phase + 3) % 4],
    ];
    // The key twice over, as one word: `to_ne_bytes` of it is the key
    // stream for 8 bytes in either byte order.
    let half = u64::from(u32::from_ne_bytes(rotated));
    let wide = half | half << 32;
    let mut words = buf.chunks_exact_mut(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
    }
    // The tail starts at a multiple of 8, so the key phase is `rotated[0]`.
    for (b, k) in words.into_remainder().iter_mut().zip(rotated.iter().cycle()) {
        *b ^= k;
    }
}

/// Writes `src` XORed with `key` into `dst` (of the same length), starting
/// at byte `offset` of the key stream: unmasking and copying in one pass,
/// for payload that moves from the read buffer onto a message.
#[inline]
pub(crate) fn mask_copy(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    debug_assert_eq!(dst.len(), src.len());
    let wide = wide_key(key, offset);
    let mut dst_words = dst.chunks_exact_mut(8);
    let mut src_words = src.chunks_exact(8);
    for (d, s) in (&mut dst_words).zip(&mut src_words) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(s);
        d.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
    }
    // Both tails start at the same multiple of 8, where the key phase is
    // the first byte of `wide`.
    let tail = dst_words.into_remainder().iter_mut().zip(src_words.remainder());
    for ((d, s), k) in tail.zip(wide.to_ne_bytes()) {
        *d = s ^ k;
    }
}

/// The key stream from byte `offset` on, as one word: `to_ne_bytes` of it
/// is the stream for 8 bytes in either byte order.
#[inline]
fn wide_key(key: [u8; 4], offset: usize) -> u64 {
    let phase = offset % 4;
    let rotated = [
        key[phase],
        key[(phase + 1) % 4],
        key[(phase + 2) % 4],
        key[(phase + 3) % 4],
    ];
    let half = u64::from(u32::from_ne_bytes(rotated));
    half | half << 32
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
    #[test]
    fn rfc_example() {
        let mut payload = *b"Hello";
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn matches_naive_for_every_length_offset_and_alignment() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let source: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for start in 0..8 {
            for len in 0..=130 {
                for offset in 0..4 {
                    let mut fast = source.clone();
                    let mut slow = source.clone();
                    apply_mask(&mut fast[start..start + len], key, offset);
                    naive(&mut slow[start..start + len], key, offset);
                    assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn mask_copy_matches_naive_for_every_length_offset_and_alignment() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let source: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for src_start in 0..8 {
            for dst_start in [0, 1, 5] {
                for len in 0..=70 {
                    for offset in 0..4 {
                        let src = &source[src_start..src_start + len];
                        let mut expected = src.to_vec();
                        naive(&mut expected, key, offset);
                        let mut dst = alloc::vec![0xaa; dst_start + len + 3];
                        mask_copy(&mut dst[dst_start..dst_start + len], src, key, offset);
                        assert_eq!(
                            &dst[dst_start..dst_start + len],
                            &expected[..],
                            "{src_start} {len} {offset}"
                        );
                        assert!(
                            dst[..dst_start]
                                .iter()
                                .chain(&dst[dst_start + len..])
                                .all(|&b| b == 0xaa)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn piecewise_equals_whole() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..100u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        for cut in 0..=data.len() {
            let mut pieces = data.clone();
            let (a, b) = pieces.split_at_mut(cut);
            apply_mask(a, key, 0);
            apply_mask(b, key, cut);
            assert_eq!(pieces, whole, "cut at {cut}");
        }
    }
}
