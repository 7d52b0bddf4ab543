//! The module SDK: what a loadable module is written against, and the protocol between modules,
//! their clients and the module server.
//!
//! A module is one short file:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! modsdk::module! {
//!     name: "hello", version: "1.0.0", license: "MIT", description: "says hello",
//!     depends: "",
//!     handler: handle,
//! }
//! fn handle(req: &modsdk::Request, reply: &mut modsdk::Reply) {
//!     let _ = write!(reply, "hello, {}", req.text());
//! }
//! ```
//!
//! and a `Cargo.toml` with `build = "../../sdk/module-build.rs"` (the position-independent link
//! with `linker/module.ld`).
//!
//! # What the module server gives a module
//! A module runs in its own address space with its own CNode (radix [`MODULE_CNODE_RADIX`]),
//! whose slots are listed in [`slot`]. Its thread starts at the ELF entry with `x0` = its IPC
//! buffer's address and `x1` = the first free slot of its CNode.
//!
//! # Messages
//! Requests and replies are text: label [`TEXT`], word 0 = length in bytes, words 1.. = the
//! bytes (little-endian, 8 per word), at most [`TEXT_MAX`] bytes. A reply may carry one
//! capability (e.g. a frame shared with the client). The module's own unbadged endpoint
//! capability, held only by the server, sends control messages ([`PING`], [`EXIT`]); clients
//! hold badged copies, one badge per session.
//!
//! # Metadata
//! [`module!`] writes a `.modinfo` section: NUL-terminated `key=value` strings with keys `name`,
//! `version`, `license`, `description`, `depends` (comma-separated module names). Any toolchain
//! can produce it: in C, `__attribute__((section(".modinfo"), used)) static const char
//! modinfo[] = "name=hello\0version=1.0\0license=MIT\0description=...\0depends=\0";`.
#![no_std]

use abi::{CPtr, Error};
use core::fmt;
use urt::sys::{self, Message};

pub use urt;

/// Radix of a module's CNode.
pub const MODULE_CNODE_RADIX: u64 = 6;

/// Slots of a module's CNode, filled by the module server.
pub mod slot {
    /// The module's thread.
    pub const TCB: u32 = 1;
    /// Its CNode.
    pub const CNODE: u32 = 2;
    /// Its VSpace.
    pub const VSPACE: u32 = 3;
    /// The endpoint it serves (receive right).
    pub const SERVICE: u32 = 4;
    /// The module server's endpoint, badged for this module (to open sessions to its
    /// dependencies).
    pub const SERVER: u32 = 5;
    /// Where the module's faults go (the server's endpoint, badged for this module).
    pub const FAULT: u32 = 6;
    /// A small quota of the module's own (for frames it shares with clients, etc.).
    pub const QUOTA: u32 = 7;
    /// First free slot.
    pub const FIRST_FREE: u32 = 8;
}

/// Label of a text request or reply.
pub const TEXT: u32 = 1;
/// Label of an error reply (text says why).
pub const ERROR: u32 = 2;
/// Control: "are you serving?" (from the server, badge 0). Answered with an empty [`TEXT`].
pub const PING: u32 = 0x100;
/// Control: "run your exit routine and stop" (from the server, badge 0).
pub const EXIT: u32 = 0x101;
/// Request to the server: open a session to the module named in the text; the reply carries
/// the session capability.
pub const OPEN: u32 = 0x200;

/// Longest text in one message.
pub const TEXT_MAX: usize = (abi::MSG_MAX_WORDS as usize - 1) * 8;

/// Packs `text` (cut at [`TEXT_MAX`] bytes) into a message with `label`.
pub fn text_message(label: u32, text: &str) -> Message {
    let bytes = &text.as_bytes()[..text.len().min(TEXT_MAX)];
    let mut words = [0u64; abi::MSG_MAX_WORDS as usize];
    words[0] = bytes.len() as u64;
    for (i, chunk) in bytes.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        words[1 + i] = u64::from_le_bytes(w);
    }
    Message::new(label, &words[..1 + bytes.len().div_ceil(8)])
}

