#!/usr/bin/env bash
# GDB on the running system, with the kernel's and the root task's symbols at their real
# addresses. Attaches to a QEMU started with `just qemu GDB=1` if one listens on GDB_PORT;
# otherwise starts QEMU halted at the kernel's entry in the background (serial output to
# target/gdb-serial.log) and stops it when GDB exits.
#
# Options: GDB_PORT=1234, and SMP=/MEM=/APPEND=/EL2= as for `just qemu`.
set -euo pipefail
cd "$(dirname "$0")/.."

GDB_PORT=1234 SMP=4 MEM=512M APPEND="" EL2=0
for arg in "$@"; do
    case "$arg" in
        GDB_PORT=*|SMP=*|MEM=*|APPEND=*|EL2=*) declare "$arg" ;;
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gdb.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

kernel=target/aarch64-unknown-none-softfloat/release/kernel
server=target/aarch64-unknown-none/release/module-server
qemu_pid=""
if ! (exec 3<>"/dev/tcp/127.0.0.1/$GDB_PORT") 2>/dev/null; then
    echo "gdb: no gdbstub on port $GDB_PORT; starting QEMU halted (serial: target/gdb-serial.log)"
    qemu/run.sh SMP="$SMP" MEM="$MEM" APPEND="$APPEND" EL2="$EL2" GDB=1 GDB_PORT="$GDB_PORT" \
        </dev/null >target/gdb-serial.log 2>&1 &
    qemu_pid=$!
    trap '[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null' EXIT
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$GDB_PORT") 2>/dev/null && break; sleep 0.1; done
fi
gdb-multiarch -q \
    -ex "set pagination off" \
    -ex "file $kernel" \
    -ex "set confirm off" -ex "add-symbol-file $server" -ex "set confirm on" \
    -ex "target remote 127.0.0.1:$GDB_PORT" \
    -ex "echo \\nKernel and module-server symbols loaded. Try: break kernel::trap::user_sync, continue, bt\\n"
