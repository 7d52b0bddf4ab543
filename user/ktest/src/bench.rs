//! The shell's `bench` command: the kernel's cost figures, timed with the virtual counter. It
//! reports; it does not judge.
//!
//! Every figure is printed as one machine-readable line, read by `just bench` (`qemu/bench`):
//!
//! ```text
//! bench-record: key=null_syscall cores=4 ops=1000 unit=ns values=159.0,158.9,... | what it is
//! ```
//!
//! `values` holds one per-operation cost per round (a round times `ops` operations after one
//! untimed warm-up round), in nanoseconds of guest time with one decimal. Under
//! `-icount shift=0` a nanosecond of guest time is one guest instruction (of all cores: QEMU runs
//! them in turn on one host thread). The host tool takes the median, minimum and maximum.
//!
//! `bench` runs everything; `bench sync` only the figures that scale with the number of cores
//! (the sync and the unmap), for the per-core-count boots of `just bench`; `bench boot` the
//! counter when the shell became ready.

use abi::{CPtr, InfoKey, Rights};
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use urt::cap::{Cap, Endpoint, Frame, Notification, Owned, ROOT_VSPACE};
use urt::sys::{self, Message, Short};
use urt::{println, process, thread, time};

/// Rounds of every figure (each after one warm-up round).
pub const ROUNDS: usize = 11;
/// Operations per round of the cheap figures.
const OPS: u64 = 1_000;
/// Slot of the endpoint (or notification) in a helper process's CNode.
const EP: u32 = 1;
/// Label that ends the echo server.
const STOP: u32 = 0xdead;

/// Counter value when the module server's shell became ready (set by the server).
pub static SHELL_READY_TICKS: AtomicU64 = AtomicU64::new(0);

/// Prints one figure: `key` (stable, joined on by the host tool), per-op costs in ns of guest
/// time per round (`ps_per_op` in picoseconds), and what was measured.
pub fn print_record(key: &str, ops: u64, ps_per_op: &[u128], what: &str) {
    let cores = sys::system_info(InfoKey::Cores).unwrap_or(0);
    let mut values = alloc::string::String::new();
    for (i, ps) in ps_per_op.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let tenths = (ps + 50) / 100;
        let _ = write!(values, "{sep}{}.{}", tenths / 10, tenths % 10);
    }
    println!("bench-record: key={key} cores={cores} ops={ops} unit=ns values={values} | {what}");
}

/// Picoseconds per operation for `ticks` counter ticks over `ops` operations.
pub fn ps_per_op(ticks: u64, ops: u64) -> u128 {
    let hz = u128::from(time::hz().max(1));
    u128::from(ticks) * 1_000_000_000_000 / (hz * u128::from(ops.max(1)))
}

/// Measures one figure: `round()` performs `ops` operations and returns the counter ticks they
/// took (or why it could not); one warm-up round, then [`ROUNDS`] timed ones, then the record.
pub fn measure(key: &str, what: &str, ops: u64, mut round: impl FnMut() -> Result<u64, &'static str>) {
    measure_rounds(key, what, ops, ROUNDS, &mut round)
}

/// [`measure`] with `rounds` timed rounds.
pub fn measure_rounds(
    key: &str,
    what: &str,
    ops: u64,
    rounds: usize,
    round: &mut dyn FnMut() -> Result<u64, &'static str>,
) {
    let mut values = Vec::with_capacity(rounds);
    for i in 0..=rounds {
        match round() {
            Ok(ticks) if i > 0 => values.push(ps_per_op(ticks, ops)),
            Ok(_) => {}
            Err(e) => return println!("error: bench: {key}: {e}"),
        }
    }
    print_record(key, ops, &values, what);
}

/// Counter ticks of `ops` calls of `op`.
fn timed(ops: u64, mut op: impl FnMut()) -> u64 {
    let start = time::ticks();
    for _ in 0..ops {
        op();
    }
    time::ticks() - start
}

/// Runs the measurements: all of them, or with `sync` only those that scale with the cores.
pub fn run(which: Option<&str>) {
    let cores = sys::system_info(InfoKey::Cores).unwrap_or(1);
    let here = sys::system_info(InfoKey::CurrentCore).unwrap_or(0) as usize;
    println!(
        "bench: method: virtual counter around {ROUNDS} rounds after a warm-up round, on core {here} of {cores} cores"
    );
    match which {
        None | Some("all") => {
            cheap();
            ipc(here, cores as usize);
            scaling(here, cores as usize);
            revoke_series();
            revoke_wake_delay(here);
        }
        Some("sync") => scaling(here, cores as usize),
        Some("boot") => {
            let ready = SHELL_READY_TICKS.load(Ordering::Relaxed);
            print_record(
                "boot_shell",
                1,
                &[ps_per_op(ready, 1)],
                "reset to the module server's shell ready (counter since reset)",
            );
        }
        Some(other) => return println!("error: bench: unknown set '{other}' (bench [all|sync|boot])"),
    }
    println!("bench: done");
}

