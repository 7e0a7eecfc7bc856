#!/usr/bin/env bash
# The full English->French recipe, from the text in ../shared/data/en-fr to the bundled
# model: vocabulary -> teacher -> (distilled corpus) -> student -> q8 / 4-bit QAT -> ECQ pack.
#
# Every stage is resumable: stop the script any time (Ctrl-C writes a checkpoint) and run
# it again; finished stages are skipped, a stopped training continues bit for bit from its
# checkpoint. Each stage's wall time goes to runs/en-fr/times.tsv.
#
#   teacher    recipe/base.sh: D=256, 6+6 dense layers, 13.1M parameters (runs/base/)
#   corpus     SEQ_KD=1: the teacher translates the training sources (beam KD_BEAM) and
#              the student learns from those translations (sequence-level distillation);
#              SEQ_KD=mix: the translations and the references together; 0: references
#   student    petit distill: 6 encoder layers + 2 multiaxis decoder layers, started from
#              the teacher's layers (encoder and embeddings as is, decoder layers 2 and 5),
#              word-level KD (alpha 0.5, top-8) from the teacher beside it
#   baseline   BASELINE=1: the same student, same start and steps, references only
#              (what distillation buys)
#   q8         petit quantize --type q8 (post-training)
#   q4         petit distill --qat q4: 4-bit quantization-aware, still distilled
#   packed     petit distill --ecq LAMBDA --ecq-bits 4: trained through the entropy-
#              constrained 4-bit grid (the 4-bit QAT of this recipe), written rANS-coded
#   shortlist  the lexical shortlist (petit shortlist) added to the packed student
#   bundle     BUNDLE=1: the packed student with its shortlist becomes models/en-fr.gguf
#
# Usage: bash recipe/en-fr.sh            (all stages; knobs below as VAR=value before it)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${PETIT_DATA:-../shared/data/en-fr}
OUT=${OUT:-runs/en-fr}
# The defaults are the settings of the bundled model (models/en-fr.gguf), chosen to fit a
# few hours of 2 cores; every model here is undertrained, and more steps help each stage.
TEACHER_STEPS=${TEACHER_STEPS:-782}
SEQ_KD=${SEQ_KD:-0}
KD_BEAM=${KD_BEAM:-5}
STUDENT_STEPS=${STUDENT_STEPS:-300}
BASELINE=${BASELINE:-0}
QAT_STEPS=${QAT_STEPS:-40}
ECQ_STEPS=${ECQ_STEPS:-40}
LAMBDA=${LAMBDA:-0.1}
THREADS=${THREADS:-2}
BUNDLE=${BUNDLE:-0}
TEACHER=${TEACHER:-}   # an existing teacher model: skips training one
LINES=${LINES:-0}      # > 0: only the first LINES training pairs (a smoke test of the stages)
P=./petit
make -s petit
mkdir -p "$OUT"
export OMP_WAIT_POLICY=passive

timed() { # timed NAME CMD...: run, append the wall time to times.tsv
    local name=$1 t0; shift
    t0=$(date +%s)
    "$@"
    printf '%s\t%d\t%s\n' "$name" $(($(date +%s) - t0)) "$(date -u +%FT%TZ)" >>"$OUT/times.tsv"
}
# train_stage NAME OUTPUT CMD ARGS...: a training run that resumes from OUTPUT's checkpoint
train_stage() {
    local name=$1 out=$2 cmd=$3; shift 3
    local ck=${out%.gguf}.ckpt.gguf
    if [ -f "$OUT/.done-$name" ]; then echo "== $name: done ($out)"; return; fi
    echo "== $name"
    local keep=() a skip=0
    if [ -f "$ck" ]; then # a resumed run takes its settings from the checkpoint
        for a in "$@"; do
            if [ $skip -gt 0 ]; then skip=$((skip - 1)); continue; fi
            case $a in
            --init | --vocab | --d-model | --heads | --ff | --enc-layers | --dec-layers | --dec-attn | --qat | \
                --ecq | --ecq-bits | --alpha | --tau | --topk | --lr | --warmup | --batch-tokens) skip=1 ;;
            --init-from-teacher) ;;
            *) keep+=("$a") ;;
            esac
        done
        timed "$name" $P $cmd --resume "$ck" "${keep[@]}" -o "$out"
    else
        timed "$name" $P $cmd "$@" -o "$out"
    fi
    touch "$OUT/.done-$name"
}

# 1-2. text, vocabulary and the teacher (runs/base/, shared with the benchmarks)
bash recipe/base.sh --prepare
if [ ! -f "$OUT/.done-teacher" ]; then
    if [ -n "$TEACHER" ]; then
        cp "$TEACHER" "$OUT/teacher.gguf"
    else
        echo "== teacher ($TEACHER_STEPS steps; runs/base/)"
        timed teacher bash recipe/base.sh "$TEACHER_STEPS"
        cp runs/base/model.gguf "$OUT/teacher.gguf"
    fi
    touch "$OUT/.done-teacher"
