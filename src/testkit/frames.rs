//! Hand-made frames (any opcode, RSV bits, FIN, mask and length form) and
//! an independent decoder written from RFC 6455 §5.2, so tests do not check
//! the crate's framing with the crate's framing.

use super::peer_of;
use crate::connection::Role;
use alloc::vec;
use alloc::vec::Vec;

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xa;

/// Opcodes RFC 6455 §5.2 reserves.
pub const RESERVED_OPCODES: [u8; 10] = [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf];

// ---------------------------------------------------------------- frames

/// How the payload length is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LenForm {
    /// The minimal form, as §5.2 requires.
    Minimal,
    /// Always the 7-bit form (the declared length must be ≤ 127).
    Short,
    /// Always the 16-bit form (126).
    Sixteen,
    /// Always the 64-bit form (127).
    SixtyFour,
}

/// The masking key of RFC 6455 §5.7's examples.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A hand-made frame: any opcode, RSV bits, FIN, mask and length encoding.
#[derive(Debug, Clone)]
pub struct RawFrame {
    pub fin: bool,
    /// RSV1-3 as a 3-bit value (RSV1 = 0b100).
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload: Vec<u8>,
    pub form: LenForm,
    /// A length to declare instead of the payload's.
    pub declared: Option<u64>,
}

/// An unmasked final frame.
pub fn frame(opcode: u8, payload: &[u8]) -> RawFrame {
    RawFrame {
        fin: true,
        rsv: 0,
        opcode,
        mask: None,
        payload: payload.to_vec(),
        form: LenForm::Minimal,
        declared: None,
    }
}

pub fn text(s: &str) -> RawFrame {
    frame(OP_TEXT, s.as_bytes())
}

pub fn text_bytes(b: &[u8]) -> RawFrame {
    frame(OP_TEXT, b)
}

pub fn binary(b: &[u8]) -> RawFrame {
    frame(OP_BINARY, b)
}

pub fn cont(b: &[u8]) -> RawFrame {
    frame(OP_CONT, b)
}

pub fn ping(b: &[u8]) -> RawFrame {
    frame(OP_PING, b)
}

pub fn pong(b: &[u8]) -> RawFrame {
    frame(OP_PONG, b)
}

/// A close frame with `code` and `reason` bytes.
pub fn close_frame(code: u16, reason: &[u8]) -> RawFrame {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    frame(OP_CLOSE, &payload)
}

impl RawFrame {
    #[must_use]
    pub fn fin(mut self, fin: bool) -> Self {
        self.fin = fin;
        self
    }

    #[must_use]
    pub fn rsv(mut self, rsv: u8) -> Self {
        self.rsv = rsv;
        self
    }

    #[must_use]
    pub fn mask(mut self, key: [u8; 4]) -> Self {
        self.mask = Some(key);
        self
    }

    #[must_use]
    pub fn unmasked(mut self) -> Self {
        self.mask = None;
        self
    }

    /// Masked as a client must (when sent to a server), unmasked as a server
    /// must (when sent to a client).
    #[must_use]
    pub fn to(self, receiver: Role) -> Self {
        match receiver {
            Role::Server => self.mask(KEY),
            Role::Client => self.unmasked(),
        }
    }

    /// Masked the wrong way for `receiver`.
    #[must_use]
    pub fn wrongly_to(self, receiver: Role) -> Self {
        self.to(peer_of(receiver))
    }

    #[must_use]
    pub fn form(mut self, form: LenForm) -> Self {
        self.form = form;
        self
    }

    #[must_use]
    pub fn declare(mut self, len: u64) -> Self {
        self.declared = Some(len);
        self
    }

    /// The header alone.
    pub fn header(&self) -> Vec<u8> {
        let len = self.declared.unwrap_or(self.payload.len() as u64);
        let mut out = vec![u8::from(self.fin) << 7 | (self.rsv & 7) << 4 | (self.opcode & 0x0f)];
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let form = match self.form {
            LenForm::Minimal if len <= 125 => LenForm::Short,
            LenForm::Minimal if len <= 0xffff => LenForm::Sixteen,
            LenForm::Minimal => LenForm::SixtyFour,
            other => other,
        };
        match form {
            LenForm::Short => {
                assert!(len <= 127, "7-bit form holds at most 127");
                out.push(mask_bit | len as u8);
            }
            LenForm::Sixteen => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
        }
        out
    }

    /// Header and (masked) payload.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.header();
        let start = out.len();
        out.extend_from_slice(&self.payload);
        if let Some(key) = self.mask {
            for (i, b) in out[start..].iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        out
    }
}

/// Concatenates frames, each masked as `receiver` requires.
pub fn wire(receiver: Role, frames: &[RawFrame]) -> Vec<u8> {
    frames.iter().flat_map(|f| f.clone().to(receiver).bytes()).collect()
}

// ---------------------------------------------------------------- decoding

/// A frame decoded by the harness's own (independent) decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub mask: Option<[u8; 4]>,
    /// Header bytes, mask key included.
    pub header_len: usize,
    /// Unmasked.
    pub payload: Vec<u8>,
}

/// Decodes a sequence of whole frames; panics on trailing garbage.
pub fn decode_frames(mut bytes: &[u8]) -> Vec<Decoded> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 2, "truncated frame header: {bytes:?}");
        let (b0, b1) = (bytes[0], bytes[1]);
        let masked = b1 & 0x80 != 0;
        let (len, mut pos) = match b1 & 0x7f {
            126 => (u64::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()), 10),
            n => (u64::from(n), 2),
        };
        let mask = masked.then(|| {
            let key: [u8; 4] = bytes[pos..pos + 4].try_into().unwrap();
            pos += 4;
            key
        });
        let len = len as usize;
        assert!(bytes.len() >= pos + len, "truncated frame payload");
        let mut payload = bytes[pos..pos + len].to_vec();
        if let Some(key) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        frames.push(Decoded {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode: b0 & 0x0f,
            masked,
            mask,
            header_len: pos,
            payload,
        });
        bytes = &bytes[pos + len..];
    }
    frames
}
