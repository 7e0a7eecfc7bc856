#!/usr/bin/env bash
# bench/threads.sh: petit translate's default threads on a busy machine and on
# an idle one. Three settings side by side, the same binary:
#   passive   all cores, OMP_WAIT_POLICY=passive: waiting threads sleep
#             (petit's default since it sets the policy itself)
#   spin      all cores, OpenMP's own default wait: spin about 3 ms, then
#             sleep (GOMP_SPINCOUNT=300000; what petit ran with before)
#   1 thread  --threads 1
# Each: wall time of `petit translate` (load included) on the first LINES lines
# of Multi30k test2016, beam 4, median of REPEATS, settings interleaved.
# "loaded" is the machine as it is when the script runs; with --pause PID the
# same is measured again with process PID stopped (SIGSTOP, always resumed
# with SIGCONT, also on exit or Ctrl-C) as the "idle" case.
# Last line: JSON with the medians.
#
# usage: bench/threads.sh [--quick] [-m MODEL] [--lines N] [--repeats N] [--pause PID]
#   --quick   5 lines, 3 repeats
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=5 REPEATS=7 MODEL=models/en-fr.gguf PAUSE=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) LINES=5 REPEATS=3 ;;
    -m) MODEL=$2; shift ;;
    --lines) LINES=$2; shift ;;
    --repeats) REPEATS=$2; shift ;;
    --pause) PAUSE=$2; shift ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/threads.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
P=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
O=bench/out/threads
mkdir -p "$O"
[ -x "$P" ] || make -s petit
head -n "$LINES" "$DATA/test/multi30k-test2016.en" > "$O/src.en"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
isa=$("$P" --version | sed -n 's/^isa: \([^ ]*\).*/\1/p')
cores=$(nproc)
resume() { [ -n "$PAUSE" ] && kill -CONT "$PAUSE" 2>/dev/null || true; }
trap resume EXIT INT TERM

run() { # setting -> seconds
    local t0 t1
    t0=$(date +%s.%N)
    case $1 in
    passive) env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=passive "$P" translate -m "$MODEL" ;;
    spin) OMP_WAIT_POLICY=passive GOMP_SPINCOUNT=300000 "$P" translate -m "$MODEL" ;;
    t1) env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=passive "$P" translate -m "$MODEL" --threads 1 ;;
    esac < "$O/src.en" > "$O/out.$1" 2>/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}'
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END{print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
declare -A M
measure() { # case
    declare -A all=()
    for r in $(seq "$REPEATS"); do
        for s in passive spin t1; do all[$s]="${all[$s]:-} $(run $s)"; done
    done
    for s in passive spin t1; do M[$1.$s]=$(echo "${all[$s]}" | median); done
    M[$1.load]=$(cut -d' ' -f1 /proc/loadavg)
}
measure loaded
if [ -n "$PAUSE" ]; then
    kill -STOP "$PAUSE"
    sleep 1
    measure idle
    kill -CONT "$PAUSE"
fi
cmp -s "$O/out.passive" "$O/out.spin" && cmp -s "$O/out.passive" "$O/out.t1" || echo "note: the outputs differ between settings" >&2

echo "CPU: $cpu ($cores cores), ISA: $isa; model: $MODEL; $LINES lines, beam 4; median of $REPEATS; $(date -u +%Y-%m-%d)"
printf '%-8s %-26s %12s %12s %12s\n' case "load (1 min)" passive spin "1 thread"
for c in loaded idle; do
    [ -n "${M[$c.passive]:-}" ] || continue
    printf '%-8s %-26s %11ss %11ss %11ss\n' "$c" "${M[$c.load]}" "${M[$c.passive]}" "${M[$c.spin]}" "${M[$c.t1]}"
done
j() { [ -n "${M[$1.passive]:-}" ] && printf '"%s": {"load": %s, "passive_s": %s, "spin_s": %s, "threads1_s": %s}' \
        "$1" "${M[$1.load]}" "${M[$1.passive]}" "${M[$1.spin]}" "${M[$1.t1]}"; }
printf '{"bench": "threads", "cores": %s, "lines": %s, "repeats": %s, %s%s}\n' "$cores" "$LINES" "$REPEATS" \
    "$(j loaded)" "$( [ -n "$PAUSE" ] && printf ', %s' "$(j idle)")"
