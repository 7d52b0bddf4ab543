//! Loom models of the cross-core sync (`klogic::xsync`), cores as threads:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p klogic --release --test sync_model
//! ```
//!
//! A page of address space ASID 1 is mapped; core 0 unmaps it (a page-table write), runs the
//! sync, and frees the frame. The other cores run a thread of that address space (they access
//! the page: a TLB fill while it is mapped, a use of whatever their TLB holds) or are idle with
//! the translation still in their TLB. The property, checked at every access: **a core never
//! uses a cached translation of the page once the frame is freed.** The TLB is modelled per
//! core as a set of ASIDs with entries for the page; an IPI as a flag the core polls.
#![cfg(loom)]

use klogic::xsync::{Hw, Sync as XSync};
use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

const CORES: usize = 3;
const ASID: u16 = 1;
const OTHER_ASID: u16 = 2;

/// The machine: the sync, the kernel lock, the page table entry, TLBs, IPIs.
struct World {
    sync: XSync<CORES>,
    /// The kernel lock (a test-and-set lock, as in the kernel).
    lock: AtomicBool,
    /// The page table: is ASID 1's page (resp. ASID 2's) mapped.
    mapped: [AtomicBool; 2],
    /// The frames behind them were freed (handed out again).
    freed: [AtomicBool; 2],
    /// Per core: bit `a` set = its TLB holds the page's translation for ASID `a`.
    tlb: [AtomicU32; CORES],
    /// Per core: an IPI is pending.
    irq: [AtomicBool; CORES],
    /// The initiator is done: the other cores stop.
    done: AtomicBool,
}

impl World {
    fn new() -> Arc<World> {
        Arc::new(World {
            sync: XSync::new(),
            lock: AtomicBool::new(false),
            mapped: [AtomicBool::new(true), AtomicBool::new(true)],
            freed: [AtomicBool::new(false), AtomicBool::new(false)],
            tlb: std::array::from_fn(|_| AtomicU32::new(0)),
            irq: std::array::from_fn(|_| AtomicBool::new(false)),
            done: AtomicBool::new(false),
        })
    }

    /// Core `me` runs user code of address space `asid` and touches its page: a TLB miss fills
    /// from the page table if the page is mapped; a cached translation is used as it is.
    fn access(&self, me: usize, asid: u16) {
        let bit = 1 << asid;
        if self.mapped[asid as usize - 1].load(SeqCst) {
            self.tlb[me].fetch_or(bit, SeqCst);
        }
        if self.tlb[me].load(SeqCst) & bit != 0 {
            assert!(
                !self.freed[asid as usize - 1].load(SeqCst),
                "core {me} used a stale translation of a freed frame (ASID {asid})"
            );
        }
    }

    /// Takes the kernel lock on core `me`, answering syncs while it spins (as the kernel does).
    fn lock(&self, me: usize, hw: &ModelHw) {
        while self.lock.compare_exchange(false, true, SeqCst, SeqCst).is_err() {
            while self.lock.load(SeqCst) {
                if self.sync.pending(me) {
                    self.sync.answer(hw, me);
                }
                thread::yield_now();
            }
        }
    }

    fn unlock(&self) {
        self.lock.store(false, SeqCst);
    }

    /// Core `me` takes a pending IPI, if any.
    fn take_irq(&self, me: usize, hw: &ModelHw) {
        if self.irq[me].swap(false, SeqCst) {
            self.sync.answer(hw, me);
        }
    }
}

/// The hardware as one core sees it.
struct ModelHw {
    world: Arc<World>,
    me: usize,
}

impl ModelHw {
    fn new(world: &Arc<World>, me: usize) -> ModelHw {
        ModelHw { world: world.clone(), me }
    }
}

impl Hw for ModelHw {
    fn send_ipi(&self, core: usize) {
        self.world.irq[core].store(true, SeqCst);
    }
    fn invalidate_asid(&self, asid: u16) {
        self.world.tlb[self.me].fetch_and(!(1 << asid), SeqCst);
    }
    fn invalidate_all(&self) {
        self.world.tlb[self.me].store(0, SeqCst);
    }
    fn now(&self) -> u64 {
        0 // the models wait without a bound (a late core: the unit tests in `xsync.rs`)
    }
    fn relax(&self) {
        thread::yield_now();
    }
    fn late(&self, core: usize, seq: u64) {
        panic!("core {core} reported late for request {seq}: the models wait without a bound");
    }
}

