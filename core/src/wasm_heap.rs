//! The heap of the engine's WebAssembly builds: Talc, with the wasm memory
//! grown in large steps.
//!
//! Talc's own wasm sources grow the memory by just what the failing
//! allocation needs: one 64 KiB page at a time for the engine's small
//! allocations. A `memory.grow` costs the browser tens of microseconds, so
//! reopening a 100,000-op workspace (about 130 MB) spent 60 ms of a single
//! task growing memory, two thousand times over. Growing by a quarter of what
//! is there (at least a mebibyte) takes a few dozen steps instead, and wastes
//! at most that quarter, in pages the browser backs only once touched.
//!
//! The app, the in-browser engine tests and the comparison benchmark all
//! declare `#[global_allocator] static HEAP: Heap = heap();`.

use core::alloc::Layout;
use core::arch::wasm32::{memory_grow, memory_size};
use core::ptr::NonNull;

use talc::base::binning::Binning;
use talc::base::{CHUNK_UNIT, Talc};
use talc::cell::TalcSyncCell;
use talc::wasm::WasmBinning;

/// A global allocator for single-threaded wasm.
pub type Heap = TalcSyncCell<GrowInSteps, WasmBinning>;

pub const fn heap() -> Heap {
    TalcSyncCell::new_wasm(GrowInSteps { end: None })
}

const PAGE_BYTES: usize = 64 * 1024;
/// The smallest step: a mebibyte.
const MIN_STEP_PAGES: usize = 16;
/// Each step adds at least this fraction of the memory already there.
const STEP_DIVISOR: usize = 4;
/// Room for Talc's bookkeeping when a step starts a new heap: its bin lists,
/// the heap's end marker, alignment.
const BOOKKEEPING_BYTES: usize = 1024;

/// Grows the wasm memory in steps, extending the heap over each one.
#[derive(Debug)]
pub struct GrowInSteps {
    /// Where the heap ends, once there is one.
    end: Option<NonNull<u8>>,
}

// SAFETY: it grows the memory and hands Talc only the pages just grown, and
// allocates nothing itself.
unsafe impl talc::source::Source for GrowInSteps {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        let needed = pages_for(layout);
        let step = needed.max(MIN_STEP_PAGES).max(memory_size::<0>() / STEP_DIVISOR);
        // Close to the memory's limit, settle for what this allocation needs.
        let (pages_before, grown) = [step, needed]
            .into_iter()
            .find_map(|pages| match memory_grow::<0>(pages) {
                usize::MAX => None,
                before => Some((before, pages)),
            })
            .ok_or(())?;
        let base = (pages_before * PAGE_BYTES) as *mut u8;
        let bytes = grown * PAGE_BYTES;
        // The memory is ours alone, so a step usually starts where the heap
        // ends; if anything else grew it meanwhile, the step is a heap of its own.
        if let Some(end) = talc.source.end.take()
            && end.as_ptr() == base
        {
            // SAFETY: the pages from `end` to `base + bytes` were just grown and are unused.
            talc.source.end = Some(unsafe { talc.extend(end, base.wrapping_add(bytes)) });
        } else {
            // SAFETY: as above, for the pages from `base`.
            talc.source.end = unsafe { talc.claim(base, bytes) };
        }
        Ok(())
    }
}

/// Pages enough for `layout` in a new heap. Were it ever short, Talc asks
/// again and the next step adds more.
fn pages_for(layout: Layout) -> usize {
    let bytes = layout.size() + layout.align().max(CHUNK_UNIT) + 2 * CHUNK_UNIT + BOOKKEEPING_BYTES;
    bytes.div_ceil(PAGE_BYTES)
}
