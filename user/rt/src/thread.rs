//! Threads in the root task's address space, made from TCB capabilities.
//!
//! [`spawn`] (or [`Builder`]) creates, from the boot quota, a TCB, a stack of [`STACK_PAGES`]
//! frames under an unmapped guard page, an IPC buffer frame and a notification for
//! [`JoinHandle::join`]. The new thread starts in the runtime's trampoline, which calls `entry(arg)`,
//! records the result in its IPC buffer and signals the notification.
//!
//! # Thread-local words
//!
//! `TPIDR_EL0` holds the thread's IPC buffer address. The runtime keeps three words in the
//! buffer's `user` area ([`abi::IpcBuffer::user`]), which the kernel never touches: the join
//! notification, how the thread ended and its result (written by the trampoline or the panic handler).

use crate::cap::{Cap, Frame, Notification, Owned, Tcb, ROOT_CNODE, ROOT_VSPACE};
use crate::sys;
use crate::vm::Range;
use abi::{CPtr, Error, IpcBuffer, Registers, Rights, PAGE_SIZE};

/// A thread's entry point: called with the spawn argument; its result is what `join` returns.
pub type Entry = extern "C" fn(u64) -> u64;

/// Pages of a thread's stack (16 KiB).
pub const STACK_PAGES: u64 = 4;

/// Index in [`IpcBuffer::user`] of the join notification's [`CPtr`] plus 1 (0: none).
const TLS_JOIN: usize = 0;
/// Index in [`IpcBuffer::user`] of how the thread ended: [`RUNNING`], [`RETURNED`], [`PANICKED`].
const TLS_STATE: usize = 1;
/// Index in [`IpcBuffer::user`] of the entry's result.
const TLS_RESULT: usize = 2;

const RUNNING: u64 = 0;
/// The entry returned; its result is in [`TLS_RESULT`].
pub(crate) const RETURNED: u64 = 1;
/// The thread panicked.
pub(crate) const PANICKED: u64 = 2;

/// Where every thread the runtime starts begins: `x0` = entry, `x1` = its argument.
extern "C" fn trampoline(entry: Entry, arg: u64) -> ! {
    let result = entry(arg);
    finish(RETURNED, result);
    sys::thread_exit(0)
}

/// Records in the calling thread's IPC buffer that it ended (`state`, `result`) and signals its
/// join notification, if it has one. Used by the trampoline and the panic handler.
pub(crate) fn finish(state: u64, result: u64) {
    let buf = sys::ipc_buffer();
    if buf.is_null() {
        return;
    }
    // SAFETY: a non-zero TPIDR_EL0 is this thread's IPC buffer, mapped read-write (runtime
    // invariant, see `sys::ipc_buffer`). Volatile, because the joining thread reads these words
    // through another mapping after the signal below.
    let join = unsafe {
        core::ptr::addr_of_mut!((*buf).user[TLS_RESULT]).write_volatile(result);
        core::ptr::addr_of_mut!((*buf).user[TLS_STATE]).write_volatile(state);
        core::ptr::addr_of!((*buf).user[TLS_JOIN]).read_volatile()
    };
    if join != 0 {
        let _ = sys::signal(CPtr(join - 1));
    }
}

/// Why [`JoinHandle::join`] has no result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinError {
    /// The thread panicked.
    Panicked,
    /// The thread ended without reporting (e.g. it called `thread_exit` itself).
    NoResult,
    /// A syscall failed while waiting.
    Kernel(Error),
}

/// Writes the runtime's thread-local words into a new thread's IPC buffer, seen at `view`.
///
/// # Safety
///
/// `view` must be a read-write mapping of the new thread's IPC buffer page that nothing else
/// uses until the thread starts.
pub(crate) unsafe fn init_tls(view: u64, join: CPtr) {
    let buf = view as *mut IpcBuffer;
    // SAFETY: the caller guarantees `view` is a private read-write mapping of one page.
    unsafe {
        (*buf).user[TLS_JOIN] = join.0 + 1;
        (*buf).user[TLS_STATE] = RUNNING;
        (*buf).user[TLS_RESULT] = 0;
    }
}

/// How the thread whose IPC buffer is mapped at `view` ended, once its join notification fired.
///
/// # Safety
///
/// `view` must be a mapping of that thread's IPC buffer that stays mapped during the call.
pub(crate) unsafe fn read_exit(view: u64) -> Result<u64, JoinError> {
    let buf = view as *const IpcBuffer;
    // SAFETY: the caller guarantees the mapping; the thread wrote these words before it
    // signalled, and the kernel's Signal/Wait orders the two.
    let (state, result) = unsafe {
        (
            core::ptr::addr_of!((*buf).user[TLS_STATE]).read_volatile(),
            core::ptr::addr_of!((*buf).user[TLS_RESULT]).read_volatile(),
        )
    };
    match state {
        RETURNED => Ok(result),
        PANICKED => Err(JoinError::Panicked),
        _ => Err(JoinError::NoResult),
    }
}

