//! The server's answer (RFC 6455 §4.2.2): [`Accept`], what the application
//! accepts with (a subprotocol, extra headers), checked so that nothing it
//! carries can add a header line; the `101 Switching Protocols` bytes; and
//! refusals, which end the connection (a 426 names version 13).

use super::accept_key;
use super::fields::check_header;
use super::request::Request;
use crate::error::HandshakeError;
use alloc::string::String;
use alloc::vec::Vec;

/// How the application answers an acceptable request.
///
/// ```
/// let accept = rfc6455::Accept::new().protocol("chat.v2").header("Set-Cookie", "id=1");
/// # let _ = accept;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Accept {
    protocol: Option<String>,
    headers: Vec<(String, String)>,
}

impl Accept {
    /// Accept with no subprotocol and no extra headers.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Select one of the subprotocols the client offered.
    #[must_use]
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Add a header line to the 101 response.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The chosen subprotocol.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Checks that the subprotocol and every header are one well-formed
    /// line each (names are tokens; no CR, LF or NUL in values), so none
    /// can add a line to the 101 or a second response after it.
    /// [`Connection::accept`](crate::Connection::accept) refuses an
    /// `Accept` that does not pass.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::InvalidHeader`], naming the first offending header
    /// (`Sec-WebSocket-Protocol` for the subprotocol).
    pub fn check(&self) -> Result<(), HandshakeError> {
        if let Some(protocol) = &self.protocol {
            check_header("Sec-WebSocket-Protocol", protocol)?;
        }
        for (name, value) in &self.headers {
            check_header(name, value)?;
        }
        Ok(())
    }
}

/// The `101 Switching Protocols` answer to `request` (§4.2.2 step 5).
pub(crate) fn encode_accept(request: &Request, accept: &Accept, extensions: &str) -> Vec<u8> {
    let mut out = String::with_capacity(160);
    if request.is_extended_connect() {
        // RFC 8441 §5: a 2xx accepts; no Upgrade, Connection or accept key.
        out.push_str("HTTP/1.1 200 OK\r\n");
    } else {
        out.push_str(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
        );
        out.push_str(&accept_key(request.key().as_bytes()));
        out.push_str("\r\n");
    }
    if let Some(protocol) = &accept.protocol {
        out.push_str("Sec-WebSocket-Protocol: ");
        out.push_str(protocol);
        out.push_str("\r\n");
    }
    if !extensions.is_empty() {
        out.push_str("Sec-WebSocket-Extensions: ");
        out.push_str(extensions);
        out.push_str("\r\n");
    }
    for (name, value) in &accept.headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// The reason phrase for the statuses a handshake refuses with.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// The status a refusal is sent with: a refusal is never a success or a
/// protocol switch, so a 1xx or 2xx status (which an HTTP stack would send
/// as an upgrade or a plain answer), or one past 599, becomes 500.
pub(crate) fn refusal_status(status: u16) -> u16 {
    match status {
        300..=599 => status,
        _ => 500,
    }
}

/// A refusal: an HTTP response that ends the connection. A 426 names the
/// version this server speaks (§4.2.2: "MUST ... include a
/// |Sec-WebSocket-Version| header field").
pub(crate) fn encode_reject(status: u16) -> Vec<u8> {
    let version = if status == 426 {
        "Sec-WebSocket-Version: 13\r\n"
    } else {
        ""
    };
    alloc::format!(
        "HTTP/1.1 {status} {}\r\n{version}Connection: close\r\nContent-Length: 0\r\n\r\n",
        reason_phrase(status)
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::fixtures::{LIMITS, RFC_REQUEST};
    use crate::handshake::parse_request;

    // RFC 6455 §4.2.2: the exact bytes of the answer.
    #[test]
    fn accept_and_reject_bytes() {
        let (request, _) = parse_request(RFC_REQUEST, LIMITS).unwrap().unwrap();
        let bytes = encode_accept(&request, &Accept::new().protocol("chat"), "");
        assert_eq!(
            bytes,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
        );
        assert_eq!(
            encode_reject(400),
            b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(
            encode_reject(403),
            b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(
            encode_reject(426),
            b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        );
    }
}
