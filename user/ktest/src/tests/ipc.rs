//! IPC: call and reply between address spaces with long messages and capability transfer, on
//! one core and across cores; notifications signalled from other cores.

use crate::util::{cores, other_core, FreeSlot, OrFail};
use crate::Outcome;
use abi::{CPtr, Error, InfoKey, ObjectType, Rights};
use core::sync::atomic::{AtomicU64, Ordering};
use urt::cap::{Cap, Endpoint, Notification, Owned};
use urt::process::Process;
use urt::sys::{self, Message};
use urt::thread::{self, Builder};
use urt::time;

/// Slots of the server process's CNode: the endpoint, the capability it replies with, and
/// where the client's capability lands.
const EP: u32 = 1;
const ANSWER_CAP: u32 = 2;
const RECEIVED: u32 = 3;

const REQUEST: u32 = 0x100;
const ANSWER: u32 = 0x200;
const CLIENT_BADGE: u64 = 0x77;

/// Ten words (more than fit in registers), derived from `seed`.
fn words(seed: u64) -> [u64; 10] {
    core::array::from_fn(|i| seed + i as u64 * 0x1111)
}

/// What the server found wrong, by the code it returns (and sends in reply word 0).
fn verdict(code: u64) -> &'static str {
    match code {
        0 => "ok",
        1 => "wrong label or words",
        2 => "wrong badge",
        3 => "no capability in the request",
        4 => "the received capability is not a notification",
        5 => "Signal through the received capability failed",
        6 => "the reply reached nobody",
        _ => "a syscall failed (code - 0x100 = error)",
    }
}

/// The server, in a cloned address space: receives one request with a capability, checks it,
/// signals through the capability, and replies with words, its core and a capability.
extern "C" fn cap_server(_: u64) -> u64 {
    let ep = Cap::<Endpoint>::new(CPtr::root(EP));
    let got = match ep.recv(CPtr::root(RECEIVED)) {
        Ok(got) => got,
        Err(e) => return 0x100 + e as u64,
    };
    let received = sys::cap_info(CPtr::root(RECEIVED)).map(|i| i.kind);
    let code = if got.msg.label != REQUEST || got.msg.words() != words(0xa0) {
        1
    } else if got.badge != CLIENT_BADGE {
        2
    } else if got.msg.cap != Some(CPtr::root(RECEIVED)) || !got.info.has_cap() {
        3
    } else if received != Ok(Some(ObjectType::Notification)) {
        4
    } else if sys::signal(CPtr::root(RECEIVED)).is_err() {
        5
    } else {
        0
    };
    let core = sys::system_info(InfoKey::CurrentCore).unwrap_or(u64::MAX);
    let mut answer = [0u64; 12];
    answer[0] = code;
    answer[1] = core;
    answer[2..].copy_from_slice(&words(0xb0));
    match sys::reply(&Message::new(ANSWER, &answer).with_cap(CPtr::root(ANSWER_CAP))) {
        Ok(true) => code,
        Ok(false) => 6,
        Err(e) => 0x100 + e as u64,
    }
}

