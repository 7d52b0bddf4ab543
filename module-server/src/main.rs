//! The root task and module server: the first and only program the kernel starts itself.
//!
//! It loads ELF modules from the boot archive into protection domains of their own
//! ([`loader`]), hands out sessions on them as counted references ([`service`], [`registry`]),
//! and runs the shell on the serial console: module commands (`insmod`, `lsmod`, `modinfo`,
//! `open`, `invoke`, `close`, `call`, `caps`) plus commands for looking at the system,
//! exercising the kernel's fault containment, and running the in-QEMU test suite ([`ktest`])
//! and benchmarks.
#![no_std]
#![no_main]

extern crate alloc;

mod gdb;
mod loader;
mod pool;
mod registry;
mod service;
mod sessions;
mod shell;
mod stress;

use abi::{boot_slot, CPtr, Error, InfoKey};
use alloc::vec::Vec;
use ktest::probe::{self, Probe};
use modfmt::archive::{self, Entry};
use registry::Registry;
use urt::cap::{Cap, Endpoint};
use urt::sys;
use urt::thread::{self, JoinHandle};
use urt::{print, println};

urt::entry!(main);

fn main() {
    let id = sys::system_info(InfoKey::ThreadId).unwrap_or(0);
    let core = sys::system_info(InfoKey::CurrentCore).unwrap_or(0);
    println!("module-server: running at EL0 as thread {id:#x} on core {core}");
    match syscall_self_check() {
        Ok(summary) => println!("el0 syscall ok: {summary}"),
        Err(what) => println!("el0 syscall FAILED: {what}"),
    }
    start_server();
    ktest::bench::SHELL_READY_TICKS.store(urt::time::ticks(), core::sync::atomic::Ordering::Relaxed);
    println!("boot console ready: type 'help' for commands");
    autorun();
    shell();
}

/// Runs the commands of the kernel command line's `autorun=CMD;CMD...` (a `,` in a command
/// stands for a space: the command line splits on spaces), each echoed after the prompt as if
/// typed. No input is read meanwhile, so a run under `-icount` repeats exactly (`just race`).
fn autorun() {
    // The last `autorun=` counts, as for the kernel's own options.
    let Some(list) =
        urt::cspace::boot_cmdline().split_ascii_whitespace().rev().find_map(|w| w.strip_prefix("autorun="))
    else {
        return;
    };
    for command in list.split(';').filter(|c| !c.is_empty()) {
        let mut line = [0u8; 256];
        if command.len() > line.len() {
            println!("error: autorun: a command of {} bytes (at most {}) was not run", command.len(), line.len());
            continue;
        }
        let mut n = 0;
        for b in command.bytes() {
            line[n] = if b == b',' { b' ' } else { b };
            n += 1;
        }
        let text = core::str::from_utf8(&line[..n]).unwrap_or("");
        println!("> {text}");
        run_command(text);
    }
}

/// Every module and session (see [`registry`]).
pub static REGISTRY: spin::Mutex<Registry> = spin::Mutex::new(Registry::new());
static SERVER_EP: spin::Once<Cap<Endpoint>> = spin::Once::new();

/// The server's endpoint: modules' session requests and faults arrive here (badge = module id).
pub fn server_ep() -> Cap<Endpoint> {
    *SERVER_EP.get().expect("server endpoint made at start")
}

static ARCHIVE: spin::Once<Vec<Entry<'static>>> = spin::Once::new();

/// The boot archive's entries (parsed once; an unreadable archive reads as empty, reported at
/// start).
pub fn archive_entries() -> &'static [Entry<'static>] {
    ARCHIVE.call_once(|| {
        let info = urt::cspace::boot_info();
        // SAFETY: the kernel maps the boot archive read-only at BOOT_ARCHIVE_VA, `archive_bytes`
        // long, before the root task starts, and never unmaps it (ABI).
        let bytes =
            unsafe { core::slice::from_raw_parts(abi::BOOT_ARCHIVE_VA as *const u8, info.archive_bytes as usize) };
        match archive::parse(bytes) {
            Ok(e) => e,
            Err(e) => {
                println!("error: boot archive unreadable: {e}");
                Vec::new()
            }
        }
    })
}

pub use service::fail;

