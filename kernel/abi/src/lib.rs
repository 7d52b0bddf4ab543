//! The system-call ABI, written once and shared by the kernel and every user program.
//!
//! # Calling convention
//!
//! A user thread enters the kernel with `svc #0`:
//!
//! | register | on entry               | on return                                   |
//! |----------|------------------------|---------------------------------------------|
//! | `x8`     | the [`Syscall`] number | unchanged                                   |
//! | `x0..x7` | arguments 0 to 7       | `x0`: 0 on success, else an [`Error`] code  |
//! |          |                        | `x1..x7`: results (meaning per syscall)     |
//!
//! Registers a syscall does not document as results keep their values, as do `x9..x30`, `sp`
//! and the condition flags. The immediate of `svc` is ignored. An unknown number in `x8` returns
//! [`Error::InvalidSyscall`]; it never faults the thread and never disturbs the kernel.
//!
//! Pointers passed in are user virtual addresses; the kernel checks that the whole range is mapped
//! user-readable (or writable) before touching it and answers [`Error::BadAddress`] if not.
//!
//! # Capabilities
//!
//! Every kernel object is named by a capability held in a slot of a *CNode* (an array of 2^radix
//! slots). A thread's *CSpace* is its root CNode. Syscalls name a slot with a [`CPtr`]: either a
//! slot of the caller's root CNode, or a slot of a CNode whose capability sits in the root CNode
//! (two levels; see [`CPtr`]). A capability is (object, [`Rights`], badge). Copies and mints are
//! *children* of their source in the derivation tree; [`Syscall::CapRevoke`] removes every
//! descendant wherever it sits. Deleting the last capability to an object destroys the object and
//! returns its memory to the [`ObjectType::Quota`] it was charged to.
//!
//! Object creation ([`Syscall::Create`]) is charged to a quota capability: a program without one
//! cannot make the kernel allocate anything. See [`charge`] for what each object costs.
//!
//! # IPC
//!
//! Endpoints carry messages: a [`MsgInfo`] word (label, length, capability flag), up to
//! [`MSG_MAX_WORDS`] message words — the first [`MSG_REG_WORDS`] in registers `x2..x5`, the rest
//! in the thread's [`IpcBuffer`] — and optionally one capability (the sender's endpoint capability
//! needs [`Rights::GRANT`]). The receiver learns the badge of the capability the sender used.
//! `Call` blocks the caller until the receiver answers with `Reply` (or `ReplyRecv`); the kernel
//! keeps the reply target in the receiver's thread, so no reply capability is handled by users.
//! Notifications are a word of bits: `Signal` ORs the capability's badge in, `Wait` and `Poll`
//! take (and clear) the word.
//!
//! # Faults
//!
//! A fault at EL0 (data or instruction abort, undefined instruction, alignment) is sent, as if
//! by `Call`, to the thread's fault endpoint with label [`FAULT_LABEL`]; see [`FaultKind`] and
//! [`FaultReply`]. A thread without a fault endpoint is suspended and the kernel logs one line.
//!
//! # Address-space layout of a user program
//!
//! Programs are linked at [`USER_IMAGE_BASE`] (see `linker/user.ld`); the kernel gives the root
//! task a stack of [`USER_STACK_SIZE`] bytes ending at [`USER_STACK_TOP`] and its [`BootInfo`]
//! at [`BOOT_INFO_VA`]. Virtual addresses at or above [`USER_VA_END`] are never user addresses.
#![no_std]
#![forbid(unsafe_code)]

/// Where user programs are linked (the lowest address of their first segment).
pub const USER_IMAGE_BASE: u64 = 0x0040_0000;
/// One past the highest byte of the first thread's stack.
pub const USER_STACK_TOP: u64 = 0x0000_7fff_ffff_0000;
/// Size of the first thread's stack.
pub const USER_STACK_SIZE: u64 = 64 * 1024;
/// Where the kernel maps the root task's [`BootInfo`] (read-only).
pub const BOOT_INFO_VA: u64 = 0x0000_7ffe_0000_0000;
/// Where the kernel maps the root task's first thread's [`IpcBuffer`] (already configured).
pub const BOOT_IPC_BUFFER_VA: u64 = BOOT_INFO_VA + PAGE_SIZE;
/// Where the kernel maps the boot archive (the modules packed into the boot image, format in
/// the `modfmt` crate) in the root task, read-only; its size is [`BootInfo::archive_bytes`].
pub const BOOT_ARCHIVE_VA: u64 = 0x0000_7ffd_0000_0000;
/// End (exclusive) of the user half of the address space: 48-bit virtual addresses.
pub const USER_VA_END: u64 = 1 << 48;
/// Size of a page, the unit of mapping.
pub const PAGE_SIZE: u64 = 4096;

