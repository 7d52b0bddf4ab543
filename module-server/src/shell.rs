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
        ("insmod" | "modinfo", None) => need("a module name"),
        ("open" | "call", None) => need("a module name"),
        ("invoke" | "close", None) => need("a session id"),
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
    match sys::call_ep(cap.cptr(), &modsdk::text_message(modsdk::TEXT, text), CPtr::NONE) {
        Ok(got) => {
            let reply = modsdk::message_text(&got.msg, &mut buf);
            if got.msg.label == modsdk::TEXT {
                println!("{name}: {reply}");
            } else {
                println!("error: {name}: {reply}");
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
