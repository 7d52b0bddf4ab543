//! The guest syscall fuzzer (`fuzz SEED N` in the shell): hostile programs on every core.
//!
//! One *worker* per core, each in an address space and CSpace of its own (a [`Process`]), with
//! a quota of its own (made from one fuzz quota) and a few capabilities in its user slots: the
//! quota, an endpoint and a notification shared by all workers, the code page of
//! [`svc_loop`] (so the threads it makes have something to run) and its stop notification.
//! Each worker issues N / cores seeded random syscalls: every syscall number and some that do
//! not exist, capability arguments that are valid, empty, of every type and right, two-level,
//! garbage; pointers that are kernel addresses, unmapped, misaligned, page-straddling, with
//! lengths that overflow. It makes objects from its quota and runs sequences over them: threads
//! it configures in address spaces of their own (holding only the [`svc_loop`] page) and starts
//! on random cores with random registers, so they run, fault, block in every IPC state (calls,
//! receives, reply-receives on the shared endpoint, waits), get suspended, have their registers
//! read and written, and are revoked while running on other cores; calls, replies and receives
//! out of order against the other workers and threads; revoke and delete of all of it.
//!
//! A worker only ever blocks in nothing: it uses the non-blocking forms itself (the threads it
//! makes use the blocking ones), and gives the kernel writable pointers only into its scratch
//! buffer. At the end the fuzz quota is revoked (destroying everything every worker made, on
//! whatever core it runs), the workers' address spaces are torn down, and the kernel's
//! self-check must pass with its figures (free frames, capabilities, mappings, objects by type)
//! back where they were before the run.

use crate::util::cores;
use abi::{CPtr, KernelStats, ObjectType, Registers, Rights, Syscall, PAGE_SIZE};
use core::arch::naked_asm;
use core::sync::atomic::{AtomicU64, Ordering};
use urt::cap::{Cap, Endpoint, Frame, Notification, Owned, Quota, BOOT_QUOTA};
use urt::process::Process;
use urt::thread::Builder;
use urt::{println, sys, time};

/// The worker's user slots.
const QUOTA: u32 = 1;
const EP: u32 = 2;
const NTFN: u32 = 3;
const CODE: u32 = 4;
const STOP: u32 = 5;
/// Slots the worker fills and empties at will: `SCRATCH..USER_SLOTS`.
const SCRATCH: u32 = 6;
const USER_SLOTS: u32 = urt::process::USER_SLOTS;

/// Where workers map frames and their threads' IPC buffers: far from the image and stacks.
const FUZZ_VA: u64 = 0x0000_5000_0000_0000;
const FUZZ_PAGES: u64 = 64;

/// Syscalls each worker issues (set before the workers are cloned: they see it as it was).
static BUDGET: AtomicU64 = AtomicU64::new(0);
/// At most this many workers (one per core).
const MAX_WORKERS: usize = 64;
/// Each worker's seed, likewise (indexed by worker).
static SEEDS: [AtomicU64; MAX_WORKERS] = [const { AtomicU64::new(0) }; MAX_WORKERS];

/// Where the kernel may write what a worker asks it to (`TcbReadRegisters`: 280 bytes): two
/// pages, so a write pointer that straddles a page boundary still lands inside. Never
/// anything else of the worker's.
#[repr(C, align(4096))]
struct Scratch([u64; 1024]);
static mut SCRATCH_PAGE: Scratch = Scratch([0; 1024]);
/// The largest write the kernel makes through a pointer argument.
const LARGEST_WRITE: u64 = core::mem::size_of::<Registers>() as u64;

fn scratch() -> u64 {
    core::ptr::addr_of!(SCRATCH_PAGE) as u64
}

/// What the threads a worker makes run: `svc` in a loop (the syscall in `x8`, whatever
/// `x0..x7` hold: results of the last one, or what the worker wrote), and a spin at +8.
#[unsafe(naked)]
extern "C" fn svc_loop() -> ! {
    naked_asm!("1: svc #0", "b 1b", "2: b 2b")
}

