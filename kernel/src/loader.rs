//! Starting the root task: the one user program the kernel starts itself. Its ELF image is
//! embedded in the kernel (see `kernel/build.rs`); everything later is created by it.
//!
//! The root task gets, in its root CNode (slots in `abi::boot_slot`): its TCB, CNode and
//! VSpace, a quota holding all memory the kernel does not keep, the frame with its
//! [`abi::BootInfo`], its IPC buffer, and one frame capability per page of its image and stack
//! (so it can share them with address spaces it creates).

use crate::arch::exceptions::UserContext;
use crate::cspace::slot_id;
use crate::mm::{frames, heap, phys_to_virt, vspace::VSpace, PhysAddr};
use crate::object::{CNode, Frame, ObjId, Object, Quota, Tcb};
use crate::sched::{self, Kernel};
use abi::{boot_slot, BootInfo, Rights, BOOT_INFO_CMDLINE_MAX, BOOT_INFO_MAX_FRAMES, USER_STACK_SIZE, USER_STACK_TOP};
use goblin::elf::{header, program_header, Elf};
use klogic::pte::{Access, PAGE_SIZE};

/// The root task's ELF image.
static ROOT_TASK: &[u8] = include_bytes!(env!("ROOT_TASK_ELF"));
/// The boot archive: the modules, packed by `just build` (format in `user/modfmt`).
static BOOT_ARCHIVE: &[u8] = include_bytes!(env!("BOOT_ARCHIVE"));

/// Radix of the root task's CNode.
const ROOT_CNODE_RADIX: u8 = 12;
/// Frames the kernel keeps back from the root quota (for its own page tables and slack).
const RESERVED_FRAMES: u64 = 256;
/// Heap bytes the kernel keeps back from the root quota (for its own bookkeeping).
const RESERVED_HEAP: u64 = 2 << 20;

/// Why the root task could not be started.
#[derive(Debug)]
pub enum LoadError {
    /// goblin could not parse it.
    Parse,
    /// Not a static AArch64 executable.
    WrongKind,
    /// A segment is writable and executable, or lies outside the file or the user half.
    BadSegment,
    /// More pages than the boot info can list.
    TooBig,
    /// Out of memory.
    NoMemory,
}

