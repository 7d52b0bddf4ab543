//! A test module whose exit routine never returns (issue 12): `rmmod` must not hang on it. The
//! server gives the exit routine `EXIT_SECONDS`, then stops the module (its quota revoked: the
//! thread goes, the call ends) and completes the removal, saying so.
#![no_std]
#![no_main]

use core::fmt::Write;
use modsdk::{Reply, Request};

modsdk::module! {
    name: "slowexit", version: "1.0.0", license: "MIT",
    description: "its exit routine never returns, on purpose", depends: "",
    handler: handle, exit: exit,
}

fn exit() {
    loop {
        core::hint::spin_loop();
    }
}

fn handle(_: &Request, reply: &mut Reply) {
    let _ = write!(reply, "slowexit: serving (its exit never returns)");
}
