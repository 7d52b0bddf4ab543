//! What the debugger learns about modules: the server reports every module it maps to the
//! kernel's debugger list (`Syscall::DebugImage`, read by `qemu/gdb/kmod.py`) — name,
//! instance id, load address, span, state, the ASID of its address space and the build-id of
//! its ELF — after mapping it (before its first instruction runs, so a breakpoint in its init
//! works) and before unmapping it. Reporting is best effort: a server without the Debug
//! authority, or a full list, loses only the debugger's view.

use abi::{CPtr, DebugImage, DebugImageState};
use urt::sys;

/// Reports module `id` (instance name `name`, mapped at `base` for `pages` pages in `vspace`,
/// ELF build-id `build_id`) in `state`.
#[inline(never)]
pub fn report(id: u32, name: &str, base: u64, pages: u64, vspace: CPtr, build_id: &[u8], state: DebugImageState) {
    let mut image = DebugImage {
        id: u64::from(id),
        base,
        size: pages * abi::PAGE_SIZE,
        state: state as u64,
        name_len: 0,
        name: [0; 32],
        build_id_len: 0,
        build_id: [0; 32],
    };
    let n = name.len().min(32);
    image.name[..n].copy_from_slice(&name.as_bytes()[..n]);
    image.name_len = n as u64;
    let b = build_id.len().min(32);
    image.build_id[..b].copy_from_slice(&build_id[..b]);
    image.build_id_len = b as u64;
    let _ = sys::debug_image_set(vspace, &image);
}

/// Takes module `id` off the debugger's list: called before its pages are unmapped (a module
/// that was never reported is not an error).
#[inline(never)]
pub fn forget(id: u32) {
    let _ = sys::debug_image_remove(u64::from(id));
}
