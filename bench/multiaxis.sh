#!/usr/bin/env bash
# bench/multiaxis.sh: the dense decoder against the multiaxis one (half the heads local, half
# grid, window W), measured where each might pay.
#
# 1. Ablation: two models of the same size trained on the same data with the same budget
#    (steps, batches, seed), one with each decoder; BLEU (`petit bleu`, beam 4) on Multi30k
#    test2016, Tatoeba test and newstest2014; training tokens/s (median over the logged
#    steps). Target: multiaxis within 0.5 BLEU of dense.
#    default: D=256, 4 heads, FFN 1024, 3+3 layers, on the shared training data (203k pairs,
#             runs/base/'s vocabulary and text, made by recipe/base.sh), 3000 steps of 6000
#             tokens each: hours on 2 cores
#    --quick: D=128, 3+3 layers, on Multi30k, 600 steps of 3000 tokens (the demo's setting,
#             about 10 minutes a model on 2 quiet cores); BLEU on the first 2000 lines of
#             each test set; long outputs up to 1024 tokens, 1 run
# 2. Long outputs: decoding time per token against the output position up to LEN=2048 tokens
#    (bench/multiaxis_steps.c: random weights, since timing does not depend on them, EOS
#    forbidden; the source is the first 30 sentences of newstest2014 as one document,
#    942 tokens), D=256 6+6 layers, greedy, 1 thread, median of 3 runs; the self-attention
#    core's share of each step; an SVG plot. Target: self-attention per step >= 3x cheaper
#    than dense at t = 2048.
# The last line is one JSON object: bleu_dense, bleu_multiaxis (Multi30k test2016),
# attn_speedup_2048, and more.
#
# usage: bench/multiaxis.sh [--quick] [--steps N] [--len N] [--window W] [-m MODEL]
#   --len N    the long output's length (2048; --quick: 1024)
#   -m MODEL   accepted and ignored: the ablation trains its own pair of models
# Environment: PETIT (./petit), PETIT_DATA (../shared/data/en-fr). Work: bench/out/multiaxis/.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0 STEPS="" LEN="" W=16 REPS=3
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --steps) STEPS=$2; shift ;;
    --len) LEN=$2; shift ;;
    --window) W=$2; shift ;;
    -m | --model) echo "multiaxis.sh: -m $2 ignored: the ablation trains its own models" >&2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "multiaxis.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
PETIT=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
OUT=bench/out/multiaxis
die() { echo "multiaxis.sh: $*" >&2; exit 1; }
make -s petit build/bench/multiaxis_steps || die "build failed"
mkdir -p "$OUT"
export OMP_WAIT_POLICY=passive

if [ $QUICK = 1 ]; then
    STEPS=${STEPS:-600}
    SRC=$DATA/train/multi30k.en TGT=$DATA/train/multi30k.fr
    [ -f "$OUT/vocab4k.model" ] || "$PETIT" vocab -i "$SRC" -i "$TGT" -o "$OUT/vocab4k" --size 4000 >/dev/null
    VOCAB=$OUT/vocab4k.model
    MODEL_ARGS=(--d-model 128 --heads 4 --ff 512 --enc-layers 3 --dec-layers 3 --batch-tokens 3000
        --lr 2e-3 --warmup 200)
    TAG=quick-$STEPS
else
    STEPS=${STEPS:-3000}
    [ -f runs/base/vocab.model ] && [ -f runs/base/train.en ] || bash recipe/base.sh --prepare ||
        die "recipe/base.sh failed to make runs/base/ (vocabulary and text)"
    SRC=runs/base/train.en TGT=runs/base/train.fr VOCAB=runs/base/vocab.model
    MODEL_ARGS=(--d-model 256 --heads 4 --ff 1024 --enc-layers 3 --dec-layers 3 --batch-tokens 6000
        --lr 1e-3 --warmup 600)
    TAG=full-$STEPS
fi

# 1. ablation: train (resumable: an interrupted run continues from its checkpoint)
for kind in dense multiaxis; do
    m=$OUT/$kind-$TAG.gguf
    if [ -f "$m.done" ]; then echo "multiaxis.sh: $m exists (trained)" >&2; continue; fi
    extra=(--dec-attn "$kind"); [ $kind = multiaxis ] && extra+=(--window "$W")
    args=(--src "$SRC" --tgt "$TGT" -o "$m" --metrics "$OUT/$kind-$TAG.jsonl" --max-steps "$STEPS"
        --dev-src "$DATA/dev/multi30k-val.en" --dev-tgt "$DATA/dev/multi30k-val.fr"
        --valid-every 200 --save-every 100 --log-every 10 --threads 2 --quiet)
    echo "multiaxis.sh: training the $kind model ($STEPS steps) ..." >&2
    if [ -f "${m%.gguf}.ckpt.gguf" ]; then
        "$PETIT" train --resume "${m%.gguf}.ckpt.gguf" "${args[@]}"
    else
        rm -f "$OUT/$kind-$TAG.jsonl"
        "$PETIT" train --vocab "$VOCAB" "${MODEL_ARGS[@]}" "${extra[@]}" "${args[@]}"
    fi
    touch "$m.done"
