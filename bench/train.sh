#!/usr/bin/env bash
# bench/train.sh: training speed, petit against PyTorch, side by side in one run.
#
# Both engines train the same model (MODEL.md: D=256, 4 heads, FFN 1024, 6+6 layers, vocabulary
# 8000, pre-norm, relu, dropout 0.1, label smoothing 0.1, AdamW) on the same batches (Multi30k
# en→fr, about 5,000 padded tokens a batch, same SentencePiece model, same epoch order: the
# PyTorch side rebuilds petit's batches exactly), with 2 threads each. Runs alternate,
# petit/PyTorch then PyTorch/petit, for ROUNDS rounds; each run trains WARM untimed steps and
# then STEPS timed ones. OpenBLAS's cblas_sgemm is timed at the training's matrix shapes
# (bench/sgemm.c) before and after the rounds; the better of the two is the ceiling.
#
# Reported: tokens/s (non-padding source + target tokens, EOS included, per second of step
# time), median over rounds, for both; their ratio; petit's achieved GFLOP/s (the matmul
# FLOPs of forward + backward, as petit's metrics count them) against the sgemm figure.
# Targets: ratio >= 2 and petit >= 60% of sgemm. The last line is one JSON object.
#
# usage: bench/train.sh [--quick] [--rounds N] [--steps N] [--warmup-steps N] [-m MODEL]
#   --quick   1 round of 4 timed steps after 1 warm-up step (a couple of minutes)
#   -m MODEL  accepted for `make bench` symmetry and ignored: a training benchmark trains from
#             scratch
# Environment: PETIT (default ./petit), PYTHON (default /usr/bin/python3, needs torch),
# PETIT_DATA (default ../shared/data/en-fr). Work files go to bench/out/train/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3 STEPS=30 WARM=3 SGEMM_REPS=7
THREADS=2 BATCH_TOKENS=5000
while [ $# -gt 0 ]; do
    case $1 in
    --quick) ROUNDS=1 STEPS=4 WARM=1 SGEMM_REPS=3 ;;
    --rounds) ROUNDS=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    --warmup-steps) WARM=$2; shift ;;
    -m | --model) echo "train.sh: -m $2 ignored: this benchmark trains from scratch" >&2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "train.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
for v in ROUNDS STEPS WARM; do
    [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "train.sh: $v must be a positive integer" >&2; exit 2; }
done

PETIT=${PETIT:-./petit}
PY=${PYTHON:-/usr/bin/python3}
DATA=${PETIT_DATA:-../shared/data/en-fr}
SRC=$DATA/train/multi30k.en TGT=$DATA/train/multi30k.fr
OUT=bench/out/train
die() { echo "train.sh: $*" >&2; exit 1; }

[ -x "$PETIT" ] || die "$PETIT: not found; run make first (or set PETIT)"
[ -r "$SRC" ] && [ -r "$TGT" ] || die "$SRC / $TGT: cannot read the Multi30k training set (set PETIT_DATA)"
command -v spm_train >/dev/null && command -v spm_encode >/dev/null ||
    die "spm_train/spm_encode not found: apt-get install -y sentencepiece"
"$PY" -c 'import torch' 2>/dev/null || die "$PY cannot import torch: apt-get install -y python3-torch"
mkdir -p "$OUT"

export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS

# the vocabulary: SentencePiece unigram, 8000 pieces, on Multi30k train en+fr (cached)
VOCAB=bench/out/multi30k-8k.model
if [ ! -s "$VOCAB" ]; then
    echo "training the 8000-piece vocabulary on $SRC + $TGT ..." >&2
    spm_train --input="$SRC,$TGT" --model_prefix="${VOCAB%.model}" --vocab_size=8000 \
        --model_type=unigram --pad_id=3 --unk_id=0 --bos_id=1 --eos_id=2 \
        --character_coverage=1.0 --num_threads="$THREADS" >"$OUT/spm_train.log" 2>&1 ||
        die "spm_train failed: see $OUT/spm_train.log"
