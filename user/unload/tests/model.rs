//! Loom models of the unload protocol: every interleaving (and every weak-memory outcome loom
//! knows) of openers racing the unloader, checked against the invariants. Run with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p unload --release --test model
//! ```
//!
//! Without `--cfg loom` this file is empty. The library's atomics are loom's in that build, so
//! this checks the library's own code.
//!
//! The module's memory is a `loom::cell::UnsafeCell`: an opener "uses" it (a read access)
//! while it holds a reference, and whoever is told to remove the module (`Outcome::Removed`,
//! `Closed::CompleteRemoval`) "frees" it (a write access). Loom fails the model if the free
//! does not happen after every use — i.e. if a module is removed while a reference obtained
//! by a successful `open` is still in use. `removals` counts removals (exactly once).
//!
//! `sync` (the kernel's cross-core sync) is modelled as a no-op or as a `SeqCst` fence on the
//! unloader: in neither case does it wait for a preempted opener, so the grace period is what
//! must make the protocol correct — `without_the_grace_period_loom_finds_the_race` shows that
//! without it, it is not.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use unload::{Closed, Mode, Outcome, State, Unload, Window};

struct Module {
    unload: Unload,
    memory: UnsafeCell<u64>,
    removals: AtomicUsize,
}

impl Module {
    fn new(openers: usize) -> Arc<Module> {
        Arc::new(Module { unload: Unload::new(openers), memory: UnsafeCell::new(0), removals: AtomicUsize::new(0) })
    }

    /// Uses module code/data: only legal while holding a reference.
    fn use_it(&self) {
        self.memory.with(|_| ());
    }

    /// Exit routine, unmap, free: loom checks it happens after every use.
    fn remove(&self) {
        self.removals.fetch_add(1, SeqCst);
        self.memory.with_mut(|_| ());
    }

    /// An opener that opens, uses, and (if `close`) closes again; returns whether the open
    /// succeeded. Completes the removal if its close is the last of a going module.
    fn opener(&self, slot: usize, close: bool) -> bool {
        if self.unload.open(slot).is_err() {
            return false;
        }
        self.use_it();
        if close && self.unload.close() == Closed::CompleteRemoval {
            self.remove();
        }
        true
    }

    /// The unloader: runs the protocol, removes the module if told to.
    fn unloader(&self, mode: Mode, sync: SyncKind) -> Outcome {
        let out = self.unload.unload(mode, &mut sync.run(), &mut yielding);
        if out == Outcome::Removed {
            self.remove();
        }
        out
    }
}

/// How step 3's `sync` is modelled.
#[derive(Clone, Copy)]
enum SyncKind {
    Nop,
    Fence,
}

impl SyncKind {
    fn run(self) -> impl FnMut() -> Result<(), unload::Late> {
        move || {
            if let SyncKind::Fence = self {
                fence(SeqCst)
            }
            Ok(())
        }
    }
}

/// The module server's hook: yield while the grace period waits (loom needs spin loops to
/// yield; on the real system the opener may be descheduled on the unloader's core).
fn yielding(w: Window) {
    if let Window::Waiting { .. } = w {
        thread::yield_now();
    }
}

fn spin_until(flag: &AtomicBool) {
    while !flag.load(SeqCst) {
        thread::yield_now();
    }
}

/// Busy mode, an opener that keeps its reference racing the unloader, in every order around
/// the window between steps 2 and 4. Removed ⇒ the open failed (and no later open succeeds,
/// the count is 0); otherwise the module ends Live with exactly the opener's reference.
fn busy_race(sync: SyncKind) {
    loom::model(move || {
        let m = Module::new(1);
        let o = m.clone();
        let opener = thread::spawn(move || o.opener(0, false));
        let out = m.unloader(Mode::Busy, sync);
        let opened = opener.join().unwrap();
        match out {
            Outcome::Removed => {
                assert!(!opened, "removed while a reference is held");
                assert_eq!(m.unload.state(), State::Gone);
                assert_eq!(m.unload.refs(), 0);
                assert!(m.unload.open(0).is_err());
                assert_eq!(m.unload.close(), Closed::Stale);
            }
            Outcome::InUse(1) | Outcome::Busy(1) => {
                assert!(opened);
                assert_eq!(m.unload.state(), State::Live);
                assert_eq!(m.unload.refs(), 1);
            }
            other => panic!("unexpected {other:?} (opened: {opened})"),
        }
    });
}

