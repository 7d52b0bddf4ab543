# Commands for building, booting, testing and debugging the kernel. `just --list` shows them.
#
# QEMU options go after the recipe as NAME=VALUE words, e.g. `just qemu SMP=8 MEM=1G`
# (see qemu/run.sh for all of them).

kernel_target := "aarch64-unknown-none-softfloat"
user_target := "aarch64-unknown-none"

# List the recipes.
default:
    @just --list

# Check (and on CI or as root, install) what building and running needs.
setup:
    @qemu/setup.sh

# (`just --list` shows the last comment line of each recipe: it is the summary.)
# The modules are packed with EXTRA_MODULES=DIR's files too; the kernel embeds root task + archive.
# Build the user programs, the modules, their boot archive and the kernel (EXTRA_MODULES=DIR).
build *ARGS: setup
    cargo build --release -p module-server --target {{user_target}}
    @qemu/pack.sh {{ARGS}}
    cargo build --release -p kernel --target {{kernel_target}}

# Build everything and boot to the serial console (SMP=4 MEM=512M APPEND=... EL2=1 GDB=1).
qemu *ARGS: (build ARGS)
    @qemu/run.sh {{ARGS}}

# Prints the stage it is in; non-zero exit on any failure.
# Lint, host tests, loom models, every serial scenario; ends with `N passed, N failed`.
test: build
    @qemu/test.sh

# Every scenario (boot, scenarios, unload) N times, pass by pass, then a table of how many of the
# N runs of each passed; failing runs' logs under target/harness-logs. E.g. `just test-repeat 10 race-4`.
# The flake finder: every scenario (or those whose name contains FILTER) N times, with a table.
test-repeat N FILTER="": build
    @cargo build -q -p harness
    @target/debug/harness --repeat {{N}} {{ if FILTER == "" { "" } else { "--filter " + FILTER } }} qemu/scenarios/boot qemu/scenarios qemu/unload

# The long soak: N load/open/call/close/unload cycles (default 100,000) with every figure checked.
soak N="100000" SEED="1" SMP="4": build
    @qemu/soak.sh {{N}} {{SEED}} {{SMP}}

# The ELF fuzzer: the server's handling of untrusted module files (or TARGET=archive) under cargo-fuzz for SECONDS.
fuzz-elf SECONDS="600" TARGET="elf": build
    @qemu/fuzz-elf.sh {{SECONDS}} {{TARGET}}

# N syscalls (default 10,000,000) from one hostile worker per core (SMP, default 4), seeded (SEED,
# default 1), in chunks of 1,000,000 each ending with the kernel's self-check. Progress every 10 s.
# The guest syscall fuzzer, long: N calls (default 10^7) on SMP cores, then the kernel self-check.
fuzz-kernel N="10000000" SEED="1" SMP="4": build
    @qemu/fuzz-kernel.sh {{N}} {{SEED}} {{SMP}}

# Writes the caught/missed/unviable/timeout counts to target/mutants/summary.txt; the missed
# mutants that cannot be caught are explained in qemu/mutants/explained.txt (checked by the script).
# Mutation testing (cargo-mutants) of kernel/logic, user/modfmt, user/unload: >= 90% caught.
mutants *ARGS:
    @qemu/mutants.sh {{ARGS}}

# A benchmark, not a test (see README "Measured"): every figure under `-icount shift=0`, 4 cores,
# the sync and unmap on 1..64 cores, boot x5; writes target/bench/results.json, table.md, *.svg
# (`just bench --help`; `just bench --report-only` re-reports, e.g. after `just bench-peer`).
bench *ARGS: build
    @cargo build -q -p harness -p bench
    @target/debug/bench {{ARGS}}

# Linux measured the same way: a pinned Debian arm64 kernel in our QEMU, the same figures (qemu/peer/README.md).
bench-peer *ARGS:
    @qemu/peer/bench.sh {{ARGS}}

# Not part of `just test`: the test-only feature `skip-sync` leaves the other cores out of the
# cross-core sync.
# Demonstration: a kernel without the cross-core sync, and the stale-access probe catching it.
demo-skip-sync: build
    cargo build --release -p kernel --target {{kernel_target}} --features skip-sync --target-dir target/skip-sync
    @cargo build -q -p harness
    @target/debug/harness --kernel target/skip-sync/{{kernel_target}}/release/kernel qemu/demo

# The long stresses kept out of `just test` (qemu/long: the 1000-cycle unload race stress on 8 cores).
stress-long: build
    @cargo build -q -p harness
    @target/debug/harness qemu/long

# Boot, the stale-access probe and the 300-cycle race stress on 16 and 64 cores (`just many-cores 64`: one count); long under TCG.
many-cores SMP="16,64": build
    @cargo build -q -p harness
    @target/debug/harness --matrix-smp {{SMP}} qemu/smp/many-cores.scn

# Sweeps SCENARIO's interleaving under -icount shift=N,sleep=off (SEEDS: a count or a list, SHIFTS default
# 0..7), stops at the first failing run and prints the command that replays it. KERNEL=PATH for another kernel.
# Races you can replay: sweep a stress scenario's interleavings until one fails.
race SCENARIO="qemu/race/stress-4.scn" SEEDS="4" SHIFTS="0 1 2 3 4 5 6 7": build
    @cargo build -q -p harness
    @qemu/race.sh sweep {{SCENARIO}} "{{SEEDS}}" "{{SHIFTS}}"

# Replays one run of `just race` twice and checks the two serial outputs are byte-identical.
race-replay SCENARIO SEED SHIFT:
    @cargo build -q -p harness
    @qemu/race.sh replay {{SCENARIO}} {{SEED}} {{SHIFT}}

# Demonstration: `just race` on the skip-sync kernel finds the stale access, and its replay shows it again.
demo-race: build
    cargo build --release -p kernel --target {{kernel_target}} --features skip-sync --target-dir target/skip-sync
    @cargo build -q -p harness
    @qemu/demo-race.sh

# Reverse debugging: run SCENARIO (smp: 1) under QEMU's record mode, keeping the log and a snapshot in target/rr.
record SCENARIO="qemu/rr/wild.scn": build
    @cargo build -q -p harness
    @qemu/record.sh record {{SCENARIO}}

# Replays `just record`'s run halted and attaches GDB (ARGS go to gdb): reverse-continue, reverse-step work.
[positional-arguments]
replay *ARGS:
    @qemu/record.sh replay "$@"

# GDB on the running system: attaches to `just qemu GDB=1`, or starts QEMU halted for you.
[positional-arguments]
gdb *ARGS: build
    @qemu/gdb.sh "$@"

# Name the kernel addresses of a panic backtrace: `just symbolize 0xffff0000402... ...`.
symbolize +ADDRS:
    @gdb-multiarch -batch -nx -ex 'file target/{{kernel_target}}/release/kernel' {{ replace_regex(ADDRS, '(\S+)', "-ex 'info symbol $1' -ex 'info line *$1'") }}

# `just test` runs it first.
# Static checks: cargo fmt --check and clippy -D warnings on host and target crates.
lint:
    @qemu/lint.sh
