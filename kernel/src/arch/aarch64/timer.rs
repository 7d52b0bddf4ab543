//! The generic timer (Arm ARM D11): the EL1 virtual timer drives each core's scheduler tick.

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTKCTL_EL1, CNTVCT_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0};
use tock_registers::interfaces::{Readable, Writeable};

/// Counter ticks per second.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The virtual counter now.
pub fn counter() -> u64 {
    CNTVCT_EL0.get()
}

/// Starts this core's virtual timer, to fire first when the counter reaches `deadline` (moved
/// on by [`set_deadline`]).
pub fn start(deadline: u64) {
    // Why: user programs may read the virtual counter (CNTVCT_EL0) to time themselves; the
    // physical counter and the timers stay kernel-only.
    CNTKCTL_EL1.write(CNTKCTL_EL1::EL0VCTEN::SET);
    set_deadline(deadline);
    // Why: enable the timer with its interrupt unmasked.
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Makes this core's timer fire when the counter reaches `deadline` (at once if it has).
pub fn set_deadline(deadline: u64) {
    // Why: the timer condition is CNTVCT >= CVAL; a CVAL in the future also clears the
    // interrupt.
    CNTV_CVAL_EL0.set(deadline);
}

/// Microseconds since boot (from the counter), for the log.
pub fn uptime_us() -> u64 {
    let f = frequency().max(1);
    counter() / f * 1_000_000 + (counter() % f) * 1_000_000 / f
}
