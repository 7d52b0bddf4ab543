//! Sessions, unloading and faults: the open path (lock-free), `close`, `rmmod` following the
//! seed's protocol, failure handling, and the service thread that answers modules' requests.
//!
//! `rmmod` (see `unload::Unload::unload` for the state machine, and the README for the
//! sequence diagram):
//! 1. refuse while used, naming the users;
//! 2. unregister: no new session can start;
//! 3. the cross-core sync (`Sync` syscall: every core passes a quiescent point), then the
//!    openers' grace period;
//! 4. check the count again;
//! 5. if zero: the module's exit routine, revoke its capabilities (its quota), which unmaps its
//!    pages on every core and frees its memory;
//! 6. if the count rose in the window: re-register and report busy, or with `--wait` leave it
//!    going and remove it when the last reference closes.

use crate::registry;
use crate::sessions::{self, Holder, Shared};
use crate::{loader, pool, server_ep, REGISTRY};
use abi::{CPtr, FaultKind, Rights, FAULT_LABEL};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use unload::{Closed, ForceRefused, Late, Mode, Outcome, Window};
use urt::cap::{Cap, Endpoint};
use urt::{cspace, println, sys};

/// Opens a session on module `name` for `holder` (0: the shell), as opener `opener`: takes a
/// reference (`Unload::open`, lock-free), mints a capability with the session id as badge
/// from the module's endpoint into a new server slot. Returns the session id and that slot.
///
/// The slot is recorded with the session only for the shell (`holder` 0), which closes its
/// sessions itself; a module's session capability is moved to the module by the service thread,
/// which owns the slot meanwhile (a cleanup of a gone holder that ran in between would
/// otherwise delete and free a slot the service thread is still using).
pub fn open(name: &str, holder: Holder, opener: usize) -> Result<(u64, Cap<Endpoint>), String> {
    // Pinned for the whole open: the record is not reused meanwhile, even if the module goes.
    let shared = sessions::find(name).ok_or_else(|| format!("{name}: not loaded"))?;
    shared.unload.open(opener).map_err(|_| format!("{name}: not accepting sessions (being unloaded)"))?;
    let Some(id) = sessions::insert(shared.id, holder) else {
        release(&shared);
        return Err(String::from("too many sessions"));
    };
    match mint_session(&shared, id) {
        Ok(slot) => {
            if holder == 0 {
                sessions::set_cap(id, slot);
            }
            Ok((id, Cap::new(slot)))
        }
        Err(e) => {
            // Only whoever removes the session drops its reference (a holder's cleanup may
            // have done both already).
            if sessions::remove(id).is_some() {
                release(&shared);
            }
            Err(format!("{name}: {e}"))
        }
    }
}

/// Mints session `id`'s capability from the module's endpoint into a new server slot, and
/// checks that it names that endpoint: an opener that took its reference just before a forced
/// removal mints after the removal freed the endpoint's slot, which may hold another object by
/// then (the capability is deleted again, and the open fails).
fn mint_session(shared: &Shared, id: u64) -> Result<CPtr, String> {
    let slot = cspace::alloc().ok_or_else(|| String::from("the module server's CNode is full"))?;
    let fail = |why: String| {
        let _ = sys::cap_delete(slot);
        cspace::free(slot);
        why
    };
    shared
        .ep
        .mint_to(slot, Rights::WRITE | Rights::GRANT, id)
        .map_err(|e| fail(format!("cannot mint a session capability: {}", e.describe())))?;
    match sys::cap_info(slot) {
        Ok(i) if i.object == shared.ep_object && i.kind == Some(abi::ObjectType::Endpoint) => Ok(slot),
        Ok(_) => Err(fail(String::from("removed while the session was being opened"))),
        Err(e) => Err(fail(format!("cannot check the session capability: {}", e.describe()))),
    }
}

/// Test hook (`insmod-sweep`): the next session a module opens from its init meets that
/// module's failure just before the session goes into the table — the order in which `fail`'s
/// cleanup cannot see it (a session leaked this way once).
pub static FAIL_IN_OPEN: AtomicBool = AtomicBool::new(false);

/// What the hook's failure says.
pub const FAILED_IN_OPEN: &str = "injected failure while it opened a session";

