//! Loading a module: validate the ELF (all of it, before anything is made), then build the
//! module's protection domain from a quota of its own and start its thread.
//!
//! Steps of `insmod`:
//! 1. find the archive entry; `modfmt::elf::validate` checks the whole file and its `.modinfo`;
//! 2. refuse a module already loaded, or whose dependencies are not live (naming them);
//! 3. make a quota for the module from the boot quota, and from it a CNode, VSpace, TCB,
//!    endpoint and a small quota the module may use itself;
//! 4. pick a base from the system-wide pool, build the image in memory and relocate it, copy it
//!    page by page into fresh frames, and map each into the module's VSpace with its segment's
//!    rights; then a stack (below a guard page) and an IPC buffer;
//! 5. fill the module's CNode (slots in `modsdk::slot`), start its thread, and wait until it
//!    answers a PING (its `init` ran, dependencies opened).
//!
//! Revoking the module's quota capability removes every object of the module at once.

use crate::registry::Module;
use crate::sessions::{self, Shared, OPENERS};
use crate::{archive_entries, pool, server_ep, REGISTRY};
use abi::{CPtr, Error, Registers, Rights, PAGE_SIZE};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use modfmt::elf::{self, Limits, Plan};
use modsdk::slot;
use urt::cap::{CNode, Cap, Endpoint, Frame, Quota, Tcb, VSpace, BOOT_QUOTA, ROOT_VSPACE};
use urt::sys::{self, Message};
use urt::{cspace, vm};

/// Stack pages of a module's thread.
pub const STACK_PAGES: u64 = 4;
/// Frames and kernel bytes a module may spend itself (its own quota, e.g. for shared buffers).
const OWN_FRAMES: u64 = 16;
const OWN_BYTES: u64 = 16 * 1024;

/// The failure-injection test hook (`insmod-sweep`): when non-zero, the load fails at its
/// step number `FAIL_AT` (every kernel call and slot allocation along the load path is a step),
/// as if that call had been refused. 0: off.
pub static FAIL_AT: AtomicU64 = AtomicU64::new(0);
/// Steps taken by the load in progress (counted only while the hook is on).
pub static STEPS: AtomicU64 = AtomicU64::new(0);
/// What an injected failure says.
pub const INJECTED: &str = "injected failure";

/// One step of the load path: fails if it is the one the test hook picked.
fn step(what: &str) -> Result<(), String> {
    let at = FAIL_AT.load(Ordering::Relaxed);
    if at == 0 {
        return Ok(());
    }
    let n = STEPS.fetch_add(1, Ordering::Relaxed) + 1;
    if n == at {
        return Err(format!("{INJECTED} at step {n} ({what})"));
    }
    Ok(())
}

/// Test hook (`insmod-sweep`): before the steps after its start, the loader waits until the
/// new module's init has opened a session on each of its dependencies, so every later injected
/// failure finds those sessions open (whether it did used to depend on which core ran first).
pub static SETTLE_OPENS: AtomicBool = AtomicBool::new(false);

/// How long [`SETTLE_OPENS`] waits for a module's dependency sessions.
const SETTLE_SECONDS: u64 = 5;

/// Waits (bounded) until module `id` holds `n` sessions.
fn settle_opens(id: u32, n: usize) -> Result<(), String> {
    let deadline = urt::time::ticks() + SETTLE_SECONDS * urt::time::hz();
    while crate::registry::held_by(id).len() < n {
        if urt::time::ticks() > deadline {
            return Err(format!("its init did not open its {n} dependency sessions within {SETTLE_SECONDS} s"));
        }
        urt::time::sleep_us(100);
    }
    Ok(())
}

/// The module being built and not listed yet (0: none): a fault of that module is kept for
/// `insmod` (`service::fail`); written and read under the registry lock.
pub static BUILDING: AtomicU64 = AtomicU64::new(0);

/// How long a new module has to answer its first request (its init included).
pub const START_SECONDS: u64 = 10;
/// The module being started and the counter value by which it must have answered (0: none).
static STARTING: AtomicU64 = AtomicU64::new(0);
static START_DEADLINE: AtomicU64 = AtomicU64::new(0);

