//! One safe wrapper per syscall. Numbers, registers and errors are documented in
//! [`abi::Syscall`]; each wrapper returns `Result<_, abi::Error>` (an error code the runtime
//! does not know reads as [`Error::InvalidSyscall`]).
//!
//! IPC wrappers take and return a [`Message`]: words 0..3 travel in `x2..x5`, the rest in the
//! calling thread's [`IpcBuffer`], whose address the runtime keeps in `TPIDR_EL0` (see
//! [`ipc_buffer`]). The `*_raw` functions pass arguments unchecked, for negative tests.

use abi::{boot_slot, Authority, CPtr, Error, InfoKey, IpcBuffer, MsgInfo, ObjectType, Registers, Rights, Syscall};
use core::sync::atomic::{AtomicU64, Ordering};

const MAX_WORDS: usize = abi::MSG_MAX_WORDS as usize;
const REG_WORDS: usize = abi::MSG_REG_WORDS as usize;

/// `x0..x7` as the kernel left them.
type Out = [u64; 8];

/// Enters the kernel with `x8 = number` and `x0..x7 = a`.
///
/// Module invariant (why this may be a safe function): every caller in this module passes only
/// pointers valid for the access the syscall makes — `DebugWrite` reads its buffer,
/// `TcbReadRegisters` writes and `TcbWriteRegisters` reads one [`Registers`], and IPC syscalls
/// touch only the caller's own IPC buffer. The one function that passes an arbitrary pointer to
/// a writing syscall, [`tcb_read_registers_raw`], is `unsafe`.
#[inline(always)]
fn syscall(number: u64, a: [u64; 8]) -> Out {
    let mut r = a;
    // SAFETY: `svc #0` enters the kernel, which reads x8 and x0..x7, may overwrite x0..x7 (all
    // declared inout) and preserves every other register, the stack and the flags it does not
    // document. It writes this program's memory only where the pointer arguments say (module
    // invariant above), and the asm is not marked `nomem`, so the compiler assumes such writes.
    unsafe {
        core::arch::asm!(
            "svc #0",
            in("x8") number,
            inout("x0") r[0], inout("x1") r[1], inout("x2") r[2], inout("x3") r[3],
            inout("x4") r[4], inout("x5") r[5], inout("x6") r[6], inout("x7") r[7],
            options(nostack),
        );
    }
    r
}

fn call(s: Syscall, a: [u64; 8]) -> Result<Out, Error> {
    let r = syscall(s as u64, a);
    match r[0] {
        0 => Ok(r),
        code => Err(Error::from_code(code).unwrap_or(Error::InvalidSyscall)),
    }
}

fn args(a: &[u64]) -> [u64; 8] {
    let mut r = [0; 8];
    r[..a.len()].copy_from_slice(a);
    r
}

/// Any syscall with any arguments, for fuzzing the kernel: returns `x0..x7` as the kernel left
/// them.
///
/// # Safety
/// The kernel may write through a pointer argument (`TcbReadRegisters` writes one
/// [`Registers`] to `a[1]`; IPC writes the caller's IPC buffer). The caller must pass only
/// pointers to memory it may have overwritten, or addresses that are not mapped writable.
pub unsafe fn raw_syscall(number: u64, a: [u64; 8]) -> [u64; 8] {
    syscall(number, a)
}

/// Where this program keeps its [`Authority`] capabilities, by authority: the root task's boot
/// slots unless changed ([`set_authority`]); a module has none ([`crate::init_module`]).
static AUTHORITY_SLOTS: [AtomicU64; 4] = [
    AtomicU64::new(CPtr::root(boot_slot::POWER).0),
    AtomicU64::new(CPtr::root(boot_slot::CONSOLE).0),
    AtomicU64::new(CPtr::root(boot_slot::SYNC).0),
    AtomicU64::new(CPtr::root(boot_slot::DEBUG).0),
];