/// The null syscall.
fn cheap() {
    measure("null_syscall", "null syscall (user wrapper included)", 10 * OPS, || {
        Ok(timed(10 * OPS, || sys::null().unwrap_or(())))
    });
}

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

/// Call+reply to an echo server in another address space on `core`.
fn call_reply(key: &str, what: &str, core: usize) {
    let ep = match Owned::<Endpoint>::create(0) {
        Ok(ep) => ep,
        Err(e) => return println!("error: bench: {key}: cannot create an endpoint: {}", e.describe()),
    };
    let mut server = match process::spawn_clone(echo_server, 0, Some(core), &[(ep.cptr(), EP)]) {
        Ok(p) => p,
        Err(e) => return println!("error: bench: {key}: cannot start the server process: {}", e.describe()),
    };
    let request = Short { label: 1, words: [1, 2, 3, 4] };
    measure(key, what, OPS, || {
        let mut bad = None;
        let ticks = timed(OPS, || match sys::call_short(ep.cptr(), request) {
            Ok(reply) if reply.words == request.words => {}
            Ok(_) => bad = Some("the echo differs from the request"),
            Err(_) => bad = Some("a call failed"),
        });
        bad.map_or(Ok(ticks), Err)
    });
    let stopped = ep.call(&Message::new(STOP, &[]));
    if stopped.is_err() || server.join() != Ok(0) {
        println!("error: bench: {key}: the echo server did not stop cleanly");
    }
}

/// Tells the notification partner to stop.
static PARTNER_STOP: AtomicBool = AtomicBool::new(false);
/// The partner's two notifications: it waits on the first and signals the second.
static PARTNER_CAPS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Waits on one notification and signals the other, until [`PARTNER_STOP`].
extern "C" fn notify_partner(_: u64) -> u64 {
    let ping = Cap::<Notification>::new(CPtr(PARTNER_CAPS[0].load(Ordering::Acquire)));
    let pong = Cap::<Notification>::new(CPtr(PARTNER_CAPS[1].load(Ordering::Acquire)));
    loop {
        if ping.wait().is_err() {
            return 1;
        }
        // Read between the wait and the answer: the stop request is set before the ping that
        // carries it, and every ping is answered (main waits for the last pong).
        let stop = PARTNER_STOP.load(Ordering::Acquire);
        if pong.signal().is_err() {
            return 1;
        }
        if stop {
            return 0;
        }
    }
}

/// Signal+wake round trips over two notifications with a thread on `core`.
fn notify_round_trip(core: usize) {
    let (Ok(ping), Ok(pong)) = (Owned::<Notification>::create(0), Owned::<Notification>::create(0)) else {
        return println!("error: bench: notify: cannot create notifications");
    };
    PARTNER_CAPS[0].store(ping.cptr().0, Ordering::Release);
    PARTNER_CAPS[1].store(pong.cptr().0, Ordering::Release);
    PARTNER_STOP.store(false, Ordering::Release);
    let partner = match thread::spawn(notify_partner, 0, Some(core)) {
        Ok(t) => t,
        Err(e) => return println!("error: bench: notify: cannot start the partner: {}", e.describe()),
    };
    measure(
        "notify_cross_core",
        "notification signal + wake round trip (two notifications, the partner thread on another core)",
        OPS,
        || {
            let mut bad = None;
            let ticks = timed(OPS, || {
                if ping.signal().is_err() || pong.wait().is_err() {
                    bad = Some("a signal or wait failed");
                }
            });
            bad.map_or(Ok(ticks), Err)
        },
    );
    PARTNER_STOP.store(true, Ordering::Release);
    let _ = ping.signal();
    let _ = pong.wait();
    if partner.join() != Ok(0) {
        println!("error: bench: notify: the partner did not stop cleanly");
    }
}

/// The IPC figures: call+reply on one core and across cores, notification round trip.
fn ipc(here: usize, cores: usize) {
    call_reply(
        "call_reply_one_core",
        "call+reply round trip between two address spaces on one core (register-only message)",
        here,
    );
    if cores > 1 {
        let other = (here + 1) % cores;
        call_reply(
            "call_reply_cross_core",
            "call+reply round trip between two address spaces on two cores (register-only message)",
            other,
        );
        notify_round_trip(other);
    }
}

