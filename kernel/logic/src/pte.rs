//! Page-table entries for the VMSAv8-64 translation regime with a 4 KiB granule and 48-bit
//! virtual addresses (Arm ARM D8.3 "Translation table descriptor formats").
//!
//! Four levels, 0 to 3; each table is one 4 KiB page of 512 eight-byte descriptors. Level 3 maps
//! 4 KiB pages; levels 1 and 2 may map 1 GiB and 2 MiB blocks. Memory attributes are an index
//! into `MAIR_EL1`, whose layout [`MAIR_VALUE`] fixes here so the kernel and the tests agree.

/// Bytes in a page and in a translation table.
pub const PAGE_SIZE: u64 = 4096;
/// Descriptors per table.
pub const ENTRIES: usize = 512;

/// `MAIR_EL1` attribute indices (Arm ARM D19.2 MAIR_EL1).
pub mod mair {
    /// Normal memory, inner and outer write-back, read- and write-allocate, non-transient.
    pub const NORMAL: u64 = 0;
    /// Device-nGnRE: MMIO (no gathering, no reordering, early write acknowledgement).
    pub const DEVICE: u64 = 1;
}

/// The `MAIR_EL1` value matching [`mair`]: attr0 = 0xff (normal WB), attr1 = 0x04 (Device-nGnRE).
pub const MAIR_VALUE: u64 = 0xff | (0x04 << 8);

const VALID: u64 = 1 << 0;
/// Bit 1: at levels 0-2 "table" (1) or "block" (0); at level 3 must be 1 ("page").
const TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_INDEX_SHIFT: u32 = 2;
/// AP[1]: EL0 may access.
const AP_EL0: u64 = 1 << 6;
/// AP[2]: read-only (at every EL that may access).
const AP_RO: u64 = 1 << 7;
/// SH = 0b11: inner shareable, so all cores see one coherent view.
const SH_INNER: u64 = 0b11 << 8;
/// Access flag: set, so the first access does not fault (no hardware AF management assumed).
const AF: u64 = 1 << 10;
/// Not global: the TLB entry is tagged with the ASID (used for every user mapping).
const NG: u64 = 1 << 11;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
/// Output address bits [47:12].
const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

/// What kind of memory a mapping points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemKind {
    /// Cacheable RAM.
    Normal,
    /// Device registers (MMIO): uncached, no speculation, never executable.
    Device,
}

/// What a mapping allows. Writable and executable at once is not representable on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
    /// Read and execute.
    ReadExec,
}

/// Why a set of rights cannot be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RightsError {
    /// Writable and executable together is refused (W^X).
    WriteAndExecute,
    /// No access at all: unmap instead.
    NoAccess,
    /// Write or execute without read is not expressible by this architecture's AP bits.
    NotReadable,
}

impl Access {
    /// The access for an `r`/`w`/`x` triple, refusing W+X.
    pub fn from_rwx(r: bool, w: bool, x: bool) -> Result<Access, RightsError> {
        match (r, w, x) {
            (_, true, true) => Err(RightsError::WriteAndExecute),
            (false, false, false) => Err(RightsError::NoAccess),
            (false, _, _) => Err(RightsError::NotReadable),
            (true, false, false) => Ok(Access::Read),
            (true, true, false) => Ok(Access::ReadWrite),
            (true, false, true) => Ok(Access::ReadExec),
        }
    }
}

/// Who a mapping is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Kernel mapping (TTBR1): global, never user-accessible, never user-executable.
    Kernel,
    /// User mapping (TTBR0): tagged with the ASID, never kernel-executable.
    User,
}

/// Everything a leaf descriptor says besides its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attrs {
    /// Memory type.
    pub kind: MemKind,
    /// Allowed accesses.
    pub access: Access,
    /// Kernel or user.
    pub owner: Owner,
}

impl Attrs {
    /// Kernel RAM with the given access.
    pub const fn kernel(access: Access) -> Attrs {
        Attrs { kind: MemKind::Normal, access, owner: Owner::Kernel }
    }
    /// Kernel MMIO: read-write device memory, never executable.
    pub const fn kernel_device() -> Attrs {
        Attrs { kind: MemKind::Device, access: Access::ReadWrite, owner: Owner::Kernel }
    }
    /// User RAM with the given access.
    pub const fn user(access: Access) -> Attrs {
        Attrs { kind: MemKind::Normal, access, owner: Owner::User }
    }