/// Makes the server endpoint and starts the service thread.
fn start_server() {
    pool::seed(urt::cspace::boot_info().rng_seed);
    let ep = match urt::cap::Owned::<Endpoint>::create(0) {
        Ok(ep) => ep,
        Err(e) => return println!("error: cannot create the server endpoint: {}", e.describe()),
    };
    SERVER_EP.call_once(|| ep.cap());
    core::mem::forget(ep); // lives as long as the server
    match thread::spawn(service::serve, 1, None) {
        Ok(handle) => core::mem::forget(handle), // serves for as long as the system runs
        Err(e) => println!("error: cannot start the service thread: {}", e.describe()),
    }
    match thread::spawn(loader::watchdog, 0, None) {
        Ok(handle) => core::mem::forget(handle), // watches for as long as the system runs
        Err(e) => println!("error: cannot start the load watchdog: {}", e.describe()),
    }
    // The debugger's list names the server's own address space too (id 0; its symbols come
    // from `just gdb`), so `core-info` can say a core runs the server.
    gdb::report(0, "module-server", 0, 0, urt::cap::ROOT_VSPACE.cptr(), &[], abi::DebugImageState::Live);
    let n = archive_entries().len();
    println!("module-server: boot archive holds {n} files; 'lsmod', 'insmod NAME', 'help'");
}

/// Every syscall the root task relies on at boot, and the kernel's answers to bad arguments.
fn syscall_self_check() -> Result<&'static str, &'static str> {
    sys::null().map_err(|_| "null syscall returned an error")?;
    let cores = sys::system_info(InfoKey::Cores).map_err(|_| "SystemInfo(Cores) failed")?;
    if cores == 0 {
        return Err("SystemInfo(Cores) returned 0");
    }
    if sys::invalid_syscall(0x7fff) != Err(Error::InvalidSyscall) {
        return Err("an unknown syscall number was not refused with InvalidSyscall");
    }
    if sys::debug_write_raw(0xdead_0000, 8) != Err(Error::BadAddress) {
        return Err("DebugWrite from an unmapped address was not refused with BadAddress");
    }
    if sys::debug_write_raw(0xffff_0000_4020_0000, 8) != Err(Error::BadAddress) {
        return Err("DebugWrite from a kernel address was not refused with BadAddress");
    }
    if sys::debug_write_raw(abi::USER_IMAGE_BASE, abi::DEBUG_WRITE_MAX + 1) != Err(Error::InvalidArgument) {
        return Err("an overlong DebugWrite was not refused with InvalidArgument");
    }
    if sys::system_info_raw(999) != Err(Error::InvalidArgument) {
        return Err("an unknown SystemInfo key was not refused with InvalidArgument");
    }
    if sys::signal(CPtr::root(0)) != Err(Error::InvalidCapability) {
        return Err("Signal on the empty slot 0 was not refused with InvalidCapability");
    }
    if sys::signal(CPtr(u64::MAX - 1)) != Err(Error::InvalidCapability) {
        return Err("Signal through a CPtr naming no CNode was not refused with InvalidCapability");
    }
    if sys::signal(CPtr::root(boot_slot::TCB)) != Err(Error::WrongType) {
        return Err("Signal on a TCB capability was not refused with WrongType");
    }
    Ok("null, info, bad number, bad pointers, bad key, bad cptr, wrong type all answered correctly")
}

const HELP: &str = "\
commands:
  help            this list
  archive         the files in the boot archive
  insmod NAME [as INSTANCE]
                  load a module (NAME: a module name or an archive file name), under the
                  name INSTANCE if given (one file loaded several times)
  rmmod [--wait|--force|--race] NAME
                  unload a module (the seed's protocol): refused while used; --wait removes it
                  when the last reference closes; --force revokes every reference; --race opens
                  a session inside the protocol's window (a test hook)
  lsmod           the modules: name, version, state, size, use count, users
  modinfo NAME    a module's metadata (loaded or in the archive)
  open MODULE     open a session held by the shell: prints session=ID
  invoke ID ARGS  call the module through session ID with ARGS, print the reply
  close ID        close session ID (and unmap pages it shared)
  poke ID TEXT    write TEXT into the page session ID shared with the shell
  call MODULE ARGS  open, invoke, print, close
  caps            the server's capabilities to modules and their derivations
  echo TEXT       print TEXT
  cpus            cores online and the core this shell runs on
  fuzz [SEED [N]] the syscall fuzzer: N (default 100000) seeded random syscalls from one
                  hostile worker per core, then the kernel's self-check and its figures
  kstat           the kernel's self-check and figures: free frames, heap, capabilities,
                  mappings, objects by type, broken invariants (violations=0 when consistent)
  meminfo         free physical frames
  spawn-all       start a thread on every core, each reports in; join them all
  fault KIND      start a thread without a fault handler that faults (KIND: read, write, exec,
                  undef); the kernel must stop it and carry on
  ktest [FILTER]  run the kernel test suite (the tests whose names contain FILTER)
  bench [sync|boot]  the kernel's cost figures as bench-record lines (sync: only the ones that
                  scale with the cores; boot: the time from reset to the shell)
  stress [N [SEED]]  unload and reload 'buffer' N times (default 1000) while clients on every
                  core open, call and close sessions on it and read the page it shares
  probe           force-unload 'buffer' while a thread on another core reads its shared page
  force-probe     force-unload 'spinner' while one call is in progress in it and one queued
  busy-probe      call 'hello' while 'spinner' is inside a call that never ends, then remove it
  bench-modules [N]  time N insmod, rmmod and cycles of 'hello' and 'big' (bench-record lines)
  exhaust-sessions [NAME]  open sessions on NAME until refused; the refusal must say why
  exhaust-modules FILE [pool=N]  load FILE as FILE-1, FILE-2, ... with a session each until
                  something runs out (the error must name it), then remove all: figures back
  insmod-sweep NAME  load NAME failing at each step of the load path in turn; each must roll back
  soak [N] [SEED]    N load/open/call/close/unload cycles over the shipped modules (1000), figures must come back
  stall CORE MS   a test hook: core CORE stops answering (interrupts masked) for MS ms
                  (at most 30000; only with debug.stall=1) or until a cross-core sync gives up on it (after 2 s)
  panic           make the kernel panic (only with debug.panic_trigger=1 on the command line)
  poweroff        power the machine off";

