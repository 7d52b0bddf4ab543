//! The capability derivation tree (issue 3's core, host-tested ahead of the kernel using it).
//!
//! Every capability lives in a slot (the kernel maps "CNode + index" to a [`Slot`]). A
//! capability made from another by copy or mint is that one's *child*; [`Cdt::revoke`] removes
//! every descendant of a slot, in whatever CSpace it sits, at any depth; [`Cdt::delete`] removes
//! one capability and hands its children to its parent, so a revoke higher up still reaches
//! them. Rights only shrink along a derivation, and a badged capability cannot be re-badged.
//! [`Cdt::delete`] and [`Cdt::revoke`] report when the last capability to an object goes, so
//! the kernel can destroy the object.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// A capability slot, unique across all CNodes.
pub type Slot = u64;

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
}

#[derive(Clone, Debug)]
struct Node {
    cap: Cap,
    parent: Option<Slot>,
    children: Vec<Slot>,
}

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
    nodes: BTreeMap<Slot, Node>,
    refs: BTreeMap<u64, usize>,
}

impl Cdt {
    /// An empty tree.
    pub fn new() -> Cdt {
        Cdt::default()
    }

    /// The capability in `slot`.
    pub fn get(&self, slot: Slot) -> Option<Cap> {
        self.nodes.get(&slot).map(|n| n.cap)
    }

    /// The slot `slot` was derived from.
    pub fn parent(&self, slot: Slot) -> Option<Slot> {
        self.nodes.get(&slot)?.parent
    }

    /// Capabilities naming `object`.
    pub fn refs(&self, object: u64) -> usize {
        self.refs.get(&object).copied().unwrap_or(0)
    }

    /// Every descendant of `slot` (not `slot` itself), depth first.
    pub fn descendants(&self, slot: Slot) -> Vec<Slot> {
        let mut out = Vec::new();
        let mut stack: Vec<Slot> = self.nodes.get(&slot).map(|n| n.children.clone()).unwrap_or_default();
        while let Some(s) = stack.pop() {
            out.push(s);
            if let Some(n) = self.nodes.get(&s) {
                stack.extend(n.children.iter().copied());
            }
        }
        out
    }

    fn place(&mut self, slot: Slot, cap: Cap, parent: Option<Slot>) {
        self.nodes.insert(slot, Node { cap, parent, children: Vec::new() });
        if let Some(p) = parent {
            self.nodes.get_mut(&p).expect("parent exists").children.push(slot);
        }
        *self.refs.entry(cap.object).or_insert(0) += 1;
    }

    /// Puts the original capability to a new object in an empty `slot` (object creation).
    pub fn insert_original(&mut self, slot: Slot, cap: Cap) -> Result<(), CdtError> {
        if self.nodes.contains_key(&slot) {
            return Err(CdtError::DestinationOccupied);
        }
        self.place(slot, cap, None);
        Ok(())
    }

    /// Puts the original capability to a new object in an empty `slot` as a child of `parent`
    /// (an object made from a memory quota: revoking the quota capability removes it).
    pub fn insert_child(&mut self, parent: Slot, slot: Slot, cap: Cap) -> Result<(), CdtError> {
        if !self.nodes.contains_key(&parent) {
            return Err(CdtError::EmptySource);
        }
        if self.nodes.contains_key(&slot) {
            return Err(CdtError::DestinationOccupied);
        }
        self.place(slot, cap, Some(parent));
        Ok(())
    }

    /// The occupied slots in `range`, in order.
    pub fn occupied(&self, range: core::ops::Range<Slot>) -> Vec<Slot> {
        self.nodes.range(range).map(|(s, _)| *s).collect()
    }