#[test]
fn busy_opener_races_unloader_sync_nop() {
    busy_race(SyncKind::Nop);
}

#[test]
fn busy_opener_races_unloader_sync_fence() {
    busy_race(SyncKind::Fence);
}

/// Wait mode, an opener that opens, uses and closes racing the unloader: the module is removed
/// exactly once (by the unloader or by the last close, never both, never neither) unless the
/// unloader found it in use at step 1; never while the reference is in use; the count ends 0.
fn wait_race(sync: SyncKind) {
    loom::model(move || {
        let m = Module::new(1);
        let o = m.clone();
        let opener = thread::spawn(move || o.opener(0, true));
        let out = m.unloader(Mode::Wait, sync);
        let opened = opener.join().unwrap();
        let removals = m.removals.load(SeqCst);
        match out {
            Outcome::InUse(1) => {
                assert!(opened);
                assert_eq!(removals, 0);
                assert_eq!(m.unload.state(), State::Live);
            }
            Outcome::Removed | Outcome::Deferred(1) => {
                assert_eq!(removals, 1, "{out:?}: removed exactly once");
                assert_eq!(m.unload.state(), State::Gone);
                if let Outcome::Deferred(_) = out {
                    assert!(opened);
                }
            }
            other => panic!("unexpected {other:?} (opened: {opened})"),
        }
        assert_eq!(m.unload.refs(), 0);
    });
}

#[test]
fn wait_last_close_completes_removal_once_sync_nop() {
    wait_race(SyncKind::Nop);
}

#[test]
fn wait_last_close_completes_removal_once_sync_fence() {
    wait_race(SyncKind::Fence);
}