/// System-call numbers, passed in `x8`.
///
/// Each variant documents its arguments (`a0`..), results (`r1`..), and the errors it returns
/// besides [`Error::InvalidSyscall`]. Every syscall that names a capability can also fail with
/// [`Error::InvalidCapability`] (empty slot or bad [`CPtr`]), [`Error::WrongType`] and
/// [`Error::InsufficientRights`].
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// Does nothing and returns. The baseline for measuring syscall cost.
    Null = 0,
    /// Writes bytes to the kernel console, as one unit: a line written by one call is never
    /// interleaved with another core's output.
    /// `a0` = pointer, `a1` = length (at most [`DEBUG_WRITE_MAX`]), `a2` = an
    /// [`Authority::Console`] capability with [`Rights::WRITE`]. `r1` = bytes written. The bytes
    /// are copied under the kernel lock and written to the UART after it is released.
    /// Errors: [`Error::BadAddress`], [`Error::InvalidArgument`] (too long).
    DebugWrite = 1,
    /// Reads one byte from the console, blocking until one arrives. `a0` = an
    /// [`Authority::Console`] capability with [`Rights::READ`]. `r1` = the byte.
    DebugRead = 2,
    /// Gives up the rest of the time slice to the next runnable thread of the same priority on
    /// this core.
    Yield = 3,
    /// Stops the calling thread for good (it becomes inactive, as if suspended; its TCB stays
    /// until its last capability is deleted). `a0` = exit code, kept in the TCB. Never returns.
    ThreadExit = 4,
    /// Reads one system figure: `a0` is an [`InfoKey`]. `r1` = the value. Figures that tell
    /// about other programs ([`InfoKey::FreeFrames`], [`InfoKey::Ticks`]) need `a1` = an
    /// [`Authority::Debug`] capability; the others ignore `a1`.
    /// Errors: [`Error::InvalidArgument`] (unknown key).
    SystemInfo = 5,
    /// Powers the machine off through PSCI `SYSTEM_OFF`. `a0` = an [`Authority::Power`]
    /// capability. Never returns on success.
    PowerOff = 6,
    /// Makes the kernel panic on purpose, to test the panic path. `a0` = an
    /// [`Authority::Debug`] capability. Refused with [`Error::Denied`] unless the kernel
    /// command line holds `debug.panic_trigger=1`.
    DebugPanic = 7,

    /// Sends a message on an endpoint, blocking until a receiver takes it.
    /// `a0` = endpoint ([`Rights::WRITE`]), `a1` = [`MsgInfo`], `a2..a5` = message words 0..3,
    /// `a6` = capability to transfer if the info says so (the endpoint needs [`Rights::GRANT`]).
    /// Errors: [`Error::InvalidArgument`] (length), [`Error::BadAddress`] (IPC buffer needed but
    /// not mapped), [`Error::PeerGone`] (the endpoint was destroyed while waiting).
    Send = 8,
    /// [`Syscall::Send`] that never blocks: [`Error::WouldBlock`] if no receiver waits.
    NbSend = 9,
    /// Receives a message, blocking until one comes. `a0` = endpoint ([`Rights::READ`]),
    /// `a7` = [`CPtr`] of an empty slot for a transferred capability, or [`CPtr::NONE`].
    /// `r1` = [`MsgInfo`] (its capability flag says whether a capability landed in `a7`),
    /// `r2..r5` = message words 0..3 (the rest in the IPC buffer), `r6` = the sender's badge.
    /// If the message came by `Call`, the caller waits for this thread's [`Syscall::Reply`]; a
    /// receive before that reply drops the call (its caller gets [`Error::PeerGone`], a
    /// faulted caller stays stopped) rather than leave the caller waiting for ever.
    /// Errors: [`Error::PeerGone`] (endpoint destroyed while waiting).
    Recv = 10,
    /// [`Syscall::Recv`] that never blocks: [`Error::WouldBlock`] if no sender waits.
    NbRecv = 11,
    /// Sends like [`Syscall::Send`] and waits for the reply. Arguments as for `Send`, plus
    /// `a7` = slot for a capability in the reply (or [`CPtr::NONE`]).
    /// Results: the reply, as for [`Syscall::Recv`] (`r6` = 0).
    /// Errors: as for `Send`, and [`Error::PeerGone`] if the receiver ended or the endpoint was
    /// destroyed before the reply.
    Call = 12,
    /// Answers the last `Call` this thread received. `a1` = [`MsgInfo`], `a2..a5` = words,
    /// `a6` = capability to pass back if the info says so (no grant right is needed: the caller
    /// asked for it by naming a receive slot). Replying when nobody waits is not an
    /// error (the caller may have gone); `r1` = 1 if the reply was delivered, else 0.
    Reply = 13,
    /// [`Syscall::Reply`] then [`Syscall::Recv`] on `a0`, in one kernel entry (the server loop).
    /// Arguments: `a0` = endpoint, `a1..a6` as for `Reply`, `a7` as for `Recv`. Results as `Recv`.
    ReplyRecv = 14,
    /// ORs the capability's badge (1 if unbadged) into a notification and wakes one waiter.
    /// `a0` = notification ([`Rights::WRITE`]).
    Signal = 15,
    /// Waits until a notification's word is non-zero; `r1` = the word, which is cleared.
    /// `a0` = notification ([`Rights::READ`]). Errors: [`Error::PeerGone`] (destroyed).
    Wait = 16,
    /// Takes a notification's word without blocking: `r1` = the word (0 if nothing signalled).
    Poll = 17,

    /// Copies capability `a0` into the empty slot `a1` (a child in the derivation tree).
    /// Errors: [`Error::SlotOccupied`].
    CapCopy = 18,
    /// Derives a child of `a0` in `a1` with rights `a2` (a subset of the source's) and badge
    /// `a3` (0 keeps the source's; a badged capability cannot be re-badged).
    /// Errors: [`Error::SlotOccupied`], [`Error::InsufficientRights`] (more rights than the
    /// source), [`Error::InvalidArgument`] (re-badging, unknown rights bits).
    CapMint = 19,
    /// Moves the capability in `a0` to the empty slot `a1`; it keeps its place in the tree.
    CapMove = 20,
    /// Deletes the capability in `a0`; its children are kept (they move up to its parent). If it
    /// was the last capability to its object, the object is destroyed.
    CapDelete = 21,
    /// Deletes every capability derived from `a0`, in every CSpace, at any depth; `a0` stays.
    /// `r1` = how many were deleted. Preemptible: when an interrupt is pending the kernel stops
    /// between steps (each leaves a consistent tree: what is left are still `a0`'s
    /// descendants), runs whatever the interrupt woke, and redoes the call, which goes on where
    /// it stopped; `r1` counts every step.
    CapRevoke = 22,
    /// Describes the capability in `a0`: `r1` = [`ObjectType`] | rights << 8, `r2` = badge,
    /// `r3` = object id (the same for every capability to one object), `r4` = number of
    /// capabilities derived from it (all depths; at most [`CAP_INFO_DESCENDANTS_MAX`]), `r5` = its parent's slot index if the parent
    /// is in the same CNode, else `u64::MAX`, `r6` = what waits on the object now: for an
    /// endpoint, the threads queued to send (callers not yet received); for a notification, the
    /// threads waiting; for a thread, 1 if it has received a `Call` it has not answered yet
    /// (it is serving a call), else 0; for other objects 0. `r7` = for a thread, its
    /// [`ThreadState`]; for an authority, its [`Authority`] number; else 0. Tests order their
    /// steps by these instead of by timing.
    CapInfo = 23,
    /// Creates an object, charged to the quota `a0` ([`Rights::WRITE`]), and puts its original
    /// capability (all rights) in the empty slot `a2` as a child of the quota capability — so
    /// revoking a quota capability destroys what was made from it. `a1` = [`ObjectType`];
    /// `a3` = size: CNode radix (1..=[`CNODE_MAX_RADIX`]); for a quota, frames; else ignored.
    /// `a4` = for a quota, kernel bytes. See [`charge`].
    /// Errors: [`Error::NoMemory`] (quota or machine exhausted), [`Error::InvalidArgument`].
    Create = 24,
    /// Configures a thread: `a0` = TCB, `a1` = its CSpace root CNode, `a2` = its VSpace,
    /// `a3` = its IPC buffer address (page-aligned, or 0 for none), `a4` = its fault endpoint as
    /// a [`CPtr`] *in the thread's own CSpace*, looked up when a fault happens ([`CPtr::NONE`]
    /// for none). The TCB must be inactive. Errors: [`Error::InvalidArgument`], [`Error::Busy`].
    TcbConfigure = 25,
    /// Sets a thread's priority `a1` (0..[`PRIORITIES`]); at most the caller's own priority.
    TcbSetPriority = 26,
    /// Pins a thread to core `a1`; a running or queued thread moves there.
    TcbSetAffinity = 27,
    /// Makes an inactive thread runnable (it must be configured). No-op if already active.
    TcbResume = 28,
    /// Stops a thread: it leaves its core (waiting, if it is running on another core, until it
    /// has), any IPC it was waiting in is cancelled, and it stays until resumed.
    TcbSuspend = 29,
    /// Copies a thread's saved [`Registers`] to `a1` (the TCB needs [`Rights::READ`]).
    /// Only for a thread that is not running (suspended, blocked or queued); else [`Error::Busy`].
    TcbReadRegisters = 30,
    /// Sets a thread's [`Registers`] from `a1` (only the flags of `pstate` are taken). Only for
    /// an inactive thread (never resumed, suspended, exited or stopped by a fault) that no core
    /// runs; a blocked thread's registers belong to the kernel (its message, the syscall it
    /// redoes if suspended): [`Error::Busy`].
    TcbWriteRegisters = 31,
    /// Maps frame `a0` into VSpace `a1` at page-aligned address `a2` with access `a3`
    /// ([`Rights`]: READ, READ|WRITE or READ|EXEC; within the frame capability's rights).
    /// One capability maps at most once: copy it to map a frame twice. Page tables it needs are
    /// charged to the VSpace's quota.
    /// Errors: [`Error::InvalidArgument`] (writable and executable, misaligned, outside the
    /// user half, already mapped there), [`Error::Busy`] (this capability is mapped already),
    /// [`Error::WriteExecConflict`] (another mapping of the same frame, through any capability
    /// in any address space, is executable while this one would be writable, or the other way
    /// round). The first executable mapping of a frame since it was last writable synchronises
    /// the instruction caches of every core with its contents.
    FrameMap = 32,
    /// Unmaps frame capability `a0` from wherever it is mapped; no-op if it is not. When it
    /// returns no core can reach the page through that mapping any more.
    FrameUnmap = 33,
    /// What is left in a quota: `r1` = frames, `r2` = kernel bytes.
    QuotaInfo = 34,
    /// The cross-core sync, for user-level lock-free data (like Linux's `membarrier`): returns
    /// once every online core has passed a quiescent point (taken an interrupt out of whatever
    /// it ran, executed a full barrier, acknowledged). `a0` = an [`Authority::Sync`]
    /// capability (it interrupts every busy core). `r1` = the number of cores.
    /// Errors: [`Error::NoResponse`] (a core did not answer within 2 s; the kernel logs which,
    /// and `r1` is then the set of cores that did not answer, one bit per core).
    Sync = 35,
    /// Unmaps every frame mapped in VSpace `a0` ([`Rights::WRITE`]) from page-aligned address
    /// `a1` for `a2` pages, with one cross-core sync for all of them (a frame unmapped one by
    /// one costs a sync each). `r1` = the number of pages that were mapped. When it returns no
    /// core can reach any of them. Errors: [`Error::InvalidArgument`] (misaligned, or the
    /// range leaves the user half).
    VSpaceUnmap = 36,
    /// The kernel's self-check and its figures, for tests and fuzzers: checks every invariant
    /// of its books (derivation tree, reference and hold counts, mappings and W^X counts, IPC
    /// queues), logs each broken one (at most 8 lines), and writes a [`KernelStats`] to `a1`
    /// (unless 0; must be writable). `a0` = an [`Authority::Debug`] capability.
    /// `r1` = the number of broken invariants (0: consistent). Errors: [`Error::BadAddress`].
    KernelCheck = 37,
    /// Blocks the caller until the virtual counter (`CNTVCT_EL0`, which user code may read;
    /// [`InfoKey::CounterHz`] ticks per second) reaches `a0`; a deadline already past returns at
    /// once. `r1` = the counter when the caller was woken. Needs no capability: it only delays
    /// the caller. The wake-up is an interrupt at the deadline, not the next scheduler tick; a
    /// thread suspended while sleeping sleeps on to the same deadline when resumed.
    Sleep = 38,
    /// A test hook: once this syscall returns, the calling core spins for `a1` microseconds
    /// (at most [`STALL_MAX_US`]), or until a cross-core sync gives up waiting for it
    /// (whichever comes first), with interrupts masked, outside the kernel lock, before it
    /// goes back to user code — a core that cannot reach the cross-core sync point for a
    /// while (it runs no thread's code meanwhile and answers no interrupt). `a0` = an
    /// [`Authority::Debug`] capability, and a kernel booted with `debug.stall=1` (else
    /// [`Error::Denied`]); 0 microseconds only checks that. Errors: [`Error::InvalidArgument`]
    /// (too long).
    DebugStall = 39,
    /// Tells the debugger's module list (the kernel's `KERNEL_DEBUG_IMAGES`, read by
    /// `qemu/gdb/kmod.py`) about a loaded module. `a0` = an [`Authority::Debug`] capability;
    /// `a1` = [`DEBUG_IMAGE_SET`]: `a2` = the module's VSpace (its ASID is recorded), `a3` = a
    /// [`DebugImage`] in the caller's memory, added or (same `id`) updated; or
    /// [`DEBUG_IMAGE_REMOVE`]: `a2` = the `id` to take out. Errors: [`Error::NoMemory`] (the
    /// list holds [`DEBUG_IMAGES_MAX`]), [`Error::NotFound`] (no such id),
    /// [`Error::InvalidArgument`] (lengths over the fields), [`Error::BadAddress`].
    DebugImage = 40,
}

