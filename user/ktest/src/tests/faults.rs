//! Faults: a handler resumes, restarts or kills a faulting thread; without a handler the
//! kernel stops it; an unmapped page faults at once, on another core too.

use crate::probe::{self, Probe};
use crate::util::{other_core, OrFail};
use crate::{Failure, Outcome};
use abi::{CPtr, FaultKind, FaultReply, Rights, FAULT_LABEL};
use urt::cap::{Endpoint, Frame, Owned, ROOT_VSPACE};
use urt::sys::{self, Message, Received};
use urt::thread::{self, Builder};
use urt::time;
use urt::vm::Range;

/// Badge of the fault endpoint capability the faulting threads are given.
const FAULT_BADGE: u64 = 0xfa;
/// What the handler puts in the frame it maps.
const VALUE: u64 = 0x1234_5678_9abc_def0;

/// A fault endpoint: the handler's capability and the badged one faulting threads use.
fn fault_endpoint() -> Result<(Owned<Endpoint>, Owned<Endpoint>), Failure> {
    let ep = Owned::<Endpoint>::create(0).or_fail("create the fault endpoint")?;
    let badged = Owned::mint_of(ep.cap(), Rights::WRITE, FAULT_BADGE).or_fail("mint the badged fault endpoint")?;
    Ok((ep, badged))
}

/// Receives the fault message on `ep` (within 15 s) and checks label, badge, kind, address and pc.
fn expect_fault(ep: &Owned<Endpoint>, kind: FaultKind, addr: u64, pc: u64) -> Result<Received, Failure> {
    let mut got = None;
    time::wait_for(15_000, || {
        got = ep.nb_recv(CPtr::NONE).ok();
        got.is_some()
    });
    let Some(f) = got else { fail!("no fault message within 15 s") };
    ensure_eq!((f.msg.label, f.badge), (FAULT_LABEL, FAULT_BADGE), "fault message (label, badge)");
    ensure_eq!(FaultKind::from_number(f.msg.word(0)), Some(kind), "fault kind");
    ensure_eq!((f.msg.word(1), f.msg.word(2)), (addr, pc), "fault (address, pc)");
    Ok(f)
}

/// Writes `VALUE` into a new frame through a temporary window.
fn frame_with_value() -> Result<Owned<Frame>, Failure> {
    let frame = Owned::<Frame>::create(0).or_fail("create a frame")?;
    let window = Range::alloc(1).or_fail("address range")?;
    frame.map(ROOT_VSPACE, window.va, Rights::READ | Rights::WRITE).or_fail("map the frame")?;
    // SAFETY: `window` maps the new frame read-write, and nothing else uses it.
    unsafe { (window.va as *mut u64).write_volatile(VALUE) };
    frame.unmap().or_fail("unmap the window")?;
    Ok(frame)
}

/// A read of an unmapped page goes to the handler, which maps a frame there and resumes: the
/// thread reads the frame's value.
pub fn fault_resume() -> Outcome {
    let (ep, badged) = fault_endpoint()?;
    let hole = Range::alloc(1).or_fail("address range")?;
    let t = Builder::new().fault_endpoint(badged.cptr()).spawn(probe::read, hole.va).or_fail("start the reader")?;
    expect_fault(&ep, FaultKind::ReadAbort, hole.va, probe::addr(probe::read))?;
    let frame = frame_with_value()?;
    frame.map(ROOT_VSPACE, hole.va, Rights::READ).or_fail("map the frame at the fault address")?;
    ensure_eq!(sys::reply(&Message::new(FaultReply::Resume as u32, &[])), Ok(true), "Reply Resume delivered");
    ensure_eq!(t.join(), Ok(VALUE), "what the resumed thread read");
    Ok(None)
}

/// The handler restarts the faulted thread at another pc: it returns from there.
pub fn fault_restart() -> Outcome {
    let (ep, badged) = fault_endpoint()?;
    let hole = Range::alloc(1).or_fail("address range")?;
    let t = Builder::new().fault_endpoint(badged.cptr()).spawn(probe::read, hole.va).or_fail("start the reader")?;
    expect_fault(&ep, FaultKind::ReadAbort, hole.va, probe::addr(probe::read))?;
    let restart = Message::new(FaultReply::Restart as u32, &[probe::addr(probe::landing)]);
    ensure_eq!(sys::reply(&restart), Ok(true), "Reply Restart delivered");
    ensure_eq!(t.join(), Ok(probe::LANDED), "result of the restarted thread");
    Ok(None)
}

/// The handler kills the faulted thread: it stops for good and never reports.
pub fn fault_kill() -> Outcome {
    let (ep, badged) = fault_endpoint()?;
    let hole = Range::alloc(1).or_fail("address range")?;
    let mut t = Builder::new().fault_endpoint(badged.cptr()).spawn(probe::read, hole.va).or_fail("start the reader")?;
    expect_fault(&ep, FaultKind::ReadAbort, hole.va, probe::addr(probe::read))?;
    ensure_eq!(sys::reply(&Message::new(FaultReply::Kill as u32, &[])), Ok(true), "Reply Kill delivered");
    ensure!(
        probe::wait_stopped(t.tcb(), None, 20_000).is_some(),
        "the killed thread's registers are not readable or it still runs"
    );
    ensure!(!time::wait_for(50, || t.is_finished()), "the killed thread reported back");
    Ok(None)
}

