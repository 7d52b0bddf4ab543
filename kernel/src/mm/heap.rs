//! The kernel heap: `buddy_system_allocator` over a small bootstrap area in `.bss` (enough for
//! the frame allocator's own free lists) plus one chunk of frames added once the frame allocator
//! runs.
//!
//! The heap does not grow on demand: the frame allocator keeps its free lists on this heap, so
//! growing from inside the allocator would need the heap lock twice. Issue 3's memory quotas make
//! every kernel allocation on a program's behalf bounded.

use super::{frames, phys_to_virt};
use buddy_system_allocator::LockedHeap;
use core::cell::UnsafeCell;

/// Bytes of heap available before the frame allocator exists.
const BOOTSTRAP_BYTES: usize = 512 * 1024;
/// Frames added to the heap once the frame allocator runs (16 MiB).
const CHUNK_FRAMES: usize = 4096;

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();

#[repr(C, align(4096))]
struct Bootstrap(UnsafeCell<[u8; BOOTSTRAP_BYTES]>);
// SAFETY: the area is handed to the heap once, by core 0 at boot, and never touched directly.
unsafe impl Sync for Bootstrap {}
static BOOTSTRAP: Bootstrap = Bootstrap(UnsafeCell::new([0; BOOTSTRAP_BYTES]));

/// Gives the heap its bootstrap area (core 0, once, first thing).
pub fn init_bootstrap() {
    let start = BOOTSTRAP.0.get() as usize;
    // SAFETY: the static area is used by nothing but the heap, and this runs once.
    unsafe { HEAP.lock().init(start, BOOTSTRAP_BYTES) };
}

/// Adds the main chunk from the frame allocator. Returns its size in bytes.
pub fn grow_from_frames() -> usize {
    let pa = frames::alloc(CHUNK_FRAMES).expect("no frames for the kernel heap");
    let start = phys_to_virt(pa);
    // SAFETY: the frames were just handed out for the heap's exclusive, permanent use and are
    // mapped read-write in the linear map.
    unsafe { HEAP.lock().add_to_heap(start, start + CHUNK_FRAMES * 4096) };
    CHUNK_FRAMES * 4096
}

/// Heap bytes allocated right now.
pub fn used_bytes() -> usize {
    HEAP.lock().stats_alloc_actual()
}

/// Heap bytes not allocated right now.
pub fn free_bytes() -> usize {
    let h = HEAP.lock();
    h.stats_total_bytes() - h.stats_alloc_actual()
}
