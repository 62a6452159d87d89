//! The opening handshake (RFC 6455 §4): the client's wait for the
//! response, the server's wait for the request and for the application's
//! decision on it, and the extensions both agree on.

use super::{Connection, Event, Queued, State};
use crate::error::{Error, HandshakeError};
use crate::frame;
use crate::handshake::{self, Accept, Limits};
use alloc::boxed::Box;
use alloc::string::String;

impl Connection {
    fn limits(&self) -> Limits {
        Limits {
            max_bytes: self.config.max_handshake_size,
            max_headers: self.config.max_headers,
        }
    }

    /// Whether the buffered handshake bytes hold a complete header block,
    /// or enough bytes to hit the size limit: only then is parsing worth
    /// it, which keeps a byte-at-a-time sender from costing quadratic time.
    fn handshake_ready(&mut self) -> bool {
        self.rx.len() >= self.config.max_handshake_size || self.rx.has_header_end()
    }

    pub(super) fn poll_response(&mut self) -> Option<Event<'_>> {
        if !self.handshake_ready() {
            return self.eof.then(|| self.fail(HandshakeError::Eof.into()));
        }
        let State::AwaitingResponse { request, key } = &self.state else {
            return None;
        };
        match handshake::validate_response(self.rx.unparsed(), request, key, self.limits()) {
            Ok(Some((negotiated, consumed))) => {
                self.rx.consume(consumed);
                if let Err(e) = self.agree_extensions(&negotiated.extensions) {
                    return Some(self.fail(e.into()));
                }
                self.negotiated = negotiated;
                self.enter_open();
                Some(Event::Open)
            }
            Ok(None) => self.eof.then(|| self.fail(HandshakeError::Eof.into())),
            Err(e) => Some(self.fail(e.into())),
        }
    }

    /// Client: sets up what the server's `Sec-WebSocket-Extensions` agreed
    /// to (RFC 7692 §7.1: at most one permessage-deflate, within our offers).
    #[cfg(feature = "deflate")]
    fn agree_extensions(&mut self, extensions: &str) -> Result<(), HandshakeError> {
        use crate::deflate;
        let mut items = extensions
            .split(',')
            .map(str::trim)
            .filter(|i| i.split(';').next().map(str::trim) == Some(deflate::NAME));
        let Some(item) = items.next() else {
            return Ok(());
        };
        if items.next().is_some() {
            return Err(HandshakeError::BadExtension(String::from(extensions)));
        }
        let agreed = deflate::validate_response(item, &self.config.deflate.offers)?;
        self.codec = Some(Box::new(deflate::Codec::new(agreed, &self.config.deflate)));
        Ok(())
    }

    #[cfg(not(feature = "deflate"))]
    fn agree_extensions(&mut self, _extensions: &str) -> Result<(), HandshakeError> {
        Ok(())
    }

    pub(super) fn poll_request(&mut self) -> Option<Event<'_>> {
        if !self.handshake_ready() {
            return self.eof.then(|| self.fail(HandshakeError::Eof.into()));
        }
        match handshake::parse_request(self.rx.unparsed(), self.limits()) {
            Ok(Some((request, consumed))) => {
                self.rx.consume(consumed);
                self.state = State::AwaitingDecision {
                    request: Box::new(request),
                };
                match &self.state {
                    State::AwaitingDecision { request } => Some(Event::Request(request)),
                    _ => None,
                }
            }
            Ok(None) => self.eof.then(|| self.fail(HandshakeError::Eof.into())),
            Err(bad) => {
                self.tx.push_raw(&handshake::encode_reject(bad.status));
                Some(self.fail(bad.error.into()))
            }
        }
    }

    /// Server, while the application decides: frames sent before our
    /// answer wait in the read buffer, and a client may not pile up more
    /// than one frame's worth.
    pub(super) fn poll_decision(&mut self) -> Option<Event<'_>> {
        if self.rx.len() > self.config.max_frame_size + frame::MAX_HEADER_LEN {
            // Too much sent with the request: 431, as for a request over
            // max_handshake_size.
            self.tx.push_raw(&handshake::encode_reject(431));
            return Some(self.fail(HandshakeError::TooLarge.into()));
        }
        None
    }

    /// Server: accepts the request announced by [`Event::Request`]. The 101
    /// response is queued and [`Event::Open`] follows from `poll_event`.
    pub fn accept(&mut self, accept: Accept) -> Result<(), Error> {
        let State::AwaitingDecision { request } = &self.state else {
            return Err(Error::InvalidState("no request awaits a decision"));
        };
        if let Some(chosen) = accept.selected_protocol() {
            if !request.protocols().iter().any(|p| p == chosen) {
                return Err(Error::InvalidState("the chosen subprotocol was not offered"));
            }
        }
        #[cfg(feature = "deflate")]
        let deflate = crate::deflate::accept_offer(request.extensions(), &self.config.deflate);
        #[cfg(not(feature = "deflate"))]
        let deflate: Option<(String, ())> = None;
        let extensions = deflate.as_ref().map_or("", |(item, _)| item.as_str());
        self.tx
            .push_raw(&handshake::encode_accept(request, &accept, extensions));
        self.negotiated.protocol = accept.selected_protocol().map(String::from);
        self.negotiated.extensions = String::from(extensions);
        #[cfg(feature = "deflate")]
        if let Some((_, agreed)) = deflate {
            self.codec = Some(Box::new(crate::deflate::Codec::new(agreed, &self.config.deflate)));
        }
        self.enter_open();
        self.queued = Some(Queued::Open);
        Ok(())
    }

    /// Server: refuses the request with an HTTP `status` (e.g. 403). The
    /// response is queued and the connection is closed.
    pub fn reject(&mut self, status: u16) -> Result<(), Error> {
        if !matches!(self.state, State::AwaitingDecision { .. }) {
            return Err(Error::InvalidState("no request awaits a decision"));
        }
        self.tx.push_raw(&handshake::encode_reject(status));
        self.enter_closed(false);
        Ok(())
    }
}
