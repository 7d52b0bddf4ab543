//! Capabilities: naming slots, the capability syscalls, object creation from quotas, and
//! object destruction when the last capability goes.
//!
//! A CNode's slot `i` is the derivation-tree slot `cnode_index << 16 | i` (see [`slot_id`]),
//! so the tree in `klogic::cdt` holds every capability of every CSpace and a revoke reaches all
//! of them. Frame capabilities that are mapped are recorded in `Kernel::mappings`; removing the
//! capability removes the mapping (and invalidates it on every core) before anything else.

use crate::arch::{cache, cpu};
use crate::mm::{frames, vspace::VSpace};
use crate::object::{CNode, Charge, Endpoint, Frame, Mapping, Notification, ObjId, Object, Quota, State, Tcb};
use crate::sched::Kernel;
use abi::{charge, CPtr, Error, ObjectType, Rights};
use alloc::boxed::Box;
use alloc::vec::Vec;
use klogic::cdt::{Cap, CdtError, Removed, Slot};
use klogic::pte::Access;

/// Tree links a revoke changes between two checks for a pending interrupt (each removed
/// capability is one, each re-parented one another). At the measured ~200 instructions per
/// descendant, a step is some 50,000 instructions: tens of microseconds.
pub const REVOKE_STEP: usize = 256;

// Every slot of a CNode is a derivation-tree node allocated with it: its charge must cover one.
const _: () = assert!(klogic::cdt::SLOT_BYTES as u64 <= charge::SLOT_BYTES);

/// The derivation-tree slot of slot `index` of CNode `cnode`.
#[inline]
pub fn slot_id(cnode: ObjId, index: u32) -> Slot {
    (u64::from(cnode.index()) << 16) | u64::from(index)
}

/// The index within its CNode of a derivation-tree slot.
pub fn slot_index(slot: Slot) -> u32 {
    (slot & 0xffff) as u32
}

fn cdt_error(e: CdtError) -> Error {
    match e {
        CdtError::EmptySource => Error::InvalidCapability,
        CdtError::DestinationOccupied => Error::SlotOccupied,
        CdtError::RightsEscalation => Error::InsufficientRights,
        CdtError::AlreadyBadged | CdtError::SameSlot | CdtError::NoSuchSlot => Error::InvalidArgument,
        CdtError::NoMemory => Error::NoMemory,
    }
}

/// What [`Kernel::lookup`] found.
#[derive(Clone, Copy, Debug)]
pub struct Found {
    /// The slot.
    pub slot: Slot,
    /// The capability in it.
    pub cap: Cap,
    /// The object it names.
    pub obj: ObjId,
}

/// Kernel bytes and frames an object of `kind` costs.
fn cost(kind: ObjectType, size: u64, bytes: u64) -> Result<(u64, u64), Error> {
    Ok(match kind {
        ObjectType::Quota => (size, bytes.checked_add(charge::QUOTA_BYTES).ok_or(Error::InvalidArgument)?),
        ObjectType::Tcb => (0, charge::TCB_BYTES),
        ObjectType::Endpoint | ObjectType::Notification => (0, charge::IPC_OBJECT_BYTES),
        ObjectType::CNode => {
            if !(1..=abi::CNODE_MAX_RADIX).contains(&size) {
                return Err(Error::InvalidArgument);
            }
            (0, charge::CNODE_BYTES + (charge::SLOT_BYTES << size))
        }
        ObjectType::VSpace => (1, charge::VSPACE_BYTES),
        ObjectType::Frame => (1, charge::FRAME_BYTES),
        // Made only at boot: a capability to one is the only way to get the authority.
        ObjectType::Authority => return Err(Error::InvalidArgument),
    })
}

impl Kernel {
    /// The CNode of a thread's CSpace (its root CNode).
    fn radix(&self, cnode: ObjId) -> Option<u8> {
        match self.objects.get(cnode)? {
            Object::CNode(c) => Some(c.radix),
            _ => None,
        }
    }

