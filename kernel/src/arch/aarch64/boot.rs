//! The first instructions every core runs, from the physical entry point to Rust in the upper half.
//!
//! Core 0 enters at `_start` (QEMU jumps to the ELF entry, `_start_phys` in `linker/kernel.ld`);
//! the others at `secondary_entry`, through PSCI `CPU_ON` with their logical number as the context
//! id. Both paths then:
//!
//! 1. leave EL2 for EL1 if QEMU started the core at EL2 (`-M virt,virtualization=on`), giving EL1
//!    the timer and the GIC system registers (Arm ARM D1.11 "Exception return");
//! 2. (core 0 only) zero `.bss`, which holds the stacks;
//! 3. turn the MMU on with the static boot tables below: RAM at 1 GiB blocks both at its physical
//!    address (TTBR0, so the next instruction still fetches) and at `KERNEL_VOFFSET + physical`
//!    (TTBR1, where the kernel is linked); the first GiB (MMIO) as device memory;
//! 4. jump to the linked (upper-half) address, take the core's stack and call
//!    [`crate::kernel_entry`]`(core, device_tree_pa)`.
//!
//! Rust then replaces the boot tables with page-granular ones that give text, rodata and data
//! their own rights ([`super::mmu`]). No Rust code runs with the MMU off: with it off every access
//! is Device memory and an unaligned load would fault.

use core::arch::global_asm;

/// Size of each core's kernel stack.
pub const STACK_SIZE: usize = 64 * 1024;

/// TCR_EL1 for 48-bit VAs in both halves, 4 KiB granules, inner-shareable write-back walks,
/// 16-bit ASIDs in TTBR0 (Arm ARM D19.2 TCR_EL1). IPS (physical address size) is filled in from
/// ID_AA64MMFR0_EL1 at boot.
pub const TCR_VALUE: u64 = 16 // T0SZ: 48-bit user VAs
    | (0b01 << 8) | (0b01 << 10) | (0b11 << 12) // IRGN0/ORGN0 write-back, SH0 inner
    | (16 << 16) // T1SZ: 48-bit kernel VAs
    | (0b01 << 24) | (0b01 << 26) | (0b11 << 28) // IRGN1/ORGN1 write-back, SH1 inner
    | (0b10 << 30) // TG1: 4 KiB
    | (1 << 36); // AS: 16-bit ASIDs

