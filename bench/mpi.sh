#!/usr/bin/env bash
# bench/mpi.sh: data-parallel training with MPI, 1 rank against 2 ranks, side by side in one run.
#
# The model is the one bench/train.sh trains (MODEL.md: D=256, 4 heads, FFN 1024, 6+6 layers,
# vocabulary 8000, dropout 0.1) on Multi30k en→fr, 5000 padded tokens a batch, the same global
# batch and data order in every setting. Settings, run in rotating order for ROUNDS rounds:
#   1x1  one process, 1 thread              (the baseline)
#   2x1  mpirun -np 2, 1 thread each         (each rank 1/2 of every batch; gradients summed
#                                             with MPI_Allreduce)
#   1x2  one process, 2 OpenMP threads       (for comparison: the same 2 cores, threads)
# Each run trains WARM untimed steps, then STEPS timed ones (metrics logged every step).
#
# Reported: tokens/s (non-padding source + target tokens per second of step time), medians over
# rounds; the speedup of 2 ranks over 1 (target >= 1.8x); and, from rank 0's clock, the share of
# step time spent in the gradient all-reduce ("comm", the transfer itself) and waiting at the
# barrier before it for the slower rank ("wait", load imbalance). Last line: one JSON object.
#
# usage: bench/mpi.sh [--quick] [--rounds N] [--steps N] [--warmup-steps N] [-m MODEL]
#   --quick   1 round of 3 timed steps after 1 warm-up step (a couple of minutes)
#   -m MODEL  accepted for `make bench` symmetry and ignored: a training benchmark trains from
#             scratch
# Environment: PETIT (default ./petit, built with MPI), PETIT_DATA (default ../shared/data/en-fr).
# Work files go to bench/out/mpi/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3 STEPS=8 WARM=2 BATCH_TOKENS=5000
while [ $# -gt 0 ]; do
    case $1 in
    --quick) ROUNDS=1 STEPS=3 WARM=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    --warmup-steps) WARM=$2; shift ;;
    -m | --model) echo "mpi.sh: -m $2 ignored: this benchmark trains from scratch" >&2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "mpi.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
for v in ROUNDS STEPS WARM; do
    [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "mpi.sh: $v must be a positive integer" >&2; exit 2; }
done

PETIT=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
SRC=$DATA/train/multi30k.en TGT=$DATA/train/multi30k.fr
OUT=bench/out/mpi
die() { echo "mpi.sh: $*" >&2; exit 1; }

[ -x "$PETIT" ] || die "$PETIT: not found; run make first (or set PETIT)"
"$PETIT" --version | grep -q "mpi: none" && die "$PETIT was built without MPI: apt-get install -y libopenmpi-dev openmpi-bin; make"
command -v mpirun >/dev/null || die "mpirun not found: apt-get install -y openmpi-bin"
[ -r "$SRC" ] && [ -r "$TGT" ] || die "$SRC / $TGT: cannot read the Multi30k training set (set PETIT_DATA)"
command -v spm_train >/dev/null || die "spm_train not found: apt-get install -y sentencepiece"
mkdir -p "$OUT"
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# the vocabulary bench/train.sh uses (cached)
VOCAB=bench/out/multi30k-8k.model
if [ ! -s "$VOCAB" ]; then
    echo "training the 8000-piece vocabulary on $SRC + $TGT ..." >&2
    spm_train --input="$SRC,$TGT" --model_prefix="${VOCAB%.model}" --vocab_size=8000 \
        --model_type=unigram --pad_id=3 --unk_id=0 --bos_id=1 --eos_id=2 \
        --character_coverage=1.0 --num_threads=2 >"$OUT/spm_train.log" 2>&1 ||
        die "spm_train failed: see $OUT/spm_train.log"
fi

# one run: SETTING TAG; prints "tok_s wait_share comm_share" over the timed steps
run() {
    local setting=$1 tag=$2 m=$OUT/$1-$2.jsonl launch=() threads=1
    case $setting in
    2x1) launch=(mpirun -np 2 --bind-to core) ;;
    1x2) threads=2 ;;
    esac
    rm -f "$m"
    OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 "${launch[@]}" "$PETIT" train --src "$SRC" --tgt "$TGT" \
        --vocab "$VOCAB" -o "$OUT/$setting-$tag.gguf" \
        --d-model 256 --heads 4 --ff 1024 --enc-layers 6 --dec-layers 6 \
        --batch-tokens "$BATCH_TOKENS" --threads "$threads" --max-steps $((WARM + STEPS)) --save-every 1000000 \
        --metrics "$m" --log-every 1 --seed 1 >"$OUT/$setting-$tag.log" 2>&1 ||
        die "$setting run failed: see $OUT/$setting-$tag.log"
    awk -v warm="$WARM" '
        function num(key,   i, s) {
            i = index($0, "\"" key "\":"); if (!i) return "";
            s = substr($0, i + length(key) + 3); sub(/[,}].*/, "", s); return s + 0 }
        { step = num("step"); el = num("elapsed"); dt = el - prev; prev = el
          if (step > warm) { secs += dt; tok += num("tok_s") * dt; w += num("wait_s"); c += num("comm_s"); n++ } }
        END { if (n == 0 || secs <= 0) exit 1; printf "%.1f %.4f %.4f\n", tok / secs, w / secs, c / secs }' "$m" ||
        die "no timed steps in $m"
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

