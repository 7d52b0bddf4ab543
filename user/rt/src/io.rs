//! Console output: [`print!`](crate::print) and [`println!`](crate::println) format into a line
//! buffer and hand whole lines (or whatever is left when the text ends) to the kernel in one
//! syscall each.

use core::fmt::{self, Write};

/// Formats into a fixed buffer, flushing to the console when full and at the end.
pub struct Console {
    buf: [u8; 256],
    len: usize,
}

impl Console {
    /// An empty buffer.
    pub const fn new() -> Console {
        Console { buf: [0; 256], len: 0 }
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            let _ = crate::sys::debug_write(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
            if b == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut c = Console::new();
    let _ = c.write_fmt(args);
    c.flush();
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::io::_print(format_args!($($arg)*)) };
}

/// Prints to the console, with a newline.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::io::_print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Reads one line from the console into `buf` (without the line ending), echoing what is
/// typed and handling backspace. Returns the line.
pub fn read_line(buf: &mut [u8]) -> &str {
    let mut len = 0;
    loop {
        let Ok(b) = crate::sys::debug_read() else { continue };
        match b {
            b'\r' | b'\n' => {
                let _ = crate::sys::debug_write(b"\n");
                break;
            }
            0x08 | 0x7f if len > 0 => {
                len -= 1;
                let _ = crate::sys::debug_write(b"\x08 \x08");
            }
            b if (0x20..0x7f).contains(&b) && len < buf.len() => {
                buf[len] = b;
                len += 1;
                let _ = crate::sys::debug_write(&[b]);
            }
            _ => {}
        }
    }
    core::str::from_utf8(&buf[..len]).unwrap_or("")
}
