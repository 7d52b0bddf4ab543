//! What the kernel does on each kind of exception, after the architecture's entry code has
//! saved the registers: syscalls, user faults, and interrupts.

use crate::arch::exceptions::{self, fault_status_name, Syndrome, UserContext};
use crate::arch::{cpu, gic, timer};
use crate::object::{tcb::FaultMsg, State};
use crate::{board, console, fastpath, percpu, sched, smp, syscall};
use abi::FaultKind;
use core::sync::atomic::Ordering;

/// Timer ticks per second on every core.
pub const TICK_HZ: u64 = 100;

/// Starts this core's timer: the scheduler tick, and the deadlines of threads sleeping here
/// (the timer fires at whichever comes first).
pub fn start_timer() {
    let next = timer::counter() + timer::frequency() / TICK_HZ;
    percpu::this().next_tick.store(next, Ordering::Relaxed);
    timer::start(next);
}

/// The timer fired: counts a tick if one is due, flags this core if a sleeper's deadline has
/// come (the thread is woken under the kernel lock, see `Kernel::wake_sleepers`), and sets the
/// next expiry. Returns true if it was a tick.
fn timer_fired() -> bool {
    let me = percpu::this();
    let now = timer::counter();
    let mut next_tick = me.next_tick.load(Ordering::Relaxed);
    let ticked = now >= next_tick;
    if ticked {
        next_tick = now + timer::frequency() / TICK_HZ;
        me.next_tick.store(next_tick, Ordering::Relaxed);
        me.ticks.fetch_add(1, Ordering::Relaxed);
    }
    let wake = me.next_wake.load(Ordering::Relaxed);
    if now >= wake {
        // Until the sleepers are woken (which sets the next deadline) only the tick is armed,
        // so an expired deadline does not fire again and again.
        me.need_resched.store(true, Ordering::Release);
        timer::set_deadline(next_tick);
    } else {
        timer::set_deadline(next_tick.min(wake));
    }
    ticked
}

/// A synchronous exception from EL0: a syscall or a fault.
pub fn user_sync() -> *mut UserContext {
    if exceptions::is_syscall() {
        let mut k = sched::lock();
        if let Some(ctx) = fastpath::try_fast(&mut k, percpu::this()) {
            return ctx; // the lock is released as `k` goes
        }
        syscall::handle(&mut k);
        let ctx = sched::finish(k);
        console::flush_user(); // `DebugWrite` output, now that the kernel lock is free
        stall_if_asked();
        return ctx;
    }
    let (syndrome, far, esr) = exceptions::syndrome();
    let mut k = sched::lock();
    match syndrome {
        Syndrome::Syscall => syscall::handle(&mut k),
        fault => user_fault(&mut k, fault, far, esr),
    }
    let ctx = sched::finish(k);
    console::flush_user();
    ctx
}

/// The `DebugStall` test hook: spins until the deadline with interrupts still masked (as they
/// are in the exception handler) and the kernel lock free, so this core answers no sync
/// request meanwhile — neither by interrupt nor while waiting for the lock.
fn stall_if_asked() {
    let until = percpu::this().stall_until.swap(0, Ordering::Relaxed);
    if until == 0 {
        return;
    }
    let here = percpu::this();
    here.stall_release.store(false, Ordering::Relaxed);
    log::warn!("stall: core {} stops answering (DebugStall)", percpu::core_id());
    let mut released = false;
    while timer::counter() < until {
        if here.stall_release.swap(false, Ordering::Acquire) {
            released = true;
            break;
        }
        cpu::relax();
    }
    let why = if released { "a sync gave up waiting for it" } else { "its time is up" };
    log::warn!("stall: core {} answers again ({why})", percpu::core_id());
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
    user_fault(&mut k, Syndrome::Other { class: (esr >> 26) as u32 & 0x3f }, far, esr);
    sched::finish(k)
}

/// An interrupt while this core idled (or waited during boot) in the kernel.
pub fn kernel_irq() {
    handle_interrupts();
}

/// A user fault: sent to the thread's fault endpoint as a message; without one, the thread is
/// stopped and one line logged. Either way the kernel runs on.
fn user_fault(k: &mut sched::Guard, fault: Syndrome, far: u64, esr: u64) {
    let core = percpu::core_id();
    let Some(id) = k.current_id(core) else { return };
    let Some(t) = k.current(core) else { return };
    if t.state != State::Running {
        return; // stopped by another core meanwhile: the instruction faults again on resume
    }
    let (pc, sp) = (t.ctx.pc, t.ctx.sp);
    let msg = FaultMsg { kind: fault_kind(fault) as u64, addr: far, pc, esr };
    if k.send_fault(core, msg) {
        return;
    }
    let what = FaultReport { fault, far, esr, pc, sp };
    log::warn!("user fault: thread {:#x} {what}, pc={pc:#x}: no fault handler, thread stopped", id.0);
    k.stop(id);
    if let Some(t) = k.objects.tcb_mut(id) {
        t.exit_code = abi::EXIT_KILLED;
    }
}

/// The ABI's name for a fault.
fn fault_kind(fault: Syndrome) -> FaultKind {
    match fault {
        Syndrome::DataAbort { status, .. } if status == exceptions::DFSC_ALIGNMENT => FaultKind::Alignment,
        Syndrome::DataAbort { write: true, .. } => FaultKind::WriteAbort,
        Syndrome::DataAbort { write: false, .. } => FaultKind::ReadAbort,
        Syndrome::InstructionAbort { .. } => FaultKind::InstructionAbort,
        Syndrome::Undefined => FaultKind::Undefined,
        Syndrome::PcAlignment | Syndrome::SpAlignment => FaultKind::Alignment,
        Syndrome::Breakpoint | Syndrome::Other { .. } | Syndrome::Syscall => FaultKind::Other,
    }
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
            smp::SGI_SYNC => crate::sync::answer(),
            smp::SGI_STOP => {
                gic::end_of_interrupt(intid);
                cpu::halt();
            }
            i if i == b.virtual_timer_intid => ticked |= timer_fired(),
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
