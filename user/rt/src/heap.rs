//! The heap of the root task (`alloc` works in it): a buddy allocator over frames from the boot
//! quota, mapped read-write in a region of its own at [`BASE`].
//!
//! [`init`] maps [`INITIAL_PAGES`] up front, so ordinary work (such as loading a module) does not
//! change the free-frame count; when that runs out the heap grows by [`GROW_PAGES`] at a time
//! (never shrinks). Loadable modules do not use it.

use crate::cap::{Frame, Owned, ROOT_VSPACE};
use abi::{Rights, PAGE_SIZE};
use buddy_system_allocator::{Heap, LockedHeapWithRescue};
use core::sync::atomic::{AtomicU64, Ordering};

/// Where the heap region starts (far from the image, the stack and the thread window).
pub const BASE: u64 = 0x20_0000_0000;
/// Largest heap.
pub const MAX_PAGES: u64 = 64 * 1024;
/// Pages mapped by [`init`].
pub const INITIAL_PAGES: u64 = 512;
/// Pages added when the heap is full.
pub const GROW_PAGES: u64 = 256;

/// Pages mapped so far.
static MAPPED: AtomicU64 = AtomicU64::new(0);

#[global_allocator]
static HEAP: LockedHeapWithRescue<32> = LockedHeapWithRescue::new(grow);

/// Maps `pages` more pages at the end of the region and gives them to `heap`. Runs with the
/// heap's lock held: it allocates nothing from the heap (slots and frames come from the
/// kernel).
fn extend(heap: &mut Heap<32>, pages: u64) -> bool {
    let start = BASE + MAPPED.load(Ordering::Relaxed) * PAGE_SIZE;
    let mut done = 0;
    while done < pages && MAPPED.load(Ordering::Relaxed) < MAX_PAGES {
        let va = start + done * PAGE_SIZE;
        let Ok(frame) = Owned::<Frame>::create(0) else { break };
        if frame.map(ROOT_VSPACE, va, Rights::READ | Rights::WRITE).is_err() {
            break;
        }
        core::mem::forget(frame); // the heap keeps its frames for good
        MAPPED.fetch_add(1, Ordering::Relaxed);
        done += 1;
    }
    if done > 0 {
        // SAFETY: `[start, start + done pages)` was just mapped read-write in this address
        // space, is used by nothing else (the region belongs to the heap) and is handed over
        // exactly once.
        unsafe { heap.add_to_heap(start as usize, (start + done * PAGE_SIZE) as usize) };
    }
    done > 0
}

/// Frames the heap leaves to everybody else when it grows: it does not grow into the last ones
/// (a large request that the machine cannot meet fails, instead of taking every frame left).
const HEADROOM_FRAMES: u64 = 256;

/// Grows the heap for an allocation that failed: by [`GROW_PAGES`], or for a large one by
/// exactly its size rounded up to a power of two, at a virtual address aligned to that size
/// (the pages skipped stay unmapped) — a buddy allocator needs a block aligned to its size.
/// (Growing by `GROW_PAGES` alone could never satisfy a request of more than 1 MiB: a 1 MiB
/// module image could not be loaded.) It does not grow if the machine has fewer than the pages
/// needed plus [`HEADROOM_FRAMES`] free.
fn grow(heap: &mut Heap<32>, layout: &core::alloc::Layout) {
    let block = (layout.size().max(layout.align()).next_power_of_two() as u64).max(PAGE_SIZE);
    let block_pages = block / PAGE_SIZE;
    let pages = block_pages.max(GROW_PAGES);
    // Unknown (no Debug authority): grow as before.
    let free = crate::sys::system_info(abi::InfoKey::FreeFrames).unwrap_or(u64::MAX);
    if free < pages + HEADROOM_FRAMES {
        return;
    }
    if block_pages > GROW_PAGES {
        let mapped = MAPPED.load(Ordering::Relaxed);
        MAPPED.store(mapped.next_multiple_of(block_pages), Ordering::Relaxed);
    }
    extend(heap, pages);
}

/// Maps the initial heap. Called once by the root task's runtime before `main`.
pub(crate) fn init() -> bool {
    extend(&mut HEAP.lock(), INITIAL_PAGES)
}

/// Bytes in the heap and bytes allocated.
pub fn stats() -> (usize, usize) {
    let h = HEAP.lock();
    (h.stats_total_bytes(), h.stats_alloc_actual())
}
