//! The one error type, and the close code each failure maps to.
//!
//! [`Error`] groups failures by whose fault they are, so a caller matches
//! one variant per fault and the close code follows from it:
//!
//! | fault | variant | close code |
//! |---|---|---|
//! | the peer broke the protocol | [`Error::Protocol`] ([`ProtocolError`]) | 1002, or 1007 for bad data |
//! | the peer exceeded a limit | [`Error::LimitExceeded`] ([`Limit`], `len`, `max`) | 1009 |
//! | the opening handshake failed | [`Error::Handshake`] ([`HandshakeError`]) | 1006 |
//! | a timer ran out | [`Error::Timeout`] ([`Timeout`]) | 1006 |
//! | the transport ended or failed | [`Error::UnexpectedEof`], `Error::Io` | 1006 |
//! | the caller misused the API | [`Error::Misuse`] ([`Misuse`]) | none |
//!
//! This module depends only on the protocol concepts (`close`); the rest
//! of the crate depends on it, never the other way round.

use crate::close::{BadClose, CloseCode};
use alloc::string::String;
use core::fmt;

/// Everything that can go wrong, grouped by whose fault it is.
///
/// Failures caused by the peer or the transport end the connection; each
/// knows the close code it is reported (and, where a close frame can still
/// be sent, sent) with: see [`Error::close_code`]. Misuse of the API by the
/// caller ([`Error::Misuse`]) leaves the connection as it was and has no
/// close code.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke RFC 6455 (or RFC 7692): 1002, or 1007 for data
    /// inconsistent with its type.
    Protocol(ProtocolError),
    /// The peer exceeded a configured limit: 1009.
    LimitExceeded {
        /// Which limit.
        kind: Limit,
        /// The size declared, or the size the message would have reached.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// The opening handshake failed: 1006.
    Handshake(HandshakeError),
    /// A timer ran out: 1006.
    Timeout(Timeout),
    /// The transport ended before the close handshake completed: 1006.
    UnexpectedEof,
    /// The transport failed: 1006.
    #[cfg(feature = "std")]
    Io(std::io::Error),
    /// The URL cannot be connected to (no close code: nothing was opened).
    Url(UrlError),
    /// A `wss://` URL, but this build has no TLS: 1006.
    TlsNotEnabled,
    /// The WHATWG `close()` before the opening handshake completed: the
    /// connection fails (1006), as the standard's step says.
    ClosedBeforeOpen,
    /// The caller misused the API: no close code, nothing changed.
    Misuse(Misuse),
    /// The outgoing queue is above its high-water mark (non-blocking mode):
    /// write pending output first. Not a failure; no close code.
    WouldBlock,
}

/// How the peer broke the protocol. Each variant knows its close code
/// ([`ProtocolError::close_code`]): 1002, or 1007 for data inconsistent
/// with its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// RSV1–3 set while no extension that defines them is negotiated (§5.2).
    ReservedBits(u8),
    /// An opcode that RFC 6455 reserves (§5.2).
    ReservedOpcode(u8),
    /// A client sent an unmasked frame (§5.1).
    UnmaskedFrame,
    /// A server sent a masked frame (§5.1).
    MaskedFrame,
    /// A length was encoded in more bytes than needed (§5.2: "the minimal
    /// number of bytes MUST be used").
    NonMinimalLength,
    /// A 64-bit length with its most significant bit set (§5.2).
    LengthOverflow,
    /// A control frame with a payload over 125 bytes (§5.5).
    ControlFrameTooLong(u64),
    /// A control frame without FIN (§5.5).
    FragmentedControlFrame,
    /// A continuation frame with no message to continue (§5.4).
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished
    /// (§5.4).
    ExpectedContinuation,
    /// A close frame with a one-byte payload (§5.5.1).
    TruncatedClose,
    /// A close code that no endpoint may send (§7.4).
    InvalidCloseCode(u16),
    /// Invalid UTF-8 in a text message or close reason (§8.1): 1007.
    InvalidUtf8,
    /// A compressed message that does not inflate (RFC 7692 §7.2.2): 1007.
    InvalidCompressedData,
}

impl ProtocolError {
    /// 1007 for data inconsistent with its type, 1002 for the rest.
    pub fn close_code(self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// Which configured limit a peer exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// A frame declared a payload larger than
    /// [`Config::max_frame_size`](crate::Config::max_frame_size).
    FrameSize,
    /// A message grew past
    /// [`Config::max_message_size`](crate::Config::max_message_size).
    MessageSize,
}

/// Which timer ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timeout {
    /// The opening handshake did not finish within
    /// [`Config::handshake_timeout`](crate::Config::handshake_timeout).
    Handshake,
    /// The peer did not answer our close frame within
    /// [`Config::close_timeout`](crate::Config::close_timeout).
    Close,
    /// The peer sent nothing for a whole keepalive interval after our ping.
    Keepalive,
}

