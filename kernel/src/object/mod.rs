//! Kernel objects and the table that holds them.
//!
//! Every object lives in one slab ([`Objects`]) and is named inside the kernel by an [`ObjId`]
//! (slab index + generation, so a stale id never finds a newer object). User programs name
//! objects only through capabilities (see [`crate::cspace`]).
//!
//! # Lifetime
//! An object is destroyed when its last capability is gone *and* nothing in the kernel still
//! holds it ([`Entry::holds`]): a thread holds its CSpace and VSpace, an object holds the quota
//! it is charged to, and a core holds the thread it is running (so a thread deleted while it
//! runs on another core is freed only once that core has left it). Destruction refunds the
//! object's charge to its quota.

pub mod tcb;

use crate::mm::{vspace::VSpace, PhysAddr};
use abi::ObjectType;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
pub use tcb::{State, Tcb};

/// An object's kernel name: slab index (low 32 bits) and generation (high 32 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjId(pub u64);

impl ObjId {
    fn new(index: u32, generation: u32) -> ObjId {
        ObjId((u64::from(generation) << 32) | u64::from(index))
    }

    /// The slab index.
    pub fn index(self) -> u32 {
        self.0 as u32
    }
}

/// A memory quota: what objects charged to it may still take.
#[derive(Debug)]
pub struct Quota {
    /// Frames left.
    pub frames: u64,
    /// Kernel heap bytes left.
    pub bytes: u64,
}

/// An IPC endpoint: threads waiting to send, or waiting to receive (never both at once).
#[derive(Debug, Default)]
pub struct Endpoint {
    /// Waiting threads, oldest first.
    pub queue: VecDeque<ObjId>,
    /// True if `queue` holds senders, false if receivers.
    pub senders: bool,
}

/// A notification: a word of badge bits and the threads waiting for it to become non-zero.
#[derive(Debug, Default)]
pub struct Notification {
    /// Bits signalled and not yet taken.
    pub word: u64,
    /// Waiting threads, oldest first.
    pub waiters: VecDeque<ObjId>,
}

/// A CNode: 2^radix capability slots. The capabilities themselves live in the derivation tree
/// under the slot ids [`CNode::slot`] gives.
#[derive(Debug)]
pub struct CNode {
    /// log2 of the number of slots.
    pub radix: u8,
}

/// One page of memory.
#[derive(Debug)]
pub struct Frame {
    /// Its physical address.
    pub pa: PhysAddr,
    /// How many of its mappings are writable now.
    pub writable: u32,
    /// How many of its mappings are executable now. Never both non-zero: W^X per frame, over
    /// every capability to it and every address space.
    pub executable: u32,
    /// True once the instruction caches were synchronised with its contents, and it has not
    /// been mapped writable since.
    pub code_synced: bool,
}

impl Frame {
    /// A frame at `pa`, not mapped anywhere.
    pub fn new(pa: PhysAddr) -> Frame {
        Frame { pa, writable: 0, executable: 0, code_synced: false }
    }
}

/// A mapping made through a frame capability (`Kernel::mappings`, by the capability's slot).
#[derive(Clone, Copy, Debug)]
pub struct Mapping {
    /// The address space.
    pub vspace: ObjId,
    /// Where in it.
    pub va: u64,
    /// The frame mapped.
    pub frame: ObjId,
    /// With what access.
    pub access: klogic::pte::Access,
}

/// Any kernel object.
pub enum Object {
    /// A memory quota.
    Quota(Quota),
    /// A thread.
    Tcb(Box<Tcb>),
    /// An endpoint.
    Endpoint(Endpoint),
    /// A notification.
    Notification(Notification),
    /// A CNode.
    CNode(CNode),
    /// An address space.
    VSpace(Box<VSpace>),
    /// A page.
    Frame(Frame),
    /// A machine-wide authority (made only at boot).
    Authority(abi::Authority),
}

