//! What a hostile program found in the kernel, kept as regressions: each of these once
//! panicked the kernel or left a thread waiting for ever (issue 11).

use crate::util::{other_core, OrFail};
use crate::Outcome;
use abi::{CPtr, Error, Rights, ThreadState};
use core::sync::atomic::{AtomicU64, Ordering};
use urt::cap::{Cap, Endpoint, Frame, Owned, Tcb, ROOT_VSPACE};
use urt::sys::{self, Message};
use urt::vm::Range;
use urt::{thread, time};

/// How long a test waits for a state the kernel reports.
const WAIT_MS: u64 = 20_000;

/// The endpoint the threads below use (a slot of the root CNode, shared by the test's threads).
static EP: AtomicU64 = AtomicU64::new(0);

fn ep() -> CPtr {
    CPtr(EP.load(Ordering::Acquire))
}

/// Blocks in `Recv` on [`EP`] for good.
extern "C" fn receive_forever(_: u64) -> u64 {
    loop {
        let _ = sys::recv(ep(), CPtr::NONE);
    }
}

/// Waits until the kernel reports the thread of `tcb` in `state`.
fn wait_state(tcb: Cap<Tcb>, state: ThreadState) -> bool {
    time::wait_for(WAIT_MS, || tcb.info().is_ok_and(|i| i.thread_state == Some(state)))
}

/// Registers of a thread blocked in a syscall belong to the kernel: writing them is refused
/// (`Busy`). Once the thread is suspended they may be written — even with pc 0, which the
/// kernel once took as a syscall's pc and moved back 4 bytes on the next suspend, panicking
/// with an overflow — and the thread then faults at 0 cleanly, the kernel untouched.
pub fn write_registers_of_blocked_thread() -> Outcome {
    let e = Owned::<Endpoint>::create(0).or_fail("create the endpoint")?;
    EP.store(e.cptr().0, Ordering::Release);
    let t = thread::spawn(receive_forever, 0, Some(other_core(1))).or_fail("start the receiver")?;
    ensure!(wait_state(t.tcb(), ThreadState::BlockedRecv), "the receiver never blocked in Recv");
    let mut regs = t.tcb().read_registers().or_fail("read the blocked thread's registers")?;
    let saved_pc = regs.pc;
    regs.pc = 0;
    ensure_eq!(t.tcb().write_registers(&regs).err(), Some(Error::Busy), "write registers of a thread blocked in Recv");
    t.tcb().suspend().or_fail("TcbSuspend")?;
    let after = t.tcb().read_registers().or_fail("read the suspended thread's registers")?;
    ensure_eq!(after.pc, saved_pc - 4, "pc of the suspended thread (back on its svc, to redo the Recv)");
    // Suspend again: an inactive thread's pc is never moved twice.
    t.tcb().suspend().or_fail("TcbSuspend again")?;
    ensure_eq!(t.tcb().read_registers().or_fail("read")?.pc, saved_pc - 4, "pc after a second suspend");
    t.tcb().write_registers(&regs).or_fail("write pc 0 into the suspended thread")?;
    t.tcb().suspend().or_fail("TcbSuspend after the write")?;
    ensure_eq!(t.tcb().read_registers().or_fail("read")?.pc, 0, "pc written, then suspended again");
    t.tcb().resume().or_fail("TcbResume with pc 0")?;
    // It has no fault handler: the kernel stops it at the instruction abort at 0.
    let stopped = crate::probe::wait_stopped(t.tcb(), Some(0), WAIT_MS);
    ensure!(stopped.is_some(), "the thread resumed at pc 0 was not stopped at 0 by its fault");
    Ok(None)
}

/// What [`call_once`] got: 0 = not yet, 1 = an answer, 2 + error code.
static CALL_RESULT: AtomicU64 = AtomicU64::new(0);

/// Calls [`EP`] once and records the outcome.
extern "C" fn call_once(_: u64) -> u64 {
    let r = match sys::call_ep(ep(), &Message::new(1, &[]), CPtr::NONE) {
        Ok(_) => 1,
        Err(e) => 2 + e as u64,
    };
    CALL_RESULT.store(r, Ordering::Release);
    r
}

/// Receives one call on [`EP`] and, without replying, receives again (blocking for good).
extern "C" fn receive_twice(_: u64) -> u64 {
    let _ = sys::recv(ep(), CPtr::NONE);
    receive_forever(0)
}