/// A seeded xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so nearby seeds give unrelated streams (never 0).
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A capability argument for an operation that may change or destroy what it names: the
/// worker's user slots (but never its stop notification), slots of a CNode it made, or
/// something that names nothing.
fn cap_arg(r: &mut Rng) -> u64 {
    match r.below(100) {
        0..70 => {
            let s = SCRATCH + r.below(u64::from(USER_SLOTS - SCRATCH)) as u32;
            // The shared slots rarely: a worker that deleted its quota can make nothing more.
            CPtr::root(if r.chance(3) { [QUOTA, EP, NTFN, CODE][r.below(4) as usize] } else { s }).0
        }
        70..85 => CPtr::in_cnode(SCRATCH + r.below(u64::from(USER_SLOTS - SCRATCH)) as u32, r.below(16) as u32).0,
        85..90 => CPtr::NONE.0,
        90..93 => CPtr::root(r.below(1 << 12) as u32).0 | 1 << 63,
        93..96 => CPtr::in_cnode(r.below(1 << 12) as u32, r.below(1 << 16) as u32).0,
        _ => r.next(),
    }
}

/// A pointer for the kernel to read (or, with `write`, to write): mostly bad ones. A write
/// pointer is either never writable for the worker (0, the kernel's half, the unmapped fuzz
/// window, the end of the user half) or inside the scratch pages with room for the largest
/// write: the kernel must never be asked to write over the worker's own memory.
fn ptr_arg(r: &mut Rng, write: bool) -> u64 {
    match r.below(9) {
        0 => 0,
        1 => 0xffff_0000_4000_0000 + r.below(1 << 30), // the kernel's half
        2 => FUZZ_VA + r.below(FUZZ_PAGES * PAGE_SIZE), // never mapped in the worker
        3 => scratch() + 1 + r.below(7),               // misaligned
        4 => scratch() + PAGE_SIZE - 8 * r.below(8),   // straddles a page boundary
        5 => abi::USER_VA_END - 8,
        6 if write => r.next() | 1 << 63, // anywhere in the kernel's half
        6 => r.next(),
        _ if write => scratch() + 8 * r.below((2 * PAGE_SIZE - LARGEST_WRITE) / 8),
        _ => scratch() + 8 * r.below(64),
    }
}

/// A length, often absurd.
fn len_arg(r: &mut Rng) -> u64 {
    match r.below(7) {
        0 => 0,
        1 => r.below(64),
        2 => abi::DEBUG_WRITE_MAX,
        3 => abi::DEBUG_WRITE_MAX + 1,
        4 => u64::MAX,
        5 => u64::MAX - r.below(4096),
        _ => r.next(),
    }
}

/// A number: small, a boundary, or anything.
fn num_arg(r: &mut Rng) -> u64 {
    match r.below(6) {
        0 | 1 => r.below(16),
        2 => r.below(300),
        3 => [0, 1, 12, 13, 255, 256, u64::MAX, u64::MAX / 2][r.below(8) as usize],
        _ => r.next(),
    }
}

/// One syscall.
fn call(count: &mut u64, number: Syscall, a: [u64; 8]) -> [u64; 8] {
    raw(count, number as u64, a)
}

/// Syscalls of this worker that succeeded (each worker has its own copy of this static).
static SUCCEEDED: AtomicU64 = AtomicU64::new(0);

/// One syscall by number, counted (and counted as a success if the kernel said so).
fn raw(count: &mut u64, number: u64, a: [u64; 8]) -> [u64; 8] {
    *count += 1;
    // SAFETY: the only writable pointers a worker passes are into its scratch pages (see
    // `ptr_arg`) or its own IPC buffer, which nothing else of the worker's uses.
    let r = unsafe { sys::raw_syscall(number, a) };
    if r[0] == 0 {
        SUCCEEDED.fetch_add(1, Ordering::Relaxed);
    }
    r
}

