//! A tiny ELF writer for the tests: a synthetic module that looks like what `lld` makes of a
//! static PIE for AArch64, with a known layout the tests can patch.
//!
//! | file offset = address | contents                                          | segment     |
//! |-----------------------|---------------------------------------------------|-------------|
//! | `0x0000`              | ELF header, 5 program headers                     | 0: PT_LOAD R|
//! | `0x0180`              | `.rela.dyn`: 4 entries (3 RELATIVE, 1 NONE)       |             |
//! | `0x0200`              | `.modinfo`                                        |             |
//! | `0x1000`              | `.text`: 4 instructions; entry at `0x1004`        | 1: PT_LOAD RX |
//! | `0x2000`              | `.dynamic`: DT_RELA, DT_RELASZ, DT_RELAENT, DT_RELACOUNT, DT_NULL | 2: PT_LOAD RW, 3: PT_DYNAMIC |
//! | `0x2100`              | `.data`: 0x40 bytes                               |             |
//! | `0x2140..0x3800`      | `.bss` (memory only)                              |             |
//! | after `.data`         | `.shstrtab`, then the section headers             | none        |
//!
//! Program header 4 is a PT_GNU_STACK (ignored by the validator; tests retype it).

#![allow(dead_code)] // Each test file uses a different part.

pub const PAGE: u64 = 4096;
pub const PHNUM: usize = 5;
pub const RELA: u64 = 0x180;
pub const RELA_COUNT: usize = 4;
pub const MODINFO: u64 = 0x200;
pub const TEXT: u64 = 0x1000;
pub const TEXT_LEN: u64 = 16;
pub const ENTRY: u64 = 0x1004;
pub const DYNAMIC: u64 = 0x2000;
pub const DYNAMIC_COUNT: usize = 5;
pub const DATA: u64 = 0x2100;
pub const DATA_LEN: u64 = 0x40;
pub const RW_MEMSZ: u64 = 0x1800;
pub const IMAGE_PAGES: u64 = 4;
/// Byte the `.data` section is filled with (apart from the relocation slots).
pub const DATA_FILL: u8 = 0xaa;

/// The relocations: (r_offset, r_type, r_addend), in table order.
pub const RELOCS: [(u64, u32, i64); RELA_COUNT] = [
    (0x2100, 1027, 0x1004), // a function pointer in .data
    (0, 0, 0),              // R_AARCH64_NONE
    (0x2108, 1027, 0x2000), // a pointer to .dynamic
    (0x3000, 1027, 0x200),  // a pointer stored in .bss (to .modinfo)
];

/// Section indices.
pub const SH_RELA: usize = 1;
pub const SH_MODINFO: usize = 2;
pub const SH_TEXT: usize = 3;
pub const SH_DYNAMIC: usize = 4;
pub const SH_DATA: usize = 5;
pub const SH_BSS: usize = 6;
pub const SH_SHSTRTAB: usize = 7;
pub const SHNUM: usize = 8;
const SHSTRTAB: &[u8] = b"\0.rela.dyn\0.modinfo\0.text\0.dynamic\0.data\0.bss\0.shstrtab\0";

/// The metadata of the good module.
pub const GOOD_MODINFO: &[u8] = b"name=hello\0version=0.1.0\0license=MIT\0description=says hello\0depends=console\0";

/// The good module.
pub fn good() -> Vec<u8> {
    module_elf(GOOD_MODINFO)
}

/// Offset in SHSTRTAB of `name`.
fn name_at(name: &str) -> u32 {
    let needle = format!("\0{name}\0");
    let at = SHSTRTAB.windows(needle.len()).position(|w| w == needle.as_bytes()).unwrap();
    at as u32 + 1
}

/// Offset of the section header table in a module with this much `.modinfo`.
pub fn shoff(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[40..48].try_into().unwrap())
}

/// File offset of program header `index`.
pub fn phdr(index: usize) -> usize {
    64 + index * 56
}

/// File offset of section header `index` in `bytes`.
pub fn shdr(bytes: &[u8], index: usize) -> usize {
    shoff(bytes) as usize + index * 64
}

