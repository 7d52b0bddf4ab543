//! The syscall fast path, in the spirit of seL4's: the common cases — the null syscall, the
//! cross-core sync (`Sync`, which has no arguments to decode), and a `Call` or `ReplyRecv` that
//! hands a short message (registers only, no capability) straight to a partner waiting on the
//! same core — handled without the general decoding, without queues and without copying
//! frames. Anything else (or any doubt) falls back to the full path in
//! [`crate::syscall`], which gives the same result, only slower. The fast path changes nothing
//! until it has checked every condition.

use crate::arch::exceptions::UserContext;
use crate::cspace::slot_id;
use crate::object::{ObjId, Object, State};
use crate::percpu;
use crate::sched::Kernel;
use abi::{CPtr, MsgInfo, Rights, Syscall, MSG_REG_WORDS};
use core::sync::atomic::Ordering;

/// Tries the fast path for the syscall of the thread running on this core (`here`); returns the context to
/// return to if it handled it.
#[inline]
pub fn try_fast(k: &mut Kernel, here: &percpu::PerCpu) -> Option<*mut UserContext> {
    if here.need_resched.load(Ordering::Relaxed) {
        return None; // the scheduler has work to do: take the full path
    }
    let core = here.id();
    let me = k.current_id(core)?;
    let t = k.objects.tcb_mut(me)?;
    if t.state != State::Running {
        return None;
    }
    let number = t.ctx.x[8];
    if number == Syscall::Null as u64 {
        t.ctx.x[0] = 0;
        t.ctx.x[1] = 0;
        return Some(&mut *t.ctx as *mut UserContext);
    }
    if number == Syscall::Sync as u64 {
        // One lookup (the Sync authority in a root slot; anything else takes the full path,
        // which gives the error), no scheduling: interrupts the other cores that are not idle.
        let (cspace, cptr) = (t.cspace, t.ctx.x[0]);
        let (obj, _) = root_cap(k, cspace, cptr)?;
        if !matches!(k.objects.get(obj)?, Object::Authority(abi::Authority::Sync)) {
            return None;
        }
        let (err, cores) = match crate::sync::sync_all(k.cores) {
            Ok(n) => (0, n),
            Err(late) => (abi::Error::NoResponse as u64, late),
        };
        let t = k.objects.tcb_mut(me)?;
        t.ctx.x[0] = err;
        t.ctx.x[1] = cores;
        return Some(&mut *t.ctx as *mut UserContext);
    }
    if number == Syscall::Call as u64 {
        return call(k, core, me);
    }
    if number == Syscall::ReplyRecv as u64 {
        return reply_recv(k, core, me);
    }
    None
}

/// A short message: its info, if it travels in registers only and carries no capability.
fn short_message(ctx: &UserContext) -> Option<MsgInfo> {
    let info = MsgInfo(ctx.x[1]);
    (info.is_valid() && info.words() <= MSG_REG_WORDS && !info.has_cap()).then_some(info)
}

/// The capability in the root-CNode slot `cptr` of `cspace`: `(object, capability)`. Two-level
/// CPtrs and empty slots give `None` (the full path then decides).
fn root_cap(k: &Kernel, cspace: Option<ObjId>, cptr: u64) -> Option<(ObjId, klogic::cdt::Cap)> {
    let root = cspace?;
    let (None, index) = CPtr(cptr).split() else { return None };
    let radix = match k.objects.get(root)? {
        Object::CNode(c) => c.radix,
        _ => return None,
    };
    if index >> radix != 0 {
        return None;
    }
    let cap = k.cdt.get(slot_id(root, index))?;
    Some((ObjId(cap.object), cap))
}

/// The endpoint named by a root-CNode CPtr in `cspace`, if the capability has `rights`:
/// `(endpoint, badge, capability rights)`.
fn endpoint(k: &Kernel, cspace: Option<ObjId>, cptr: u64, rights: Rights) -> Option<(ObjId, u64, Rights)> {
    let (ep, cap) = root_cap(k, cspace, cptr)?;
    (matches!(k.objects.get(ep)?, Object::Endpoint(_)) && cap.rights.has(rights)).then_some((ep, cap.badge, cap.rights))
}