/// Builds the root task's objects and starts its thread on core 0. Returns the thread.
pub fn start_root_task(cores: usize) -> Result<ObjId, LoadError> {
    let elf = Elf::parse(ROOT_TASK).map_err(|_| LoadError::Parse)?;
    if elf.header.e_machine != header::EM_AARCH64 || elf.header.e_type != header::ET_EXEC || !elf.is_64 {
        return Err(LoadError::WrongKind);
    }
    let mut k = sched::lock();
    let k = &mut *k;
    let cnode = k.objects.insert(Object::CNode(CNode { radix: ROOT_CNODE_RADIX }), None);
    k.cdt.add_space(u64::from(cnode.index()), 1 << ROOT_CNODE_RADIX).map_err(|_| LoadError::NoMemory)?;
    k.install(slot_id(cnode, boot_slot::CNODE), cnode, None);
    let vs = VSpace::new(&mut frames::alloc_zeroed).map_err(|_| LoadError::NoMemory)?;
    let vspace = k.objects.insert(Object::VSpace(alloc::boxed::Box::new(vs)), None);
    k.install(slot_id(cnode, boot_slot::VSPACE), vspace, None);

    let mut info = BootInfo {
        magic: BootInfo::MAGIC,
        cores: cores as u64,
        cnode_radix: u64::from(ROOT_CNODE_RADIX),
        first_free_slot: 0,
        image_frames: 0,
        archive_bytes: 0,
        archive_first_slot: 0,
        rng_seed: boot_seed(),
        frame_va: [0; BOOT_INFO_MAX_FRAMES],
        cmdline_len: 0,
        cmdline: [0; BOOT_INFO_CMDLINE_MAX],
    };
    let text = crate::board::get().cmdline.as_str();
    // Cut at a character boundary, so what the root task gets is still UTF-8.
    let n = (0..=text.len().min(BOOT_INFO_CMDLINE_MAX)).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    let text = text.as_bytes();
    info.cmdline[..n].copy_from_slice(&text[..n]);
    info.cmdline_len = n as u64;
    let mut b = Builder { cnode, vspace, info, next_slot: boot_slot::IMAGE_FRAMES };
    for ph in elf.program_headers.iter().filter(|p| p.p_type == program_header::PT_LOAD) {
        let access =
            Access::from_rwx(ph.is_read(), ph.is_write(), ph.is_executable()).map_err(|_| LoadError::BadSegment)?;
        let file_end = ph.p_offset.checked_add(ph.p_filesz).ok_or(LoadError::BadSegment)?;
        let mem_end = ph.p_vaddr.checked_add(ph.p_memsz).ok_or(LoadError::BadSegment)?;
        if file_end > ROOT_TASK.len() as u64 || ph.p_filesz > ph.p_memsz || mem_end > abi::BOOT_INFO_VA {
            return Err(LoadError::BadSegment);
        }
        let data = &ROOT_TASK[ph.p_offset as usize..file_end as usize];
        let mut va = ph.p_vaddr;
        while va < mem_end {
            let page_end = (va & !(PAGE_SIZE - 1)) + PAGE_SIZE;
            let from = (va - ph.p_vaddr) as usize;
            let to = ((page_end.min(mem_end) - ph.p_vaddr) as usize).min(data.len());
            b.add_page(k, va, access, data.get(from..to).unwrap_or(&[]), None)?;
            va = page_end;
        }
    }
    let mut va = USER_STACK_TOP - USER_STACK_SIZE;
    while va < USER_STACK_TOP {
        b.add_page(k, va, Access::ReadWrite, &[], None)?;
        va += PAGE_SIZE;
    }
    b.add_page(k, abi::BOOT_IPC_BUFFER_VA, Access::ReadWrite, &[], Some(boot_slot::IPC_BUFFER))?;
    if BOOT_ARCHIVE.len() as u64 > abi::BOOT_ARCHIVE_MAX {
        return Err(LoadError::TooBig);
    }
    b.info.archive_bytes = BOOT_ARCHIVE.len() as u64;
    b.info.archive_first_slot = u64::from(b.next_slot);
    for (i, page) in BOOT_ARCHIVE.chunks(PAGE_SIZE as usize).enumerate() {
        let slot = b.next_slot;
        b.next_slot += 1;
        b.add_page(k, abi::BOOT_ARCHIVE_VA + i as u64 * PAGE_SIZE, Access::Read, page, Some(slot))?;
    }
    b.info.first_free_slot = u64::from(b.next_slot);
    let info_bytes = boot_info_bytes(&b.info);
    b.add_page(k, abi::BOOT_INFO_VA, Access::Read, &info_bytes, Some(boot_slot::BOOT_INFO))?;

    let mut tcb = Tcb::new(0);
    tcb.cspace = Some(cnode);
    tcb.vspace = Some(vspace);
    tcb.ipc_buffer = abi::BOOT_IPC_BUFFER_VA;
    *tcb.ctx = UserContext::new_user(elf.entry, USER_STACK_TOP, 0);
    tcb.ctx.tpidr = abi::BOOT_IPC_BUFFER_VA;
    let thread = k.objects.insert(Object::Tcb(alloc::boxed::Box::new(tcb)), None);
    k.install(slot_id(cnode, boot_slot::TCB), thread, None);
    for held in [cnode, vspace] {
        k.objects.entry_mut(held).expect("just made").holds += 1;
    }

    // Last, so the quota is what is really left.
    let free = frames::free_frames() as u64;
    let heap = heap::free_bytes() as u64;
    let quota = Quota { frames: free.saturating_sub(RESERVED_FRAMES), bytes: heap.saturating_sub(RESERVED_HEAP) };
    log::info!("root quota: {} frames, {} KiB of kernel heap", quota.frames, quota.bytes >> 10);
    let q = k.objects.insert(Object::Quota(quota), None);
    k.install(slot_id(cnode, boot_slot::QUOTA), q, None);
    // The machine-wide authorities: only the root task holds them, and hands out what it likes.
    for a in abi::Authority::ALL {
        let obj = k.objects.insert(Object::Authority(a), None);
        k.install(slot_id(cnode, boot_slot::authority(a)), obj, None);
    }
    k.make_runnable(thread);
    Ok(thread)
}