/// The hook's failure: waits (bounded) until the loader lists module `id`, then fails it.
fn fail_once_listed(id: u32) {
    let deadline = urt::time::ticks() + 5 * urt::time::hz();
    while REGISTRY.lock().by_id(id).is_none() {
        if urt::time::ticks() > deadline {
            return println!("error: the open-failure hook: module {id} was not listed within 5 s");
        }
        urt::time::sleep_us(100);
    }
    fail(id, FAILED_IN_OPEN);
}

/// Whether module `id` may still hold sessions: listed and not failed, or being built (its init
/// opens its dependencies' sessions before the loader lists it). Read under the registry lock,
/// which `fail` and the loader hold when they change either, so a session inserted before this
/// check is seen by their cleanup ([`close_held`]) or by this check's caller.
fn holder_alive(id: u32) -> bool {
    let reg = REGISTRY.lock();
    match reg.by_id(id) {
        Some(m) => !m.failed,
        None => crate::loader::BUILDING.load(Ordering::Acquire) == u64::from(id),
    }
}

/// Drops one reference; completes a deferred removal if it was the last one.
fn release(shared: &Shared) {
    if shared.unload.close() == Closed::CompleteRemoval {
        println!("rmmod: last reference to {} closed: removing it now", shared.name);
        if let Some(note) = remove(shared.id, false) {
            println!("rmmod: {}: {note}", shared.name);
        }
    }
}

/// Closes the shell's session `id`: deletes the capability; the module's count drops. A
/// session a module holds is closed only when that module goes.
pub fn close(id: u64) -> Result<(), String> {
    let (module, _, cap) = sessions::remove_held(id, 0).ok_or_else(|| match sessions::get(id) {
        Some((_, holder, _)) => format!("session {id} is held by module {holder}, not the shell"),
        None => format!("no session {id}"),
    })?;
    drop_session(module, cap);
    Ok(())
}

/// Removes module `id` for good: its exit routine (if it still runs, and unless `forced`: a
/// forced removal must not wait for a module that may be busy or stuck), then revoking its
/// quota destroys every object it had — thread, address space, endpoint (every session
/// capability: calls queued on it or in progress end with an error), frames (unmapped from
/// every address space, also clients', with the cross-core sync) — and the memory goes back
/// to the boot quota.
///
/// Returns a note if the exit routine had to be stopped (it did not return within
/// `loader::EXIT_SECONDS`; the removal went on).
fn remove(id: u32, forced: bool) -> Option<String> {
    let m = {
        let mut reg = REGISTRY.lock();
        let pos = reg.modules.iter().position(|m| m.id == id)?;
        reg.modules.remove(pos)
    };
    sessions::withdraw(&m.shared);
    let mut note = None;
    if !m.failed && !forced {
        // The exit routine: the module answers and stops its thread — within a deadline.
        if let Some(&quota) = m.slots.first() {
            note = loader::run_exit(id, m.shared.ep.cptr(), quota).err();
        }
    }
    crate::gdb::forget(id); // before its pages go
    loader::release_objects(&m.slots);
    pool::give_back(m.base, m.span);
    sessions::release(m.shared);
    close_held(id);
    note
}

/// Closes every session module `id` held (it is gone or failed). Its failure cleanup and a
/// forced removal may both run this: each session is closed once (`sessions::remove_held`).
pub fn close_held(id: u32) {
    for s in registry::held_by(id) {
        // A module's sessions never record a capability (it moved to the module): the table's
        // word may still hold a stale slot of the record's last shell session, never freed here.
        let Some((module, _, _)) = sessions::remove_held(s, id) else { continue };
        drop_session(module, CPtr::NONE);
    }
}

/// What closing a session does once it is out of the table: its capability goes, and the
/// module's count drops.
fn drop_session(module: u32, cap: CPtr) {
    if cap != CPtr::NONE {
        let _ = sys::cap_delete(cap);
        cspace::free(cap);
    }
    if let Some(shared) = sessions::by_id(module) {
        release(&shared);
    }
}

/// Marks module `id` failed and releases everything it had (its quota revoked): a client
/// blocked in a call gets an error, and its sessions' capabilities are gone. The sessions stay
/// listed (their ids answer errors) until closed; the sessions it held are closed.
pub fn fail(id: u32, why: &str) {
    let (name, slots) = {
        let mut reg = REGISTRY.lock();
        let Some(m) = reg.by_id_mut(id) else {
            // Not listed yet: a module faulting in its first instructions, while `insmod` is
            // still building it. Kept (under the registry lock, which the loader holds when it
            // lists the module) for `insmod` to find before it waits for the first answer.
            if crate::loader::BUILDING.load(Ordering::Acquire) == u64::from(id) {
                EARLY_FAULTS.lock().push((id, String::from(why)));
            }
            return;
        };
        if m.failed {
            return;
        }
        m.failed = true;
        (m.name.clone(), core::mem::take(&mut m.slots))
    };
    println!("module {name} failed: {why}; its resources are released, its sessions answer errors");
    crate::gdb::forget(id); // before its pages go
    loader::release_objects(&slots);
    close_held(id);
}

