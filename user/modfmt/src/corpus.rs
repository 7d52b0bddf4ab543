//! A corpus of bad module ELFs: each function takes the bytes of a good module and returns a
//! copy with exactly one defect, edited in place at offsets found with goblin. The `badelf` tool
//! writes them to files; the tests check that [`validate`](crate::elf::validate) refuses each.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use goblin::elf::dynamic::{DT_RELA, DT_RELASZ};
use goblin::elf::header::EM_X86_64;
use goblin::elf::program_header::{ProgramHeader, PF_R, PF_W, PF_X, PT_LOAD};
use goblin::elf::reloc::{R_AARCH64_ABS64, R_AARCH64_RELATIVE};
use goblin::elf::Elf;

/// `p_memsz` given by [`memsz`]: 1 TiB.
pub const ABSURD_MEMSZ: u64 = 1 << 40;
/// Length of the file made by [`not_elf`].
pub const NOT_ELF_LEN: usize = 4096;

/// Byte offsets of fields in ELF64 structures.
mod off {
    /// `e_machine` in the file header.
    pub const E_MACHINE: usize = 18;
    /// `p_flags` in a program header.
    pub const P_FLAGS: usize = 4;
    /// `p_offset` in a program header.
    pub const P_OFFSET: usize = 8;
    /// `p_memsz` in a program header.
    pub const P_MEMSZ: usize = 40;
    /// `sh_name` in a section header.
    pub const SH_NAME: usize = 0;
    /// `r_info` in a RELA entry.
    pub const R_INFO: usize = 8;
    /// Size of a RELA entry.
    pub const RELA_SIZE: usize = 24;
}

/// Why a corpus could not be made from a file: it lacks what a mutation edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorpusError {
    /// goblin could not parse the good file.
    Parse(String),
    /// The good file lacks something a mutation needs (what is named).
    Lacks(&'static str),
}

impl fmt::Display for CorpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parse(why) => write!(f, "cannot parse the good module: {why}"),
            Self::Lacks(what) => write!(f, "the good module has no {what} to mutate"),
        }
    }
}

/// One bad file of the corpus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// File name, named for the defect (`bad-<defect>.elf`).
    pub file_name: &'static str,
    /// The defect, in words.
    pub defect: &'static str,
    /// The file.
    pub bytes: Vec<u8>,
}

/// A mutation: good file in, bad file out.
type Mutation = fn(&[u8]) -> Result<Vec<u8>, CorpusError>;

/// Every mutation, with its file name and defect.
const MUTATIONS: [(&str, &str, Mutation); 7] = [
    ("bad-truncated.elf", "cut in the middle of the program header table", truncated),
    ("bad-machine.elf", "e_machine is x86-64", machine),
    ("bad-segment-past-eof.elf", "a PT_LOAD's file bytes lie past the end", segment_past_eof),
    ("bad-wx.elf", "a PT_LOAD is writable and executable", wx),
    ("bad-memsz.elf", "a PT_LOAD's p_memsz is 1 TiB", memsz),
    ("bad-reloc.elf", "a dynamic relocation is R_AARCH64_ABS64", reloc),
    ("bad-no-modinfo.elf", "the .modinfo section header has no name", no_modinfo),
];

/// The whole corpus made from `good`: every mutation, then [`not_elf`].
pub fn all(good: &[u8]) -> Result<Vec<Variant>, CorpusError> {
    let mut out = Vec::with_capacity(MUTATIONS.len() + 1);
    for (file_name, defect, mutate) in MUTATIONS {
        out.push(Variant { file_name, defect, bytes: mutate(good)? });
    }
    out.push(Variant { file_name: "bad-not-elf.elf", defect: "random bytes", bytes: not_elf(NOT_ELF_LEN) });
    Ok(out)
}

/// Parses `good` with goblin.
fn parse(good: &[u8]) -> Result<Elf<'_>, CorpusError> {
    Elf::parse(good).map_err(|e| CorpusError::Parse(e.to_string()))
}

/// File offset of program header `index`.
fn phdr_at(elf: &Elf<'_>, index: usize) -> usize {
    elf.header.e_phoff as usize + index * usize::from(elf.header.e_phentsize)
}

/// Index of the first PT_LOAD that `pick` accepts.
fn find_load(elf: &Elf<'_>, pick: impl Fn(&ProgramHeader) -> bool) -> Option<usize> {
    elf.program_headers.iter().position(|ph| ph.p_type == PT_LOAD && pick(ph))
}

/// Overwrites `value.len()` bytes at `at`.
fn put(bytes: &mut [u8], at: usize, value: &[u8]) {
    bytes[at..at + value.len()].copy_from_slice(value);
}