/// Without a fault endpoint the kernel stops the thread at the faulting instruction (its
/// registers show it), and everything else carries on.
pub fn fault_no_handler() -> Outcome {
    let probe = Probe::named("read").ok_or_else(|| Failure::new(format_args!("no read probe")))?;
    let mut t = thread::spawn(probe.entry, probe.arg, None).or_fail("start the reader")?;
    let Some(regs) = probe::wait_stopped(t.tcb(), Some(probe.fault_pc()), 20_000) else {
        fail!("the thread was not stopped at the faulting load (pc {:#x})", probe.fault_pc());
    };
    ensure_eq!(regs.x[0], probe.arg, "x0 of the stopped thread (the address it read)");
    ensure!(!time::wait_for(50, || t.is_finished()), "the faulted thread reported back");
    ensure_eq!(sys::null(), Ok(()), "Null after the fault");
    Ok(None)
}

/// A frame is readable by a thread on another core; once unmapped, reading it there faults
/// with its address.
pub fn unmap_then_access_faults() -> Outcome {
    // The range is declared first so that it is freed after the frame is unmapped.
    let page = Range::alloc(1).or_fail("address range")?;
    let frame = frame_with_value()?;
    frame.map(ROOT_VSPACE, page.va, Rights::READ).or_fail("map the frame")?;
    let core = other_core(1);
    let t = thread::spawn(probe::read, page.va, Some(core)).or_fail("start the first reader")?;
    ensure_eq!(t.join(), Ok(VALUE), "what the first reader read");
    frame.unmap().or_fail("FrameUnmap")?;

    let (ep, badged) = fault_endpoint()?;
    let builder = Builder::new().core(core).fault_endpoint(badged.cptr());
    let t = builder.spawn(probe::read, page.va).or_fail("start the second reader")?;
    expect_fault(&ep, FaultKind::ReadAbort, page.va, probe::addr(probe::read))?;
    ensure_eq!(sys::reply(&Message::new(FaultReply::Kill as u32, &[])), Ok(true), "Reply Kill delivered");
    drop(t);
    Ok(None)
}

/// `VSpaceUnmap` takes every mapping of a range away at once (one sync): a thread on another
/// core that had read a page of it faults afterwards, the frame capabilities can be mapped
/// again, pages of the range that were not mapped are no error, and bad ranges are refused.
pub fn vspace_unmap_range() -> Outcome {
    let range = Range::alloc(4).or_fail("address range")?;
    let frames = [frame_with_value()?, frame_with_value()?, frame_with_value()?];
    // Pages 0, 1 and 3 of the range are mapped; page 2 is a hole.
    for (f, page) in frames.iter().zip([0u64, 1, 3]) {
        f.map(ROOT_VSPACE, range.va + page * abi::PAGE_SIZE, Rights::READ).or_fail("map a frame")?;
    }
    let last = range.va + 3 * abi::PAGE_SIZE;
    let core = other_core(1);
    let t = thread::spawn(probe::read, last, Some(core)).or_fail("start the first reader")?;
    ensure_eq!(t.join(), Ok(VALUE), "what the first reader read");
    ensure_eq!(sys::vspace_unmap(ROOT_VSPACE.cptr(), range.va, 4), Ok(3), "VSpaceUnmap of 4 pages, 3 mapped");
    ensure_eq!(sys::vspace_unmap(ROOT_VSPACE.cptr(), range.va, 4), Ok(0), "VSpaceUnmap of the range again");

    let (ep, badged) = fault_endpoint()?;
    let t = Builder::new()
        .core(core)
        .fault_endpoint(badged.cptr())
        .spawn(probe::read, last)
        .or_fail("start the second reader")?;
    expect_fault(&ep, FaultKind::ReadAbort, last, probe::addr(probe::read))?;
    ensure_eq!(sys::reply(&Message::new(FaultReply::Kill as u32, &[])), Ok(true), "Reply Kill delivered");
    drop(t);
    // The capabilities forgot their mappings: they map again.
    frames[0].map(ROOT_VSPACE, range.va, Rights::READ).or_fail("map a frame again after VSpaceUnmap")?;
    ensure_eq!(sys::vspace_unmap(ROOT_VSPACE.cptr(), range.va, 1), Ok(1), "VSpaceUnmap of the remapped page");

    let bad = [
        (range.va + 8, 1, "a misaligned address"),
        (abi::USER_VA_END - abi::PAGE_SIZE, 2, "a range past the user half"),
        (range.va, u64::MAX / 2, "a page count that overflows"),
    ];
    for (va, pages, what) in bad {
        ensure_eq!(sys::vspace_unmap(ROOT_VSPACE.cptr(), va, pages).err(), Some(abi::Error::InvalidArgument), what);
    }
    ensure_eq!(
        sys::vspace_unmap(ep.cptr(), range.va, 1).err(),
        Some(abi::Error::WrongType),
        "VSpaceUnmap of an endpoint"
    );
    Ok(None)
}
