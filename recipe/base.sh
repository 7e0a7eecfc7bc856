#!/usr/bin/env bash
# The base model: D=256, 4 heads, FFN 1024, 6+6 layers (13.1M parameters), trained on all
# the shared training data (Multi30k + Tatoeba + Europarl sample, 203k pairs) with an
# 8000-piece joint SentencePiece vocabulary; validated on Multi30k's dev set.
# The benchmarks (bench/translate.sh, ...) use it as their default model.
#
# Slow on a CPU: about 6.5 s a step (6000 tokens) on 2 cores, so 6000 steps are ~11 hours.
# It is resumable: stop it any time (Ctrl-C writes a checkpoint), run it again and it
# continues from runs/base/model.ckpt.gguf bit for bit; runs/base/model.gguf is rewritten
# every 100 steps and at the end. Usage: bash recipe/base.sh [MAX_STEPS (6000) | --prepare]
# --prepare makes only the training text and the vocabulary (other benchmarks use them).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${PETIT_DATA:-../shared/data/en-fr}
OUT=runs/base
STEPS=${1:-6000}
make -s petit
mkdir -p "$OUT"
for l in en fr; do
    [ -f "$OUT/train.$l" ] || cat "$DATA/train/multi30k.$l" "$DATA/train/tatoeba.$l" \
        "$DATA/train/europarl20k.$l" >"$OUT/train.$l"
done
[ -f "$OUT/vocab.model" ] || ./petit vocab -i "$OUT/train.en" -i "$OUT/train.fr" -o "$OUT/vocab" --size 8000
[ "$STEPS" = --prepare ] && exit 0
args=(--src "$OUT/train.en" --tgt "$OUT/train.fr" --dev-src "$DATA/dev/multi30k-val.en"
    --dev-tgt "$DATA/dev/multi30k-val.fr" -o "$OUT/model.gguf" --metrics "$OUT/metrics.jsonl"
    --max-steps "$STEPS" --valid-every 250 --save-every 100 --log-every 10 --threads 2)
export OMP_WAIT_POLICY=passive
if [ -f "$OUT/model.ckpt.gguf" ]; then
    ./petit train --resume "$OUT/model.ckpt.gguf" "${args[@]}"
else
    ./petit train --vocab "$OUT/vocab.model" --d-model 256 --heads 4 --ff 1024 --enc-layers 6 \
        --dec-layers 6 --batch-tokens 6000 --lr 1e-3 --warmup 600 "${args[@]}"
fi
./petit plot "$OUT/metrics.jsonl" -o "$OUT/curve.svg"
