//! Bookkeeping for physical 4 KiB frames.
//!
//! [`FrameBook`] puts a buddy allocator (`buddy_system_allocator::FrameAllocator`) behind a
//! bitmap with two bits per frame of the RAM span (usable, in use): the buddy allocator decides *which* frames to
//! hand out; the bitmap knows *whether* a frame is out, so a double free or a free of a frame that
//! was never handed out is caught and refused instead of corrupting the free lists. It also keeps
//! the count of free frames, which the boot summary, `meminfo` and the leak checks of the tests
//! read at any time.
//!
//! Addresses are physical; the book never touches the frames themselves.

use crate::board::Region;
use buddy_system_allocator::FrameAllocator;

/// Size of a frame.
pub const FRAME_SIZE: u64 = 4096;

/// Why a free was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The address is not frame-aligned.
    Misaligned,
    /// Some frame of the range lies outside the RAM this book covers.
    OutOfRange,
    /// Some frame of the range is not allocated: a double free or a free of reserved memory.
    NotAllocated,
}

/// The state of every frame of one RAM span.
pub struct FrameBook<'b> {
    buddy: FrameAllocator<32>,
    span: Region,
    /// Two bitmaps of one bit per frame of `span`, back to back: the first is set while the frame
    /// is *not* free (allocated or reserved); the second is set once the frame has been made
    /// usable by [`FrameBook::add_free`] (so reserved frames can never be "freed" into use).
    in_use: &'b mut [u64],
    free: usize,
    total: usize,
}

impl<'b> FrameBook<'b> {
    /// Words of bitmap needed to cover `span`.
    pub fn bitmap_words(span: Region) -> usize {
        2 * Self::half(span)
    }

    fn half(span: Region) -> usize {
        (span.size / FRAME_SIZE).div_ceil(64) as usize
    }

    fn usable(&self, i: usize) -> bool {
        let half = Self::half(self.span);
        (self.in_use[half + i / 64] >> (i % 64)) & 1 == 1
    }

    fn mark_usable(&mut self, i: usize) {
        let half = Self::half(self.span);
        self.in_use[half + i / 64] |= 1 << (i % 64);
    }

