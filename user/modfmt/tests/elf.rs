//! Validation, loading and relocation of module ELFs, against the synthetic module of
//! `common` and targeted patches of it.

mod common;

use common::*;
use modfmt::elf::{self, ElfError, Limits, Plan, Reloc, Rights, Segment};
use modfmt::modinfo::{ModInfo, ModInfoError};

fn validate(bytes: &[u8]) -> Result<Plan, ElfError> {
    elf::validate(bytes, &Limits::default())
}

/// Validates `good()` after `patch`, expecting a refusal.
fn refused(patch: impl FnOnce(&mut Vec<u8>)) -> ElfError {
    let mut bytes = good();
    patch(&mut bytes);
    let err = validate(&bytes).expect_err("the patched module must be refused");
    let msg = err.to_string();
    assert!(!msg.is_empty() && !msg.contains('\n'), "one-line message: {msg:?}");
    err
}

fn expected_plan() -> Plan {
    Plan {
        segments: vec![
            Segment {
                vaddr: 0,
                memsz: 0x200 + GOOD_MODINFO.len() as u64,
                file_offset: 0,
                filesz: 0x200 + GOOD_MODINFO.len() as u64,
                rights: Rights::Read,
            },
            Segment { vaddr: TEXT, memsz: TEXT_LEN, file_offset: TEXT, filesz: TEXT_LEN, rights: Rights::ReadExec },
            Segment {
                vaddr: DYNAMIC,
                memsz: RW_MEMSZ,
                file_offset: DYNAMIC,
                filesz: DATA + DATA_LEN - DYNAMIC,
                rights: Rights::ReadWrite,
            },
        ],
        image_pages: IMAGE_PAGES,
        entry: ENTRY,
        relocs: vec![
            Reloc { offset: 0x2100, addend: 0x1004 },
            Reloc { offset: 0x2108, addend: 0x2000 },
            Reloc { offset: 0x3000, addend: 0x200 },
        ],
        info: ModInfo {
            name: "hello".into(),
            version: "0.1.0".into(),
            license: "MIT".into(),
            description: "says hello".into(),
            depends: vec!["console".into()],
        },
        build_id: vec![],
    }
}

/// A GNU build-id note, as the linker writes it: namesz, descsz, type 3, "GNU\0", the id.
fn note(namesz: u32, id_len: u32, kind: u32, name: &[u8; 4], id: &[u8]) -> Vec<u8> {
    let mut n = Vec::new();
    for w in [namesz, id_len, kind] {
        n.extend_from_slice(&w.to_le_bytes());
    }
    n.extend_from_slice(name);
    n.extend_from_slice(id);
    n
}

#[test]
fn build_id_notes_are_checked() {
    let id = [0xab; 20];
    assert_eq!(elf::build_id_note(&note(4, 20, 3, b"GNU\0", &id)), Some(&id[..]));
    assert_eq!(elf::build_id_note(&note(4, 20, 3, b"GNU\0", &id[..19])), None, "shorter than it says");
    assert_eq!(elf::build_id_note(&note(4, 20, 1, b"GNU\0", &id)), None, "another note type");
    assert_eq!(elf::build_id_note(&note(4, 20, 3, b"XYZ\0", &id)), None, "another owner");
    assert_eq!(elf::build_id_note(&note(5, 20, 3, b"GNU\0", &id)), None, "name size");
    assert_eq!(elf::build_id_note(&note(4, 0, 3, b"GNU\0", &[])), None, "empty id");
    assert_eq!(elf::build_id_note(&note(4, 33, 3, b"GNU\0", &[1; 33])), None, "over BUILD_ID_MAX");
    assert_eq!(elf::build_id_note(&note(4, u32::MAX, 3, b"GNU\0", &id)), None, "huge size");
    assert_eq!(elf::build_id_note(&[1, 2, 3]), None, "truncated header");
}

#[test]
fn good_module_validates_with_the_expected_plan() {
    assert_eq!(validate(&good()).unwrap(), expected_plan());
}