/// The registers a worker writes into a thread: the [`svc_loop`] (or its spin, or a wild pc),
/// a random syscall, capability slots of the thread's own CSpace.
fn thread_registers(r: &mut Rng) -> Registers {
    let mut regs = Registers::default();
    let code = svc_loop as *const () as u64;
    regs.pc = match r.below(10) {
        0..7 => code,
        7 => code + 8,
        8 => 0,
        _ => r.next() & !3,
    };
    regs.x[8] = if r.chance(95) { r.below(Syscall::ALL.len() as u64) } else { r.next() };
    for x in &mut regs.x[..8] {
        *x = if r.chance(60) { CPtr::root(r.below(16) as u32).0 } else { num_arg(r) };
    }
    regs.sp = r.next() & !15;
    regs
}

/// The worker's loop (runs in its [`Process`]); returns how many syscalls it issued.
extern "C" fn worker(index: u64) -> u64 {
    let budget = BUDGET.load(Ordering::Relaxed);
    let mut r = Rng::new(SEEDS[index as usize % MAX_WORKERS].load(Ordering::Relaxed));
    let mut n = 0u64;
    let stop = CPtr::root(STOP);
    let regs_at = scratch() + 2048; // a Registers the kernel only reads
    let mut round = 0u64;
    while n < budget {
        round += 1;
        if round.is_multiple_of(64) && call(&mut n, Syscall::Poll, [stop.0, 0, 0, 0, 0, 0, 0, 0])[1] != 0 {
            break;
        }
        let (c0, c1, c2) = (cap_arg(&mut r), cap_arg(&mut r), cap_arg(&mut r));
        match r.below(30) {
            // Object creation, from the worker's quota (or whatever the slot holds).
            0..4 => {
                let q = if r.chance(80) { CPtr::root(QUOTA).0 } else { c0 };
                let kind = if r.chance(90) { 1 + r.below(8) } else { num_arg(&mut r) };
                let size = match kind {
                    5 => 1 + r.below(6), // CNode radix
                    1 => r.below(8),     // quota frames
                    _ => num_arg(&mut r),
                };
                call(&mut n, Syscall::Create, [q, kind, c1, size, r.below(16384), 0, 0, 0]);
            }
            // Derivation: copy, mint, move, delete, revoke, info.
            4..10 => {
                let (number, a) = match r.below(6) {
                    0 => (Syscall::CapCopy, [c0, c1, 0, 0, 0, 0, 0, 0]),
                    1 => (Syscall::CapMint, [c0, c1, r.below(32), num_arg(&mut r), 0, 0, 0, 0]),
                    2 => (Syscall::CapMove, [c0, c1, 0, 0, 0, 0, 0, 0]),
                    3 => (Syscall::CapDelete, [c0, 0, 0, 0, 0, 0, 0, 0]),
                    4 => (Syscall::CapRevoke, [c0, 0, 0, 0, 0, 0, 0, 0]),
                    _ => (Syscall::CapInfo, [c0, 0, 0, 0, 0, 0, 0, 0]),
                };
                call(&mut n, number, a);
            }
            // A thread in an address space of its own that holds only the svc_loop page.
            10..12 => {
                // Four different scratch slots.
                let first = r.below(u64::from(USER_SLOTS - SCRATCH)) as u32;
                let pick = |k: u32| CPtr::root(SCRATCH + (first + k) % (USER_SLOTS - SCRATCH)).0;
                let (tcb, cnode, vspace, code) = (pick(0), pick(1), pick(2), pick(3));
                let q = CPtr::root(QUOTA).0;
                call(&mut n, Syscall::Create, [q, ObjectType::Tcb as u64, tcb, 0, 0, 0, 0, 0]);
                call(&mut n, Syscall::Create, [q, ObjectType::CNode as u64, cnode, 4, 0, 0, 0, 0]);
                call(&mut n, Syscall::Create, [q, ObjectType::VSpace as u64, vspace, 0, 0, 0, 0, 0]);
                call(&mut n, Syscall::CapCopy, [CPtr::root(CODE).0, code, 0, 0, 0, 0, 0, 0]);
                let page = (svc_loop as *const () as u64) & !(PAGE_SIZE - 1);
                let rx = u64::from((Rights::READ | Rights::EXEC).0);
                call(&mut n, Syscall::FrameMap, [code, vspace, page, rx, 0, 0, 0, 0]);
                // Give its CSpace the shared endpoint and notification (two-level CPtrs).
                let (_, cn) = CPtr(cnode).split();
                for (k, s) in [EP, NTFN, EP].into_iter().enumerate() {
                    let to = CPtr::in_cnode(cn, k as u32).0;
                    call(&mut n, Syscall::CapCopy, [CPtr::root(s).0, to, 0, 0, 0, 0, 0, 0]);
                }
                let ipc = if r.chance(50) { 0 } else { FUZZ_VA + PAGE_SIZE * r.below(FUZZ_PAGES) };
                let fault_ep = if r.chance(50) { CPtr::root(r.below(16) as u32).0 } else { CPtr::NONE.0 };
                call(&mut n, Syscall::TcbConfigure, [tcb, cnode, vspace, ipc, fault_ep, 0, 0, 0]);
                write_registers(&mut r, &mut n, tcb, regs_at);
                call(&mut n, Syscall::TcbSetAffinity, [tcb, r.below(cores() as u64 + 1), 0, 0, 0, 0, 0, 0]);
                call(&mut n, Syscall::TcbSetPriority, [tcb, r.below(abi::PRIORITIES), 0, 0, 0, 0, 0, 0]);
                call(&mut n, Syscall::TcbResume, [tcb, 0, 0, 0, 0, 0, 0, 0]);
            }
            // Whatever state the thread is in: every TCB operation.
            12..16 => {
                let number = match r.below(7) {
                    0 => Syscall::TcbSuspend,
                    1 => Syscall::TcbResume,
                    2 => Syscall::TcbSetAffinity,
                    3 => Syscall::TcbSetPriority,
                    4 => Syscall::TcbReadRegisters,
                    5 => Syscall::TcbWriteRegisters,
                    _ => Syscall::TcbConfigure,
                };
                match number {
                    Syscall::TcbWriteRegisters => write_registers(&mut r, &mut n, c0, regs_at),
                    Syscall::TcbReadRegisters => {
                        call(&mut n, number, [c0, ptr_arg(&mut r, true), 0, 0, 0, 0, 0, 0]);
                    }
                    Syscall::TcbConfigure => {
                        call(&mut n, number, [c0, c1, c2, ptr_arg(&mut r, false) & !0xfff, cap_arg(&mut r), 0, 0, 0]);
                    }
                    _ => {
                        call(&mut n, number, [c0, num_arg(&mut r), 0, 0, 0, 0, 0, 0]);
                    }
                }
            }
            // IPC, never blocking the worker: against the other workers and the threads.
            16..21 => {
                let ep = if r.chance(70) { CPtr::root(EP).0 } else { c0 };
                let info = if r.chance(80) { r.below(8) | (r.below(4) << 32) | (r.below(2) << 7) } else { r.next() };
                let recv_slot = c1;
                let (number, a) = match r.below(6) {
                    0 | 1 => (Syscall::NbSend, [ep, info, r.next(), r.next(), 0, 0, c2, 0]),
                    2 | 3 => (Syscall::NbRecv, [ep, 0, 0, 0, 0, 0, 0, recv_slot]),
                    4 => (Syscall::Reply, [0, info, r.next(), 0, 0, 0, c2, 0]),
                    _ => (Syscall::Signal, [if r.chance(70) { CPtr::root(NTFN).0 } else { c0 }, 0, 0, 0, 0, 0, 0, 0]),
                };
                call(&mut n, number, a);
            }
            // Memory: map, unmap, unmap a range, quota figures.
            21..25 => {
                let va = FUZZ_VA + PAGE_SIZE * r.below(FUZZ_PAGES) + if r.chance(5) { 8 } else { 0 };
                let vs = if r.chance(50) { c1 } else { cap_arg(&mut r) };
                let (number, a) = match r.below(4) {
                    0 | 1 => (Syscall::FrameMap, [c0, vs, va, r.below(32), 0, 0, 0, 0]),
                    2 => (Syscall::FrameUnmap, [c0, 0, 0, 0, 0, 0, 0, 0]),
                    _ => (
                        Syscall::VSpaceUnmap,
                        [vs, FUZZ_VA, if r.chance(80) { r.below(FUZZ_PAGES) } else { num_arg(&mut r) }, 0, 0, 0, 0, 0],
                    ),
                };
                call(&mut n, number, a);
                call(&mut n, Syscall::QuotaInfo, [CPtr::root(QUOTA).0, 0, 0, 0, 0, 0, 0, 0]);
            }
            // Authority it does not have, bad pointers, unknown numbers, the harmless ones.
            _ => {
                let number = r.below(Syscall::ALL.len() as u64 + 3);
                let a = match Syscall::from_number(number) {
                    Some(Syscall::DebugWrite) => [ptr_arg(&mut r, false), len_arg(&mut r), c0, 0, 0, 0, 0, 0],
                    Some(Syscall::SystemInfo) => [num_arg(&mut r), c0, 0, 0, 0, 0, 0, 0],
                    Some(Syscall::KernelCheck) => [c0, ptr_arg(&mut r, true), 0, 0, 0, 0, 0, 0],
                    Some(
                        Syscall::PowerOff
                        | Syscall::DebugPanic
                        | Syscall::Sync
                        | Syscall::DebugRead
                        | Syscall::DebugStall
                        | Syscall::DebugImage,
                    ) => [c0, 0, 0, 0, 0, 0, 0, 0],
                    Some(Syscall::Null | Syscall::Yield | Syscall::Poll | Syscall::CapInfo) => [c0; 8],
                    // A deadline in the past, or at most ~16 µs ahead (the helpers' random
                    // registers make them sleep for ever too, and the revoke at the end stops them).
                    Some(Syscall::Sleep) => {
                        let now = time::ticks();
                        let deadline =
                            if r.chance(30) { now.saturating_sub(r.below(1000)) } else { now + r.below(1000) };
                        [deadline, 0, 0, 0, 0, 0, 0, 0]
                    }
                    // Everything else may block or end the worker: a number past the end instead.
                    _ => {
                        raw(&mut n, Syscall::ALL.len() as u64 + r.below(1000), [c0; 8]);
                        continue;
                    }
                };
                raw(&mut n, number, a);
            }
        }
    }
    // Calls in the low 32 bits, successes above (a worker issues fewer than 2^32).
    SUCCEEDED.load(Ordering::Relaxed) << 32 | n
}