/// Unpacks the text of a message into `buf`; returns it (invalid UTF-8 reads as `"?"`).
pub fn message_text<'a>(m: &Message, buf: &'a mut [u8; TEXT_MAX]) -> &'a str {
    let len = (m.word(0) as usize).min(TEXT_MAX).min((m.words().len().saturating_sub(1)) * 8);
    for (i, chunk) in buf[..len].chunks_mut(8).enumerate() {
        let w = m.word(1 + i).to_le_bytes();
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
    core::str::from_utf8(&buf[..len]).unwrap_or("?")
}

/// A request as a module's handler sees it.
pub struct Request {
    /// The session's badge (which client).
    pub session: u64,
    text: [u8; TEXT_MAX],
    len: usize,
    /// Where a capability sent with the request landed, if any.
    pub cap: Option<CPtr>,
}

impl Request {
    /// The request text.
    pub fn text(&self) -> &str {
        core::str::from_utf8(&self.text[..self.len]).unwrap_or("?")
    }

    /// The request's words separated by whitespace.
    pub fn args(&self) -> core::str::SplitAsciiWhitespace<'_> {
        self.text().split_ascii_whitespace()
    }
}

/// A reply being written by a module's handler (`write!` into it).
pub struct Reply {
    text: [u8; TEXT_MAX],
    len: usize,
    error: bool,
    cap: Option<CPtr>,
}

impl Reply {
    fn new() -> Reply {
        Reply { text: [0; TEXT_MAX], len: 0, error: false, cap: None }
    }

    /// Marks the reply as an error (its text says why).
    pub fn error(&mut self, why: &str) {
        self.len = 0;
        self.error = true;
        let _ = fmt::Write::write_str(self, why);
    }

    /// Sends the capability in `slot` with the reply (copied into the client's CSpace).
    pub fn with_cap(&mut self, slot: CPtr) {
        self.cap = Some(slot);
    }

    fn message(&self) -> Message {
        let text = core::str::from_utf8(&self.text[..self.len]).unwrap_or("?");
        let m = text_message(if self.error { ERROR } else { TEXT }, text);
        match self.cap {
            Some(c) => m.with_cap(c),
            None => m,
        }
    }
}

impl fmt::Write for Reply {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(TEXT_MAX - self.len);
        self.text[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// A module's behaviour, filled in by [`module!`].
pub struct Module {
    /// Runs once before serving; an `Err` text makes the load fail.
    pub init: fn() -> Result<(), &'static str>,
    /// Answers one request.
    pub handle: fn(&Request, &mut Reply),
    /// Runs when the server unloads the module.
    pub exit: fn(),
}

/// Opens a session to module `name` through the module server; the session capability lands
/// in a free slot of this module's CNode, returned.
pub fn open(name: &str) -> Result<CPtr, Error> {
    let slot = urt::cspace::alloc().ok_or(Error::NoMemory)?;
    let got = sys::call_ep(CPtr::root(slot::SERVER), &text_message(OPEN, name), slot)?;
    match got.msg.cap {
        Some(c) if got.msg.label == TEXT => Ok(c),
        _ => {
            urt::cspace::free(slot);
            Err(Error::NotFound)
        }
    }
}

/// Calls a session with a text request; the reply text goes into `buf`. `Err` for a kernel
/// error or an error reply.
pub fn call<'a>(session: CPtr, request: &str, buf: &'a mut [u8; TEXT_MAX]) -> Result<&'a str, Error> {
    let got = sys::call_ep(session, &text_message(TEXT, request), CPtr::NONE)?;
    let text = message_text(&got.msg, buf);
    if got.msg.label == TEXT {
        Ok(text)
    } else {
        Err(Error::Denied)
    }
}

