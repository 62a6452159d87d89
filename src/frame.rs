//! Frame headers (RFC 6455 §5.2): decoding with every MUST checked, and
//! encoding in the minimal form.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! ```

use crate::error::{Error, ProtocolError};

/// A frame's opcode (RFC 6455 §5.2, §11.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first (or only) frame of a text message.
    Text,
    /// 0x2: the first (or only) frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Decodes the low four bits of a frame's first byte.
    pub fn from_u8(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xa => Self::Pong,
            _ => return None,
        })
    }

    /// The four-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xa,
        }
    }

    /// Close, ping and pong are control frames (§5.5).
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// Largest payload a control frame may carry (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Longest possible header: 2 + 8 (64-bit length) + 4 (mask).
pub const MAX_HEADER_LEN: usize = 14;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub fin: bool,
    /// RSV1–3 as the top three bits of a nibble: RSV1 = 0b100.
    pub rsv: u8,
    pub opcode: OpCode,
    pub mask: Option<[u8; 4]>,
    pub len: u64,
}

/// What the receiver requires of every frame header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderRules {
    /// Servers require masked frames, clients unmasked ones (§5.1).
    pub expect_masked: bool,
    /// RSV bits that a negotiated extension gives meaning to (§5.2).
    pub allowed_rsv: u8,
}

/// Why a header breaks RFC 6455 §5.2; small and `Copy` so that the hot
/// decode path returns a compact result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameError {
    ReservedBits(u8),
    ReservedOpcode(u8),
    FragmentedControlFrame,
    MaskedFrame,
    UnmaskedFrame,
    NonMinimalLength,
    LengthOverflow,
    ControlFrameTooLong(u64),
}

impl From<FrameError> for Error {
    #[cold]
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::ReservedBits(bits) => Error::Protocol(ProtocolError::ReservedBits(bits)),
            FrameError::ReservedOpcode(op) => Error::Protocol(ProtocolError::ReservedOpcode(op)),
            FrameError::FragmentedControlFrame => Error::Protocol(ProtocolError::FragmentedControlFrame),
            FrameError::MaskedFrame => Error::Protocol(ProtocolError::MaskedFrame),
            FrameError::UnmaskedFrame => Error::Protocol(ProtocolError::UnmaskedFrame),
            FrameError::NonMinimalLength => Error::Protocol(ProtocolError::NonMinimalLength),
            FrameError::LengthOverflow => Error::Protocol(ProtocolError::LengthOverflow),
            FrameError::ControlFrameTooLong(len) => Error::Protocol(ProtocolError::ControlFrameTooLong(len)),
        }
    }
}

/// Decodes a header from the start of `buf`.
///
/// Returns `Ok(None)` while the header is incomplete; every rule that the
/// bytes present so far can break is checked already, so a bad frame fails
/// on its first byte rather than after its length arrives.
#[inline]
pub(crate) fn decode(buf: &[u8], rules: HeaderRules) -> Result<Option<(FrameHeader, usize)>, FrameError> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    let fin = b0 & 0x80 != 0;
    let rsv = (b0 >> 4) & 0x7;
    if rsv & !rules.allowed_rsv != 0 {
        return Err(FrameError::ReservedBits(rsv));
    }
    let opcode = OpCode::from_u8(b0 & 0x0f).ok_or(FrameError::ReservedOpcode(b0 & 0x0f))?;
    if opcode.is_control() && !fin {
        return Err(FrameError::FragmentedControlFrame);
    }
    let Some(&b1) = buf.get(1) else {
        return Ok(None);
    };
    let masked = b1 & 0x80 != 0;
    if masked != rules.expect_masked {
        return Err(if masked {
            FrameError::MaskedFrame
        } else {
            FrameError::UnmaskedFrame
        });
    }
    let short = b1 & 0x7f;
    let (len, mut pos) = match short {
        0..=125 => (u64::from(short), 2),
        126 => {
            let Some(bytes) = buf.get(2..4) else {
                return Ok(None);
            };
            let len = u64::from(u16::from_be_bytes([bytes[0], bytes[1]]));
            if len < 126 {
                return Err(FrameError::NonMinimalLength);
            }
            (len, 4)
        }
        _ => {
            let Some(bytes) = buf.get(2..10) else {
                return Ok(None);
            };
            let mut be = [0u8; 8];
            be.copy_from_slice(bytes);
            let len = u64::from_be_bytes(be);
            if len >> 63 != 0 {
                return Err(FrameError::LengthOverflow);
            }
            if len <= 0xffff {
                return Err(FrameError::NonMinimalLength);
            }
            (len, 10)
        }
    };
    if opcode.is_control() && len > MAX_CONTROL_PAYLOAD as u64 {
        return Err(FrameError::ControlFrameTooLong(len));
    }
    let mask = if masked {
        let Some(bytes) = buf.get(pos..pos + 4) else {
            return Ok(None);
        };
        pos += 4;
        Some([bytes[0], bytes[1], bytes[2], bytes[3]])
    } else {
        None
    };
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        len,
    };
    Ok(Some((header, pos)))
}

