//! User address spaces: a translation tree with an ASID, and the frames it owns.
//!
//! For now an address space owns every frame mapped in it (issue 3 turns frames into
//! capability-named objects whose mappings are tracked separately). Destroying it invalidates
//! its ASID on every core before any frame or table is freed, so no core can still reach them.

use super::{frames, phys_to_virt, PhysAddr};
use crate::arch::mmu::{self, MapError, PageTable};
use abi::Error;
use alloc::vec::Vec;
use klogic::pte::{Access, Attrs, Owner, PAGE_SIZE};

/// ASIDs handed out to address spaces; 0 is reserved for "no user address space".
static ASIDS: spin::Mutex<AsidPool> = spin::Mutex::new(AsidPool { next: 1, free: Vec::new() });

struct AsidPool {
    next: u32,
    free: Vec<u16>,
}

impl AsidPool {
    fn take(&mut self) -> Option<u16> {
        if let Some(a) = self.free.pop() {
            return Some(a);
        }
        let a = u16::try_from(self.next).ok()?;
        self.next += 1;
        Some(a)
    }
}

/// A user address space.
pub struct VSpace {
    table: PageTable,
    asid: u16,
    /// Frames this address space owns, by the user address they are mapped at.
    owned: Vec<(u64, PhysAddr)>,
    /// Threads running in it; it is destroyed when the last one ends.
    pub threads: usize,
}

impl VSpace {
    /// An empty address space.
    pub fn new() -> Result<VSpace, Error> {
        let asid = ASIDS.lock().take().ok_or(Error::NoMemory)?;
        let mut alloc = || frames::alloc_zeroed();
        let Some(table) = PageTable::new(&mut alloc) else {
            ASIDS.lock().free.push(asid);
            return Err(Error::NoMemory);
        };
        Ok(VSpace { table, asid, owned: Vec::new(), threads: 0 })
    }

    /// Maps `count` fresh zeroed pages at `va` with `access`.
    pub fn map_new_pages(&mut self, va: u64, count: u64, access: Access) -> Result<(), Error> {
        for i in 0..count {
            let page_va = va + i * PAGE_SIZE;
            let pa = frames::alloc_zeroed().ok_or(Error::NoMemory)?;
            let mut alloc = || frames::alloc_zeroed();
            match self.table.map(page_va, pa, PAGE_SIZE, Attrs::user(access), false, &mut alloc) {
                Ok(()) => self.owned.push((page_va, pa)),
                Err(e) => {
                    frames::free(pa, 1);
                    return Err(match e {
                        MapError::NoMemory => Error::NoMemory,
                        MapError::AlreadyMapped | MapError::Misaligned => Error::InvalidArgument,
                    });
                }
            }
        }
        Ok(())
    }

    /// Copies `bytes` into the pages mapped at `va`, whatever their user rights (used to load
    /// programs). Fails if some page is not mapped.
    pub fn write(&mut self, va: u64, bytes: &[u8]) -> Result<(), Error> {
        self.copy(va, bytes.len(), |pa, range| {
            // SAFETY: `pa..pa+len` lies in one frame mapped in this address space (found by
            // translation under the kernel lock); the linear map covers it.
            let dst = unsafe { core::slice::from_raw_parts_mut(phys_to_virt(pa) as *mut u8, range.len()) };
            dst.copy_from_slice(&bytes[range]);
        }, None)
    }

    /// Copies user memory at `va` into `buf`, refusing unless every byte is mapped readable by
    /// the user: a user pointer is an allegation until this check passes.
    pub fn read_user(&self, va: u64, buf: &mut [u8]) -> Result<(), Error> {
        let len = buf.len();
        self.copy(va, len, |pa, range| {
            // SAFETY: as in `write`; read-only.
            let src = unsafe { core::slice::from_raw_parts(phys_to_virt(pa) as *const u8, range.len()) };
            buf[range].copy_from_slice(src);
        }, Some(Owner::User))
    }

    /// Walks `[va, va + len)` page by page, calling `f(physical address, range of the buffer)`.
    fn copy(
        &self,
        va: u64,
        len: usize,
        mut f: impl FnMut(PhysAddr, core::ops::Range<usize>),
        need_owner: Option<Owner>,
    ) -> Result<(), Error> {
        let end = va.checked_add(len as u64).ok_or(Error::BadAddress)?;
        if end > abi::USER_VA_END {
            return Err(Error::BadAddress);
        }
        let mut done = 0usize;
        while done < len {
            let cur = va + done as u64;
            let in_page = ((PAGE_SIZE - cur % PAGE_SIZE) as usize).min(len - done);
            let (pa, attrs) = self.table.translate(cur).ok_or(Error::BadAddress)?;
            if need_owner.is_some_and(|o| o != attrs.owner) {
                return Err(Error::BadAddress);
            }
            f(pa, done..done + in_page);
            done += in_page;
        }
        Ok(())
    }

    /// True if `va` is mapped executable for the user.
    pub fn is_user_executable(&self, va: u64) -> bool {
        matches!(self.table.translate(va), Some((_, a)) if a.owner == Owner::User && a.access == Access::ReadExec)
    }

    /// Makes this address space the user half on this core.
    pub fn activate(&self) {
        mmu::set_user_tables(self.table.root(), self.asid);
    }

    /// Tears it down: invalidates its ASID on every core, then frees its frames and tables.
    /// No thread may run in it (the caller checked `threads == 0`), and no core has its tree in
    /// TTBR0 (a core switches to the empty tree whenever it stops running a thread).
    pub fn destroy(self) {
        mmu::invalidate_asid_all_cores(self.asid);
        for &(_, pa) in &self.owned {
            frames::free(pa, 1);
        }
        self.table.destroy(&mut |pa| frames::free(pa, 1));
        ASIDS.lock().free.push(self.asid);
    }
}