/// [`Syscall::DebugImage`]: add or update an entry.
pub const DEBUG_IMAGE_SET: u64 = 1;
/// [`Syscall::DebugImage`]: remove an entry.
pub const DEBUG_IMAGE_REMOVE: u64 = 2;
/// Entries the debugger's module list holds.
pub const DEBUG_IMAGES_MAX: usize = 64;

/// A loaded module as the debugger sees it ([`Syscall::DebugImage`]); the layout is part of
/// the ABI (`#[repr(C)]`, little-endian words), read by the GDB extension.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DebugImage {
    /// The module server's id of the instance (never reused while the server runs).
    pub id: u64,
    /// Load address (the module is linked at 0).
    pub base: u64,
    /// Bytes of address space from `base` (image, guard, stack, IPC buffer).
    pub size: u64,
    /// [`DebugImageState`] number.
    pub state: u64,
    /// Bytes of `name` used.
    pub name_len: u64,
    /// Instance name (UTF-8).
    pub name: [u8; 32],
    /// Bytes of `build_id` used (0: the file has none).
    pub build_id_len: u64,
    /// The GNU build-id of the module's ELF.
    pub build_id: [u8; 32],
}

impl DebugImage {
    /// Its size in bytes, as the kernel reads it.
    pub const BYTES: usize = core::mem::size_of::<DebugImage>();

