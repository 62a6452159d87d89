//! Close codes and close frame payloads (RFC 6455 §5.5.1, §7.4).

use alloc::string::String;
use core::fmt;

/// A close status code (RFC 6455 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer violated the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: reserved; stands for "the close frame carried no code" and is
    /// never sent on the wire.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: reserved; stands for "closed without a close frame" and is
    /// never sent on the wire.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: message data inconsistent with its type (e.g. invalid UTF-8).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message or frame is too big to process.
    pub const TOO_BIG: Self = Self(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1015: reserved; stands for "the TLS handshake failed" and is never
    /// sent on the wire.
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// Whether an endpoint may put this code in a close frame (RFC 6455
    /// §7.4.1, §7.4.2 and the IANA registry: 1012–1014 were registered
    /// later). 1005, 1006 and 1015 are reserved for local reporting only.
    pub const fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Longest close reason: a control payload is at most 125 bytes (§5.5) and
/// the code takes two of them.
pub const MAX_REASON_LEN: usize = 123;

/// A close frame's payload, borrowed from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// The status code, or `None` if the frame had an empty payload
    /// (reported to applications as 1005).
    pub code: Option<CloseCode>,
    /// The reason, valid UTF-8, possibly empty.
    pub reason: &'a str,
}

impl CloseFrame<'_> {
    /// The code to report to an application: the received code, or 1005
    /// when the frame carried none (RFC 6455 §7.1.5).
    pub fn code_or_no_status(&self) -> CloseCode {
        self.code.unwrap_or(CloseCode::NO_STATUS)
    }

    /// An owned copy, for keeping after the event is gone.
    pub fn to_owned(&self) -> OwnedCloseFrame {
        OwnedCloseFrame {
            code: self.code,
            reason: String::from(self.reason),
        }
    }
}

/// An owned [`CloseFrame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedCloseFrame {
    /// See [`CloseFrame::code`].
    pub code: Option<CloseCode>,
    /// See [`CloseFrame::reason`].
    pub reason: String,
}

/// Why a received close payload is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadClose {
    /// A one-byte payload cannot hold a code (§5.5.1): 1002.
    Truncated,
    /// A code no endpoint may send (§7.4): 1002.
    Code(u16),
    /// The reason is not UTF-8 (§5.5.1): 1007.
    Reason,
}

/// Parses a received close payload (RFC 6455 §5.5.1).
pub(crate) fn parse(payload: &[u8]) -> Result<CloseFrame<'_>, BadClose> {
    match payload {
        [] => Ok(CloseFrame { code: None, reason: "" }),
        [_] => Err(BadClose::Truncated),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_sendable() {
                return Err(BadClose::Code(code.0));
            }
            let reason = core::str::from_utf8(reason).map_err(|_| BadClose::Reason)?;
            Ok(CloseFrame {
                code: Some(code),
                reason,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6455 §7.4.1/§7.4.2: which codes may appear on the wire.
    #[test]
    fn sendable_codes() {
        for code in 0..=u16::MAX {
            let expected = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(CloseCode(code).is_sendable(), expected, "code {code}");
        }
    }

    // RFC 6455 §5.5.1: empty payload, code only, code and reason.
    #[test]
    fn parses_valid_payloads() {
        assert_eq!(parse(&[]).unwrap().code, None);
        assert_eq!(parse(&[]).unwrap().code_or_no_status(), CloseCode::NO_STATUS);
        let frame = parse(&[0x03, 0xe8]).unwrap();
        assert_eq!(frame.code, Some(CloseCode::NORMAL));
        assert_eq!(frame.reason, "");
        let frame = parse(b"\x0f\xa0bye \xce\xba").unwrap();
        assert_eq!(frame.code, Some(CloseCode(4000)));
        assert_eq!(frame.reason, "bye κ");
    }

    #[test]
    fn rejects_malformed_payloads() {
        assert_eq!(parse(&[0x03]), Err(BadClose::Truncated));
        assert_eq!(parse(&[0x03, 0xed]), Err(BadClose::Code(1005)));
        assert_eq!(parse(&[0x00, 0x00]), Err(BadClose::Code(0)));
        assert_eq!(parse(&[0x13, 0x88]), Err(BadClose::Code(5000)));
        assert_eq!(parse(b"\x03\xe8\xff"), Err(BadClose::Reason));
    }
}
