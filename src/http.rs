//! The opening handshake in the `http` crate's types, for HTTP stacks
//! (hyper, axum, …) that parse requests and perform the upgrade
//! themselves.
//!
//! Every rule stays in the core: these functions translate between
//! `http::Request`/`http::Response` and the handshake bytes the core reads
//! and writes, so a request accepted here is accepted by exactly the checks
//! a raw socket gets (RFC 6455 §4.2.1), with subprotocol and
//! permessage-deflate negotiation, and the [`Connection`] returned is open
//! and ready for the upgraded stream.
//!
//! Server, inside a request handler:
//!
//! ```
//! use rfc6455::{Accept, Config};
//!
//! let request = http::Request::get("/chat")
//!     .header("Host", "example.com")
//!     .header("Upgrade", "websocket")
//!     .header("Connection", "Upgrade")
//!     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
//!     .header("Sec-WebSocket-Version", "13")
//!     .body(())
//!     .unwrap();
//! let upgrade = rfc6455::http::accept(&request, Config::default(), |_| Ok(Accept::new()))
//!     .map_err(|refused| refused.error)?;
//! assert_eq!(upgrade.response.status(), 101);
//! assert_eq!(upgrade.response.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
//! // Send `upgrade.response`; once the HTTP stack hands over the upgraded
//! // stream, run `upgrade.connection` over it (e.g. with
//! // `rfc6455::tokio::WebSocket::from_connection`).
//! # Ok::<(), rfc6455::Error>(())
//! ```

use crate::config::Config;
use crate::connection::{Connection, Event, ReadyState};
use crate::error::{Error, HandshakeError, Misuse, UrlError};
use crate::handshake::{Accept, ClientRequest, Request};
use std::boxed::Box;
use std::vec::Vec;

/// An accepted upgrade: the response to send and the open connection to
/// run over the upgraded stream.
#[derive(Debug)]
pub struct Upgrade {
    /// `101 Switching Protocols`, with `Sec-WebSocket-Accept` and whatever
    /// was negotiated.
    pub response: ::http::Response<()>,
    /// The connection, open; bytes the HTTP stack read past the request
    /// go in with [`Connection::receive`].
    pub connection: Connection,
}

/// A refused upgrade: the response to send (400, 426, or the status the
/// application chose) and why.
#[derive(Debug)]
pub struct Refused {
    /// The error response.
    pub response: ::http::Response<()>,
    /// What was wrong with the request, or [`HandshakeError::Rejected`].
    pub error: Error,
}

/// Server: judges an upgrade request an HTTP stack already parsed (RFC 6455
/// §4.2.1); `decide` sees it as a [`Request`] and accepts (choosing a
/// subprotocol, adding headers) or refuses with a status.
///
/// The request body is ignored (an upgrade request has none).
///
/// # Errors
///
/// A [`Refused`], whose response is to be sent: 400, 426 or 431 with an
/// [`Error::Handshake`] for a request RFC 6455 §4.2.1 refuses; the status
/// `decide` chose with [`HandshakeError::Rejected`]; 500 with the error
/// of [`Connection::accept`] when it refuses what `decide` accepted with
/// (an unoffered subprotocol, a header that fails [`Accept::check`]), or
/// with [`Misuse::NoHttpMessage`] if the 101 cannot be expressed in
/// `http` types.
pub fn accept<B>(
    request: &::http::Request<B>,
    config: Config,
    decide: impl FnOnce(&Request) -> Result<Accept, u16>,
) -> Result<Upgrade, Box<Refused>> {
    accept_head(
        request.method(),
        request.version(),
        connect_protocol(request.extensions()),
        request.uri(),
        request.headers(),
        config,
        decide,
    )
}

/// The `:protocol` pseudo-header of an HTTP/2 extended CONNECT (RFC 8441
/// §4), as hyper or h2 hand it over in the request's extensions.
#[cfg(feature = "http2")]
pub(crate) fn connect_protocol(extensions: &::http::Extensions) -> Option<&str> {
    extensions
        .get::<::hyper::ext::Protocol>()
        .map(::hyper::ext::Protocol::as_str)
        .or_else(|| extensions.get::<::h2::ext::Protocol>().map(::h2::ext::Protocol::as_str))
}

/// Without feature `http2` no extended CONNECT is accepted.
#[cfg(not(feature = "http2"))]
pub(crate) fn connect_protocol(_: &::http::Extensions) -> Option<&str> {
    None
}

