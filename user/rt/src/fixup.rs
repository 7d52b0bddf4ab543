//! Reads that may fault, and the fault handler that recovers them (an "exception table" of
//! one entry, as kernels do for copying from user memory).
//!
//! [`try_read`] loads one word from an address that another thread or the kernel may unmap at
//! any moment (a page shared by a module that is being removed). If the page is gone, the load
//! faults: the kernel sends the fault to the thread's fault endpoint, where a thread running
//! [`serve`] (or calling [`recover`]) restarts the reader just after the load, and
//! [`try_read`] returns `None`. Threads that use it are spawned with
//! [`crate::thread::Builder::fault_endpoint`].

use crate::sys::{self, Message, Received};
use abi::{CPtr, Error, FaultKind, FaultReply, FAULT_LABEL};

core::arch::global_asm!(
    ".pushsection .text.urt_try_read, \"ax\"",
    ".global urt_try_read",
    ".global urt_try_read_load",
    ".global urt_try_read_fixup",
    // x0 = address; returns x0 = the word, x1 = 1, or x1 = 0 if the load faulted.
    "urt_try_read:",
    "    mov x1, xzr",
    "urt_try_read_load:",
    "    ldr x0, [x0]",
    "    mov x1, #1",
    "urt_try_read_fixup:",
    "    ret",
    ".popsection",
);

/// What `urt_try_read` returns in x0 and x1.
#[repr(C)]
struct Loaded {
    value: u64,
    ok: u64,
}

extern "C" {
    fn urt_try_read(va: u64) -> Loaded;
    fn urt_try_read_load();
    fn urt_try_read_fixup();
}

/// Loads the word at `va` (8-byte aligned); `None` if the load faulted and was recovered. A
/// fault with nobody recovering it stops the thread (the kernel's default).
pub fn try_read(va: u64) -> Option<u64> {
    // SAFETY: `urt_try_read` only loads from `va`; if the load faults, the fault handler
    // restarts the thread at `urt_try_read_fixup`, which returns with `ok` = 0 and every other
    // register as the call left it (the load wrote none). It follows the C calling convention.
    let r = unsafe { urt_try_read(va) };
    (r.ok != 0).then_some(r.value)
}

/// If `fault` (a message received on a fault endpoint) is a read fault of [`try_read`]'s load,
/// replies "restart after the load" and returns `true`. Otherwise it does nothing and returns
/// `false`: the caller decides (reply [`FaultReply::Kill`], log, ...).
pub fn recover(fault: &Received) -> bool {
    let m = &fault.msg;
    let is_ours = m.label == FAULT_LABEL
        && FaultKind::from_number(m.word(0)) == Some(FaultKind::ReadAbort)
        && m.word(2) == urt_try_read_load as *const () as u64;
    if is_ours {
        let restart = Message::new(FaultReply::Restart as u32, &[urt_try_read_fixup as *const () as u64]);
        let _ = sys::reply(&restart);
    }
    is_ours
}

/// Label of the message that ends [`serve`].
pub const STOP_LABEL: u32 = 0x5709;

/// Serves the fault endpoint `ep` until a message labelled [`STOP_LABEL`] arrives: recovers
/// [`try_read`] faults, kills any other faulting thread and logs it. Returns the number of
/// faults recovered.
pub fn serve(ep: CPtr) -> Result<u64, Error> {
    let mut recovered = 0;
    loop {
        let got = sys::recv(ep, CPtr::NONE)?;
        if got.msg.label == STOP_LABEL {
            return Ok(recovered);
        }
        if recover(&got) {
            recovered += 1;
        } else if got.msg.label == FAULT_LABEL {
            crate::println!(
                "fault handler: thread with badge {:#x} faulted (kind {}, address {:#x}, pc {:#x}): killed",
                got.badge,
                got.msg.word(0),
                got.msg.word(1),
                got.msg.word(2)
            );
            let _ = sys::reply(&Message::new(FaultReply::Kill as u32, &[]));
        }
    }
}
