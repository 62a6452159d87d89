//! The opening handshake (RFC 6455 §4): the client's wait for the
//! response, the server's wait for the request and for the application's
//! decision on it, and the extensions both agree on.

use super::{Connection, Event, Queued, State};
use crate::config::Config;
use crate::error::{Error, HandshakeError, Misuse};
use crate::extension;
use crate::frame;
use crate::handshake::{self, Accept, Limits, Negotiated};
use alloc::boxed::Box;
use alloc::string::String;

impl Connection {
    /// The configuration the handshake reads. Kept until open; a default
    /// stands in should a handshake step ever run after it.
    fn with_opening<R>(&self, f: impl FnOnce(&Config) -> R) -> R {
        match self.opening.as_deref() {
            Some(config) => f(config),
            None => f(&Config::default()),
        }
    }

    fn limits(&self) -> Limits {
        self.with_opening(|config| Limits {
            max_bytes: config.max_handshake_size,
            max_headers: config.max_headers,
        })
    }

    /// Whether the buffered handshake bytes hold a complete header block,
    /// or enough bytes to hit the size limit: only then is parsing worth
    /// it, which keeps a byte-at-a-time sender from costing quadratic time.
    fn handshake_ready(&mut self) -> bool {
        self.rx.len() >= self.limits().max_bytes || self.rx.has_header_end()
    }

