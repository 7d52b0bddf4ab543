//! PSCI (Arm DEN0022, "Power State Coordination Interface"): starting cores and powering off.
//!
//! QEMU implements PSCI itself; the device tree's `/psci` node says whether calls go by `hvc` (the
//! guest starts at EL1) or `smc` (it starts at EL2).

use klogic::board::PsciConduit;

/// PSCI function ids (SMC64 calling convention where the function takes addresses).
mod function {
    pub const VERSION: u32 = 0x8400_0000;
    pub const CPU_ON: u32 = 0xc400_0003;
    pub const SYSTEM_OFF: u32 = 0x8400_0008;
}

/// A PSCI error code (negative return values, DEN0022 §5.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsciError(pub i64);

impl PsciError {
    /// The name the specification gives the code.
    pub fn name(self) -> &'static str {
        match self.0 {
            -1 => "NOT_SUPPORTED",
            -2 => "INVALID_PARAMETERS",
            -3 => "DENIED",
            -4 => "ALREADY_ON",
            -5 => "ON_PENDING",
            -6 => "INTERNAL_FAILURE",
            -7 => "NOT_PRESENT",
            -8 => "DISABLED",
            -9 => "INVALID_ADDRESS",
            _ => "unknown error",
        }
    }
}

fn call(conduit: PsciConduit, function: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let mut x0 = u64::from(function);
    // SAFETY: a PSCI call into QEMU's firmware emulation; it clobbers only x0-x3 per the SMC
    // calling convention (we declare x0-x17 clobbered to be safe) and touches no kernel memory.
    unsafe {
        match conduit {
            PsciConduit::Hvc => core::arch::asm!("hvc #0", inout("x0") x0, inout("x1") a1 => _,
                inout("x2") a2 => _, inout("x3") a3 => _, clobber_abi("C")),
            PsciConduit::Smc => core::arch::asm!("smc #0", inout("x0") x0, inout("x1") a1 => _,
                inout("x2") a2 => _, inout("x3") a3 => _, clobber_abi("C")),
        }
    }
    x0 as i64
}

/// The PSCI version as (major, minor).
pub fn version(conduit: PsciConduit) -> (u16, u16) {
    let v = call(conduit, function::VERSION, 0, 0, 0) as u64;
    ((v >> 16) as u16, v as u16)
}

/// Starts the core with MPIDR `target` at physical address `entry`, with `context` in its x0.
pub fn cpu_on(conduit: PsciConduit, target: u64, entry: u64, context: u64) -> Result<(), PsciError> {
    match call(conduit, function::CPU_ON, target, entry, context) {
        0 => Ok(()),
        e => Err(PsciError(e)),
    }
}

/// Powers the machine off. Returns only if the firmware refused.
pub fn system_off(conduit: PsciConduit) -> PsciError {
    PsciError(call(conduit, function::SYSTEM_OFF, 0, 0, 0))
}
