//! Plain tests (no loom): every path of the state machine, deterministic interleavings driven
//! through the hook, the demonstration that the grace period is needed, and a short threaded
//! stress run.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicU64 as StdAtomicU64, Ordering as StdOrdering};
use std::sync::Arc;
use std::vec;
use std::vec::Vec;

fn no_sync() -> impl FnMut() -> Result<(), Late> {
    || Ok(())
}

/// For calls with no opener inside its critical section: the grace period has nobody to wait
/// for, so a `Waiting` is a bug (and would otherwise spin for ever).
fn no_hook() -> impl FnMut(Window) {
    |w| assert!(!matches!(w, Window::Waiting { .. }), "no opener is inside, yet waited: {w:?}")
}

fn unload(u: &Unload, mode: Mode) -> Outcome {
    u.unload(mode, &mut no_sync(), &mut no_hook())
}

/// A sync that fails (a core did not answer): the module is live again, untouched, in either
/// mode and for a forced removal (issue 12); once the cores answer, the unload succeeds.
#[test]
fn a_failed_sync_re_registers_and_frees_nothing() {
    for mode in [Mode::Busy, Mode::Wait] {
        let u = Unload::new(2);
        let out = u.unload(mode, &mut || Err(Late(0b100)), &mut no_hook());
        assert_eq!(out, Outcome::NotQuiescent(Late(0b100)));
        assert_eq!(u.state(), State::Live);
        u.open(0).unwrap();
        assert_eq!(u.close(), Closed::Remaining(0));
        assert_eq!(unload(&u, mode), Outcome::Removed);
    }
    let u = Unload::new(2);
    u.open(0).unwrap();
    assert_eq!(u.force(&mut || Err(Late(0b10)), &mut no_hook()), Err(ForceRefused::NotQuiescent(Late(0b10))));
    assert_eq!((u.state(), u.refs()), (State::Live, 1), "re-registered with its reference");
    assert_eq!(u.force(&mut no_sync(), &mut no_hook()), Ok(1));
    // A going module (a reference taken in `--wait`'s window) whose forced removal fails stays
    // going; if its last reference closes during the failed sync, the force removes it.
    let (u, out, _) = opener_inside_at_unregister(Mode::Wait);
    assert_eq!(out, Outcome::Deferred(1));
    assert_eq!(u.force(&mut || Err(Late(1)), &mut no_hook()), Err(ForceRefused::NotQuiescent(Late(1))));
    assert_eq!((u.state(), u.refs()), (State::Going, 1), "still going, its reference untouched");
    assert_eq!(u.close(), Closed::CompleteRemoval, "the deferred removal stands");
    let (u, _, _) = opener_inside_at_unregister(Mode::Wait);
    let got = u.force(
        &mut || {
            // The last holder closes while the sync waits: that close sees "Gone".
            assert_eq!(u.close(), Closed::Remaining(0));
            Err(Late(1))
        },
        &mut no_hook(),
    );
    assert_eq!(got, Ok(0), "the removal that close could not complete is done by the force");
    assert_eq!(u.state(), State::Gone);
}

#[test]
fn new_module_is_live_and_unused() {
    let u = Unload::new(4);
    assert_eq!(u.state(), State::Live);
    assert_eq!(u.refs(), 0);
    assert_eq!(u.openers(), 4);
}

#[test]
fn open_and_close_count_references() {
    let u = Unload::new(2);
    u.open(0).unwrap();
    u.open(1).unwrap();
    u.open(0).unwrap();
    assert_eq!(u.refs(), 3);
    assert_eq!(u.close(), Closed::Remaining(2));
    assert_eq!(u.close(), Closed::Remaining(1));
    assert_eq!(u.close(), Closed::Remaining(0));
    assert_eq!(u.refs(), 0);
    assert_eq!(u.state(), State::Live);
}

#[test]
fn close_never_underflows() {
    let u = Unload::new(1);
    assert_eq!(u.close(), Closed::Stale);
    assert_eq!(u.refs(), 0);
    u.open(0).unwrap();
    assert_eq!(u.close(), Closed::Remaining(0));
    assert_eq!(u.close(), Closed::Stale);
    assert_eq!(u.refs(), 0);
}

