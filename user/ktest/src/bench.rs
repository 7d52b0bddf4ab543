//! The shell's `bench` command: the cost of a null syscall and of a call+reply round trip
//! between two address spaces on one core, timed with the virtual counter. It reports; it does
//! not judge.

use abi::{CPtr, InfoKey};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use urt::cap::{Cap, Endpoint, Owned};
use urt::sys::{self, Message, Short};
use urt::{println, process, thread, time};

/// Timed iterations of each measurement.
const RUNS: u64 = 10_000;
/// Untimed iterations first (caches, TLB, branch predictors): a tenth of the timed ones.
const WARMUP: u64 = RUNS / 10;
/// Slot of the endpoint in the server's CNode.
const EP: u32 = 1;
/// Label that ends the server.
const STOP: u32 = 0xdead;

/// Answers every call with its four words until a [`STOP`] call. Register-only messages
/// ([`sys::Short`]): what the kernel's fast path serves, and what a round trip costs at least.
extern "C" fn echo_server(_: u64) -> u64 {
    let ep = CPtr::root(EP);
    let mut got = match ep_recv(ep) {
        Ok(got) => got,
        Err(e) => return e as u64,
    };
    while got.label != STOP {
        got = match sys::reply_recv_short(ep, Short { label: 0, words: got.words }) {
            Ok((got, _badge)) => got,
            Err(e) => return e as u64,
        };
    }
    let _ = sys::reply(&Message::new(0, &[]));
    0
}

fn ep_recv(ep: CPtr) -> Result<Short, abi::Error> {
    let got = Cap::<Endpoint>::new(ep).recv(CPtr::NONE)?;
    let w = got.msg.words();
    Ok(Short { label: got.msg.label, words: core::array::from_fn(|i| w.get(i).copied().unwrap_or(0)) })
}

/// The name of the sync measurement (no heap here: a fixed set of strings).
fn sync_label(cores: u64) -> &'static str {
    match cores {
        1 => "cross-core sync, nothing to wait for, 1 core",
        2 => "cross-core sync, nothing to wait for, 2 cores",
        4 => "cross-core sync, nothing to wait for, 4 cores",
        8 => "cross-core sync, nothing to wait for, 8 cores",
        _ => "cross-core sync, nothing to wait for, all cores",
    }
}

/// Prints one measurement: `ticks` counter ticks for [`RUNS`] operations at `hz`.
fn report(what: &str, ticks: u64, hz: u64) {
    report_runs(what, ticks, hz, RUNS);
}

/// Prints one measurement: `ticks` counter ticks for `runs` operations at `hz`.
fn report_runs(what: &str, ticks: u64, hz: u64, runs: u64) {
    let ps = u128::from(ticks) * 1_000_000_000_000 / (u128::from(hz) * u128::from(runs));
    let (us, frac) = (ps / 1_000_000, ps / 1000 % 1000);
    println!("bench: {what}: {us}.{frac:03} us/op over {runs} runs (counter ticks {ticks} at {hz} Hz)");
    println!("bench: {what}: ~{} guest instructions/op (valid under -icount shift=0)", (ps + 500) / 1000);
}

/// Times `op` over [`RUNS`] runs after [`WARMUP`]; counter ticks.
fn time_it(op: impl FnMut()) -> u64 {
    time_runs(RUNS, op)
}

/// Times `op` over `runs` runs after a tenth as many warm-up runs; counter ticks.
fn time_runs(runs: u64, mut op: impl FnMut()) -> u64 {
    for _ in 0..runs / 10 {
        op();
    }
    let start = time::ticks();
    for _ in 0..runs {
        op();
    }
    time::ticks() - start
}

/// Runs of the sync measurement with busy cores (each interrupts every other core).
const BUSY_RUNS: u64 = 1_000;
/// Tells the spinners of [`sync_busy`] to stop.
static SPIN_STOP: AtomicBool = AtomicBool::new(false);
/// How many spinners have started.
static SPINNING: AtomicU64 = AtomicU64::new(0);

/// A thread that keeps its core busy in user code (no syscalls) until [`SPIN_STOP`].
extern "C" fn spinner(_: u64) -> u64 {
    SPINNING.fetch_add(1, Ordering::Relaxed);
    while !SPIN_STOP.load(Ordering::Relaxed) {
        core::hint::spin_loop();
    }
    0
}

/// The sync while every other core runs a user thread: each must be interrupted, invalidate,
/// and answer. Under icount the figure counts the instructions of every core meanwhile,
/// the spinners' too.
fn sync_busy(hz: u64, here: u64, cores: u64) {
    SPIN_STOP.store(false, Ordering::Relaxed);
    SPINNING.store(0, Ordering::Relaxed);
    let mut spinners: [Option<thread::JoinHandle>; 16] = [const { None }; 16];
    for (slot, c) in spinners.iter_mut().zip((0..cores).filter(|&c| c != here)) {
        *slot = thread::spawn(spinner, 0, Some(c as usize)).ok();
    }
    let busy = spinners.iter().flatten().count();
    // Measure only once every spinner runs (an idle core would not be interrupted).
    let started = time::wait_for(2000, || SPINNING.load(Ordering::Relaxed) == busy as u64);
    let ticks = time_runs(BUSY_RUNS, || {
        let _ = sys::sync();
    });
    SPIN_STOP.store(true, Ordering::Relaxed);
    for s in spinners.into_iter().flatten() {
        let _ = s.join();
    }
    if !started {
        return println!("bench: cross-core sync with busy cores: the spinners did not all start within 2 s");
    }
    let what = match busy {
        1 => "cross-core sync, 1 other core running a user thread",
        3 => "cross-core sync, 3 other cores running user threads",
        7 => "cross-core sync, 7 other cores running user threads",
        _ => "cross-core sync, the other cores running user threads",
    };
    report_runs(what, ticks, hz, BUSY_RUNS);
}

