//! The panic handler: core, location, message and a frame-pointer backtrace, then the other
//! cores are stopped. With `panic=poweroff` on the command line the machine then powers off
//! (for scripted runs); otherwise it halts, ready for a debugger.

use crate::arch::{boot, cpu, psci};
use crate::{board, console, percpu, smp};
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

/// Frames printed at most.
const MAX_FRAMES: usize = 32;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    cpu::irq_disable();
    let core = percpu::core_id();
    if PANICKING.swap(true, Ordering::AcqRel) {
        // Another core is already reporting: stay quiet, stop here.
        cpu::halt();
    }
    smp::stop_others();
    let location = info.location().map(|l| (l.file(), l.line(), l.column()));
    let (file, line, col) = location.unwrap_or(("<unknown>", 0, 0));
    console::write_panic_line(format_args!("[cpu{core}] KERNEL PANIC at {file}:{line}:{col}: {}", info.message()));
    console::write_panic_line(format_args!(
        "[cpu{core}] backtrace (frame pointers; `just symbolize ADDR...` names them):"
    ));
    backtrace(core);
    console::write_panic_line(format_args!("[cpu{core}] end of panic report"));
    // The panic may come before the board (and so the command line) is known.
    if let Some(b) = board::try_get() {
        if b.cmdline.get("panic") == Some("poweroff") {
            let _ = psci::system_off(b.psci);
        }
    }
    cpu::halt();
}

/// Walks the chain of frame records ({previous fp, return address}) on this core's stack.
fn backtrace(core: usize) {
    let (bottom, top) = boot::stack_bounds(core.min(klogic::board::MAX_CPUS - 1));
    let mut fp = cpu::frame_pointer();
    for depth in 0..MAX_FRAMES {
        if fp < bottom || fp + 16 > top || !fp.is_multiple_of(8) {
            break;
        }
        // SAFETY: `fp` lies inside this core's kernel stack (checked just above), which is mapped
        // and readable; a frame record is two words.
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if ret == 0 {
            break;
        }
        console::write_panic_line(format_args!("[cpu{core}]   #{depth:<2} {:#018x}", ret.saturating_sub(4)));
        if next <= fp {
            break;
        }
        fp = next;
    }
}
