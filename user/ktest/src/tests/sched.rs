//! Scheduling: suspending a thread running on another core stops it at once; resuming it lets
//! it run on.

use crate::util::{other_core, OrFail};
use crate::Outcome;
use core::sync::atomic::{AtomicU64, Ordering};
use urt::{thread, time};

/// Counts up for as long as it runs.
static COUNTER: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_forever(_: u64) -> u64 {
    loop {
        COUNTER.fetch_add(1, Ordering::Relaxed);
    }
}

/// A counting thread on another core: after TcbSuspend the counter stands still (and its
/// registers are readable); after TcbResume it moves again.
pub fn suspend_resume() -> Outcome {
    COUNTER.store(0, Ordering::Relaxed);
    let t = thread::spawn(count_forever, 0, Some(other_core(1))).or_fail("start the counter")?;
    let count = || COUNTER.load(Ordering::Relaxed);
    ensure!(time::wait_for(15_000, || count() > 1000), "the counting thread did not run within 15 s");
    t.tcb().suspend().or_fail("TcbSuspend")?;
    let stopped = count();
    ensure!(t.tcb().read_registers().is_ok(), "registers of the suspended thread not readable");
    let state = t.tcb().info().or_fail("CapInfo of the suspended thread")?.thread_state;
    ensure_eq!(state, Some(abi::ThreadState::Inactive), "the kernel's state of the suspended thread");
    time::wait_for(30, || false);
    ensure_eq!(count(), stopped, "counter 30 ms after TcbSuspend");
    t.tcb().resume().or_fail("TcbResume")?;
    ensure!(time::wait_for(15_000, || count() > stopped), "the counter did not move within 15 s of TcbResume");
    Ok(None)
}
