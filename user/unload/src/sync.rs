//! The atomics the state machine is built from: `core`'s in a normal build, loom's in a
//! `--cfg loom` build, so that the loom models in `tests/model.rs` check this very code.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, Ordering};

/// A reader-writer lock used only through `try_read`/`try_write` (the caller decides how to
/// wait: the module server yields or sleeps, the loom models yield to loom).
#[cfg(loom)]
pub(crate) struct RwLock<T>(loom::sync::RwLock<T>);
#[cfg(not(loom))]
pub(crate) struct RwLock<T>(spin::RwLock<T>);

#[cfg(loom)]
pub(crate) type ReadGuard<'a, T> = loom::sync::RwLockReadGuard<'a, T>;
#[cfg(not(loom))]
pub(crate) type ReadGuard<'a, T> = spin::RwLockReadGuard<'a, T>;
#[cfg(loom)]
pub(crate) type WriteGuard<'a, T> = loom::sync::RwLockWriteGuard<'a, T>;
#[cfg(not(loom))]
pub(crate) type WriteGuard<'a, T> = spin::RwLockWriteGuard<'a, T>;

impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> RwLock<T> {
        #[cfg(loom)]
        return RwLock(loom::sync::RwLock::new(value));
        #[cfg(not(loom))]
        RwLock(spin::RwLock::new(value))
    }

    pub(crate) fn try_read(&self) -> Option<ReadGuard<'_, T>> {
        #[cfg(loom)]
        return self.0.try_read().ok();
        #[cfg(not(loom))]
        self.0.try_read()
    }

    pub(crate) fn try_write(&self) -> Option<WriteGuard<'_, T>> {
        #[cfg(loom)]
        return self.0.try_write().ok();
        #[cfg(not(loom))]
        self.0.try_write()
    }
}

/// Tells the processor we are spinning (a no-op under loom, where the caller's hook yields).
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
