//! Threads, address spaces and the scheduler, under the big kernel lock.
//!
//! # Locking
//! One spin lock ([`lock`]) guards all kernel state, as in seL4: a core takes it on entry from
//! EL0 and releases it just before returning to EL0 or going idle. The kernel runs with IRQs
//! masked, so a core never waits for the lock while holding it. Interrupts are taken only by
//! idle cores and by EL0.
//!
//! The lock is a plain test-and-set lock, not a ticket lock: under QEMU several virtual cores
//! share few host cores, and a ticket lock hands the lock to a waiter that the host may not be
//! running, so every other core convoys behind it (seen: boot stalled for seconds on 8 cores).
//! Idle cores take the lock only when their `need_resched` flag says work arrived, never on a
//! mere timer tick.
//!
//! A thread's saved context is written only under the lock while the thread is not running, or
//! by the entry code of the one core that runs it.
//!
//! # Scheduling
//! Every core has its own run queue; a thread stays on the core it was put on. Round robin:
//! the timer tick moves the running thread to the back of its core's queue. A core with nothing
//! to run waits for an interrupt with the lock released.

use crate::arch::{cpu, exceptions::UserContext, fpu::{self, FpState}, mmu};
use crate::mm::{kernel_map, vspace::VSpace};
use crate::{percpu, smp};
use abi::Error;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use klogic::board::MAX_CPUS;
use core::sync::atomic::Ordering;
use spin::mutex::{SpinMutex, SpinMutexGuard};

/// A thread id.
pub type ThreadId = u64;
/// An address-space id.
pub type VSpaceId = u64;

/// What a thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// In its core's run queue.
    Runnable,
    /// Running (or about to run) on its core.
    Running,
    /// Waiting for a console byte.
    BlockedRead,
    /// Waiting for another thread to end.
    BlockedJoin(ThreadId),
}

/// A user thread.
pub struct Thread {
    /// Its id, unique for the life of the system.
    pub id: ThreadId,
    /// A name for messages.
    pub name: String,
    /// The address space it runs in.
    pub vspace: VSpaceId,
    /// Saved registers; boxed so the entry code can hold its address.
    pub ctx: Box<UserContext>,
    /// Saved FP/SIMD registers (valid while another thread's are loaded on its core).
    fp: Box<FpState>,
    /// What it is doing.
    pub state: State,
    /// The core it runs on.
    pub core: usize,
}

/// How a thread ended, kept for [`abi::Syscall::ThreadJoin`].
#[derive(Clone, Copy, Debug)]
struct Exit {
    id: ThreadId,
    vspace: VSpaceId,
    code: u64,
    killed: bool,
}

/// Exit records kept for threads nobody has joined yet (oldest dropped first).
const EXITS_KEPT: usize = 64;

/// All kernel state.
pub struct Kernel {
    threads: BTreeMap<ThreadId, Thread>,
    vspaces: BTreeMap<VSpaceId, VSpace>,
    run_queues: [VecDeque<ThreadId>; MAX_CPUS],
    current: [Option<ThreadId>; MAX_CPUS],
    /// Whose FP/SIMD values each core's registers hold.
    fp_owner: [Option<ThreadId>; MAX_CPUS],
    exits: VecDeque<Exit>,
    console_rx: VecDeque<u8>,
    console_readers: VecDeque<ThreadId>,
    next_id: u64,
    /// Cores online.
    pub cores: usize,
}

static KERNEL: spin::Once<SpinMutex<Kernel>> = spin::Once::new();

/// The big kernel lock guard.
pub type Guard = SpinMutexGuard<'static, Kernel>;

/// Creates the kernel state (core 0, once, before any user thread exists).
pub fn init(cores: usize) {
    KERNEL.call_once(|| {
        SpinMutex::new(Kernel {
            threads: BTreeMap::new(),
            vspaces: BTreeMap::new(),
            run_queues: core::array::from_fn(|_| VecDeque::new()),
            current: [None; MAX_CPUS],
            fp_owner: [None; MAX_CPUS],
            exits: VecDeque::new(),
            console_rx: VecDeque::new(),
            console_readers: VecDeque::new(),
            next_id: 1,
            cores,
        })
    });
}