    pub(super) fn poll_response(&mut self) -> Option<Event<'_>> {
        if !self.handshake_ready() {
            return self.eof.then(|| self.fail(HandshakeError::Eof.into()));
        }
        let State::AwaitingResponse { sent } = &self.state else {
            return None;
        };
        match handshake::validate_response(self.rx.unparsed(), &sent.request, &sent.key, self.limits()) {
            Ok(Some((negotiated, consumed))) => {
                self.rx.consume(consumed);
                if let Err(e) = self.agree_extensions(&negotiated.extensions) {
                    return Some(self.fail(e.into()));
                }
                self.negotiated = Some(Box::new(negotiated));
                self.enter_open();
                Some(Event::Open)
            }
            Ok(None) => self.eof.then(|| self.fail(HandshakeError::Eof.into())),
            Err(e) => Some(self.fail(e.into())),
        }
    }

    /// Client: the request awaiting its response.
    #[cfg(feature = "http")]
    pub(crate) fn client_request(&self) -> Option<&handshake::ClientRequest> {
        match &self.state {
            State::AwaitingResponse { sent } => Some(&sent.request),
            _ => None,
        }
    }

    /// Client: sets up what the server's `Sec-WebSocket-Extensions` agreed
    /// to.
    fn agree_extensions(&mut self, extensions: &str) -> Result<(), HandshakeError> {
        self.codec = self.with_opening(|config| extension::agree(extensions, config))?;
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
            Err(bad) => Some(self.refuse_request(bad)),
        }
    }

    /// Server: a request head an HTTP stack parsed and
    /// [`handshake::judge_head`] judged, in place of request bytes: the
    /// connection awaits the decision on it (the caller has the request
    /// already), or queues the refusal and fails.
    #[cfg(feature = "http")]
    pub(crate) fn receive_head(
        &mut self,
        head: Result<handshake::Request, handshake::BadRequest>,
    ) -> Result<(), Error> {
        if !matches!(self.state, State::AwaitingRequest) {
            return Err(Error::Misuse(Misuse::NoRequestPending));
        }
        match head {
            Ok(request) => {
                self.state = State::AwaitingDecision {
                    request: Box::new(request),
                };
                Ok(())
            }
            Err(bad) => {
                let error = bad.error.clone();
                let _ = self.refuse_request(bad);
                Err(error.into())
            }
        }
    }

    /// Server: a request that must be refused (§4.2.1): the refusal with its
    /// status is queued and the connection fails.
    fn refuse_request<'a>(&mut self, bad: handshake::BadRequest) -> Event<'a> {
        self.tx.push_raw(&handshake::encode_reject(bad.status));
        self.fail(bad.error.into())
    }

    /// Server, while the application decides: frames sent before our
    /// answer wait in the read buffer, and a client may not pile up more
    /// than one frame's worth.
    pub(super) fn poll_decision(&mut self) -> Option<Event<'_>> {
        if self.rx.len() > self.settings.max_frame_size.saturating_add(frame::MAX_HEADER_LEN) {
            // Too much sent with the request: 431, as for a request over
            // max_handshake_size.
            self.tx.push_raw(&handshake::encode_reject(431));
            return Some(self.fail(HandshakeError::TooLarge.into()));
        }
        None
    }

    /// Server: accepts the request announced by [`Event::Request`]. The 101
    /// response is queued and [`Event::Open`] follows from `poll_event`.
    ///
    /// An `Accept` whose protocol or headers would break the response
    /// (see [`Accept::check`]) is refused and the request still awaits.
    ///
    /// # Errors
    ///
    /// [`Error::Misuse`] with [`Misuse::NoRequestPending`] when no request
    /// awaits a decision, or [`Misuse::UnofferedProtocol`] when the chosen
    /// subprotocol was not offered; [`Error::Handshake`] with
    /// `InvalidHeader` when `accept` fails [`Accept::check`]. Nothing is
    /// queued then.
    pub fn accept(&mut self, accept: Accept) -> Result<(), Error> {
        let State::AwaitingDecision { request } = &self.state else {
            return Err(Error::Misuse(Misuse::NoRequestPending));
        };
        accept.check()?;
        if let Some(chosen) = accept.selected_protocol() {
            if !request.protocols().iter().any(|p| p == chosen) {
                return Err(Error::Misuse(Misuse::UnofferedProtocol));
            }
        }
        let (extensions, codec) = self.with_opening(|config| extension::accept(request.extensions(), config));
        self.tx
            .push_raw(&handshake::encode_accept(request, &accept, &extensions));
        let protocol = accept.selected_protocol().map(String::from);
        if protocol.is_some() || !extensions.is_empty() {
            self.negotiated = Some(Box::new(Negotiated {
                protocol,
                extensions,
                headers: Box::default(),
            }));
        }
        self.codec = codec;
        self.enter_open();
        self.queued = Some(Queued::Open);
        Ok(())
    }

    /// Server: refuses the request with an HTTP `status` (e.g. 403). The
    /// response is queued and the connection is closed. A status that is
    /// no refusal (1xx, 2xx, or past 599) is sent as 500.
    ///
    /// # Errors
    ///
    /// [`Error::Misuse`] with [`Misuse::NoRequestPending`] when no request
    /// awaits a decision; nothing is queued then.
    pub fn reject(&mut self, status: u16) -> Result<(), Error> {
        if !matches!(self.state, State::AwaitingDecision { .. }) {
            return Err(Error::Misuse(Misuse::NoRequestPending));
        }
        self.tx
            .push_raw(&handshake::encode_reject(handshake::refusal_status(status)));
        self.enter_closed(false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::connection::{Connection, Event, ReadyState};
    use crate::error::{Error, HandshakeError};
    use crate::handshake::{Accept, ClientRequest};
    use alloc::vec::Vec;

    const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn plain() -> Config {
        crate::extension::none(Config::default())
    }

    /// Feeds `bytes` one at a time; the first event and how many bytes
    /// had gone in then.
    fn first_event(conn: &mut Connection, bytes: &[u8]) -> Option<(usize, bool)> {
        for (i, &b) in bytes.iter().enumerate() {
            conn.receive(&[b]);
            if let Some(event) = conn.poll_event() {
                return Some((i + 1, matches!(event, Event::Request(_))));
            }
        }
        None
    }

    // RFC 9112 §2.2: at least one empty line before the request line is
    // ignored; a stream of them (which re-parsed the whole buffer at each
    // one: quadratic, issue #13 finding 4) fails at once with 400.
    #[test]
    fn leading_empty_lines_are_bounded() {
        let mut wire = b"\r\n".to_vec();
        wire.extend_from_slice(REQUEST);
        let mut conn = Connection::server(plain());
        assert_eq!(first_event(&mut conn, &wire), Some((wire.len(), true)));

        let mut wire: Vec<u8> = b"\r\n".repeat(64 << 10);
        wire.extend_from_slice(REQUEST);
        let mut conn = Connection::server(plain());
        let (at, request) = first_event(&mut conn, &wire).expect("an event");
        assert!(!request && at <= 12, "failed after {at} bytes");
        assert!(conn.pending_output().starts_with(b"HTTP/1.1 400 "));
        assert_eq!(conn.ready_state(), ReadyState::Closed);
    }

    // RFC 6455 §4.2.2: a server that does not accept the connection answers
    // with an HTTP error; a refusal is never a switch or a success, so a
    // status that is none (an application's mistake) goes out as 500.
    #[test]
    fn a_refusal_is_sent_with_an_error_status() {
        for (asked, sent) in [(403, 403), (426, 426), (101, 500), (200, 500), (299, 500), (600, 500)] {
            let mut conn = Connection::server(plain());
            conn.receive(REQUEST);
            assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
            conn.reject(asked).unwrap();
            let head = alloc::format!("HTTP/1.1 {sent} ");
            assert!(conn.pending_output().starts_with(head.as_bytes()), "{asked}");
            assert_eq!(conn.ready_state(), ReadyState::Closed);
        }
    }

    // A request with CR/LF in an application string is never sent: the
    // connection fails at once, with the offending header named.
    #[test]
    fn a_request_that_would_inject_a_header_fails_before_sending() {
        let request = ClientRequest::new("h", "/").header("X-Token", "a\r\nEvil: 1");
        let mut conn = Connection::client(request, plain());
        assert!(conn.pending_output().is_empty(), "the request was sent");
        match conn.poll_event() {
            Some(Event::Failed(Error::Handshake(HandshakeError::InvalidHeader(name)))) => assert_eq!(name, "X-Token"),
            other => panic!("{other:?}"),
        }
        assert_eq!(conn.ready_state(), ReadyState::Closed);
    }

    // The same for the 101: an Accept that would add a line (or a second
    // response) is refused, and the request still awaits a decision.
    #[test]
    fn an_accept_that_would_inject_a_header_is_refused() {
        let mut conn = Connection::server(plain());
        conn.receive(REQUEST);
        assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
        let bad = Accept::new().header("Set-Cookie", "a=1\r\n\r\nHTTP/1.1 200 OK");
        assert!(matches!(
            conn.accept(bad),
            Err(Error::Handshake(HandshakeError::InvalidHeader(_)))
        ));
        assert!(conn.pending_output().is_empty());
        conn.accept(Accept::new()).unwrap();
        assert!(matches!(conn.poll_event(), Some(Event::Open)));
    }

    // max_frame_size = usize::MAX with frames pipelined behind the request
    // and a poll before the decision: no overflow, no spurious 431.
    #[test]
    fn a_huge_frame_limit_does_not_overflow_while_the_request_awaits() {
        let config = Config {
            max_frame_size: usize::MAX,
            max_message_size: usize::MAX,
            ..plain()
        };
        let mut conn = Connection::server(config);
        let mut wire = REQUEST.to_vec();
        wire.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
        conn.receive(&wire);
        assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
        assert!(conn.poll_event().is_none());
        assert!(conn.pending_output().is_empty());
    }
}