/// Runs the measurements and prints them.
pub fn run() {
    let hz = time::hz();
    let cores = sys::system_info(InfoKey::Cores).unwrap_or(0);
    let here = sys::system_info(InfoKey::CurrentCore).unwrap_or(0);
    println!(
        "bench: method: virtual counter around {RUNS} runs after {WARMUP} warm-up runs, on core {here} of {cores}"
    );
    measure(hz);
    if cores > 1 {
        sync_busy(hz, here, cores);
    }
    revoke_series(hz);
    revoke_wake_delay();
    println!("bench: done");
}

/// Revoke of an endpoint capability with n descendants (copies spread over CNodes of 4096
/// slots), for n = 1, 10, 100, 1,000, 10,000: the counter around the one `CapRevoke`, and the
/// cost per descendant. As many descendants as fit in the kernel heap's share of the boot
/// quota (each slot is charged `charge::SLOT_BYTES`).
fn revoke_series(hz: u64) {
    use urt::cap::CNode;
    const RADIX: u64 = 12;
    for n in [1u64, 10, 100, 1_000, 10_000, 100_000] {
        let Ok(ep) = Owned::<Endpoint>::create(0) else { return println!("bench: revoke: no endpoint") };
        let nodes = n.div_ceil(1 << RADIX);
        let mut cnodes = alloc::vec::Vec::new();
        for _ in 0..nodes {
            match Owned::<CNode>::create(RADIX) {
                Ok(c) => cnodes.push(c),
                Err(e) => return println!("bench: revoke of {n}: CNode: {}", e.describe()),
            }
        }
        for i in 0..n {
            let (_, outer) = cnodes[(i >> RADIX) as usize].cptr().split();
            let at = CPtr::in_cnode(outer, (i & ((1 << RADIX) - 1)) as u32);
            if let Err(e) = sys::cap_copy(ep.cptr(), at) {
                return println!("bench: revoke of {n}: copy {i}: {}", e.describe());
            }
        }
        let start = time::ticks();
        let gone = sys::cap_revoke(ep.cptr());
        let ticks = time::ticks() - start;
        let ns = u128::from(ticks) * 1_000_000_000 / u128::from(hz.max(1));
        match gone {
            Ok(k) if k == n => println!(
                "bench: revoke of {n} descendants: {ns} ns, {} ns per descendant (counter ticks {ticks}; under -icount shift=0, ns = guest instructions)",
                ns / u128::from(n)
            ),
            Ok(k) => println!("bench: revoke of {n} descendants removed {k}"),
            Err(e) => println!("bench: revoke of {n}: {}", e.describe()),
        }
    }
}

/// The worst wake-up delay of a thread that sleeps 1 ms at a time on the core of a lower-
/// priority revoke of 100,000 descendants (issue 11's goal: at most 1 ms).
fn revoke_wake_delay() {
    const N: u64 = 100_000;
    let here = sys::system_info(abi::InfoKey::CurrentCore).unwrap_or(0) as usize;
    match crate::tests::hostile::revoke_with_sleeper(N, 1000, here, false, false) {
        Ok(r) => println!(
            "bench: revoke of {N} descendants with a 1 ms sleeper on its core: {} us, sleeper woken {} times meanwhile, worst wake-up {} ns after its deadline",
            r.revoke_us, r.wakes_inside, r.worst_late_ns
        ),
        Err(e) => println!("bench: revoke with a sleeper: {e}"),
    }
}

fn measure(hz: u64) {
    match sys::sync() {
        Ok(n) => report(
            sync_label(n),
            time_it(|| {
                let _ = sys::sync();
            }),
            hz,
        ),
        Err(e) => println!("bench: cross-core sync fails: {}", e.describe()),
    }
    match sys::null() {
        Ok(()) => report("null syscall", time_it(|| sys::null().unwrap_or(())), hz),
        Err(e) => println!("bench: null syscall fails: {}", e.describe()),
    }

    let core = sys::system_info(InfoKey::CurrentCore).unwrap_or(0) as usize;
    let ep = match Owned::<Endpoint>::create(0) {
        Ok(ep) => ep,
        Err(e) => return println!("bench: cannot create an endpoint: {}", e.describe()),
    };
    let mut server = match process::spawn_clone(echo_server, 0, Some(core), &[(ep.cptr(), EP)]) {
        Ok(p) => p,
        Err(e) => return println!("bench: cannot start the server process: {}", e.describe()),
    };
    let request = Short { label: 1, words: [1, 2, 3, 4] };
    let mut failed = None;
    let ticks = time_it(|| match sys::call_short(ep.cptr(), request) {
        Ok(reply) if reply.words == request.words => {}
        Ok(_) => {
            failed.get_or_insert(abi::Error::InvalidArgument); // wrong echo
        }
        Err(e) => {
            failed.get_or_insert(e);
        }
    });
    let stopped = ep.call(&Message::new(STOP, &[]));
    match (failed, stopped, server.join()) {
        (None, Ok(_), Ok(0)) => report("call+reply round trip between address spaces on one core", ticks, hz),
        (failed, stopped, joined) => {
            println!("bench: call+reply failed: calls {failed:?}, stop {:?}, server {joined:?}", stopped.err())
        }
    }
}
