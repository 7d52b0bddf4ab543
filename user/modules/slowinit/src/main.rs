//! A test module whose init never returns (issue 12): the server's load watchdog must mark it
//! failed after `START_SECONDS`, and `insmod` must report that, rather than wait for ever.
#![no_std]
#![no_main]

use modsdk::{Reply, Request};

modsdk::module! {
    name: "slowinit", version: "1.0.0", license: "MIT",
    description: "its init never returns, on purpose", depends: "",
    handler: handle, init: init,
}

fn init() -> Result<(), &'static str> {
    loop {
        core::hint::spin_loop();
    }
}

fn handle(_: &Request, reply: &mut Reply) {
    reply.error("never reached");
}
