//! The one error type, and the close code each failure maps to.

use crate::close::{BadClose, CloseCode};
use alloc::string::String;
use core::fmt;

/// Everything that can go wrong, from a malformed frame to a misused API.
///
/// Failures caused by the peer or the transport end the connection; each
/// knows the close code it is reported (and, where a close frame can still
/// be sent, sent) with: see [`Error::close_code`]. Misuse of the API by the
/// caller leaves the connection as it was and has no close code.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    // --- The peer broke RFC 6455 framing: 1002 ---
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

    // --- The peer sent data inconsistent with its type: 1007 ---
    /// Invalid UTF-8 in a text message or close reason (§8.1).
    InvalidUtf8,
    /// A compressed message that does not inflate (RFC 7692 §7.2.2).
    InvalidCompressedData,

    // --- A configured limit was exceeded: 1009 ---
    /// A frame declared a payload larger than [`Config::max_frame_size`](crate::Config::max_frame_size).
    FrameTooLarge {
        /// The declared payload length.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message grew past [`Config::max_message_size`](crate::Config::max_message_size).
    MessageTooLarge {
        /// The size the message would have reached.
        len: u64,
        /// The configured limit.
        max: usize,
    },

    // --- The connection ended without a close handshake: 1006 ---
    /// The opening handshake failed.
    Handshake(HandshakeError),
    /// The transport ended before the close handshake completed.
    UnexpectedEof,
    /// The opening handshake did not finish within
    /// [`Config::handshake_timeout`](crate::Config::handshake_timeout).
    HandshakeTimeout,
    /// The peer did not answer our close frame within
    /// [`Config::close_timeout`](crate::Config::close_timeout).
    CloseTimeout,
    /// The peer sent nothing for a whole keepalive interval after our ping.
    KeepaliveTimeout,
    /// The transport failed.
    #[cfg(feature = "std")]
    Io(std::io::Error),
    /// The URL cannot be connected to.
    Url(UrlError),
    /// A `wss://` URL, but this build has no TLS.
    TlsNotEnabled,

    // --- The caller misused the API: no close code ---
    /// The operation needs a state the connection is not in, or is not
    /// one this call does; which, is the [`Misuse`].
    InvalidState(Misuse),
    /// A close code that may not be sent (see [`CloseCode::is_sendable`]).
    InvalidCloseCodeToSend(u16),
    /// A close reason longer than 123 bytes.
    ReasonTooLong(usize),
    /// A ping or pong payload longer than 125 bytes.
    ControlPayloadTooLong(usize),
    /// A subprotocol that is not an HTTP token, or one offered twice.
    InvalidProtocol(String),
    /// A close code the DOM API does not let applications send (only 1000
    /// and 3000–4999).
    InvalidAccessCloseCode(u16),
    /// The outgoing queue is above its high-water mark (non-blocking mode):
    /// write pending output first.
    WouldBlock,
    /// `close()` was called before the opening handshake completed.
    ClosedBeforeOpen,
}

/// How a call misused the API. The connection is left as it was; no close
/// code applies. One variant per situation, so a caller can match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// The DOM's `send()` while connecting (WHATWG `InvalidStateError`).
    SendWhileConnecting,
    /// An `http` conversion found no complete HTTP message queued (a
    /// request refused by its own check, or one already written).
    NoHttpMessage,
    /// The queued HTTP message cannot be expressed in `http` crate types.
    NotHttpTypes,
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Misuse::NotOpen => "the opening handshake is not complete",
            Misuse::Closing => "the connection is closing or closed",
            Misuse::NoRequestPending => "no request awaits a decision",
            Misuse::UnofferedProtocol => "the chosen subprotocol was not offered",
            Misuse::ControlOpcode => "use ping, pong or close for control frames",
            Misuse::NotAMessage => "a message is text or binary",
            Misuse::MessageInProgress => "a fragmented message is being sent: continue or finish it first",
            Misuse::NoMessageInProgress => "a continuation frame needs a fragmented message under way",
            Misuse::SendWhileConnecting => "send() before the connection is open",
            Misuse::NoHttpMessage => "no complete HTTP message is queued",
            Misuse::NotHttpTypes => "the HTTP message is not valid in http crate types",
        })
    }
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
            ReservedBits(_)
            | ReservedOpcode(_)
            | UnmaskedFrame
            | MaskedFrame
            | NonMinimalLength
            | LengthOverflow
            | ControlFrameTooLong(_)
            | FragmentedControlFrame
            | UnexpectedContinuation
            | ExpectedContinuation
            | TruncatedClose
            | InvalidCloseCode(_) => CloseCode::PROTOCOL_ERROR,
            InvalidUtf8 | InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            FrameTooLarge { .. } | MessageTooLarge { .. } => CloseCode::TOO_BIG,
            Handshake(_) | UnexpectedEof | HandshakeTimeout | CloseTimeout | KeepaliveTimeout => CloseCode::ABNORMAL,
            #[cfg(feature = "std")]
            Io(_) => CloseCode::ABNORMAL,
            TlsNotEnabled | ClosedBeforeOpen => CloseCode::ABNORMAL,
            Url(_)
            | InvalidState(_)
            | InvalidCloseCodeToSend(_)
            | ReasonTooLong(_)
            | ControlPayloadTooLong(_)
            | InvalidProtocol(_)
            | InvalidAccessCloseCode(_)
            | WouldBlock => return None,
        })
    }
}

