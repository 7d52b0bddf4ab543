//! Free slots of the root task's root CNode.
//!
//! A bitmap of atomics, one bit per slot (set = in use), so any thread may allocate and free
//! without a lock. Its `init`, run before `main`, marks the slots the kernel filled at boot (below
//! [`abi::BootInfo::first_free_slot`]) as used, and slot 0, which stays empty by convention.
//!
//! Only the root task's threads may use it: a cloned process ([`crate::process`]) has another
//! CNode, and its caller decides which of its slots hold what.

use abi::{BootInfo, CPtr, CNODE_MAX_RADIX};
use core::sync::atomic::{AtomicU64, Ordering};

const WORDS: usize = (1 << CNODE_MAX_RADIX) / 64;

/// Bit `i % 64` of word `i / 64` is set when slot `i` is in use. Before [`init`] every slot
/// reads as used.
static USED: [AtomicU64; WORDS] = [const { AtomicU64::new(u64::MAX) }; WORDS];

/// The boot information the kernel mapped for the root task.
pub fn boot_info() -> &'static BootInfo {
    // SAFETY: the kernel maps a `BootInfo` read-only at `BOOT_INFO_VA` in the root task before
    // it starts and never changes or unmaps it (ABI); `init` checks its magic before anything
    // else reads it.
    unsafe { &*(abi::BOOT_INFO_VA as *const BootInfo) }
}

/// Marks the slots from `first_free_slot` up to the CNode's size as free. Called once by the
/// runtime before `main`; panics if the boot information is not there.
pub(crate) fn init() {
    let info = boot_info();
    assert_eq!(info.magic, BootInfo::MAGIC, "no boot information at {:#x}", abi::BOOT_INFO_VA);
    init_range(info.first_free_slot, info.cnode_radix);
}

/// Marks slots `first_free..2^radix` as free: the set-up of a module, whose CNode the module
/// server filled (see the module SDK).
pub(crate) fn init_range(first_free: u64, radix: u64) {
    let slots = 1u64 << radix.min(CNODE_MAX_RADIX);
    for slot in first_free.max(1)..slots {
        USED[(slot / 64) as usize].fetch_and(!(1 << (slot % 64)), Ordering::Relaxed);
    }
}

/// A free slot of the root CNode, now marked used; `None` if all are taken.
pub fn alloc() -> Option<CPtr> {
    for (w, word) in USED.iter().enumerate() {
        let mut bits = word.load(Ordering::Relaxed);
        while bits != u64::MAX {
            let bit = (!bits).trailing_zeros();
            match word.compare_exchange_weak(bits, bits | 1 << bit, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Some(CPtr::root(w as u32 * 64 + bit)),
                Err(now) => bits = now,
            }
        }
    }
    None
}

/// How many root-CNode slots [`alloc`] has handed out and not had back (a leak check).
pub fn used_count() -> u32 {
    USED.iter().map(|w| w.load(Ordering::Relaxed).count_ones()).sum()
}

/// Returns a root-CNode slot from [`alloc`] (it must be empty by now).
pub fn free(slot: CPtr) {
    let (outer, index) = slot.split();
    debug_assert!(outer.is_none(), "freeing a slot outside the root CNode");
    if let Some(word) = USED.get(index as usize / 64) {
        word.fetch_and(!(1 << (index % 64)), Ordering::Release);
    }
}

/// The kernel command line the boot info carries (empty if it is not valid UTF-8).
pub fn boot_cmdline() -> &'static str {
    let info = boot_info();
    let n = (info.cmdline_len as usize).min(info.cmdline.len());
    core::str::from_utf8(&info.cmdline[..n]).unwrap_or("")
}
