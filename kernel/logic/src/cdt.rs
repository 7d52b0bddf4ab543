//! The capability derivation tree (issue 3's core, host-tested ahead of the kernel using it).
//!
//! Every capability lives in a slot (the kernel maps "CNode + index" to a [`Slot`]: the CNode's
//! object index in the high bits, the index within it in the low 16). A capability made from
//! another by copy or mint is that one's *child*; [`Cdt::revoke`] removes every descendant of a
//! slot, in whatever CSpace it sits, at any depth; [`Cdt::delete`] removes one capability and
//! hands its children to its parent, so a revoke higher up still reaches them. Rights only
//! shrink along a derivation, and a badged capability cannot be re-badged. [`Cdt::delete`] and
//! [`Cdt::revoke`] report when the last capability to an object goes, so the kernel can destroy
//! the object.
//!
//! # Layout and cost (issue 11)
//! The tree lives in the slots themselves, as seL4 keeps its derivation links in each CTE: a
//! *space* ([`Cdt::add_space`], one per CNode, allocated with it and charged with it) is an
//! array of nodes, and each node links to its parent, its first child and its two siblings.
//! So finding a slot is two array indexings, and every link change is O(1):
//! - [`Cdt::revoke_some`] removes descendants in bounded steps and needs no memory of its own:
//!   it takes the first child of the revoked slot, hands that child's children to the revoked
//!   slot, and removes it. Whatever is left is a consistent tree, so a revoke can stop after any
//!   step (the kernel stops when an interrupt is pending) and a later call finishes it. Every
//!   descendant is removed once and re-parented at most once: linear in the descendants.
//! - [`Cdt::count_descendants`] walks the subtree by its links, with no stack.
//! - [`Cdt::delete`] and [`Cdt::move_cap`] touch each child of the slot once (its parent link).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// A capability slot, unique across all CNodes: space index << 16 | index within the space.
pub type Slot = u64;

/// Bits of a [`Slot`] that index within its space.
pub const SPACE_BITS: u32 = 16;

/// "No slot" in a link.
const NIL: Slot = u64::MAX;

pub use abi::Rights;

/// A capability: which object, with what rights, with what badge (0 = unbadged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    /// The object it names.
    pub object: u64,
    /// Its rights.
    pub rights: Rights,
    /// Its badge; 0 means none.
    pub badge: u64,
}

/// Why an operation was refused. Nothing changes when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CdtError {
    /// The source slot is empty.
    EmptySource,
    /// The destination slot is occupied.
    DestinationOccupied,
    /// The new rights are not a subset of the source's.
    RightsEscalation,
    /// The source is badged and a different badge was asked for.
    AlreadyBadged,
    /// Source and destination are the same slot.
    SameSlot,
    /// The destination is in no space, or past the end of its space.
    NoSuchSlot,
    /// The kernel heap has no block for a new space.
    NoMemory,
}

/// One slot: its capability (if `used`) and its links in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Node {
    cap: Cap,
    used: bool,
    /// Made by [`Cdt::insert_child`]: names a new object, not its parent's.
    original: bool,
    parent: Slot,
    first_child: Slot,
    prev: Slot,
    next: Slot,
}

const EMPTY: Node = Node {
    cap: Cap { object: 0, rights: Rights(0), badge: 0 },
    used: false,
    original: false,
    parent: NIL,
    first_child: NIL,
    prev: NIL,
    next: NIL,
};

/// Bytes one slot of a space takes (what a CNode's slot costs its quota at least).
pub const SLOT_BYTES: usize = core::mem::size_of::<Node>();

/// What a removal did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// Capabilities removed, with their slots.
    pub caps: Vec<(Slot, Cap)>,
    /// Objects whose last capability went: the kernel destroys them.
    pub dead_objects: Vec<u64>,
}

/// The derivation tree over all slots.
#[derive(Clone, Debug, Default)]
pub struct Cdt {
    spaces: Vec<Option<Box<[Node]>>>,
    len: usize,
    refs: BTreeMap<u64, usize>,
}

fn opt(s: Slot) -> Option<Slot> {
    (s != NIL).then_some(s)
}

impl Cdt {
    /// An empty tree with no spaces.
    pub fn new() -> Cdt {
        Cdt::default()
    }

