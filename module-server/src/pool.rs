//! The system-wide pool of module load addresses: one region of user address space cut into
//! equal slots, handed out at random (seeded by the kernel's boot-info seed), so no two live
//! modules overlap and a debugger can hold every module's symbols at once.

use abi::PAGE_SIZE;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Start of the pool.
pub const BASE: u64 = 0x40_0000_0000;
/// Size of one slot: the largest module span (image, guard, stack, IPC buffer).
pub const SLOT_BYTES: u64 = 16 << 20;
/// Number of slots.
const SLOTS: usize = 256;

static USED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
static RNG: AtomicU64 = AtomicU64::new(0);

/// Seeds the choice of slots (once, at start).
pub fn seed(seed: u64) {
    RNG.store(seed | 1, Ordering::Relaxed);
}

fn next_random() -> u64 {
    // xorshift64: enough to spread load addresses; not for secrets.
    let mut x = RNG.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    RNG.store(x, Ordering::Relaxed);
    x
}

/// Module address slots in use (a leak check).
pub fn used_count() -> usize {
    USED.iter().filter(|u| u.load(Ordering::Relaxed)).count()
}

/// Slots `take` may hand out: all of them, or fewer (`exhaust-modules ... pool=N`, a test hook
/// to run out of load addresses before anything else).
static LIMIT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(SLOTS);

/// Lets `take` use only `n` slots (at most all); returns the number now in effect.
pub fn set_limit(n: usize) -> usize {
    let n = n.clamp(1, SLOTS);
    LIMIT.store(n, Ordering::Relaxed);
    n
}

/// The number of slots `take` may use.
pub fn limit() -> usize {
    LIMIT.load(Ordering::Relaxed)
}

/// A free slot for a module spanning `pages` pages: its base address.
pub fn take(pages: u64) -> Option<u64> {
    if pages * PAGE_SIZE > SLOT_BYTES {
        return None;
    }
    let slots = limit();
    let start = (next_random() % slots as u64) as usize;
    // The slot freed last is taken only if no other is free: a module loaded again right after
    // its removal gets a new base (a stale pointer into the old one faults instead of reaching
    // the new one, and a debugger sees the move).
    let last = LAST_FREED.load(Ordering::Relaxed);
    let try_take = |i: usize| {
        USED[i].compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).ok()?;
        Some(BASE + i as u64 * SLOT_BYTES)
    };
    (0..slots)
        .map(|i| (start + i) % slots)
        .filter(|&i| i as u64 != last)
        .find_map(try_take)
        .or_else(|| usize::try_from(last).ok().filter(|&i| i < slots).and_then(try_take))
}

/// Returns the slot at `base`.
pub fn give_back(base: u64, _pages: u64) {
    if let Some(slot) = base.checked_sub(BASE).map(|o| (o / SLOT_BYTES) as usize) {
        if slot < SLOTS {
            USED[slot].store(false, Ordering::Release);
            LAST_FREED.store(slot as u64, Ordering::Relaxed);
        }
    }
}

/// The slot given back last (`u64::MAX`: none yet).
static LAST_FREED: AtomicU64 = AtomicU64::new(u64::MAX);
