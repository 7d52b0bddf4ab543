//! The GICv3 interrupt controller (Arm IHI 0069, "GIC Architecture Specification v3/v4"):
//! the distributor (shared peripheral interrupts), one redistributor per core (SGIs and PPIs),
//! and the CPU interface through system registers.
//!
//! All interrupts are Group 1 (QEMU's `virt` GIC has a single security state), priority
//! [`PRIORITY`], level-sensitive unless they are SGIs. Addresses come from the device tree.

use crate::mm::phys_to_virt;
use aarch64_cpu::asm::barrier;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_bitfields! {u32,
    /// GICD_CTLR with a single security state (IHI 0069 §12.9.4).
    GICD_CTLR [
        /// Register write pending.
        RWP OFFSET(31) NUMBITS(1) [],
        /// Affinity routing enable.
        ARE OFFSET(4) NUMBITS(1) [],
        /// Enable Group 1 interrupts.
        EnableGrp1 OFFSET(1) NUMBITS(1) [],
        /// Enable Group 0 interrupts.
        EnableGrp0 OFFSET(0) NUMBITS(1) []
    ],
    /// GICR_WAKER (IHI 0069 §12.11.40): power management of the redistributor's core interface.
    GICR_WAKER [
        /// The interface is quiescent.
        ChildrenAsleep OFFSET(2) NUMBITS(1) [],
        /// The core is asleep: no interrupts forwarded to it.
        ProcessorSleep OFFSET(1) NUMBITS(1) []
    ]
}

register_bitfields! {u64,
    /// GICR_TYPER (IHI 0069 §12.11.37).
    GICR_TYPER [
        /// Affinity value (Aff3.Aff2.Aff1.Aff0) of the core this redistributor serves.
        Affinity OFFSET(32) NUMBITS(32) [],
        /// This is the last redistributor of the region.
        Last OFFSET(4) NUMBITS(1) []
    ]
}

register_structs! {
    /// The distributor's registers used here.
    Distributor {
        (0x0000 => ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        /// Interrupt controller type: ITLinesNumber in bits 4:0.
        (0x0004 => typer: ReadOnly<u32>),
        (0x0008 => _reserved0),
        /// Interrupt group, one bit per INTID.
        (0x0080 => igroupr: [ReadWrite<u32>; 32]),
        /// Set-enable, one bit per INTID.
        (0x0100 => isenabler: [ReadWrite<u32>; 32]),
        /// Clear-enable, one bit per INTID.
        (0x0180 => icenabler: [ReadWrite<u32>; 32]),
        (0x0200 => _reserved1),
        /// Priority, one byte per INTID.
        (0x0400 => ipriorityr: [ReadWrite<u32>; 256]),
        (0x0800 => _reserved2),
        /// Interrupt routing for SPIs (INTID 32 upwards): the target core's affinity.
        (0x6100 => irouter: [ReadWrite<u64>; 988]),
        (0x7fe0 => @END),
    }
}

register_structs! {
    /// A redistributor's control frame (RD_base).
    RedistributorControl {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => iidr: ReadOnly<u32>),
        (0x0008 => typer: ReadOnly<u64, GICR_TYPER::Register>),
        (0x0010 => statusr: ReadWrite<u32>),
        (0x0014 => waker: ReadWrite<u32, GICR_WAKER::Register>),
        (0x0018 => @END),
    }
}

register_structs! {
    /// A redistributor's SGI and PPI frame (SGI_base = RD_base + 64 KiB).
    RedistributorSgi {
        (0x0000 => _reserved0),
        (0x0080 => igroupr0: ReadWrite<u32>),
        (0x0084 => _reserved1),
        (0x0100 => isenabler0: ReadWrite<u32>),
        (0x0104 => _reserved2),
        (0x0180 => icenabler0: ReadWrite<u32>),
        (0x0184 => _reserved3),
        (0x0400 => ipriorityr: [ReadWrite<u32>; 8]),
        (0x0420 => @END),
    }
}

/// Priority given to every interrupt (lower is more urgent; all equal: no nesting).
const PRIORITY: u32 = 0xa0;
/// Bytes between consecutive redistributors (RD_base + SGI_base frames, GICv3 without VLPIs).
const REDIST_STRIDE: u64 = 0x2_0000;
/// The spurious INTID: nothing to handle.
pub const SPURIOUS: u32 = 1023;

fn distributor(base: u64) -> &'static Distributor {
    // SAFETY: `base` is the GICD physical base from the device tree; the kernel tables map it as
    // device memory in the linear map, and the registers live for as long as the machine.
    unsafe { &*(phys_to_virt(base) as *const Distributor) }
}

/// Enables the distributor with affinity routing. Core 0, once.
pub fn init_distributor(gicd: u64) {
    let d = distributor(gicd);
    d.ctlr.set(0);
    while d.ctlr.is_set(GICD_CTLR::RWP) {}
    let lines = ((d.typer.get() & 0x1f) + 1) as usize; // ITLinesNumber: 32 * (N + 1) INTIDs
    for i in 1..lines.min(32) {
        d.icenabler[i].set(u32::MAX);
        d.igroupr[i].set(u32::MAX);
    }
    let prio = PRIORITY * 0x0101_0101;
    for i in 8..(lines * 8).min(256) {
        d.ipriorityr[i].set(prio);
    }
    d.ctlr.write(GICD_CTLR::ARE::SET + GICD_CTLR::EnableGrp1::SET + GICD_CTLR::EnableGrp0::SET);
    while d.ctlr.is_set(GICD_CTLR::RWP) {}
}

