//! Checks of the dynamic relocations.

use super::{ElfError, Reloc, Rights, Segment};
use alloc::vec::Vec;
use goblin::elf::dynamic::{Dyn, DT_JMPREL, DT_PLTREL, DT_PLTRELSZ, DT_REL, DT_RELA, DT_RELASZ, DT_RELSZ};
use goblin::elf::program_header::{ProgramHeader, PT_LOAD};
use goblin::elf::reloc::{R_AARCH64_NONE, R_AARCH64_RELATIVE};
use goblin::elf::section_header::{SHF_ALLOC, SHT_REL, SHT_RELA};
use goblin::elf::Elf;

/// Packed relative relocations (`-z pack-relative-relocs`); goblin does not know the tag.
const DT_RELR: u64 = 36;

/// Checks the dynamic relocations of `elf` (whose tables [`check_tables`] accepted), whose
/// checked `segments` span `image_bytes`, and returns the `R_AARCH64_RELATIVE` ones.
pub(super) fn check(elf: &Elf<'_>, segments: &[Segment], image_bytes: u64) -> Result<Vec<Reloc>, ElfError> {
    if elf.dynamic.is_none() {
        // Without a dynamic table nothing finds the relocations: refuse rather than load a
        // module whose pointers would never be fixed up.
        let loaded_relocs = elf
            .section_headers
            .iter()
            .any(|sh| matches!(sh.sh_type, SHT_RELA | SHT_REL) && sh.sh_flags & u64::from(SHF_ALLOC) != 0);
        return match loaded_relocs {
            true => Err(ElfError::RelocationsWithoutDynamic),
            false => Ok(Vec::new()),
        };
    }

    let mut relocs = Vec::new();
    for r in elf.dynrelas.iter().chain(elf.pltrelocs.iter()) {
        let offset = r.r_offset;
        match r.r_type {
            R_AARCH64_NONE => continue,
            R_AARCH64_RELATIVE => {}
            r_type => return Err(ElfError::UnsupportedReloc { r_type, offset }),
        }
        let addend = r.r_addend.ok_or(ElfError::UnsupportedRelocFormat("relocations without addends (REL)"))?;
        // Targets may be read-only data (tables of addresses from code built without -fPIC,
        // such as `core`): the loader relocates before it maps pages with their final rights.
        // Never code: a module's text stays exactly as linked.
        let data_segment = |s: &&Segment| {
            s.rights != Rights::ReadExec
                && s.vaddr <= offset
                && offset.checked_add(8).is_some_and(|end| end <= s.vaddr + s.memsz)
        };
        if !segments.iter().any(|s| data_segment(&s)) {
            return Err(ElfError::RelocNotWritable(offset));
        }
        match u64::try_from(addend) {
            Ok(addend) if addend <= image_bytes => relocs.push(Reloc { offset, addend }),
            _ => return Err(ElfError::RelocAddendOutside { offset, addend, image_bytes }),
        }
    }
    Ok(relocs)
}

/// Refuses relocation formats other than RELA, and RELA tables that do not lie inside a
/// segment's file bytes (goblin would silently read them from file offset 0). Run before goblin
/// parses the whole file.
pub(super) fn check_tables(dyns: &[Dyn], phdrs: &[ProgramHeader]) -> Result<(), ElfError> {
    let value = |tag: u64| dyns.iter().find(|d| d.d_tag == tag).map(|d| d.d_val);
    if value(DT_REL).is_some() || value(DT_RELSZ).is_some_and(|n| n != 0) {
        return Err(ElfError::UnsupportedRelocFormat("REL relocations (DT_REL)"));
    }
    if value(DT_RELR).is_some() {
        return Err(ElfError::UnsupportedRelocFormat("packed relative relocations (DT_RELR)"));
    }
    let tables = [("DT_RELA", value(DT_RELA), value(DT_RELASZ)), ("DT_JMPREL", value(DT_JMPREL), value(DT_PLTRELSZ))];
    for (tag, vaddr, size) in tables {
        let Some(vaddr) = vaddr else { continue };
        let size = size.unwrap_or(0);
        let in_file = |ph: &ProgramHeader| {
            ph.p_type == PT_LOAD
                && ph.p_vaddr <= vaddr
                && vaddr.checked_add(size).is_some_and(|end| end - ph.p_vaddr <= ph.p_filesz)
        };
        if size != 0 && !phdrs.iter().any(in_file) {
            return Err(ElfError::BadRelocTable { tag, vaddr, size });
        }
    }
    if value(DT_JMPREL).is_some() && value(DT_PLTREL) == Some(DT_REL) {
        return Err(ElfError::UnsupportedRelocFormat("REL-format PLT relocations"));
    }
    Ok(())
}
