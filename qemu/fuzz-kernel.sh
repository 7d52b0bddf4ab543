#!/usr/bin/env bash
# `just fuzz-kernel [N [SEED [SMP]]]`: boots the kernel and runs the syscall fuzzer (`fuzz SEED
# CHUNK` in the shell) until N syscalls have been issued, in chunks of at most 1,000,000 (each
# chunk ends with the kernel's self-check and the figures compared), seeds SEED, SEED+1, ...
# Prints the harness's verdict and the total; the guest's console is in target/fuzz-kernel.log.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
n=${1:-10000000} seed=${2:-1} smp=${3:-4}
chunk=1000000
scn=target/fuzz-kernel.scn
mkdir -p target
{
    echo "title: fuzz-kernel: $n syscalls from seed $seed on $smp cores"
    echo "smp: $smp"
    echo "timeout: 1800"
    echo "reject KERNEL PANIC"
    echo "reject user panic"
    echo "reject fuzz FAILED"
    echo "reject kernel self-check:"
    echo "expect boot console ready"
    left=$n s=$seed
    while [ "$left" -gt 0 ]; do
        c=$((left < chunk ? left : chunk))
        echo "send fuzz $s $c"
        echo "expect fuzz ok: seed $s: \\d+ syscalls"
        left=$((left - c)) s=$((s + 1))
    done
    echo "send kstat"
    echo "expect kstat: .* violations=0"
    echo "send poweroff"
    echo "exit 30"
} > "$scn"
cargo build -q -p harness
start=$SECONDS
set +e # the verdict line below is printed whatever the harness says
target/debug/harness -v "$scn" | tee target/fuzz-kernel.log |
    grep --line-buffered -E '^fuzz-kernel \| fuzz(:| ok| FAILED)|^(PASS|FAIL)|passed'
status=${PIPESTATUS[0]}
set -e
total=$(sed -nE 's/.*fuzz ok: seed [0-9]+: ([0-9]+) syscalls.*/\1/p' target/fuzz-kernel.log | awk '{ t += $1 } END { print t + 0 }')
echo "fuzz-kernel: $total syscalls in $((SECONDS - start)) s of host time (seeds $seed.., $smp cores): $([ "$status" = 0 ] && echo clean || echo FAILED)"
exit "$status"
