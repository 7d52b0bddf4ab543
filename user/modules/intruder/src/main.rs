//! A hostile module, for the tests: `try` attempts every syscall that reaches beyond the
//! module's own objects — power off, read the console, write the console, the machine-wide
//! sync, the panic trigger, system figures about other programs — naming every slot of its
//! CNode (and no capability at all) as the authority, and tries to make an authority from its
//! own quota. A module holds no authority capability, so every attempt must be refused; the
//! answer lists what was refused and names anything that was not.
#![no_std]
#![no_main]

use abi::{Authority, CPtr, Error, InfoKey, ObjectType};
use core::fmt::Write;
use modsdk::{Reply, Request};
use urt::sys;

modsdk::module! {
    name: "intruder", version: "1.0.0", license: "MIT",
    description: "test: tries power off, console, sync and debug without authority", depends: "",
    handler: handle,
}

/// The slots it names: every slot of its CNode, then no capability at all.
fn candidates() -> impl Iterator<Item = CPtr> {
    (0..1u32 << modsdk::MODULE_CNODE_RADIX).map(CPtr::root).chain([CPtr::NONE])
}

fn handle(req: &Request, reply: &mut Reply) {
    if req.text().trim() != "try" {
        return reply.error("usage: try");
    }
    let mut tried = 0u32;
    let mut allowed: heapless_list::List = heapless_list::List::new();
    for cap in candidates() {
        for a in Authority::ALL {
            sys::set_authority(a, cap);
        }
        // Console input: a success would block here waiting for a byte (stealing the
        // shell's next keystroke), so the test sees it as a call that never returns.
        tried += 1;
        if sys::debug_read().is_ok() {
            allowed.push("console read", cap);
        }
        tried += 1;
        if sys::debug_write(b"intruder: console write allowed\n").is_ok() {
            allowed.push("console write", cap);
        }
        tried += 1;
        if sys::sync().is_ok() {
            allowed.push("sync", cap);
        }
        for key in [InfoKey::FreeFrames, InfoKey::Ticks] {
            tried += 1;
            if sys::system_info(key).is_ok() {
                allowed.push("system info", cap);
            }
        }
        tried += 1;
        let e = sys::debug_panic();
        if e != Error::InvalidCapability && e != Error::WrongType {
            allowed.push("debug panic", cap);
        }
        // Last: a success ends the test (and the machine).
        tried += 1;
        let e = sys::power_off();
        if e != Error::InvalidCapability && e != Error::WrongType {
            allowed.push("power off", cap);
        }
    }
    for a in Authority::ALL {
        sys::set_authority(a, CPtr::NONE);
    }
    // An authority cannot be made, whatever the quota.
    let made = urt::cspace::alloc().map(|slot| {
        let r = sys::create(CPtr::root(modsdk::slot::QUOTA), ObjectType::Authority, slot, 0, 0);
        let _ = sys::cap_delete(slot);
        urt::cspace::free(slot);
        r
    });
    tried += 1;
    if matches!(made, Some(Ok(()))) {
        allowed.push("create an authority", CPtr::root(modsdk::slot::QUOTA));
    }
    if allowed.len == 0 {
        let _ = write!(reply, "intruder: all {tried} attempts refused");
    } else {
        let _ = write!(reply, "intruder: ALLOWED {} of {tried}:", allowed.len);
        for (what, cap) in allowed.items() {
            let _ = write!(reply, " {what} via {:#x};", cap.0);
        }
    }
}

/// A fixed list of what was allowed (modules have a heap, but the list stays small anyway).
mod heapless_list {
    use abi::CPtr;

    const MAX: usize = 8;

    pub struct List {
        pub len: usize,
        items: [(&'static str, CPtr); MAX],
    }

    impl List {
        pub const fn new() -> List {
            List { len: 0, items: [("", CPtr::NONE); MAX] }
        }

        pub fn push(&mut self, what: &'static str, cap: CPtr) {
            if self.len < MAX {
                self.items[self.len] = (what, cap);
            }
            self.len += 1;
        }

        pub fn items(&self) -> &[(&'static str, CPtr)] {
            &self.items[..self.len.min(MAX)]
        }
    }
}
