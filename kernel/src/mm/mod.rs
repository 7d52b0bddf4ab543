//! Memory management: physical frames, the kernel heap, the kernel's own address space, and
//! user address spaces.
//!
//! All RAM is mapped once in the upper half at `KERNEL_VOFFSET + physical` (the linear map), so
//! the kernel reaches any frame by adding the offset; the kernel image itself lies inside it.

pub mod frames;
pub mod heap;
pub mod kernel_map;
pub mod vspace;

/// A physical address.
pub type PhysAddr = u64;

/// Where the linear map of physical memory starts (see `linker/kernel.ld`).
pub const KERNEL_VOFFSET: u64 = 0xffff_0000_0000_0000;

/// The linear-map address of physical address `pa`.
pub const fn phys_to_virt(pa: PhysAddr) -> usize {
    (pa + KERNEL_VOFFSET) as usize
}

/// The physical address of a linear-map (or kernel image) address.
pub const fn virt_to_phys(va: usize) -> PhysAddr {
    va as u64 - KERNEL_VOFFSET
}
