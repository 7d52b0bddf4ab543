//! A module that faults on request (`crash`): the module server must mark it failed, its
//! clients must get an error, and every other module must keep answering.
#![no_std]
#![no_main]

use core::fmt::Write;
use modsdk::{Reply, Request};

modsdk::module! {
    name: "crash", version: "1.0.0", license: "MIT",
    description: "faults when asked to", depends: "",
    handler: handle,
}

fn handle(req: &Request, reply: &mut Reply) {
    if req.text().trim() == "crash" {
        // SAFETY: deliberately invalid: nothing is mapped at this address; the kernel turns the
        // data abort into a fault message to the module server.
        let v = unsafe { core::ptr::read_volatile(0xdead_0000 as *const u64) };
        let _ = write!(reply, "read {v:#x}?!");
    } else {
        let _ = write!(reply, "still fine (ask me to 'crash')");
    }
}
