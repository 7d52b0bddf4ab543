//! Safe module unloading: the protocol of the seed mail (Rusty Russell's, as Keith Owens tells
//! it), as lock-free state shared between two kinds of actor in the module server.
//!
//! - **Openers** open sessions on a module, which takes a reference. They run on any core, many
//!   at once, and take no lock shared with the unloader: [`Unload::open`] reads whether the
//!   module is registered and then, in a separate atomic operation, increments the reference
//!   count. Between the two an unloader can unregister the module — that is the seed's race,
//!   and it really exists here.
//! - The single **unloader** (`rmmod`) runs [`Unload::unload`], the seed's six steps:
//!   1. check the use count ([`Outcome::InUse`] if it is not 0);
//!   2. unregister (state [`State::Unloading`]), so that no new reference can start;
//!   3. make everybody pass a sync point: the caller's `sync` (the kernel's cross-core sync),
//!      and then a **grace period** on the openers: every opener that was inside its read-side
//!      critical section when the module was unregistered must be seen to have left it, so an
//!      opener that saw "registered" has made its increment visible;
//!   4. check the use count again;
//!   5. if it is 0, the module is [`State::Gone`] ([`Outcome::Removed`]): the caller runs the
//!      exit routine, revokes the module's capabilities, unmaps and frees;
//!   6. if it rose in the window, either re-register ([`Mode::Busy`], Keith Owens' preference)
//!      or remove it when the last reference goes ([`Mode::Wait`], Rusty's preference: state
//!      [`State::Going`], and the [`Unload::close`] that drops the last reference reports
//!      [`Closed::CompleteRemoval`] exactly once).
//!
//! [`Unload::force`] unregisters unconditionally and hands back the references to revoke.
//!
//! # Why the grace period, and not only the kernel's sync
//!
//! In the kernel of 2002 a CPU that passed a sync point is out of any read-side section,
//! because sleeping while using module code is illegal. Openers here are user threads: one can
//! be preempted between reading "registered" and incrementing the count, and its core then
//! passes the kernel's quiescent point while the opener is still "inside". So the openers mark
//! their critical sections in per-opener counters (odd = inside), and step 3 waits for every
//! opener that was inside to leave. `tests/model.rs` checks with loom that the protocol is
//! right with `sync` a no-op, and that it is wrong without the wait
//! (`Unload::unload_without_grace_period`, built only for tests and loom).
//!
//! # Memory ordering
//!
//! Two store-buffering (Dekker) pairs carry the protocol, each closed with a `SeqCst` fence on
//! both sides: the opener's "enter" (odd counter) before its read of the state against the
//! unloader's "unregister" before its read of the counters; and the last `close`'s decrement
//! before its read of the state against the unloader's "Going" before its re-read of the count.
//! In each pair at least one side sees the other's write. An opener's "leave" is a release that
//! the unloader acquires, so an increment made inside the section is visible at step 4.
//!
//! # Model checking
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p unload --release --test model
//! ```
//!
//! With `--cfg loom` the atomics come from loom (see `src/sync.rs`), so the models check this
//! code. Plain `cargo test -p unload` runs the deterministic and threaded tests.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

#[cfg(all(test, not(loom)))]
extern crate std;

pub mod directory;
pub mod sessions;
mod sync;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use sync::{fence, spin_hint, AtomicU64, AtomicU8, Ordering};

/// Where a module is in its life, as `lsmod` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Registered: [`Unload::open`] succeeds.
    Live,
    /// Unregistered by an [`Unload::unload`] in progress (steps 2–4): opens are refused, the
    /// unloader will either remove it, re-register it or defer its removal.
    Unloading,
    /// Unregistered, removal deferred until the last reference is closed ([`Mode::Wait`]).
    Going,
    /// Removed (or forced out): opens are refused for ever.
    Gone,
}

impl State {
    const fn encode(self) -> u8 {
        match self {
            State::Live => 0,
            State::Unloading => 1,
            State::Going => 2,
            State::Gone => 3,
        }
    }

    fn decode(raw: u8) -> State {
        match raw {
            0 => State::Live,
            1 => State::Unloading,
            2 => State::Going,
            // Only `encode`d values are ever stored.
            _ => State::Gone,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Live => "live",
            State::Unloading => "unloading",
            State::Going => "going",
            State::Gone => "gone",
        })
    }
}