    /// The record as bytes (for the syscall's pointer).
    pub fn to_bytes(&self) -> [u8; DebugImage::BYTES] {
        let mut out = [0u8; DebugImage::BYTES];
        let words = [self.id, self.base, self.size, self.state, self.name_len];
        for (i, w) in words.iter().enumerate() {
            out[i * 8..][..8].copy_from_slice(&w.to_le_bytes());
        }
        out[40..72].copy_from_slice(&self.name);
        out[72..80].copy_from_slice(&self.build_id_len.to_le_bytes());
        out[80..112].copy_from_slice(&self.build_id);
        out
    }

    /// The record from bytes; `None` if a length exceeds its field.
    pub fn from_bytes(b: &[u8; DebugImage::BYTES]) -> Option<DebugImage> {
        let w = |i: usize| u64::from_le_bytes(b[i * 8..][..8].try_into().expect("8 bytes"));
        let d = DebugImage {
            id: w(0),
            base: w(1),
            size: w(2),
            state: w(3),
            name_len: w(4),
            name: b[40..72].try_into().expect("32 bytes"),
            build_id_len: w(9),
            build_id: b[80..112].try_into().expect("32 bytes"),
        };
        (d.name_len <= 32 && d.build_id_len <= 32).then_some(d)
    }
}

const _: () = assert!(DebugImage::BYTES == 112, "the layout the GDB extension reads");

/// What [`DebugImage::state`] says.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebugImageState {
    /// Mapped, not serving yet (its init runs).
    Loading = 1,
    /// Serving.
    Live = 2,
    /// Being removed (its pages are about to be unmapped).
    Unloading = 3,
    /// Faulted or failed to start (its pages are gone; kept so `mod-list` shows it).
    Failed = 4,
}

/// The longest stall [`Syscall::DebugStall`] accepts: 30 s.
pub const STALL_MAX_US: u64 = 30_000_000;

/// What [`Syscall::KernelCheck`] reports: the counts a test compares before and after (once the
/// fuzzer's quota is revoked they must be back to where they were).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Frames the frame allocator has free.
    pub free_frames: u64,
    /// Kernel heap bytes allocated.
    pub heap_used: u64,
    /// Kernel heap bytes free (the heap does not grow: used + free is what it has).
    pub heap_free: u64,
    /// Capabilities in the derivation tree (occupied slots, in every CNode).
    pub cap_slots: u64,
    /// Frame mappings recorded.
    pub mappings: u64,
    /// Live objects by [`ObjectType`] number (index 0 unused).
    pub objects: [u64; 9],
    /// Broken invariants found by this check.
    pub violations: u64,
    /// Objects whose last capability is gone but that are still held (a thread another core
    /// still runs, and what it holds): destroyed once that core lets go. Compare figures only
    /// once this is 0.
    pub dying: u64,
}

impl KernelStats {
    /// Its size in bytes, as the kernel writes it.
    pub const BYTES: usize = core::mem::size_of::<KernelStats>();

    /// The words, in field order (the layout the kernel writes, little-endian).
    pub fn to_words(&self) -> [u64; 16] {
        let o = &self.objects;
        [
            self.free_frames,
            self.heap_used,
            self.heap_free,
            self.cap_slots,
            self.mappings,
            o[0],
            o[1],
            o[2],
            o[3],
            o[4],
            o[5],
            o[6],
            o[7],
            o[8],
            self.violations,
            self.dying,
        ]
    }

    /// Back from [`KernelStats::to_words`].
    pub fn from_words(w: [u64; 16]) -> KernelStats {
        let mut objects = [0; 9];
        objects.copy_from_slice(&w[5..14]);
        KernelStats {
            free_frames: w[0],
            heap_used: w[1],
            heap_free: w[2],
            cap_slots: w[3],
            mappings: w[4],
            objects,
            violations: w[14],
            dying: w[15],
        }
    }
}

impl Syscall {
    /// All syscalls, in number order.
    pub const ALL: [Syscall; 41] = [
        Syscall::Null,
        Syscall::DebugWrite,
        Syscall::DebugRead,
        Syscall::Yield,
        Syscall::ThreadExit,
        Syscall::SystemInfo,
        Syscall::PowerOff,
        Syscall::DebugPanic,
        Syscall::Send,
        Syscall::NbSend,
        Syscall::Recv,
        Syscall::NbRecv,
        Syscall::Call,
        Syscall::Reply,
        Syscall::ReplyRecv,
        Syscall::Signal,
        Syscall::Wait,
        Syscall::Poll,
        Syscall::CapCopy,
        Syscall::CapMint,
        Syscall::CapMove,
        Syscall::CapDelete,
        Syscall::CapRevoke,
        Syscall::CapInfo,
        Syscall::Create,
        Syscall::TcbConfigure,
        Syscall::TcbSetPriority,
        Syscall::TcbSetAffinity,
        Syscall::TcbResume,
        Syscall::TcbSuspend,
        Syscall::TcbReadRegisters,
        Syscall::TcbWriteRegisters,
        Syscall::FrameMap,
        Syscall::FrameUnmap,
        Syscall::QuotaInfo,
        Syscall::Sync,
        Syscall::VSpaceUnmap,
        Syscall::KernelCheck,
        Syscall::Sleep,
        Syscall::DebugStall,
        Syscall::DebugImage,
    ];