/// Takes the big kernel lock.
pub fn lock() -> Guard {
    KERNEL.get().expect("scheduler used before init").lock()
}

impl Kernel {
    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Registers an address space; it lives until its last thread ends.
    pub fn add_vspace(&mut self, vs: VSpace) -> VSpaceId {
        let id = self.fresh_id();
        self.vspaces.insert(id, vs);
        id
    }

    /// An address space by id.
    pub fn vspace(&self, id: VSpaceId) -> Option<&VSpace> {
        self.vspaces.get(&id)
    }

    /// Destroys an address space that never got a thread (a failed load).
    pub fn discard_vspace(&mut self, id: VSpaceId) {
        if let Some(vs) = self.vspaces.remove(&id) {
            debug_assert_eq!(vs.threads, 0);
            vs.destroy();
        }
    }

    /// Starts a thread in `vspace` on `core` with context `ctx`.
    pub fn spawn(&mut self, vspace: VSpaceId, name: &str, ctx: UserContext, core: usize) -> Result<ThreadId, Error> {
        if core >= self.cores {
            return Err(Error::InvalidArgument);
        }
        let vs = self.vspaces.get_mut(&vspace).ok_or(Error::NotFound)?;
        vs.threads += 1;
        let id = self.fresh_id();
        let thread = Thread {
            id,
            name: String::from(name),
            vspace,
            ctx: Box::new(ctx),
            fp: Box::default(),
            state: State::Runnable,
            core,
        };
        self.threads.insert(id, thread);
        self.make_runnable(id);
        Ok(id)
    }

    fn make_runnable(&mut self, id: ThreadId) {
        let Some(t) = self.threads.get_mut(&id) else { return };
        t.state = State::Runnable;
        let core = t.core;
        self.run_queues[core].push_back(id);
        percpu::of(core).need_resched.store(true, Ordering::Release);
        if core != percpu::core_id() {
            smp::kick(core); // it may be idle in WFI
        }
    }

    /// The thread running on `core`.
    pub fn current(&self, core: usize) -> Option<&Thread> {
        self.threads.get(&self.current[core]?)
    }

    /// The thread running on `core`, mutably.
    pub fn current_mut(&mut self, core: usize) -> Option<&mut Thread> {
        self.threads.get_mut(&self.current[core]?)
    }

    /// Takes the running thread off `core` in state `state` (it must be a blocked state).
    pub fn block_current(&mut self, core: usize, state: State) {
        if let Some(t) = self.current_mut(core) {
            t.state = state;
        }
        self.current[core] = None;
        self.leave_user_space();
    }

    /// Ends the thread running on `core` with `code`; `killed` if the kernel ended it.
    pub fn exit_current(&mut self, core: usize, code: u64, killed: bool) {
        let Some(id) = self.current[core].take() else { return };
        self.leave_user_space();
        let Some(t) = self.threads.remove(&id) else { return };
        let exit = Exit { id, vspace: t.vspace, code, killed };
        // Wake joiners with the result; otherwise keep it for a later join.
        let joiners: Vec<ThreadId> = self
            .threads
            .values()
            .filter(|j| j.state == State::BlockedJoin(id))
            .map(|j| j.id)
            .collect();
        for j in &joiners {
            self.complete(*j, [0, code, killed as u64]);
        }
        if joiners.is_empty() {
            if self.exits.len() == EXITS_KEPT {
                self.exits.pop_front();
            }
            self.exits.push_back(exit);
        }
        let vs = self.vspaces.get_mut(&t.vspace).expect("thread without address space");
        vs.threads -= 1;
        if vs.threads == 0 {
            let vs = self.vspaces.remove(&t.vspace).expect("just found");
            vs.destroy();
        }
    }