/// Tells the spinners to stop.
static SPIN_STOP: AtomicBool = AtomicBool::new(false);
/// How many spinners of this address space have started.
static SPINNING: AtomicU64 = AtomicU64::new(0);

/// A thread of this address space that keeps its core busy in user code until [`SPIN_STOP`].
extern "C" fn spinner(_: u64) -> u64 {
    SPINNING.fetch_add(1, Ordering::Relaxed);
    while !SPIN_STOP.load(Ordering::Relaxed) {
        core::hint::spin_loop();
    }
    0
}

/// A thread of another address space: says it runs (signals its notification), then spins
/// until its process is dropped.
extern "C" fn foreign_spinner(_: u64) -> u64 {
    let _ = Cap::<Notification>::new(CPtr::root(EP)).signal();
    loop {
        core::hint::spin_loop();
    }
}

/// Who keeps the other cores busy.
enum Busy {
    Idle,
    /// Threads of this address space, one per other core.
    Same(Vec<thread::JoinHandle>),
    /// Threads of other address spaces, one per other core.
    Other(Vec<process::Process>),
}

impl Busy {
    /// Starts a spinner on every core but `here`.
    fn start_same(here: usize, cores: usize) -> Result<Busy, &'static str> {
        SPIN_STOP.store(false, Ordering::Relaxed);
        SPINNING.store(0, Ordering::Relaxed);
        let mut threads = Vec::new();
        for c in (0..cores).filter(|&c| c != here) {
            threads.push(thread::spawn(spinner, 0, Some(c)).map_err(|_| "cannot start a spinner thread")?);
        }
        let n = threads.len() as u64;
        let busy = Busy::Same(threads);
        // Measure only once every spinner runs (an idle core would not be interrupted).
        if !time::wait_for(5000, || SPINNING.load(Ordering::Relaxed) == n) {
            return Err("the spinners did not all start within 5 s");
        }
        Ok(busy)
    }

    /// Starts a spinner in a new address space on every core but `here`: all the address
    /// spaces first, then the threads, then it waits until each has said it runs.
    fn start_other(here: usize, cores: usize) -> Result<Busy, &'static str> {
        let started = Owned::<Notification>::create(0).map_err(|_| "cannot create a notification")?;
        let mut procs = Vec::new();
        let mut badges = Vec::new();
        for (i, _) in (0..cores).filter(|&c| c != here).enumerate() {
            let p = process::Process::new().map_err(|_| "cannot make a spinner process")?;
            // Each signals its own bit (badge 1 << i, wrapping: a count of distinct bits is
            // enough to know all have run only up to 64 of them, which MAX_CPUS bounds).
            let badge = 1u64 << (i % 64);
            p.give_minted(started.cap(), EP, Rights::WRITE, badge).map_err(|_| "cannot give a notification")?;
            procs.push(p);
            badges.push(badge);
        }
        for (p, c) in procs.iter_mut().zip((0..cores).filter(|&c| c != here)) {
            p.start(foreign_spinner, 0, &thread::Builder::new().core(c)).map_err(|_| "cannot start a spinner")?;
        }
        let want = badges.iter().fold(0, |m, b| m | b);
        let mut seen = 0;
        // Bounded, like `start_same`: a spinner that never runs is an error, not a hang.
        if !time::wait_for(5000, || {
            seen |= started.poll().unwrap_or(0);
            seen == want
        }) {
            return Err("the spinner processes did not all start within 5 s");
        }
        Ok(Busy::Other(procs))
    }

    fn stop(self) {
        SPIN_STOP.store(true, Ordering::Relaxed);
        match self {
            Busy::Idle => {}
            Busy::Same(threads) => threads.into_iter().for_each(|t| {
                let _ = t.join();
            }),
            Busy::Other(procs) => drop(procs),
        }
    }
}

