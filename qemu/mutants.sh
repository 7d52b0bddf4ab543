#!/usr/bin/env bash
# `just mutants [CRATE...] [-- CARGO-MUTANTS-ARGS]`: mutation testing of the host-tested logic
# with cargo-mutants (installed here if missing): kernel/logic (klogic), user/modfmt (modfmt)
# and user/unload (unload) by default. The loom models are not run (they build only under
# --cfg loom); the plain host tests of each crate must catch the mutants.
#
# Writes target/mutants/CRATE/mutants.out (cargo-mutants' own output: caught.txt, missed.txt,
# unviable.txt, timeout.txt) and target/mutants/summary.txt: per crate and in all, the
# caught/missed/unviable/timeout counts, the share of viable mutants caught, and every missed
# mutant that qemu/mutants/explained.txt does not explain (one line per explained mutant:
# `FILE:LINE: MUTATION  # why it cannot or need not be caught`). Exits non-zero if any missed
# mutant is unexplained or if fewer than 90% of the viable ones were caught.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

crates=() extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) crates+=("$1"); shift ;;
    esac
done
[ ${#crates[@]} -gt 0 ] || crates=(klogic modfmt unload)

if ! command -v cargo-mutants >/dev/null; then
    echo "mutants: installing cargo-mutants (cargo install --locked cargo-mutants)"
    cargo install --locked cargo-mutants || exit 1
fi

explained=qemu/mutants/explained.txt
out=target/mutants
mkdir -p "$out"
summary=$out/summary.txt
: > "$summary.tmp"
total_caught=0 total_missed=0 total_unviable=0 total_timeout=0 unexplained=0
count() { local n; n=$(grep -c . "$1" 2>/dev/null); echo "${n:-0}"; }
for crate in "${crates[@]}"; do
    echo "mutants: $crate ($(cargo mutants --list -p "$crate" 2>/dev/null | wc -l) mutants; progress below)"
    rm -rf "${out:?}/$crate" # never count an earlier run's results
    cargo mutants -p "$crate" --no-shuffle -o "$out/$crate" "${extra[@]}"
    st=$?
    # cargo-mutants: 0 all caught, 2 some missed, 3 some timed out; anything else is a failure
    # of the run itself (the tree does not build, the baseline tests fail, bad arguments).
    case "$st" in 0|2|3) ;; *) echo "mutants: cargo mutants failed on $crate (exit status $st)"; exit 1 ;; esac
    dir=$out/$crate/mutants.out
    c=$(count "$dir/caught.txt") m=$(count "$dir/missed.txt") u=$(count "$dir/unviable.txt") t=$(count "$dir/timeout.txt")
    total_caught=$((total_caught + c)) total_missed=$((total_missed + m))
    total_unviable=$((total_unviable + u)) total_timeout=$((total_timeout + t))
    echo "$crate: caught $c, missed $m, unviable $u, timeout $t" >> "$summary.tmp"
    if [ -f "$dir/missed.txt" ]; then
        while IFS= read -r mutant; do
            # cargo-mutants writes FILE:LINE:COL: MUTATION; the list keys on FILE:LINE: MUTATION.
            key=$(sed -E 's/^([^:]+:[0-9]+):[0-9]+: /\1: /' <<<"$mutant")
            if ! grep -qF -- "$key  #" "$explained" 2>/dev/null; then
                echo "  unexplained missed mutant: $key" >> "$summary.tmp"
                unexplained=$((unexplained + 1))
            fi
        done < "$dir/missed.txt"
    fi
done
viable=$((total_caught + total_missed + total_timeout))
pct=$(awk -v c="$total_caught" -v t="$total_timeout" -v v="$viable" 'BEGIN { printf "%.1f", v ? 100 * (c + t) / v : 100 }')
{
    echo "mutants of ${crates[*]} at $(git rev-parse --short HEAD 2>/dev/null):"
    cat "$summary.tmp"
    echo "all: caught $total_caught, missed $total_missed, unviable $total_unviable, timeout $total_timeout;" \
        "$pct% of the viable mutants caught (a timeout counts as caught); $unexplained missed unexplained"
} > "$summary"
rm -f "$summary.tmp"
cat "$summary"
awk -v p="$pct" 'BEGIN { exit !(p >= 90) }' && [ "$unexplained" = 0 ]
