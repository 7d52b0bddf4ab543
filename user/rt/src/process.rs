//! A second address space: a fork-like clone of the root task, with its own VSpace and CNode.
//!
//! [`Process::new`] maps the root task's image into a new VSpace at the same addresses: text
//! and read-only data are shared (copies of the boot frame capabilities), while every writable
//! page (data, bss) gets a new frame holding a snapshot of the root task's page. The root
//! task's stack is not copied: the process's thread gets its own stack, ending at
//! [`abi::USER_STACK_TOP`], and its IPC buffer at [`IPC_BUFFER_VA`]. So the process runs the
//! same code, sees the statics as they were at the clone, and shares no writable memory.
//!
//! The process's CNode holds the capabilities for its memory and thread; slots
//! `1..`[`USER_SLOTS`] are the caller's, to put capabilities in with [`Process::give`] before
//! [`Process::start`]. Code running in the process names them `CPtr::root(index)`; the root
//! task names them [`Process::slot`]. Dropping a [`Process`] stops its thread and deletes
//! everything in it.
//!
//! Code running in a process may use syscalls, typed capabilities in its own CNode (`println!`
//! only if it was given a console authority and told where: `sys::set_authority`)
//! and IPC, but not the root task's slot or address allocators ([`crate::cspace`],
//! [`crate::vm`]): those describe the root task's CNode and VSpace.

use crate::cap::{CNode, Cap, Frame, Notification, Owned, Tcb, VSpace, BOOT_QUOTA, ROOT_VSPACE};
use crate::cspace;
use crate::thread::{self, Builder, Entry, JoinError, STACK_PAGES};
use crate::vm::Range;
use abi::{
    boot_slot, CPtr, Error, ObjectType, Rights, BOOT_INFO_MAX_FRAMES, PAGE_SIZE, USER_STACK_SIZE, USER_STACK_TOP,
};

/// Slots `1..USER_SLOTS` of a process's CNode are for the caller; the runtime uses the rest.
pub const USER_SLOTS: u32 = 16;
/// Where the process's thread has its IPC buffer.
pub const IPC_BUFFER_VA: u64 = abi::BOOT_IPC_BUFFER_VA;
/// Smallest CNode radix a process gets.
const MIN_RADIX: u64 = 8;

/// A cloned address space, with at most one thread (see the module documentation).
pub struct Process {
    // Dropped in this order, after `Drop::drop` has stopped the thread and emptied the CNode.
    tcb: Option<Owned<Tcb>>,
    join: Option<Owned<Notification>>,
    /// The thread's IPC buffer frame, also mapped in the root task, to set up and read its
    /// thread-local words.
    ipc_view: Option<(Owned<Frame>, Range)>,
    cnode: Owned<CNode>,
    vspace: Owned<VSpace>,
    /// Slots of the CNode in use by the runtime: `USER_SLOTS..next_slot`.
    next_slot: u32,
    slots: u32,
    started: bool,
    finished: bool,
}

