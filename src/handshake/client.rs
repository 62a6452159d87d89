//! The client's request (RFC 6455 §4.1): [`ClientRequest`], built by the
//! application (or from a `ws://`/`wss://` URL), checked so that no string
//! it carries can add a header line, and encoded with a fresh key.
//! Validating the server's answer is in `response.rs`.

use super::fields::{check_header, is_field_value, is_token};
use crate::error::HandshakeError;
#[cfg(feature = "std")]
use crate::error::UrlError;
#[cfg(feature = "std")]
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

/// What a client asks for (§4.1). Build it, then hand it to
/// [`Connection::client`](crate::Connection::client).
///
/// ```
/// let request = rfc6455::ClientRequest::new("example.com:8080", "/chat?room=1")
///     .protocol("chat.v2")
///     .origin("https://example.com");
/// assert_eq!(request.host(), "example.com:8080");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientRequest {
    host: String,
    resource: String,
    origin: Option<String>,
    pub(super) protocols: Vec<String>,
    pub(super) extensions: Vec<String>,
    headers: Vec<(String, String)>,
    pub(super) require_protocol: bool,
}

impl ClientRequest {
    /// A request for `resource` (path and query, starting with `/`) on
    /// `host`, which carries the port when it is not the scheme's default.
    #[must_use]
    pub fn new(host: impl Into<String>, resource: impl Into<String>) -> Self {
        let mut resource = resource.into();
        if resource.is_empty() {
            resource.push('/');
        }
        Self {
            host: host.into(),
            resource,
            ..Self::default()
        }
    }

    /// A request for a `ws://` or `wss://` URL (also `http://`/`https://`),
    /// parsed by the WHATWG URL parser. Returns the request and whether the
    /// URL asks for TLS.
    ///
    /// # Errors
    ///
    /// [`UrlError::Invalid`] for a string that does not parse as a URL or
    /// a URL without a host, [`UrlError::Scheme`] for a scheme other than
    /// the four above and [`UrlError::Fragment`] for a URL with a
    /// `#fragment`.
    #[cfg(feature = "std")]
    pub fn from_url(url: &str) -> Result<(Self, bool), UrlError> {
        let url = url::Url::parse(url).map_err(|_| UrlError::Invalid)?;
        let secure = match url.scheme() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            _ => return Err(UrlError::Scheme),
        };
        if url.fragment().is_some() {
            return Err(UrlError::Fragment);
        }
        let host = url.host_str().ok_or(UrlError::Invalid)?;
        let host = match url.port() {
            Some(port) => alloc::format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let mut resource = url.path().to_owned();
        if let Some(query) = url.query() {
            resource.push('?');
            resource.push_str(query);
        }
        Ok((Self::new(host, resource), secure))
    }

    /// Sends `Origin` (§4.1 item 8; browsers always do).
    #[must_use]
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Offers a subprotocol; offers keep the order they were added in.
    #[must_use]
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// Fails the handshake when subprotocols were offered and the server
    /// chose none. RFC 6455 allows such an answer; the WHATWG WebSocket
    /// standard (which browsers follow) fails the connection.
    #[must_use]
    pub fn require_protocol(mut self, required: bool) -> Self {
        self.require_protocol = required;
        self
    }

    /// Offers an extension, e.g. `"permessage-deflate; client_max_window_bits"`.
    #[must_use]
    pub fn extension(mut self, offer: impl Into<String>) -> Self {
        self.extensions.push(offer.into());
        self
    }

    /// Adds a header line, e.g. `Authorization` or `Cookie`.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The `Host` value.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The request target: path and query.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The subprotocols offered.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// Checks that every string the request carries stays in its place:
    /// the resource and host, header names (tokens) and values, origin,
    /// subprotocols and extension offers hold no CR, LF or NUL, so none can
    /// add a header line or end the request early; and the subprotocols are
    /// distinct tokens (§4.1 item 10), so a server reads the list as it was
    /// meant (`"chat, superchat"` would be two offers, and our own check of
    /// the answer would then fail). [`Connection::client`](crate::Connection::client)
    /// fails a request that does not pass.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::InvalidHeader`] naming the first string that does
    /// not pass (`request target` for the resource, else the header it
    /// would go in).
    pub fn check(&self) -> Result<(), HandshakeError> {
        if !is_field_value(&self.resource) || self.resource.contains(' ') {
            return Err(HandshakeError::InvalidHeader(String::from("request target")));
        }
        check_header("Host", &self.host)?;
        if let Some(origin) = &self.origin {
            check_header("Origin", origin)?;
        }
        for (i, protocol) in self.protocols.iter().enumerate() {
            if !is_token(protocol) || self.protocols[..i].contains(protocol) {
                return Err(HandshakeError::InvalidHeader(String::from("Sec-WebSocket-Protocol")));
            }
        }
        for offer in &self.extensions {
            check_header("Sec-WebSocket-Extensions", offer)?;
        }
        for (name, value) in &self.headers {
            check_header(name, value)?;
        }
        Ok(())
    }

