#!/usr/bin/env bash
# bench/quant.sh: what 8- and 4-bit integer weights cost in BLEU and buy in speed and size,
# against the float model and against CTranslate2 int8 on the same weights, in one run.
#
# From one float model (default runs/base/model.gguf, made by recipe/base.sh, run here if
# missing) it makes:
#   q8       petit quantize --type q8                     (RTN, Q8_0, every weight matrix)
#   q4       petit quantize --type q4                     (RTN, Q4_0)
#   q4-gptq  petit quantize --type q4 --method gptq       (calibration: 128 lines of the
#            Multi30k dev set + 128 of newstest2013, never the test sets)
#   q4-qat   petit train --init MODEL --qat q4            (QAT_STEPS (100) steps of 6000 tokens
#            on the model's training text, lr 1e-4 constant, dropout 0.1)
#   f32-ft   the same fine-tuning without --qat: the control for q4-qat, which trains the
#            float model QAT_STEPS steps further than the others
#   ct2-int8 tools/export_ct2.py --quantization int8_7bit (CTranslate2's int8 on these weights)
# Quality: BLEU (petit bleu = sacreBLEU 13a) of each on Multi30k test2016 and on the first
# NEWS_LINES (500) lines of newstest2014, beam 4, batch 32.
# Speed: target tokens/s (output pieces + one EOS a sentence, re-encoded the same way for
# every engine, over translation time without loading) of f32, q8, q4 and ct2-int8 on
# Multi30k test2016, 2 threads, at batch 32 (the whole set) and batch 1 (its first B1_LINES
# (100) lines), beam 1 and 4; ROUNDS (3) rounds with the engines' order rotating, medians.
# Size: model file bytes; peak RSS (GNU time) at batch 32, beam 4.
# Targets (issue): q8 within 0.2 BLEU of f32 and >= 2x its speed; q4-qat within 0.3 BLEU of
# f32; q4 at least as fast as q8; petit q8 at least as fast as CTranslate2 int8.
# Last line: JSON (BLEU on Multi30k test2016; speed ratios at batch 32, beam 4, and the
# other settings under their own keys).
#
# usage: bench/quant.sh [--quick] [-m MODEL] [--rounds N] [--news-lines N] [--qat-steps N]
#   --quick    1 round, 200 lines (batch 1: 30), 10 QAT steps: minutes, not an hour
# Environment: PETIT (./petit), VENV (.venv, with ctranslate2: created if missing),
# PETIT_DATA (../shared/data/en-fr). Work files: bench/out/quant/ (git-ignored); the
# derived models are kept there and remade when MODEL is newer.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3 LINES=0 B1_LINES=100 NEWS_LINES=500 QAT_STEPS=100 MODEL=runs/base/model.gguf
THREADS=2
while [ $# -gt 0 ]; do
    case $1 in
    --quick) ROUNDS=1 LINES=200 B1_LINES=30 QAT_STEPS=10 ;;
    --rounds) ROUNDS=$2; shift ;;
    --news-lines) NEWS_LINES=$2; shift ;;
    --qat-steps) QAT_STEPS=$2; shift ;;
    -m | --model) MODEL=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "quant.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
for v in ROUNDS NEWS_LINES QAT_STEPS; do
    [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "quant.sh: $v must be a positive integer" >&2; exit 2; }
done

PETIT=${PETIT:-./petit}
VENV=${VENV:-.venv}
DATA=${PETIT_DATA:-../shared/data/en-fr}
OUT=bench/out/quant
Q=$OUT/models
die() { echo "quant.sh: $*" >&2; exit 1; }
note() { echo "quant.sh: $*" >&2; }

