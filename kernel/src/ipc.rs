//! IPC: endpoints (send, receive, call, reply) and notifications (signal, wait, poll), and the
//! delivery of faults as messages.
//!
//! A blocked sender's message stays in its saved registers (`x1` info, `x2..x5` words, `x6` the
//! capability to pass) and IPC buffer until a receiver takes it; a blocked receiver's slot for a
//! capability stays in its `x7`. Delivery copies straight from one thread's saved registers to
//! the other's. When a `Call` meets a waiting receiver on the same core, the kernel switches to
//! the receiver directly, and `ReplyRecv` switches back: the common client/server round trip
//! never touches a run queue.

use crate::mm::phys_to_virt;
use crate::object::{tcb::FaultMsg, tcb::SendState, ObjId, State};
use crate::sched::Kernel;
use crate::syscall::Outcome;
use abi::{Error, FaultReply, MsgInfo, ObjectType, Rights, FAULT_LABEL, MSG_REG_WORDS};

/// Copies message words `MSG_REG_WORDS..words` from one user page to another (IPC buffers).
fn copy_words(src_pa: u64, dst_pa: u64, words: u64) {
    let (from, n) = (MSG_REG_WORDS as usize, (words - MSG_REG_WORDS) as usize);
    // SAFETY: both are the physical addresses of page-aligned user pages (IPC buffers) checked
    // under the kernel lock to be mapped for the user (the destination writable); the message
    // occupies at most `MSG_MAX_WORDS` words (512 bytes) from the start of each; the linear map
    // covers all RAM. The pages may be the same page only if both threads share one buffer, in
    // which case `copy` (memmove) is still sound.
    unsafe {
        let s = (phys_to_virt(src_pa) as *const u64).add(from);
        let d = (phys_to_virt(dst_pa) as *mut u64).add(from);
        core::ptr::copy(s, d, n);
    }
}

/// What a reply did.
enum Replied {
    /// Delivered; the caller is to be woken.
    Wake(ObjId),
    /// Delivered; the caller stays stopped (its fault handler killed it).
    Done,
    /// Nobody was waiting for it.
    Nobody,
}

impl Kernel {
    /// The physical address of thread `t`'s IPC buffer, if it has one mapped (writable if
    /// `write`).
    fn ipc_buffer_pa(&self, t: ObjId, write: bool) -> Option<u64> {
        let t = self.objects.tcb(t)?;
        if t.ipc_buffer == 0 {
            return None;
        }
        self.objects.vspace(t.vspace?)?.user_phys(t.ipc_buffer, write)
    }

    /// Delivers `src`'s message (its registers, buffer and capability, or its fault) to `dst`,
    /// writing `dst`'s `x0..x6`. `grant`: a capability may go along.
    fn transfer(&mut self, src: ObjId, dst: ObjId, badge: u64, grant: bool) {
        let s = self.objects.tcb(src).expect("sender exists");
        let (info, words_regs, cap_cptr, src_cspace) = match s.fault {
            Some(f) => (MsgInfo::new(FAULT_LABEL, MSG_REG_WORDS, false), [f.kind, f.addr, f.pc, f.esr], 0, None),
            None => (MsgInfo(s.ctx.x[1]), [s.ctx.x[2], s.ctx.x[3], s.ctx.x[4], s.ctx.x[5]], s.ctx.x[6], s.cspace),
        };
        // Checked by every path that sends (`send`, `check_reply_message`); clamped anyway: the
        // message area of an IPC buffer holds `MSG_MAX_WORDS` words and nothing more.
        let mut words = info.words().min(abi::MSG_MAX_WORDS);
        if words > MSG_REG_WORDS {
            match (self.ipc_buffer_pa(src, false), self.ipc_buffer_pa(dst, true)) {
                (Some(from), Some(to)) => copy_words(from, to, words),
                _ => words = MSG_REG_WORDS, // no buffer to carry the rest: truncated
            }
        }
        let mut cap_sent = false;
        if info.has_cap() && grant {
            let d = self.objects.tcb(dst).expect("receiver exists");
            let (recv_cptr, dst_cspace) = (d.ctx.x[7], d.cspace);
            if let (Ok(from), Ok(to)) = (self.lookup(src_cspace, cap_cptr), self.empty_slot(dst_cspace, recv_cptr)) {
                cap_sent = if info.moves_cap() {
                    self.move_slot(from.slot, to).is_ok()
                } else {
                    self.cdt.copy(from.slot, to).is_ok()
                };
            }
        }
        let d = self.objects.tcb_mut(dst).expect("receiver exists");
        d.ctx.x[0] = 0;
        d.ctx.x[1] = MsgInfo::new(info.label(), words, cap_sent).0;
        d.ctx.x[2..6].copy_from_slice(&words_regs);
        d.ctx.x[6] = badge;
    }

