//! The unload race stress test (`stress N [SEED]`) and the stale-access probe (`probe`).
//!
//! **stress**: client threads on every core open a session on `buffer`, call it (`share`: the
//! answer carries the module's shared page, which the client maps) and close it, in a loop with
//! seeded random pauses, while the shell unloads and reloads `buffer` N times (`rmmod` in its
//! default mode, retried while busy or in use; after each reload it lets the clients open as
//! many sessions as there are clients before it tries again). Between sessions each client keeps reading the
//! page it was given — it stays mapped until the module is removed, and the module's removal
//! revokes it: every read must return the token of that load of the module (see
//! `user/modules/buffer`) or fault cleanly ([`urt::fixup`] recovers the fault); anything else
//! is a stale access (memory reached through a translation the unmap should have removed).
//! Afterwards: no stale access, every reference closed (the protocol's count and the kernel's
//! derivation tree both 0), `free_frames` back to its starting figure, no panic.
//!
//! **probe**: a thread on another core reads a page shared by `buffer` in a tight loop while
//! `buffer` is force-unloaded; once the unmap has returned the reader must fault cleanly (the
//! kernel stops it at the read), and it must never see the marker the server then writes into
//! freshly allocated frames (which reuse the freed ones).

use crate::{loader, registry, service, sessions, REGISTRY};
use abi::{CPtr, InfoKey, Rights};
use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use unload::Mode;
use urt::cap::{Cap, Endpoint, Frame, Owned, ROOT_VSPACE};
use urt::sys::{self, Message};
use urt::{fixup, println, thread, time};

/// Free frames once the kernel reports nothing dying (a thread revoked while it runs on another
/// core is destroyed, with what it holds, when that core lets go), read from the kernel's
/// state rather than after a delay. `u64::MAX` if the figure is refused, so a refused figure
/// never equals the `free_before` it is compared with (those read 0 then).
fn settled_free_frames() -> u64 {
    time::wait_for(20_000, || sys::kernel_check().is_ok_and(|s| s.dying == 0));
    sys::system_info(InfoKey::FreeFrames).unwrap_or(u64::MAX)
}

