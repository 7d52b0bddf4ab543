//! The kernel's self-check (`KernelCheck`): every invariant of its books, recomputed from
//! scratch and compared with what the kernel keeps, plus the figures a test compares before and
//! after a run (free frames, heap, capabilities, mappings, objects by type).
//!
//! It runs under the kernel lock and allocates temporary maps sized to the derivation tree, so
//! only a holder of the Debug authority may ask for it.

use crate::cspace::slot_index;
use crate::mm::{frames, heap};
use crate::object::{ObjId, Object, State};
use crate::sched::Kernel;
use abi::KernelStats;
use alloc::collections::BTreeMap;
use klogic::pte::Access;

/// At most this many broken invariants are logged per check (all are counted).
const LOG_AT_MOST: u64 = 8;

struct Report {
    violations: u64,
}

impl Report {
    fn fail(&mut self, args: core::fmt::Arguments<'_>) {
        if self.violations < LOG_AT_MOST {
            log::error!("kernel self-check: {args}");
        }
        self.violations += 1;
    }
}

macro_rules! check {
    ($r:expr, $cond:expr, $($arg:tt)*) => {
        if !$cond {
            $r.fail(format_args!($($arg)*));
        }
    };
}

/// Checks everything; returns the figures with the number of broken invariants.
pub fn run(k: &Kernel) -> KernelStats {
    let mut r = Report { violations: 0 };
    let mut stats = KernelStats {
        free_frames: frames::free_frames() as u64,
        heap_used: heap::used_bytes() as u64,
        heap_free: heap::free_bytes() as u64,
        ..Default::default()
    };

    // The derivation tree: every capability names a live object from a live CNode slot in
    // range; a parent exists and (unless it is a quota the object was made from) names the same
    // object with at least the child's rights; the kernel's per-object counts agree.
    if let Err(e) = k.cdt.check() {
        r.fail(format_args!("derivation tree: {e}"));
    }
    let mut caps_of: BTreeMap<u64, usize> = BTreeMap::new();
    for slot in k.cdt.slots() {
        stats.cap_slots += 1;
        let Some(cap) = k.cdt.get(slot) else {
            r.fail(format_args!("slot {slot:#x} listed but empty"));
            continue;
        };
        *caps_of.entry(cap.object).or_insert(0) += 1;
        check!(r, k.objects.get(ObjId(cap.object)).is_some(), "slot {slot:#x} names a dead object {:#x}", cap.object);
        match k.objects.by_index((slot >> 16) as u32).and_then(|e| e.object.as_ref()) {
            Some(Object::CNode(c)) => {
                check!(r, slot_index(slot) >> c.radix == 0, "slot {slot:#x} beyond its CNode's {} slots", 1 << c.radix)
            }
            _ => r.fail(format_args!("slot {slot:#x} is not in a live CNode")),
        }
        if let Some(p) = k.cdt.parent(slot) {
            match k.cdt.get(p) {
                None => r.fail(format_args!("slot {slot:#x}: parent {p:#x} is empty")),
                Some(pc) => {
                    let from_quota = matches!(k.objects.get(ObjId(pc.object)), Some(Object::Quota(_)));
                    if pc.object != cap.object {
                        check!(r, from_quota, "slot {slot:#x}: parent {p:#x} names another object (not a quota)");
                    } else {
                        check!(r, cap.rights.within(pc.rights), "slot {slot:#x} has rights its parent lacks");
                        check!(r, pc.badge == 0 || pc.badge == cap.badge, "slot {slot:#x}: badged parent re-badged");
                    }
                }
            }
        }
    }

    // Objects: counts, capabilities, holds.
    let mut holds: BTreeMap<ObjId, u32> = BTreeMap::new();
    for (id, e) in k.objects.iter() {
        if let Some(c) = e.charge {
            *holds.entry(c.quota).or_insert(0) += 1;
        }
        if let Some(Object::Tcb(t)) = &e.object {
            for held in [t.cspace, t.vspace].into_iter().flatten() {
                *holds.entry(held).or_insert(0) += 1;
            }
            check_thread(k, &mut r, id, t.state);
        }
    }
    for core in 0..k.cores {
        if let Some(t) = k.current_id(core) {
            *holds.entry(t).or_insert(0) += 1;
        }
    }
    let mut w_count: BTreeMap<ObjId, (u32, u32)> = BTreeMap::new();
    for (slot, m) in &k.mappings {
        let counts = w_count.entry(m.frame).or_insert((0, 0));
        match m.access {
            Access::ReadWrite => counts.0 += 1,
            Access::ReadExec => counts.1 += 1,
            Access::Read => {}
        }
        check!(r, k.cdt.get(*slot).map(|c| c.object) == Some(m.frame.0), "mapping of slot {slot:#x}: not its frame");
        let recorded = k.objects.vspace(m.vspace).and_then(|v| v.mapped.get(&m.va).copied());
        check!(r, recorded == Some(*slot), "mapping of slot {slot:#x} at {:#x}: its VSpace does not record it", m.va);
    }
    stats.mappings = k.mappings.len() as u64;
    for (id, e) in k.objects.iter() {
        let Some(object) = &e.object else { continue };
        let kind = object.kind();
        if let Some(n) = stats.objects.get_mut(kind as usize) {
            *n += 1;
        }
        let caps = caps_of.get(&id.0).copied().unwrap_or(0);
        check!(
            r,
            k.cdt.refs(id.0) == caps,
            "object {:#x}: {} capabilities counted, {caps} found",
            id.0,
            k.cdt.refs(id.0)
        );
        check!(
            r,
            e.capless == (caps == 0),
            "object {:#x} ({}): capless={} with {caps} capabilities",
            id.0,
            kind.name(),
            e.capless
        );
        check!(
            r,
            !(e.capless && e.holds == 0),
            "object {:#x} ({}): unheld and capless but not destroyed",
            id.0,
            kind.name()
        );
        if e.capless {
            stats.dying += 1;
        }
        let want = holds.get(&id).copied().unwrap_or(0);
        check!(r, e.holds == want, "object {:#x} ({}): {} holds recorded, {want} found", id.0, kind.name(), e.holds);
        match object {
            Object::Frame(f) => {
                let (w, x) = w_count.get(&id).copied().unwrap_or((0, 0));
                check!(
                    r,
                    (f.writable, f.executable) == (w, x),
                    "frame {:#x}: W/X counts {}/{}, mappings {w}/{x}",
                    id.0,
                    f.writable,
                    f.executable
                );
                check!(r, f.writable == 0 || f.executable == 0, "frame {:#x} writable and executable at once", id.0);
            }
            Object::Endpoint(ep) => {
                for t in &ep.queue {
                    let state = k.objects.tcb(*t).map(|t| t.state);
                    let ok = match state {
                        Some(State::BlockedSend(e)) => ep.senders && e == id,
                        Some(State::BlockedRecv(e)) => !ep.senders && e == id,
                        _ => false,
                    };
                    check!(r, ok, "endpoint {:#x}: queued thread {:#x} is {state:?}", id.0, t.0);
                }
            }
            Object::Notification(n) => {
                for t in &n.waiters {
                    let state = k.objects.tcb(*t).map(|t| t.state);
                    check!(
                        r,
                        state == Some(State::BlockedWait(id)),
                        "notification {:#x}: waiter {:#x} is {state:?}",
                        id.0,
                        t.0
                    );
                }
            }
            _ => {}
        }
    }
    check!(r, k.reap_queue.is_empty(), "{} objects left in the reap queue", k.reap_queue.len());
    stats.violations = r.violations;
    stats
}

/// A thread blocked on an object is in that object's queue.
fn check_thread(k: &Kernel, r: &mut Report, id: ObjId, state: State) {
    let queued = match state {
        State::BlockedSend(e) | State::BlockedRecv(e) => match k.objects.get(e) {
            Some(Object::Endpoint(ep)) => ep.queue.contains(&id),
            _ => false,
        },
        State::BlockedWait(n) => match k.objects.get(n) {
            Some(Object::Notification(n)) => n.waiters.contains(&id),
            _ => false,
        },
        _ => true,
    };
    check!(r, queued, "thread {:#x} is {state:?} but not in that object's queue", id.0);
}
