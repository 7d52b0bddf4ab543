//! The system-call ABI, written once and shared by the kernel and every user program.
//!
//! # Calling convention
//!
//! A user thread enters the kernel with `svc #0`:
//!
//! | register | on entry            | on return                                   |
//! |----------|---------------------|---------------------------------------------|
//! | `x8`     | the [`Syscall`] number | unchanged                                 |
//! | `x0..x5` | arguments 0 to 5    | `x0`: 0 on success, else an [`Error`] code  |
//! |          |                     | `x1..x3`: results (meaning per syscall)     |
//!
//! All other general-purpose registers, `sp`, and the condition flags are preserved. The immediate
//! of `svc` is ignored. An unknown number in `x8` returns [`Error::InvalidSyscall`]; it never
//! faults the thread and never disturbs the kernel.
//!
//! Pointers passed in are user virtual addresses; the kernel checks that the whole range is mapped
//! user-readable (or writable) before touching it and answers [`Error::BadAddress`] if not.
//!
//! # Address-space layout of a user program
//!
//! Programs are linked at [`USER_IMAGE_BASE`] (see `linker/user.ld`); the kernel gives the first
//! thread a stack of [`USER_STACK_SIZE`] bytes ending at [`USER_STACK_TOP`]. Virtual addresses
//! at or above [`USER_VA_END`] are never user addresses.
#![no_std]
#![forbid(unsafe_code)]

/// Where user programs are linked (the lowest address of their first segment).
pub const USER_IMAGE_BASE: u64 = 0x0040_0000;
/// One past the highest byte of the first thread's stack.
pub const USER_STACK_TOP: u64 = 0x0000_7fff_ffff_0000;
/// Size of the first thread's stack.
pub const USER_STACK_SIZE: u64 = 64 * 1024;
/// End (exclusive) of the user half of the address space: 48-bit virtual addresses.
pub const USER_VA_END: u64 = 1 << 48;
/// Size of a page, the unit of mapping.
pub const PAGE_SIZE: u64 = 4096;

/// System-call numbers, passed in `x8`.
///
/// Each variant documents its arguments (`a0`..), results (`r1`..), and the errors it returns
/// besides [`Error::InvalidSyscall`].
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// Does nothing and returns. The baseline for measuring syscall cost.
    Null = 0,
    /// Writes bytes to the kernel console, as one unit: a line written by one call is never
    /// interleaved with another core's output.
    /// `a0` = pointer, `a1` = length (at most [`DEBUG_WRITE_MAX`]). `r1` = bytes written.
    /// Errors: [`Error::BadAddress`], [`Error::InvalidArgument`] (too long).
    DebugWrite = 1,
    /// Reads one byte from the console, blocking until one arrives. `r1` = the byte.
    DebugRead = 2,
    /// Gives up the rest of the time slice to the next runnable thread on this core.
    Yield = 3,
    /// Ends the calling thread. `a0` = exit code (reported to a thread waiting in
    /// [`Syscall::ThreadJoin`]). Never returns.
    ThreadExit = 4,
    /// Starts a new thread in the caller's address space.
    /// `a0` = entry point, `a1` = initial stack pointer (16-byte aligned), `a2` = argument
    /// (in `x0` of the new thread), `a3` = core to run on, or `u64::MAX` for the caller's core.
    /// `r1` = the new thread's id.
    /// Errors: [`Error::BadAddress`] (entry or stack not user addresses), [`Error::InvalidArgument`]
    /// (unaligned stack, no such core), [`Error::NoMemory`].
    ///
    /// Interim: issue 3 replaces this with thread control block objects named by capabilities.
    ThreadSpawn = 5,
    /// Waits until thread `a0` (of the caller's address space) has ended.
    /// `r1` = its exit code, `r2` = 1 if the kernel killed it (a fault), else 0.
    /// Errors: [`Error::NotFound`], [`Error::InvalidArgument`] (joining oneself).
    ThreadJoin = 6,
    /// Reads one system figure: `a0` is an [`InfoKey`]. `r1` = the value.
    /// Errors: [`Error::InvalidArgument`] (unknown key).
    SystemInfo = 7,
    /// Powers the machine off through PSCI `SYSTEM_OFF`. Never returns on success.
    PowerOff = 8,
    /// Makes the kernel panic on purpose, to test the panic path. Refused with
    /// [`Error::Denied`] unless the kernel command line holds `debug.panic_trigger=1`.
    DebugPanic = 9,
}

