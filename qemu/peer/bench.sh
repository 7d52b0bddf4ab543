#!/usr/bin/env bash
# `just bench-peer`: the Linux peer of `just bench`. Boots a stock Debian arm64 Linux (pinned, see
# qemu/peer/fetch.sh) in our benchmark's QEMU configuration under -icount shift=0 and runs small
# static programs from an initramfs; prints a table of guest instructions per operation (median,
# min, max over the rounds) and writes target/bench/peer.json. Everything fetched or built goes
# to target/peer/ (the console: target/peer/console.log).
#   BENCH_ROUNDS=5   timed rounds per figure (after one warm-up round)
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "error: peer: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac
rounds=${BENCH_ROUNDS:-5}
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 1 && $rounds -le 64 ]] || { echo "error: peer: BENCH_ROUNDS is 1..64" >&2; exit 2; }
timeout_s=600

# Host tools (amd64 packages; nothing arm64 is installed on the host).
need=()
command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
command -v cpio >/dev/null || need+=(cpio)
command -v python3 >/dev/null || need+=(python3)
# The static C programs need the cross libc (only a Recommends of the cross gcc on bookworm).
[ -e /usr/aarch64-linux-gnu/include/errno.h ] || need+=(libc6-dev-arm64-cross)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "error: peer: missing ${need[*]}; install with: sudo apt-get install ${need[*]}" >&2
        exit 1
    fi
    echo "peer: installing ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") >/dev/null
fi

qemu/peer/fetch.sh
echo "peer: building the initramfs (target/peer/initrd.gz)"
qemu/peer/build.sh

# Our benchmark's machine (qemu/harness, qemu/bench: virt with GICv3, cortex-a72, 4 cores, 1G, no NIC).
args=(-M virt,gic-version=3 -cpu cortex-a72 -smp 4 -m 1G -nographic -nic none -no-reboot
      -icount shift=0 -kernel target/peer/vmlinuz -initrd target/peer/initrd.gz)
append="console=ttyAMA0 quiet panic=-1 BENCH_ROUNDS=$rounds"
cmdline="qemu-system-aarch64 ${args[*]} -append '$append'"

# boot LOG [WORD]: one boot, its console in LOG, the guest's `peer:` lines shown as they come.
# QEMU exits 0 on a guest panic too (panic=-1, -no-reboot): report.py checks that /init finished.
boot() {
    local log=$1 start=$SECONDS status
    set +e
    timeout --kill-after=10 "$timeout_s" qemu-system-aarch64 "${args[@]}" -append "$append${2:+ $2}" </dev/null |
        tee "$log" | while IFS= read -r line; do
            line=${line%$'\r'}
            case $line in "peer: "*) echo "peer: [$((SECONDS - start)) s] ${line#peer: }" ;; esac
        done
    status=${PIPESTATUS[0]}
    set -e
    [ "$status" = 124 ] && { echo "error: peer: the boot did not finish in $timeout_s s (console: $log)" >&2; exit 1; }
    [ "$status" = 0 ] || { echo "error: peer: QEMU exited with status $status (console: $log)" >&2; exit 1; }
    return 0
}

start=$SECONDS
echo "peer: booting (at most $timeout_s s a boot): $cmdline"
rm -f target/peer/console*.log
logs=(target/peer/console.log)
boot "${logs[0]}"
# The boot figure wants BENCH_ROUNDS values too: the other rounds are boots that stop at /init.
for i in $(seq 2 "$rounds"); do
    echo "peer: boot $i of $rounds (boot figure only)"
    logs+=("target/peer/console-boot-$i.log")
    boot "${logs[-1]}" BENCH_BOOT_ONLY=1
done
echo "peer: QEMU done in $((SECONDS - start)) s"
mkdir -p target/bench
python3 qemu/peer/report.py "$cmdline" "$rounds" target/peer/versions target/bench/peer.json "${logs[@]}"