[ -x "$PETIT" ] || die "$PETIT: not found; run make first (or set PETIT)"
[ -x /usr/bin/time ] || die "/usr/bin/time not found: apt-get install -y time"
if ! "$VENV/bin/python" -c 'import ctranslate2, numpy' 2>/dev/null; then
    note "installing ctranslate2 into $VENV ..."
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q ctranslate2 numpy || die "cannot install ctranslate2"
fi
if [ ! -f "$MODEL" ]; then
    [ "$MODEL" = runs/base/model.gguf ] || die "$MODEL: no such model"
    note "$MODEL missing: training it with recipe/base.sh (hours) ..."
    bash recipe/base.sh
fi
"$PETIT" info "$MODEL" >/dev/null || die "$MODEL: not a petit model"
bash recipe/base.sh --prepare >/dev/null # the training text QAT fine-tunes on
mkdir -p "$Q"
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS OMP_WAIT_POLICY=passive

# ---- the derived models (kept; remade when MODEL is newer) ----
fresh() { [ -f "$1" ] && [ "$1" -nt "$MODEL" ]; }
head -128 "$DATA/dev/multi30k-val.en" >"$OUT/calib.en"
head -128 "$DATA/dev/newstest2013.en" >>"$OUT/calib.en"
fresh "$Q/q8.gguf" || "$PETIT" quantize -m "$MODEL" -o "$Q/q8.gguf" --type q8 -q
fresh "$Q/q4.gguf" || "$PETIT" quantize -m "$MODEL" -o "$Q/q4.gguf" --type q4 -q
fresh "$Q/q4-gptq.gguf" || "$PETIT" quantize -m "$MODEL" -o "$Q/q4-gptq.gguf" --type q4 --method gptq \
    --calib "$OUT/calib.en" --calib-lines 256 -q
ft=(--src runs/base/train.en --tgt runs/base/train.fr --init "$MODEL" --lr 1e-4 --warmup 10 --schedule constant
    --batch-tokens 6000 --max-steps "$QAT_STEPS" --dropout 0.1 --threads $THREADS --save-every 50 --log-every 10)
QAT=$Q/qat-q4-$QAT_STEPS.gguf FT=$Q/ft-f32-$QAT_STEPS.gguf
if ! fresh "$QAT"; then
    note "QAT: $QAT_STEPS steps (about 7 s each on 2 cores) ..."
    rm -f "${QAT%.gguf}.ckpt.gguf"
    "$PETIT" train "${ft[@]}" --qat q4 -o "$QAT" >"${QAT%.gguf}.log" 2>&1 || die "QAT failed: ${QAT%.gguf}.log"
fi
if ! fresh "$FT"; then
    note "the float control: $QAT_STEPS steps ..."
    rm -f "${FT%.gguf}.ckpt.gguf"
    "$PETIT" train "${ft[@]}" -o "$FT" >"${FT%.gguf}.log" 2>&1 || die "fine-tuning failed: ${FT%.gguf}.log"
fi
CT=$OUT/ct2_int8
if [ ! -f "$CT/model.bin" ] || [ "$MODEL" -nt "$CT/model.bin" ]; then
    "$VENV/bin/python" tools/export_ct2.py "$MODEL" "$CT" --force --quantization int8_7bit >"$OUT/export.log" 2>&1 ||
        die "export to CTranslate2 failed: $OUT/export.log"
fi

# ---- test sets ----
prep() { # name file lines
    if [ "$3" -gt 0 ]; then head -n "$3" "$2.en" >"$OUT/$1.en"; head -n "$3" "$2.fr" >"$OUT/$1.fr"
    else cp "$2.en" "$OUT/$1.en"; cp "$2.fr" "$OUT/$1.fr"; fi
    "$PETIT" encode -m "$MODEL" <"$OUT/$1.en" >"$OUT/$1.pieces"
}
NL=$NEWS_LINES; [ "$LINES" -gt 0 ] && NL=$LINES
prep m30k "$DATA/test/multi30k-test2016" "$LINES"
prep news "$DATA/test/newstest2014" "$NL"
prep m30k1 "$DATA/test/multi30k-test2016" "$B1_LINES"

