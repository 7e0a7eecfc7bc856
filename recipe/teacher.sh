#!/usr/bin/env bash
# The long teacher run: D=256, 4 heads, FFN 1024, 6+6 layers, trained on a mix of all the
# shared training text (Hansard included) with a byte-fallback, split-digit vocabulary,
# until the dev loss stops improving. On 2 cores this takes many hours, so the run lives
# outside the checkout and spans sessions:
#
#   bash recipe/teacher.sh start    prepare what is missing, then start or resume the run in
#                                   the background (nohup); returns at once
#   bash recipe/teacher.sh status   the last progress lines and the dev losses so far
#   bash recipe/teacher.sh stop     stop it (SIGINT: the trainer writes a checkpoint)
#   bash recipe/teacher.sh prepare  only the training mix, the dev set and the vocabulary
#
# Everything goes to $PETIT_RUNS/teacher (default $HOME/petit-runs/teacher):
#   train.{en,fr}   the mix (below)        dev.{en,fr}   Multi30k val + newstest2013
#   vocab.model     8000 pieces, joint     bin/petit     the binary this run uses
#   model.gguf      rewritten every 100 steps; model.stepNNNNNNN.gguf every 1000 steps
#   model.ckpt.gguf the checkpoint --resume continues from, bit for bit
#   metrics.jsonl   progress and dev losses (petit plot metrics.jsonl -o curve.svg)
#
# The mix (source words per epoch, about 9.1M): Multi30k x4 (1.4M) and Tatoeba x2 (1.9M),
# the in-domain sets, so that they do not drown; Europarl 20k (0.3M); WMT news x2 (0.5M);
# and every 7th line of Hansard twice over (2 of 7, 255k pairs, 5.0M), for breadth,
# numbers and long sentences. Test sets are never read.
#
# The binary is copied into the run once (bin/petit), so that rebuilding the checkout never
# swaps it under a running job; PETIT_BIN=path (with start) replaces it for a resumed run.
#
# A lost run (no checkpoint in $R) starts again from INIT, default models/en-fr-base.gguf,
# the shipped q8 snapshot of this teacher, when it exists: its weights dequantized, a new
# optimizer and a short warm-up (--init). INIT= (empty) starts from scratch instead.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${PETIT_DATA:-../shared/data/en-fr}
RUNS=${PETIT_RUNS:-$HOME/petit-runs}
R=$RUNS/teacher
STEPS=${STEPS:-200000}
INIT=${INIT-models/en-fr-base.gguf}
cmd=${1:-start}

prepare() {
    mkdir -p "$R"
    if [ ! -f "$R/train.fr" ]; then
        echo "teacher: writing the training mix to $R/train.{en,fr}"
        local l k
        for l in en fr; do
            {
                for k in 1 2 3 4; do cat "$DATA/train/multi30k.$l"; done
                for k in 1 2; do cat "$DATA/train/tatoeba.$l"; done
                cat "$DATA/train/europarl20k.$l"
                for k in 1 2; do cat "$DATA/train/news-tests.$l"; done
                xz -dc "$DATA/train/hansard.$l.xz" | awk 'NR % 7 == 1 || NR % 7 == 4'
            } >"$R/train.$l.tmp"
        done
        [ "$(wc -l <"$R/train.en.tmp")" = "$(wc -l <"$R/train.fr.tmp")" ] || { echo "teacher: mix sides differ" >&2; exit 1; }
        mv "$R/train.en.tmp" "$R/train.en"
        mv "$R/train.fr.tmp" "$R/train.fr"
    fi
    for l in en fr; do
        [ -f "$R/dev.$l" ] || cat "$DATA/dev/multi30k-val.$l" "$DATA/dev/newstest2013.$l" >"$R/dev.$l"
    done
    if [ ! -f "$R/vocab.model" ]; then
        # each side once, not the up-sampled mix: the pieces follow the text, not the weights
        for l in en fr; do
            cat "$DATA/train/multi30k.$l" "$DATA/train/tatoeba.$l" "$DATA/train/europarl20k.$l" \
                "$DATA/train/news-tests.$l" >"$R/vocab-text.$l"
            xz -dc "$DATA/train/hansard.$l.xz" | awk 'NR % 7 == 1 || NR % 7 == 4' >>"$R/vocab-text.$l"
        done
        make -s petit
        ./petit vocab -i "$R/vocab-text.en" -i "$R/vocab-text.fr" -o "$R/vocab" --size 8000 --threads 2
        rm -f "$R/vocab-text.en" "$R/vocab-text.fr"
    fi
    mkdir -p "$R/bin"
    if [ -n "${PETIT_BIN:-}" ]; then
        cp "$PETIT_BIN" "$R/bin/petit.tmp" && mv "$R/bin/petit.tmp" "$R/bin/petit"
    elif [ ! -x "$R/bin/petit" ]; then
        make -s petit
        cp ./petit "$R/bin/petit.tmp" && mv "$R/bin/petit.tmp" "$R/bin/petit"
    fi
}