#[test]
fn step_1_refuses_while_used_and_changes_nothing() {
    let u = Unload::new(1);
    u.open(0).unwrap();
    u.open(0).unwrap();
    let mut synced = 0;
    let mut hooked = Vec::new();
    let out = u.unload(
        Mode::Wait,
        &mut || {
            synced += 1;
            Ok(())
        },
        &mut |w| hooked.push(w),
    );
    assert_eq!(out, Outcome::InUse(2));
    assert_eq!(u.state(), State::Live);
    assert_eq!(u.refs(), 2);
    assert_eq!(synced, 0, "no sync before unregistering");
    assert!(hooked.is_empty());
    u.open(0).unwrap();
}

#[test]
fn unused_module_is_removed_with_hooks_and_sync_in_order() {
    let u = Unload::new(3);
    let order = core::cell::RefCell::new(Vec::new());
    let out = u.unload(
        Mode::Busy,
        &mut || {
            order.borrow_mut().push("sync");
            Ok(())
        },
        &mut |w| {
            order.borrow_mut().push(match w {
                Window::AfterUnregister => "after-unregister",
                Window::Waiting { .. } => panic!("no opener is inside, yet waited: {w:?}"),
                Window::AfterSync => "after-sync",
            })
        },
    );
    assert_eq!(out, Outcome::Removed);
    assert_eq!(*order.borrow(), ["after-unregister", "sync", "after-sync"]);
    assert_eq!(u.state(), State::Gone);
    assert_eq!(u.refs(), 0);
    assert_eq!(u.open(1), Err(Refused(State::Gone)));
    assert_eq!(u.close(), Closed::Stale);
    assert_eq!(unload(&u, Mode::Busy), Outcome::NotLive(State::Gone));
}

#[test]
fn lsmod_sees_unloading_in_the_window_and_openers_are_refused() {
    let u = Unload::new(2);
    let out = u.unload(Mode::Busy, &mut no_sync(), &mut |w| {
        assert!(!matches!(w, Window::Waiting { .. }), "no opener is inside, yet waited: {w:?}");
        if w == Window::AfterUnregister {
            assert_eq!(u.state(), State::Unloading);
            // Opening in the window, after unregistering: refused.
            assert_eq!(u.open(1), Err(Refused(State::Unloading)));
            assert_eq!(u.refs(), 0);
        }
    });
    assert_eq!(out, Outcome::Removed);
}

/// Both orders of the seed's window, hand-driven. The opener entered its critical section
/// and saw "registered" before step 2; it increments only while the unloader waits for it.
fn opener_inside_at_unregister(mode: Mode) -> (Unload, Outcome, Vec<Window>) {
    let u = Unload::new(2);
    let mut seen = Some(u.enter(1).look().expect("live before unload"));
    let mut windows = Vec::new();
    let out = u.unload(mode, &mut no_sync(), &mut |w| {
        windows.push(w);
        if let Window::Waiting { opener } = w {
            assert_eq!(opener, 1);
            // The slow opener answers late: it takes its reference now.
            seen.take().expect("waited for once").take();
        }
    });
    drop(seen);
    (u, out, windows)
}

#[test]
fn busy_re_registers_when_an_opener_was_inside() {
    let (u, out, windows) = opener_inside_at_unregister(Mode::Busy);
    assert_eq!(out, Outcome::Busy(1));
    assert_eq!(windows, [Window::AfterUnregister, Window::Waiting { opener: 1 }, Window::AfterSync]);
    assert_eq!(u.state(), State::Live);
    assert_eq!(u.refs(), 1);
    u.open(0).unwrap();
    assert_eq!(u.refs(), 2);
    assert_eq!(u.close(), Closed::Remaining(1));
    assert_eq!(u.close(), Closed::Remaining(0));
    assert_eq!(unload(&u, Mode::Busy), Outcome::Removed);
}

