//! The architecture boundary. Generic kernel code reaches the hardware only through the names
//! re-exported here; everything Arm-specific (system registers, vectors, MMU, GIC, timer, PSCI)
//! lives in `aarch64/`.
//!
//! The contract, in short:
//! - `boot`: entry of every core, its kernel stack, the secondary entry point.
//! - `cache`: making code written through the data side visible to instruction fetch.
//! - `cpu`: which core this is, IRQ masking, waiting, the per-core pointer.
//! - `exceptions`: the user register context, entering EL0, decoding a fault.
//! - `fpu`: saving and restoring a user thread's FP/SIMD registers.
//! - `gic`: interrupt controller set-up, acknowledge/end, inter-processor interrupts.
//! - `mmu`: translation-table trees and switching between them.
//! - `psci`: starting cores and powering off.
//! - `timer`: the per-core tick and the counter.

mod aarch64;

pub use aarch64::{boot, cache, cpu, exceptions, fpu, gic, mmu, psci, timer};