#[test]
fn default_limits() {
    let l = Limits::default();
    assert_eq!((l.max_file_bytes, l.max_segments, l.max_image_bytes, l.max_align), (4 << 20, 8, 16 << 20, 64 << 10));
}

#[test]
fn load_and_relocate_end_to_end() {
    let bytes = good();
    let plan = validate(&bytes).unwrap();
    let mut image = elf::load_image(&bytes, &plan);
    assert_eq!(image.len() as u64, IMAGE_PAGES * PAGE);
    // File bytes copied, the rest zero.
    assert_eq!(&image[..0x200], &bytes[..0x200]);
    assert_eq!(&image[TEXT as usize..][..TEXT_LEN as usize], &bytes[TEXT as usize..][..TEXT_LEN as usize]);
    assert!(image[(TEXT + TEXT_LEN) as usize..DYNAMIC as usize].iter().all(|&b| b == 0));
    assert!(image[(DATA + DATA_LEN) as usize..].iter().all(|&b| b == 0));

    let base = 0x40_0000_0000;
    let before = image.clone();
    elf::relocate(&mut image, &plan, base).unwrap();
    assert_eq!(get_u64(&image, 0x2100), base + 0x1004);
    assert_eq!(get_u64(&image, 0x2108), base + 0x2000);
    assert_eq!(get_u64(&image, 0x3000), base + 0x200);
    // Nothing else changed.
    let slots = [0x2100..0x2110, 0x3000..0x3008];
    for (i, (a, b)) in image.iter().zip(&before).enumerate() {
        if !slots.iter().any(|r| r.contains(&i)) {
            assert_eq!(a, b, "byte {i:#x} changed");
        }
    }
    assert_eq!(image[0x2110], DATA_FILL);
}

#[test]
fn relocate_checks_its_inputs() {
    let bytes = good();
    let plan = validate(&bytes).unwrap();
    let mut image = elf::load_image(&bytes, &plan);
    let need = plan.image_bytes();
    assert_eq!(elf::relocate(&mut image[..0x3000], &plan, 0), Err(ElfError::ImageTooSmall { len: 0x3000, need }));
    assert_eq!(
        elf::relocate(&mut image, &plan, u64::MAX - 0x100),
        Err(ElfError::RelocValueOverflow { offset: 0x2100, base: u64::MAX - 0x100 })
    );
    let mut bad = plan.clone();
    bad.relocs.push(Reloc { offset: need - 4, addend: 0 });
    assert_eq!(elf::relocate(&mut image, &bad, 0), Err(ElfError::RelocOutsideImage(need - 4)));
    // A larger buffer is fine.
    let mut bigger = vec![0; need as usize + 100];
    elf::relocate(&mut bigger, &plan, 0x1000).unwrap();
    assert_eq!(get_u64(&bigger, 0x2100), 0x2004);
}

#[test]
fn refuses_files_that_are_not_64_bit_little_endian_elf() {
    let g = good();
    let limits = Limits { max_file_bytes: 0x2000, ..Limits::default() };
    assert_eq!(elf::validate(&g, &limits), Err(ElfError::FileTooBig { len: g.len() as u64, max: 0x2000 }));
    assert_eq!(validate(b""), Err(ElfError::NotElf));
    assert_eq!(validate(b"MZ\x90\0"), Err(ElfError::NotElf));
    assert_eq!(validate(&g[..40]), Err(ElfError::TruncatedHeader { len: 40 }));
    assert_eq!(refused(|b| b[4] = 1), ElfError::NotElf64(1));
    assert_eq!(refused(|b| b[5] = 2), ElfError::NotLittleEndian(2));
    assert_eq!(
        refused(|b| b.truncate(phdr(2))),
        ElfError::TruncatedTable { table: "program header", end: phdr(PHNUM) as u64, len: phdr(2) as u64 }
    );
    assert!(matches!(
        refused(|b| {
            let n = b.len();
            b.truncate(n - 10)
        }),
        ElfError::TruncatedTable { table: "section header", .. }
    ));
    assert_eq!(
        refused(|b| put_u16(b, 54, 32)),
        ElfError::BadEntrySize { table: "program header", size: 32, expected: 56 }
    );
    // A section-name table index past the table: no section has a name.
    assert_eq!(refused(|b| put_u16(b, 62, 99)), ElfError::MissingModinfo);
}

