//! The largest single allocation each thread asks for, so that hostile-input
//! tests can check that a declared count or length is never trusted. A test
//! file that uses it installs the allocator with `mod allocation_watch;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct WatchedAllocator;

thread_local! {
    static LARGEST_ALLOCATION: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation(size: usize) {
    let _ = LARGEST_ALLOCATION.try_with(|largest| largest.set(largest.get().max(size)));
}

unsafe impl GlobalAlloc for WatchedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: WatchedAllocator = WatchedAllocator;

/// Forgets what this thread allocated so far.
pub fn reset() {
    LARGEST_ALLOCATION.with(|largest| largest.set(0));
}

/// The largest single allocation of this thread since [`reset`].
pub fn largest() -> usize {
    LARGEST_ALLOCATION.with(Cell::get)
}
