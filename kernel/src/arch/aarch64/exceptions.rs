//! Exception vectors and the user register context (Arm ARM D1.10 "Exception entry").
//!
//! The kernel is not preemptible and keeps no state on its stack across a return to EL0, so an
//! exception from EL0 saves the user registers straight into the running thread's
//! [`UserContext`] (found through the per-core block at TPIDR_EL1), runs the handler on the
//! core's kernel stack from its top, and returns to whichever context the handler chose.
//!
//! Exceptions taken at EL1 are either interrupts while the core idles (handled on the current
//! stack, then resumed) or kernel bugs (the handler panics with the syndrome).

use core::arch::global_asm;

/// The registers of a user thread, saved on every entry to the kernel.
/// Layout shared with the assembly below: do not reorder.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UserContext {
    /// x0 to x30.
    pub x: [u64; 31],
    /// The user stack pointer (SP_EL0).
    pub sp: u64,
    /// Where the thread resumes (ELR_EL1).
    pub pc: u64,
    /// Saved processor state (SPSR_EL1).
    pub spsr: u64,
    /// The user thread-pointer register (TPIDR_EL0).
    pub tpidr: u64,
    _pad: u64,
}

impl UserContext {
    /// A context that starts at `pc` in EL0 with stack `sp`, `arg` in x0, interrupts unmasked.
    pub fn new_user(pc: u64, sp: u64, arg: u64) -> UserContext {
        let mut c = UserContext { pc, sp, spsr: 0, ..Default::default() }; // SPSR 0: EL0t, DAIF clear
        c.x[0] = arg;
        c
    }
}

/// Offsets of [`PerCpuEntry`] fields used by the assembly.
const CURRENT_CTX: usize = 0;
const KSTACK_TOP: usize = 8;

/// The start of every core's per-core block, read by the exception entry code through TPIDR_EL1.
#[repr(C)]
pub struct PerCpuEntry {
    /// The context of the thread this core runs (or last ran) in EL0.
    pub current_ctx: core::sync::atomic::AtomicPtr<UserContext>,
    /// Top of this core's kernel stack (an atomic so the block needs no `&mut`; the entry code
    /// reads it as a plain word, which an `AtomicUsize` is in memory).
    pub kstack_top: core::sync::atomic::AtomicUsize,
}