/// Call with a capability and 10 words to a server in another address space (on `core`);
/// the reply carries 12 words and a capability back.
fn call_reply(core: Option<usize>) -> Outcome {
    let ep = Owned::<Endpoint>::create(0).or_fail("create the endpoint")?;
    let gift = Owned::<Notification>::create(0).or_fail("create the notification to send")?;
    let answer_cap = Owned::<Notification>::create(0).or_fail("create the notification to reply with")?;
    let mut server = Process::new().or_fail("clone the root task")?;
    server.give_minted(ep.cap(), EP, Rights::READ, 0).or_fail("give the server a receive-only endpoint")?;
    server.give(answer_cap.cap(), ANSWER_CAP).or_fail("give the server the capability to reply with")?;
    let options = match core {
        Some(core) => Builder::new().core(core),
        None => Builder::new(),
    };
    server.start(cap_server, 0, &options).or_fail("start the server")?;

    let no_grant = Owned::mint_of(ep.cap(), Rights::WRITE, 0x78).or_fail("mint WRITE only")?;
    let request = Message::new(REQUEST, &words(0xa0)).with_cap(gift.cptr());
    ensure_eq!(no_grant.call(&request).err(), Some(Error::InsufficientRights), "Call with a capability, without GRANT");

    let client = Owned::mint_of(ep.cap(), Rights::WRITE | Rights::GRANT, CLIENT_BADGE).or_fail("mint WRITE|GRANT")?;
    let slot = FreeSlot::new()?;
    let reply = client.call_with_slot(&request, slot.cptr()).or_fail("Call")?;
    let here = sys::system_info(InfoKey::CurrentCore).or_fail("SystemInfo CurrentCore")?;
    let code = reply.msg.word(0);
    ensure!(code == 0, "server: {} ({code:#x})", verdict(code));
    ensure_eq!(server.join(), Ok(0), "the server's result");
    ensure_eq!((reply.msg.label, reply.msg.words().len()), (ANSWER, 12), "reply (label, length)");
    ensure_eq!(&reply.msg.words()[2..], &words(0xb0)[..], "reply words 2..12 (through the IPC buffer)");
    ensure_eq!((reply.info.has_cap(), reply.msg.cap), (true, Some(slot.cptr())), "reply (capability flag, slot)");
    ensure_eq!(reply.badge, 0, "badge of a reply");
    let landed = sys::cap_info(slot.cptr()).or_fail("CapInfo of the capability in the reply")?;
    ensure_eq!(landed.object, answer_cap.info().or_fail("CapInfo")?.object, "object of the capability in the reply");
    let sent = sys::cap_info(server.slot(RECEIVED)).or_fail("CapInfo of the server's received capability")?;
    ensure_eq!(sent.object, gift.info().or_fail("CapInfo")?.object, "object the server received");
    ensure_eq!(gift.poll(), Ok(1), "the sent notification, signalled by the server");
    if core.is_some() {
        ensure!(reply.msg.word(1) != here, "server and client both on core {here}");
    }
    Ok(None)
}

/// [`call_reply`] with the server wherever the kernel puts it.
pub fn call_reply_cap_transfer() -> Outcome {
    call_reply(None)
}

/// [`call_reply`] with the server pinned to another core than the client.
pub fn call_reply_cross_core() -> Outcome {
    if cores() == 1 {
        call_reply(None)?;
        return Ok(Some("one core: ran on that core only"));
    }
    call_reply(Some(other_core(1)))
}

/// Where [`move_receiver`] receives, and on which endpoint.
static MOVE_SLOTS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Receives one message on `MOVE_SLOTS[0]` into slot `MOVE_SLOTS[1]`; 0 if it carried a
/// capability, 1 if not, 0x100 + error if Recv failed.
extern "C" fn move_receiver(_: u64) -> u64 {
    let (ep, slot) = (CPtr(MOVE_SLOTS[0].load(Ordering::Acquire)), CPtr(MOVE_SLOTS[1].load(Ordering::Acquire)));
    match sys::recv(ep, slot) {
        Ok(got) => u64::from(!got.info.has_cap()),
        Err(e) => 0x100 + e as u64,
    }
}

