//! The shell's module commands. Every error is one line starting with `error:`.

use crate::registry::{self, Holder, State};
use crate::{archive_entries, loader, service, REGISTRY};
use abi::{CPtr, ObjectType};
use alloc::string::String;
use alloc::vec::Vec;
use modfmt::elf::{self, Limits};
use urt::cap::{Cap, Endpoint};
use urt::{println, sys};

/// Runs module command `command`; `input` is the whole line.
pub fn module_command(command: &str, input: &str) {
    let mut words = input.split_ascii_whitespace().skip(1);
    let arg = words.next();
    let rest = |after: usize| -> String {
        let mut it = input.split_ascii_whitespace().skip(after);
        let mut out = String::new();
        if let Some(first) = it.next() {
            out.push_str(first);
            for w in it {
                out.push(' ');
                out.push_str(w);
            }
        }
        out
    };
    let need = |what: &str| println!("error: {command} needs {what} (type 'help')");
    match (command, arg) {
        ("archive", _) => {
            for e in archive_entries() {
                println!("archive: {} ({} bytes)", e.name, e.data.len());
            }
            println!("archive: {} files", archive_entries().len());
        }
        ("insmod", Some(name)) => match loader::insmod(name) {
            Ok(line) => println!("{line}"),
            Err(e) => println!("error: {e}"),
        },
        ("lsmod", _) => lsmod(),
        ("modinfo", Some(name)) => modinfo(name),
        ("open", Some(module)) => match service::open(module, Holder::Shell) {
            Ok((id, _)) => println!("session={id} on {module}"),
            Err(e) => println!("error: {e}"),
        },
        ("invoke", Some(id)) => match id.parse::<u64>() {
            Ok(id) => invoke(id, &rest(2)),
            Err(_) => println!("error: invoke: '{id}' is not a session id"),
        },
        ("close", Some(id)) => match id.parse::<u64>().map_err(|_| String::from("not a session id")).and_then(service::close) {
            Ok(()) => println!("closed session {id}"),
            Err(e) => println!("error: close {id}: {e}"),
        },
        ("call", Some(module)) => match service::open(module, Holder::Shell) {
            Ok((id, _)) => {
                invoke(id, &rest(2));
                let _ = service::close(id);
            }
            Err(e) => println!("error: {e}"),
        },
        ("caps", _) => caps(),
        ("poke", Some(id)) => match id.parse::<u64>() {
            Ok(id) => poke(id, &rest(2)),
            Err(_) => println!("error: poke: '{id}' is not a session id"),
        },
        ("insmod" | "modinfo", None) => need("a module name"),
        ("open" | "call", None) => need("a module name"),
        ("invoke" | "close" | "poke", None) => need("a session id"),
        _ => println!("error: unknown command '{command}'"),
    }
}

/// Calls session `id` with `text` and prints the reply.
fn invoke(id: u64, text: &str) {
    let found = REGISTRY.lock().sessions.get(&id).map(|s| (s.cap, s.module));
    let Some((cap, module)) = found else {
        return println!("error: no session {id}");
    };
    let name = REGISTRY.lock().by_id(module).map_or(String::from("?"), |m| m.name.clone());
    if cap.cptr() == CPtr::NONE {
        return println!("error: session {id} is not the shell's");
    }
    let mut buf = [0u8; modsdk::TEXT_MAX];
    let Some(recv) = urt::cspace::alloc() else {
        return println!("error: the module server's CNode is full");
    };
    let result = sys::call_ep(cap.cptr(), &modsdk::text_message(modsdk::TEXT, text), recv);
    if !matches!(&result, Ok(got) if got.msg.cap.is_some()) {
        urt::cspace::free(recv);
    }
    match result {
        Ok(got) => {
            let reply = modsdk::message_text(&got.msg, &mut buf);
            if got.msg.label == modsdk::TEXT {
                println!("{name}: {reply}");
            } else {
                println!("error: {name}: {reply}");
            }
            if let Some(c) = got.msg.cap {
                map_shared(id, c);
            }
        }
        Err(e) => {
            let state = REGISTRY.lock().by_id(module).map(|m| m.state);
            match state {
                Some(State::Failed) => println!("error: session {id}: module {name} failed ({})", e.describe()),
                _ => println!("error: session {id}: {name}: {}", e.describe()),
            }
        }
    }
}

