//! A test module whose init fails (issue 12): `insmod` must say so and roll everything back,
//! rather than wait for ever for a module whose thread has ended.
#![no_std]
#![no_main]

use modsdk::{Reply, Request};

modsdk::module! {
    name: "badinit", version: "1.0.0", license: "MIT",
    description: "its init fails on purpose", depends: "",
    handler: handle, init: init,
}

fn init() -> Result<(), &'static str> {
    Err("it was told to")
}

fn handle(_: &Request, reply: &mut Reply) {
    reply.error("never reached");
}