/// [`accept`] from a request's head, as extractors see it (axum's
/// `FromRequestParts`, a hyper service that split the request): no whole
/// `Request` needs rebuilding.
///
/// # Errors
///
/// As [`accept`].
///
/// ```
/// use rfc6455::{Accept, Config};
///
/// let (parts, _body) = http::Request::get("/chat")
///     .header("Host", "example.com")
///     .header("Upgrade", "websocket")
///     .header("Connection", "Upgrade")
///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("Sec-WebSocket-Version", "13")
///     .body("ignored")
///     .unwrap()
///     .into_parts();
/// let upgrade = rfc6455::http::accept_parts(&parts, Config::default(), |_| Ok(Accept::new()))
///     .map_err(|refused| refused.error)?;
/// assert_eq!(upgrade.response.status(), 101);
/// # Ok::<(), rfc6455::Error>(())
/// ```
pub fn accept_parts(
    parts: &::http::request::Parts,
    config: Config,
    decide: impl FnOnce(&Request) -> Result<Accept, u16>,
) -> Result<Upgrade, Box<Refused>> {
    accept_head(
        &parts.method,
        parts.version,
        connect_protocol(&parts.extensions),
        &parts.uri,
        &parts.headers,
        config,
        decide,
    )
}

pub(crate) fn accept_head(
    method: &::http::Method,
    version: ::http::Version,
    protocol: Option<&str>,
    uri: &::http::Uri,
    headers: &::http::HeaderMap,
    config: Config,
    decide: impl FnOnce(&Request) -> Result<Accept, u16>,
) -> Result<Upgrade, Box<Refused>> {
    let limits = crate::handshake::Limits {
        max_bytes: config.max_handshake_size,
        max_headers: config.max_headers,
    };
    let mut conn = Connection::server(config);
    let refused = |conn: &mut Connection, error: Error| {
        let response = response_of(conn).unwrap_or_else(|_| status_only(500));
        Box::new(Refused { response, error })
    };
    // Judged where the HTTP stack left it: no HTTP/1.1 bytes rebuilt for
    // the core's parser. HTTP/2 requests reach a WebSocket only through
    // extended CONNECT (RFC 8441, feature `http2`); any other request that
    // is not HTTP/1.1 is refused as RFC 6455 §4.1 requires.
    let http11 = version == ::http::Version::HTTP_11;
    // An absolute-form target (RFC 9112 §3.2.2) is judged whole, as from
    // bytes: its authority, not the `Host` header, is the host.
    let whole;
    let target = match uri.scheme().is_some() && http11 {
        true => {
            whole = std::format!("{uri}");
            whole.as_str()
        }
        false => uri.path_and_query().map_or("/", |p| p.as_str()),
    };
    let head = crate::handshake::judge_head(
        method.as_str(),
        http11,
        protocol.filter(|_| version == ::http::Version::HTTP_2),
        target,
        uri.authority().map(|a| a.as_str()),
        headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes())),
        limits,
    );
    if let Err(error) = conn.receive_head(head) {
        return Err(refused(&mut conn, error));
    }
    let decision = match conn.request() {
        Some(request) => decide(request),
        None => return Err(refused(&mut conn, Error::Handshake(HandshakeError::Eof))),
    };
    match decision {
        Ok(accept) => {
            if let Err(error) = conn.accept(accept) {
                return Err(Box::new(Refused {
                    response: status_only(500),
                    error,
                }));
            }
        }
        Err(status) => {
            let status = crate::handshake::refusal_status(status);
            let _ = conn.reject(status);
            return Err(refused(&mut conn, HandshakeError::Rejected(status).into()));
        }
    }
    let response = response_of(&mut conn).map_err(|error| {
        Box::new(Refused {
            response: status_only(500),
            error,
        })
    })?;
    // The open event: from here on the connection frames.
    let _ = conn.poll_event();
    Ok(Upgrade {
        response,
        connection: conn,
    })
}