/// Cuts the file in the middle of its program header table.
pub fn truncated(good: &[u8]) -> Result<Vec<u8>, CorpusError> {
    let elf = parse(good)?;
    let phnum = usize::from(elf.header.e_phnum);
    if phnum == 0 {
        return Err(CorpusError::Lacks("program header"));
    }
    let cut = phdr_at(&elf, phnum / 2) + usize::from(elf.header.e_phentsize) / 2;
    Ok(good[..cut.min(good.len())].to_vec())
}

/// Sets `e_machine` to x86-64.
pub fn machine(good: &[u8]) -> Result<Vec<u8>, CorpusError> {
    parse(good)?;
    let mut bad = good.to_vec();
    put(&mut bad, off::E_MACHINE, &EM_X86_64.to_le_bytes());
    Ok(bad)
}

/// Moves the first PT_LOAD with file bytes past the end of the file (keeping `p_offset`
/// congruent to `p_vaddr` modulo the page size, so that is the only defect).
pub fn segment_past_eof(good: &[u8]) -> Result<Vec<u8>, CorpusError> {
    let elf = parse(good)?;
    let index = find_load(&elf, |ph| ph.p_filesz > 0).ok_or(CorpusError::Lacks("PT_LOAD"))?;
    let page = crate::elf::PAGE_SIZE;
    let vaddr = elf.program_headers[index].p_vaddr;
    let offset = (good.len() as u64).next_multiple_of(page) + vaddr % page;
    let mut bad = good.to_vec();
    put(&mut bad, phdr_at(&elf, index) + off::P_OFFSET, &offset.to_le_bytes());
    Ok(bad)
}

/// Makes the executable PT_LOAD writable too.
pub fn wx(good: &[u8]) -> Result<Vec<u8>, CorpusError> {
    let elf = parse(good)?;
    let index = find_load(&elf, ProgramHeader::is_executable).ok_or(CorpusError::Lacks("executable PT_LOAD"))?;
    let mut bad = good.to_vec();
    put(&mut bad, phdr_at(&elf, index) + off::P_FLAGS, &(PF_R | PF_W | PF_X).to_le_bytes());
    Ok(bad)
}

/// Gives the highest PT_LOAD an absurd `p_memsz` ([`ABSURD_MEMSZ`]).
pub fn memsz(good: &[u8]) -> Result<Vec<u8>, CorpusError> {
    let elf = parse(good)?;
    let index = (0..elf.program_headers.len())
        .filter(|&i| elf.program_headers[i].p_type == PT_LOAD)
        .max_by_key(|&i| elf.program_headers[i].p_vaddr)
        .ok_or(CorpusError::Lacks("PT_LOAD"))?;
    let mut bad = good.to_vec();
    put(&mut bad, phdr_at(&elf, index) + off::P_MEMSZ, &ABSURD_MEMSZ.to_le_bytes());
    Ok(bad)
}

/// Changes the type of the first `R_AARCH64_RELATIVE` entry of the RELA table (found through
/// the dynamic table) to `R_AARCH64_ABS64`.
pub fn reloc(good: &[u8]) -> Result<Vec<u8>, CorpusError> {
    let elf = parse(good)?;
    let lacks = CorpusError::Lacks("R_AARCH64_RELATIVE relocation");
    let dynamic = elf.dynamic.as_ref().ok_or(lacks.clone())?;
    let has_rela = dynamic.dyns.iter().any(|d| d.d_tag == DT_RELA);
    let has_size = dynamic.dyns.iter().any(|d| d.d_tag == DT_RELASZ);
    if !has_rela || !has_size {
        return Err(lacks);
    }
    // goblin's `info.rela` is already a file offset.
    let table = dynamic.info.rela;
    let index = elf.dynrelas.iter().position(|r| r.r_type == R_AARCH64_RELATIVE).ok_or(lacks)?;
    let at = table + index * off::RELA_SIZE + off::R_INFO;
    let mut bad = good.to_vec();
    let r_info = u64::from_le_bytes(bad[at..at + 8].try_into().expect("8 bytes"));
    let r_info = (r_info & !0xffff_ffff) | u64::from(R_AARCH64_ABS64);
    put(&mut bad, at, &r_info.to_le_bytes());
    Ok(bad)
}

/// Points the `.modinfo` section header's name at the empty string, so no section is named
/// `.modinfo` any more.
pub fn no_modinfo(good: &[u8]) -> Result<Vec<u8>, CorpusError> {
    let elf = parse(good)?;
    let index = elf
        .section_headers
        .iter()
        .position(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(crate::modinfo::SECTION))
        .ok_or(CorpusError::Lacks(".modinfo section"))?;
    let at = elf.header.e_shoff as usize + index * usize::from(elf.header.e_shentsize);
    let mut bad = good.to_vec();
    put(&mut bad, at + off::SH_NAME, &0u32.to_le_bytes());
    Ok(bad)
}

/// `len` pseudo-random bytes (always the same ones) that do not start with the ELF magic.
pub fn not_elf(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out: Vec<u8> = (0..len)
        .map(|_| {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    if out.first() == Some(&0x7f) {
        out[0] = 0;
    }
    out
}
