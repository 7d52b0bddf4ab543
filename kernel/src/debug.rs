//! What a debugger reads from the kernel's memory: the list of loaded modules (their names,
//! load addresses, ASIDs and build-ids, as the module server reports them with the
//! `DebugImage` syscall), and a hook it breaks on to learn that the list changed.
//!
//! The list lives in the kernel, not in the server, because kernel memory is mapped in every
//! address space: GDB can read it through any core stopped in the kernel, whatever address
//! space is current (a server address is readable only while the server's is). QEMU reads with
//! the stopped core's privilege, so a core stopped at EL0 cannot; kmod.py then reads through
//! another core. `qemu/gdb/kmod.py` reads
//! [`KERNEL_DEBUG_IMAGES`] and keeps a silent breakpoint on
//! [`kernel_debug_images_changed`]; the layout below is what it parses.

use abi::{DebugImage, Error, DEBUG_IMAGES_MAX};
use core::cell::UnsafeCell;

/// "KMODLIST", so the extension knows it reads the right thing.
pub const MAGIC: u64 = u64::from_le_bytes(*b"KMODLIST");
/// Bumped when the layout changes.
pub const VERSION: u64 = 1;

/// One entry: `used` 0 or 1, the module's ASID, then the server's record.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Entry {
    pub used: u64,
    pub asid: u64,
    pub image: DebugImage,
}

/// The list: magic, version, a generation bumped on every change, the entry count, entries.
#[repr(C)]
pub struct Images {
    pub magic: u64,
    pub version: u64,
    pub generation: u64,
    pub capacity: u64,
    pub entries: [Entry; DEBUG_IMAGES_MAX],
}

/// The list's storage: written only under the kernel lock (the `DebugImage` syscall), read
/// by the debugger while the machine is stopped.
#[repr(transparent)]
pub struct Shared(UnsafeCell<Images>);

// SAFETY: every write happens in `set`, `remove` and `forget_asid`, called only with the kernel
// lock held (the syscall dispatcher, the destruction of a VSpace), so writers never race; no
// kernel code reads it. The debugger reads it while every core is stopped, and may see a
// half-written entry if it stopped a core inside `set`: that entry is whole again at the next
// change (a debugger-side inconsistency, never a kernel one).
unsafe impl Sync for Shared {}

const EMPTY: Entry = Entry {
    used: 0,
    asid: 0,
    image: DebugImage {
        id: 0,
        base: 0,
        size: 0,
        state: 0,
        name_len: 0,
        name: [0; 32],
        build_id_len: 0,
        build_id: [0; 32],
    },
};

/// The list the debugger reads (its symbol name is part of the interface).
#[no_mangle]
pub static KERNEL_DEBUG_IMAGES: Shared = Shared(UnsafeCell::new(Images {
    magic: MAGIC,
    version: VERSION,
    generation: 0,
    capacity: DEBUG_IMAGES_MAX as u64,
    entries: [EMPTY; DEBUG_IMAGES_MAX],
}));

/// The hook: called after every change of the list, with its new generation. Never inlined and
/// never removed, so a debugger's breakpoint on it always fires.
#[no_mangle]
#[inline(never)]
pub extern "C" fn kernel_debug_images_changed(generation: u64) {
    core::hint::black_box(generation);
}

fn images() -> *mut Images {
    KERNEL_DEBUG_IMAGES.0.get()
}

fn changed(list: &mut Images) {
    list.generation += 1;
    kernel_debug_images_changed(list.generation);
}

/// Adds (or, for an id already listed, updates) a module with the ASID of its address space.
/// The caller holds the kernel lock.
pub fn set(image: DebugImage, asid: u16) -> Result<(), Error> {
    // SAFETY: the caller holds the kernel lock, so this is the only access (see `Shared`).
    let list = unsafe { &mut *images() };
    let at = match list.entries.iter().position(|e| e.used == 1 && e.image.id == image.id) {
        Some(i) => i,
        None => list.entries.iter().position(|e| e.used == 0).ok_or(Error::NoMemory)?,
    };
    list.entries[at] = Entry { used: 1, asid: u64::from(asid), image };
    changed(list);
    Ok(())
}

/// Takes every entry of address space `asid` out of the list: called when the ASID is freed, so
/// no entry outlives its address space (and names the next one to get that ASID). The caller
/// holds the kernel lock.
pub fn forget_asid(asid: u16) {
    // SAFETY: as in `set`.
    let list = unsafe { &mut *images() };
    let mut any = false;
    for e in list.entries.iter_mut().filter(|e| e.used == 1 && e.asid == u64::from(asid)) {
        *e = EMPTY;
        any = true;
    }
    if any {
        changed(list);
    }
}

/// Takes module `id` out of the list. The caller holds the kernel lock.
pub fn remove(id: u64) -> Result<(), Error> {
    // SAFETY: as in `set`.
    let list = unsafe { &mut *images() };
    let at = list.entries.iter().position(|e| e.used == 1 && e.image.id == id).ok_or(Error::NotFound)?;
    list.entries[at] = EMPTY;
    changed(list);
    Ok(())
}
