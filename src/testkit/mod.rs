//! The test kit: the helpers the crate's unit tests, `tests/`, `benches/`
//! and `fuzz/` share, so each exists once.
//!
//! - [`XorShift`]: the one seeded generator (masks, payloads, random
//!   choices);
//! - [`Ev`] and [`own`]: an owned mirror of [`Event`](crate::connection::Event), and
//!   `DomEv` and `own_dom` of the DOM-style drivers' events (with `std`);
//! - [`RawFrame`] and [`decode_frames`]: hand-made frames (any opcode, RSV
//!   bits, mask and length form) and an independent decoder;
//! - [`Pair`]: a client and a server [`Connection`](crate::Connection) back
//!   to back, with a fake clock and chunking of the bytes in flight;
//! - [`counting`]: the counting global allocator of the heap-measuring
//!   tests and benches (with `std`).
//!
//! # Why a hidden module behind a feature
//!
//! The kit is `rfc6455::testkit`, compiled under `cfg(test)` and with the
//! non-default `testkit` feature, and `#[doc(hidden)]`: it is not part of
//! the documented API and carries no stability promise.
//!
//! - A path crate depending on `rfc6455` could not serve the crate's own
//!   unit tests: they would see two copies of every type (the crate under
//!   test and the one the kit links). A module inside the crate is the
//!   same copy for everyone.
//! - `tests/` and `benches/` get the feature from a dev-dependency of the
//!   crate on itself (`rfc6455 = { path = ".", features = ["testkit"] }`),
//!   so `cargo test` runs every integration test whatever features are
//!   chosen, with no `required-features`; `fuzz/` (a separate package)
//!   enables the feature on its path dependency.
//! - Dev-dependency features reach only test, bench and example builds
//!   (resolver 2), so a normal build of the library never compiles the kit,
//!   and the kit uses nothing but the crate's own dependencies.
//! - Everything but [`counting`] builds on `core` + `alloc`, like the core;
//!   the allocator needs `std`.
//!
//! Failures are compared as a [`Fault`] (the error's variant and data,
//! matched in one place, `events.rs`), never as `Debug` text.

// Test code: panics are how it reports.
#![allow(missing_docs, clippy::missing_panics_doc)]

#[cfg(feature = "std")]
pub mod counting;
#[cfg(feature = "std")]
mod dom_events;
mod events;
mod frames;
mod generator;
mod pair;

#[cfg(feature = "std")]
pub use dom_events::*;
pub use events::*;
pub use frames::*;
pub use generator::*;
pub use pair::*;

/// The crate's unmasking kernel, for `benches/kernels.rs` (the function
/// itself is private: callers unmask through [`Connection`](crate::Connection)).
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    crate::mask::apply_mask(buf, key, offset);
}
