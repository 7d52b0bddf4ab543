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
