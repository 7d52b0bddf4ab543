//! The cross-core sync: one primitive for TLB shootdown and quiescence. The protocol itself is
//! `klogic::xsync` (host-tested and loom-checked); this file gives it the machine.
//!
//! The initiator (holding the kernel lock) publishes a request — a sequence number and the
//! ASIDs to invalidate — and sends `SGI_SYNC` to the target cores that are not idle. Each
//! target, on the interrupt (or while it spins for the kernel lock, so a core waiting for the
//! lock cannot deadlock the initiator):
//! 1. invalidates its own TLB entries for those ASIDs (`tlbi aside1`, then `dsb nsh; isb`:
//!    the invalidation is complete on this core before it goes on);
//! 2. passes a quiescent point (counted): it was interrupted out of user code, and any thread
//!    that must stop never runs another user instruction, because the core now waits for the
//!    kernel lock and the scheduler drops stopped threads before returning to EL0;
//! 3. acknowledges by publishing the sequence number it handled (release).
//!
//! The initiator does the same locally, then waits (acquire) until every target acknowledged.
//! A core that has not answered within [`TIMEOUT_MS`] is named in the log, never skipped
//! silently: a shootdown goes on waiting for it (a frame it may still reach is not freed); the
//! `Sync` syscall returns `NoResponse`.
//!
//! An **idle** core is not interrupted: it runs no thread and its user half is the empty tree,
//! so it is at a quiescent point already and cannot reach user memory through any ASID. It
//! leaves idle only by taking the kernel lock (which the initiator holds), and then answers the
//! requests it missed before it runs a thread ([`leave_idle`]); if one of them invalidated
//! ASIDs it invalidates its whole TLB (the request's ASIDs may have been overwritten since). So
//! a sync with nothing to wait for — every other core idle — interrupts nobody.

use crate::arch::{cpu, mmu, timer};
use crate::{percpu, smp};
use core::sync::atomic::Ordering;
use klogic::board::MAX_CPUS;
use klogic::xsync::{self, Hw};

pub use klogic::xsync::CoreSet;

/// How long the initiator waits before it names a core that has not answered.
pub const TIMEOUT_MS: u64 = 2000;

static SYNC: xsync::Sync<MAX_CPUS> = xsync::Sync::new();

/// The machine as the protocol sees it.
struct Machine;

impl Hw for Machine {
    fn send_ipi(&self, core: usize) {
        smp::send(core, smp::SGI_SYNC);
    }
    fn invalidate_asid(&self, asid: u16) {
        mmu::invalidate_asid_local(asid);
    }
    fn invalidate_all(&self) {
        mmu::invalidate_all_local();
    }
    fn now(&self) -> u64 {
        timer::counter()
    }
    fn relax(&self) {
        cpu::relax();
    }
    fn late(&self, core: usize, seq: u64) {
        log::error!("sync: core {core} did not answer within {TIMEOUT_MS} ms (sequence {seq})");
        // A core stalled on purpose (`DebugStall`) comes back now.
        percpu::of(core).stall_release.store(true, Ordering::Release);
    }
}

/// The cores online among the first `cores`, as a set.
pub fn online(cores: usize) -> CoreSet {
    let first = if cores >= CoreSet::BITS as usize { CoreSet::MAX } else { (1 << cores) - 1 };
    percpu::online_set() & first
}

/// Runs a sync on `targets` (this core is always included), invalidating `asids` (all ASIDs if
/// more than `xsync::MAX_ASIDS`). The caller holds the kernel lock. With ASIDs it returns once
/// every target that is not idle has answered (empty set); without, it returns the cores that
/// did not answer in time (empty: every target passed a quiescent point).
pub fn sync(targets: CoreSet, asids: &[u16]) -> CoreSet {
    let bound = TIMEOUT_MS * timer::frequency() / 1000;
    // The test-only `skip-sync` build leaves the other cores out: only this core invalidates.
    SYNC.request(&Machine, percpu::core_id(), targets, asids, bound, cfg!(feature = "skip-sync"))
}

/// The `Sync` syscall: every online core passes a quiescent point. `Ok(cores online)`, or
/// `Err(the cores that did not answer in time)`.
pub fn sync_all(cores: usize) -> Result<u64, CoreSet> {
    let targets = online(cores);
    match sync(targets, &[]) {
        0 => Ok(u64::from(targets.count_ones())),
        late => Err(late),
    }
}

/// Handles a pending sync request on this core, if there is one it has not answered (from the
/// `SGI_SYNC` interrupt, or polled while spinning for the kernel lock).
pub fn answer() {
    SYNC.answer(&Machine, percpu::core_id());
}

/// True if a sync request is waiting for this core's answer. (Never, in the test-only
/// `skip-sync` build: its other cores must not catch up on a request at their next kernel
/// entry either, or the tests could not show what a missing sync does.)
#[inline]
pub fn pending() -> bool {
    !cfg!(feature = "skip-sync") && SYNC.pending(percpu::core_id())
}

/// This core goes idle: no thread, user half empty. The caller holds the kernel lock.
pub fn enter_idle() {
    SYNC.set_idle(percpu::core_id(), true);
}

/// This core leaves idle (the caller holds the kernel lock): it answers what it missed before
/// it runs a thread.
pub fn leave_idle() {
    SYNC.set_idle(percpu::core_id(), false);
    if pending() {
        answer();
    }
}
