//! Capabilities and objects: derivation and revocation across CNodes, minting with badges and
//! rights, every error the kernel answers with, and what objects cost their quota.

use crate::util::{FreeSlot, OrFail, Scratch};
use crate::Outcome;
use abi::{charge, CPtr, Error, InfoKey, ObjectType, Rights};
use urt::cap::{CNode, Cap, Endpoint, Frame, Notification, Owned, Quota, Tcb, BOOT_QUOTA, ROOT_VSPACE};
use urt::sys::{self, Message};
use urt::vm::Range;
use urt::{cspace, thread};

/// A capability copied and minted into three CNodes at derivation depths 1 to 4, beside an
/// unrelated capability: revoking the top deletes exactly its descendants.
pub fn revoke_three_cspaces() -> Outcome {
    let top = Owned::<Endpoint>::create(0).or_fail("create the top endpoint")?;
    let unrelated = Owned::<Endpoint>::create(0).or_fail("create the unrelated endpoint")?;
    let (a, b, c) = (Scratch::new()?, Scratch::new()?, Scratch::new()?);
    let rw = Rights::READ | Rights::WRITE;

    let d1 = top.copy_to(a.slot(1)).or_fail("copy top into A")?;
    let d2 = d1.mint_to(b.slot(2), rw, 5).or_fail("mint A's copy into B")?;
    let d3 = d2.copy_to(c.slot(3)).or_fail("copy B's into C")?;
    let d4 = d3.mint_to(a.slot(4), Rights::WRITE, 0).or_fail("mint C's into A")?;
    let e1 = top.mint_to(c.slot(1), Rights::READ, 9).or_fail("mint top into C")?;
    let e2 = e1.copy_to(b.slot(5)).or_fail("copy C's mint into B")?;
    let e3 = d1.copy_to(a.slot(6)).or_fail("copy A's copy within A")?;
    let descendants = [d1, d2, d3, d4, e1, e2, e3];
    let u1 = unrelated.copy_to(b.slot(1)).or_fail("copy the unrelated endpoint into B")?;
    let u2 = u1.copy_to(c.slot(2)).or_fail("copy it on into C")?;

    let top_info = top.info().or_fail("CapInfo of top")?;
    ensure_eq!(top_info.descendants, 7, "CapInfo descendants of top");
    for (i, d) in descendants.iter().enumerate() {
        let info = d.info().or_fail("CapInfo of a descendant")?;
        ensure!(
            info.object == top_info.object,
            "descendant {i} names object {}, not top's {}",
            info.object,
            top_info.object
        );
    }
    ensure_eq!(d2.info().or_fail("CapInfo")?.badge, 5, "badge of the minted copy");
    ensure_eq!(d3.info().or_fail("CapInfo")?.badge, 5, "badge of a copy of a minted copy");
    ensure_eq!(e3.info().or_fail("CapInfo")?.parent, Some(1), "parent index of a copy in the same CNode");
    ensure_eq!(d2.info().or_fail("CapInfo")?.parent, None, "parent index of a copy in another CNode");

    ensure_eq!(top.revoke(), Ok(7), "CapRevoke of top: capabilities deleted");
    for (i, d) in descendants.iter().enumerate() {
        ensure!(d.info().err() == Some(Error::InvalidCapability), "descendant {i} survived the revoke");
    }
    let after = top.info().or_fail("CapInfo of top after its revoke")?;
    ensure_eq!((after.object, after.descendants), (top_info.object, 0), "top after its revoke (object, descendants)");
    ensure_eq!(top.nb_recv(CPtr::NONE).err(), Some(Error::WouldBlock), "NbRecv on top after its revoke");
    ensure_eq!(
        unrelated.info().or_fail("CapInfo of the unrelated endpoint")?.descendants,
        2,
        "descendants of the unrelated endpoint"
    );
    for u in [u1, u2] {
        ensure_eq!(u.info().map(|i| i.object), unrelated.info().map(|i| i.object), "object of an unrelated copy");
    }
    Ok(None)
}