    /// Decodes a number from `x8`.
    pub fn from_number(n: u64) -> Option<Syscall> {
        Self::ALL.get(usize::try_from(n).ok()?).copied()
    }
}

/// Longest write accepted by [`Syscall::DebugWrite`].
pub const DEBUG_WRITE_MAX: u64 = 1024;

/// What a thread is doing, as [`Syscall::CapInfo`] reports it (`r7`).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Not running and not waiting: never resumed, suspended, exited, killed, or stopped by a
    /// fault it had no handler for.
    Inactive = 0,
    /// Ready to run, in its core's run queue.
    Runnable = 1,
    /// Running on its core.
    Running = 2,
    /// Queued on an endpoint to send (or to deliver a fault).
    BlockedSend = 3,
    /// Queued on an endpoint to receive.
    BlockedRecv = 4,
    /// Waiting for the reply to a `Call` (or to its fault message).
    BlockedReply = 5,
    /// Waiting on a notification.
    BlockedWait = 6,
    /// Waiting for a console byte.
    BlockedRead = 7,
    /// Waiting for another thread to leave its core (a suspend of a remote thread).
    BlockedStop = 8,
    /// In [`Syscall::Sleep`], waiting for its deadline.
    Sleeping = 9,
}

impl ThreadState {
    /// The state with number `n`, if there is one.
    pub fn from_number(n: u64) -> Option<ThreadState> {
        use ThreadState::*;
        [
            Inactive,
            Runnable,
            Running,
            BlockedSend,
            BlockedRecv,
            BlockedReply,
            BlockedWait,
            BlockedRead,
            BlockedStop,
            Sleeping,
        ]
        .get(n as usize)
        .copied()
    }
}

/// Keys for [`Syscall::SystemInfo`].
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoKey {
    /// Number of cores online.
    Cores = 0,
    /// Size of RAM in MiB.
    RamMib = 1,
    /// Physical frames (4 KiB) free right now.
    FreeFrames = 2,
    /// The core the caller runs on.
    CurrentCore = 3,
    /// Timer ticks handled on all cores since boot.
    Ticks = 4,
    /// The id of the calling thread (its TCB's object id).
    ThreadId = 5,
    /// Frequency of the virtual counter (`CNTVCT_EL0`, readable at EL0), in Hz.
    CounterHz = 6,
}

impl InfoKey {
    /// Decodes a key.
    pub fn from_number(n: u64) -> Option<InfoKey> {
        use InfoKey::*;
        [Cores, RamMib, FreeFrames, CurrentCore, Ticks, ThreadId, CounterHz].get(usize::try_from(n).ok()?).copied()
    }
}

/// Error codes, returned in `x0`. Zero means success and is not an error.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// `x8` holds no known syscall number.
    InvalidSyscall = 1,
    /// An argument is out of range or malformed.
    InvalidArgument = 2,
    /// A pointer argument is not a mapped user address with the needed access.
    BadAddress = 3,
    /// The caller may not do this (a debug facility that is switched off, a priority above
    /// the caller's own).
    Denied = 4,
    /// The quota (or the machine) has no memory left for the request.
    NoMemory = 5,
    /// The named thing does not exist.
    NotFound = 6,
    /// A [`CPtr`] names no slot, or an empty one.
    InvalidCapability = 7,
    /// The capability names an object of another type than the syscall needs.
    WrongType = 8,
    /// The capability lacks a right the operation needs.
    InsufficientRights = 9,
    /// The destination slot already holds a capability.
    SlotOccupied = 10,
    /// The IPC partner is gone: the endpoint or notification was destroyed, or the thread that
    /// received a `Call` ended before replying.
    PeerGone = 11,
    /// A non-blocking operation found nobody to talk to.
    WouldBlock = 12,
    /// The object is in a state that forbids this now (a running thread's registers, a frame
    /// capability already mapped, configuring an active thread).
    Busy = 13,
    /// A core did not answer a cross-core sync in time (the kernel log names it).
    NoResponse = 14,
    /// The frame is executable in another mapping (for a writable mapping) or writable in
    /// another mapping (for an executable one): a frame is never writable and executable at
    /// once, in any address spaces.
    WriteExecConflict = 15,
    /// No address-space identifier (ASID) is left for a new VSpace: as many address spaces
    /// exist as the kernel has ASIDs (65,535; fewer with `debug.max_asids=N`).
    NoAsid = 16,
}

impl Error {
    /// Every error, in code order.
    pub const ALL: [Error; 16] = [
        Error::InvalidSyscall,
        Error::InvalidArgument,
        Error::BadAddress,
        Error::Denied,
        Error::NoMemory,
        Error::NotFound,
        Error::InvalidCapability,
        Error::WrongType,
        Error::InsufficientRights,
        Error::SlotOccupied,
        Error::PeerGone,
        Error::WouldBlock,
        Error::Busy,
        Error::NoResponse,
        Error::WriteExecConflict,
        Error::NoAsid,
    ];

    /// Decodes a non-zero `x0`; `None` for 0 (success) and unknown codes.
    pub fn from_code(code: u64) -> Option<Error> {
        Self::ALL.into_iter().find(|e| *e as u64 == code)
    }

    /// A short lower-case description, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Error::InvalidSyscall => "invalid syscall number",
            Error::InvalidArgument => "invalid argument",
            Error::BadAddress => "bad user address",
            Error::Denied => "denied",
            Error::NoMemory => "out of memory",
            Error::NotFound => "not found",
            Error::InvalidCapability => "invalid capability slot",
            Error::WrongType => "wrong object type",
            Error::InsufficientRights => "insufficient rights",
            Error::SlotOccupied => "slot occupied",
            Error::PeerGone => "peer gone",
            Error::WouldBlock => "would block",
            Error::Busy => "busy",
            Error::NoResponse => "a core did not answer",
            Error::WriteExecConflict => "the frame would be writable and executable at once",
            Error::NoAsid => "no address-space identifier (ASID) left",
        }
    }
}

