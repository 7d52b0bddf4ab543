//! Typed capability handles.
//!
//! A [`Cap<T>`] names a slot (a [`CPtr`]) that should hold a capability to an object of kind
//! `T`; it is `Copy` and owns nothing. An [`Owned<T>`] is a capability in a root-CNode slot the
//! runtime allocated ([`crate::cspace`]): dropping it unmaps it (frames), deletes it and frees
//! the slot, so code that returns early cleans up after itself.

use crate::cspace;
use crate::sys::{self, CapInfo, Message, Received};
use abi::{boot_slot, CPtr, Error, ObjectType, Registers, Rights};
use core::marker::PhantomData;

/// A kind of kernel object, as a type parameter of [`Cap`].
pub trait Kind {
    /// The kernel's type code.
    const TYPE: ObjectType;
}

macro_rules! kinds {
    ($($(#[$doc:meta])* $name:ident,)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name;
        impl Kind for $name {
            const TYPE: ObjectType = ObjectType::$name;
        }
    )*};
}

kinds! {
    /// A memory quota.
    Quota,
    /// A thread control block.
    Tcb,
    /// An IPC endpoint.
    Endpoint,
    /// A notification word.
    Notification,
    /// A CNode (array of capability slots).
    CNode,
    /// An address space.
    VSpace,
    /// A 4 KiB page of memory.
    Frame,
}

/// A slot that should hold a capability to a `T`. Copying the handle copies no capability.
pub struct Cap<T> {
    cptr: CPtr,
    kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Cap<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Cap<T> {}

impl<T> core::fmt::Debug for Cap<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Cap({:#x})", self.cptr.0)
    }
}

/// The root task's own TCB (filled by the kernel at boot).
pub const ROOT_TCB: Cap<Tcb> = Cap::new(CPtr::root(boot_slot::TCB));
/// The root task's root CNode.
pub const ROOT_CNODE: Cap<CNode> = Cap::new(CPtr::root(boot_slot::CNODE));
/// The root task's VSpace.
pub const ROOT_VSPACE: Cap<VSpace> = Cap::new(CPtr::root(boot_slot::VSPACE));
/// The quota holding all memory the kernel does not use.
pub const BOOT_QUOTA: Cap<Quota> = Cap::new(CPtr::root(boot_slot::QUOTA));

impl<T> Cap<T> {
    /// A handle for the slot `cptr`.
    pub const fn new(cptr: CPtr) -> Cap<T> {
        Cap { cptr, kind: PhantomData }
    }

    /// The slot.
    pub const fn cptr(self) -> CPtr {
        self.cptr
    }

    /// Copies the capability into the empty slot `dst` (a child in the derivation tree).
    pub fn copy_to(self, dst: CPtr) -> Result<Cap<T>, Error> {
        sys::cap_copy(self.cptr, dst).map(|()| Cap::new(dst))
    }

    /// Derives a child in `dst` with `rights` and `badge` (0 keeps the source's).
    pub fn mint_to(self, dst: CPtr, rights: Rights, badge: u64) -> Result<Cap<T>, Error> {
        sys::cap_mint(self.cptr, dst, rights, badge).map(|()| Cap::new(dst))
    }

    /// Deletes the capability (the object goes with its last capability).
    pub fn delete(self) -> Result<(), Error> {
        sys::cap_delete(self.cptr)
    }

    /// Deletes every capability derived from this one; returns how many.
    pub fn revoke(self) -> Result<u64, Error> {
        sys::cap_revoke(self.cptr)
    }

    /// Describes the capability.
    pub fn info(self) -> Result<CapInfo, Error> {
        sys::cap_info(self.cptr)
    }
}

impl Cap<Quota> {
    /// Creates a `K` charged to this quota in the empty slot `dst`; `size` is a CNode's radix
    /// (ignored for other kinds; use [`Cap::create_quota`] for quotas).
    pub fn create<K: Kind>(self, dst: CPtr, size: u64) -> Result<Cap<K>, Error> {
        sys::create(self.cptr, K::TYPE, dst, size, 0).map(|()| Cap::new(dst))
    }

    /// Creates a sub-quota of `frames` frames and `bytes` kernel bytes in `dst`.
    pub fn create_quota(self, dst: CPtr, frames: u64, bytes: u64) -> Result<Cap<Quota>, Error> {
        sys::create(self.cptr, ObjectType::Quota, dst, frames, bytes).map(|()| Cap::new(dst))
    }

    /// What is left: `(frames, kernel bytes)`.
    pub fn remaining(self) -> Result<(u64, u64), Error> {
        sys::quota_info(self.cptr)
    }
}

impl Cap<Tcb> {
    /// Sets the thread's CSpace, VSpace, IPC buffer address and fault endpoint (a slot in the
    /// thread's own CSpace, or [`CPtr::NONE`]).
    pub fn configure(
        self,
        cnode: Cap<CNode>,
        vspace: Cap<VSpace>,
        ipc_buffer: u64,
        fault_ep: CPtr,
    ) -> Result<(), Error> {
        sys::tcb_configure(self.cptr, cnode.cptr, vspace.cptr, ipc_buffer, fault_ep)
    }

    /// Pins the thread to `core`.
    pub fn set_affinity(self, core: usize) -> Result<(), Error> {
        sys::tcb_set_affinity(self.cptr, core as u64)
    }

    /// Makes the thread runnable.
    pub fn resume(self) -> Result<(), Error> {
        sys::tcb_resume(self.cptr)
    }

    /// Stops the thread until resumed.
    pub fn suspend(self) -> Result<(), Error> {
        sys::tcb_suspend(self.cptr)
    }

    /// The saved registers of a thread that is not running.
    pub fn read_registers(self) -> Result<Registers, Error> {
        sys::tcb_read_registers(self.cptr)
    }

    /// Sets the registers of a thread that is not running.
    pub fn write_registers(self, regs: &Registers) -> Result<(), Error> {
        sys::tcb_write_registers(self.cptr, regs)
    }

    /// The thread's id (its TCB's object id, as [`abi::InfoKey::ThreadId`] reports it).
    pub fn id(self) -> Result<u64, Error> {
        self.info().map(|i| i.object)
    }
}

impl Cap<Endpoint> {
    /// Sends `m`, blocking until received.
    pub fn send(self, m: &Message) -> Result<(), Error> {
        sys::send(self.cptr, m)
    }

    /// Sends `m` if a receiver waits, else [`Error::WouldBlock`].
    pub fn nb_send(self, m: &Message) -> Result<(), Error> {
        sys::nb_send(self.cptr, m)
    }

    /// Receives a message; a capability in it lands in `slot` ([`CPtr::NONE`]: accept none).
    pub fn recv(self, slot: CPtr) -> Result<Received, Error> {
        sys::recv(self.cptr, slot)
    }

    /// Receives if a sender waits, else [`Error::WouldBlock`].
    pub fn nb_recv(self, slot: CPtr) -> Result<Received, Error> {
        sys::nb_recv(self.cptr, slot)
    }

    /// Sends `m` and waits for the reply (accepting no capability in it).
    pub fn call(self, m: &Message) -> Result<Received, Error> {
        sys::call_ep(self.cptr, m, CPtr::NONE)
    }

    /// Sends `m` and waits for the reply; a capability in it lands in `slot`.
    pub fn call_with_slot(self, m: &Message, slot: CPtr) -> Result<Received, Error> {
        sys::call_ep(self.cptr, m, slot)
    }

    /// Replies `m` to the last caller, then receives on this endpoint into `slot`.
    pub fn reply_recv(self, m: &Message, slot: CPtr) -> Result<Received, Error> {
        sys::reply_recv(self.cptr, m, slot)
    }
}

impl Cap<Notification> {
    /// ORs the capability's badge (1 if none) into the word.
    pub fn signal(self) -> Result<(), Error> {
        sys::signal(self.cptr)
    }

    /// Waits for a non-zero word and takes it.
    pub fn wait(self) -> Result<u64, Error> {
        sys::wait(self.cptr)
    }

    /// Takes the word without blocking (0 if nothing was signalled).
    pub fn poll(self) -> Result<u64, Error> {
        sys::poll(self.cptr)
    }
}

impl Cap<Frame> {
    /// Maps the frame into `vspace` at `va` with access `rights`.
    pub fn map(self, vspace: Cap<VSpace>, va: u64, rights: Rights) -> Result<(), Error> {
        sys::frame_map(self.cptr, vspace.cptr, va, rights)
    }

    /// Unmaps the frame (no-op if it is not mapped).
    pub fn unmap(self) -> Result<(), Error> {
        sys::frame_unmap(self.cptr)
    }
}

/// A capability in a root-CNode slot this value owns: dropping it unmaps it (frames), deletes
/// the capability and frees the slot. Dereferences to its [`Cap`].
pub struct Owned<T: Kind> {
    cap: Cap<T>,
}

impl<T: Kind> Owned<T> {
    /// Creates a `T` from the boot quota in a fresh slot (`size`: a CNode's radix).
    pub fn create(size: u64) -> Result<Owned<T>, Error> {
        Self::create_from(BOOT_QUOTA, size)
    }

    /// Creates a `T` from `quota` in a fresh slot (`size`: a CNode's radix).
    pub fn create_from(quota: Cap<Quota>, size: u64) -> Result<Owned<T>, Error> {
        Self::in_fresh_slot(|dst| quota.create::<T>(dst, size).map(drop))
    }

    /// Copies `cap` into a fresh slot.
    pub fn copy_of(cap: Cap<T>) -> Result<Owned<T>, Error> {
        Self::in_fresh_slot(|dst| cap.copy_to(dst).map(drop))
    }

    /// Mints `cap` into a fresh slot with `rights` and `badge`.
    pub fn mint_of(cap: Cap<T>, rights: Rights, badge: u64) -> Result<Owned<T>, Error> {
        Self::in_fresh_slot(|dst| cap.mint_to(dst, rights, badge).map(drop))
    }

    /// Allocates a slot and runs `fill` on it; frees the slot again if that fails.
    fn in_fresh_slot(fill: impl FnOnce(CPtr) -> Result<(), Error>) -> Result<Owned<T>, Error> {
        let slot = cspace::alloc().ok_or(Error::NoMemory)?;
        match fill(slot) {
            Ok(()) => Ok(Owned { cap: Cap::new(slot) }),
            Err(e) => {
                cspace::free(slot);
                Err(e)
            }
        }
    }

    /// The handle.
    pub fn cap(&self) -> Cap<T> {
        self.cap
    }
}

impl<T: Kind> core::ops::Deref for Owned<T> {
    type Target = Cap<T>;
    fn deref(&self) -> &Cap<T> {
        &self.cap
    }
}

impl<T: Kind> Drop for Owned<T> {
    fn drop(&mut self) {
        if T::TYPE == ObjectType::Frame {
            // Unmapping a frame that is not mapped is a no-op, so this never does harm.
            let _ = sys::frame_unmap(self.cap.cptr);
        }
        // An empty slot (its capability revoked meanwhile) is free again; a slot whose
        // capability could not be deleted is leaked rather than handed out while occupied.
        match sys::cap_delete(self.cap.cptr) {
            Ok(()) | Err(Error::InvalidCapability) => cspace::free(self.cap.cptr),
            Err(_) => {}
        }
    }
}