/// The module's life: set up, `init`, then serve requests until told to exit. Called by the
/// `_start` that [`module!`] generates.
pub fn run(m: &Module, ipc_buffer: u64, first_free: u64) -> ! {
    urt::init_module(ipc_buffer, first_free, MODULE_CNODE_RADIX);
    let ep = CPtr::root(slot::SERVICE);
    if let Err(why) = (m.init)() {
        // Every request (the server's first ping, then its exit) gets the reason as an error:
        // a thread that just ended would leave the server waiting for an answer for ever.
        urt::println!("module init failed: {why}");
        let answer = text_message(ERROR, why);
        let mut got = sys::recv(ep, CPtr::NONE);
        loop {
            if matches!(&got, Ok(r) if r.badge == 0 && r.msg.label == EXIT) {
                let _ = sys::reply(&answer);
                sys::thread_exit(1);
            }
            got = sys::reply_recv(ep, &answer, CPtr::NONE);
        }
    }
    let recv_slot = urt::cspace::alloc().unwrap_or(CPtr::NONE);
    let mut got = sys::recv(ep, recv_slot);
    loop {
        let answer = match &got {
            Err(_) => {
                got = sys::recv(ep, recv_slot);
                continue;
            }
            Ok(r) if r.badge == 0 && r.msg.label == EXIT => {
                (m.exit)();
                let _ = sys::reply(&text_message(TEXT, "bye"));
                sys::thread_exit(0)
            }
            Ok(r) if r.badge == 0 && r.msg.label == PING => text_message(TEXT, ""),
            Ok(r) => {
                let mut req = Request { session: r.badge, text: [0; TEXT_MAX], len: 0, cap: r.msg.cap };
                req.len = message_text(&r.msg, &mut req.text).len();
                let mut reply = Reply::new();
                (m.handle)(&req, &mut reply);
                reply.message()
            }
        };
        got = sys::reply_recv(ep, &answer, recv_slot);
    }
}

/// Turns a string into a fixed-size byte array at compile time (for `.modinfo`).
pub const fn bytes<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N && i < b.len() {
        out[i] = b[i];
        i += 1;
    }
    out
}

/// Declares a module: its metadata (the `.modinfo` section), its entry and its handler. `init`
/// and `exit` are optional.
#[macro_export]
macro_rules! module {
    (
        name: $name:literal, version: $version:literal, license: $license:literal,
        description: $description:literal, depends: $depends:literal,
        handler: $handle:path $(, init: $init:path)? $(, exit: $exit:path)? $(,)?
    ) => {
        const __MODINFO: &str = concat!(
            "name=", $name, "\0", "version=", $version, "\0", "license=", $license, "\0",
            "description=", $description, "\0", "depends=", $depends, "\0"
        );
        #[used]
        #[link_section = ".modinfo"]
        static MODINFO: [u8; __MODINFO.len()] = $crate::bytes(__MODINFO);

        // The entry point: the kernel starts the module's thread here with the IPC buffer's
        // address in x0 and its first free slot in x1. Its unwind information marks the return
        // address undefined, so a debugger's backtrace ends at `_start` (no frame above it).
        // SAFETY: (the naked function) the kernel enters it with a valid, 16-byte aligned
        // stack and the two arguments in x0 and x1, which it passes on untouched to
        // `__modsdk_main`; that never returns (`-> !`), and the `brk` after the call traps if it
        // ever did.
        #[unsafe(naked)]
        #[no_mangle]
        #[link_section = ".text._start"]
        pub extern "C" fn _start() -> ! {
            ::core::arch::naked_asm!(
                ".cfi_startproc",
                ".cfi_undefined x30",
                "mov x29, #0",
                "mov x30, #0",
                "bl {main}",
                "brk #0",
                ".cfi_endproc",
                main = sym __modsdk_main,
            )
        }

        extern "C" fn __modsdk_main(ipc_buffer: u64, first_free: u64) -> ! {
            #[allow(unused_mut, unused_assignments)]
            let mut init: fn() -> Result<(), &'static str> = || Ok(());
            $( init = $init; )?
            #[allow(unused_mut, unused_assignments)]
            let mut exit: fn() = || {};
            $( exit = $exit; )?
            $crate::run(&$crate::Module { init, handle: $handle, exit }, ipc_buffer, first_free)
        }
    };
}
