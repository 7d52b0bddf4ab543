//! Module ELF files: validation, the load plan, and relocation.
//!
//! A module is a static position-independent AArch64 executable (ELF64, little-endian,
//! `ET_DYN`, no interpreter, no shared libraries) whose only dynamic relocations are
//! `R_AARCH64_RELATIVE` (and `R_AARCH64_NONE`), with a [`.modinfo`](crate::modinfo) section.
//!
//! [`validate`] checks everything about a file before anything of it is mapped and returns a
//! [`Plan`]: the segments to map with their rights, the image size, the entry point and the
//! relocations, all relative to the load base. Loading is then mechanical: make a zeroed image of
//! [`Plan::image_pages`] pages, copy each segment's file bytes to its address in the image (see
//! [`load_image`]), apply [`relocate`] for the chosen base, and map each segment's pages with its
//! [`Rights`].

mod error;
mod relocs;
mod segments;

pub use error::ElfError;

use crate::modinfo::{self, ModInfo};
use alloc::string::ToString;
use alloc::vec::Vec;
use goblin::container::{Container, Ctx, Endian};
use goblin::elf::dynamic::Dynamic;
use goblin::elf::header::{self, Header, EM_AARCH64, ET_DYN, ET_EXEC};
use goblin::elf::program_header::{ProgramHeader, PT_INTERP, PT_TLS};
use goblin::elf::section_header::SHT_NOBITS;
use goblin::elf::Elf;

/// Size of a page: segments are mapped, and must not share memory, at this granularity.
pub const PAGE_SIZE: u64 = 4096;

/// Size of an ELF64 program header.
const PHDR_SIZE: u16 = 56;
/// Size of an ELF64 section header.
const SHDR_SIZE: u16 = 64;
/// Size of an ELF64 file header.
const EHDR_SIZE: usize = 64;

/// Upper bounds on what a module may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted file, in bytes.
    pub max_file_bytes: u64,
    /// Most PT_LOAD segments.
    pub max_segments: usize,
    /// Largest image: from address 0 to the page-rounded end of the highest PT_LOAD, in bytes.
    pub max_image_bytes: u64,
    /// Largest `p_align` of a PT_LOAD.
    pub max_align: u64,
}

impl Default for Limits {
    /// 4 MiB files, 8 segments, 16 MiB images, 64 KiB alignment.
    fn default() -> Self {
        Self { max_file_bytes: 4 << 20, max_segments: 8, max_image_bytes: 16 << 20, max_align: 64 << 10 }
    }
}

/// The access a segment's pages are mapped with (writable-and-executable is never allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rights {
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
    /// Read and execute.
    ReadExec,
}

/// One PT_LOAD segment to map. Addresses are offsets from the load base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Address of the first byte.
    pub vaddr: u64,
    /// Size in memory (bytes past `filesz` are zero).
    pub memsz: u64,
    /// Where its bytes start in the file.
    pub file_offset: u64,
    /// How many bytes come from the file.
    pub filesz: u64,
    /// How its pages are mapped.
    pub rights: Rights,
}

/// A `R_AARCH64_RELATIVE` relocation: store `base + addend` as a little-endian u64 at `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reloc {
    /// Where to store, from the load base (inside a non-executable segment).
    pub offset: u64,
    /// What to add to the base (inside the image).
    pub addend: u64,
}

/// Everything needed to load a validated module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The PT_LOAD segments, in program-header order.
    pub segments: Vec<Segment>,
    /// Pages from address 0 to the page-rounded end of the highest segment.
    pub image_pages: u64,
    /// The entry point, from the load base (inside an executable segment).
    pub entry: u64,
    /// The relocations to apply once the base is known.
    pub relocs: Vec<Reloc>,
    /// The module's metadata.
    pub info: ModInfo,
    /// The GNU build-id (`.note.gnu.build-id`), empty if the file has none (or a malformed
    /// one): how a debugger finds the unstripped ELF of a loaded module.
    pub build_id: Vec<u8>,
}

impl Plan {
    /// Size of the image in bytes (`image_pages` pages).
    pub fn image_bytes(&self) -> u64 {
        self.image_pages * PAGE_SIZE
    }
}

