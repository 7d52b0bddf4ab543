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