#[test]
fn refuses_wrong_machine_and_type() {
    assert_eq!(refused(|b| put_u16(b, 18, 62)), ElfError::WrongMachine(62));
    let err = refused(|b| put_u16(b, 16, 2));
    assert_eq!(err, ElfError::NotPositionIndependent);
    assert!(err.to_string().contains("must be built position-independent"), "{err}");
    assert_eq!(refused(|b| put_u16(b, 16, 1)), ElfError::WrongType(1));
    assert_eq!(ElfError::WrongMachine(62).to_string(), "built for machine X86_64 (62), not AArch64 (183)");
}

#[test]
fn refuses_interpreter_tls_and_missing_loads() {
    assert_eq!(refused(|b| put_u32(b, phdr(4), 3)), ElfError::HasInterpreter);
    assert_eq!(refused(|b| put_u32(b, phdr(4), 7)), ElfError::HasTls);
    assert_eq!(refused(|b| (0..3).for_each(|i| put_u32(b, phdr(i), 0))), ElfError::NoLoadSegments);
    let limits = Limits { max_segments: 2, ..Limits::default() };
    assert_eq!(elf::validate(&good(), &limits), Err(ElfError::TooManySegments { count: 3, max: 2 }));
}

/// Program header field offsets.
const P_FLAGS: usize = 4;
const P_OFFSET: usize = 8;
const P_VADDR: usize = 16;
const P_FILESZ: usize = 32;
const P_MEMSZ: usize = 40;
const P_ALIGN: usize = 48;

#[test]
fn refuses_bad_segment_geometry() {
    let len = good().len() as u64;
    assert_eq!(
        refused(|b| put_u64(b, phdr(2) + P_FILESZ, len)),
        ElfError::SegmentPastEof { index: 2, offset: DYNAMIC, filesz: len, len }
    );
    assert!(matches!(
        refused(|b| put_u64(b, phdr(1) + P_OFFSET, u64::MAX - 0xfff)),
        ElfError::SegmentPastEof { index: 1, .. }
    ));
    assert_eq!(
        refused(|b| put_u64(b, phdr(1) + P_MEMSZ, 8)),
        ElfError::FileszOverMemsz { index: 1, filesz: TEXT_LEN, memsz: 8 }
    );
    assert_eq!(
        refused(|b| {
            put_u64(b, phdr(1) + P_FILESZ, 0);
            put_u64(b, phdr(1) + P_MEMSZ, 0);
        }),
        ElfError::EmptySegment(1)
    );
    assert_eq!(
        refused(|b| put_u64(b, phdr(2) + P_VADDR, u64::MAX - 0xfff)),
        ElfError::SegmentWraps { index: 2, vaddr: u64::MAX - 0xfff, memsz: RW_MEMSZ }
    );
    assert_eq!(refused(|b| put_u64(b, phdr(1) + P_ALIGN, 0x3000)), ElfError::BadAlign { index: 1, align: 0x3000 });
    assert_eq!(
        refused(|b| put_u64(b, phdr(1) + P_ALIGN, 0x20000)),
        ElfError::AlignTooBig { index: 1, align: 0x20000, max: 0x10000 }
    );
    assert_eq!(
        refused(|b| put_u64(b, phdr(1) + P_VADDR, TEXT + 8)),
        ElfError::PageMisaligned { index: 1, vaddr: TEXT + 8, offset: TEXT }
    );
    // Alignment 0 and 1 both mean "none".
    for align in [0, 1] {
        let mut b = good();
        put_u64(&mut b, phdr(1) + P_ALIGN, align);
        validate(&b).unwrap();
    }
}

