//! A server connection fed arbitrary bytes from the first byte: request
//! parsing and validation, then (on accept) frames.
//!
//! Input: `[flags, chunk seed, stream...]`. Flags: bits 0-3 pick the
//! config (see `config_from_byte`, which also shrinks the handshake limits),
//! bit 4 rejects instead of accepting, bit 5 tries an unoffered subprotocol
//! first, bit 6 selects the first offered subprotocol, bit 7 sends EOF at
//! the end.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::{Accept, Connection, ReadyState, Role};
use rfc6455_fuzz::{Checker, Ev, chunks, config_from_byte};

fuzz_target!(|data: &[u8]| {
    let [flags, seed, stream @ ..] = data else {
        return;
    };
    // Bits 0-3 of the flags and bit 4 (small handshake limits) of the seed.
    let config = config_from_byte((flags & 0x0f) | (seed & 0x10));
    let mut conn = Connection::server(config.clone());
    assert!(conn.pending_output().is_empty());
    let mut check = Checker::new(Role::Server, &config, false);
    for piece in chunks(stream, *seed) {
        check.receive(&mut conn, piece);
        while let Some(ev) = check.poll_one(&mut conn) {
            if ev == Ev::Request {
                decide(&mut conn, *flags, &config);
            }
        }
        check.check_output(&conn);
    }
    if flags & 0x80 != 0 {
        conn.receive_eof();
        check.drain(&mut conn);
        // Requests are decided at once, so EOF ends every state.
        assert_eq!(
            conn.ready_state(),
            ReadyState::Closed,
            "EOF left the connection open: {:?}",
            check.events
        );
    }
});

fn decide(conn: &mut Connection, flags: u8, config: &rfc6455::Config) {
    let request = conn.request().expect("Request event without a request");
    // Accessors must not panic, and the parsed request must be well formed.
    let _ = (request.path(), request.query(), request.host(), request.origin());
    assert!(request.target().len() <= config.max_handshake_size);
    assert_eq!(
        request.key().len(),
        24,
        "Sec-WebSocket-Key {:?} is not 16 bytes in base64",
        request.key()
    );
    assert!(request.headers().count() <= config.max_headers);
    for p in request.protocols().iter().chain(request.extensions()) {
        assert!(!p.is_empty() && p.trim() == p, "untrimmed list item {p:?}");
    }
    let expected_accept = rfc6455::handshake::accept_key(request.key().as_bytes());
    let first_protocol = request.protocols().first().cloned();
    let offered_nope = request.protocols().iter().any(|p| p == "nope");
    if flags & 0x10 != 0 {
        conn.reject(403).expect("reject refused");
        assert_eq!(conn.ready_state(), ReadyState::Closed);
        assert!(conn.pending_output().starts_with(b"HTTP/1.1 403"));
        return;
    }
    if flags & 0x20 != 0 && !offered_nope {
        assert!(
            conn.accept(Accept::new().protocol("nope")).is_err(),
            "accepted an unoffered subprotocol"
        );
        assert!(conn.request().is_some(), "a refused accept lost the request");
    }
    let mut accept = Accept::new();
    if let (true, Some(p)) = (flags & 0x40 != 0, &first_protocol) {
        accept = accept.protocol(p.clone());
    }
    conn.accept(accept).expect("accept refused");
    assert_eq!(conn.ready_state(), ReadyState::Open);
    let out = String::from_utf8_lossy(conn.pending_output()).into_owned();
    assert!(out.starts_with("HTTP/1.1 101 "), "101 expected: {out:?}");
    assert!(out.contains(&expected_accept), "response lacks the accept key: {out:?}");
    assert!(out.ends_with("\r\n\r\n"));
    let n = conn.pending_output().len();
    conn.advance_output(n);
}
