//! A module that shares memory with its clients: `share` answers with a frame capability (a
//! page the client maps: a reference to the module's memory); `write TEXT` puts text in the
//! page, `read` returns what is there (what the client wrote, too). The page's last word holds
//! a token that differs from one load of the module to the next: a client
//! that reads anything else there has read memory that is no longer this module's page.
#![no_std]
#![no_main]

use abi::{CPtr, Rights};
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
use modsdk::{slot, Reply, Request};
use urt::cap::{Cap, Frame, Quota, VSpace};

modsdk::module! {
    name: "buffer", version: "1.0.0", license: "MIT",
    description: "a page of memory shared with clients", depends: "",
    handler: handle, init: init,
}

/// Where the shared page is mapped in the module.
static PAGE_VA: AtomicU64 = AtomicU64::new(0);
/// The frame capability, in this module's CNode.
static FRAME: AtomicU64 = AtomicU64::new(0);

/// Where in the page the load's token is: its last word (text and its final 0 stay below it).
const TOKEN_OFFSET: usize = 4096 - 8;

/// A free address for the page: just above this module's IPC buffer's page.
fn page_va() -> u64 {
    urt::sys::ipc_buffer() as u64 + 2 * abi::PAGE_SIZE
}

fn init() -> Result<(), &'static str> {
    let frame_slot = urt::cspace::alloc().ok_or("no slot")?;
    let quota: Cap<Quota> = Cap::new(CPtr::root(slot::QUOTA));
    let frame: Cap<Frame> = quota.create(frame_slot, 0).map_err(|_| "cannot create the shared frame")?;
    let va = page_va();
    frame
        .map(Cap::<VSpace>::new(CPtr::root(slot::VSPACE)), va, Rights::READ | Rights::WRITE)
        .map_err(|_| "cannot map it")?;
    PAGE_VA.store(va, Ordering::Relaxed);
    FRAME.store(frame_slot.0, Ordering::Relaxed);
    let token = urt::time::ticks() | 1;
    page()[TOKEN_OFFSET..].copy_from_slice(&token.to_le_bytes());
    Ok(())
}

fn page() -> &'static mut [u8; 4096] {
    // SAFETY: `init` mapped this page read-write in this module's address space for good; the
    // module has one thread, so no other reference to it exists while a request runs.
    unsafe { &mut *(PAGE_VA.load(Ordering::Relaxed) as *mut [u8; 4096]) }
}

fn handle(req: &Request, reply: &mut Reply) {
    let text = req.text().trim();
    if text == "share" {
        reply.with_cap(CPtr(FRAME.load(Ordering::Relaxed)));
        let _ = write!(reply, "here is the page");
    } else if let Some(t) = text.strip_prefix("write ") {
        let p = page();
        let n = t.len().min(TOKEN_OFFSET - 1);
        p[..n].copy_from_slice(&t.as_bytes()[..n]);
        p[n] = 0;
        let _ = write!(reply, "wrote {n} bytes");
    } else if text == "read" {
        let p = page();
        let n = p.iter().position(|b| *b == 0).unwrap_or(4096).min(200);
        let _ = write!(reply, "page says: {}", core::str::from_utf8(&p[..n]).unwrap_or("?"));
    } else {
        reply.error("usage: share | write TEXT | read");
    }
}