#[test]
fn refuses_overlaps_and_oversized_images() {
    // The data segment moved onto the text page (same offset within the page).
    assert_eq!(refused(|b| put_u64(b, phdr(2) + P_VADDR, TEXT)), ElfError::Overlap { first: 1, second: 2 });
    // Segments on different pages never overlap, but sharing a page is refused even when the
    // bytes do not overlap: text grows to end on the data segment's first page.
    assert_eq!(refused(|b| put_u64(b, phdr(1) + P_MEMSZ, 0x1001)), ElfError::Overlap { first: 1, second: 2 });
    let limits = Limits { max_image_bytes: 0x3fff, ..Limits::default() };
    assert_eq!(elf::validate(&good(), &limits), Err(ElfError::ImageTooBig { bytes: 0x4000, max: 0x3fff }));
}

#[test]
fn refuses_bad_rights_and_entry() {
    assert_eq!(refused(|b| put_u32(b, phdr(1) + P_FLAGS, 7)), ElfError::WritableExecutable(1));
    assert_eq!(refused(|b| put_u32(b, phdr(2) + P_FLAGS, 2)), ElfError::NotReadable(2));
    assert_eq!(refused(|b| put_u32(b, phdr(1) + P_FLAGS, 4)), ElfError::NoExecutableSegment);
    assert_eq!(refused(|b| put_u64(b, 24, DATA)), ElfError::EntryNotExecutable(DATA));
    assert_eq!(refused(|b| put_u64(b, 24, TEXT + TEXT_LEN)), ElfError::EntryNotExecutable(TEXT + TEXT_LEN));
    assert_eq!(refused(|b| put_u64(b, 24, TEXT + 3)), ElfError::MisalignedEntry(TEXT + 3));
    assert_eq!(refused(|b| put_u64(b, 24, TEXT + TEXT_LEN - 2)), ElfError::MisalignedEntry(TEXT + TEXT_LEN - 2));
}

/// File offset of field `field` of relocation `index`.
fn rela(index: usize, field: usize) -> usize {
    RELA as usize + index * 24 + field
}

#[test]
fn refuses_unsupported_or_misplaced_relocations() {
    let err = refused(|b| put_u64(b, rela(2, 8), 257));
    assert_eq!(err, ElfError::UnsupportedReloc { r_type: 257, offset: 0x2108 });
    assert_eq!(
        err.to_string(),
        "unsupported relocation type R_AARCH64_ABS64 (257) at offset 0x2108; only \
         R_AARCH64_RELATIVE is supported"
    );
    assert_eq!(refused(|b| put_u64(b, rela(1, 8), 1026)), ElfError::UnsupportedReloc { r_type: 1026, offset: 0 });
    // A symbol-based relocation (R_AARCH64_GLOB_DAT against symbol 5).
    assert_eq!(
        refused(|b| put_u64(b, rela(0, 8), 5 << 32 | 1025)),
        ElfError::UnsupportedReloc { r_type: 1025, offset: 0x2100 }
    );
    // Targets: read-only text, straddling the end of the writable segment, past everything.
    assert_eq!(refused(|b| put_u64(b, rela(0, 0), TEXT)), ElfError::RelocNotWritable(TEXT));
    let end = DYNAMIC + RW_MEMSZ;
    assert_eq!(refused(|b| put_u64(b, rela(0, 0), end - 4)), ElfError::RelocNotWritable(end - 4));
    assert_eq!(refused(|b| put_u64(b, rela(0, 0), u64::MAX - 3)), ElfError::RelocNotWritable(u64::MAX - 3));
    validate(&{
        let mut b = good();
        put_u64(&mut b, rela(0, 0), end - 8);
        b
    })
    .unwrap();
    // Addends must point into the image.
    assert_eq!(
        refused(|b| put_u64(b, rela(0, 16), 0x4001)),
        ElfError::RelocAddendOutside { offset: 0x2100, addend: 0x4001, image_bytes: 0x4000 }
    );
    assert_eq!(
        refused(|b| put_u64(b, rela(0, 16), -8i64 as u64)),
        ElfError::RelocAddendOutside { offset: 0x2100, addend: -8, image_bytes: 0x4000 }
    );
}