/// Core `me` waits (in user code) until an IPI arrives or the initiator is done, and takes
/// the IPI if there is one.
fn wait_irq_or_done(world: &World, me: usize, hw: &ModelHw) {
    while !world.irq[me].load(SeqCst) && !world.done.load(SeqCst) {
        thread::yield_now();
    }
    world.take_irq(me, hw);
}

/// A core running a thread of `asid`: it touches the page, runs on until interrupted (or the
/// initiator is done), and touches the page again.
fn busy_core(world: Arc<World>, me: usize, asid: u16) {
    let hw = ModelHw::new(&world, me);
    world.access(me, asid);
    wait_irq_or_done(&world, me, &hw);
    world.access(me, asid);
}

/// A core that is idle with translations of `asids` still in its TLB (it ran their threads
/// before), then leaves idle the kernel's way — under the lock, answering what it missed — and
/// runs threads of them (taking an IPI like any busy core).
fn idle_core(world: Arc<World>, me: usize, asids: &[u16]) {
    let hw = ModelHw::new(&world, me);
    world.lock(me, &hw);
    world.sync.set_idle(me, false);
    if world.sync.pending(me) {
        world.sync.answer(&hw, me);
    }
    world.unlock();
    for &a in asids {
        world.access(me, a);
    }
    for _ in asids {
        wait_irq_or_done(&world, me, &hw); // one IPI per request it may still get
    }
    for &a in asids {
        world.access(me, a);
    }
}

/// The initiator on core 0: for each ASID, unmap its page, run the sync on `targets` under the
/// kernel lock, free the frame.
fn initiator(world: &Arc<World>, targets: klogic::xsync::CoreSet, asids: &[u16], skip_others: bool) {
    let hw = ModelHw::new(world, 0);
    for &a in asids {
        world.lock(0, &hw);
        world.mapped[a as usize - 1].store(false, SeqCst);
        let missing = world.sync.request(&hw, 0, targets, &[a], u64::MAX, skip_others);
        assert_eq!(missing, 0, "a request with ASIDs returned before every core answered");
        world.freed[a as usize - 1].store(true, SeqCst);
        world.unlock();
    }
    world.done.store(true, SeqCst);
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.max_branches = 10_000;
    b.check(f);
}

/// A core running the address space is interrupted, invalidates and answers before the frame
/// is freed.
#[test]
fn busy_core_never_uses_a_freed_frame() {
    model(|| {
        let world = World::new();
        let w1 = world.clone();
        let busy = thread::spawn(move || busy_core(w1, 1, ASID));
        initiator(&world, 0b010, &[ASID], false);
        busy.join().unwrap();
    });
}

/// An idle core with a cached translation is not interrupted; it invalidates when it leaves
/// idle (or, if it left idle first, it is interrupted like a busy core).
#[test]
fn idle_core_never_uses_a_freed_frame() {
    model(|| {
        let world = World::new();
        world.sync.set_idle(1, true);
        world.tlb[1].store(1 << ASID, SeqCst);
        let w1 = world.clone();
        let idle = thread::spawn(move || idle_core(w1, 1, &[ASID]));
        initiator(&world, 0b010, &[ASID], false);
        idle.join().unwrap();
    });
}

/// Two requests (ASID 1, then ASID 2) while a core is idle with both in its TLB: when it wakes,
/// the request data names only the last ASID, so it must invalidate everything
/// (`flush_all`), or it would use the first frame after it was freed.
#[test]
fn idle_core_missing_two_requests_flushes_both() {
    model(|| {
        let world = World::new();
        world.sync.set_idle(1, true);
        world.tlb[1].store(1 << ASID | 1 << OTHER_ASID, SeqCst);
        let w1 = world.clone();
        let idle = thread::spawn(move || idle_core(w1, 1, &[ASID, OTHER_ASID]));
        initiator(&world, 0b010, &[ASID, OTHER_ASID], false);
        idle.join().unwrap();
    });
}

/// The control: the `skip-sync` build's request (other cores left out). Loom finds the
/// interleaving in which core 1 uses its cached translation after the frame was freed.
#[test]
#[should_panic(expected = "stale translation")]
fn skipping_the_other_cores_is_caught() {
    model(|| {
        let world = World::new();
        let w1 = world.clone();
        let busy = thread::spawn(move || busy_core(w1, 1, ASID));
        initiator(&world, 0b010, &[ASID], true);
        busy.join().unwrap();
    });
}
