//! The build script every module shares (`build = "../../sdk/module-build.rs"` in its
//! Cargo.toml): links it as a position-independent executable with `linker/module.ld`.

fn main() {
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let script = manifest.ancestors().nth(3).unwrap().join("linker/module.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    println!("cargo:rustc-link-arg-bins=-pie");
    println!("cargo:rustc-link-arg-bins=--no-dynamic-linker");
    println!("cargo:rustc-link-arg-bins=-zseparate-loadable-segments");
    // A build-id, so a debugger can match a loaded module to its unstripped ELF.
    println!("cargo:rustc-link-arg-bins=--build-id=sha1");
    // A module is linked at address 0, so the linker's default tombstone (0) for debug info of
    // code it discarded would claim the module's first bytes (`_start`) for dead inlined
    // functions, and GDB would name frames there wrongly: use -1, which debuggers skip.
    println!("cargo:rustc-link-arg-bins=-zdead-reloc-in-nonalloc=.debug_*=0xffffffffffffffff");
    // ...except in DWARF 4 range and location lists, where (-1, -1) would be a base-address
    // entry: there lld's own default, 1, stays (the last pattern that matches wins).
    println!("cargo:rustc-link-arg-bins=-zdead-reloc-in-nonalloc=.debug_ranges=1");
    println!("cargo:rustc-link-arg-bins=-zdead-reloc-in-nonalloc=.debug_loc=1");
    // Relocations may target read-only data (vtables, tables of addresses in code compiled
    // without -fPIC, e.g. `core`): the module server applies them before it maps the pages
    // with their final rights.
    println!("cargo:rustc-link-arg-bins=-znotext");
}