/// Routes shared peripheral interrupt `intid` to the core with affinity `mpidr` and enables it.
pub fn enable_spi(gicd: u64, intid: u32, mpidr: u64) {
    let d = distributor(gicd);
    let n = intid as usize;
    d.irouter[n - 32].set(mpidr);
    d.isenabler[n / 32].set(1 << (n % 32));
}

/// Finds this core's redistributor in the region, wakes it, configures SGIs and the PPIs in
/// `ppis` as Group 1 with [`PRIORITY`], enables them, and turns on the CPU interface.
/// Returns `false` if no redistributor in the region serves `mpidr`.
pub fn init_this_core(gicr: u64, gicr_size: u64, mpidr: u64, ppis: &[u32]) -> bool {
    let mut rd_base = gicr;
    let rd = loop {
        // SAFETY: `rd_base` lies inside the redistributor region from the device tree, mapped as
        // device memory; each frame pair is REDIST_STRIDE bytes.
        let rd = unsafe { &*(phys_to_virt(rd_base) as *const RedistributorControl) };
        let aff = rd.typer.read(GICR_TYPER::Affinity);
        let expect = (mpidr & 0xff_ffff) | ((mpidr >> 8) & 0xff00_0000);
        if aff == expect {
            break rd;
        }
        if rd.typer.is_set(GICR_TYPER::Last) || rd_base + REDIST_STRIDE >= gicr + gicr_size {
            return false;
        }
        rd_base += REDIST_STRIDE;
    };
    rd.waker.modify(GICR_WAKER::ProcessorSleep::CLEAR);
    while rd.waker.is_set(GICR_WAKER::ChildrenAsleep) {}

    // SAFETY: SGI_base is the second 64 KiB frame of this redistributor, mapped as above.
    let sgi = unsafe { &*(phys_to_virt(rd_base + 0x1_0000) as *const RedistributorSgi) };
    sgi.igroupr0.set(u32::MAX);
    for r in &sgi.ipriorityr {
        r.set(PRIORITY * 0x0101_0101);
    }
    let mut enable = 0xffffu32; // all 16 SGIs
    for &ppi in ppis {
        enable |= 1 << ppi;
    }
    sgi.icenabler0.set(!enable);
    sgi.isenabler0.set(enable);

    cpu_interface_init();
    true
}

// The CPU interface system registers are not in aarch64-cpu; each is accessed by its encoding
// (IHI 0069 §12.1): ICC_SRE_EL1 = S3_0_C12_C12_5, ICC_PMR_EL1 = S3_0_C4_C6_0,
// ICC_BPR1_EL1 = S3_0_C12_C12_3, ICC_IGRPEN1_EL1 = S3_0_C12_C12_7, ICC_IAR1_EL1 = S3_0_C12_C12_0,
// ICC_EOIR1_EL1 = S3_0_C12_C12_1, ICC_SGI1R_EL1 = S3_0_C12_C11_5.

fn cpu_interface_init() {
    // SAFETY: writes to this core's GIC CPU interface registers only; the values enable the
    // system-register interface (SRE), accept every priority (PMR 0xff), use no preemption
    // grouping (BPR 0) and enable Group 1 interrupts. No memory is touched.
    unsafe {
        core::arch::asm!(
            "mrs {t}, S3_0_C12_C12_5",
            "orr {t}, {t}, #1",
            "msr S3_0_C12_C12_5, {t}",
            "isb",
            "mov {t}, #0xff",
            "msr S3_0_C4_C6_0, {t}",
            "msr S3_0_C12_C12_3, xzr",
            "mov {t}, #1",
            "msr S3_0_C12_C12_7, {t}",
            "isb",
            t = out(reg) _,
        );
    }
}

/// Acknowledges the highest-priority pending interrupt and returns its INTID
/// ([`SPURIOUS`] if none).
pub fn acknowledge() -> u32 {
    let iar: u64;
    // SAFETY: reading ICC_IAR1_EL1 acknowledges an interrupt on this core; no memory access.
    unsafe { core::arch::asm!("mrs {0}, S3_0_C12_C12_0", out(reg) iar) };
    (iar & 0xff_ffff) as u32
}

/// Signals the end of handling `intid` (drops priority and deactivates it).
pub fn end_of_interrupt(intid: u32) {
    // SAFETY: writing ICC_EOIR1_EL1 ends an interrupt this core acknowledged; no memory access.
    unsafe { core::arch::asm!("msr S3_0_C12_C12_1, {0}", in(reg) u64::from(intid)) };
}

/// Sends software-generated interrupt `sgi` (0-15) to the core with affinity `target`.
pub fn send_sgi(sgi: u32, target: u64) {
    let aff0 = target & 0xf; // target list holds Aff0 values 0-15 (QEMU clusters of 16)
    let aff1 = (target >> 8) & 0xff;
    let aff2 = (target >> 16) & 0xff;
    let aff3 = (target >> 32) & 0xff;
    let value = (aff3 << 48) | (aff2 << 32) | (u64::from(sgi & 0xf) << 24) | (aff1 << 16) | (1 << aff0);
    barrier::dsb(barrier::ISHST); // data for the target visible before the interrupt
                                  // SAFETY: writing ICC_SGI1R_EL1 raises an interrupt on another core; no memory access.
    unsafe { core::arch::asm!("msr S3_0_C12_C11_5, {0}", "isb", in(reg) value) };
}