/// How a call misused the API. The connection is left as it was; no close
/// code applies. One variant per situation, so a caller can match on it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misuse {
    /// A message or control frame before the opening handshake completed.
    NotOpen,
    /// A message or control frame while closing or closed.
    Closing,
    /// `accept` or `reject` with no request awaiting a decision.
    NoRequestPending,
    /// `accept` chose a subprotocol the client did not offer.
    UnofferedProtocol,
    /// `send_frame` with a control opcode (`ping`, `pong` and `close` send
    /// those).
    ControlOpcode,
    /// `send_message` with an opcode that is neither text nor binary.
    NotAMessage,
    /// A message (or the first frame of one) while the fragments of
    /// another are being sent (RFC 6455 §5.4 forbids interleaving).
    MessageInProgress,
    /// A continuation frame with no fragmented message under way.
    NoMessageInProgress,
    /// A close code that may not be sent (see [`CloseCode::is_sendable`]).
    CloseCodeNotSendable(u16),
    /// A close reason longer than 123 bytes.
    ReasonTooLong(usize),
    /// A ping or pong payload longer than 125 bytes.
    ControlPayloadTooLong(usize),
    /// A subprotocol that is not an HTTP token, or one offered twice.
    InvalidProtocol(String),
    /// An `http` conversion found no complete HTTP message queued (a
    /// request refused by its own check, or one already written).
    NoHttpMessage,
    /// The queued HTTP message cannot be expressed in `http` crate types.
    NotHttpTypes,
    /// The DOM's `send()` while connecting (WHATWG `InvalidStateError`).
    SendWhileConnecting,
    /// A close code the DOM API does not let applications send (only 1000
    /// and 3000–4999; WHATWG `InvalidAccessError`).
    DomCloseCode(u16),
    /// `send_payload` with more bytes than the declared frame has left.
    PayloadOverrun {
        /// Bytes the frame had left.
        left: u64,
        /// Bytes offered.
        len: usize,
    },
    /// `send_payload` with bytes that cannot continue (or that leave
    /// unfinished) a text frame's UTF-8.
    InvalidUtf8,
    /// `begin_message` with a length of 2^63 or more, which no frame can
    /// declare (RFC 6455 §5.2: the 64-bit length's top bit is 0).
    DeclaredLengthTooLong(u64),
}

impl Error {
    /// The close code this failure is reported with, or `None` when the
    /// caller misused the API and the connection is unaffected.
    ///
    /// 1006 is local-only: it means the connection ended without a close
    /// frame, and no close frame is sent for it.
    pub fn close_code(&self) -> Option<CloseCode> {
        use Error::*;
        Some(match self {
            Protocol(e) => e.close_code(),
            LimitExceeded { .. } => CloseCode::TOO_BIG,
            Handshake(_) | Timeout(_) | UnexpectedEof | TlsNotEnabled | ClosedBeforeOpen => CloseCode::ABNORMAL,
            #[cfg(feature = "std")]
            Io(_) => CloseCode::ABNORMAL,
            Url(_) | Misuse(_) | WouldBlock => return None,
        })
    }
}

// Every conversion into `Error` is here, so `?` means the same everywhere.

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<Misuse> for Error {
    fn from(e: Misuse) -> Self {
        Error::Misuse(e)
    }
}

impl From<Timeout> for Error {
    fn from(e: Timeout) -> Self {
        Error::Timeout(e)
    }
}

impl From<BadClose> for ProtocolError {
    fn from(bad: BadClose) -> Self {
        match bad {
            BadClose::Truncated => ProtocolError::TruncatedClose,
            BadClose::Code(code) => ProtocolError::InvalidCloseCode(code),
            BadClose::Reason => ProtocolError::InvalidUtf8,
        }
    }
}

