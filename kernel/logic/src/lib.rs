//! The kernel's pure logic: no registers, no MMIO, no `unsafe`.
//!
//! Everything here builds for the host as well as for `aarch64-unknown-none`, so plain
//! `cargo test` checks it without QEMU. The kernel (`kernel/`) owns the hardware and calls in.
//!
//! - [`pte`]: how a page-table entry is encoded (Arm ARM D8.3, VMSAv8-64 descriptors).
//! - [`board`]: the machine configuration derived from the device tree QEMU hands over.
//! - [`frames`]: the physical frame allocator's bookkeeping (who owns which 4 KiB frame).
//! - [`cmdline`]: the kernel command line (`/chosen/bootargs`).
//! - [`cdt`]: the capability derivation tree (copy, mint, move, delete, revoke).
//! - [`xsync`]: the cross-core sync's protocol (TLB shootdown and quiescence), loom-checked.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod board;
pub mod cdt;
pub mod cmdline;
pub mod frames;
mod loom_shim;
pub mod pte;
pub mod xsync;
