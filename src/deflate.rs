//! permessage-deflate (RFC 7692): negotiation, and the compressor and
//! decompressor each direction needs.
//!
//! Memory per connection with the extension negotiated, measured with
//! zlib-rs (`cargo bench --bench deflate` prints it): the compressor holds
//! about 380 KB at 15 window bits (253 KB at 10), the decompressor about
//! 48 KB whatever the window. Each is built on first use. With no context
//! takeover in a direction, that direction's state is dropped after every
//! message (an idle connection then holds none of it) at the price of
//! rebuilding it per message and a worse ratio.

use crate::config::setters;
use crate::error::HandshakeError;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The extension's registered name.
pub const NAME: &str = "permessage-deflate";

/// The four bytes a sync flush ends with; RFC 7692 §7.2.1 strips them from
/// each message and §7.2.2 appends them back before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// How far a client is willing to limit its own window (the offer's
/// `client_max_window_bits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientWindow {
    /// The parameter is left out: the client will not limit its window.
    NotOffered,
    /// `client_max_window_bits` without a value: the server may pick any.
    Any,
    /// `client_max_window_bits=N`: the server may pick at most N (8–15;
    /// a value outside is offered as the nearest of them).
    Max(u8),
}

/// One permessage-deflate offer (RFC 7692 §7.1).
///
/// Fields may be added in a minor release: start from
/// [`DeflateOffer::default()`] and use the builder methods or assign fields.
///
/// ```
/// use rfc6455::deflate::{ClientWindow, DeflateOffer};
/// let offer = DeflateOffer::default()
///     .server_no_context_takeover(true)
///     .client_max_window_bits(ClientWindow::Max(12));
/// assert_eq!(
///     offer.to_header(),
///     "permessage-deflate; server_no_context_takeover; client_max_window_bits=12"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateOffer {
    /// Ask the server to compress each message alone.
    pub server_no_context_takeover: bool,
    /// Tell the server we will compress each message alone if asked (we
    /// always can).
    pub client_no_context_takeover: bool,
    /// Ask the server to use at most this window (8–15; a value outside
    /// is offered as the nearest of them, as RFC 7692 §7.1.2.1 allows no
    /// other).
    pub server_max_window_bits: Option<u8>,
    /// Whether, and how far, the server may limit our window.
    pub client_max_window_bits: ClientWindow,
}

impl Default for DeflateOffer {
    /// What browsers offer: `permessage-deflate; client_max_window_bits`.
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: ClientWindow::Any,
        }
    }
}

impl DeflateOffer {
    setters! {
        /// Sets `server_no_context_takeover`, asking the server to compress each message alone (default off).
        server_no_context_takeover: bool,
        /// Sets `client_no_context_takeover`, announcing we compress each message alone if asked (default off).
        client_no_context_takeover: bool,
        /// Sets `server_max_window_bits`, the largest window (8–15) asked of the server (default `None`).
        server_max_window_bits: Option<u8>,
        /// Sets `client_max_window_bits`, how far the server may limit our window (default [`ClientWindow::Any`]).
        client_max_window_bits: ClientWindow,
    }

