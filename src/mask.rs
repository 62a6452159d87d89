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

/// Payloads shorter than this are masked inline at the call site, so a
/// short message pays no call and no CPU feature check: straight-line code
/// below [`SHORT`] bytes, the word loop (which the compiler vectorises for
/// the baseline) from there. Longer ones go out of line to the widest vector
/// unit the CPU has; below about 256 bytes the call and the AVX2 setup cost
/// more than AVX2 gains (benches/kernels.rs, `apply_mask_short`).
const LONG: usize = 256;

/// Below this, [`apply_mask`] needs no loop at all: the vectorised word
/// loop's setup cost a 16-byte message more than its loop saved (callgrind,
/// benches/compare).
const SHORT: usize = 32;

/// XORs `buf` with `key`, starting at byte `offset` of the key stream.
///
/// `offset` is how many payload bytes precede `buf` in the frame, so
/// unmasking a payload in several pieces gives the same bytes as unmasking
/// it whole.
// Always inlined: the compiler otherwise outlines it once the receive path
// has a second caller (benches/compare callgrind, recv_binary_16_b). Only
// the short path is inlined.
#[inline(always)]
pub(crate) fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    if buf.len() < SHORT {
        words::apply_mask_short(buf, key, offset);
    } else if buf.len() < LONG {
        words::apply_mask(buf, key, offset);
    } else {
        apply_mask_long(buf, key, offset);
    }
}

/// [`apply_mask`] from [`LONG`] bytes on: AVX2 where the CPU has it (a
/// run-time check with `std`), else the word loop, which the compiler
/// vectorises for the build's target features (SSE2 on x86-64 by default,
/// AVX2 if the build enables it; NEON on aarch64).
#[inline(never)]
#[cfg_attr(all(target_arch = "x86_64", feature = "std"), allow(unsafe_code))]
fn apply_mask_long(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // The vector loop starts on a cache line: a payload behind a 2- to
    // 14-byte header otherwise makes every 32-byte store straddle two
    // lines (benches/compare callgrind runner timed on recv_binary_64_kib;
    // the figures are in the README's Performance section).
    let head = buf.as_ptr().align_offset(64).min(buf.len());
    let (first, buf) = buf.split_at_mut(head);
    words::apply_mask(first, key, offset);
    let offset = offset + head;
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if std::is_x86_feature_detected!("avx2") {
        // `avx2::apply_mask` only needs the CPU to support AVX2.
        // SAFETY: AVX2 support was detected just above.
        unsafe { avx2::apply_mask(buf, key, offset) };
        return;
    }
    words::apply_mask(buf, key, offset);
}

/// Writes `src` XORed with `key` into `dst` (of the same length), starting
/// at byte `offset` of the key stream: unmasking and copying in one pass,
/// for payload that moves from the read buffer onto a message.
///
/// From [`LONG`] bytes on it takes AVX2 where the CPU has it, as
/// [`apply_mask`] does: the baseline loop moves 16 bytes per iteration,
/// which made reassembling a fragmented 1 MiB message cost 0.29
/// instructions per byte (benches/compare callgrind,
/// recv_binary_1_mib_in_64_kib_frames).
#[inline]
pub(crate) fn mask_copy(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    if dst.len() < LONG {
        words::mask_copy(dst, src, key, offset);
    } else {
        mask_copy_long(dst, src, key, offset);
    }
}

/// [`mask_copy`] from [`LONG`] bytes on.
#[inline(never)]
#[cfg_attr(all(target_arch = "x86_64", feature = "std"), allow(unsafe_code))]
fn mask_copy_long(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 support was detected just above, the only
        // requirement of `avx2::mask_copy`.
        unsafe { avx2::mask_copy(dst, src, key, offset) };
        return;
    }
    words::mask_copy(dst, src, key, offset);
}

