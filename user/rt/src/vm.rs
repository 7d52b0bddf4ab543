//! Virtual address ranges of the root task's VSpace for mapping frames (thread stacks, IPC
//! buffers, temporary windows).
//!
//! The ranges come from one 2 MiB window at [`BASE`], page by page, tracked in a bitmap of
//! atomics (lock-free, any thread). Ranges are reused once freed, so the page tables covering
//! the window are made once (by `init`, before `main`) and the free-frame count stays the same
//! after threads come and go.

use crate::cap::{Frame, Owned, ROOT_VSPACE};
use abi::{Error, Rights, PAGE_SIZE};
use core::sync::atomic::{AtomicU64, Ordering};

/// Lowest address handed out; 2 MiB aligned, far above the program image.
pub const BASE: u64 = 0x10_0000_0000;
/// Pages in the window: one last-level page table's worth.
pub const PAGES: u64 = 512;

const WORDS: usize = (PAGES / 64) as usize;

/// Bit `i % 64` of word `i / 64` is set when page `i` of the window is in use.
static USED: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

/// Makes the kernel build the page tables of the window now, by mapping and unmapping one
/// frame at [`BASE`]; from then on, mapping in the window allocates no page tables.
pub(crate) fn init() -> Result<(), Error> {
    let frame = Owned::<Frame>::create(0)?;
    frame.map(ROOT_VSPACE, BASE, Rights::READ)?;
    frame.unmap()
}

/// A range of pages of the window, freed when dropped (unmap what is there first).
#[derive(Debug)]
pub struct Range {
    /// First address.
    pub va: u64,
    /// Number of pages.
    pub pages: u64,
}

impl Range {
    /// `pages` contiguous pages (1..=64: a range never crosses a bitmap word), or
    /// [`Error::NoMemory`] if the window has no such run free.
    pub fn alloc(pages: u64) -> Result<Range, Error> {
        if pages == 0 || pages > 64 {
            return Err(Error::InvalidArgument);
        }
        let mask = if pages == 64 { u64::MAX } else { (1 << pages) - 1 };
        for (w, word) in USED.iter().enumerate() {
            let mut bits = word.load(Ordering::Relaxed);
            'word: loop {
                for shift in 0..=64 - pages {
                    if bits & (mask << shift) == 0 {
                        match word.compare_exchange_weak(
                            bits,
                            bits | mask << shift,
                            Ordering::Acquire,
                            Ordering::Relaxed,
                        ) {
                            Ok(_) => {
                                let va = BASE + (w as u64 * 64 + shift) * PAGE_SIZE;
                                return Ok(Range { va, pages });
                            }
                            Err(now) => {
                                bits = now;
                                continue 'word;
                            }
                        }
                    }
                }
                break;
            }
        }
        Err(Error::NoMemory)
    }

    /// One past the last address.
    pub fn end(&self) -> u64 {
        self.va + self.pages * PAGE_SIZE
    }
}

impl Range {
    /// Gives back a range kept past its `Range` value (`core::mem::forget`): `pages` pages at
    /// `va`, as [`Range::alloc`] returned them.
    pub fn release(va: u64, pages: u64) {
        drop(Range { va, pages });
    }
}

impl Drop for Range {
    fn drop(&mut self) {
        let first = (self.va - BASE) / PAGE_SIZE;
        let mask = if self.pages == 64 { u64::MAX } else { (1 << self.pages) - 1 };
        USED[(first / 64) as usize].fetch_and(!(mask << (first % 64)), Ordering::Release);
    }
}
