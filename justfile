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

# Build the user programs, the modules and their boot archive (EXTRA_MODULES=DIR adds the
# files in DIR), and the kernel that embeds the root task and the archive.
build *ARGS: setup
    cargo build --release -p module-server --target {{user_target}}
    @qemu/pack.sh {{ARGS}}
    cargo build --release -p kernel --target {{kernel_target}}

# Build everything and boot to the serial console (SMP=4 MEM=512M APPEND=... EL2=1 GDB=1).
qemu *ARGS: (build ARGS)
    @qemu/run.sh {{ARGS}}

# Lint, host unit tests and loom models, then every serial scenario in QEMU; prints the stage it
# is in and ends with `N passed, N failed` (non-zero exit on any failure).
test: build
    @qemu/test.sh

# The flake finder: every scenario (boot, scenarios, unload) N times, pass by pass, then a table
# of how many of the N runs of each passed (failing runs' logs under target/harness-logs).
# FILTER keeps scenarios whose name contains it, e.g. `just test-repeat 10 race-4`.
test-repeat N FILTER="": build
    @cargo build -q -p harness
    @target/debug/harness --repeat {{N}} {{ if FILTER == "" { "" } else { "--filter " + FILTER } }} qemu/scenarios/boot qemu/scenarios qemu/unload

# The guest syscall fuzzer for long: N syscalls (default 10,000,000) from one hostile worker per
# core (SMP cores, default 4), seeded (default 1), then the kernel's self-check. Progress every 10 s.
fuzz-kernel N="10000000" SEED="1" SMP="4": build
    @qemu/fuzz-kernel.sh {{N}} {{SEED}} {{SMP}}

# Mutation testing (cargo-mutants) of the host-tested logic: kernel/logic, user/modfmt,
# user/unload. Writes the caught/missed/unviable/timeout counts to target/mutants/summary.txt;
# missed mutants that are explained are listed in .cargo/mutants-explained.txt.
mutants *ARGS:
    @qemu/mutants.sh {{ARGS}}

# Cost figures under `-icount shift=0` (guest instructions): null syscall, call+reply round trip.
# A benchmark, not a test: it reports numbers (see README "Measured").
bench: build
    @cargo build -q -p harness
    @target/debug/harness -v qemu/bench | sed -n 's/^[^|]*| \(bench: .*\)/\1/p'

# Demonstration (not part of `just test`): build the kernel with the test-only feature
# `skip-sync` (other cores are left out of the cross-core sync) and show that the stale-access
# probe catches it.
demo-skip-sync: build
    cargo build --release -p kernel --target {{kernel_target}} --features skip-sync --target-dir target/skip-sync
    @cargo build -q -p harness
    @target/debug/harness --kernel target/skip-sync/{{kernel_target}}/release/kernel qemu/demo

# GDB on the running system: attaches to `just qemu GDB=1`, or starts QEMU halted for you.
gdb *ARGS: build
    @qemu/gdb.sh {{ARGS}}

# Name the kernel addresses of a panic backtrace: `just symbolize 0xffff0000402... ...`.
symbolize +ADDRS:
    @gdb-multiarch -batch -nx -ex 'file target/{{kernel_target}}/release/kernel' {{ replace_regex(ADDRS, '(\S+)', "-ex 'info symbol $1' -ex 'info line *$1'") }}

# Static checks: formatting and clippy (-D warnings) on host and target crates (`just test` runs
# it first).
lint:
    @qemu/lint.sh