/// Faults of modules that were not listed yet (see [`fail`]).
static EARLY_FAULTS: spin::mutex::SpinMutex<Vec<(u32, String)>> = spin::mutex::SpinMutex::new(Vec::new());

/// A fault module `id` reported before it was listed, if any.
pub fn take_early_fault(id: u32) -> Option<String> {
    let mut faults = EARLY_FAULTS.lock();
    let at = faults.iter().position(|(m, _)| *m == id)?;
    Some(faults.remove(at).1)
}

/// Test hook for the window between steps 2 and 4 (`rmmod --race`): when set, the unloader
/// completes an opener's late increment inside the window, deterministically.
pub static RACE_HOOK: AtomicBool = AtomicBool::new(false);

/// `rmmod [--wait|--force|--race] NAME`.
pub fn rmmod(name: &str, mode: Mode, force: bool) -> Result<String, String> {
    let (id, shared, users) = {
        let reg = REGISTRY.lock();
        let m = reg.by_name(name).ok_or_else(|| format!("rmmod: {name}: not loaded"))?;
        if m.failed {
            drop(reg);
            remove_failed(name);
            return Ok(format!("rmmod: {name} removed (it had failed)"));
        }
        let dependents: Vec<String> = reg
            .modules
            .iter()
            .filter(|d| {
                d.id != m.id
                    && registry::held_by(d.id).iter().any(|s| sessions::get(*s).is_some_and(|(t, _, _)| t == m.id))
            })
            .map(|d| d.name.clone())
            .collect();
        if !dependents.is_empty() {
            return Err(format!("rmmod: {name}: modules depend on it: {}", dependents.join(", ")));
        }
        // A pin of its own: the record stays this module's until rmmod is done with it, even
        // once the removal gave the registry's pin back.
        let pin = sessions::by_id(m.id).ok_or_else(|| format!("rmmod: {name}: not open to sessions"))?;
        (m.id, pin, reg.users(m.id))
    };
    // Step 3's cross-core sync. A core that does not pass its quiescent point within the
    // kernel's bound (2 s) fails it: the module is registered again and nothing is freed.
    let mut sync = || match sys::sync_naming_late() {
        Ok(_) => Ok(()),
        Err((abi::Error::NoResponse, late)) => Err(Late(late)),
        Err((e, _)) => {
            // Not a late core (no Sync authority?): nothing is known about the cores.
            println!("error: rmmod: cross-core sync: {}", e.describe());
            Err(Late(0))
        }
    };
    if force {
        // With `--race`: an opener (the shell's slot) saw the module registered before the
        // removal and takes its reference inside the window, and mints its capability only
        // after the removal freed the module's slots and the endpoint's slot was used again
        // (here, deliberately, for a copy of the server's endpoint): the slow opener of issue
        // 12, which used to mint a session to whatever that slot held next.
        let mut seen = if RACE_HOOK.swap(false, Ordering::AcqRel) { shared.unload.enter(0).look().ok() } else { None };
        let mut took = false;
        let mut waits = 0;
        let mut hook = |w: Window| match w {
            Window::Waiting { opener: 0 } if seen.is_some() => {
                if let Some(s) = seen.take() {
                    s.take();
                    took = true;
                }
            }
            Window::Waiting { .. } => wait_for_opener(&mut waits),
            Window::AfterUnregister | Window::AfterSync => {}
        };
        return match shared.unload.force(&mut sync, &mut hook) {
            Ok(refs) => {
                let _ = remove(id, true); // forced: no exit routine, so no note
                let mut late = String::new();
                if took {
                    let reused = sys::cap_copy(server_ep().cptr(), shared.ep.cptr()).is_ok();
                    let opened = record_session(&shared, 0);
                    if reused {
                        let _ = sys::cap_delete(shared.ep.cptr());
                    }
                    let cap = opened.and_then(sessions::get).map(|(_, _, c)| c);
                    late = match (opened, cap) {
                        (Some(s), Some(c)) if c != CPtr::NONE => {
                            format!(" (late opener: session {s} HAS A CAPABILITY)")
                        }
                        (Some(s), _) => format!(" (late opener: session {s} without a capability)"),
                        (None, _) => String::from(" (late opener: no session)"),
                    };
                }
                Ok(format!("rmmod: {name} force-removed; {refs} references revoked{late}"))
            }
            Err(ForceRefused::State(state)) => Err(format!("rmmod: {name}: already {state}")),
            Err(ForceRefused::NotQuiescent(late)) => Err(not_quiescent(name, late)),
        };
    }
    // The test hook (`--race`): an opener (the shell's slot) sees the module registered just
    // before step 2 and takes its reference only while the unloader waits in step 3 — the
    // seed's window, made to happen every time.
    let mut seen = if RACE_HOOK.swap(false, Ordering::AcqRel) { shared.unload.enter(0).look().ok() } else { None };
    let mut race_session = None;
    let mut waits = 0;
    let mut hook = |w: Window| match w {
        Window::Waiting { opener: 0 } if seen.is_some() => {
            if let Some(s) = seen.take() {
                s.take();
                race_session = record_session(&shared, 0);
            }
        }
        Window::Waiting { .. } => wait_for_opener(&mut waits),
        Window::AfterUnregister | Window::AfterSync => {}
    };
    let outcome = shared.unload.unload(mode, &mut sync, &mut hook);
    let raced = race_session.map_or(String::new(), |s| format!(" (session {s} opened inside the window)"));
    match outcome {
        Outcome::InUse(refs) => Err(format!("rmmod: {name}: in use by {} ({refs} references)", users.join(", "))),
        Outcome::Busy(refs) => {
            Err(format!("rmmod: {name}: busy: the count rose to {refs} during the unload; it stays live{raced}"))
        }
        Outcome::Deferred(refs) => {
            // Name who holds them: a module's sessions close only when it goes, so the removal
            // waits for that module too.
            let holders = REGISTRY.lock().users(id).join(", ");
            Ok(format!(
                "rmmod: {name} going: removed when its last {refs} references close (held by: {holders}){raced}"
            ))
        }
        Outcome::NotLive(state) => Err(format!("rmmod: {name}: already {state}")),
        Outcome::NotQuiescent(late) => Err(not_quiescent(name, late)),
        Outcome::Removed => match remove(id, false) {
            Some(note) => Ok(format!("rmmod: {name} removed ({note})")),
            None => Ok(format!("rmmod: {name} removed")),
        },
    }
}