#[test]
fn wait_defers_removal_to_the_last_close_exactly_once() {
    let (u, out, _) = opener_inside_at_unregister(Mode::Wait);
    assert_eq!(out, Outcome::Deferred(1));
    assert_eq!(u.state(), State::Going);
    assert_eq!(u.refs(), 1);
    assert_eq!(u.open(0), Err(Refused(State::Going)));
    assert_eq!(u.close(), Closed::CompleteRemoval);
    assert_eq!(u.state(), State::Gone);
    assert_eq!(u.close(), Closed::Stale);
    assert_eq!(u.open(0), Err(Refused(State::Gone)));
}

#[test]
fn wait_with_several_references_taken_in_the_window() {
    let u = Unload::new(3);
    let mut a = Some(u.enter(1).look().unwrap());
    let mut b = Some(u.enter(2).look().unwrap());
    let out = u.unload(Mode::Wait, &mut no_sync(), &mut |w| match w {
        Window::Waiting { opener: 1 } => a.take().unwrap().take(),
        Window::Waiting { opener: 2 } => b.take().unwrap().take(),
        Window::Waiting { opener } => panic!("opener {opener} is not inside, yet waited for"),
        _ => {}
    });
    assert_eq!(out, Outcome::Deferred(2));
    assert_eq!(u.close(), Closed::Remaining(1));
    assert_eq!(u.state(), State::Going);
    assert_eq!(u.close(), Closed::CompleteRemoval);
    assert_eq!(u.state(), State::Gone);
}

#[test]
fn a_reference_taken_and_dropped_in_the_window_does_not_block_removal() {
    // The late opener takes its reference while the unloader waits, and closes it again
    // before step 4: nothing is left, so the module is removed. (The other case, the last
    // close landing between step 4 and "Going", is covered by the loom model `wait_*`.)
    let u = Unload::new(1);
    let mut seen = Some(u.enter(0).look().unwrap());
    let out = u.unload(Mode::Wait, &mut no_sync(), &mut |w| {
        if let Window::Waiting { .. } = w {
            seen.take().unwrap().take();
            assert_eq!(u.close(), Closed::Remaining(0), "not Going yet: no completion");
        }
    });
    assert_eq!(out, Outcome::Removed);
    assert_eq!(u.state(), State::Gone);
}

#[test]
fn opener_that_entered_before_but_looks_in_the_window_is_refused_and_waited_for() {
    let u = Unload::new(1);
    let mut section = Some(u.enter(0));
    let mut waited = 0;
    let out = u.unload(Mode::Busy, &mut no_sync(), &mut |w| {
        if let Window::Waiting { opener: 0 } = w {
            waited += 1;
            let s = section.take().unwrap();
            assert_eq!(s.look().unwrap_err(), Refused(State::Unloading));
        }
    });
    assert_eq!(out, Outcome::Removed);
    assert_eq!(waited, 1);
    assert_eq!(u.refs(), 0);
}

#[test]
fn an_opener_outside_its_section_is_not_waited_for() {
    let u = Unload::new(4);
    u.open(2).unwrap();
    assert_eq!(u.close(), Closed::Remaining(0));
    let out = u.unload(Mode::Busy, &mut no_sync(), &mut |w| {
        assert!(!matches!(w, Window::Waiting { .. }), "waited for {w:?}");
    });
    assert_eq!(out, Outcome::Removed);
}

/// The grace period is what makes step 4 right. Same hand-driven interleaving both times: the
/// opener is inside (entered, saw "registered") when the module is unregistered, and its
/// increment comes late — once the unloader waits for it, or, without the wait, once the
/// unloader has answered.
#[test]
fn without_the_grace_period_a_reference_survives_removal() {
    // Without the wait: Removed, and then the opener's reference is taken on a gone module.
    let u = Unload::new(1);
    let seen = u.enter(0).look().expect("live");
    let out = u.unload_without_grace_period(Mode::Busy, &mut no_sync(), &mut no_hook());
    assert_eq!(out, Outcome::Removed, "the unloader saw a count of 0");
    seen.take(); // the slow opener answers late: `open` succeeded...
    assert_eq!(u.state(), State::Gone);
    assert_eq!(u.refs(), 1, "...and holds a reference to a removed module");

    // With the wait, the same interleaving is counted: Busy in one mode, Deferred in the other.
    for (mode, expect) in [(Mode::Busy, Outcome::Busy(1)), (Mode::Wait, Outcome::Deferred(1))] {
        let u = Unload::new(1);
        let mut seen = Some(u.enter(0).look().expect("live"));
        let out = u.unload(mode, &mut no_sync(), &mut |w| {
            if let Window::Waiting { .. } = w {
                seen.take().unwrap().take();
            }
        });
        assert_eq!(out, expect);
        assert_eq!(u.refs(), 1);
        assert_ne!(u.state(), State::Gone);
    }
}

