#!/usr/bin/env bash
# Builds the peer benchmark's initramfs, target/peer/initrd.gz: busybox, /init (src/first.c),
# /init.sh, the static benchmark programs (src/*.c) and the module insmod_rmmod_small loads:
# fs/nls/nls_utf8.ko (7.5 KiB, signed, no dependencies; its init and exit only register and
# unregister a character table). Needs qemu/peer/fetch.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=qemu/peer/src out=target/peer
root=$out/root
rm -rf "$root" && mkdir -p "$root"/{bin,proc,sys,dev,peer}
for prog in first syscall pingpong membarrier munmap modload; do
    aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Werror -pthread -s -o "$root/peer/$prog" "$src/$prog.c"
done
mv "$root/peer/first" "$root/init"
cp qemu/peer/init.sh "$root/init.sh"
cp "$out/x/busybox/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
ko=$(find "$out"/x/kernel/lib/modules -path '*/kernel/fs/nls/nls_utf8.ko*')
case $ko in
    *.xz) xz -dc "$ko" > "$root/peer/nls_utf8.ko" ;;
    *.zst) zstd -qdc "$ko" > "$root/peer/nls_utf8.ko" ;;
    ?*) cp "$ko" "$root/peer/nls_utf8.ko" ;;
    *) echo "error: peer: no fs/nls/nls_utf8.ko in the kernel package" >&2; exit 1 ;;
esac
# newc, every file root's, in a fixed order
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -9n > "$out/initrd.gz"
cp "$(ls "$out"/x/kernel/boot/vmlinuz-* | head -1)" "$out/vmlinuz"