/// The answer when step 3's sync failed: which cores, and what happened to the module.
fn not_quiescent(name: &str, late: Late) -> String {
    let cores: Vec<String> = (0..64).filter(|c| late.0 >> c & 1 == 1).map(|c| format!("{c}")).collect();
    let who = match cores.len() {
        0 => String::from("the cross-core sync failed"),
        1 => format!("core {} did not pass the sync point", cores[0]),
        _ => format!("cores {} did not pass the sync point", cores.join(", ")),
    };
    format!(
        "rmmod: {name}: busy: {who} within {} ms; {name} is registered again and nothing was freed (try again)",
        SYNC_BOUND_MS
    )
}

/// How long the kernel's sync waits for a core (`kernel/src/sync.rs`, `TIMEOUT_MS`).
const SYNC_BOUND_MS: u64 = 2000;

/// The unloader waits for an opener to leave its critical section (`waits`: how many times it
/// has looked in this unload). It yields first — an opener on another core, or of at least the
/// unloader's priority here, is out within a few looks, and a yield costs microseconds — and
/// then sleeps a little between looks, so an opener of *lower* priority on this core runs too
/// (a yield lets only equal or higher priorities run: such an opener kept the unloader
/// spinning). Sleeping at once made every grace period cost a timer round trip (milliseconds
/// under TCG): the 8-core race stress took minutes longer.
pub fn wait_for_opener(waits: &mut u32) {
    *waits += 1;
    if *waits <= GRACE_YIELDS {
        sys::yield_now();
    } else {
        urt::time::sleep_us(GRACE_SLEEP_US);
    }
}

/// Looks at an opener inside its critical section with a yield in between, before sleeping.
const GRACE_YIELDS: u32 = 64;
/// How long the unloader sleeps between later looks.
const GRACE_SLEEP_US: u64 = 50;