    /// The offer as a `Sec-WebSocket-Extensions` item.
    pub fn to_header(&self) -> String {
        let mut out = String::from(NAME);
        if self.server_no_context_takeover {
            out.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            out.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_bits() {
            out.push_str(&format!("; server_max_window_bits={bits}"));
        }
        match self.client_window() {
            ClientWindow::NotOffered => {}
            ClientWindow::Any => out.push_str("; client_max_window_bits"),
            ClientWindow::Max(bits) => out.push_str(&format!("; client_max_window_bits={bits}")),
        }
        out
    }

    /// `server_max_window_bits` as offered: within 8–15.
    fn server_bits(&self) -> Option<u8> {
        self.server_max_window_bits.map(|bits| bits.clamp(8, 15))
    }

    /// `client_max_window_bits` as offered: a limit within 8–15.
    fn client_window(&self) -> ClientWindow {
        match self.client_max_window_bits {
            ClientWindow::Max(bits) => ClientWindow::Max(bits.clamp(8, 15)),
            window => window,
        }
    }
}

/// Settings of the extension, for both roles.
///
/// Fields may be added in a minor release: start from
/// [`DeflateConfig::default()`] and use the builder methods or assign fields.
///
/// ```
/// use rfc6455::deflate::DeflateConfig;
/// let deflate = DeflateConfig::default().level(6).threshold(256);
/// let config = rfc6455::Config::default().deflate(deflate);
/// assert_eq!(config.deflate.level, 6);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Negotiate permessage-deflate at all. Default on.
    pub enabled: bool,
    /// Client: the offers, in order of preference. Default: one offer, as
    /// browsers make it.
    pub offers: Vec<DeflateOffer>,
    /// Server: the largest window we compress with (8–15); below 15 it is
    /// announced as `server_max_window_bits`. Default 15.
    pub server_max_window_bits: u8,
    /// Server: ask clients that allow it to compress with at most this
    /// window (8–15). Default 15 (no request).
    pub client_max_window_bits: u8,
    /// Server: compress each message alone (`server_no_context_takeover`),
    /// keeping no compressor state between messages. Default off.
    pub server_no_context_takeover: bool,
    /// Server: ask clients to compress each message alone. Default off.
    pub client_no_context_takeover: bool,
    /// zlib compression level, 0–9. Default 1: most of the gain for a
    /// fraction of the time.
    pub level: u32,
    /// Messages shorter than this many bytes are sent uncompressed.
    /// Default 0: every message, as browsers do.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            offers: alloc::vec![DeflateOffer::default()],
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            level: 1,
            threshold: 0,
        }
    }
}

impl DeflateConfig {
    setters! {
        /// Sets `enabled`, whether permessage-deflate is negotiated at all (default on).
        enabled: bool,
        /// Sets `offers`, the client's offers in order of preference (default one browser-like offer).
        offers: Vec<DeflateOffer>,
        /// Sets `server_max_window_bits`, the server's largest compression window, 8–15 (default 15).
        server_max_window_bits: u8,
        /// Sets `client_max_window_bits`, the window (8–15) the server asks clients to keep to (default 15).
        client_max_window_bits: u8,
        /// Sets `server_no_context_takeover`, the server compressing each message alone (default off).
        server_no_context_takeover: bool,
        /// Sets `client_no_context_takeover`, the server asking clients to compress each message alone (default off).
        client_no_context_takeover: bool,
        /// Sets `level`, the zlib compression level 0–9 (default 1).
        level: u32,
        /// Sets `threshold`, the size in bytes below which messages go uncompressed (default 0).
        threshold: usize,
    }
}

/// What was agreed, from this end's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// We reset our compressor after each message.
    pub send_no_context_takeover: bool,
    /// The peer resets its compressor after each message.
    pub recv_no_context_takeover: bool,
    /// Our compressor's window bits (8–15).
    pub send_window_bits: u8,
    /// The peer's window bits (8–15).
    pub recv_window_bits: u8,
}

/// The parameters of one extension item, checked for RFC 7692's syntax:
/// known names, no duplicates, values in range.
#[derive(Debug, Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// A window-bits value (RFC 7692 §7.1.2.1: `1*DIGIT` with no leading zero,
/// 8–15), as a token or one quoted string (RFC 6455 §9.1). Checked digit by
/// digit: `str::parse` would take a sign, and trimming quotes an unpaired one.
fn parse_bits(value: Option<&str>) -> Result<u8, ()> {
    let value = value.ok_or(())?;
    let digits = match value.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"').ok_or(())?,
        None => value,
    };
    match digits.as_bytes() {
        [d @ b'8'..=b'9'] => Ok(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Ok(10 + d - b'0'),
        _ => Err(()),
    }
}

/// Parses `permessage-deflate; a; b=1` into its parameters, or `Ok(None)`
/// for another extension.
fn parse_item(item: &str) -> Result<Option<Params>, ()> {
    let mut parts = item.split(';').map(str::trim);
    if parts.next() != Some(NAME) {
        return Ok(None);
    }
    let mut params = Params::default();
    for part in parts {
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (part, None),
        };
        match name {
            "server_no_context_takeover" if value.is_none() && !params.server_no_context_takeover => {
                params.server_no_context_takeover = true;
            }
            "client_no_context_takeover" if value.is_none() && !params.client_no_context_takeover => {
                params.client_no_context_takeover = true;
            }
            "server_max_window_bits" if params.server_max_window_bits.is_none() => {
                params.server_max_window_bits = Some(parse_bits(value)?);
            }
            "client_max_window_bits" if params.client_max_window_bits.is_none() => {
                params.client_max_window_bits = Some(match value {
                    None => None,
                    Some(_) => Some(parse_bits(value)?),
                });
            }
            _ => return Err(()),
        }
    }
    Ok(Some(params))
}