/// What step 6 does when the use count rose in the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Re-register the module (back to [`State::Live`]) and report [`Outcome::Busy`].
    Busy,
    /// Leave it unregistered ([`State::Going`]) and remove it when the last reference is
    /// closed: [`Outcome::Deferred`], then [`Closed::CompleteRemoval`] from that `close`.
    Wait,
}

/// The points of [`Unload::unload`] and [`Unload::force`] at which the caller's hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Window {
    /// Between step 2 (unregistered) and step 3 (sync): the window is open. A test can open a
    /// session here, deterministically inside the seed's window.
    AfterUnregister,
    /// During step 3's grace period, each time opener `opener` is found still inside the
    /// critical section it was in when the module was unregistered, before looking again. The
    /// module server yields the core here (the opener may be descheduled on this very core);
    /// a test can let that opener finish its step; a loom model yields.
    Waiting {
        /// The opener slot being waited for.
        opener: usize,
    },
    /// Between step 3 (sync and grace period done) and step 4 (the count is read again).
    AfterSync,
}

/// The answer of [`Unload::unload`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Step 1: the module has this many references; nothing changed (the caller names the
    /// users).
    InUse(u64),
    /// Step 5: no reference is left and none can be taken any more; the module is
    /// [`State::Gone`]. The caller now runs its exit routine, revokes its capabilities,
    /// unmaps and frees it.
    Removed,
    /// Step 6 in [`Mode::Busy`]: this many references were taken in the window; the module
    /// was re-registered ([`State::Live`]).
    Busy(u64),
    /// Step 6 in [`Mode::Wait`]: this many references were taken in the window; the module is
    /// [`State::Going`] and the [`Unload::close`] of the last one returns
    /// [`Closed::CompleteRemoval`].
    Deferred(u64),
    /// The module was not [`State::Live`] (already unloading, going or gone); nothing changed.
    NotLive(State),
    /// Step 3's sync failed (a core did not pass a quiescent point in time): the module was
    /// re-registered ([`State::Live`]) whatever the mode, and nothing is to be freed. A later
    /// `unload`, once the cores answer, can succeed.
    NotQuiescent(Late),
}

/// Step 3's sync did not complete: these cores (a bit per core) did not pass a quiescent
/// point within the bound the caller's `sync` waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Late(
    /// The cores that did not answer, one bit each.
    pub u64,
);

/// Step 3's cross-core sync as the caller gives it: `Err` names the cores that did not answer.
pub type SyncFn<'a> = dyn FnMut() -> Result<(), Late> + 'a;

/// Why [`Unload::force`] did not remove the module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ForceRefused {
    /// It was already in this state ([`State::Gone`], or [`State::Unloading`]: an `unload` is
    /// running); nothing changed.
    State(State),
    /// The sync failed: the module was re-registered ([`State::Live`]) and nothing is freed.
    NotQuiescent(Late),
}

/// The answer of [`Unload::close`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Closed {
    /// The reference was dropped; this many remained right after the decrement. (0 here
    /// means the module is not going, or a reference taken in an unload's window is still
    /// held, or another actor completes the removal.)
    Remaining(u64),
    /// The reference was the last one of a [`State::Going`] module, which is now
    /// [`State::Gone`]: the caller completes the deferred removal (exit routine, revoke,
    /// unmap, free). Returned exactly once per deferred removal.
    CompleteRemoval,
    /// There was no reference to drop (the count is 0, e.g. [`Unload::force`] already took
    /// them back): nothing changed. The count never goes below 0.
    Stale,
}

/// [`Unload::open`] (or [`Section::look`]) refused: the module was not registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Refused(
    /// The state the opener saw.
    pub State,
);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "module is {}, not live", self.0)
    }
}

/// The unload state of one module: registered state, use count and the openers' quiescence
/// counters, all atomics, shared by the openers and the unloader.
pub struct Unload {
    state: AtomicU8,
    refs: AtomicU64,
    /// One counter per opener: odd while that opener is inside its read-side critical
    /// section (between [`Unload::enter`] and leaving), even outside.
    epochs: Box<[AtomicU64]>,
}

impl fmt::Debug for Unload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unload")
            .field("state", &self.state())
            .field("refs", &self.refs())
            .field("openers", &self.openers())
            .finish()
    }
}

impl Unload {
    /// A live, registered module with no reference, and `openers` opener slots (one per
    /// opener thread, e.g. one per core). Slot `i` must be used by one thread at a time.
    pub fn new(openers: usize) -> Unload {
        let epochs: Vec<AtomicU64> = (0..openers).map(|_| AtomicU64::new(0)).collect();
        Unload {
            state: AtomicU8::new(State::Live.encode()),
            refs: AtomicU64::new(0),
            epochs: epochs.into_boxed_slice(),
        }
    }