/// A capability sent with `with_cap_moved` leaves the sender's slot: afterwards the sender's
/// slot is empty, the receiver's holds it (same object and badge), and the derivation tree has
/// exactly as many capabilities as before (a copy would have added one).
pub fn cap_move_transfer() -> Outcome {
    let ep = Owned::<Endpoint>::create(0).or_fail("create the endpoint")?;
    let n = Owned::<Notification>::create(0).or_fail("create a notification")?;
    let gift = Owned::mint_of(n.cap(), Rights::WRITE, 0x5).or_fail("mint the capability to move")?;
    let before = n.info().or_fail("CapInfo")?.descendants;
    let landing = FreeSlot::new()?;
    MOVE_SLOTS[0].store(ep.cptr().0, Ordering::Release);
    MOVE_SLOTS[1].store(landing.cptr().0, Ordering::Release);
    let t = thread::spawn(move_receiver, 0, Some(other_core(1))).or_fail("start the receiver")?;
    sys::send(ep.cptr(), &Message::new(REQUEST, &[1, 2]).with_cap_moved(gift.cptr())).or_fail("Send, moving")?;
    ensure_eq!(t.join(), Ok(0), "the receiver got a capability (1: none; 0x100+: Recv failed)");
    ensure_eq!(sys::cap_info(gift.cptr()).err(), Some(Error::InvalidCapability), "the sender's slot after the move");
    let landed = sys::cap_info(landing.cptr()).or_fail("CapInfo of the moved capability")?;
    let object = n.info().or_fail("CapInfo")?.object;
    ensure_eq!((landed.object, landed.badge), (object, 0x5), "the moved capability (object, badge)");
    ensure_eq!(n.info().or_fail("CapInfo")?.descendants, before, "capabilities derived from the notification");
    ensure_eq!(landed.kind, Some(ObjectType::Notification), "the moved capability's type");
    Ok(None)
}

/// Signals the notification in slot `ntfn` once; returns 0 or the error code.
extern "C" fn signal_once(ntfn: u64) -> u64 {
    sys::signal(CPtr(ntfn)).map_or_else(|e| e as u64, |()| 0)
}

/// Code [`signal_later`] returns when the waiter never showed up in the kernel's report.
const NEVER_WAITED: u64 = 0x1000;

/// Signals like [`signal_once`], once the kernel reports a thread waiting on the notification
/// (`CapInfo`'s `waiting`): the main thread is then blocked in Wait, not merely about to be.
extern "C" fn signal_later(ntfn: u64) -> u64 {
    let waiting = || sys::cap_info(CPtr(ntfn)).is_ok_and(|i| i.waiting == 1);
    if !time::wait_for(20_000, waiting) {
        return NEVER_WAITED;
    }
    signal_once(ntfn)
}

/// Badged signals from threads on other cores OR together; Wait takes the word, Poll then
/// finds 0; a waiter blocked in Wait is woken from another core.
pub fn notification_cross_core() -> Outcome {
    let n = Owned::<Notification>::create(0).or_fail("create a notification")?;
    ensure_eq!(n.poll(), Ok(0), "Poll of a fresh notification");
    let mut minted = [const { None }; 4];
    let mut signallers = [const { None }; 4];
    let mut want = 0;
    for (k, (m, t)) in minted.iter_mut().zip(&mut signallers).enumerate() {
        let badge = 1 << (k + 1);
        want |= badge;
        let cap = m.insert(Owned::mint_of(n.cap(), Rights::WRITE, badge).or_fail("mint a badged signal capability")?);
        let core = if cores() > 1 { other_core(1 + k % (cores() - 1)) } else { other_core(0) };
        *t = Some(thread::spawn(signal_once, cap.cptr().0, Some(core)).or_fail("start a signaller")?);
    }
    for t in signallers.iter_mut().filter_map(Option::take) {
        ensure_eq!(t.join(), Ok(0), "a signaller's Signal");
    }
    ensure_eq!(n.wait(), Ok(want), "Wait after four badged signals");
    ensure_eq!(n.poll(), Ok(0), "Poll after Wait took the word");

    let late = Owned::mint_of(n.cap(), Rights::WRITE, 0x100).or_fail("mint")?;
    let t = thread::spawn(signal_later, late.cptr().0, Some(other_core(1))).or_fail("start the late signaller")?;
    ensure_eq!(n.wait(), Ok(0x100), "Wait woken by a signal from another core");
    ensure_eq!(t.join(), Ok(0), "the late signaller's Signal (0x1000: never saw the waiter blocked)");
    n.signal().or_fail("Signal through the unbadged capability")?;
    ensure_eq!(n.poll(), Ok(1), "Poll after an unbadged Signal");
    Ok(if cores() == 1 { Some("one core: all signals came from it") } else { None })
}
