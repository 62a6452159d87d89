//! permessage-deflate's receiving side: a server that negotiated the
//! extension with parameters from the input and a small max_message_size
//! (1 B to 64 KiB), fed compressed messages (raw bytes, and real data
//! compressed with flate2), plain messages and RSV violations, fragmented
//! with pings and pongs between the fragments, in arbitrary chunks. See
//! `rfc6455_fuzz::inflate` for what each message must become.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455_fuzz::heap::Metered;
use rfc6455_fuzz::inflate::{InflateInput, run_inflate};

/// Meters the connection's heap (see `rfc6455_fuzz::heap`).
#[global_allocator]
static HEAP: Metered = Metered;

fuzz_target!(|input: InflateInput| {
    run_inflate(&input);
});