const SENT_LABEL: u32 = 7;
const SENT_WORDS: [u64; 3] = [1, 2, 3];

/// Sends a fixed message on the endpoint in slot `ep`; returns 0, or the error code.
extern "C" fn send_fixed(ep: u64) -> u64 {
    match Cap::<Endpoint>::new(CPtr(ep)).send(&Message::new(SENT_LABEL, &SENT_WORDS)) {
        Ok(()) => 0,
        Err(e) => e as u64,
    }
}

/// A badged, send-only mint: the receiver sees the badge; it cannot receive, be re-badged or
/// gain rights.
pub fn mint_badge_rights() -> Outcome {
    let ep = Owned::<Endpoint>::create(0).or_fail("create an endpoint")?;
    let sender = Owned::mint_of(ep.cap(), Rights::WRITE, 0x42).or_fail("mint WRITE with badge 0x42")?;
    let info = sender.info().or_fail("CapInfo of the mint")?;
    ensure_eq!(
        (info.rights, info.badge, info.kind),
        (Rights::WRITE, 0x42, Some(ObjectType::Endpoint)),
        "mint (rights, badge, type)"
    );

    let t = thread::spawn(send_fixed, sender.cptr().0, None).or_fail("start the sender")?;
    let got = ep.recv(CPtr::NONE).or_fail("Recv")?;
    ensure_eq!(t.join(), Ok(0), "the sender's Send");
    ensure_eq!(got.badge, 0x42, "badge the receiver saw");
    ensure_eq!((got.msg.label, got.msg.words()), (SENT_LABEL, &SENT_WORDS[..]), "message (label, words)");

    ensure_eq!(sender.nb_recv(CPtr::NONE).err(), Some(Error::InsufficientRights), "NbRecv through the send-only mint");
    ensure_eq!(
        Owned::mint_of(sender.cap(), Rights::WRITE, 0x43).err(),
        Some(Error::InvalidArgument),
        "re-badging the mint"
    );
    let more = Owned::mint_of(sender.cap(), Rights::READ | Rights::WRITE, 0);
    ensure_eq!(more.err(), Some(Error::InsufficientRights), "minting more rights than the source");
    let kept = Owned::mint_of(sender.cap(), Rights::WRITE, 0).or_fail("mint the mint with badge 0")?;
    ensure_eq!(kept.info().map(|i| i.badge), Ok(0x42), "badge of a mint with badge 0 (keeps the source's)");
    Ok(None)
}

