//! Loading the root task: the one user program the kernel starts itself. Its ELF image is
//! embedded in the kernel (see `kernel/build.rs`); everything later is loaded by it.

use crate::arch::exceptions::UserContext;
use crate::mm::vspace::VSpace;
use crate::sched::{self, ThreadId};
use abi::{USER_STACK_SIZE, USER_STACK_TOP};
use goblin::elf::{header, program_header, Elf};
use klogic::pte::{Access, PAGE_SIZE};

/// The root task's ELF image.
static ROOT_TASK: &[u8] = include_bytes!(env!("ROOT_TASK_ELF"));

/// Why the root task could not be started.
#[derive(Debug)]
pub enum LoadError {
    /// goblin could not parse it.
    Parse,
    /// Not a static AArch64 executable.
    WrongKind,
    /// A segment is writable and executable, or lies outside the file or the user half.
    BadSegment,
    /// Out of memory.
    NoMemory,
}

/// Maps the root task into a new address space and starts its first thread on core 0.
pub fn start_root_task() -> Result<ThreadId, LoadError> {
    let elf = Elf::parse(ROOT_TASK).map_err(|_| LoadError::Parse)?;
    if elf.header.e_machine != header::EM_AARCH64 || elf.header.e_type != header::ET_EXEC || !elf.is_64 {
        return Err(LoadError::WrongKind);
    }
    let mut vs = VSpace::new().map_err(|_| LoadError::NoMemory)?;
    let result = map_segments(&elf, &mut vs);
    let mut k = sched::lock();
    let id = k.add_vspace(vs);
    if let Err(e) = result {
        k.discard_vspace(id);
        return Err(e);
    }
    let ctx = UserContext::new_user(elf.entry, USER_STACK_TOP, 0);
    k.spawn(id, "module-server", ctx, 0).map_err(|_| LoadError::NoMemory)
}

fn map_segments(elf: &Elf<'_>, vs: &mut VSpace) -> Result<(), LoadError> {
    for ph in elf.program_headers.iter().filter(|p| p.p_type == program_header::PT_LOAD) {
        let access = Access::from_rwx(ph.is_read(), ph.is_write(), ph.is_executable())
            .map_err(|_| LoadError::BadSegment)?;
        let file_end = ph.p_offset.checked_add(ph.p_filesz).ok_or(LoadError::BadSegment)?;
        let mem_end = ph.p_vaddr.checked_add(ph.p_memsz).ok_or(LoadError::BadSegment)?;
        if file_end > ROOT_TASK.len() as u64 || ph.p_filesz > ph.p_memsz || mem_end > USER_STACK_TOP - USER_STACK_SIZE {
            return Err(LoadError::BadSegment);
        }
        let first = ph.p_vaddr & !(PAGE_SIZE - 1);
        let pages = (mem_end - first).div_ceil(PAGE_SIZE);
        vs.map_new_pages(first, pages, access).map_err(|_| LoadError::NoMemory)?;
        let data = &ROOT_TASK[ph.p_offset as usize..file_end as usize];
        vs.write(ph.p_vaddr, data).map_err(|_| LoadError::BadSegment)?;
    }
    let stack_pages = USER_STACK_SIZE / PAGE_SIZE;
    vs.map_new_pages(USER_STACK_TOP - USER_STACK_SIZE, stack_pages, Access::ReadWrite)
        .map_err(|_| LoadError::NoMemory)
}