/// `TcbWriteRegisters` of `tcb` with [`thread_registers`], or with a bad pointer.
fn write_registers(r: &mut Rng, n: &mut u64, tcb: u64, at: u64) {
    let regs = thread_registers(r);
    let tail = [regs.sp, regs.pc, regs.pstate, regs.tpidr];
    let words = regs.x.iter().chain(tail.iter());
    for (i, w) in words.enumerate() {
        // SAFETY: `at` is in the scratch page, which only the worker uses.
        unsafe { ((at as *mut u64).add(i)).write_volatile(*w) };
    }
    let ptr = if r.chance(90) { at } else { ptr_arg(r, false) };
    call(n, Syscall::TcbWriteRegisters, [tcb, ptr, 0, 0, 0, 0, 0, 0]);
}

/// The boot frame capability holding the page at `va` of the root task's image.
fn image_frame_of(va: u64) -> Option<CPtr> {
    let info = urt::cspace::boot_info();
    let page = va & !(PAGE_SIZE - 1);
    let frames = &info.frame_va[..(info.image_frames as usize).min(info.frame_va.len())];
    let i = frames.iter().position(|e| e & !(PAGE_SIZE - 1) == page)?;
    Some(CPtr::root(abi::boot_slot::IMAGE_FRAMES + i as u32))
}