/// A server that receives a second time before replying to a `Call` drops that call: its
/// caller gets `PeerGone` at once. (The kernel used to overwrite the reply target, and the
/// first caller waited for ever.)
pub fn receive_before_reply_ends_the_call() -> Outcome {
    let e = Owned::<Endpoint>::create(0).or_fail("create the endpoint")?;
    EP.store(e.cptr().0, Ordering::Release);
    CALL_RESULT.store(0, Ordering::Release);
    let server = thread::spawn(receive_twice, 0, Some(other_core(1))).or_fail("start the server")?;
    ensure!(wait_state(server.tcb(), ThreadState::BlockedRecv), "the server never blocked in Recv");
    let client = thread::spawn(call_once, 0, Some(other_core(2))).or_fail("start the client")?;
    let ended = time::wait_for(WAIT_MS, || CALL_RESULT.load(Ordering::Acquire) != 0);
    ensure!(ended, "the caller still waits {} s after the server received again", WAIT_MS / 1000);
    ensure_eq!(client.join(), Ok(2 + Error::PeerGone as u64), "the dropped call's result (2 + error code)");
    ensure!(wait_state(server.tcb(), ThreadState::BlockedRecv), "the server is not waiting in its second Recv");
    Ok(None)
}

/// W^X per frame: one frame, two capabilities to it, two addresses. While one mapping is
/// writable no mapping of the frame may be executable, and the other way round; unmapping
/// lifts the conflict. (Mappings were checked one by one, so two copies of a capability
/// made a frame writable at one address and executable at another.)
pub fn write_xor_execute_per_frame() -> Outcome {
    let frame = Owned::<Frame>::create(0).or_fail("create a frame")?;
    let copy = Owned::copy_of(frame.cap()).or_fail("copy the frame capability")?;
    let (a, b) = (Range::alloc(1).or_fail("address range")?, Range::alloc(1).or_fail("address range")?);
    let (rw, rx) = (Rights::READ | Rights::WRITE, Rights::READ | Rights::EXEC);
    frame.map(ROOT_VSPACE, a.va, rw).or_fail("map writable")?;
    ensure_eq!(
        copy.map(ROOT_VSPACE, b.va, rx).err(),
        Some(Error::WriteExecConflict),
        "map the same frame executable elsewhere while it is writable"
    );
    ensure_eq!(copy.map(ROOT_VSPACE, b.va, Rights::READ).err(), None, "map it read-only elsewhere");
    copy.unmap().or_fail("unmap the read-only mapping")?;
    frame.unmap().or_fail("unmap the writable mapping")?;
    copy.map(ROOT_VSPACE, b.va, rx).or_fail("map executable once nothing maps it writable")?;
    ensure_eq!(
        frame.map(ROOT_VSPACE, a.va, rw).err(),
        Some(Error::WriteExecConflict),
        "map it writable while it is executable elsewhere"
    );
    copy.unmap().or_fail("unmap the executable mapping")?;
    frame.map(ROOT_VSPACE, a.va, rw).or_fail("map writable again once nothing maps it executable")?;
    frame.unmap().or_fail("unmap")?;
    Ok(None)
}

/// What [`reply_too_long`] saw: the bad reply's error code + 1 (0 = not yet), then the good
/// reply's.
static BAD_REPLY: AtomicU64 = AtomicU64::new(0);

/// Receives one call on [`EP`], replies with a descriptor claiming 127 words (the message area
/// holds 64), records what the kernel said, then replies properly.
extern "C" fn reply_too_long(_: u64) -> u64 {
    if sys::recv(ep(), CPtr::NONE).is_err() {
        return 1;
    }
    // x1 = MsgInfo: label 7, 127 words (bits 0..6), no capability.
    let info = (7u64 << 32) | 127;
    // SAFETY: Reply writes only the caller's registers and IPC buffer, not ours.
    let r = unsafe { sys::raw_syscall(abi::Syscall::Reply as u64, [0, info, 0, 0, 0, 0, 0, 0]) };
    BAD_REPLY.store(r[0] + 1, Ordering::Release);
    match sys::reply(&Message::new(8, &[0x600d])) {
        Ok(true) => 0,
        _ => 2,
    }
}

