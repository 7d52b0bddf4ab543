//! The serial console and the kernel log.
//!
//! Every write to the UART happens under one lock and writes whole lines, so output from cores
//! logging at once never interleaves mid-line. Kernel log lines are prefixed with the core
//! number (`[cpu2] ...`); user output (`DebugWrite`) is written as the program wrote it, and a
//! kernel line that would land in the middle of a user line starts on a fresh line instead.

use crate::drivers::pl011::Pl011;
use core::fmt::{self, Write};

struct Console {
    uart: Option<Pl011>,
    at_line_start: bool,
}

static CONSOLE: spin::Mutex<Console> = spin::Mutex::new(Console { uart: None, at_line_start: true });

/// Starts the console on the PL011 whose registers are mapped at `base`.
///
/// # Safety
/// As [`Pl011::new`]: `base` maps a PL011, as device memory, for good.
pub unsafe fn init(base: usize) {
    // SAFETY: guaranteed by the caller.
    let uart = unsafe { Pl011::new(base) };
    uart.init();
    CONSOLE.lock().uart = Some(uart);
}

impl Console {
    fn write_bytes(&mut self, bytes: &[u8]) {
        let Some(uart) = &self.uart else { return };
        for &b in bytes {
            if b == b'\n' {
                uart.put(b'\r');
            }
            uart.put(b);
        }
        if let Some(&last) = bytes.last() {
            self.at_line_start = last == b'\n';
        }
    }
}

/// User output waiting to be written, per core: `DebugWrite` copies the bytes here under the
/// kernel lock, and the core writes them to the UART after releasing it ([`flush_user`]), so a
/// slow UART never holds up other cores' kernel entries.
struct Pending {
    len: usize,
    buf: [u8; abi::DEBUG_WRITE_MAX as usize],
}

#[allow(clippy::declare_interior_mutable_const)]
const NO_OUTPUT: spin::Mutex<Pending> = spin::Mutex::new(Pending { len: 0, buf: [0; abi::DEBUG_WRITE_MAX as usize] });
static PENDING: [spin::Mutex<Pending>; klogic::board::MAX_CPUS] = [NO_OUTPUT; klogic::board::MAX_CPUS];

/// Queues user output (at most [`abi::DEBUG_WRITE_MAX`] bytes) on this core, written as one
/// unit by [`flush_user`]. A second write before the flush is written at once (it cannot
/// happen: one syscall per kernel entry).
pub fn queue_user(bytes: &[u8]) {
    let mut p = PENDING[crate::percpu::core_id()].lock();
    if p.len != 0 {
        CONSOLE.lock().write_bytes(&p.buf[..p.len]);
        p.len = 0;
    }
    let n = bytes.len().min(p.buf.len());
    p.buf[..n].copy_from_slice(&bytes[..n]);
    p.len = n;
}

/// Writes this core's queued user output, if any. Called on the way out of a syscall, after
/// the kernel lock is released.
pub fn flush_user() {
    let mut p = PENDING[crate::percpu::core_id()].lock();
    if p.len != 0 {
        CONSOLE.lock().write_bytes(&p.buf[..p.len]);
        p.len = 0;
    }
}

/// Moves received bytes into `buf` (as many as fit); returns how many.
///
/// The receive interrupt is cleared *before* draining: a byte that arrives after the drain
/// raises it again. (Clearing after the drain lost bytes: one arriving between the last read
/// and the clear had its interrupt wiped and sat in the FIFO unseen.) Bytes left behind when
/// `buf` is full keep the level-triggered interrupt asserted.
pub fn receive(buf: &mut [u8]) -> usize {
    let c = CONSOLE.lock();
    let Some(uart) = &c.uart else { return 0 };
    uart.clear_rx_interrupt();
    let mut n = 0;
    while n < buf.len() {
        match uart.get() {
            Some(b) => {
                buf[n] = b;
                n += 1;
            }
            None => break,
        }
    }
    n
}

/// A fixed buffer that formats a log line; overlong text is cut with a marker.
pub struct LineBuf {
    buf: [u8; 512],
    len: usize,
    truncated: bool,
}

impl LineBuf {
    /// An empty buffer.
    pub const fn new() -> LineBuf {
        LineBuf { buf: [0; 512], len: 0, truncated: false }
    }
    /// The text so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        self.truncated |= n < s.len();
        Ok(())
    }
}

/// Writes one kernel log record: each of its lines prefixed with `[cpuN] ` (and the level if it
/// is a warning or an error), atomically with respect to every other console write.
pub fn log_record(core: usize, level: Option<&str>, args: fmt::Arguments<'_>) {
    let mut text = LineBuf::new();
    let _ = text.write_fmt(args);
    if text.truncated {
        let keep = text.buf.len() - 4;
        text.len = keep;
        let _ = text.write_str(" ...");
    }
    let mut c = CONSOLE.lock();
    if !c.at_line_start {
        c.write_bytes(b"\n");
    }
    for line in text.as_bytes().split(|b| *b == b'\n') {
        let mut prefix = LineBuf::new();
        let _ = write!(prefix, "[cpu{core}] ");
        if let Some(level) = level {
            let _ = write!(prefix, "{level}: ");
        }
        c.write_bytes(prefix.as_bytes());
        c.write_bytes(line);
        c.write_bytes(b"\n");
    }
}

/// Writes a panic line even if another core holds the console lock forever (it may have
/// panicked while holding it): waits a bounded time, then writes anyway.
pub fn write_panic_line(args: fmt::Arguments<'_>) {
    let mut text = LineBuf::new();
    let _ = text.write_fmt(args);
    for _ in 0..1_000_000 {
        if let Some(mut c) = CONSOLE.try_lock() {
            if !c.at_line_start {
                c.write_bytes(b"\n");
            }
            c.write_bytes(text.as_bytes());
            c.write_bytes(b"\n");
            return;
        }
        crate::arch::cpu::relax();
    }
    // SAFETY: the lock holder never released it in a million tries (it is stuck or dead);
    // unlocking lets this core report the panic, at worst interleaving with the stuck writer.
    unsafe { CONSOLE.force_unlock() };
    write_panic_line(format_args!("{}", core::str::from_utf8(text.as_bytes()).unwrap_or("?")));
}

/// The `log` facade's back end.
struct KernelLogger;

impl log::Log for KernelLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Error => Some("ERROR"),
            log::Level::Warn => Some("WARN"),
            log::Level::Info => None,
            log::Level::Debug => Some("debug"),
            log::Level::Trace => Some("trace"),
        };
        log_record(crate::percpu::core_id(), level, *record.args());
    }

    fn flush(&self) {}
}

/// Installs the kernel logger at `level`.
pub fn init_log(level: log::LevelFilter) {
    static LOGGER: KernelLogger = KernelLogger;
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
