//! User address spaces: a translation tree with an ASID, and the frame capabilities mapped in it.
//!
//! A `VSpace` does not own the frames it maps: they belong to frame objects, and each mapping is
//! recorded both here (by address, naming the capability slot that made it) and with the frame
//! capability (see `crate::cspace`), so deleting either side removes the mapping. It owns its
//! page tables. Tearing it down invalidates its ASID on every core before any table is freed.

use super::{frames, phys_to_virt, PhysAddr};
use crate::arch::mmu::{self, MapError, PageTable};
use abi::Error;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use klogic::cdt::Slot;
use klogic::pte::{Access, Attrs, Owner, PAGE_SIZE};

/// ASIDs handed out to address spaces; 0 is reserved for "no user address space".
static ASIDS: spin::Mutex<AsidPool> = spin::Mutex::new(AsidPool { next: 1, free: Vec::new(), limit: u16::MAX as u32 });

struct AsidPool {
    next: u32,
    free: Vec<u16>,
    /// The highest ASID handed out.
    limit: u32,
}

impl AsidPool {
    fn take(&mut self) -> Option<u16> {
        if let Some(a) = self.free.pop() {
            return Some(a);
        }
        if self.next > self.limit {
            return None;
        }
        let a = u16::try_from(self.next).ok()?;
        self.next += 1;
        Some(a)
    }
}

/// Lowers the number of ASIDs (the `debug.max_asids=N` boot option, for exhaustion tests); at
/// boot, before any address space exists.
pub fn limit_asids(max: u16) {
    ASIDS.lock().limit = u32::from(max.max(1));
}

/// A user address space.
pub struct VSpace {
    table: PageTable,
    asid: u16,
    /// What is mapped, by user address: the capability slot whose mapping it is.
    pub mapped: BTreeMap<u64, Slot>,
    /// Page tables allocated besides the root (each was charged one frame).
    pub tables: u64,
    /// Cores whose TLBs may hold entries of this ASID: every core that ran it since the last
    /// sync that covered it (see `Kernel::shootdown`).
    pub live_on: u64,
}

impl VSpace {
    /// An empty address space, its root table from `alloc` (zeroed frames).
    pub fn new(alloc: &mut dyn FnMut() -> Option<PhysAddr>) -> Result<VSpace, Error> {
        let asid = ASIDS.lock().take().ok_or(Error::NoAsid)?;
        let Some(table) = PageTable::new(alloc) else {
            ASIDS.lock().free.push(asid);
            return Err(Error::NoMemory);
        };
        Ok(VSpace { table, asid, mapped: BTreeMap::new(), tables: 0, live_on: 0 })
    }

    /// Maps the page at `pa` at user address `va` with `access`, for capability `slot`. New
    /// tables come from `alloc` and are counted in [`VSpace::tables`].
    pub fn map(
        &mut self,
        va: u64,
        pa: PhysAddr,
        access: Access,
        slot: Slot,
        alloc: &mut dyn FnMut() -> Option<PhysAddr>,
    ) -> Result<(), Error> {
        if !va.is_multiple_of(PAGE_SIZE) || va >= abi::USER_VA_END {
            return Err(Error::InvalidArgument);
        }
        if self.mapped.contains_key(&va) || self.table.translate(va).is_some() {
            return Err(Error::InvalidArgument);
        }
        let mut new_tables = 0;
        let mut counting = || {
            let f = alloc();
            new_tables += u64::from(f.is_some());
            f
        };
        let r = self.table.map(va, pa, PAGE_SIZE, Attrs::user(access), false, &mut counting);
        self.tables += new_tables;
        match r {
            Ok(()) => {
                self.mapped.insert(va, slot);
                Ok(())
            }
            Err(MapError::NoMemory) => Err(Error::NoMemory),
            Err(MapError::AlreadyMapped | MapError::Misaligned) => Err(Error::InvalidArgument),
        }
    }