/// File offset of the value of dynamic entry `index`.
fn dyn_val(index: usize) -> usize {
    DYNAMIC as usize + index * 16 + 8
}

#[test]
fn refuses_relocation_tables_goblin_would_misread() {
    // DT_RELA outside every segment's file bytes (goblin would read from offset 0).
    assert_eq!(
        refused(|b| put_u64(b, dyn_val(0), 0x3100)),
        ElfError::BadRelocTable { tag: "DT_RELA", vaddr: 0x3100, size: 96 }
    );
    // DT_RELACOUNT retagged DT_RELR / DT_REL.
    assert!(matches!(refused(|b| put_u64(b, dyn_val(3) - 8, 36)), ElfError::UnsupportedRelocFormat(_)));
    assert!(matches!(refused(|b| put_u64(b, dyn_val(3) - 8, 17)), ElfError::UnsupportedRelocFormat(_)));
    // No PT_DYNAMIC: the loaded .rela.dyn would never be applied.
    assert_eq!(refused(|b| put_u32(b, phdr(3), 0)), ElfError::RelocationsWithoutDynamic);
    // ... which is fine when there are no relocation sections either.
    let mut b = good();
    put_u32(&mut b, phdr(3), 0);
    put_u32(&mut b, shdr(&good(), SH_RELA) + 4, 0);
    assert_eq!(validate(&b).unwrap().relocs, vec![]);
}

#[test]
fn refuses_missing_or_bad_modinfo() {
    let g = good();
    let err = refused(|b| rename_section(b, SH_MODINFO, ".data"));
    assert_eq!(err, ElfError::MissingModinfo);
    assert_eq!(err.to_string(), "missing .modinfo section");
    assert_eq!(refused(|b| rename_section(b, SH_DATA, ".modinfo")), ElfError::DuplicateModinfo);
    assert_eq!(refused(|b| put_u32(b, shdr(&g, SH_MODINFO) + 4, 8)), ElfError::ModinfoNotInFile);
    assert_eq!(refused(|b| put_u64(b, shdr(&g, SH_MODINFO) + 32, g.len() as u64)), ElfError::ModinfoNotInFile);
    let bytes = module_elf(b"name=hello\0version=1\0description=d\0");
    let err = validate(&bytes).unwrap_err();
    assert_eq!(err, ElfError::ModInfo(ModInfoError::Missing("license")));
    assert_eq!(err.to_string(), "bad .modinfo: missing `license`");
    let bytes = module_elf(b"name=Hello\0version=1\0license=MIT\0description=d\0");
    assert_eq!(validate(&bytes), Err(ElfError::ModInfo(ModInfoError::BadName("Hello".into()))));
}

#[test]
fn limits_and_header_checks_are_exact_at_their_bounds() {
    let g = good();
    // A file of exactly `max_file_bytes` is accepted.
    let limits = Limits { max_file_bytes: g.len() as u64, ..Limits::default() };
    assert_eq!(elf::validate(&g, &limits), Ok(expected_plan()));
    let limits = Limits { max_file_bytes: g.len() as u64 - 1, ..Limits::default() };
    assert_eq!(elf::validate(&g, &limits), Err(ElfError::FileTooBig { len: g.len() as u64, max: g.len() as u64 - 1 }));
    // A whole 64-byte header is read; then the program header table is missing.
    assert_eq!(
        validate(&g[..64]),
        Err(ElfError::TruncatedTable { table: "program header", end: phdr(PHNUM) as u64, len: 64 })
    );
    assert_eq!(validate(&g[..63]), Err(ElfError::TruncatedHeader { len: 63 }));
}

#[test]
fn relocation_sections_that_are_not_loaded_need_no_dynamic_table() {
    // No PT_DYNAMIC, and .rela.dyn kept as SHT_RELA but without SHF_ALLOC (as in an object
    // file's or a debug file's relocation sections): nothing is to be applied at load time.
    let mut b = good();
    put_u32(&mut b, phdr(3), 0);
    put_u64(&mut b, shdr(&good(), SH_RELA) + 8, 0);
    assert_eq!(validate(&b).unwrap().relocs, vec![]);
}