fi
T=$OUT/teacher.gguf
SRC=runs/base/train.en
TGT=runs/base/train.fr
if [ "$LINES" -gt 0 ]; then
    head -n "$LINES" "$SRC" >"$OUT/train.en"; head -n "$LINES" "$TGT" >"$OUT/train.fr"
    SRC=$OUT/train.en TGT=$OUT/train.fr
fi

# 3. sequence-level distillation: the teacher's translations of the training sources,
# 5000 lines a chunk so that a stopped run loses at most one chunk
if [ "$SEQ_KD" != 0 ]; then
    if [ ! -f "$OUT/.done-corpus" ]; then
        echo "== corpus: the teacher translates $(wc -l <"$SRC") sources, beam $KD_BEAM"
        mkdir -p "$OUT/kd"
        split -l 5000 -d -a 3 "$SRC" "$OUT/kd/src."
        t0=$(date +%s)
        for f in "$OUT"/kd/src.*; do
            o=${f/src./hyp.}
            [ -f "$o" ] && continue
            $P translate -m "$T" --beam "$KD_BEAM" --batch 32 --threads "$THREADS" <"$f" >"$o.tmp"
            mv "$o.tmp" "$o"
        done
        cat "$OUT"/kd/hyp.* >"$OUT/train.kd.fr"
        printf 'corpus\t%d\t%s\n' $(($(date +%s) - t0)) "$(date -u +%FT%TZ)" >>"$OUT/times.tsv"
        touch "$OUT/.done-corpus"
    fi
    if [ "$SEQ_KD" = mix ]; then
        [ -f "$OUT/train.mix.en" ] || { cat "$SRC" "$SRC" >"$OUT/train.mix.en"; cat "$TGT" "$OUT/train.kd.fr" >"$OUT/train.mix.fr"; }
        SRC=$OUT/train.mix.en TGT=$OUT/train.mix.fr
    else
        TGT=$OUT/train.kd.fr
    fi
fi

COMMON=(--src "$SRC" --tgt "$TGT" --dev-src "$DATA/dev/multi30k-val.en" --dev-tgt "$DATA/dev/multi30k-val.fr"
        --threads "$THREADS" --log-every 10 --save-every 50 --valid-every 100)
STUDENT=(--init-from-teacher --enc-layers 6 --dec-layers 2 --dec-attn multiaxis --batch-tokens 6000
         --lr 5e-4 --warmup 100 --max-steps "$STUDENT_STEPS")

# 4. the student, distilled word by word from the teacher
train_stage student "$OUT/student.gguf" distill --teacher "$T" "${STUDENT[@]}" --alpha 0.5 --topk 8 \
    "${COMMON[@]}" --metrics "$OUT/student.jsonl"
# 5. the same student from references only (the teacher gives its start, nothing else)
if [ "$BASELINE" = 1 ]; then
    train_stage baseline "$OUT/baseline.gguf" distill --teacher "$T" "${STUDENT[@]}" --alpha 0 \
        "${COMMON[@]}" --metrics "$OUT/baseline.jsonl"
fi
# 6. integer students
if [ ! -f "$OUT/.done-q8" ]; then
    timed q8 $P quantize -m "$OUT/student.gguf" -o "$OUT/student-q8.gguf" --type q8
    touch "$OUT/.done-q8"
fi
FT=(--lr 1e-4 --warmup 10 --batch-tokens 6000)
train_stage q4 "$OUT/student-q4.gguf" distill --teacher "$T" --init "$OUT/student.gguf" --qat q4 "${FT[@]}" \
    --alpha 0.5 --topk 8 "${COMMON[@]}" --max-steps "$QAT_STEPS" --metrics "$OUT/q4.jsonl"
train_stage packed "$OUT/student-packed.gguf" distill --teacher "$T" --init "$OUT/student.gguf" --ecq "$LAMBDA" \
    --ecq-bits 4 "${FT[@]}" --alpha 0.5 --topk 8 "${COMMON[@]}" --max-steps "$ECQ_STEPS" \
    --metrics "$OUT/packed.jsonl"
# 7. the lexical shortlist (IBM model 1 over the training text; seconds)
if [ ! -f "$OUT/.done-shortlist" ]; then
    timed shortlist $P shortlist -m "$OUT/student-packed.gguf" --src "$SRC" --tgt "$TGT" \
        -o "$OUT/student-packed-sl.gguf" --top 50 --frequent 100
    touch "$OUT/.done-shortlist"
fi
if [ "$BUNDLE" = 1 ]; then
    mkdir -p models
    cp "$OUT/student-packed-sl.gguf" models/en-fr.gguf
    echo "bundled: models/en-fr.gguf ($(stat -c %s models/en-fr.gguf) bytes)"
fi
echo "== wall times (s):"
column -t "$OUT/times.tsv" 2>/dev/null || cat "$OUT/times.tsv"
$P info "$OUT/student-packed.gguf" | tail -3
