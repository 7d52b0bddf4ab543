//! Why a module ELF was refused: one variant per cause, each displayed as one clear line (the
//! module server prints `error: <file>: <message>`).

use crate::modinfo::ModInfoError;
use alloc::string::String;
use core::fmt;
use goblin::elf::header::{machine_to_str, EM_AARCH64};
use goblin::elf::reloc::r_to_str;

/// Why a module ELF was refused by [`validate`](super::validate), or could not be relocated by
/// [`relocate`](super::relocate).
///
/// "Segment N" in the messages is the index of the PT_LOAD's program header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// The file is larger than [`Limits::max_file_bytes`](super::Limits::max_file_bytes).
    FileTooBig {
        /// The file's length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The file does not start with the ELF magic `\x7fELF`.
    NotElf,
    /// The file is shorter than the 64-byte ELF header.
    TruncatedHeader {
        /// The file's length.
        len: u64,
    },
    /// `EI_CLASS` is not ELFCLASS64.
    NotElf64(u8),
    /// `EI_DATA` is not ELFDATA2LSB.
    NotLittleEndian(u8),
    /// A header table runs past the end of the file.
    TruncatedTable {
        /// `"program header"` or `"section header"`.
        table: &'static str,
        /// Where the table ends (saturated at `u64::MAX`).
        end: u64,
        /// The file's length.
        len: u64,
    },
    /// A header table's entry size is not the ELF64 one.
    BadEntrySize {
        /// `"program header"` or `"section header"`.
        table: &'static str,
        /// The size the ELF header gives.
        size: u16,
        /// The ELF64 size.
        expected: u16,
    },
    /// goblin could not parse the file.
    Malformed(String),
    /// `e_machine` is not EM_AARCH64.
    WrongMachine(u16),
    /// The file is an ET_EXEC: linked for a fixed address.
    NotPositionIndependent,
    /// `e_type` is neither ET_DYN nor ET_EXEC.
    WrongType(u16),
    /// The file asks for a program interpreter (PT_INTERP).
    HasInterpreter,
    /// The file has thread-local storage (PT_TLS).
    HasTls,
    /// The file needs a shared library (DT_NEEDED).
    NeedsLibrary(String),
    /// The file has no PT_LOAD.
    NoLoadSegments,
    /// More PT_LOADs than [`Limits::max_segments`](super::Limits::max_segments).
    TooManySegments {
        /// How many the file has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A PT_LOAD's file bytes (`p_offset + p_filesz`) lie past the end of the file.
    SegmentPastEof {
        /// Program header index.
        index: usize,
        /// `p_offset`.
        offset: u64,
        /// `p_filesz`.
        filesz: u64,
        /// The file's length.
        len: u64,
    },
    /// A PT_LOAD has `p_filesz > p_memsz`.
    FileszOverMemsz {
        /// Program header index.
        index: usize,
        /// `p_filesz`.
        filesz: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// A PT_LOAD has `p_memsz == 0`.
    EmptySegment(usize),
    /// A PT_LOAD's `p_vaddr + p_memsz` (page-rounded) wraps around the address space.
    SegmentWraps {
        /// Program header index.
        index: usize,
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// A PT_LOAD's `p_align` is not 0 or a power of two.
    BadAlign {
        /// Program header index.
        index: usize,
        /// `p_align`.
        align: u64,
    },
    /// A PT_LOAD's `p_align` exceeds [`Limits::max_align`](super::Limits::max_align).
    AlignTooBig {
        /// Program header index.
        index: usize,
        /// `p_align`.
        align: u64,
        /// The limit.
        max: u64,
    },
    /// A PT_LOAD's `p_vaddr` and `p_offset` differ modulo the page size.
    PageMisaligned {
        /// Program header index.
        index: usize,
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_offset`.
        offset: u64,
    },
    /// A PT_LOAD is both writable and executable.
    WritableExecutable(usize),
    /// A PT_LOAD is not readable.
    NotReadable(usize),
    /// Two PT_LOADs share a page of memory.
    Overlap {
        /// Program header index of the lower one.
        first: usize,
        /// Program header index of the higher one.
        second: usize,
    },
    /// The image (from address 0 to the page-rounded end of the highest PT_LOAD) exceeds
    /// [`Limits::max_image_bytes`](super::Limits::max_image_bytes).
    ImageTooBig {
        /// The image's size.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// No PT_LOAD is executable.
    NoExecutableSegment,
    /// The entry point is not inside an executable PT_LOAD (with room for one instruction).
    EntryNotExecutable(u64),
    /// The entry point is not 4-byte aligned (every A64 instruction is): the module's thread
    /// would fault on its first fetch.
    MisalignedEntry(u64),
    /// The file has relocation sections but no dynamic table (PT_DYNAMIC) pointing at them.
    RelocationsWithoutDynamic,
    /// A dynamic-table relocation table does not lie inside a PT_LOAD's file bytes.
    BadRelocTable {
        /// `"DT_RELA"` or `"DT_JMPREL"`.
        tag: &'static str,
        /// The table's address.
        vaddr: u64,
        /// Its size in bytes.
        size: u64,
    },
    /// The file uses a relocation format other than RELA.
    UnsupportedRelocFormat(&'static str),
    /// A relocation of a type other than R_AARCH64_RELATIVE or R_AARCH64_NONE.
    UnsupportedReloc {
        /// The type number.
        r_type: u32,
        /// `r_offset`.
        offset: u64,
    },
    /// A relocation's 8 target bytes are not inside a writable PT_LOAD.
    RelocNotWritable(u64),
    /// A relocation's addend points outside the image.
    RelocAddendOutside {
        /// `r_offset`.
        offset: u64,
        /// `r_addend`.
        addend: i64,
        /// The image's size.
        image_bytes: u64,
    },
    /// No section is named `.modinfo`.
    MissingModinfo,
    /// More than one section is named `.modinfo`.
    DuplicateModinfo,
    /// The `.modinfo` section has no bytes in the file (SHT_NOBITS) or lies past its end.
    ModinfoNotInFile,
    /// The `.modinfo` contents are invalid.
    ModInfo(ModInfoError),
    /// The image given to [`relocate`](super::relocate) is shorter than the plan's.
    ImageTooSmall {
        /// The image's length.
        len: u64,
        /// The length the plan needs.
        need: u64,
    },
    /// A relocation's target lies outside the image given to [`relocate`](super::relocate).
    RelocOutsideImage(u64),
    /// `base + addend` overflows.
    RelocValueOverflow {
        /// `r_offset`.
        offset: u64,
        /// The load base.
        base: u64,
    },
}

impl From<ModInfoError> for ElfError {
    fn from(e: ModInfoError) -> Self {
        Self::ModInfo(e)
    }
}

/// Writes the relocation type `r_type` by name and number, e.g. `R_AARCH64_ABS64 (257)`.
fn reloc_name(f: &mut fmt::Formatter<'_>, r_type: u32) -> fmt::Result {
    let name = r_to_str(r_type, EM_AARCH64);
    let prefix = if name.starts_with("R_") { "" } else { "R_" };
    write!(f, "{prefix}{name} ({r_type})")
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FileTooBig { len, max } => {
                write!(f, "file is {len} bytes, more than the {max}-byte limit for a module")
            }
            Self::NotElf => write!(f, "not an ELF file (no \\x7fELF magic)"),
            Self::TruncatedHeader { len } => {
                write!(f, "truncated: {len} bytes, shorter than the 64-byte ELF header")
            }
            Self::NotElf64(class) => write!(f, "ELF class {class} is not 64-bit (ELFCLASS64)"),
            Self::NotLittleEndian(data) => {
                write!(f, "ELF data encoding {data} is not little-endian (ELFDATA2LSB)")
            }
            Self::TruncatedTable { table, end, len } => {
                write!(f, "truncated: the {table} table ends at byte {end:#x} but the file is {len:#x} bytes")
            }
            Self::BadEntrySize { table, size, expected } => {
                write!(f, "{table} entry size is {size}, not {expected}")
            }
            Self::Malformed(why) => write!(f, "malformed ELF: {why}"),
            Self::WrongMachine(m) => {
                write!(f, "built for machine {} ({m}), not AArch64 ({EM_AARCH64})", machine_to_str(*m))
            }
            Self::NotPositionIndependent => write!(
                f,
                "fixed-address executable (ET_EXEC): modules must be built position-independent \
                 (ET_DYN, static PIE)"
            ),
            Self::WrongType(t) => {
                write!(f, "ELF type {t} is not a position-independent executable")
            }
            Self::HasInterpreter => {
                write!(f, "asks for a program interpreter (PT_INTERP); modules are static PIEs")
            }
            Self::HasTls => write!(f, "has thread-local storage (PT_TLS), which modules cannot use"),
            Self::NeedsLibrary(lib) => write!(f, "needs shared library `{lib}` (DT_NEEDED)"),
            Self::NoLoadSegments => write!(f, "no loadable segment (PT_LOAD)"),
            Self::TooManySegments { count, max } => {
                write!(f, "{count} loadable segments, more than the limit of {max}")
            }
            Self::SegmentPastEof { index, offset, filesz, len } => write!(
                f,
                "segment {index}: file bytes {offset:#x} + {filesz:#x} run past the end of the \
                 file ({len:#x} bytes)"
            ),
            Self::FileszOverMemsz { index, filesz, memsz } => {
                write!(f, "segment {index}: file size {filesz:#x} is larger than memory size {memsz:#x}")
            }
            Self::EmptySegment(index) => write!(f, "segment {index}: memory size is 0"),
            Self::SegmentWraps { index, vaddr, memsz } => {
                write!(f, "segment {index}: address {vaddr:#x} + size {memsz:#x} wraps around")
            }
            Self::BadAlign { index, align } => {
                write!(f, "segment {index}: alignment {align:#x} is not a power of two")
            }
            Self::AlignTooBig { index, align, max } => {
                write!(f, "segment {index}: alignment {align:#x} is larger than the limit of {max:#x}")
            }
            Self::PageMisaligned { index, vaddr, offset } => write!(
                f,
                "segment {index}: address {vaddr:#x} and file offset {offset:#x} differ within \
                 a page"
            ),
            Self::WritableExecutable(index) => {
                write!(f, "segment {index}: writable and executable (W^X)")
            }
            Self::NotReadable(index) => write!(f, "segment {index}: not readable"),
            Self::Overlap { first, second } => {
                write!(f, "segments {first} and {second} share a page of memory")
            }
            Self::ImageTooBig { bytes, max } => {
                write!(f, "image spans {bytes:#x} bytes of memory, more than the limit of {max:#x}")
            }
            Self::NoExecutableSegment => write!(f, "no executable segment"),
            Self::EntryNotExecutable(entry) => {
                write!(f, "entry point {entry:#x} is not inside an executable segment")
            }
            Self::MisalignedEntry(entry) => {
                write!(f, "entry point {entry:#x} is not 4-byte aligned (A64 instructions are)")
            }
            Self::RelocationsWithoutDynamic => {
                write!(f, "has relocation sections but no dynamic table (PT_DYNAMIC) to find them")
            }
            Self::BadRelocTable { tag, vaddr, size } => write!(
                f,
                "relocation table {tag} ({vaddr:#x}, {size:#x} bytes) is not inside a segment's \
                 file bytes"
            ),
            Self::UnsupportedRelocFormat(what) => {
                write!(f, "uses {what}; only RELA relocations are supported")
            }
            Self::UnsupportedReloc { r_type, offset } => {
                write!(f, "unsupported relocation type ")?;
                reloc_name(f, *r_type)?;
                write!(f, " at offset {offset:#x}; only R_AARCH64_RELATIVE is supported")
            }
            Self::RelocNotWritable(offset) => {
                write!(f, "relocation at offset {offset:#x}: its 8 bytes are not inside a data segment (never code)")
            }
            Self::RelocAddendOutside { offset, addend, image_bytes } => write!(
                f,
                "relocation at offset {offset:#x}: addend {addend:#x} points outside the image \
                 (0..{image_bytes:#x})"
            ),
            Self::MissingModinfo => write!(f, "missing .modinfo section"),
            Self::DuplicateModinfo => write!(f, "more than one .modinfo section"),
            Self::ModinfoNotInFile => {
                write!(f, "the .modinfo section's bytes are not in the file")
            }
            Self::ModInfo(e) => write!(f, "bad .modinfo: {e}"),
            Self::ImageTooSmall { len, need } => {
                write!(f, "image buffer is {len:#x} bytes, the module needs {need:#x}")
            }
            Self::RelocOutsideImage(offset) => {
                write!(f, "relocation at offset {offset:#x} lies outside the image buffer")
            }
            Self::RelocValueOverflow { offset, base } => {
                write!(f, "relocation at offset {offset:#x}: base {base:#x} + addend overflows")
            }
        }
    }
}
