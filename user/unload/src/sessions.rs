//! The module server's session table, as lock-free shared state that the loom models check
//! (issue 12): a fixed array of records, each `VALID | module << 32 | holder`, and the
//! capability slot the server holds for it.
//!
//! Every change of a record is one atomic operation on its word, so concurrent callers agree on
//! who did what:
//! - [`Table::insert`] claims a free record with one compare-and-swap;
//! - [`Table::remove`] ends a session with one compare-and-swap from the exact record it read
//!   to free: of two concurrent removals of one session (a module's failure cleanup racing
//!   `rmmod --force`, a client closing twice) exactly one gets the session back, and so exactly
//!   one releases its reference. (Removal used to read, swap the capability and store 0 in three
//!   steps: both removers released, and the use count dropped for a session still held.)
//!
//! A record is reused after removal, so a stale id may name a newer session. The cleanup of a
//! holder that is gone therefore removes only sessions that holder holds
//! ([`Table::remove_held`]): a newer session of another holder is never removed by its stale
//! ids. The capability word is claimed with the record: the winner
//! of the removal takes it.

use crate::sync::{AtomicU64, Ordering};
use alloc::boxed::Box;
use alloc::vec::Vec;

const VALID: u64 = 1 << 63;
/// No capability recorded ([`Table::set_cap`] not called yet, or the session's capability was
/// handed to the holder).
pub const NO_CAP: u64 = u64::MAX;

/// Who holds a session: 0 the shell, else the holding module's id.
pub type Holder = u32;

/// A session as recorded: the module it is on, its holder, and the server's capability slot
/// ([`NO_CAP`] if none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    /// The module's registry id.
    pub module: u32,
    /// Who holds it.
    pub holder: Holder,
    /// The server's capability slot for it.
    pub cap: u64,
}

/// The table: `len` records.
pub struct Table {
    records: Box<[AtomicU64]>,
    caps: Box<[AtomicU64]>,
}

fn encode(module: u32, holder: Holder) -> Option<u64> {
    (module < 1 << 31).then_some(VALID | (u64::from(module) << 32) | u64::from(holder))
}

fn decode(v: u64) -> Option<(u32, Holder)> {
    (v & VALID != 0).then_some(((v >> 32) as u32 & 0x7fff_ffff, v as u32))
}

impl Table {
    /// A table of `len` free records.
    pub fn new(len: usize) -> Table {
        Table {
            records: (0..len).map(|_| AtomicU64::new(0)).collect::<Vec<_>>().into_boxed_slice(),
            caps: (0..len).map(|_| AtomicU64::new(NO_CAP)).collect::<Vec<_>>().into_boxed_slice(),
        }
    }

    fn index(&self, id: u64) -> Option<usize> {
        let i = usize::try_from(id.checked_sub(1)?).ok()?;
        (i < self.records.len()).then_some(i)
    }

