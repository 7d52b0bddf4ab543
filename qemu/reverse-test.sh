#!/usr/bin/env bash
# The reverse-debugging test (in `just test`): records qemu/rr/wild.scn on one core, replays it
# under GDB with qemu/gdb/reverse-test.gdb, and checks that GDB went back from crash's fault to
# the store that caused it: reverse-continue on a watchpoint stops in crash::scribble,
# reverse-stepi lands on its `str` with the pointer still 0 (before the store), and reverse-step
# returns to the call in crash::handle. Exit status 0 when all of that holds.
set -uo pipefail
cd "$(dirname "$0")/.."
out=target/rr-test.log
qemu/record.sh record qemu/rr/wild.scn > target/rr-record.log 2>&1 || {
    echo "reverse-test FAILED: the recording failed (target/rr-record.log)"; tail -n 20 target/rr-record.log; exit 1; }
GDB_PORT=${GDB_PORT:-$((20000 + RANDOM % 20000))} timeout 300 qemu/record.sh replay -batch -x qemu/gdb/reverse-test.gdb > "$out" 2>&1
checks=(
    '== at-fault'$'\n''\$1 = 0xdead0040'
    '== reverse-continue'$'\n''(.*'$'\n'')*crash::scribble \(value=3735879744\)'
    '== reverse-stepi'$'\n''(.*'$'\n'')*=> 0x[0-9a-f]+ <[^>]*crash8scribble[^>]*>:'$'\t''str'$'\t''x[0-9]+, '
    'str[^\n]*'$'\n''\$2 = 0x0'$'\n''== reverse-step'
    '== reverse-step'$'\n''(.*'$'\n'')*crash::handle .*main.rs:[0-9]+'$'\n''[0-9]+'$'\t'' *scribble\(0xdead_0040\);'
    '== done'
)
fail=0
for c in "${checks[@]}"; do
    if ! python3 -c 'import re,sys; sys.exit(0 if re.search(sys.argv[1], open(sys.argv[2]).read()) else 1)' "$c" "$out"; then
        echo "reverse-test: missing in the GDB transcript: $c"; fail=1
    fi
done
if grep -qE 'Python Exception|internal-error|Fatal signal|Traceback' "$out"; then
    echo "reverse-test: GDB reported an error:"; grep -E 'Python Exception|internal-error|Fatal signal|Traceback' "$out"; fail=1
fi
if [ $fail = 0 ]; then
    echo "reverse-test ok: from the fault at 0xdead0040 back to the store in crash::scribble (transcript: $out)"
else
    echo "reverse-test FAILED (transcript: $out)"; exit 1
fi
