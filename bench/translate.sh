#!/usr/bin/env bash
# bench/translate.sh: translation speed, memory and BLEU of petit fp32 against CTranslate2
# (fp32 and int8) and PyTorch (fp32), side by side in one run, on the same weights.
#
# The model is a petit model trained with `petit train` on the shared training data
# (default runs/base/model.gguf, made by recipe/base.sh, which this script runs if the model
# is missing: hours on 2 cores). tools/export_ct2.py writes the same weights as two
# CTranslate2 models (float32, and int8 quantized with --quantization int8_7bit: plain int8
# gives garbage on CPUs without AVX-512 VNNI, tools/README.md); tools/torch_translate.py is
# a batched, incremental PyTorch fp32 decoder of the same network.
#
# For each test set (Multi30k test2016; newstest2014, its first NEWS_LINES (500) lines) and beam
# (1 and 4), every engine translates the set with batch 32 and 2 threads; the order of the
# engines rotates from round to round (PyTorch, ~10x slower than the others, runs in the
# first round only: --torch-rounds N). Reported per engine: target tokens/s (the
# SentencePiece pieces of its output, re-encoded the same way for every engine, plus one EOS
# a sentence, over its translation time without model loading), median over rounds; the
# ratio to petit; BLEU (`petit bleu`, sacreBLEU's 13a); peak resident memory (GNU time's
# maximum RSS of the whole process, so the Python engines include their interpreter).
# Also: loading the model and translating one short sentence, wall time of the whole
# `petit translate` process, median of 7.
# Targets: petit fp32 >= CTranslate2 fp32 in tok/s, |BLEU petit - BLEU CT2| <= 0.2 at equal
# beam, petit's peak RSS <= model size + 64 MB, load + one sentence < 100 ms.
# The last line is one JSON object (beam 4, batch 32, Multi30k test2016).
#
# usage: bench/translate.sh [--quick] [-m MODEL] [--rounds N] [--news-lines N] [--torch-rounds N]
#   --quick        1 round, the first 200 lines of each set
#   -m MODEL       another petit model (fp32, dense decoder)
# Environment: PETIT (./petit), PYTHON (/usr/bin/python3 with torch: apt-get install
# python3-torch), VENV (.venv: created with ctranslate2 from the package registry if missing),
# PETIT_DATA (../shared/data/en-fr). Work files: bench/out/translate/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3 LINES=0 NEWS_LINES=500 MODEL=runs/base/model.gguf TORCH_ROUNDS=1
THREADS=2 BATCH=32
while [ $# -gt 0 ]; do
    case $1 in
    --quick) ROUNDS=1 LINES=200 ;;
    --rounds) ROUNDS=$2; shift ;;
    --news-lines) NEWS_LINES=$2; shift ;;
    --torch-rounds) TORCH_ROUNDS=$2; shift ;;
    -m | --model) MODEL=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "translate.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
for v in ROUNDS NEWS_LINES; do
    [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "translate.sh: $v must be a positive integer" >&2; exit 2; }
done

PETIT=${PETIT:-./petit}
PY=${PYTHON:-/usr/bin/python3}
VENV=${VENV:-.venv}
DATA=${PETIT_DATA:-../shared/data/en-fr}
OUT=bench/out/translate
die() { echo "translate.sh: $*" >&2; exit 1; }

[ -x "$PETIT" ] || die "$PETIT: not found; run make first (or set PETIT)"
[ -x /usr/bin/time ] || die "/usr/bin/time not found: apt-get install -y time"
"$PY" -c 'import torch' 2>/dev/null || die "$PY cannot import torch: apt-get install -y python3-torch"
if ! "$VENV/bin/python" -c 'import ctranslate2, numpy' 2>/dev/null; then
    echo "translate.sh: installing ctranslate2 into $VENV ..." >&2
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q ctranslate2 numpy || die "cannot install ctranslate2"
fi
if [ ! -f "$MODEL" ]; then
    [ "$MODEL" = runs/base/model.gguf ] || die "$MODEL: no such model"
    echo "translate.sh: $MODEL missing: training it with recipe/base.sh (hours) ..." >&2
    bash recipe/base.sh
fi
"$PETIT" info "$MODEL" >/dev/null || die "$MODEL: not a petit model"
mkdir -p "$OUT"

export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS

