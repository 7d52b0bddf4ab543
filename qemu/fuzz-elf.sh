#!/usr/bin/env bash
# `just fuzz-elf [SECONDS] [TARGET]`: fuzzes the module server's handling of untrusted files
# (`user/modfmt/fuzz`, target `elf` by default, or `archive`) with cargo-fuzz (libFuzzer) on
# nightly for SECONDS (default 600), on 2 workers, seeded with the shipped modules and the bad-ELF
# corpus. Prints the executions run and the coverage; a crash is copied to
# user/modfmt/fuzz/regressions/ (which `cargo test` replays) and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
secs=${1:-600}
target=${2:-elf}
[[ $secs =~ ^[0-9]+$ ]] || { echo "error: fuzz-elf: SECONDS must be a number, not '$secs'" >&2; exit 2; }
case $target in elf|archive) ;; *) echo "error: fuzz-elf: no target '$target' (elf or archive)" >&2; exit 2 ;; esac
rustup toolchain list | grep -q '^nightly' || { echo "error: fuzz-elf: needs the nightly toolchain (rustup toolchain install nightly)" >&2; exit 1; }
command -v cargo-fuzz >/dev/null || { echo "fuzz-elf: installing cargo-fuzz"; cargo install --locked cargo-fuzz; }

fuzz=user/modfmt/fuzz
corpus=target/fuzz-corpus/$target
artifacts=target/fuzz-artifacts/$target
mkdir -p "$corpus" "$artifacts"
# Crashes of earlier runs are already kept in the regression corpus: count only this run's.
rm -f "$artifacts"/crash-* "$artifacts"/oom-* "$artifacts"/timeout-* "$artifacts"/leak-*
# Seeds: every shipped module and bad ELF (built by `just build`), and the archive itself.
if [ "$target" = elf ]; then
    for f in target/archive/*; do [ -f "$f" ] && cp -n "$f" "$corpus/seed-$(basename "$f")"; done
else
    [ -f target/archive.bin ] && cp -n target/archive.bin "$corpus/seed-archive" || true
    for f in "$fuzz"/regressions/archive-*; do [ -f "$f" ] && cp -n "$f" "$corpus/"; done
fi
for f in "$fuzz"/regressions/"$target"-*; do [ -f "$f" ] && cp -n "$f" "$corpus/"; done
echo "fuzz-elf: target $target for $secs s on 2 workers; corpus $corpus ($(ls "$corpus" | wc -l) inputs)"
log=target/fuzz-$target.log
set +e
cargo +nightly fuzz run --fuzz-dir "$fuzz" "$target" "$corpus" -- \
    -max_total_time="$secs" -fork=2 -ignore_crashes=0 -artifact_prefix="$artifacts/" \
    -max_len=1048576 -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1
status=$?
set -e
grep -E '^#[0-9]+.*(DONE|pulse)|^INFO: fuzzed for|stat::number_of_executed_units|cov: ' "$log" | tail -3 || true
crashes=$(ls "$artifacts" 2>/dev/null | grep -E '^(crash|oom|timeout|leak)-' || true)
for c in $crashes; do
    cp "$artifacts/$c" "$fuzz/regressions/$target-$c"
    echo "fuzz-elf: kept $fuzz/regressions/$target-$c (cargo test replays it)"
done
# In fork mode the last status line counts the executions of all workers.
execs=$( (grep -oE '^#[0-9]+' "$log" || true) | tail -1 | tr -d '#')
cov=$( (grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" || true) | tail -1)
echo "fuzz-elf: $target: ${execs:-?} executions in $secs s, ${cov:-coverage unknown}; log $log"
if [ -n "$crashes" ] || [ "$status" != 0 ]; then
    echo "error: fuzz-elf: $target found a crash (or cargo fuzz failed, status $status): see $log" >&2
    exit 1
fi
echo "fuzz-elf: clean"
