#!/usr/bin/env bash
# bench/shortlist.sh: the lexical shortlist's speed gain and BLEU cost, side by side in one
# run with the same model file (--shortlist on vs off).
#
# It learns the shortlist (petit shortlist, IBM model 1) from the shared training text
# (Multi30k, Tatoeba, Europarl 20k, WMT news: 215k pairs; never a test set) for MODEL
# (default: the bundled model), then
#   speed: the first LINES (1000) lines of Multi30k test2016 at batch 32 beam 4, and the
#          first 300 at batch 1 greedy (the latency case), 2 threads, on and off
#          alternating round by round (on,off then off,on), medians of ROUNDS (3): words
#          out per second of the whole process (loading included)
#   BLEU:  on and off, beam 4, on the full Multi30k test2016 and the Tatoeba test (12,681
#          lines; --quick: its first 2,000)
#
# usage: bench/shortlist.sh [-m MODEL] [--quick] [--rounds N] [--top K] [--frequent N] [--pause PID]
#   --quick   1 round, 300 lines, Tatoeba's first 2,000 lines
#   --pause PID  stop process PID (SIGSTOP) while measuring, continue it after (a training
#             job sharing the cores would otherwise decide the timings)
# Output: a table, and as the last line one JSON object. Work files: bench/out/shortlist/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=3 LINES=1000 TATO=0 MODEL=models/en-fr.gguf TOP=50 FREQ=100 PAUSE=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) ROUNDS=1 LINES=300 TATO=2000 ;;
    --rounds) ROUNDS=$2; shift ;;
    --top) TOP=$2; shift ;;
    --frequent) FREQ=$2; shift ;;
    --pause) PAUSE=$2; shift ;;
    -m | --model) MODEL=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "shortlist.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done
DATA=${PETIT_DATA:-../shared/data/en-fr}
OUT=bench/out/shortlist
mkdir -p "$OUT"
make -s petit >&2
P=./petit
[ -r "$MODEL" ] || { echo "shortlist.sh: $MODEL: cannot read" >&2; exit 1; }
export OMP_WAIT_POLICY=passive
if [ -n "$PAUSE" ]; then
    kill -STOP "$PAUSE" || exit 1
    trap 'kill -CONT "$PAUSE"' EXIT
fi
for l in en fr; do
    cat "$DATA"/train/{multi30k,tatoeba,europarl20k,news-tests}.$l > "$OUT/train.$l"
done
SL=$OUT/model-sl.gguf
t0=$(date +%s.%N)
$P shortlist -q -m "$MODEL" --src "$OUT/train.en" --tgt "$OUT/train.fr" -o "$SL" --top "$TOP" --frequent "$FREQ"
learn_s=$(echo "$(date +%s.%N) - $t0" | bc)
isa=$($P --version | sed -n 's/^isa: \([a-z0-9]*\).*/\1/p')

head -n "$LINES" "$DATA/test/multi30k-test2016.en" > "$OUT/speed.en"
head -n 300 "$DATA/test/multi30k-test2016.en" > "$OUT/lat.en"
# run SETTING(b32|b1) MODE(on|off): prints words out per second
run() {
    local in=$OUT/speed.en args="--beam 4 --batch 32" t0 t1
    [ "$1" = b1 ] && in=$OUT/lat.en args="--beam 1 --batch 1"
    t0=$(date +%s.%N)
    $P translate -m "$SL" --shortlist "$2" $args --threads 2 < "$in" > "$OUT/$1.$2.out"
    t1=$(date +%s.%N)
    echo "$(wc -w < "$OUT/$1.$2.out") / ($t1 - $t0)" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
declare -A S
for r in $(seq "$ROUNDS"); do
    for set in b32 b1; do
        if [ $((r % 2)) = 1 ]; then order="on off"; else order="off on"; fi
        for mode in $order; do S[$set.$mode]+="$(run $set $mode) "; done
    done
    echo "round $r: b32 on ${S[b32.on]##* }... done" >&2
done
med() { echo "${S[$1]}" | tr ' ' '\n' | grep . | median; }

bleu() { # MODE TESTNAME LINES(0 = all): prints BLEU
    local src=$DATA/test/$2.en ref=$DATA/test/$2.fr
    if [ "$3" != 0 ]; then head -n "$3" "$src" > "$OUT/b.en"; head -n "$3" "$ref" > "$OUT/b.fr"; src=$OUT/b.en ref=$OUT/b.fr; fi
    $P translate -m "$SL" --shortlist "$1" --beam 4 --batch 32 < "$src" > "$OUT/bleu.$1.$2.out"
    $P bleu "$ref" < "$OUT/bleu.$1.$2.out" | head -1 | awk '{print $3}'
}
declare -A B
for t in multi30k-test2016 tatoeba-test; do
    n=0; [ $t = tatoeba-test ] && n=$TATO
    for mode in off on; do B[$t.$mode]=$(bleu $mode $t $n); done
done

load=$(cut -d' ' -f1 /proc/loadavg)
printf '\n%s, ISA %s, load %s%s, %s rounds, shortlist top %s frequent %s (learned in %.1f s)\n' "$MODEL" "$isa" "$load" "${PAUSE:+ (pid $PAUSE paused)}" "$ROUNDS" "$TOP" "$FREQ" "$learn_s"
printf '%-28s %12s %12s %8s\n' setting "off (w/s)" "on (w/s)" "on/off"
for set in b32 b1; do
    name="batch 32 beam 4, $LINES lines"; [ $set = b1 ] && name="batch 1 greedy, 300 lines"
    printf '%-28s %12.0f %12.0f %8.2f\n' "$name" "$(med $set.off)" "$(med $set.on)" "$(echo "$(med $set.on) / $(med $set.off)" | bc -l)"
done
printf '%-28s %12s %12s %8s\n' "BLEU" off on "on-off"
for t in multi30k-test2016 tatoeba-test; do
    printf '%-28s %12s %12s %8.2f\n' "$t" "${B[$t.off]}" "${B[$t.on]}" "$(echo "${B[$t.on]} - ${B[$t.off]}" | bc -l)"
done
printf '{"isa": "%s", "top": %s, "frequent": %s, "b32_speedup": %.3f, "b1_speedup": %.3f, "bleu_m30k_off": %s, "bleu_m30k_on": %s, "bleu_tatoeba_off": %s, "bleu_tatoeba_on": %s}\n' \
    "$isa" "$TOP" "$FREQ" "$(echo "$(med b32.on) / $(med b32.off)" | bc -l)" "$(echo "$(med b1.on) / $(med b1.off)" | bc -l)" \
    "${B[multi30k-test2016.off]}" "${B[multi30k-test2016.on]}" "${B[tatoeba-test.off]}" "${B[tatoeba-test.on]}"
