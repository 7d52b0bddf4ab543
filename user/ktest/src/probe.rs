//! Functions that fault in a known way at a known instruction, as thread entries
//! ([`urt::thread::Entry`]), for the fault tests and the shell's `fault` command.
//!
//! Each is a naked function so the faulting instruction's address is exact: the fault
//! message's pc, and the pc of a thread the kernel stopped, must equal [`Probe::fault_pc`].

use abi::{FaultKind, Registers, ThreadState};
use core::arch::naked_asm;
use urt::cap::{Cap, Tcb};
use urt::thread::Entry;
use urt::time;

/// Returns the word at address `addr` (a read fault if it is not mapped readable).
#[unsafe(naked)]
pub extern "C" fn read(addr: u64) -> u64 {
    naked_asm!("ldr x0, [x0]", "ret")
}

/// Stores to its own first instruction, which is mapped read+execute: always a write fault.
/// (Ignores its argument.)
#[unsafe(naked)]
pub extern "C" fn write_text(_: u64) -> u64 {
    naked_asm!("adr x1, .", "str x1, [x1]", "mov x0, #0", "ret")
}

/// Read-only data holding `ret` instructions: mapped, but never executable.
static NOT_CODE: [u32; 4] = [0xd65f_03c0; 4];

/// Jumps into a read-only static holding `ret` instructions: always an instruction abort there. (Ignores its argument.)
#[unsafe(naked)]
pub extern "C" fn exec_data(_: u64) -> u64 {
    naked_asm!("adrp x1, {d}", "add x1, x1, :lo12:{d}", "br x1", d = sym NOT_CODE)
}

/// Executes a permanently undefined instruction. (Ignores its argument.)
#[unsafe(naked)]
pub extern "C" fn undefined(_: u64) -> u64 {
    naked_asm!("udf #0", "ret")
}

/// Where the fault-restart test sends a faulted thread: returns [`LANDED`] to the caller of
/// the faulting probe (the probes keep the link register). (Ignores its argument.)
#[unsafe(naked)]
pub extern "C" fn landing(_: u64) -> u64 {
    naked_asm!("mov x0, #0x600d", "ret")
}

/// What [`landing`] returns.
pub const LANDED: u64 = 0x600d;

/// The address of a probe.
pub fn addr(f: Entry) -> u64 {
    f as usize as u64
}

/// A way to fault: the thread entry and what the kernel must report.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    /// The thread entry.
    pub entry: Entry,
    /// The argument to start it with.
    pub arg: u64,
    /// The fault kind the kernel must report.
    pub kind: FaultKind,
}

impl Probe {
    /// The probe for a shell fault kind: `read` (of 0xdead0000), `write`, `exec` or `undef`.
    pub fn named(name: &str) -> Option<Probe> {
        let (entry, arg, kind): (Entry, u64, FaultKind) = match name {
            "read" => (read, 0xdead_0000, FaultKind::ReadAbort),
            "write" => (write_text, 0, FaultKind::WriteAbort),
            "exec" => (exec_data, 0, FaultKind::InstructionAbort),
            "undef" => (undefined, 0, FaultKind::Undefined),
            _ => return None,
        };
        Some(Probe { entry, arg, kind })
    }

    /// The pc the thread has when it faults.
    pub fn fault_pc(&self) -> u64 {
        match self.kind {
            FaultKind::WriteAbort => addr(self.entry) + 4,
            FaultKind::InstructionAbort => NOT_CODE.as_ptr() as u64,
            _ => addr(self.entry),
        }
    }
}

/// Waits up to `ms` milliseconds for the kernel to report the thread of `tcb` stopped
/// ([`ThreadState::Inactive`]: a fault without a handler stops it there), then returns its
/// registers if its pc is `pc` (when given). A thread that is merely queued or preempted is
/// never taken for stopped. Call it only for a thread already resumed: one never started is
/// inactive too.
pub fn wait_stopped(tcb: Cap<Tcb>, pc: Option<u64>, ms: u64) -> Option<Registers> {
    let stopped = || tcb.info().is_ok_and(|i| i.thread_state == Some(ThreadState::Inactive));
    if !time::wait_for(ms, stopped) {
        return None;
    }
    tcb.read_registers().ok().filter(|r| pc.is_none_or(|pc| r.pc == pc))
}