    /// Adds space `index` of `len` empty slots (a new CNode). Replaces nothing: an existing
    /// space of that index is an error.
    pub fn add_space(&mut self, index: u64, len: usize) -> Result<(), CdtError> {
        let i = usize::try_from(index).map_err(|_| CdtError::NoSuchSlot)?;
        if len > 1 << SPACE_BITS {
            return Err(CdtError::NoSuchSlot);
        }
        if self.spaces.len() <= i {
            self.spaces.try_reserve(i + 1 - self.spaces.len()).map_err(|_| CdtError::NoMemory)?;
            self.spaces.resize_with(i + 1, || None);
        }
        if self.spaces[i].is_some() {
            return Err(CdtError::DestinationOccupied);
        }
        // The quota paid for the bytes, but the heap may have no contiguous block left: an
        // error, not a failed allocation.
        let mut nodes = Vec::new();
        nodes.try_reserve_exact(len).map_err(|_| CdtError::NoMemory)?;
        nodes.resize(len, EMPTY);
        self.spaces[i] = Some(nodes.into_boxed_slice());
        Ok(())
    }

    /// Removes space `index`, which must hold no capability any more (a destroyed CNode,
    /// after its slots were deleted). Returns false if it still holds one (nothing changes).
    pub fn remove_space(&mut self, index: u64) -> bool {
        let Some(Some(space)) = usize::try_from(index).ok().and_then(|i| self.spaces.get_mut(i)) else { return true };
        if space.iter().any(|n| n.used) {
            return false;
        }
        self.spaces[index as usize] = None;
        true
    }

    #[inline]
    fn slot_ref(&self, slot: Slot) -> Option<&Node> {
        let space = self.spaces.get(usize::try_from(slot >> SPACE_BITS).ok()?)?.as_ref()?;
        space.get((slot & ((1 << SPACE_BITS) - 1)) as usize)
    }

    #[inline]
    fn slot_mut(&mut self, slot: Slot) -> Option<&mut Node> {
        let space = self.spaces.get_mut(usize::try_from(slot >> SPACE_BITS).ok()?)?.as_mut()?;
        space.get_mut((slot & ((1 << SPACE_BITS) - 1)) as usize)
    }

    #[inline]
    fn node(&self, slot: Slot) -> Option<&Node> {
        self.slot_ref(slot).filter(|n| n.used)
    }

    /// A used node's links, by slot (the tree's own links always name used nodes).
    #[inline]
    fn n(&mut self, slot: Slot) -> &mut Node {
        let n = self.slot_mut(slot).expect("linked slot exists");
        debug_assert!(n.used);
        n
    }

    /// The capability in `slot`.
    #[inline]
    pub fn get(&self, slot: Slot) -> Option<Cap> {
        self.node(slot).map(|n| n.cap)
    }

    /// The slot `slot` was derived from.
    pub fn parent(&self, slot: Slot) -> Option<Slot> {
        opt(self.node(slot)?.parent)
    }

    /// Capabilities naming `object`.
    pub fn refs(&self, object: u64) -> usize {
        self.refs.get(&object).copied().unwrap_or(0)
    }

