//! The opening handshake (RFC 6455 §4), both roles, as pure functions over
//! bytes: build a request, parse and judge it, answer it, and validate the
//! answer. [`Connection`](crate::Connection) drives these; an HTTP framework
//! that parsed the request itself can call them directly.

use crate::error::HandshakeError;
pub use crate::error::UrlError;
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

/// The GUID that §1.3 appends to the key before hashing.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (§4.2.2 step 5.4):
/// base64(SHA-1(key + GUID)).
///
/// ```
/// // The example of RFC 6455 §1.3.
/// assert_eq!(
///     rfc6455::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    BASE64.encode(sha.finalize())
}

/// Whether a comma-separated header value contains `token`, compared
/// case-insensitively (§4.1: `Upgrade` and `Connection` are token lists).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether `s` is an HTTP token (RFC 9110 §5.6.2), as subprotocol names
/// must be (RFC 6455 §4.1 item 10).
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// The items of a comma-separated header value, trimmed, empty ones dropped.
fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Headers of a parsed HTTP message, names as sent.
type Headers = Vec<(String, Vec<u8>)>;

fn header_values<'h, 'n>(headers: &'h Headers, name: &'n str) -> impl Iterator<Item = &'h [u8]> + use<'h, 'n> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

fn any_has_token(headers: &Headers, name: &str, token: &str) -> bool {
    header_values(headers, name).any(|v| has_token(v, token))
}

/// All items of every `name` header, in order (repeated headers are one
/// list, RFC 9110 §5.3). Bytes that are not UTF-8 become U+FFFD: such an
/// item matches nothing anyone offered, so it is refused, not dropped.
fn all_items(headers: &Headers, name: &str) -> Vec<String> {
    header_values(headers, name)
        .map(String::from_utf8_lossy)
        .flat_map(|v| list_items(&v).map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// Whether `value` can stand in a header line as it is: no CR, LF or NUL
/// (RFC 9110 §5.5), so it cannot end the line and start another.
fn is_field_value(value: &str) -> bool {
    !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// `Ok` if `name: value` is one well-formed header line.
fn check_header(name: &str, value: &str) -> Result<(), HandshakeError> {
    if is_token(name) && is_field_value(value) {
        Ok(())
    } else {
        Err(HandshakeError::InvalidHeader(name.to_owned()))
    }
}

fn copy_headers(parsed: &[httparse::Header<'_>]) -> Headers {
    parsed.iter().map(|h| (h.name.to_owned(), h.value.to_owned())).collect()
}

/// Size limits applied while reading a handshake.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_bytes: usize,
    pub max_headers: usize,
}

/// Room for the headers `buf` can hold, at most `max_headers`: sized by
/// the bytes that arrived, never by the configured maximum (a header line
/// takes at least three bytes, `a:` and a line end).
fn header_storage(buf: &[u8], limits: Limits) -> Vec<httparse::Header<'static>> {
    alloc::vec![httparse::EMPTY_HEADER; limits.max_headers.min(buf.len() / 3 + 1)]
}

/// Empty lines accepted before a request or status line. RFC 9112 §2.2:
/// a recipient "SHOULD ignore at least one empty line (CRLF) received prior
/// to the request-line"; a few more are harmless, a stream of them is not
/// (each one re-ran the whole parse: quadratic).
const MAX_LEADING_EMPTY_LINES: usize = 4;

/// `Err` once more empty lines lead `buf` than [`MAX_LEADING_EMPTY_LINES`].
fn check_leading_empty_lines(buf: &[u8]) -> Result<(), HandshakeError> {
    let mut rest = buf;
    for _ in 0..=MAX_LEADING_EMPTY_LINES {
        rest = match rest {
            [b'\r', b'\n', tail @ ..] | [b'\n', tail @ ..] => tail,
            _ => return Ok(()),
        };
    }
    Err(HandshakeError::Malformed("too many empty lines before the start line"))
}

/// Maps httparse's verdicts, turning "still partial at the size limit"
/// into [`HandshakeError::TooLarge`].
fn parse_status(
    status: Result<httparse::Status<usize>, httparse::Error>,
    buffered: usize,
    limits: Limits,
) -> Result<Option<usize>, HandshakeError> {
    match status {
        Ok(httparse::Status::Complete(n)) if n <= limits.max_bytes => Ok(Some(n)),
        Ok(httparse::Status::Complete(_)) => Err(HandshakeError::TooLarge),
        Ok(httparse::Status::Partial) if buffered >= limits.max_bytes => Err(HandshakeError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::TooLarge),
        Err(e) => Err(HandshakeError::Malformed(e.description_str())),
    }
}

trait Describe {
    fn description_str(&self) -> &'static str;
}

impl Describe for httparse::Error {
    fn description_str(&self) -> &'static str {
        match self {
            httparse::Error::HeaderName => "invalid header name",
            httparse::Error::HeaderValue => "invalid header value",
            httparse::Error::NewLine => "invalid line ending",
            httparse::Error::Status => "invalid status",
            httparse::Error::Token => "invalid token",
            httparse::Error::TooManyHeaders => "too many headers",
            httparse::Error::Version => "invalid HTTP version",
        }
    }
}

// ---------------------------------------------------------------- client

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
    protocols: Vec<String>,
    extensions: Vec<String>,
    headers: Vec<(String, String)>,
    require_protocol: bool,
}

