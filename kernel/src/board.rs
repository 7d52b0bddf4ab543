//! The machine configuration, read once from the device tree by core 0.

use crate::mm::phys_to_virt;
use klogic::board::{fdt_header, BoardConfig, BoardError};

static BOARD: spin::Once<BoardConfig<'static>> = spin::Once::new();

/// Finds and parses the device tree: at `pointer` if the loader passed one, else at the base of
/// the RAM the kernel was loaded into (where QEMU puts it for ELF kernels: the 1 GiB-aligned
/// block below the image). The magic is checked before anything else is read.
pub fn init(pointer: u64, kernel_phys: u64) -> Result<&'static BoardConfig<'static>, BoardError> {
    let pa = fdt_phys(pointer, kernel_phys);
    // SAFETY: the boot tables map all of the first 8 GiB of physical space; 8 bytes are read to
    // check the magic and the size before the whole blob is looked at.
    let header = unsafe { core::slice::from_raw_parts(phys_to_virt(pa) as *const u8, 8) };
    let (_, size) = fdt_header(header).ok_or(BoardError::BadBlob)?;
    // SAFETY: the header says the blob is `size` bytes; its frames are kept out of the frame
    // allocator (see `mm::frames::init`) and never written, so it lives as long as the kernel.
    let blob: &'static [u8] = unsafe { core::slice::from_raw_parts(phys_to_virt(pa) as *const u8, size) };
    let config = BoardConfig::from_fdt(blob)?;
    Ok(BOARD.call_once(|| config))
}

/// Physical address of the device tree (for reserving it).
pub fn fdt_phys(pointer: u64, kernel_phys: u64) -> u64 {
    if pointer != 0 {
        pointer
    } else {
        kernel_phys & !((1 << 30) - 1)
    }
}

/// The configuration, if [`init`] has succeeded (the panic handler asks before using it).
pub fn try_get() -> Option<&'static BoardConfig<'static>> {
    BOARD.get()
}

/// The configuration (after [`init`]).
pub fn get() -> &'static BoardConfig<'static> {
    BOARD.get().expect("board configuration read before init")
}
