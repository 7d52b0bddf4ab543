//! The smallest module: answers every request with a greeting.
#![no_std]
#![no_main]

use core::fmt::Write;
use modsdk::{Reply, Request};

modsdk::module! {
    name: "hello", version: "1.0.0", license: "MIT",
    description: "answers with a greeting", depends: "",
    handler: handle,
}

fn handle(req: &Request, reply: &mut Reply) {
    let who = req.text().trim();
    let _ = write!(reply, "hello, {}!", if who.is_empty() { "world" } else { who });
}
