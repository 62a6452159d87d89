//! Extensions (RFC 6455 §9) behind one seam: the connection offers,
//! agrees, compresses and inflates through these functions only, so it
//! holds no per-extension code and no feature switch.
//!
//! permessage-deflate (RFC 7692, module `deflate`, feature `deflate`) is the
//! one extension. Without the feature [`Codec`] has no values: the
//! connection's `Option<Box<Codec>>` is always `None`, every codec method
//! is a `match` on nothing, and the paths that would use one compile but
//! cannot run.

use crate::config::Config;
use crate::error::{Error, HandshakeError};
use crate::handshake::ClientRequest;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

#[cfg(feature = "deflate")]
pub(crate) use crate::deflate::Codec;

/// No extension in this build: a codec cannot exist.
#[cfg(not(feature = "deflate"))]
#[derive(Debug)]
pub(crate) enum Codec {}

#[cfg(not(feature = "deflate"))]
impl Codec {
    pub(crate) fn threshold(&self) -> usize {
        match *self {}
    }

    pub(crate) fn compress_message(&mut self, _data: &[u8]) -> &[u8] {
        match *self {}
    }
}

/// Client: `request` with our offers (`Sec-WebSocket-Extensions`, §9.1).
pub(crate) fn offer(request: ClientRequest, config: &Config) -> ClientRequest {
    #[cfg(feature = "deflate")]
    if config.deflate.enabled {
        return config
            .deflate
            .offers
            .iter()
            .fold(request, |r, offer| r.extension(offer.to_header()));
    }
    let _ = config;
    request
}

/// Client: the codec for what the server's `Sec-WebSocket-Extensions`
/// agreed to (RFC 7692 §7.1: at most one permessage-deflate, within our
/// offers); `None` for none. The handshake already refused unoffered names.
pub(crate) fn agree(extensions: &str, config: &Config) -> Result<Option<Box<Codec>>, HandshakeError> {
    #[cfg(feature = "deflate")]
    {
        use crate::deflate;
        let mut items = extensions
            .split(',')
            .map(str::trim)
            .filter(|i| i.split(';').next().map(str::trim) == Some(deflate::NAME));
        let Some(item) = items.next() else {
            return Ok(None);
        };
        if items.next().is_some() {
            return Err(HandshakeError::BadExtension(String::from(extensions)));
        }
        let agreed = deflate::validate_response(item, &config.deflate.offers)?;
        Ok(Some(Box::new(deflate::Codec::new(agreed, &config.deflate))))
    }
    #[cfg(not(feature = "deflate"))]
    {
        let _ = (extensions, config);
        Ok(None)
    }
}

/// Server: the answer to the client's offers, as the response's
/// `Sec-WebSocket-Extensions` value (empty for none) and the codec.
pub(crate) fn accept(offers: &[String], config: &Config) -> (String, Option<Box<Codec>>) {
    #[cfg(feature = "deflate")]
    if let Some((item, agreed)) = crate::deflate::accept_offer(offers, &config.deflate) {
        return (item, Some(Box::new(Codec::new(agreed, &config.deflate))));
    }
    let _ = (offers, config);
    (String::new(), None)
}

/// The RSV bits a frame may carry: RSV1 marks a compressed message once
/// permessage-deflate is agreed (RFC 7692 §6).
pub(crate) fn allowed_rsv(codec: Option<&Codec>) -> u8 {
    if codec.is_some() { 0b100 } else { 0 }
}

/// Inflates one frame's compressed payload onto `out` (at most `max`
/// bytes), mapping the codec's failures to the connection's errors; stops
/// once `out` holds `cap` bytes, with `Some(taken)`, the input bytes taken
/// (see `Codec::decompress_capped`).
pub(crate) fn inflate(
    codec: &mut Codec,
    input: &[u8],
    last: bool,
    out: &mut Vec<u8>,
    max: usize,
    cap: usize,
) -> Result<Option<usize>, Error> {
    #[cfg(feature = "deflate")]
    {
        use crate::deflate::InflateError;
        use crate::error::{Limit, ProtocolError};
        codec
            .decompress_capped(input, last, out, max, cap)
            .map_err(|e| match e {
                InflateError::TooBig => Error::LimitExceeded {
                    kind: Limit::MessageSize,
                    len: out.len() as u64 + 1,
                    max,
                },
                InflateError::Corrupt => Error::Protocol(ProtocolError::InvalidCompressedData),
            })
    }
    #[cfg(not(feature = "deflate"))]
    {
        let _ = (input, last, out, max, cap);
        match *codec {}
    }
}

/// `config` with no extension offered or accepted (tests of RFC 6455
/// alone).
#[cfg(test)]
pub(crate) fn none(config: Config) -> Config {
    #[cfg(feature = "deflate")]
    {
        let mut config = config;
        config.deflate.enabled = false;
        config
    }
    #[cfg(not(feature = "deflate"))]
    config
}