/// Client: the [`ClientRequest`] an `http::Request` describes, and whether
/// it asks for TLS — for `connect_request` in either driver, as
/// tokio-tungstenite's `connect_async(request)` takes one.
///
/// The URI is absolute: `ws://` or `http://`, `wss://` or `https://`, a host,
/// maybe a port, path and query. `Sec-WebSocket-Protocol` values become the
/// offered subprotocols, `Sec-WebSocket-Extensions` an extension offer,
/// `Origin` the origin, and every other header goes out as given
/// (`Authorization`, `Cookie`, …). The handshake writes `Upgrade`,
/// `Connection`, `Sec-WebSocket-Key` and `Sec-WebSocket-Version` itself, so
/// those are dropped (a request built for tungstenite carries them), and a
/// `Host` header must name the URI's authority.
///
/// ```no_run
/// # async fn demo() -> Result<(), rfc6455::Error> {
/// use rfc6455::{Config, tokio::WebSocket};
///
/// let request = http::Request::get("wss://example.com/feed")
///     .header("Authorization", "Bearer t0ken")
///     .header("Sec-WebSocket-Protocol", "feed.v2, feed.v1")
///     .body(())
///     .unwrap();
/// let (request, secure) = rfc6455::http::client_request(&request)?;
/// let ws = WebSocket::connect_request(request, secure, Config::default()).await?;
/// # let _ = ws;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`Error::Url`] for a URI without a scheme or host, or with another
/// scheme; [`HandshakeError::Method`] for a method other than GET;
/// [`HandshakeError::InvalidHeader`] for a header value that is not visible
/// ASCII or UTF-8, a `Host` naming another authority, or a string that
/// would break the request line (see [`ClientRequest::check`]).
pub fn client_request<B>(request: &::http::Request<B>) -> Result<(ClientRequest, bool), Error> {
    use ::http::header;
    if request.method() != ::http::Method::GET {
        return Err(HandshakeError::Method(request.method().as_str().into()).into());
    }
    let uri = request.uri();
    let secure = match uri.scheme_str() {
        Some("ws" | "http") => false,
        Some("wss" | "https") => true,
        Some(_) => return Err(Error::Url(UrlError::Scheme)),
        None => return Err(Error::Url(UrlError::Invalid)),
    };
    let authority = uri.authority().ok_or(Error::Url(UrlError::Invalid))?;
    // Without userinfo: browsers never send it, and `Host` may not carry it.
    let host = match authority.port() {
        Some(port) => std::format!("{}:{}", authority.host(), port.as_str()),
        None => authority.host().into(),
    };
    let resource = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut client = ClientRequest::new(host, resource);
    for (name, value) in request.headers() {
        let invalid = || Error::from(HandshakeError::InvalidHeader(name.as_str().into()));
        let value = core::str::from_utf8(value.as_bytes()).map_err(|_| invalid())?;
        client = match *name {
            header::UPGRADE | header::CONNECTION | header::SEC_WEBSOCKET_KEY | header::SEC_WEBSOCKET_VERSION => client,
            header::HOST if value.eq_ignore_ascii_case(client.host()) => client,
            header::HOST => return Err(invalid()),
            header::SEC_WEBSOCKET_PROTOCOL => value
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .fold(client, |client, p| client.protocol(p)),
            header::SEC_WEBSOCKET_EXTENSIONS => client.extension(value),
            header::ORIGIN => client.origin(value),
            _ => client.header(name.as_str(), value),
        };
    }
    client.check()?;
    Ok((client, secure))
}

/// A client handshake in progress: [`ClientHandshake::request`] is sent by
/// the HTTP stack, whose response goes to [`ClientHandshake::finish`].
#[derive(Debug)]
pub struct ClientHandshake {
    conn: Connection,
    /// An extended CONNECT (RFC 8441) over TLS (`https`) or not (`http`);
    /// `None` for an HTTP/1.1 upgrade.
    extended_connect: Option<bool>,
}

impl ClientHandshake {
    /// Starts a client handshake (RFC 6455 §4.1) with a fresh key.
    pub fn new(request: ClientRequest, config: Config) -> Self {
        Self {
            conn: Connection::client(request, config),
            extended_connect: None,
        }
    }

    /// Starts a client handshake as an HTTP/2 extended CONNECT (RFC 8441
    /// §5): [`request`](Self::request) is a `CONNECT` with the `:protocol`
    /// `websocket` (in the request's extensions, for h2 and for hyper, with
    /// feature `http2`), `Sec-WebSocket-Version`, the offered subprotocols
    /// and extensions and the extra headers, and no key; the server's `200`
    /// goes to [`finish`](Self::finish). `secure`: the `:scheme` is `https`
    /// (else `http`).
    pub fn extended_connect(request: ClientRequest, secure: bool, config: Config) -> Self {
        Self {
            conn: Connection::client_extended_connect(request, config),
            extended_connect: Some(secure),
        }
    }