impl Object {
    /// Its type, as the ABI names it.
    pub fn kind(&self) -> ObjectType {
        match self {
            Object::Quota(_) => ObjectType::Quota,
            Object::Tcb(_) => ObjectType::Tcb,
            Object::Endpoint(_) => ObjectType::Endpoint,
            Object::Notification(_) => ObjectType::Notification,
            Object::CNode(_) => ObjectType::CNode,
            Object::VSpace(_) => ObjectType::VSpace,
            Object::Frame(_) => ObjectType::Frame,
            Object::Authority(_) => ObjectType::Authority,
        }
    }
}

/// What an object was charged, to refund when it goes.
#[derive(Clone, Copy, Debug)]
pub struct Charge {
    /// The quota charged.
    pub quota: ObjId,
    /// Frames taken from it.
    pub frames: u64,
    /// Kernel bytes taken from it.
    pub bytes: u64,
}

/// A slab entry: the object and its life-cycle bookkeeping.
pub struct Entry {
    generation: u32,
    /// The object, `None` while the entry is free.
    pub object: Option<Object>,
    /// What it cost, if it was charged to a quota (boot objects are not).
    pub charge: Option<Charge>,
    /// Kernel references besides capabilities (see the module documentation).
    pub holds: u32,
    /// Set once its last capability is gone: it is destroyed when `holds` reaches 0.
    pub capless: bool,
}

/// Entries per slab chunk (a power of two: finding an entry is a shift and a mask).
const CHUNK: usize = 256;

/// Heap bytes a chunk really takes: the buddy allocator rounds a block up to a power of two.
const CHUNK_BLOCK: usize = (CHUNK * core::mem::size_of::<Entry>()).next_power_of_two();

// Every object's charge (the smallest is a frame's) covers its share of a chunk block, its room
// in the free list and its pointer in the derivation tree's list of spaces (those two vectors
// may double, so twice).
const _: () =
    assert!(CHUNK_BLOCK / CHUNK + 2 * (4 + 2 * core::mem::size_of::<usize>()) <= abi::charge::FRAME_BYTES as usize);

/// The object table: a slab in chunks of [`CHUNK`] entries. It grows a chunk at a time and
/// never moves an entry (no doubling, no copy of the whole table under the kernel lock); a
/// freed entry is reused, with its generation bumped so stale ids do not match.
#[derive(Default)]
pub struct Objects {
    chunks: Vec<Box<[Entry; CHUNK]>>,
    len: usize,
    free: Vec<u32>,
}

