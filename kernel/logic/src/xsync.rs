//! The cross-core sync's protocol, without the hardware: one primitive for TLB shootdown and
//! quiescence. The kernel (`kernel/src/sync.rs`) supplies the hardware through [`Hw`] (send
//! the IPI, invalidate this core's TLB, read the clock); `tests/sync_model.rs` checks this very
//! code with loom (`--cfg loom` swaps the atomics), cores modelled as threads.
//!
//! **Initiator** ([`Sync::request`], called with the kernel lock held, so one request at a time):
//! publishes the ASIDs to invalidate and a new sequence number (release), sends the IPI to each
//! target core that is not idle, does its own part, then waits (acquire) until each of those
//! has acknowledged the sequence number.
//!
//! **Target** ([`Sync::answer`], from the IPI or while spinning for the kernel lock): invalidates
//! its TLB for the request's ASIDs, counts a quiescent point, acknowledges (release).
//!
//! **Idle cores** are not interrupted: an idle core runs no thread, its user half is the empty
//! tree, so it is quiescent already and reaches no user memory. Its idle flag changes only under
//! the kernel lock ([`Sync::set_idle`]), so the initiator (holding the lock) sees a stable value.
//! A request that names ASIDs marks each idle core it skips `flush_all`; the core answers what it
//! missed when it leaves idle — invalidating its whole TLB then, because by that time `asids`
//! may hold a later request's — before it runs any thread.
//!
//! **A late core**: the initiator never gives up on a request that names ASIDs (freeing a frame
//! a core may still reach is not an option): it reports the late core through [`Hw::late`] at
//! every bound and keeps waiting. A request without ASIDs (quiescence only: the `Sync`
//! syscall, like `membarrier`) returns the cores that did not answer within the bound instead.

use crate::loom_shim::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};

/// A set of cores, one bit each (core `i` = bit `i`).
pub type CoreSet = u64;

/// Most ASIDs one request carries; more means "invalidate everything".
pub const MAX_ASIDS: usize = 4;

/// What the protocol needs from the machine.
pub trait Hw {
    /// Interrupts `core` so that it calls [`Sync::answer`].
    fn send_ipi(&self, core: usize);
    /// Invalidates the calling core's TLB entries of `asid` (complete before it returns).
    fn invalidate_asid(&self, asid: u16);
    /// Invalidates all of the calling core's TLB entries.
    fn invalidate_all(&self);
    /// A monotonic clock, in any unit [`Sync::request`]'s `bound` is given in.
    fn now(&self) -> u64;
    /// Called while spinning (a hint to the processor; a yield in the models).
    fn relax(&self);
    /// Reports that `core` has not answered request `seq` within the bound.
    fn late(&self, core: usize, seq: u64);
}

/// One core's part of the protocol.
pub struct PerCore {
    acked: AtomicU64,
    quiescent: AtomicU64,
    flush_all: AtomicBool,
}

impl PerCore {
    #[cfg(not(loom))]
    const fn new() -> PerCore {
        PerCore { acked: AtomicU64::new(0), quiescent: AtomicU64::new(0), flush_all: AtomicBool::new(false) }
    }

    #[cfg(loom)]
    fn new() -> PerCore {
        PerCore { acked: AtomicU64::new(0), quiescent: AtomicU64::new(0), flush_all: AtomicBool::new(false) }
    }
}

/// The shared state of the sync for `N` cores.
pub struct Sync<const N: usize> {
    seq: AtomicU64,
    asids: [AtomicU16; MAX_ASIDS],
    /// Entries of `asids` that are valid; `usize::MAX`: invalidate everything.
    asid_count: AtomicUsize,
    /// The idle cores, one bit each (one word: a request skips them without a loop).
    idle: AtomicU64,
    cores: [PerCore; N],
}

/// The core numbers in `set`, lowest first.
pub fn cores_in(mut set: CoreSet) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        let core = set.trailing_zeros() as usize;
        set &= set.wrapping_sub(1);
        (core < CoreSet::BITS as usize).then_some(core)
    })
}

