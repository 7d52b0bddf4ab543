//! Translation tables: building them (for the kernel half and for user address spaces) and
//! switching between them. Descriptor encoding lives in `klogic::pte`, tested on the host.
//!
//! Tables are reached through the linear map (`KERNEL_VOFFSET + physical`), which covers all RAM.

use crate::mm::{phys_to_virt, PhysAddr};
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{TTBR0_EL1, TTBR1_EL1};
use klogic::pte::{self, Attrs, Decoded, ENTRIES, PAGE_SIZE};
use tock_registers::interfaces::Writeable;

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No frame for a new table.
    NoMemory,
    /// The virtual address is already mapped.
    AlreadyMapped,
    /// An address or size is not page-aligned.
    Misaligned,
}

/// A 4-level translation table tree, named by the physical address of its level-0 table.
pub struct PageTable {
    root: PhysAddr,
}

type Table = [u64; ENTRIES];

fn table_at(pa: PhysAddr) -> *mut Table {
    phys_to_virt(pa) as *mut Table
}

impl PageTable {
    /// A new, empty tree. `alloc` returns zeroed frames.
    pub fn new(alloc: &mut dyn FnMut() -> Option<PhysAddr>) -> Option<PageTable> {
        Some(PageTable { root: alloc()? })
    }

    /// Physical address of the level-0 table.
    pub fn root(&self) -> PhysAddr {
        self.root
    }

    /// The descriptor slot for `va` at `level`, creating tables on the way down if `alloc` is
    /// given. `None` if a table is missing (and not created) or a block is in the way.
    fn slot(
        &mut self,
        va: u64,
        level: u8,
        mut alloc: Option<&mut dyn FnMut() -> Option<PhysAddr>>,
    ) -> Result<*mut u64, MapError> {
        let mut table = self.root;
        for l in 0..level {
            // SAFETY: `table` is a translation table of this tree (the root, or the address found
            // in a table descriptor written by this code), reached through the linear map; the
            // kernel lock serialises every writer of this tree.
            let entry = unsafe { &mut (*table_at(table))[pte::index(va, l)] };
            table = match pte::decode(*entry, l) {
                Decoded::Table { pa } => pa,
                Decoded::Leaf { .. } => return Err(MapError::AlreadyMapped),
                Decoded::Invalid => {
                    let alloc = alloc.as_mut().ok_or(MapError::NoMemory)?;
                    let new = alloc().ok_or(MapError::NoMemory)?;
                    // The new table is zeroed (all invalid) before it becomes reachable.
                    *entry = pte::table(new).map_err(|_| MapError::Misaligned)?;
                    new
                }
            };
        }
        // SAFETY: as above; the index is below ENTRIES by construction of `pte::index`.
        Ok(unsafe { &mut (*table_at(table))[pte::index(va, level)] as *mut u64 })
    }

