//! What the module server does with a file it did not make, as one function: the ELF fuzz
//! target (`user/modfmt/fuzz`, `just fuzz-elf`) and the regression replay (`cargo test`,
//! `tests/fuzz_regressions.rs`) both call [`check`], so they exercise exactly the server's code.
//!
//! [`check`] never panics on any input unless the code is wrong: a file is either refused with
//! an [`ElfError`], or its [`Plan`] keeps every promise the loader relies on (asserted here, so
//! a plan that breaks one is a crash the fuzzer reports), and the image builds and relocates.

use crate::archive;
use crate::elf::{self, ElfError, Limits, Plan, Rights, PAGE_SIZE};
use crate::modinfo;

/// The base the loader might pick (any page-aligned address of the module pool does).
pub const BASE: u64 = 0x40_0000_0000;

/// Validates `bytes` as the server does, and if accepted, builds and relocates the image and
/// checks the plan's promises. Returns the validation's verdict.
pub fn check(bytes: &[u8]) -> Result<(), ElfError> {
    let limits = Limits::default();
    let plan = elf::validate(bytes, &limits)?;
    assert_promises(&plan, bytes.len() as u64, &limits);
    let mut image = elf::load_image(bytes, &plan);
    assert_eq!(image.len() as u64, plan.image_bytes());
    elf::relocate(&mut image, &plan, BASE)?;
    // The last relocation stores its value (earlier ones at overlapping offsets are overwritten:
    // `validate` allows that, as the ELF format does).
    if let Some(r) = plan.relocs.last() {
        let at = r.offset as usize;
        let stored = u64::from_le_bytes(image[at..at + 8].try_into().expect("8 bytes"));
        assert_eq!(stored, BASE + r.addend, "relocation at {:#x} stored the wrong value", r.offset);
    }
    Ok(())
}

/// The boot archive parser on untrusted bytes: never panics, and every entry it returns lies
/// inside the input.
pub fn check_archive(bytes: &[u8]) {
    if let Ok(entries) = archive::parse(bytes) {
        for e in entries {
            let start = e.data.as_ptr() as usize;
            let base = bytes.as_ptr() as usize;
            assert!(start >= base && start + e.data.len() <= base + bytes.len(), "entry outside the archive");
        }
    }
}

/// Everything the loader assumes of a plan `validate` returned for a file of `len` bytes.
fn assert_promises(plan: &Plan, len: u64, limits: &Limits) {
    let image = plan.image_bytes();
    assert!(image > 0 && image <= limits.max_image_bytes, "image of {image} bytes");
    assert!(!plan.segments.is_empty() && plan.segments.len() <= limits.max_segments);
    for (i, s) in plan.segments.iter().enumerate() {
        let end = s.vaddr.checked_add(s.memsz).expect("segment end overflows");
        assert!(end <= image, "segment {i} ends at {end:#x}, past the image ({image:#x})");
        assert!(s.filesz <= s.memsz, "segment {i}: more file bytes than memory");
        let fend = s.file_offset.checked_add(s.filesz).expect("file range overflows");
        assert!(fend <= len, "segment {i}: file bytes past the end of the file");
        for (j, t) in plan.segments.iter().enumerate().skip(i + 1) {
            let (a0, a1) = (s.vaddr / PAGE_SIZE, end.div_ceil(PAGE_SIZE));
            let (b0, b1) = (t.vaddr / PAGE_SIZE, (t.vaddr + t.memsz).div_ceil(PAGE_SIZE));
            assert!(a1 <= b0 || b1 <= a0, "segments {i} and {j} share a page");
        }
    }
    let exec = |at: u64, n: u64| {
        plan.segments.iter().any(|s| s.rights == Rights::ReadExec && at >= s.vaddr && at + n <= s.vaddr + s.memsz)
    };
    assert!(exec(plan.entry, 4), "entry {:#x} outside an executable segment", plan.entry);
    assert!(plan.entry.is_multiple_of(4), "misaligned entry {:#x}", plan.entry);
    for r in &plan.relocs {
        let end = r.offset.checked_add(8).expect("relocation end overflows");
        assert!(end <= image, "relocation at {:#x} past the image", r.offset);
        assert!(r.addend <= image, "relocation addend {:#x} past the end of the image", r.addend);
        let writable = plan
            .segments
            .iter()
            .any(|s| s.rights != Rights::ReadExec && r.offset >= s.vaddr && end <= s.vaddr + s.memsz);
        assert!(writable, "relocation at {:#x} outside a data segment", r.offset);
    }
    assert!(modinfo::is_valid_name(&plan.info.name), "accepted name {:?}", plan.info.name);
}