    /// `Send`, `NbSend` and `Call` by the thread running on `core`.
    pub fn send(&mut self, core: usize, ep: u64, blocking: bool, call: bool) -> Result<Outcome, Error> {
        let me = self.current_id(core).ok_or(Error::InvalidArgument)?;
        let t = self.objects.tcb(me).ok_or(Error::InvalidArgument)?;
        let info = MsgInfo(t.ctx.x[1]);
        let f = self.lookup_typed(t.cspace, ep, ObjectType::Endpoint, Rights::WRITE)?;
        if !info.is_valid() {
            return Err(Error::InvalidArgument);
        }
        let grant = f.cap.rights.has(Rights::GRANT);
        if info.has_cap() && !grant {
            return Err(Error::InsufficientRights);
        }
        if info.words() > MSG_REG_WORDS && self.ipc_buffer_pa(me, false).is_none() {
            return Err(Error::BadAddress);
        }
        self.deliver(core, me, f.obj, SendState { badge: f.cap.badge, grant, call }, blocking)
    }

    /// Sends `me`'s message (or fault) on endpoint `ep`: to a waiting receiver now, else by
    /// queueing `me` (if `blocking`).
    fn deliver(&mut self, core: usize, me: ObjId, ep: ObjId, st: SendState, blocking: bool) -> Result<Outcome, Error> {
        let e = self.objects.endpoint_mut(ep).ok_or(Error::WrongType)?;
        if e.senders || e.queue.is_empty() {
            if !blocking {
                return Err(Error::WouldBlock);
            }
            e.senders = true;
            e.queue.push_back(me);
            let t = self.objects.tcb_mut(me).expect("caller exists");
            t.send = st;
            self.block_current(core, State::BlockedSend(ep));
            return Ok(Outcome::Blocked);
        }
        let receiver = e.queue.pop_front().expect("not empty");
        self.transfer(me, receiver, st.badge, st.grant);
        if st.call {
            self.objects.tcb_mut(receiver).expect("receiver exists").reply_to = Some((me, st.grant));
            self.block_current(core, State::BlockedReply(receiver));
            self.switch_to_or_queue(core, receiver);
            Ok(Outcome::Blocked)
        } else {
            self.make_runnable(receiver);
            Ok(Outcome::Return(0, [0; 7]))
        }
    }

    /// `Recv` and `NbRecv` by the thread running on `core`. On success the message is already
    /// in the caller's registers.
    pub fn recv(&mut self, core: usize, ep: u64, blocking: bool) -> Result<Outcome, Error> {
        let me = self.current_id(core).ok_or(Error::InvalidArgument)?;
        let cspace = self.objects.tcb(me).ok_or(Error::InvalidArgument)?.cspace;
        let f = self.lookup_typed(cspace, ep, ObjectType::Endpoint, Rights::READ)?;
        let e = self.objects.endpoint_mut(f.obj).expect("typed");
        let waiting_sender = e.senders && !e.queue.is_empty();
        if !waiting_sender && !blocking {
            return Err(Error::WouldBlock); // changes nothing
        }
        // A receive while a caller still waits for this thread's reply would overwrite its reply
        // target and leave it waiting for ever: that call ends now, with an error.
        self.drop_reply_target(me, "server received again without answering");
        let e = self.objects.endpoint_mut(f.obj).expect("typed");
        if !waiting_sender {
            e.senders = false;
            e.queue.push_back(me);
            self.block_current(core, State::BlockedRecv(f.obj));
            return Ok(Outcome::Blocked);
        }
        let sender = e.queue.pop_front().expect("not empty");
        let st = self.objects.tcb(sender).expect("queued thread exists").send;
        self.transfer(sender, me, st.badge, st.grant);
        let s = self.objects.tcb_mut(sender).expect("queued thread exists");
        s.send = SendState::default();
        if st.call || s.fault.is_some() {
            s.state = State::BlockedReply(me);
            self.objects.tcb_mut(me).expect("caller").reply_to = Some((sender, st.grant));
        } else {
            s.ctx.x[0] = 0;
            self.make_runnable(sender);
        }
        Ok(Outcome::Written)
    }

    /// Delivers the reply of the thread running on `core` to its caller, without waking the
    /// caller yet.
    fn reply_to_caller(&mut self, core: usize) -> Replied {
        let Some(me) = self.current_id(core) else { return Replied::Nobody };
        let Some((caller, _)) = self.objects.tcb_mut(me).and_then(|t| t.reply_to.take()) else {
            return Replied::Nobody;
        };
        match self.objects.tcb(caller) {
            Some(c) if c.state == State::BlockedReply(me) => self.answer(me, caller),
            _ => Replied::Nobody, // gone, suspended or restarted meanwhile
        }
    }

    /// Gives `caller` (waiting for `me`'s reply) the reply: a message, or the handler's verdict
    /// on its fault.
    fn answer(&mut self, me: ObjId, caller: ObjId) -> Replied {
        let c = self.objects.tcb(caller).expect("checked by the caller");
        match c.fault {
            // A reply may always carry a capability: the caller asked for one by naming a slot.
            None => self.transfer(me, caller, 0, true),
            Some(f) => {
                let r = self.objects.tcb(me).expect("current");
                let (label, word0) = (MsgInfo(r.ctx.x[1]).label(), r.ctx.x[2]);
                let c = self.objects.tcb_mut(caller).expect("checked");
                c.fault = None;
                match label {
                    l if l == FaultReply::Restart as u32 => c.ctx.pc = word0,
                    l if l == FaultReply::Kill as u32 => {
                        c.state = State::Inactive;
                        c.exit_code = abi::EXIT_KILLED;
                        log::info!("thread {:#x}: killed by its fault handler (fault at pc {:#x})", caller.0, f.pc);
                        return Replied::Done;
                    }
                    _ => {} // Resume: retry the instruction
                }
            }
        }
        Replied::Wake(caller)
    }