/// The slot the runtime passes for authority `a` ([`CPtr::NONE`] if this program has none).
pub fn authority(a: Authority) -> CPtr {
    CPtr(AUTHORITY_SLOTS[a as usize].load(Ordering::Relaxed))
}

/// Tells the runtime where this program's capability for authority `a` is ([`CPtr::NONE`]:
/// it has none; the syscalls that need it then fail with [`Error::InvalidCapability`]).
pub fn set_authority(a: Authority, cap: CPtr) {
    AUTHORITY_SLOTS[a as usize].store(cap.0, Ordering::Relaxed);
}

/// [`Syscall::KernelCheck`]: the kernel checks its books and reports its figures (needs the
/// Debug authority).
pub fn kernel_check() -> Result<abi::KernelStats, Error> {
    let mut words = [0u64; 16];
    call(Syscall::KernelCheck, args(&[authority(Authority::Debug).0, words.as_mut_ptr() as u64]))?;
    Ok(abi::KernelStats::from_words(words))
}

/// [`Syscall::Null`].
pub fn null() -> Result<(), Error> {
    call(Syscall::Null, [0; 8]).map(drop)
}

/// [`Syscall::DebugWrite`]: writes at most [`abi::DEBUG_WRITE_MAX`] bytes.
pub fn debug_write(bytes: &[u8]) -> Result<usize, Error> {
    debug_write_raw(bytes.as_ptr() as u64, bytes.len() as u64)
}

/// [`Syscall::DebugWrite`] with raw arguments, for testing the kernel's pointer checks (the
/// kernel only reads through the pointer, so any value is harmless to this program).
pub fn debug_write_raw(ptr: u64, len: u64) -> Result<usize, Error> {
    call(Syscall::DebugWrite, args(&[ptr, len, authority(Authority::Console).0])).map(|r| r[1] as usize)
}

/// [`Syscall::DebugRead`]: blocks for one console byte.
pub fn debug_read() -> Result<u8, Error> {
    call(Syscall::DebugRead, args(&[authority(Authority::Console).0])).map(|r| r[1] as u8)
}

/// [`Syscall::Yield`].
pub fn yield_now() {
    syscall(Syscall::Yield as u64, [0; 8]);
}

/// [`Syscall::Sleep`]: blocks until the virtual counter reaches `deadline`; returns the counter
/// when woken.
pub fn sleep_until(deadline: u64) -> Result<u64, Error> {
    call(Syscall::Sleep, args(&[deadline])).map(|r| r[1])
}

/// [`Syscall::ThreadExit`]: ends the calling thread with exit `code`.
pub fn thread_exit(code: u64) -> ! {
    loop {
        // The ABI says this never returns; if a broken kernel returns anyway, ask again rather
        // than run on.
        syscall(Syscall::ThreadExit as u64, args(&[code]));
    }
}

/// [`Syscall::SystemInfo`].
pub fn system_info(key: InfoKey) -> Result<u64, Error> {
    system_info_raw(key as u64)
}

/// [`Syscall::SystemInfo`] with a raw key, for testing the kernel's checks.
pub fn system_info_raw(key: u64) -> Result<u64, Error> {
    call(Syscall::SystemInfo, args(&[key, authority(Authority::Debug).0])).map(|r| r[1])
}

/// A syscall number the kernel does not know, for testing that it answers with an error.
pub fn invalid_syscall(number: u64) -> Result<(), Error> {
    match syscall(number, [0; 8])[0] {
        0 => Ok(()),
        code => Err(Error::from_code(code).unwrap_or(Error::InvalidSyscall)),
    }
}

/// [`Syscall::PowerOff`]. Returns only if the firmware refused.
pub fn power_off() -> Error {
    call(Syscall::PowerOff, args(&[authority(Authority::Power).0])).err().unwrap_or(Error::Denied)
}