/// The opener answers late: it entered its critical section and saw "registered" before the
/// unloader starts, then is descheduled (explicitly here; loom also preempts it anywhere)
/// before it increments. The unloader must count it: InUse or Busy/Deferred, never Removed
/// while it then holds the reference.
fn slow_opener(mode: Mode) {
    loom::model(move || {
        let m = Module::new(1);
        let saw_live = Arc::new(AtomicBool::new(false));
        let (o, saw) = (m.clone(), saw_live.clone());
        let opener = thread::spawn(move || {
            let seen = o.unload.enter(0).look().expect("live before the unload starts");
            saw.store(true, SeqCst);
            thread::yield_now(); // descheduled inside the critical section
            seen.take();
            o.use_it();
            if mode == Mode::Wait && o.unload.close() == Closed::CompleteRemoval {
                o.remove();
            }
        });
        spin_until(&saw_live);
        let out = m.unloader(mode, SyncKind::Nop);
        opener.join().unwrap();
        match (mode, out) {
            (Mode::Busy, Outcome::InUse(1) | Outcome::Busy(1)) => {
                assert_eq!(m.unload.state(), State::Live);
                assert_eq!(m.unload.refs(), 1);
                assert_eq!(m.removals.load(SeqCst), 0);
            }
            (Mode::Wait, Outcome::InUse(_)) => {
                assert_eq!(m.unload.state(), State::Live);
                assert_eq!(m.removals.load(SeqCst), 0);
            }
            // Removed only if the late reference was closed again before step 4.
            (Mode::Wait, Outcome::Deferred(1) | Outcome::Removed) => {
                assert_eq!(m.unload.state(), State::Gone);
                assert_eq!(m.removals.load(SeqCst), 1);
            }
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn slow_opener_inside_at_unregister_busy() {
    slow_opener(Mode::Busy);
}

#[test]
fn slow_opener_inside_at_unregister_wait() {
    slow_opener(Mode::Wait);
}

/// The other order: the opener starts only once the window is open (after step 2). It must be
/// refused, and the module removed.
#[test]
fn opener_starting_in_the_window_is_refused() {
    loom::model(|| {
        let m = Module::new(1);
        let window = Arc::new(AtomicBool::new(false));
        let (o, w) = (m.clone(), window.clone());
        let opener = thread::spawn(move || {
            spin_until(&w);
            o.opener(0, false)
        });
        let out = m.unload.unload(Mode::Busy, &mut || Ok(()), &mut |at| {
            if at == Window::AfterUnregister {
                window.store(true, SeqCst);
            }
            yielding(at);
        });
        if out == Outcome::Removed {
            m.remove();
        }
        assert!(!opener.join().unwrap(), "opened after unregistering");
        assert_eq!(out, Outcome::Removed);
        assert_eq!(m.unload.refs(), 0);
    });
}

/// Forced unload racing an opener: every successful open is in the count `force` returns
/// (so it gets revoked), and the module ends Gone with a count of 0.
#[test]
fn force_counts_every_successful_open() {
    loom::model(|| {
        let m = Module::new(1);
        let o = m.clone();
        let opener = thread::spawn(move || o.unload.open(0).is_ok());
        let revoked = m.unload.force(&mut || Ok(()), &mut yielding).expect("live");
        let opened = opener.join().unwrap();
        assert_eq!(revoked, u64::from(opened), "every reference is revoked");
        assert_eq!(m.unload.state(), State::Gone);
        assert_eq!(m.unload.refs(), 0);
    });
}

/// Three threads: two openers (two slots) that open, use and close, and the unloader. Loom's
/// preemption bound is 4 here (unbounded takes more than ten minutes). This model found a
/// real bug in an earlier `close`: opener A drops the last reference while the module is
/// `Unloading` and is preempted before reading the state; opener B (inside the window) takes
/// a reference, the unloader sees it and stores "Going"; A resumes, reads "Going" and
/// completed the removal while B still used the module. `close` now re-reads the count
/// after seeing "Going".
fn two_openers(mode: Mode) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(4);
    builder.check(move || {
        let m = Module::new(2);
        let openers: Vec<_> = (0..2)
            .map(|slot| {
                let o = m.clone();
                thread::spawn(move || o.opener(slot, true))
            })
            .collect();
        let out = m.unloader(mode, SyncKind::Nop);
        for o in openers {
            o.join().unwrap();
        }
        let removals = m.removals.load(SeqCst);
        match (mode, out) {
            (_, Outcome::InUse(_)) | (Mode::Busy, Outcome::Busy(_)) => {
                assert_eq!(removals, 0);
                assert_eq!(m.unload.state(), State::Live);
            }
            (_, Outcome::Removed) | (Mode::Wait, Outcome::Deferred(_)) => {
                assert_eq!(removals, 1, "{out:?}: removed exactly once");
                assert_eq!(m.unload.state(), State::Gone);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(m.unload.refs(), 0);
    });
}

#[test]
fn two_openers_wait() {
    two_openers(Mode::Wait);
}

#[test]
fn two_openers_busy() {
    two_openers(Mode::Busy);
}

/// The control: the same race as `busy_race` with the grace period removed (only `sync`, here
/// a fence). Loom finds the interleaving in which the opener saw "registered", the unloader
/// read a count of 0 and answered Removed, and then the opener's reference was taken.
#[test]
#[should_panic(expected = "removed while a reference is held")]
fn without_the_grace_period_loom_finds_the_race() {
    loom::model(|| {
        let m = Module::new(1);
        let o = m.clone();
        let opener = thread::spawn(move || o.unload.open(0).is_ok());
        let out = m.unload.unload_without_grace_period(Mode::Busy, &mut SyncKind::Fence.run(), &mut yielding);
        let opened = opener.join().unwrap();
        if out == Outcome::Removed {
            assert!(!opened, "removed while a reference is held");
        }
    });
}
