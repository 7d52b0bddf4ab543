//! A test module that faults in its init, before the server has even listed it (issue 12):
//! `insmod` must report the fault and roll everything back, rather than wait for ever.
#![no_std]
#![no_main]

use modsdk::{Reply, Request};

modsdk::module! {
    name: "earlycrash", version: "1.0.0", license: "MIT",
    description: "faults in its init on purpose", depends: "",
    handler: handle, init: init,
}

fn init() -> Result<(), &'static str> {
    // The kernel reports the data abort to the module server.
    // SAFETY: deliberately invalid: nothing is mapped at this address.
    let v = unsafe { core::ptr::read_volatile(0xdead_0000 as *const u64) };
    if v == 0 {
        return Err("read zero?!");
    }
    Ok(())
}

fn handle(_: &Request, reply: &mut Reply) {
    reply.error("never reached");
}