/// Records a session (holder 0: the shell) for a reference already taken, with its
/// capability; returns its id.
/// If it cannot be recorded, the reference is dropped again (it used to be kept: the module
/// counted a session nobody could close).
fn record_session(shared: &Shared, holder: Holder) -> Option<u64> {
    let Some(id) = sessions::insert(shared.id, holder) else {
        release(shared);
        return None;
    };
    match mint_session(shared, id) {
        Ok(slot) => sessions::set_cap(id, slot),
        Err(e) => println!("error: {}: session {id} has no capability: {e}", shared.name),
    }
    Some(id)
}

/// Takes a failed module (already torn down) off the list.
fn remove_failed(name: &str) {
    let id = REGISTRY.lock().modules.iter().find(|m| m.name == name && m.failed).map(|m| m.id);
    if let Some(id) = id {
        remove_failed_id(id);
    }
}

/// Takes failed module `id` (already torn down) off the list: also how a load that fails after
/// the module was listed leaves the registry as it was.
pub fn remove_failed_id(id: u32) {
    let mut reg = REGISTRY.lock();
    if let Some(pos) = reg.modules.iter().position(|m| m.id == id && m.failed) {
        let m = reg.modules.remove(pos);
        drop(reg);
        pool::give_back(m.base, m.span);
        sessions::release(m.shared);
    }
}

/// Requests the service threads are handling (received, not yet finished with): an open's
/// slots and references are settled only once it is back at 0 ([`requests_in_flight`]).
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// One request in [`IN_FLIGHT`], for as long as it lives.
struct Serving;

impl Serving {
    fn enter() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        Serving
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How many module requests (opens, faults) the service threads are in the middle of.
pub fn requests_in_flight() -> usize {
    IN_FLIGHT.load(Ordering::Acquire)
}

/// The service thread: answers modules' session requests and receives their faults, on the
/// server endpoint (badge = module id). It is opener slot `opener`.
pub extern "C" fn serve(opener: u64) -> u64 {
    let opener = opener as usize;
    loop {
        let Ok(got) = sys::recv(server_ep().cptr(), CPtr::NONE) else { continue };
        let _serving = Serving::enter();
        let module = got.badge as u32;
        match got.msg.label {
            FAULT_LABEL => {
                let kind =
                    FaultKind::from_number(got.msg.word(0)).map_or(String::from("unknown"), |k| format!("{k:?}"));
                let why = format!("{kind} fault at address {:#x}, pc {:#x}", got.msg.word(1), got.msg.word(2));
                fail(module, &why); // its thread goes with it: no reply
            }
            modsdk::OPEN => {
                let starting = crate::loader::BUILDING.load(Ordering::Acquire) == u64::from(module)
                    || REGISTRY.lock().by_id(module).is_some_and(|m| m.loading);
                if starting && FAIL_IN_OPEN.swap(false, Ordering::AcqRel) {
                    fail_once_listed(module);
                }
                let mut buf = [0u8; modsdk::TEXT_MAX];
                let name = modsdk::message_text(&got.msg, &mut buf);
                let reply = match open(name, module, opener) {
                    Ok((sid, cap)) if !holder_alive(module) => {
                        // The module failed (or its load was undone) while this open ran: its
                        // cleanup may have looked for its sessions before this one was in the
                        // table. Whoever removes it drops the reference (at most one of us).
                        let _ = cap.delete();
                        cspace::free(cap.cptr());
                        if let Some((target, _, _)) = sessions::remove_held(sid, module) {
                            drop_session(target, CPtr::NONE);
                        }
                        modsdk::text_message(modsdk::ERROR, "you were stopped while the session was opened")
                    }
                    Ok((_, cap)) => {
                        // The capability moves to the module: the derivation tree holds exactly
                        // one capability per session at every moment (lsmod checks it). If the
                        // module is gone meanwhile, the reply delivers nothing and the delete
                        // below removes the capability instead. The table never held the slot.
                        let m = modsdk::text_message(modsdk::TEXT, "").with_cap_moved(cap.cptr());
                        let _ = sys::reply(&m);
                        let _ = cap.delete();
                        cspace::free(cap.cptr());
                        continue;
                    }
                    Err(e) => modsdk::text_message(modsdk::ERROR, &e),
                };
                let _ = sys::reply(&reply);
            }
            other => {
                let _ = sys::reply(&modsdk::text_message(modsdk::ERROR, &format!("unknown request {other:#x}")));
            }
        }
    }
}
