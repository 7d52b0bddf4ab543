//! The running core: identity, interrupt masking, waiting, and per-core data.

use aarch64_cpu::asm;
use aarch64_cpu::registers::{DAIF, MPIDR_EL1, TPIDR_EL1};
use tock_registers::interfaces::{Readable, Writeable};

/// The MPIDR affinity fields (Aff3..Aff0) of this core, as the device tree's `cpu@N/reg` gives them.
pub fn mpidr_affinity() -> u64 {
    MPIDR_EL1.get() & 0xff_00ff_ffff
}

/// Stores the address of this core's per-core data block (read back by [`per_cpu_ptr`] and by
/// the exception entry code).
pub fn set_per_cpu_ptr(ptr: usize) {
    // Why: TPIDR_EL1 is the kernel's private per-core register; EL0 cannot read it.
    TPIDR_EL1.set(ptr as u64);
}

/// The value stored by [`set_per_cpu_ptr`] on this core (0 before).
pub fn per_cpu_ptr() -> usize {
    TPIDR_EL1.get() as usize
}

/// Masks IRQs on this core and returns whether they were unmasked before.
pub fn irq_disable() -> bool {
    let was_enabled = !DAIF.is_set(DAIF::I);
    // Why: kernel code runs with IRQs masked except while idle (big kernel lock design).
    DAIF.modify_no_read(DAIF.extract(), DAIF::I::Masked);
    was_enabled
}

/// Unmasks IRQs on this core.
pub fn irq_enable() {
    // Why: the idle loop takes interrupts.
    DAIF.modify_no_read(DAIF.extract(), DAIF::I::Unmasked);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Waits for an interrupt (returns early on any event).
pub fn wait_for_interrupt() {
    asm::wfi();
}

/// Halts this core for good.
pub fn halt() -> ! {
    irq_disable();
    loop {
        asm::wfe();
    }
}

/// The current frame pointer (x29), for backtraces.
#[inline(always)]
pub fn frame_pointer() -> usize {
    let fp: usize;
    // SAFETY: reads a register; no memory access.
    unsafe { core::arch::asm!("mov {0}, x29", out(reg) fp) };
    fp
}

/// A spin-wait hint that lets other virtual cores run: `yield` (QEMU switches to another vCPU
/// on it when vCPUs share one host thread, as under `-icount`; `isb`, Rust's `spin_loop`, does
/// not).
#[inline]
pub fn relax() {
    // SAFETY: `yield` is a hint with no architectural effect.
    unsafe { core::arch::asm!("yield", options(nomem, nostack, preserves_flags)) };
}

/// True if an interrupt is pending at this core, masked or not (ISR_EL1.I or .F): a long
/// kernel operation checks this between steps and stops to let it in.
#[inline]
pub fn interrupt_pending() -> bool {
    let isr: u64;
    // `aarch64-cpu` 11 does not declare ISR_EL1, so it is read directly.
    // SAFETY: reading ISR_EL1 has no side effect and touches no memory.
    unsafe { core::arch::asm!("mrs {}, isr_el1", out(reg) isr, options(nomem, nostack, preserves_flags)) };
    isr & (0b11 << 6) != 0
}