running() { [ -f "$R/pid" ] && kill -0 "$(cat "$R/pid")" 2>/dev/null; }

case $cmd in
prepare) prepare ;;
start)
    if running; then echo "teacher: already running (pid $(cat "$R/pid")), $R"; exit 0; fi
    if [ -f "$R/.done" ]; then echo "teacher: finished ($(tail -1 "$R/train.log"))"; exit 0; fi
    prepare
    args=(--src "$R/train.en" --tgt "$R/train.fr" --dev-src "$R/dev.en" --dev-tgt "$R/dev.fr"
        -o "$R/model.gguf" --metrics "$R/metrics.jsonl" --max-steps "$STEPS" --max-epochs 1000
        --valid-every 500 --patience 8 --save-every 100 --snapshot-every 1000 --log-every 10 --threads 2)
    if [ -f "$R/model.ckpt.gguf" ]; then
        args=(--resume "$R/model.ckpt.gguf" "${args[@]}")
    elif [ -n "$INIT" ] && [ -f "$INIT" ]; then
        echo "teacher: no checkpoint in $R: starting from $INIT (dequantized; new optimizer state)"
        cp "$INIT" "$R/init.gguf"
        args=(--init "$R/init.gguf" --batch-tokens 6000 --lr 1e-3 --warmup 200 "${args[@]}")
    else
        args=(--vocab "$R/vocab.model" --d-model 256 --heads 4 --ff 1024 --enc-layers 6 --dec-layers 6
            --batch-tokens 6000 --lr 1e-3 --warmup 1000 "${args[@]}")
    fi
    # the trainer's exit status decides: 0 (stopped by patience or the step cap) marks the
    # run done; an interrupted run (130) or a failure is resumed by the next start
    (
        cd "$R"
        export OMP_WAIT_POLICY=passive
        echo "== $(date -u +%FT%TZ) start: bin/petit train ${args[*]}" >>train.log
        set +e
        nohup bin/petit train "${args[@]}" >>train.log 2>&1 &
        echo $! >pid
        wait $!
        rc=$?
        echo "== $(date -u +%FT%TZ) exit $rc" >>train.log
        [ $rc = 0 ] && touch .done
        rm -f pid.runner
    ) >/dev/null 2>&1 &
    echo $! >"$R/pid.runner"
    sleep 2
    echo "teacher: running in the background (pid $(cat "$R/pid" 2>/dev/null)); log $R/train.log"
    ;;
status)
    if running; then echo "teacher: running (pid $(cat "$R/pid"))"; else echo "teacher: not running"; fi
    [ -f "$R/train.log" ] && tail -n 3 "$R/train.log"
    [ -f "$R/metrics.jsonl" ] && grep -o '"step":[0-9]*\|"dev_loss":[0-9.]*' "$R/metrics.jsonl" |
        paste -sd' ' | grep -o '"step":[0-9]* "dev_loss":[0-9.]*' | tail -n 20 || true
    ;;
stop)
    if running; then kill -INT "$(cat "$R/pid")" && echo "teacher: asked to stop (checkpoint follows)"; else echo "teacher: not running"; fi
    ;;
*) echo "usage: bash recipe/teacher.sh start|status|stop|prepare" >&2; exit 2 ;;
esac
