#!/usr/bin/env bash
# Builds the modules and packs the boot archive the kernel embeds (target/boot-archive.bin),
# and strips the root task for embedding (target/root-task.elf). The archive holds:
#   - every module crate under user/modules/ (debug info stripped; the unstripped ELFs stay in
#     target/aarch64-unknown-none/release/ for GDB),
#   - the bad-ELF corpus derived from the hello module (bad-*.elf, for the loader's tests),
#   - every file in the directory given as EXTRA_MODULES=DIR (modules built elsewhere).
# The archive format is documented in user/modfmt/src/archive.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

extra=""
for arg in "$@"; do
    case "$arg" in
        EXTRA_MODULES=*) extra="${arg#EXTRA_MODULES=}" ;;
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) ;; # options for other scripts (SMP=, MEM=, ...)
    esac
done
[ -z "$extra" ] && extra="${EXTRA_MODULES:-}"

objcopy=$(command -v llvm-objcopy || true)
[ -n "$objcopy" ] || objcopy="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-objcopy"
[ -x "$objcopy" ] || { echo "pack: llvm-objcopy not found: run 'rustup component add llvm-tools'" >&2; exit 1; }

modules=()
for dir in user/modules/*/; do modules+=("$(basename "$dir")"); done
cargo build --release --target aarch64-unknown-none $(printf -- '-p %s ' "${modules[@]}")
cargo build -q --release -p modfmt --bins

out=target/archive
rm -rf "$out"
mkdir -p "$out"
for m in "${modules[@]}"; do
    "$objcopy" --strip-debug "target/aarch64-unknown-none/release/$m" "$out/$m"
done
target/release/badelf "$out/hello" "$out" >/dev/null
# The kernel embeds the root task without its debug info (GDB reads the unstripped ELF).
"$objcopy" --strip-debug target/aarch64-unknown-none/release/module-server target/root-task.elf
if [ -n "$extra" ]; then
    [ -d "$extra" ] || { echo "pack: EXTRA_MODULES=$extra is not a directory" >&2; exit 1; }
    for f in "$extra"/*; do
        [ -f "$f" ] && cp "$f" "$out/"
    done
fi
target/release/mkarchive target/boot-archive.bin "$out"/* | tail -n 1