/// Server: picks the first acceptable offer among the client's extension
/// items (RFC 7692 §5.1, §7.1). Malformed offers are declined, not fatal.
/// Returns the response item and the agreement.
pub(crate) fn accept_offer(items: &[String], config: &DeflateConfig) -> Option<(String, Agreed)> {
    if !config.enabled {
        return None;
    }
    let our_max = config.server_max_window_bits.clamp(8, 15);
    for item in items {
        let Ok(Some(offer)) = parse_item(item) else {
            continue;
        };
        let send_window_bits = offer.server_max_window_bits.map_or(our_max, |asked| asked.min(our_max));
        let send_no_context_takeover = offer.server_no_context_takeover || config.server_no_context_takeover;
        // §7.1.2.2: we may limit the client's window only if it offered to.
        let recv_window_bits = match offer.client_max_window_bits {
            Some(allowed) => config.client_max_window_bits.clamp(8, 15).min(allowed.unwrap_or(15)),
            None => 15,
        };
        let recv_no_context_takeover = config.client_no_context_takeover;
        let mut response = String::from(NAME);
        if send_no_context_takeover {
            response.push_str("; server_no_context_takeover");
        }
        if recv_no_context_takeover {
            response.push_str("; client_no_context_takeover");
        }
        // §7.1.2.1: an offer with server_max_window_bits is accepted by
        // answering with it (same or smaller), even when that is 15.
        if send_window_bits < 15 || offer.server_max_window_bits.is_some() {
            response.push_str(&format!("; server_max_window_bits={send_window_bits}"));
        }
        if offer.client_max_window_bits.is_some() && recv_window_bits < 15 {
            response.push_str(&format!("; client_max_window_bits={recv_window_bits}"));
        }
        let agreed = Agreed {
            send_no_context_takeover,
            recv_no_context_takeover,
            send_window_bits,
            recv_window_bits,
        };
        return Some((response, agreed));
    }
    None
}

/// Client: checks the server's answer against what we offered (RFC 7692
/// §7.1): one item, known parameters, no duplicates, values in range, a
/// window limit on us only if we allowed one, and within what we offered.
pub(crate) fn validate_response(item: &str, offers: &[DeflateOffer]) -> Result<Agreed, HandshakeError> {
    let bad = || HandshakeError::BadExtension(String::from(item));
    let params = parse_item(item).map_err(|_| bad())?.ok_or_else(bad)?;
    let fits = |offer: &&DeflateOffer| {
        let server_bits_ok = match (offer.server_bits(), params.server_max_window_bits) {
            (Some(asked), Some(got)) => got <= asked,
            (Some(_), None) => false,
            (None, _) => true,
        };
        let server_context_ok = !offer.server_no_context_takeover || params.server_no_context_takeover;
        let client_bits_ok = match (offer.client_window(), params.client_max_window_bits) {
            (_, None) => true,
            (ClientWindow::NotOffered, Some(_)) => false,
            (_, Some(None)) => false,
            (ClientWindow::Any, Some(Some(_))) => true,
            (ClientWindow::Max(max), Some(Some(got))) => got <= max,
        };
        server_bits_ok && server_context_ok && client_bits_ok
    };
    if !offers.iter().any(|o| fits(&o)) {
        return Err(bad());
    }
    Ok(Agreed {
        send_no_context_takeover: params.client_no_context_takeover,
        recv_no_context_takeover: params.server_no_context_takeover,
        send_window_bits: params.client_max_window_bits.flatten().unwrap_or(15),
        recv_window_bits: params.server_max_window_bits.unwrap_or(15),
    })
}