static STOP: AtomicBool = AtomicBool::new(false);
static OPENS: AtomicU64 = AtomicU64::new(0);
static CALLS_OK: AtomicU64 = AtomicU64::new(0);
static CALL_ERRORS: AtomicU64 = AtomicU64::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);
static PAGE_READS: AtomicU64 = AtomicU64::new(0);
static PAGE_GONE: AtomicU64 = AtomicU64::new(0);
static STALE: AtomicU64 = AtomicU64::new(0);
static CLIENT_ERRORS: AtomicU64 = AtomicU64::new(0);
static SEED: AtomicU64 = AtomicU64::new(1);
static CLIENTS: AtomicU64 = AtomicU64::new(1);
/// A progress line every this many seconds of counter time (long runs on slow emulation).
const PROGRESS_SECONDS: u64 = 10;
/// Where `buffer` keeps its per-load token in the shared page: the last word.
const TOKEN_OFFSET: u64 = abi::PAGE_SIZE - 8;
/// The longest pause a client makes between sessions, in milliseconds.
const MAX_PAUSE_MS: u64 = 20;

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// A client: opener slot `opener` (2..), until told to stop.
extern "C" fn client(opener: u64) -> u64 {
    let mut rng = SEED.load(Ordering::Relaxed) ^ opener.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let (Ok(window), Some(slot)) = (urt::vm::Range::alloc(1), urt::cspace::alloc()) else {
        CLIENT_ERRORS.fetch_add(1, Ordering::Relaxed);
        return 1;
    };
    let page = Cap::<Frame>::new(slot);
    let token_va = window.va + TOKEN_OFFSET;
    let peers = CLIENTS.load(Ordering::Relaxed).saturating_sub(1).max(1);
    let max_pause = time::hz() * MAX_PAUSE_MS / 1000;
    let mut session_ticks = 1;
    let mut token = None;
    while !STOP.load(Ordering::Acquire) {
        let start = time::ticks();
        match service::open("buffer", 0, opener as usize) {
            Ok((id, cap)) => {
                OPENS.fetch_add(1, Ordering::Relaxed);
                // Ask for the page unless the one from an earlier session is still mapped (a
                // removal unmaps it: then its read faulted and `token` is None).
                let ask = if token.is_none() { "share" } else { "read" };
                if token.is_none() {
                    // The old page's capability is gone with the module; the slot is emptied
                    // here in case a call failed after receiving one.
                    let _ = page.delete();
                }
                match sys::call_ep(cap.cptr(), &modsdk::text_message(modsdk::TEXT, ask), slot) {
                    Ok(got) if got.msg.label == modsdk::TEXT => {
                        CALLS_OK.fetch_add(1, Ordering::Relaxed);
                        if got.msg.cap.is_some() && page.map(ROOT_VSPACE, window.va, Rights::READ).is_ok() {
                            // The session holds a reference: the page cannot go yet.
                            token = fixup::try_read(token_va);
                        }
                    }
                    _ => {
                        CALL_ERRORS.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let _ = service::close(id);
                session_ticks = time::ticks() - start;
            }
            Err(_) => {
                REFUSED.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Pause outside any session for a seeded random while, up to 2 × (clients − 1)
        // sessions' time: each client holds a session about 1/clients of the time, so moments
        // when nobody holds one (when step 1, refuse while used, lets rmmod through) come
        // often whatever the number of clients. Meanwhile read the page: it is the module's
        // until the module is removed, then the read faults.
        let pause = xorshift(&mut rng) % (2 * peers * session_ticks + 1);
        let end = time::ticks() + pause.min(max_pause);
        loop {
            if let Some(t) = token {
                match fixup::try_read(token_va) {
                    Some(v) if v == t => PAGE_READS.fetch_add(1, Ordering::Relaxed),
                    Some(v) => {
                        if STALE.fetch_add(1, Ordering::Relaxed) == 0 {
                            println!(
                                "stress: client {opener}: stale access: read {v:#x} where the page had token {t:#x}"
                            );
                        }
                        token = None;
                        0
                    }
                    None => {
                        token = None;
                        PAGE_GONE.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
            if time::ticks() >= end || STOP.load(Ordering::Acquire) {
                break;
            }
            sys::yield_now();
        }
    }
    let _ = page.delete();
    urt::cspace::free(slot);
    0
}

/// `stress N [SEED]`.
pub fn stress(cycles: u64, seed: u64) {
    let cores = sys::system_info(InfoKey::Cores).unwrap_or(1) as usize;
    let clients = cores.min(sessions::OPENERS - 2);
    let free_before = sys::system_info(InfoKey::FreeFrames).unwrap_or(0);
    SEED.store(seed | 1, Ordering::Relaxed);
    CLIENTS.store(clients as u64, Ordering::Relaxed);
    STOP.store(false, Ordering::Release);
    for c in [&OPENS, &CALLS_OK, &CALL_ERRORS, &REFUSED, &PAGE_READS, &PAGE_GONE, &STALE, &CLIENT_ERRORS] {
        c.store(0, Ordering::Relaxed);
    }
    if let Err(e) = loader::insmod("buffer") {
        return println!("error: stress: {e}");
    }
    // The clients' fault handler: recovers their reads of pages that were taken away.
    let fault_ep = match Owned::<Endpoint>::create(0) {
        Ok(ep) => ep,
        Err(e) => return println!("error: stress: fault endpoint: {}", e.describe()),
    };
    let handler = match thread::spawn(serve_faults, fault_ep.cptr().0, Some(0)) {
        Ok(h) => h,
        Err(e) => return println!("error: stress: fault handler: {}", e.describe()),
    };
    let mut handles = alloc::vec::Vec::new();
    for i in 0..clients {
        match thread::Builder::new().core(i % cores).fault_endpoint(fault_ep.cptr()).spawn(client, 2 + i as u64) {
            Ok(h) => handles.push(h),
            Err(e) => println!("error: stress: client {i}: {}", e.describe()),
        }
    }
    let (mut removed, mut busy, mut in_use) = (0u64, 0u64, 0u64);
    // Counter ticks spent removing, reloading, waiting for the clients, and in refused rmmods.
    let mut spent = Spent::default();
    let mut rng = seed | 1;
    let progress_every = time::hz() * PROGRESS_SECONDS;
    let mut next_progress = time::ticks() + progress_every;
    while removed < cycles {
        if time::ticks() >= next_progress {
            next_progress += progress_every;
            println!(
                "stress: {removed}/{cycles} cycles, rmmod busy {busy}, in use {in_use}, opens {}, refused {}, pages gone {}; {spent}",
                OPENS.load(Ordering::Relaxed),
                REFUSED.load(Ordering::Relaxed),
                PAGE_GONE.load(Ordering::Relaxed)
            );
        }
        let t0 = time::ticks();
        match service::rmmod("buffer", Mode::Busy, false) {
            Ok(_) => {
                removed += 1;
                let t1 = time::ticks();
                if let Err(e) = loader::insmod("buffer") {
                    println!("error: stress: reload {removed}: {e}");
                    break;
                }
                let t2 = time::ticks();
                // Let the clients use this load before the next unload (as many sessions as
                // there are clients), or the unloader would mostly race an idle module.
                let opens = OPENS.load(Ordering::Relaxed);
                time::wait_for(1000, || OPENS.load(Ordering::Relaxed) >= opens + clients as u64);
                spent.unload += t1 - t0;
                spent.load += t2 - t1;
                spent.wait += time::ticks() - t2;
            }
            Err(e) if e.contains("busy") => {
                busy += 1;
                spent.refused += time::ticks() - t0;
            }
            Err(e) if e.contains("in use") => {
                in_use += 1;
                spent.refused += time::ticks() - t0;
            }
            Err(e) => {
                println!("error: stress: {e}");
                break;
            }
        }
        for _ in 0..xorshift(&mut rng) % 3 {
            sys::yield_now();
        }
    }
    STOP.store(true, Ordering::Release);
    for h in handles {
        let _ = h.join();
    }
    let _ = sys::send(fault_ep.cptr(), &Message::new(fixup::STOP_LABEL, &[]));
    let recovered = handler.join().unwrap_or(0);
    drop(fault_ep);
    let leftover = REGISTRY
        .lock()
        .by_name("buffer")
        .map(|m| (m.shared.unload.refs(), registry::kernel_refs(m), registry::use_count(m.id)));
    let final_rm = service::rmmod("buffer", Mode::Busy, false);
    let free_after = settled_free_frames();
    let [opens, calls_ok, call_errors, refused, reads, gone, stale, client_errors] =
        [&OPENS, &CALLS_OK, &CALL_ERRORS, &REFUSED, &PAGE_READS, &PAGE_GONE, &STALE, &CLIENT_ERRORS]
            .map(|c| c.load(Ordering::Relaxed));
    println!(
        "stress: seed={seed} cores={cores} clients={clients} cycles={removed} opens={opens} calls_ok={calls_ok} call_errors={call_errors} refused={refused} busy={busy} in_use={in_use}"
    );
    println!("stress: {spent}");
    println!(
        "stress: page reads {reads}, pages gone (read faulted, recovered: {recovered}) {gone}, stale accesses {stale}"
    );
    let mut failures = alloc::vec::Vec::new();
    if stale != 0 {
        failures.push(alloc::format!("{stale} stale accesses: a client read a removed module's page"));
    }
    if !matches!(leftover, Some((0, Some(0), 0))) {
        failures.push(alloc::format!("references left (protocol, kernel, sessions) = {leftover:?}"));
    }
    if let Err(e) = &final_rm {
        failures.push(alloc::format!("final rmmod: {e}"));
    }
    if free_after != free_before {
        failures.push(alloc::format!("free_frames before={free_before} after={free_after}"));
    }
    if removed != cycles {
        failures.push(alloc::format!("{removed} of {cycles} cycles"));
    }
    if calls_ok == 0 || gone == 0 || client_errors != 0 {
        failures.push(alloc::format!(
            "the test exercised too little: {calls_ok} successful calls, {gone} page reads that met a removal, {client_errors} clients that could not start"
        ));
    }
    if failures.is_empty() {
        println!("stress ok: {removed} unload/reload cycles, no stale access, references all closed, free_frames={free_after} as before");
    } else {
        println!("stress FAILED: {}", failures.join("; "));
    }
}

/// Where the unloading thread of `stress` spent its time (counter ticks).
#[derive(Default)]
struct Spent {
    unload: u64,
    load: u64,
    wait: u64,
    refused: u64,
}

impl core::fmt::Display for Spent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ms = |t: u64| t * 1000 / time::hz();
        write!(
            f,
            "ms in rmmod {}, insmod {}, waiting for clients {}, refused rmmods {}",
            ms(self.unload),
            ms(self.load),
            ms(self.wait),
            ms(self.refused)
        )
    }
}

/// The stress clients' fault handler thread (`ep` = the fault endpoint's slot).
extern "C" fn serve_faults(ep: u64) -> u64 {
    fixup::serve(CPtr(ep)).unwrap_or(0)
}

/// Where the probe reader maps the shared page, and what it saw.
static PROBE_VA: AtomicU64 = AtomicU64::new(0);
static PROBE_READS: AtomicU64 = AtomicU64::new(0);
static PROBE_SAW_MARKER: AtomicBool = AtomicBool::new(false);
const MARKER: u64 = 0x5741_4c45_5f4d_4b52; // "STALE_MKR"-ish

/// The reader: loads the page's first word forever, noting if it ever is the marker.
extern "C" fn reader(_: u64) -> u64 {
    let va = PROBE_VA.load(Ordering::Acquire);
    loop {
        // SAFETY: deliberately racing an unmap: the page is mapped when the loop starts; once
        // the kernel unmapped it, this load faults and the kernel stops the thread (no fault
        // endpoint) — that is the point of the probe.
        let v = unsafe { core::ptr::read_volatile(va as *const u64) };
        if v == MARKER {
            PROBE_SAW_MARKER.store(true, Ordering::Release);
        }
        PROBE_READS.fetch_add(1, Ordering::Relaxed);
    }
}

/// `probe`.
pub fn probe() {
    let cores = sys::system_info(InfoKey::Cores).unwrap_or(1);
    if cores < 2 {
        return println!("probe: needs two cores; skipped");
    }
    let free_before = sys::system_info(InfoKey::FreeFrames).unwrap_or(0);
    if let Err(e) = loader::insmod("buffer") {
        return println!("error: probe: {e}");
    }
    let Ok((session, cap)) = service::open("buffer", 0, 0) else { return println!("error: probe: open") };
    let Some(recv) = urt::cspace::alloc() else { return println!("error: probe: no slot") };
    let got = sys::call_ep(cap.cptr(), &modsdk::text_message(modsdk::TEXT, "share"), recv);
    if !matches!(&got, Ok(g) if g.msg.cap.is_some()) {
        return println!("error: probe: buffer did not share its page");
    }
    let frame = Cap::<Frame>::new(recv);
    let Ok(range) = urt::vm::Range::alloc(1) else { return println!("error: probe: no address range") };
    if frame.map(ROOT_VSPACE, range.va, Rights::READ).is_err() {
        return println!("error: probe: cannot map the shared page");
    }
    PROBE_VA.store(range.va, Ordering::Release);
    PROBE_SAW_MARKER.store(false, Ordering::Release);
    PROBE_READS.store(0, Ordering::Release);
    let reader = match thread::spawn(reader, 0, Some(1)) {
        Ok(h) => h,
        Err(e) => return println!("error: probe: reader: {}", e.describe()),
    };
    // Let it read for a while, then pull the page away under it.
    if !time::wait_for(60_000, || PROBE_READS.load(Ordering::Acquire) >= 10_000) {
        println!("probe FAILED: the reader on core 1 did not read 10000 times within 60 s");
    }
    let reads_before = PROBE_READS.load(Ordering::Acquire);
    let r = service::rmmod("buffer", Mode::Busy, true);
    // The unmap has returned: reuse frames (the freed one among them) and mark them.
    let mut fresh = alloc::vec::Vec::new();
    for _ in 0..32 {
        let Ok(f) = Owned::<Frame>::create(0) else { break };
        let Ok(w) = urt::vm::Range::alloc(1) else { break };
        if f.map(ROOT_VSPACE, w.va, Rights::READ | Rights::WRITE).is_ok() {
            // SAFETY: just mapped read-write at `w.va` in this address space, used by nothing else.
            unsafe { core::ptr::write_volatile(w.va as *mut u64, MARKER) };
            let _ = f.unmap();
        }
        fresh.push(f);
    }
    // The reader must now be stopped by a fault (the kernel reports it inactive); one that could
    // still reach the old page would read on (and see the marker) instead.
    let stopped = ktest::probe::wait_stopped(reader.tcb(), None, 20_000);
    let reads_after = PROBE_READS.load(Ordering::Acquire);
    let saw = PROBE_SAW_MARKER.load(Ordering::Acquire);
    drop(reader);
    drop(fresh);
    let _ = frame.unmap();
    let _ = frame.delete();
    urt::cspace::free(recv);
    drop(range);
    let _ = service::close(session);
    let free_after = settled_free_frames();
    println!(
        "probe: force-unload {:?}; reader read {reads_before} times before, {reads_after} in all; stopped by a fault: {}; saw the marker: {saw}; free_frames before={free_before} after={free_after}",
        r.is_ok(),
        stopped.is_some()
    );
    match (stopped, saw) {
        (Some(_), false) => {
            println!("probe ok: the reader faulted cleanly after the unmap and never saw the reused frames")
        }
        (_, true) => println!("probe FAILED: the reader saw the marker written into a reused frame (stale access)"),
        (None, false) => println!("probe FAILED: the reader was not stopped by a fault after the unmap"),
    }
}

/// `bench-modules [N]`: the cost of insmod to ready, of the whole rmmod and of the cycle, for
/// the small module `hello` and the large `big` (1 MiB of data), each timed with the virtual
/// counter over N cycles (default 20, at most 100) after one warm-up cycle; printed as
/// `bench-record` lines (`ktest::bench`). Under `-icount shift=0` one counter nanosecond is one
/// guest instruction (all cores' instructions while it runs).
pub fn bench_modules(n: u64) {
    let rounds = n.clamp(1, 100) as usize;
    for (name, size) in [("hello", "small"), ("big", "large")] {
        let mut insmod = alloc::vec::Vec::with_capacity(rounds);
        let mut pages = 0;
        // One warm-up cycle, then the timed ones.
        for i in 0..=rounds {
            let t0 = urt::time::ticks();
            if let Err(e) = loader::insmod(name) {
                return println!("error: bench-modules: insmod {name}: {e}");
            }
            let t1 = urt::time::ticks();
            pages = REGISTRY.lock().by_name(name).map_or(0, |m| m.span);
            if let Err(e) = service::rmmod(name, Mode::Busy, false) {
                return println!("error: bench-modules: rmmod {name}: {e}");
            }
            let t2 = urt::time::ticks();
            if i > 0 {
                insmod.push((t1 - t0, t2 - t1));
            }
        }
        let ps = |ticks: u64| ktest::bench::ps_per_op(ticks, 1);
        let load: alloc::vec::Vec<u128> = insmod.iter().map(|&(l, _)| ps(l)).collect();
        let unload: alloc::vec::Vec<u128> = insmod.iter().map(|&(_, u)| ps(u)).collect();
        let cycle: alloc::vec::Vec<u128> = insmod.iter().map(|&(l, u)| ps(l + u)).collect();
        let what = |w: &str| alloc::format!("{w} of '{name}' ({pages} pages loaded), the shell on core 0");
        ktest::bench::print_record(
            &alloc::format!("insmod_{size}"),
            1,
            &load,
            &what("insmod to ready (validate, relocate, build the domain, init)"),
        );
        ktest::bench::print_record(
            &alloc::format!("rmmod_{size}"),
            1,
            &unload,
            &what("rmmod: the whole unload protocol (unregister, sync, re-check, exit, revoke, free)"),
        );
        ktest::bench::print_record(&alloc::format!("load_unload_{size}"), 1, &cycle, &what("insmod + rmmod cycle"));
    }
    println!("bench: modules done");
}

/// What each force-probe client's call ended with: 0 = not yet, 1 = answered, 2 + error code.
static FORCE_CALLS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// A force-probe client: `arg` = index (0, 1) << 32 | the session capability's slot. Client 0
/// asks `spinner` to spin until it is removed (its call is in progress in the module); client 1
/// asks for a short spin, started only once the kernel reports client 0's call inside the
/// module, so its call waits in the endpoint's queue.
extern "C" fn force_client(arg: u64) -> u64 {
    let (i, cap) = ((arg >> 32) as usize, CPtr(arg & 0xffff_ffff));
    let ask = if i == 0 { "spin forever" } else { "spin 1" };
    let r = sys::call_ep(cap, &modsdk::text_message(modsdk::TEXT, ask), CPtr::NONE);
    let code = match r {
        Ok(_) => 1,
        Err(e) => 2 + e as u64,
    };
    FORCE_CALLS[i].store(code, Ordering::Release);
    code
}

/// `busy-probe`: while `spinner` is inside a call that never ends (a client on core 1 asked it
/// to `spin forever`; the kernel reports the module's thread serving the call), `hello` (loaded
/// if it is not) answers a call from the shell; then `spinner` is force-removed, which ends the
/// client's call with an error. A module that spins does not stop the others.
pub fn busy_probe() {
    if sys::system_info(InfoKey::Cores).unwrap_or(1) < 2 {
        return println!("busy-probe: needs two cores; skipped");
    }
    for m in ["hello", "spinner"] {
        if REGISTRY.lock().by_name(m).is_none() {
            if let Err(e) = loader::insmod(m) {
                return println!("error: busy-probe: {e}");
            }
        }
    }
    let Some(thread) = REGISTRY.lock().by_name("spinner").map(|m| m.thread) else {
        return println!("error: busy-probe: spinner not in the registry");
    };
    let (spin_session, spin_cap) = match service::open("spinner", 0, 0) {
        Ok((id, cap)) => (id, cap.cptr()),
        Err(e) => return println!("error: busy-probe: open spinner: {e}"),
    };
    FORCE_CALLS[0].store(0, Ordering::Release);
    let client = match thread::spawn(force_client, spin_cap.0, Some(1)) {
        Ok(h) => h,
        Err(e) => return println!("error: busy-probe: client: {}", e.describe()),
    };
    let serving = time::wait_for(FORCE_WAIT_MS, || sys::cap_info(thread).is_ok_and(|i| i.waiting == 1));
    let answer = service::open("hello", 0, 0).and_then(|(id, cap)| {
        let r = sys::call_ep(cap.cptr(), &modsdk::text_message(modsdk::TEXT, "busy probe"), CPtr::NONE);
        let _ = service::close(id);
        let got = r.map_err(|e| alloc::format!("call hello: {}", e.describe()))?;
        let mut buf = [0u8; modsdk::TEXT_MAX];
        Ok(alloc::string::String::from(modsdk::message_text(&got.msg, &mut buf)))
    });
    let still_spinning =
        sys::cap_info(thread).is_ok_and(|i| i.waiting == 1) && FORCE_CALLS[0].load(Ordering::Acquire) == 0;
    let removed = service::rmmod("spinner", Mode::Busy, true);
    let ended = time::wait_for(FORCE_WAIT_MS, || FORCE_CALLS[0].load(Ordering::Acquire) != 0);
    if ended {
        let _ = client.join();
    }
    let _ = service::close(spin_session);
    println!(
        "busy-probe: spinner serving a call: {serving}; hello answered: {answer:?}; spinner still inside the call after: {still_spinning}; rmmod --force: {removed:?}; the client's call ended: {ended}"
    );
    let ok = serving
        && still_spinning
        && answer.as_deref().is_ok_and(|a| a.contains("busy probe"))
        && removed.is_ok()
        && ended
        && FORCE_CALLS[0].load(Ordering::Acquire) >= 2;
    if ok {
        println!("busy-probe ok: hello answered while spinner spun inside a call");
    } else {
        println!("busy-probe FAILED");
    }
}

/// How long the force probe waits for a state the kernel reports (generous: slow emulation).
const FORCE_WAIT_MS: u64 = 20_000;

/// `force-probe`: `rmmod --force` while one client's call is in progress in the module (it
/// spins until the module is removed) and another's waits in the queue, both on other cores.
/// The order is established from what the kernel reports (`CapInfo`'s `waiting`): the module's
/// thread serves a call before the second client starts, and the endpoint has one queued
/// caller before the rmmod. Both calls must end with an error (the first never would on its
/// own: the server must not wait for the module), and the next call on either session gets a
/// clear error.
pub fn force_probe() {
    let cores = sys::system_info(InfoKey::Cores).unwrap_or(1) as usize;
    if cores < 3 {
        return println!("force-probe: needs three cores; skipped");
    }
    let free_before = sys::system_info(InfoKey::FreeFrames).unwrap_or(0);
    if let Err(e) = loader::insmod("spinner") {
        return println!("error: force-probe: {e}");
    }
    let Some((thread, ep)) = REGISTRY.lock().by_name("spinner").map(|m| (m.thread, m.shared.ep.cptr())) else {
        return println!("error: force-probe: spinner not in the registry after insmod");
    };
    let waiting = |cap: CPtr| sys::cap_info(cap).map_or(u64::MAX, |i| i.waiting);
    let mut sessions = [(0u64, CPtr::NONE); 2];
    for s in sessions.iter_mut() {
        match service::open("spinner", 0, 0) {
            Ok((id, cap)) => *s = (id, cap.cptr()),
            Err(e) => return println!("error: force-probe: open: {e}"),
        }
    }
    for c in &FORCE_CALLS {
        c.store(0, Ordering::Release);
    }
    let mut clients = alloc::vec::Vec::new();
    let mut observed = [false; 2];
    for (i, (_, cap)) in sessions.iter().enumerate() {
        match thread::spawn(force_client, (i as u64) << 32 | cap.0, Some(1 + i)) {
            Ok(h) => clients.push(h),
            Err(e) => return println!("error: force-probe: client {i}: {}", e.describe()),
        }
        // Client 0: the module's thread serves its call. Client 1: its call is queued.
        observed[i] = if i == 0 {
            time::wait_for(FORCE_WAIT_MS, || waiting(thread) == 1)
        } else {
            time::wait_for(FORCE_WAIT_MS, || waiting(ep) == 1)
        };
        if !observed[i] {
            break;
        }
    }
    let serving = waiting(thread);
    let queued = waiting(ep);
    let before = FORCE_CALLS.each_ref().map(|c| c.load(Ordering::Acquire));
    let start = time::ticks();
    let r = service::rmmod("spinner", Mode::Busy, true);
    let ended = time::wait_for(FORCE_WAIT_MS, || FORCE_CALLS.iter().all(|c| c.load(Ordering::Acquire) != 0));
    let ms = (time::ticks() - start) * 1000 / time::hz();
    let after = FORCE_CALLS.each_ref().map(|c| c.load(Ordering::Acquire));
    if ended {
        for c in clients {
            let _ = c.join();
        }
    }
    let next =
        sessions.map(|(_, cap)| sys::call_ep(cap, &modsdk::text_message(modsdk::TEXT, "spin 1"), CPtr::NONE).err());
    for (id, _) in sessions {
        let _ = service::close(id);
    }
    let free_after = settled_free_frames();
    let describe = |code: u64| match code {
        0 => alloc::string::String::from("still waiting"),
        1 => alloc::string::String::from("answered"),
        c => abi::Error::from_code(c - 2)
            .map_or(alloc::format!("error {}", c - 2), |e| alloc::string::String::from(e.describe())),
    };
    println!(
        "force-probe: rmmod --force: {r:?}; in-progress call: {}; queued call: {}; ended {ms} ms after the rmmod began; next calls: {next:?}; free_frames before={free_before} after={free_after}",
        describe(after[0]),
        describe(after[1])
    );
    let ok = observed == [true, true]
        && before == [0, 0]
        && r.is_ok()
        && ended
        && after.iter().all(|&c| c >= 2)
        && next.iter().all(Option::is_some)
        && free_after == free_before;
    if ok {
        println!("force-probe ok: both calls ended with an error, the next calls fail, free_frames as before");
    } else {
        println!(
            "force-probe FAILED (kernel reported before the rmmod: module serving a call {observed0} ({serving}), callers queued {observed1} ({queued}); calls ended before the rmmod: {before:?})",
            observed0 = observed[0],
            observed1 = observed[1],
        );
    }
}

/// One soak case: modules to load first (in order), the module to use, a request and the start
/// of the answer it must give.
struct SoakCase {
    deps: &'static [&'static str],
    module: &'static str,
    request: &'static str,
    answer: &'static str,
}

/// Every shipped module that answers calls (`crash` and `intruder` are hostile on purpose; the
/// fault and authority scenarios cover them).
const SOAK_CASES: [SoakCase; 5] = [
    SoakCase { deps: &[], module: "hello", request: "soak", answer: "hello, soak!" },
    SoakCase { deps: &[], module: "kv", request: "set soak 1", answer: "soak=1" },
    SoakCase { deps: &["hello"], module: "greeter", request: "soak", answer: "greeter relays: hello, soak!" },
    SoakCase { deps: &[], module: "buffer", request: "write soak", answer: "wrote 4 bytes" },
    SoakCase { deps: &[], module: "spinner", request: "spin 0", answer: "spun 0 ms" },
];

/// The figures a soak must end with: the kernel's (once nothing is dying), the server's
/// sessions and modules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Figures {
    free_frames: u64,
    cap_slots: u64,
    mappings: u64,
    objects: [u64; 9],
    sessions: usize,
    modules: usize,
    /// The server's own CNode slots in use, and module address slots in use.
    server_slots: u32,
    pool_slots: usize,
    /// Directory records owned (one per listed module).
    records: usize,
}

fn figures() -> Result<Figures, alloc::string::String> {
    // Settled first: objects being destroyed, and requests the service threads are finishing
    // (an open frees its own slot after its reply has woken the module).
    time::wait_for(20_000, || service::requests_in_flight() == 0 && sys::kernel_check().is_ok_and(|s| s.dying == 0));
    let s = sys::kernel_check().map_err(|e| alloc::format!("the kernel's figures: {}", e.describe()))?;
    if s.violations != 0 {
        return Err(alloc::format!("the kernel's self-check found {} broken invariants", s.violations));
    }
    Ok(Figures {
        free_frames: s.free_frames,
        cap_slots: s.cap_slots,
        mappings: s.mappings,
        objects: s.objects,
        sessions: sessions::all().count(),
        modules: REGISTRY.lock().modules.len(),
        server_slots: urt::cspace::used_count(),
        pool_slots: crate::pool::used_count(),
        records: sessions::records(),
    })
}

/// Cycles after which the soak takes the server's heap figure it compares the end with.
const WARM_UP_CYCLES: u64 = 200;
/// How much the heap may differ from that figure at the end (a B-tree node or a vector's
/// capacity more): 4 KiB. A leak of a few bytes per cycle exceeds it within 1,000 cycles.
const HEAP_SLACK: usize = 4096;

/// One load/open/call/close/unload cycle of `case`.
fn soak_cycle(case: &SoakCase) -> Result<(), alloc::string::String> {
    for d in case.deps {
        loader::insmod(d)?;
    }
    loader::insmod(case.module)?;
    let (id, cap) = service::open(case.module, 0, 0)?;
    let mut buf = [0u8; modsdk::TEXT_MAX];
    let answer = sys::call_ep(cap.cptr(), &modsdk::text_message(modsdk::TEXT, case.request), CPtr::NONE)
        .map_err(|e| alloc::format!("{}: call: {}", case.module, e.describe()))
        .map(|got| (got.msg.label, alloc::string::String::from(modsdk::message_text(&got.msg, &mut buf))));
    service::close(id)?;
    let (label, text) = answer?;
    if label != modsdk::TEXT || !text.starts_with(case.answer) {
        return Err(alloc::format!("{}: asked {:?}, answered {text:?}", case.module, case.request));
    }
    service::rmmod(case.module, Mode::Busy, false)?;
    for d in case.deps.iter().rev() {
        service::rmmod(d, Mode::Busy, false)?;
    }
    Ok(())
}

/// `soak N [SEED]`: N load/open/call/close/unload cycles over every shipped module that answers
/// (seeded order), then the kernel's and the server's figures must be exactly where they were.
/// Needs no module loaded at the start.
pub fn soak(n: u64, seed: u64) {
    let before = match figures() {
        Ok(f) => f,
        Err(e) => return println!("error: soak: {e}"),
    };
    if before.modules != 0 {
        return println!("error: soak: unload every module first ({} loaded)", before.modules);
    }
    println!("soak: {n} cycles over {} modules, seed {seed}", SOAK_CASES.len());
    let hz = sys::system_info(InfoKey::CounterHz).unwrap_or(1).max(1);
    let start = time::ticks();
    let mut next_progress = start + PROGRESS_SECONDS * hz;
    let mut rng = seed | 1;
    let heap_before = urt::heap::stats().1;
    // The heap is compared after a warm-up: the directory's records, the registry's names of
    // gone modules and the server's vectors reach their working size in the first cycles.
    let warm_up = (n / 5).min(WARM_UP_CYCLES);
    let mut heap_warm = heap_before;
    for i in 0..n {
        if i == warm_up {
            heap_warm = urt::heap::stats().1;
        }
        let case = &SOAK_CASES[(xorshift(&mut rng) % SOAK_CASES.len() as u64) as usize];
        if let Err(e) = soak_cycle(case) {
            return println!("error: soak: cycle {i} ({}): {e}", case.module);
        }
        if time::ticks() >= next_progress {
            println!("soak: {} of {n} cycles", i + 1);
            next_progress += PROGRESS_SECONDS * hz;
        }
    }
    let secs = (time::ticks() - start) / hz;
    let heap_after = urt::heap::stats().1;
    println!(
        "soak: the server's heap: {heap_before} bytes used at the start, {heap_warm} after {warm_up} cycles, \
         {heap_after} at the end"
    );
    // It used to grow by 585 bytes a cycle (a record per load kept for good, every name ever
    // loaded): a growth of more than a few pages after the warm-up is a leak.
    if heap_after > heap_warm + HEAP_SLACK {
        return println!(
            "soak FAILED: the server's heap grew by {} bytes in the last {} cycles (a leak)",
            heap_after - heap_warm,
            n - warm_up
        );
    }
    match figures() {
        Ok(after) if after == before => {
            println!("soak ok: {n} cycles in {secs} s, figures back to where they were: {before:?}")
        }
        Ok(after) => println!("soak FAILED: after {n} cycles the figures moved: before {before:?}, after {after:?}"),
        Err(e) => println!("soak FAILED: {e}"),
    }
}

/// `insmod-sweep NAME`: loads `NAME` again and again with the failure-injection hook set to
/// each step of the load path in turn (step 1, 2, ... until a load gets through), and after
/// every failed load checks that nothing is half-built: the error names the injected failure,
/// the registry and every figure (the kernel's and the server's) are exactly at their start.
/// The load that gets through is unloaded and checked the same way.
pub fn insmod_sweep(name: &str) {
    loader::SETTLE_OPENS.store(true, Ordering::Relaxed);
    let outcome = sweep_steps(name).and_then(|steps| fail_in_open(name).map(|opened| (steps, opened)));
    loader::SETTLE_OPENS.store(false, Ordering::Relaxed);
    match outcome {
        Ok((steps, opened)) => println!(
            "insmod-sweep ok: {name}: {steps} failure points, each rolled back (registry and figures at their start){}",
            if opened { "; stopped while opening a session: rolled back" } else { "" }
        ),
        Err(e) => println!("{e}"),
    }
}

/// One load of `name` with [`service::FAIL_IN_OPEN`] set: a module that opens a session from
/// its init is stopped in the middle of that open, and the registry and every figure must be at
/// their start afterwards. Whether the hook fired (a module that opens nothing loads normally
/// and is unloaded again).
fn fail_in_open(name: &str) -> Result<bool, String> {
    let before = figures().map_err(|e| format!("insmod-sweep FAILED: {e}"))?;
    loader::SETTLE_OPENS.store(false, Ordering::Relaxed);
    service::FAIL_IN_OPEN.store(true, Ordering::Release);
    let r = loader::insmod(name);
    let fired = !service::FAIL_IN_OPEN.swap(false, Ordering::AcqRel);
    match (fired, r) {
        (true, Ok(_)) => return Err(format!("insmod-sweep FAILED: {name}: loaded although stopped while opening")),
        (true, Err(_)) => {}
        (false, Ok(_)) => {
            service::rmmod(name, Mode::Busy, false)
                .map_err(|e| format!("insmod-sweep FAILED: {name}: the load would not unload: {e}"))?;
        }
        (false, Err(e)) => return Err(format!("insmod-sweep FAILED: {name}: a real failure: {e}")),
    }
    match figures() {
        Ok(after) if after == before => Ok(fired),
        Ok(after) => Err(format!(
            "insmod-sweep FAILED: {name}: stopped while opening a session: before {before:?}, after {after:?}"
        )),
        Err(e) => Err(format!("insmod-sweep FAILED: {e}")),
    }
}

/// The step sweep of [`insmod_sweep`]: the number of failure points, or the line that says
/// what went wrong.
fn sweep_steps(name: &str) -> Result<u64, String> {
    let before = figures().map_err(|e| format!("error: insmod-sweep: {e}"))?;
    let check = |when: &str| match figures() {
        Ok(after) if after == before => Ok(()),
        Ok(after) => Err(format!("insmod-sweep FAILED: {name}: {when}: before {before:?}, after {after:?}")),
        Err(e) => Err(format!("insmod-sweep FAILED: {e}")),
    };
    for step in 1..=10_000u64 {
        loader::STEPS.store(0, Ordering::Relaxed);
        loader::FAIL_AT.store(step, Ordering::Relaxed);
        let r = loader::insmod(name);
        loader::FAIL_AT.store(0, Ordering::Relaxed);
        match r {
            Ok(_) => {
                service::rmmod(name, Mode::Busy, false)
                    .map_err(|e| format!("insmod-sweep FAILED: {name}: the clean load would not unload: {e}"))?;
                check("after the clean load")?;
                return Ok(step - 1);
            }
            Err(e) if !e.contains(loader::INJECTED) => {
                return Err(format!("insmod-sweep FAILED: {name}: step {step}: a real failure: {e}"));
            }
            Err(_) => check(&format!("failure at step {step}"))?,
        }
    }
    Err(format!("insmod-sweep FAILED: {name}: no load got through in 10,000 steps"))
}

/// `exhaust-sessions NAME`: opens sessions on `NAME` (loading it if needed) until the server
/// says no, checks that the refusal names what ran out, closes them all, unloads what it loaded,
/// and checks every figure is back where it started.
pub fn exhaust_sessions(name: &str) {
    let Ok(before) = figures() else { return println!("error: exhaust-sessions: cannot read the figures") };
    let loaded_here = REGISTRY.lock().by_name(name).is_none();
    if loaded_here {
        if let Err(e) = loader::insmod(name) {
            return println!("error: exhaust-sessions: {e}");
        }
    }
    let mut open = alloc::vec::Vec::new();
    let why = loop {
        match service::open(name, 0, 0) {
            Ok((id, _)) => open.push(id),
            Err(e) => break e,
        }
        if open.len() > 2 * sessions::SESSIONS {
            break alloc::string::String::from("no limit reached");
        }
    };
    let n = open.len();
    for id in open {
        if let Err(e) = service::close(id) {
            return println!("exhaust-sessions FAILED: close {id}: {e}");
        }
    }
    if loaded_here {
        if let Err(e) = service::rmmod(name, Mode::Busy, false) {
            return println!("exhaust-sessions FAILED: {e}");
        }
    }
    let named = why.contains("too many sessions") || why.contains("CNode is full");
    match figures() {
        Ok(after) if after == before && named => {
            println!("exhaust-sessions ok: {n} sessions opened, then: {why}; all closed, figures at their start")
        }
        Ok(after) if after == before => {
            println!("exhaust-sessions FAILED: after {n} sessions an unclear refusal: {why}")
        }
        Ok(after) => println!("exhaust-sessions FAILED: figures moved: before {before:?}, after {after:?}"),
        Err(e) => println!("exhaust-sessions FAILED: {e}"),
    }
}

/// The process whose thread stalls a core (`stall`), kept until the next `stall`.
static STALLER: spin::mutex::SpinMutex<Option<urt::process::Process>> = spin::mutex::SpinMutex::new(None);
/// Where the staller finds the Debug authority in its own CNode.
const STALLER_DEBUG_SLOT: u32 = 1;

extern "C" fn staller(us: u64) -> u64 {
    sys::set_authority(abi::Authority::Debug, CPtr::root(STALLER_DEBUG_SLOT));
    match sys::debug_stall(us) {
        Ok(()) => 0,
        Err(e) => e as u64,
    }
}

/// `stall CORE MS`: a test hook — core CORE stops answering (interrupts masked, no thread runs)
/// for MS milliseconds or until a cross-core sync gives up waiting for it (the kernel's bound,
/// 2 s), so that a sync started meanwhile cannot complete. The
/// kernel logs `stall: core N stops answering` when it begins and `answers again` when it
/// ends. The stalling thread runs in a process of its own (its own address space: a TLB
/// shootdown of the server's pages never waits for the stalled core).
pub fn stall(core: usize, ms: u64) {
    let cores = sys::system_info(InfoKey::Cores).unwrap_or(1) as usize;
    if core >= cores {
        return println!("error: stall: there is no core {core} (cores 0..{})", cores - 1);
    }
    let us = ms.saturating_mul(1000);
    if us > abi::STALL_MAX_US {
        return println!("error: stall: at most {} ms", abi::STALL_MAX_US / 1000);
    }
    // A stall of 0 µs only asks whether the kernel allows the hook.
    if let Err(e) = sys::debug_stall(0) {
        return println!("error: stall: the kernel refuses ({}): boot it with debug.stall=1", e.describe());
    }
    let mut staller_slot = STALLER.lock();
    // The last one has finished (its stall ended, or it is still stalling: then this waits).
    if let Some(mut old) = staller_slot.take() {
        let _ = old.join();
    }
    let debug = sys::authority(abi::Authority::Debug);
    match urt::process::spawn_clone(staller, us, Some(core), &[(debug, STALLER_DEBUG_SLOT)]) {
        Ok(p) => {
            *staller_slot = Some(p);
            println!("stall: core {core} will stop answering for {ms} ms");
        }
        Err(e) => println!("error: stall: cannot start the stalling process: {}", e.describe()),
    }
}

/// What an exhaustion error must name (one of these): the resource that ran out.
const RAN_OUT: [&str; 7] = [
    "too many modules loaded",
    "no room in the module address pool",
    "not enough memory",
    "no address-space identifier (ASID) left",
    "the module server's CNode is full",
    "too many sessions",
    "out of memory",
];

/// `exhaust-modules FILE [pool=N]`: loads FILE again and again (as FILE-1, FILE-2, ...), opening
/// and calling a session on each, until something runs out; the error must name what (module
/// records, load addresses, memory, ASIDs, slots, sessions). Then everything is closed and
/// unloaded, and the kernel's and the server's figures must be back where they were. `pool=N`
/// lets the load-address pool hand out only N slots (a test hook), so that it runs out first.
pub fn exhaust_modules(file: &str, pool_limit: Option<usize>) {
    // A warm-up load and unload first: the server's heap grows for the file's image the first
    // time (and keeps those frames for good), which is not what is compared.
    let warm = alloc::format!("{file}-warm-up");
    if let Err(e) = loader::insmod_as(file, Some(&warm)).and_then(|_| service::rmmod(&warm, Mode::Busy, false)) {
        return println!("error: exhaust-modules: the warm-up load of {file}: {e}");
    }
    let before = match figures() {
        Ok(f) => f,
        Err(e) => return println!("error: exhaust-modules: {e}"),
    };
    if before.modules != 0 {
        return println!("error: exhaust-modules: unload every module first ({} loaded)", before.modules);
    }
    if let Some(n) = pool_limit {
        println!("exhaust-modules: the load-address pool hands out at most {} slots", crate::pool::set_limit(n));
    }
    let mut loaded: alloc::vec::Vec<alloc::string::String> = alloc::vec::Vec::new();
    let mut open: alloc::vec::Vec<u64> = alloc::vec::Vec::new();
    let why = loop {
        if loaded.len() >= 4 * sessions::MODULES {
            break alloc::string::String::from("nothing ran out (a limit is missing)");
        }
        let name = alloc::format!("{file}-{}", loaded.len() + 1);
        if let Err(e) = loader::insmod_as(file, Some(&name)) {
            break e;
        }
        loaded.push(name.clone());
        match service::open(&name, 0, 0) {
            Ok((id, cap)) => {
                open.push(id);
                let asked = sys::call_ep(cap.cptr(), &modsdk::text_message(modsdk::TEXT, "sum"), CPtr::NONE);
                if let Err(e) = asked.map_err(|e| e.describe()).and_then(|got| {
                    if got.msg.label == modsdk::TEXT {
                        Ok(())
                    } else {
                        Err("it answered an error")
                    }
                }) {
                    break alloc::format!("{name}: call: {e}");
                }
            }
            Err(e) => break alloc::format!("open: {e}"),
        }
        if loaded.len().is_multiple_of(16) {
            println!("exhaust-modules: {} loaded", loaded.len());
        }
    };
    let named = RAN_OUT.iter().find(|k| why.contains(*k));
    println!("exhaust-modules: {} loaded with a session each, then: {why}", loaded.len());
    let mut problems: alloc::vec::Vec<alloc::string::String> = alloc::vec::Vec::new();
    if named.is_none() {
        problems.push(alloc::format!("the error does not name what ran out: {why:?}"));
    }
    for id in open {
        if let Err(e) = service::close(id) {
            problems.push(alloc::format!("close {id}: {e}"));
        }
    }
    for name in loaded.iter().rev() {
        if let Err(e) = service::rmmod(name, Mode::Busy, false) {
            problems.push(e);
        }
    }
    if pool_limit.is_some() {
        crate::pool::set_limit(usize::MAX);
    }
    match figures() {
        Ok(after) if after == before => {}
        Ok(after) => problems.push(alloc::format!("the figures moved: before {before:?}, after {after:?}")),
        Err(e) => problems.push(e),
    }
    if problems.is_empty() {
        println!(
            "exhaust-modules ok: {} loaded until {:?} ran out; all removed, figures back",
            loaded.len(),
            named.copied().unwrap_or("?")
        );
    } else {
        for p in problems {
            println!("exhaust-modules FAILED: {p}");
        }
    }
}
