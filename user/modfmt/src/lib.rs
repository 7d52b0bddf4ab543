//! The formats the module server reads, as pure logic that is tested on the host:
//!
//! - [`archive`]: the boot archive that carries module files into the system;
//! - [`modinfo`]: the `key=value` metadata every module carries in its `.modinfo` section;
//! - [`elf`]: validation of a module ELF (everything is checked before anything is mapped),
//!   the load [`elf::Plan`] it yields, and relocation of a loaded image;
//! - [`corpus`]: mutations that turn a good module ELF into bad ones, each with one defect,
//!   for testing that every defect is refused.
//!
//! The library is `no_std` and needs only `alloc`. The host tools `mkarchive` and `badelf`
//! live in `src/bin/`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod archive;
pub mod corpus;
pub mod elf;
pub mod modinfo;
pub mod untrusted;
