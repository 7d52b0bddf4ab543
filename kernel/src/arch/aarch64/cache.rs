//! Cache maintenance for code written through the data side (Arm ARM, "Concurrent modification
//! and execution of instructions" and "Instruction cache maintenance"; B2.4 and D7.5 of
//! DDI 0487).
//!
//! A frame's bytes reach it through the data side (the kernel zeroing it, the module server
//! copying an image in through a writable mapping). Before it may be executed, its lines are
//! cleaned from the data caches to the point of unification and the instruction caches are
//! invalidated to the point of unification; otherwise a core without `CTR_EL0.IDC`/`DIC` can
//! fetch stale instructions — from an earlier use of a reused frame — on any core. QEMU's TCG
//! keeps the two sides coherent, so no test here can show a missing step: this follows the
//! architecture manual.

use core::arch::asm;

/// `CTR_EL0`: the cache type register (the `aarch64-cpu` crate does not define it).
fn ctr_el0() -> u64 {
    let ctr: u64;
    // SAFETY: CTR_EL0 is readable at EL1 and reading it has no side effects.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    ctr
}

/// Makes the instruction side of every core see the bytes at kernel address `va..va + len` as
/// they are now in memory. Called before the first executable mapping of a frame is entered in
/// a page table, so no core can fetch from it before this returns.
///
/// 1. Unless `CTR_EL0.IDC` says no clean is needed: `DC CVAU` every data-cache line of the
///    range (the smallest line, `DminLine`, so no line is skipped). Then `DSB ISH` in any case.
/// 2. Unless `CTR_EL0.DIC` says no invalidation is needed: `IC IALLUIS` — all instruction
///    caches to the point of unification, broadcast to every core in the Inner Shareable
///    domain. By address (`IC IVAU`) would have to use the user's address on an aliasing
///    VIPT instruction cache; invalidating everything is right for every cache type. Then
///    `DSB ISH` (the broadcast has completed on every core) and `ISB`.
///
/// Other cores need no ISB of their own: the page was not mapped executable anywhere before
/// (a frame is never writable and executable at once), so no core's pipeline holds
/// instructions fetched from it, and each enters user mode through an exception return, which
/// is context synchronising.
pub fn sync_instructions(va: usize, len: usize) {
    let ctr = ctr_el0();
    let idc = ctr & (1 << 28) != 0;
    let dic = ctr & (1 << 29) != 0;
    if !idc {
        let line = 4usize << ((ctr >> 16) & 0xf); // DminLine: log2 of words
        let mut at = va & !(line - 1);
        while at < va + len {
            // SAFETY: `at` is a mapped kernel address (the linear map of the frame); cleaning a
            // line to the point of unification changes no memory contents.
            unsafe { asm!("dc cvau, {}", in(reg) at, options(nostack, preserves_flags)) };
            at += line;
        }
    }
    // The clean (or, with IDC, the writes themselves) complete before the invalidation: the
    // Arm ARM's sequence has this barrier even when no clean is needed.
    // SAFETY: a barrier; no memory effects beyond ordering.
    unsafe { asm!("dsb ish", options(nostack, preserves_flags)) };
    if !dic {
        // SAFETY: invalidating instruction caches only discards copies of memory.
        unsafe { asm!("ic ialluis", "dsb ish", options(nostack, preserves_flags)) };
    }
    // SAFETY: a context synchronisation barrier.
    unsafe { asm!("isb", options(nostack, preserves_flags)) };
}