impl Process {
    /// A new address space holding a snapshot of the root task's image (no thread yet).
    ///
    /// Writable pages are copied word by word while other threads of the root task may run:
    /// a static they change meanwhile may be copied before or after the change.
    pub fn new() -> Result<Process, Error> {
        let info = cspace::boot_info();
        let frames = info.image_frames.min(BOOT_INFO_MAX_FRAMES as u64);
        let needed = u64::from(USER_SLOTS) + frames + STACK_PAGES + 2;
        let radix = (MIN_RADIX..=abi::CNODE_MAX_RADIX).find(|r| 1 << r >= needed).ok_or(Error::NoMemory)?;
        let mut p = Process {
            tcb: None,
            join: None,
            ipc_view: None,
            cnode: Owned::create(radix)?,
            vspace: Owned::create(0)?,
            next_slot: USER_SLOTS,
            slots: 1 << radix,
            started: false,
            finished: false,
        };
        let window = Range::alloc(1)?;
        let stack = USER_STACK_TOP - USER_STACK_SIZE..USER_STACK_TOP;
        for (i, &entry) in info.frame_va[..frames as usize].iter().enumerate() {
            let va = entry & !(PAGE_SIZE - 1);
            let rights = Rights((entry & u64::from(Rights::ALL.0)) as u8);
            if stack.contains(&va) {
                continue;
            }
            let index = p.take_slot()?;
            let frame = Cap::<Frame>::new(p.slot(index));
            if rights.has(Rights::WRITE) {
                BOOT_QUOTA.create::<Frame>(frame.cptr(), 0)?;
                copy_page(frame, va, &window)?;
            } else {
                Cap::<Frame>::new(CPtr::root(boot_slot::IMAGE_FRAMES + i as u32)).copy_to(frame.cptr())?;
            }
            frame.map(p.vspace.cap(), va, rights)?;
        }
        Ok(p)
    }

    /// The process's CNode (to give it a copy of its own, e.g. for configuring threads).
    pub fn cnode(&self) -> Cap<CNode> {
        self.cnode.cap()
    }

    /// The process's VSpace.
    pub fn vspace(&self) -> Cap<VSpace> {
        self.vspace.cap()
    }

    /// The process's thread, once started.
    pub fn tcb(&self) -> Option<Cap<Tcb>> {
        self.tcb.as_ref().map(|t| t.cap())
    }

    /// The thread's result if it has returned, without waiting (`None`: still running, or
    /// stopped without returning, e.g. by a fault).
    pub fn try_join(&mut self) -> Option<Result<u64, JoinError>> {
        if !self.finished {
            let join = self.join.as_ref()?;
            if join.poll().ok()? == 0 {
                return None;
            }
            self.finished = true;
        }
        Some(self.join())
    }

    /// The root task's name for slot `index` of the process's CNode.
    pub fn slot(&self, index: u32) -> CPtr {
        let (_, cnode) = self.cnode.cptr().split();
        CPtr::in_cnode(cnode, index)
    }

    /// Copies `cap` into the process's slot `index` (`1..USER_SLOTS`).
    pub fn give<T>(&self, cap: Cap<T>, index: u32) -> Result<(), Error> {
        self.check_user_slot(index)?;
        cap.copy_to(self.slot(index)).map(drop)
    }

    /// Mints `cap` into the process's slot `index` with `rights` and `badge`.
    pub fn give_minted<T>(&self, cap: Cap<T>, index: u32, rights: Rights, badge: u64) -> Result<(), Error> {
        self.check_user_slot(index)?;
        cap.mint_to(self.slot(index), rights, badge).map(drop)
    }

    fn check_user_slot(&self, index: u32) -> Result<(), Error> {
        if (1..USER_SLOTS).contains(&index) {
            Ok(())
        } else {
            Err(Error::InvalidArgument)
        }
    }

    /// The next runtime slot of the CNode.
    fn take_slot(&mut self) -> Result<u32, Error> {
        if self.next_slot >= self.slots {
            return Err(Error::NoMemory);
        }
        self.next_slot += 1;
        Ok(self.next_slot - 1)
    }

    /// A new frame in a runtime slot, mapped read-write in the process at `va`.
    fn new_frame(&mut self, va: u64) -> Result<Cap<Frame>, Error> {
        let index = self.take_slot()?;
        let frame = BOOT_QUOTA.create::<Frame>(self.slot(index), 0)?;
        frame.map(self.vspace.cap(), va, Rights::READ | Rights::WRITE)?;
        Ok(frame)
    }

