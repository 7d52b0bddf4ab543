//! The cross-core sync: one primitive for TLB shootdown and quiescence.
//!
//! The initiator (holding the kernel lock) publishes a request — a sequence number and the
//! ASIDs to invalidate — and sends `SGI_SYNC` to the target cores. Each target, on the
//! interrupt (or while it spins for the kernel lock, so a core waiting for the lock cannot
//! deadlock the initiator):
//! 1. invalidates its own TLB entries for those ASIDs (`tlbi aside1`, then `dsb nsh; isb`:
//!    the invalidation is complete on this core before it goes on);
//! 2. passes a quiescent point (counted in its per-core block): it was interrupted out of user
//!    code, and any thread that must stop never runs another user instruction, because the core
//!    now waits for the kernel lock and the scheduler drops stopped threads before returning
//!    to EL0;
//! 3. acknowledges by publishing the sequence number it handled (release).
//! The initiator does the same locally, then waits (acquire) until every target acknowledged,
//! for at most [`TIMEOUT_MS`]; a core that does not answer is reported by number, never skipped
//! silently. Only one sync runs at a time (the initiator holds the kernel lock).
//!
//! An **idle** core is not interrupted: it runs no thread and its user half is the empty tree,
//! so it is at a quiescent point already and cannot reach user memory through any ASID. It
//! leaves idle only by taking the kernel lock (which the initiator holds), and then answers the
//! requests it missed before it runs a thread; if one of them invalidated ASIDs it invalidates
//! its whole TLB (the request's ASIDs may have been overwritten since). So a sync with nothing
//! to wait for — every other core idle — interrupts nobody.

use crate::arch::{cpu, mmu, timer};
use crate::{percpu, smp};
use core::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use klogic::board::MAX_CPUS;

/// How long the initiator waits for every target to answer.
pub const TIMEOUT_MS: u64 = 2000;
/// Most ASIDs one request carries; more means "invalidate everything".
const MAX_ASIDS: usize = 4;

static SEQ: AtomicU64 = AtomicU64::new(0);
static ASIDS: [AtomicU16; MAX_ASIDS] = [const { AtomicU16::new(0) }; MAX_ASIDS];
/// Number of valid entries in `ASIDS`; `usize::MAX`: invalidate every ASID.
static ASID_COUNT: AtomicUsize = AtomicUsize::new(0);

/// A set of cores, one bit each.
pub type CoreSet = u32;

/// The cores online, as a set.
pub fn online(cores: usize) -> CoreSet {
    (0..cores).filter(|&c| percpu::of(c).online.load(Ordering::Acquire)).fold(0, |m, c| m | 1 << c)
}

/// The core numbers in `set`, lowest first.
fn cores_in(mut set: CoreSet) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        let core = set.trailing_zeros() as usize;
        set &= set.wrapping_sub(1);
        (core < MAX_CPUS).then_some(core)
    })
}

/// The `Sync` syscall: every online core passes a quiescent point (see the module
/// documentation). `Ok(cores online)`, or `Err` if a core did not answer in time.
pub fn sync_all(cores: usize) -> Result<u64, abi::Error> {
    let targets = online(cores);
    match sync(targets, &[]) {
        0 => Ok(u64::from(targets.count_ones())),
        _ => Err(abi::Error::NoResponse),
    }
}

/// Runs a sync on `targets` (this core is always included), invalidating `asids` (all ASIDs if
/// more than [`MAX_ASIDS`]). Returns the set of cores that did not answer in time (empty:
/// every target passed a quiescent point and has no TLB entry left for those ASIDs).
pub fn sync(targets: CoreSet, asids: &[u16]) -> CoreSet {
    let me = percpu::core_id();
    if asids.len() > MAX_ASIDS {
        ASID_COUNT.store(usize::MAX, Ordering::Relaxed);
    } else {
        for (slot, a) in ASIDS.iter().zip(asids) {
            slot.store(*a, Ordering::Relaxed);
        }
        ASID_COUNT.store(asids.len(), Ordering::Relaxed);
    }
    // The test-only `skip-sync` build leaves the other cores out: only this core invalidates.
    let mut others = if cfg!(feature = "skip-sync") { 0 } else { targets & !(1 << me) };
    let mut idle = 0;
    for core in cores_in(others) {
        let c = percpu::of(core);
        if c.idle.load(Ordering::Relaxed) {
            idle |= 1 << core;
            if !asids.is_empty() {
                c.flush_all.store(true, Ordering::Relaxed); // published by SEQ below
            }
        }
    }
    others &= !idle;
    // Release: the ASIDs, the `flush_all` flags and every page-table write before this sync
    // are visible to a core that sees the new sequence number.
    let seq = SEQ.fetch_add(1, Ordering::Release) + 1;
    for core in cores_in(others) {
        smp::send(core, smp::SGI_SYNC);
    }
    answer(); // this core's own part
    let answered = |c: usize| percpu::of(c).sync_acked.load(Ordering::Acquire) >= seq;
    let deadline = timer::counter() + TIMEOUT_MS * timer::frequency() / 1000;
    let mut missing = others;
    while missing != 0 {
        for core in cores_in(missing) {
            if answered(core) {
                missing &= !(1 << core);
            }
        }
        if missing != 0 && timer::counter() > deadline {
            for core in cores_in(missing) {
                log::error!("sync: core {core} did not answer within {TIMEOUT_MS} ms (sequence {seq})");
                if !asids.is_empty() {
                    // When it does answer, the next request may have replaced these ASIDs.
                    percpu::of(core).flush_all.store(true, Ordering::Relaxed);
                }
            }
            break;
        }
        cpu::relax();
    }
    missing
}

/// Handles a pending sync request on this core, if there is one it has not answered (from the
/// `SGI_SYNC` interrupt, or polled while spinning for the kernel lock).
pub fn answer() {
    let me = percpu::this();
    let seq = SEQ.load(Ordering::Acquire);
    if me.sync_acked.load(Ordering::Relaxed) >= seq {
        return;
    }
    let count = ASID_COUNT.load(Ordering::Relaxed);
    if me.flush_all.swap(false, Ordering::Relaxed) || count == usize::MAX {
        // A request it missed (idle, or too late) invalidated ASIDs that `ASIDS` may no
        // longer hold; or the request named more ASIDs than it holds.
        mmu::invalidate_all_local();
    } else {
        for a in ASIDS.iter().take(count) {
            mmu::invalidate_asid_local(a.load(Ordering::Relaxed));
        }
    }
    me.quiescent.fetch_add(1, Ordering::Relaxed);
    me.sync_acked.store(seq, Ordering::Release);
}

/// True if a sync request is waiting for this core's answer. (Never, in the test-only
/// `skip-sync` build: its other cores must not catch up on a request at their next kernel
/// entry either, or the tests could not show what a missing sync does.)
#[inline]
pub fn pending() -> bool {
    !cfg!(feature = "skip-sync") && SEQ.load(Ordering::Relaxed) > percpu::this().sync_acked.load(Ordering::Relaxed)
}