#[test]
fn force_returns_the_outstanding_references() {
    let u = Unload::new(2);
    u.open(0).unwrap();
    u.open(1).unwrap();
    let mut synced = false;
    assert_eq!(
        u.force(
            &mut || {
                synced = true;
                Ok(())
            },
            &mut no_hook()
        ),
        Ok(2)
    );
    assert!(synced);
    assert_eq!(u.state(), State::Gone);
    assert_eq!(u.refs(), 0);
    assert_eq!(u.close(), Closed::Stale, "revoked references close as stale");
    assert_eq!(u.open(0), Err(Refused(State::Gone)));
    assert_eq!(u.force(&mut no_sync(), &mut no_hook()), Err(ForceRefused::State(State::Gone)));
}

#[test]
fn force_counts_an_opener_inside_the_window() {
    let u = Unload::new(1);
    let mut seen = Some(u.enter(0).look().unwrap());
    let got = u.force(&mut no_sync(), &mut |w| {
        if let Window::Waiting { .. } = w {
            seen.take().unwrap().take();
        }
    });
    assert_eq!(got, Ok(1));
    assert_eq!(u.refs(), 0);
}

#[test]
fn force_a_going_module() {
    let (u, out, _) = opener_inside_at_unregister(Mode::Wait);
    assert_eq!(out, Outcome::Deferred(1));
    assert_eq!(u.force(&mut no_sync(), &mut no_hook()), Ok(1));
    assert_eq!(u.state(), State::Gone);
    assert_eq!(u.close(), Closed::Stale, "the forced-out reference does not complete a removal");
}

#[test]
fn force_is_refused_during_an_unload() {
    let u = Unload::new(1);
    let out = u.unload(Mode::Busy, &mut no_sync(), &mut |w| {
        assert!(!matches!(w, Window::Waiting { .. }), "no opener is inside, yet waited: {w:?}");
        if w == Window::AfterUnregister {
            assert_eq!(u.force(&mut no_sync(), &mut no_hook()), Err(ForceRefused::State(State::Unloading)));
            assert_eq!(unload(&u, Mode::Wait), Outcome::NotLive(State::Unloading));
        }
    });
    assert_eq!(out, Outcome::Removed);
}

#[test]
#[should_panic(expected = "entered twice")]
fn one_slot_one_thread() {
    let u = Unload::new(1);
    let _a = u.enter(0);
    let _b = u.enter(0);
}

#[test]
fn dropping_a_seen_leaves_without_a_reference() {
    let u = Unload::new(1);
    drop(u.enter(0).look().unwrap());
    assert_eq!(u.refs(), 0);
    assert_eq!(unload(&u, Mode::Wait), Outcome::Removed);
}

#[test]
fn states_and_refusals_display_as_lsmod_shows_them() {
    let shown: Vec<_> =
        [State::Live, State::Unloading, State::Going, State::Gone].iter().map(|s| std::format!("{s}")).collect();
    assert_eq!(shown, ["live", "unloading", "going", "gone"]);
    assert_eq!(std::format!("{}", Refused(State::Going)), "module is going, not live");
    let u = Unload::new(1);
    assert_eq!(u.force(&mut no_sync(), &mut no_hook()), Ok(0));
    assert_eq!(std::format!("{}", u.open(0).unwrap_err()), "module is gone, not live");
}

#[test]
fn unload_debug_shows_state_refs_and_openers() {
    let u = Unload::new(3);
    u.open(1).unwrap();
    u.open(2).unwrap();
    assert_eq!(std::format!("{u:?}"), "Unload { state: Live, refs: 2, openers: 3 }");
}

