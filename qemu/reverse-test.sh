#!/usr/bin/env bash
# The reverse-debugging test (in `just test`): records qemu/rr/wild.scn on one core, replays it
# under GDB with qemu/gdb/reverse-test.gdb, and checks that GDB went back from crash's fault to
# the store that caused it: reverse-continue on a watchpoint stops in crash::scribble,
# reverse-stepi lands on its `str` with the pointer still 0 (before the store), and reverse-step
# returns to the call in crash::handle. Exit status 0 when all of that holds.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
out=target/rr-test.log
export RR_DIR=target/rr-test   # not target/rr: a developer's own recording stays
qemu/record.sh record qemu/rr/wild.scn > target/rr-record.log 2>&1 || {
    echo "reverse-test FAILED: the recording failed (target/rr-record.log)"; tail -n 20 target/rr-record.log; exit 1; }
GDB_PORT=$((20000 + RANDOM % 20000)) timeout 300 qemu/record.sh replay -batch -x qemu/gdb/reverse-test.gdb > "$out" 2>&1
# One ordered pattern over the transcript; each section may only hold lines of its own (no
# line starting with `== ` in between), so a result cannot be borrowed from a later section.
python3 - "$out" <<'PY' || fail=1
import re, sys
text = open(sys.argv[1]).read()
sec = r"(?:(?!== ).*\n)*?"
steps = [
    ("the fault's address", r"== at-fault\n" + sec + r"\$1 = 0xdead0040\n"),
    ("reverse-continue stops in crash::scribble", r"== reverse-continue\n" + sec + r".*crash::scribble \(value=3735879744\).*\n"),
    ("reverse-stepi lands on the store, the pointer still 0",
     r"== reverse-stepi\n" + sec + r"=> 0x[0-9a-f]+ <[^>]*crash8scribble[^>]*>:\tstr\tx\d+, .*\n\$2 = 0x0\n"),
    ("reverse-step returns to the call", r"== reverse-step\n" + sec + r".*crash::handle .*main\.rs:\d+\n\d+\t *scribble\(0xdead_0040\);\n"),
    ("the script ran to its end", r"== done\n"),
]
at = 0
for what, pattern in steps:
    m = re.compile(pattern).search(text, at)
    if not m:
        print("reverse-test: not found after offset %d: %s" % (at, what))
        sys.exit(1)
    at = m.end()
PY
if grep -qE 'Python Exception|internal-error|Fatal signal|Traceback' "$out"; then
    echo "reverse-test: GDB reported an error:"; grep -E 'Python Exception|internal-error|Fatal signal|Traceback' "$out"; fail=1
fi
if [ $fail = 0 ]; then
    echo "reverse-test ok: from the fault at 0xdead0040 back to the store in crash::scribble (transcript: $out)"
else
    echo "reverse-test FAILED (transcript: $out)"; exit 1
fi
