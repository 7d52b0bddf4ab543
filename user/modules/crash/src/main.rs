//! A module that misbehaves on request (`crash`, issue 12's hostile cases): the module server
//! must mark it failed (or, for what only hangs, remove it with `rmmod --force`), its clients
//! must get an error, and every other module must keep answering.
//!
//! Requests: `crash` (read of an unmapped address), `null` (write through a null pointer),
//! `undef` (an undefined instruction), `write-code` (a write to its own text), `stack` (recursion
//! until the stack's guard page), `exhaust` (frames from its own quota until the kernel says no:
//! not a fault — it answers how many it got, and frees them), `garbage` (answers with a label and
//! words no protocol has), `reply-twice` (answers, then tries to answer again with nobody
//! waiting; `second?` tells what the kernel said to it), `wild` (a bug in two steps for the
//! reverse-debugging test: `scribble` stores a wild value into the pointer `TARGET`, and later
//! `follow` reads through it and faults). Anything else: "still fine".
#![no_std]
#![no_main]

use abi::CPtr;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
use modsdk::{Reply, Request};
use urt::cap::{Cap, Frame, Owned, Quota};
use urt::sys::{self, Message};

modsdk::module! {
    name: "crash", version: "1.1.0", license: "MIT",
    description: "misbehaves when asked to", depends: "",
    handler: handle,
}

/// Recurses with a frame that cannot be optimised away, until the guard page stops it (the
/// limit is never reached: the stack is 16 KiB).
#[inline(never)]
fn deep(n: u64) -> u64 {
    let mut pad = [n; 64];
    // SAFETY: a volatile write to a live local array; it keeps the frame real.
    unsafe { core::ptr::write_volatile(&mut pad[0], n) };
    if n == u64::MAX {
        return pad[1];
    }
    deep(n + 1) + pad[63]
}

fn handle(req: &Request, reply: &mut Reply) {
    match req.text().trim() {
        "crash" => {
            // The kernel turns the data abort into a fault message to the module server.
            // SAFETY: deliberately invalid: nothing is mapped at this address.
            let v = unsafe { core::ptr::read_volatile(0xdead_0000 as *const u64) };
            let _ = write!(reply, "read {v:#x}?!");
        }
        "null" => {
            // SAFETY: deliberately invalid (address 0 is never mapped): a write abort.
            unsafe { core::ptr::write_volatile(core::ptr::null_mut::<u64>(), 1) };
        }
        "undef" => {
            // SAFETY: `udf` is architecturally undefined: the kernel reports the fault.
            unsafe { core::arch::asm!("udf #0") }
        }
        "write-code" => {
            // The text is mapped read-execute (W^X): this write faults, the code never changes.
            // SAFETY: deliberately invalid, as above; the kernel reports the write abort.
            unsafe { core::ptr::write_volatile(handle as *const () as *mut u32, 0) };
        }
        "stack" => {
            let _ = write!(reply, "{}", deep(0));
        }
        "exhaust" => {
            let quota = Cap::<Quota>::new(CPtr::root(modsdk::slot::QUOTA));
            let mut got: [Option<Owned<Frame>>; 64] = [const { None }; 64];
            let mut n = 0;
            let why = loop {
                match Owned::<Frame>::create_from(quota, 0) {
                    Ok(f) if n < got.len() => {
                        got[n] = Some(f);
                        n += 1;
                    }
                    Ok(_) => break "the module's own limit of 64",
                    Err(e) => break e.describe(),
                }
            };
            let _ = write!(reply, "took {n} frames from its quota, then: {why}");
        }
        "garbage" => {
            // A label and a word count no protocol has; the SDK's own answer then finds nobody
            // waiting.
            let _ = sys::reply(&Message::new(GARBAGE_LABEL, &[u64::MAX; 4]));
        }
        "reply-twice" => {
            // The first answer reaches the caller; the second, and the SDK's own after this
            // handler, find nobody waiting. `second?` tells what the kernel said to the second.
            let _ = sys::reply(&modsdk::text_message(modsdk::TEXT, "answered once"));
            let second = sys::reply(&modsdk::text_message(modsdk::TEXT, "answered twice?!"));
            SECOND.store(if second.is_ok_and(|delivered| delivered) { 2 } else { 1 }, Ordering::Relaxed);
        }
        "wild" => {
            scribble(0xdead_0040);
            let _ = write!(reply, "followed: {:#x}?!", follow());
        }
        "second?" => {
            let what = match SECOND.load(Ordering::Relaxed) {
                0 => "not tried",
                1 => "refused",
                _ => "DELIVERED",
            };
            let _ = write!(reply, "the second answer was {what}");
        }
        _ => {
            let _ = write!(reply, "still fine (ask me to 'crash')");
        }
    }
}

/// The pointer `wild` corrupts: it names `CELL` until `scribble` overwrites it.
static TARGET: AtomicU64 = AtomicU64::new(0);
static CELL: AtomicU64 = AtomicU64::new(0x600d);

/// The store that causes `wild`'s fault (what `just replay`'s test finds by stepping back).
#[inline(never)]
fn scribble(value: u64) {
    TARGET.store(value, Ordering::Relaxed);
}

/// Reads through `TARGET`: faults once `scribble` has made it wild.
#[inline(never)]
fn follow() -> u64 {
    let mut at = TARGET.load(Ordering::Relaxed);
    if at == 0 {
        at = &CELL as *const AtomicU64 as u64;
    }
    // Deliberately unchecked: a valid address until `scribble` stores a wild one; then the read
    // faults, the kernel reports it and the module is marked failed.
    // SAFETY: reading CELL, or a wild address that faults (the fault is the point; no UB follows).
    unsafe { core::ptr::read_volatile(at as *const u64) }
}

/// What the kernel said to `reply-twice`'s second answer: 0 not tried, 1 refused (or not
/// delivered), 2 delivered.
static SECOND: AtomicU64 = AtomicU64::new(0);

/// A label outside every protocol.
const GARBAGE_LABEL: u32 = 0x6a7b_0bad;
