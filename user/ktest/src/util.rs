//! What the tests share: failures with a formatted reason, scratch slots and CNodes, cores.

use abi::{CPtr, Error, InfoKey};
use core::fmt::{self, Write};
use urt::cap::{CNode, Owned};
use urt::cspace;
use urt::sys;
use urt::thread::JoinError;

/// Why a test failed: a formatted reason, cut to fit a fixed buffer (there is no heap).
pub struct Failure {
    buf: [u8; 200],
    len: usize,
}

impl Failure {
    /// A failure saying `args`.
    pub fn new(args: fmt::Arguments<'_>) -> Failure {
        let mut f = Failure { buf: [0; 200], len: 0 };
        let _ = f.write_fmt(args);
        f
    }
}

impl Write for Failure {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Cutting may split a character; show what is valid.
        let bytes = &self.buf[..self.len];
        let text = core::str::from_utf8(bytes)
            .unwrap_or_else(|e| core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""));
        f.write_str(text)
    }
}

/// Turns a syscall error into a test failure naming the step.
pub trait OrFail<T> {
    /// `Err(e)` becomes "`what`: description of e".
    fn or_fail(self, what: &str) -> Result<T, Failure>;
}

impl<T> OrFail<T> for Result<T, Error> {
    fn or_fail(self, what: &str) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(format_args!("{what}: {}", e.describe())))
    }
}

impl<T> OrFail<T> for Result<T, JoinError> {
    fn or_fail(self, what: &str) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(format_args!("{what}: {e:?}")))
    }
}

/// An empty root-CNode slot to receive a capability into; dropping it deletes whatever landed
/// there and frees the slot.
pub struct FreeSlot(CPtr);

impl FreeSlot {
    /// A free slot.
    pub fn new() -> Result<FreeSlot, Failure> {
        cspace::alloc().map(FreeSlot).ok_or_else(|| Failure::new(format_args!("no free root slot")))
    }

    /// The slot.
    pub fn cptr(&self) -> CPtr {
        self.0
    }
}

impl Drop for FreeSlot {
    fn drop(&mut self) {
        match sys::cap_delete(self.0) {
            Ok(()) | Err(Error::InvalidCapability) => cspace::free(self.0),
            Err(_) => {}
        }
    }
}

/// A small CNode made from the boot quota; dropping it deletes what its slots hold, then it.
pub struct Scratch {
    cnode: Owned<CNode>,
}

/// Radix of a [`Scratch`] CNode.
const SCRATCH_RADIX: u64 = 4;

impl Scratch {
    /// A new, empty CNode.
    pub fn new() -> Result<Scratch, Failure> {
        Ok(Scratch { cnode: Owned::create(SCRATCH_RADIX).or_fail("create a CNode")? })
    }

    /// The root task's name for slot `index` of this CNode.
    pub fn slot(&self, index: u32) -> CPtr {
        CPtr::in_cnode(self.cnode.cptr().split().1, index)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for index in 0..1 << SCRATCH_RADIX {
            let _ = sys::cap_delete(self.slot(index));
        }
    }
}

/// Cores online.
pub fn cores() -> usize {
    sys::system_info(InfoKey::Cores).unwrap_or(1).max(1) as usize
}

/// The core `k` places after the caller's (wrapping), so `other_core(1)` differs from the
/// caller's whenever there are two cores or more.
pub fn other_core(k: usize) -> usize {
    let here = sys::system_info(InfoKey::CurrentCore).unwrap_or(0) as usize;
    (here + k) % cores()
}
