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
    // Relocations may target read-only data (vtables, tables of addresses in code compiled
    // without -fPIC, e.g. `core`): the module server applies them before it maps the pages
    // with their final rights.
    println!("cargo:rustc-link-arg-bins=-znotext");
}