/// Exit code recorded for a thread the kernel stopped because of a fault.
pub const EXIT_KILLED: u64 = u64::MAX;

/// Access rights carried by a capability (a bit set; see [`Rights::ALL`]).
///
/// | object       | READ              | WRITE                       | GRANT          | EXEC    |
/// |--------------|-------------------|-----------------------------|----------------|---------|
/// | endpoint     | receive           | send                        | pass caps      |         |
/// | notification | wait, poll        | signal                      |                |         |
/// | frame        | map readable      | map writable                |                | map executable |
/// | TCB          | read registers    | configure, resume, suspend, write registers | | |
/// | CNode, VSpace, quota | inspect   | change, create from          |                |         |
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rights(pub u8);

impl Rights {
    /// No rights.
    pub const NONE: Rights = Rights(0);
    /// May read / receive.
    pub const READ: Rights = Rights(1);
    /// May write / send.
    pub const WRITE: Rights = Rights(2);
    /// May pass capabilities along (IPC grant).
    pub const GRANT: Rights = Rights(4);
    /// May execute (frames).
    pub const EXEC: Rights = Rights(8);
    /// Every right.
    pub const ALL: Rights = Rights(15);

    /// True if every right in `self` is also in `other`.
    pub fn within(self, other: Rights) -> bool {
        self.0 & !other.0 == 0
    }

    /// True if `self` holds every right in `other`.
    pub fn has(self, other: Rights) -> bool {
        other.within(self)
    }

    /// Decodes a syscall argument; `None` if it has bits outside [`Rights::ALL`].
    pub fn from_bits(bits: u64) -> Option<Rights> {
        (bits & !(Rights::ALL.0 as u64) == 0).then_some(Rights(bits as u8))
    }
}

impl core::ops::BitOr for Rights {
    type Output = Rights;
    fn bitor(self, o: Rights) -> Rights {
        Rights(self.0 | o.0)
    }
}

/// Kinds of kernel object.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    /// A memory quota: frames and kernel bytes that objects made from it are charged to.
    Quota = 1,
    /// A thread control block.
    Tcb = 2,
    /// An IPC endpoint.
    Endpoint = 3,
    /// A notification word.
    Notification = 4,
    /// An array of capability slots.
    CNode = 5,
    /// An address space: a translation tree with an ASID.
    VSpace = 6,
    /// One 4 KiB page of memory, zeroed when created.
    Frame = 7,
    /// A machine-wide authority ([`Authority`]): made only at boot, for the root task.
    Authority = 8,
}

/// What an [`ObjectType::Authority`] capability lets its holder do. The kernel makes one of
/// each at boot and gives them to the root task ([`boot_slot`]); nobody else gets one unless a
/// holder passes it on. Every syscall that reaches beyond the caller's own objects names one.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authority {
    /// Power the machine off ([`Syscall::PowerOff`]).
    Power = 0,
    /// The serial console: [`Rights::READ`] to read its input ([`Syscall::DebugRead`]),
    /// [`Rights::WRITE`] to write to it ([`Syscall::DebugWrite`]).
    Console = 1,
    /// The machine-wide cross-core sync ([`Syscall::Sync`]).
    Sync = 2,
    /// Debugging: system figures about other programs ([`Syscall::SystemInfo`]), the panic
    /// trigger ([`Syscall::DebugPanic`]).
    Debug = 3,
}

impl Authority {
    /// Every authority, in number order.
    pub const ALL: [Authority; 4] = [Authority::Power, Authority::Console, Authority::Sync, Authority::Debug];

    /// The authority with number `n`.
    pub fn from_number(n: u64) -> Option<Authority> {
        Authority::ALL.get(n as usize).copied()
    }

    /// Its name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Authority::Power => "power",
            Authority::Console => "console",
            Authority::Sync => "sync",
            Authority::Debug => "debug",
        }
    }
}

impl ObjectType {
    /// Decodes a syscall argument.
    pub fn from_number(n: u64) -> Option<ObjectType> {
        use ObjectType::*;
        [Quota, Tcb, Endpoint, Notification, CNode, VSpace, Frame, Authority].into_iter().find(|t| *t as u64 == n)
    }

    /// A lower-case name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::Quota => "quota",
            ObjectType::Tcb => "tcb",
            ObjectType::Endpoint => "endpoint",
            ObjectType::Notification => "notification",
            ObjectType::CNode => "cnode",
            ObjectType::VSpace => "vspace",
            ObjectType::Frame => "frame",
            ObjectType::Authority => "authority",
        }
    }
}

/// What [`Syscall::Create`] charges to a quota, in frames and kernel bytes. The byte figures are
/// upper bounds of the kernel heap an object can use over its life (its own record, its share
/// of the derivation tree and of IPC queues), so the sum of all quotas can never exhaust the
/// kernel heap.
pub mod charge {
    /// Bytes per thread control block (registers, FP/SIMD state, scheduling and IPC state).
    pub const TCB_BYTES: u64 = 2048;
    /// Bytes per endpoint or notification.
    pub const IPC_OBJECT_BYTES: u64 = 256;
    /// Bytes per CNode, plus [`SLOT_BYTES`] per slot.
    pub const CNODE_BYTES: u64 = 256;
    /// Bytes per CNode slot: its derivation-tree node (links to parent, first child and
    /// siblings), allocated with the CNode whether the slot is used or not.
    pub const SLOT_BYTES: u64 = 64;
    /// Bytes per VSpace; its root table is one frame, and every further page table one more,
    /// charged when a mapping needs it.
    pub const VSPACE_BYTES: u64 = 512;
    /// Bytes per frame (its object record); plus the frame itself. The smallest charge: every
    /// object's covers its entry in the kernel's object table (checked when the kernel builds).
    pub const FRAME_BYTES: u64 = 176;
    /// Bytes per mapping of a frame capability (the kernel's mapping records), charged to the
    /// VSpace's quota while the mapping exists.
    pub const MAPPING_BYTES: u64 = 128;

    /// Bytes per quota.
    pub const QUOTA_BYTES: u64 = 256;
}

/// [`Syscall::CapInfo`] counts descendants up to this many (a count of it means "at least"):
/// the count walks the tree under the kernel lock, so it is bounded.
pub const CAP_INFO_DESCENDANTS_MAX: usize = 65_536;