/// Checks everything about a module ELF, within `limits`, and returns how to load it.
///
/// Checks, in order: the file size; the ELF identification (magic, 64-bit, little-endian); that
/// the header tables lie inside the file; machine AArch64; type ET_DYN; no interpreter or TLS;
/// the PT_LOAD segments and the entry point (see [`ElfError`] for every rule); the dynamic
/// table's relocation tables; then goblin's full parse; no shared libraries; every dynamic
/// relocation; the `.modinfo` section. goblin parses the whole file only once the program
/// headers and the dynamic table have been checked, so it never reads a table at a bogus place.
pub fn validate(bytes: &[u8], limits: &Limits) -> Result<Plan, ElfError> {
    let len = bytes.len() as u64;
    if len > limits.max_file_bytes {
        return Err(ElfError::FileTooBig { len, max: limits.max_file_bytes });
    }
    let header = check_header(bytes)?;
    let ctx = Ctx::new(Container::Big, Endian::Little);
    // `check_header` made sure the table lies inside the file.
    let phdrs = ProgramHeader::parse(bytes, header.e_phoff as usize, header.e_phnum.into(), ctx).map_err(malformed)?;
    for ph in &phdrs {
        match ph.p_type {
            PT_INTERP => return Err(ElfError::HasInterpreter),
            PT_TLS => return Err(ElfError::HasTls),
            _ => {}
        }
    }
    let (segments, image_bytes) = segments::check(&phdrs, len, limits)?;
    segments::check_entry(&segments, header.e_entry)?;
    if let Some(dynamic) = Dynamic::parse(bytes, &phdrs, ctx).map_err(malformed)? {
        relocs::check_tables(&dynamic.dyns, &phdrs)?;
    }

    let elf = Elf::parse(bytes).map_err(malformed)?;
    if let Some(lib) = elf.libraries.first() {
        return Err(ElfError::NeedsLibrary((*lib).into()));
    }
    let relocs = relocs::check(&elf, &segments, image_bytes)?;
    let info = modinfo::parse(modinfo_section(&elf, bytes)?)?;
    let build_id = build_id(&elf, bytes).map(Vec::from).unwrap_or_default();
    Ok(Plan { segments, image_pages: image_bytes / PAGE_SIZE, entry: header.e_entry, relocs, info, build_id })
}

/// A goblin parse error as an [`ElfError`].
fn malformed(e: goblin::error::Error) -> ElfError {
    ElfError::Malformed(e.to_string())
}

/// Checks the ELF header and that the header tables lie inside the file, before goblin parses
/// them (so a truncated file gets a precise message and no table is read out of bounds).
fn check_header(bytes: &[u8]) -> Result<Header, ElfError> {
    let len = bytes.len() as u64;
    if !bytes.starts_with(header::ELFMAG) {
        return Err(ElfError::NotElf);
    }
    if bytes.len() < EHDR_SIZE {
        return Err(ElfError::TruncatedHeader { len });
    }
    if bytes[header::EI_CLASS] != header::ELFCLASS64 {
        return Err(ElfError::NotElf64(bytes[header::EI_CLASS]));
    }
    if bytes[header::EI_DATA] != header::ELFDATA2LSB {
        return Err(ElfError::NotLittleEndian(bytes[header::EI_DATA]));
    }
    let h = Elf::parse_header(bytes).map_err(malformed)?;
    check_table("program header", h.e_phoff, h.e_phnum, h.e_phentsize, PHDR_SIZE, len)?;
    check_table("section header", h.e_shoff, h.e_shnum, h.e_shentsize, SHDR_SIZE, len)?;
    match (h.e_machine, h.e_type) {
        (EM_AARCH64, ET_DYN) => Ok(h),
        (EM_AARCH64, ET_EXEC) => Err(ElfError::NotPositionIndependent),
        (EM_AARCH64, t) => Err(ElfError::WrongType(t)),
        (m, _) => Err(ElfError::WrongMachine(m)),
    }
}

/// Checks that a header table of `count` entries of `size` bytes at `offset` has the ELF64
/// entry size and lies inside a file of `len` bytes.
fn check_table(
    table: &'static str,
    offset: u64,
    count: u16,
    size: u16,
    expected: u16,
    len: u64,
) -> Result<(), ElfError> {
    if count == 0 {
        return Ok(());
    }
    if size != expected {
        return Err(ElfError::BadEntrySize { table, size, expected });
    }
    let end = offset.saturating_add(u64::from(count) * u64::from(size));
    if end > len {
        return Err(ElfError::TruncatedTable { table, end, len });
    }
    Ok(())
}

