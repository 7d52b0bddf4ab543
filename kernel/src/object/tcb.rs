//! Thread control blocks.

use super::ObjId;
use crate::arch::{exceptions::UserContext, fpu::FpState};
use alloc::boxed::Box;

/// What a thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not running and not waiting: new, suspended, exited or killed.
    Inactive,
    /// In its core's run queue.
    Runnable,
    /// Running (or about to run) on its core.
    Running,
    /// Waiting in an endpoint's queue to send (its message is in its saved registers).
    BlockedSend(ObjId),
    /// Waiting in an endpoint's queue to receive.
    BlockedRecv(ObjId),
    /// Sent a `Call` (or faulted) that thread (the receiver) took, and waits for its reply. Only
    /// that thread's reply reaches it: a reply target left behind elsewhere (the caller was
    /// stopped and has called someone else since) finds the state naming another thread.
    BlockedReply(ObjId),
    /// Waiting for a notification.
    BlockedWait(ObjId),
    /// Waiting for a console byte.
    BlockedRead,
    /// Waiting for another thread to leave the core it runs on (suspend of a remote thread).
    BlockedStop(ObjId),
    /// In `Sleep` until the counter reaches this deadline, in its core's sleeper list.
    Sleeping(u64),
}

impl State {
    /// The state as the ABI reports it.
    pub fn abi(self) -> abi::ThreadState {
        use abi::ThreadState as T;
        match self {
            State::Inactive => T::Inactive,
            State::Runnable => T::Runnable,
            State::Running => T::Running,
            State::BlockedSend(_) => T::BlockedSend,
            State::BlockedRecv(_) => T::BlockedRecv,
            State::BlockedReply(_) => T::BlockedReply,
            State::BlockedWait(_) => T::BlockedWait,
            State::BlockedRead => T::BlockedRead,
            State::BlockedStop(_) => T::BlockedStop,
            State::Sleeping(_) => T::Sleeping,
        }
    }
}

/// A fault waiting to be delivered or answered.
#[derive(Clone, Copy, Debug)]
pub struct FaultMsg {
    /// [`abi::FaultKind`] as a number.
    pub kind: u64,
    /// The faulting address.
    pub addr: u64,
    /// Where the thread was.
    pub pc: u64,
    /// The raw syndrome.
    pub esr: u64,
}

/// How a blocked sender's message goes out.
#[derive(Clone, Copy, Debug, Default)]
pub struct SendState {
    /// Badge of the capability it sent through.
    pub badge: u64,
    /// The capability had the grant right.
    pub grant: bool,
    /// It is a `Call`: it waits for the reply after delivery.
    pub call: bool,
}

/// A thread.
pub struct Tcb {
    /// Saved registers; boxed so its address stays put for the entry code.
    pub ctx: Box<UserContext>,
    /// Saved FP/SIMD registers (valid while another thread's are loaded on its core).
    pub fp: Box<FpState>,
    /// What it is doing.
    pub state: State,
    /// The core it is pinned to.
    pub core: usize,
    /// The core running it right now, if any (set while it is some core's current thread).
    pub on_core: Option<usize>,
    /// Its priority, `0..abi::PRIORITIES`.
    pub prio: u8,
    /// Its CSpace root CNode.
    pub cspace: Option<ObjId>,
    /// Its address space.
    pub vspace: Option<ObjId>,
    /// Its IPC buffer's user address (0: none).
    pub ipc_buffer: u64,
    /// Its fault endpoint, a CPtr in its own CSpace (`CPtr::NONE`: none).
    pub fault_ep: u64,
    /// The caller waiting for this thread's reply, and whether it may receive a capability.
    pub reply_to: Option<(ObjId, bool)>,
    /// The send in progress while in [`State::BlockedSend`].
    pub send: SendState,
    /// A fault being reported (sent or waiting for the handler's reply).
    pub fault: Option<FaultMsg>,
    /// Exit code from `ThreadExit` (or [`abi::EXIT_KILLED`]).
    pub exit_code: u64,
    /// Capabilities a preempted `CapRevoke` removed so far (its result counts every step).
    pub revoked: u64,
}

impl Tcb {
    /// Moves the saved pc back onto the `svc` that entered the kernel (4 bytes: A64 has one
    /// instruction size), so the thread redoes its syscall when it next runs: the one restart
    /// rule, for a thread stopped while blocked in a syscall or while entering one. Only the
    /// kernel-saved pc of a syscall is ever moved (a thread's registers can be written only
    /// while it is inactive and off every core), and that pc follows an `svc`, so it is at least
    /// 4; wrapping keeps even a broken invariant from panicking the kernel.
    pub fn restart_syscall(&mut self) {
        self.ctx.pc = self.ctx.pc.wrapping_sub(4);
    }

    /// A new, inactive, unconfigured thread.
    pub fn new(core: usize) -> Tcb {
        Tcb {
            ctx: Box::default(),
            fp: Box::default(),
            state: State::Inactive,
            core,
            on_core: None,
            prio: abi::DEFAULT_PRIORITY as u8,
            cspace: None,
            vspace: None,
            ipc_buffer: 0,
            fault_ep: abi::CPtr::NONE.0,
            reply_to: None,
            send: SendState::default(),
            fault: None,
            exit_code: 0,
            revoked: 0,
        }
    }
}