    /// The slot `cptr` names in CSpace `cspace` (which may be empty).
    pub fn resolve(&self, cspace: Option<ObjId>, cptr: u64) -> Result<Slot, Error> {
        let root = cspace.ok_or(Error::InvalidCapability)?;
        let (outer, index) = CPtr(cptr).split();
        let cnode = match outer {
            None => root,
            Some(o) => {
                let radix = self.radix(root).ok_or(Error::InvalidCapability)?;
                if o >> radix != 0 {
                    return Err(Error::InvalidCapability);
                }
                let cap = self.cdt.get(slot_id(root, o)).ok_or(Error::InvalidCapability)?;
                let id = ObjId(cap.object);
                if self.radix(id).is_none() {
                    return Err(Error::WrongType);
                }
                id
            }
        };
        let radix = self.radix(cnode).ok_or(Error::InvalidCapability)?;
        if index >> radix != 0 {
            return Err(Error::InvalidCapability);
        }
        Ok(slot_id(cnode, index))
    }

    /// The capability `cptr` names in `cspace`: it must be there.
    #[inline]
    pub fn lookup(&self, cspace: Option<ObjId>, cptr: u64) -> Result<Found, Error> {
        let slot = self.resolve(cspace, cptr)?;
        let cap = self.cdt.get(slot).ok_or(Error::InvalidCapability)?;
        Ok(Found { slot, cap, obj: ObjId(cap.object) })
    }

    /// Like [`Kernel::lookup`], and the object must be a `kind` and the capability hold `rights`.
    #[inline]
    pub fn lookup_typed(
        &self,
        cspace: Option<ObjId>,
        cptr: u64,
        kind: ObjectType,
        rights: Rights,
    ) -> Result<Found, Error> {
        let f = self.lookup(cspace, cptr)?;
        let obj = self.objects.get(f.obj).ok_or(Error::InvalidCapability)?;
        if obj.kind() != kind {
            return Err(Error::WrongType);
        }
        if !f.cap.rights.has(rights) {
            return Err(Error::InsufficientRights);
        }
        Ok(f)
    }

    /// An empty slot named by `cptr`.
    pub fn empty_slot(&self, cspace: Option<ObjId>, cptr: u64) -> Result<Slot, Error> {
        let slot = self.resolve(cspace, cptr)?;
        if self.cdt.get(slot).is_some() {
            return Err(Error::SlotOccupied);
        }
        Ok(slot)
    }

    /// `CapCopy` / `CapMint`.
    pub fn cap_derive(
        &mut self,
        cspace: Option<ObjId>,
        src: u64,
        dst: u64,
        mint: Option<(u64, u64)>,
    ) -> Result<(), Error> {
        let s = self.lookup(cspace, src)?;
        let d = self.empty_slot(cspace, dst)?;
        match mint {
            None => self.cdt.copy(s.slot, d),
            Some((rights, badge)) => {
                let rights = Rights::from_bits(rights).ok_or(Error::InvalidArgument)?;
                self.cdt.mint(s.slot, d, rights, badge)
            }
        }
        .map_err(cdt_error)
    }

    /// `CapMove`: the capability, and its mapping if it is a mapped frame, move to `dst`.
    pub fn cap_move(&mut self, cspace: Option<ObjId>, src: u64, dst: u64) -> Result<(), Error> {
        let s = self.lookup(cspace, src)?;
        let d = self.empty_slot(cspace, dst)?;
        self.move_slot(s.slot, d)
    }

    /// Moves the capability in `src` to the empty slot `d`, with its place in the derivation
    /// tree and the mapping it tracks (`CapMove`, and IPC that moves a capability).
    pub fn move_slot(&mut self, src: Slot, d: Slot) -> Result<(), Error> {
        self.cdt.move_cap(src, d).map_err(cdt_error)?;
        if let Some(m) = self.mappings.remove(&src) {
            self.mappings.insert(d, m);
            if let Some(v) = self.objects.vspace_mut(m.vspace) {
                v.mapped.insert(m.va, d);
            }
        }
        Ok(())
    }

    /// `CapDelete`.
    pub fn cap_delete(&mut self, cspace: Option<ObjId>, cptr: u64) -> Result<(), Error> {
        let f = self.lookup(cspace, cptr)?;
        let removed = self.cdt.delete(f.slot);
        self.reap(removed);
        Ok(())
    }