/// Largest CNode: 2^12 slots.
pub const CNODE_MAX_RADIX: u64 = 12;
/// Thread priorities are `0..PRIORITIES`; higher runs first. New threads get
/// [`DEFAULT_PRIORITY`].
pub const PRIORITIES: u64 = 16;
/// Priority of a new thread, and of the root task.
pub const DEFAULT_PRIORITY: u64 = 8;

/// Names a capability slot in a syscall argument.
///
/// Bits 0..31 are a slot index. Bits 32..63 say in which CNode: 0 means the caller's root
/// CNode; `k > 0` means the CNode whose capability sits in root slot `k - 1`. Index 0 of the
/// root CNode is never filled by the kernel, so `CPtr(0)` is a handy "nothing".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CPtr(pub u64);

impl CPtr {
    /// No slot ("no capability to transfer/receive", "no fault endpoint").
    pub const NONE: CPtr = CPtr(u64::MAX);

    /// Slot `index` of the caller's root CNode.
    pub const fn root(index: u32) -> CPtr {
        CPtr(index as u64)
    }

    /// Slot `index` of the CNode whose capability sits in root slot `cnode`.
    pub const fn in_cnode(cnode: u32, index: u32) -> CPtr {
        CPtr(((cnode as u64 + 1) << 32) | index as u64)
    }

    /// Decodes: `(Some(root slot of the CNode) or None for the root CNode, index)`.
    pub fn split(self) -> (Option<u32>, u32) {
        let outer = (self.0 >> 32) as u32;
        (outer.checked_sub(1), self.0 as u32)
    }
}

/// The message descriptor passed in `x1`: label (bits 32..63), whether the capability is moved
/// rather than copied (bit 8: the sender's slot is emptied when the message is delivered, so
/// there is never a moment with two capabilities), whether a capability is transferred (bit 7),
/// and the number of message words (bits 0..6, at most [`MSG_MAX_WORDS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsgInfo(pub u64);

impl MsgInfo {
    /// A descriptor.
    pub const fn new(label: u32, words: u64, cap: bool) -> MsgInfo {
        MsgInfo(((label as u64) << 32) | ((cap as u64) << 7) | (words & 0x7f))
    }
    /// The label: meaning agreed between the two sides (the kernel sets it for faults).
    pub const fn label(self) -> u32 {
        (self.0 >> 32) as u32
    }
    /// Number of message words.
    pub const fn words(self) -> u64 {
        self.0 & 0x7f
    }
    /// True if a capability goes with the message.
    pub const fn has_cap(self) -> bool {
        self.0 & (1 << 7) != 0
    }
    /// The same descriptor, asking for the capability to be moved, not copied.
    pub const fn moving_cap(self) -> MsgInfo {
        MsgInfo(self.0 | 1 << 8)
    }
    /// True if the capability (if any) is moved out of the sender's slot on delivery.
    pub const fn moves_cap(self) -> bool {
        self.0 & (1 << 8) != 0
    }
    /// True if the bits the kernel does not define are zero and the length is in range.
    pub const fn is_valid(self) -> bool {
        self.0 & 0xffff_fe00 == 0 && self.words() <= MSG_MAX_WORDS
    }
}

/// Message words in registers (`x2..x5`).
pub const MSG_REG_WORDS: u64 = 4;
/// Largest message, in words; words from [`MSG_REG_WORDS`] on travel in the [`IpcBuffer`].
pub const MSG_MAX_WORDS: u64 = 64;

/// A thread's IPC buffer: one page-aligned page in its address space, set by
/// [`Syscall::TcbConfigure`]. Word `i` of a message (for `i >= MSG_REG_WORDS`) is `msg[i]`.
#[repr(C, align(4096))]
#[derive(Clone, Copy, Debug)]
pub struct IpcBuffer {
    /// Message words; the first [`MSG_REG_WORDS`] are unused (they travel in registers).
    pub msg: [u64; MSG_MAX_WORDS as usize],
    /// Free for the user runtime (the kernel never touches it).
    pub user: [u64; 512 - MSG_MAX_WORDS as usize],
}

/// A thread's registers, as [`Syscall::TcbReadRegisters`] and [`Syscall::TcbWriteRegisters`]
/// pass them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Registers {
    /// `x0..x30`.
    pub x: [u64; 31],
    /// Stack pointer.
    pub sp: u64,
    /// Program counter (where it resumes).
    pub pc: u64,
    /// Saved `pstate`; only the condition flags (bits 28..31) are writable.
    pub pstate: u64,
    /// The user thread-pointer register `tpidr_el0`.
    pub tpidr: u64,
}

/// Label of a fault message (see [`FaultKind`]).
pub const FAULT_LABEL: u32 = 0xfa17;

/// A fault message's word 0. Its other words: 1 = faulting address (for aborts and alignment),
/// 2 = pc, 3 = the raw syndrome (`ESR_EL1`). The badge is that of the fault endpoint capability.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A load touched an address it may not read.
    ReadAbort = 1,
    /// A store touched an address it may not write.
    WriteAbort = 2,
    /// An instruction fetch from an address that is not executable.
    InstructionAbort = 3,
    /// An undefined instruction.
    Undefined = 4,
    /// A misaligned data access, pc or stack pointer.
    Alignment = 5,
    /// Anything else (breakpoints, unexpected exception classes).
    Other = 6,
}

impl FaultKind {
    /// Decodes word 0 of a fault message.
    pub fn from_number(n: u64) -> Option<FaultKind> {
        use FaultKind::*;
        [ReadAbort, WriteAbort, InstructionAbort, Undefined, Alignment, Other].into_iter().find(|k| *k as u64 == n)
    }
}

/// The label a fault handler replies with.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultReply {
    /// Retry the faulting instruction (after fixing the cause, e.g. mapping the page).
    Resume = 0,
    /// Continue at the pc in reply word 0.
    Restart = 1,
    /// Stop the thread for good (it becomes inactive with exit code [`EXIT_KILLED`]).
    Kill = 2,
}

