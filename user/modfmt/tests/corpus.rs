//! The bad-ELF corpus: every mutation of the good synthetic module is refused, for the
//! expected reason.

mod common;

use common::*;
use modfmt::corpus::{self, CorpusError};
use modfmt::elf::{validate, ElfError, Limits};

/// Whether `err` is the refusal expected for corpus file `name`.
fn expected(name: &str, err: &ElfError) -> bool {
    match name {
        "bad-truncated.elf" => {
            matches!(err, ElfError::TruncatedTable { table: "program header", .. })
        }
        "bad-machine.elf" => *err == ElfError::WrongMachine(62),
        "bad-segment-past-eof.elf" => matches!(err, ElfError::SegmentPastEof { index: 0, .. }),
        "bad-wx.elf" => *err == ElfError::WritableExecutable(1),
        "bad-memsz.elf" => {
            matches!(err, ElfError::ImageTooBig { bytes, .. } if *bytes > corpus::ABSURD_MEMSZ)
        }
        "bad-reloc.elf" => *err == ElfError::UnsupportedReloc { r_type: 257, offset: 0x2100 },
        "bad-no-modinfo.elf" => *err == ElfError::MissingModinfo,
        "bad-not-elf.elf" => *err == ElfError::NotElf,
        _ => panic!("unexpected corpus file {name}"),
    }
}

#[test]
fn every_variant_is_refused_for_its_defect() {
    let good = good();
    validate(&good, &Limits::default()).expect("the good module validates");
    let variants = corpus::all(&good).unwrap();
    let names: Vec<&str> = variants.iter().map(|v| v.file_name).collect();
    assert_eq!(
        names,
        [
            "bad-truncated.elf",
            "bad-machine.elf",
            "bad-segment-past-eof.elf",
            "bad-wx.elf",
            "bad-memsz.elf",
            "bad-reloc.elf",
            "bad-no-modinfo.elf",
            "bad-not-elf.elf",
        ]
    );
    for v in &variants {
        assert_ne!(v.bytes, good, "{} differs from the good module", v.file_name);
        let err = validate(&v.bytes, &Limits::default())
            .expect_err(&format!("{} ({}) must be refused", v.file_name, v.defect));
        assert!(expected(v.file_name, &err), "{}: refused for the wrong reason: {err}", v.file_name);
    }
}

#[test]
fn mutations_change_only_what_they_say() {
    let good = good();
    // Asserts that `bad` is `good` with some bytes changed, all inside `field`.
    let changed_only = |bad: Vec<u8>, field: std::ops::Range<usize>| {
        assert_eq!(bad.len(), good.len());
        let diff: Vec<usize> = (0..good.len()).filter(|&i| bad[i] != good[i]).collect();
        assert!(!diff.is_empty(), "something changed");
        assert!(diff.iter().all(|i| field.contains(i)), "{diff:?} outside {field:?}");
    };
    let cut = corpus::truncated(&good).unwrap();
    assert!(cut.len() > phdr(0) && cut.len() < phdr(PHNUM), "cut inside the table");
    assert_eq!(cut[..], good[..cut.len()]);
    changed_only(corpus::machine(&good).unwrap(), 18..20);
    changed_only(corpus::segment_past_eof(&good).unwrap(), phdr(0) + 8..phdr(0) + 16);
    changed_only(corpus::wx(&good).unwrap(), phdr(1) + 4..phdr(1) + 8);
    changed_only(corpus::memsz(&good).unwrap(), phdr(2) + 40..phdr(2) + 48);
    let r_info = RELA as usize + 8;
    changed_only(corpus::reloc(&good).unwrap(), r_info..r_info + 4);
    let sh = shdr(&good, SH_MODINFO);
    changed_only(corpus::no_modinfo(&good).unwrap(), sh..sh + 4);

    let random = corpus::not_elf(corpus::NOT_ELF_LEN);
    assert_eq!(random.len(), corpus::NOT_ELF_LEN);
    assert_eq!(random, corpus::not_elf(corpus::NOT_ELF_LEN), "deterministic");
    assert!(random.iter().filter(|&&b| b == random[1]).count() < 64, "not a constant fill");
}

#[test]
fn corpus_needs_a_parseable_module_with_something_to_mutate() {
    assert!(matches!(corpus::all(b"not an elf"), Err(CorpusError::Parse(_))));
    // Without RELATIVE relocations there is nothing for `reloc` to retype.
    let mut good = good();
    for i in 0..RELA_COUNT {
        put_u64(&mut good, RELA as usize + i * 24 + 8, 0);
    }
    let err = corpus::reloc(&good).unwrap_err();
    assert_eq!(err, CorpusError::Lacks("R_AARCH64_RELATIVE relocation"));
    assert_eq!(err.to_string(), "the good module has no R_AARCH64_RELATIVE relocation to mutate");
}