done

# BLEU, beam 4, batch 32, 2 threads (--quick: the first 2000 lines of each set)
declare -A BLEU WPS
LINES=100000000; [ $QUICK = 1 ] && LINES=2000
for set in multi30k-test2016 tatoeba-test newstest2014; do
    head -n $LINES "$DATA/test/$set.en" >"$OUT/$set.en"
    head -n $LINES "$DATA/test/$set.fr" >"$OUT/$set.fr"
done
for kind in dense multiaxis; do
    for set in multi30k-test2016 tatoeba-test newstest2014; do
        "$PETIT" translate -m "$OUT/$kind-$TAG.gguf" --beam 4 --batch 32 --threads 2 --verbose \
            <"$OUT/$set.en" >"$OUT/$kind-$TAG.$set.hyp" 2>"$OUT/$kind-$TAG.$set.err"
        # sentence-length outputs: translation speed (words out per second)
        WPS[$kind.$set]=$(sed -n 's/.*: \([0-9]*\) words\/s.*/\1/p' "$OUT/$kind-$TAG.$set.err")
        BLEU[$kind.$set]=$("$PETIT" bleu -m bleu -b "$OUT/$set.fr" <"$OUT/$kind-$TAG.$set.hyp")
    done
done
toks() { # median training tok/s over the logged steps after the first 50
    awk -F'"tok_s":' 'NF > 1 { split($2, a, ","); s = $0; sub(/.*"step":/, "", s); sub(/,.*/, "", s);
        if (s + 0 > 50) print a[1] }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'
}
devl() { grep -o '"dev_loss":[0-9.]*' "$1" | tail -1 | cut -d: -f2; }

# 2. long outputs
head -30 "$DATA/test/newstest2014.en" | tr '\n' ' ' | "$PETIT" encode -m "$VOCAB" --ids >"$OUT/doc.ids"
[ $QUICK = 1 ] && { LEN=${LEN:-1024}; REPS=1; }
LEN=${LEN:-2048}
./build/bench/multiaxis_steps --len "$LEN" --window "$W" --reps "$REPS" --threads 1 \
    --src-ids "$OUT/doc.ids" --svg "$OUT/steps-$LEN.svg" | tee "$OUT/steps-$LEN.txt"

echo
echo "ablation ($TAG): ${MODEL_ARGS[*]}; multiaxis W=$W, half the heads local, half grid"
echo "BLEU: beam 4, batch 32; translate words/s: the same runs (2 threads), sentence-length outputs"
printf '%-10s %10s %10s %10s %12s %9s %12s %12s\n' decoder m30k-2016 tatoeba news2014 "train tok/s" "dev loss" \
    "m30k words/s" "tato words/s"
for kind in dense multiaxis; do
    printf '%-10s %10s %10s %10s %12s %9s %12s %12s\n' $kind "${BLEU[$kind.multi30k-test2016]}" "${BLEU[$kind.tatoeba-test]}" \
        "${BLEU[$kind.newstest2014]}" "$(toks "$OUT/$kind-$TAG.jsonl")" "$(devl "$OUT/$kind-$TAG.jsonl")" \
        "${WPS[$kind.multi30k-test2016]}" "${WPS[$kind.tatoeba-test]}"
done
echo "plot: $OUT/steps-$LEN.svg"
J=$(tail -n 1 "$OUT/steps-$LEN.txt")
printf '{"setting": "%s", "bleu_dense": %s, "bleu_multiaxis": %s, "bleu_tatoeba_dense": %s, "bleu_tatoeba_multiaxis": %s, "bleu_news_dense": %s, "bleu_news_multiaxis": %s, "train_tok_s_dense": %s, "train_tok_s_multiaxis": %s, "translate_wps_m30k_dense": %s, "translate_wps_m30k_multiaxis": %s, %s\n' \
    "$TAG" "${BLEU[dense.multi30k-test2016]}" "${BLEU[multiaxis.multi30k-test2016]}" \
    "${BLEU[dense.tatoeba-test]}" "${BLEU[multiaxis.tatoeba-test]}" "${BLEU[dense.newstest2014]}" \
    "${BLEU[multiaxis.newstest2014]}" "$(toks "$OUT/dense-$TAG.jsonl")" "$(toks "$OUT/multiaxis-$TAG.jsonl")" \
    "${WPS[dense.multi30k-test2016]}" "${WPS[multiaxis.multi30k-test2016]}" "${J#\{}"