/// [`Syscall::DebugPanic`]. Returns only if refused.
pub fn debug_panic() -> Error {
    call(Syscall::DebugPanic, args(&[authority(Authority::Debug).0])).err().unwrap_or(Error::Denied)
}

// ---------------------------------------------------------------------------------------------
// IPC

/// The calling thread's IPC buffer, from `TPIDR_EL0` (0 if the thread has none). The runtime
/// sets it for every thread it starts: `_start` for the first thread, [`crate::thread`] and
/// [`crate::process`] through the new thread's registers.
pub fn ipc_buffer() -> *mut IpcBuffer {
    let va: u64;
    // SAFETY: reading TPIDR_EL0 is allowed at EL0 and has no side effects.
    unsafe { core::arch::asm!("mrs {}, tpidr_el0", out(reg) va, options(nomem, nostack, preserves_flags)) };
    va as *mut IpcBuffer
}

/// Sets the calling thread's IPC buffer address (kept in `TPIDR_EL0`, which the kernel saves
/// per thread). Used once by `_start`; threads the runtime starts get it in their registers.
pub(crate) fn set_ipc_buffer(va: u64) {
    // SAFETY: writing TPIDR_EL0 is allowed at EL0; the register is this thread's own and is
    // only interpreted by this runtime.
    unsafe { core::arch::asm!("msr tpidr_el0, {}", in(reg) va, options(nomem, nostack, preserves_flags)) };
}

/// A message: a label, up to [`abi::MSG_MAX_WORDS`] words and optionally one capability (to
/// send: the slot holding it; received: the slot it landed in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// Meaning agreed between sender and receiver ([`abi::FAULT_LABEL`] for faults).
    pub label: u32,
    /// The capability that goes with the message, if any.
    pub cap: Option<CPtr>,
    /// Move the capability (the sender's slot is emptied on delivery) instead of copying it.
    pub move_cap: bool,
    len: usize,
    words: [u64; MAX_WORDS],
}

impl Message {
    /// A message with `label` and `words` (at most [`abi::MSG_MAX_WORDS`]; more are cut off).
    pub fn new(label: u32, words: &[u64]) -> Message {
        let len = words.len().min(MAX_WORDS);
        let mut m = Message { label, cap: None, move_cap: false, len, words: [0; MAX_WORDS] };
        m.words[..len].copy_from_slice(&words[..len]);
        m
    }

    /// The same message, carrying the capability in `cap` (the endpoint needs GRANT).
    pub fn with_cap(mut self, cap: CPtr) -> Message {
        self.cap = Some(cap);
        self
    }

    /// The same message, moving the capability in `cap` to the receiver: once delivered, the
    /// sender's slot is empty (the endpoint needs GRANT).
    pub fn with_cap_moved(mut self, cap: CPtr) -> Message {
        self.cap = Some(cap);
        self.move_cap = true;
        self
    }

    /// The words.
    pub fn words(&self) -> &[u64] {
        &self.words[..self.len]
    }

    /// Word `i`, or 0 if the message is shorter.
    pub fn word(&self, i: usize) -> u64 {
        self.words().get(i).copied().unwrap_or(0)
    }

    /// The [`MsgInfo`] describing it.
    pub fn info(&self) -> MsgInfo {
        let info = MsgInfo::new(self.label, self.len as u64, self.cap.is_some());
        if self.move_cap {
            info.moving_cap()
        } else {
            info
        }
    }

    /// Argument registers `x1..x6` for sending it, after putting words 4.. in the IPC buffer.
    fn load(&self) -> Result<[u64; 6], Error> {
        if self.len > REG_WORDS {
            let buf = ipc_buffer();
            if buf.is_null() {
                return Err(Error::BadAddress);
            }
            // SAFETY: a non-zero TPIDR_EL0 is this thread's IPC buffer: a page mapped read-write
            // for this thread, used by nobody else (runtime invariant, see `ipc_buffer`).
            let msg = unsafe { &mut (*buf).msg };
            msg[REG_WORDS..self.len].copy_from_slice(&self.words[REG_WORDS..self.len]);
        }
        let w = &self.words;
        Ok([self.info().0, w[0], w[1], w[2], w[3], self.cap.unwrap_or(CPtr::NONE).0])
    }
}

