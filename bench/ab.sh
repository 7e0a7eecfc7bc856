#!/usr/bin/env bash
# bench/ab.sh: two petit builds side by side in one run (a change's speed cost): translation
# and training with build A and build B, alternating A,B then B,A round by round, medians.
#
# Translation: MODEL (default: the teacher snapshot of the long run if present, else the
# bundled model) on the first LINES (500) lines of Multi30k test2016, at batch 32 beam 4 and at
# batch 1 greedy (the latency case), 2 threads; words out per second of the whole process
# (loading included: it is part of what a change can cost), and whether A and B wrote the
# same bytes. Training: STEPS timed steps after 1 warm-up of the D=256 6+6 model on Multi30k,
# tokens/s from petit train's metrics (as bench/train.sh measures petit).
#
# usage: bench/ab.sh A_BINARY B_BINARY [--quick] [--rounds N] [-m MODEL] [--lines N]
#   --quick   1 round, 200 lines, 3 training steps
# Output: a table, and as the last line one JSON object with B/A ratios.
# Work files: bench/out/ab/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
A=$1 B=$2; shift 2
ROUNDS=3 LINES=500 STEPS=8 MODEL=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) ROUNDS=1 LINES=200 STEPS=3 ;;
    --rounds) ROUNDS=$2; shift ;;
    --lines) LINES=$2; shift ;;
    -m | --model) MODEL=$2; shift ;;
    *) echo "ab.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done
DATA=${PETIT_DATA:-../shared/data/en-fr}
OUT=bench/out/ab
mkdir -p "$OUT"
die() { echo "ab.sh: $*" >&2; exit 1; }
for x in "$A" "$B"; do [ -x "$x" ] || die "$x: not an executable"; done
if [ -z "$MODEL" ]; then
    MODEL=models/en-fr.gguf
    snap=$(ls "${PETIT_RUNS:-$HOME/petit-runs}"/teacher/model.step*.gguf 2>/dev/null | tail -1 || true)
    [ -n "$snap" ] && MODEL=$snap
fi
[ -r "$MODEL" ] || die "$MODEL: cannot read"
head -n "$LINES" "$DATA/test/multi30k-test2016.en" > "$OUT/in.en"
words_in=$(wc -w < "$OUT/in.en")
export OMP_WAIT_POLICY=passive

now() { date +%s.%N; }
# translate BIN TAG BEAM BATCH: prints words/s
tr_run() {
    local bin=$1 tag=$2 beam=$3 batch=$4 t0 t1
    t0=$(now)
    "$bin" translate -m "$MODEL" --threads 2 --beam "$beam" --batch "$batch" < "$OUT/in.en" > "$OUT/$tag.out" 2> "$OUT/$tag.err" ||
        die "$bin translate failed: $(tail -1 "$OUT/$tag.err")"
    t1=$(now)
    awk -v a="$t0" -v b="$t1" -v w="$(wc -w < "$OUT/$tag.out")" 'BEGIN {printf "%.1f\n", w / (b - a)}'
}
# train BIN TAG: prints tok/s over the timed steps
train_run() {
    local bin=$1 tag=$2 m=$OUT/$2.jsonl
    rm -f "$m"
    "$bin" train --src "$DATA/train/multi30k.en" --tgt "$DATA/train/multi30k.fr" --vocab "$VOCAB" -o "$OUT/$tag.gguf" \
        --d-model 256 --heads 4 --ff 1024 --enc-layers 6 --dec-layers 6 --batch-tokens 5000 --threads 2 \
        --max-steps $((STEPS + 1)) --metrics "$m" --log-every 1 --seed 1 > "$OUT/$tag.log" 2>&1 ||
        die "$bin train failed: see $OUT/$tag.log"
    awk '
        function num(key,   i, s) {
            i = index($0, "\"" key "\":"); if (!i) return "";
            s = substr($0, i + length(key) + 3); sub(/[,}].*/, "", s); return s + 0 }
        { step = num("step"); el = num("elapsed"); dt = el - prev; prev = el
          if (step > 1) { secs += dt; tok += num("tok_s") * dt; n++ } }
        END { if (n == 0 || secs <= 0) exit 1; printf "%.1f\n", tok / secs }' "$m" || die "no timed steps in $m"
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

VOCAB=$OUT/vocab.model
if [ ! -s "$VOCAB" ]; then
    "$A" vocab -i "$DATA/train/multi30k.en" -i "$DATA/train/multi30k.fr" -o "${VOCAB%.model}" --size 8000 > "$OUT/vocab.log" 2>&1 ||
        die "petit vocab failed: see $OUT/vocab.log"
fi

echo "A = $A, B = $B; model $MODEL; $LINES lines ($words_in words); $ROUNDS round(s); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); isa $("$A" --version | awk '/^isa:/ {print $2}'); load $(cut -d' ' -f1 /proc/loadavg)" >&2
declare -A R
same_b4=1 same_g1=1
for r in $(seq 1 "$ROUNDS"); do
    order="A B"; [ $((r % 2)) -eq 0 ] && order="B A"
    for who in $order; do
        bin=$A; [ $who = B ] && bin=$B
        R[$who,b4]+="$(tr_run "$bin" "$who.b4" 4 32) "
        R[$who,g1]+="$(tr_run "$bin" "$who.g1" 1 1) "
        R[$who,tr]+="$(train_run "$bin" "$who.train") "
        echo "  round $r $who: b32 beam4 $(echo ${R[$who,b4]} | awk '{print $NF}') w/s, b1 greedy $(echo ${R[$who,g1]} | awk '{print $NF}') w/s, train $(echo ${R[$who,tr]} | awk '{print $NF}') tok/s" >&2
    done
    cmp -s "$OUT/A.b4.out" "$OUT/B.b4.out" || same_b4=0
    cmp -s "$OUT/A.g1.out" "$OUT/B.g1.out" || same_g1=0
done
printf '\n%-28s %12s %12s %8s\n' "setting (median)" "A" "B" "B/A"
json="{"
for k in b4 g1 tr; do
    a=$(median ${R[A,$k]}) b=$(median ${R[B,$k]})
    ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", b / a}')
    case $k in b4) name="translate b32 beam4 (w/s)" ;; g1) name="translate b1 greedy (w/s)" ;; tr) name="train D256 6+6 (tok/s)" ;; esac
    printf '%-28s %12s %12s %8s\n' "$name" "$a" "$b" "$ratio"
    json+="\"${k}_a\": $a, \"${k}_b\": $b, \"${k}_ratio\": $ratio, "
done
echo "same translations: b32 beam4 $([ $same_b4 = 1 ] && echo yes || echo no), b1 greedy $([ $same_g1 = 1 ] && echo yes || echo no)"
echo "${json}\"same_b4\": $same_b4, \"same_g1\": $same_g1, \"rounds\": $ROUNDS, \"lines\": $LINES}"
