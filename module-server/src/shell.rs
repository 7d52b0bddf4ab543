//! The shell's module commands. Every error is one line starting with `error:`.

use crate::registry::{self, State};
use crate::{archive_entries, loader, service, sessions, REGISTRY};
use abi::{CPtr, ObjectType};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use modfmt::elf::{self, Limits};
use unload::Mode;
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
        ("insmod", Some(name)) => {
            let loaded = match (words.next(), words.next(), words.next()) {
                (None, _, _) => loader::insmod(name),
                (Some("as"), Some(instance), None) => loader::insmod_as(name, Some(instance)),
                _ => Err(String::from("insmod: usage: insmod FILE [as NAME]")),
            };
            match loaded {
                Ok(line) => println!("{line}"),
                Err(e) => println!("error: {e}"),
            }
        }
        ("lsmod", _) => lsmod(),
        ("modinfo", Some(name)) => modinfo(name),
        ("rmmod", Some(_)) => rmmod(input),
        ("open", Some(module)) => match service::open(module, 0, 0) {
            Ok((id, _)) => println!("session={id} on {module}"),
            Err(e) => println!("error: {e}"),
        },
        ("invoke", Some(id)) => match id.parse::<u64>() {
            Ok(id) => invoke(id, &rest(2)),
            Err(_) => println!("error: invoke: '{id}' is not a session id"),
        },
        ("close", Some(id)) => match id.parse::<u64>().map_err(|_| String::from("not a session id")).and_then(close) {
            Ok(()) => println!("closed session {id}"),
            Err(e) => println!("error: close {id}: {e}"),
        },
        ("call", Some(module)) => match service::open(module, 0, 0) {
            Ok((id, _)) => {
                invoke(id, &rest(2));
                let _ = close(id);
            }
            Err(e) => println!("error: {e}"),
        },
        ("caps", _) => caps(),
        ("poke", Some(id)) => match id.parse::<u64>() {
            Ok(id) => poke(id, &rest(2)),
            Err(_) => println!("error: poke: '{id}' is not a session id"),
        },
        ("insmod" | "modinfo" | "rmmod", None) => need("a module name"),
        ("open" | "call", None) => need("a module name"),
        ("invoke" | "close" | "poke", None) => need("a session id"),
        _ => println!("error: unknown command '{command}'"),
    }
}

/// Pages modules shared with the shell, by session: (frame capability slot, address).
static PAGES: spin::Mutex<BTreeMap<u64, Vec<(CPtr, u64)>>> = spin::Mutex::new(BTreeMap::new());

/// `rmmod [--wait|--force|--race] NAME`.
fn rmmod(input: &str) {
    let (mut mode, mut force, mut name) = (Mode::Busy, false, None);
    for w in input.split_ascii_whitespace().skip(1) {
        match w {
            "--wait" => mode = Mode::Wait,
            "--force" => force = true,
            "--race" => service::RACE_HOOK.store(true, core::sync::atomic::Ordering::Release),
            flag if flag.starts_with("--") => return println!("error: rmmod: unknown option {flag}"),
            n => name = Some(n),
        }
    }
    let Some(name) = name else { return println!("error: rmmod needs a module name") };
    let r = service::rmmod(name, mode, force);
    service::RACE_HOOK.store(false, core::sync::atomic::Ordering::Release);
    match r {
        Ok(line) => println!("{line}"),
        Err(e) => println!("error: {e}"),
    }
}

/// Closes a session of the shell: unmaps and deletes the pages it shared, then the session.
fn close(id: u64) -> Result<(), String> {
    for (frame, va) in PAGES.lock().remove(&id).unwrap_or_default() {
        let _ = sys::frame_unmap(frame);
        let _ = sys::cap_delete(frame);
        urt::cspace::free(frame);
        urt::vm::Range::release(va, 1);
    }
    service::close(id)
}

/// Calls session `id` with `text` and prints the reply.
fn invoke(id: u64, text: &str) {
    let Some((module, holder, cap)) = sessions::get(id) else {
        return println!("error: no session {id}");
    };
    let name = REGISTRY.lock().name_of(module);
    if holder != 0 || cap == CPtr::NONE {
        return println!("error: session {id} is not the shell's");
    }
    let cap = Cap::<Endpoint>::new(cap);
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
            let state = REGISTRY.lock().by_id(module).map(|m| m.state());
            match state {
                Some(State::Failed) => println!("error: session {id}: module {name} failed ({})", e.describe()),
                None => println!("error: session {id}: module {name} was removed ({})", e.describe()),
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
    PAGES.lock().entry(session).or_default().push((cap, va));
}

/// Writes `text` into the page session `id` shares (the first one), NUL-terminated.
pub fn poke(id: u64, text: &str) {
    let page = PAGES.lock().get(&id).and_then(|p| p.first().copied());
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
        let uses = registry::use_count(m.id);
        let users = reg.users(m.id);
        let users = if users.is_empty() { String::from("-") } else { users.join(",") };
        let refs = m.shared.unload.refs();
        let check = match (m.state(), registry::kernel_refs(m)) {
            (State::Live, _) if refs != uses as u64 => alloc::format!(" MISMATCH protocol_refs={refs}"),
            (State::Live, Some(k)) if k == uses as u64 => String::new(),
            (State::Live, Some(k)) => alloc::format!(" MISMATCH kernel_refs={k}"),
            _ => String::new(),
        };
        println!(
            "lsmod: {} version={} state={} size={} uses={uses} used_by={users} base={:#x}{check}",
            m.name,
            m.version,
            m.state().name(),
            m.span * abi::PAGE_SIZE,
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
                println!("modinfo: loaded at {:#x}, state {}", m.base, m.state().name());
            }
        }
        Err(e) => println!("error: {file}: {e}"),
    }
}

/// The server's capabilities to modules (endpoints and session capabilities) and how they
/// derive from each other, as the kernel reports them.
fn caps() {
    let reg = REGISTRY.lock();
    for m in reg.modules.iter().filter(|m| m.state() != State::Failed) {
        match m.shared.ep.info() {
            Ok(i) => println!(
                "caps: slot {} endpoint of {} rights={:#x} badge={} derived={}",
                m.shared.ep.cptr().0,
                m.name,
                i.rights.0,
                i.badge,
                i.descendants
            ),
            Err(e) => println!("error: caps: {}: {}", m.name, e.describe()),
        }
        let on_m: Vec<(u64, Cap<Endpoint>)> = sessions::all()
            .filter(|(_, module, _)| *module == m.id)
            .filter_map(|(id, _, _)| sessions::get(id).map(|(_, _, c)| (id, Cap::new(c))))
            .collect();
        for (id, cap) in on_m {
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