/// What [`run`] found.
pub struct Verdict {
    /// Syscalls the workers issued (their threads' are not counted).
    pub calls: u64,
    /// How many of them succeeded.
    pub succeeded: u64,
    /// Every problem, as one line each (empty: the run passed).
    pub problems: alloc::vec::Vec<alloc::string::String>,
}

/// `fuzz SEED N`: N syscalls (at least) from one worker per core, then the self-check.
pub fn run(seed: u64, calls: u64) -> Verdict {
    use alloc::format;
    let mut problems = alloc::vec::Vec::new();
    let workers = cores().min(MAX_WORKERS);
    println!("fuzz: seed {seed}, {calls} syscalls from {workers} workers (one per core)");
    let before = match sys::kernel_check() {
        Ok(s) if s.violations == 0 => s,
        Ok(s) => {
            problems.push(format!("the self-check failed before the run ({} violations)", s.violations));
            return Verdict { calls: 0, succeeded: 0, problems };
        }
        Err(e) => {
            problems.push(format!("KernelCheck: {}", e.describe()));
            return Verdict { calls: 0, succeeded: 0, problems };
        }
    };
    BUDGET.store(calls.div_ceil(workers as u64), Ordering::Relaxed);
    for (i, s) in SEEDS.iter().enumerate().take(workers) {
        s.store(seed.wrapping_mul(0x100_0000_01b3).wrapping_add(i as u64), Ordering::Relaxed);
    }
    let started = time::ticks();
    let (total, succeeded) = match spawn_and_wait(workers, &mut problems) {
        Ok(n) => n,
        Err(e) => {
            problems.push(e);
            (0, 0)
        }
    };
    let secs = (time::ticks() - started) / time::hz().max(1);
    // A revoked thread still running on another core is destroyed (with what it holds) when
    // that core next enters the kernel: compare once the kernel reports nothing dying.
    let mut after = sys::kernel_check();
    let settled = time::wait_for(60_000, || {
        after = sys::kernel_check();
        after.is_ok_and(|s| s.dying == 0)
    });
    match after {
        Ok(after) if settled => compare(&before, &after, &mut problems),
        Ok(after) => problems.push(format!("{} objects still dying 60 s after the revoke", after.dying)),
        Err(e) => problems.push(format!("KernelCheck after the run: {}", e.describe())),
    }
    println!("fuzz: {total} syscalls ({succeeded} succeeded) in {secs} s; {} problem(s)", problems.len());
    Verdict { calls: total, succeeded, problems }
}

