//! What the module server knows: the modules it loaded and the sessions open on them.
//!
//! One [`Registry`] behind a lock, shared by the shell and the service thread. A session is a
//! reference: a capability minted (badge = session id) from the module's endpoint, held by the
//! shell or by another module. A module's use count is its number of sessions; the kernel's
//! derivation tree must agree (`Registry::kernel_refs`).

use abi::CPtr;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use urt::cap::{Cap, Endpoint};

/// Life-cycle states shown by `lsmod`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Being loaded: not open to sessions yet.
    Loading,
    /// Serving.
    Live,
    /// Faulted (or failed to start): its resources are gone, its sessions answer errors.
    Failed,
}

impl State {
    /// The word `lsmod` prints.
    pub fn name(self) -> &'static str {
        match self {
            State::Loading => "loading",
            State::Live => "live",
            State::Failed => "failed",
        }
    }
}

/// Who holds a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// The serial shell (in the server's own CSpace).
    Shell,
    /// Another module (by id), through its dependency.
    Module(u32),
}

/// An open session: a reference to a module.
#[derive(Clone, Debug)]
pub struct Session {
    /// The module it is a reference to.
    pub module: u32,
    /// Who holds it.
    pub holder: Holder,
    /// The server's copy of the session capability (the shell calls through it; for a module's
    /// session it is the parent of the copy in the module's CNode).
    pub cap: Cap<Endpoint>,
    /// Pages the module shared through this session, mapped in the server: (frame capability
    /// slot, address). They go when the session closes.
    pub pages: Vec<(CPtr, u64)>,
}

/// A loaded (or failed) module.
pub struct Module {
    /// Registry id (also the badge of its fault and server capabilities).
    pub id: u32,
    /// Its name from `.modinfo`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The archive entry it came from.
    pub file: String,
    /// State.
    pub state: State,
    /// Load address.
    pub base: u64,
    /// Bytes of memory it was given (image, stack, IPC buffer).
    pub size: u64,
    /// Its quota: every object of the module was made from it, so revoking it removes them all.
    pub quota: CPtr,
    /// The original endpoint capability (sessions are minted from it).
    pub ep: Cap<Endpoint>,
    /// Server slots holding the module's capabilities (freed when the module goes).
    pub slots: Vec<CPtr>,
}

/// Every module and session.
#[derive(Default)]
pub struct Registry {
    /// Modules, in load order.
    pub modules: Vec<Module>,
    /// Sessions by id.
    pub sessions: BTreeMap<u64, Session>,
    next_session: u64,
    next_module: u32,
}

impl Registry {
    /// An empty registry.
    pub const fn new() -> Registry {
        Registry { modules: Vec::new(), sessions: BTreeMap::new(), next_session: 0, next_module: 0 }
    }

    /// A fresh module id.
    pub fn new_module_id(&mut self) -> u32 {
        self.next_module += 1;
        self.next_module
    }

    /// A fresh session id (a badge: never 0).
    pub fn new_session_id(&mut self) -> u64 {
        self.next_session += 1;
        self.next_session
    }

    /// The module named `name`.
    pub fn by_name(&self, name: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// The module with id `id`.
    pub fn by_id(&self, id: u32) -> Option<&Module> {
        self.modules.iter().find(|m| m.id == id)
    }

    /// The module with id `id`, mutably.
    pub fn by_id_mut(&mut self, id: u32) -> Option<&mut Module> {
        self.modules.iter_mut().find(|m| m.id == id)
    }

    /// Sessions on module `id` (its use count).
    pub fn use_count(&self, id: u32) -> usize {
        self.sessions.values().filter(|s| s.module == id).count()
    }

    /// Who uses module `id`, for `lsmod`: `shell` and module names.
    pub fn users(&self, id: u32) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.sessions.values().filter(|s| s.module == id) {
            let who = match s.holder {
                Holder::Shell => String::from("shell"),
                Holder::Module(m) => self.by_id(m).map_or(String::from("?"), |m| m.name.clone()),
            };
            if !out.contains(&who) {
                out.push(who);
            }
        }
        out
    }

    /// Sessions held by module `id` (its dependencies in use).
    pub fn held_by(&self, id: u32) -> Vec<u64> {
        self.sessions.iter().filter(|(_, s)| s.holder == Holder::Module(id)).map(|(k, _)| *k).collect()
    }
}

/// References to module `m` according to the kernel: capabilities derived from its endpoint,
/// minus the module's own receive capability.
pub fn kernel_refs(m: &Module) -> Option<u64> {
    m.ep.info().ok().map(|i| i.descendants.saturating_sub(1))
}
