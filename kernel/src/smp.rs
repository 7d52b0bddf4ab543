//! Bringing up the other cores, inter-processor interrupts, and the boot IPI self-test.
//!
//! IPIs are GIC software-generated interrupts (SGIs); what they ask for is in per-core mailboxes
//! of atomic bit sets, so one SGI number serves many senders and nothing is lost if two arrive
//! while the first is being handled.

use crate::arch::{boot, gic, psci, timer};
use crate::board;
use crate::mm::virt_to_phys;
use crate::percpu;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use klogic::board::MAX_CPUS;

/// SGI: "acknowledge my ping" (the self-test).
pub const SGI_PING: u32 = 0;
/// SGI: "look at your run queue" (a thread was made runnable on your core).
pub const SGI_RESCHEDULE: u32 = 1;
/// SGI: "stop" (another core panicked).
pub const SGI_STOP: u32 = 2;
/// SGI: "answer the cross-core sync" (see `crate::sync`).
pub const SGI_SYNC: u32 = 3;

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
/// PINGS[c]: the cores that pinged core c and await its acknowledgement.
static PINGS: [AtomicU64; MAX_CPUS] = [ZERO; MAX_CPUS];
/// PONGS[c]: the cores that acknowledged core c's pings.
static PONGS: [AtomicU64; MAX_CPUS] = [ZERO; MAX_CPUS];
/// Result of each core's self-test: the mask of cores that acknowledged it.
static SELFTEST_ACKED: [AtomicU64; MAX_CPUS] = [ZERO; MAX_CPUS];
static SELFTEST_GO: AtomicBool = AtomicBool::new(false);
static SELFTEST_DONE: AtomicUsize = AtomicUsize::new(0);
static SELFTEST_CORES: AtomicUsize = AtomicUsize::new(0);

/// Waits until `cond` holds or `seconds` of counter time pass; true if it held.
pub fn wait_until(seconds: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = timer::counter() + seconds * timer::frequency();
    while !cond() {
        if timer::counter() > deadline {
            return false;
        }
        crate::arch::cpu::relax();
    }
    true
}

/// Starts every core the device tree lists besides core 0, one at a time, waiting for each
/// to report online. Returns how many cores are online, core 0 included.
pub fn start_secondaries() -> usize {
    let b = board::get();
    let entry = virt_to_phys(boot::secondary_entry_address());
    let mut online = 1;
    for (core, &mpidr) in b.cpu_mpidrs().iter().enumerate().skip(1) {
        if let Err(e) = psci::cpu_on(b.psci, mpidr, entry, core as u64) {
            log::error!("core {core} (mpidr {mpidr:#x}): PSCI CPU_ON failed: {}", e.name());
            continue;
        }
        if wait_until(30, || percpu::of(core).online.load(Ordering::Acquire)) {
            online += 1;
        } else {
            log::error!("core {core} (mpidr {mpidr:#x}) did not come online within 30 s");
        }
    }
    online
}

/// Sends `sgi` to logical core `core`.
pub fn send(core: usize, sgi: u32) {
    gic::send_sgi(sgi, board::get().cpu_mpidrs()[core]);
}

/// Asks `core` to look at its run queue.
pub fn kick(core: usize) {
    send(core, SGI_RESCHEDULE);
}

/// Asks every other online core to stop (panic path).
pub fn stop_others() {
    let me = percpu::core_id();
    for core in 0..board::get().cpu_mpidrs().len() {
        if core != me && percpu::of(core).online.load(Ordering::Relaxed) {
            send(core, SGI_STOP);
        }
    }
}

/// Handles SGI_PING on this core: acknowledges every core that pinged it.
pub fn answer_pings() {
    let me = percpu::core_id();
    let from = PINGS[me].swap(0, Ordering::AcqRel);
    for sender in (0..MAX_CPUS).filter(|s| from & (1 << s) != 0) {
        PONGS[sender].fetch_or(1 << me, Ordering::AcqRel);
    }
}

/// This core's part of the self-test: ping every other online core, wait for each answer
/// (interrupts on, so this core answers the others meanwhile), record the result.
pub fn ipi_self_test(cores: usize) {
    let me = percpu::core_id();
    let others: u64 = (0..cores).filter(|&c| c != me).fold(0, |m, c| m | (1 << c));
    for target in (0..cores).filter(|&c| c != me) {
        PINGS[target].fetch_or(1 << me, Ordering::AcqRel);
        send(target, SGI_PING);
    }
    crate::arch::cpu::irq_enable();
    wait_until(30, || PONGS[me].load(Ordering::Acquire) & others == others);
    crate::arch::cpu::irq_disable();
    SELFTEST_ACKED[me].store(PONGS[me].load(Ordering::Acquire), Ordering::Release);
    SELFTEST_DONE.fetch_add(1, Ordering::AcqRel);
}

/// Secondary cores: wait for core 0 to have started every core and to start the self-test
/// (interrupts on meanwhile, to answer pings), then take part.
pub fn self_test_secondary() {
    crate::arch::cpu::irq_enable();
    while !SELFTEST_GO.load(Ordering::Acquire) {
        crate::arch::cpu::relax();
    }
    crate::arch::cpu::irq_disable();
    let cores = SELFTEST_CORES.load(Ordering::Acquire);
    ipi_self_test(cores);
    // Keep answering until everyone is done (a slow core may still be pinging us).
    crate::arch::cpu::irq_enable();
    wait_until(30, || SELFTEST_DONE.load(Ordering::Acquire) == cores);
    crate::arch::cpu::irq_disable();
}

/// Core 0: runs the self-test on all `cores` and reports it. Returns true if every core
/// acknowledged every other.
pub fn self_test_primary(cores: usize) -> bool {
    SELFTEST_CORES.store(cores, Ordering::Release);
    SELFTEST_GO.store(true, Ordering::Release);
    ipi_self_test(cores);
    crate::arch::cpu::irq_enable();
    let all_done = wait_until(30, || SELFTEST_DONE.load(Ordering::Acquire) == cores);
    crate::arch::cpu::irq_disable();
    let mut acked = 0;
    let mut ok = all_done;
    for (core, acked_by) in SELFTEST_ACKED.iter().enumerate().take(cores) {
        let mask = acked_by.load(Ordering::Acquire);
        for other in (0..cores).filter(|&o| o != core) {
            if mask & (1 << other) != 0 {
                acked += 1;
            } else {
                ok = false;
                log::error!("ipi self-test: core {other} did not acknowledge core {core}");
            }
        }
    }
    let expected = cores * (cores - 1);
    if ok {
        log::info!("ipi self-test ok: {acked}/{expected} acknowledgements ({cores} cores, every core to every other)");
    } else {
        log::error!("ipi self-test FAILED: {acked}/{expected} acknowledgements");
    }
    ok
}
