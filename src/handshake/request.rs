//! The server's side of a client's request (RFC 6455 §4.2.1): reading it,
//! judging it (method, HTTP version, one `Host`, `Upgrade`, `Connection`,
//! version 13, a 16-byte key), and [`Request`], what the application sees
//! of it before it accepts or refuses. A request that fails is a
//! `BadRequest` carrying the status to refuse it with (400, 426 or 431).
//! The answer is built in `accept.rs`.

use super::fields::{Headers, all_items, any_has_token, header_values, is_token};
use super::parse::{Limits, check_leading_empty_lines, copy_headers, header_storage, parse_status};
use crate::error::HandshakeError;
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// A client's opening handshake as the server received it (§4.2.1), for the
/// application to inspect before it accepts or rejects.
#[derive(Debug, Clone)]
pub struct Request {
    target: String,
    /// The authority of an absolute-form target, which replaces `Host`.
    authority: Option<String>,
    headers: Headers,
    key: String,
    protocols: Vec<String>,
    extensions: Vec<String>,
}

impl Request {
    /// The request target as sent: path and query.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query string after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The first header with this name (case-insensitive), as bytes.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        header_values(&self.headers, name).next()
    }

    /// The first header with this name, if it is UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| core::str::from_utf8(v).ok())
    }

    /// Every header, in order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// The host the request is for: the `Host` header, or the authority
    /// of an absolute-form target (RFC 9112 §3.2.2).
    pub fn host(&self) -> &str {
        match &self.authority {
            Some(authority) => authority,
            None => self.header_str("Host").unwrap_or(""),
        }
    }

    /// The `Origin` header, which browsers always send (§4.2.1 item 7).
    pub fn origin(&self) -> Option<&str> {
        self.header_str("Origin")
    }

    /// The `Sec-WebSocket-Key` (base64, as sent); empty for an extended
    /// CONNECT, which has none.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether this is an HTTP/2 extended CONNECT (RFC 8441) rather than an
    /// HTTP/1.1 upgrade: the answer is then a `200` and the stream itself
    /// carries the frames.
    pub fn is_extended_connect(&self) -> bool {
        self.key.is_empty()
    }

    /// Subprotocols offered, in the client's order of preference. Only
    /// tokens (RFC 6455 §4.1 item 10): an item that is not one (or not
    /// UTF-8) is left out, as no answer could name it as sent.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// Extension offers, each with its parameters as sent.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }
}

/// The request target in origin form (path and query), and the authority
/// when it came in absolute form (`http://host/path`, or `https`, `ws`,
/// `wss`), which RFC 9112
/// §3.2.2 says a server must accept and take the host from.
fn split_target(target: &str) -> (String, Option<String>) {
    let scheme = ["http://", "https://", "ws://", "wss://"]
        .into_iter()
        .find(|s| target.get(..s.len()).is_some_and(|t| t.eq_ignore_ascii_case(s)));
    let Some(scheme) = scheme else {
        return (target.to_owned(), None);
    };
    let scheme_len = scheme.len();
    let rest = &target[scheme_len..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        alloc::format!("/{path}")
    };
    (path, Some(authority.to_owned()))
}

/// A request that must be refused, with the status to refuse it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadRequest {
    pub error: HandshakeError,
    pub status: u16,
}

impl From<HandshakeError> for BadRequest {
    fn from(error: HandshakeError) -> Self {
        let status = match error {
            HandshakeError::Version => 426,
            HandshakeError::TooLarge => 431,
            _ => 400,
        };
        Self { error, status }
    }
}

/// Reads and judges a client's request (§4.2.1). Returns the request and
/// how many bytes it took; any bytes after that are frames.
pub(crate) fn parse_request(buf: &[u8], limits: Limits) -> Result<Option<(Request, usize)>, BadRequest> {
    check_leading_empty_lines(buf)?;
    let mut storage = header_storage(buf, limits);
    let mut request = httparse::Request::new(&mut storage);
    let status = request.parse(buf);
    let Some(consumed) = parse_status(status, buf.len(), limits)? else {
        return Ok(None);
    };
    let head = judge(
        request.method.unwrap_or(""),
        request.version == Some(1),
        request.path.unwrap_or("/"),
        None,
        copy_headers(request.headers),
    )?;
    Ok(Some((head, consumed)))
}