    fn bits(self) -> u64 {
        let attr_index = match self.kind {
            MemKind::Normal => mair::NORMAL,
            MemKind::Device => mair::DEVICE,
        };
        let mut d = VALID | AF | SH_INNER | (attr_index << ATTR_INDEX_SHIFT);
        let executable = self.access == Access::ReadExec && self.kind == MemKind::Normal;
        if !matches!(self.access, Access::ReadWrite) {
            d |= AP_RO;
        }
        match self.owner {
            Owner::Kernel => {
                d |= UXN;
                if !executable {
                    d |= PXN;
                }
            }
            Owner::User => {
                d |= AP_EL0 | NG | PXN;
                if !executable {
                    d |= UXN;
                }
            }
        }
        d
    }
}

/// Errors building a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PteError {
    /// The physical address is not aligned to the mapping size of that level.
    Misaligned,
    /// The physical address has bits above bit 47.
    AddressTooWide,
    /// Blocks exist only at levels 1 and 2; pages only at level 3.
    BadLevel,
}

/// Bytes mapped by one leaf at `level` (1: 1 GiB, 2: 2 MiB, 3: 4 KiB).
pub const fn leaf_size(level: u8) -> u64 {
    PAGE_SIZE << (9 * (3 - level as u32))
}

/// A leaf descriptor: a block at levels 1-2, a page at level 3.
pub fn leaf(pa: u64, attrs: Attrs, level: u8) -> Result<u64, PteError> {
    if !(1..=3).contains(&level) {
        return Err(PteError::BadLevel);
    }
    if pa & !ADDR_MASK & !(PAGE_SIZE - 1) != 0 {
        return Err(PteError::AddressTooWide);
    }
    if !pa.is_multiple_of(leaf_size(level)) {
        return Err(PteError::Misaligned);
    }
    let page_bit = if level == 3 { TABLE_OR_PAGE } else { 0 };
    Ok(pa | attrs.bits() | page_bit)
}

/// A table descriptor at levels 0-2 pointing at the next-level table at `pa`.
pub fn table(pa: u64) -> Result<u64, PteError> {
    if !pa.is_multiple_of(PAGE_SIZE) {
        return Err(PteError::Misaligned);
    }
    if pa & !ADDR_MASK != 0 {
        return Err(PteError::AddressTooWide);
    }
    Ok(pa | VALID | TABLE_OR_PAGE)
}

/// What a descriptor means, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Not valid: translation fault.
    Invalid,
    /// Points at the next-level table.
    Table { pa: u64 },
    /// Maps `leaf_size(level)` bytes at `pa`.
    Leaf { pa: u64, attrs: Attrs },
}

/// Decodes a descriptor found at `level`. Attribute combinations this module never writes
/// decode as the nearest [`Attrs`] (the tests check every combination it does write).
pub fn decode(desc: u64, level: u8) -> Decoded {
    if desc & VALID == 0 {
        return Decoded::Invalid;
    }
    let pa = desc & ADDR_MASK;
    let is_table_bit = desc & TABLE_OR_PAGE != 0;
    if level < 3 && is_table_bit {
        return Decoded::Table { pa };
    }
    let kind = if (desc >> ATTR_INDEX_SHIFT) & 0b111 == mair::DEVICE { MemKind::Device } else { MemKind::Normal };
    let owner = if desc & AP_EL0 != 0 { Owner::User } else { Owner::Kernel };
    let no_exec = match owner {
        Owner::Kernel => desc & PXN != 0,
        Owner::User => desc & UXN != 0,
    };
    let access = match (desc & AP_RO != 0, no_exec) {
        (false, _) => Access::ReadWrite,
        (true, true) => Access::Read,
        (true, false) => Access::ReadExec,
    };
    Decoded::Leaf { pa, attrs: Attrs { kind, access, owner } }
}

/// True if the descriptor is marked non-global (ASID-tagged).
pub fn is_non_global(desc: u64) -> bool {
    desc & NG != 0
}

