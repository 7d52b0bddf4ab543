//! What the kernel does on each kind of exception, after the architecture's entry code has
//! saved the registers: syscalls, user faults, and interrupts.

use crate::arch::exceptions::{self, fault_status_name, Syndrome, UserContext};
use crate::arch::{cpu, gic, timer};
use crate::{board, console, percpu, sched, smp, syscall};
use core::sync::atomic::Ordering;

/// Timer ticks per second on every core.
pub const TICK_HZ: u64 = 100;

/// A synchronous exception from EL0: a syscall or a fault.
pub fn user_sync() -> *mut UserContext {
    let (syndrome, far, esr) = exceptions::syndrome();
    let mut k = sched::lock();
    match syndrome {
        Syndrome::Syscall => syscall::handle(&mut k),
        fault => kill_for_fault(&mut k, fault, far, esr),
    }
    sched::finish(k)
}

/// An interrupt while EL0 ran.
pub fn user_irq() -> *mut UserContext {
    let ticked = handle_interrupts();
    let mut k = sched::lock();
    if ticked {
        k.preempt(percpu::core_id());
    }
    sched::finish(k)
}

/// An exception class the kernel never expects from EL0 (FIQ, SError, AArch32).
pub fn user_unexpected() -> *mut UserContext {
    let (_, far, esr) = exceptions::syndrome();
    let mut k = sched::lock();
    kill_for_fault(&mut k, Syndrome::Other { class: (esr >> 26) as u32 & 0x3f }, far, esr);
    sched::finish(k)
}

/// An interrupt while this core idled (or waited during boot) in the kernel.
pub fn kernel_irq() {
    handle_interrupts();
}

/// Reports a user fault in one line and ends the thread; the kernel runs on.
fn kill_for_fault(k: &mut sched::Guard, fault: Syndrome, far: u64, esr: u64) {
    let core = percpu::core_id();
    let Some(t) = k.current(core) else { return };
    let what = FaultReport { fault, far, esr, pc: t.ctx.pc, sp: t.ctx.sp };
    log::warn!("user fault: thread {} '{}' {what}, pc={:#x}: thread killed", t.id, t.name, t.ctx.pc);
    k.exit_current(core, abi::EXIT_KILLED, true);
}

/// A user fault, described for the log: what happened and at which address.
struct FaultReport {
    fault: Syndrome,
    far: u64,
    esr: u64,
    pc: u64,
    sp: u64,
}

impl core::fmt::Display for FaultReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let FaultReport { fault, far, esr, pc, sp } = *self;
        match fault {
            Syndrome::DataAbort { write, status } => {
                let (name, level) = fault_status_name(status);
                let access = if write { "write" } else { "read" };
                match level {
                    Some(l) => write!(f, "data abort ({access}, {name} level {l}) at address {far:#x}"),
                    None => write!(f, "data abort ({access}, {name}) at address {far:#x}"),
                }
            }
            Syndrome::InstructionAbort { status } => {
                let (name, level) = fault_status_name(status);
                write!(f, "instruction abort ({name} level {}) at address {far:#x}", level.unwrap_or(0))
            }
            Syndrome::Undefined => write!(f, "undefined instruction at address {pc:#x}"),
            Syndrome::PcAlignment => write!(f, "misaligned pc at address {far:#x}"),
            Syndrome::SpAlignment => write!(f, "misaligned stack pointer {sp:#x}"),
            Syndrome::Breakpoint => write!(f, "breakpoint at address {pc:#x}"),
            Syndrome::Other { class } => write!(f, "exception class {class:#x} (esr {esr:#x})"),
            Syndrome::Syscall => write!(f, "syscall (not a fault)"),
        }
    }
}

/// Acknowledges and handles every pending interrupt. Returns true if the tick fired.
fn handle_interrupts() -> bool {
    let b = board::get();
    let mut ticked = false;
    loop {
        let intid = gic::acknowledge();
        if intid == gic::SPURIOUS {
            break;
        }
        match intid {
            smp::SGI_PING => smp::answer_pings(),
            smp::SGI_RESCHEDULE => {} // the scheduler looks at the run queue on the way out
            smp::SGI_STOP => {
                gic::end_of_interrupt(intid);
                cpu::halt();
            }
            i if i == b.virtual_timer_intid => {
                timer::rearm(TICK_HZ);
                percpu::this().ticks.fetch_add(1, Ordering::Relaxed);
                ticked = true;
            }
            i if i == b.uart_intid => {
                let mut buf = [0u8; 64];
                let n = console::receive(&mut buf);
                sched::lock().console_input(&buf[..n]);
            }
            other => log::warn!("unexpected interrupt {other}"),
        }
        gic::end_of_interrupt(intid);
    }
    ticked
}
