//! The module directory: a fixed number of records that the lock-free session-open path looks
//! modules up in, reused from one load to the next (issue 12: each load used to leak its
//! record, because an opener may still be reading a record after its module went).
//!
//! A record is read through a [`Pin`], a shared (read) lock on it that holds its contents still.
//! Its owner (the registry entry of the module) holds a pin from the load to the removal;
//! openers pin it while they open a session. A record's life:
//!
//! 1. [`Directory::claim`] takes a record nobody owns (one compare-and-swap on `owned`), waits
//!    until no stale pin is left on it (the `wait` callback between looks: the server yields
//!    or sleeps, so an opener of lower priority gets to finish), writes the new contents and
//!    returns the owner's pin. Only a claim ever writes a record.
//! 2. [`Directory::publish`] makes it visible to [`Directory::find`].
//! 3. [`Directory::withdraw`] hides it again; an opener that pinned it before still reads the
//!    same contents (the unload protocol then refuses it: the module is no longer live).
//! 4. [`Directory::release`] gives it up (the owner's pin goes); a later claim reuses it once
//!    every stale pin is gone.
//!
//! Nothing here blocks: `find` skips a record it cannot pin at once (only a claim holds the
//! write lock, and a record being claimed is not published), so the open path never waits for
//! the loader, and `withdraw`/`release` never wait for an opener (a forced removal must not).
//! `tests/directory_model.rs` checks with loom that a pinned record never changes under its
//! reader and that a claim never overwrites a record whose old contents someone still reads.

use crate::sync::{AtomicBool, AtomicU64, Ordering, ReadGuard, RwLock};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::Deref;

struct Record<T> {
    /// Set by the claim that owns the record, cleared by `release`.
    owned: AtomicBool,
    /// Non-zero (the key given to `publish`) while `find` may return the record.
    published: AtomicU64,
    /// The contents; `None` until first claimed.
    data: RwLock<Option<T>>,
}

/// `len` reusable records holding a `T` each.
pub struct Directory<T> {
    records: Box<[Record<T>]>,
}

/// A pinned record: its contents cannot change while this lives. Dropping it unpins.
pub struct Pin<'a, T> {
    guard: ReadGuard<'a, Option<T>>,
    index: usize,
}

impl<T> Pin<'_, T> {
    /// The record's index in the directory (for `publish`, `withdraw`, `release`).
    pub fn index(&self) -> usize {
        self.index
    }
}

impl<T> Deref for Pin<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // A pin is made only of a record that holds contents (`claim` wrote them; nothing
        // ever writes `None`).
        self.guard.as_ref().expect("a pinned record always holds contents")
    }
}