impl ClientRequest {
    /// A request for `resource` (path and query, starting with `/`) on
    /// `host`, which carries the port when it is not the scheme's default.
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
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Offers a subprotocol; offers keep the order they were added in.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// Fails the handshake when subprotocols were offered and the server
    /// chose none. RFC 6455 allows such an answer; the WHATWG WebSocket
    /// standard (which browsers follow) fails the connection.
    pub fn require_protocol(mut self, required: bool) -> Self {
        self.require_protocol = required;
        self
    }

    /// Offers an extension, e.g. `"permessage-deflate; client_max_window_bits"`.
    pub fn extension(mut self, offer: impl Into<String>) -> Self {
        self.extensions.push(offer.into());
        self
    }

    /// Adds a header line, e.g. `Authorization` or `Cookie`.
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
    /// add a header line or end the request early.
    /// [`Connection::client`](crate::Connection::client) fails a request
    /// that does not pass.
    pub fn check(&self) -> Result<(), HandshakeError> {
        if !is_field_value(&self.resource) || self.resource.contains(' ') {
            return Err(HandshakeError::InvalidHeader(String::from("request target")));
        }
        check_header("Host", &self.host)?;
        if let Some(origin) = &self.origin {
            check_header("Origin", origin)?;
        }
        for protocol in &self.protocols {
            check_header("Sec-WebSocket-Protocol", protocol)?;
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

/// What a successful handshake agreed on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Negotiated {
    pub protocol: Option<String>,
    pub extensions: String,
}

/// Reads and judges the server's answer (§4.1, "the client MUST validate
/// the server's response"). Returns the agreement and how many bytes the
/// response took; any bytes after that are frames.
pub(crate) fn validate_response(
    buf: &[u8],
    request: &ClientRequest,
    key: &str,
    limits: Limits,
) -> Result<Option<(Negotiated, usize)>, HandshakeError> {
    check_leading_empty_lines(buf)?;
    let mut storage = header_storage(buf, limits);
    let mut response = httparse::Response::new(&mut storage);
    let status = response.parse(buf);
    let Some(consumed) = parse_status(status, buf.len(), limits)? else {
        return Ok(None);
    };
    let headers = copy_headers(response.headers);
    // §4.1: the handshake is an HTTP/1.1 exchange.
    if response.version != Some(1) {
        return Err(HandshakeError::HttpVersion);
    }
    let code = response.code.unwrap_or(0);
    if code != 101 {
        return Err(HandshakeError::Status {
            code,
            reason: response.reason.unwrap_or("").to_owned(),
        });
    }
    if !any_has_token(&headers, "Upgrade", "websocket") {
        return Err(HandshakeError::Upgrade);
    }
    if !any_has_token(&headers, "Connection", "Upgrade") {
        return Err(HandshakeError::Connection);
    }
    let expected = accept_key(key.as_bytes());
    let mut accepts = header_values(&headers, "Sec-WebSocket-Accept");
    match (accepts.next(), accepts.next()) {
        (Some(value), None) if value.trim_ascii() == expected.as_bytes() => {}
        _ => return Err(HandshakeError::Accept),
    }
    let protocols = all_items(&headers, "Sec-WebSocket-Protocol");
    let protocol = match protocols.as_slice() {
        [] if request.require_protocol && !request.protocols.is_empty() => return Err(HandshakeError::NoProtocol),
        [] => None,
        [one] if request.protocols.iter().any(|p| p == one) => Some(one.clone()),
        _ => return Err(HandshakeError::UnofferedProtocol(protocols.join(", "))),
    };
    let extensions = all_items(&headers, "Sec-WebSocket-Extensions");
    for extension in &extensions {
        let name = extension.split(';').next().unwrap_or("").trim();
        let offered = request
            .extensions
            .iter()
            .any(|offer| list_items(offer).any(|o| o.split(';').next().unwrap_or("").trim() == name));
        if !offered {
            return Err(HandshakeError::UnofferedExtension(extension.clone()));
        }
    }
    let negotiated = Negotiated {
        protocol,
        extensions: extensions.join(", "),
    };
    Ok(Some((negotiated, consumed)))
}

// ---------------------------------------------------------------- server

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

    /// The `Sec-WebSocket-Key` (base64, as sent).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Subprotocols offered, in the client's order of preference.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// Extension offers, each with its parameters as sent.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }
}

/// The request target in origin form (path and query), and the authority
/// when it came in absolute form (`http://host/path`), which RFC 9112
/// §3.2.2 says a server must accept and take the host from.
fn split_target(target: &str) -> (String, Option<String>) {
    let lower = |n: usize| target.get(..n).map(str::to_ascii_lowercase);
    let scheme_len = if lower(7).as_deref() == Some("http://") {
        7
    } else if lower(8).as_deref() == Some("https://") {
        8
    } else {
        return (target.to_owned(), None);
    };
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
    let method = request.method.unwrap_or("");
    if method != "GET" {
        return Err(HandshakeError::Method(method.to_owned()).into());
    }
    if request.version != Some(1) {
        return Err(HandshakeError::HttpVersion.into());
    }
    let headers = copy_headers(request.headers);
    let mut hosts = header_values(&headers, "Host");
    match (hosts.next(), hosts.next()) {
        (Some(_), None) => {}
        (None, _) => return Err(HandshakeError::MissingHost.into()),
        (Some(_), Some(_)) => return Err(HandshakeError::DuplicateHost.into()),
    }
    drop(hosts);
    let (target, authority) = split_target(request.path.unwrap_or("/"));
    if !any_has_token(&headers, "Upgrade", "websocket") {
        return Err(HandshakeError::Upgrade.into());
    }
    if !any_has_token(&headers, "Connection", "Upgrade") {
        return Err(HandshakeError::Connection.into());
    }
    let mut versions = header_values(&headers, "Sec-WebSocket-Version");
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.trim_ascii() == b"13" => {}
        _ => return Err(HandshakeError::Version.into()),
    }
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
    drop(versions);
    let protocols = all_items(&headers, "Sec-WebSocket-Protocol");
    let extensions = all_items(&headers, "Sec-WebSocket-Extensions");
    let request = Request {
        target,
        authority,
        headers,
        key,
        protocols,
        extensions,
    };
    Ok(Some((request, consumed)))
}

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
    pub fn new() -> Self {
        Self::default()
    }

    /// Select one of the subprotocols the client offered.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Add a header line to the 101 response.
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
    out.push_str(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.push_str(&accept_key(request.key.as_bytes()));
    out.push_str("\r\n");
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

    const LIMITS: Limits = Limits {
        max_bytes: 16 * 1024,
        max_headers: 64,
    };

    const RFC_REQUEST: &[u8] = b"GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\n\
Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn expect_bad_with(request: &[u8], limits: Limits) -> HandshakeError {
        parse_request(request, limits)
            .expect_err("request must be refused")
            .error
    }

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

    fn client_request() -> ClientRequest {
        ClientRequest::new("example.com:8080", "/chat?room=1")
            .protocol("chat")
            .protocol("superchat")
            .origin("http://example.com")
            .extension("x-test; a=1")
            .header("Authorization", "Bearer t")
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

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

    const GOOD_RESPONSE: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    fn validate(response: &str) -> Result<Option<(Negotiated, usize)>, HandshakeError> {
        validate_response(response.as_bytes(), &client_request(), KEY, LIMITS)
    }

    // RFC 6455 §4.1: the client's checks on the server's answer.
    #[test]
    fn client_validates_response() {
        let (negotiated, consumed) = validate(GOOD_RESPONSE).unwrap().unwrap();
        assert_eq!(consumed, GOOD_RESPONSE.len());
        assert_eq!(negotiated, Negotiated::default());

        let with_protocol = GOOD_RESPONSE.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: superchat\r\n\r\n");
        assert_eq!(
            validate(&with_protocol).unwrap().unwrap().0.protocol.as_deref(),
            Some("superchat")
        );

        let with_ext = GOOD_RESPONSE.replace("\r\n\r\n", "\r\nSec-WebSocket-Extensions: x-test\r\n\r\n");
        assert_eq!(validate(&with_ext).unwrap().unwrap().0.extensions, "x-test");
    }

    #[test]
    fn client_rejects_bad_responses() {
        let cases = [
            (
                GOOD_RESPONSE.replace("101 Switching Protocols", "403 Forbidden"),
                HandshakeError::Status {
                    code: 403,
                    reason: "Forbidden".into(),
                },
            ),
            (
                GOOD_RESPONSE.replace("Upgrade: websocket", "Upgrade: h2c"),
                HandshakeError::Upgrade,
            ),
            (
                GOOD_RESPONSE.replace("Connection: Upgrade", "Connection: close"),
                HandshakeError::Connection,
            ),
            (
                GOOD_RESPONSE.replace("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                HandshakeError::Accept,
            ),
            (
                GOOD_RESPONSE.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: other\r\n\r\n"),
                HandshakeError::UnofferedProtocol("other".into()),
            ),
            (
                GOOD_RESPONSE.replace("\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"),
                HandshakeError::UnofferedExtension("permessage-deflate".into()),
            ),
        ];
        for (response, expected) in cases {
            assert_eq!(validate(&response), Err(expected), "{response}");
        }
        let no_offer = ClientRequest::new("h", "/");
        let with_protocol = GOOD_RESPONSE.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
        assert_eq!(
            validate_response(with_protocol.as_bytes(), &no_offer, KEY, LIMITS),
            Err(HandshakeError::UnofferedProtocol("chat".into()))
        );
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

    /// `GOOD_RESPONSE` with raw header bytes added before the blank line.
    fn response_with(extra: &[u8]) -> Vec<u8> {
        let mut bytes = GOOD_RESPONSE.as_bytes()[..GOOD_RESPONSE.len() - 2].to_vec();
        bytes.extend_from_slice(extra);
        bytes.extend_from_slice(b"\r\n");
        bytes
    }

    // RFC 6455 §4.1: "If the response includes a |Sec-WebSocket-Extensions|
    // header field and this header field indicates the use of an extension
    // that was not present in the client's handshake ... the client MUST
    // _Fail the WebSocket Connection_"; likewise a subprotocol not offered.
    // A value that is not UTF-8 cannot name anything offered.
    #[test]
    fn client_fails_on_non_utf8_protocol_or_extension() {
        let no_offer = ClientRequest::new("h", "/");
        for extra in [
            &b"Sec-WebSocket-Extensions: x-evil\xff"[..],
            b"Sec-WebSocket-Protocol: ch\xffat",
        ] {
            let response = response_with(&[extra, b"\r\n"].concat());
            let verdict = validate_response(&response, &no_offer, KEY, LIMITS);
            assert!(
                matches!(
                    verdict,
                    Err(HandshakeError::UnofferedExtension(_) | HandshakeError::UnofferedProtocol(_))
                ),
                "{:?}: {verdict:?}",
                String::from_utf8_lossy(extra)
            );
        }
    }

    // RFC 6455 §4.1 requires HTTP/1.1; a 101 in HTTP/1.0 is no upgrade.
    #[test]
    fn client_fails_on_an_http_1_0_response() {
        let response = GOOD_RESPONSE.replace("HTTP/1.1 101", "HTTP/1.0 101");
        assert_eq!(validate(&response), Err(HandshakeError::HttpVersion));
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
    }

    // Header injection: what the application writes into a handshake must
    // not add header lines (RFC 9110 §5.1: names are tokens; §5.5: values
    // carry no CR, LF or NUL).
    #[test]
    fn application_strings_cannot_inject_header_lines() {
        let bad = [
            ClientRequest::new("h", "/x HTTP/1.1\r\nEvil: 1\r\n"),
            ClientRequest::new("h\r\nEvil: 1", "/"),
            ClientRequest::new("h", "/").origin("o\r\nEvil: 1"),
            ClientRequest::new("h", "/").header("Evil: 1\r\nX", "v"),
            ClientRequest::new("h", "/").header("X", "v\nEvil: 1"),
            ClientRequest::new("h", "/").header("X", "v\0"),
            ClientRequest::new("h", "/").header("", "v"),
            ClientRequest::new("h", "/").protocol("chat\r\nEvil: 1"),
            ClientRequest::new("h", "/").extension("x\r\nEvil: 1"),
        ];
        for request in &bad {
            assert!(
                matches!(request.check(), Err(HandshakeError::InvalidHeader(_))),
                "{request:?}"
            );
        }
        assert_eq!(client_request().check(), Ok(()));

        for accept in [
            Accept::new().header("Set-Cookie", "a=1\r\n\r\nHTTP/1.1 200 OK"),
            Accept::new().header("Bad Name", "v"),
            Accept::new().protocol("chat\r\nEvil: 1"),
        ] {
            assert!(
                matches!(accept.check(), Err(HandshakeError::InvalidHeader(_))),
                "{accept:?}"
            );
        }
        assert_eq!(
            Accept::new().protocol("chat").header("Set-Cookie", "a=1").check(),
            Ok(())
        );
    }

    // Nothing is allocated from a configured maximum: a huge max_headers
    // costs what the request holds (it used to allocate the whole table,
    // 128 MiB at 1 << 22, a capacity overflow at usize::MAX).
    #[test]
    fn header_storage_follows_the_bytes_not_the_limit() {
        for max_headers in [1 << 22, usize::MAX] {
            let limits = Limits {
                max_bytes: 16 << 10,
                max_headers,
            };
            assert!(header_storage(RFC_REQUEST, limits).len() <= RFC_REQUEST.len() / 3 + 1);
            let (request, _) = parse_request(RFC_REQUEST, limits).unwrap().unwrap();
            assert_eq!(request.host(), "server.example.com");
        }
        // The limit still counts: one header fewer than sent is too many.
        let limits = Limits {
            max_bytes: 16 << 10,
            max_headers: 6,
        };
        assert_eq!(expect_bad_with(RFC_REQUEST, limits), HandshakeError::TooLarge);
    }
}
