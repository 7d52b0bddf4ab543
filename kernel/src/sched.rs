//! All kernel state under the big kernel lock, and the scheduler.
//!
//! # Locking
//! One spin lock ([`lock`]) guards all kernel state, as in seL4: a core takes it on entry from
//! EL0 and releases it just before returning to EL0 or going idle. The kernel runs with IRQs
//! masked, so a core never waits for the lock while holding it. Interrupts are taken only by
//! idle cores and by EL0. One lock makes every syscall atomic with respect to every other core,
//! which is what lets the capability and IPC code below be written as plain sequential code;
//! the price (cores serialise inside the kernel) is small because kernel paths are short.
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
//! Every core has its own run queue per priority; a thread runs on the core it is pinned to
//! ([`Tcb::core`]) and moves when re-pinned. The highest priority runs first; the timer tick
//! rotates threads of equal priority (round robin). A core with nothing to run is in its idle
//! loop ([`finish`]): the per-core idle thread, which waits for an interrupt with the lock
//! released.

use crate::arch::{cpu, exceptions::UserContext, fpu, mmu};
use crate::mm::kernel_map;
use crate::object::{ObjId, Objects, State, Tcb};
use crate::{percpu, smp};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use klogic::board::MAX_CPUS;
use klogic::cdt::Cdt;
use spin::mutex::{SpinMutex, SpinMutexGuard};

const PRIOS: usize = abi::PRIORITIES as usize;

/// One core's runnable threads, a queue per priority.
pub struct RunQueue {
    queues: [VecDeque<ObjId>; PRIOS],
    /// Bit p set: `queues[p]` is not empty.
    bitmap: u32,
}

impl RunQueue {
    fn new() -> RunQueue {
        RunQueue { queues: core::array::from_fn(|_| VecDeque::new()), bitmap: 0 }
    }

    fn push(&mut self, id: ObjId, prio: u8) {
        self.queues[prio as usize].push_back(id);
        self.bitmap |= 1 << prio;
    }

    fn pop(&mut self) -> Option<ObjId> {
        let p = self.bitmap.checked_ilog2()?;
        let q = &mut self.queues[p as usize];
        let id = q.pop_front();
        if q.is_empty() {
            self.bitmap &= !(1 << p);
        }
        id
    }

    fn remove(&mut self, id: ObjId, prio: u8) {
        let q = &mut self.queues[prio as usize];
        q.retain(|t| *t != id);
        if q.is_empty() {
            self.bitmap &= !(1 << prio);
        }
    }

    /// The highest priority waiting, if any.
    fn top(&self) -> Option<u8> {
        self.bitmap.checked_ilog2().map(|p| p as u8)
    }
}

/// All kernel state.
pub struct Kernel {
    /// Every kernel object.
    pub objects: Objects,
    /// Every capability, in its derivation tree.
    pub cdt: Cdt,
    /// Frame capabilities that are mapped: slot -> (VSpace, user address).
    pub mappings: alloc::collections::BTreeMap<klogic::cdt::Slot, crate::object::Mapping>,
    run_queues: [RunQueue; MAX_CPUS],
    current: [Option<ObjId>; MAX_CPUS],
    /// Whose FP/SIMD values each core's registers hold.
    fp_owner: [Option<ObjId>; MAX_CPUS],
    console_rx: VecDeque<u8>,
    console_readers: VecDeque<ObjId>,
    /// Threads in [`State::BlockedStop`], with the thread each waits for.
    stop_waiters: Vec<(ObjId, ObjId)>,
    /// Threads in [`State::Sleeping`] on each core, earliest deadline last.
    sleepers: [Vec<(u64, ObjId)>; MAX_CPUS],
    /// Objects whose last capability went, to destroy once unheld (see `cspace::reap`).
    pub reap_queue: Vec<ObjId>,
    /// Set while the reap queue is being drained.
    pub reaping: bool,
    /// Set while a drain may stop for a pending interrupt (see `Kernel::drain_reap_queue`).
    pub drain_budgeted: bool,
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
            objects: Objects::default(),
            cdt: Cdt::new(),
            mappings: alloc::collections::BTreeMap::new(),
            run_queues: core::array::from_fn(|_| RunQueue::new()),
            current: [None; MAX_CPUS],
            fp_owner: [None; MAX_CPUS],
            console_rx: VecDeque::new(),
            console_readers: VecDeque::new(),
            stop_waiters: Vec::new(),
            sleepers: core::array::from_fn(|_| Vec::new()),
            reap_queue: Vec::new(),
            reaping: false,
            drain_budgeted: false,
            cores,
        })
    });
}