    /// The descendants of `slot` (not `slot` itself), walked by the tree's links.
    pub fn descendants(&self, slot: Slot) -> Descendants<'_> {
        let first = self.node(slot).map_or(NIL, |n| n.first_child);
        Descendants { cdt: self, root: slot, next: first }
    }

    /// How many descendants `slot` has (no memory of its own; linear in the answer).
    pub fn count_descendants(&self, slot: Slot) -> usize {
        self.descendants(slot).count()
    }

    fn place(&mut self, slot: Slot, cap: Cap, parent: Option<Slot>, original: bool) {
        let parent = parent.unwrap_or(NIL);
        let next = if parent == NIL { NIL } else { self.n(parent).first_child };
        *self.slot_mut(slot).expect("checked") =
            Node { cap, used: true, original, parent, first_child: NIL, prev: NIL, next };
        if next != NIL {
            self.n(next).prev = slot;
        }
        if parent != NIL {
            self.n(parent).first_child = slot;
        }
        self.len += 1;
        *self.refs.entry(cap.object).or_insert(0) += 1;
    }

    fn check_empty(&self, slot: Slot) -> Result<(), CdtError> {
        match self.slot_ref(slot) {
            None => Err(CdtError::NoSuchSlot),
            Some(n) if n.used => Err(CdtError::DestinationOccupied),
            Some(_) => Ok(()),
        }
    }

    /// Puts the original capability to a new object in an empty `slot` (object creation).
    pub fn insert_original(&mut self, slot: Slot, cap: Cap) -> Result<(), CdtError> {
        self.check_empty(slot)?;
        self.place(slot, cap, None, true);
        Ok(())
    }

    /// Puts the original capability to a new object in an empty `slot` as a child of `parent`
    /// (an object made from a memory quota: revoking the quota capability removes it).
    pub fn insert_child(&mut self, parent: Slot, slot: Slot, cap: Cap) -> Result<(), CdtError> {
        if self.node(parent).is_none() {
            return Err(CdtError::EmptySource);
        }
        self.check_empty(slot)?;
        self.place(slot, cap, Some(parent), true);
        Ok(())
    }

    /// The first occupied slot in `range`, if any (walks the spaces the range covers).
    pub fn next_occupied(&self, range: core::ops::Range<Slot>) -> Option<Slot> {
        let mut s = range.start;
        while s < range.end {
            let space_index = s >> SPACE_BITS;
            let space_start = space_index << SPACE_BITS;
            let space = usize::try_from(space_index).ok().and_then(|i| self.spaces.get(i));
            match space {
                None => return None, // past the last space
                Some(Some(nodes)) => {
                    let from = (s - space_start) as usize;
                    let to = usize::try_from(range.end.saturating_sub(space_start)).unwrap_or(usize::MAX);
                    let to = to.min(nodes.len());
                    if let Some(i) = nodes.get(from..to).and_then(|ns| ns.iter().position(|n| n.used)) {
                        return Some(space_start + (from + i) as u64);
                    }
                }
                Some(None) => {}
            }
            match space_start.checked_add(1 << SPACE_BITS) {
                Some(next) => s = next,
                None => return None,
            }
        }
        None
    }

    /// Every occupied slot, in order (walks the spaces; no memory of its own).
    pub fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        self.spaces.iter().enumerate().filter_map(|(i, s)| Some((i, s.as_ref()?))).flat_map(|(si, space)| {
            space.iter().enumerate().filter(|(_, n)| n.used).map(move |(i, _)| ((si as u64) << SPACE_BITS) | i as u64)
        })
    }

    /// The occupied slots in `range`, in order.
    pub fn occupied(&self, range: core::ops::Range<Slot>) -> Vec<Slot> {
        let mut out = Vec::new();
        let mut from = range.start;
        while let Some(s) = self.next_occupied(from..range.end) {
            out.push(s);
            from = s + 1;
        }
        out
    }

    /// Number of capabilities in the tree.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the tree holds no capability.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check_derive(&self, src: Slot, dst: Slot) -> Result<Cap, CdtError> {
        if src == dst {
            return Err(CdtError::SameSlot);
        }
        let cap = self.get(src).ok_or(CdtError::EmptySource)?;
        self.check_empty(dst)?;
        Ok(cap)
    }

    /// Copies `src` into `dst` as its child, same rights and badge.
    pub fn copy(&mut self, src: Slot, dst: Slot) -> Result<(), CdtError> {
        let cap = self.check_derive(src, dst)?;
        self.place(dst, cap, Some(src), false);
        Ok(())
    }

    /// Derives a child of `src` in `dst` with `rights` (a subset) and `badge` (0 keeps the
    /// source's badge; a badged source keeps its badge for good).
    pub fn mint(&mut self, src: Slot, dst: Slot, rights: Rights, badge: u64) -> Result<(), CdtError> {
        let cap = self.check_derive(src, dst)?;
        if !rights.within(cap.rights) {
            return Err(CdtError::RightsEscalation);
        }
        let badge = match (cap.badge, badge) {
            (b, 0) => b,
            (0, new) => new,
            (b, new) if b == new => b,
            _ => return Err(CdtError::AlreadyBadged),
        };
        self.place(dst, Cap { object: cap.object, rights, badge }, Some(src), false);
        Ok(())
    }

    /// Moves the capability in `src` to `dst`, keeping its place in the tree.
    pub fn move_cap(&mut self, src: Slot, dst: Slot) -> Result<(), CdtError> {
        self.check_derive(src, dst)?;
        let node = core::mem::replace(self.n(src), EMPTY);
        *self.slot_mut(dst).expect("checked") = node;
        if node.prev != NIL {
            self.n(node.prev).next = dst;
        } else if node.parent != NIL {
            self.n(node.parent).first_child = dst;
        }
        if node.next != NIL {
            self.n(node.next).prev = dst;
        }
        let mut c = node.first_child;
        while c != NIL {
            let child = self.n(c);
            child.parent = dst;
            c = child.next;
        }
        Ok(())
    }

    /// Takes `slot` out of its parent's list of children (its own links stay).
    fn unlink(&mut self, slot: Slot) {
        let Node { parent, prev, next, .. } = *self.n(slot);
        if prev != NIL {
            self.n(prev).next = next;
        } else if parent != NIL {
            self.n(parent).first_child = next;
        }
        if next != NIL {
            self.n(next).prev = prev;
        }
    }

    /// Hands the children of `slot` to `to` (or makes them roots if `to` is NIL), at the front
    /// of `to`'s list. Touches each child once.
    fn adopt_children(&mut self, slot: Slot, to: Slot) {
        let first = core::mem::replace(&mut self.n(slot).first_child, NIL);
        if first == NIL {
            return;
        }
        // Children of an original (an object made from a quota) name that object, not the
        // quota they now hang from: they take over its originality.
        let original = self.n(slot).original;
        let mut last = first;
        let mut c = first;
        while c != NIL {
            let child = self.n(c);
            child.parent = to;
            child.original |= original;
            last = c;
            c = child.next;
        }
        if to == NIL {
            // Roots have no siblings.
            let mut c = first;
            while c != NIL {
                let child = self.n(c);
                let next = child.next;
                child.prev = NIL;
                child.next = NIL;
                c = next;
            }
            return;
        }
        let old_first = self.n(to).first_child;
        self.n(last).next = old_first;
        if old_first != NIL {
            self.n(old_first).prev = last;
        }
        self.n(to).first_child = first;
    }

    /// Frees a node that is already unlinked and childless and records it as removed; its
    /// reference is counted out by the caller ([`Cdt::drop_refs`]).
    fn free_node(&mut self, slot: Slot, removed: &mut Removed) -> Cap {
        let cap = core::mem::replace(self.n(slot), EMPTY).cap;
        self.len -= 1;
        removed.caps.push((slot, cap));
        cap
    }

    /// Counts `n` capabilities to `object` out (the object is dead at zero).
    fn drop_refs(&mut self, object: u64, n: usize, removed: &mut Removed) {
        if n == 0 {
            return;
        }
        let count = self.refs.get_mut(&object).expect("counted");
        *count -= n;
        if *count == 0 {
            self.refs.remove(&object);
            removed.dead_objects.push(object);
        }
    }

    /// Frees a node that is already unlinked and childless; counts its capability out.
    fn forget(&mut self, slot: Slot, removed: &mut Removed) {
        let cap = self.free_node(slot, removed);
        self.drop_refs(cap.object, 1, removed);
    }

    /// Removes the capability in `slot`; its children become children of its parent.
    pub fn delete(&mut self, slot: Slot) -> Removed {
        let mut removed = Removed::default();
        let Some(parent) = self.node(slot).map(|n| n.parent) else { return removed };
        self.unlink(slot);
        self.adopt_children(slot, parent);
        self.forget(slot, &mut removed);
        removed
    }

    /// Removes every descendant of `slot`, keeping `slot` itself.
    pub fn revoke(&mut self, slot: Slot) -> Removed {
        let mut removed = Removed::default();
        while !self.revoke_some(slot, usize::MAX, &mut removed) {}
        removed
    }

    /// Removes descendants of `slot` until about `budget` links have been changed (at least
    /// one descendant goes, if there is one), adding them to `removed`. Returns true when no
    /// descendant is left. The tree is consistent after every call: what is left is still
    /// `slot`'s descendants, so another call goes on where this one stopped.
    pub fn revoke_some(&mut self, slot: Slot, budget: usize, removed: &mut Removed) -> bool {
        if self.node(slot).is_none() {
            return true;
        }
        let mut work = 0usize;
        // Consecutive removals of one object's capabilities (the common case: copies of one
        // capability) are counted out together: one reference-count update per run.
        let mut run = (0u64, 0usize);
        let done = loop {
            let c = self.n(slot).first_child;
            if c == NIL {
                break true;
            }
            // c is the first child: unlinking it makes its next sibling the first; its own
            // children go to the front of `slot`'s list.
            let node = *self.n(c);
            let mut kids = 0usize;
            if node.first_child == NIL {
                // A leaf (most descendants): the three links it is in, nothing else.
                self.n(slot).first_child = node.next;
                if node.next != NIL {
                    self.n(node.next).prev = NIL;
                }
            } else {
                self.unlink(c);
                let mut k = node.first_child;
                while k != NIL {
                    kids += 1;
                    k = self.n(k).next;
                }
                self.adopt_children(c, slot);
            }
            let cap = self.free_node(c, removed);
            if cap.object != run.0 {
                self.drop_refs(run.0, run.1, removed);
                run = (cap.object, 0);
            }
            run.1 += 1;
            work = work.saturating_add(1 + kids);
            if work >= budget {
                break self.n(slot).first_child == NIL;
            }
        };
        self.drop_refs(run.0, run.1, removed);
        done
    }

    /// Checks every structural invariant; returns a description of the first broken one.
    /// Linear in the number of capabilities.
    pub fn check(&self) -> Result<(), &'static str> {
        let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
        let mut listed = 0usize;
        let mut with_parent = 0usize;
        let mut used = 0usize;
        for (si, space) in self.spaces.iter().enumerate() {
            let Some(space) = space else { continue };
            for (i, n) in space.iter().enumerate() {
                let slot = ((si as u64) << SPACE_BITS) | i as u64;
                if !n.used {
                    if *n != EMPTY {
                        return Err("empty slot keeps links");
                    }
                    continue;
                }
                used += 1;
                *counts.entry(n.cap.object).or_insert(0) += 1;
                if n.parent != NIL {
                    with_parent += 1;
                    let parent = self.node(n.parent).ok_or("parent slot is empty")?;
                    if !n.original {
                        if parent.cap.object != n.cap.object {
                            return Err("child names another object");
                        }
                        if !n.cap.rights.within(parent.cap.rights) {
                            return Err("child has rights its parent lacks");
                        }
                        if parent.cap.badge != 0 && parent.cap.badge != n.cap.badge {
                            return Err("badged capability re-badged");
                        }
                    }
                } else if n.prev != NIL || n.next != NIL {
                    return Err("root has siblings");
                }
                // This node's list of children: each names it, links back, and the list ends.
                let (mut c, mut prev, mut steps) = (n.first_child, NIL, 0usize);
                while c != NIL {
                    let child = self.node(c).ok_or("child slot is empty")?;
                    if child.parent != slot {
                        return Err("child does not name its parent");
                    }
                    if child.prev != prev {
                        return Err("sibling links disagree");
                    }
                    steps += 1;
                    if steps > self.len {
                        return Err("child list does not end");
                    }
                    (prev, c) = (c, child.next);
                }
                listed += steps;
            }
        }
        if used != self.len {
            return Err("capability count disagrees with the slots");
        }
        if listed != with_parent {
            return Err("parent does not list child");
        }
        if counts != self.refs {
            return Err("reference counts disagree with the slots");
        }
        // No cycles: every capability is reached from a root (a capability on a cycle has no
        // root above it). The child lists were checked to end above, so the walks do.
        let reached: usize =
            self.slots().filter(|s| self.parent(*s).is_none()).map(|r| 1 + self.count_descendants(r)).sum();
        if reached != self.len {
            return Err("cycle in the tree");
        }
        Ok(())
    }
}