    /// A book covering `span` with every frame marked in use; [`FrameBook::add_free`] then
    /// releases the usable parts. `bitmap` must hold [`FrameBook::bitmap_words`] words.
    pub fn new(span: Region, bitmap: &'b mut [u64]) -> Option<FrameBook<'b>> {
        if !span.base.is_multiple_of(FRAME_SIZE) || bitmap.len() < Self::bitmap_words(span) {
            return None;
        }
        let half = Self::half(span);
        bitmap[..half].fill(u64::MAX);
        bitmap[half..].fill(0);
        Some(FrameBook { buddy: FrameAllocator::new(), span, in_use: bitmap, free: 0, total: 0 })
    }

    fn frame_index(&self, pa: u64) -> usize {
        ((pa - self.span.base) / FRAME_SIZE) as usize
    }

    fn set_bits(&mut self, first: usize, count: usize, in_use: bool) {
        for i in first..first + count {
            let (word, bit) = (i / 64, i % 64);
            if in_use {
                self.in_use[word] |= 1 << bit;
            } else {
                self.in_use[word] &= !(1 << bit);
            }
        }
    }

    fn all_bits(&self, first: usize, count: usize, in_use: bool) -> bool {
        (first..first + count).all(|i| (self.in_use[i / 64] >> (i % 64)) & 1 == in_use as u64)
    }

    /// Makes the whole frames inside `[start, end)` available (the range is rounded inwards).
    /// Parts outside the span, and frames already free, are ignored. Returns frames added.
    pub fn add_free(&mut self, start: u64, end: u64) -> usize {
        let start = start.max(self.span.base).next_multiple_of(FRAME_SIZE);
        let end = end.min(self.span.end()) & !(FRAME_SIZE - 1);
        let mut added = 0;
        // Hand the buddy allocator whole runs of newly freed frames, not single frames: it
        // splits a run into aligned blocks itself, and keeps far fewer free-list entries.
        let mut run_start: Option<usize> = None;
        let mut pa = start;
        while pa <= end {
            let frame = (pa / FRAME_SIZE) as usize;
            let newly_free = pa < end && self.all_bits(self.frame_index(pa), 1, true);
            match (newly_free, run_start) {
                (true, None) => run_start = Some(frame),
                (false, Some(first)) => {
                    self.buddy.add_frame(first, frame);
                    run_start = None;
                }
                _ => {}
            }
            if newly_free {
                let i = self.frame_index(pa);
                self.set_bits(i, 1, false);
                self.mark_usable(i);
                added += 1;
            }
            pa += FRAME_SIZE;
        }
        self.free += added;
        self.total += added;
        added
    }

    /// Allocates `count` physically contiguous frames, aligned to `count` rounded up to a power
    /// of two. Returns the physical address of the first.
    pub fn alloc(&mut self, count: usize) -> Option<u64> {
        if count == 0 {
            return None;
        }
        let frame = self.buddy.alloc(count)?;
        let pa = frame as u64 * FRAME_SIZE;
        let i = self.frame_index(pa);
        debug_assert!(self.all_bits(i, count, false), "buddy handed out a frame in use");
        self.set_bits(i, count, true);
        self.free -= count;
        Some(pa)
    }

    /// Returns `count` frames starting at `pa`, exactly as [`FrameBook::alloc`] handed them out.
    pub fn free(&mut self, pa: u64, count: usize) -> Result<(), FrameError> {
        if !pa.is_multiple_of(FRAME_SIZE) {
            return Err(FrameError::Misaligned);
        }
        let len = count as u64 * FRAME_SIZE;
        if pa < self.span.base || pa.checked_add(len).is_none_or(|end| end > self.span.end()) {
            return Err(FrameError::OutOfRange);
        }
        let i = self.frame_index(pa);
        if !self.all_bits(i, count, true) || !(i..i + count).all(|f| self.usable(f)) {
            return Err(FrameError::NotAllocated);
        }
        self.set_bits(i, count, false);
        self.buddy.dealloc((pa / FRAME_SIZE) as usize, count);
        self.free += count;
        Ok(())
    }

    /// Frames free right now.
    pub fn free_frames(&self) -> usize {
        self.free
    }

    /// Frames ever made available (free or handed out).
    pub fn total_frames(&self) -> usize {
        self.total
    }
}

/// Calls `f` with each piece of `ram` not covered by any of `reserved` (reserved ranges may
/// overlap each other and lie partly outside `ram`).
pub fn for_each_unreserved(ram: Region, reserved: &[Region], mut f: impl FnMut(u64, u64)) {
    let mut cursor = ram.base;
    while cursor < ram.end() {
        // The reservation covering the cursor, if any: skip past it.
        if let Some(r) = reserved.iter().find(|r| r.base <= cursor && cursor < r.end()) {
            cursor = r.end();
            continue;
        }
        // Otherwise run up to the nearest reservation starting after the cursor.
        let next = reserved
            .iter()
            .filter(|r| r.base > cursor && r.size > 0)
            .map(|r| r.base)
            .min()
            .unwrap_or(ram.end())
            .min(ram.end());
        f(cursor, next);
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: Region = Region { base: 0x4000_0000, size: 64 * FRAME_SIZE };

    fn book(bitmap: &mut [u64]) -> FrameBook<'_> {
        let mut b = FrameBook::new(SPAN, bitmap).unwrap();
        assert_eq!(b.add_free(SPAN.base, SPAN.end()), 64);
        b
    }

    #[test]
    fn counts_follow_alloc_and_free() {
        let mut bits = [0u64; 2];
        let mut b = book(&mut bits);
        assert_eq!((b.free_frames(), b.total_frames()), (64, 64));
        let a = b.alloc(1).unwrap();
        let c = b.alloc(4).unwrap();
        assert_eq!(c % (4 * FRAME_SIZE), 0, "blocks are aligned to their size");
        assert_eq!(b.free_frames(), 59);
        b.free(c, 4).unwrap();
        b.free(a, 1).unwrap();
        assert_eq!(b.free_frames(), 64);
    }

    #[test]
    fn double_free_and_foreign_frees_are_refused() {
        let mut bits = [0u64; 2];
        let mut b = book(&mut bits);
        let a = b.alloc(2).unwrap();
        b.free(a, 2).unwrap();
        assert_eq!(b.free(a, 2), Err(FrameError::NotAllocated));
        assert_eq!(b.free(a + 1, 1), Err(FrameError::Misaligned));
        assert_eq!(b.free(0x1000, 1), Err(FrameError::OutOfRange));
        assert_eq!(b.free(SPAN.end() - FRAME_SIZE, 2), Err(FrameError::OutOfRange));
        assert_eq!(b.free_frames(), 64, "refused frees change nothing");
    }

    #[test]
    fn exhaustion_and_reuse() {
        let mut bits = [0u64; 2];
        let mut b = book(&mut bits);
        let all: Vec<u64> = (0..64).map(|_| b.alloc(1).unwrap()).collect();
        assert_eq!(b.alloc(1), None);
        assert_eq!(b.free_frames(), 0);
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 64, "no frame handed out twice");
        for pa in all {
            b.free(pa, 1).unwrap();
        }
        assert_eq!(b.alloc(64), Some(SPAN.base), "freed frames coalesce again");
    }