    /// `CapRevoke` by thread `me`: returns how many capabilities went, or `None` if it stopped
    /// for a pending interrupt (the caller redoes the call; what it removed so far is counted in
    /// its TCB). Works in steps of about [`REVOKE_STEP`] tree links, each finished (capabilities
    /// unmapped, objects destroyed) before the next: one step is the longest the kernel runs
    /// with an interrupt waiting.
    pub fn cap_revoke(&mut self, cspace: Option<ObjId>, cptr: u64, me: ObjId) -> Result<Option<u64>, Error> {
        let f = match self.lookup(cspace, cptr) {
            Ok(f) => f,
            Err(e) => {
                // A redo whose slot went meanwhile ends here: its count must not reach a later
                // call's result.
                if let Some(t) = self.objects.tcb_mut(me) {
                    t.revoked = 0;
                }
                return Err(e);
            }
        };
        let mut count = 0u64;
        // One buffer for all steps: a step removes at most REVOKE_STEP capabilities.
        let mut removed = Removed { caps: Vec::with_capacity(REVOKE_STEP), dead_objects: Vec::new() };
        // Destroying what a step killed is budgeted too (a step can kill many CNodes, each with
        // thousands of slots): a redo first finishes what is queued.
        self.drain_budgeted = true;
        self.drain_reap_queue();
        let done = self.reap_queue.is_empty()
            && loop {
                let done = self.cdt.revoke_some(f.slot, REVOKE_STEP, &mut removed);
                count += removed.caps.len() as u64;
                self.reap_all(&mut removed);
                if done && self.reap_queue.is_empty() {
                    break true;
                }
                if !self.reap_queue.is_empty() || cpu::interrupt_pending() {
                    break false;
                }
            };
        self.drain_budgeted = false;
        // The caller may have revoked its own thread (then nobody reads the count).
        let Some(t) = self.objects.tcb_mut(me) else { return Ok(Some(count)) };
        t.revoked = t.revoked.wrapping_add(count);
        Ok(done.then(|| core::mem::take(&mut t.revoked)))
    }

    /// `CapInfo`: (type | rights << 8, badge, object id, descendants, parent index, waiting,
    /// thread state or authority).
    pub fn cap_info(&self, cspace: Option<ObjId>, cptr: u64) -> Result<[u64; 7], Error> {
        let f = self.lookup(cspace, cptr)?;
        let object = self.objects.get(f.obj).ok_or(Error::InvalidCapability)?;
        let kind = object.kind();
        // What a test may order its steps by (see `abi::Syscall::CapInfo`).
        let waiting = match object {
            Object::Endpoint(e) if e.senders => e.queue.len() as u64,
            Object::Notification(n) => n.waiters.len() as u64,
            Object::Tcb(t) => u64::from(t.reply_to.is_some()),
            _ => 0,
        };
        let detail = match object {
            Object::Tcb(t) => t.state.abi() as u64,
            Object::Authority(a) => *a as u64,
            _ => 0,
        };
        let parent = match self.cdt.parent(f.slot) {
            Some(p) if p >> 16 == f.slot >> 16 => u64::from(slot_index(p)),
            _ => u64::MAX,
        };
        let descendants = self.cdt.descendants(f.slot).take(abi::CAP_INFO_DESCENDANTS_MAX).count() as u64;
        Ok([kind as u64 | u64::from(f.cap.rights.0) << 8, f.cap.badge, f.obj.0, descendants, parent, waiting, detail])
    }

    /// Puts the original capability to a new object in `slot`, as a child of `parent` (the
    /// quota capability it was made from) or as a root (boot objects).
    pub fn install(&mut self, slot: Slot, obj: ObjId, parent: Option<Slot>) {
        let cap = Cap { object: obj.0, rights: Rights::ALL, badge: 0 };
        let r = match parent {
            Some(p) => self.cdt.insert_child(p, slot, cap),
            None => self.cdt.insert_original(slot, cap),
        };
        r.expect("slot checked empty and parent present");
    }