/// Takes the big kernel lock. While waiting, the core keeps answering cross-core syncs: the
/// lock holder may be waiting for this very core's answer (see `crate::sync`).
pub fn lock() -> Guard {
    let k = KERNEL.get().expect("scheduler used before init");
    loop {
        if let Some(g) = k.try_lock_weak() {
            return g;
        }
        while k.is_locked() {
            answer_syncs_and_relax();
        }
    }
}

fn answer_syncs_and_relax() {
    if crate::sync::pending() {
        crate::sync::answer();
    }
    cpu::relax();
}

impl Kernel {
    /// The thread running on `core`.
    #[inline]
    pub fn current_id(&self, core: usize) -> Option<ObjId> {
        self.current[core]
    }

    /// The thread running on `core`.
    #[inline]
    pub fn current(&self, core: usize) -> Option<&Tcb> {
        self.objects.tcb(self.current[core]?)
    }

    /// The thread running on `core`, mutably.
    #[inline]
    pub fn current_mut(&mut self, core: usize) -> Option<&mut Tcb> {
        self.objects.tcb_mut(self.current[core]?)
    }

    /// Makes a thread runnable on its core (a thread still current on some core just keeps
    /// running there). Preempts the core's thread if the newcomer has a higher priority.
    pub fn make_runnable(&mut self, id: ObjId) {
        let Some(t) = self.objects.tcb_mut(id) else { return };
        if t.on_core.is_some() {
            // Stopped and resumed before its core let go of it: it simply runs on, and whoever
            // waited for it to stop need not wait any more.
            t.state = State::Running;
            self.wake_stop_waiters(id);
            return;
        }
        t.state = State::Runnable;
        let (core, prio) = (t.core, t.prio);
        self.run_queues[core].push(id, prio);
        percpu::of(core).need_resched.store(true, Ordering::Release);
        if core != percpu::core_id() {
            smp::kick(core); // it may be idle in WFI, or running a lower priority
        }
    }

    /// Takes a thread out of whatever it waits in (run queue, endpoint, notification, console,
    /// stop wait) without waking it; its state is left for the caller to set. A thread that
    /// was sending or waiting for a reply loses that IPC.
    pub fn detach(&mut self, id: ObjId) {
        let Some(t) = self.objects.tcb(id) else { return };
        let (state, core, prio) = (t.state, t.core, t.prio);
        match state {
            State::Runnable => self.run_queues[core].remove(id, prio),
            State::BlockedSend(ep) | State::BlockedRecv(ep) => {
                if let Some(e) = self.objects.endpoint_mut(ep) {
                    e.queue.retain(|t| *t != id);
                }
            }
            State::BlockedWait(n) => {
                if let Some(n) = self.objects.notification_mut(n) {
                    n.waiters.retain(|t| *t != id);
                }
            }
            State::BlockedRead => self.console_readers.retain(|t| *t != id),
            State::BlockedStop(_) => self.stop_waiters.retain(|(w, _)| *w != id),
            // Its core's timer may still fire for it: the wake-up then finds nothing due.
            State::Sleeping(_) => self.sleepers.iter_mut().for_each(|s| s.retain(|(_, t)| *t != id)),
            State::Inactive | State::Running | State::BlockedReply(_) => {}
        }
        if let Some(t) = self.objects.tcb_mut(id) {
            t.fault = None;
            t.send = Default::default();
        }
    }

