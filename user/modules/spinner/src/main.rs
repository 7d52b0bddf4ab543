//! A module that spins on request: `spin MS` busy-loops for MS milliseconds (at most 10 s) and
//! then answers; the kernel's preemption must keep every other module answering meanwhile.
//! `spin forever` never answers: the call ends only when the module is removed (`rmmod
//! --force`), which is what the force probe needs to show that removal does not wait for it.
#![no_std]
#![no_main]

use core::fmt::Write;
use modsdk::{Reply, Request};

modsdk::module! {
    name: "spinner", version: "1.0.0", license: "MIT",
    description: "busy-loops when asked to", depends: "",
    handler: handle,
}

fn handle(req: &Request, reply: &mut Reply) {
    let mut args = req.args();
    let (verb, arg) = (args.next(), args.next());
    if (verb, arg) == (Some("spin"), Some("forever")) {
        loop {
            core::hint::spin_loop();
        }
    }
    match (verb, arg.map(str::parse::<u64>)) {
        (Some("spin"), Some(Ok(ms))) if ms <= 10_000 => {
            let hz = urt::sys::system_info(abi::InfoKey::CounterHz).unwrap_or(62_500_000);
            let start = urt::time::ticks();
            let mut loops = 0u64;
            while urt::time::ticks() - start < ms * hz / 1000 {
                loops += 1;
                core::hint::spin_loop();
            }
            let _ = write!(reply, "spun {ms} ms ({loops} loops)");
        }
        _ => reply.error("usage: spin MS (MS <= 10000) | spin forever"),
    }
}
