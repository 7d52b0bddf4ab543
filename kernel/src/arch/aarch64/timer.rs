//! The generic timer (Arm ARM D11): the EL1 virtual timer drives each core's scheduler tick.

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTKCTL_EL1, CNTVCT_EL0, CNTV_CTL_EL0, CNTV_TVAL_EL0};
use tock_registers::interfaces::{Readable, Writeable};

/// Counter ticks per second.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The virtual counter now.
pub fn counter() -> u64 {
    CNTVCT_EL0.get()
}

/// Arms this core's virtual timer to fire `hz` times a second from now on (re-armed by
/// [`rearm`]).
pub fn start(hz: u64) {
    // Why: user programs may read the virtual counter (CNTVCT_EL0) to time themselves; the
    // physical counter and the timers stay kernel-only.
    CNTKCTL_EL1.write(CNTKCTL_EL1::EL0VCTEN::SET);
    rearm(hz);
    // Why: enable the timer with its interrupt unmasked.
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Sets the next expiry one period ahead.
pub fn rearm(hz: u64) {
    // Why: the timer condition is met when TVAL counts down to 0; this also clears the interrupt.
    CNTV_TVAL_EL0.set(frequency() / hz);
}

/// Microseconds since boot (from the counter), for the log.
pub fn uptime_us() -> u64 {
    let f = frequency().max(1);
    counter() / f * 1_000_000 + (counter() % f) * 1_000_000 / f
}
