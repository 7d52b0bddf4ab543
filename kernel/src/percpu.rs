//! Per-core data: one block per logical core, found through the architecture's per-core pointer.

use crate::arch::{boot, cpu, exceptions::PerCpuEntry};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use klogic::board::MAX_CPUS;

/// What each core keeps about itself.
#[repr(C)]
pub struct PerCpu {
    /// Read by the exception entry code: must stay first.
    pub entry: PerCpuEntry,
    /// The logical core number.
    pub core: usize,
    /// Set once the core has finished its own bring-up.
    pub online: AtomicBool,
    /// Timer ticks handled on this core.
    pub ticks: AtomicU64,
    /// Set when a thread is made runnable on this core: the idle loop takes the kernel lock
    /// only then.
    pub need_resched: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const INIT: PerCpu = PerCpu {
    entry: PerCpuEntry { current_ctx: AtomicPtr::new(core::ptr::null_mut()), kstack_top: 0 },
    core: 0,
    online: AtomicBool::new(false),
    ticks: AtomicU64::new(0),
    need_resched: AtomicBool::new(false),
};

static mut PER_CPU: [PerCpu; MAX_CPUS] = [INIT; MAX_CPUS];

/// Initialises core `core`'s block and makes it this core's. Called once per core at boot,
/// before anything reads [`this`].
pub fn init_this_core(core: usize) {
    assert!(core < MAX_CPUS, "core {core} beyond MAX_CPUS");
    // SAFETY: each core writes only its own slot, once, before publishing it through the
    // per-core pointer; other cores read a slot only after its `online` flag is set.
    let block = unsafe { &mut *core::ptr::addr_of_mut!(PER_CPU[core]) };
    block.core = core;
    block.entry.kstack_top = boot::stack_bounds(core).1;
    cpu::set_per_cpu_ptr(block as *mut PerCpu as usize);
}

/// This core's block.
pub fn this() -> &'static PerCpu {
    let p = cpu::per_cpu_ptr();
    assert!(p != 0, "per-core data used before init_this_core");
    // SAFETY: the pointer was set by `init_this_core` to a slot of the static array.
    unsafe { &*(p as *const PerCpu) }
}

/// Core `core`'s block (shared view).
pub fn of(core: usize) -> &'static PerCpu {
    // SAFETY: only the atomic fields and `core` are read through shared references, and a
    // slot's plain fields are written only by `init_this_core` before the core goes online.
    unsafe { &*core::ptr::addr_of!(PER_CPU[core]) }
}

/// This core's logical number (0 before per-core data is set up).
pub fn core_id() -> usize {
    match cpu::per_cpu_ptr() {
        0 => 0,
        // SAFETY: as in `this`.
        p => unsafe { (*(p as *const PerCpu)).core },
    }
}

/// Timer ticks handled on all cores.
pub fn total_ticks(cores: usize) -> u64 {
    (0..cores).map(|c| of(c).ticks.load(Ordering::Relaxed)).sum()
}