/// The portable kernels: a u64 word at a time, which the compiler turns
/// into vector loads and stores for whatever target features it compiles
/// them with.
mod words {
    #[inline(always)]
    pub(super) fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
        xor_stream(buf, wide_key(key, offset));
    }

    /// XORs `buf` with the key stream `wide` (see [`wide_key`]).
    #[inline(always)]
    pub(super) fn xor_stream(buf: &mut [u8], wide: u64) {
        let mut words = buf.chunks_exact_mut(8);
        for word in &mut words {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
        }
        // The tail (under 8 bytes, unrolled by the compiler) starts at a
        // multiple of 8, where the key phase is the first byte of `wide`.
        for (b, k) in words.into_remainder().iter_mut().zip(wide.to_ne_bytes()) {
            *b ^= k;
        }
    }

    /// [`apply_mask`] for fewer than 32 bytes, without a loop (which the
    /// compiler would vectorise, paying a setup that short payloads never
    /// recoup): 16, 8, 4, 2 and 1 bytes as the length asks.
    #[inline(always)]
    pub(super) fn apply_mask_short(buf: &mut [u8], key: [u8; 4], offset: usize) {
        debug_assert!(buf.len() < 32);
        let wide = wide_key(key, offset);
        let mut rest = buf;
        if rest.len() >= 16 {
            let (sixteen, tail) = core::mem::take(&mut rest).split_at_mut(16);
            let (a, b) = sixteen.split_at_mut(8);
            xor_word(a, wide);
            xor_word(b, wide);
            rest = tail;
        }
        if rest.len() >= 8 {
            let (eight, tail) = core::mem::take(&mut rest).split_at_mut(8);
            xor_word(eight, wide);
            rest = tail;
        }
        // Every piece so far is a multiple of 4 long, so the key stream
        // restarts at its first byte; only the odd byte after a pair does
        // not. `wide` holds the 4-byte stream twice, so its low half is
        // the stream for 4 bytes in either byte order.
        if rest.len() >= 4 {
            let (four, tail) = core::mem::take(&mut rest).split_at_mut(4);
            let mut bytes = [0u8; 4];
            bytes.copy_from_slice(four);
            four.copy_from_slice(&(u32::from_ne_bytes(bytes) ^ wide as u32).to_ne_bytes());
            rest = tail;
        }
        // Byte `i` of the stream, i.e. of `wide.to_ne_bytes()`, without a
        // trip through memory.
        let byte = |i: u32| {
            if cfg!(target_endian = "little") {
                (wide >> (8 * i)) as u8
            } else {
                (wide >> (56 - 8 * i)) as u8
            }
        };
        let mut odd_key = byte(0);
        if rest.len() >= 2 {
            let (two, tail) = core::mem::take(&mut rest).split_at_mut(2);
            let pair = u16::from_ne_bytes([byte(0), byte(1)]);
            let x = u16::from_ne_bytes([two[0], two[1]]) ^ pair;
            two.copy_from_slice(&x.to_ne_bytes());
            odd_key = byte(2);
            rest = tail;
        }
        if let [b] = rest {
            *b ^= odd_key;
        }
    }

    #[inline(always)]
    fn xor_word(word: &mut [u8], wide: u64) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
    }

    #[inline(always)]
    pub(super) fn mask_copy(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
        xor_copy_stream(dst, src, wide_key(key, offset));
    }

    /// Writes `src` XORed with the key stream `wide` into `dst`.
    #[inline(always)]
    pub(super) fn xor_copy_stream(dst: &mut [u8], src: &[u8], wide: u64) {
        debug_assert_eq!(dst.len(), src.len());
        let mut dst_words = dst.chunks_exact_mut(8);
        let mut src_words = src.chunks_exact(8);
        for (d, s) in (&mut dst_words).zip(&mut src_words) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(s);
            d.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
        }
        // Both tails start at the same multiple of 8, where the key phase
        // is the first byte of `wide`.
        let tail = dst_words.into_remainder().iter_mut().zip(src_words.remainder());
        for ((d, s), k) in tail.zip(wide.to_ne_bytes()) {
            *d = s ^ k;
        }
    }

    /// The key stream from byte `offset` on, as one word: `to_ne_bytes` of
    /// it is the stream for 8 bytes in either byte order.
    #[inline(always)]
    pub(super) fn wide_key(key: [u8; 4], offset: usize) -> u64 {
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
}

/// The word loop compiled for AVX2: the compiler vectorises the same safe
/// loop into four 32-byte registers per iteration (128 bytes), as
/// hand-written intrinsics would, so no pointer code is needed. Explicit
/// `_mm256` loads and stores (4 × 32 bytes) showed no consistent gain over
/// it, nor did SSE2 intrinsics (4 × 16 bytes) over the baseline word loop
/// (slower at 1 KiB, within noise above), so neither is here.
///
/// The function is `unsafe` only because `#[target_feature]` on a safe
/// function needs Rust 1.86 and the crate supports 1.85.
#[cfg(all(target_arch = "x86_64", any(feature = "std", test)))]
#[allow(unsafe_code)]
mod avx2 {
    /// Bytes per iteration: the compiler unrolls the word loop over a
    /// fixed-length block into eight 32-byte XORs where the open loop got
    /// four, and the key stream is computed once: the core's 64 KiB
    /// message went from 13.3 to 11.9 thousand instructions
    /// (benches/compare callgrind, recv_binary_64_kib).
    const BLOCK: usize = 256;

