#!/usr/bin/env bash
# `just soak [N [SEED [SMP]]]`: boots the system and runs the shell's `soak` (load, open, call,
# close, unload over every shipped module that answers) for N cycles (default 100,000), in
# chunks of at most 10,000, each ending with the kernel's and the server's figures compared to
# where they started. Prints the total and the time; the console is in target/soak.log.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
n=${1:-100000} seed=${2:-1} smp=${3:-4}
[[ $n =~ ^[0-9]+$ && $seed =~ ^[0-9]+$ && $smp =~ ^[0-9]+$ ]] || { echo "error: soak: N, SEED and SMP are numbers" >&2; exit 2; }
chunk=10000
scn=target/soak.scn
mkdir -p target
{
    echo "title: soak: $n cycles from seed $seed on $smp cores"
    echo "smp: $smp"
    echo "timeout: 3600"
    echo "reject KERNEL PANIC"
    echo "reject user panic"
    echo "reject soak FAILED"
    echo "reject error: soak"
    echo "expect boot console ready"
    left=$n s=$seed
    while [ "$left" -gt 0 ]; do
        c=$((left < chunk ? left : chunk))
        echo "send soak $c $s"
        echo "expect soak ok: $c cycles"
        left=$((left - c)) s=$((s + 1))
    done
    echo "send poweroff"
    echo "exit 30"
} > "$scn"
cargo build -q -p harness
start=$SECONDS
set +e
target/debug/harness -v "$scn" | tee target/soak.log | grep --line-buffered -E '^soak \| soak( ok|:| FAILED)|^(PASS|FAIL)|error'
status=${PIPESTATUS[0]}
set -e
total=$(sed -nE 's/.*soak ok: ([0-9]+) cycles.*/\1/p' target/soak.log | awk '{ t += $1 } END { print t + 0 }')
echo "soak: $total cycles in $((SECONDS - start)) s of host time (seeds $seed.., $smp cores): $([ "$status" = 0 ] && echo clean || echo FAILED)"
exit "$status"