# the same weights for CTranslate2, re-exported when the model is newer
for q in fp32 int8; do
    d=$OUT/ct2_$q
    if [ ! -f "$d/model.bin" ] || [ "$MODEL" -nt "$d/model.bin" ]; then
        extra=(); [ $q = int8 ] && extra=(--quantization int8_7bit)
        "$VENV/bin/python" tools/export_ct2.py "$MODEL" "$d" --force "${extra[@]}" >"$OUT/export_$q.log" 2>&1 ||
            die "export to CTranslate2 failed: $OUT/export_$q.log"
    fi
done

# test sets: text, pieces, ids
SETS="m30k news"
prep() { # name file lines
    local n=$3
    if [ "$n" -gt 0 ]; then head -n "$n" "$2.en" >"$OUT/$1.en"; head -n "$n" "$2.fr" >"$OUT/$1.fr"
    else cp "$2.en" "$OUT/$1.en"; cp "$2.fr" "$OUT/$1.fr"; fi
    "$PETIT" encode -m "$MODEL" <"$OUT/$1.en" >"$OUT/$1.pieces"
    "$PETIT" encode -m "$MODEL" --ids <"$OUT/$1.en" >"$OUT/$1.ids"
}
NL=$NEWS_LINES; [ "$LINES" -gt 0 ] && NL=$LINES
prep m30k "$DATA/test/multi30k-test2016" "$LINES"
prep news "$DATA/test/newstest2014" "$NL"

# run ENGINE SET BEAM: translates, leaves $OUT/hyp.txt; sets SECS and RSS (MB)
run() {
    local e=$1 s=$2 k=$3 src=$OUT/$2
    case $e in
    petit)
        /usr/bin/time -f %M -o "$OUT/rss" "$PETIT" translate -m "$MODEL" --beam "$k" --batch $BATCH \
            --threads $THREADS --verbose <"$src.en" >"$OUT/hyp.txt" 2>"$OUT/err" || die "petit failed: $OUT/err"
        SECS=$(sed -n 's/.* words out in \([0-9.]*\) s.*/\1/p' "$OUT/err") ;;
    ct2_fp32 | ct2_int8)
        local ct=float32; [ $e = ct2_int8 ] && ct=int8
        /usr/bin/time -f %M -o "$OUT/rss" "$VENV/bin/python" tools/ct2_translate.py "$OUT/$e" --beam "$k" \
            --batch $BATCH --threads $THREADS --compute-type $ct <"$src.pieces" >"$OUT/hyp.pieces" 2>"$OUT/err" ||
            die "$e failed: $OUT/err"
        "$PETIT" decode -m "$MODEL" <"$OUT/hyp.pieces" >"$OUT/hyp.txt"
        SECS=$(tail -n 1 "$OUT/err" | sed -n 's/.*"seconds": \([0-9.]*\).*/\1/p') ;;
    torch_fp32)
        /usr/bin/time -f %M -o "$OUT/rss" "$PY" tools/torch_translate.py "$MODEL" --beam "$k" --batch $BATCH \
            --threads $THREADS <"$src.ids" >"$OUT/hyp.ids" 2>"$OUT/err" || die "torch failed: $OUT/err"
        "$PETIT" decode -m "$MODEL" --ids <"$OUT/hyp.ids" >"$OUT/hyp.txt"
        SECS=$(tail -n 1 "$OUT/err" | sed -n 's/.*"seconds": \([0-9.]*\).*/\1/p') ;;
    esac
    [ -n "$SECS" ] || die "$e: no timing in $OUT/err"
    RSS=$(($(tail -n 1 "$OUT/rss") / 1024))
}