impl<const N: usize> Sync<N> {
    /// No request yet, no core idle.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Sync {
            seq: AtomicU64::new(0),
            asids: [const { AtomicU16::new(0) }; MAX_ASIDS],
            asid_count: AtomicUsize::new(0),
            idle: AtomicU64::new(0),
            cores: [const { PerCore::new() }; N],
        }
    }

    /// No request yet, no core idle.
    #[cfg(loom)]
    pub fn new() -> Self {
        Sync {
            seq: AtomicU64::new(0),
            asids: core::array::from_fn(|_| AtomicU16::new(0)),
            asid_count: AtomicUsize::new(0),
            idle: AtomicU64::new(0),
            cores: core::array::from_fn(|_| PerCore::new()),
        }
    }

    /// Runs a request from core `me` (holding the kernel lock) on `targets` (`me` is always
    /// included), invalidating `asids` (everything if more than [`MAX_ASIDS`]). Returns once
    /// every target that is not idle has answered; idle targets answer before they run a thread.
    ///
    /// With `asids` empty (quiescence only) it waits at most `bound` ([`Hw::now`] units) and
    /// returns the cores that had not answered (reported through [`Hw::late`]); with ASIDs it
    /// reports late cores every `bound` and waits on: the result is then always empty.
    /// `skip_others` (the test-only `skip-sync` build) leaves every other core out.
    pub fn request(
        &self,
        hw: &impl Hw,
        me: usize,
        targets: CoreSet,
        asids: &[u16],
        bound: u64,
        skip_others: bool,
    ) -> CoreSet {
        if asids.len() > MAX_ASIDS {
            self.asid_count.store(usize::MAX, Ordering::Relaxed);
        } else {
            for (slot, a) in self.asids.iter().zip(asids) {
                slot.store(*a, Ordering::Relaxed);
            }
            self.asid_count.store(asids.len(), Ordering::Relaxed);
        }
        let others = if skip_others { 0 } else { targets & !(1 << me) };
        // Stable: it changes only under the kernel lock, which the caller holds.
        let idle = others & self.idle.load(Ordering::Relaxed);
        let others = others & !idle;
        if !asids.is_empty() {
            for core in cores_in(idle) {
                self.cores[core].flush_all.store(true, Ordering::Relaxed); // published by `seq` below
            }
        }
        // Release: the ASIDs, the `flush_all` flags and every page-table write before this
        // request are visible to a core that sees the new sequence number.
        let seq = self.seq.fetch_add(1, Ordering::Release) + 1;
        for core in cores_in(others) {
            hw.send_ipi(core);
        }
        self.answer(hw, me); // this core's own part
        let mut missing = others;
        let mut deadline = hw.now().saturating_add(bound);
        while missing != 0 {
            for core in cores_in(missing) {
                if self.cores[core].acked.load(Ordering::Acquire) >= seq {
                    missing &= !(1 << core);
                }
            }
            if missing != 0 && hw.now() > deadline {
                for core in cores_in(missing) {
                    hw.late(core, seq);
                }
                if asids.is_empty() {
                    return missing;
                }
                deadline = hw.now().saturating_add(bound);
            }
            if missing != 0 {
                hw.relax();
            }
        }
        0
    }

    /// Answers the newest request on core `me` if it has not yet (from the IPI, while spinning
    /// for the kernel lock, or on leaving idle).
    pub fn answer(&self, hw: &impl Hw, me: usize) {
        let c = &self.cores[me];
        let seq = self.seq.load(Ordering::Acquire);
        if c.acked.load(Ordering::Relaxed) >= seq {
            return;
        }
        let count = self.asid_count.load(Ordering::Relaxed);
        if c.flush_all.swap(false, Ordering::Relaxed) || count == usize::MAX {
            hw.invalidate_all();
        } else {
            for a in self.asids.iter().take(count) {
                hw.invalidate_asid(a.load(Ordering::Relaxed));
            }
        }
        c.quiescent.fetch_add(1, Ordering::Relaxed);
        c.acked.store(seq, Ordering::Release);
    }

    /// True if core `me` has a request to answer.
    pub fn pending(&self, me: usize) -> bool {
        self.seq.load(Ordering::Relaxed) > self.cores[me].acked.load(Ordering::Relaxed)
    }

    /// Core `me` goes idle (`true`: no thread, user half empty) or leaves idle (`false`). The
    /// caller holds the kernel lock. On leaving, the caller answers what it missed
    /// ([`Sync::answer`]) before it runs a thread.
    pub fn set_idle(&self, me: usize, idle: bool) {
        if idle {
            self.idle.fetch_or(1 << me, Ordering::Relaxed);
        } else {
            self.idle.fetch_and(!(1 << me), Ordering::Relaxed);
        }
    }

    /// The quiescent points core `core` has passed.
    pub fn quiescent(&self, core: usize) -> u64 {
        self.cores[core].quiescent.load(Ordering::Relaxed)
    }
}