    /// Starts the process's thread at `entry(arg)`, with the core and fault endpoint of
    /// `options` (the fault endpoint named in the process's CSpace, e.g. `CPtr::root(index)`).
    /// [`Error::Busy`] if it was started before (even if that failed).
    pub fn start(&mut self, entry: Entry, arg: u64, options: &Builder) -> Result<(), Error> {
        if self.started {
            return Err(Error::Busy);
        }
        self.started = true;
        for page in 1..=STACK_PAGES {
            self.new_frame(USER_STACK_TOP - page * PAGE_SIZE)?;
        }
        let ipc = self.new_frame(IPC_BUFFER_VA)?;
        let view = Owned::copy_of(ipc)?;
        let range = Range::alloc(1)?;
        view.map(ROOT_VSPACE, range.va, Rights::READ | Rights::WRITE)?;
        let join = Owned::<Notification>::create(0)?;
        let join_index = self.take_slot()?;
        join.copy_to(self.slot(join_index))?;
        // SAFETY: `range` maps the new thread's IPC buffer read-write; the thread does not
        // exist yet.
        unsafe { thread::init_tls(range.va, CPtr::root(join_index)) };
        self.ipc_view = Some((view, range));
        self.join = Some(join);

        let tcb = Owned::<Tcb>::create(0)?;
        let cnode = Cap::<CNode>::new(self.cnode.cptr());
        tcb.configure(cnode, self.vspace.cap(), IPC_BUFFER_VA, options.fault_ep)?;
        tcb.write_registers(&thread::start_registers(entry, arg, USER_STACK_TOP, IPC_BUFFER_VA))?;
        if let Some(core) = options.core {
            tcb.set_affinity(core)?;
        }
        let tcb = self.tcb.insert(tcb);
        tcb.resume()
    }

    /// Waits for the thread to return and gives its entry's result (the process stays until
    /// dropped).
    pub fn join(&mut self) -> Result<u64, JoinError> {
        let (Some(join), Some((_, range))) = (&self.join, &self.ipc_view) else {
            return Err(JoinError::NoResult);
        };
        if !self.finished {
            join.wait().map_err(JoinError::Kernel)?;
            self.finished = true;
        }
        // SAFETY: `range` maps the thread's IPC buffer until `self.ipc_view` drops.
        unsafe { thread::read_exit(range.va) }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(tcb) = self.tcb.take() {
            let _ = tcb.suspend();
        }
        for index in 1..self.next_slot {
            let slot = self.slot(index);
            if let Ok(info) = crate::sys::cap_info(slot) {
                if info.kind == Some(ObjectType::Frame) {
                    let _ = crate::sys::frame_unmap(slot);
                }
                let _ = crate::sys::cap_delete(slot);
            }
        }
    }
}

/// Fills `frame` with a copy of the root task's page at `src`, through the window `window`.
fn copy_page(frame: Cap<Frame>, src: u64, window: &Range) -> Result<(), Error> {
    frame.map(ROOT_VSPACE, window.va, Rights::READ | Rights::WRITE)?;
    let words = (PAGE_SIZE / 8) as usize;
    for i in 0..words {
        // SAFETY: `src` is a page of the root task's image, mapped readable for good (boot
        // information); `window` maps `frame`, which nothing else uses yet, read-write. Both are
        // page-aligned, so every word is aligned.
        unsafe {
            let v = (src as *const u64).add(i).read_volatile();
            (window.va as *mut u64).add(i).write_volatile(v);
        }
    }
    frame.unmap()
}

/// Clones the root task ([`Process::new`]), copies each `(capability, index)` of `gifts` into
/// the process's slot `index`, and starts `entry(arg)` there, on `core` if given.
pub fn spawn_clone(entry: Entry, arg: u64, core: Option<usize>, gifts: &[(CPtr, u32)]) -> Result<Process, Error> {
    let mut p = Process::new()?;
    for &(cap, index) in gifts {
        p.give(Cap::<()>::new(cap), index)?;
    }
    let options = match core {
        Some(c) => Builder::new().core(c),
        None => Builder::new(),
    };
    p.start(entry, arg, &options)?;
    Ok(p)
}