ENGINES=(petit ct2_fp32 ct2_int8 torch_fp32)
RES=$OUT/results.tsv
: >"$RES"; : >"$OUT/rss.tsv"
for ((r = 0; r < ROUNDS; r++)); do
    for s in $SETS; do
        for k in 1 4; do
            for ((i = 0; i < ${#ENGINES[@]}; i++)); do
                e=${ENGINES[$(((i + r) % ${#ENGINES[@]}))]}
                # PyTorch is an order of magnitude slower than the others: one round only
                [ $e = torch_fp32 ] && [ $r -ge "$TORCH_ROUNDS" ] && continue
                run "$e" "$s" "$k"
                toks=$("$PETIT" encode -m "$MODEL" <"$OUT/hyp.txt" | awk '{n += NF + 1} END {print n + 0}')
                bleu=$("$PETIT" bleu -m bleu -b "$OUT/$s.fr" <"$OUT/hyp.txt")
                cp "$OUT/hyp.txt" "$OUT/hyp.$s.$k.$e.txt"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$s" "$k" "$e" "$SECS" "$toks" "$bleu" >>"$RES"
                printf '%s\t%s MB\n' "$(tail -n 1 "$RES")" "$RSS" >&2
                echo "$s $k $e $RSS" >>"$OUT/rss.tsv"
            done
        done
    done
done

# load + one short sentence, whole process
for i in 1 2 3 4 5 6 7; do
    t0=$(date +%s%N)
    echo "A man is riding a bike." | "$PETIT" translate -m "$MODEL" --threads $THREADS >/dev/null
    echo $((($(date +%s%N) - t0) / 1000000))
done | sort -n | sed -n 4p >"$OUT/first_ms"

MODEL_MB=$(du -m --apparent-size "$MODEL" | cut -f1)
python3 - "$RES" "$OUT/rss.tsv" "$(cat "$OUT/first_ms")" "$MODEL_MB" "$MODEL" <<'EOF'
import json, statistics as st, sys
res, rssf, first_ms, model_mb, model = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = [l.rstrip("\n").split("\t") for l in open(res)]
rss = {}
for l in open(rssf):
    s, k, e, m = l.split()
    rss[(s, int(k), e)] = max(rss.get((s, int(k), e), 0), int(m))
names = {"m30k": "Multi30k test2016", "news": "newstest2014"}
eng = ["petit", "ct2_fp32", "ct2_int8", "torch_fp32"]
tab = {}
for r, s, k, e, secs, toks, bleu in rows:
    t = tab.setdefault((s, int(k), e), {"tps": [], "bleu": float(bleu)})
    t["tps"].append(int(toks) / float(secs))
print(f"\nmodel {model} ({model_mb} MB); batch 32, 2 threads; tok/s = median over rounds")
for s in ("m30k", "news"):
    for k in (1, 4):
        print(f"\n{names[s]}, beam {k}")
        print(f"  {'engine':<11} {'tok/s':>8} {'vs petit':>9} {'BLEU':>6} {'peak RSS MB':>12}")
        base = st.median(tab[(s, k, 'petit')]["tps"])
        for e in eng:
            t = tab[(s, k, e)]
            m = st.median(t["tps"])
            print(f"  {e:<11} {m:8.0f} {m / base:9.2f} {t['bleu']:6.2f} {rss[(s, k, e)]:12d}")
print(f"\nload + translate one sentence (petit, whole process): {first_ms} ms")
peak = rss[("m30k", 4, "petit")]
peak_all = max(v for (s, k, e), v in rss.items() if e == "petit")
print(f"petit peak RSS (Multi30k, beam 4) {peak} MB, over all settings {peak_all} MB; model {model_mb} MB, "
      f"budget model + 64 = {model_mb + 64} MB; CTranslate2 fp32 (Multi30k, beam 4) {rss[('m30k', 4, 'ct2_fp32')]} MB")
g = lambda e: st.median(tab[("m30k", 4, e)]["tps"])
out = dict(petit_fp32_tok_s=round(g("petit")), ct2_fp32_tok_s=round(g("ct2_fp32")),
           ct2_int8_tok_s=round(g("ct2_int8")), torch_fp32_tok_s=round(g("torch_fp32")),
           petit_vs_ct2_fp32=round(g("petit") / g("ct2_fp32"), 3),
           bleu_petit_fp32=tab[("m30k", 4, "petit")]["bleu"], bleu_ct2_fp32=tab[("m30k", 4, "ct2_fp32")]["bleu"],
           bleu_news_petit_fp32=tab[("news", 4, "petit")]["bleu"], bleu_news_ct2_fp32=tab[("news", 4, "ct2_fp32")]["bleu"],
           peak_rss_mb=peak, peak_rss_mb_all_settings=peak_all, ct2_fp32_peak_rss_mb=rss[("m30k", 4, "ct2_fp32")],
           model_mb=model_mb, load_one_sentence_ms=first_ms)
print(json.dumps(out))
EOF