    /// `Reply`.
    pub fn reply(&mut self, core: usize) -> Result<Outcome, Error> {
        self.check_reply_message(core)?;
        let delivered = match self.reply_to_caller(core) {
            Replied::Wake(caller) => {
                self.make_runnable(caller);
                1
            }
            Replied::Done => 1,
            Replied::Nobody => 0,
        };
        Ok(Outcome::Return(1, [delivered, 0, 0, 0, 0, 0, 0]))
    }

    /// A reply's descriptor must be valid like a send's: no undefined bits, at most
    /// `MSG_MAX_WORDS` words (more would be copied past the message area of the caller's IPC
    /// buffer, into the words its runtime keeps there), and an IPC buffer if it needs one.
    fn check_reply_message(&self, core: usize) -> Result<(), Error> {
        let me = self.current_id(core).ok_or(Error::InvalidArgument)?;
        let info = MsgInfo(self.objects.tcb(me).ok_or(Error::InvalidArgument)?.ctx.x[1]);
        if !info.is_valid() {
            return Err(Error::InvalidArgument);
        }
        if info.words() > MSG_REG_WORDS && self.ipc_buffer_pa(me, false).is_none() {
            return Err(Error::BadAddress);
        }
        Ok(())
    }

    /// `ReplyRecv`: reply, then receive; if the receive blocks, the caller runs next here.
    pub fn reply_recv(&mut self, core: usize, ep: u64) -> Result<Outcome, Error> {
        let me = self.current_id(core).ok_or(Error::InvalidArgument)?;
        let cspace = self.objects.tcb(me).ok_or(Error::InvalidArgument)?.cspace;
        // Check the endpoint and the reply before replying, so a bad argument changes nothing.
        self.lookup_typed(cspace, ep, ObjectType::Endpoint, Rights::READ)?;
        self.check_reply_message(core)?;
        let replied = self.reply_to_caller(core);
        let r = self.recv(core, ep, true);
        if let Replied::Wake(c) = replied {
            self.switch_to_or_queue(core, c);
        }
        r
    }

    /// `Signal`.
    pub fn signal(&mut self, core: usize, ntfn: u64) -> Result<Outcome, Error> {
        let cspace = self.current(core).ok_or(Error::InvalidArgument)?.cspace;
        let f = self.lookup_typed(cspace, ntfn, ObjectType::Notification, Rights::WRITE)?;
        let bits = if f.cap.badge == 0 { 1 } else { f.cap.badge };
        let n = self.objects.notification_mut(f.obj).expect("typed");
        match n.waiters.pop_front() {
            Some(w) => {
                let word = core::mem::take(&mut n.word) | bits;
                self.complete(w, 0, [word, 0, 0, 0, 0, 0, 0]);
            }
            None => n.word |= bits,
        }
        Ok(Outcome::Return(0, [0; 7]))
    }

    /// `Wait` (blocking) and `Poll`.
    pub fn wait(&mut self, core: usize, ntfn: u64, blocking: bool) -> Result<Outcome, Error> {
        let me = self.current_id(core).ok_or(Error::InvalidArgument)?;
        let cspace = self.objects.tcb(me).ok_or(Error::InvalidArgument)?.cspace;
        let f = self.lookup_typed(cspace, ntfn, ObjectType::Notification, Rights::READ)?;
        let n = self.objects.notification_mut(f.obj).expect("typed");
        if n.word != 0 || !blocking {
            let word = core::mem::take(&mut n.word);
            return Ok(Outcome::Return(1, [word, 0, 0, 0, 0, 0, 0]));
        }
        n.waiters.push_back(me);
        self.block_current(core, State::BlockedWait(f.obj));
        Ok(Outcome::Blocked)
    }

    /// Reports a fault of the thread running on `core` to its fault endpoint, as a `Call`.
    /// Returns false if it has no usable fault endpoint (the caller then stops it).
    pub fn send_fault(&mut self, core: usize, msg: FaultMsg) -> bool {
        let Some(me) = self.current_id(core) else { return false };
        let t = self.objects.tcb(me).expect("current");
        let (cspace, ep) = (t.cspace, t.fault_ep);
        if ep == abi::CPtr::NONE.0 {
            return false;
        }
        let Ok(f) = self.lookup_typed(cspace, ep, ObjectType::Endpoint, Rights::WRITE) else {
            log::warn!("thread {:#x}: fault endpoint {ep:#x} is not a sendable endpoint", me.0);
            return false;
        };
        self.objects.tcb_mut(me).expect("current").fault = Some(msg);
        let st = SendState { badge: f.cap.badge, grant: false, call: true };
        self.deliver(core, me, f.obj, st, true).is_ok()
    }
}
