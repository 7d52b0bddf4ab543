//! The session table and the module directory: what the session-open path reads and writes.
//! Both are lock-free (arrays of atomics), so opening a session takes no lock that `rmmod`
//! takes — the race of the seed's protocol is really there, and `unload::Unload` makes it safe.

use abi::CPtr;
use core::sync::atomic::{AtomicPtr, Ordering};
pub use unload::sessions::Holder;
use unload::sessions::Table;
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
    /// The kernel's id of that endpoint (`CapInfo`): a session capability minted from `ep` must
    /// name it (a forced removal frees the slot, which may hold another object by the time a
    /// slow opener mints from it).
    pub ep_object: u64,
    /// The protocol state: registered or not, and the reference count.
    pub unload: Unload,
}

/// Most modules loaded at once.
pub const MODULES: usize = 64;
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

/// The session table (`unload::sessions`, loom-checked): one compare-and-swap per change.
static TABLE: spin::Once<Table> = spin::Once::new();

fn table() -> &'static Table {
    TABLE.call_once(|| Table::new(SESSIONS))
}

/// Records a session; returns its id (index + 1: a non-zero badge).
pub fn insert(module: u32, holder: Holder) -> Option<u64> {
    table().insert(module, holder)
}

/// Sets the capability of session `id` (`CPtr::NONE`: held in a module's CNode).
pub fn set_cap(id: u64, cap: CPtr) {
    table().set_cap(id, cap.0);
}

/// Session `id`: (module, holder, capability).
pub fn get(id: u64) -> Option<(u32, Holder, CPtr)> {
    table().get(id).map(|s| (s.module, s.holder, CPtr(s.cap)))
}

/// Removes session `id`; returns what it was to the one caller that removed it.
pub fn remove(id: u64) -> Option<(u32, Holder, CPtr)> {
    table().remove(id).map(|s| (s.module, s.holder, CPtr(s.cap)))
}

/// Removes session `id` only if `holder` holds it (the cleanup of a holder that is gone).
pub fn remove_held(id: u64, holder: Holder) -> Option<(u32, Holder, CPtr)> {
    table().remove_held(id, holder).map(|s| (s.module, s.holder, CPtr(s.cap)))
}

/// Every open session: (id, module, holder).
pub fn all() -> impl Iterator<Item = (u64, u32, Holder)> {
    table().all()
}