    /// Maps `[va, va + size)` to `[pa, pa + size)`. With `blocks`, 2 MiB blocks are used where
    /// both addresses and the remaining size allow (kernel linear map); otherwise 4 KiB pages.
    pub fn map(
        &mut self,
        va: u64,
        pa: PhysAddr,
        size: u64,
        attrs: Attrs,
        blocks: bool,
        alloc: &mut dyn FnMut() -> Option<PhysAddr>,
    ) -> Result<(), MapError> {
        if !va.is_multiple_of(PAGE_SIZE) || !pa.is_multiple_of(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Misaligned);
        }
        let mut off = 0;
        while off < size {
            let block = pte::leaf_size(2);
            let level = if blocks
                && (va + off).is_multiple_of(block)
                && (pa + off).is_multiple_of(block)
                && size - off >= block
            {
                2
            } else {
                3
            };
            let slot = self.slot(va + off, level, Some(&mut *alloc))?;
            // SAFETY: `slot` points into a live table of this tree (see `slot`).
            unsafe {
                if *slot != 0 {
                    return Err(MapError::AlreadyMapped);
                }
                *slot = pte::leaf(pa + off, attrs, level).map_err(|_| MapError::Misaligned)?;
            }
            off += pte::leaf_size(level);
        }
        barrier::dsb(barrier::ISHST); // table writes visible to the walkers of every core
        Ok(())
    }

    /// Removes the 4 KiB page mapping at `va` and returns the frame it mapped. The caller must
    /// invalidate the TLBs that may hold it before reusing the frame.
    pub fn unmap_page(&mut self, va: u64) -> Option<PhysAddr> {
        let slot = self.slot(va, 3, None).ok()?;
        // SAFETY: `slot` points into a live table of this tree.
        let old = unsafe { core::mem::replace(&mut *slot, 0) };
        barrier::dsb(barrier::ISHST);
        match pte::decode(old, 3) {
            Decoded::Leaf { pa, .. } => Some(pa),
            _ => None,
        }
    }

    /// What `va` is mapped to, if anything.
    pub fn translate(&self, va: u64) -> Option<(PhysAddr, Attrs)> {
        let mut table = self.root;
        for level in 0..=3u8 {
            // SAFETY: as in `slot`; read-only walk.
            let entry = unsafe { (*table_at(table))[pte::index(va, level)] };
            match pte::decode(entry, level) {
                Decoded::Invalid => return None,
                Decoded::Table { pa } => table = pa,
                Decoded::Leaf { pa, attrs } => {
                    let offset = va % pte::leaf_size(level);
                    return Some((pa + offset, attrs));
                }
            }
        }
        None
    }

    /// Frees every table of the tree (not the frames the leaves map) through `free`.
    pub fn destroy(self, free: &mut dyn FnMut(PhysAddr)) {
        fn walk(table: PhysAddr, level: u8, free: &mut dyn FnMut(PhysAddr)) {
            if level < 3 {
                for i in 0..ENTRIES {
                    // SAFETY: as in `slot`; the tree is no longer reachable by any core.
                    let entry = unsafe { (*table_at(table))[i] };
                    if let Decoded::Table { pa } = pte::decode(entry, level) {
                        walk(pa, level + 1, free);
                    }
                }
            }
            free(table);
        }
        walk(self.root, 0, free);
    }
}

/// Makes `root` the kernel-half tree on this core (TTBR1) and drops the boot identity map by
/// pointing TTBR0 at `empty_root` until a user address space is switched in.
pub fn activate_kernel_tables(root: PhysAddr, empty_root: PhysAddr) {
    barrier::dsb(barrier::ISH);
    // Why: the final tables replace the 1 GiB boot blocks (which mapped the kernel RWX).
    TTBR1_EL1.set(root);
    // Why: no identity map is needed once running in the upper half; ASID 0 is never a user's.
    TTBR0_EL1.set(empty_root);
    barrier::isb(barrier::SY);
    invalidate_all_local();
}

/// Switches the user half to `root` tagged with `asid` (TTBR0_EL1.ASID, bits 63:48).
pub fn set_user_tables(root: PhysAddr, asid: u16) {
    // Why: the next return to EL0 runs a thread of this address space.
    TTBR0_EL1.set(root | (u64::from(asid) << 48));
    barrier::isb(barrier::SY);
}

/// Invalidates this core's TLB entirely.
pub fn invalidate_all_local() {
    // SAFETY: TLB maintenance has no memory-safety effect; barriers order it (Arm ARM D8.13).
    unsafe { core::arch::asm!("dsb ishst", "tlbi vmalle1", "dsb ish", "isb") };
}

/// Invalidates this core's TLB entries tagged with `asid`, and waits until that is done.
pub fn invalidate_asid_local(asid: u16) {
    let arg = u64::from(asid) << 48;
    // SAFETY: TLB maintenance has no memory-safety effect; `dsb nsh` waits for this core's
    // invalidation to complete, `isb` makes later instruction fetches see it.
    unsafe { core::arch::asm!("dsb ishst", "tlbi aside1, {0}", "dsb nsh", "isb", in(reg) arg) };
}