    /// Stops thread `id` (it becomes inactive). If it is running on another core, that core is
    /// told to leave it; returns that core so the caller can wait for it.
    ///
    /// A thread stopped while blocked in a syscall will redo that syscall when resumed (its pc
    /// is moved back onto the `svc`), as a thread stopped on a fault redoes the instruction.
    pub fn stop(&mut self, id: ObjId) -> Option<usize> {
        let t = self.objects.tcb(id)?;
        let in_syscall = t.fault.is_none()
            && matches!(
                t.state,
                State::BlockedSend(_)
                    | State::BlockedRecv(_)
                    | State::BlockedReply(_)
                    | State::BlockedWait(_)
                    | State::BlockedRead
                    | State::BlockedStop(_)
                    | State::Sleeping(_)
            );
        self.detach(id);
        let t = self.objects.tcb_mut(id)?;
        if in_syscall {
            t.restart_syscall();
        }
        t.state = State::Inactive;
        let on = t.on_core?;
        if on != percpu::core_id() {
            percpu::of(on).need_resched.store(true, Ordering::Release);
            smp::send(on, smp::SGI_RESCHEDULE);
            return Some(on);
        }
        // Running here: this core leaves it on the way out of the kernel.
        None
    }

    /// Changes a thread's scheduling parameters (`change` sets priority or core), moving it
    /// between run queues as needed; a core running it re-checks it on its next kernel entry.
    pub fn requeue(&mut self, id: ObjId, change: impl FnOnce(&mut Tcb)) {
        let Some(t) = self.objects.tcb(id) else { return };
        let (state, on) = (t.state, t.on_core);
        if state == State::Runnable {
            self.detach(id);
        }
        change(self.objects.tcb_mut(id).expect("present"));
        if state == State::Runnable {
            self.make_runnable(id);
        }
        if let Some(c) = on {
            percpu::of(c).need_resched.store(true, Ordering::Release);
            if c != percpu::core_id() {
                smp::send(c, smp::SGI_RESCHEDULE);
            }
        }
    }

    /// Takes the running thread off `core`, in `state` (a blocked or inactive state).
    pub fn block_current(&mut self, core: usize, state: State) {
        if let Some(t) = self.current_mut(core) {
            t.state = state;
        }
    }

    /// Puts the running thread back in its queue if another thread of at least its priority
    /// waits on `core` (the tick's round robin, and `Yield`).
    pub fn preempt(&mut self, core: usize) {
        let Some(top) = self.run_queues[core].top() else { return };
        let Some(t) = self.current_mut(core) else { return };
        if t.state == State::Running && top >= t.prio {
            t.state = State::Runnable;
        }
    }

    /// True if a thread queued on `core` has a higher priority than `prio`.
    #[inline]
    pub fn outranked(&self, core: usize, prio: u8) -> bool {
        self.run_queues[core].top().is_some_and(|p| p > prio)
    }

    /// Makes `id` (runnable on `core`, not running anywhere) `core`'s running thread at once,
    /// letting go of the current one (which must already be in its new state).
    pub fn switch_to(&mut self, core: usize, id: ObjId) {
        self.leave_current(core);
        self.enter(core, id);
    }

    /// Runs thread `id` on `core` right now instead of queueing it, if it is pinned there and
    /// nothing queued outranks it (the IPC fast hand-over). Otherwise queues it.
    pub fn switch_to_or_queue(&mut self, core: usize, id: ObjId) {
        let Some(t) = self.objects.tcb(id) else { return };
        let (tcore, prio, on) = (t.core, t.prio, t.on_core);
        let cur_running = self.current(core).is_some_and(|c| c.state == State::Running);
        if tcore != core || on.is_some() || cur_running || self.outranked(core, prio) {
            self.make_runnable(id);
            return;
        }
        self.switch_to(core, id);
    }

    /// The cross-core sync for address space `vs`: every core that may hold TLB entries of its
    /// ASID invalidates them and passes a quiescent point before this returns (a late core is
    /// named in the log and waited for). Afterwards only the cores running it right now may
    /// hold its entries again.
    pub fn shootdown(&mut self, vs: ObjId) {
        self.shootdown_many(&[vs]);
    }