/// A message received by [`recv`], [`call_ep`] or [`reply_recv`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The message (its `cap` is the receive slot if a capability was transferred).
    pub msg: Message,
    /// The badge of the capability the sender used (0 for a reply).
    pub badge: u64,
    /// The raw [`MsgInfo`] as the kernel delivered it.
    pub info: MsgInfo,
}

fn received(r: Out, slot: CPtr) -> Received {
    let info = MsgInfo(r[1]);
    let len = (info.words() as usize).min(MAX_WORDS);
    let mut msg = Message::new(info.label(), &r[2..2 + len.min(REG_WORDS)]);
    msg.len = len;
    if len > REG_WORDS {
        let buf = ipc_buffer();
        if !buf.is_null() {
            // SAFETY: as in `Message::load`; the kernel has finished writing it (the syscall
            // returned).
            let words = unsafe { &(*buf).msg };
            msg.words[REG_WORDS..len].copy_from_slice(&words[REG_WORDS..len]);
        }
    }
    msg.cap = info.has_cap().then_some(slot);
    Received { msg, badge: r[6], info }
}

fn send_args(ep: CPtr, m: &Message, last: CPtr) -> Result<[u64; 8], Error> {
    let [a1, a2, a3, a4, a5, a6] = m.load()?;
    Ok([ep.0, a1, a2, a3, a4, a5, a6, last.0])
}

/// [`Syscall::Send`].
pub fn send(ep: CPtr, m: &Message) -> Result<(), Error> {
    call(Syscall::Send, send_args(ep, m, CPtr::NONE)?).map(drop)
}

/// [`Syscall::NbSend`].
pub fn nb_send(ep: CPtr, m: &Message) -> Result<(), Error> {
    call(Syscall::NbSend, send_args(ep, m, CPtr::NONE)?).map(drop)
}

/// [`Syscall::Recv`]; a transferred capability lands in `slot` (or pass [`CPtr::NONE`]).
pub fn recv(ep: CPtr, slot: CPtr) -> Result<Received, Error> {
    call(Syscall::Recv, args(&[ep.0, 0, 0, 0, 0, 0, 0, slot.0])).map(|r| received(r, slot))
}

/// [`Syscall::NbRecv`].
pub fn nb_recv(ep: CPtr, slot: CPtr) -> Result<Received, Error> {
    call(Syscall::NbRecv, args(&[ep.0, 0, 0, 0, 0, 0, 0, slot.0])).map(|r| received(r, slot))
}

/// [`Syscall::Call`]: sends `m` and returns the reply (a capability in it lands in `slot`).
pub fn call_ep(ep: CPtr, m: &Message, slot: CPtr) -> Result<Received, Error> {
    call(Syscall::Call, send_args(ep, m, slot)?).map(|r| received(r, slot))
}

/// A message that fits in registers: label and four words, no capability. The `*_short` calls
/// use it to skip [`Message`]'s buffer handling — the kernel's fast path serves exactly these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Short {
    /// The label.
    pub label: u32,
    /// Words 0..3.
    pub words: [u64; REG_WORDS],
}

impl Short {
    fn from_out(r: &Out) -> Short {
        Short { label: MsgInfo(r[1]).label(), words: [r[2], r[3], r[4], r[5]] }
    }
}

/// [`Syscall::Call`] with a register-only message; returns the reply.
#[inline]
pub fn call_short(ep: CPtr, m: Short) -> Result<Short, Error> {
    let info = MsgInfo::new(m.label, REG_WORDS as u64, false).0;
    let [w0, w1, w2, w3] = m.words;
    call(Syscall::Call, [ep.0, info, w0, w1, w2, w3, 0, CPtr::NONE.0]).map(|r| Short::from_out(&r))
}