/// `kstat`: the kernel's self-check and its figures, on one line.
fn kstat() {
    match sys::kernel_check() {
        Ok(s) => {
            let o = &s.objects;
            println!(
                "kstat: free_frames={} heap_used={} heap_free={} caps={} mappings={} quotas={} tcbs={} endpoints={} notifications={} cnodes={} vspaces={} frames={} authorities={} dying={} violations={}",
                s.free_frames, s.heap_used, s.heap_free, s.cap_slots, s.mappings, o[1], o[2], o[3], o[4], o[5], o[6], o[7], o[8], s.dying, s.violations
            );
        }
        Err(e) => println!("error: kstat: {}", e.describe()),
    }
}

fn shell() {
    let mut line = [0u8; 256];
    loop {
        print!("> ");
        let input = urt::io::read_line(&mut line);
        run_command(input);
    }
}

/// Runs one shell command line.
fn run_command(input: &str) {
    let mut words = input.split_ascii_whitespace();
    let Some(command) = words.next() else { return };
    {
        match command {
            "help" => println!("{HELP}"),
            "echo" => {
                let rest = input.trim_start().strip_prefix("echo").unwrap_or("").trim();
                println!("{rest}");
            }
            "cpus" => {
                let cores = sys::system_info(InfoKey::Cores).unwrap_or(0);
                let here = sys::system_info(InfoKey::CurrentCore).unwrap_or(0);
                let ticks = sys::system_info(InfoKey::Ticks).unwrap_or(0);
                println!("cores online: {cores}; shell on core {here}; timer ticks so far: {ticks}");
            }
            "kstat" => kstat(),
            "fuzz" => {
                let seed = words.next().and_then(|w| w.parse().ok()).unwrap_or(1);
                let n = words.next().and_then(|w| w.parse().ok()).unwrap_or(100_000);
                let v = ktest::fuzz::run(seed, n);
                for p in &v.problems {
                    println!("fuzz: problem: {p}");
                }
                if v.problems.is_empty() {
                    println!(
                        "fuzz ok: seed {seed}: {} syscalls, self-check clean, figures back to where they were",
                        v.calls
                    );
                } else {
                    println!("fuzz FAILED: seed {seed}: {} problem(s) after {} syscalls", v.problems.len(), v.calls);
                }
            }
            "meminfo" => {
                let Ok(free) = sys::system_info(InfoKey::FreeFrames) else {
                    println!("error: meminfo: the free-frame figure was refused");
                    return;
                };
                let ram = sys::system_info(InfoKey::RamMib).unwrap_or(0);
                println!("free_frames={free} ({} KiB) ram_mib={ram}", free * 4);
            }
            "spawn-all" => spawn_all(),
            "fault" => match words.next() {
                Some(kind) => fault(kind),
                None => println!("error: fault needs a kind: read, write, exec or undef"),
            },
            "ktest" => {
                ktest::run(words.next());
            }
            "bench" => ktest::bench::run(words.next()),
            "stress" => {
                let n = words.next().and_then(|w| w.parse().ok()).unwrap_or(1000);
                let seed = words.next().and_then(|w| w.parse().ok()).unwrap_or(0x5eed);
                stress::stress(n, seed);
            }
            "probe" => stress::probe(),
            "force-probe" => stress::force_probe(),
            "busy-probe" => stress::busy_probe(),
            "exhaust-sessions" => stress::exhaust_sessions(words.next().unwrap_or("hello")),
            "exhaust-modules" => match words.next() {
                Some(file) => {
                    let pool = words.next().and_then(|w| w.strip_prefix("pool=")).and_then(|n| n.parse().ok());
                    stress::exhaust_modules(file, pool)
                }
                None => println!("error: exhaust-modules needs a module file: exhaust-modules FILE [pool=N]"),
            },
            "insmod-sweep" => match words.next() {
                Some(name) => stress::insmod_sweep(name),
                None => println!("error: insmod-sweep needs a module name"),
            },
            "soak" => {
                let n = words.next().and_then(|w| w.parse().ok()).unwrap_or(1000);
                stress::soak(n, words.next().and_then(|w| w.parse().ok()).unwrap_or(1));
            }
            "stall" => match (words.next().and_then(|w| w.parse().ok()), words.next().and_then(|w| w.parse().ok())) {
                (Some(core), Some(ms)) => stress::stall(core, ms),
                _ => println!("error: stall needs a core and a number of milliseconds: stall CORE MS"),
            },
            "bench-modules" => stress::bench_modules(words.next().and_then(|w| w.parse().ok()).unwrap_or(20)),
            "panic" => {
                let e = sys::debug_panic();
                println!("error: the kernel refused to panic ({}): boot with debug.panic_trigger=1", e.describe());
            }
            "poweroff" => {
                let e = sys::power_off();
                println!("error: power off failed: {}", e.describe());
            }
            "insmod" | "rmmod" | "lsmod" | "modinfo" | "open" | "invoke" | "close" | "call" | "caps" | "archive"
            | "poke" => shell::module_command(command, input),
            other => println!("error: unknown command '{other}' (type 'help')"),
        }
    }
}