    /// `Create`: makes an object charged to quota `q` and puts its capability in `dst`.
    #[expect(clippy::too_many_arguments, reason = "the syscall's five arguments, each named")]
    pub fn create(
        &mut self,
        cspace: Option<ObjId>,
        q: u64,
        kind: u64,
        dst: u64,
        size: u64,
        bytes: u64,
        core: usize,
    ) -> Result<(), Error> {
        let quota = self.lookup_typed(cspace, q, ObjectType::Quota, Rights::WRITE)?;
        let kind = ObjectType::from_number(kind).ok_or(Error::InvalidArgument)?;
        let dst = self.empty_slot(cspace, dst)?;
        let (f, b) = cost(kind, size, bytes)?;
        {
            let qq = self.objects.quota_mut(quota.obj).ok_or(Error::InvalidCapability)?;
            if qq.frames < f || qq.bytes < b {
                return Err(Error::NoMemory);
            }
        }
        // A full object table grows by a chunk (each object's charge covers its entry); a heap
        // with no block for it is an error, not a failed allocation.
        if self.objects.needs_chunk() && !self.objects.grow() {
            return Err(Error::NoMemory);
        }
        let object = match kind {
            ObjectType::Quota => Object::Quota(Quota { frames: size, bytes }),
            ObjectType::Tcb => Object::Tcb(Box::new(Tcb::new(core))),
            ObjectType::Endpoint => Object::Endpoint(Endpoint::default()),
            ObjectType::Notification => Object::Notification(Notification::default()),
            ObjectType::CNode => Object::CNode(CNode { radix: size as u8 }),
            ObjectType::VSpace => Object::VSpace(Box::new(VSpace::new(&mut frames::alloc_zeroed)?)),
            ObjectType::Frame => Object::Frame(Frame::new(frames::alloc_zeroed().ok_or(Error::NoMemory)?)),
            ObjectType::Authority => return Err(Error::InvalidArgument), // refused by `cost` already
        };
        let qq = self.objects.quota_mut(quota.obj).expect("checked above");
        qq.frames -= f;
        qq.bytes -= b;
        self.objects.entry_mut(quota.obj).expect("live").holds += 1;
        let obj = self.objects.insert(object, Some(Charge { quota: quota.obj, frames: f, bytes: b }));
        if kind == ObjectType::CNode {
            // Its slots: derivation-tree nodes, paid for by the charge above. The heap may have
            // no block that big even so: then the CNode is unmade and the quota refunded.
            if self.cdt.add_space(u64::from(obj.index()), 1 << size).is_err() {
                self.objects.remove(obj);
                let qq = self.objects.quota_mut(quota.obj).expect("live");
                qq.frames += f;
                qq.bytes += b;
                self.objects.entry_mut(quota.obj).expect("live").holds -= 1;
                return Err(Error::NoMemory);
            }
        }
        self.install(dst, obj, Some(quota.slot));
        Ok(())
    }

    /// `QuotaInfo`.
    pub fn quota_info(&mut self, cspace: Option<ObjId>, q: u64) -> Result<(u64, u64), Error> {
        let f = self.lookup_typed(cspace, q, ObjectType::Quota, Rights::READ)?;
        let q = self.objects.quota_mut(f.obj).ok_or(Error::InvalidCapability)?;
        Ok((q.frames, q.bytes))
    }

    /// `FrameMap`.
    pub fn frame_map(
        &mut self,
        cspace: Option<ObjId>,
        frame: u64,
        vspace: u64,
        va: u64,
        rights: u64,
    ) -> Result<(), Error> {
        let fr = self.lookup_typed(cspace, frame, ObjectType::Frame, Rights::NONE)?;
        let vs = self.lookup_typed(cspace, vspace, ObjectType::VSpace, Rights::WRITE)?;
        let want = Rights::from_bits(rights).ok_or(Error::InvalidArgument)?;
        let access = match want {
            r if r == Rights::READ => Access::Read,
            r if r == Rights::READ | Rights::WRITE => Access::ReadWrite,
            r if r == Rights::READ | Rights::EXEC => Access::ReadExec,
            _ => return Err(Error::InvalidArgument), // writable+executable, or nothing readable
        };
        if !want.within(fr.cap.rights) {
            return Err(Error::InsufficientRights);
        }
        if self.mappings.contains_key(&fr.slot) {
            return Err(Error::Busy);
        }
        self.map_slot(fr.slot, vs.obj, va, access)
    }

