#!/usr/bin/env bash
# The main job, small: build petit, train a SentencePiece vocabulary and a small
# translation model on Multi30k (English -> French), validate on Multi30k's dev
# set, and draw the loss curves. About 5-10 minutes on 2 cores.
# Outputs go to runs/demo/ (git-ignored). Usage: bash recipe/demo.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${PETIT_DATA:-../shared/data/en-fr}
OUT=runs/demo
STEPS=${1:-600}
make -s petit
mkdir -p "$OUT"
if [ ! -f "$OUT/vocab.model" ]; then
    ./petit vocab -i "$DATA/train/multi30k.en" -i "$DATA/train/multi30k.fr" -o "$OUT/vocab" --size 4000
fi
./petit train --src "$DATA/train/multi30k.en" --tgt "$DATA/train/multi30k.fr" \
    --dev-src "$DATA/dev/multi30k-val.en" --dev-tgt "$DATA/dev/multi30k-val.fr" \
    --vocab "$OUT/vocab.model" -o "$OUT/model.gguf" --metrics "$OUT/metrics.jsonl" \
    --d-model 128 --heads 4 --ff 512 --enc-layers 3 --dec-layers 3 \
    --batch-tokens 3000 --lr 2e-3 --warmup 200 --max-steps "$STEPS" --valid-every 100 \
    --log-every 20 --save-every 200
./petit plot "$OUT/metrics.jsonl" -o "$OUT/curve.svg"
./petit info "$OUT/model.gguf" | tail -3
echo "model: $OUT/model.gguf   curves: $OUT/curve.svg   metrics: $OUT/metrics.jsonl"