/// Starts the workers, waits for them, revokes what they made and drops them; returns the
/// syscalls they issued and how many succeeded.
fn spawn_and_wait(
    workers: usize,
    problems: &mut alloc::vec::Vec<alloc::string::String>,
) -> Result<(u64, u64), alloc::string::String> {
    use alloc::format;
    let err = |what: &str, e: abi::Error| format!("{what}: {}", e.describe());
    let slot = || urt::cspace::alloc().ok_or_else(|| alloc::string::String::from("no free slot"));
    let fuzz_quota_slot = slot()?;
    let fuzz_quota: Cap<Quota> = BOOT_QUOTA
        .create_quota(fuzz_quota_slot, 512 * workers as u64, (1 << 20) * workers as u64)
        .map_err(|e| err("fuzz quota", e))?;
    let ep = Owned::<Endpoint>::create(0).map_err(|e| err("endpoint", e))?;
    let ntfn = Owned::<Notification>::create(0).map_err(|e| err("notification", e))?;
    let code = image_frame_of(svc_loop as *const () as u64).ok_or("the svc_loop page is not a boot frame")?;
    let mut procs = alloc::vec::Vec::new();
    let mut stops = alloc::vec::Vec::new();
    let mut quota_slots = alloc::vec::Vec::new();
    for i in 0..workers {
        let at = slot()?;
        quota_slots.push(at);
        let q = fuzz_quota.create_quota(at, 256, 256 * 1024).map_err(|e| err("worker quota", e))?;
        let stop = Owned::<Notification>::create(0).map_err(|e| err("stop notification", e))?;
        let mut p = Process::new().map_err(|e| err("worker process", e))?;
        p.give(q, QUOTA).map_err(|e| err("give quota", e))?;
        p.give(ep.cap(), EP).map_err(|e| err("give endpoint", e))?;
        p.give(ntfn.cap(), NTFN).map_err(|e| err("give notification", e))?;
        p.give(Cap::<Frame>::new(code), CODE).map_err(|e| err("give code page", e))?;
        p.give(stop.cap(), STOP).map_err(|e| err("give stop", e))?;
        p.start(worker, i as u64, &Builder::new().core(i)).map_err(|e| err("start worker", e))?;
        procs.push(p);
        stops.push(stop);
    }
    // Wait for every worker, with progress lines; a worker that stops without returning (a
    // fault) is a problem: it gave the kernel nothing that may crash it.
    let mut done = alloc::vec![None; workers];
    let mut last = time::ticks();
    let deadline_s = 1800;
    let start = time::ticks();
    while done.iter().any(Option::is_none) {
        for (i, p) in procs.iter_mut().enumerate() {
            if done[i].is_none() {
                let stopped = p.tcb().and_then(|t| t.info().ok()).and_then(|i| i.thread_state)
                    == Some(abi::ThreadState::Inactive);
                // Asked after the state: a worker that returned signalled before it stopped.
                if let Some(r) = p.try_join() {
                    done[i] = Some(r.unwrap_or(0));
                } else if stopped {
                    problems.push(format!("worker {i} stopped without finishing (a fault?)"));
                    done[i] = Some(0);
                }
            }
        }
        if (time::ticks() - last) / time::hz().max(1) >= 10 {
            last = time::ticks();
            println!("fuzz: {} of {workers} workers done", done.iter().filter(|d| d.is_some()).count());
        }
        if (time::ticks() - start) / time::hz().max(1) > deadline_s {
            problems.push(format!("workers still running after {deadline_s} s: stopping them"));
            for s in &stops {
                let _ = s.signal();
            }
            break;
        }
        sys::yield_now();
    }
    // Everything the workers made goes with their quotas, wherever it runs; then the workers.
    let revoked = fuzz_quota.revoke().map_err(|e| err("revoke the fuzz quota", e))?;
    println!("fuzz: revoked the fuzz quota: {revoked} capabilities");
    drop(procs);
    for s in quota_slots.into_iter().chain([fuzz_quota_slot]) {
        let _ = sys::cap_delete(s); // emptied by the revoke, but for the fuzz quota itself
        urt::cspace::free(s);
    }
    let results = done.iter().map(|d| d.unwrap_or(0));
    Ok(results.fold((0, 0), |(n, ok), d| (n + (d & 0xffff_ffff), ok + (d >> 32))))
}

/// The figures that must be back after a run, and the self-check's verdict.
fn compare(before: &KernelStats, after: &KernelStats, problems: &mut alloc::vec::Vec<alloc::string::String>) {
    use alloc::format;
    if after.violations != 0 {
        problems.push(format!("the kernel self-check found {} broken invariants (see the log)", after.violations));
    }
    let figures = [
        ("free_frames", before.free_frames, after.free_frames),
        ("capabilities", before.cap_slots, after.cap_slots),
        ("mappings", before.mappings, after.mappings),
    ];
    for (name, b, a) in figures {
        if a != b {
            problems.push(format!("{name}: {b} before, {a} after"));
        }
    }
    for t in 1..after.objects.len() {
        if before.objects[t] != after.objects[t] {
            let name = ObjectType::from_number(t as u64).map_or("?", ObjectType::name);
            problems.push(format!("{name} objects: {} before, {} after", before.objects[t], after.objects[t]));
        }
    }
    println!(
        "fuzz: kernel heap used {} bytes before, {} after (the object slab and queues keep their capacity)",
        before.heap_used, after.heap_used
    );
}