/// Judges a request head an HTTP stack already parsed (the `http`
/// module's path), by the same rules and limits as one read from bytes:
/// more than `max_headers` headers, or more bytes than `max_bytes` as
/// HTTP/1.1 would take, is [`HandshakeError::TooLarge`]. Without a `Host`
/// header, `authority` (the URI's) stands for it.
///
/// A request over HTTP/2 reaches a WebSocket only as an extended CONNECT
/// (RFC 8441 §4, §5): `protocol` is its `:protocol` pseudo-header, which
/// the HTTP stack hands over apart from the headers (`None` for HTTP/1.1).
#[cfg(feature = "http")]
pub(crate) fn judge_head<'h>(
    method: &str,
    http11: bool,
    protocol: Option<&str>,
    target: &str,
    authority: Option<&str>,
    headers: impl Iterator<Item = (&'h str, &'h [u8])>,
    limits: Limits,
) -> Result<Request, BadRequest> {
    // METHOD " " target " HTTP/1.1\r\n", each "name: value\r\n", "\r\n".
    let mut size = method.len() + 1 + target.len() + 11 + 2;
    let mut copied = Headers::new();
    for (name, value) in headers {
        size += name.len() + value.len() + 4;
        if copied.len() == limits.max_headers || size > limits.max_bytes {
            return Err(HandshakeError::TooLarge.into());
        }
        copied.push((name.to_owned(), value.to_owned()));
    }
    if let Some(protocol) = protocol {
        if method != "CONNECT" {
            return Err(HandshakeError::Method(method.to_owned()).into());
        }
        return judge_extended_connect(protocol, target, authority, copied);
    }
    judge(method, http11, target, authority, copied)
}

/// The rules of RFC 8441 §5 on an extended CONNECT: `:protocol` is
/// `websocket`, `:authority` names the host, `Sec-WebSocket-Version` is 13
/// as in §4.2.1; there is no `Upgrade`, `Connection` or key (the stream
/// itself is the upgrade). The [`Request`] has an empty key, which is how
/// the answer knows to be a `200` without `Sec-WebSocket-Accept`.
#[cfg(feature = "http")]
fn judge_extended_connect(
    protocol: &str,
    target: &str,
    authority: Option<&str>,
    headers: Headers,
) -> Result<Request, BadRequest> {
    if !protocol.eq_ignore_ascii_case("websocket") {
        return Err(HandshakeError::ConnectProtocol.into());
    }
    let Some(authority) = authority else {
        return Err(HandshakeError::MissingHost.into());
    };
    check_version(&headers)?;
    let (target, _) = split_target(target);
    Ok(with_offers(target, Some(authority.to_owned()), headers, String::new()))
}

/// §4.2.1 item 6: one `Sec-WebSocket-Version`, 13; 426 otherwise (§4.2.2).
fn check_version(headers: &Headers) -> Result<(), BadRequest> {
    let mut versions = header_values(headers, "Sec-WebSocket-Version");
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.trim_ascii() == b"13" => Ok(()),
        _ => Err(HandshakeError::Version.into()),
    }
}

/// The request, with the subprotocols and extensions it offers.
fn with_offers(target: String, authority: Option<String>, headers: Headers, key: String) -> Request {
    // Not UTF-8 reads as U+FFFD, no token: answering with it would name
    // bytes the client never sent (§4.2.2: one of the values it offered).
    let mut protocols = all_items(&headers, "Sec-WebSocket-Protocol");
    protocols.retain(|p| is_token(p));
    let extensions = all_items(&headers, "Sec-WebSocket-Extensions");
    Request {
        target,
        authority,
        headers,
        key,
        protocols,
        extensions,
    }
}

