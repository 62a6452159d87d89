//! Header-field syntax, shared by both roles: tokens (RFC 9110 §5.6.2),
//! comma-separated lists (RFC 9110 §5.6.1, §5.3), values that cannot end
//! their line (RFC 9110 §5.5), and looking headers up by name,
//! case-insensitively. RFC 6455 §4.1 and §4.2.1 read `Upgrade`,
//! `Connection`, `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions`
//! as such lists.

use crate::error::HandshakeError;
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

/// Whether a comma-separated header value contains `token`, compared
/// case-insensitively (§4.1: `Upgrade` and `Connection` are token lists).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether `s` is an HTTP token (RFC 9110 §5.6.2), as subprotocol names
/// must be (RFC 6455 §4.1 item 10).
pub(crate) fn is_token(s: &str) -> bool {
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
pub(super) fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Headers of a parsed HTTP message, names as sent.
pub(super) type Headers = Vec<(String, Vec<u8>)>;

pub(super) fn header_values<'h, 'n>(
    headers: &'h Headers,
    name: &'n str,
) -> impl Iterator<Item = &'h [u8]> + use<'h, 'n> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

pub(super) fn any_has_token(headers: &Headers, name: &str, token: &str) -> bool {
    header_values(headers, name).any(|v| has_token(v, token))
}

/// Whether the `name` headers hold `token` and nothing else, compared
/// case-insensitively, in any number of lines and items (empty items are
/// no value, RFC 9110 §5.6.1). §4.1 fails a client's `Upgrade` that
/// "contains a value that is not" `websocket`, where a server's need only
/// contain it (§4.2.1).
pub(super) fn only_token(headers: &Headers, name: &str, token: &str) -> bool {
    let mut items = header_values(headers, name)
        .flat_map(|v| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|item| !item.is_empty())
        .peekable();
    items.peek().is_some() && items.all(|item| item.eq_ignore_ascii_case(token.as_bytes()))
}

/// All items of every `name` header, in order (repeated headers are one
/// list, RFC 9110 §5.3). Bytes that are not UTF-8 become U+FFFD: such an
/// item matches nothing anyone offered, so it is refused, not dropped.
pub(super) fn all_items(headers: &Headers, name: &str) -> Vec<String> {
    header_values(headers, name)
        .map(String::from_utf8_lossy)
        .flat_map(|v| list_items(&v).map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// Whether `value` can stand in a header line as it is: no CR, LF or NUL
/// (RFC 9110 §5.5), so it cannot end the line and start another.
pub(super) fn is_field_value(value: &str) -> bool {
    !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// `Ok` if `name: value` is one well-formed header line.
pub(super) fn check_header(name: &str, value: &str) -> Result<(), HandshakeError> {
    if is_token(name) && is_field_value(value) {
        Ok(())
    } else {
        Err(HandshakeError::InvalidHeader(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use crate::error::HandshakeError;
    use crate::handshake::fixtures::client_request;
    use crate::handshake::{Accept, ClientRequest};

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
}