/// [`Syscall::ReplyRecv`] with register-only messages; returns the next message and its badge.
#[inline]
pub fn reply_recv_short(ep: CPtr, m: Short) -> Result<(Short, u64), Error> {
    let info = MsgInfo::new(m.label, REG_WORDS as u64, false).0;
    let [w0, w1, w2, w3] = m.words;
    call(Syscall::ReplyRecv, [ep.0, info, w0, w1, w2, w3, 0, CPtr::NONE.0]).map(|r| (Short::from_out(&r), r[6]))
}

/// [`Syscall::Reply`]: `Ok(true)` if a caller was waiting and got it.
pub fn reply(m: &Message) -> Result<bool, Error> {
    call(Syscall::Reply, send_args(CPtr::NONE, m, CPtr::NONE)?).map(|r| r[1] == 1)
}

/// [`Syscall::ReplyRecv`]: replies with `m`, then receives on `ep` into `slot`.
pub fn reply_recv(ep: CPtr, m: &Message, slot: CPtr) -> Result<Received, Error> {
    call(Syscall::ReplyRecv, send_args(ep, m, slot)?).map(|r| received(r, slot))
}

/// [`Syscall::Signal`].
pub fn signal(ntfn: CPtr) -> Result<(), Error> {
    call(Syscall::Signal, args(&[ntfn.0])).map(drop)
}

/// [`Syscall::Wait`]: the word, once non-zero.
pub fn wait(ntfn: CPtr) -> Result<u64, Error> {
    call(Syscall::Wait, args(&[ntfn.0])).map(|r| r[1])
}

/// [`Syscall::Poll`]: the word (0 if nothing was signalled).
pub fn poll(ntfn: CPtr) -> Result<u64, Error> {
    call(Syscall::Poll, args(&[ntfn.0])).map(|r| r[1])
}

// ---------------------------------------------------------------------------------------------
// Capabilities and objects

/// [`Syscall::CapCopy`].
pub fn cap_copy(src: CPtr, dst: CPtr) -> Result<(), Error> {
    call(Syscall::CapCopy, args(&[src.0, dst.0])).map(drop)
}

/// [`Syscall::CapMint`] (badge 0 keeps the source's).
pub fn cap_mint(src: CPtr, dst: CPtr, rights: Rights, badge: u64) -> Result<(), Error> {
    call(Syscall::CapMint, args(&[src.0, dst.0, rights.0 as u64, badge])).map(drop)
}

/// [`Syscall::CapMove`].
pub fn cap_move(src: CPtr, dst: CPtr) -> Result<(), Error> {
    call(Syscall::CapMove, args(&[src.0, dst.0])).map(drop)
}

/// [`Syscall::CapDelete`].
pub fn cap_delete(cap: CPtr) -> Result<(), Error> {
    call(Syscall::CapDelete, args(&[cap.0])).map(drop)
}

/// [`Syscall::CapRevoke`]: how many capabilities were deleted.
pub fn cap_revoke(cap: CPtr) -> Result<u64, Error> {
    call(Syscall::CapRevoke, args(&[cap.0])).map(|r| r[1])
}

/// What [`cap_info`] tells about a capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapInfo {
    /// The object's type (`None` for a code the runtime does not know).
    pub kind: Option<ObjectType>,
    /// The capability's rights.
    pub rights: Rights,
    /// Its badge (0 if none).
    pub badge: u64,
    /// The object's id, the same for every capability to it.
    pub object: u64,
    /// How many capabilities are derived from it, at all depths.
    pub descendants: u64,
    /// Its parent's slot index, if the parent sits in the same CNode.
    pub parent: Option<u64>,
    /// What waits on the object now: an endpoint's queued senders, a notification's waiters;
    /// for a thread, 1 while it serves a call it has not answered (see [`Syscall::CapInfo`]).
    pub waiting: u64,
    /// For a thread, what it is doing (`None` for other objects' capabilities and for a code
    /// the runtime does not know).
    pub thread_state: Option<abi::ThreadState>,
}

