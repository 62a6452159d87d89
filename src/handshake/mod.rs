//! The opening handshake (RFC 6455 §4), both roles, as pure functions over
//! bytes: build a request, parse and judge it, answer it, and validate the
//! answer. [`Connection`](crate::Connection) drives these; an HTTP framework
//! that parsed the request itself can call them directly.

// This file holds the public surface (everything public is re-exported
// here, so every path is `rfc6455::handshake::X`) and the accept key
// (§1.3, §4.2.2). The rest is one private file per concept:
//
// | file | holds |
// | --- | --- |
// | `fields.rs` | header-field syntax: tokens, comma lists, values that stay on their line (RFC 9110 §5) |
// | `parse.rs` | reading a message with httparse: size limits, leading empty lines (RFC 9112 §2.2) |
// | `client.rs` | client: `ClientRequest`, building, checking and encoding the request (§4.1) |
// | `response.rs` | client: validating the server's response (§4.1) |
// | `request.rs` | server: `Request`, reading and judging a client's request (§4.2.1) |
// | `accept.rs` | server: `Accept`, the `101` answer and refusals (§4.2.2) |

mod accept;
mod client;
mod fields;
mod parse;
mod request;
mod response;

pub use crate::error::UrlError;
pub use accept::Accept;
pub(crate) use accept::{encode_accept, encode_reject, refusal_status};
pub use client::ClientRequest;
#[cfg(feature = "std")]
pub(crate) use fields::is_token;
pub(crate) use parse::Limits;
pub use request::Request;
#[cfg(feature = "http")]
pub(crate) use request::judge_head;
pub(crate) use request::{BadRequest, parse_request};
pub(crate) use response::{Negotiated, validate_response};

use alloc::string::String;
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

/// Fixtures the submodules' tests share.
#[cfg(test)]
mod fixtures {
    use super::{ClientRequest, Limits};

    pub(super) const LIMITS: Limits = Limits {
        max_bytes: 16 * 1024,
        max_headers: 64,
    };

    pub(super) const RFC_REQUEST: &[u8] = b"GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\n\
Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    pub(super) fn client_request() -> ClientRequest {
        ClientRequest::new("example.com:8080", "/chat?room=1")
            .protocol("chat")
            .protocol("superchat")
            .origin("http://example.com")
            .extension("x-test; a=1")
            .header("Authorization", "Bearer t")
    }

    pub(super) const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
}
