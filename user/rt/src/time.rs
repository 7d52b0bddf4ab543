//! Time from the virtual counter `CNTVCT_EL0`, which EL0 may read directly.

use crate::sys;
use abi::InfoKey;

/// The virtual counter now.
pub fn ticks() -> u64 {
    let t: u64;
    // SAFETY: reading CNTVCT_EL0 is allowed at EL0 (the kernel enables it, ABI) and has no side
    // effects; the `isb` keeps the read from being hoisted above earlier instructions.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) t, options(nomem, nostack, preserves_flags)) };
    t
}

/// The counter's frequency in Hz (from the kernel; 1 if it does not say, to avoid dividing by 0).
pub fn hz() -> u64 {
    sys::system_info(InfoKey::CounterHz).unwrap_or(0).max(1)
}

/// Sleeps for `us` microseconds of counter time (woken by the kernel's timer at the deadline,
/// not at the next scheduler tick). Returns the counter when woken.
pub fn sleep_us(us: u64) -> u64 {
    let deadline = ticks().saturating_add(hz().saturating_mul(us) / 1_000_000);
    sys::sleep_until(deadline).unwrap_or_else(|_| ticks())
}

/// Polls `done`, yielding between polls, until it is true (`true`) or `ms` milliseconds of
/// counter time have passed (`false`).
pub fn wait_for(ms: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = ticks() + hz() * ms / 1000;
    loop {
        if done() {
            return true;
        }
        if ticks() >= deadline {
            return false;
        }
        sys::yield_now();
    }
}
