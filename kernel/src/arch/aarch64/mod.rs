//! 64-bit Arm (ARMv8-A), as QEMU's `virt` board presents it.

pub mod boot;
pub mod cache;
pub mod cpu;
pub mod exceptions;
pub mod fpu;
pub mod gic;
pub mod mmu;
pub mod psci;
pub mod timer;
