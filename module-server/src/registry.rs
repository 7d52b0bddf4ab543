//! What the module server knows about the modules it loaded: metadata for `lsmod` and what to
//! tear down. Behind a lock used by the shell, the service thread and `rmmod` — but never by the
//! session-open path, which uses only [`crate::sessions`] (lock-free).

use crate::sessions::{self, Pinned};
use abi::CPtr;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use unload::State as Protocol;

/// Life-cycle states shown by `lsmod`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Being loaded: not open to sessions yet.
    Loading,
    /// Serving.
    Live,
    /// `rmmod` is between unregistering and its decision.
    Unloading,
    /// Unregistered, removed when its last reference closes (`rmmod --wait`).
    Going,
    /// Faulted (or failed to start): its resources are gone, its sessions answer errors.
    Failed,
}

impl State {
    /// The word `lsmod` prints.
    pub fn name(self) -> &'static str {
        match self {
            State::Loading => "loading",
            State::Live => "live",
            State::Unloading => "unloading",
            State::Going => "going",
            State::Failed => "failed",
        }
    }
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
    /// Set while loading and once failed; otherwise the protocol state says.
    pub failed: bool,
    /// True until it answered its first PING.
    pub loading: bool,
    /// Load address.
    pub base: u64,
    /// Pages of address space it spans (image, guard, stack, IPC buffer).
    pub span: u64,
    /// The server's capability to the module's thread (one of `slots`).
    pub thread: CPtr,
    /// The server's capability to the module's address space (one of `slots`).
    pub vspace: CPtr,
    /// The GNU build-id of its ELF (empty if none), for the debugger.
    pub build_id: Vec<u8>,
    /// Server slots holding the module's capabilities, its quota first (every object of the
    /// module was made from it); emptied when the module's objects are released.
    pub slots: Vec<CPtr>,
    /// What the open path sees (this entry's pin on its directory record).
    pub shared: Pinned,
}

impl Module {
    /// The state `lsmod` shows.
    pub fn state(&self) -> State {
        if self.failed {
            return State::Failed;
        }
        if self.loading {
            return State::Loading;
        }
        match self.shared.unload.state() {
            Protocol::Live => State::Live,
            Protocol::Unloading => State::Unloading,
            Protocol::Going => State::Going,
            Protocol::Gone => State::Unloading,
        }
    }
}

/// Every module.
pub struct Registry {
    /// Modules, in load order.
    pub modules: Vec<Module>,
    /// Module names by id, to name a module in errors after it went: every listed module and
    /// the last [`NAMES_KEPT`] gone ones (it used to keep every name ever loaded: the heap
    /// grew with every load).
    names: BTreeMap<u32, String>,
    next_module: u32,
}

impl Registry {
    /// An empty registry.
    pub const fn new() -> Registry {
        Registry { modules: Vec::new(), names: BTreeMap::new(), next_module: 0 }
    }

    /// A fresh module id.
    pub fn new_module_id(&mut self) -> u32 {
        self.next_module += 1;
        self.next_module
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

    /// Remembers module `id`'s name, forgetting the oldest names of gone modules beyond
    /// [`NAMES_KEPT`].
    pub fn remember(&mut self, id: u32, name: &str) {
        self.names.insert(id, String::from(name));
        while self.names.len() > NAMES_KEPT + self.modules.len() {
            let Some(old) = self.names.keys().copied().find(|k| self.by_id(*k).is_none()) else { break };
            self.names.remove(&old);
        }
    }

    /// Names remembered now.
    pub fn names_kept(&self) -> usize {
        self.names.len()
    }

    /// A module's name, also after it went.
    pub fn name_of(&self, id: u32) -> String {
        self.names.get(&id).cloned().unwrap_or_else(|| String::from("?"))
    }

    /// Who uses module `id`: `shell` and module names, from the session table.
    pub fn users(&self, id: u32) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, _, holder) in sessions::all().filter(|(_, m, _)| *m == id) {
            let who = if holder == 0 { String::from("shell") } else { self.name_of(holder) };
            if !out.contains(&who) {
                out.push(who);
            }
        }
        out
    }
}

/// How many names of gone modules the registry keeps.
pub const NAMES_KEPT: usize = 64;

/// Sessions on module `id` in the session table.
pub fn use_count(id: u32) -> usize {
    sessions::all().filter(|(_, m, _)| *m == id).count()
}

/// Sessions held by module `id` (its dependencies in use).
pub fn held_by(id: u32) -> Vec<u64> {
    sessions::all().filter(|(_, _, h)| *h == id).map(|(s, _, _)| s).collect()
}

/// References to module `m` according to the kernel: capabilities derived from its endpoint,
/// minus the module's own receive capability.
pub fn kernel_refs(m: &Module) -> Option<u64> {
    m.shared.ep.info().ok().map(|i| i.descendants.saturating_sub(1))
}