/// Every class of error, each from the syscall that should give it; then the kernel still
/// answers.
pub fn error_paths() -> Outcome {
    let radix = cspace::boot_info().cnode_radix;
    let empty = FreeSlot::new()?;
    let (_, empty_index) = empty.cptr().split();
    ensure_eq!(sys::signal(empty.cptr()).err(), Some(Error::InvalidCapability), "Signal on an empty slot");
    ensure_eq!(
        sys::signal(CPtr::root(1 << radix)).err(),
        Some(Error::InvalidCapability),
        "Signal past the root CNode's end"
    );
    ensure_eq!(
        sys::cap_info(CPtr::in_cnode(empty_index, 0)).err(),
        Some(Error::InvalidCapability),
        "CapInfo through an empty outer slot"
    );
    ensure_eq!(
        sys::cap_info(CPtr(u64::MAX - 1)).err(),
        Some(Error::InvalidCapability),
        "CapInfo with an outer index past the root CNode"
    );

    let ep = Owned::<Endpoint>::create(0).or_fail("create an endpoint")?;
    let ntfn = Owned::<Notification>::create(0).or_fail("create a notification")?;
    let tcb = Owned::<Tcb>::create(0).or_fail("create a TCB")?;
    let frame = Owned::<Frame>::create(0).or_fail("create a frame")?;
    let page = Range::alloc(1).or_fail("address range")?;
    ensure_eq!(sys::signal(ep.cptr()).err(), Some(Error::WrongType), "Signal on an endpoint");
    ensure_eq!(
        sys::frame_map(ep.cptr(), ROOT_VSPACE.cptr(), page.va, Rights::READ).err(),
        Some(Error::WrongType),
        "FrameMap of an endpoint"
    );
    ensure_eq!(sys::tcb_resume(ntfn.cptr()).err(), Some(Error::WrongType), "TcbResume of a notification");

    let recv_only = Owned::mint_of(ep.cap(), Rights::READ, 0).or_fail("mint READ")?;
    ensure_eq!(
        recv_only.nb_send(&Message::new(1, &[])).err(),
        Some(Error::InsufficientRights),
        "NbSend through a READ-only endpoint"
    );
    let wait_only = Owned::mint_of(ntfn.cap(), Rights::READ, 0).or_fail("mint READ")?;
    ensure_eq!(wait_only.signal().err(), Some(Error::InsufficientRights), "Signal through a READ-only notification");

    let q = BOOT_QUOTA.cptr();
    let dst = empty.cptr();
    ensure_eq!(sys::create_raw(q, 99, dst, 0, 0).err(), Some(Error::InvalidArgument), "Create of object type 99");
    ensure_eq!(
        sys::create(q, ObjectType::CNode, dst, 0, 0).err(),
        Some(Error::InvalidArgument),
        "Create of a CNode of radix 0"
    );
    ensure_eq!(
        sys::create(q, ObjectType::CNode, dst, 13, 0).err(),
        Some(Error::InvalidArgument),
        "Create of a CNode of radix 13"
    );
    ensure_eq!(sys::tcb_set_priority(tcb.cptr(), 99).err(), Some(Error::InvalidArgument), "TcbSetPriority 99");
    ensure_eq!(sys::tcb_set_affinity(tcb.cptr(), 99).err(), Some(Error::InvalidArgument), "TcbSetAffinity to core 99");
    ensure_eq!(
        frame.map(ROOT_VSPACE, page.va + 8, Rights::READ).err(),
        Some(Error::InvalidArgument),
        "FrameMap at a misaligned address"
    );
    let wx = Rights::READ | Rights::WRITE | Rights::EXEC;
    ensure_eq!(
        frame.map(ROOT_VSPACE, page.va, wx).err(),
        Some(Error::InvalidArgument),
        "FrameMap writable and executable"
    );
    ensure_eq!(
        sys::cap_mint(ep.cptr(), dst, Rights(0x10), 0).err(),
        Some(Error::InvalidArgument),
        "CapMint with an unknown rights bit"
    );

    // SAFETY: nothing is mapped at 0xdead0000 in the root task (its image is at 0x400000 and
    // its windows far above), so the kernel must refuse rather than write there.
    let bad = unsafe { sys::tcb_read_registers_raw(tcb.cptr(), 0xdead_0000) };
    ensure_eq!(bad.err(), Some(Error::BadAddress), "TcbReadRegisters to an unmapped address");

    ensure_eq!(sys::cap_copy(ep.cptr(), ntfn.cptr()).err(), Some(Error::SlotOccupied), "CapCopy onto an occupied slot");
    ensure_eq!(
        sys::create(q, ObjectType::Endpoint, ep.cptr(), 0, 0).err(),
        Some(Error::SlotOccupied),
        "Create into an occupied slot"
    );

    ensure_eq!(ep.nb_recv(CPtr::NONE).err(), Some(Error::WouldBlock), "NbRecv with no sender");
    ensure_eq!(ep.nb_send(&Message::new(1, &[])).err(), Some(Error::WouldBlock), "NbSend with no receiver");
    ensure_eq!(ntfn.poll(), Ok(0), "Poll of an unsignalled notification");
    ensure_eq!(
        sys::invalid_syscall(abi::Syscall::ALL.len() as u64),
        Err(Error::InvalidSyscall),
        "syscall number past the last"
    );
    ensure_eq!(sys::null(), Ok(()), "Null after all of that");
    Ok(None)
}

