//! Links the kernel with `linker/kernel.ld` and embeds the root task and the boot archive.
//!
//! The root task (the module server) is built first by `just build` and stripped of its debug
//! info by `qemu/pack.sh` (target/root-task.elf); that ELF is embedded in the kernel image.
//! `ROOT_TASK_ELF` overrides where it is looked for.
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap();
    let script = root.join("linker/kernel.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());

    println!("cargo:rerun-if-env-changed=ROOT_TASK_ELF");
    let elf = std::env::var("ROOT_TASK_ELF").map(PathBuf::from).unwrap_or_else(|_| root.join("target/root-task.elf"));
    if !elf.exists() {
        panic!("the root task ELF {} does not exist: build it first (`just build` does both)", elf.display());
    }
    println!("cargo:rerun-if-changed={}", elf.display());
    println!("cargo:rustc-env=ROOT_TASK_ELF={}", elf.display());

    println!("cargo:rerun-if-env-changed=BOOT_ARCHIVE");
    let archive =
        std::env::var("BOOT_ARCHIVE").map(PathBuf::from).unwrap_or_else(|_| root.join("target/boot-archive.bin"));
    if !archive.exists() {
        panic!("the boot archive {} does not exist: `just build` packs it", archive.display());
    }
    println!("cargo:rerun-if-changed={}", archive.display());
    println!("cargo:rustc-env=BOOT_ARCHIVE={}", archive.display());
}