    /// [`super::words::apply_mask`] with AVX2.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
        // Blocks are a multiple of 8 long: each starts at the stream's
        // first byte.
        let wide = super::words::wide_key(key, offset);
        let mut blocks = buf.chunks_exact_mut(BLOCK);
        for block in &mut blocks {
            super::words::xor_stream(block, wide);
        }
        super::words::xor_stream(blocks.into_remainder(), wide);
    }

    /// [`super::words::mask_copy`] with AVX2.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn mask_copy(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
        let wide = super::words::wide_key(key, offset);
        let mut dst_blocks = dst.chunks_exact_mut(BLOCK);
        let mut src_blocks = src.chunks_exact(BLOCK);
        for (d, s) in (&mut dst_blocks).zip(&mut src_blocks) {
            super::words::xor_copy_stream(d, s, wide);
        }
        super::words::xor_copy_stream(dst_blocks.into_remainder(), src_blocks.remainder(), wide);
    }
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

    type Mask = fn(&mut [u8], [u8; 4], usize);
    type Copy = fn(&mut [u8], &[u8], [u8; 4], usize);

    /// Every implementation this CPU can run, each called directly, so a
    /// wrong vector path cannot hide behind the dispatch.
    fn mask_impls() -> Vec<(&'static str, Mask)> {
        let mut impls: Vec<(&'static str, Mask)> = alloc::vec![
            ("dispatch", apply_mask),
            ("long", apply_mask_long),
            ("words", words::apply_mask),
            ("short", |buf, key, offset| {
                if buf.len() < 32 {
                    words::apply_mask_short(buf, key, offset);
                } else {
                    words::apply_mask(buf, key, offset);
                }
            }),
        ];
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            #[allow(unsafe_code)]
            fn avx2(buf: &mut [u8], key: [u8; 4], offset: usize) {
                // SAFETY: only listed when the CPU supports AVX2.
                unsafe { avx2::apply_mask(buf, key, offset) }
            }
            impls.push(("avx2", avx2));
        }
        impls
    }

    fn copy_impls() -> Vec<(&'static str, Copy)> {
        let mut impls: Vec<(&'static str, Copy)> = alloc::vec![
            ("dispatch", mask_copy),
            ("long", mask_copy_long),
            ("words", words::mask_copy)
        ];
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            #[allow(unsafe_code)]
            fn avx2(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
                // SAFETY: only listed when the CPU supports AVX2.
                unsafe { avx2::mask_copy(dst, src, key, offset) }
            }
            impls.push(("avx2", avx2));
        }
        impls
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_is_tested_when_the_cpu_has_it() {
        let names: Vec<_> = mask_impls().iter().map(|(name, _)| *name).collect();
        assert_eq!(names.contains(&"avx2"), std::is_x86_feature_detected!("avx2"));
        let names: Vec<_> = copy_impls().iter().map(|(name, _)| *name).collect();
        assert_eq!(names.contains(&"avx2"), std::is_x86_feature_detected!("avx2"));
    }

    /// Lengths 0..=300 cover every vector width, the [`LONG`] threshold and
    /// every remainder after the 128-byte AVX2 loop (32-byte registers,
    /// then words, then bytes); 1024 and 1031 several rounds of it.
    fn lengths() -> impl Iterator<Item = usize> {
        (0..=300).chain([1024, 1031])
    }

    const KEY: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];
    const MARGIN: usize = 64;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn apply_mask_matches_naive_for_every_length_alignment_and_offset() {
        let source = pattern(MARGIN + 1031 + MARGIN);
        for (name, f) in mask_impls() {
            for len in lengths() {
                for start in 0..MARGIN {
                    for offset in 0..4 {
                        let mut fast = source[..start + len + MARGIN].to_vec();
                        let mut slow = fast.clone();
                        f(&mut fast[start..start + len], KEY, offset);
                        naive(&mut slow[start..start + len], KEY, offset);
                        // The whole buffer: bytes either side untouched.
                        assert!(fast == slow, "{name}: start {start} len {len} offset {offset}");
                    }
                }
            }
        }
    }

    #[test]
    fn mask_copy_matches_naive_for_every_length_alignment_and_offset() {
        let source = pattern(MARGIN + 1031);
        for (name, f) in copy_impls() {
            for len in lengths() {
                for src_start in 0..MARGIN {
                    // Every source alignment against a few destination
                    // alignments, and every destination alignment once.
                    for dst_start in [0, 1, 31, src_start, MARGIN - 1 - src_start] {
                        for offset in 0..4 {
                            let src = &source[src_start..src_start + len];
                            let mut expected = src.to_vec();
                            naive(&mut expected, KEY, offset);
                            let mut dst = alloc::vec![0xaa; MARGIN + len + MARGIN];
                            f(&mut dst[dst_start..dst_start + len], src, KEY, offset);
                            let what =
                                || alloc::format!("{name}: src {src_start} dst {dst_start} len {len} offset {offset}");
                            assert!(dst[dst_start..dst_start + len] == expected[..], "{}", what());
                            let outside = dst[..dst_start].iter().chain(&dst[dst_start + len..]);
                            assert!(outside.into_iter().all(|&b| b == 0xaa), "{}", what());
                        }
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