/// Offsets at which `bad` differs from `good` (both the same length).
fn changed(good: &[u8], bad: &[u8]) -> Vec<usize> {
    assert_eq!(bad.len(), good.len());
    (0..good.len()).filter(|&i| bad[i] != good[i]).collect()
}

#[test]
fn truncated_cuts_halfway_through_the_middle_program_header() {
    let good = good();
    let cut = corpus::truncated(&good).unwrap();
    // Entry PHNUM / 2 = 2 of the 5, cut after 28 of its 56 bytes: the middle of the table.
    assert_eq!(cut.len(), phdr(PHNUM / 2) + 56 / 2);
    assert_eq!(cut.len(), phdr(0) + PHNUM * 56 / 2);
    assert_eq!(cut[..], good[..cut.len()]);
}

#[test]
fn segment_past_eof_moves_the_first_loaded_segment_with_file_bytes_keeping_its_page_offset() {
    let mut good = good();
    // PT_LOAD 0 keeps its memory but has no file bytes: PT_LOAD 1 (text) is the one to move.
    put_u64(&mut good, phdr(0) + 32, 0);
    // Text at an address 0x10 into its page.
    put_u64(&mut good, phdr(1) + 16, TEXT + 0x10);
    let bad = corpus::segment_past_eof(&good).unwrap();
    let p_offset = phdr(1) + 8;
    assert!(changed(&good, &bad).iter().all(|i| (p_offset..p_offset + 8).contains(i)));
    let offset = get_u64(&bad, p_offset);
    let len = good.len() as u64;
    assert_eq!(offset % PAGE, 0x10, "p_offset congruent to p_vaddr modulo the page size");
    assert!(offset >= len, "past the end");
    // The first such offset: on the page after the end of the file.
    assert_eq!(offset, len.next_multiple_of(PAGE) + 0x10);
}

#[test]
fn reloc_retypes_the_first_relative_relocation_even_after_others() {
    let mut good = good();
    // Entry 0 becomes R_AARCH64_NONE: the first RELATIVE one is entry 2 (at 0x2108).
    put_u64(&mut good, RELA as usize + 8, 0);
    let bad = corpus::reloc(&good).unwrap();
    let r_info = RELA as usize + 2 * 24 + 8;
    let diff = changed(&good, &bad);
    assert!(!diff.is_empty() && diff.iter().all(|i| (r_info..r_info + 4).contains(i)), "{diff:?}");
    assert_eq!(get_u64(&bad, r_info), 257);
    let err = validate(&bad, &Limits::default()).unwrap_err();
    assert_eq!(err, ElfError::UnsupportedReloc { r_type: 257, offset: 0x2108 });
}

#[test]
fn reloc_needs_dt_rela_and_never_edits_what_goblin_reads_from_offset_0() {
    // Without DT_RELA goblin reads the RELA table from file offset 0. Make its first "entry"
    // there look like a RELATIVE relocation (r_info is e_ident[8..16]) and keep DT_RELASZ to
    // one entry: `reloc` must still say the module lacks one rather than edit the ELF header.
    let mut good = good();
    put_u64(&mut good, DYNAMIC as usize, 21); // DT_RELA retagged DT_DEBUG
    put_u64(&mut good, DYNAMIC as usize + 16 + 8, 24); // DT_RELASZ: one entry
    put_u64(&mut good, 8, 1027);
    let err = corpus::reloc(&good).unwrap_err();
    assert_eq!(err, CorpusError::Lacks("R_AARCH64_RELATIVE relocation"));
}

#[test]
fn not_elf_is_a_fixed_pseudo_random_sequence() {
    let random = corpus::not_elf(corpus::NOT_ELF_LEN);
    // xorshift64 from 0x9e3779b97f4a7c15, bits 24..32 of each state: always these bytes.
    assert_eq!(
        random[..16],
        [0x0b, 0x02, 0xe5, 0x36, 0xa1, 0x4e, 0xd6, 0x1a, 0xb0, 0x49, 0xb8, 0x56, 0xad, 0xd6, 0x3f, 0xfc]
    );
    assert_eq!(random[random.len() - 4..], [229, 26, 66, 15]);
    // Spread over all byte values (16 of each on average).
    let mut counts = [0usize; 256];
    for &b in &random {
        counts[usize::from(b)] += 1;
    }
    assert!(counts.iter().all(|&n| (1..64).contains(&n)), "{counts:?}");
    // A prefix of a longer run, and nothing at all for length 0.
    assert_eq!(corpus::not_elf(16), random[..16]);
    assert_eq!(corpus::not_elf(0), Vec::<u8>::new());
}