/// A capability came with a reply: if it is a frame (a page the module shares), maps it in the
/// server's address space and shows its first bytes; it stays mapped until the session closes.
fn map_shared(session: u64, cap: CPtr) {
    let forget = |why: &str| {
        println!("error: {why}");
        let _ = sys::cap_delete(cap);
        urt::cspace::free(cap);
    };
    match sys::cap_info(cap) {
        Ok(i) if i.kind == Some(ObjectType::Frame) => {}
        _ => return forget("the reply carried a capability that is not a page; dropped it"),
    }
    let Ok(range) = urt::vm::Range::alloc(1) else { return forget("no address range for the shared page") };
    let va = range.va;
    core::mem::forget(range); // released by `close` (urt::vm::Range::release)
    if let Err(e) = sys::frame_map(cap, urt::cap::ROOT_VSPACE.cptr(), va, abi::Rights::READ | abi::Rights::WRITE) {
        urt::vm::Range::release(va, 1);
        return forget(e.describe());
    }
    // SAFETY: the page was just mapped read-write at `va` and stays mapped until the session
    // closes; the module may write it concurrently, so it is read with volatile loads.
    let bytes: Vec<u8> = (0..64).map(|i| unsafe { core::ptr::read_volatile((va + i) as *const u8) }).collect();
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    println!(
        "shared page mapped at {va:#x} (session {session}): \"{}\"",
        core::str::from_utf8(&bytes[..end]).unwrap_or("?")
    );
    if let Some(s) = REGISTRY.lock().sessions.get_mut(&session) {
        s.pages.push((cap, va));
    }
}

/// Writes `text` into the page session `id` shares (the first one), NUL-terminated.
pub fn poke(id: u64, text: &str) {
    let page = REGISTRY.lock().sessions.get(&id).and_then(|s| s.pages.first().copied());
    let Some((_, va)) = page else { return println!("error: session {id} has no shared page") };
    for (i, b) in text.bytes().chain(core::iter::once(0)).take(4096).enumerate() {
        // SAFETY: `va` is a page mapped read-write by `map_shared` for as long as the session
        // is registered (checked just above, under the lock's protection of the record).
        unsafe { core::ptr::write_volatile((va + i as u64) as *mut u8, b) };
    }
    println!("poke: wrote {} bytes into the page shared by session {id}", text.len());
}

/// One line per module: name, version, state, size, use count, users; and whether the
/// kernel's derivation tree agrees with the count.
fn lsmod() {
    let reg = REGISTRY.lock();
    if reg.modules.is_empty() {
        println!("lsmod: no modules loaded");
    }
    for m in &reg.modules {
        let uses = reg.use_count(m.id);
        let users = reg.users(m.id);
        let users = if users.is_empty() { String::from("-") } else { users.join(",") };
        let check = match (m.state, registry::kernel_refs(m)) {
            (State::Live, Some(k)) if k == uses as u64 => String::new(),
            (State::Live, Some(k)) => alloc::format!(" MISMATCH kernel_refs={k}"),
            _ => String::new(),
        };
        println!(
            "lsmod: {} version={} state={} size={} uses={uses} used_by={users} base={:#x}{check}",
            m.name,
            m.version,
            m.state.name(),
            m.size,
            m.base
        );
    }
}

/// A module's metadata, from the archive.
fn modinfo(name: &str) {
    let Some((file, bytes)) = loader::find(name) else {
        return println!("error: {name}: no such module or archive entry");
    };
    match elf::validate(bytes, &Limits::default()) {
        Ok(plan) => {
            let i = &plan.info;
            let deps = if i.depends.is_empty() { String::from("-") } else { i.depends.join(",") };
            println!("modinfo: name={} version={} license={} file={file}", i.name, i.version, i.license);
            println!("modinfo: description={}", i.description);
            println!("modinfo: depends={deps} image_pages={} relocations={}", plan.image_pages, plan.relocs.len());
            if let Some(m) = REGISTRY.lock().by_name(&i.name) {
                println!("modinfo: loaded at {:#x}, state {}", m.base, m.state.name());
            }
        }
        Err(e) => println!("error: {file}: {e}"),
    }
}

/// The server's capabilities to modules (endpoints and session capabilities) and how they
/// derive from each other, as the kernel reports them.
fn caps() {
    let reg = REGISTRY.lock();
    for m in reg.modules.iter().filter(|m| m.state != State::Failed) {
        match m.ep.info() {
            Ok(i) => println!(
                "caps: slot {} endpoint of {} rights={:#x} badge={} derived={}",
                m.ep.cptr().0,
                m.name,
                i.rights.0,
                i.badge,
                i.descendants
            ),
            Err(e) => println!("error: caps: {}: {}", m.name, e.describe()),
        }
        let sessions: Vec<(u64, Cap<Endpoint>)> =
            reg.sessions.iter().filter(|(_, s)| s.module == m.id).map(|(k, s)| (*k, s.cap)).collect();
        for (id, cap) in sessions {
            if cap.cptr() == CPtr::NONE {
                println!("caps:   session {id}: held in a module's CNode");
                continue;
            }
            match cap.info() {
                Ok(i) if i.kind == Some(ObjectType::Endpoint) => println!(
                    "caps:   slot {} session {id} rights={:#x} badge={} parent_slot={}",
                    cap.cptr().0,
                    i.rights.0,
                    i.badge,
                    i.parent.map_or(String::from("-"), |p| alloc::format!("{p}"))
                ),
                Ok(_) | Err(_) => println!("caps:   session {id}: capability gone"),
            }
        }
    }
    let used = (0..1u32 << 12).filter(|i| sys::cap_info(CPtr::root(*i)).is_ok()).count();
    println!("caps: {used} capabilities in the server's CNode");
}