impl Objects {
    /// Adds an object; returns its id.
    pub fn insert(&mut self, object: Object, charge: Option<Charge>) -> ObjId {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                if self.needs_chunk() {
                    // Boot objects only: `Create` grows the table first (or fails cleanly).
                    assert!(self.grow(), "no kernel heap for the object table at boot");
                }
                self.len += 1;
                u32::try_from(self.len - 1).expect("fewer than 2^32 objects")
            }
        };
        let e = self.slot_mut(index as usize).expect("just made");
        e.generation = e.generation.wrapping_add(1);
        e.object = Some(object);
        e.charge = charge;
        e.holds = 0;
        e.capless = false;
        ObjId::new(index, e.generation)
    }

    /// The entry of a live object.
    pub fn entry(&self, id: ObjId) -> Option<&Entry> {
        let e = self.slot(id.index() as usize)?;
        (e.generation == (id.0 >> 32) as u32 && e.object.is_some()).then_some(e)
    }

    /// The entry of a live object, mutably.
    pub fn entry_mut(&mut self, id: ObjId) -> Option<&mut Entry> {
        let e = self.slot_mut(id.index() as usize)?;
        (e.generation == (id.0 >> 32) as u32 && e.object.is_some()).then_some(e)
    }

    /// Every live object, with its entry.
    pub fn iter(&self) -> impl Iterator<Item = (ObjId, &Entry)> {
        self.chunks
            .iter()
            .flat_map(|c| c.iter())
            .take(self.len)
            .enumerate()
            .filter(|(_, e)| e.object.is_some())
            .map(|(i, e)| (ObjId::new(i as u32, e.generation), e))
    }

    /// The entry at slab index `index` (whatever its generation), if an object lives there.
    pub fn by_index(&self, index: u32) -> Option<&Entry> {
        self.slot(index as usize).filter(|e| e.object.is_some())
    }

    /// True if the next [`Objects::insert`] needs a new chunk.
    pub fn needs_chunk(&self) -> bool {
        self.free.is_empty() && self.len == self.chunks.len() * CHUNK
    }

    /// Adds a chunk of free entries (and room in the free list for them); false if the heap has
    /// no block for it (nothing changes).
    pub fn grow(&mut self) -> bool {
        let mut chunk = Vec::new();
        let room = (self.chunks.len() + 1) * CHUNK;
        if chunk.try_reserve_exact(CHUNK).is_err()
            || self.chunks.try_reserve(1).is_err()
            || self.free.try_reserve(room.saturating_sub(self.free.len())).is_err()
        {
            return false;
        }
        chunk.extend((0..CHUNK).map(|_| Entry { generation: 0, object: None, charge: None, holds: 0, capless: false }));
        let Ok(chunk) = Box::<[Entry; CHUNK]>::try_from(chunk.into_boxed_slice()) else { return false };
        self.chunks.push(chunk);
        true
    }

    /// The entry at `index` (entries past `len` in the last chunk are free: no object, so no
    /// id matches them).
    #[inline]
    fn slot(&self, index: usize) -> Option<&Entry> {
        Some(&self.chunks.get(index / CHUNK)?[index % CHUNK])
    }

    #[inline]
    fn slot_mut(&mut self, index: usize) -> Option<&mut Entry> {
        Some(&mut self.chunks.get_mut(index / CHUNK)?[index % CHUNK])
    }

    /// A live object.
    #[inline]
    pub fn get(&self, id: ObjId) -> Option<&Object> {
        self.entry(id)?.object.as_ref()
    }

    /// A live object, mutably.
    #[inline]
    pub fn get_mut(&mut self, id: ObjId) -> Option<&mut Object> {
        self.entry_mut(id)?.object.as_mut()
    }

    /// Takes an object out, freeing its entry; returns it with its charge.
    pub fn remove(&mut self, id: ObjId) -> Option<(Object, Option<Charge>)> {
        let e = self.entry_mut(id)?;
        let object = e.object.take()?;
        let charge = e.charge.take();
        self.free.push(id.index());
        Some((object, charge))
    }

    /// A thread.
    #[inline]
    pub fn tcb(&self, id: ObjId) -> Option<&Tcb> {
        match self.get(id)? {
            Object::Tcb(t) => Some(t),
            _ => None,
        }
    }

    /// A thread, mutably.
    #[inline]
    pub fn tcb_mut(&mut self, id: ObjId) -> Option<&mut Tcb> {
        match self.get_mut(id)? {
            Object::Tcb(t) => Some(t),
            _ => None,
        }
    }

    /// An address space.
    pub fn vspace(&self, id: ObjId) -> Option<&VSpace> {
        match self.get(id)? {
            Object::VSpace(v) => Some(v),
            _ => None,
        }
    }

    /// An address space, mutably.
    pub fn vspace_mut(&mut self, id: ObjId) -> Option<&mut VSpace> {
        match self.get_mut(id)? {
            Object::VSpace(v) => Some(v),
            _ => None,
        }
    }

    /// An endpoint, mutably.
    pub fn endpoint_mut(&mut self, id: ObjId) -> Option<&mut Endpoint> {
        match self.get_mut(id)? {
            Object::Endpoint(e) => Some(e),
            _ => None,
        }
    }

    /// A notification, mutably.
    pub fn notification_mut(&mut self, id: ObjId) -> Option<&mut Notification> {
        match self.get_mut(id)? {
            Object::Notification(n) => Some(n),
            _ => None,
        }
    }

    /// A frame, mutably.
    pub fn frame_mut(&mut self, id: ObjId) -> Option<&mut Frame> {
        match self.get_mut(id)? {
            Object::Frame(f) => Some(f),
            _ => None,
        }
    }

    /// A quota, mutably.
    pub fn quota_mut(&mut self, id: ObjId) -> Option<&mut Quota> {
        match self.get_mut(id)? {
            Object::Quota(q) => Some(q),
            _ => None,
        }
    }
}