    /// The upgrade request as an `http::Request`: `GET` of the resource
    /// (origin form) with `Host`, the key, offers and extra headers.
    ///
    /// # Errors
    ///
    /// [`Error::Misuse`] with [`Misuse::NoHttpMessage`] when no request is
    /// queued (it failed [`ClientRequest::check`]), or
    /// [`Misuse::NotHttpTypes`] when the `http` crate refuses a part of it.
    pub fn request(&self) -> Result<::http::Request<()>, Error> {
        if let Some(secure) = self.extended_connect {
            return self.connect_request(secure);
        }
        let bytes = self.conn.pending_output();
        let mut storage = header_storage(bytes.len());
        let mut parsed = httparse::Request::new(&mut storage);
        match parsed.parse(bytes) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return Err(Error::Misuse(Misuse::NoHttpMessage)),
        }
        let mut builder = ::http::Request::get(parsed.path.unwrap_or("/"));
        for header in parsed.headers.iter() {
            builder = builder.header(header.name, header.value);
        }
        builder.body(()).map_err(|_| Error::Misuse(Misuse::NotHttpTypes))
    }

    /// RFC 8441 §4, §5: the extended CONNECT, from the same request the
    /// HTTP/1.1 handshake encodes, less what HTTP/2 has no use for (the
    /// upgrade headers, the key; `Host` becomes the `:authority`).
    fn connect_request(&self, secure: bool) -> Result<::http::Request<()>, Error> {
        let request = self.conn.client_request().ok_or(Error::Misuse(Misuse::NoHttpMessage))?;
        request.check()?;
        let bytes = request.encode("-");
        let mut storage = header_storage(bytes.len());
        let mut parsed = httparse::Request::new(&mut storage);
        match parsed.parse(&bytes) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return Err(Error::Misuse(Misuse::NoHttpMessage)),
        }
        let scheme = if secure { "https" } else { "http" };
        let uri = std::format!("{scheme}://{}{}", request.host(), request.resource());
        let mut builder = ::http::Request::builder()
            .method(::http::Method::CONNECT)
            .version(::http::Version::HTTP_2)
            .uri(uri);
        for header in parsed.headers.iter() {
            let dropped = ["Host", "Upgrade", "Connection", "Sec-WebSocket-Key"];
            if !dropped.iter().any(|d| header.name.eq_ignore_ascii_case(d)) {
                builder = builder.header(header.name, header.value);
            }
        }
        #[cfg(feature = "http2")]
        {
            builder = builder
                .extension(::h2::ext::Protocol::from_static("websocket"))
                .extension(::hyper::ext::Protocol::from_static("websocket"));
        }
        builder.body(()).map_err(|_| Error::Misuse(Misuse::NotHttpTypes))
    }

    /// Judges the server's response (RFC 6455 §4.1: status 101, `Upgrade`,
    /// `Connection`, the accept key, and only offered subprotocols and
    /// extensions) and returns the open connection for the upgraded stream.
    ///
    /// # Errors
    ///
    /// [`Error::Handshake`] saying what the response (or the request, if it
    /// failed [`ClientRequest::check`]) got wrong.
    pub fn finish<B>(mut self, response: &::http::Response<B>) -> Result<Connection, Error> {
        let sent = self.conn.pending_output().len();
        self.conn.advance_output(sent);
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(b"HTTP/1.1 ");
        bytes.extend_from_slice(response.status().as_str().as_bytes());
        bytes.extend_from_slice(b" ");
        bytes.extend_from_slice(response.status().canonical_reason().unwrap_or("").as_bytes());
        bytes.extend_from_slice(b"\r\n");
        push_headers(&mut bytes, response.headers());
        self.conn.receive(&bytes);
        match self.conn.poll_event() {
            Some(Event::Open) => Ok(self.conn),
            Some(Event::Failed(error)) => Err(error),
            _ => Err(HandshakeError::Eof.into()),
        }
    }
}

