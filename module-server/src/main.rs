//! The root task: the first and only program the kernel starts itself.
//!
//! It will become the module server (loading ELF modules into their own protection domains).
//! For now it checks its own syscalls once and then runs the boot console: a small shell on
//! the serial line for looking at the system and exercising the kernel's fault containment.
#![no_std]
#![no_main]

use abi::{Error, InfoKey};
use urt::sys::{self, ExitStatus};
use urt::thread::{self, Stack};
use urt::{print, println};

urt::entry!(main);

fn main() {
    let id = sys::system_info(InfoKey::ThreadId).unwrap_or(0);
    let core = sys::system_info(InfoKey::CurrentCore).unwrap_or(0);
    println!("module-server: running at EL0 as thread {id} on core {core}");
    match syscall_self_check() {
        Ok(summary) => println!("el0 syscall ok: {summary}"),
        Err(what) => println!("el0 syscall FAILED: {what}"),
    }
    println!("boot console ready: type 'help' for commands");
    shell();
}

/// Every syscall the root task relies on, and the kernel's answers to bad arguments.
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
    if sys::debug_write_raw(0x40_0000, abi::DEBUG_WRITE_MAX + 1) != Err(Error::InvalidArgument) {
        return Err("an overlong DebugWrite was not refused with InvalidArgument");
    }
    if sys::system_info_raw(999) != Err(Error::InvalidArgument) {
        return Err("an unknown SystemInfo key was not refused with InvalidArgument");
    }
    if sys::thread_join(id_of_nobody()) != Err(Error::NotFound) {
        return Err("joining a thread that does not exist was not refused with NotFound");
    }
    Ok("null, info, bad number, bad pointers, bad key, bad join all answered correctly")
}

fn id_of_nobody() -> u64 {
    u64::MAX - 1
}

const HELP: &str = "\
commands:
  help            this list
  echo TEXT       print TEXT
  cpus            cores online and the core this shell runs on
  meminfo         free physical frames
  spawn-all       start a thread on every core, each reports in; join them all
  fault KIND      start a thread that faults (KIND: read, write, exec, undef); the kernel
                  must kill it and carry on
  panic           make the kernel panic (only with debug.panic_trigger=1 on the command line)
  poweroff        power the machine off";

fn shell() {
    let mut line = [0u8; 128];
    loop {
        print!("> ");
        let input = urt::io::read_line(&mut line);
        let mut words = input.split_ascii_whitespace();
        let Some(command) = words.next() else { continue };
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
            "meminfo" => {
                let free = sys::system_info(InfoKey::FreeFrames).unwrap_or(0);
                let ram = sys::system_info(InfoKey::RamMib).unwrap_or(0);
                println!("free_frames={free} ({} KiB) ram_mib={ram}", free * 4);
            }
            "spawn-all" => spawn_all(),
            "fault" => match words.next() {
                Some(kind) => fault(kind),
                None => println!("error: fault needs a kind: read, write, exec or undef"),
            },
            "panic" => {
                let e = sys::debug_panic();
                println!("error: the kernel refused to panic ({}): boot with debug.panic_trigger=1", e.describe());
            }
            "poweroff" => {
                let e = sys::power_off();
                println!("error: power off failed: {}", e.describe());
            }
            other => println!("error: unknown command '{other}' (type 'help')"),
        }
    }
}

static FAULT_STACK: Stack<16384> = Stack::new();

/// Data the `exec` fault tries to run: mapped, but never executable.
static NOT_CODE: [u32; 4] = [0xd503_201f; 4]; // four NOPs

extern "C" fn fault_read(_: u64) -> ! {
    // SAFETY: deliberately invalid: nothing is mapped at this address; the kernel must turn the
    // data abort into a killed thread.
    let v = unsafe { core::ptr::read_volatile(0xdead_0000 as *const u64) };
    println!("fault read: read {v:#x}?! the kernel did not stop it");
    sys::thread_exit(0)
}