    /// Records a session of `holder` on `module`; returns its id (index + 1: a non-zero badge),
    /// or `None` if the table is full (or the module id does not fit a record).
    pub fn insert(&self, module: u32, holder: Holder) -> Option<u64> {
        let value = encode(module, holder)?;
        let i = self.records.iter().position(|r| {
            r.load(Ordering::Relaxed) == 0 && r.compare_exchange(0, value, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        })?;
        self.caps[i].store(NO_CAP, Ordering::Release);
        Some(i as u64 + 1)
    }

    /// Sets the server's capability slot of session `id` (only its opener does, before it
    /// hands the id out).
    pub fn set_cap(&self, id: u64, cap: u64) {
        if let Some(i) = self.index(id) {
            self.caps[i].store(cap, Ordering::Release);
        }
    }

    /// Session `id`, if it is open.
    pub fn get(&self, id: u64) -> Option<Session> {
        let i = self.index(id)?;
        let (module, holder) = decode(self.records[i].load(Ordering::Acquire))?;
        Some(Session { module, holder, cap: self.caps[i].load(Ordering::Acquire) })
    }

    /// Ends session `id`, whatever it records; returns it to the one caller that ended it.
    pub fn remove(&self, id: u64) -> Option<Session> {
        let i = self.index(id)?;
        let v = self.records[i].load(Ordering::Acquire);
        let (module, holder) = decode(v)?;
        self.take(i, v, module, holder)
    }

    /// Ends session `id` only if `holder` holds it: the cleanup of a holder that is gone (its
    /// record reused since by another holder's session is left alone; the gone holder itself
    /// can open nothing more).
    pub fn remove_held(&self, id: u64, holder: Holder) -> Option<Session> {
        let i = self.index(id)?;
        let v = self.records[i].load(Ordering::Acquire);
        let (module, h) = decode(v)?;
        if h != holder {
            return None;
        }
        self.take(i, v, module, holder)
    }

    /// The removal as it was before issue 12: read, swap the capability, store 0 — three steps,
    /// so two removers can both get the session. Only for the loom control model.
    #[cfg(any(test, loom))]
    pub fn remove_in_three_steps(&self, id: u64) -> Option<Session> {
        let i = self.index(id)?;
        let (module, holder) = decode(self.records[i].load(Ordering::Acquire))?;
        let cap = self.caps[i].swap(NO_CAP, Ordering::AcqRel);
        self.records[i].store(0, Ordering::Release);
        Some(Session { module, holder, cap })
    }

    fn take(&self, i: usize, v: u64, module: u32, holder: Holder) -> Option<Session> {
        // The capability is read before the record is freed: once it is free a new opener may
        // claim it and store its own capability.
        let cap = self.caps[i].load(Ordering::Acquire);
        self.records[i].compare_exchange(v, 0, Ordering::AcqRel, Ordering::Acquire).ok()?;
        Some(Session { module, holder, cap })
    }

    /// Every open session: (id, module, holder).
    pub fn all(&self) -> impl Iterator<Item = (u64, u32, Holder)> + '_ {
        self.records.iter().enumerate().filter_map(|(i, r)| {
            let (module, holder) = decode(r.load(Ordering::Acquire))?;
            Some((i as u64 + 1, module, holder))
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove() {
        let t = Table::new(2);
        let a = t.insert(5, 0).unwrap();
        let b = t.insert(6, 5).unwrap();
        assert_eq!(t.insert(7, 0), None, "full");
        t.set_cap(a, 40);
        assert_eq!(t.get(a), Some(Session { module: 5, holder: 0, cap: 40 }));
        assert_eq!(t.get(b).map(|s| s.cap), Some(NO_CAP));
        assert_eq!(t.remove(a).map(|s| s.cap), Some(40));
        assert_eq!(t.remove(a), None, "a second removal gets nothing");
        assert_eq!(t.get(a), None);
        assert_eq!(t.get(0), None);
        assert_eq!(t.get(3), None);
        assert_eq!(t.remove(u64::MAX), None);
        let c = t.insert(8, 0).unwrap();
        assert_eq!(c, a, "the record is reused");
        assert_eq!(t.get(c).map(|s| s.cap), Some(NO_CAP), "with no capability of the old session");
        assert_eq!(t.remove_held(c, 5), None, "a stale id of another holder removes nothing");
        assert_eq!(t.remove_held(c, 0).map(|s| s.module), Some(8));
        assert_eq!(t.all().collect::<Vec<_>>(), [(b, 6, 5)]);
        assert_eq!(t.insert(1 << 31, 0), None, "a module id that does not fit");
    }

    #[test]
    fn concurrent_removals_end_a_session_once() {
        use std::sync::Arc;
        for _ in 0..200 {
            let t = Arc::new(Table::new(4));
            let id = t.insert(3, 0).unwrap();
            let wins: usize = (0..4)
                .map(|_| {
                    let t = t.clone();
                    std::thread::spawn(move || usize::from(t.remove(id).is_some()))
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .sum();
            assert_eq!(wins, 1);
        }
    }
}
