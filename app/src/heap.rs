//! The wasm heap: Talc, grown a megabyte at a time.
//!
//! Talc instead of Rust's default wasm allocator (dlmalloc), which spent a
//! quarter of a catch-up's time in Chromium on the engine's many small
//! allocations. Talc's own wasm source grows the memory by just what the
//! failing allocation needs; and before asking for more, an allocation that
//! finds no free space large enough walks the whole list of the size class
//! below it. Once that list is long (a heap left full of small freed
//! blocks), every 64 KiB of new allocations paid for a walk of it: decoding
//! a 10,000-record state snapshot (which the app kept then) took 370 ms
//! instead of 110 in Chromium, 200 ms of it in that walk. Growing a megabyte at a time makes those walks rare;
//! at most a megabyte of the memory stays unused.
//!
//! The comparison benchmark (`tests/bench/compare/openprod`) includes this
//! file, so that it measures the app's heap.

use std::alloc::Layout;
use std::ptr::NonNull;

use talc::base::{CHUNK_UNIT, Talc};
use talc::cell::TalcSyncCell;
use talc::wasm::WasmBinning;

/// The global allocator's type: see [`new_heap`].
pub type Heap = TalcSyncCell<GrowInSteps, WasmBinning>;

/// An empty heap that takes memory from the wasm memory as it needs it.
pub const fn new_heap() -> Heap {
    TalcSyncCell::new_wasm(GrowInSteps { end: None })
}

const PAGE_BYTES: usize = 64 * 1024;

/// The least the memory grows by: sixteen pages, a megabyte.
const STEP_PAGES: usize = 16;

/// Grows the wasm memory by at least [`STEP_PAGES`], extending the heap
/// when the new memory follows it (it does unless something else grew the
/// memory meanwhile, in which case the new memory becomes a heap of its own).
#[derive(Debug)]
pub struct GrowInSteps {
    end: Option<NonNull<u8>>,
}

// SAFETY: `acquire` only claims or extends with memory it just had the wasm
// memory grow by, and allocates nothing itself.
unsafe impl talc::source::Source for GrowInSteps {
    fn acquire<B: talc::base::binning::Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        // Room for the allocation however it is aligned, and for the heap's
        // own bookkeeping at its start and end.
        let needed = layout.size().checked_add(layout.align() + 4 * CHUNK_UNIT).ok_or(())?;
        let pages = needed.div_ceil(PAGE_BYTES).max(STEP_PAGES);
        let previous_pages = grow_memory(pages).ok_or(())?;
        let base = (previous_pages * PAGE_BYTES) as *mut u8;
        let bytes = pages * PAGE_BYTES;
        if let Some(end) = talc.source.end.take()
            && end.as_ptr() == base
        {
            // SAFETY: `end` is where the heap ends, and the memory from
            // there to `base + bytes` was just added to the wasm memory.
            talc.source.end = Some(unsafe { talc.extend(end, base.wrapping_add(bytes)) });
            return Ok(());
        }
        // SAFETY: the memory at `base` was just added to the wasm memory and
        // belongs to nothing else.
        talc.source.end = unsafe { talc.claim(base, bytes) };
        Ok(())
    }
}

/// Grows the wasm memory by `pages`; the number of pages it had before.
fn grow_memory(pages: usize) -> Option<usize> {
    match core::arch::wasm32::memory_grow::<0>(pages) {
        usize::MAX => None,
        previous => Some(previous),
    }
}
