//! Reading one HTTP/1.1 message (a request or a status line and headers)
//! with httparse, within limits: at most `max_bytes` and `max_headers`
//! (answered with 431, RFC 6585 §5), header storage sized by the bytes that
//! arrived, and at most a few empty lines before the start line
//! (RFC 9112 §2.2).

use super::fields::Headers;
use crate::error::HandshakeError;
use alloc::borrow::ToOwned;
use alloc::vec::Vec;

pub(super) fn copy_headers(parsed: &[httparse::Header<'_>]) -> Headers {
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
pub(super) fn header_storage(buf: &[u8], limits: Limits) -> Vec<httparse::Header<'static>> {
    alloc::vec![httparse::EMPTY_HEADER; limits.max_headers.min(buf.len() / 3 + 1)]
}

/// Empty lines accepted before a request or status line. RFC 9112 §2.2:
/// a recipient "SHOULD ignore at least one empty line (CRLF) received prior
/// to the request-line"; a few more are harmless, a stream of them is not
/// (each one re-ran the whole parse: quadratic).
const MAX_LEADING_EMPTY_LINES: usize = 4;

/// `Err` once more empty lines lead `buf` than [`MAX_LEADING_EMPTY_LINES`].
pub(super) fn check_leading_empty_lines(buf: &[u8]) -> Result<(), HandshakeError> {
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
pub(super) fn parse_status(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::fixtures::RFC_REQUEST;
    use crate::handshake::parse_request;

    fn expect_bad_with(request: &[u8], limits: Limits) -> HandshakeError {
        parse_request(request, limits)
            .expect_err("request must be refused")
            .error
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
