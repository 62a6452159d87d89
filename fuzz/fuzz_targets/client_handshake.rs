//! A client connection fed arbitrary response bytes, then frames: response
//! validation (status, Upgrade, Connection, accept key, subprotocol and
//! extension negotiation), then frame decoding.
//!
//! Input: `[flags, chunk seed, stream...]`. Flags: bits 0-2 pick the
//! request (subprotocols offered, an extension offered, subprotocol
//! required; the default config may offer permessage-deflate too), bits 3-6 the config, bit 7 sends EOF at the end. The client
//! masks with a fixed seed, so its key, and the `Sec-WebSocket-Accept` in the
//! committed seeds, never change.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::{Connection, ReadyState, Role};
use rfc6455_fuzz::{Checker, Ev, chunks, config_from_byte, fuzz_request, masks};

fuzz_target!(|data: &[u8]| {
    let [flags, seed, stream @ ..] = data else {
        return;
    };
    let request = fuzz_request(flags & 7);
    let offered: Vec<String> = request.protocols().to_vec();
    let config = config_from_byte(((flags >> 3) & 0x0f) | (seed & 0x10));
    let mut conn = Connection::client_with_masks(request, config.clone(), masks());
    assert!(conn.pending_output().starts_with(b"GET /chat?room=1 HTTP/1.1\r\n"));
    // Extension names the request offered (ours and the config's).
    let offered_extensions: Vec<String> = String::from_utf8_lossy(conn.pending_output())
        .lines()
        .filter_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
        .flat_map(|v| {
            v.split(',')
                .map(|i| i.split(';').next().unwrap_or("").trim().to_owned())
        })
        .collect();
    let n = conn.pending_output().len();
    conn.advance_output(n);
    let mut check = Checker::new(Role::Client, &config, false);
    for piece in chunks(stream, *seed) {
        check.receive(&mut conn, piece);
        while let Some(ev) = check.poll_one(&mut conn) {
            if ev == Ev::Open {
                assert_eq!(conn.ready_state(), ReadyState::Open);
                if let Some(p) = conn.protocol() {
                    assert!(offered.iter().any(|o| o == p), "unoffered subprotocol {p:?} accepted");
                }
                for item in conn.extensions().split(',').filter(|i| !i.trim().is_empty()) {
                    let name = item.split(';').next().unwrap_or("").trim();
                    assert!(
                        offered_extensions.iter().any(|o| o == name),
                        "unoffered extension {name:?} accepted"
                    );
                }
            }
        }
        check.check_output(&conn);
    }
    if flags & 0x80 != 0 {
        conn.receive_eof();
        check.drain(&mut conn);
        assert!(
            check.terminal,
            "EOF without a Close or Failed event: {:?}",
            check.events
        );
    }
});
