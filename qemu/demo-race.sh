#!/usr/bin/env bash
# `just demo-race`: the race sweep on the skip-sync kernel (the cross-core sync leaves the other
# cores out) must find a failing run, and that run's replay must fail again with byte-identical
# serial output. Exit status 0 when both hold.
set -euo pipefail
cd "$(dirname "$0")/.."
export KERNEL=target/skip-sync/aarch64-unknown-none-softfloat/release/kernel
scenario=qemu/race/stress-4.scn
mkdir -p target/race
set +e
qemu/race.sh sweep "$scenario" 4 | tee target/race/demo-sweep.txt
status=${PIPESTATUS[0]}
set -e
sweep=$(cat target/race/demo-sweep.txt)
if [ $status -ne 1 ]; then
    echo "demo-race FAILED: the sweep found no failing run on the skip-sync kernel"
    exit 1
fi
cmd=$(echo "$sweep" | sed -n 's/^    \(KERNEL=[^ ]* \)\{0,1\}just race-replay \(.*\)$/\2/p' | tail -1)
read -r _ seed shift <<<"$cmd"
qemu/race.sh replay "$scenario" "$seed" "$shift" | tee target/race/demo-replay.txt
replay=$(cat target/race/demo-replay.txt)
if echo "$replay" | grep -q "identical, byte for byte (verdict: failed)" \
    && grep -q "stale access: read" "target/race/replay-1/$(basename "$scenario" .scn).serial"; then
    echo "demo-race ok: seed $seed shift $shift fails with a stale access, and replays identically"
else
    echo "demo-race FAILED: the replay did not fail the same way twice"
    exit 1
fi