    /// Maps the frame capability in `slot` into `vs` at `va`; page tables are charged to the
    /// VSpace's quota (boot VSpaces take them from the frame allocator directly).
    pub fn map_slot(&mut self, slot: Slot, vs: ObjId, va: u64, access: Access) -> Result<(), Error> {
        let frame = ObjId(self.cdt.get(slot).ok_or(Error::InvalidCapability)?.object);
        let f = self.objects.frame_mut(frame).ok_or(Error::WrongType)?;
        let (writable, executable) = (access == Access::ReadWrite, access == Access::ReadExec);
        // W^X per frame, not per mapping: no two capabilities can make one frame writable at
        // one address and executable at another.
        if (writable && f.executable > 0) || (executable && f.writable > 0) {
            return Err(Error::WriteExecConflict);
        }
        let pa = f.pa;
        if executable && !f.code_synced {
            // Before the page table entry exists, so no core can fetch from it earlier.
            cache::sync_instructions(crate::mm::phys_to_virt(pa), abi::PAGE_SIZE as usize);
            f.code_synced = true;
        }
        let charge = self.objects.entry(vs).ok_or(Error::InvalidCapability)?.charge;
        if let Some(c) = charge {
            // The mapping's records are paid by the VSpace's quota while it exists.
            if self.objects.quota_mut(c.quota).is_none_or(|q| q.bytes < charge::MAPPING_BYTES) {
                return Err(Error::NoMemory);
            }
        }
        // At most three tables can be needed below the root.
        let budget = match charge {
            Some(c) => self.objects.quota_mut(c.quota).map_or(0, |q| q.frames.min(3)),
            None => 3,
        };
        let mut used = 0;
        let mut alloc = || {
            if used == budget {
                return None;
            }
            let f = frames::alloc_zeroed();
            used += u64::from(f.is_some());
            f
        };
        let v = self.objects.vspace_mut(vs).ok_or(Error::WrongType)?;
        let r = v.map(va, pa, access, slot, &mut alloc);
        if let Some(c) = charge {
            if let Some(q) = self.objects.quota_mut(c.quota) {
                q.frames -= used;
            }
            if let Some(e) = self.objects.entry_mut(vs).and_then(|e| e.charge.as_mut()) {
                e.frames += used;
            }
        }
        r?;
        if let Some(c) = charge {
            if let Some(q) = self.objects.quota_mut(c.quota) {
                q.bytes -= charge::MAPPING_BYTES;
            }
            if let Some(e) = self.objects.entry_mut(vs).and_then(|e| e.charge.as_mut()) {
                e.bytes += charge::MAPPING_BYTES;
            }
        }
        let f = self.objects.frame_mut(frame).expect("checked above");
        if writable {
            f.writable += 1;
            f.code_synced = false;
        }
        if executable {
            f.executable += 1;
        }
        self.mappings.insert(slot, Mapping { vspace: vs, va, frame, access });
        Ok(())
    }

    /// Forgets the mapping made through `slot` (the page-table entry is the caller's business),
    /// and the frame's count of writable or executable mappings with it.
    fn forget_mapping(&mut self, slot: Slot) -> Option<Mapping> {
        let m = self.mappings.remove(&slot)?;
        // The VSpace's quota gets the mapping's bytes back.
        if let Some(c) = self.objects.entry_mut(m.vspace).and_then(|e| e.charge.as_mut()) {
            c.bytes -= charge::MAPPING_BYTES;
            let q = c.quota;
            if let Some(q) = self.objects.quota_mut(q) {
                q.bytes += charge::MAPPING_BYTES;
            }
        }
        if let Some(f) = self.objects.frame_mut(m.frame) {
            match m.access {
                Access::ReadWrite => f.writable -= 1,
                Access::ReadExec => f.executable -= 1,
                Access::Read => {}
            }
        }
        Some(m)
    }

    /// `FrameUnmap`.
    pub fn frame_unmap(&mut self, cspace: Option<ObjId>, frame: u64) -> Result<(), Error> {
        let fr = self.lookup_typed(cspace, frame, ObjectType::Frame, Rights::NONE)?;
        self.unmap_slot(fr.slot);
        Ok(())
    }

