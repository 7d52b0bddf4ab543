//! A small capability microkernel for 64-bit Arm (QEMU `virt`), on which a privileged user-level
//! module server loads and safely unloads ELF modules. See `README.md` for the whole picture.
//!
//! # Principles
//! - **The kernel never panics on anything a user program does.** Bad syscall arguments get an
//!   error code; user faults end the faulting thread with one log line.
//! - **Hardware is discovered, not assumed**: RAM, cores, UART, GIC and PSCI come from the device
//!   tree ([`board`]); nothing here names a board address.
//! - **The architecture boundary is explicit**: only [`arch`] touches system registers; it
//!   re-exports a short, named contract.
//! - **Pure logic lives in `klogic`** (page-table encoding, device-tree parsing, frame books),
//!   built and tested on the host.
//! - **One big kernel lock** ([`sched`]), taken on entry from EL0 and released on return:
//!   simple and correct on every core; the kernel runs with interrupts masked.
//!
//! # Map
//! - [`arch`]: boot, exception vectors, MMU, GICv3, generic timer, PSCI (aarch64 only).
//! - [`board`]: the device-tree configuration.
//! - [`console`]: the serial console and the `log` back end.
//! - [`mm`]: frames, heap, the kernel address space, user address spaces.
//! - [`object`]: kernel objects (threads, endpoints, notifications, CNodes, VSpaces, frames,
//!   quotas) and the table holding them.
//! - [`cspace`]: capabilities, object creation and destruction.
//! - [`ipc`]: endpoints, notifications, fault messages; [`fastpath`]: the short cut for the
//!   null syscall and same-core call/reply.
//! - [`sched`]: all kernel state under the big kernel lock; run queues.
//! - [`trap`] and [`syscall`]: what happens on each exception.
//! - [`smp`]: secondary cores, IPIs, the boot self-test; [`sync`]: the cross-core sync (TLB
//!   shootdown and quiescence).
//! - [`loader`]: starting the root task.
//! - [`panic`]: the panic report; [`selfcheck`]: the kernel's check of its own books.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

extern crate alloc;

mod arch;
mod board;
mod console;
mod cspace;
mod debug;
mod drivers;
mod fastpath;
mod ipc;
mod loader;
mod mm;
mod object;
mod panic;
mod percpu;
mod sched;
mod selfcheck;
mod smp;
mod sync;
mod syscall;
mod trap;

use arch::{cpu, exceptions, gic, psci, timer};

/// Rust entry of every core, called by `arch::boot` in the upper half with the MMU on (boot
/// tables) and interrupts masked. `fdt_pointer` is the device-tree address the loader passed in
/// x0 (0 under QEMU with an ELF kernel).
#[no_mangle]
pub extern "C" fn kernel_entry(core: usize, fdt_pointer: u64) -> ! {
    exceptions::install_vectors();
    percpu::init_this_core(core);
    if core == 0 {
        mm::heap::init_bootstrap();
        boot_primary(fdt_pointer)
    } else {
        boot_secondary(core)
    }
}

fn boot_primary(fdt_pointer: u64) -> ! {
    let image = mm::frames::kernel_image();
    let board = match board::init(fdt_pointer, image.base) {
        Ok(b) => b,
        // No console without the device tree: halt where a debugger will find us.
        Err(e) => panic!("device tree unusable: {}", e.describe()),
    };
    // SAFETY: the UART base comes from the device tree; the boot tables map the first GiB of
    // physical space (all MMIO on `virt`) as device memory in the linear map, and the kernel
    // tables map this page likewise.
    unsafe { console::init(mm::phys_to_virt(board.uart.base)) };
    let level = match board.cmdline.get("log") {
        Some("debug") => log::LevelFilter::Debug,
        Some("trace") => log::LevelFilter::Trace,
        Some("warn") => log::LevelFilter::Warn,
        _ => log::LevelFilter::Info,
    };
    console::init_log(level);
    log::info!("kernel {} starting at EL1 on core 0", env!("CARGO_PKG_VERSION"));
    if !board.cmdline.as_str().is_empty() {
        log::info!("command line: {}", board.cmdline.as_str());
    }

    let fdt = klogic::board::Region { base: board::fdt_phys(fdt_pointer, image.base), size: board.fdt_size as u64 };
    let free = mm::frames::init(board.ram(), fdt);
    log::info!(
        "memory: {} MiB RAM, kernel image {:#x}..{:#x}, {free} frames free",
        board.ram_bytes() >> 20,
        image.base,
        image.end()
    );
    let heap = mm::heap::grow_from_frames();
    mm::kernel_map::build(board);
    mm::kernel_map::activate_on_this_core();
    log::info!("mmu: kernel tables active (text RX, rodata R, data RW+NX, devices nGnRE); heap {} KiB", heap >> 10);

    if let Some(max) = board.cmdline.get("debug.max_asids") {
        match max.parse::<u16>() {
            Ok(n) if n > 0 => {
                mm::vspace::limit_asids(n);
                log::warn!("debug.max_asids={n}: at most {n} address spaces (a test setting)");
            }
            _ => log::error!("debug.max_asids={max}: not a number from 1 to 65535; ignored"),
        }
    }
    let (major, minor) = psci::version(board.psci);
    log::info!("psci {major}.{minor} via {:?}", board.psci);
    gic::init_distributor(board.gicd.base);
    init_core_interrupts(0);
    sched::init(board.cpu_mpidrs().len());
    gic::enable_spi(board.gicd.base, board.uart_intid, board.cpu_mpidrs()[0]);
    percpu::set_online(0);
    log::info!("core 0 online (mpidr {:#x})", cpu::mpidr_affinity());
    if board.cpus_in_tree() > board.cpu_mpidrs().len() {
        log::warn!(
            "this machine has {} cores; the kernel supports at most {} and runs on the first {}",
            board.cpus_in_tree(),
            klogic::board::MAX_CPUS,
            board.cpu_mpidrs().len()
        );
    }

    let cores = smp::start_secondaries();
    sched::lock().cores = cores;
    if cores == board.cpu_mpidrs().len() {
        log::info!("all {cores} cores online");
    }
    smp::self_test_primary(cores);

    match loader::start_root_task(cores) {
        Ok(id) => log::info!("root task 'module-server' started as thread {:#x}", id.0),
        Err(e) => log::error!("root task failed to load: {e:?}"),
    }
    log::info!("boot took {} us of guest time (virtual counter since reset)", timer::uptime_us());
    log::info!("boot ok: cores={cores} ram_mib={} free_frames={}", board.ram_bytes() >> 20, mm::frames::free_frames());
    exceptions::enter_user(sched::finish(sched::lock()))
}

fn boot_secondary(core: usize) -> ! {
    mm::kernel_map::activate_on_this_core();
    init_core_interrupts(core);
    log::info!("core {core} online (mpidr {:#x})", cpu::mpidr_affinity());
    percpu::set_online(core);
    smp::self_test_secondary();
    exceptions::enter_user(sched::finish(sched::lock()))
}

/// This core's redistributor, CPU interface and tick.
fn init_core_interrupts(core: usize) {
    let b = board::get();
    let mpidr = b.cpu_mpidrs()[core];
    if !gic::init_this_core(b.gicr.base, b.gicr.size, mpidr, &[b.virtual_timer_intid]) {
        panic!("no GIC redistributor for core {core} (mpidr {mpidr:#x})");
    }
    trap::start_timer();
}