/// The index into the level-`level` table for virtual address `va`.
pub const fn index(va: u64, level: u8) -> usize {
    ((va >> (12 + 9 * (3 - level as u32))) & 0x1ff) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_ACCESS: [Access; 3] = [Access::Read, Access::ReadWrite, Access::ReadExec];

    #[test]
    fn rights_refuse_write_and_execute() {
        assert_eq!(Access::from_rwx(true, true, true), Err(RightsError::WriteAndExecute));
        assert_eq!(Access::from_rwx(false, true, true), Err(RightsError::WriteAndExecute));
        assert_eq!(Access::from_rwx(false, false, false), Err(RightsError::NoAccess));
        assert_eq!(Access::from_rwx(false, true, false), Err(RightsError::NotReadable));
        assert_eq!(Access::from_rwx(true, false, true), Ok(Access::ReadExec));
        assert_eq!(Access::from_rwx(true, true, false), Ok(Access::ReadWrite));
    }

    #[test]
    fn every_written_leaf_decodes_to_what_was_written() {
        for owner in [Owner::Kernel, Owner::User] {
            for access in ALL_ACCESS {
                for level in 1..=3u8 {
                    let attrs = Attrs { kind: MemKind::Normal, access, owner };
                    let pa = 0x4000_0000 + leaf_size(level) * 3;
                    let d = leaf(pa, attrs, level).unwrap();
                    assert_eq!(decode(d, level), Decoded::Leaf { pa, attrs }, "{d:#x}");
                    assert_eq!(is_non_global(d), owner == Owner::User);
                }
            }
        }
        let dev = leaf(0x0900_0000, Attrs::kernel_device(), 3).unwrap();
        assert_eq!(decode(dev, 3), Decoded::Leaf { pa: 0x0900_0000, attrs: Attrs::kernel_device() });
    }

    #[test]
    fn known_encodings() {
        // Kernel text: valid page, AF, inner shareable, attr 0, read-only, UXN, executable at EL1.
        assert_eq!(leaf(0x4020_0000, Attrs::kernel(Access::ReadExec), 3).unwrap(), 0x0040_0000_4020_0783);
        // Kernel data: read-write, never executable.
        assert_eq!(leaf(0x4020_1000, Attrs::kernel(Access::ReadWrite), 3).unwrap(), 0x0060_0000_4020_1703);
        // Device block of 1 GiB at level 1: attr index 1, block (bit 1 clear).
        assert_eq!(leaf(0, Attrs::kernel_device(), 1).unwrap(), 0x0060_0000_0000_0705);
        // User data: EL0 RW, nG, PXN + UXN.
        assert_eq!(leaf(0x4030_0000, Attrs::user(Access::ReadWrite), 3).unwrap(), 0x0060_0000_4030_0f43);
        assert_eq!(table(0x4010_0000).unwrap(), 0x4010_0003);
    }

    #[test]
    fn executable_never_writable_and_device_never_executable() {
        for owner in [Owner::Kernel, Owner::User] {
            for access in ALL_ACCESS {
                let d = leaf(0x1000, Attrs { kind: MemKind::Normal, access, owner }, 3).unwrap();
                let writable = d & AP_RO == 0;
                let exec_somewhere = d & PXN == 0 || d & UXN == 0;
                assert!(!(writable && exec_somewhere), "W+X in {d:#x}");
            }
        }
        let dev =
            leaf(0x1000, Attrs { kind: MemKind::Device, access: Access::ReadExec, owner: Owner::Kernel }, 3).unwrap();
        assert!(dev & PXN != 0 && dev & UXN != 0);
    }

    #[test]
    fn alignment_width_and_levels_checked() {
        assert_eq!(leaf(0x1000, Attrs::kernel(Access::Read), 2), Err(PteError::Misaligned));
        assert_eq!(leaf(0x1234, Attrs::kernel(Access::Read), 3), Err(PteError::Misaligned));
        assert_eq!(leaf(1 << 48, Attrs::kernel(Access::Read), 3), Err(PteError::AddressTooWide));
        assert_eq!(leaf(0, Attrs::kernel(Access::Read), 0), Err(PteError::BadLevel));
        assert_eq!(table(0x10), Err(PteError::Misaligned));
        assert_eq!(decode(0, 3), Decoded::Invalid);
        assert_eq!(decode(table(0x5000).unwrap(), 1), Decoded::Table { pa: 0x5000 });
    }

    #[test]
    fn indices() {
        let va = 0xffff_0000_4020_1000u64;
        assert_eq!(index(va, 0), 0);
        assert_eq!(index(va, 1), 1);
        assert_eq!(index(va, 2), 1);
        assert_eq!(index(va, 3), 1);
        assert_eq!(index(0x0000_7fff_ffff_f000, 0), 255);
        assert_eq!(leaf_size(1), 1 << 30);
        assert_eq!(leaf_size(2), 2 << 20);
    }

    #[test]
    fn mair_holds_the_attributes_the_indices_name() {
        let attr = |index: u64| (MAIR_VALUE >> (8 * index)) & 0xff;
        assert_eq!(attr(mair::NORMAL), 0xff, "normal: inner and outer write-back, RW-allocate");
        assert_eq!(attr(mair::DEVICE), 0x04, "Device-nGnRE");
        assert_eq!(MAIR_VALUE >> 16, 0, "attributes 2-7 unused");
    }
}