/// The compressor and decompressor of one connection.
pub(crate) struct Codec {
    agreed: Agreed,
    level: u32,
    pub threshold: usize,
    /// Built on first use, dropped after each message without context
    /// takeover.
    compress: Option<Box<Compress>>,
    decompress: Option<Box<Decompress>>,
    /// Bytes of the current message after a block with BFINAL set (RFC
    /// 7692 §7.2.3.4), which may only be empty blocks.
    after_final: Option<Vec<u8>>,
    /// The current message brought compressed bytes: an empty payload
    /// (RSV1, no bytes) is an empty message, and its tail is not fed to
    /// the inflater, which would keep it as the start of a stored block.
    message_input: bool,
    /// The compressed message being queued ([`Codec::compress_message`]):
    /// here rather than in every connection, with or without the extension.
    out: Vec<u8>,
}

impl core::fmt::Debug for Codec {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Codec")
            .field("agreed", &self.agreed)
            .finish_non_exhaustive()
    }
}

/// How far one inflating step got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inflated {
    /// All the input is taken, and the inflater holds no output back.
    Done,
    /// The stream ended (a final block) after this many input bytes.
    StreamEnd(usize),
    /// The output reached the cap after this many input bytes; the
    /// inflater may hold more.
    Full(usize),
}

/// The message inflated past the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// Output would exceed the limit: 1009.
    TooBig,
    /// The compressed data is corrupt: 1007.
    Corrupt,
}

impl Codec {
    pub(crate) fn new(agreed: Agreed, config: &DeflateConfig) -> Self {
        Self {
            agreed,
            level: config.level.min(9),
            threshold: config.threshold,
            compress: None,
            decompress: None,
            after_final: None,
            message_input: false,
            out: Vec::new(),
        }
    }

    /// [`Codec::compress`] into the codec's own buffer.
    pub(crate) fn compress_message(&mut self, data: &[u8]) -> &[u8] {
        let mut out = core::mem::take(&mut self.out);
        self.compress(data, &mut out);
        self.out = out;
        &self.out
    }

    /// Messages shorter than this are sent uncompressed.
    pub(crate) fn threshold(&self) -> usize {
        self.threshold
    }