declare -A FILE=([f32]=$MODEL [q8]=$Q/q8.gguf [q4]=$Q/q4.gguf [q4-gptq]=$Q/q4-gptq.gguf [q4-qat]=$QAT [f32-ft]=$FT)

# run ENGINE SET BATCH BEAM: leaves $OUT/hyp.txt, sets SECS and RSS (MB)
run() {
    local e=$1 src=$OUT/$2 b=$3 k=$4
    if [ "$e" = ct2-int8 ]; then
        /usr/bin/time -f %M -o "$OUT/rss" "$VENV/bin/python" tools/ct2_translate.py "$CT" --beam "$k" --batch "$b" \
            --threads $THREADS --compute-type int8 <"$src.pieces" >"$OUT/hyp.pieces" 2>"$OUT/err" || die "$e failed: $OUT/err"
        "$PETIT" decode -m "$MODEL" <"$OUT/hyp.pieces" >"$OUT/hyp.txt"
        SECS=$(tail -n 1 "$OUT/err" | sed -n 's/.*"seconds": \([0-9.]*\).*/\1/p')
    else
        /usr/bin/time -f %M -o "$OUT/rss" "$PETIT" translate -m "${FILE[$e]}" --beam "$k" --batch "$b" \
            --threads $THREADS --verbose <"$src.en" >"$OUT/hyp.txt" 2>"$OUT/err" || die "$e failed: $OUT/err"
        SECS=$(sed -n 's/.* words out in \([0-9.]*\) s.*/\1/p' "$OUT/err")
    fi
    [ -n "$SECS" ] || die "$e: no timing in $OUT/err"
    RSS=$(($(tail -n 1 "$OUT/rss") / 1024))
}
toks() { "$PETIT" encode -m "$MODEL" <"$OUT/hyp.txt" | awk '{n += NF + 1} END {print n + 0}'; }

# ---- quality ----
QUAL=$OUT/quality.tsv
: >"$QUAL"
for e in f32 q8 q4 q4-gptq q4-qat f32-ft ct2-int8; do
    for s in m30k news; do
        run "$e" "$s" 32 4
        bleu=$("$PETIT" bleu -m bleu -b "$OUT/$s.fr" <"$OUT/hyp.txt")
        cp "$OUT/hyp.txt" "$OUT/hyp.$s.$e.txt"
        printf '%s\t%s\t%s\t%s\n' "$e" "$s" "$bleu" "$RSS" | tee -a "$QUAL" >&2
    done
done