pub fn put_u16(bytes: &mut [u8], at: usize, v: u16) {
    bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
pub fn get_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// A little-endian byte writer at explicit offsets.
struct Out(Vec<u8>);

impl Out {
    fn at(&mut self, at: u64) -> &mut Self {
        assert!(self.0.len() as u64 <= at, "layout overlaps at {at:#x}");
        self.0.resize(at as usize, 0);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    /// An ELF64 program header.
    #[allow(clippy::too_many_arguments)]
    fn phdr(&mut self, ty: u32, flags: u32, off: u64, filesz: u64, memsz: u64, align: u64) {
        self.u32(ty).u32(flags).u64(off).u64(off).u64(off).u64(filesz).u64(memsz).u64(align);
    }
    /// An ELF64 section header (address = offset, or 0 if not loaded).
    #[allow(clippy::too_many_arguments)]
    fn shdr(&mut self, name: &str, ty: u32, flags: u64, off: u64, size: u64, align: u64, entsize: u64) {
        let addr = if flags & 2 != 0 { off } else { 0 };
        let name = if name.is_empty() { 0 } else { name_at(name) };
        self.u32(name).u32(ty).u64(flags).u64(addr).u64(off).u64(size);
        self.u32(0).u32(0).u64(align).u64(entsize);
    }
}

/// A module ELF with the layout above and `modinfo` as its `.modinfo` contents.
pub fn module_elf(modinfo: &[u8]) -> Vec<u8> {
    assert!(MODINFO + modinfo.len() as u64 <= TEXT, "modinfo too long for the layout");
    let r_end = MODINFO + modinfo.len() as u64;
    let data_end = DATA + DATA_LEN;
    let shstrtab = data_end;
    let shoff = (shstrtab + SHSTRTAB.len() as u64).next_multiple_of(8);

    let mut o = Out(Vec::new());
    // ELF header.
    o.bytes(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    o.u16(3).u16(183).u32(1).u64(ENTRY).u64(64).u64(shoff).u32(0);
    o.u16(64).u16(56).u16(PHNUM as u16).u16(64).u16(SHNUM as u16).u16(SH_SHSTRTAB as u16);
    // Program headers: R, RX, RW, DYNAMIC, GNU_STACK (flags: X=1, W=2, R=4).
    o.phdr(1, 4, 0, r_end, r_end, 0x10000);
    o.phdr(1, 5, TEXT, TEXT_LEN, TEXT_LEN, 0x10000);
    o.phdr(1, 6, DYNAMIC, data_end - DYNAMIC, RW_MEMSZ, 0x10000);
    o.phdr(2, 6, DYNAMIC, DYNAMIC_COUNT as u64 * 16, DYNAMIC_COUNT as u64 * 16, 8);
    o.phdr(0x6474_e551, 6, 0, 0, 0, 16);
    // .rela.dyn
    o.at(RELA);
    for (offset, ty, addend) in RELOCS {
        o.u64(offset).u64(u64::from(ty)).u64(addend as u64);
    }
    o.at(MODINFO).bytes(modinfo);
    // .text: nop; mov x0, #0; ret; nop  (entry at the second instruction)
    o.at(TEXT);
    for insn in [0xd503201fu32, 0xd2800000, 0xd65f03c0, 0xd503201f] {
        o.u32(insn);
    }
    // .dynamic
    o.at(DYNAMIC);
    let relasz = RELA_COUNT as u64 * 24;
    for (tag, val) in [(7, RELA), (8, relasz), (9, 24), (0x6fff_fff9, 3), (0, 0)] {
        o.u64(tag).u64(val);
    }
    // .data: the relocation slots start at zero, the rest is a pattern.
    o.at(DATA).bytes(&[0; 16]).bytes(&[DATA_FILL; DATA_LEN as usize - 16]);
    assert_eq!(o.len(), data_end);
    o.bytes(SHSTRTAB);
    o.at(shoff);
    o.shdr("", 0, 0, 0, 0, 0, 0);
    o.shdr(".rela.dyn", 4, 2, RELA, relasz, 8, 24);
    o.shdr(".modinfo", 1, 2, MODINFO, modinfo.len() as u64, 1, 0);
    o.shdr(".text", 1, 6, TEXT, TEXT_LEN, 4, 0);
    o.shdr(".dynamic", 6, 3, DYNAMIC, DYNAMIC_COUNT as u64 * 16, 8, 16);
    o.shdr(".data", 1, 3, DATA, DATA_LEN, 8, 0);
    o.shdr(".bss", 8, 3, data_end, DYNAMIC + RW_MEMSZ - data_end, 8, 0);
    o.shdr(".shstrtab", 3, 0, shstrtab, SHSTRTAB.len() as u64, 1, 0);
    o.0
}

/// Gives section `index` the name of section `like` (e.g. a second `.modinfo`).
pub fn rename_section(bytes: &mut [u8], index: usize, like: &str) {
    let at = shdr(bytes, index);
    put_u32(bytes, at, name_at(like));
}
