//! Loom models of the module server's session table (`unload::sessions`) with the use count of
//! the module a session is on (issue 12). Run with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p unload --release --test sessions_model
//! ```
//!
//! A session holds one reference on its module; whoever removes the session from the table
//! drops that reference (`Unload::close`). The invariant: every reference is dropped exactly
//! once, whatever races — two closes of one session (a module's failure cleanup racing
//! `rmmod --force` of it, both closing the sessions it held), a close racing a new open that
//! reuses the record, a stale id.
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use unload::sessions::{Session, Table};
use unload::Unload;

/// The module sessions are on, its table, and how many references were dropped.
struct World {
    target: Unload,
    table: Table,
    closes: AtomicUsize,
}

impl World {
    /// One open session (id returned) on a live module: one reference.
    fn with_one_session() -> (Arc<World>, u64) {
        let w = World { target: Unload::new(2), table: Table::new(2), closes: AtomicUsize::new(0) };
        w.target.open(0).unwrap();
        let id = w.table.insert(7, 3).unwrap();
        w.table.set_cap(id, 100);
        (Arc::new(w), id)
    }

    /// `close` as the server does it: end the session, then drop its reference.
    fn close(&self, id: u64, remove: fn(&Table, u64) -> Option<Session>) {
        if remove(&self.table, id).is_some() {
            self.closes.fetch_add(1, SeqCst);
            self.target.close();
        }
    }
}

fn two_closes(remove: fn(&Table, u64) -> Option<Session>) {
    loom::model(move || {
        let (w, id) = World::with_one_session();
        let w2 = w.clone();
        let other = thread::spawn(move || w2.close(id, remove));
        w.close(id, remove);
        other.join().unwrap();
        assert_eq!(w.closes.load(SeqCst), 1, "a session's reference was dropped twice");
        assert_eq!(w.target.refs(), 0);
        assert!(w.table.get(id).is_none());
    });
}

/// Failure cleanup and `rmmod --force` both close the sessions the module held: exactly one
/// of them drops each reference.
#[test]
fn two_closes_of_one_session_drop_its_reference_once() {
    two_closes(Table::remove);
}

/// The control: with the old three-step removal loom finds both closers getting the session.
#[test]
#[should_panic(expected = "dropped twice")]
fn with_the_three_step_removal_loom_finds_a_double_close() {
    two_closes(Table::remove_in_three_steps);
}

/// A stale close (the holder-side cleanup, which knows the module and holder it expects) races
/// the session's own close and a new open that reuses the record for another pair: the new
/// session survives, and each reference is dropped once.
#[test]
fn a_stale_close_never_ends_a_newer_session() {
    loom::model(|| {
        let (w, id) = World::with_one_session();
        let w2 = w.clone();
        let stale = thread::spawn(move || {
            if w2.table.remove_held(id, 3).is_some() {
                w2.closes.fetch_add(1, SeqCst);
                w2.target.close();
            }
        });
        // The session's own close, then a new session (the shell's, on module 8) that may land in
        // the same record.
        w.close(id, Table::remove);
        let newer = w.table.insert(8, 0).unwrap();
        stale.join().unwrap();
        assert_eq!(w.closes.load(SeqCst), 1);
        assert_eq!(w.target.refs(), 0);
        let s = w.table.get(newer).expect("the newer session is still open");
        assert_eq!((s.module, s.holder), (8, 0));
    });
}

/// Two openers insert at once: distinct records, each with its own capability.
#[test]
fn concurrent_inserts_get_distinct_records() {
    loom::model(|| {
        let t = Arc::new(Table::new(2));
        let t2 = t.clone();
        let other = thread::spawn(move || {
            let id = t2.insert(1, 0).unwrap();
            t2.set_cap(id, 11);
            id
        });
        let mine = t.insert(2, 0).unwrap();
        t.set_cap(mine, 22);
        let theirs = other.join().unwrap();
        assert_ne!(mine, theirs);
        assert_eq!(t.get(mine).map(|s| (s.module, s.cap)), Some((2, 22)));
        assert_eq!(t.get(theirs).map(|s| (s.module, s.cap)), Some((1, 11)));
        assert!(t.insert(3, 0).is_none(), "full");
    });
}