# ---- speed ----
SPEED=$OUT/speed.tsv
: >"$SPEED"
ENGINES=(f32 q8 q4 ct2-int8)
for ((r = 0; r < ROUNDS; r++)); do
    for cfg in "m30k 32 1" "m30k 32 4" "m30k1 1 1" "m30k1 1 4"; do
        set -- $cfg
        for ((i = 0; i < ${#ENGINES[@]}; i++)); do
            e=${ENGINES[$(((i + r) % ${#ENGINES[@]}))]}
            run "$e" "$1" "$2" "$3"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$e" "$2" "$3" "$SECS" "$(toks)" "$RSS" | tee -a "$SPEED" >&2
        done
    done
done

python3 - "$QUAL" "$SPEED" "$MODEL" "$QAT_STEPS" "$CT/model.bin" \
    "${FILE[f32]}" "${FILE[q8]}" "${FILE[q4]}" "${FILE[q4-gptq]}" "${FILE[q4-qat]}" "${FILE[f32-ft]}" <<'EOF'
import json, os, statistics as st, sys
qual, speed, model, qsteps, ct2 = sys.argv[1:6]
files = dict(zip(["f32", "q8", "q4", "q4-gptq", "q4-qat", "f32-ft"], sys.argv[6:12]))
files["ct2-int8"] = ct2
B, RSS = {}, {}
for l in open(qual):
    e, s, b, rss = l.split()
    B[(e, s)] = float(b)
    if s == "m30k": RSS[e] = int(rss)
T = {}
for l in open(speed):
    r, e, b, k, secs, toks, rss = l.split()
    T.setdefault((e, int(b), int(k)), []).append(int(toks) / float(secs))
tps = {k: st.median(v) for k, v in T.items()}
mb = lambda e: os.path.getsize(files[e]) / 1e6
print(f"\nfloat model {model}; 2 threads; BLEU at beam 4, batch 32 (sacreBLEU 13a)")
print(f"  {'model':<9} {'size MB':>8} {'BLEU m30k':>10} {'vs f32':>7} {'BLEU news':>10} {'vs f32':>7} {'peak RSS MB':>12}")
for e in ["f32", "q8", "q4", "q4-gptq", "q4-qat", "f32-ft", "ct2-int8"]:
    print(f"  {e:<9} {mb(e):8.1f} {B[(e,'m30k')]:10.2f} {B[(e,'m30k')] - B[('f32','m30k')]:+7.2f} "
          f"{B[(e,'news')]:10.2f} {B[(e,'news')] - B[('f32','news')]:+7.2f} {RSS[e]:12d}")
print(f"  (q4-qat and f32-ft: {qsteps} more training steps than the others, with and without QAT)")
print("\ntarget tokens/s (Multi30k test2016; batch 1: its first lines), median over rounds")
print(f"  {'batch':>5} {'beam':>4} | " + " ".join(f"{e:>9}" for e in ["f32", "q8", "q4", "ct2-int8"]) +
      " | q8/f32 q4/f32 q4/q8 q8/ct2")
for b, k in [(32, 1), (32, 4), (1, 1), (1, 4)]:
    v = {e: tps[(e, b, k)] for e in ["f32", "q8", "q4", "ct2-int8"]}
    print(f"  {b:5d} {k:4d} | " + " ".join(f"{v[e]:9.0f}" for e in v) +
          f" | {v['q8']/v['f32']:6.2f} {v['q4']/v['f32']:6.2f} {v['q4']/v['q8']:5.2f} {v['q8']/v['ct2-int8']:6.2f}")
r = lambda a, c, b=32, k=4: round(tps[(a, b, k)] / tps[(c, b, k)], 3)
out = dict(bleu_fp32=B[("f32", "m30k")], bleu_q8=B[("q8", "m30k")], bleu_q4_rtn=B[("q4", "m30k")],
           bleu_q4_gptq=B[("q4-gptq", "m30k")], bleu_q4_qat=B[("q4-qat", "m30k")], bleu_fp32_ft=B[("f32-ft", "m30k")],
           bleu_ct2_int8=B[("ct2-int8", "m30k")],
           bleu_news_fp32=B[("f32", "news")], bleu_news_q8=B[("q8", "news")], bleu_news_q4_rtn=B[("q4", "news")],
           bleu_news_q4_gptq=B[("q4-gptq", "news")], bleu_news_q4_qat=B[("q4-qat", "news")],
           q8_speedup_vs_fp32=r("q8", "f32"), q4_speedup_vs_fp32=r("q4", "f32"), q8_vs_ct2_int8=r("q8", "ct2-int8"),
           q4_vs_q8=r("q4", "q8"),
           q8_speedup_vs_fp32_b1_beam1=r("q8", "f32", 1, 1), q4_speedup_vs_fp32_b1_beam1=r("q4", "f32", 1, 1),
           q8_vs_ct2_int8_b1_beam1=r("q8", "ct2-int8", 1, 1),
           q8_speedup_vs_fp32_b32_beam1=r("q8", "f32", 32, 1), q8_speedup_vs_fp32_b1_beam4=r("q8", "f32", 1, 4),
           size_mb_fp32=round(mb("f32"), 1), size_mb_q8=round(mb("q8"), 1), size_mb_q4=round(mb("q4"), 1),
           peak_rss_mb_fp32=RSS["f32"], peak_rss_mb_q8=RSS["q8"], peak_rss_mb_q4=RSS["q4"])
print(json.dumps(out))
EOF
