#!/usr/bin/env bash
# Races you can replay. Under `-icount shift=N,sleep=off` QEMU runs all vCPUs round-robin on
# one host thread with guest time counted in instructions, so with a fixed device tree
# (`-M virt,dtb-randomness=off`), a fixed system seed (the kernel's `seed=`) and no serial
# input (a scenario that runs its commands from `autorun=`), a run with several cores repeats
# exactly; N and the seed change the interleaving.
#
#   qemu/race.sh sweep SCENARIO [SEEDS] [SHIFTS]   runs SCENARIO for every seed and shift (by
#       default seeds 1..4, shifts 0..7), stops at the first failing run and prints the command
#       that replays it; exit status 1 if a run failed, 0 if none did.
#   qemu/race.sh replay SCENARIO SEED SHIFT        runs it twice and compares the two serial
#       outputs byte for byte; exit status 0 if they are identical (whatever the verdict), 1
#       if they differ. Prints the verdict and the serial output's first difference if any.
#
# SEEDS and SHIFTS are lists ("1 2 3" or "1,2,3") or a count for seeds ("8" = 1..8).
# KERNEL=PATH boots another kernel (e.g. the skip-sync one, see `just demo-race`).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
[ $# -ge 2 ] || { usage; exit 2; }
mode=$1 scenario=$2
[ -f "$scenario" ] || { echo "race: no scenario file '$scenario'" >&2; exit 2; }
kernel=${KERNEL:-target/aarch64-unknown-none-softfloat/release/kernel}
[ -f "$kernel" ] || { echo "race: no kernel at $kernel (just build)" >&2; exit 2; }
harness=target/debug/harness
name=$(basename "$scenario" .scn)
out=target/race

list() { # a count or a list, commas or spaces
    if [[ "$1" =~ ^[0-9]+$ ]] && [ "$2" = count ]; then seq 1 "$1"; else echo "$1" | tr ',' ' '; fi
}

# One run: seed $1, shift $2, serial output into $3/NAME.serial; prints the harness's verdict.
run() {
    local seed=$1 shift=$2 dir=$3
    rm -rf "$dir"
    "$harness" --kernel "$kernel" --log-dir "$dir" --serial-dir "$dir" \
        --qemu-arg=-icount --qemu-arg="shift=$shift,sleep=off" \
        --qemu-arg=-M --qemu-arg=virt,dtb-randomness=off \
        --append "seed=$seed" "$scenario" >"$dir.out" 2>&1
}

replay_command() {
    local k=""
    [ -n "${KERNEL:-}" ] && k="KERNEL=$KERNEL "
    echo "${k}just race-replay $scenario $1 $2"
}

mkdir -p "$out"
case "$mode" in
sweep)
    seeds=$(list "${3:-4}" count)
    shifts=$(list "${4:-0 1 2 3 4 5 6 7}" list)
    total=$(( $(echo $seeds | wc -w) * $(echo $shifts | wc -w) ))
    mkdir -p "$out"
    i=0
    for seed in $seeds; do
        for shift in $shifts; do
            i=$((i + 1))
            start=$SECONDS
            if run "$seed" "$shift" "$out/sweep"; then
                echo "race: [$i/$total] seed $seed shift $shift: passed ($((SECONDS - start)) s)"
            else
                echo "race: [$i/$total] seed $seed shift $shift: FAILED ($((SECONDS - start)) s)"
                { grep -E '^(FAIL|  )' "$out/sweep.out" || true; } | head -8 | sed 's/^/    /'
                echo "race: serial output: $out/sweep/$name.serial"
                echo "race: replay it (twice, compared byte for byte) with:"
                echo "    $(replay_command "$seed" "$shift")"
                exit 1
            fi
        done
    done
    echo "race: $total runs, none failed"
    ;;
replay)
    [ $# -eq 4 ] || { usage; exit 2; }
    seed=$3 shift=$4
    verdicts=()
    for k in 1 2; do
        if run "$seed" "$shift" "$out/replay-$k"; then verdicts+=(passed); else verdicts+=(failed); fi
        echo "race: replay $k of seed $seed shift $shift: ${verdicts[-1]} ($(wc -c <"$out/replay-$k/$name.serial") bytes of serial output)"
    done
    if cmp -s "$out/replay-1/$name.serial" "$out/replay-2/$name.serial"; then
        echo "race: the two replays' serial outputs are identical, byte for byte (verdict: ${verdicts[0]})"
        { grep -E '^FAIL' "$out/replay-1.out" || true; } | head -3 | sed 's/^/    /'
    else
        echo "race: the two replays DIFFER:"
        cmp "$out/replay-1/$name.serial" "$out/replay-2/$name.serial" || true
        diff "$out/replay-1/$name.serial" "$out/replay-2/$name.serial" | head -10 || true
        exit 1
    fi
    ;;
*) usage; exit 2 ;;
esac