/// True if thread `id` can be switched to on `core` right now.
fn can_switch_to(k: &Kernel, core: usize, id: ObjId) -> bool {
    k.objects
        .tcb(id)
        .is_some_and(|t| t.core == core && t.on_core.is_none() && t.fault.is_none() && !k.outranked(core, t.prio))
}

/// Copies a short message from `from`'s registers into `to`'s, as a receive result.
fn copy_message(from: &UserContext, info: MsgInfo, badge: u64, to: &mut UserContext) {
    to.x[0] = 0;
    to.x[1] = MsgInfo::new(info.label(), info.words(), false).0;
    to.x[2] = from.x[2];
    to.x[3] = from.x[3];
    to.x[4] = from.x[4];
    to.x[5] = from.x[5];
    to.x[6] = badge;
}

/// `Call` to a receiver waiting on the same core.
fn call(k: &mut Kernel, core: usize, me: ObjId) -> Option<*mut UserContext> {
    let t = k.objects.tcb(me)?;
    let info = short_message(&t.ctx)?;
    let (ep, badge, rights) = endpoint(k, t.cspace, t.ctx.x[0], Rights::WRITE)?;
    let e = match k.objects.get(ep)? {
        Object::Endpoint(e) => e,
        _ => return None,
    };
    if e.senders {
        return None;
    }
    let receiver = *e.queue.front()?;
    if !can_switch_to(k, core, receiver) {
        return None;
    }
    // Committed: nothing below can fail.
    if let Some(Object::Endpoint(e)) = k.objects.get_mut(ep) {
        e.queue.pop_front();
    }
    let from: *const UserContext = &*k.objects.tcb(me)?.ctx;
    let r = k.objects.tcb_mut(receiver)?;
    // SAFETY: `from` is the caller's boxed context and `r.ctx` the receiver's: two different
    // live threads (the receiver is blocked, the caller running), so the two do not overlap;
    // the kernel lock serialises all access.
    copy_message(unsafe { &*from }, info, badge, &mut r.ctx);
    r.reply_to = Some((me, rights.has(Rights::GRANT)));
    k.block_current(core, State::BlockedReply(receiver));
    k.switch_to(core, receiver);
    Some(&mut *k.objects.tcb_mut(receiver)?.ctx as *mut UserContext)
}

/// `ReplyRecv` whose reply goes to a caller on the same core and whose receive finds nobody
/// waiting: reply, block, and run the caller.
fn reply_recv(k: &mut Kernel, core: usize, me: ObjId) -> Option<*mut UserContext> {
    let t = k.objects.tcb(me)?;
    let info = short_message(&t.ctx)?;
    let (caller, _) = t.reply_to?;
    let (ep, _, _) = endpoint(k, t.cspace, t.ctx.x[0], Rights::READ)?;
    let e = match k.objects.get(ep)? {
        Object::Endpoint(e) => e,
        _ => return None,
    };
    if e.senders && !e.queue.is_empty() {
        return None; // a message is waiting: the full path receives it
    }
    if k.objects.tcb(caller).map(|c| c.state) != Some(State::BlockedReply(me)) || !can_switch_to(k, core, caller) {
        return None;
    }
    // Committed.
    let from: *const UserContext = &*k.objects.tcb(me)?.ctx;
    let c = k.objects.tcb_mut(caller)?;
    // SAFETY: as in `call`: two different live threads' boxed contexts, under the kernel lock.
    copy_message(unsafe { &*from }, info, 0, &mut c.ctx);
    if let Some(Object::Endpoint(e)) = k.objects.get_mut(ep) {
        e.senders = false;
        e.queue.push_back(me);
    }
    let t = k.objects.tcb_mut(me)?;
    t.reply_to = None;
    k.block_current(core, State::BlockedRecv(ep));
    k.switch_to(core, caller);
    Some(&mut *k.objects.tcb_mut(caller)?.ctx as *mut UserContext)
}
