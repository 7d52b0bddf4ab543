//! A large module: 1 MiB of read-only data (a table computed at build time), so that a load
//! copies 256 pages more than `hello`'s. For the benchmark of a large insmod and for running
//! the machine out of memory by loading it many times (`exhaust-modules big`). It answers
//! `sum` with the table's checksum, which proves every page arrived.
#![no_std]
#![no_main]

use core::fmt::Write;
use modsdk::{Reply, Request};

modsdk::module! {
    name: "big", version: "1.0.0", license: "MIT",
    description: "1 MiB of data; answers sum with its checksum", depends: "",
    handler: handle,
}

/// Words in the table: 1 MiB.
const WORDS: usize = (1 << 20) / 4;

/// Every word differs (xorshift32), so no page is all zeros.
static TABLE: [u32; WORDS] = {
    let mut t = [0u32; WORDS];
    let mut x: u32 = 0x9e37_79b9;
    let mut i = 0;
    while i < WORDS {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        t[i] = x;
        i += 1;
    }
    t
};

/// The checksum `sum` answers, computed the same way on the host side of the test: the
/// wrapping sum of every word.
fn checksum() -> u32 {
    // `black_box` keeps the compiler from folding the sum at build time: the pages must really
    // be there.
    let words = core::hint::black_box(&TABLE);
    words.iter().fold(0u32, |a, w| a.wrapping_add(*w))
}

fn handle(req: &Request, reply: &mut Reply) {
    match req.text().trim() {
        "sum" => {
            let _ = write!(reply, "big: sum={:#010x} over {} bytes", checksum(), WORDS * 4);
        }
        _ => {
            let _ = write!(reply, "big: ask 'sum'");
        }
    }
}