/// Creating objects charges their quota exactly; deleting the last capability gives it back,
/// and the machine's free frames return to where they were; a small quota runs out with
/// NoMemory; revoking a quota destroys what was made from it.
pub fn quota_accounting() -> Outcome {
    let free_frames = || sys::system_info(InfoKey::FreeFrames).or_fail("SystemInfo FreeFrames");
    let left = |q: Cap<Quota>| q.remaining().or_fail("QuotaInfo");
    let free0 = free_frames()?;
    let (f0, b0) = left(BOOT_QUOTA)?;

    let ep = Owned::<Endpoint>::create(0).or_fail("create an endpoint")?;
    ensure_eq!(left(BOOT_QUOTA)?, (f0, b0 - charge::IPC_OBJECT_BYTES), "quota after creating an endpoint");
    let copy = Owned::copy_of(ep.cap()).or_fail("copy the endpoint")?;
    drop(ep);
    ensure!(copy.info().is_ok(), "the endpoint died with a capability left");
    ensure_eq!(left(BOOT_QUOTA)?, (f0, b0 - charge::IPC_OBJECT_BYTES), "quota with one of two capabilities deleted");
    drop(copy);
    ensure_eq!(left(BOOT_QUOTA)?, (f0, b0), "quota after deleting the last capability");

    let cnode = Owned::<CNode>::create(3).or_fail("create a CNode of radix 3")?;
    let cnode_bytes = charge::CNODE_BYTES + 8 * charge::SLOT_BYTES;
    ensure_eq!(left(BOOT_QUOTA)?, (f0, b0 - cnode_bytes), "quota after creating a CNode of radix 3");
    drop(cnode);

    {
        let mut frames = [const { None }; 8];
        for f in frames.iter_mut() {
            *f = Some(Owned::<Frame>::create(0).or_fail("create a frame")?);
        }
        ensure_eq!(left(BOOT_QUOTA)?, (f0 - 8, b0 - 8 * charge::FRAME_BYTES), "quota after creating 8 frames");
        ensure!(free_frames()? < free0, "free frames did not drop after creating 8 frames");
    }
    ensure_eq!(left(BOOT_QUOTA)?, (f0, b0), "quota after deleting the frames");
    ensure_eq!(free_frames()?, free0, "free frames after deleting the frames");

    let small = FreeSlot::new()?;
    let sub = BOOT_QUOTA.create_quota(small.cptr(), 2, 1024).or_fail("create a quota of 2 frames, 1024 bytes")?;
    ensure_eq!(left(sub)?, (2, 1024), "the small quota");
    ensure_eq!(left(BOOT_QUOTA)?, (f0 - 2, b0 - 1024 - charge::QUOTA_BYTES), "boot quota after making the small one");
    let x1 = Owned::<Frame>::create_from(sub, 0).or_fail("frame 1 from the small quota")?;
    let x2 = Owned::<Frame>::create_from(sub, 0).or_fail("frame 2 from the small quota")?;
    ensure_eq!(Owned::<Frame>::create_from(sub, 0).err(), Some(Error::NoMemory), "frame 3 from a 2-frame quota");
    ensure_eq!(left(sub)?, (0, 1024 - 2 * charge::FRAME_BYTES), "the small quota with two frames");
    ensure_eq!(sub.revoke(), Ok(2), "revoking the small quota: capabilities deleted");
    ensure_eq!(x1.info().err(), Some(Error::InvalidCapability), "a frame after its quota was revoked");
    ensure_eq!(left(sub)?, (2, 1024), "the small quota after its revoke");
    drop((x1, x2, small));
    ensure_eq!(left(BOOT_QUOTA)?, (f0, b0), "boot quota at the end");
    ensure_eq!(free_frames()?, free0, "free frames at the end");
    Ok(None)
}