extern "C" fn fault_write(_: u64) -> ! {
    let text = fault_write as *const () as *mut u32;
    // SAFETY: deliberately invalid: program text is mapped read+execute only; the kernel must
    // turn the permission fault into a killed thread.
    unsafe { core::ptr::write_volatile(text, 0) };
    println!("fault write: wrote to program text?! the kernel did not stop it");
    sys::thread_exit(0)
}

extern "C" fn fault_exec(_: u64) -> ! {
    // SAFETY: deliberately invalid: `NOT_CODE` is read-only data, mapped never-executable; the
    // instruction abort must kill the thread before any of it runs.
    let f: extern "C" fn() = unsafe { core::mem::transmute(NOT_CODE.as_ptr()) };
    f();
    println!("fault exec: ran data?! the kernel did not stop it");
    sys::thread_exit(0)
}

extern "C" fn fault_undef(_: u64) -> ! {
    // SAFETY: deliberately invalid: a permanently undefined instruction.
    unsafe { core::arch::asm!("udf #0") };
    println!("fault undef: executed udf?! the kernel did not stop it");
    sys::thread_exit(0)
}

fn fault(kind: &str) {
    let entry: extern "C" fn(u64) -> ! = match kind {
        "read" => fault_read,
        "write" => fault_write,
        "exec" => fault_exec,
        "undef" => fault_undef,
        other => {
            println!("error: unknown fault kind '{other}' (read, write, exec, undef)");
            return;
        }
    };
    let id = match thread::spawn(entry, 0, &FAULT_STACK, None) {
        Ok(id) => id,
        Err(e) => {
            println!("error: could not start the fault thread: {}", e.describe());
            return;
        }
    };
    let status = sys::thread_join(id);
    FAULT_STACK.release();
    match status {
        Ok(ExitStatus { killed: true, .. }) => println!("fault {kind}: thread {id} was killed by the kernel; shell still running"),
        Ok(ExitStatus { code, .. }) => println!("error: fault {kind}: thread {id} exited with code {code} instead of faulting"),
        Err(e) => println!("error: fault {kind}: join failed: {}", e.describe()),
    }
}

const MAX_CORES: usize = 16;
#[allow(clippy::declare_interior_mutable_const)]
const CORE_STACK: Stack<8192> = Stack::new();
static CORE_STACKS: [Stack<8192>; MAX_CORES] = [CORE_STACK; MAX_CORES];

extern "C" fn report_in(expected_core: u64) -> ! {
    let core = sys::system_info(InfoKey::CurrentCore).unwrap_or(u64::MAX);
    let id = sys::system_info(InfoKey::ThreadId).unwrap_or(0);
    println!("thread {id}: hello from core {core}");
    sys::thread_exit(if core == expected_core { 0 } else { 1 })
}

fn spawn_all() {
    let cores = (sys::system_info(InfoKey::Cores).unwrap_or(1) as usize).min(MAX_CORES);
    let mut ids = [0u64; MAX_CORES];
    for (core, id) in ids.iter_mut().enumerate().take(cores) {
        match thread::spawn(report_in, core as u64, &CORE_STACKS[core], Some(core)) {
            Ok(t) => *id = t,
            Err(e) => println!("error: spawn on core {core}: {}", e.describe()),
        }
    }
    let mut good = 0;
    for (core, &id) in ids.iter().enumerate().take(cores) {
        if id == 0 {
            continue;
        }
        match sys::thread_join(id) {
            Ok(ExitStatus { code: 0, killed: false }) => good += 1,
            Ok(s) => println!("error: thread {id} on core {core} ended with {s:?}"),
            Err(e) => println!("error: join thread {id}: {}", e.describe()),
        }
        CORE_STACKS[core].release();
    }
    if good == cores {
        println!("spawn-all ok: {good} threads ran on {cores} cores");
    } else {
        println!("error: spawn-all: only {good} of {cores} threads ran on their core");
    }
}
