//! The user runtime: what every EL0 program links against.
//!
//! - [`entry!`] declares the program's `main`; the runtime provides `_start`.
//! - [`sys`]: one safe wrapper per syscall of the [`abi`].
//! - [`print!`]/[`println!`]: formatted output through the kernel console.
//! - [`thread`]: starting threads on caller-provided stacks.
//! - A panic handler that reports the panic and ends the thread.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod io;
pub mod sys;
pub mod thread;

pub use abi;

/// Declares the program's entry: `urt::entry!(main);` with `fn main()`. The runtime's `_start`
/// calls it, then ends the thread with exit code 0.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        #[link_section = ".text._start"]
        pub extern "C" fn _start() -> ! {
            let main: fn() = $main;
            main();
            $crate::sys::thread_exit(0)
        }
    };
}

#[cfg(not(test))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let id = sys::system_info(abi::InfoKey::ThreadId).unwrap_or(0);
    match info.location() {
        Some(l) => println!("user panic in thread {id} at {}:{}: {}", l.file(), l.line(), info.message()),
        None => println!("user panic in thread {id}: {}", info.message()),
    }
    sys::thread_exit(101)
}
