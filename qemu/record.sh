#!/usr/bin/env bash
# Reverse debugging with QEMU's record/replay (one core only: QEMU refuses it with several).
#
#   qemu/record.sh record SCENARIO   runs SCENARIO (a harness scenario with `smp: 1`) under
#       -icount shift=auto,rr=record, keeping the execution log, a snapshot at the start (in a
#       qcow2 image: reverse execution restarts from it) and a copy of the kernel in target/rr/.
#   qemu/record.sh replay [GDB ARGS]  replays that run halted, with the gdbstub on GDB_PORT
#       (1234), and attaches `just gdb` (module symbols included) with GDB ARGS, e.g.
#       `-batch -x FILE`. In GDB, reverse-continue, reverse-step, reverse-stepi and watchpoints
#       run backwards. The guest's serial output goes to target/rr/serial.log. GDB_PORT=N as
#       an argument or in the environment; RR_DIR=DIR keeps a recording elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
rr=${RR_DIR:-target/rr}
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
[ $# -ge 1 ] || { usage; exit 2; }
mode=$1; shift
kernel=target/aarch64-unknown-none-softfloat/release/kernel
GDB_PORT=${GDB_PORT:-1234}
args=()
for a in "$@"; do
    case "$a" in
        GDB_PORT=*) GDB_PORT=${a#GDB_PORT=} ;;
        *) args+=("$a") ;;
    esac
done
set -- "${args[@]+"${args[@]}"}"
case "$mode" in
-h|--help) usage ;;
record)
    [ $# -eq 1 ] && [ -f "$1" ] || { echo "record: give one scenario file (smp: 1)" >&2; exit 2; }
    grep -qE '^smp: *1$' "$1" || { echo "record: $1 must say 'smp: 1' (QEMU records one core only)" >&2; exit 2; }
    if grep -qE '^(mem|qemu-arg|gdb):' "$1"; then
        echo "record: $1 has mem:, qemu-arg: or gdb: headers; the replay runs the default machine (512M, no extras)" >&2
        exit 2
    fi
    rm -rf "$rr"; mkdir -p "$rr"
    cp "$kernel" "$rr/kernel"
    qemu-img create -q -f qcow2 "$rr/snapshots.qcow2" 256M
    echo "record: running $1 under record (execution log $rr/replay.bin)"
    target/debug/harness --kernel "$rr/kernel" --log-dir "$rr" --serial-dir "$rr" \
        --qemu-arg=-icount --qemu-arg="shift=auto,rr=record,rrfile=$rr/replay.bin,rrsnapshot=start" \
        --qemu-arg=-drive --qemu-arg="file=$rr/snapshots.qcow2,if=none,id=rr" "$1"
    echo "record: done; replay it with \`just replay\` (GDB: reverse-continue, reverse-step)"
    ;;
replay)
    [ -f "$rr/replay.bin" ] || { echo "replay: nothing recorded (just record SCENARIO)" >&2; exit 2; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$GDB_PORT") 2>/dev/null; then
        echo "replay: port $GDB_PORT is taken (another QEMU?); give GDB_PORT=N" >&2
        exit 1
    fi
    cmp -s "$rr/kernel" "$kernel" || echo "replay: warning: the kernel was rebuilt since the recording; GDB's kernel symbols may not match"
    qemu-system-aarch64 -M virt,gic-version=3 -cpu cortex-a72 -smp 1 -m 512M -display none -monitor none \
        -serial "file:$rr/serial.log" -no-reboot -nic none -kernel "$rr/kernel" \
        -icount "shift=auto,rr=replay,rrfile=$rr/replay.bin,rrsnapshot=start" \
        -drive "file=$rr/snapshots.qcow2,if=none,id=rr" -S -gdb "tcp:127.0.0.1:$GDB_PORT" \
        </dev/null >"$rr/qemu-replay.log" 2>&1 &
    qemu_pid=$!
    trap 'kill $qemu_pid 2>/dev/null; wait $qemu_pid 2>/dev/null' EXIT
    for _ in $(seq 100); do
        kill -0 "$qemu_pid" 2>/dev/null || break
        (exec 3<>"/dev/tcp/127.0.0.1/$GDB_PORT") 2>/dev/null && break
        sleep 0.1
    done
    if ! kill -0 "$qemu_pid" 2>/dev/null; then
        echo "replay: QEMU did not start replaying (is port $GDB_PORT free?):" >&2
        tail -n 5 "$rr/qemu-replay.log" >&2
        exit 1
    fi
    echo "replay: QEMU replays $rr/replay.bin, halted (serial: $rr/serial.log)"
    ATTACH_ONLY=1 qemu/gdb.sh GDB_PORT="$GDB_PORT" "$@"
    ;;
*) usage; exit 2 ;;
esac
