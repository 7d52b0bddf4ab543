//! The session table and the module directory: what the session-open path reads and writes.
//! Both are lock-free (arrays of atomics), so opening a session takes no lock that `rmmod`
//! takes — the race of the seed's protocol is really there, and `unload::Unload` makes it safe.

use abi::CPtr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use unload::Unload;
use urt::cap::{Cap, Endpoint};

/// What the open path needs of a module. Made once per load and never freed (openers may hold
/// a reference at any time; a few hundred bytes per load).
pub struct Shared {
    /// Registry id.
    pub id: u32,
    /// Its name (for lookup).
    pub name: alloc::string::String,
    /// The original endpoint capability; sessions are minted from it.
    pub ep: Cap<Endpoint>,
    /// The protocol state: registered or not, and the reference count.
    pub unload: Unload,
}

/// Most modules loaded at once.
const MODULES: usize = 64;
/// Most sessions open at once.
pub const SESSIONS: usize = 1024;
/// Opener slots (see `unload::Unload::new`): 0 the shell, 1 the service thread, then one per
/// stress-test client (up to 16).
pub const OPENERS: usize = 18;

static DIRECTORY: [AtomicPtr<Shared>; MODULES] = [const { AtomicPtr::new(core::ptr::null_mut()) }; MODULES];

/// Publishes a module for the open path.
pub fn publish(shared: &'static Shared) -> bool {
    let p = shared as *const Shared as *mut Shared;
    DIRECTORY
        .iter()
        .any(|slot| slot.compare_exchange(core::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Relaxed).is_ok())
}

/// Every published module.
fn published() -> impl Iterator<Item = &'static Shared> {
    // SAFETY: every non-null pointer in the directory comes from `publish` of a leaked
    // `&'static Shared`, never freed.
    DIRECTORY.iter().filter_map(|slot| unsafe { slot.load(Ordering::Acquire).as_ref() })
}

/// Takes a module out of the directory (after it is gone).
pub fn withdraw(id: u32) {
    for slot in &DIRECTORY {
        // SAFETY: as in `published`.
        if unsafe { slot.load(Ordering::Acquire).as_ref() }.is_some_and(|s| s.id == id) {
            slot.store(core::ptr::null_mut(), Ordering::Release);
        }
    }
}

/// The published module named `name`.
pub fn find(name: &str) -> Option<&'static Shared> {
    published().find(|s| s.name == name)
}

/// The published module with id `id`.
pub fn by_id(id: u32) -> Option<&'static Shared> {
    published().find(|s| s.id == id)
}

/// A session record: `module id << 32 | holder` (holder 0: the shell, else a module id),
/// with bit 63 set while valid; and the capability slot the server holds for it.
static RECORDS: [AtomicU64; SESSIONS] = [const { AtomicU64::new(0) }; SESSIONS];
static CAPS: [AtomicU64; SESSIONS] = [const { AtomicU64::new(u64::MAX) }; SESSIONS];
const VALID: u64 = 1 << 63;

/// Who holds a session: 0 the shell, else the holding module's id.
pub type Holder = u32;

/// Records a session; returns its id (index + 1: a non-zero badge).
pub fn insert(module: u32, holder: Holder) -> Option<u64> {
    let value = VALID | (u64::from(module) << 32) | u64::from(holder);
    RECORDS
        .iter()
        .position(|r| r.compare_exchange(0, value, Ordering::AcqRel, Ordering::Relaxed).is_ok())
        .map(|i| i as u64 + 1)
}

/// Sets the capability of session `id` (`CPtr::NONE`: held in a module's CNode).
pub fn set_cap(id: u64, cap: CPtr) {
    if let Some(c) = CAPS.get(id as usize - 1) {
        c.store(cap.0, Ordering::Release);
    }
}

/// Session `id`: (module, holder, capability).
pub fn get(id: u64) -> Option<(u32, Holder, CPtr)> {
    let i = usize::try_from(id.checked_sub(1)?).ok()?;
    let v = RECORDS.get(i)?.load(Ordering::Acquire);
    (v & VALID != 0).then(|| ((v >> 32) as u32 & 0x7fff_ffff, v as u32, CPtr(CAPS[i].load(Ordering::Acquire))))
}

/// Removes session `id`; returns what it was.
pub fn remove(id: u64) -> Option<(u32, Holder, CPtr)> {
    let found = get(id)?;
    let i = id as usize - 1;
    let cap = CAPS[i].swap(u64::MAX, Ordering::AcqRel);
    RECORDS[i].store(0, Ordering::Release);
    Some((found.0, found.1, CPtr(cap)))
}

/// Every open session: (id, module, holder).
pub fn all() -> impl Iterator<Item = (u64, u32, Holder)> {
    RECORDS.iter().enumerate().filter_map(|(i, r)| {
        let v = r.load(Ordering::Acquire);
        (v & VALID != 0).then(|| (i as u64 + 1, (v >> 32) as u32 & 0x7fff_ffff, v as u32))
    })
}