global_asm!(
    r#"
// Saves x0..x30, sp_el0, elr, spsr and tpidr_el0 into the current UserContext; leaves its
// address in x0.
.macro SAVE_USER
    stp     x0, x1, [sp, #-16]!
    mrs     x0, tpidr_el1
    ldr     x0, [x0, #{current}]
    stp     x2, x3, [x0, #16]
    stp     x4, x5, [x0, #32]
    stp     x6, x7, [x0, #48]
    stp     x8, x9, [x0, #64]
    stp     x10, x11, [x0, #80]
    stp     x12, x13, [x0, #96]
    stp     x14, x15, [x0, #112]
    stp     x16, x17, [x0, #128]
    stp     x18, x19, [x0, #144]
    stp     x20, x21, [x0, #160]
    stp     x22, x23, [x0, #176]
    stp     x24, x25, [x0, #192]
    stp     x26, x27, [x0, #208]
    stp     x28, x29, [x0, #224]
    ldp     x2, x3, [sp], #16
    stp     x2, x3, [x0, #0]
    mrs     x1, sp_el0
    stp     x30, x1, [x0, #240]
    mrs     x1, elr_el1
    mrs     x2, spsr_el1
    stp     x1, x2, [x0, #256]
    mrs     x1, tpidr_el0
    str     x1, [x0, #272]
    mov     x29, #0                 // the kernel's frame-pointer chain starts here
.endm

// Saves the caller-saved registers of interrupted EL1 code on its own stack.
.macro SAVE_KERNEL
    sub     sp, sp, #192
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    mrs     x0, elr_el1
    mrs     x1, spsr_el1
    stp     x18, x30, [sp, #144]
    stp     x29, x0, [sp, #160]     // frame record {{x29, interrupted pc}} for backtraces
    str     x1, [sp, #176]
    add     x29, sp, #160
.endm

.macro RESTORE_KERNEL
    ldp     x29, x0, [sp, #160]
    ldr     x1, [sp, #176]
    msr     elr_el1, x0
    msr     spsr_el1, x1
    ldp     x18, x30, [sp, #144]
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    add     sp, sp, #192
    eret
.endm

.macro VECTOR target
.balign 0x80
    b       \target
.endm

.section .text.vectors, "ax"
.balign 0x800
.global exception_vectors
exception_vectors:
    VECTOR  el1_unexpected          // current EL, SP_EL0: never used
    VECTOR  el1_unexpected
    VECTOR  el1_unexpected
    VECTOR  el1_unexpected
    VECTOR  el1_sync                // current EL, SP_ELx
    VECTOR  el1_irq
    VECTOR  el1_unexpected          // FIQ
    VECTOR  el1_unexpected          // SError
    VECTOR  el0_sync                // lower EL, AArch64
    VECTOR  el0_irq
    VECTOR  el0_unexpected          // FIQ
    VECTOR  el0_unexpected          // SError
    VECTOR  el0_unexpected          // lower EL, AArch32: not supported
    VECTOR  el0_unexpected
    VECTOR  el0_unexpected
    VECTOR  el0_unexpected

.type el0_sync, %function
el0_sync:
    // The unwind information says the return address is undefined, so GDB ends a
    // backtrace here instead of repeating this frame.
    .cfi_startproc
    .cfi_undefined x30      // debuggers: no caller above an entry from EL0
    SAVE_USER
    bl      {el0_sync_rust}
    b       return_to_user
    .cfi_endproc
.size el0_sync, . - el0_sync

.type el0_irq, %function
el0_irq:
    .cfi_startproc
    .cfi_undefined x30      // debuggers: no caller above an entry from EL0
    SAVE_USER
    bl      {el0_irq_rust}
    b       return_to_user
    .cfi_endproc
.size el0_irq, . - el0_irq

.type el0_unexpected, %function
el0_unexpected:
    .cfi_startproc
    .cfi_undefined x30      // debuggers: no caller above an entry from EL0
    SAVE_USER
    bl      {el0_unexpected_rust}
    b       return_to_user
    .cfi_endproc
.size el0_unexpected, . - el0_unexpected

el1_sync:
    SAVE_KERNEL
    mov     x0, sp
    bl      {el1_sync_rust}         // does not return
1:  b       1b

el1_irq:
    SAVE_KERNEL
    bl      {el1_irq_rust}
    RESTORE_KERNEL

el1_unexpected:
    SAVE_KERNEL
    mov     x0, sp
    bl      {el1_unexpected_rust}   // does not return
2:  b       2b

// x0: the UserContext to run. Becomes this core's current context; the kernel stack restarts
// from its top on the next entry.
.global return_to_user
return_to_user:
    mrs     x1, tpidr_el1
    str     x0, [x1, #{current}]
    ldr     x2, [x1, #{kstack}]
    mov     sp, x2
    ldr     x1, [x0, #272]
    msr     tpidr_el0, x1
    ldp     x1, x2, [x0, #256]
    msr     elr_el1, x1
    msr     spsr_el1, x2
    ldp     x30, x1, [x0, #240]
    msr     sp_el0, x1
    ldp     x2, x3, [x0, #16]
    ldp     x4, x5, [x0, #32]
    ldp     x6, x7, [x0, #48]
    ldp     x8, x9, [x0, #64]
    ldp     x10, x11, [x0, #80]
    ldp     x12, x13, [x0, #96]
    ldp     x14, x15, [x0, #112]
    ldp     x16, x17, [x0, #128]
    ldp     x18, x19, [x0, #144]
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
    ldp     x0, x1, [x0, #0]
    eret
"#,
    current = const CURRENT_CTX,
    kstack = const KSTACK_TOP,
    el0_sync_rust = sym el0_sync_rust,
    el0_irq_rust = sym el0_irq_rust,
    el0_unexpected_rust = sym el0_unexpected_rust,
    el1_sync_rust = sym el1_sync_rust,
    el1_irq_rust = sym el1_irq_rust,
    el1_unexpected_rust = sym el1_unexpected_rust,
);

const _: () = {
    assert!(core::mem::offset_of!(UserContext, sp) == 248);
    assert!(core::mem::offset_of!(UserContext, pc) == 256);
    assert!(core::mem::offset_of!(UserContext, tpidr) == 272);
    assert!(core::mem::offset_of!(PerCpuEntry, current_ctx) == CURRENT_CTX);
    assert!(core::mem::offset_of!(PerCpuEntry, kstack_top) == KSTACK_TOP);
};

extern "C" {
    static exception_vectors: u8;
    fn return_to_user(ctx: *mut UserContext) -> !;
}

/// Installs the vectors on this core.
pub fn install_vectors() {
    use aarch64_cpu::registers::VBAR_EL1;
    use tock_registers::interfaces::Writeable;
    let base = core::ptr::addr_of!(exception_vectors) as u64;
    // Why: exceptions on this core go to the table above.
    VBAR_EL1.set(base);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Enters EL0 in `ctx`, which must stay valid until the thread next enters the kernel.
pub fn enter_user(ctx: *mut UserContext) -> ! {
    // SAFETY: `ctx` points at a thread's context owned by the scheduler for as long as the thread
    // lives; the assembly only reads it and records it as this core's current context.
    unsafe { return_to_user(ctx) }
}

/// What an exception syndrome (ESR_EL1) says, decoded enough for the kernel's decisions.
#[derive(Clone, Copy, Debug)]
pub enum Syndrome {
    /// `svc` from AArch64.
    Syscall,
    /// Data abort: `write` access, `status` the DFSC.
    DataAbort { write: bool, status: u32 },
    /// Instruction abort: `status` the IFSC.
    InstructionAbort { status: u32 },
    /// An instruction the core does not know (or may not run at EL0).
    Undefined,
    /// PC not 4-byte aligned.
    PcAlignment,
    /// SP not 16-byte aligned.
    SpAlignment,
    /// `brk`.
    Breakpoint,
    /// Anything else: the exception class.
    Other { class: u32 },
}

/// True if the exception being handled is an `svc` from AArch64 (reads only ESR_EL1).
#[inline]
pub fn is_syscall() -> bool {
    use aarch64_cpu::registers::ESR_EL1;
    use tock_registers::interfaces::Readable;
    (ESR_EL1.get() >> 26) & 0x3f == 0x15
}

/// The data fault status code of an alignment fault (Arm ARM D19.2, DFSC 0b100001).
pub const DFSC_ALIGNMENT: u32 = 0x21;

/// The syndrome of the exception being handled, and the faulting address (FAR_EL1).
pub fn syndrome() -> (Syndrome, u64, u64) {
    use aarch64_cpu::registers::{ESR_EL1, FAR_EL1};
    use tock_registers::interfaces::Readable;
    let esr = ESR_EL1.get();
    let class = ((esr >> 26) & 0x3f) as u32;
    let iss = (esr & 0x1ff_ffff) as u32;
    let s = match class {
        0x15 => Syndrome::Syscall,
        0x24 | 0x25 => Syndrome::DataAbort { write: iss & (1 << 6) != 0, status: iss & 0x3f },
        0x20 | 0x21 => Syndrome::InstructionAbort { status: iss & 0x3f },
        0x00 | 0x0e => Syndrome::Undefined,
        0x22 => Syndrome::PcAlignment,
        0x26 => Syndrome::SpAlignment,
        0x3c => Syndrome::Breakpoint,
        _ => Syndrome::Other { class },
    };
    (s, FAR_EL1.get(), esr)
}

/// Names a data/instruction fault status code (Arm ARM D19.2 ESR_ELx, DFSC/IFSC).
pub fn fault_status_name(status: u32) -> (&'static str, Option<u32>) {
    let level = Some(status & 3);
    match status & 0x3c {
        0x04 => ("translation fault", level),
        0x08 => ("access flag fault", level),
        0x0c => ("permission fault", level),
        0x00 => ("address size fault", level),
        _ if status == 0x21 => ("alignment fault", None),
        _ => ("other fault", None),
    }
}

extern "C" fn el0_sync_rust(ctx: *mut UserContext) -> *mut UserContext {
    // `ctx` is the current thread's context, which the scheduler owns; the handler reaches it
    // through the kernel state under the lock instead of through this pointer.
    let _ = ctx; // the handler finds the context through the scheduler
    crate::trap::user_sync()
}

extern "C" fn el0_irq_rust(ctx: *mut UserContext) -> *mut UserContext {
    let _ = ctx; // the handler finds the context through the scheduler
    crate::trap::user_irq()
}

extern "C" fn el0_unexpected_rust(ctx: *mut UserContext) -> *mut UserContext {
    let _ = ctx; // the handler finds the context through the scheduler
    crate::trap::user_unexpected()
}

/// Registers of interrupted kernel code, as SAVE_KERNEL leaves them.
#[repr(C)]
pub struct KernelFrame {
    x: [u64; 18],
    x18: u64,
    x30: u64,
    x29: u64,
    elr: u64,
    spsr: u64,
    _pad: u64,
}

extern "C" fn el1_sync_rust(frame: &KernelFrame) -> ! {
    let (s, far, esr) = syndrome();
    panic!("kernel exception {s:?} at pc={:#x} far={far:#x} esr={esr:#x} lr={:#x}", frame.elr, frame.x30);
}

extern "C" fn el1_irq_rust() {
    crate::trap::kernel_irq();
}

extern "C" fn el1_unexpected_rust(frame: &KernelFrame) -> ! {
    let (_, far, esr) = syndrome();
    panic!("unexpected kernel exception (FIQ/SError/SP0) at pc={:#x} far={far:#x} esr={esr:#x}", frame.elr);
}