/// The rules of §4.2.1 on a parsed request head. `authority` is the
/// host an HTTP stack took from the URI, which stands for a missing `Host`
/// header (from bytes, `Host` is required: RFC 9112 §3.2).
fn judge(
    method: &str,
    http11: bool,
    target: &str,
    authority: Option<&str>,
    headers: Headers,
) -> Result<Request, BadRequest> {
    if method != "GET" {
        return Err(HandshakeError::Method(method.to_owned()).into());
    }
    if !http11 {
        return Err(HandshakeError::HttpVersion.into());
    }
    let mut hosts = header_values(&headers, "Host");
    match (hosts.next(), hosts.next()) {
        (Some(_), None) => {}
        (None, _) if authority.is_some() => {}
        (None, _) => return Err(HandshakeError::MissingHost.into()),
        (Some(_), Some(_)) => return Err(HandshakeError::DuplicateHost.into()),
    }
    drop(hosts);
    let (target, absolute) = split_target(target);
    // Only an authority the request would not otherwise show: a `Host`
    // header says the same, and `Request::host` reads it.
    let authority = absolute.or_else(|| {
        let has_host = header_values(&headers, "Host").next().is_some();
        authority.filter(|_| !has_host).map(str::to_owned)
    });
    if !any_has_token(&headers, "Upgrade", "websocket") {
        return Err(HandshakeError::Upgrade.into());
    }
    if !any_has_token(&headers, "Connection", "Upgrade") {
        return Err(HandshakeError::Connection.into());
    }
    check_version(&headers)?;
    let mut keys = header_values(&headers, "Sec-WebSocket-Key");
    let key = match (keys.next(), keys.next()) {
        (Some(k), None) => k.trim_ascii(),
        _ => return Err(HandshakeError::Key.into()),
    };
    match BASE64.decode(key) {
        Ok(nonce) if nonce.len() == 16 => {}
        _ => return Err(HandshakeError::Key.into()),
    }
    let key = String::from_utf8_lossy(key).into_owned();
    drop(keys);
    Ok(with_offers(target, authority, headers, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::fixtures::{LIMITS, RFC_REQUEST};

    fn expect_bad(request: &[u8], status: u16) -> HandshakeError {
        let bad = parse_request(request, LIMITS).expect_err("request must be refused");
        assert_eq!(bad.status, status, "{:?}", bad.error);
        bad.error
    }

    fn replace(original: &[u8], from: &str, to: &str) -> Vec<u8> {
        String::from_utf8(original.to_vec())
            .unwrap()
            .replace(from, to)
            .into_bytes()
    }

    // RFC 6455 §4.2.1: a valid request, with everything the application sees.
    #[test]
    fn server_parses_rfc_request() {
        let mut bytes = RFC_REQUEST.to_vec();
        bytes.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
        let (request, consumed) = parse_request(&bytes, LIMITS).unwrap().unwrap();
        assert_eq!(consumed, RFC_REQUEST.len(), "frame bytes are left over");
        assert_eq!(request.path(), "/chat");
        assert_eq!(request.query(), Some("x=1"));
        assert_eq!(request.host(), "server.example.com");
        assert_eq!(request.origin(), Some("http://example.com"));
        assert_eq!(request.protocols(), ["chat", "superchat"]);
        assert!(request.extensions().is_empty());
    }

    #[test]
    fn server_waits_for_the_whole_request() {
        for cut in 0..RFC_REQUEST.len() {
            assert!(
                parse_request(&RFC_REQUEST[..cut], LIMITS).unwrap().is_none(),
                "cut {cut}"
            );
        }
    }

    // RFC 6455 §4.2.1 items 1-6 and §4.2.2 (426 for other versions).
    #[test]
    fn server_refuses_bad_requests() {
        assert_eq!(
            expect_bad(&replace(RFC_REQUEST, "GET", "POST"), 400),
            HandshakeError::Method("POST".into())
        );
        assert_eq!(
            expect_bad(&replace(RFC_REQUEST, "HTTP/1.1", "HTTP/1.0"), 400),
            HandshakeError::HttpVersion
        );
        assert_eq!(
            expect_bad(&replace(RFC_REQUEST, "Host:", "X-Host:"), 400),
            HandshakeError::MissingHost
        );
        assert_eq!(
            expect_bad(&replace(RFC_REQUEST, "Upgrade: websocket", "Upgrade: h2c"), 400),
            HandshakeError::Upgrade
        );
        assert_eq!(
            expect_bad(&replace(RFC_REQUEST, "keep-alive, Upgrade", "keep-alive"), 400),
            HandshakeError::Connection
        );
        assert_eq!(
            expect_bad(&replace(RFC_REQUEST, "dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="), 400),
            HandshakeError::Key
        );
        assert_eq!(
            expect_bad(&replace(RFC_REQUEST, "dGhlIHNhbXBsZSBub25jZQ==", "!!!"), 400),
            HandshakeError::Key
        );
        assert_eq!(
            expect_bad(&replace(RFC_REQUEST, "Version: 13", "Version: 8"), 426),
            HandshakeError::Version
        );
    }

    #[test]
    fn tokens_are_case_insensitive_in_lists() {
        let request = replace(RFC_REQUEST, "Upgrade: websocket", "Upgrade: foo, WebSocket");
        let request = replace(
            core::str::from_utf8(&request).unwrap().as_bytes(),
            "keep-alive, Upgrade",
            "keep-alive,upgrade",
        );
        assert!(parse_request(&request, LIMITS).unwrap().is_some());
    }

    #[test]
    fn header_limits_answer_431() {
        let mut huge = RFC_REQUEST[..RFC_REQUEST.len() - 2].to_vec();
        while huge.len() < LIMITS.max_bytes {
            huge.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(expect_bad(&huge, 431), HandshakeError::TooLarge);
        let few = Limits {
            max_bytes: 16 * 1024,
            max_headers: 4,
        };
        assert_eq!(parse_request(RFC_REQUEST, few).unwrap_err().status, 431);
    }

    // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
    // code to any HTTP/1.1 request message that lacks a Host header field
    // and to any request message that contains more than one Host header
    // field line or a Host header field with an invalid field value."
    #[test]
    fn server_refuses_a_second_host_header() {
        let twice = replace(RFC_REQUEST, "Origin:", "Host: other.example\r\nOrigin:");
        assert_eq!(expect_bad(&twice, 400), HandshakeError::DuplicateHost);
    }

    // RFC 9112 §3.2.2: a server MUST accept the absolute form, and then the
    // target's authority is the host (the Host header is ignored).
    #[test]
    fn server_reads_host_and_path_from_an_absolute_form_target() {
        let absolute = replace(RFC_REQUEST, "GET /chat?x=1 ", "GET http://other.example:81/x?y=2 ");
        let (request, _) = parse_request(&absolute, LIMITS).unwrap().unwrap();
        assert_eq!(request.path(), "/x");
        assert_eq!(request.query(), Some("y=2"));
        assert_eq!(request.target(), "/x?y=2");
        assert_eq!(request.host(), "other.example:81");

        let bare = replace(RFC_REQUEST, "GET /chat?x=1 ", "GET HTTP://other.example ");
        let (request, _) = parse_request(&bare, LIMITS).unwrap().unwrap();
        assert_eq!((request.target(), request.host()), ("/", "other.example"));

        let ws = replace(RFC_REQUEST, "GET /chat?x=1 ", "GET wss://other.example/x ");
        let (request, _) = parse_request(&ws, LIMITS).unwrap().unwrap();
        assert_eq!((request.target(), request.host()), ("/x", "other.example"));
    }

    // §4.2.2: the server's answer names "one of the values" the client
    // offered, which are tokens (§4.1 item 10). An item that is no token,
    // or not UTF-8 (read as U+FFFD), is left out: an answer naming it
    // would send other bytes than the client's, or break the header.
    #[test]
    fn offers_that_are_not_tokens_are_left_out() {
        let mut bytes = RFC_REQUEST[..RFC_REQUEST.len() - 2].to_vec();
        bytes.extend_from_slice(b"Sec-WebSocket-Protocol: \xff, a b, v2, \"q\"\r\n\r\n");
        let (request, _) = parse_request(&bytes, LIMITS).unwrap().unwrap();
        assert_eq!(request.protocols(), ["chat", "superchat", "v2"]);
    }
}