#[test]
fn a_section_knows_its_slot() {
    let u = Unload::new(3);
    for slot in [0, 2, 1] {
        let section = u.enter(slot);
        assert_eq!(section.opener(), slot);
        assert_eq!(std::format!("{section:?}"), std::format!("Section {{ opener: {slot} }}"));
        let seen = section.look().unwrap();
        assert_eq!(std::format!("{seen:?}"), std::format!("Seen {{ section: Section {{ opener: {slot} }} }}"));
    }
}

/// Sets its flag when dropped: an opener thread marks that it has stopped, even by panicking.
struct Stopped(Arc<AtomicBool>);

impl Drop for Stopped {
    fn drop(&mut self) {
        self.0.store(true, StdOrdering::SeqCst);
    }
}

/// Real threads: openers on every slot open and close in a loop while the unloader tries
/// Busy unloads until one removes the module. Each opener checks, while it holds a reference,
/// that the module has not been removed; the remover marks the removal.
///
/// Once an opener is seen to have stopped (its last section left, its last reference closed)
/// the unloader may wait for it at most once more (its look at the counter may have come just
/// before the stop), and once all have stopped the next unload must remove the module: so a
/// broken count or grace period fails here instead of spinning for ever.
#[test]
fn threads_race_the_unloader() {
    for mode in [Mode::Busy, Mode::Wait] {
        for _ in 0..20 {
            let openers = 4;
            let u = Arc::new(Unload::new(openers));
            let removed = Arc::new(AtomicBool::new(false));
            let removals = Arc::new(StdAtomicU64::new(0));
            let stopped: Vec<_> = (0..openers).map(|_| Arc::new(AtomicBool::new(false))).collect();
            let threads: Vec<_> = (0..openers)
                .map(|slot| {
                    let (u, removed, removals) = (u.clone(), removed.clone(), removals.clone());
                    let stopped = Stopped(stopped[slot].clone());
                    std::thread::spawn(move || {
                        let _stopped = stopped;
                        let mut opened = 0u64;
                        while u.open(slot).is_ok() {
                            opened += 1;
                            assert!(!removed.load(StdOrdering::SeqCst), "used after removal");
                            if u.close() == Closed::CompleteRemoval {
                                removals.fetch_add(1, StdOrdering::SeqCst);
                                removed.store(true, StdOrdering::SeqCst);
                            }
                            if opened > 100_000 {
                                break;
                            }
                        }
                        opened
                    })
                })
                .collect();
            let mut outcomes = vec![];
            let mut waits_after_stop = vec![0u32; openers];
            loop {
                let all_stopped = stopped.iter().all(|s| s.load(StdOrdering::SeqCst));
                let out = u.unload(mode, &mut || Ok(()), &mut |w| {
                    if let Window::Waiting { opener } = w {
                        // Seeing the stop, the unloader's next look at the counter sees the
                        // opener's last "leave": at most one more wait for it, ever.
                        if stopped[opener].load(StdOrdering::SeqCst) {
                            waits_after_stop[opener] += 1;
                            assert!(waits_after_stop[opener] <= 1, "waited for stopped opener {opener}");
                        }
                        std::thread::yield_now();
                    }
                });
                outcomes.push(out);
                if all_stopped {
                    // Nobody holds or takes a reference any more, and the module is live
                    // (an earlier Deferred or Removed would have ended the loop).
                    assert_eq!(out, Outcome::Removed, "with every opener stopped, after {outcomes:?}");
                }
                match out {
                    Outcome::Removed => {
                        removals.fetch_add(1, StdOrdering::SeqCst);
                        removed.store(true, StdOrdering::SeqCst);
                        break;
                    }
                    Outcome::Deferred(_) | Outcome::NotLive(_) => break,
                    Outcome::InUse(_) | Outcome::Busy(_) => std::thread::yield_now(),
                    Outcome::NotQuiescent(_) => unreachable!("this sync never fails"),
                }
            }
            for t in threads {
                t.join().unwrap();
            }
            // Every opener closed every reference it took, so a deferred removal completed.
            assert_eq!(u.state(), State::Gone, "after {outcomes:?}");
            assert_eq!(u.refs(), 0);
            assert_eq!(removals.load(StdOrdering::SeqCst), 1, "removed exactly once");
        }
    }
}
