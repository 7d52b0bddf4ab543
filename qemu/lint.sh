#!/usr/bin/env bash
# `just lint`: formatting, then clippy with warnings as errors on the host crates (all targets,
# tests included) and on the target crates (kernel, module server with everything it embeds).
# Exits non-zero on the first stage that fails, naming it.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
stage() {
    local what=$1; shift
    echo "lint: $what"
    if ! "$@"; then
        echo "lint FAILED: $what"
        status=1
    fi
}
stage "cargo fmt --all --check" cargo fmt --all --check
stage "clippy, host crates" cargo clippy -q --all-targets -- -D warnings
modules=()
for dir in user/modules/*/; do modules+=(-p "$(basename "$dir")"); done
stage "clippy, module server, modules and user crates (aarch64-unknown-none)" \
    cargo clippy -q --release -p module-server "${modules[@]}" --target aarch64-unknown-none -- -D warnings
stage "clippy, kernel (aarch64-unknown-none-softfloat)" \
    cargo clippy -q --release -p kernel --target aarch64-unknown-none-softfloat -- -D warnings
[ "$status" = 0 ] && echo "lint: clean"
exit "$status"