/// The bytes of the one section named `.modinfo`.
fn modinfo_section<'a>(elf: &Elf<'_>, bytes: &'a [u8]) -> Result<&'a [u8], ElfError> {
    let mut found =
        elf.section_headers.iter().filter(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(modinfo::SECTION));
    let sh = found.next().ok_or(ElfError::MissingModinfo)?;
    if found.next().is_some() {
        return Err(ElfError::DuplicateModinfo);
    }
    if sh.sh_type == SHT_NOBITS {
        return Err(ElfError::ModinfoNotInFile);
    }
    let start = usize::try_from(sh.sh_offset).map_err(|_| ElfError::ModinfoNotInFile)?;
    let size = usize::try_from(sh.sh_size).map_err(|_| ElfError::ModinfoNotInFile)?;
    start.checked_add(size).and_then(|end| bytes.get(start..end)).ok_or(ElfError::ModinfoNotInFile)
}

/// The longest build-id accepted (sha1 gives 20 bytes, md5 16, uuid 16).
pub const BUILD_ID_MAX: usize = 32;

/// The descriptor of the first section named `.note.gnu.build-id` if it is a well-formed GNU
/// build-id note (name "GNU", type `NT_GNU_BUILD_ID`, 1 to [`BUILD_ID_MAX`] bytes, everything
/// inside the section and the file); `None` otherwise. Untrusted input: every length checked.
fn build_id<'a>(elf: &Elf<'_>, bytes: &'a [u8]) -> Option<&'a [u8]> {
    let sh = elf.section_headers.iter().find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".note.gnu.build-id"))?;
    if sh.sh_type == SHT_NOBITS {
        return None;
    }
    let start = usize::try_from(sh.sh_offset).ok()?;
    build_id_note(bytes.get(start..start.checked_add(usize::try_from(sh.sh_size).ok()?)?)?)
}

/// The build-id in a note's bytes, if it is a well-formed GNU build-id note.
pub fn build_id_note(note: &[u8]) -> Option<&[u8]> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let word = |at: usize| -> Option<u32> { Some(u32::from_le_bytes(note.get(at..at + 4)?.try_into().ok()?)) };
    let (namesz, descsz, kind) = (word(0)? as usize, word(4)? as usize, word(8)?);
    if namesz != 4 || note.get(12..16)? != b"GNU\0" || kind != NT_GNU_BUILD_ID {
        return None;
    }
    if descsz == 0 || descsz > BUILD_ID_MAX {
        return None;
    }
    note.get(16..16 + descsz)
}

/// Builds the image of a validated module: [`Plan::image_pages`] pages, each segment's file
/// bytes copied to its address, everything else zero. `plan` must be what [`validate`] returned
/// for `bytes` (otherwise this may panic).
pub fn load_image(bytes: &[u8], plan: &Plan) -> Vec<u8> {
    try_load_image(bytes, plan).expect("memory for the image")
}

/// [`load_image`], or `None` if there is no memory for the image (the module server's heap is
/// small: an image is up to [`Limits::max_image_bytes`]).
pub fn try_load_image(bytes: &[u8], plan: &Plan) -> Option<Vec<u8>> {
    let mut image = Vec::new();
    image.try_reserve_exact(plan.image_bytes() as usize).ok()?;
    image.resize(plan.image_bytes() as usize, 0);
    for s in &plan.segments {
        let (from, to, n) = (s.file_offset as usize, s.vaddr as usize, s.filesz as usize);
        image[to..to + n].copy_from_slice(&bytes[from..from + n]);
    }
    Some(image)
}

/// Applies the plan's relocations to `image`, the module's whole image (address 0 at index 0,
/// file bytes copied, the rest zeroed) that will be mapped at `base`: stores `base + addend` as
/// a little-endian u64 at each relocation's offset.
pub fn relocate(image: &mut [u8], plan: &Plan, base: u64) -> Result<(), ElfError> {
    let len = image.len() as u64;
    if len < plan.image_bytes() {
        return Err(ElfError::ImageTooSmall { len, need: plan.image_bytes() });
    }
    for r in &plan.relocs {
        let value = base.checked_add(r.addend).ok_or(ElfError::RelocValueOverflow { offset: r.offset, base })?;
        let slot = usize::try_from(r.offset)
            .ok()
            .and_then(|at| image.get_mut(at..at.checked_add(8)?))
            .ok_or(ElfError::RelocOutsideImage(r.offset))?;
        slot.copy_from_slice(&value.to_le_bytes());
    }
    Ok(())
}
