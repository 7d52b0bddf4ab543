//! The atomics the state machine is built from: `core`'s in a normal build, loom's in a
//! `--cfg loom` build, so that the loom models in `tests/model.rs` check this very code.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU64, AtomicU8, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicU64, AtomicU8, Ordering};

/// Tells the processor we are spinning (a no-op under loom, where the caller's hook yields).
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
