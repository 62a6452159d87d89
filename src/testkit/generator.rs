//! The one deterministic generator: masks, payloads and random choices
//! repeat exactly on every run.

use crate::mask::MaskSource;
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

/// xorshift64*. Not a CSPRNG, which is the point: tests, benches and fuzz
/// targets get the same bytes on every run, and a failure names the seed
/// that reproduces it.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (0, a fixed point, becomes 1).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A byte (the output's high bits, the best mixed).
    pub fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }

    /// Uniform enough in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// In `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    /// `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0; n];
        self.fill(&mut out);
        out
    }
}

impl MaskSource for XorShift {
    fn fill(&mut self, dest: &mut [u8]) {
        for byte in dest {
            *byte = self.byte();
        }
    }
}

/// The seed the kit's peers mask with, so a client's handshake key is
/// fixed (fuzz seeds carry the matching `Sec-WebSocket-Accept`).
pub const SEED: u64 = 0x5eed_6455;

/// A boxed [`XorShift`] mask source.
pub fn masks(seed: u64) -> Box<dyn MaskSource> {
    Box::new(XorShift::new(seed))
}

/// `len` bytes from a generator seeded with `seed`: payloads that do not
/// compress.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    XorShift::new(seed).bytes(len)
}

/// Deterministic filler bytes (a short period: they compress).
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}
