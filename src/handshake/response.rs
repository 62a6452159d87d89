//! The client's side of the server's answer (RFC 6455 §4.1, "the client
//! MUST validate the server's response"): an HTTP/1.1 `101` with `Upgrade`,
//! `Connection` and the right `Sec-WebSocket-Accept`, and no subprotocol or
//! extension the client did not offer. The agreement is [`Negotiated`].

use super::accept_key;
use super::client::ClientRequest;
use super::fields::{all_items, any_has_token, header_values, list_items, only_token};
use super::parse::{Limits, check_leading_empty_lines, copy_headers, header_storage, parse_status};
use crate::error::HandshakeError;
use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

/// What a successful handshake agreed on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Negotiated {
    pub protocol: Option<String>,
    pub extensions: String,
    /// Client: the server's 101 header fields, in order, for the
    /// application (cookies, tokens, server identification).
    /// (A boxed slice: 16 bytes in every connection, no heap for a server.)
    pub headers: Box<[(String, Vec<u8>)]>,
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
    // No key: an HTTP/2 extended CONNECT (RFC 8441 §5), which a 200 accepts
    // with no Upgrade, Connection or accept key; the stream is the upgrade.
    let extended_connect = key.is_empty();
    if code != if extended_connect { 200 } else { 101 } {
        return Err(HandshakeError::Status {
            code,
            reason: response.reason.unwrap_or("").to_owned(),
        });
    }
    if !extended_connect {
        if !only_token(&headers, "Upgrade", "websocket") {
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
        headers: headers.into_boxed_slice(),
    };
    Ok(Some((negotiated, consumed)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::fixtures::{KEY, LIMITS, client_request};
    use alloc::format;
    use alloc::vec::Vec;

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
        assert_eq!((negotiated.protocol, negotiated.extensions.as_str()), (None, ""));
        let names: Vec<&str> = negotiated.headers.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            ["Upgrade", "Connection", "Sec-WebSocket-Accept"],
            "kept in order"
        );

        let with_protocol = GOOD_RESPONSE.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: superchat\r\n\r\n");
        assert_eq!(
            validate(&with_protocol).unwrap().unwrap().0.protocol.as_deref(),
            Some("superchat")
        );

        let with_ext = GOOD_RESPONSE.replace("\r\n\r\n", "\r\nSec-WebSocket-Extensions: x-test\r\n\r\n");
        assert_eq!(validate(&with_ext).unwrap().unwrap().0.extensions, "x-test");

        for upgrade in ["WebSocket", "websocket, , WEBSOCKET", "websocket\r\nUpgrade: websocket"] {
            let response = GOOD_RESPONSE.replace("Upgrade: websocket", &format!("Upgrade: {upgrade}"));
            assert!(validate(&response).unwrap().is_some(), "{upgrade:?}");
        }
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
            // "contains a value that is not ... websocket": any other
            // value fails, in the same line or another.
            (
                GOOD_RESPONSE.replace("Upgrade: websocket", "Upgrade: websocket, h2c"),
                HandshakeError::Upgrade,
            ),
            (
                GOOD_RESPONSE.replace("Upgrade: websocket", "Upgrade: h2c, WebSocket"),
                HandshakeError::Upgrade,
            ),
            (
                GOOD_RESPONSE.replace("Upgrade: websocket", "Upgrade: websocket\r\nUpgrade: h2c"),
                HandshakeError::Upgrade,
            ),
            (
                GOOD_RESPONSE.replace("Upgrade: websocket", "Upgrade: ,"),
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
}