    /// Removes the mapping at `va` from the tables. The caller must then run the cross-core
    /// sync for this ASID (`Kernel::shootdown`) before the frame can be reused: until then a
    /// core's TLB may still hold the old translation.
    pub fn unmap(&mut self, va: u64) -> bool {
        self.mapped.remove(&va);
        self.table.unmap_page(va).is_some()
    }

    /// Its ASID.
    pub fn asid(&self) -> u16 {
        self.asid
    }

    /// The physical address behind user address `va`, if mapped for the user with at least
    /// read (and, with `write`, write) access.
    pub fn user_phys(&self, va: u64, write: bool) -> Option<PhysAddr> {
        if va >= abi::USER_VA_END {
            return None;
        }
        let (pa, attrs) = self.table.translate(va)?;
        let ok = attrs.owner == Owner::User && (!write || attrs.access == Access::ReadWrite);
        ok.then_some(pa)
    }

    /// Copies user memory at `va` into `buf`, refusing unless every byte is mapped readable by
    /// the user: a user pointer is an allegation until this check passes.
    pub fn read_user(&self, va: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.walk(va, buf.len(), false, |pa, range| {
            // SAFETY: `pa..pa+len` lies in one user page mapped in this address space (found by
            // translation under the kernel lock); the linear map covers all RAM.
            let src = unsafe { core::slice::from_raw_parts(phys_to_virt(pa) as *const u8, range.len()) };
            buf[range].copy_from_slice(src);
        })
    }

    /// Copies `bytes` to user memory at `va`, refusing unless every byte is mapped writable by
    /// the user.
    pub fn write_user(&self, va: u64, bytes: &[u8]) -> Result<(), Error> {
        self.walk(va, bytes.len(), true, |pa, range| {
            // SAFETY: as in `read_user`, and the page is user-writable, so nothing of the
            // kernel's lives there.
            let dst = unsafe { core::slice::from_raw_parts_mut(phys_to_virt(pa) as *mut u8, range.len()) };
            dst.copy_from_slice(&bytes[range]);
        })
    }

    /// Walks `[va, va + len)` page by page, calling `f(physical address, range of the buffer)`
    /// once the whole range has been checked.
    fn walk(
        &self,
        va: u64,
        len: usize,
        write: bool,
        mut f: impl FnMut(PhysAddr, core::ops::Range<usize>),
    ) -> Result<(), Error> {
        let end = va.checked_add(len as u64).ok_or(Error::BadAddress)?;
        if end > abi::USER_VA_END {
            return Err(Error::BadAddress);
        }
        let mut pages: [(PhysAddr, usize, usize); 4] = [(0, 0, 0); 4];
        let mut done = 0usize;
        let mut n = 0;
        while done < len {
            let cur = va + done as u64;
            let in_page = ((PAGE_SIZE - cur % PAGE_SIZE) as usize).min(len - done);
            let pa = self.user_phys(cur, write).ok_or(Error::BadAddress)?;
            if n == pages.len() {
                return Err(Error::InvalidArgument); // callers copy at most a few pages
            }
            pages[n] = (pa, done, done + in_page);
            n += 1;
            done += in_page;
        }
        for &(pa, a, b) in &pages[..n] {
            f(pa, a..b);
        }
        Ok(())
    }

    /// Makes this address space the user half on this core (`core`), which may from now on
    /// hold TLB entries of its ASID.
    pub fn activate(&mut self, core: usize) {
        self.live_on |= 1 << core;
        mmu::set_user_tables(self.table.root(), self.asid);
    }

    /// Tears it down: frees its tables and its ASID. The caller has run the cross-core sync for
    /// its ASID (no core's TLB holds an entry of it), removed every mapping from the frame
    /// capabilities' side (the frames belong to frame objects and are not freed here), and no
    /// core has this tree in TTBR0 (a core switches to the empty tree whenever it stops running
    /// a thread).
    pub fn destroy(self) {
        self.table.destroy(&mut |pa| frames::free(pa, 1));
        ASIDS.lock().free.push(self.asid);
    }
}