/// Encodes a header in the minimal form into `out`, returning its length.
pub(crate) fn encode(header: &FrameHeader, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
    out[0] = u8::from(header.fin) << 7 | header.rsv << 4 | header.opcode.as_u8();
    let mask_bit = if header.mask.is_some() { 0x80 } else { 0 };
    let mut pos = match header.len {
        0..=125 => {
            out[1] = mask_bit | header.len as u8;
            2
        }
        126..=0xffff => {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(header.len as u16).to_be_bytes());
            4
        }
        _ => {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&header.len.to_be_bytes());
            10
        }
    };
    if let Some(key) = header.mask {
        out[pos..pos + 4].copy_from_slice(&key);
        pos += 4;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const SERVER: HeaderRules = HeaderRules {
        expect_masked: true,
        allowed_rsv: 0,
    };
    const CLIENT: HeaderRules = HeaderRules {
        expect_masked: false,
        allowed_rsv: 0,
    };

    fn header(opcode: OpCode, len: u64, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            len,
        }
    }

    fn encoded(h: &FrameHeader) -> Vec<u8> {
        let mut out = [0; MAX_HEADER_LEN];
        let n = encode(h, &mut out);
        out[..n].to_vec()
    }

    // RFC 6455 §5.7 examples.
    #[test]
    fn rfc_examples() {
        let unmasked_hello = [0x81, 0x05];
        let (h, n) = decode(&unmasked_hello, CLIENT).unwrap().unwrap();
        assert_eq!((h.opcode, h.len, h.fin, n), (OpCode::Text, 5, true, 2));

        let masked_hello = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d];
        let (h, n) = decode(&masked_hello, SERVER).unwrap().unwrap();
        assert_eq!((h.mask, n), (Some([0x37, 0xfa, 0x21, 0x3d]), 6));

        let binary_256 = [0x82, 0x7e, 0x01, 0x00];
        assert_eq!(decode(&binary_256, CLIENT).unwrap().unwrap().0.len, 256);

        let binary_64k = [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
        assert_eq!(decode(&binary_64k, CLIENT).unwrap().unwrap().0.len, 65536);
    }

    // RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the
    // length" — our encoder picks the form at exactly the boundaries.
    #[test]
    fn encoder_uses_minimal_length_at_boundaries() {
        for (len, header_len) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (1 << 40, 10)] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let h = header(OpCode::Binary, len, mask);
                let bytes = encoded(&h);
                let extra = if mask.is_some() { 4 } else { 0 };
                assert_eq!(bytes.len(), header_len + extra, "len {len}");
                let rules = HeaderRules {
                    expect_masked: mask.is_some(),
                    allowed_rsv: 0,
                };
                assert_eq!(decode(&bytes, rules).unwrap(), Some((h, bytes.len())));
            }
        }
    }

    // RFC 6455 §5.2: non-minimal lengths are rejected (1002).
    #[test]
    fn rejects_non_minimal_lengths() {
        assert!(matches!(
            decode(&[0x82, 0x7e, 0x00, 0x7d], CLIENT),
            Err(FrameError::NonMinimalLength)
        ));
        let sixteen_bit_in_64 = [0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
        assert!(matches!(
            decode(&sixteen_bit_in_64, CLIENT),
            Err(FrameError::NonMinimalLength)
        ));
    }

    // RFC 6455 §5.2: "the most significant bit MUST be 0".
    #[test]
    fn rejects_64_bit_length_with_high_bit() {
        let bytes = [0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(decode(&bytes, CLIENT), Err(FrameError::LengthOverflow)));
    }

    // RFC 6455 §5.1: servers reject unmasked frames, clients masked ones.
    #[test]
    fn masking_direction_is_enforced_for_both_roles() {
        assert!(matches!(decode(&[0x81, 0x00], SERVER), Err(FrameError::UnmaskedFrame)));
        assert!(matches!(decode(&[0x81, 0x80], CLIENT), Err(FrameError::MaskedFrame)));
    }

    // RFC 6455 §5.2: reserved bits and opcodes fail on the first byte.
    #[test]
    fn reserved_bits_and_opcodes_fail_fast() {
        for rsv in 1..8u8 {
            let b0 = 0x80 | rsv << 4 | 0x1;
            assert!(matches!(decode(&[b0], SERVER), Err(FrameError::ReservedBits(r)) if r == rsv));
        }
        let rules = HeaderRules {
            expect_masked: false,
            allowed_rsv: 0b100,
        };
        assert!(
            decode(&[0xc1, 0x00], rules).unwrap().is_some(),
            "RSV1 allowed when negotiated"
        );
        for op in [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
            assert!(matches!(decode(&[0x80 | op], CLIENT), Err(FrameError::ReservedOpcode(o)) if o == op));
        }
    }

    // RFC 6455 §5.5: control frames are at most 125 bytes and not fragmented.
    #[test]
    fn control_frame_rules() {
        assert!(matches!(
            decode(&[0x09], CLIENT),
            Err(FrameError::FragmentedControlFrame)
        ));
        assert!(matches!(
            decode(&[0x89, 0x7e, 0x00, 0x7e], CLIENT),
            Err(FrameError::ControlFrameTooLong(126))
        ));
        assert!(decode(&[0x89, 0x7d], CLIENT).unwrap().is_some());
    }

    #[test]
    fn incomplete_headers_ask_for_more() {
        let h = header(OpCode::Binary, 70000, Some([9, 9, 9, 9]));
        let bytes = encoded(&h);
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut], SERVER).unwrap(), None, "cut {cut}");
        }
    }
}
