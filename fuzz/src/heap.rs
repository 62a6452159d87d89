//! A global allocator that meters what the code under test allocates: bytes
//! allocated minus bytes freed while metering is on, and the peak of that
//! balance. A target installs it with
//! `#[global_allocator] static HEAP: rfc6455_fuzz::heap::Metered = rfc6455_fuzz::heap::Metered;`
//! and wraps the calls into the connection in [`metered`], so that the
//! harness's own allocations (inputs, owned copies of events) do not count.
//! Without the allocator installed, [`peak`] reports `None`.
//!
//! Memory freed while metering that was allocated before (e.g. during the
//! handshake) lowers the balance, so the peak is, if anything, low by that
//! much. libFuzzer runs one input at a time on one thread, so plain atomics
//! with relaxed ordering are enough.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

/// Forwards to the system allocator, metering on the side.
pub struct Metered;

static INSTALLED: AtomicBool = AtomicBool::new(false);
static ON: AtomicBool = AtomicBool::new(false);
static BALANCE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(bytes: usize) {
    INSTALLED.store(true, Relaxed);
    if ON.load(Relaxed) {
        let now = BALANCE.fetch_add(bytes as isize, Relaxed) + bytes as isize;
        PEAK.fetch_max(now, Relaxed);
    }
}

fn shrank(bytes: usize) {
    if ON.load(Relaxed) {
        BALANCE.fetch_sub(bytes as isize, Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only counters move.
unsafe impl GlobalAlloc for Metered {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a new block before the old one is freed: the moment
        // both exist is the real peak.
        grew(new_size);
        shrank(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Zeroes the balance and the peak.
pub fn reset() {
    ON.store(false, Relaxed);
    BALANCE.store(0, Relaxed);
    PEAK.store(0, Relaxed);
}

/// Runs `f` with metering on.
pub fn metered<T>(f: impl FnOnce() -> T) -> T {
    ON.store(true, Relaxed);
    let value = f();
    ON.store(false, Relaxed);
    value
}

/// Turns metering on or off, for calls whose result borrows (`poll_event`).
pub fn set(on: bool) {
    ON.store(on, Relaxed);
}

/// The peak balance since [`reset`], or `None` when [`Metered`] is not the
/// global allocator.
pub fn peak() -> Option<usize> {
    INSTALLED
        .load(Relaxed)
        .then(|| usize::try_from(PEAK.load(Relaxed)).unwrap_or(0))
}
