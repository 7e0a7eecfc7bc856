#!/usr/bin/env bash
# Runs every test program (build/tests/test_*) and every shell test
# (tests/t_*.sh), one line each, then "N passed, N failed". Exit 1 on any failure.
# Run from the repository root; `make test` does that. TESTS="test_a t_b.sh"
# runs only those.
set -u
BUILD=${BUILD:-build}
export PETIT=${PETIT:-$BUILD/petit}
export PETIT_DATA=${PETIT_DATA:-../shared/data/en-fr}
pass=0 fail=0 failed=()
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
for t in "$BUILD"/tests/test_* tests/t_*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t")
    if [ -n "${TESTS:-}" ] && [[ " $TESTS " != *" $name "* ]]; then continue; fi
    start=$(date +%s.%N)
    if [[ $t == *.sh ]]; then bash "$t" >"$log/out" 2>&1; rc=$?; else "$t" >"$log/out" 2>&1; rc=$?; fi
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
    if [ $rc -eq 0 ]; then
        pass=$((pass+1)); printf 'PASS %-28s %6ss\n' "$name" "$secs"
    else
        fail=$((fail+1)); failed+=("$name"); printf 'FAIL %-28s %6ss (exit %d)\n' "$name" "$secs" "$rc"
        sed 's/^/    | /' "$log/out" | tail -40
    fi
done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