fi

# the sgemm ceiling
cc -O2 -march=native bench/sgemm.c -o "$OUT/sgemm" -lopenblas || die "cannot build bench/sgemm.c (apt-get install -y libopenblas-dev)"
sgemm() { "$OUT/sgemm" --threads "$THREADS" --tokens "$BATCH_TOKENS" --reps "$SGEMM_REPS" >"$OUT/sgemm-$1.txt" &&
    awk '$1 == "sgemm_gflops" {print $2}' "$OUT/sgemm-$1.txt"; }

# one petit run: prints "tok_s gflops" over the timed steps (metrics logged every step)
petit_run() {
    local tag=$1 m=$OUT/petit-$1.jsonl
    rm -f "$m"
    "$PETIT" train --src "$SRC" --tgt "$TGT" --vocab "$VOCAB" -o "$OUT/petit-$tag.gguf" \
        --d-model 256 --heads 4 --ff 1024 --enc-layers 6 --dec-layers 6 \
        --batch-tokens "$BATCH_TOKENS" --threads "$THREADS" --max-steps $((WARM + STEPS)) \
        --metrics "$m" --log-every 1 --seed 1 >"$OUT/petit-$tag.log" 2>&1 ||
        die "petit train failed: see $OUT/petit-$tag.log"
    awk -v warm="$WARM" '
        function num(key,   i, s) {
            i = index($0, "\"" key "\":"); if (!i) return "";
            s = substr($0, i + length(key) + 3); sub(/[,}].*/, "", s); return s + 0 }
        { step = num("step"); el = num("elapsed"); dt = el - prev; prev = el
          if (step > warm) { secs += dt; tok += num("tok_s") * dt; fl += num("gflops") * dt; n++ } }
        END { if (n == 0 || secs <= 0) exit 1; printf "%.1f %.2f\n", tok / secs, fl / secs }' "$m" ||
        die "no timed steps in $m"
}

# one PyTorch run: prints its tokens/s over the timed steps
torch_run() {
    "$PY" tools/torch_train_bench.py --src "$SRC" --tgt "$TGT" --vocab "$VOCAB" --vocab-size 8000 \
        --d-model 256 --heads 4 --ff 1024 --enc-layers 6 --dec-layers 6 \
        --batch-tokens "$BATCH_TOKENS" --threads "$THREADS" --steps "$STEPS" --warmup-steps "$WARM" \
        --seed 1 >"$OUT/torch-$1.json" 2>"$OUT/torch-$1.log" || die "PyTorch run failed: see $OUT/torch-$1.log"
    tail -n 1 "$OUT/torch-$1.json" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["tok_s"])'
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

load=$(cut -d' ' -f1 /proc/loadavg)
echo "training speed: petit vs PyTorch, $ROUNDS round(s) of $STEPS timed steps (+$WARM warm-up), $THREADS threads, $BATCH_TOKENS-token batches" >&2
awk -v l="$load" 'BEGIN { if (l + 0 > 0.5) print "warning: load average " l " at the start: other work on this machine makes the numbers noisy" }' >&2

sg1=$(sgemm before)
echo "  sgemm (before): $sg1 GFLOP/s" >&2
P_TOK=() P_GF=() T_TOK=()
for r in $(seq 1 "$ROUNDS"); do
    order="petit torch"
    [ $((r % 2)) -eq 0 ] && order="torch petit"
    for who in $order; do
        if [ "$who" = petit ]; then
            res=$(petit_run "$r")
            read -r tok gf <<<"$res"
            P_TOK+=("$tok") P_GF+=("$gf")
            echo "  round $r: petit   $tok tok/s, $gf GFLOP/s" >&2
        else
            tok=$(torch_run "$r")
            T_TOK+=("$tok")
            echo "  round $r: PyTorch $tok tok/s" >&2
        fi
    done
