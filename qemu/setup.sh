#!/usr/bin/env bash
# Checks what building and running the kernel needs. Installs what is missing when it can
# (rustup targets always; Debian packages when running as root, as on CI), and otherwise names
# the exact command to run.
set -euo pipefail

missing=0
for target in aarch64-unknown-none aarch64-unknown-none-softfloat; do
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
        echo "setup: adding Rust target $target"
        rustup target add "$target"
    fi
done
# llvm-objcopy strips the modules' debug info before they go into the boot archive.
if ! rustup component list --installed 2>/dev/null | grep -q '^llvm-tools'; then
    echo "setup: adding the Rust component llvm-tools (llvm-objcopy)"
    rustup component add llvm-tools
fi

need_pkgs=()
command -v qemu-system-aarch64 >/dev/null || need_pkgs+=(qemu-system-arm)
command -v qemu-img >/dev/null || need_pkgs+=(qemu-utils)  # snapshots for just record/replay
command -v gdb-multiarch >/dev/null || need_pkgs+=(gdb-multiarch)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    cmd="apt-get update && apt-get install -y --no-install-recommends ${need_pkgs[*]}"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing ${need_pkgs[*]}"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}") >/dev/null
    else
        echo "setup: missing ${need_pkgs[*]}; install with:  sudo sh -c '$cmd'" >&2
        missing=1
    fi
fi
exit $missing