    /// The number of opener slots.
    pub fn openers(&self) -> usize {
        self.epochs.len()
    }

    /// The state now, for `lsmod`.
    pub fn state(&self) -> State {
        State::decode(self.state.load(Ordering::SeqCst))
    }

    /// The number of references now (the use count), for `lsmod`.
    pub fn refs(&self) -> u64 {
        self.refs.load(Ordering::SeqCst)
    }

    // ---- opener side -------------------------------------------------------------------

    /// Opens a session for opener slot `opener`: takes a reference if the module is
    /// registered. This is `enter`, `look`, `take` in one go: the state is read and the count
    /// incremented by two separate atomic operations, inside the opener's critical section.
    ///
    /// # Panics
    /// If `opener` is not below [`Unload::openers`], or the slot is in use by another thread.
    pub fn open(&self, opener: usize) -> Result<(), Refused> {
        self.enter(opener).look()?.take();
        Ok(())
    }

    /// Enters opener `opener`'s read-side critical section (its counter becomes odd): the
    /// first step of [`Unload::open`], for callers that do work between the steps (and for
    /// tests that drive an interleaving by hand). Leave it by dropping the [`Section`] or by
    /// finishing with [`Section::look`] and [`Seen::take`]. The section must be short and must
    /// not block: the unloader waits for it.
    ///
    /// # Panics
    /// If `opener` is not below [`Unload::openers`], or the slot is already inside a section
    /// (two threads sharing one slot).
    pub fn enter(&self, opener: usize) -> Section<'_> {
        let before = self.epochs[opener].fetch_add(1, Ordering::SeqCst);
        if before % 2 == 1 {
            // Undo, so the other user of the slot is not let out early, then report the bug.
            self.epochs[opener].fetch_sub(1, Ordering::SeqCst);
            panic!("unload: opener slot {opener} entered twice (one slot per thread)");
        }
        // Pairs with the fence in `unregister`: if the unloader's read of our counter misses
        // this "enter", our read of the state below sees its "unregister".
        fence(Ordering::SeqCst);
        Section { unload: self, opener }
    }

    /// Drops one reference. Never lets the count go below 0 ([`Closed::Stale`] then). If this
    /// was the last reference of a [`State::Going`] module, the module becomes
    /// [`State::Gone`] and this returns [`Closed::CompleteRemoval`]: the caller completes the
    /// deferred removal. Any thread may close; it needs no opener slot.
    pub fn close(&self) -> Closed {
        let mut now = self.refs.load(Ordering::SeqCst);
        loop {
            if now == 0 {
                return Closed::Stale;
            }
            match self.refs.compare_exchange_weak(now, now - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(seen) => now = seen,
            }
        }
        let left = now - 1;
        if left != 0 {
            return Closed::Remaining(left);
        }
        // Pairs with the fence in `unload` after "Going": if the unloader's re-read of the
        // count misses this decrement, this read of the state sees "Going".
        fence(Ordering::SeqCst);
        // Seeing "Going" is not enough: while the module was `Unloading`, an opener that had
        // seen it registered may have taken a reference after our decrement reached 0 (we
        // may have been preempted here since). "Going" is stored after step 4, which happens
        // after every such increment, and our acquire load of "Going" synchronizes with that
        // store: so the count read now includes them, and is 0 only if none is held.
        // (Found by the loom model `two_openers_wait`.)
        if self.state.load(Ordering::SeqCst) == State::Going.encode()
            && self.refs.load(Ordering::SeqCst) == 0
            && self.finish_going()
        {
            Closed::CompleteRemoval
        } else {
            Closed::Remaining(0)
        }
    }

    // ---- unloader side -----------------------------------------------------------------

    /// Runs the seed's protocol (steps 1–6, see the crate documentation) on a live module.
    ///
    /// `sync` is step 3's cross-core sync (the module server passes the kernel's sync
    /// syscall: every core passes a quiescent point); the grace period on the openers follows
    /// it. `hook` is called with [`Window::AfterUnregister`] between steps 2 and 3, with
    /// [`Window::Waiting`] while the grace period waits, and with [`Window::AfterSync`]
    /// between steps 3 and 4.
    ///
    /// There is one unloader: `unload` and [`Unload::force`] must not run concurrently with
    /// each other (a second `unload` started meanwhile gets [`Outcome::NotLive`], a `force`
    /// gets `Err(State::Unloading)`). The hook must not call them either.
    pub fn unload(&self, mode: Mode, sync: &mut SyncFn<'_>, hook: &mut dyn FnMut(Window)) -> Outcome {
        self.run(mode, sync, hook, true)
    }

    /// [`Unload::unload`] without step 3's grace period on the openers (only `sync`): the
    /// protocol the way it would be if a core's quiescent point meant its opener was out of
    /// its critical section — not so for preemptible user threads. It exists only to show,
    /// in the tests and loom models, that the wait is what makes the protocol safe: with it,
    /// an opener that saw "registered" can take its reference after this returned
    /// [`Outcome::Removed`].
    #[cfg(any(test, loom))]
    pub fn unload_without_grace_period(
        &self,
        mode: Mode,
        sync: &mut SyncFn<'_>,
        hook: &mut dyn FnMut(Window),
    ) -> Outcome {
        self.run(mode, sync, hook, false)
    }

    fn run(&self, mode: Mode, sync: &mut SyncFn<'_>, hook: &mut dyn FnMut(Window), grace: bool) -> Outcome {
        // Step 1: refuse while used.
        let state = self.state();
        if state != State::Live {
            return Outcome::NotLive(state);
        }
        let refs = self.refs();
        if refs != 0 {
            return Outcome::InUse(refs);
        }
        // Step 2: unregister. From here on only this unloader moves the state out of
        // `Unloading`.
        if let Err(state) = self.unregister(State::Live, State::Unloading) {
            return Outcome::NotLive(state);
        }
        hook(Window::AfterUnregister);
        // Step 3: every core passes a quiescent point, then every opener that was inside its
        // critical section at step 2 leaves it. A core that does not pass its quiescent point
        // in time may still be inside: nothing can be freed, so the module is registered again
        // (openers that came in the window keep their references).
        if let Err(late) = sync() {
            self.state.store(State::Live.encode(), Ordering::SeqCst);
            return Outcome::NotQuiescent(late);
        }
        if grace {
            self.grace_period(hook);
        }
        hook(Window::AfterSync);
        // Step 4: check the use count again.
        let refs = self.refs();
        if refs == 0 {
            // Step 5. No opener can take a reference any more: one that saw "registered" has
            // incremented by now (and that increment was dropped again), later ones see
            // "Unloading". Nothing else moves the state out of `Unloading`.
            self.state.store(State::Gone.encode(), Ordering::SeqCst);
            return Outcome::Removed;
        }
        // Step 6.
        match mode {
            Mode::Busy => {
                self.state.store(State::Live.encode(), Ordering::SeqCst);
                Outcome::Busy(refs)
            }
            Mode::Wait => {
                self.state.store(State::Going.encode(), Ordering::SeqCst);
                // Pairs with the fence in `close`: the references may all have been closed
                // between step 4 and "Going", when no `close` could see "Going". If so,
                // either that `close` or this re-read notices, and `finish_going` lets one
                // of them complete the removal.
                fence(Ordering::SeqCst);
                if self.refs() == 0 && self.finish_going() {
                    Outcome::Removed
                } else {
                    Outcome::Deferred(refs)
                }
            }
        }
    }

    /// Forced unload: unregisters unconditionally (state [`State::Gone`]) and returns the
    /// references that were outstanding; the count is then 0 and their later `close`s are
    /// [`Closed::Stale`]. The caller revokes those references and removes the module.
    ///
    /// Like [`Unload::unload`] it passes `sync` and the grace period (with `hook` called the
    /// same way) before taking the count, so an opener that saw "registered" is counted in the
    /// answer rather than left holding a reference to a gone module.
    ///
    /// `Err(ForceRefused::State(state))` if the module was already [`State::Gone`], or
    /// [`State::Unloading`] (an `unload` is running; there is one unloader); nothing changed
    /// then. A [`State::Going`] module (removal deferred) can be forced. If `sync` fails the
    /// module goes back to where it was — registered again ([`State::Live`]), or going (the
    /// deferred removal stands) — with its references untouched:
    /// `Err(ForceRefused::NotQuiescent)`; except that a going module whose last reference
    /// closed meanwhile is removed now (`Ok(0)`, state [`State::Gone`]).
    pub fn force(&self, sync: &mut SyncFn<'_>, hook: &mut dyn FnMut(Window)) -> Result<u64, ForceRefused> {
        let mut from = State::Live;
        loop {
            match self.unregister(from, State::Gone) {
                Ok(()) => break,
                Err(State::Going) if from == State::Live => from = State::Going,
                Err(State::Live) if from == State::Going => from = State::Live,
                Err(other) => return Err(ForceRefused::State(other)),
            }
        }
        hook(Window::AfterUnregister);
        if let Err(late) = sync() {
            if from == State::Going {
                // Back to going: the deferred removal still stands. Its last reference may have
                // been closed meanwhile (that `close` saw "Gone" and did nothing), so look
                // again, as `unload` does after storing "Going": if none is left, the removal
                // is due now — no new sync is needed, the `--wait` unload passed one and no
                // reference could be taken since.
                self.state.store(State::Going.encode(), Ordering::SeqCst);
                fence(Ordering::SeqCst);
                if self.refs() == 0 && self.finish_going() {
                    return Ok(0);
                }
            } else {
                self.state.store(State::Live.encode(), Ordering::SeqCst);
            }
            return Err(ForceRefused::NotQuiescent(late));
        }
        self.grace_period(hook);
        hook(Window::AfterSync);
        Ok(self.refs.swap(0, Ordering::SeqCst))
    }

    /// Moves the state `from` → `to` (an unregistration), then fences: pairs with the fence
    /// in `enter`, so that the grace period's reads of the counters see every opener that can
    /// still have seen "registered".
    fn unregister(&self, from: State, to: State) -> Result<(), State> {
        self.state
            .compare_exchange(from.encode(), to.encode(), Ordering::SeqCst, Ordering::SeqCst)
            .map_err(State::decode)?;
        fence(Ordering::SeqCst);
        Ok(())
    }

    /// Step 3's wait: each opener that is inside a critical section now (odd counter) is
    /// waited for until its counter changes, i.e. it left that section. The acquire load that
    /// sees the change synchronizes with its release "leave", so its increment is visible.
    fn grace_period(&self, hook: &mut dyn FnMut(Window)) {
        for (opener, epoch) in self.epochs.iter().enumerate() {
            let inside = epoch.load(Ordering::Acquire);
            if inside % 2 == 0 {
                continue;
            }
            while epoch.load(Ordering::Acquire) == inside {
                hook(Window::Waiting { opener });
                spin_hint();
            }
        }
    }

    /// `Going` → `Gone`; true for the one caller that wins.
    fn finish_going(&self) -> bool {
        self.state
            .compare_exchange(State::Going.encode(), State::Gone.encode(), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

/// An opener inside its read-side critical section, from [`Unload::enter`]. Dropping it leaves
/// the section.
#[must_use = "dropping a Section leaves the critical section at once"]
pub struct Section<'a> {
    unload: &'a Unload,
    opener: usize,
}

impl<'a> Section<'a> {
    /// The opener slot.
    pub fn opener(&self) -> usize {
        self.opener
    }

    /// Reads whether the module is registered: [`Seen`] if it is [`State::Live`] (take the
    /// reference with [`Seen::take`]), else [`Refused`] and the section is left. The seed's
    /// window is between this read and the increment.
    pub fn look(self) -> Result<Seen<'a>, Refused> {
        let state = State::decode(self.unload.state.load(Ordering::SeqCst));
        if state == State::Live {
            Ok(Seen { section: self })
        } else {
            Err(Refused(state))
        }
    }
}

impl Drop for Section<'_> {
    fn drop(&mut self) {
        // Leave: a release, so whatever this section did (the increment) is visible to the
        // unloader that sees the counter change.
        self.unload.epochs[self.opener].fetch_add(1, Ordering::Release);
    }
}

impl fmt::Debug for Section<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Section").field("opener", &self.opener).finish()
    }
}

/// An opener that saw the module registered, still inside its critical section: the seed's
/// window is open until [`Seen::take`]. Dropping it leaves without taking a reference.
#[must_use = "dropping Seen leaves without taking the reference"]
#[derive(Debug)]
pub struct Seen<'a> {
    section: Section<'a>,
}

impl Seen<'_> {
    /// Takes the reference (increments the use count) and leaves the critical section. The
    /// grace period guarantees that the unloader sees this increment at step 4.
    pub fn take(self) {
        self.section.unload.refs.fetch_add(1, Ordering::SeqCst);
        // `self.section` drops here: leave.
    }
}

// Two attributes, not `all(test, not(loom))`: cargo-mutants skips a module only when its `cfg`
// is a plain `test`, and the tests' own helpers are not code to mutate.
#[cfg(test)]
#[cfg(not(loom))]
mod tests;