done
sg2=$(sgemm after)
echo "  sgemm (after):  $sg2 GFLOP/s" >&2
load_end=$(cut -d' ' -f1 /proc/loadavg)

p_tok=$(median "${P_TOK[@]}") p_gf=$(median "${P_GF[@]}") t_tok=$(median "${T_TOK[@]}")
sg=$(awk -v a="$sg1" -v b="$sg2" 'BEGIN { print (a > b) ? a : b }')
torch_ver=$("$PY" -c 'import torch; print(torch.__version__)')
blas_ver=$(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo unknown)
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)

awk -v rounds="$ROUNDS" -v steps="$STEPS" -v warm="$WARM" -v threads="$THREADS" -v bt="$BATCH_TOKENS" \
    -v p="$p_tok" -v t="$t_tok" -v pg="$p_gf" -v sg="$sg" -v sg1="$sg1" -v sg2="$sg2" \
    -v ptoks="${P_TOK[*]}" -v ttoks="${T_TOK[*]}" -v pgfs="${P_GF[*]}" \
    -v torch="$torch_ver" -v blas="$blas_ver" -v cpu="$cpu" -v l0="$load" -v l1="$load_end" '
function list(s,   a, n, i, o) { n = split(s, a, " "); o = ""; for (i = 1; i <= n; i++) o = o (i > 1 ? ", " : "") a[i]; return "[" o "]" }
BEGIN {
    ratio = t > 0 ? p / t : 0; frac = sg > 0 ? pg / sg : 0; tg = ratio > 0 ? pg / ratio : 0
    printf "\n%-34s %12s %12s\n", "", "petit", "PyTorch"
    n = split(ptoks, pa, " "); split(ttoks, ta, " "); split(pgfs, ga, " ")
    for (i = 1; i <= n; i++) printf "%-34s %12.1f %12.1f\n", "round " i " tokens/s", pa[i], ta[i]
    printf "%-34s %12.1f %12.1f\n", "median tokens/s", p, t
    printf "%-34s %12.1f %12.1f\n", "achieved GFLOP/s (median)", pg, tg
    printf "%-34s %12.2fx   (target >= 2x: %s)\n", "petit / PyTorch tokens/s", ratio, (ratio >= 2 ? "met" : "MISSED")
    printf "%-34s %12.1f   (before %s, after %s; the better one)\n", "OpenBLAS sgemm GFLOP/s", sg, sg1, sg2
    printf "%-34s %11.0f%%    (target >= 60%%: %s)\n", "petit GFLOP/s / sgemm GFLOP/s", 100 * frac, (frac >= 0.6 ? "met" : "MISSED")
    printf "(%d round(s) x %d timed steps after %d warm-up, %d threads, %d-token batches; %s; torch %s; OpenBLAS %s;\n",
        rounds, steps, warm, threads, bt, cpu, torch, blas
    printf " load average %s at the start, %s at the end)\n\n", l0, l1
    printf "{\"petit_tok_s\": %.1f, \"pytorch_tok_s\": %.1f, \"ratio\": %.3f, \"petit_gflops\": %.2f, \"sgemm_gflops\": %.1f, ", p, t, ratio, pg, sg
    printf "\"sgemm_fraction\": %.3f, \"pytorch_gflops\": %.2f, \"petit_rounds_tok_s\": %s, \"pytorch_rounds_tok_s\": %s, ", frac, tg, list(ptoks), list(ttoks)
    printf "\"petit_rounds_gflops\": %s, \"rounds\": %d, \"steps\": %d, \"warmup_steps\": %d, \"threads\": %d, \"batch_tokens\": %d, ", list(pgfs), rounds, steps, warm, threads, bt
    printf "\"torch\": \"%s\", \"openblas\": \"%s\", \"load_avg_start\": %s, \"load_avg_end\": %s}\n", torch, blas, l0, l1
}'