    /// `VSpaceUnmap`: unmaps every capability mapping in `pages` pages from `va` of a VSpace,
    /// with one cross-core sync for all of them (like `munmap` of a range).
    pub fn vspace_unmap(&mut self, cspace: Option<ObjId>, vspace: u64, va: u64, pages: u64) -> Result<u64, Error> {
        let vs = self.lookup_typed(cspace, vspace, ObjectType::VSpace, Rights::WRITE)?;
        let end = pages.checked_mul(abi::PAGE_SIZE).and_then(|len| va.checked_add(len));
        let end = match end {
            Some(end) if va.is_multiple_of(abi::PAGE_SIZE) && end <= abi::USER_VA_END => end,
            _ => return Err(Error::InvalidArgument),
        };
        let v = self.objects.vspace(vs.obj).ok_or(Error::WrongType)?;
        let slots: Vec<Slot> = v.mapped.range(va..end).map(|(_, s)| *s).collect();
        let mut stale = Vec::new();
        for &s in &slots {
            self.unmap_slot_deferred(s, &mut stale);
        }
        self.shootdown_many(&stale);
        Ok(slots.len() as u64)
    }

    /// Removes the mapping made through capability `slot`; when this returns no core can
    /// reach the page through it (the cross-core sync ran for that address space).
    fn unmap_slot(&mut self, slot: Slot) {
        let mut stale = Vec::new();
        self.unmap_slot_deferred(slot, &mut stale);
        self.shootdown_many(&stale);
    }

    /// Removes the mapping made through capability `slot` from its page tables and adds its
    /// address space to `stale`: cores may still reach the page through their TLBs until the
    /// caller runs [`Kernel::shootdown_many`] on `stale` — before the frame can be freed.
    fn unmap_slot_deferred(&mut self, slot: Slot, stale: &mut Vec<ObjId>) {
        if let Some(m) = self.forget_mapping(slot) {
            if self.objects.vspace_mut(m.vspace).is_some_and(|v| v.unmap(m.va)) && !stale.contains(&m.vspace) {
                stale.push(m.vspace);
            }
        }
    }

    /// Finishes a removal from the derivation tree: unmaps removed frame capabilities, then
    /// destroys the objects whose last capability went (once nothing else holds them).
    pub fn reap(&mut self, mut removed: Removed) {
        self.reap_all(&mut removed);
    }

    /// [`Kernel::reap`], leaving `removed` empty (its buffers kept for reuse).
    pub fn reap_all(&mut self, removed: &mut Removed) {
        // One sync for all the address spaces the removed capabilities were mapped in, before
        // any of their frames is freed below.
        let mut stale = Vec::new();
        // Only frame capabilities can be mapped; a revoke mostly removes runs of copies of one
        // object, so its kind is looked up once per run.
        let mut last = (u64::MAX, false);
        for (slot, cap) in &removed.caps {
            if cap.object != last.0 {
                last = (cap.object, matches!(self.objects.get(ObjId(cap.object)), Some(Object::Frame(_))));
            }
            if last.1 {
                self.unmap_slot_deferred(*slot, &mut stale);
            }
        }
        self.shootdown_many(&stale);
        removed.caps.clear();
        for obj in removed.dead_objects.drain(..) {
            let id = ObjId(obj);
            let Some(e) = self.objects.entry_mut(id) else { continue };
            e.capless = true;
            if matches!(e.object, Some(Object::Tcb(_))) {
                // A thread with no capability left can never be resumed: stop it now (a core
                // running it lets go on its next kernel entry, and then the thread is freed).
                self.stop(id);
            }
            self.reap_queue.push(id);
        }
        self.drain_reap_queue();
    }

    /// Destroys every queued object that is capless and unheld. Destruction can release other
    /// objects; they join the queue (no recursion, so no depth a user could grow). With
    /// `drain_budgeted` set (a revoke, and every kernel exit), it stops between two objects when
    /// an interrupt is pending: what is left stays queued (capless objects, counted as dying)
    /// and the next budgeted drain goes on — the revoke's redo, or any core leaving the kernel.
    pub fn drain_reap_queue(&mut self) {
        if self.reaping {
            return;
        }
        self.reaping = true;
        while let Some(id) = self.reap_queue.pop() {
            let ready = self.objects.entry(id).is_some_and(|e| e.capless && e.holds == 0);
            if ready {
                self.destroy(id);
            }
            if self.drain_budgeted && cpu::interrupt_pending() {
                break;
            }
        }
        self.reaping = false;
    }

