//! Loom models of the module directory (`unload::directory`, issue 12): records reused from
//! one load to the next while openers may still be reading them. Run with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p unload --release --test directory_model
//! ```
//!
//! The contents of a record are a pair that is always written together: `(id, id * 10)`. A
//! reader that ever sees a pair out of step, or whose pinned pair changes under it, has read a
//! record while a claim rewrote it. (loom also reports the write itself as a data race, since
//! it checks the lock's cell.)
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use unload::directory::Directory;

fn wait() {
    thread::yield_now();
}

/// A module is loaded (record claimed, published), removed (withdrawn, released) and another
/// loaded in the same record, while an opener looks the first one up and reads it.
#[test]
fn a_pinned_record_never_changes_under_its_reader() {
    loom::model(|| {
        let d: Arc<Directory<(u64, u64)>> = Arc::new(Directory::new(1));
        let first = d.claim((1, 10), &mut wait).ok().unwrap();
        d.publish(first.index(), 1);
        let d2 = d.clone();
        let opener = thread::spawn(move || {
            if let Some(p) = d2.find(|v| v.0 == 1) {
                let before = *p;
                thread::yield_now();
                let after = *p;
                assert_eq!(before, (1, 10), "found the record of module 1 with other contents");
                assert_eq!(before, after, "a pinned record changed under its reader");
            }
            // Whatever is found by the other key is wholly the second module's.
            if let Some(p) = d2.find(|v| v.0 == 2) {
                assert_eq!(*p, (2, 20));
            }
        });
        // rmmod, then insmod of another module that reuses the record.
        d.release(first);
        let second = d.claim((2, 20), &mut wait).ok().unwrap();
        d.publish(second.index(), 2);
        assert_eq!(*second, (2, 20));
        opener.join().unwrap();
        drop(second);
    });
}

/// Two loaders claim at once with one free record: exactly one gets it, and the other is
/// told the directory is full (its value comes back).
#[test]
fn two_claims_of_the_last_record() {
    loom::model(|| {
        let d: Arc<Directory<(u64, u64)>> = Arc::new(Directory::new(1));
        let d2 = d.clone();
        let other = thread::spawn(move || d2.claim((2, 20), &mut wait).map(|p| *p).map_err(|v| v.0));
        let mine = d.claim((1, 10), &mut wait).map(|p| *p).map_err(|v| v.0);
        let theirs = other.join().unwrap();
        // A claim's pin is dropped at once here, so the record stays owned: one winner.
        assert!(mine.is_ok() != theirs.is_ok(), "both or neither claimed the one record");
        assert_eq!(d.owned(), 1);
    });
}
