//! A module that depends on another: it opens a session on `hello` when it starts and asks
//! it for every greeting (so `hello` is "used by greeter" while greeter is loaded).
#![no_std]
#![no_main]

use abi::CPtr;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
use modsdk::{Reply, Request};

modsdk::module! {
    name: "greeter", version: "0.3.0", license: "MIT",
    description: "greets through the hello module", depends: "hello",
    handler: handle, init: init,
}

/// The session on `hello`, opened by `init`.
static HELLO: AtomicU64 = AtomicU64::new(u64::MAX);

fn init() -> Result<(), &'static str> {
    let session = modsdk::open("hello").map_err(|_| "cannot open a session on hello")?;
    HELLO.store(session.0, Ordering::Relaxed);
    Ok(())
}

fn handle(req: &Request, reply: &mut Reply) {
    let mut buf = [0u8; modsdk::TEXT_MAX];
    match modsdk::call(CPtr(HELLO.load(Ordering::Relaxed)), req.text(), &mut buf) {
        Ok(text) => {
            let _ = write!(reply, "greeter relays: {text}");
        }
        Err(e) => reply.error(e.describe()),
    }
}