    #[test]
    fn reserved_frames_never_handed_out() {
        let mut bits = [0u64; 2];
        let mut b = FrameBook::new(SPAN, &mut bits).unwrap();
        let reserved = [Region { base: SPAN.base + 0x3000, size: 0x2800 }];
        let mut calls = 0;
        for_each_unreserved(SPAN, &reserved, |s, e| {
            calls += 1;
            assert!(calls < 16, "runaway: called again with {s:#x}..{e:#x}");
            b.add_free(s, e);
        });
        // 0x3000..0x5800 reserved: frames 3, 4 and 5 (partially covered) are out.
        assert_eq!(b.free_frames(), 61);
        while let Some(pa) = b.alloc(1) {
            let off = pa - SPAN.base;
            assert!(!(0x3000..0x6000).contains(&off), "reserved frame {off:#x} handed out");
        }
        assert_eq!(b.free(SPAN.base + 0x3000, 1), Err(FrameError::NotAllocated));
    }

    /// The pieces `for_each_unreserved` reports; a runaway loop fails instead of hanging.
    fn pieces(ram: Region, reserved: &[Region]) -> Vec<(u64, u64)> {
        let mut out = vec![];
        for_each_unreserved(ram, reserved, |s, e| {
            assert!(out.len() < 16, "runaway: {out:?} and then {s}..{e}");
            out.push((s, e));
        });
        out
    }

    #[test]
    fn unreserved_pieces() {
        let ram = Region { base: 100, size: 100 };
        let reserved = [
            Region { base: 50, size: 60 },  // overlaps the start
            Region { base: 130, size: 10 }, // inside
            Region { base: 135, size: 10 }, // overlaps the previous
            Region { base: 190, size: 50 }, // runs past the end
        ];
        assert_eq!(pieces(ram, &reserved), vec![(110, 130), (145, 190)]);
        assert_eq!(pieces(ram, &[]), vec![(100, 200)]);
    }

    #[test]
    fn an_empty_reservation_splits_nothing() {
        let ram = Region { base: 100, size: 100 };
        assert_eq!(pieces(ram, &[Region { base: 150, size: 0 }]), vec![(100, 200)]);
        let reserved = [Region { base: 120, size: 0 }, Region { base: 150, size: 10 }];
        assert_eq!(pieces(ram, &reserved), vec![(100, 150), (160, 200)]);
    }

    #[test]
    fn bitmap_size_follows_the_span() {
        let frames = |n: u64| Region { base: 0x4000_0000, size: n * FRAME_SIZE };
        // Two halves (not free, usable) of one bit per frame, each rounded up to whole words.
        assert_eq!(FrameBook::bitmap_words(frames(0)), 0);
        assert_eq!(FrameBook::bitmap_words(frames(1)), 2);
        assert_eq!(FrameBook::bitmap_words(frames(64)), 2);
        assert_eq!(FrameBook::bitmap_words(frames(65)), 4);
        assert_eq!(FrameBook::bitmap_words(frames(640)), 20);
        let mut short = [0u64; 3];
        assert!(FrameBook::new(frames(65), &mut short).is_none(), "a bitmap too short is refused");
        let mut enough = [0u64; 4];
        assert!(FrameBook::new(frames(65), &mut enough).is_some());
        assert!(FrameBook::new(Region { base: 0x4000_0800, size: 0x1000 }, &mut enough).is_none(), "misaligned");
    }

    /// A span of several bitmap words: the usable bits of frames past the first 64 live in the
    /// right word of the second half.
    #[test]
    fn usable_bits_beyond_the_first_word() {
        let span = Region { base: 0x4000_0000, size: 256 * FRAME_SIZE };
        let frame = |i: u64| span.base + i * FRAME_SIZE;
        let mut bits = [0u64; 8];
        let mut b = FrameBook::new(span, &mut bits).unwrap();
        assert_eq!(b.add_free(frame(64), frame(128)), 64);
        let mut got = vec![];
        while let Some(pa) = b.alloc(1) {
            assert!((frame(64)..frame(128)).contains(&pa), "{pa:#x} was never added");
            got.push(pa);
        }
        assert_eq!(got.len(), 64);
        for pa in got {
            assert_eq!(b.free(pa, 1), Ok(()), "{pa:#x}");
        }
        // Frames never made usable, in other words of the bitmap, cannot be freed into use.
        for i in [0, 10, 130, 200, 255] {
            assert_eq!(b.free(frame(i), 1), Err(FrameError::NotAllocated), "frame {i}");
        }
        assert_eq!((b.free_frames(), b.total_frames()), (64, 64));
    }
}
