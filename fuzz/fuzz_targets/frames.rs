//! Established connections, both roles, fed arbitrary bytes: frame header
//! decoding, masking, UTF-8 validation, fragmentation, control frames and
//! the limits.
//!
//! Input: `[config, chunk seed, stream...]`. Each role reads the stream
//! twice, whole and cut into reads derived from the chunk seed (alternating
//! `receive` and `read_buffer`/`commit_read`); both runs must report the
//! same events and write the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::{Connection, Role};
use rfc6455_fuzz::{Checker, Ev, chunks, config_from_byte, masks};

fn run(role: Role, config_byte: u8, seed: u8, stream: &[u8]) -> (Vec<Ev>, Vec<u8>) {
    let config = config_from_byte(config_byte);
    let pieces = chunks(stream, seed);
    // The first piece arrives with the connection, as bytes read past an
    // external handshake.
    let first = if seed & 1 != 0 {
        pieces.first().copied().unwrap_or(&[])
    } else {
        &[]
    };
    let mut conn = Connection::established_with_masks(role, config.clone(), first, masks());
    let mut check = Checker::new(role, &config, true);
    check.fed += first.len();
    let rest = if first.is_empty() { &pieces[..] } else { &pieces[1..] };
    for (i, piece) in rest.iter().enumerate() {
        if (i + usize::from(seed)) % 2 == 0 {
            check.receive(&mut conn, piece);
        } else {
            check.receive_buffered(&mut conn, piece);
        }
        check.drain(&mut conn);
    }
    conn.receive_eof();
    check.drain(&mut conn);
    assert!(
        check.terminal,
        "EOF without a Close or Failed event: {:?}",
        check.events
    );
    (check.events, conn.pending_output().to_vec())
}

fuzz_target!(|data: &[u8]| {
    let [config, seed, stream @ ..] = data else {
        return;
    };
    for role in [Role::Server, Role::Client] {
        let whole = run(role, *config, 0, stream);
        let cut = run(role, *config, *seed, stream);
        assert_eq!(whole.0, cut.0, "{role:?}: events depend on how the bytes were cut");
        assert_eq!(whole.1, cut.1, "{role:?}: output depends on how the bytes were cut");
    }
});