/// The figures that scale with the number of cores: the sync and the unmap of a page, with the
/// other cores idle, running this address space, or running other address spaces.
fn scaling(here: usize, cores: usize) {
    type Start = fn(usize, usize) -> Result<Busy, &'static str>;
    let sets: [(&str, &str, Start); 3] = [
        ("idle", "the other cores idle", |_, _| Ok(Busy::Idle)),
        ("busy_same", "a thread of this address space spinning on every other core", Busy::start_same),
        ("busy_other", "a thread of another address space spinning on every other core", Busy::start_other),
    ];
    for (tag, how, start) in sets {
        if tag != "idle" && cores < 2 {
            continue;
        }
        let busy = match start(here, cores) {
            Ok(b) => b,
            Err(e) => {
                println!("error: bench: sync_{tag}: {e}");
                continue;
            }
        };
        let mut key = alloc::string::String::new();
        let mut what = alloc::string::String::new();
        let _ = write!(key, "sync_{tag}");
        let _ =
            write!(what, "Sync syscall (every core passes a quiescent point; idle cores are not interrupted), {how}");
        measure(&key, &what, OPS / 10, || {
            let mut bad = None;
            let ticks = timed(OPS / 10, || {
                if sys::sync().is_err() {
                    bad = Some("a sync failed");
                }
            });
            bad.map_or(Ok(ticks), Err)
        });
        key.clear();
        what.clear();
        let _ = write!(key, "unmap_{tag}");
        let _ = write!(
            what,
            "unmap of a touched page (the syscall alone; targeted shootdown: the cores that may hold the ASID), {how}"
        );
        unmap(&key, &what);
        busy.stop();
    }
}

/// Maps a frame, touches it, and times its unmap, `OPS / 10` times per round.
fn unmap(key: &str, what: &str) {
    let (Ok(frame), Ok(range)) = (Owned::<Frame>::create(0), urt::vm::Range::alloc(1)) else {
        return println!("error: bench: {key}: no frame or address range");
    };
    measure(key, what, OPS / 10, || {
        let mut ticks = 0;
        for _ in 0..OPS / 10 {
            frame.map(ROOT_VSPACE, range.va, Rights::READ | Rights::WRITE).map_err(|_| "map failed")?;
            // SAFETY: `range` (this thread's window page) was just mapped read-write to `frame`, unshared.
            unsafe { (range.va as *mut u64).write_volatile(1) };
            let start = time::ticks();
            frame.unmap().map_err(|_| "unmap failed")?;
            ticks += time::ticks() - start;
        }
        Ok(ticks)
    });
}

/// Rounds of each revoke size (each round builds its n descendants again).
const REVOKE_ROUNDS: usize = 5;

/// Revoke of an endpoint capability with n descendants (copies spread over CNodes of 4096
/// slots), for n = 1 to 100,000: the counter around the one `CapRevoke`, per descendant.
fn revoke_series() {
    for n in [1u64, 10, 100, 1_000, 10_000, 100_000] {
        let mut key = alloc::string::String::new();
        let _ = write!(key, "revoke_{n}");
        let what =
            "revoke of n descendants (copies of one endpoint capability in CNodes of 4,096 slots), per descendant";
        measure_rounds(&key, what, n, REVOKE_ROUNDS, &mut || revoke_once(n));
    }
}

/// Builds `n` copies of a new endpoint capability and times its revoke.
fn revoke_once(n: u64) -> Result<u64, &'static str> {
    use urt::cap::CNode;
    const RADIX: u64 = 12;
    let ep = Owned::<Endpoint>::create(0).map_err(|_| "no endpoint")?;
    let mut cnodes = Vec::new();
    for _ in 0..n.div_ceil(1 << RADIX) {
        cnodes.push(Owned::<CNode>::create(RADIX).map_err(|_| "no CNode")?);
    }
    for i in 0..n {
        let (_, outer) = cnodes[(i >> RADIX) as usize].cptr().split();
        let at = CPtr::in_cnode(outer, (i & ((1 << RADIX) - 1)) as u32);
        sys::cap_copy(ep.cptr(), at).map_err(|_| "a copy failed")?;
    }
    let start = time::ticks();
    let gone = sys::cap_revoke(ep.cptr());
    let ticks = time::ticks() - start;
    match gone {
        Ok(k) if k == n => Ok(ticks),
        Ok(_) => Err("the revoke removed a different number of capabilities"),
        Err(_) => Err("the revoke failed"),
    }
}

/// The worst wake-up delay of a thread that sleeps 1 ms at a time on the core of a lower-
/// priority revoke of 100,000 descendants (issue 11's goal: at most 1 ms).
fn revoke_wake_delay(here: usize) {
    const N: u64 = 100_000;
    let mut values = Vec::new();
    for _ in 0..3 {
        match crate::tests::hostile::revoke_with_sleeper(N, 1000, here, false, false) {
            Ok(r) => values.push(r.worst_late_ns * 1000),
            Err(e) => return println!("error: bench: revoke with a sleeper: {e}"),
        }
    }
    print_record(
        "revoke_wake_late",
        1,
        &values,
        "worst wake-up delay after its deadline of a thread sleeping 1 ms at a time, higher priority, on the core of a revoke of 100,000 descendants",
    );
}
