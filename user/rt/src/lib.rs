//! The user runtime: what every EL0 program links against.
//!
//! - [`entry!`] declares the program's `main`; the runtime provides `_start`.
//! - [`sys`]: one safe wrapper per syscall of the [`abi`], and the IPC [`sys::Message`].
//! - [`cap`]: typed capability handles, and [`cap::Owned`] capabilities that clean up.
//! - [`cspace`] and [`vm`]: free slots of the root CNode, free address ranges of the VSpace.
//! - [`thread`]: threads made from TCB capabilities; [`process`]: cloned address spaces.
//! - [`print!`]/[`println!`]: formatted output through the kernel console; [`time`]: the counter.
//! - [`fixup`]: reads that may fault (pages that can vanish), recovered by a fault handler.
//! - A panic handler that reports the panic and ends the thread.
//!
//! The runtime is written for the root task: `_start` expects the boot information and slots
//! the kernel gives it (see [`abi::boot_slot`]).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod cap;
pub mod cspace;
pub mod fixup;
pub mod heap;
pub mod io;
pub mod process;
pub mod sys;
pub mod thread;
pub mod time;
pub mod vm;

pub use abi;

/// Declares the program's entry: `urt::entry!(main);` with `fn main()`. The runtime's `_start`
/// sets itself up ([`init`]), calls it, then ends the thread with exit code 0.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        #[link_section = ".text._start"]
        pub extern "C" fn _start() -> ! {
            let main: fn() = $main;
            $crate::init();
            main();
            $crate::sys::thread_exit(0)
        }
    };
}

/// Sets the runtime up on the first thread, before `main`: its IPC buffer address (kept in
/// `TPIDR_EL0`), the slot allocator and the address-range window. Panics if the kernel did not
/// provide what the ABI promises.
#[doc(hidden)]
pub fn init() {
    sys::set_ipc_buffer(abi::BOOT_IPC_BUFFER_VA);
    cspace::init();
    if let Err(e) = vm::init() {
        panic!("runtime: cannot map at {:#x}: {}", vm::BASE, e.describe());
    }
    if !heap::init() {
        panic!("runtime: cannot map the heap at {:#x}", heap::BASE);
    }
}

/// Sets the runtime up in a loadable module's first thread (see the module SDK): its IPC
/// buffer, and the free slots `first_free..2^radix` of its CNode. Modules have no boot info and
/// no address-range window.
#[doc(hidden)]
pub fn init_module(ipc_buffer: u64, first_free: u64, radix: u64) {
    sys::set_ipc_buffer(ipc_buffer);
    cspace::init_range(first_free, radix);
    // A module holds no machine-wide authority: the boot slot numbers name other things in its
    // CNode, so the runtime must not pass them.
    for a in abi::Authority::ALL {
        sys::set_authority(a, abi::CPtr::NONE);
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let id = sys::system_info(abi::InfoKey::ThreadId).unwrap_or(0);
    match info.location() {
        Some(l) => println!("user panic in thread {id:#x} at {}:{}: {}", l.file(), l.line(), info.message()),
        None => println!("user panic in thread {id:#x}: {}", info.message()),
    }
    thread::finish(thread::PANICKED, 101);
    sys::thread_exit(101)
}