/// A reply may not claim more words than a message holds: the kernel refuses it (it copied
/// words 64..126 over the words the caller's runtime keeps after the message area of its IPC
/// buffer: its join capability, state and result), and the caller's buffer is untouched.
pub fn reply_longer_than_a_message_is_refused() -> Outcome {
    let e = Owned::<Endpoint>::create(0).or_fail("create the endpoint")?;
    EP.store(e.cptr().0, Ordering::Release);
    BAD_REPLY.store(0, Ordering::Release);
    let buf = sys::ipc_buffer();
    ensure!(!buf.is_null(), "this thread has no IPC buffer");
    // SAFETY: this thread's IPC buffer, mapped for it by the runtime; only read here.
    let before = unsafe { (*buf).user };
    let server = thread::spawn(reply_too_long, 0, Some(other_core(1))).or_fail("start the server")?;
    let got = sys::call_ep(ep(), &Message::new(1, &[]), CPtr::NONE).or_fail("Call")?;
    ensure_eq!(BAD_REPLY.load(Ordering::Acquire), Error::InvalidArgument as u64 + 1, "the 127-word reply (error + 1)");
    ensure_eq!((got.msg.label, got.msg.words()), (8, &[0x600d][..]), "the proper reply");
    // SAFETY: as above.
    let after = unsafe { (*buf).user };
    ensure!(before == after, "the words after the message area of the caller's IPC buffer changed");
    ensure_eq!(server.join(), Ok(0), "the server's result");
    Ok(None)
}

/// Descendants [`revoke_lets_a_sleeper_in`] revokes (sixteen CNodes of 4096 slots: as many as
/// `CapInfo` counts, so a count below it means some are gone).
const REVOKE_N: u64 = 16 << 12;
/// The sleeper's period, in microseconds.
static SLEEP_US: AtomicU64 = AtomicU64::new(100);
/// The notification the revoker waits on before it starts (its priority is lowered meanwhile).
static GO: AtomicU64 = AtomicU64::new(0);
/// Counter just before and just after the revoker's `CapRevoke`, and what it returned.
static REVOKE_START: AtomicU64 = AtomicU64::new(0);
static REVOKE_END: AtomicU64 = AtomicU64::new(0);
static REVOKE_RESULT: AtomicU64 = AtomicU64::new(0);
/// Set once the revoker is done: the sleeper then ends.
static SLEEPER_STOP: AtomicU64 = AtomicU64::new(0);
/// The sleeper's wake-ups: counter when woken, and how late that was after its deadline.
const WAKES: usize = 4096;
static WAKE_AT: [AtomicU64; WAKES] = [const { AtomicU64::new(0) }; WAKES];
static WAKE_LATE: [AtomicU64; WAKES] = [const { AtomicU64::new(0) }; WAKES];
static WAKE_COUNT: AtomicU64 = AtomicU64::new(0);
/// Descendants the revoke starts from; when non-zero the sleeper asks the kernel at each
/// wake-up how many are left, and counts the wake-ups that find the revoke part-way.
static OBSERVE_OF: AtomicU64 = AtomicU64::new(0);
/// The capability whose descendants the sleeper counts.
static OBSERVE_CAP: AtomicU64 = AtomicU64::new(0);
static SEEN_PART_WAY: AtomicU64 = AtomicU64::new(0);

/// Waits for the go, then revokes [`EP`]'s descendants once.
extern "C" fn revoker(_: u64) -> u64 {
    let _ = sys::wait(CPtr(GO.load(Ordering::Acquire)));
    REVOKE_START.store(time::ticks(), Ordering::Release);
    let r = sys::cap_revoke(ep());
    REVOKE_END.store(time::ticks(), Ordering::Release);
    REVOKE_RESULT.store(r.unwrap_or(u64::MAX), Ordering::Release);
    0
}