impl From<BadClose> for Error {
    fn from(bad: BadClose) -> Self {
        Error::Protocol(bad.into())
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl From<UrlError> for Error {
    fn from(e: UrlError) -> Self {
        Error::Url(e)
    }
}

#[cfg(feature = "std")]
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match self {
            Protocol(e) => e.fmt(f),
            LimitExceeded {
                kind: Limit::FrameSize,
                len,
                max,
            } => write!(
                f,
                "frame of {len} bytes exceeds max_frame_size ({max}); raise Config::max_frame_size to accept it"
            ),
            LimitExceeded {
                kind: Limit::MessageSize,
                len,
                max,
            } => write!(
                f,
                "message of at least {len} bytes exceeds max_message_size ({max}); raise Config::max_message_size to accept it"
            ),
            Handshake(e) => write!(f, "opening handshake failed: {e}"),
            Timeout(e) => e.fmt(f),
            UnexpectedEof => f.write_str("connection closed without a close handshake"),
            #[cfg(feature = "std")]
            Io(e) => write!(f, "transport error: {e}"),
            Url(e) => write!(f, "bad URL: {e}"),
            TlsNotEnabled => f.write_str("wss:// needs TLS, which this build does not include"),
            ClosedBeforeOpen => f.write_str("closed before the connection was established"),
            Misuse(e) => e.fmt(f),
            WouldBlock => f.write_str("outgoing queue is above its high-water mark; flush first"),
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ProtocolError::*;
        match self {
            ReservedBits(bits) => write!(
                f,
                "peer set reserved bits {bits:#05b} (RSV1-3) without a negotiated extension"
            ),
            ReservedOpcode(op) => write!(f, "peer used reserved opcode {op:#x}"),
            UnmaskedFrame => f.write_str("client sent an unmasked frame"),
            MaskedFrame => f.write_str("server sent a masked frame"),
            NonMinimalLength => f.write_str("frame length not encoded in the minimal number of bytes"),
            LengthOverflow => f.write_str("64-bit frame length has its most significant bit set"),
            ControlFrameTooLong(len) => write!(f, "control frame payload of {len} bytes exceeds 125"),
            FragmentedControlFrame => f.write_str("control frame without FIN"),
            UnexpectedContinuation => f.write_str("continuation frame without a message to continue"),
            ExpectedContinuation => f.write_str("new data frame while a fragmented message is unfinished"),
            TruncatedClose => f.write_str("close frame with a one-byte payload"),
            InvalidCloseCode(code) => write!(f, "peer sent close code {code}, which is not allowed"),
            InvalidUtf8 => f.write_str("invalid UTF-8 in a text message or close reason"),
            InvalidCompressedData => f.write_str("a compressed message does not inflate"),
        }
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timeout::Handshake => "opening handshake timed out",
            Timeout::Close => "peer did not answer the close frame in time",
            Timeout::Keepalive => "peer did not answer a keepalive ping in time",
        })
    }
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Misuse::*;
        match self {
            NotOpen => f.write_str("the opening handshake is not complete"),
            Closing => f.write_str("the connection is closing or closed"),
            NoRequestPending => f.write_str("no request awaits a decision"),
            UnofferedProtocol => f.write_str("the chosen subprotocol was not offered"),
            ControlOpcode => f.write_str("use ping, pong or close for control frames"),
            NotAMessage => f.write_str("a message is text or binary"),
            MessageInProgress => f.write_str("a fragmented message is being sent: continue or finish it first"),
            NoMessageInProgress => f.write_str("a continuation frame needs a fragmented message under way"),
            CloseCodeNotSendable(code) => write!(
                f,
                "close code {code} may not be sent; use 1000, 1001-1003, 1007-1014 or 3000-4999"
            ),
            ReasonTooLong(len) => write!(f, "close reason of {len} bytes exceeds 123"),
            ControlPayloadTooLong(len) => write!(f, "ping/pong payload of {len} bytes exceeds 125"),
            InvalidProtocol(p) => write!(f, "subprotocol {p:?} is not a token or is offered twice"),
            NoHttpMessage => f.write_str("no complete HTTP message is queued"),
            NotHttpTypes => f.write_str("the HTTP message is not valid in http crate types"),
            SendWhileConnecting => f.write_str("send() before the connection is open"),
            DomCloseCode(code) => write!(f, "close code {code} is neither 1000 nor in 3000-4999"),
            PayloadOverrun { left, len } => write!(f, "{len} payload bytes for a frame with {left} left"),
            InvalidUtf8 => f.write_str("a text frame's payload is not UTF-8"),
            DeclaredLengthTooLong(len) => write!(f, "a frame cannot declare {len} bytes (at most 2^63 - 1)"),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Handshake(e) => Some(e),
            Error::Url(e) => Some(e),
            #[cfg(feature = "std")]
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl core::error::Error for ProtocolError {}
impl core::error::Error for Timeout {}
impl core::error::Error for Misuse {}

/// Why an opening handshake failed (RFC 6455 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The HTTP message could not be parsed.
    Malformed(&'static str),
    /// The header block exceeded [`Config::max_handshake_size`](crate::Config::max_handshake_size)
    /// bytes or [`Config::max_headers`](crate::Config::max_headers) headers.
    TooLarge,
    /// The transport ended during the handshake.
    Eof,
    /// Server: the request method was not GET (CONNECT for an HTTP/2
    /// extended CONNECT).
    Method(String),
    /// The request (server) or response (client) was not HTTP/1.1.
    HttpVersion,
    /// Server: no `Host` header.
    MissingHost,
    /// Server: more than one `Host` header (RFC 9112 §3.2: 400).
    DuplicateHost,
    /// A string the application put in a handshake (this header's name or
    /// value, or the request target) would break the HTTP message: not a
    /// token, or CR, LF or NUL in it. Nothing was sent.
    InvalidHeader(String),
    /// `Upgrade` lacks the `websocket` token.
    Upgrade,
    /// `Connection` lacks the `Upgrade` token.
    Connection,
    /// Server: `Sec-WebSocket-Key` is missing, repeated or not 16 bytes in base64.
    Key,
    /// Server: `Sec-WebSocket-Version` is missing or not 13 (answered with 426).
    Version,
    /// Server: the application refused the request with this status.
    Rejected(u16),
    /// Client: the server answered with a status other than 101 (200 for an
    /// HTTP/2 extended CONNECT).
    Status {
        /// The HTTP status code.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// Client: `Sec-WebSocket-Accept` is missing or does not match the key.
    Accept,
    /// Client: the server chose a subprotocol the client did not offer.
    UnofferedProtocol(String),
    /// Client: the server chose no subprotocol although the client offered some
    /// (a failure under the WHATWG rules the DOM-style API follows; the core
    /// reports it only when asked to require one).
    NoProtocol,
    /// Client: the server answered with an extension the client did not offer.
    UnofferedExtension(String),
    /// Client: the server's permessage-deflate parameters are malformed or
    /// were not allowed by any offer (RFC 7692 §7.1).
    BadExtension(String),
    /// Server: an HTTP/2 extended CONNECT whose `:protocol` is not
    /// `websocket` (RFC 8441 §5).
    ConnectProtocol,
    /// Client: the HTTP/2 server did not enable extended CONNECT
    /// (`SETTINGS_ENABLE_CONNECT_PROTOCOL`, RFC 8441 §3), so no WebSocket
    /// can be opened over it.
    NoExtendedConnect,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HandshakeError::*;
        match self {
            Malformed(what) => write!(f, "malformed HTTP message: {what}"),
            TooLarge => f.write_str("header block too large"),
            Eof => f.write_str("connection closed during the handshake"),
            Method(m) => write!(f, "method {m} is not GET (nor CONNECT over HTTP/2)"),
            HttpVersion => f.write_str("HTTP version is not 1.1"),
            MissingHost => f.write_str("no Host header"),
            DuplicateHost => f.write_str("more than one Host header"),
            InvalidHeader(name) => write!(f, "{name} would break the HTTP message (CR, LF, NUL or not a token)"),
            Upgrade => f.write_str("Upgrade header lacks the websocket token"),
            Connection => f.write_str("Connection header lacks the Upgrade token"),
            Key => f.write_str("Sec-WebSocket-Key missing or not 16 base64-encoded bytes"),
            Version => f.write_str("Sec-WebSocket-Version missing or not 13"),
            Rejected(status) => write!(f, "application rejected the request with status {status}"),
            Status { code, reason } => write!(f, "server answered {code} {reason}, not accepting the upgrade"),
            Accept => f.write_str("Sec-WebSocket-Accept missing or wrong"),
            UnofferedProtocol(p) => write!(f, "server chose subprotocol {p:?}, which was not offered"),
            NoProtocol => f.write_str("server chose none of the offered subprotocols"),
            UnofferedExtension(e) => write!(f, "server answered extension {e:?}, which was not offered"),
            BadExtension(e) => write!(f, "server answered {e:?}, which no offer allowed"),
            ConnectProtocol => f.write_str("extended CONNECT whose :protocol is not websocket"),
            NoExtendedConnect => f.write_str("the HTTP/2 server does not enable extended CONNECT (RFC 8441)"),
        }
    }
}

impl core::error::Error for HandshakeError {}

/// Why a URL cannot be connected to (WHATWG `SyntaxError` cases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a URL, or one without a host.
    Invalid,
    /// The scheme is not ws, wss, http or https.
    Scheme,
    /// The URL has a `#fragment`.
    Fragment,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::Invalid => "not a valid URL with a host",
            UrlError::Scheme => "URL scheme must be ws, wss, http or https",
            UrlError::Fragment => "a WebSocket URL may not have a fragment",
        })
    }
}

impl core::error::Error for UrlError {}
