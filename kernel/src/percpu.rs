//! Per-core data: one block per logical core, found through the architecture's per-core pointer.
//!
//! Other cores read these blocks (the `online` flag at boot, the tick counts, `need_resched`),
//! so every field is an atomic and the table is a plain `static`: no `&mut` to a block ever
//! exists, and no reference to one can alias a write.

use crate::arch::{boot, cpu, exceptions::PerCpuEntry};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use klogic::board::MAX_CPUS;

/// What each core keeps about itself.
#[repr(C)]
pub struct PerCpu {
    /// Read by the exception entry code: must stay first.
    pub entry: PerCpuEntry,
    /// The logical core number (written once, by the core itself, before it goes online).
    core: AtomicUsize,
    /// Set once the core has finished its own bring-up.
    pub online: AtomicBool,
    /// Timer ticks handled on this core.
    pub ticks: AtomicU64,
    /// Set when a thread is made runnable on this core: the idle loop takes the kernel lock
    /// only then.
    pub need_resched: AtomicBool,
    /// Counter value of this core's next scheduler tick (written by this core only).
    pub next_tick: AtomicU64,
    /// Counter value of the earliest deadline of a thread sleeping on this core, `u64::MAX`
    /// if none (written by this core only, under the kernel lock; read by its interrupt path).
    pub next_wake: AtomicU64,
    /// Counter value until which this core stalls before it returns to user code
    /// (`DebugStall`), 0 if none (written and read by this core only).
    pub stall_until: AtomicU64,
    /// Set when a cross-core sync gave up waiting for this core: a stall ends then.
    pub stall_release: AtomicBool,
    /// The thread this core runs (its object id), 0 if none: for the debugger (`core-info`).
    pub current_thread: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const INIT: PerCpu = PerCpu {
    entry: PerCpuEntry { current_ctx: AtomicPtr::new(core::ptr::null_mut()), kstack_top: AtomicUsize::new(0) },
    core: AtomicUsize::new(0),
    online: AtomicBool::new(false),
    ticks: AtomicU64::new(0),
    need_resched: AtomicBool::new(false),
    next_tick: AtomicU64::new(u64::MAX),
    next_wake: AtomicU64::new(u64::MAX),
    stall_until: AtomicU64::new(0),
    stall_release: AtomicBool::new(false),
    current_thread: AtomicU64::new(0),
};

static PER_CPU: [PerCpu; MAX_CPUS] = [INIT; MAX_CPUS];

/// The cores online, one bit each (as `PerCpu::online`, in one word: the `Sync` syscall reads
/// it without a loop over the cores).
static ONLINE: AtomicU64 = AtomicU64::new(0);

/// This core is online: its flag and its bit in [`online_set`] (release: what it set up
/// before is visible to whoever sees it online).
pub fn set_online(core: usize) {
    PER_CPU[core].online.store(true, Ordering::Release);
    ONLINE.fetch_or(1 << core, Ordering::Release);
}

/// The cores online, one bit each.
pub fn online_set() -> u64 {
    ONLINE.load(Ordering::Acquire)
}

impl PerCpu {
    /// The logical core number of this block.
    #[inline]
    pub fn id(&self) -> usize {
        self.core.load(Ordering::Relaxed)
    }
}

/// Initialises core `core`'s block and makes it this core's. Called once per core at boot,
/// before anything reads [`this`].
pub fn init_this_core(core: usize) {
    assert!(core < MAX_CPUS, "core {core} beyond MAX_CPUS");
    let block = &PER_CPU[core];
    block.core.store(core, Ordering::Relaxed);
    block.entry.kstack_top.store(boot::stack_bounds(core).1, Ordering::Relaxed);
    // The exception entry code reads `kstack_top` through the per-core pointer on this core
    // only, after this store (program order on one core).
    cpu::set_per_cpu_ptr(block as *const PerCpu as usize);
}

/// This core's block.
pub fn this() -> &'static PerCpu {
    let p = cpu::per_cpu_ptr();
    assert!(p != 0, "per-core data used before init_this_core");
    // SAFETY: the pointer was set by `init_this_core` to a slot of the static array.
    unsafe { &*(p as *const PerCpu) }
}

/// Core `core`'s block.
pub fn of(core: usize) -> &'static PerCpu {
    &PER_CPU[core]
}

/// This core's logical number (0 before per-core data is set up).
pub fn core_id() -> usize {
    match cpu::per_cpu_ptr() {
        0 => 0,
        // SAFETY: as in `this`.
        p => unsafe { &*(p as *const PerCpu) }.id(),
    }
}

/// Timer ticks handled on all cores.
pub fn total_ticks(cores: usize) -> u64 {
    (0..cores).map(|c| of(c).ticks.load(Ordering::Relaxed)).sum()
}