fn push_headers(bytes: &mut Vec<u8>, headers: &::http::HeaderMap) {
    for (name, value) in headers {
        bytes.extend_from_slice(name.as_str().as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
}

/// Room for every header line of a message the core encoded, `len` bytes:
/// ours, so as
/// many as the application put in (a fixed table would refuse a valid
/// handshake past its size), and each line takes at least three bytes.
fn header_storage<'b>(len: usize) -> Vec<httparse::Header<'b>> {
    std::vec![httparse::EMPTY_HEADER; len / 3 + 1]
}

/// The response the core queued, as an `http::Response`.
fn response_of(conn: &mut Connection) -> Result<::http::Response<()>, Error> {
    let invalid = || Error::Misuse(Misuse::NoHttpMessage);
    let mut storage = header_storage(conn.pending_output().len());
    let mut parsed = httparse::Response::new(&mut storage);
    let consumed = match parsed.parse(conn.pending_output()) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err(invalid()),
    };
    let mut builder = ::http::Response::builder().status(parsed.code.ok_or_else(invalid)?);
    for header in parsed.headers.iter() {
        // The HTTP stack frames the response itself.
        if !header.name.eq_ignore_ascii_case("content-length") {
            builder = builder.header(header.name, header.value);
        }
    }
    let response = builder.body(()).map_err(|_| invalid())?;
    conn.advance_output(consumed);
    debug_assert!(conn.ready_state() != ReadyState::Connecting || conn.pending_output().is_empty());
    Ok(response)
}

fn status_only(status: u16) -> ::http::Response<()> {
    let mut response = ::http::Response::new(());
    *response.status_mut() = ::http::StatusCode::from_u16(status).unwrap_or(::http::StatusCode::BAD_REQUEST);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn client(uri: &str) -> ::http::request::Builder {
        ::http::Request::get(uri)
    }

    /// The URI gives host, port, resource and TLS; the handshake's own
    /// headers (as a request built for tungstenite carries them) are
    /// dropped, the protocol header becomes offers, the rest goes out.
    #[test]
    fn client_request_maps_an_http_request() {
        let request = client("wss://example.com:8443/feed?since=42")
            .header("Host", "Example.com:8443")
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Protocol", "feed.v2, feed.v1")
            .header("Origin", "https://example.com")
            .header("Authorization", "Bearer t0ken")
            .body(())
            .unwrap();
        let (request, secure) = client_request(&request).unwrap();
        assert!(secure);
        assert_eq!(request.host(), "example.com:8443");
        assert_eq!(request.resource(), "/feed?since=42");
        assert_eq!(request.protocols(), ["feed.v2", "feed.v1"]);
        let conn = Connection::client(request, Config::default());
        let sent = String::from_utf8(conn.pending_output().to_vec()).unwrap();
        assert!(sent.starts_with("GET /feed?since=42 HTTP/1.1\r\n"), "{sent}");
        assert_eq!(
            sent.matches("Host:").count() + sent.matches("host:").count(),
            1,
            "{sent}"
        );
        assert_eq!(
            sent.to_ascii_lowercase().matches("sec-websocket-key:").count(),
            1,
            "{sent}"
        );
        assert!(
            !sent.contains("dGhlIHNhbXBsZSBub25jZQ=="),
            "the handshake makes its own key"
        );
        assert!(sent.contains("authorization: Bearer t0ken\r\n"), "{sent}");
        assert!(sent.contains("Origin: https://example.com\r\n"), "{sent}");

        let (request, secure) = client_request(&client("http://127.0.0.1/").body(()).unwrap()).unwrap();
        assert!(!secure);
        assert_eq!((request.host(), request.resource()), ("127.0.0.1", "/"));
    }

    #[test]
    fn client_request_refuses_what_it_cannot_send() {
        let error = |builder: ::http::request::Builder| client_request(&builder.body(()).unwrap()).unwrap_err();
        assert!(matches!(error(client("/relative")), Error::Url(UrlError::Invalid)));
        assert!(matches!(
            error(client("ftp://example.com/")),
            Error::Url(UrlError::Scheme)
        ));
        assert!(matches!(
            error(::http::Request::post("ws://example.com/")),
            Error::Handshake(HandshakeError::Method(m)) if m == "POST"
        ));
        assert!(matches!(
            error(client("ws://example.com/").header("Host", "other.example")),
            Error::Handshake(HandshakeError::InvalidHeader(name)) if name == "host"
        ));
        let not_utf8 = ::http::HeaderValue::from_bytes(b"\xff").unwrap();
        assert!(matches!(
            error(client("ws://example.com/").header("X-Bytes", not_utf8)),
            Error::Handshake(HandshakeError::InvalidHeader(name)) if name == "x-bytes"
        ));
    }

    fn upgrade_request() -> ::http::request::Builder {
        ::http::Request::get("/chat?room=1")
            .header("Host", "example.com")
            .header("Upgrade", "websocket")
            .header("Connection", "keep-alive, Upgrade")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", "13")
    }

    /// RFC 6455 §4.2.2 item 5: the accept key, 101, Upgrade, Connection.
    #[test]
    fn accepts_a_valid_request_with_the_rfc_sample_key() {
        let request = upgrade_request()
            .header("Sec-WebSocket-Protocol", "chat, superchat")
            .body(())
            .unwrap();
        let mut seen = String::new();
        let upgrade = accept(&request, Config::default(), |r| {
            seen = String::from(r.target());
            Ok(Accept::new().protocol("superchat"))
        })
        .unwrap();
        assert_eq!(seen, "/chat?room=1");
        let response = &upgrade.response;
        assert_eq!(response.status(), 101);
        assert_eq!(
            response.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(response.headers()["sec-websocket-protocol"], "superchat");
        assert!(
            response.headers()["upgrade"]
                .as_bytes()
                .eq_ignore_ascii_case(b"websocket")
        );
        assert_eq!(upgrade.connection.ready_state(), ReadyState::Open);
        assert_eq!(upgrade.connection.protocol(), Some("superchat"));
        assert!(upgrade.connection.pending_output().is_empty());
    }

    /// RFC 6455 §4.2.1 item 6 and §4.4: a wrong version is refused with
    /// 426 and the version the server speaks.
    #[test]
    fn refuses_a_wrong_version_with_426() {
        let mut request = upgrade_request().body(()).unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-version", ::http::HeaderValue::from_static("8"));
        let refused = accept(&request, Config::default(), |_| Ok(Accept::new())).unwrap_err();
        assert_eq!(refused.response.status(), 426);
        assert_eq!(refused.response.headers()["sec-websocket-version"], "13");
        assert!(matches!(refused.error, Error::Handshake(HandshakeError::Version)));
    }

    /// §4.1: "The method of the request MUST be GET, and the HTTP version
    /// MUST be at least 1.1". An HTTP/2 stream carries WebSockets only
    /// through extended CONNECT (RFC 8441), never an Upgrade header, and
    /// HTTP/1.0 is below the minimum: both are refused with 400.
    #[test]
    fn refuses_a_request_that_is_not_http_1_1() {
        for version in [::http::Version::HTTP_10, ::http::Version::HTTP_2] {
            let request = upgrade_request().version(version).body(()).unwrap();
            let refused = accept(&request, Config::default(), |_| Ok(Accept::new())).unwrap_err();
            assert_eq!(refused.response.status(), 400, "{version:?}");
            assert!(matches!(refused.error, Error::Handshake(HandshakeError::HttpVersion)));
        }
    }

    /// The configured limits hold for a request an HTTP stack parsed, as
    /// for one read from a socket: 431 past `max_headers` or
    /// `max_handshake_size` (RFC 6585 §5).
    #[test]
    fn the_handshake_limits_hold_for_parsed_requests() {
        let request = upgrade_request()
            .header("x-a", "1")
            .header("x-b", "2")
            .body(())
            .unwrap();
        let few = Config::default().max_headers(6);
        let refused = accept(&request, few, |_| Ok(Accept::new())).unwrap_err();
        assert_eq!(refused.response.status(), 431);
        assert!(matches!(refused.error, Error::Handshake(HandshakeError::TooLarge)));
        let request = upgrade_request().header("cookie", "c".repeat(300)).body(()).unwrap();
        let small = Config::default().max_handshake_size(256);
        let refused = accept(&request, small, |_| Ok(Accept::new())).unwrap_err();
        assert_eq!(refused.response.status(), 431);
        assert!(accept(&request, Config::default(), |_| Ok(Accept::new())).is_ok());
    }

    /// Without a `Host` header, the URI's authority (an absolute-form
    /// target) is the host; with neither, 400.
    #[test]
    fn the_uri_authority_stands_for_a_missing_host() {
        let mut request = upgrade_request().uri("http://example.com:8080/chat").body(()).unwrap();
        request.headers_mut().remove("host");
        let mut host = String::new();
        accept(&request, Config::default(), |r| {
            host = r.host().into();
            Ok(Accept::new())
        })
        .unwrap();
        assert_eq!(host, "example.com:8080");
        let mut request = upgrade_request().body(()).unwrap();
        request.headers_mut().remove("host");
        let refused = accept(&request, Config::default(), |_| Ok(Accept::new())).unwrap_err();
        assert!(matches!(refused.error, Error::Handshake(HandshakeError::MissingHost)));
    }

    /// RFC 9112 §3.2.2: with an absolute-form target the server "MUST
    /// ignore the received Host header field" and take the target's
    /// authority, as the raw-socket path does from the same bytes.
    #[test]
    fn an_absolute_form_target_names_the_host() {
        for uri in ["http://real.example:81/ws?x", "WS://real.example:81/ws?x"] {
            let mut request = upgrade_request().uri(uri).body(()).unwrap();
            request
                .headers_mut()
                .insert("host", ::http::HeaderValue::from_static("other.example"));
            let mut seen = (String::new(), String::new());
            accept(&request, Config::default(), |r| {
                seen = (r.host().into(), r.target().into());
                Ok(Accept::new())
            })
            .unwrap();
            assert_eq!(seen, ("real.example:81".into(), "/ws?x".into()), "{uri}");
            let mut raw = Connection::server(Config::default());
            raw.receive(
                std::format!(
                    "GET {uri} HTTP/1.1\r\nHost: other.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                )
                .as_bytes(),
            );
            match raw.poll_event() {
                Some(Event::Request(r)) => assert_eq!((r.host(), r.target()), ("real.example:81", "/ws?x")),
                other => panic!("{other:?}"),
            }
        }
    }

    /// §4.2.1: a request without the key is a 400.
    #[test]
    fn refuses_a_request_without_a_key_with_400() {
        let mut request = upgrade_request().body(()).unwrap();
        request.headers_mut().remove("sec-websocket-key");
        let refused = accept(&request, Config::default(), |_| Ok(Accept::new())).unwrap_err();
        assert_eq!(refused.response.status(), 400);
    }

    #[test]
    fn the_application_can_refuse() {
        let request = upgrade_request().body(()).unwrap();
        let refused = accept(&request, Config::default(), |_| Err(403)).unwrap_err();
        assert_eq!(refused.response.status(), 403);
        assert!(matches!(refused.error, Error::Handshake(HandshakeError::Rejected(403))));
    }

    /// The client's request and the server's answer, in `http` types only,
    /// meet in the middle: both connections open and frame to each other.
    #[test]
    fn client_and_server_handshake_through_http_types() {
        let client = ClientHandshake::new(
            ClientRequest::new("example.com", "/echo").protocol("v1"),
            Config::default(),
        );
        let request = client.request().unwrap();
        assert_eq!(request.uri(), "/echo");
        assert_eq!(request.headers()["sec-websocket-protocol"], "v1");
        let upgrade = accept(&request, Config::default(), |_| Ok(Accept::new().protocol("v1"))).unwrap();
        let mut client = client.finish(&upgrade.response).unwrap();
        let mut server = upgrade.connection;
        assert_eq!(client.protocol(), Some("v1"));
        assert_eq!(client.extensions(), server.extensions());
        client.send_text("hello").unwrap();
        let bytes = client.pending_output().to_vec();
        server.receive(&bytes);
        assert!(matches!(server.poll_event(), Some(Event::Text("hello"))));
    }

    /// A handshake with more header lines than a fixed table would hold
    /// (the application's own, in a request and in an answer) goes through
    /// whole, in both directions and over HTTP/2 too.
    #[test]
    fn handshakes_with_many_headers_keep_them_all() {
        let mut offer = ClientRequest::new("example.com", "/echo");
        let mut answer = Accept::new();
        for i in 0..100 {
            offer = offer.header(std::format!("X-Offer-{i}"), "v");
            answer = answer.header(std::format!("X-Answer-{i}"), "v");
        }
        // What each side accepts from the other is its own limit.
        let roomy = Config::default().max_headers(128);
        let client = ClientHandshake::new(offer.clone(), roomy.clone());
        let request = client.request().unwrap();
        assert_eq!(request.headers()["x-offer-99"], "v");
        let upgrade = accept(&request, roomy, |_| Ok(answer.clone())).unwrap();
        assert_eq!(upgrade.response.status(), 101);
        assert_eq!(upgrade.response.headers()["x-answer-99"], "v");
        client.finish(&upgrade.response).unwrap();
        let connect = ClientHandshake::extended_connect(offer, true, Config::default())
            .request()
            .unwrap();
        assert_eq!(connect.headers()["x-offer-99"], "v");
    }

    /// §4.1: the client fails a response whose accept key is wrong.
    #[test]
    fn client_refuses_a_wrong_accept_key() {
        let client = ClientHandshake::new(ClientRequest::new("example.com", "/"), Config::default());
        let response = ::http::Response::builder()
            .status(101)
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            .body(())
            .unwrap();
        assert!(matches!(
            client.finish(&response),
            Err(Error::Handshake(HandshakeError::Accept))
        ));
    }

    /// An HTTP/2 extended CONNECT as hyper hands it over (RFC 8441 §4).
    #[cfg(feature = "http2")]
    fn extended_connect() -> ::http::request::Builder {
        ::http::Request::connect("https://example.com/chat?room=1")
            .version(::http::Version::HTTP_2)
            .extension(::hyper::ext::Protocol::from_static("websocket"))
            .header("sec-websocket-version", "13")
    }

    /// RFC 8441 §5: accepted with a 200 and no accept key, subprotocol and
    /// permessage-deflate negotiated as over HTTP/1.1; the host is the
    /// `:authority`.
    #[cfg(feature = "http2")]
    #[test]
    fn accepts_an_extended_connect_with_200() {
        let request = extended_connect()
            .header("sec-websocket-protocol", "chat, superchat")
            .header("sec-websocket-extensions", "permessage-deflate; client_max_window_bits")
            .body(())
            .unwrap();
        let mut host = String::new();
        let upgrade = accept(&request, Config::default(), |r| {
            assert!(r.is_extended_connect());
            assert_eq!(r.key(), "");
            host = String::from(r.host());
            assert_eq!(r.target(), "/chat?room=1");
            Ok(Accept::new().protocol("chat"))
        })
        .unwrap();
        assert_eq!(host, "example.com");
        let response = &upgrade.response;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("sec-websocket-accept").is_none());
        assert!(response.headers().get("upgrade").is_none());
        assert!(response.headers().get("connection").is_none());
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
        assert!(
            response.headers()["sec-websocket-extensions"]
                .to_str()
                .unwrap()
                .starts_with("permessage-deflate")
        );
        assert_eq!(upgrade.connection.ready_state(), ReadyState::Open);
        // The same through the request's parts (axum's extractor path).
        let (parts, ()) = request.into_parts();
        assert!(accept_parts(&parts, Config::default(), |_| Ok(Accept::new())).is_ok());
    }

    /// RFC 8441 §5 with RFC 6455 §4.2.1's rules: the wrong `:protocol`, the
    /// wrong version, another method, a missing `:authority`, and an
    /// HTTP/2 request that is no extended CONNECT are refused.
    #[cfg(feature = "http2")]
    #[test]
    fn refuses_bad_extended_connects() {
        let refused = |request: ::http::Request<()>| {
            let refused = accept(&request, Config::default(), |_| Ok(Accept::new())).unwrap_err();
            let Error::Handshake(error) = refused.error else {
                panic!("{:?}", refused.error)
            };
            (refused.response.status().as_u16(), error)
        };
        let mut other = extended_connect().body(()).unwrap();
        other
            .extensions_mut()
            .insert(::hyper::ext::Protocol::from_static("webtransport"));
        assert_eq!(refused(other), (400, HandshakeError::ConnectProtocol));
        let version = ::http::Request::connect("https://example.com/")
            .version(::http::Version::HTTP_2)
            .extension(::hyper::ext::Protocol::from_static("websocket"))
            .header("sec-websocket-version", "8")
            .body(())
            .unwrap();
        assert_eq!(refused(version), (426, HandshakeError::Version));
        let no_version = ::http::Request::connect("https://example.com/")
            .version(::http::Version::HTTP_2)
            .extension(::hyper::ext::Protocol::from_static("websocket"))
            .body(())
            .unwrap();
        assert_eq!(refused(no_version), (426, HandshakeError::Version));
        let get = ::http::Request::get("https://example.com/")
            .version(::http::Version::HTTP_2)
            .extension(::hyper::ext::Protocol::from_static("websocket"))
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        assert_eq!(refused(get), (400, HandshakeError::Method("GET".into())));
        let no_authority = ::http::Request::connect("/chat")
            .version(::http::Version::HTTP_2)
            .extension(::hyper::ext::Protocol::from_static("websocket"))
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        assert_eq!(refused(no_authority), (400, HandshakeError::MissingHost));
        // A plain CONNECT (no `:protocol`) is no WebSocket request.
        let plain = ::http::Request::connect("https://example.com/")
            .version(::http::Version::HTTP_2)
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        assert_eq!(refused(plain), (400, HandshakeError::Method("CONNECT".into())));
    }

    /// The client's side (RFC 8441 §4, §5): a CONNECT over HTTP/2 with
    /// `:protocol` websocket, the version, the offers and extra headers,
    /// and no key, Upgrade, Connection or Host; a 200 opens it, a 101 or
    /// another status does not.
    #[cfg(feature = "http2")]
    #[test]
    fn the_client_sends_an_extended_connect_and_wants_200() {
        let new = || {
            let request = ClientRequest::new("example.com:8443", "/chat")
                .protocol("chat")
                .header("Authorization", "Bearer t0ken");
            ClientHandshake::extended_connect(request, true, Config::default())
        };
        let handshake = new();
        let request = handshake.request().unwrap();
        assert_eq!(request.method(), ::http::Method::CONNECT);
        assert_eq!(request.version(), ::http::Version::HTTP_2);
        assert_eq!(request.uri(), "https://example.com:8443/chat");
        assert_eq!(
            request.extensions().get::<::h2::ext::Protocol>().map(|p| p.as_str()),
            Some("websocket")
        );
        let headers = request.headers();
        assert_eq!(headers["sec-websocket-version"], "13");
        assert_eq!(headers["sec-websocket-protocol"], "chat");
        assert_eq!(headers["authorization"], "Bearer t0ken");
        assert!(headers.contains_key("sec-websocket-extensions"));
        for absent in ["sec-websocket-key", "upgrade", "connection", "host"] {
            assert!(!headers.contains_key(absent), "{absent}");
        }
        let ok = ::http::Response::builder()
            .status(200)
            .header("sec-websocket-protocol", "chat")
            .body(())
            .unwrap();
        let conn = handshake.finish(&ok).unwrap();
        assert_eq!(conn.protocol(), Some("chat"));
        let switching = ::http::Response::builder().status(101).body(()).unwrap();
        assert!(matches!(
            new().finish(&switching),
            Err(Error::Handshake(HandshakeError::Status { code: 101, .. }))
        ));
        let unoffered = ::http::Response::builder()
            .status(200)
            .header("sec-websocket-protocol", "other")
            .body(())
            .unwrap();
        assert!(matches!(
            new().finish(&unoffered),
            Err(Error::Handshake(HandshakeError::UnofferedProtocol(_)))
        ));
    }
}
