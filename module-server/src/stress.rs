//! The unload race stress test (`stress N [SEED]`) and the stale-access probe (`probe`).
//!
//! **stress**: client threads on every core open a session on `hello`, call it and close it,
//! in a loop with seeded random pauses, while the shell unloads and reloads `hello` N times
//! (`rmmod` in its default mode, retried while busy or in use). Afterwards: every reference
//! closed (the protocol's count and the kernel's derivation tree both 0), `free_frames` back to
//! its starting figure, no panic.
//!
//! **probe**: a thread on another core reads a page shared by `buffer` in a tight loop while
//! `buffer` is force-unloaded; once the unmap has returned the reader must fault cleanly (the
//! kernel stops it at the read), and it must never see the marker the server then writes into
//! freshly allocated frames (which reuse the freed ones).

use crate::{loader, registry, service, sessions, REGISTRY};
use abi::{CPtr, InfoKey, Rights};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use unload::Mode;
use urt::cap::{Cap, Frame, Owned, ROOT_VSPACE};
use urt::{println, sys, thread};

static STOP: AtomicBool = AtomicBool::new(false);
static OPENS: AtomicU64 = AtomicU64::new(0);
static CALLS_OK: AtomicU64 = AtomicU64::new(0);
static CALL_ERRORS: AtomicU64 = AtomicU64::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);
static SEED: AtomicU64 = AtomicU64::new(1);

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// A client: opener slot `slot` (2..), until told to stop.
extern "C" fn client(slot: u64) -> u64 {
    let mut rng = SEED.load(Ordering::Relaxed) ^ slot.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while !STOP.load(Ordering::Acquire) {
        match service::open("hello", 0, slot as usize) {
            Ok((id, cap)) => {
                OPENS.fetch_add(1, Ordering::Relaxed);
                match sys::call_ep(cap.cptr(), &modsdk::text_message(modsdk::TEXT, "stress"), CPtr::NONE) {
                    Ok(_) => CALLS_OK.fetch_add(1, Ordering::Relaxed),
                    Err(_) => CALL_ERRORS.fetch_add(1, Ordering::Relaxed),
                };
                let _ = service::close(id);
            }
            Err(_) => {
                REFUSED.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Pause outside any session, a seeded random while: without moments when no client
        // holds a reference, step 1 (refuse while used) would refuse every rmmod.
        for _ in 0..xorshift(&mut rng) % 32 {
            sys::yield_now();
        }
    }
    0
}

/// `stress N [SEED]`.
pub fn stress(cycles: u64, seed: u64) {
    let cores = sys::system_info(InfoKey::Cores).unwrap_or(1) as usize;
    let clients = cores.min(sessions::OPENERS - 2);
    let free_before = sys::system_info(InfoKey::FreeFrames).unwrap_or(0);
    SEED.store(seed | 1, Ordering::Relaxed);
    STOP.store(false, Ordering::Release);
    for c in [&OPENS, &CALLS_OK, &CALL_ERRORS, &REFUSED] {
        c.store(0, Ordering::Relaxed);
    }
    if let Err(e) = loader::insmod("hello") {
        return println!("error: stress: {e}");
    }
    let mut handles = alloc::vec::Vec::new();
    for i in 0..clients {
        match thread::spawn(client, 2 + i as u64, Some(i % cores)) {
            Ok(h) => handles.push(h),
            Err(e) => println!("error: stress: client {i}: {}", e.describe()),
        }
    }
    let (mut removed, mut busy, mut in_use) = (0u64, 0u64, 0u64);
    let mut rng = seed | 1;
    while removed < cycles {
        match service::rmmod("hello", Mode::Busy, false) {
            Ok(_) => {
                removed += 1;
                if let Err(e) = loader::insmod("hello") {
                    println!("error: stress: reload {removed}: {e}");
                    break;
                }
            }
            Err(e) if e.contains("busy") => busy += 1,
            Err(e) if e.contains("in use") => in_use += 1,
            Err(e) => {
                println!("error: stress: {e}");
                break;
            }
        }
        for _ in 0..xorshift(&mut rng) % 3 {
            sys::yield_now();
        }
        if removed % 250 == 0 && removed > 0 && busy + in_use == 0 {
            println!("stress: {removed} cycles so far");
        }
    }
    STOP.store(true, Ordering::Release);
    for h in handles {
        let _ = h.join();
    }
    let leftover = REGISTRY.lock().by_name("hello").map(|m| (m.shared.unload.refs(), registry::kernel_refs(m), registry::use_count(m.id)));
    let final_rm = service::rmmod("hello", Mode::Busy, false);
    let free_after = sys::system_info(InfoKey::FreeFrames).unwrap_or(0);
    println!(
        "stress: seed={seed} cores={cores} clients={clients} cycles={removed} opens={} calls_ok={} call_errors={} refused={} busy={busy} in_use={in_use}",
        OPENS.load(Ordering::Relaxed),
        CALLS_OK.load(Ordering::Relaxed),
        CALL_ERRORS.load(Ordering::Relaxed),
        REFUSED.load(Ordering::Relaxed)
    );
    match (leftover, final_rm) {
        (Some((0, Some(0), 0)), Ok(_))
            if free_after == free_before && removed == cycles && CALLS_OK.load(Ordering::Relaxed) > 0 =>
        {
            println!("stress ok: {removed} unload/reload cycles, references all closed, free_frames={free_after} as before");
        }
        (l, r) => println!(
            "stress FAILED: (no successful client call counts as a failure too) leftover (protocol refs, kernel refs, sessions) = {l:?}, final rmmod = {r:?}, free_frames before={free_before} after={free_after}"
        ),
    }
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
    while PROBE_READS.load(Ordering::Acquire) < 10_000 {
        sys::yield_now();
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
    // Give the reader time to run into the marker if it could still reach the old page.
    for _ in 0..2000 {
        sys::yield_now();
    }
    let stopped = ktest::probe::wait_stopped(reader.tcb(), None, 1000);
    let reads_after = PROBE_READS.load(Ordering::Acquire);
    let saw = PROBE_SAW_MARKER.load(Ordering::Acquire);
    drop(reader);
    drop(fresh);
    let _ = frame.unmap();
    let _ = frame.delete();
    urt::cspace::free(recv);
    drop(range);
    let _ = service::close(session);
    let free_after = sys::system_info(InfoKey::FreeFrames).unwrap_or(0);
    println!(
        "probe: force-unload {:?}; reader read {reads_before} times before, {reads_after} in all; stopped by a fault: {}; saw the marker: {saw}; free_frames before={free_before} after={free_after}",
        r.is_ok(),
        stopped.is_some()
    );
    match (stopped, saw) {
        (Some(_), false) => println!("probe ok: the reader faulted cleanly after the unmap and never saw the reused frames"),
        (_, true) => println!("probe FAILED: the reader saw the marker written into a reused frame (stale access)"),
        (None, false) => println!("probe FAILED: the reader was not stopped by a fault after the unmap"),
    }
}

/// `bench-modules [N]`: the cost of one insmod+rmmod cycle of `hello`, timed with the virtual
/// counter over N cycles (default 20) after one warm-up cycle. Under `-icount shift=0` one
/// counter nanosecond is one guest instruction (all cores' instructions while it runs).
pub fn bench_modules(n: u64) {
    let cycle = || -> Result<(), alloc::string::String> {
        loader::insmod("hello")?;
        service::rmmod("hello", Mode::Busy, false).map(drop)
    };
    if let Err(e) = cycle() {
        return println!("error: bench-modules: {e}");
    }
    let hz = sys::system_info(InfoKey::CounterHz).unwrap_or(1);
    let start = urt::time::ticks();
    for i in 0..n {
        if let Err(e) = cycle() {
            return println!("error: bench-modules: cycle {i}: {e}");
        }
    }
    let ticks = urt::time::ticks() - start;
    let ns = u128::from(ticks) * 1_000_000_000 / u128::from(hz) / u128::from(n.max(1));
    println!("bench: insmod+rmmod of hello: {}.{:03} ms/cycle over {n} cycles (counter ticks {ticks} at {hz} Hz)", ns / 1_000_000, ns / 1000 % 1000);
    println!("bench: insmod+rmmod of hello: ~{ns} guest instructions/cycle (valid under -icount shift=0)");
}
