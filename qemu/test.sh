#!/usr/bin/env bash
# `just test`: lint (fmt + clippy, counted as one test), the host unit tests and loom models,
# then every serial scenario in QEMU (the boot scenarios on 1, 2, 4 and 8 cores, the rest on
# the default 4). Each stage is announced with the time since the start. Ends with one line
# `N passed, N failed` that counts everything, and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0 failed=0 status=0
log=target/host-tests.log
mkdir -p target
# No crash of QEMU or gdb leaves a core file in the tree (the harness also forbids them).
ulimit -c 0
started=$SECONDS
stage_no=0
stage() {
    stage_no=$((stage_no + 1))
    printf '== [%d/9, %dm%02ds] %s\n' "$stage_no" $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$*"
}

stage "lint: cargo fmt --check and clippy -D warnings (qemu/lint.sh)"
if qemu/lint.sh > target/lint.log 2>&1; then
    echo "PASS lint"; passed=$((passed + 1))
else
    echo "FAIL lint (log: target/lint.log)"; tail -n 20 target/lint.log; failed=$((failed + 1)); status=1
fi

stage "host unit tests (cargo test)"
cargo test > "$log" 2>&1 || status=1
grep -E '^(test result|error)|FAILED|panicked' "$log" || true
while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < <(
    sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' "$log")
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi  # a build failure counts too

loom_models() {  # crate, test file: one `cargo test` under --cfg loom, counted like the host tests
    local loomlog=target/loom-$1.log st
    RUSTFLAGS="--cfg loom" cargo test -q -p "$1" --release --test "$2" --target-dir target/loom > "$loomlog" 2>&1
    st=$?
    grep -E '^(test result|error)|FAILED|panicked' "$loomlog" || true
    [ "$st" = 0 ] || status=1
    while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < <(
        sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' "$loomlog")
    if [ "$st" != 0 ] && ! grep -q '^test result' "$loomlog"; then failed=$((failed + 1)); fi
}
stage "loom models of the unload state machine, the session table and the directory (user/unload/tests/)"
loom_models unload model
loom_models unload sessions_model
loom_models unload directory_model
stage "loom models of the cross-core sync (kernel/logic/tests/sync_model.rs)"
loom_models klogic sync_model

harness=target/debug/harness
cargo build -q -p harness || status=1
run_harness() {
    local out
    out=$(mktemp)
    "$harness" "$@" | tee "$out"
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
    read -r p f < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$out" | tail -n1)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
    rm -f "$out"
}

stage "serial scenarios, boot on 1, 2, 4 and 8 cores"
run_harness --matrix-smp 1,2,4,8 qemu/scenarios/boot
stage "serial scenarios (qemu/scenarios)"
run_harness qemu/scenarios

stage "unload: stale-access probe and race stress on 4 and 8 cores"
run_harness qemu/unload

stage "replayable races (a replay repeats byte for byte; the sweep finds skip-sync's stale access); reverse debugging"
race_check() {  # name, command...: one test, passed if the command exits 0
    local name=$1; shift
    if "$@" > "target/race-$name.log" 2>&1; then
        echo "PASS $name"; passed=$((passed + 1))
    else
        echo "FAIL $name (log: target/race-$name.log)"; tail -n 12 "target/race-$name.log"; failed=$((failed + 1)); status=1
    fi
}
race_check race-replay-identical bash -c 'out=$(qemu/race.sh replay qemu/race/stress-4.scn 1 3); echo "$out"
    grep -q "identical, byte for byte (verdict: passed)" <<<"$out"'
if cargo build -q --release -p kernel --target aarch64-unknown-none-softfloat --features skip-sync \
    --target-dir target/skip-sync; then
    race_check demo-race qemu/demo-race.sh
else
    echo "FAIL build of the skip-sync kernel"; failed=$((failed + 1)); status=1
fi

race_check reverse-debugging qemu/reverse-test.sh

stage "EXTRA_MODULES: rebuild with a module file from another directory, then back"
mkdir -p target/extra-modules
cp target/archive/kv target/extra-modules/kv-built-elsewhere.elf
rebuild() {
    qemu/pack.sh "$@" >/dev/null &&
        cargo build -q --release -p kernel --target aarch64-unknown-none-softfloat
}
if rebuild EXTRA_MODULES=target/extra-modules; then
    run_harness qemu/extra
else
    echo "FAIL rebuild with EXTRA_MODULES"; failed=$((failed + 1)); status=1
fi
rebuild || status=1

printf '== done in %dm%02ds\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60))
echo "$passed passed, $failed failed"
[ "$status" = 0 ] && [ "$failed" = 0 ]