impl<T> Directory<T> {
    /// `len` unowned, empty records.
    pub fn new(len: usize) -> Directory<T> {
        let records: Vec<Record<T>> = (0..len)
            .map(|_| Record { owned: AtomicBool::new(false), published: AtomicU64::new(0), data: RwLock::new(None) })
            .collect();
        Directory { records: records.into_boxed_slice() }
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True if there is no record at all.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records owned now (for the soak test's figures).
    pub fn owned(&self) -> usize {
        self.records.iter().filter(|r| r.owned.load(Ordering::Acquire)).count()
    }

    /// Claims an unowned record, waits (calling `wait` between looks) until nobody pins its old
    /// contents, writes `value` and returns the owner's pin. `Err(value)` if every record is
    /// owned.
    pub fn claim(&self, value: T, wait: &mut dyn FnMut()) -> Result<Pin<'_, T>, T> {
        let take = |r: &Record<T>| {
            !r.owned.load(Ordering::Relaxed)
                && r.owned.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        };
        // First a record nobody pins (no waiting), then any unowned one (waiting for its pins).
        // (A finder that looked before the record was withdrawn may still pin it in between:
        // the wait below covers that, briefly.)
        let unpinned = self.records.iter().position(|r| r.data.try_read().is_some() && take(r));
        let Some(index) = unpinned.or_else(|| self.records.iter().position(take)) else {
            return Err(value);
        };
        let record = &self.records[index];
        // Not published (it was withdrawn before it was released), so no new opener pins it;
        // a stale pin from before the withdrawal lasts one open.
        let mut guard = loop {
            if let Some(g) = record.data.try_write() {
                break g;
            }
            wait();
        };
        *guard = Some(value);
        drop(guard);
        // Only this claimer writes the record until it is released, so the read lock is
        // always free of writers here; looping covers a lock that fails spuriously.
        loop {
            if let Some(guard) = record.data.try_read() {
                return Ok(Pin { guard, index });
            }
            wait();
        }
    }

    /// Makes record `index` visible to `find` under `key` (non-zero).
    pub fn publish(&self, index: usize, key: u64) {
        assert!(key != 0, "directory: key 0 means unpublished");
        self.records[index].published.store(key, Ordering::Release);
    }

    /// Hides record `index` from `find` (readers that pinned it keep reading it).
    pub fn withdraw(&self, index: usize) {
        self.records[index].published.store(0, Ordering::Release);
    }

    /// Gives record `index` up: its owner's pin goes, and a later claim may reuse it. Withdraws
    /// it first if it is still published.
    pub fn release(&self, owner: Pin<'_, T>) {
        let index = owner.index;
        self.withdraw(index);
        drop(owner);
        self.records[index].owned.store(false, Ordering::Release);
    }

    /// Pins the first published record whose contents satisfy `pred`. Never waits: a record it
    /// cannot pin at once is being written by a claim, so it is not published.
    pub fn find(&self, mut pred: impl FnMut(&T) -> bool) -> Option<Pin<'_, T>> {
        self.records.iter().enumerate().find_map(|(index, r)| {
            if r.published.load(Ordering::Acquire) == 0 {
                return None;
            }
            let guard = r.data.try_read()?;
            // Published is re-read under the pin: it may have been withdrawn (and the record
            // even claimed and written again) between the first look and the pin. With the
            // pin held nobody writes the record, and it is published only once written, so a
            // record published now holds the contents this pin sees.
            if r.published.load(Ordering::Acquire) == 0 {
                return None;
            }
            let value = guard.as_ref()?;
            if !pred(value) {
                return None;
            }
            Some(Pin { guard, index })
        })
    }

    /// Every published record, each pinned in turn (for listings).
    pub fn for_each(&self, mut f: impl FnMut(&T)) {
        for r in self.records.iter() {
            if r.published.load(Ordering::Acquire) == 0 {
                continue;
            }
            if let Some(guard) = r.data.try_read() {
                if r.published.load(Ordering::Acquire) != 0 {
                    if let Some(v) = guard.as_ref() {
                        f(v);
                    }
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn no_wait() {}

    #[test]
    fn claim_publish_find_withdraw_release_reuse() {
        let d: Directory<(u32, &str)> = Directory::new(2);
        let a = d.claim((1, "a"), &mut no_wait).ok().unwrap();
        assert!(d.find(|v| v.1 == "a").is_none(), "not published yet");
        d.publish(a.index(), 1);
        let seen = d.find(|v| v.1 == "a").expect("published");
        assert_eq!(*seen, (1, "a"));
        let b = d.claim((2, "b"), &mut no_wait).ok().unwrap();
        assert!(d.claim((3, "c"), &mut no_wait).is_err(), "every record owned");
        d.publish(b.index(), 2);
        let ia = a.index();
        d.release(a);
        assert!(d.find(|v| v.1 == "a").is_none(), "withdrawn");
        assert_eq!(*seen, (1, "a"), "a stale pin keeps reading the old contents");
        // The claim must wait for the stale pin: it is dropped by the wait callback.
        let mut stale = Some(seen);
        let mut waited = 0;
        let c = d
            .claim((3, "c"), &mut || {
                waited += 1;
                stale = None;
            })
            .ok()
            .unwrap();
        assert_eq!(c.index(), ia, "the released record is reused");
        assert_eq!(waited, 1, "the claim waited for the stale pin");
        assert_eq!(*c, (3, "c"));
        assert_eq!(d.owned(), 2);
        let mut listed = Vec::new();
        d.for_each(|v| listed.push(v.0));
        assert_eq!(listed, [2], "c is not published yet");
        drop(b);
        drop(c);
    }
}
