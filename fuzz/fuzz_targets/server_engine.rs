//! A server connection driven by a structured sequence of operations:
//! raw bytes, frames built from arbitrary fields, sends, time, EOF. See
//! `rfc6455_fuzz::run_engine` for the invariants checked.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::Role;
use rfc6455_fuzz::{EngineInput, run_engine};

fuzz_target!(|input: EngineInput| {
    run_engine(Role::Server, &input);
});
