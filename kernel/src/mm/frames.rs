//! The physical frame allocator: `klogic::frames::FrameBook` (host-tested) behind a lock.

use super::{phys_to_virt, virt_to_phys, PhysAddr};
use klogic::board::Region;
use klogic::frames::{for_each_unreserved, FrameBook, FRAME_SIZE};

static FRAMES: spin::Mutex<Option<FrameBook<'static>>> = spin::Mutex::new(None);

extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// The kernel image's physical range.
pub fn kernel_image() -> Region {
    let (start, end) = (core::ptr::addr_of!(__kernel_start) as usize, core::ptr::addr_of!(__kernel_end) as usize);
    Region { base: virt_to_phys(start), size: (end - start) as u64 }
}

/// Builds the frame book over `ram`: everything except the kernel image, the device tree and
/// the book's own bitmap (placed right after the kernel image). Returns the free frame count.
pub fn init(ram: &[Region], fdt: Region) -> usize {
    let span_base = ram.iter().map(|r| r.base).min().unwrap_or(0);
    let span_end = ram.iter().map(|r| r.end()).max().unwrap_or(0);
    let span = Region { base: span_base, size: span_end - span_base };
    let words = FrameBook::bitmap_words(span);
    let image = kernel_image();
    let bitmap_region = Region {
        base: image.end().next_multiple_of(FRAME_SIZE),
        size: (words as u64 * 8).next_multiple_of(FRAME_SIZE),
    };
    assert!(bitmap_region.end() <= span_end, "no room for the frame bitmap");
    // SAFETY: the bitmap region lies in RAM right after the kernel image, is covered by the
    // linear map, is reserved below (never handed out), and is used only through this book.
    let bitmap: &'static mut [u64] =
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(bitmap_region.base) as *mut u64, words) };
    let mut book = FrameBook::new(span, bitmap).expect("frame bitmap sized for the span");
    let reserved = [image, fdt, bitmap_region];
    for r in ram {
        for_each_unreserved(*r, &reserved, |s, e| {
            book.add_free(s, e);
        });
    }
    let free = book.free_frames();
    *FRAMES.lock() = Some(book);
    free
}

/// Allocates `count` contiguous frames (aligned to `count` rounded up to a power of two).
pub fn alloc(count: usize) -> Option<PhysAddr> {
    FRAMES.lock().as_mut()?.alloc(count)
}

/// Allocates one frame and zeroes it.
pub fn alloc_zeroed() -> Option<PhysAddr> {
    let pa = alloc(1)?;
    // SAFETY: the frame was just handed out to us alone and the linear map covers it.
    unsafe { core::ptr::write_bytes(phys_to_virt(pa) as *mut u8, 0, FRAME_SIZE as usize) };
    Some(pa)
}

/// Returns frames. A refused free (double free, foreign frame) is a kernel bug: it is logged
/// loudly and the frames stay out of circulation rather than corrupting the allocator.
pub fn free(pa: PhysAddr, count: usize) {
    if let Some(book) = FRAMES.lock().as_mut() {
        if let Err(e) = book.free(pa, count) {
            log::error!("frame free refused: {e:?} for {count} frame(s) at {pa:#x}");
        }
    }
}

/// Frames free right now.
pub fn free_frames() -> usize {
    FRAMES.lock().as_ref().map_or(0, |b| b.free_frames())
}