global_asm!(
    r#"
.equ KERNEL_VOFFSET, 0xffff000000000000
.equ STACK_SIZE, {stack_size}

.section .text.boot, "ax"
.global _start
_start:
    mov     x20, x0                 // device-tree pointer, if the loader passed one (QEMU: 0)
    mov     x19, #0                 // logical core number
    b       common_entry

.global secondary_entry
secondary_entry:
    mov     x19, x0                 // PSCI CPU_ON context id = logical core number
    mov     x20, #0

common_entry:
    msr     daifset, #0xf           // all exceptions masked until the vectors are in place
    mrs     x0, CurrentEL
    lsr     x0, x0, #2
    cmp     x0, #2
    b.ne    at_el1

    // At EL2: configure what EL1 may use, then drop to EL1.
    mov     x0, #(1 << 31)          // HCR_EL2.RW: EL1 is AArch64; nothing else trapped
    msr     hcr_el2, x0
    mov     x0, #3                  // CNTHCTL_EL2: EL1 may read the physical counter and timer
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr        // virtual counter = physical counter
    mrs     x0, mpidr_el1           // EL1 reads of MPIDR return VMPIDR_EL2
    msr     vmpidr_el2, x0
    mrs     x0, midr_el1
    msr     vpidr_el2, x0
    mrs     x0, S3_4_C12_C9_5       // ICC_SRE_EL2
    orr     x0, x0, #0xf            // SRE, DFB, DIB, Enable: EL1 may use ICC_SRE_EL1
    msr     S3_4_C12_C9_5, x0
    isb
    mov     x0, #0x3c5              // SPSR: EL1h, D, A, I, F masked
    msr     spsr_el2, x0
    adr     x0, at_el1
    msr     elr_el2, x0
    eret

at_el1:
    mov     x0, #(3 << 20)          // CPACR_EL1.FPEN: EL0 may use FP/SIMD (the kernel never does)
    msr     cpacr_el1, x0
    isb
    cbnz    x19, 2f
    // Core 0: zero .bss (physical addresses: the MMU is off, adrp is PC-relative).
    adrp    x0, __bss_start
    add     x0, x0, :lo12:__bss_start
    adrp    x1, __bss_end
    add     x1, x1, :lo12:__bss_end
1:  cmp     x0, x1
    b.hs    2f
    stp     xzr, xzr, [x0], #16
    b       1b
2:
    // MMU on with the boot tables.
    ldr     x0, ={mair}
    msr     mair_el1, x0
    ldr     x0, ={tcr}
    mrs     x1, id_aa64mmfr0_el1
    and     x1, x1, #0x7            // PARange -> TCR.IPS
    orr     x0, x0, x1, lsl #32
    msr     tcr_el1, x0
    adrp    x0, boot_l0
    msr     ttbr0_el1, x0
    msr     ttbr1_el1, x0
    dsb     ish
    tlbi    vmalle1
    dsb     ish
    isb
    mrs     x0, sctlr_el1
    ldr     x1, =0x1005             // M (MMU), C (data cache), I (instruction cache)
    orr     x0, x0, x1
    bic     x0, x0, #(1 << 1)       // A: no general alignment checking (the kernel's memcpy
                                    // may access unaligned); unaligned exclusives still fault
    orr     x0, x0, #(1 << 4)       // SA0: a misaligned EL0 stack pointer faults (alignment)
    msr     sctlr_el1, x0
    isb
    ldr     x0, =upper_half         // absolute: the linked upper-half address
    br      x0

upper_half:
    ldr     x0, =__stacks
    mov     x1, #STACK_SIZE
    madd    x0, x1, x19, x0
    add     sp, x0, x1              // top of this core's stack
    mov     x29, #0                 // end of the frame-pointer chain
    mov     x30, #0
    mov     x0, x19
    mov     x1, x20
    bl      {entry}
3:  wfe
    b       3b

// The boot translation tables: one level-0 table whose first entry covers 0..512 GiB through a
// level-1 table of 1 GiB blocks. Used for TTBR0 and TTBR1 alike; upper-half VA bits 47:39 are 0.
.section .data.boot_tables, "aw"
.balign 4096
boot_l0:
    .quad   (boot_l1 - KERNEL_VOFFSET) + 0x3        // table descriptor
    .fill   511, 8, 0
.balign 4096
boot_l1:
    .quad   0x0060000000000705                      // 0 GiB: device, never executable
    .quad   0x0040000040000701                      // 1 GiB: normal RAM, RWX (boot only)
    .quad   0x0040000080000701                      // 2 GiB
    .quad   0x00400000c0000701                      // 3 GiB
    .quad   0x0040000100000701                      // 4 GiB
    .quad   0x0040000140000701                      // 5 GiB
    .quad   0x0040000180000701                      // 6 GiB
    .quad   0x00400001c0000701                      // 7 GiB
    .fill   504, 8, 0

.section .bss.stacks, "aw", @nobits
.balign 4096
.global __stacks
__stacks:
    .space  STACK_SIZE * {max_cpus}
"#,
    stack_size = const STACK_SIZE,
    max_cpus = const klogic::board::MAX_CPUS,
    mair = const klogic::pte::MAIR_VALUE,
    tcr = const TCR_VALUE,
    entry = sym crate::kernel_entry,
);

extern "C" {
    static __stacks: u8;
    fn secondary_entry();
}

/// The kernel-stack range `[bottom, top)` of logical core `core`.
pub fn stack_bounds(core: usize) -> (usize, usize) {
    let base = core::ptr::addr_of!(__stacks) as usize + core * STACK_SIZE;
    (base, base + STACK_SIZE)
}

/// The upper-half address of the secondary cores' entry point.
pub fn secondary_entry_address() -> usize {
    secondary_entry as *const () as usize
}
