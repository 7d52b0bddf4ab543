#!/bin/sh
# The benchmark run inside the peer Linux: busybox sh, started by /init (src/first.c, which has
# already printed the `boot` figure). Prints `peer-info` and `peer-rec` lines on the serial
# console (qemu/peer/report.py reads them), then powers off. BENCH_ROUNDS comes from the kernel
# command line (Linux hands unknown key=value words to init as environment variables).
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

echo "peer-info uname $(uname -r)"
echo "peer-info cores $(nproc)"
echo "peer-info cmdline $(cat /proc/cmdline)"
# KPTI: arm64 Linux forces it on when KASLR is on, although the Cortex-A72 is not affected
# (so the meltdown file says "Not affected" either way: the boot log tells).
if dmesg | grep -qi 'page table isolation'; then echo "peer-info kpti on"; else echo "peer-info kpti off"; fi
if dmesg | grep -q 'KASLR disabled'; then echo "peer-info kaslr off"; else echo "peer-info kaslr on"; fi
dmesg | grep -i 'page table isolation' | sed 's/^/peer-info dmesg /'

# The extra boots of the boot figure stop here.
[ -n "$BENCH_BOOT_ONLY" ] && { echo "peer: done"; poweroff -f; }

# step KEY PROGRAM ARGS: one figure (a failing program has already said why)
step() {
    key=$1; shift
    echo "peer: $key"
    "$@" || echo "peer: FAILED: $key (exit status $?)"
}
# Operations per round: enough for a steady figure (the one-core ping-pongs settle only after
# ~30 ms of guest time, hence a warm-up round of 5000); the busy figures cost milliseconds an
# operation under -icount (a spinning core keeps the emulator until its time slice ends).
cd /peer
step null_syscall       ./syscall 10000
step futex_one_core     ./pingpong futex 0 futex_one_core 5000
step futex_cross_core   ./pingpong futex 1 futex_cross_core 5000
step pipe_one_core      ./pingpong pipe 0 pipe_one_core 5000
step pipe_cross_core    ./pingpong pipe 1 pipe_cross_core 5000
step membarrier_idle    ./membarrier 0 membarrier_idle 10000
step membarrier_busy    ./membarrier $(($(nproc) - 1)) membarrier_busy 20
step munmap_one_core    ./munmap 0 munmap_one_core 5000
step munmap_all_cores   ./munmap $(($(nproc) - 1)) munmap_all_cores 20
step insmod_rmmod_small ./modload /peer/nls_utf8.ko nls_utf8 10
echo "peer: done"
poweroff -f