    /// Number of capabilities in the tree.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if the tree holds no capability.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn check_derive(&self, src: Slot, dst: Slot) -> Result<Cap, CdtError> {
        if src == dst {
            return Err(CdtError::SameSlot);
        }
        let cap = self.get(src).ok_or(CdtError::EmptySource)?;
        if self.nodes.contains_key(&dst) {
            return Err(CdtError::DestinationOccupied);
        }
        Ok(cap)
    }

    /// Copies `src` into `dst` as its child, same rights and badge.
    pub fn copy(&mut self, src: Slot, dst: Slot) -> Result<(), CdtError> {
        let cap = self.check_derive(src, dst)?;
        self.place(dst, cap, Some(src));
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
        self.place(dst, Cap { object: cap.object, rights, badge }, Some(src));
        Ok(())
    }

    /// Moves the capability in `src` to `dst`, keeping its place in the tree.
    pub fn move_cap(&mut self, src: Slot, dst: Slot) -> Result<(), CdtError> {
        self.check_derive(src, dst)?;
        let node = self.nodes.remove(&src).expect("checked");
        if let Some(p) = node.parent {
            let siblings = &mut self.nodes.get_mut(&p).expect("parent exists").children;
            let at = siblings.iter().position(|s| *s == src).expect("child listed");
            siblings[at] = dst;
        }
        for c in &node.children {
            self.nodes.get_mut(c).expect("child exists").parent = Some(dst);
        }
        self.nodes.insert(dst, node);
        Ok(())
    }

    fn unlink(&mut self, slot: Slot, removed: &mut Removed) -> Option<Node> {
        let node = self.nodes.remove(&slot)?;
        if let Some(p) = node.parent.and_then(|p| self.nodes.get_mut(&p)) {
            p.children.retain(|s| *s != slot);
        }
        self.forget(slot, node.cap, removed);
        Some(node)
    }

    /// Counts a removed capability out: one reference less to its object (dead at zero).
    fn forget(&mut self, slot: Slot, cap: Cap, removed: &mut Removed) {
        let count = self.refs.get_mut(&cap.object).expect("counted");
        *count -= 1;
        if *count == 0 {
            self.refs.remove(&cap.object);
            removed.dead_objects.push(cap.object);
        }
        removed.caps.push((slot, cap));
    }

    /// Removes the capability in `slot`; its children become children of its parent.
    pub fn delete(&mut self, slot: Slot) -> Removed {
        let mut removed = Removed::default();
        let Some(node) = self.unlink(slot, &mut removed) else { return removed };
        for c in &node.children {
            self.nodes.get_mut(c).expect("child exists").parent = node.parent;
            if let Some(p) = node.parent {
                self.nodes.get_mut(&p).expect("parent exists").children.push(*c);
            }
        }
        removed
    }

    /// Removes every descendant of `slot`, keeping `slot` itself. Linear in the number of
    /// descendants: `slot`'s children list is taken whole, and every other removed node's
    /// parent is removed too, so no sibling list is searched (one search per child made revoking
    /// n children O(n²)).
    pub fn revoke(&mut self, slot: Slot) -> Removed {
        let mut removed = Removed::default();
        let Some(root) = self.nodes.get_mut(&slot) else { return removed };
        let mut pending = core::mem::take(&mut root.children);
        while let Some(s) = pending.pop() {
            let Some(node) = self.nodes.remove(&s) else { continue };
            pending.extend(node.children);
            self.forget(s, node.cap, &mut removed);
        }
        removed
    }

    /// Checks every structural invariant; returns a description of the first broken one.
    pub fn check(&self) -> Result<(), &'static str> {
        let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
        for (slot, n) in &self.nodes {
            *counts.entry(n.cap.object).or_insert(0) += 1;
            if let Some(p) = n.parent {
                let parent = self.nodes.get(&p).ok_or("parent slot is empty")?;
                if !parent.children.contains(slot) {
                    return Err("parent does not list child");
                }
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
            for c in &n.children {
                if self.nodes.get(c).and_then(|c| c.parent) != Some(*slot) {
                    return Err("child does not name its parent");
                }
            }
            if n.children.iter().enumerate().any(|(i, c)| n.children[..i].contains(c)) {
                return Err("child listed twice");
            }
        }
        if counts != self.refs {
            return Err("reference counts disagree with the slots");
        }
        // No cycles: walking up from any slot ends within the number of slots.
        for slot in self.nodes.keys() {
            let mut cur = Some(*slot);
            for _ in 0..=self.nodes.len() {
                cur = cur.and_then(|s| self.nodes.get(&s)?.parent);
            }
            if cur.is_some() {
                return Err("cycle in the tree");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(object: u64) -> Cap {
        Cap { object, rights: Rights::ALL, badge: 0 }
    }

    #[test]
    fn revoke_removes_exactly_the_descendants_across_cspaces() {
        // Slots 1xx, 2xx, 3xx stand for three CSpaces.
        let mut t = Cdt::new();
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
        let mut t = Cdt::new();
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
        let mut t = Cdt::new();
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
        let mut t = Cdt::new();
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
        let mut t = Cdt::new();
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
        let mut t = Cdt::new();
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
        let mut t = Cdt::new();
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
            let mut t = Cdt::new();
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
        let mut t = Cdt::new();
        t.insert_original(5, ep(7)).unwrap();
        t.copy(5, 1).unwrap();
        t.nodes.get_mut(&1).unwrap().parent = Some(99);
        assert_eq!(t.check(), Err("parent slot is empty"));

        let mut t = chain();
        t.nodes.get_mut(&1).unwrap().children.clear();
        assert_eq!(t.check(), Err("parent does not list child"));

        let mut t = chain();
        t.nodes.get_mut(&2).unwrap().cap.object = 8;
        assert_eq!(t.check(), Err("child names another object"));

        let mut t = chain();
        t.nodes.get_mut(&3).unwrap().cap.rights = Rights::ALL;
        assert_eq!(t.check(), Err("child has rights its parent lacks"));

        let mut t = chain();
        t.nodes.get_mut(&3).unwrap().cap.badge = 10;
        assert_eq!(t.check(), Err("badged capability re-badged"));

        let mut t = chain();
        t.insert_original(4, ep(7)).unwrap();
        t.nodes.get_mut(&1).unwrap().children.push(4);
        assert_eq!(t.check(), Err("child does not name its parent"));

        let mut t = chain();
        t.nodes.get_mut(&1).unwrap().children.push(2);
        assert_eq!(t.check(), Err("child listed twice"));

        // 1 and 2 each other's parent and child: every local link agrees, only the walk up fails.
        let mut t = Cdt::new();
        t.insert_original(1, ep(7)).unwrap();
        t.copy(1, 2).unwrap();
        t.nodes.get_mut(&1).unwrap().parent = Some(2);
        t.nodes.get_mut(&2).unwrap().children.push(1);
        assert_eq!(t.check(), Err("cycle in the tree"));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Create(Slot),
        Copy(Slot, Slot),
        Mint(Slot, Slot, u8, u64),
        Move(Slot, Slot),
        Delete(Slot),
        Revoke(Slot),
    }

    fn op() -> impl Strategy<Value = Op> {
        let s = 0u64..24;
        prop_oneof![
            s.clone().prop_map(Op::Create),
            (s.clone(), s.clone()).prop_map(|(a, b)| Op::Copy(a, b)),
            (s.clone(), s.clone(), 0u8..16, 0u64..3).prop_map(|(a, b, r, g)| Op::Mint(a, b, r, g)),
            (s.clone(), s.clone()).prop_map(|(a, b)| Op::Move(a, b)),
            s.clone().prop_map(Op::Delete),
            s.prop_map(Op::Revoke),
        ]
    }

    proptest! {
        /// Random sequences of every operation keep every invariant after every step; revoke
        /// removes exactly the descendants; a refused operation changes nothing.
        #[test]
        fn invariants_hold(ops in proptest::collection::vec(op(), 1..80)) {
            let mut t = Cdt::new();
            let mut next_object = 1;
            for op in ops {
                let before = t.clone();
                let result = match op {
                    Op::Create(s) => {
                        next_object += 1;
                        t.insert_original(s, Cap { object: next_object, rights: Rights::ALL, badge: 0 })
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
                        let expect = before.descendants(s);
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
                };
                if result.is_err() {
                    prop_assert_eq!(format!("{:?}", t.nodes), format!("{:?}", before.nodes));
                }
                if let Err(e) = t.check() {
                    prop_assert!(false, "invariant broken after {:?}: {}", op, e);
                }
            }
        }
    }
}