/// Capability slots of the root task's root CNode, filled by the kernel at boot.
pub mod boot_slot {
    /// The root task's own TCB.
    pub const TCB: u32 = 1;
    /// Its root CNode (radix [`super::BootInfo::cnode_radix`]).
    pub const CNODE: u32 = 2;
    /// Its VSpace.
    pub const VSPACE: u32 = 3;
    /// The quota holding all memory not used by the kernel.
    pub const QUOTA: u32 = 4;
    /// The frame holding the [`super::BootInfo`].
    pub const BOOT_INFO: u32 = 5;
    /// The frame of its first thread's IPC buffer (mapped at [`super::BOOT_IPC_BUFFER_VA`]).
    pub const IPC_BUFFER: u32 = 6;
    /// [`super::Authority::Power`].
    pub const POWER: u32 = 7;
    /// [`super::Authority::Console`] (read and write).
    pub const CONSOLE: u32 = 8;
    /// [`super::Authority::Sync`].
    pub const SYNC: u32 = 9;
    /// [`super::Authority::Debug`].
    pub const DEBUG: u32 = 10;
    /// First of the frames of its image and stack (see [`super::BootInfo::image_frames`]).
    pub const IMAGE_FRAMES: u32 = 11;

    /// The slot of an authority's capability.
    pub const fn authority(a: super::Authority) -> u32 {
        POWER + a as u32
    }
}

/// Most frames the root task's image and stack may have.
pub const BOOT_INFO_MAX_FRAMES: usize = 400;

/// Largest boot archive, in bytes.
pub const BOOT_ARCHIVE_MAX: u64 = 32 << 20;

/// What the kernel tells the root task, at [`BOOT_INFO_VA`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// [`BootInfo::MAGIC`].
    pub magic: u64,
    /// Cores online.
    pub cores: u64,
    /// Radix of the root CNode.
    pub cnode_radix: u64,
    /// First root slot the kernel left empty (all slots from here on are free).
    pub first_free_slot: u64,
    /// Number of image and stack frames, in slots from [`boot_slot::IMAGE_FRAMES`] on.
    pub image_frames: u64,
    /// Size in bytes of the boot archive at [`BOOT_ARCHIVE_VA`] (0: none).
    pub archive_bytes: u64,
    /// Slot of the first of the archive's frame capabilities (one per page, in order).
    pub archive_first_slot: u64,
    /// A seed for user-level randomisation (from the device tree's `/chosen/rng-seed`, mixed
    /// with the counter at boot).
    pub rng_seed: u64,
    /// For each of those frames: its virtual address | its [`Rights`] in the low bits.
    pub frame_va: [u64; BOOT_INFO_MAX_FRAMES],
    /// Bytes of [`BootInfo::cmdline`] in use.
    pub cmdline_len: u64,
    /// The kernel command line (the device tree's `/chosen/bootargs`), cut at
    /// [`BOOT_INFO_CMDLINE_MAX`] bytes: the root task reads its own options there (the module
    /// server's `autorun=`).
    pub cmdline: [u8; BOOT_INFO_CMDLINE_MAX],
}

/// Room for the kernel command line in [`BootInfo`].
pub const BOOT_INFO_CMDLINE_MAX: usize = 512;

impl BootInfo {
    /// Identifies a boot-info page.
    pub const MAGIC: u64 = 0x626f_6f74_696e_666f;
}

// The address-space layout and the ABI structures' sizes, checked when the crate compiles.
const _: () = {
    assert!(USER_IMAGE_BASE.is_multiple_of(PAGE_SIZE) && USER_STACK_TOP.is_multiple_of(PAGE_SIZE));
    assert!(USER_STACK_TOP < USER_VA_END && BOOT_INFO_VA < USER_STACK_TOP - USER_STACK_SIZE);
    assert!(BOOT_ARCHIVE_VA + BOOT_ARCHIVE_MAX <= BOOT_INFO_VA);
    assert!(USER_IMAGE_BASE < USER_STACK_TOP - USER_STACK_SIZE);
    assert!(core::mem::size_of::<BootInfo>() as u64 <= PAGE_SIZE);
    assert!(core::mem::size_of::<IpcBuffer>() as u64 == PAGE_SIZE);
    assert!(core::mem::size_of::<Registers>() == 35 * 8);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_numbers_round_trip() {
        for (i, s) in Syscall::ALL.iter().enumerate() {
            assert_eq!(*s as u64, i as u64, "ALL must be in number order");
            assert_eq!(Syscall::from_number(i as u64), Some(*s));
        }
        assert_eq!(Syscall::from_number(Syscall::ALL.len() as u64), None);
        assert_eq!(Syscall::from_number(u64::MAX), None);
    }

    #[test]
    fn error_codes_round_trip() {
        for (i, e) in Error::ALL.iter().enumerate() {
            assert_eq!(*e as u64, i as u64 + 1, "ALL must be in code order");
            assert_eq!(Error::from_code(*e as u64), Some(*e));
            assert!(!e.describe().is_empty());
        }
        assert_eq!(Error::from_code(0), None);
        assert_eq!(Error::from_code(99), None);
    }

    #[test]
    fn info_keys_round_trip() {
        for n in 0..7 {
            assert_eq!(InfoKey::from_number(n).map(|k| k as u64), Some(n));
        }
        assert_eq!(InfoKey::from_number(7), None);
    }

    #[test]
    fn object_types_and_faults_round_trip() {
        for n in 1..=7 {
            assert_eq!(ObjectType::from_number(n).map(|t| t as u64), Some(n));
        }
        assert_eq!(ObjectType::from_number(0), None);
        for n in 1..=6 {
            assert_eq!(FaultKind::from_number(n).map(|k| k as u64), Some(n));
        }
        assert_eq!(FaultKind::from_number(7), None);
    }

    #[test]
    fn cptr_and_msginfo_encode() {
        assert_eq!(CPtr::root(7).split(), (None, 7));
        assert_eq!(CPtr::in_cnode(3, 9).split(), (Some(3), 9));
        let m = MsgInfo::new(0xabcd, 5, true);
        assert_eq!((m.label(), m.words(), m.has_cap(), m.is_valid()), (0xabcd, 5, true, true));
        assert!(!MsgInfo(MSG_MAX_WORDS + 1).is_valid());
        assert!(!MsgInfo(1 << 9).is_valid());
        assert_eq!(Rights::from_bits(16), None);
        assert!(Rights::READ.within(Rights::READ | Rights::WRITE));
        assert!(!Rights::ALL.within(Rights::READ));
    }
}