    /// The request's bytes for a base64 key (§4.1).
    pub(crate) fn encode(&self, key: &str) -> Vec<u8> {
        let mut out = String::with_capacity(256);
        let mut line = |name: &str, value: &str| {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        };
        line("Host", &self.host);
        line("Upgrade", "websocket");
        line("Connection", "Upgrade");
        line("Sec-WebSocket-Key", key);
        line("Sec-WebSocket-Version", "13");
        if let Some(origin) = &self.origin {
            line("Origin", origin);
        }
        if !self.protocols.is_empty() {
            line("Sec-WebSocket-Protocol", &self.protocols.join(", "));
        }
        if !self.extensions.is_empty() {
            line("Sec-WebSocket-Extensions", &self.extensions.join(", "));
        }
        for (name, value) in &self.headers {
            line(name, value);
        }
        let mut bytes = Vec::with_capacity(out.len() + 32);
        bytes.extend_from_slice(b"GET ");
        bytes.extend_from_slice(self.resource.as_bytes());
        bytes.extend_from_slice(b" HTTP/1.1\r\n");
        bytes.extend_from_slice(out.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::fixtures::{KEY, LIMITS, client_request};
    use crate::handshake::parse_request;

    // RFC 6455 §4.1: the request a client sends.
    #[test]
    fn client_request_bytes() {
        let bytes = client_request().encode(KEY);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "GET /chat?room=1 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Extensions: x-test; a=1\r\nAuthorization: Bearer t\r\n\r\n"
        );
    }

    #[test]
    fn client_request_round_trips_through_server_parser() {
        let bytes = client_request().encode(KEY);
        let (request, _) = parse_request(&bytes, LIMITS).unwrap().unwrap();
        assert_eq!(request.target(), "/chat?room=1");
        assert_eq!(request.header_str("authorization"), Some("Bearer t"));
        assert_eq!(request.extensions(), ["x-test; a=1"]);
    }

    // RFC 6455 §4.1 item 10: each subprotocol a token, none twice. A value
    // with a comma would reach a server as two offers.
    #[test]
    fn subprotocols_are_distinct_tokens() {
        for bad in ["chat, superchat", "a b", "", "x;y", "\"chat\"", "é"] {
            let request = ClientRequest::new("h", "/").protocol(bad);
            assert_eq!(
                request.check(),
                Err(HandshakeError::InvalidHeader("Sec-WebSocket-Protocol".into())),
                "{bad:?}"
            );
        }
        let twice = ClientRequest::new("h", "/")
            .protocol("chat")
            .protocol("v2")
            .protocol("chat");
        assert!(twice.check().is_err(), "a repeated subprotocol");
        let distinct = ClientRequest::new("h", "/")
            .protocol("chat")
            .protocol("Chat")
            .protocol("v2.json");
        assert_eq!(distinct.check(), Ok(()), "tokens compare case-sensitively (§11.3.4)");
    }

    #[cfg(feature = "std")]
    #[test]
    fn requests_from_urls() {
        let (r, secure) = ClientRequest::from_url("ws://example.com/a/b?c=d").unwrap();
        assert_eq!((r.host(), r.resource(), secure), ("example.com", "/a/b?c=d", false));
        let (r, secure) = ClientRequest::from_url("wss://example.com:443").unwrap();
        assert_eq!(
            (r.host(), r.resource(), secure),
            ("example.com", "/", true),
            "default port omitted"
        );
        let (r, _) = ClientRequest::from_url("ws://127.0.0.1:9001").unwrap();
        assert_eq!(r.host(), "127.0.0.1:9001");
        assert_eq!(ClientRequest::from_url("ws://h/#frag").unwrap_err(), UrlError::Fragment);
        assert_eq!(ClientRequest::from_url("ftp://h/").unwrap_err(), UrlError::Scheme);
    }
}
