//! The counting global allocator the heap-measuring tests
//! (`permessage_deflate`, `backpressure`, `implementation_limits`,
//! `allocations`) and benches (`memory`, `deflate`) share: allocations
//! made, live heap bytes, their peak and
//! live blocks, as requested from the system allocator (malloc's own
//! per-block overhead is not included), a `realloc` counted as the change
//! in size (the system may grow in place or move pages; a growing buffer
//! is one buffer).
//!
//! Each test or bench binary installs it itself:
//!
//! ```ignore
//! use rfc6455::testkit::counting;
//! #[global_allocator]
//! static ALLOCATOR: counting::Counting = counting::Counting;
//! ```
//!
//! The counters are process-wide, so tests that measure take [`serial`]
//! to run one at a time.

// A global allocator is an `unsafe impl`; it only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Forwards every call to the system allocator unchanged, counting on the
/// side.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static BLOCKS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// Blocks this thread allocated: const-initialised and without a
    /// destructor, so the allocator may touch it (it never allocates).
    static THREAD_ALLOCATIONS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// One block allocated, process-wide and by this thread.
fn counted() {
    ALLOCATIONS.fetch_add(1, Relaxed);
    // Not at all during the thread's teardown.
    let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(now, Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Relaxed);
}

// The counters only observe sizes, and only of calls that succeeded.
// SAFETY: every call is forwarded to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
            BLOCKS.fetch_add(1, Relaxed);
            counted();
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
            BLOCKS.fetch_add(1, Relaxed);
            counted();
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // `ptr` came from this allocator, i.e. from `System`.
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
        BLOCKS.fetch_sub(1, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        new
    }
}

/// Heap bytes live now.
pub fn live() -> usize {
    LIVE.load(Relaxed)
}

/// Heap blocks live now.
pub fn blocks() -> usize {
    BLOCKS.load(Relaxed)
}

/// Blocks allocated so far (a `realloc` is not counted: it resizes one).
pub fn allocations() -> usize {
    ALLOCATIONS.load(Relaxed)
}

/// Blocks this thread allocated so far: what a test counts of its own
/// work, whatever other threads (the test harness reporting another test's
/// result) allocate meanwhile.
pub fn thread_allocations() -> usize {
    THREAD_ALLOCATIONS.with(core::cell::Cell::get)
}

/// A measurement window: the peak of live heap bytes above the level at
/// its start. Unlike [`peak_of`], it can be started on one thread and read
/// on another.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    base: usize,
}

impl Window {
    /// Starts measuring from what is live now.
    pub fn start() -> Self {
        let base = live();
        PEAK.store(base, Relaxed);
        Self { base }
    }

    /// The highest live heap since [`Window::start`], above its start.
    pub fn peak(&self) -> usize {
        PEAK.load(Relaxed).saturating_sub(self.base)
    }
}

/// Runs `f`; returns its result and the peak heap above what was live when
/// it started.
pub fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let window = Window::start();
    let value = f();
    (value, window.peak())
}

/// One measuring test at a time: the counters are process-wide. A test
/// that failed while holding the lock does not stop the others.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}