    fn destroy(&mut self, id: ObjId) {
        // Tear down what needs the object still in place.
        match self.objects.get(id) {
            Some(Object::Tcb(_)) => {
                self.stop(id);
                self.forget_fp(id);
                let t = self.objects.tcb_mut(id).expect("present");
                let (cspace, vspace) = (t.cspace.take(), t.vspace.take());
                self.drop_reply_target(id, "server or fault handler went away");
                for held in [cspace, vspace].into_iter().flatten() {
                    release_hold(self, held);
                }
            }
            Some(Object::Endpoint(_)) => {
                let q = core::mem::take(&mut self.objects.endpoint_mut(id).expect("present").queue);
                for t in q {
                    self.partner_gone(t, "fault endpoint was destroyed");
                }
            }
            Some(Object::Notification(_)) => {
                let q = core::mem::take(&mut self.objects.notification_mut(id).expect("present").waiters);
                for t in q {
                    self.complete(t, Error::PeerGone as u64, [0; 7]);
                }
            }
            Some(Object::CNode(c)) => {
                let (first, end) = (slot_id(id, 0), slot_id(id, 0) + (1 << c.radix));
                // All slots first, then one reap: one cross-core sync for every mapping they
                // made, not one per slot.
                let mut all = Removed::default();
                let mut from = first;
                while let Some(s) = self.cdt.next_occupied(from..end) {
                    let removed = self.cdt.delete(s);
                    all.caps.extend(removed.caps);
                    all.dead_objects.extend(removed.dead_objects);
                    from = s + 1;
                }
                self.reap(all);
                let emptied = self.cdt.remove_space(u64::from(id.index()));
                debug_assert!(emptied, "a destroyed CNode's slots were all deleted");
            }
            Some(Object::VSpace(v)) => {
                let mapped: Vec<Slot> = v.mapped.values().copied().collect();
                for s in mapped {
                    self.forget_mapping(s);
                }
                self.shootdown(id); // no TLB keeps its ASID before tables and ASID are reused
            }
            Some(Object::Frame(_) | Object::Quota(_) | Object::Authority(_)) | None => {}
        }
        let Some((object, charge)) = self.objects.remove(id) else { return };
        match object {
            Object::VSpace(v) => {
                crate::debug::forget_asid(v.asid());
                v.destroy()
            }
            Object::Frame(f) => frames::free(f.pa, 1),
            _ => {}
        }
        if let Some(c) = charge {
            if let Some(q) = self.objects.quota_mut(c.quota) {
                q.frames += c.frames;
                q.bytes += c.bytes;
            }
            release_hold(self, c.quota);
        }
    }

    /// Drops the reply target of thread `server`: a caller still waiting for its reply gets
    /// `PeerGone` (a faulted one stays stopped). One taken over since (stopped, then waiting for
    /// someone else) is left alone.
    pub fn drop_reply_target(&mut self, server: ObjId, why: &str) {
        let Some((caller, _)) = self.objects.tcb_mut(server).and_then(|t| t.reply_to.take()) else { return };
        if self.objects.tcb(caller).is_some_and(|c| c.state == State::BlockedReply(server)) {
            self.partner_gone(caller, why);
        }
    }

    /// Thread `id` waited on an IPC partner that is gone: in the queue of an endpoint being
    /// destroyed (`why` = "fault endpoint was destroyed"), or for the reply of a thread being
    /// destroyed. Its syscall fails with `PeerGone`; a thread that was reporting a fault has
    /// nobody to resume it and stays stopped.
    fn partner_gone(&mut self, id: ObjId, why: &str) {
        let Some(t) = self.objects.tcb_mut(id) else { return };
        t.send = Default::default();
        if t.fault.take().is_some() {
            t.state = State::Inactive;
            t.exit_code = abi::EXIT_KILLED;
            log::warn!("thread {:#x}: its {why}; thread stays stopped", id.0);
        } else {
            self.complete(id, Error::PeerGone as u64, [0; 7]);
        }
    }
}

/// Drops one kernel hold on `id`; destroys it if that was the last thing keeping it.
pub fn release_hold(k: &mut Kernel, id: ObjId) {
    let Some(e) = k.objects.entry_mut(id) else { return };
    e.holds -= 1;
    if e.capless && e.holds == 0 {
        k.reap_queue.push(id);
        k.drain_reap_queue();
    }
}