/// The root task's boot objects while they are being made.
struct Builder {
    cnode: ObjId,
    vspace: ObjId,
    info: BootInfo,
    next_slot: u32,
}

impl Builder {
    /// Makes a frame holding `bytes` (at `va`'s offset in the page), puts its capability in
    /// `slot` (or the next image-frame slot, listed in the boot info) and maps it at `va`.
    fn add_page(
        &mut self,
        k: &mut Kernel,
        va: u64,
        access: Access,
        bytes: &[u8],
        slot: Option<u32>,
    ) -> Result<(), LoadError> {
        let pa = frames::alloc_zeroed().ok_or(LoadError::NoMemory)?;
        copy_to_frame(pa, (va % PAGE_SIZE) as usize, bytes);
        let s = match slot {
            Some(s) => s,
            None => {
                let i = (self.next_slot - boot_slot::IMAGE_FRAMES) as usize;
                if i == BOOT_INFO_MAX_FRAMES {
                    frames::free(pa, 1);
                    return Err(LoadError::TooBig);
                }
                let rights = match access {
                    Access::Read => Rights::READ,
                    Access::ReadWrite => Rights::READ | Rights::WRITE,
                    Access::ReadExec => Rights::READ | Rights::EXEC,
                };
                self.info.frame_va[i] = (va & !(PAGE_SIZE - 1)) | u64::from(rights.0);
                self.info.image_frames += 1;
                self.next_slot += 1;
                self.next_slot - 1
            }
        };
        let frame = k.objects.insert(Object::Frame(Frame::new(pa)), None);
        let slot = slot_id(self.cnode, s);
        k.install(slot, frame, None);
        k.map_slot(slot, self.vspace, va & !(PAGE_SIZE - 1), access).map_err(|_| LoadError::NoMemory)
    }
}

/// Copies `bytes` into frame `pa` at `offset`.
fn copy_to_frame(pa: PhysAddr, offset: usize, bytes: &[u8]) {
    assert!(offset + bytes.len() <= PAGE_SIZE as usize, "copy stays within the page");
    // SAFETY: `pa` is a frame just taken from the frame allocator (nobody else uses it), reached
    // through the linear map, and the copy stays within it (checked above).
    unsafe {
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), (phys_to_virt(pa) + offset) as *mut u8, bytes.len());
    }
}

/// The root task's seed: `seed=N` on the command line gives exactly N (a run that can be
/// repeated, as `just race` does); otherwise the device tree's seed mixed with the counter.
fn boot_seed() -> u64 {
    let board = crate::board::get();
    let random = board.rng_seed ^ crate::arch::timer::counter().rotate_left(32);
    match board.cmdline.get("seed").map(|s| s.parse::<u64>()) {
        Some(Ok(seed)) => seed,
        Some(Err(_)) => {
            log::warn!("seed= is not a number; using a random seed");
            random
        }
        None => random,
    }
}

/// The boot info as bytes, little-endian, in `repr(C)` field order (all fields are `u64`).
fn boot_info_bytes(info: &BootInfo) -> alloc::vec::Vec<u8> {
    let head = [
        info.magic,
        info.cores,
        info.cnode_radix,
        info.first_free_slot,
        info.image_frames,
        info.archive_bytes,
        info.archive_first_slot,
        info.rng_seed,
    ];
    let mut bytes: alloc::vec::Vec<u8> =
        head.iter().chain(info.frame_va.iter()).chain([&info.cmdline_len]).flat_map(|w| w.to_le_bytes()).collect();
    bytes.extend_from_slice(&info.cmdline);
    bytes
}