    /// [`Kernel::shootdown`] for several address spaces at once: one sync, sent to the union
    /// of the cores that may hold any of their ASIDs. Nothing to do if `vss` is empty.
    pub fn shootdown_many(&mut self, vss: &[ObjId]) {
        let (mut asids, mut targets) = (Vec::with_capacity(vss.len()), 0);
        for v in vss.iter().filter_map(|&id| self.objects.vspace(id)) {
            asids.push(v.asid());
            targets |= v.live_on;
        }
        if asids.is_empty() {
            return;
        }
        // With ASIDs the sync returns only once every target has answered.
        crate::sync::sync(targets, &asids);
        for &vs in vss {
            // Only a core that may hold the ASID can be running the address space.
            let running = klogic::xsync::cores_in(targets)
                .filter(|&c| self.current(c).is_some_and(|t| t.vspace == Some(vs)))
                .fold(0, |m, c| m | 1 << c);
            if let Some(v) = self.objects.vspace_mut(vs) {
                v.live_on = running;
            }
        }
    }

    /// Lets go of `core`'s current thread if it no longer runs there (blocked, stopped, moved,
    /// or preempted); returns true if there still is a current thread.
    fn settle_current(&mut self, core: usize) -> bool {
        let Some(t) = self.current(core) else { return false };
        if t.state == State::Running && t.core == core {
            if self.run_queues[core].top().is_none_or(|p| p <= t.prio) {
                return true;
            }
            self.current_mut(core).expect("checked").state = State::Runnable; // outranked
        }
        self.leave_current(core);
        false
    }

    fn leave_current(&mut self, core: usize) {
        let Some(id) = self.current[core].take() else { return };
        percpu::of(core).current_thread.store(0, Ordering::Relaxed);
        let Some(t) = self.objects.tcb_mut(id) else { return };
        t.on_core = None;
        let state = t.state;
        if matches!(state, State::Runnable | State::Running) {
            self.make_runnable(id);
        }
        self.wake_stop_waiters(id);
        crate::cspace::release_hold(self, id);
    }

    /// Lets threads waiting for `id` to leave its core go on.
    fn wake_stop_waiters(&mut self, id: ObjId) {
        if self.stop_waiters.iter().any(|(_, target)| *target == id) {
            let woken: Vec<ObjId> =
                self.stop_waiters.iter().filter(|(_, target)| *target == id).map(|(w, _)| *w).collect();
            self.stop_waiters.retain(|(_, target)| *target != id);
            for w in woken {
                // Success in x0; x1..x7 keep their values (TcbSuspend has no results).
                if let Some(t) = self.objects.tcb_mut(w) {
                    t.ctx.x[0] = 0;
                    self.make_runnable(w);
                }
            }
        }
    }

    fn enter(&mut self, core: usize, id: ObjId) {
        self.current[core] = Some(id);
        percpu::of(core).current_thread.store(id.0, Ordering::Relaxed);
        if let Some(e) = self.objects.entry_mut(id) {
            e.holds += 1; // the core holds the thread it runs
        }
        self.switch_fp(core, id);
        let t = self.objects.tcb_mut(id).expect("entered thread exists");
        t.state = State::Running;
        t.on_core = Some(core);
        let vs = t.vspace;
        match vs.and_then(|v| self.objects.vspace_mut(v)) {
            Some(v) => v.activate(core),
            None => self.leave_user_space(),
        }
    }

    /// Blocks the caller (thread on `core`) until thread `target` has left the core it runs
    /// on.
    pub fn wait_for_stop(&mut self, core: usize, target: ObjId) {
        if let Some(me) = self.current[core] {
            self.stop_waiters.push((me, target));
            self.block_current(core, State::BlockedStop(target));
        }
    }

    /// Finishes a blocked thread's syscall with `x0 = err` and `x1..x7 = regs`, and makes it
    /// runnable.
    pub fn complete(&mut self, id: ObjId, err: u64, regs: [u64; 7]) {
        if let Some(t) = self.objects.tcb_mut(id) {
            t.ctx.x[0] = err;
            t.ctx.x[1..8].copy_from_slice(&regs);
            self.make_runnable(id);
        }
    }

    /// `Sleep`: blocks the thread running on `core` (this core) until the counter reaches
    /// `deadline`, and arms this core's timer for it.
    pub fn sleep(&mut self, core: usize, deadline: u64) {
        let Some(me) = self.current[core] else { return };
        self.block_current(core, State::Sleeping(deadline));
        let list = &mut self.sleepers[core];
        // Sorted by deadline, latest first, so the next one due is popped from the end.
        let at = list.partition_point(|(d, _)| *d > deadline);
        list.insert(at, (deadline, me));
        self.arm_wake(core);
    }