/// The descendants of one slot, depth first, found by the tree's links (see
/// [`Cdt::descendants`]).
pub struct Descendants<'a> {
    cdt: &'a Cdt,
    root: Slot,
    next: Slot,
}

impl Iterator for Descendants<'_> {
    type Item = Slot;

    fn next(&mut self) -> Option<Slot> {
        let cur = opt(self.next)?;
        let n = self.cdt.node(cur)?;
        // Down first; else the next sibling; else up until an ancestor below the root has one.
        self.next = if n.first_child != NIL {
            n.first_child
        } else {
            let mut at = *n;
            let mut at_slot = cur;
            loop {
                if at.next != NIL {
                    break at.next;
                }
                if at.parent == self.root || at.parent == NIL || at_slot == self.root {
                    break NIL;
                }
                at_slot = at.parent;
                match self.cdt.node(at_slot) {
                    Some(p) => at = *p,
                    None => break NIL,
                }
            }
        };
        Some(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(object: u64) -> Cap {
        Cap { object, rights: Rights::ALL, badge: 0 }
    }

    /// A tree with one space of 512 slots (slots 0..512).
    pub(super) fn tree() -> Cdt {
        let mut t = Cdt::new();
        t.add_space(0, 512).unwrap();
        t
    }

    #[test]
    fn revoke_removes_exactly_the_descendants_across_cspaces() {
        // Slots 1xx, 2xx, 3xx stand for three CSpaces.
        let mut t = tree();
        t.insert_original(100, ep(7)).unwrap();
        t.copy(100, 200).unwrap();
        t.mint(200, 300, Rights(Rights::READ.0 | Rights::WRITE.0), 5).unwrap();
        t.copy(300, 101).unwrap();
        t.copy(100, 201).unwrap(); // sibling branch
        t.insert_original(102, ep(8)).unwrap(); // unrelated object
        let r = t.revoke(200);
        let mut gone: Vec<Slot> = r.caps.iter().map(|(s, _)| *s).collect();
        gone.sort();
        assert_eq!(gone, vec![101, 300]);
        assert!(r.dead_objects.is_empty());
        assert!(t.get(200).is_some() && t.get(201).is_some() && t.get(102).is_some());
        t.check().unwrap();
    }

    #[test]
    fn objects_made_from_a_quota_go_with_its_revoke() {
        let mut t = tree();
        t.insert_original(1, ep(1)).unwrap(); // the quota
        t.insert_child(1, 10, ep(2)).unwrap(); // an object made from it
        t.copy(10, 20).unwrap();
        assert_eq!(t.insert_child(5, 11, ep(3)), Err(CdtError::EmptySource));
        assert_eq!(t.insert_child(1, 10, ep(3)), Err(CdtError::DestinationOccupied));
        assert_eq!(t.occupied(0..15), vec![1, 10]);
        let r = t.revoke(1);
        assert_eq!(r.dead_objects, vec![2]);
        assert_eq!(t.len(), 1);
        t.check().unwrap();
    }

    #[test]
    fn rights_shrink_and_badges_stick() {
        let mut t = tree();
        t.insert_original(1, Cap { object: 1, rights: Rights(Rights::READ.0 | Rights::WRITE.0), badge: 0 }).unwrap();
        assert_eq!(t.mint(1, 2, Rights::ALL, 0), Err(CdtError::RightsEscalation));
        t.mint(1, 2, Rights::READ, 9).unwrap();
        assert_eq!(t.mint(2, 3, Rights::READ, 10), Err(CdtError::AlreadyBadged));
        t.mint(2, 3, Rights::READ, 0).unwrap();
        assert_eq!(t.get(3).unwrap().badge, 9);
        assert_eq!(t.copy(2, 3), Err(CdtError::DestinationOccupied));
        assert_eq!(t.copy(50, 51), Err(CdtError::EmptySource));
        t.check().unwrap();
    }

    #[test]
    fn delete_reparents_and_reports_the_last_reference() {
        let mut t = tree();
        t.insert_original(1, ep(3)).unwrap();
        t.copy(1, 2).unwrap();
        t.copy(2, 3).unwrap();
        assert!(t.delete(2).dead_objects.is_empty());
        assert_eq!(t.parent(3), Some(1));
        assert_eq!(t.revoke(1).caps.len(), 1, "revoke still reaches the grandchild");
        assert_eq!(t.delete(1).dead_objects, vec![3]);
        assert_eq!(t.refs(3), 0);
        t.check().unwrap();
    }

    #[test]
    fn move_keeps_the_tree() {
        let mut t = tree();
        t.insert_original(1, ep(3)).unwrap();
        t.copy(1, 2).unwrap();
        t.copy(2, 3).unwrap();
        t.move_cap(2, 9).unwrap();
        assert_eq!(t.parent(9), Some(1));
        assert_eq!(t.parent(3), Some(9));
        assert_eq!(t.get(2), None);
        assert_eq!(t.move_cap(9, 9), Err(CdtError::SameSlot));
        t.check().unwrap();
    }

    #[test]
    fn counts_len_and_emptiness() {
        let mut t = tree();
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        t.insert_original(1, ep(7)).unwrap();
        assert!(!t.is_empty());
        assert_eq!((t.len(), t.refs(7), t.refs(8)), (1, 1, 0));
        t.copy(1, 2).unwrap();
        t.insert_original(3, ep(8)).unwrap();
        assert_eq!((t.len(), t.refs(7), t.refs(8)), (3, 2, 1));
        t.delete(2);
        assert_eq!((t.len(), t.refs(7)), (2, 1));
    }

    #[test]
    fn minting_the_same_badge_again_is_allowed() {
        let mut t = tree();
        t.insert_original(1, ep(4)).unwrap();
        t.mint(1, 2, Rights::ALL, 9).unwrap();
        assert_eq!(t.mint(2, 3, Rights::READ, 9), Ok(()));
        assert_eq!(t.get(3), Some(Cap { object: 4, rights: Rights::READ, badge: 9 }));
        assert_eq!(t.parent(3), Some(2));
        t.check().unwrap();
    }

    /// `check` finds each kind of broken tree (the fields are corrupted directly).
    #[test]
    fn check_reports_each_broken_invariant() {
        fn chain() -> Cdt {
            let mut t = tree();
            t.insert_original(1, ep(7)).unwrap();
            t.mint(1, 2, Rights::READ, 9).unwrap();
            t.copy(2, 3).unwrap();
            t.check().unwrap();
            t
        }
        let mut t = chain();
        t.refs.insert(7, 2);
        assert_eq!(t.check(), Err("reference counts disagree with the slots"));

        // The orphan sits in the lowest slot so that it is checked first.
        let mut t = tree();
        t.insert_original(5, ep(7)).unwrap();
        t.copy(5, 1).unwrap();
        t.n(1).parent = 99;
        t.n(5).first_child = NIL;
        assert_eq!(t.check(), Err("parent slot is empty"));

        let mut t = chain();
        t.n(1).first_child = NIL;
        assert_eq!(t.check(), Err("parent does not list child"));

        let mut t = chain();
        t.n(2).cap.object = 8;
        assert_eq!(t.check(), Err("child names another object"));

        let mut t = chain();
        t.n(3).cap.rights = Rights::ALL;
        assert_eq!(t.check(), Err("child has rights its parent lacks"));

        let mut t = chain();
        t.n(3).cap.badge = 10;
        assert_eq!(t.check(), Err("badged capability re-badged"));

        let mut t = chain();
        t.insert_original(4, ep(7)).unwrap();
        t.n(2).next = 4;
        assert_eq!(t.check(), Err("child does not name its parent"));

        let mut t = chain();
        t.copy(1, 4).unwrap(); // 1's children: 4, 2
        t.n(2).prev = NIL;
        assert_eq!(t.check(), Err("sibling links disagree"));

        let mut t = chain();
        t.copy(1, 4).unwrap();
        t.n(2).next = 4; // 4 -> 2 -> 4 -> ...
        assert!(matches!(t.check(), Err("sibling links disagree" | "child list does not end")));

        let mut t = chain();
        t.len += 1;
        assert_eq!(t.check(), Err("capability count disagrees with the slots"));

        let mut t = chain();
        t.slot_mut(9).unwrap().parent = 1;
        assert_eq!(t.check(), Err("empty slot keeps links"));

        let mut t = chain();
        t.insert_original(4, ep(8)).unwrap();
        t.n(4).next = 1;
        assert_eq!(t.check(), Err("root has siblings"));

        // 1 and 2 each other's parent and child: every local link agrees, only the walk up fails.
        let mut t = tree();
        t.insert_original(1, ep(7)).unwrap();
        t.copy(1, 2).unwrap();
        t.n(1).parent = 2;
        t.n(2).first_child = 1;
        t.n(1).original = false;
        assert_eq!(t.check(), Err("cycle in the tree"));
    }

    #[test]
    fn spaces_bound_the_slots() {
        let mut t = tree();
        assert_eq!(t.insert_original(512, ep(1)), Err(CdtError::NoSuchSlot));
        assert_eq!(t.insert_original(1 << SPACE_BITS, ep(1)), Err(CdtError::NoSuchSlot));
        assert_eq!(t.add_space(0, 4), Err(CdtError::DestinationOccupied));
        assert_eq!(t.add_space(3, (1 << SPACE_BITS) + 1), Err(CdtError::NoSuchSlot));
        t.add_space(3, 4).unwrap();
        let s = 3 << SPACE_BITS;
        t.insert_original(s + 3, ep(1)).unwrap();
        t.copy(s + 3, 7).unwrap();
        assert_eq!(t.copy(7, s + 4), Err(CdtError::NoSuchSlot));
        assert_eq!(t.occupied(0..u64::MAX), vec![7, s + 3]);
        assert_eq!(t.slots().collect::<Vec<_>>(), vec![7, s + 3]);
        assert_eq!(t.next_occupied(8..s + 3), None);
        assert_eq!(t.next_occupied(8..s + 4), Some(s + 3));
        assert!(!t.remove_space(3), "a space with a capability stays");
        assert_eq!(t.delete(s + 3).caps.len(), 1);
        assert_eq!(t.parent(7), None);
        assert!(t.remove_space(3));
        assert_eq!(t.get(s + 3), None);
        assert_eq!(t.insert_original(s + 3, ep(1)), Err(CdtError::NoSuchSlot));
        t.check().unwrap();
    }

    /// A revoke in bounded steps: each step removes something, leaves a consistent tree whose
    /// remaining capabilities are exactly the rest of the descendants, and the steps together
    /// remove exactly what one revoke would.
    #[test]
    fn revoke_in_steps_leaves_a_consistent_tree() {
        let mut t = tree();
        t.insert_original(0, ep(1)).unwrap();
        // A wide level, a chain and a bushy part: 1..=40 under 0, 41..=80 a chain under 40,
        // 81..=200 each a child of (s - 80).
        for s in 1..=40 {
            t.copy(0, s).unwrap();
        }
        for s in 41..=80 {
            t.copy(s - 1, s).unwrap();
        }
        for s in 81..=200 {
            t.copy(s - 80, s).unwrap();
        }
        t.insert_original(300, ep(2)).unwrap();
        t.copy(300, 301).unwrap();
        let all: Vec<Slot> = t.descendants(0).collect();
        assert_eq!(all.len(), 200);
        assert_eq!(t.count_descendants(0), 200);
        let mut removed = Removed::default();
        let mut steps = 0;
        while !t.revoke_some(0, 7, &mut removed) {
            steps += 1;
            t.check().unwrap();
            let left = t.count_descendants(0);
            assert_eq!(left + removed.caps.len(), 200, "after step {steps}");
            assert!(removed.caps.len() >= steps, "every step removes one at least");
        }
        assert!(steps > 10, "the budget was honoured ({steps} steps)");
        let mut gone: Vec<Slot> = removed.caps.iter().map(|(s, _)| *s).collect();
        gone.sort();
        let mut want = all;
        want.sort();
        assert_eq!(gone, want);
        assert!(removed.dead_objects.is_empty());
        assert_eq!((t.len(), t.refs(1), t.count_descendants(300)), (3, 1, 1));
        t.check().unwrap();
        // Revoking what has no descendants is done at once, with any budget.
        assert!(t.revoke_some(0, 0, &mut removed));
        assert!(t.revoke_some(77, 0, &mut removed), "an empty slot has nothing to revoke");
    }

    /// The cost the kernel pays per descendant is linear: every link is changed a bounded number
    /// of times whatever the shape, which the step budget makes visible.
    #[test]
    fn revoke_work_is_linear_for_wide_and_deep_trees() {
        for shape in ["wide", "deep"] {
            let mut t = Cdt::new();
            t.add_space(0, 1 << SPACE_BITS).unwrap();
            t.insert_original(0, ep(1)).unwrap();
            let n = 20_000u64;
            for s in 1..=n {
                t.copy(if shape == "wide" { 0 } else { s - 1 }, s).unwrap();
            }
            let mut removed = Removed::default();
            let mut calls = 0u64;
            while !t.revoke_some(0, 64, &mut removed) {
                calls += 1;
            }
            assert_eq!(removed.caps.len() as u64, n, "{shape}");
            // Each descendant costs at most 2 units of budget (its removal and one re-parenting).
            assert!(calls <= 2 * n / 64 + 1, "{shape}: {calls} calls of budget 64 for {n}");
            t.check().unwrap();
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Create(Slot),
        CreateFrom(Slot, Slot),
        Copy(Slot, Slot),
        Mint(Slot, Slot, u8, u64),
        Move(Slot, Slot),
        Delete(Slot),
        Revoke(Slot),
        RevokeSome(Slot, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let s = 0u64..24;
        prop_oneof![
            s.clone().prop_map(Op::Create),
            (s.clone(), s.clone()).prop_map(|(a, b)| Op::CreateFrom(a, b)),
            (s.clone(), s.clone()).prop_map(|(a, b)| Op::Copy(a, b)),
            (s.clone(), s.clone(), 0u8..16, 0u64..3).prop_map(|(a, b, r, g)| Op::Mint(a, b, r, g)),
            (s.clone(), s.clone()).prop_map(|(a, b)| Op::Move(a, b)),
            s.clone().prop_map(Op::Delete),
            s.clone().prop_map(Op::Revoke),
            (s, 0usize..4).prop_map(|(a, b)| Op::RevokeSome(a, b)),
        ]
    }

    proptest! {
        /// Random sequences of every operation keep every invariant after every step; revoke
        /// removes exactly the descendants; a refused operation changes nothing.
        #[test]
        fn invariants_hold(ops in proptest::collection::vec(op(), 1..80)) {
            let mut t = super::tests::tree();
            let mut next_object = 1;
            for op in ops {
                let before = t.clone();
                let result = match op {
                    Op::Create(s) => {
                        next_object += 1;
                        t.insert_original(s, Cap { object: next_object, rights: Rights::ALL, badge: 0 })
                    }
                    // An object made from the quota capability in `q`.
                    Op::CreateFrom(q, s) => {
                        next_object += 1;
                        t.insert_child(q, s, Cap { object: next_object, rights: Rights::ALL, badge: 0 })
                    }
                    Op::Copy(a, b) => t.copy(a, b),
                    Op::Mint(a, b, r, g) => t.mint(a, b, Rights(r), g),
                    Op::Move(a, b) => t.move_cap(a, b),
                    Op::Delete(s) => {
                        let removed = t.delete(s);
                        prop_assert_eq!(removed.caps.len(), usize::from(before.get(s).is_some()));
                        Ok(())
                    }
                    Op::Revoke(s) => {
                        let expect: Vec<Slot> = before.descendants(s).collect();
                        let removed = t.revoke(s);
                        let mut got: Vec<Slot> = removed.caps.iter().map(|(s, _)| *s).collect();
                        let mut want = expect.clone();
                        got.sort();
                        want.sort();
                        prop_assert_eq!(got, want);
                        prop_assert_eq!(t.get(s), before.get(s));
                        for d in removed.dead_objects {
                            prop_assert_eq!(t.refs(d), 0);
                        }
                        Ok(())
                    }
                    Op::RevokeSome(s, budget) => {
                        // One bounded step: it removes only descendants, at least one if there
                        // are any, and what is left are exactly the others.
                        let mut before_d: Vec<Slot> = before.descendants(s).collect();
                        let mut removed = Removed::default();
                        let done = t.revoke_some(s, budget, &mut removed);
                        let mut got: Vec<Slot> = removed.caps.iter().map(|(s, _)| *s).collect();
                        got.extend(t.descendants(s));
                        got.sort();
                        before_d.sort();
                        prop_assert_eq!(got, before_d.clone());
                        prop_assert_eq!(done, t.count_descendants(s) == 0);
                        prop_assert!(before_d.is_empty() || !removed.caps.is_empty());
                        Ok(())
                    }
                };
                if result.is_err() {
                    prop_assert_eq!(format!("{:?}", t.spaces), format!("{:?}", before.spaces));
                }
                if let Err(e) = t.check() {
                    prop_assert!(false, "invariant broken after {:?}: {}", op, e);
                }
            }
        }
    }
}
