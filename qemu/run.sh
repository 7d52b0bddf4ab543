#!/usr/bin/env bash
# Boots the kernel in QEMU with the serial console on this terminal (Ctrl-A X quits,
# Ctrl-A C toggles the QEMU monitor).
#
# Options, as NAME=VALUE words:
#   SMP=4        cores
#   MEM=512M     RAM
#   APPEND=...   kernel command line (e.g. "log=debug", "debug.panic_trigger=1")
#   EL2=1        enter at EL2 (virtualization=on); the kernel drops to EL1 itself
#   GDB=1        start halted with a gdbstub on tcp::GDB_PORT (default 1234); then `just gdb`
#   ICOUNT=1     -icount shift=0: guest time counts instructions (repeatable cost figures)
#   EXTRA_MODULES=DIR  also pack the files in DIR into the boot archive (done by the build)
set -euo pipefail
cd "$(dirname "$0")/.."

SMP=4 MEM=512M APPEND="" EL2=0 GDB=0 GDB_PORT=1234 ICOUNT=0
for arg in "$@"; do
    case "$arg" in
        SMP=*|MEM=*|APPEND=*|EL2=*|GDB=*|GDB_PORT=*|ICOUNT=*) declare "$arg" ;;
        EXTRA_MODULES=*) ;; # used by the build (qemu/pack.sh)
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

machine="virt,gic-version=3"
[ "$EL2" = 1 ] && machine="$machine,virtualization=on"
args=(-M "$machine" -cpu cortex-a72 -smp "$SMP" -m "$MEM" -nographic -nic none -no-reboot
      -kernel target/aarch64-unknown-none-softfloat/release/kernel)
[ -n "$APPEND" ] && args+=(-append "$APPEND")
[ "$GDB" = 1 ] && args+=(-S -gdb "tcp::$GDB_PORT")
[ "$ICOUNT" = 1 ] && args+=(-icount shift=0)

echo "run: qemu-system-aarch64 ${args[*]}"
if [ "$GDB" = 1 ]; then
    echo "run: Ctrl-A X quits QEMU; halted: attach with 'just gdb' from another terminal"
else
    echo "run: Ctrl-A X quits QEMU"
fi
exec qemu-system-aarch64 "${args[@]}"
