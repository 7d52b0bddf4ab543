//! The kernel test suite, run inside QEMU by the shell's `ktest [FILTER]` command, in the spirit
//! of sel4test: each test drives the kernel through the [`urt`] runtime and checks real
//! outcomes (error codes, badges, message contents, quota figures), then deletes everything it
//! created, so the suite gives the same results when run again.
//!
//! Every test runs in a thread of its own, so a test that panics or hangs fails alone. Output,
//! one line per test and a summary:
//!
//! ```text
//! ktest: NAME ... ok
//! ktest: NAME ... FAILED: reason
//! ktest: N passed, M failed
//! ```
//!
//! From the second run of the suite on, names carry the run number (`NAME#2`), so a harness
//! counting result lines tells the runs apart.
//!
//! [`mod@bench`] measures syscall and IPC costs; [`probe`] holds the faulting functions the fault
//! tests and the shell's `fault` command use.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
// A `Failure` carries its formatted reason inline (there is no heap): 200 bytes, only ever
// moved on the way out of a failing test.
#![allow(clippy::result_large_err)]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering};
use urt::println;
use urt::thread::{self, JoinError};

/// Returns from a test with a formatted failure.
macro_rules! fail {
    ($($arg:tt)*) => { return Err($crate::util::Failure::new(format_args!($($arg)*))) };
}

/// Fails the test unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => { if !$cond { fail!($($arg)*) } };
}

/// Fails the test unless `got == want`, naming what was compared.
macro_rules! ensure_eq {
    ($got:expr, $want:expr, $what:expr) => {{
        let (got, want) = ($got, $want);
        if got != want {
            fail!("{}: got {:?}, expected {:?}", $what, got, want)
        }
    }};
}

pub mod bench;
pub mod fuzz;
pub mod probe;
mod tests;
mod util;

pub use util::Failure;

/// What a test returns: `Ok(None)` passed, `Ok(Some(note))` passed with a note (e.g. a check
/// that needs two cores, on one), `Err` failed.
pub type Outcome = Result<Option<&'static str>, Failure>;

/// How long one test may take before it counts as hung, in milliseconds.
const TEST_TIMEOUT_MS: u64 = 20_000;

/// How many times the suite has been started.
static RUNS: AtomicU64 = AtomicU64::new(0);

/// A test's name as printed: with `#N` from the second run on.
struct Name(&'static str);

impl core::fmt::Display for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match RUNS.load(Ordering::Relaxed) {
            0 | 1 => f.write_str(self.0),
            n => write!(f, "{}#{n}", self.0),
        }
    }
}

/// Runs `tests::ALL[index]` and prints its line; the thread's result is 1 if it passed.
extern "C" fn run_one(index: u64) -> u64 {
    let (name, test) = tests::ALL[index as usize];
    let name = Name(name);
    match test() {
        Ok(None) => println!("ktest: {name} ... ok"),
        Ok(Some(note)) => println!("ktest: {name} ... ok ({note})"),
        Err(f) => {
            println!("ktest: {name} ... FAILED: {f}");
            return 0;
        }
    }
    1
}

/// Runs every test whose name contains `filter` (all without one) and prints the results.
/// Returns `(passed, failed)`.
pub fn run(filter: Option<&str>) -> (usize, usize) {
    let (mut passed, mut failed) = (0, 0);
    RUNS.fetch_add(1, Ordering::Relaxed);
    for (index, (name, _)) in tests::ALL.iter().enumerate() {
        if filter.is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let name = Name(name);
        let ok = match thread::spawn(run_one, index as u64, None) {
            Err(e) => {
                println!("ktest: {name} ... FAILED: cannot start its thread: {}", e.describe());
                false
            }
            Ok(mut t) => {
                if urt::time::wait_for(TEST_TIMEOUT_MS, || t.is_finished()) {
                    match t.join() {
                        Ok(result) => result == 1,
                        Err(JoinError::Panicked) => {
                            println!("ktest: {name} ... FAILED: panicked");
                            false
                        }
                        Err(e) => {
                            println!("ktest: {name} ... FAILED: {e:?}");
                            false
                        }
                    }
                } else {
                    drop(t);
                    println!("ktest: {name} ... FAILED: timed out after {TEST_TIMEOUT_MS} ms (stopped)");
                    false
                }
            }
        };
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("ktest: {passed} passed, {failed} failed");
    (passed, failed)
}