/// Starts a thread without a fault endpoint that faults as `kind` says, checks that the kernel
/// stopped it at the faulting instruction, then deletes it.
fn fault(kind: &str) {
    let Some(probe) = Probe::named(kind) else {
        println!("error: unknown fault kind '{kind}' (read, write, exec, undef)");
        return;
    };
    let mut t = match thread::spawn(probe.entry, probe.arg, None) {
        Ok(t) => t,
        Err(e) => {
            println!("error: could not start the fault thread: {}", e.describe());
            return;
        }
    };
    let id = t.id();
    let pc = probe.fault_pc();
    let stopped = probe::wait_stopped(t.tcb(), Some(pc), 20_000).is_some();
    if t.is_finished() {
        println!("error: fault {kind}: thread {id:#x} ran on instead of faulting");
    } else if stopped {
        println!("fault {kind}: thread {id:#x} stopped by the kernel; shell still running");
    } else {
        println!("error: fault {kind}: thread {id:#x} was not seen stopped at the faulting instruction {pc:#x}");
    }
}

const MAX_CORES: usize = 16;

/// Reports its core; returns 0 if it runs on `expected_core`.
extern "C" fn report_in(expected_core: u64) -> u64 {
    let core = sys::system_info(InfoKey::CurrentCore).unwrap_or(u64::MAX);
    let id = sys::system_info(InfoKey::ThreadId).unwrap_or(0);
    println!("thread {id:#x}: hello from core {core}");
    u64::from(core != expected_core)
}

fn spawn_all() {
    let cores = (sys::system_info(InfoKey::Cores).unwrap_or(1) as usize).min(MAX_CORES);
    let mut threads: [Option<JoinHandle>; MAX_CORES] = [const { None }; MAX_CORES];
    for (core, slot) in threads.iter_mut().enumerate().take(cores) {
        match thread::spawn(report_in, core as u64, Some(core)) {
            Ok(t) => *slot = Some(t),
            Err(e) => println!("error: spawn on core {core}: {}", e.describe()),
        }
    }
    let mut good = 0;
    for (core, t) in threads.iter_mut().enumerate().take(cores) {
        let Some(t) = t.take() else { continue };
        let id = t.id();
        match t.join() {
            Ok(0) => good += 1,
            Ok(_) => println!("error: thread {id:#x} did not run on core {core}"),
            Err(e) => println!("error: thread {id:#x} on core {core}: {e:?}"),
        }
    }
    if good == cores {
        println!("spawn-all ok: {good} threads ran on {cores} cores");
    } else {
        println!("error: spawn-all: only {good} of {cores} threads ran on their core");
    }
}