    /// Compresses one whole message into `out` (RFC 7692 §7.2.1): deflate,
    /// sync flush, drop the trailing `00 00 ff ff`.
    pub(crate) fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        // zlib cannot make a raw stream with an 8-bit window; stored blocks
        // (level 0) carry no back-references, so they fit any window.
        let (bits, level) = match self.agreed.send_window_bits {
            8 => (9, 0),
            bits => (bits, self.level),
        };
        let compress = self
            .compress
            .get_or_insert_with(|| Box::new(Compress::new_with_window_bits(Compression::new(level), false, bits)));
        out.clear();
        out.reserve(data.len() / 2 + 64);
        let start_in = compress.total_in();
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(64));
            }
            let consumed = (compress.total_in() - start_in) as usize;
            if compress
                .compress_vec(&data[consumed..], out, FlushCompress::Sync)
                .is_err()
            {
                break;
            }
            // Room left after a sync flush with all input taken: done.
            let consumed = (compress.total_in() - start_in) as usize;
            if consumed == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if out.is_empty() {
            out.push(0x00);
        }
        if self.agreed.send_no_context_takeover {
            self.compress = None;
        }
    }

    /// Inflates one frame's payload of a compressed message onto `out`,
    /// which must not grow past `max` bytes; `last` appends the sync-flush
    /// tail (§7.2.2). Output is produced in bounded steps, so a bomb costs
    /// at most `max` plus one step.
    #[cfg(test)]
    pub(crate) fn decompress(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<(), InflateError> {
        match self.decompress_capped(input, last, out, max, usize::MAX)? {
            None => Ok(()),
            // No cap, so the input is always all taken.
            Some(_) => Err(InflateError::Corrupt),
        }
    }

    /// [`Codec::decompress`] that stops once `out` reached `cap` bytes (a
    /// part's worth, with messages in parts): `Some(taken)` then, the input
    /// bytes taken so far; call again with the rest (perhaps none: the
    /// inflater may still hold output), `last` unchanged. `None` once all
    /// the input is taken and, with `last`, the message's stream is ended.
    pub(crate) fn decompress_capped(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        max: usize,
        cap: usize,
    ) -> Result<Option<usize>, InflateError> {
        let bits = self.agreed.recv_window_bits.max(9);
        let decompress = self
            .decompress
            .get_or_insert_with(|| Box::new(Decompress::new_with_window_bits(false, bits)));
        self.message_input |= !input.is_empty();
        match &mut self.after_final {
            Some(rest) => Self::keep_after_final(rest, input)?,
            None => match Self::inflate(decompress, input, out, max, cap)? {
                Inflated::Done => {}
                Inflated::StreamEnd(consumed) => {
                    let mut rest = Vec::new();
                    Self::keep_after_final(&mut rest, &input[consumed..])?;
                    self.after_final = Some(rest);
                }
                Inflated::Full(taken) => return Ok(Some(taken)),
            },
        }
        if last {
            let had_input = core::mem::take(&mut self.message_input);
            if self.after_final.is_none() && had_input {
                // The tail only ends a sync flush: the inflater, drained
                // above, makes no output of it; uncapped.
                match Self::inflate(decompress, &TAIL, out, max, usize::MAX)? {
                    Inflated::StreamEnd(consumed) => self.after_final = Some(TAIL[consumed..].to_vec()),
                    Inflated::Done | Inflated::Full(_) => {}
                }
            }
            if let Some(rest) = self.after_final.take() {
                self.end_stream(rest, out)?;
            }
            if self.agreed.recv_no_context_takeover {
                self.decompress = None;
            }
        }
        Ok(None)
    }

    /// Bytes after the final block: a few at most (an empty stored block's
    /// header, as in RFC 7692 §7.2.3.4's example); anything longer is not
    /// an empty block.
    fn keep_after_final(rest: &mut Vec<u8>, input: &[u8]) -> Result<(), InflateError> {
        const EMPTY_BLOCKS: usize = 16;
        if rest.len() + input.len() > EMPTY_BLOCKS {
            return Err(InflateError::Corrupt);
        }
        rest.extend_from_slice(input);
        Ok(())
    }

    /// The message's deflate stream ended with a final block (RFC 7692
    /// §7.2.3.4): what followed must inflate to nothing, and the next
    /// message starts a new stream. Under context takeover the new stream
    /// may refer back to this message, so the inflater is seeded with its
    /// end (older history is gone: a reference past it fails as corrupt).
    fn end_stream(&mut self, mut rest: Vec<u8>, out: &[u8]) -> Result<(), InflateError> {
        if !rest.ends_with(&TAIL) {
            rest.extend_from_slice(&TAIL);
        }
        let mut check = Decompress::new(false);
        let mut sink = [0u8; 1];
        check
            .decompress(&rest, &mut sink, FlushDecompress::Sync)
            .map_err(|_| InflateError::Corrupt)?;
        if check.total_out() > 0 || (check.total_in() as usize) < rest.len() {
            return Err(InflateError::Corrupt);
        }
        if let Some(decompress) = self.decompress.as_mut() {
            decompress.reset(false);
            let window = 1usize << self.agreed.recv_window_bits.max(9);
            decompress
                .set_dictionary(&out[out.len().saturating_sub(window)..])
                .map_err(|_| InflateError::Corrupt)?;
        }
        Ok(())
    }

    /// Inflates `input` onto `out`, at most up to `max` bytes (more is an
    /// error) and stopping at `cap` (see [`Inflated`]).
    fn inflate(
        decompress: &mut Decompress,
        input: &[u8],
        out: &mut Vec<u8>,
        max: usize,
        cap: usize,
    ) -> Result<Inflated, InflateError> {
        const STEP: usize = 32 << 10;
        let start_in = decompress.total_in();
        loop {
            let consumed = (decompress.total_in() - start_in) as usize;
            if out.len() == out.capacity() {
                if out.len() >= max {
                    return Self::at_limit(decompress, &input[consumed..]).map(|()| Inflated::Done);
                }
                if out.len() >= cap {
                    return Ok(Inflated::Full(consumed));
                }
                // Grow geometrically, but never past the limit or the cap:
                // memory follows what was inflated, capped by `max`.
                let target = max
                    .min(cap)
                    .min(out.capacity().saturating_mul(2).max(out.capacity() + STEP));
                out.reserve_exact(target - out.len());
            }
            let before_out = out.len();
            let status = decompress
                .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            if out.len() > max {
                return Err(InflateError::TooBig);
            }
            let now_consumed = (decompress.total_in() - start_in) as usize;
            if status == Status::StreamEnd {
                return Ok(Inflated::StreamEnd(now_consumed));
            }
            if now_consumed == input.len() && out.len() < out.capacity() {
                return Ok(Inflated::Done);
            }
            if now_consumed == consumed && out.len() == before_out && out.len() < out.capacity() {
                // No progress with room to spare: the input is not deflate.
                return Err(InflateError::Corrupt);
            }
        }
    }

    /// The output is exactly at the limit: any further byte is too many.
    fn at_limit(decompress: &mut Decompress, mut input: &[u8]) -> Result<(), InflateError> {
        let mut probe = [0u8; 1];
        loop {
            let (in_before, out_before) = (decompress.total_in(), decompress.total_out());
            decompress
                .decompress(input, &mut probe, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            if decompress.total_out() > out_before {
                return Err(InflateError::TooBig);
            }
            input = &input[(decompress.total_in() - in_before) as usize..];
            if input.is_empty() {
                return Ok(());
            }
            if decompress.total_in() == in_before {
                return Err(InflateError::Corrupt);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn items(header: &str) -> Vec<String> {
        header.split(',').map(|s| s.trim().to_string()).collect()
    }

    // RFC 7692 §7.1: the server accepts the first acceptable offer and
    // declines malformed ones.
    #[test]
    fn server_picks_first_acceptable_offer() {
        let config = DeflateConfig::default();
        let (response, agreed) = accept_offer(&items("permessage-deflate; client_max_window_bits"), &config).unwrap();
        assert_eq!(response, "permessage-deflate");
        assert_eq!((agreed.send_window_bits, agreed.recv_window_bits), (15, 15));

        let offers = items(
            "permessage-deflate; bogus, permessage-deflate; server_max_window_bits=16, \
             permessage-deflate; server_no_context_takeover; server_no_context_takeover, \
             permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
        );
        let (response, agreed) = accept_offer(&offers, &config).unwrap();
        assert_eq!(
            response,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
        );
        assert!(agreed.send_no_context_takeover);
        assert_eq!(agreed.send_window_bits, 10);

        assert!(accept_offer(&items("x-webkit-deflate-frame"), &config).is_none());
        let off = DeflateConfig {
            enabled: false,
            ..DeflateConfig::default()
        };
        assert!(accept_offer(&items("permessage-deflate"), &off).is_none());
    }

    // RFC 7692 §7.1.2.2: a client window limit only if the client offered it.
    #[test]
    fn server_limits_client_window_only_when_allowed() {
        let config = DeflateConfig {
            client_max_window_bits: 10,
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        let (response, _) = accept_offer(&items("permessage-deflate"), &config).unwrap();
        assert_eq!(response, "permessage-deflate; client_no_context_takeover");
        let (response, agreed) =
            accept_offer(&items("permessage-deflate; client_max_window_bits=12"), &config).unwrap();
        assert_eq!(
            response,
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=10"
        );
        assert_eq!(agreed.recv_window_bits, 10);
    }

    #[test]
    fn parameter_syntax() {
        assert!(
            parse_item("permessage-deflate; server_max_window_bits").is_err(),
            "value required"
        );
        assert!(parse_item("permessage-deflate; server_max_window_bits=7").is_err());
        assert!(parse_item("permessage-deflate; client_max_window_bits=08").is_err());
        assert!(parse_item("permessage-deflate; server_no_context_takeover=1").is_err());
        assert!(
            parse_item("permessage-deflate; client_max_window_bits=\"9\"")
                .unwrap()
                .is_some()
        );
        assert!(parse_item("foo; a").unwrap().is_none());
    }

    // RFC 7692 §7.1.2.1: the value is `1*DIGIT` in 8–15 with no leading
    // zero; RFC 6455 §9.1: a token or a whole quoted string. A client
    // fails on anything else (§5), a server declines the offer.
    #[test]
    fn window_bits_values_are_digits_in_one_pair_of_quotes_at_most() {
        for (value, bits) in [("8", 8), ("9", 9), ("10", 10), ("15", 15), ("\"12\"", 12)] {
            assert_eq!(parse_bits(Some(value)), Ok(bits), "{value}");
        }
        for bad in [
            "+9",
            "+10",
            "-9",
            "7",
            "16",
            "08",
            "010",
            "1",
            "",
            "\"\"",
            "\"10",
            "10\"",
            "\"\"10\"\"",
            " 9",
            "9a",
            "１０",
        ] {
            assert_eq!(parse_bits(Some(bad)), Err(()), "{bad:?}");
        }
        assert!(parse_item("permessage-deflate; server_max_window_bits=+9").is_err());
        let offer = items("permessage-deflate; client_max_window_bits=+9, permessage-deflate");
        let (response, _) = accept_offer(&offer, &DeflateConfig::default()).unwrap();
        assert_eq!(
            response, "permessage-deflate",
            "the malformed offer is declined, the next taken"
        );
    }

    // RFC 7692 §7.1.2.1–2: window bits are 8–15, so an offer built with a
    // value outside them goes out as the nearest (a server must decline
    // any other), and the answer is judged against what went out.
    #[test]
    fn offers_carry_window_bits_within_8_to_15() {
        for (bits, sent) in [(0u8, 8u8), (7, 8), (8, 8), (15, 15), (16, 15), (200, 15)] {
            let offer = DeflateOffer::default()
                .server_max_window_bits(Some(bits))
                .client_max_window_bits(ClientWindow::Max(bits));
            assert_eq!(
                offer.to_header(),
                format!("permessage-deflate; server_max_window_bits={sent}; client_max_window_bits={sent}"),
                "{bits}"
            );
            let answer = format!("permessage-deflate; server_max_window_bits={sent}; client_max_window_bits={sent}");
            let agreed = validate_response(&answer, &[offer]).unwrap();
            assert_eq!((agreed.send_window_bits, agreed.recv_window_bits), (sent, sent));
        }
    }

    // RFC 7692 §7.1: the client fails the handshake on an answer it did
    // not allow.
    #[test]
    fn client_validates_the_answer() {
        let offers = vec![DeflateOffer::default()];
        let agreed = validate_response("permessage-deflate; client_max_window_bits=9", &offers).unwrap();
        assert_eq!(agreed.send_window_bits, 9);
        let agreed = validate_response("permessage-deflate; server_no_context_takeover", &offers).unwrap();
        assert!(agreed.recv_no_context_takeover);
        for bad in [
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; x=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        ] {
            assert!(validate_response(bad, &offers).is_err(), "{bad}");
        }
        let strict = vec![DeflateOffer {
            server_max_window_bits: Some(10),
            client_max_window_bits: ClientWindow::NotOffered,
            ..DeflateOffer::default()
        }];
        assert!(
            validate_response("permessage-deflate", &strict).is_err(),
            "server ignored our limit"
        );
        assert!(validate_response("permessage-deflate; server_max_window_bits=11", &strict).is_err());
        assert!(validate_response("permessage-deflate; server_max_window_bits=9", &strict).is_ok());
        assert!(
            validate_response(
                "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9",
                &strict
            )
            .is_err()
        );
    }

    fn agreed(bits: u8, no_context: bool) -> Agreed {
        Agreed {
            send_no_context_takeover: no_context,
            recv_no_context_takeover: no_context,
            send_window_bits: bits,
            recv_window_bits: bits,
        }
    }

    // RFC 7692 §7.2: compress, strip the tail, append it, inflate.
    #[test]
    fn round_trips_with_and_without_context() {
        for bits in [8, 9, 12, 15] {
            for no_context in [false, true] {
                let config = DeflateConfig::default();
                let mut tx = Codec::new(agreed(bits, no_context), &config);
                let mut rx = Codec::new(agreed(bits, no_context), &config);
                for message in [&b"hello hello hello hello"[..], b"", b"hello again", &[7u8; 5000][..]] {
                    let mut wire = Vec::new();
                    tx.compress(message, &mut wire);
                    assert!(!wire.ends_with(&TAIL));
                    let mut out = Vec::new();
                    rx.decompress(&wire, true, &mut out, 1 << 20).unwrap();
                    assert_eq!(out, message, "bits {bits} no_context {no_context}");
                }
            }
        }
    }

    // RFC 7692 §7.2.3.1's example: "Hello" compressed.
    #[test]
    fn rfc_example_inflates() {
        let mut rx = Codec::new(agreed(15, false), &DeflateConfig::default());
        let mut out = Vec::new();
        rx.decompress(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true, &mut out, 100)
            .unwrap();
        assert_eq!(out, b"Hello");
    }

    // Bomb-proof: 1 MiB of zeros compresses to about 10 KiB at level 1;
    // with a 64 KiB limit the inflater stops without passing the limit.
    #[test]
    fn inflating_past_the_limit_stops_early() {
        let config = DeflateConfig::default();
        let mut tx = Codec::new(agreed(15, false), &config);
        let mut wire = Vec::new();
        tx.compress(&vec![0u8; 1 << 20], &mut wire);
        assert!(wire.len() < 16 << 10, "{}", wire.len());
        let mut rx = Codec::new(agreed(15, false), &config);
        let mut out = Vec::new();
        assert_eq!(
            rx.decompress(&wire, true, &mut out, 64 << 10),
            Err(InflateError::TooBig)
        );
        assert!(out.capacity() <= 64 << 10, "capacity {}", out.capacity());
        // Exactly at the limit is fine.
        let mut rx = Codec::new(agreed(15, false), &config);
        let mut out = Vec::new();
        assert_eq!(rx.decompress(&wire, true, &mut out, 1 << 20), Ok(()));
        assert_eq!(out.len(), 1 << 20);
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let mut rx = Codec::new(agreed(15, false), &DeflateConfig::default());
        let mut out = Vec::new();
        assert_eq!(
            rx.decompress(&[0xff, 0xff, 0xff], true, &mut out, 100),
            Err(InflateError::Corrupt)
        );
    }

    /// RFC 7692 §7.2.3.4: "Hello" compressed in a block with BFINAL set,
    /// then one octet (an empty stored block's header, completed by the
    /// appended tail). A valid message; the next message starts a new
    /// stream, and under context takeover it may refer back to this one
    /// (§7.2.3.2's second "Hello" is a back-reference of 5 bytes).
    #[test]
    fn a_final_block_ends_a_message_and_the_next_one_starts_anew() {
        const FINAL_HELLO: [u8; 8] = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        let mut rx = Codec::new(agreed(15, false), &DeflateConfig::default());
        let mut out = Vec::new();
        assert_eq!(rx.decompress(&FINAL_HELLO, true, &mut out, 100), Ok(()));
        assert_eq!(out, b"Hello");
        let mut out = Vec::new();
        assert_eq!(
            rx.decompress(&[0xf2, 0x00, 0x11, 0x00, 0x00], true, &mut out, 100),
            Ok(())
        );
        assert_eq!(out, b"Hello");

        // The same message cut into three frames, the cut inside the
        // trailing bytes too.
        let mut rx = Codec::new(agreed(15, true), &DeflateConfig::default());
        let mut out = Vec::new();
        assert_eq!(rx.decompress(&FINAL_HELLO[..3], false, &mut out, 100), Ok(()));
        assert_eq!(rx.decompress(&FINAL_HELLO[3..7], false, &mut out, 100), Ok(()));
        assert_eq!(rx.decompress(&FINAL_HELLO[7..], true, &mut out, 100), Ok(()));
        assert_eq!(out, b"Hello");
        // No context takeover: a fresh stream inflates.
        let mut out = Vec::new();
        assert_eq!(
            rx.decompress(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true, &mut out, 100),
            Ok(())
        );
        assert_eq!(out, b"Hello");
    }

    /// After the final block only empty blocks may follow: more data in the
    /// same message is not silently dropped, it is refused (1007).
    #[test]
    fn data_after_a_final_block_is_corrupt() {
        let mut rx = Codec::new(agreed(15, false), &DeflateConfig::default());
        let mut out = Vec::new();
        // "Hello" final block, then a second compressed "Hello" block.
        let payload = [
            0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00,
        ];
        assert_eq!(rx.decompress(&payload, true, &mut out, 100), Err(InflateError::Corrupt));
        let mut rx = Codec::new(agreed(15, false), &DeflateConfig::default());
        let mut out = Vec::new();
        assert_eq!(
            rx.decompress(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], false, &mut out, 100),
            Ok(())
        );
        assert_eq!(
            rx.decompress(&[0u8; 40], true, &mut out, 100),
            Err(InflateError::Corrupt)
        );
    }
}
