//! Threads in the caller's address space, on stacks the program provides.

use crate::sys;
use abi::Error;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// A stack for one thread at a time: a `static` of this type gives a thread its stack.
#[repr(C, align(16))]
pub struct Stack<const N: usize> {
    in_use: AtomicBool,
    bytes: UnsafeCell<[u8; N]>,
}

// SAFETY: the bytes are only handed to one thread at a time (guarded by `in_use`) and never
// accessed by the runtime itself.
unsafe impl<const N: usize> Sync for Stack<N> {}

impl<const N: usize> Stack<N> {
    /// A stack of N bytes (N a multiple of 16).
    pub const fn new() -> Self {
        Stack { in_use: AtomicBool::new(false), bytes: UnsafeCell::new([0; N]) }
    }

    fn top(&self) -> u64 {
        (self.bytes.get() as u64 + N as u64) & !15
    }

    /// Marks the stack free again, after the thread using it has ended (joined).
    pub fn release(&self) {
        self.in_use.store(false, Ordering::Release);
    }
}

impl<const N: usize> Default for Stack<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Starts `entry(arg)` in a new thread on `stack`, on `core` (or the caller's). The thread must
/// end with [`sys::thread_exit`]. Fails with `InvalidArgument` if the stack is in use.
pub fn spawn<const N: usize>(
    entry: extern "C" fn(u64) -> !,
    arg: u64,
    stack: &'static Stack<N>,
    core: Option<usize>,
) -> Result<u64, Error> {
    if stack.in_use.swap(true, Ordering::AcqRel) {
        return Err(Error::InvalidArgument);
    }
    let r = sys::thread_spawn_raw(entry as usize as u64, stack.top(), arg, core);
    if r.is_err() {
        stack.release();
    }
    r
}