impl Error {
    /// The `DOMException` name the WHATWG WebSocket standard throws for
    /// this misuse, if it is one (`SyntaxError`, `InvalidStateError`,
    /// `InvalidAccessError`).
    pub fn dom_exception(&self) -> Option<&'static str> {
        match self {
            Error::Url(_) | Error::InvalidProtocol(_) | Error::ReasonTooLong(_) => Some("SyntaxError"),
            Error::InvalidState(_) => Some("InvalidStateError"),
            Error::InvalidAccessCloseCode(_) | Error::InvalidCloseCodeToSend(_) => Some("InvalidAccessError"),
            _ => None,
        }
    }
}

impl From<BadClose> for Error {
    fn from(bad: BadClose) -> Self {
        match bad {
            BadClose::Truncated => Error::TruncatedClose,
            BadClose::Code(code) => Error::InvalidCloseCode(code),
            BadClose::Reason => Error::InvalidUtf8,
        }
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
            ReservedBits(bits) => write!(
                f,
                "peer set reserved bits {bits:#05b} (RSV1-3) without a negotiated extension"
            ),
            ReservedOpcode(op) => write!(f, "peer used reserved opcode {op:#x}"),
            UnmaskedFrame => f.write_str("client sent an unmasked frame"),
            MaskedFrame => f.write_str("server sent a masked frame"),
            NonMinimalLength => f.write_str("frame length not encoded in the minimal number of bytes"),
            LengthOverflow => f.write_str("64-bit frame length has its most significant bit set"),
            ControlFrameTooLong(len) => {
                write!(f, "control frame payload of {len} bytes exceeds 125")
            }
            FragmentedControlFrame => f.write_str("control frame without FIN"),
            UnexpectedContinuation => f.write_str("continuation frame without a message to continue"),
            ExpectedContinuation => f.write_str("new data frame while a fragmented message is unfinished"),
            TruncatedClose => f.write_str("close frame with a one-byte payload"),
            InvalidCloseCode(code) => write!(f, "peer sent close code {code}, which is not allowed"),
            InvalidUtf8 => f.write_str("invalid UTF-8 in a text message or close reason"),
            InvalidCompressedData => f.write_str("a compressed message does not inflate"),
            FrameTooLarge { len, max } => write!(
                f,
                "frame of {len} bytes exceeds max_frame_size ({max}); raise Config::max_frame_size to accept it"
            ),
            MessageTooLarge { len, max } => write!(
                f,
                "message of at least {len} bytes exceeds max_message_size ({max}); raise Config::max_message_size to accept it"
            ),
            Handshake(e) => write!(f, "opening handshake failed: {e}"),
            UnexpectedEof => f.write_str("connection closed without a close handshake"),
            HandshakeTimeout => f.write_str("opening handshake timed out"),
            CloseTimeout => f.write_str("peer did not answer the close frame in time"),
            KeepaliveTimeout => f.write_str("peer did not answer a keepalive ping in time"),
            #[cfg(feature = "std")]
            Io(e) => write!(f, "transport error: {e}"),
            Url(e) => write!(f, "bad URL: {e}"),
            TlsNotEnabled => f.write_str("wss:// needs TLS, which this build does not include"),
            InvalidState(misuse) => write!(f, "invalid state: {misuse}"),
            InvalidCloseCodeToSend(code) => write!(
                f,
                "close code {code} may not be sent; use 1000, 1001-1003, 1007-1014 or 3000-4999"
            ),
            ReasonTooLong(len) => write!(f, "close reason of {len} bytes exceeds 123"),
            ControlPayloadTooLong(len) => {
                write!(f, "ping/pong payload of {len} bytes exceeds 125")
            }
            InvalidProtocol(p) => write!(f, "subprotocol {p:?} is not a token or is offered twice"),
            InvalidAccessCloseCode(code) => write!(f, "close code {code} is neither 1000 nor in 3000-4999"),
            WouldBlock => f.write_str("outgoing queue is above its high-water mark; flush first"),
            ClosedBeforeOpen => f.write_str("closed before the connection was established"),
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
    /// Server: the request method was not GET.
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
    /// Client: the server answered with a status other than 101.
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
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HandshakeError::*;
        match self {
            Malformed(what) => write!(f, "malformed HTTP message: {what}"),
            TooLarge => f.write_str("header block too large"),
            Eof => f.write_str("connection closed during the handshake"),
            Method(m) => write!(f, "method {m} is not GET"),
            HttpVersion => f.write_str("HTTP version is not 1.1"),
            MissingHost => f.write_str("no Host header"),
            DuplicateHost => f.write_str("more than one Host header"),
            InvalidHeader(name) => write!(f, "{name} would break the HTTP message (CR, LF, NUL or not a token)"),
            Upgrade => f.write_str("Upgrade header lacks the websocket token"),
            Connection => f.write_str("Connection header lacks the Upgrade token"),
            Key => f.write_str("Sec-WebSocket-Key missing or not 16 base64-encoded bytes"),
            Version => f.write_str("Sec-WebSocket-Version missing or not 13"),
            Rejected(status) => write!(f, "application rejected the request with status {status}"),
            Status { code, reason } => write!(f, "server answered {code} {reason}, not 101"),
            Accept => f.write_str("Sec-WebSocket-Accept missing or wrong"),
            UnofferedProtocol(p) => write!(f, "server chose subprotocol {p:?}, which was not offered"),
            NoProtocol => f.write_str("server chose none of the offered subprotocols"),
            UnofferedExtension(e) => write!(f, "server answered extension {e:?}, which was not offered"),
            BadExtension(e) => write!(f, "server answered {e:?}, which no offer allowed"),
        }
    }
}

impl core::error::Error for HandshakeError {}

/// Why a URL cannot be connected to (WHATWG `SyntaxError` cases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