/// How long a module's exit routine may take before `rmmod` stops it.
pub const EXIT_SECONDS: u64 = 5;
/// The module whose exit routine runs (0: none), its quota slot, and the counter value by which
/// it must have answered; set by the watchdog once it stopped a late one.
static EXITING: AtomicU64 = AtomicU64::new(0);
static EXIT_QUOTA: AtomicU64 = AtomicU64::new(0);
static EXIT_DEADLINE: AtomicU64 = AtomicU64::new(0);
static EXIT_STOPPED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
static EXIT_LOCK: spin::mutex::SpinMutex<()> = spin::mutex::SpinMutex::new(());
/// The watchdog's thread id (it must not wait for an exit routine: it is what stops them).
static WATCHDOG_THREAD: AtomicU64 = AtomicU64::new(u64::MAX - 1);

/// Runs module `id`'s exit routine (the `EXIT` request on `ep`) with a deadline: if it has not
/// answered within [`EXIT_SECONDS`], the watchdog revokes `quota` (the module's thread goes,
/// which ends the call). `Err` says it had to. The caller removes the module either way.
pub fn run_exit(id: u32, ep: CPtr, quota: CPtr) -> Result<(), String> {
    // The watchdog itself may get here (its `fail` of a starting module closes the sessions
    // that module held, which may complete a deferred removal): it would wait for itself.
    if sys::system_info(abi::InfoKey::ThreadId).ok() == Some(WATCHDOG_THREAD.load(Ordering::Relaxed)) {
        return Err(String::from("its exit routine was not run (removed by the load watchdog)"));
    }
    // One exit routine at a time (the shell's rmmod and the service thread's completion of a
    // deferred removal may both remove): the watchdog watches one.
    let _one = loop {
        if let Some(g) = EXIT_LOCK.try_lock() {
            break g;
        }
        urt::time::sleep_us(1000);
    };
    EXIT_QUOTA.store(quota.0, Ordering::Relaxed);
    EXIT_STOPPED.store(false, Ordering::Relaxed);
    EXIT_DEADLINE.store(urt::time::ticks() + EXIT_SECONDS * urt::time::hz(), Ordering::Relaxed);
    EXITING.store(u64::from(id), Ordering::Release);
    let _ = sys::call_ep(ep, &Message::new(modsdk::EXIT, &[]), CPtr::NONE);
    if EXITING.swap(0, Ordering::AcqRel) == u64::from(id) {
        return Ok(());
    }
    // The watchdog won: its revoke may still be in progress, and the quota's slot must not be
    // freed (and reused) under it.
    while !EXIT_STOPPED.load(Ordering::Acquire) {
        urt::time::sleep_us(1000);
    }
    Err(format!("its exit routine did not return within {EXIT_SECONDS} s: stopped"))
}

/// The load watchdog (a thread of its own): a module that does not answer its first request
/// within [`START_SECONDS`] (an init that never returns) is marked failed, which revokes its
/// quota and so ends the wait in `insmod` with an error. Likewise an exit routine that has not
/// returned within [`EXIT_SECONDS`] (see [`run_exit`]).
pub extern "C" fn watchdog(_: u64) -> u64 {
    WATCHDOG_THREAD.store(sys::system_info(abi::InfoKey::ThreadId).unwrap_or(u64::MAX), Ordering::Relaxed);
    loop {
        urt::time::sleep_us(100_000);
        let exiting = EXITING.load(Ordering::Acquire);
        if exiting != 0
            && urt::time::ticks() >= EXIT_DEADLINE.load(Ordering::Relaxed)
            && EXITING.compare_exchange(exiting, 0, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            let _ = Cap::<Quota>::new(CPtr(EXIT_QUOTA.load(Ordering::Relaxed))).revoke();
            EXIT_STOPPED.store(true, Ordering::Release);
        }
        let id = STARTING.load(Ordering::Acquire);
        let deadline = START_DEADLINE.load(Ordering::Acquire);
        // The compare-and-swap decides against `insmod`'s swap: a module that answered in time
        // is never failed.
        if id != 0
            && deadline != 0
            && urt::time::ticks() >= deadline
            && STARTING.compare_exchange(id, 0, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            crate::fail(id as u32, &format!("did not answer within {START_SECONDS} s of starting"));
        }
    }
}

