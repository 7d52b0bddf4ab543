//! The kernel's own address space (TTBR1): the linear map of RAM with the kernel image's
//! sections at their own rights, and the devices the kernel drives, as device memory.

use super::{frames, virt_to_phys, PhysAddr, KERNEL_VOFFSET};
use crate::arch::mmu::{self, PageTable};
use klogic::board::{BoardConfig, Region};
use klogic::pte::{Access, Attrs};

extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
}

/// The tree every core uses for the kernel half, and an empty tree for TTBR0 while no user
/// address space is active. Set by core 0 before secondaries start.
static TABLES: spin::Once<(PhysAddr, PhysAddr)> = spin::Once::new();

/// Builds the kernel tables (core 0, once).
pub fn build(board: &BoardConfig<'_>) {
    let mut alloc = || frames::alloc_zeroed();
    let mut pt = PageTable::new(&mut alloc).expect("no frame for the kernel's root table");
    let (text_start, text_end, rodata_end) = (
        virt_to_phys(core::ptr::addr_of!(__text_start) as usize),
        virt_to_phys(core::ptr::addr_of!(__text_end) as usize),
        virt_to_phys(core::ptr::addr_of!(__rodata_end) as usize),
    );
    let image = frames::kernel_image();
    let mut map = |r: Region, attrs: Attrs| {
        if r.size > 0 {
            pt.map(KERNEL_VOFFSET + r.base, r.base, r.size, attrs, true, &mut alloc)
                .unwrap_or_else(|e| panic!("kernel map of {r:x?}: {e:?}"));
        }
    };
    for ram in board.ram() {
        if ram.base <= image.base && image.end() <= ram.end() {
            // RAM below the image, the image's three parts at their own rights, RAM above it.
            map(Region { base: ram.base, size: image.base - ram.base }, Attrs::kernel(Access::ReadWrite));
            map(Region { base: text_start, size: text_end - text_start }, Attrs::kernel(Access::ReadExec));
            map(Region { base: text_end, size: rodata_end - text_end }, Attrs::kernel(Access::Read));
            map(Region { base: rodata_end, size: image.end() - rodata_end }, Attrs::kernel(Access::ReadWrite));
            map(Region { base: image.end(), size: ram.end() - image.end() }, Attrs::kernel(Access::ReadWrite));
        } else {
            map(*ram, Attrs::kernel(Access::ReadWrite));
        }
    }
    let page = |r: Region| Region { base: r.base & !0xfff, size: (r.size + (r.base & 0xfff)).next_multiple_of(4096) };
    map(page(board.uart), Attrs::kernel_device());
    map(page(board.gicd), Attrs::kernel_device());
    // Only the redistributors of the cores that exist (128 KiB each).
    let gicr_used = (board.cpu_mpidrs().len() as u64 * 0x2_0000).min(board.gicr.size);
    map(Region { base: board.gicr.base, size: gicr_used }, Attrs::kernel_device());

    let empty = frames::alloc_zeroed().expect("no frame for the empty user table");
    TABLES.call_once(|| (pt.root(), empty));
}

/// Switches this core from the boot tables to the kernel tables.
pub fn activate_on_this_core() {
    let (root, empty) = *TABLES.get().expect("kernel tables not built yet");
    mmu::activate_kernel_tables(root, empty);
}

/// The empty tree for TTBR0 (no user mappings).
pub fn empty_user_root() -> PhysAddr {
    TABLES.get().expect("kernel tables not built yet").1
}