#[cfg(not(loom))]
impl<const N: usize> Default for Sync<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
#[cfg(not(loom))]
mod tests {
    use super::*;
    use core::cell::{Cell, RefCell};
    use std::vec::Vec;

    /// A single-threaded machine: core 0 initiates; the other cores answer only when the
    /// initiator has spun `answer_after` times (a late core), or never (`None`).
    struct Fake<'a> {
        sync: &'a Sync<4>,
        me: usize,
        ipis: RefCell<Vec<usize>>,
        flushed: RefCell<Vec<(usize, Option<u16>)>>,
        spins: Cell<u64>,
        answer_after: Option<u64>,
        late: RefCell<Vec<usize>>,
    }

    impl<'a> Fake<'a> {
        fn new(sync: &'a Sync<4>, me: usize, answer_after: Option<u64>) -> Fake<'a> {
            Fake {
                sync,
                me,
                ipis: RefCell::default(),
                flushed: RefCell::default(),
                spins: Cell::new(0),
                answer_after,
                late: RefCell::default(),
            }
        }
    }

    impl Hw for Fake<'_> {
        fn send_ipi(&self, core: usize) {
            self.ipis.borrow_mut().push(core);
        }
        fn invalidate_asid(&self, asid: u16) {
            self.flushed.borrow_mut().push((self.me, Some(asid)));
        }
        fn invalidate_all(&self) {
            self.flushed.borrow_mut().push((self.me, None));
        }
        fn now(&self) -> u64 {
            self.spins.get()
        }
        fn relax(&self) {
            self.spins.set(self.spins.get() + 1);
            if Some(self.spins.get()) == self.answer_after {
                for core in self.ipis.borrow().iter().copied() {
                    let other = Fake::new(self.sync, core, None);
                    self.sync.answer(&other, core);
                    self.flushed.borrow_mut().extend(other.flushed.take());
                }
            }
        }
        fn late(&self, core: usize, _seq: u64) {
            self.late.borrow_mut().push(core);
        }
    }

    #[test]
    fn idle_cores_are_skipped_and_flush_everything_when_they_wake() {
        let sync = Sync::<4>::new();
        sync.set_idle(2, true);
        sync.set_idle(3, true);
        let hw = Fake::new(&sync, 0, Some(1));
        assert_eq!(sync.request(&hw, 0, 0b1111, &[7], 100, false), 0);
        assert_eq!(*hw.ipis.borrow(), [1], "only the core that is not idle is interrupted");
        assert!(hw.flushed.borrow().contains(&(1, Some(7))) && hw.flushed.borrow().contains(&(0, Some(7))));
        // A later request overwrites the ASIDs; core 2 still flushes everything on waking.
        let hw2 = Fake::new(&sync, 0, Some(1));
        assert_eq!(sync.request(&hw2, 0, 0b0011, &[9], 100, false), 0);
        sync.set_idle(2, false);
        assert!(sync.pending(2));
        let woke = Fake::new(&sync, 2, None);
        sync.answer(&woke, 2);
        assert_eq!(*woke.flushed.borrow(), [(2, None)], "a core that missed an ASID request flushes everything");
        assert!(!sync.pending(2));
        // Core 3 slept through it all: the first request named an ASID, so it flushes all.
        let hw3 = Fake::new(&sync, 0, None);
        sync.request(&hw3, 0, 0b1000, &[], 100, false);
        sync.set_idle(3, false);
        let woke3 = Fake::new(&sync, 3, None);
        sync.answer(&woke3, 3);
        assert_eq!(*woke3.flushed.borrow(), [(3, None)], "core 3 missed the first (ASID) request too");
    }

    #[test]
    fn a_quiescence_request_names_a_core_that_never_answers() {
        let sync = Sync::<4>::new();
        let hw = Fake::new(&sync, 0, None);
        assert_eq!(sync.request(&hw, 0, 0b0110, &[], 5, false), 0b0110);
        assert_eq!(*hw.late.borrow(), [1, 2]);
    }

    #[test]
    fn a_shootdown_reports_a_late_core_and_waits_for_it() {
        let sync = Sync::<4>::new();
        let hw = Fake::new(&sync, 0, Some(23)); // answers after 23 spins: 4 bounds of 5 late
        assert_eq!(sync.request(&hw, 0, 0b0010, &[3], 5, false), 0);
        assert!(hw.spins.get() >= 23, "returned before the late core answered");
        assert!(
            hw.late.borrow().len() >= 3 && hw.late.borrow().iter().all(|&c| c == 1),
            "late reports: {:?}",
            hw.late.borrow()
        );
        assert!(hw.flushed.borrow().contains(&(1, Some(3))));
        assert_eq!(sync.quiescent(1), 1);
    }

    #[test]
    fn more_asids_than_a_request_holds_flush_everything() {
        let sync = Sync::<4>::new();
        let hw = Fake::new(&sync, 0, Some(1));
        sync.request(&hw, 0, 0b0011, &[1, 2, 3, 4, 5], 10, false);
        assert!(hw.flushed.borrow().contains(&(0, None)) && hw.flushed.borrow().contains(&(1, None)));
    }

    #[test]
    fn skip_others_interrupts_nobody() {
        let sync = Sync::<4>::new();
        let hw = Fake::new(&sync, 0, None);
        assert_eq!(sync.request(&hw, 0, 0b1111, &[1], 10, true), 0);
        assert!(hw.ipis.borrow().is_empty());
    }

    #[test]
    fn cores_in_lists_the_set_bits() {
        assert_eq!(cores_in(0b1010_0001).collect::<Vec<_>>(), [0, 5, 7]);
        assert_eq!(cores_in(0).count(), 0);
        assert_eq!(cores_in(1 << 31).collect::<Vec<_>>(), [31]);
    }

    /// The bound is inclusive: a core is late only once the clock has passed the deadline.
    #[test]
    fn a_core_answering_at_the_deadline_is_not_late() {
        let sync = Sync::<4>::new();
        // The clock reads 5 = the deadline at the last check before the core answers.
        let hw = Fake::new(&sync, 0, Some(6));
        assert_eq!(sync.request(&hw, 0, 0b0010, &[], 5, false), 0);
        assert!(hw.late.borrow().is_empty(), "late reports: {:?}", hw.late.borrow());
        assert_eq!(sync.quiescent(1), 1);
        // One tick later it is late.
        let hw = Fake::new(&sync, 0, Some(7));
        assert_eq!(sync.request(&hw, 0, 0b0010, &[], 5, false), 0b0010);
        assert_eq!(*hw.late.borrow(), [1]);
        assert_eq!(hw.spins.get(), 6, "gave up as soon as the clock passed the deadline");
    }

    #[test]
    fn exactly_max_asids_are_invalidated_one_by_one() {
        let sync = Sync::<4>::new();
        let hw = Fake::new(&sync, 0, Some(1));
        assert_eq!(sync.request(&hw, 0, 0b0011, &[1, 2, 3, 4], 10, false), 0);
        let flushed = hw.flushed.borrow();
        for core in [0, 1] {
            let mine: Vec<_> = flushed.iter().filter(|(c, _)| *c == core).map(|(_, a)| *a).collect();
            assert_eq!(mine, [Some(1), Some(2), Some(3), Some(4)], "core {core}");
        }
    }

    #[test]
    fn an_initiator_other_than_core_0_does_not_interrupt_itself() {
        let sync = Sync::<4>::new();
        let hw = Fake::new(&sync, 1, Some(1));
        assert_eq!(sync.request(&hw, 1, 0b0111, &[5], 10, false), 0);
        assert_eq!(*hw.ipis.borrow(), [0, 2]);
        assert!(hw.flushed.borrow().contains(&(1, Some(5))), "it does its own part directly");
        assert_eq!((sync.quiescent(0), sync.quiescent(1), sync.quiescent(2), sync.quiescent(3)), (1, 1, 1, 0));
    }
}
