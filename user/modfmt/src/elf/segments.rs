//! Checks of the PT_LOAD segments and the entry point.

use super::{ElfError, Limits, Rights, Segment, PAGE_SIZE};
use alloc::vec::Vec;
use goblin::elf::program_header::{ProgramHeader, PT_LOAD};

/// Rounds `x` down to a page boundary.
fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

/// Rounds `x` up to a page boundary (`None` if that overflows).
fn page_up(x: u64) -> Option<u64> {
    Some(x.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

/// Checks every PT_LOAD of a file of `len` bytes against the rules and `limits`. Returns the
/// segments (in program-header order) and the image size: from address 0 to the page-rounded
/// end of the highest segment.
pub(super) fn check(phdrs: &[ProgramHeader], len: u64, limits: &Limits) -> Result<(Vec<Segment>, u64), ElfError> {
    let loads: Vec<(usize, &ProgramHeader)> = phdrs.iter().enumerate().filter(|(_, ph)| ph.p_type == PT_LOAD).collect();
    if loads.is_empty() {
        return Err(ElfError::NoLoadSegments);
    }
    if loads.len() > limits.max_segments {
        return Err(ElfError::TooManySegments { count: loads.len(), max: limits.max_segments });
    }
    let mut segments = Vec::with_capacity(loads.len());
    for &(index, ph) in &loads {
        segments.push(check_one(index, ph, len, limits)?);
    }

    // Page-rounded memory ranges, sorted by start: if any two overlap, two neighbours do.
    let mut ranges: Vec<(u64, u64, usize)> = loads
        .iter()
        .zip(&segments)
        .map(|(&(index, _), s)| {
            // `check_one` made sure the rounded end does not overflow.
            let end = page_up(s.vaddr + s.memsz).unwrap_or(u64::MAX);
            (page_down(s.vaddr), end, index)
        })
        .collect();
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        let ((_, end, first), (start, _, second)) = (pair[0], pair[1]);
        if start < end {
            return Err(ElfError::Overlap { first, second });
        }
    }
    let image_bytes = ranges.iter().map(|&(_, end, _)| end).max().unwrap_or(0);
    if image_bytes > limits.max_image_bytes {
        return Err(ElfError::ImageTooBig { bytes: image_bytes, max: limits.max_image_bytes });
    }
    if !segments.iter().any(|s| s.rights == Rights::ReadExec) {
        return Err(ElfError::NoExecutableSegment);
    }
    Ok((segments, image_bytes))
}

/// Checks one PT_LOAD (program header `index`) on its own.
fn check_one(index: usize, ph: &ProgramHeader, len: u64, limits: &Limits) -> Result<Segment, ElfError> {
    let (offset, filesz, vaddr, memsz) = (ph.p_offset, ph.p_filesz, ph.p_vaddr, ph.p_memsz);
    if offset.checked_add(filesz).is_none_or(|end| end > len) {
        return Err(ElfError::SegmentPastEof { index, offset, filesz, len });
    }
    if filesz > memsz {
        return Err(ElfError::FileszOverMemsz { index, filesz, memsz });
    }
    if memsz == 0 {
        return Err(ElfError::EmptySegment(index));
    }
    if vaddr.checked_add(memsz).and_then(page_up).is_none() {
        return Err(ElfError::SegmentWraps { index, vaddr, memsz });
    }
    // The ELF specification lets 0 and 1 both mean "no alignment".
    let align = ph.p_align;
    if align > 1 && !align.is_power_of_two() {
        return Err(ElfError::BadAlign { index, align });
    }
    if align > limits.max_align {
        return Err(ElfError::AlignTooBig { index, align, max: limits.max_align });
    }
    if vaddr % PAGE_SIZE != offset % PAGE_SIZE {
        return Err(ElfError::PageMisaligned { index, vaddr, offset });
    }
    let rights = match (ph.is_read(), ph.is_write(), ph.is_executable()) {
        (_, true, true) => return Err(ElfError::WritableExecutable(index)),
        (false, _, _) => return Err(ElfError::NotReadable(index)),
        (true, false, false) => Rights::Read,
        (true, true, false) => Rights::ReadWrite,
        (true, false, true) => Rights::ReadExec,
    };
    Ok(Segment { vaddr, memsz, file_offset: offset, filesz, rights })
}

/// Checks that `entry` lies inside an executable segment.
pub(super) fn check_entry(segments: &[Segment], entry: u64) -> Result<(), ElfError> {
    // Found by `just fuzz-elf`: an entry at 0xf7 inside the text was accepted.
    if !entry.is_multiple_of(4) {
        return Err(ElfError::MisalignedEntry(entry));
    }
    // The whole first instruction inside the segment.
    let inside = |s: &&Segment| s.vaddr <= entry && s.memsz >= 4 && entry - s.vaddr <= s.memsz - 4;
    match segments.iter().filter(|s| s.rights == Rights::ReadExec).find(inside) {
        Some(_) => Ok(()),
        None => Err(ElfError::EntryNotExecutable(entry)),
    }
}