impl Syscall {
    /// All syscalls, in number order.
    pub const ALL: [Syscall; 10] = [
        Syscall::Null,
        Syscall::DebugWrite,
        Syscall::DebugRead,
        Syscall::Yield,
        Syscall::ThreadExit,
        Syscall::ThreadSpawn,
        Syscall::ThreadJoin,
        Syscall::SystemInfo,
        Syscall::PowerOff,
        Syscall::DebugPanic,
    ];

    /// Decodes a number from `x8`.
    pub fn from_number(n: u64) -> Option<Syscall> {
        Self::ALL.get(usize::try_from(n).ok()?).copied()
    }
}

/// Longest write accepted by [`Syscall::DebugWrite`].
pub const DEBUG_WRITE_MAX: u64 = 1024;

/// Keys for [`Syscall::SystemInfo`].
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoKey {
    /// Number of cores online.
    Cores = 0,
    /// Size of RAM in MiB.
    RamMib = 1,
    /// Physical frames (4 KiB) free right now.
    FreeFrames = 2,
    /// The core the caller runs on.
    CurrentCore = 3,
    /// Timer ticks handled on all cores since boot.
    Ticks = 4,
    /// The id of the calling thread.
    ThreadId = 5,
}

impl InfoKey {
    /// Decodes a key.
    pub fn from_number(n: u64) -> Option<InfoKey> {
        use InfoKey::*;
        [Cores, RamMib, FreeFrames, CurrentCore, Ticks, ThreadId]
            .get(usize::try_from(n).ok()?)
            .copied()
    }
}

/// Error codes, returned in `x0`. Zero means success and is not an error.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// `x8` holds no known syscall number.
    InvalidSyscall = 1,
    /// An argument is out of range or malformed.
    InvalidArgument = 2,
    /// A pointer argument is not a mapped user address with the needed access.
    BadAddress = 3,
    /// The caller may not do this.
    Denied = 4,
    /// The kernel has no memory left for the request.
    NoMemory = 5,
    /// The named object does not exist.
    NotFound = 6,
}

impl Error {
    /// Decodes a non-zero `x0`; `None` for 0 (success) and unknown codes.
    pub fn from_code(code: u64) -> Option<Error> {
        use Error::*;
        [InvalidSyscall, InvalidArgument, BadAddress, Denied, NoMemory, NotFound]
            .into_iter()
            .find(|e| *e as u64 == code)
    }

    /// A short lower-case description, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Error::InvalidSyscall => "invalid syscall number",
            Error::InvalidArgument => "invalid argument",
            Error::BadAddress => "bad user address",
            Error::Denied => "denied",
            Error::NoMemory => "out of memory",
            Error::NotFound => "not found",
        }
    }
}

/// Exit code the kernel reports for a thread it killed because of a fault.
pub const EXIT_KILLED: u64 = u64::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_numbers_round_trip() {
        for (i, s) in Syscall::ALL.iter().enumerate() {
            assert_eq!(*s as u64, i as u64, "ALL must be in number order");
            assert_eq!(Syscall::from_number(i as u64), Some(*s));
        }
        assert_eq!(Syscall::from_number(Syscall::ALL.len() as u64), None);
        assert_eq!(Syscall::from_number(u64::MAX), None);
    }

    #[test]
    fn error_codes_round_trip() {
        for code in 1..=6 {
            let e = Error::from_code(code).expect("codes 1..=6 are errors");
            assert_eq!(e as u64, code);
            assert!(!e.describe().is_empty());
        }
        assert_eq!(Error::from_code(0), None);
        assert_eq!(Error::from_code(99), None);
    }

    #[test]
    fn info_keys_round_trip() {
        for n in 0..6 {
            assert_eq!(InfoKey::from_number(n).map(|k| k as u64), Some(n));
        }
        assert_eq!(InfoKey::from_number(6), None);
    }

    #[test]
    fn layout_is_sane() {
        assert!(USER_IMAGE_BASE % PAGE_SIZE == 0 && USER_STACK_TOP % PAGE_SIZE == 0);
        assert!(USER_STACK_TOP < USER_VA_END);
        assert!(USER_IMAGE_BASE < USER_STACK_TOP - USER_STACK_SIZE);
    }
}