    /// Wakes the threads sleeping on `core` (this core) whose deadline has come; `r1` = the
    /// counter now. Cheap when nothing is due (one counter read).
    pub fn wake_sleepers(&mut self, core: usize) {
        let this = percpu::of(core);
        if this.next_wake.load(Ordering::Relaxed) == u64::MAX {
            return;
        }
        let now = crate::arch::timer::counter();
        while let Some(&(deadline, id)) = self.sleepers[core].last() {
            if deadline > now {
                break;
            }
            self.sleepers[core].pop();
            if self.objects.tcb(id).is_some_and(|t| t.state == State::Sleeping(deadline)) {
                self.complete(id, 0, [now, 0, 0, 0, 0, 0, 0]);
            }
        }
        self.arm_wake(core);
    }

    /// Points this core's timer at the earlier of its next tick and its next sleeper.
    fn arm_wake(&mut self, core: usize) {
        let this = percpu::of(core);
        let wake = self.sleepers[core].last().map_or(u64::MAX, |(d, _)| *d);
        this.next_wake.store(wake, Ordering::Relaxed);
        crate::arch::timer::set_deadline(wake.min(this.next_tick.load(Ordering::Relaxed)));
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
                Some(reader) => self.complete(reader, 0, [u64::from(b), 0, 0, 0, 0, 0, 0]),
                None if self.console_rx.len() < 4096 => self.console_rx.push_back(b),
                None => {} // nobody reads: drop rather than grow without bound
            }
        }
    }

    /// The context to run next on `core`, switching address spaces if needed.
    fn pick(&mut self, core: usize) -> Option<*mut UserContext> {
        percpu::of(core).need_resched.store(false, Ordering::Relaxed);
        self.wake_sleepers(core);
        if !self.settle_current(core) {
            let id = self.run_queues[core].pop()?;
            self.enter(core, id);
        }
        let t = self.current_mut(core)?;
        Some(&mut *t.ctx as *mut UserContext)
    }

    /// Makes this core's FP/SIMD registers hold thread `next`'s values.
    fn switch_fp(&mut self, core: usize, next: ObjId) {
        if self.fp_owner[core] == Some(next) {
            return;
        }
        if let Some(prev) = self.fp_owner[core].and_then(|p| self.objects.tcb_mut(p)) {
            fpu::save(&mut prev.fp);
        }
        if let Some(t) = self.objects.tcb(next) {
            fpu::restore(&t.fp);
        }
        self.fp_owner[core] = Some(next);
    }

    /// Forgets that a core's FP registers belong to a thread being destroyed.
    pub fn forget_fp(&mut self, id: ObjId) {
        for owner in self.fp_owner.iter_mut().filter(|o| **o == Some(id)) {
            *owner = None;
        }
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
        // Destruction a budgeted drain left for later whose revoker is not redoing it (it was
        // stopped or destroyed): done by a core with nothing else to run, while no interrupt
        // waits — never on a thread's way out (that would make a higher-priority thread pay).
        // Off the last thread's tables first: the drain may destroy that address space.
        k.leave_user_space();
        let leftovers = !k.reap_queue.is_empty();
        if leftovers && !cpu::interrupt_pending() {
            k.drain_budgeted = true;
            k.drain_reap_queue();
            k.drain_budgeted = false;
            continue;
        }
        crate::sync::enter_idle(); // under the lock: see `crate::sync`
        drop(k);
        crate::console::flush_user(); // output queued before this core went idle
        let me = percpu::this();
        if leftovers {
            // An interrupt stopped the drain: take it, then come back for the rest.
            cpu::irq_enable();
            cpu::irq_disable();
            me.need_resched.store(true, Ordering::Release);
        }
        while !me.need_resched.load(Ordering::Acquire) {
            // WFI with IRQs masked still wakes on a pending interrupt, so one that arrives
            // between the check and the WFI is not missed; it is then taken in the short
            // unmasked window.
            cpu::wait_for_interrupt();
            cpu::irq_enable();
            cpu::irq_disable();
        }
        k = lock();
        crate::sync::leave_idle(); // answers the requests skipped while idle
    }
}