/// Finds the archive entry `name` names: a file name, or a module name from `.modinfo`.
pub fn find(name: &str) -> Option<(String, &'static [u8])> {
    let entries = archive_entries();
    if let Some(e) = entries.iter().find(|e| e.name == name) {
        return Some((e.name.to_string(), e.data));
    }
    entries
        .iter()
        .filter(|e| elf::validate(e.data, &Limits::default()).is_ok_and(|p| p.info.name == name))
        .map(|e| (e.name.to_string(), e.data))
        .next()
}

/// A slot of the server's CNode, or an error line.
fn slot() -> Result<CPtr, String> {
    cspace::alloc().ok_or_else(|| String::from("the module server's CNode is full"))
}

fn kerr(what: &str, e: Error) -> String {
    format!("{what}: {}", e.describe())
}

/// `insmod NAME`: loads and starts a module; returns a line for the shell.
pub fn insmod(name: &str) -> Result<String, String> {
    insmod_as(name, None)
}

/// Longest instance name (`insmod FILE as NAME`).
pub const INSTANCE_NAME_MAX: usize = 32;

/// `insmod FILE as NAME`: loads a module under the instance name `NAME` instead of the name its
/// `.modinfo` gives, so one file can be loaded several times (sessions open it by that name).
pub fn insmod_as(name: &str, instance: Option<&str>) -> Result<String, String> {
    let (file, bytes) = find(name).ok_or_else(|| format!("{name}: no such module or archive entry"))?;
    let plan = elf::validate(bytes, &Limits::default()).map_err(|e| format!("{file}: {e}"))?;
    let info = &plan.info;
    if let Some(n) = instance {
        let ok = !n.is_empty()
            && n.len() <= INSTANCE_NAME_MAX
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            return Err(format!(
                "insmod: bad instance name {n:?}: 1 to {INSTANCE_NAME_MAX} letters, digits, '-', '_' or '.'"
            ));
        }
    }
    let modname: String = String::from(instance.unwrap_or(&info.name));
    let id = {
        let mut reg = REGISTRY.lock();
        if let Some(m) = reg.by_name(&modname) {
            return Err(format!("{}: already loaded ({})", modname, m.state().name()));
        }
        let missing: Vec<&str> = info
            .depends
            .iter()
            .filter(|d| reg.by_name(d).is_none_or(|m| m.state() != crate::registry::State::Live))
            .map(|d| d.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(format!("{}: missing dependency {}", modname, missing.join(", ")));
        }
        let id = reg.new_module_id();
        BUILDING.store(u64::from(id), Ordering::Release);
        id
    };
    let pages = plan.image_pages;
    let span = pages + 1 + STACK_PAGES + 1; // image, guard, stack, IPC buffer
    let Some(base) = pool::take(span) else {
        BUILDING.store(0, Ordering::Release);
        return Err(format!("{modname}: no room in the module address pool ({} slots in use)", pool::used_count()));
    };
    let mut slots = Vec::new();
    // Before the module is listed, a failure undoes everything built so far.
    let unbuild = |slots: &[CPtr], e: String| {
        // Under the lock: an open's holder check reads it there (`service::holder_alive`).
        let reg = REGISTRY.lock();
        BUILDING.store(0, Ordering::Release);
        drop(reg);
        crate::gdb::forget(id);
        release_objects(slots);
        // Its init may have opened sessions on its dependencies before the failure.
        crate::service::close_held(id);
        pool::give_back(base, span);
        format!("{modname}: {e}")
    };
    let (ep, thread, ep_object, vspace) = match build(id, &modname, &plan, bytes, base, span, &mut slots) {
        Ok(b) => b,
        Err(e) => return Err(unbuild(&slots, e)),
    };
    if SETTLE_OPENS.load(Ordering::Relaxed) && !info.depends.is_empty() {
        if let Err(e) = settle_opens(id, info.depends.len()) {
            return Err(unbuild(&slots, e));
        }
    }
    let claimed = step("record").and_then(|()| {
        sessions::claim(Shared { id, name: modname.clone(), ep, ep_object, unload: unload::Unload::new(OPENERS) })
    });
    let shared = match claimed {
        Ok(s) => s,
        Err(e) => return Err(unbuild(&slots, e)),
    };
    let ep = shared.ep;
    {
        let mut reg = REGISTRY.lock();
        BUILDING.store(0, Ordering::Release); // listed now: `fail` finds it
        reg.remember(id, &modname);
        reg.modules.push(Module {
            id,
            name: modname.clone(),
            version: info.version.clone(),
            file: file.clone(),
            failed: false,
            loading: true,
            base,
            span,
            thread: thread.cptr(),
            vspace,
            build_id: plan.build_id.clone(),
            slots,
            shared,
        });
    }
    // Wait until it serves: its init (and dependency sessions) are done. A failure from here
    // on tears the module down and takes it off the list again: the registry is as it was.
    let undo = |why: &str| {
        crate::fail(id, why);
        crate::service::remove_failed_id(id);
    };
    // A fault that came before the module was listed (its first instructions, its init) was
    // kept for this moment (`service::fail` of an id not listed yet).
    if let Some(why) = crate::service::take_early_fault(id) {
        undo(&why);
        return Err(format!("{}: failed while starting: {why}", modname));
    }
    let started = step("ping").and_then(|()| {
        START_DEADLINE.store(urt::time::ticks() + START_SECONDS * urt::time::hz(), Ordering::Release);
        STARTING.store(u64::from(id), Ordering::Release);
        let got = sys::call_ep(ep.cptr(), &Message::new(modsdk::PING, &[]), CPtr::NONE);
        if STARTING.swap(0, Ordering::AcqRel) != u64::from(id) {
            return Err(format!("did not answer within {START_SECONDS} s of starting"));
        }
        let got = got.map_err(|e| {
            let why = REGISTRY.lock().by_id(id).filter(|m| m.failed).map(|_| "it was stopped");
            String::from(why.unwrap_or(e.describe()))
        })?;
        if got.msg.label == modsdk::ERROR {
            let mut buf = [0u8; modsdk::TEXT_MAX];
            return Err(format!("its init failed: {}", modsdk::message_text(&got.msg, &mut buf)));
        }
        Ok(())
    });
    if let Err(e) = started {
        undo("did not start");
        return Err(format!("{}: failed while starting: {e}", modname));
    }
    if let Some(m) = REGISTRY.lock().by_id_mut(id) {
        m.loading = false;
    }
    if let Err(e) = step("publish") {
        undo("not published");
        return Err(format!("{}: {e}", modname));
    }
    // A module that failed meanwhile (its fault handler already forgot it) is not listed again.
    if let Some(m) = REGISTRY.lock().by_id(id).filter(|m| !m.failed) {
        sessions::publish(&m.shared);
        crate::gdb::report(id, &m.name, m.base, m.span, m.vspace, &m.build_id, abi::DebugImageState::Live);
    }
    Ok(format!("insmod: {} {} loaded from '{file}' at {base:#x} ({} pages)", modname, info.version, span))
}

