//! Incremental, fail-fast UTF-8 validation (RFC 6455 §5.6, §8.1).
//!
//! Text arrives in pieces: TCP reads cut frames anywhere and a message may be
//! fragmented, so a code point can straddle any boundary. The validator keeps
//! at most three bytes of an unfinished code point between calls and rejects
//! a sequence as soon as its first impossible byte arrives, which is what
//! "fail fast" in §8.1 asks of an endpoint.

/// Streaming UTF-8 validator. Each byte is examined once.
#[derive(Debug, Default, Clone)]
pub(crate) struct Utf8Validator {
    /// The start of a code point whose remaining bytes have not arrived yet.
    partial: [u8; 4],
    partial_len: u8,
}

/// The input cannot be the prefix of any valid UTF-8 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidUtf8;

/// Up to this many bytes, a piece is first checked for plain ASCII; longer
/// ones go straight to simdutf8, which vectorises its own ASCII check.
const SHORT: usize = 64;

/// Total length of the code point that `lead` starts; only called on bytes
/// that the validator reported as the start of an incomplete
/// sequence, which are always valid lead bytes.
pub(crate) fn sequence_len(lead: u8) -> usize {
    match lead {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

impl Utf8Validator {
    /// Validates the next piece of the text.
    #[inline]
    pub(crate) fn feed(&mut self, input: &[u8]) -> Result<(), InvalidUtf8> {
        // Short ASCII pieces (most small text messages) are settled with a
        // few word operations instead of simdutf8's dispatch and its scalar
        // fallback for short input (benches/compare callgrind,
        // recv_text_16_b).
        if self.partial_len == 0 && input.len() <= SHORT && input.is_ascii() {
            return Ok(());
        }
        self.feed_any(input)
    }

    fn feed_any(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            let have = usize::from(self.partial_len);
            let need = sequence_len(self.partial[0]) - have;
            let take = need.min(input.len());
            let mut joined = self.partial;
            joined[have..have + take].copy_from_slice(&input[..take]);
            match simdutf8::compat::from_utf8(&joined[..have + take]) {
                Ok(_) => {}
                Err(e) if e.error_len().is_none() => {
                    // Still unfinished, and `take == input.len()`.
                    self.partial = joined;
                    self.partial_len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
            self.partial_len = 0;
            input = &input[take..];
        }
        // simdutf8 (AVX2/SSE4.2/NEON, picked at run time with `std`) reports
        // errors exactly as `core::str::from_utf8` does.
        match simdutf8::compat::from_utf8(input) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let rest = &input[e.valid_up_to()..];
                self.partial[..rest.len()].copy_from_slice(rest);
                self.partial_len = rest.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Bytes fed so far that begin a code point not yet complete (0 to 3):
    /// the text fed ends at a character boundary this many bytes earlier.
    pub(crate) fn pending(&self) -> usize {
        usize::from(self.partial_len)
    }

    /// Ends the text: an unfinished code point at the end is invalid.
    pub(crate) fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.partial_len == 0;
        self.partial_len = 0;
        if complete { Ok(()) } else { Err(InvalidUtf8) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_in_pieces(bytes: &[u8], cuts: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::default();
        let mut prev = 0;
        for &cut in cuts {
            v.feed(&bytes[prev..cut])?;
            prev = cut;
        }
        v.feed(&bytes[prev..])?;
        v.finish()
    }

    const SAMPLES: &[&[u8]] = &[
        b"",
        b"hello",
        "κόσμε".as_bytes(),
        "a€b𝄞c\u{10ffff}".as_bytes(),
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", // surrogate
        b"\xf4\x90\x80\x80",                                               // > U+10FFFF
        b"\xc0\xaf",                                                       // overlong
        b"\xe0\x80\xaf",                                                   // overlong
        b"\xf8\x88\x80\x80\x80",                                           // 5-byte form
        b"abc\xe2\x82",                                                    // truncated
        b"\xff",
    ];

    // RFC 6455 §8.1: a code point split across any boundary is still valid;
    // the verdict never depends on where the input was cut.
    #[test]
    fn every_split_agrees_with_std() {
        for sample in SAMPLES {
            let expected = core::str::from_utf8(sample).is_ok();
            for a in 0..=sample.len() {
                for b in a..=sample.len() {
                    let got = validate_in_pieces(sample, &[a, b]).is_ok();
                    assert_eq!(got, expected, "{sample:x?} cut at {a},{b}");
                }
            }
        }
    }

    // RFC 6455 §8.1 (fail fast): the first impossible byte is rejected
    // before the rest of the text arrives.
    #[test]
    fn fails_on_first_impossible_byte() {
        let mut v = Utf8Validator::default();
        assert!(v.feed("κόσμε".as_bytes()).is_ok());
        assert!(v.feed(b"\xf4").is_ok(), "F4 may start U+10xxxx");
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8), "F4 90 is past U+10FFFF");

        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(b"ab\xed\xa0"), Err(InvalidUtf8), "surrogate prefix");
    }

    // RFC 6455 §8.1 (fail fast) holds through the short-ASCII shortcut: it
    // must neither skip an open code point nor let a bad byte through, at
    // any length around its threshold.
    #[test]
    fn ascii_after_an_open_code_point_is_invalid() {
        for len in [1, 2, 15, 16, SHORT - 1, SHORT, SHORT + 1, 2 * SHORT] {
            let ascii = alloc::vec![b'a'; len];
            let mut v = Utf8Validator::default();
            assert!(v.feed(b"\xe2\x82").is_ok());
            assert_eq!(v.feed(&ascii), Err(InvalidUtf8), "{len} ASCII bytes after E2 82");
        }
    }

    #[test]
    fn a_bad_byte_anywhere_in_a_short_piece_is_caught() {
        for len in 1..=SHORT + 2 {
            for at in 0..len {
                for bad in [0x80, 0xc0, 0xff] {
                    let mut piece = alloc::vec![b'x'; len];
                    piece[at] = bad;
                    let mut v = Utf8Validator::default();
                    let verdict = v.feed(&piece).and_then(|()| v.finish());
                    assert_eq!(verdict, Err(InvalidUtf8), "{bad:#x} at {at} of {len}");
                }
            }
        }
    }

    #[test]
    fn unfinished_code_point_fails_at_end() {
        let mut v = Utf8Validator::default();
        assert!(v.feed(b"\xf0\x9f\x98").is_ok());
        assert_eq!(v.finish(), Err(InvalidUtf8));
        // finish() resets, so the validator can serve the next message.
        assert!(v.feed(b"ok").is_ok());
        assert!(v.finish().is_ok());
    }
}