/// [`Syscall::CapInfo`].
pub fn cap_info(cap: CPtr) -> Result<CapInfo, Error> {
    call(Syscall::CapInfo, args(&[cap.0])).map(|r| CapInfo {
        kind: ObjectType::from_number(r[1] & 0xff),
        rights: Rights((r[1] >> 8) as u8),
        badge: r[2],
        object: r[3],
        descendants: r[4],
        parent: (r[5] != u64::MAX).then_some(r[5]),
        waiting: r[6],
        thread_state: (ObjectType::from_number(r[1] & 0xff) == Some(ObjectType::Tcb))
            .then(|| abi::ThreadState::from_number(r[7]))
            .flatten(),
    })
}

/// [`Syscall::Create`]: an object of type `ty` in the empty slot `dst`, charged to `quota`.
/// `size`: CNode radix, or a quota's frames; `bytes`: a quota's kernel bytes.
pub fn create(quota: CPtr, ty: ObjectType, dst: CPtr, size: u64, bytes: u64) -> Result<(), Error> {
    create_raw(quota, ty as u64, dst, size, bytes)
}

/// [`Syscall::Create`] with a raw object type, for testing the kernel's checks.
pub fn create_raw(quota: CPtr, ty: u64, dst: CPtr, size: u64, bytes: u64) -> Result<(), Error> {
    call(Syscall::Create, args(&[quota.0, ty, dst.0, size, bytes])).map(drop)
}

/// [`Syscall::QuotaInfo`]: `(frames, kernel bytes)` left.
pub fn quota_info(quota: CPtr) -> Result<(u64, u64), Error> {
    call(Syscall::QuotaInfo, args(&[quota.0])).map(|r| (r[1], r[2]))
}

/// [`Syscall::Sync`]: every online core passes a quiescent point; the number of cores.
pub fn sync() -> Result<u64, Error> {
    call(Syscall::Sync, args(&[authority(Authority::Sync).0])).map(|r| r[1])
}

/// [`Syscall::Sync`], naming the cores that did not answer: `Err((Error::NoResponse, cores))`
/// with one bit per late core (0 for any other error).
pub fn sync_naming_late() -> Result<u64, (Error, u64)> {
    let r = syscall(Syscall::Sync as u64, args(&[authority(Authority::Sync).0]));
    match r[0] {
        0 => Ok(r[1]),
        code => {
            let e = Error::from_code(code).unwrap_or(Error::InvalidSyscall);
            Err((e, if e == Error::NoResponse { r[1] } else { 0 }))
        }
    }
}

/// [`Syscall::DebugImage`] with [`abi::DEBUG_IMAGE_SET`]: adds or updates a module in the
/// debugger's list (needs the Debug authority).
pub fn debug_image_set(vspace: CPtr, image: &abi::DebugImage) -> Result<(), Error> {
    let bytes = image.to_bytes();
    let args = args(&[authority(Authority::Debug).0, abi::DEBUG_IMAGE_SET, vspace.0, bytes.as_ptr() as u64]);
    call(Syscall::DebugImage, args).map(|_| ())
}

/// [`Syscall::DebugImage`] with [`abi::DEBUG_IMAGE_REMOVE`]: takes module `id` out of the
/// debugger's list.
pub fn debug_image_remove(id: u64) -> Result<(), Error> {
    call(Syscall::DebugImage, args(&[authority(Authority::Debug).0, abi::DEBUG_IMAGE_REMOVE, id])).map(|_| ())
}