/// Sleeps [`SLEEP_US`] at a time until told to stop, recording every wake-up.
extern "C" fn sleeper(_: u64) -> u64 {
    let period = (time::hz() * SLEEP_US.load(Ordering::Acquire) / 1_000_000).max(1);
    while SLEEPER_STOP.load(Ordering::Acquire) == 0 {
        let deadline = time::ticks() + period;
        let Ok(woke) = sys::sleep_until(deadline) else { return 1 };
        let i = WAKE_COUNT.fetch_add(1, Ordering::AcqRel) as usize;
        if let (Some(at), Some(late)) = (WAKE_AT.get(i), WAKE_LATE.get(i)) {
            at.store(woke, Ordering::Relaxed);
            late.store(woke.saturating_sub(deadline), Ordering::Relaxed);
        }
        let of = OBSERVE_OF.load(Ordering::Acquire);
        if of != 0 {
            let left = sys::cap_info(CPtr(OBSERVE_CAP.load(Ordering::Acquire))).map_or(0, |i| i.descendants);
            if left > 0 && left < of {
                SEEN_PART_WAY.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
    0
}

/// A revoke of many descendants lets a higher-priority thread on its core run: the kernel
/// stops between steps when an interrupt is pending and the call goes on afterwards. A
/// sleeper that wakes every 100 µs on the revoker's core is woken while the revoke is under
/// way (with a revoke that cannot be interrupted it wakes only after it), the revoke still
/// removes every descendant and counts them all, and the tree is consistent afterwards.
pub fn revoke_lets_a_sleeper_in() -> Outcome {
    let r = revoke_with_sleeper(REVOKE_N, 100, other_core(1), true, false)?;
    ensure!(
        r.seen_part_way > 0,
        "the sleeper never found the revoke part-way ({} wake-ups in all, the revoke took {} µs): the revoke held its core",
        r.wakes,
        r.revoke_us
    );
    urt::println!(
        "ktest: revoke: {REVOKE_N} descendants revoked in {} us; the sleeper woke {} times meanwhile ({} found it part-way), at worst {} us late",
        r.revoke_us,
        r.wakes_inside,
        r.seen_part_way,
        r.worst_late_ns / 1000
    );
    Ok(None)
}

/// Copies in the CNodes of [`revoke_of_a_quota_lets_a_sleeper_in`] (twelve CNodes of 4096).
const QUOTA_REVOKE_N: u64 = 12 << 12;

/// A revoke whose work is destruction lets a higher-priority thread in too: revoking a quota
/// removes its twelve CNode capabilities in one step, and destroying the CNodes (4,096 slots
/// each, every one a copy of an endpoint capability) is the long part. The sleeper must find
/// the endpoint's copies part-way gone; the kernel used to destroy everything a step killed
/// before it looked for an interrupt.
pub fn revoke_of_a_quota_lets_a_sleeper_in() -> Outcome {
    let r = revoke_with_sleeper(QUOTA_REVOKE_N, 100, other_core(1), true, true)?;
    ensure!(
        r.seen_part_way > 0,
        "the sleeper never found the quota's CNodes part-way destroyed ({} wake-ups in all, the revoke took {} µs): the destruction held its core",
        r.wakes,
        r.revoke_us
    );
    urt::println!(
        "ktest: revoke of a quota: {QUOTA_REVOKE_N} copies in its CNodes destroyed in {} us; the sleeper found it part-way {} times, at worst {} us late",
        r.revoke_us,
        r.seen_part_way,
        r.worst_late_ns / 1000
    );
    Ok(None)
}

/// What [`revoke_with_sleeper`] saw.
pub struct SleeperRevoke {
    /// How long the revoke took (counter time, µs).
    pub revoke_us: u128,
    /// The sleeper's wake-ups in all, and those strictly inside the revoke.
    pub wakes: usize,
    pub wakes_inside: u64,
    /// The latest of those inside the revoke came this long after its deadline (ns).
    pub worst_late_ns: u128,
    /// Wake-ups at which the kernel reported some but not all descendants gone (if observed).
    pub seen_part_way: u64,
}

/// Revokes `n` copies of an endpoint capability at a lower priority while a thread on the same
/// core sleeps `period_us` at a time (see [`revoke_lets_a_sleeper_in`]; the benchmark uses it
/// for the worst wake-up delay). Checks the revoke's count and the tree afterwards.
///
/// Both threads run on `core`. The caller blocks in `join` once the revoke may start; a core
/// where another thread of the default priority keeps running (the ktest runner's watchdog polls
/// on its own core) would starve the lower-priority revoker, so ktest uses another core and the
/// benchmark (which has no watchdog) its own.
///
/// With `observe`, the sleeper asks the kernel at every wake-up how many descendants are left
/// (a walk of the tree, so not for measuring delays): a revoke that cannot be interrupted is
/// never found part-way, whatever the timing.
///
/// With `from_quota`, the CNodes holding the copies are made from a quota of their own, and the
/// revoke is of that quota: its few descendants are the CNodes, and destroying them (4,096
/// slots each) is the long part — the kernel must stop between two of them too.
pub fn revoke_with_sleeper(
    n: u64,
    period_us: u64,
    core: usize,
    observe: bool,
    from_quota: bool,
) -> Result<SleeperRevoke, crate::util::Failure> {
    use urt::cap::{CNode, Notification};
    const RADIX: u64 = 12;
    SLEEP_US.store(period_us, Ordering::Release);
    OBSERVE_OF.store(if observe { n } else { 0 }, Ordering::Release);
    SEEN_PART_WAY.store(0, Ordering::Release);
    REVOKE_END.store(0, Ordering::Release);
    let e = Owned::<Endpoint>::create(0).or_fail("create the endpoint")?;
    EP.store(e.cptr().0, Ordering::Release);
    OBSERVE_CAP.store(e.cptr().0, Ordering::Release);
    let nodes = n.div_ceil(1 << RADIX);
    let quota_slot = crate::util::FreeSlot::new()?;
    let quota = if from_quota {
        let bytes = nodes * (abi::charge::CNODE_BYTES + (abi::charge::SLOT_BYTES << RADIX));
        let q = urt::cap::BOOT_QUOTA.create_quota(quota_slot.cptr(), 0, bytes).or_fail("create the CNodes' quota")?;
        EP.store(q.cptr().0, Ordering::Release);
        Some(q)
    } else {
        None
    };
    let mut cnodes = alloc::vec::Vec::new();
    for _ in 0..nodes {
        let c = match quota {
            Some(q) => Owned::<CNode>::create_from(q, RADIX),
            None => Owned::<CNode>::create(RADIX),
        };
        cnodes.push(c.or_fail("create a CNode of 4096 slots")?);
    }
    for i in 0..n {
        let (_, outer) = cnodes[(i >> RADIX) as usize].cptr().split();
        let at = CPtr::in_cnode(outer, (i & ((1 << RADIX) - 1)) as u32);
        sys::cap_copy(e.cptr(), at).or_fail("copy the endpoint capability")?;
    }
    let counted = n.min(abi::CAP_INFO_DESCENDANTS_MAX as u64);
    ensure_eq!(
        e.cap().info().or_fail("CapInfo")?.descendants,
        counted,
        "descendants before the revoke (CapInfo counts at most 65,536)"
    );
    let go = Owned::<Notification>::create(0).or_fail("create the go notification")?;
    GO.store(go.cptr().0, Ordering::Release);
    SLEEPER_STOP.store(0, Ordering::Release);
    WAKE_COUNT.store(0, Ordering::Release);
    let rev = thread::spawn(revoker, 0, Some(core)).or_fail("start the revoker")?;
    ensure!(
        wait_state(rev.tcb(), ThreadState::BlockedWait),
        "the revoker never waited for its go (state {:?})",
        rev.tcb().info().map(|i| i.thread_state)
    );
    sys::tcb_set_priority(rev.tcb().cptr(), abi::DEFAULT_PRIORITY - 1).or_fail("lower the revoker's priority")?;
    let sl = thread::spawn(sleeper, 0, Some(core)).or_fail("start the sleeper")?;
    ensure!(wait_state(sl.tcb(), ThreadState::Sleeping), "the sleeper never slept");
    go.cap().signal().or_fail("signal the go")?;
    // Blocks until the revoker ends (a revoke that never ends is the scenario's timeout).
    let revoked = rev.join();
    SLEEPER_STOP.store(1, Ordering::Release);
    ensure_eq!(revoked, Ok(0), "the revoker's exit");
    ensure_eq!(sl.join(), Ok(0), "the sleeper's exit (1: Sleep failed)");
    let expected = if from_quota { nodes } else { n };
    ensure_eq!(REVOKE_RESULT.load(Ordering::Acquire), expected, "CapRevoke's count over all its steps");
    ensure_eq!(e.cap().info().or_fail("CapInfo")?.descendants, 0, "descendants after the revoke");
    let (t0, t1) = (REVOKE_START.load(Ordering::Acquire), REVOKE_END.load(Ordering::Acquire));
    let n = (WAKE_COUNT.load(Ordering::Acquire) as usize).min(WAKES);
    let (mut inside, mut worst) = (0u64, 0u64);
    for i in 0..n {
        let at = WAKE_AT[i].load(Ordering::Relaxed);
        if at > t0 && at < t1 {
            inside += 1;
            worst = worst.max(WAKE_LATE[i].load(Ordering::Relaxed));
        }
    }
    let hz = time::hz();
    let ns = |t: u64| u128::from(t) * 1_000_000_000 / u128::from(hz);
    let seen_part_way = SEEN_PART_WAY.load(Ordering::Acquire);
    Ok(SleeperRevoke {
        revoke_us: ns(t1 - t0) / 1000,
        wakes: n,
        wakes_inside: inside,
        worst_late_ns: ns(worst),
        seen_part_way,
    })
}
