//! The atomics of the code that the loom models check: `core`'s in a normal build, loom's in a
//! `--cfg loom` build (`RUSTFLAGS="--cfg loom" cargo test -p klogic --release --test sync_model`).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
