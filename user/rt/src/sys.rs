//! Safe wrappers for every syscall. The numbers, registers and errors are documented in
//! [`abi::Syscall`]; each wrapper returns `Result<_, abi::Error>`.

use abi::{Error, InfoKey, Syscall};

/// Registers a syscall returns: `x0` (error code) and `x1..x3` (results).
struct Ret {
    x0: u64,
    x1: u64,
    x2: u64,
}

#[inline(always)]
fn raw(call: Syscall, a: [u64; 4]) -> Ret {
    let (x0, x1, x2): (u64, u64, u64);
    // SAFETY: `svc #0` enters the kernel, which reads x8 and x0-x5, writes x0-x3 and preserves
    // every other register and all of this program's memory except what the syscall's
    // documented pointer arguments name (only DebugWrite takes one, and it only reads).
    unsafe {
        core::arch::asm!(
            "svc #0",
            in("x8") call as u64,
            inout("x0") a[0] => x0,
            inout("x1") a[1] => x1,
            inout("x2") a[2] => x2,
            inout("x3") a[3] => _,
            options(nostack),
        );
    }
    Ret { x0, x1, x2 }
}

fn check(r: Ret) -> Result<Ret, Error> {
    match r.x0 {
        0 => Ok(r),
        code => Err(Error::from_code(code).unwrap_or(Error::InvalidSyscall)),
    }
}

/// [`Syscall::Null`].
pub fn null() -> Result<(), Error> {
    check(raw(Syscall::Null, [0; 4])).map(|_| ())
}

/// [`Syscall::DebugWrite`]: writes at most [`abi::DEBUG_WRITE_MAX`] bytes.
pub fn debug_write(bytes: &[u8]) -> Result<usize, Error> {
    check(raw(Syscall::DebugWrite, [bytes.as_ptr() as u64, bytes.len() as u64, 0, 0])).map(|r| r.x1 as usize)
}

/// [`Syscall::DebugWrite`] with raw arguments, for testing the kernel's pointer checks.
pub fn debug_write_raw(ptr: u64, len: u64) -> Result<usize, Error> {
    check(raw(Syscall::DebugWrite, [ptr, len, 0, 0])).map(|r| r.x1 as usize)
}

/// [`Syscall::DebugRead`]: blocks for one console byte.
pub fn debug_read() -> Result<u8, Error> {
    check(raw(Syscall::DebugRead, [0; 4])).map(|r| r.x1 as u8)
}

/// [`Syscall::Yield`].
pub fn yield_now() {
    let _ = raw(Syscall::Yield, [0; 4]);
}

/// [`Syscall::ThreadExit`].
pub fn thread_exit(code: u64) -> ! {
    raw(Syscall::ThreadExit, [code, 0, 0, 0]);
    unreachable!("ThreadExit returned")
}

/// [`Syscall::ThreadSpawn`] with raw arguments; see [`crate::thread::spawn`] for the safe form.
pub fn thread_spawn_raw(entry: u64, sp: u64, arg: u64, core: Option<usize>) -> Result<u64, Error> {
    let core = core.map_or(u64::MAX, |c| c as u64);
    check(raw(Syscall::ThreadSpawn, [entry, sp, arg, core])).map(|r| r.x1)
}

/// How a joined thread ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitStatus {
    /// Its exit code ([`abi::EXIT_KILLED`] if killed).
    pub code: u64,
    /// True if the kernel killed it for a fault.
    pub killed: bool,
}

/// [`Syscall::ThreadJoin`].
pub fn thread_join(id: u64) -> Result<ExitStatus, Error> {
    check(raw(Syscall::ThreadJoin, [id, 0, 0, 0])).map(|r| ExitStatus { code: r.x1, killed: r.x2 != 0 })
}

/// [`Syscall::SystemInfo`].
pub fn system_info(key: InfoKey) -> Result<u64, Error> {
    check(raw(Syscall::SystemInfo, [key as u64, 0, 0, 0])).map(|r| r.x1)
}

/// [`Syscall::SystemInfo`] with a raw key, for testing the kernel's checks.
pub fn system_info_raw(key: u64) -> Result<u64, Error> {
    check(raw(Syscall::SystemInfo, [key, 0, 0, 0])).map(|r| r.x1)
}

/// A syscall number the kernel does not know, for testing that it answers with an error.
pub fn invalid_syscall(number: u64) -> Result<(), Error> {
    let x0: u64;
    // SAFETY: as in `raw`; the kernel answers unknown numbers with an error and changes nothing.
    unsafe { core::arch::asm!("svc #0", in("x8") number, inout("x0") 0u64 => x0, out("x1") _, out("x2") _, out("x3") _, options(nostack)) };
    match x0 {
        0 => Ok(()),
        c => Err(Error::from_code(c).unwrap_or(Error::InvalidSyscall)),
    }
}

/// [`Syscall::PowerOff`]. Returns only if the firmware refused.
pub fn power_off() -> Error {
    match check(raw(Syscall::PowerOff, [0; 4])) {
        Ok(_) => Error::Denied,
        Err(e) => e,
    }
}

/// [`Syscall::DebugPanic`]. Returns only if refused.
pub fn debug_panic() -> Error {
    match check(raw(Syscall::DebugPanic, [0; 4])) {
        Ok(_) => Error::Denied,
        Err(e) => e,
    }
}