#[test]
fn segment_limits_are_inclusive() {
    let g = good();
    // Exactly as many segments as allowed, and an image of exactly the largest size.
    let limits = Limits { max_segments: 3, max_image_bytes: IMAGE_PAGES * PAGE, ..Limits::default() };
    assert_eq!(elf::validate(&g, &limits), Ok(expected_plan()));
    // A segment whose file bytes end exactly at the end of the file.
    let len = g.len() as u64;
    let mut b = good();
    put_u64(&mut b, phdr(2) + P_FILESZ, len - DYNAMIC);
    assert_eq!(validate(&b).unwrap().segments[2].filesz, len - DYNAMIC);
}

#[test]
fn segments_ending_on_a_page_boundary_take_no_extra_page() {
    // Text fills its whole page (0x1000..0x2000) and the data segment starts on the next one.
    let mut b = good();
    put_u64(&mut b, phdr(1) + P_MEMSZ, PAGE);
    assert_eq!(validate(&b).unwrap().segments[1].memsz, PAGE);
    // The data segment ends at 0x4000: the image is still 4 pages.
    let mut b = good();
    put_u64(&mut b, phdr(2) + P_MEMSZ, 0x4000 - DYNAMIC);
    let plan = validate(&b).unwrap();
    assert_eq!((plan.image_pages, plan.image_bytes()), (IMAGE_PAGES, 0x4000));
}

#[test]
fn rel_size_tags_are_refused_only_when_nonzero() {
    // DT_RELACOUNT retagged DT_RELSZ (18): a non-empty REL table is refused, an empty one is not.
    let err = refused(|b| {
        put_u64(b, dyn_val(3) - 8, 18);
        put_u64(b, dyn_val(3), 16);
    });
    assert_eq!(err, ElfError::UnsupportedRelocFormat("REL relocations (DT_REL)"));
    assert_eq!(err.to_string(), "uses REL relocations (DT_REL); only RELA relocations are supported");
    let mut b = good();
    put_u64(&mut b, dyn_val(3) - 8, 18);
    put_u64(&mut b, dyn_val(3), 0);
    assert_eq!(validate(&b), Ok(expected_plan()));
}

#[test]
fn a_rela_table_may_lie_in_any_segments_file_bytes() {
    // DT_RELA moved into .data (in the RW segment at 0x2000), one entry long, holding a copy of
    // the first relocation.
    let mut b = good();
    let at = DATA as usize + 0x10;
    let entry = b[RELA as usize..][..24].to_vec();
    b[at..at + 24].copy_from_slice(&entry);
    put_u64(&mut b, dyn_val(0), at as u64);
    put_u64(&mut b, dyn_val(1), 24);
    assert_eq!(validate(&b).unwrap().relocs, vec![Reloc { offset: 0x2100, addend: 0x1004 }]);
}

#[test]
fn plt_relocations_must_be_rela() {
    // The RELA table given as the PLT relocations instead: DT_JMPREL, DT_PLTRELSZ and
    // DT_PLTREL = DT_RELA in place of DT_RELA, DT_RELASZ and DT_RELAENT.
    let as_plt = |pltrel: u64| {
        let mut b = good();
        for (i, (tag, val)) in [(23, RELA), (2, RELA_COUNT as u64 * 24), (20, pltrel)].into_iter().enumerate() {
            put_u64(&mut b, dyn_val(i) - 8, tag);
            put_u64(&mut b, dyn_val(i), val);
        }
        validate(&b)
    };
    assert_eq!(as_plt(7).unwrap().relocs, expected_plan().relocs);
    let err = as_plt(17).unwrap_err();
    assert_eq!(err, ElfError::UnsupportedRelocFormat("REL-format PLT relocations"));
    assert_eq!(err.to_string(), "uses REL-format PLT relocations; only RELA relocations are supported");
}