/// Deletes what a failed build made.
///
/// Also how a loaded module's objects go (`service`): `slots` is what `build` filled, the
/// module's quota first, so revoking that one capability destroys every object of the module
/// (thread, address space, endpoint and every session on it, frames — unmapped on every core);
/// then the server's own slots are emptied and freed. An empty list (already released) does
/// nothing.
pub fn release_objects(slots: &[CPtr]) {
    if let Some(q) = slots.first() {
        let _ = Cap::<Quota>::new(*q).revoke();
    }
    for s in slots {
        let _ = sys::cap_delete(*s);
        cspace::free(*s);
    }
}

/// Makes the module's objects and starts its thread. Every slot used goes into `slots` (the
/// quota first) so a failure can be undone. Returns the endpoint and the thread.
fn build(
    id: u32,
    name: &str,
    plan: &Plan,
    bytes: &[u8],
    base: u64,
    span: u64,
    slots: &mut Vec<CPtr>,
) -> Result<(Cap<Endpoint>, Cap<Tcb>, u64, CPtr), String> {
    let pages = plan.image_pages;
    let frames = pages + STACK_PAGES + 1 + 8 + OWN_FRAMES; // + VSpace root and page tables
                                                           // Objects, the CNode's slots, and the records of every page it maps (image, stack, IPC
                                                           // buffer).
    let bytes_needed = 64 * 1024 + OWN_BYTES + (pages + STACK_PAGES + 1) * abi::charge::MAPPING_BYTES;
    let mut take = || -> Result<CPtr, String> {
        let s = slot()?;
        slots.push(s);
        Ok(s)
    };
    step("quota")?;
    let q = BOOT_QUOTA.create_quota(take()?, frames, bytes_needed).map_err(|e| match e {
        // Name what ran out: frames or kernel memory, with what is left.
        Error::NoMemory => {
            let (left_frames, left_bytes) = sys::quota_info(BOOT_QUOTA.cptr()).unwrap_or((0, 0));
            format!(
                "not enough memory: it needs {frames} frames and {} KiB of kernel memory, the machine has {left_frames} \
                 frames and {} KiB left",
                bytes_needed / 1024,
                left_bytes / 1024
            )
        }
        e => kerr("quota", e),
    })?;
    step("cnode")?;
    let cnode: Cap<CNode> = q.create(take()?, modsdk::MODULE_CNODE_RADIX).map_err(|e| kerr("cnode", e))?;
    step("vspace")?;
    let vspace: Cap<VSpace> = q.create(take()?, 0).map_err(|e| kerr("vspace", e))?;
    step("tcb")?;
    let tcb: Cap<Tcb> = q.create(take()?, 0).map_err(|e| kerr("tcb", e))?;
    step("endpoint")?;
    let ep: Cap<Endpoint> = q.create(take()?, 0).map_err(|e| kerr("endpoint", e))?;
    // The endpoint's kernel id, which every session capability minted from it must name.
    step("endpoint id")?;
    let ep_object = ep.info().map_err(|e| kerr("endpoint id", e))?.object;

    // The image, relocated for `base`, into frames.
    let mut image = elf::try_load_image(bytes, plan)
        .ok_or_else(|| format!("no memory in the module server for a {} KiB image", plan.image_bytes() / 1024))?;
    elf::relocate(&mut image, plan, base).map_err(|e| e.to_string())?;
    // Written through a window in this address space, up to 64 pages at a time, then unmapped
    // from it with one sync per window (not one per page) and mapped into the module.
    let image_frames: Vec<(u64, Cap<Frame>, Rights)> = (0..pages)
        .filter_map(|page| rights_of_page(plan, page).map(|r| (page, r))) // skip gaps between segments
        .map(|(page, rights)| {
            step("image frame")?;
            Ok((page, q.create(take()?, 0).map_err(|e| kerr("frame", e))?, rights))
        })
        .collect::<Result<_, String>>()?;
    for chunk in image_frames.chunks(64) {
        step("window")?;
        let window = vm::Range::alloc(chunk.len() as u64).map_err(|e| kerr("window", e))?;
        for (i, (page, f, _)) in chunk.iter().enumerate() {
            let at = window.va + i as u64 * PAGE_SIZE;
            step("map into the window")?;
            f.map(ROOT_VSPACE, at, Rights::READ | Rights::WRITE).map_err(|e| kerr("map", e))?;
            let from = (page * PAGE_SIZE) as usize;
            let bytes = &image[from..(from + PAGE_SIZE as usize).min(image.len())];
            // SAFETY: the window page at `at` was just mapped read-write in this address
            // space and nothing else uses it; the copy stays within the page.
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), at as *mut u8, bytes.len()) };
        }
        step("unmap the window")?;
        sys::vspace_unmap(ROOT_VSPACE.cptr(), window.va, window.pages).map_err(|e| kerr("unmap", e))?;
        for (page, f, rights) in chunk {
            step("map into the module")?;
            f.map(vspace, base + page * PAGE_SIZE, *rights).map_err(|e| kerr("map into the module", e))?;
        }
    }
    let stack_bottom = base + (pages + 1) * PAGE_SIZE;
    for i in 0..STACK_PAGES + 1 {
        step("stack frame")?;
        let f: Cap<Frame> = q.create(take()?, 0).map_err(|e| kerr("frame", e))?;
        step("map the stack")?;
        f.map(vspace, stack_bottom + i * PAGE_SIZE, Rights::READ | Rights::WRITE).map_err(|e| kerr("map", e))?;
    }
    let stack_top = stack_bottom + STACK_PAGES * PAGE_SIZE;
    let ipc_buffer = stack_top; // the page after the stack

    // The module's CNode.
    let into = |i: u32| CPtr::in_cnode(cnode_index(cnode), i);
    let put = |cap: CPtr, at: u32, rights: Option<(Rights, u64)>| -> Result<(), String> {
        step("fill the module's CNode")?;
        let r = match rights {
            None => sys::cap_copy(cap, into(at)),
            Some((r, badge)) => sys::cap_mint(cap, into(at), r, badge),
        };
        r.map_err(|e| kerr("fill the module's CNode", e))
    };
    put(tcb.cptr(), slot::TCB, None)?;
    put(cnode.cptr(), slot::CNODE, None)?;
    put(vspace.cptr(), slot::VSPACE, None)?;
    put(ep.cptr(), slot::SERVICE, Some((Rights::READ, 0)))?;
    put(server_ep().cptr(), slot::SERVER, Some((Rights::WRITE, u64::from(id))))?;
    put(server_ep().cptr(), slot::FAULT, Some((Rights::WRITE, u64::from(id))))?;
    step("own quota")?;
    let own = q.create_quota(take()?, OWN_FRAMES, OWN_BYTES).map_err(|e| kerr("own quota", e))?;
    put(own.cptr(), slot::QUOTA, None)?;

    step("configure")?;
    tcb.configure(cnode, vspace, ipc_buffer, CPtr::root(slot::FAULT)).map_err(|e| kerr("configure", e))?;
    let mut regs = Registers { pc: base + plan.entry, sp: stack_top, ..Default::default() };
    regs.x[0] = ipc_buffer;
    regs.x[1] = u64::from(slot::FIRST_FREE);
    step("registers")?;
    tcb.write_registers(&regs).map_err(|e| kerr("registers", e))?;
    // Mapped, not started: the debugger learns of it now, so a breakpoint in its init works.
    crate::gdb::report(id, name, base, span, vspace.cptr(), &plan.build_id, abi::DebugImageState::Loading);
    step("resume")?;
    tcb.resume().map_err(|e| kerr("resume", e))?;
    Ok((ep, tcb, ep_object, vspace.cptr()))
}

/// The root-CNode slot index of a CNode capability (for two-level CPtrs).
fn cnode_index(c: Cap<CNode>) -> u32 {
    c.cptr().split().1
}

/// The rights of the segment covering image page `page`, if one does.
fn rights_of_page(plan: &Plan, page: u64) -> Option<Rights> {
    let seg = plan.segments.iter().find(|s| {
        let first = s.vaddr / PAGE_SIZE;
        let end = (s.vaddr + s.memsz).div_ceil(PAGE_SIZE);
        (first..end).contains(&page)
    })?;
    Some(match seg.rights {
        elf::Rights::Read => Rights::READ,
        elf::Rights::ReadWrite => Rights::READ | Rights::WRITE,
        elf::Rights::ReadExec => Rights::READ | Rights::EXEC,
    })
}