/// [`Syscall::DebugStall`]: once this returns to the kernel's exit path, this core spins with
/// interrupts masked for `us` microseconds (a test hook: a core that cannot reach the sync
/// point). Needs the Debug authority.
pub fn debug_stall(us: u64) -> Result<(), Error> {
    call(Syscall::DebugStall, args(&[authority(Authority::Debug).0, us])).map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// Threads and memory

/// [`Syscall::TcbConfigure`]: `fault_ep` is a slot in the thread's own CSpace, or
/// [`CPtr::NONE`]; `ipc_buffer` a page-aligned address in `vspace`, or 0.
pub fn tcb_configure(tcb: CPtr, cnode: CPtr, vspace: CPtr, ipc_buffer: u64, fault_ep: CPtr) -> Result<(), Error> {
    call(Syscall::TcbConfigure, args(&[tcb.0, cnode.0, vspace.0, ipc_buffer, fault_ep.0])).map(drop)
}

/// [`Syscall::TcbSetPriority`].
pub fn tcb_set_priority(tcb: CPtr, priority: u64) -> Result<(), Error> {
    call(Syscall::TcbSetPriority, args(&[tcb.0, priority])).map(drop)
}

/// [`Syscall::TcbSetAffinity`].
pub fn tcb_set_affinity(tcb: CPtr, core: u64) -> Result<(), Error> {
    call(Syscall::TcbSetAffinity, args(&[tcb.0, core])).map(drop)
}

/// [`Syscall::TcbResume`].
pub fn tcb_resume(tcb: CPtr) -> Result<(), Error> {
    call(Syscall::TcbResume, args(&[tcb.0])).map(drop)
}

/// [`Syscall::TcbSuspend`].
pub fn tcb_suspend(tcb: CPtr) -> Result<(), Error> {
    call(Syscall::TcbSuspend, args(&[tcb.0])).map(drop)
}

/// [`Syscall::TcbReadRegisters`].
pub fn tcb_read_registers(tcb: CPtr) -> Result<Registers, Error> {
    let mut regs = Registers::default();
    // SAFETY: `regs` is a live, writable `Registers` on this stack.
    unsafe { tcb_read_registers_raw(tcb, &mut regs as *mut Registers as u64) }.map(|()| regs)
}

/// [`Syscall::TcbReadRegisters`] into an arbitrary address, for testing the pointer checks.
///
/// # Safety
///
/// `dst` must either be valid for writing a [`Registers`], or be an address the kernel will
/// refuse (unmapped or not user-writable), since the kernel writes there on success.
pub unsafe fn tcb_read_registers_raw(tcb: CPtr, dst: u64) -> Result<(), Error> {
    call(Syscall::TcbReadRegisters, args(&[tcb.0, dst])).map(drop)
}

/// [`Syscall::TcbWriteRegisters`].
pub fn tcb_write_registers(tcb: CPtr, regs: &Registers) -> Result<(), Error> {
    call(Syscall::TcbWriteRegisters, args(&[tcb.0, regs as *const Registers as u64])).map(drop)
}

/// [`Syscall::FrameMap`]: maps `frame` into `vspace` at `va` with access `rights`.
pub fn frame_map(frame: CPtr, vspace: CPtr, va: u64, rights: Rights) -> Result<(), Error> {
    call(Syscall::FrameMap, args(&[frame.0, vspace.0, va, rights.0 as u64])).map(drop)
}

/// [`Syscall::FrameUnmap`].
pub fn frame_unmap(frame: CPtr) -> Result<(), Error> {
    call(Syscall::FrameUnmap, args(&[frame.0])).map(drop)
}

/// [`Syscall::VSpaceUnmap`]: unmaps `pages` pages from `va` in `vspace` with one sync; returns
/// how many were mapped.
pub fn vspace_unmap(vspace: CPtr, va: u64, pages: u64) -> Result<u64, Error> {
    call(Syscall::VSpaceUnmap, args(&[vspace.0, va, pages])).map(|r| r[1])
}
