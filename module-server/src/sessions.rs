//! The session table and the module directory: what the session-open path reads and writes.
//! Both are lock-free (arrays of atomics), so opening a session takes no lock that `rmmod`
//! takes — the race of the seed's protocol is really there, and `unload::Unload` makes it safe.

use abi::CPtr;
use alloc::format;
use alloc::string::String;
use unload::directory::{Directory, Pin};
pub use unload::sessions::Holder;
use unload::sessions::Table;
use unload::Unload;
use urt::cap::{Cap, Endpoint};

/// What the open path needs of a module: a record of the directory (`unload::directory`),
/// reused by a later load once its module is gone and no opener reads it any more.
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

/// A module's record, pinned: its contents stay as they are while this lives. The registry
/// entry of a module holds one from the load to the removal; an opener holds one while it
/// opens a session.
pub type Pinned = Pin<'static, Shared>;

static DIRECTORY: spin::Once<Directory<Shared>> = spin::Once::new();

fn directory() -> &'static Directory<Shared> {
    DIRECTORY.call_once(|| Directory::new(MODULES))
}

/// Takes a record for a module being loaded (not visible to openers yet). It may wait for an
/// opener that still reads the record's previous module to finish its open.
pub fn claim(shared: Shared) -> Result<Pinned, String> {
    let mut waits = 0;
    directory()
        .claim(shared, &mut || crate::service::wait_for_opener(&mut waits))
        .map_err(|_| format!("too many modules loaded (at most {MODULES}, failed ones included)"))
}

/// Makes a module visible to the open path.
pub fn publish(shared: &Pinned) {
    directory().publish(shared.index(), u64::from(shared.id));
}

/// Hides a module from the open path (openers already inside keep their pin; the protocol
/// refuses them).
pub fn withdraw(shared: &Pinned) {
    directory().withdraw(shared.index());
}

/// Gives a gone module's record back for reuse.
pub fn release(shared: Pinned) {
    directory().release(shared);
}

/// Records owned by modules now (the soak test checks they return to the baseline).
pub fn records() -> usize {
    directory().owned()
}

/// The published module named `name`.
pub fn find(name: &str) -> Option<Pinned> {
    directory().find(|s| s.name == name)
}

/// The published module with id `id`.
pub fn by_id(id: u32) -> Option<Pinned> {
    directory().find(|s| s.id == id)
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