    /// Waits for thread `target` (of the caller's address space) to end: returns its exit now if
    /// it already ended, otherwise blocks the caller and returns `None`.
    pub fn join(&mut self, core: usize, target: ThreadId) -> Result<Option<(u64, bool)>, Error> {
        let me = self.current(core).ok_or(Error::InvalidArgument)?;
        let (my_id, my_vs) = (me.id, me.vspace);
        if target == my_id {
            return Err(Error::InvalidArgument);
        }
        if let Some(pos) = self.exits.iter().position(|e| e.id == target && e.vspace == my_vs) {
            let e = self.exits.remove(pos).expect("position is valid");
            return Ok(Some((e.code, e.killed)));
        }
        match self.threads.get(&target) {
            Some(t) if t.vspace == my_vs => {
                self.block_current(core, State::BlockedJoin(target));
                Ok(None)
            }
            _ => Err(Error::NotFound),
        }
    }

    /// Finishes a blocked thread's syscall with `x0..x2 = regs` and makes it runnable.
    fn complete(&mut self, id: ThreadId, regs: [u64; 3]) {
        if let Some(t) = self.threads.get_mut(&id) {
            t.ctx.x[..3].copy_from_slice(&regs);
            self.make_runnable(id);
        }
    }

    /// A console byte, or `None` after blocking the caller until one arrives.
    pub fn console_read(&mut self, core: usize) -> Option<u8> {
        if let Some(b) = self.console_rx.pop_front() {
            return Some(b);
        }
        if let Some(id) = self.current[core] {
            self.console_readers.push_back(id);
            self.block_current(core, State::BlockedRead);
        }
        None
    }

    /// Bytes received on the console: hands them to waiting readers, buffers the rest.
    pub fn console_input(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.console_readers.pop_front() {
                Some(reader) => self.complete(reader, [0, u64::from(b), 0]),
                None if self.console_rx.len() < 4096 => self.console_rx.push_back(b),
                None => {} // nobody reads: drop rather than grow without bound
            }
        }
    }

    /// Round robin: if another thread waits on `core`, the running one goes to the back.
    pub fn preempt(&mut self, core: usize) {
        if self.run_queues[core].is_empty() {
            return;
        }
        if let Some(id) = self.current[core].take() {
            self.make_runnable(id);
        }
    }

    /// The context to run next on `core`, switching address spaces if needed.
    fn pick(&mut self, core: usize) -> Option<*mut UserContext> {
        percpu::of(core).need_resched.store(false, Ordering::Relaxed);
        if self.current[core].is_none() {
            let id = self.run_queues[core].pop_front()?;
            self.current[core] = Some(id);
            self.switch_fp(core, id);
            let t = self.threads.get_mut(&id).expect("queued thread exists");
            t.state = State::Running;
            self.vspaces.get(&t.vspace).expect("thread's address space exists").activate();
        }
        let t = self.current_mut(core)?;
        Some(&mut *t.ctx as *mut UserContext)
    }

    /// Makes this core's FP/SIMD registers hold thread `next`'s values.
    fn switch_fp(&mut self, core: usize, next: ThreadId) {
        if self.fp_owner[core] == Some(next) {
            return;
        }
        if let Some(prev) = self.fp_owner[core].and_then(|p| self.threads.get_mut(&p)) {
            fpu::save(&mut prev.fp);
        }
        if let Some(t) = self.threads.get(&next) {
            fpu::restore(&t.fp);
        }
        self.fp_owner[core] = Some(next);
    }

    /// Points this core's user half at the empty tree (it runs no thread now).
    fn leave_user_space(&self) {
        mmu::set_user_tables(kernel_map::empty_user_root(), 0);
    }
}

/// Releases the lock and returns the context this core runs next, idling (with the lock
/// released and interrupts on) until there is one.
pub fn finish(mut k: Guard) -> *mut UserContext {
    let core = percpu::core_id();
    loop {
        if let Some(ctx) = k.pick(core) {
            return ctx;
        }
        drop(k);
        let me = percpu::this();
        while !me.need_resched.load(Ordering::Acquire) {
            // WFI with IRQs masked still wakes on a pending interrupt, so one that arrives
            // between the check and the WFI is not missed; it is then taken in the short
            // unmasked window.
            cpu::wait_for_interrupt();
            cpu::irq_enable();
            cpu::irq_disable();
        }
        k = lock();
    }
}