load=$(cut -d' ' -f1 /proc/loadavg)
echo "data-parallel training: 1 rank vs 2 ranks (1 thread each), $ROUNDS round(s) of $STEPS timed steps (+$WARM warm-up), $BATCH_TOKENS-token batches" >&2
awk -v l="$load" 'BEGIN { if (l + 0 > 0.5) print "warning: load average " l " at the start: other work on this machine makes the numbers noisy" }' >&2

T11=() T21=() T12=() W21=() C21=()
SETTINGS=(1x1 2x1 1x2)
for r in $(seq 1 "$ROUNDS"); do
    for i in 0 1 2; do # rotate the order from round to round
        s=${SETTINGS[$(((i + r - 1) % 3))]}
        read -r tok w c <<<"$(run "$s" "$r")"
        case $s in
        1x1) T11+=("$tok") ;;
        2x1) T21+=("$tok") W21+=("$w") C21+=("$c") ;;
        1x2) T12+=("$tok") ;;
        esac
        printf '  round %d: %s %8.1f tok/s%s\n' "$r" "$s" "$tok" \
            "$([ "$s" = 2x1 ] && printf ' (wait %.1f%%, comm %.1f%%)' "$(awk -v x="$w" 'BEGIN{print 100*x}')" "$(awk -v x="$c" 'BEGIN{print 100*x}')")" >&2
    done
done
load_end=$(cut -d' ' -f1 /proc/loadavg)

t11=$(median "${T11[@]}") t21=$(median "${T21[@]}") t12=$(median "${T12[@]}")
w21=$(median "${W21[@]}") c21=$(median "${C21[@]}")
mpi_ver=$("$PETIT" --version | sed 's/.*mpi: \(.*\))/\1/')
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
params_mb=$(awk '/parameters/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^parameters/) { printf "%.1f", $i * 4 / 1048576; exit } }' "$OUT/1x1-1.log")

awk -v rounds="$ROUNDS" -v steps="$STEPS" -v warm="$WARM" -v bt="$BATCH_TOKENS" \
    -v t11="$t11" -v t21="$t21" -v t12="$t12" -v w="$w21" -v c="$c21" -v gmb="$params_mb" \
    -v a11="${T11[*]}" -v a21="${T21[*]}" -v a12="${T12[*]}" -v aw="${W21[*]}" -v ac="${C21[*]}" \
    -v mpi="$mpi_ver" -v cpu="$cpu" -v l0="$load" -v l1="$load_end" '
function list(s,   a, n, i, o) { n = split(s, a, " "); o = ""; for (i = 1; i <= n; i++) o = o (i > 1 ? ", " : "") a[i]; return "[" o "]" }
BEGIN {
    sp = t11 > 0 ? t21 / t11 : 0; sp12 = t11 > 0 ? t12 / t11 : 0
    printf "\n%-36s %10s %10s %10s\n", "", "1 rank", "2 ranks", "1 rank"
    printf "%-36s %10s %10s %10s\n", "", "1 thread", "1 thread", "2 threads"
    n = split(a11, x, " "); split(a21, y, " "); split(a12, z, " ")
    for (i = 1; i <= n; i++) printf "%-36s %10.1f %10.1f %10.1f\n", "round " i " tokens/s", x[i], y[i], z[i]
    printf "%-36s %10.1f %10.1f %10.1f\n", "median tokens/s", t11, t21, t12
    printf "%-36s %10s %9.2fx %9.2fx\n", "speedup over 1 rank, 1 thread", "1.00x", sp, sp12
    printf "%-36s %10s %9.1f%%\n", "step time in the all-reduce (comm)", "", 100 * c
    printf "%-36s %10s %9.1f%%\n", "step time waiting for the other rank", "", 100 * w
    printf "\n2 ranks vs 1: %.2fx (target >= 1.8x: %s); gradients of %s MB summed every step\n", sp, (sp >= 1.8 ? "met" : "MISSED"), gmb
    printf "(%d round(s) x %d timed steps after %d warm-up, %d-token batches; %s; %s;\n", rounds, steps, warm, bt, cpu, mpi
    printf " load average %s at the start, %s at the end)\n\n", l0, l1
    printf "{\"speedup_2_ranks\": %.3f, \"comm_share\": %.4f, \"wait_share\": %.4f, \"tok_s_1_rank\": %.1f, \"tok_s_2_ranks\": %.1f, ", sp, c, w, t11, t21
    printf "\"tok_s_1_rank_2_threads\": %.1f, \"speedup_2_threads\": %.3f, \"rounds_1_rank\": %s, \"rounds_2_ranks\": %s, ", t12, sp12, list(a11), list(a21)
    printf "\"rounds_2_threads\": %s, \"rounds_comm_share\": %s, \"rounds_wait_share\": %s, \"rounds\": %d, \"steps\": %d, ", list(a12), list(ac), list(aw), rounds, steps
    printf "\"warmup_steps\": %d, \"batch_tokens\": %d, \"gradient_mb\": %s, \"mpi\": \"%s\", \"load_avg_start\": %s, \"load_avg_end\": %s}\n", warm, bt, gmb, mpi, l0, l1
}'