/// The first registers of a runtime thread: start in the trampoline with `entry(arg)`.
pub(crate) fn start_registers(entry: Entry, arg: u64, sp: u64, ipc_buffer: u64) -> Registers {
    let mut regs = Registers {
        sp,
        pc: trampoline as extern "C" fn(Entry, u64) -> ! as usize as u64,
        tpidr: ipc_buffer,
        ..Registers::default()
    };
    regs.x[0] = entry as usize as u64;
    regs.x[1] = arg;
    regs
}

/// Options for a new thread.
#[derive(Clone, Copy, Debug)]
pub struct Builder {
    pub(crate) core: Option<usize>,
    pub(crate) fault_ep: CPtr,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A thread on whichever core the kernel picks, without a fault endpoint.
    pub fn new() -> Builder {
        Builder { core: None, fault_ep: CPtr::NONE }
    }

    /// Pins the thread to `core`.
    pub fn core(mut self, core: usize) -> Builder {
        self.core = Some(core);
        self
    }

    /// Sends the thread's faults to the endpoint at `ep` in the thread's CSpace: the root task's
    /// for [`Builder::spawn`], the process's for [`crate::process::Process::start`].
    pub fn fault_endpoint(mut self, ep: CPtr) -> Builder {
        self.fault_ep = ep;
        self
    }

    /// Starts `entry(arg)` in a new thread.
    pub fn spawn(self, entry: Entry, arg: u64) -> Result<JoinHandle, Error> {
        let stack_range = Range::alloc(STACK_PAGES + 1)?;
        let mut stack = [const { None }; STACK_PAGES as usize];
        for (i, page) in stack.iter_mut().enumerate() {
            let frame = Owned::<Frame>::create(0)?;
            // The lowest page of the range stays unmapped: a guard below the stack.
            frame.map(ROOT_VSPACE, stack_range.va + (i as u64 + 1) * PAGE_SIZE, Rights::READ | Rights::WRITE)?;
            *page = Some(frame);
        }
        let ipc_range = Range::alloc(1)?;
        let ipc = Owned::<Frame>::create(0)?;
        ipc.map(ROOT_VSPACE, ipc_range.va, Rights::READ | Rights::WRITE)?;
        let join = Owned::<Notification>::create(0)?;
        // SAFETY: the IPC buffer was just mapped read-write at `ipc_range.va` and its thread
        // does not exist yet.
        unsafe { init_tls(ipc_range.va, join.cptr()) };
        let tcb = Owned::<Tcb>::create(0)?;
        let handle = JoinHandle { tcb, join, _ipc: ipc, _stack: stack, ipc_range, stack_range, finished: false };
        let tcb = handle.tcb.cap();
        tcb.configure(ROOT_CNODE, ROOT_VSPACE, handle.ipc_range.va, self.fault_ep)?;
        tcb.write_registers(&start_registers(entry, arg, handle.stack_range.end(), handle.ipc_range.va))?;
        if let Some(core) = self.core {
            tcb.set_affinity(core)?;
        }
        tcb.resume()?;
        Ok(handle)
    }
}

/// Starts `entry(arg)` in a new thread, on `core` if given.
pub fn spawn(entry: Entry, arg: u64, core: Option<usize>) -> Result<JoinHandle, Error> {
    let b = Builder::new();
    match core {
        Some(c) => b.core(c).spawn(entry, arg),
        None => b.spawn(entry, arg),
    }
}

/// A running thread. [`JoinHandle::join`] waits for it; dropping the handle stops the thread
/// (suspend, then delete its TCB) and frees everything it was given.
pub struct JoinHandle {
    // Fields drop in this order: the TCB goes before the memory it runs on.
    tcb: Owned<Tcb>,
    join: Owned<Notification>,
    /// Held to be unmapped and deleted when the handle drops.
    _ipc: Owned<Frame>,
    /// Held to be unmapped and deleted when the handle drops.
    _stack: [Option<Owned<Frame>>; STACK_PAGES as usize],
    ipc_range: Range,
    stack_range: Range,
    finished: bool,
}

impl JoinHandle {
    /// The thread's TCB (to suspend, resume or read registers).
    pub fn tcb(&self) -> Cap<Tcb> {
        self.tcb.cap()
    }

    /// The thread's id, as it would read it from [`abi::InfoKey::ThreadId`].
    pub fn id(&self) -> u64 {
        self.tcb.id().unwrap_or(0)
    }

    /// True once the thread has returned from its entry (or panicked). Never blocks.
    pub fn is_finished(&mut self) -> bool {
        if !self.finished {
            self.finished = self.join.poll().is_ok_and(|w| w != 0);
        }
        self.finished
    }

    /// Waits for the thread to return, frees it, and gives its entry's result.
    pub fn join(mut self) -> Result<u64, JoinError> {
        if !self.finished {
            self.join.wait().map_err(JoinError::Kernel)?;
            self.finished = true;
        }
        // SAFETY: `ipc_range` maps the thread's IPC buffer (`self._ipc`) until `self` drops.
        unsafe { read_exit(self.ipc_range.va) }
    }
}

impl Drop for JoinHandle {
    fn drop(&mut self) {
        // Stop the thread before its stack goes; deleting the TCB then ends it for good.
        let _ = self.tcb.suspend();
    }
}
