#!/usr/bin/env bash
# GDB on the running system, with the kernel's and the root task's symbols at their real
# addresses. Attaches to a QEMU started with `just qemu GDB=1` if one listens on GDB_PORT;
# otherwise starts QEMU halted at the kernel's entry in the background (serial output to
# target/gdb-serial.log) and stops it when GDB exits.
#
# Loads qemu/gdb/kmod.py: module symbols at their load addresses, added and removed as modules
# come and go, and the commands mod-list, core-info, mod-break, mod-sync (`help mod-list`).
#
# Options: GDB_PORT=1234, and SMP=/MEM=/APPEND=/EL2= as for `just qemu`. Every other argument
# goes to gdb-multiarch after the set-up, e.g. `just gdb -batch -x FILE` for a scripted session.
set -euo pipefail
cd "$(dirname "$0")/.."

GDB_PORT=1234 SMP=4 MEM=512M APPEND="" EL2=0 ATTACH_ONLY=${ATTACH_ONLY:-0}
gdb_args=()
for arg in "$@"; do
    case "$arg" in
        GDB_PORT=*|SMP=*|MEM=*|APPEND=*|EL2=*) declare "$arg" ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) gdb_args+=("$arg") ;;
    esac
done

kernel=target/aarch64-unknown-none-softfloat/release/kernel
server=target/aarch64-unknown-none/release/module-server
qemu_pid=""
if ! (exec 3<>"/dev/tcp/127.0.0.1/$GDB_PORT") 2>/dev/null; then
    if [ "$ATTACH_ONLY" = 1 ]; then
        echo "gdb: no gdbstub on port $GDB_PORT (ATTACH_ONLY=1: not starting a QEMU)" >&2
        exit 1
    fi
    echo "gdb: no gdbstub on port $GDB_PORT; starting QEMU halted (serial: target/gdb-serial.log)"
    qemu/run.sh SMP="$SMP" MEM="$MEM" APPEND="$APPEND" EL2="$EL2" GDB=1 GDB_PORT="$GDB_PORT" \
        </dev/null >target/gdb-serial.log 2>&1 &
    qemu_pid=$!
    trap '[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null' EXIT
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$GDB_PORT") 2>/dev/null && break; sleep 0.1; done
fi
gdb-multiarch -q -nx \
    -ex "set pagination off" \
    -ex "file $kernel" \
    -ex "set confirm off" -ex "add-symbol-file $server" -ex "set confirm on" \
    -ex "target remote 127.0.0.1:$GDB_PORT" \
    -ex "source qemu/gdb/kmod.py" \
    -ex "echo \\nKernel, module-server and module symbols loaded. Try: mod-list, core-info, break hello::handle\\n" \
    "${gdb_args[@]}"
