//! The server's side of sessions and faults: opening and closing sessions (for the shell and
//! for modules), the service thread that answers modules' requests and receives their faults,
//! and what happens to a module that fails.

use crate::registry::{Holder, Session, State};
use crate::{server_ep, REGISTRY};
use abi::{CPtr, FaultKind, Rights, FAULT_LABEL};
use alloc::format;
use alloc::string::String;
use urt::cap::{Cap, Endpoint, Quota};
use urt::{cspace, println, sys, vm};

/// Opens a session on module `name` for `holder`: mints a capability with a fresh badge from
/// the module's endpoint into a new server slot. Returns the session id and that capability.
pub fn open(name: &str, holder: Holder) -> Result<(u64, Cap<Endpoint>), String> {
    let mut reg = REGISTRY.lock();
    let m = reg.by_name(name).ok_or_else(|| format!("{name}: not loaded"))?;
    if m.state != State::Live {
        return Err(format!("{name}: {} (not accepting sessions)", m.state.name()));
    }
    let (module, ep) = (m.id, m.ep);
    let id = reg.new_session_id();
    let slot = cspace::alloc().ok_or_else(|| String::from("the module server's CNode is full"))?;
    if let Err(e) = ep.mint_to(slot, Rights::WRITE | Rights::GRANT, id) {
        cspace::free(slot);
        return Err(format!("{name}: cannot mint a session capability: {}", e.describe()));
    }
    let cap = Cap::new(slot);
    reg.sessions.insert(id, Session { module, holder, cap, pages: alloc::vec::Vec::new() });
    Ok((id, cap))
}

/// Closes session `id`: deletes the capability; the module's use count drops.
pub fn close(id: u64) -> Result<(), String> {
    let s = REGISTRY.lock().sessions.remove(&id).ok_or_else(|| format!("no session {id}"))?;
    for (frame, va) in s.pages {
        let _ = sys::frame_unmap(frame);
        let _ = sys::cap_delete(frame);
        cspace::free(frame);
        vm::Range::release(va, 1);
    }
    if s.cap.cptr() != CPtr::NONE {
        let _ = s.cap.delete();
        cspace::free(s.cap.cptr());
    }
    Ok(())
}

/// Marks module `id` failed and removes everything it had: revoking its quota capability
/// destroys its thread, address space, frames and endpoint, so every session capability on it
/// dies too (a client blocked in a call gets an error). Its sessions stay listed (their ids now
/// answer errors) until closed; the sessions it held on other modules are closed.
pub fn fail(id: u32, why: &str) {
    let (name, quota, slots, held) = {
        let mut reg = REGISTRY.lock();
        let held = reg.held_by(id);
        let Some(m) = reg.by_id_mut(id) else { return };
        if m.state == State::Failed {
            return;
        }
        m.state = State::Failed;
        (m.name.clone(), m.quota, core::mem::take(&mut m.slots), held)
    };
    println!("module {name} failed: {why}; its resources are released, its sessions answer errors");
    let _ = Cap::<Quota>::new(quota).revoke();
    for s in slots {
        let _ = sys::cap_delete(s);
        cspace::free(s);
    }
    for s in held {
        let _ = close(s);
    }
}

/// The service thread: answers modules' session requests and receives their faults, on the
/// server endpoint (badge = module id).
pub extern "C" fn serve(_: u64) -> u64 {
    let recv_slot = CPtr::NONE;
    loop {
        let Ok(got) = sys::recv(server_ep().cptr(), recv_slot) else { continue };
        let module = got.badge as u32;
        match got.msg.label {
            FAULT_LABEL => {
                let kind = FaultKind::from_number(got.msg.word(0)).map_or(String::from("unknown"), |k| format!("{k:?}"));
                let why = format!("{kind} fault at address {:#x}, pc {:#x}", got.msg.word(1), got.msg.word(2));
                fail(module, &why); // its thread goes with it: no reply
            }
            modsdk::OPEN => {
                let mut buf = [0u8; modsdk::TEXT_MAX];
                let name = modsdk::message_text(&got.msg, &mut buf);
                let reply = match open(name, Holder::Module(module)) {
                    Ok((id, cap)) => {
                        // The module gets a copy; the server's copy goes, so the derivation
                        // tree holds exactly one capability per session.
                        let m = modsdk::text_message(modsdk::TEXT, "").with_cap(cap.cptr());
                        let _ = sys::reply(&m);
                        let _ = cap.delete();
                        cspace::free(cap.cptr());
                        if let Some(s) = REGISTRY.lock().sessions.get_mut(&id) {
                            s.cap = Cap::new(CPtr::NONE);
                        }
                        continue;
                    }
                    Err(e) => modsdk::text_message(modsdk::ERROR, &e),
                };
                let _ = sys::reply(&reply);
            }
            other => {
                let _ = sys::reply(&modsdk::text_message(modsdk::ERROR, &format!("unknown request {other:#x}")));
            }
        }
    }
}
