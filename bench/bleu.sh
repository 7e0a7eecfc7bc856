#!/usr/bin/env bash
# bench/bleu.sh: how long `petit bleu` takes over newstest2014 (3003 lines),
# next to sacreBLEU on the same files in the same run.
#
#   bash bench/bleu.sh [--quick] [--runs N]
#
# Hypothesis: tests/data/bleu/nt14-perturbed.fr (a perturbed copy of the
# reference, from tools/bleu_fixtures.py); reference:
# $PETIT_DATA/test/newstest2014.fr. Each timing is the median wall time of
# several runs of the whole command (process start included). sacreBLEU is
# timed twice if it is installed ($SACREBLEU, .venv/bin/sacrebleu or PATH):
# its command line (Python start-up and imports included) and its
# corpus_score calls alone (in-process, the fairest comparison for
# scoring itself). The scores of both are compared (version field aside).
# The last line is one JSON object with the headline figures.
set -u
cd "$(dirname "$0")/.."
PETIT=${PETIT:-build/petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
REF=$DATA/test/newstest2014.fr
HYP=tests/data/bleu/nt14-perturbed.fr
runs=11 sruns=5
while [ $# -gt 0 ]; do
    case $1 in
    --quick) runs=5 sruns=1 ;;
    --runs) runs=$2 sruns=$2; shift ;;
    *) echo "usage: bench/bleu.sh [--quick] [--runs N]" >&2; exit 2 ;;
    esac
    shift
done
[ -x "$PETIT" ] || { echo "bench/bleu.sh: $PETIT not built (run make)" >&2; exit 1; }
[ -r "$REF" ] || { echo "bench/bleu.sh: $REF missing" >&2; exit 1; }

SACREBLEU=${SACREBLEU:-}
[ -z "$SACREBLEU" ] && [ -x .venv/bin/sacrebleu ] && SACREBLEU=.venv/bin/sacrebleu
[ -z "$SACREBLEU" ] && SACREBLEU=$(command -v sacrebleu || true)

# median wall seconds of N runs of a command (output discarded)
median_time() {
    local n=$1
    shift
    for ((i = 0; i < n; i++)); do
        local t0 t1
        t0=$(date +%s%N)
        "$@" >/dev/null 2>&1
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000))
    done | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.4f", m/1e6}'
}

lines=$(wc -l <"$HYP")
echo "== BLEU scoring: $lines lines, $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%d)"
echo "   model name: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
load=$(cut -d" " -f1 /proc/loadavg)
echo "   load average at start: $load (other work on the machine slows every timing)"
t_bleu=$(median_time "$runs" "$PETIT" bleu -m bleu "$REF" -i "$HYP")
t_chrf=$(median_time "$runs" "$PETIT" bleu -m chrf "$REF" -i "$HYP")
t_both=$(median_time "$runs" "$PETIT" bleu "$REF" -i "$HYP")
t_start=$(median_time "$runs" "$PETIT" --version)
out=$("$PETIT" bleu "$REF" -i "$HYP")
echo "$out"
bleu=$(sed -n 's/^BLEU|[^=]*= \([0-9.]*\) .*/\1/p' <<<"$out")
chrf=$(sed -n 's/^chrF2|[^=]*= \([0-9.]*\)$/\1/p' <<<"$out")
echo "petit bleu -m bleu        median of $runs: ${t_bleu}s"
echo "petit bleu -m chrf        median of $runs: ${t_chrf}s"
echo "petit bleu (BLEU + chrF)  median of $runs: ${t_both}s   (process start alone: ${t_start}s)"

s_cli=null s_cli_bleu=null s_api=null same=null ratio=null ratio_bleu=null
if [ -n "$SACREBLEU" ]; then
    s_cli_bleu=$(median_time "$sruns" "$SACREBLEU" "$REF" -i "$HYP" -m bleu -f text -w 2)
    s_cli=$(median_time "$sruns" "$SACREBLEU" "$REF" -i "$HYP" -m bleu chrf -f text -w 2)
    py=$(dirname "$SACREBLEU")/python
    [ -x "$py" ] || py=python3
    s_api=$("$py" - "$REF" "$HYP" "$sruns" <<'EOF'
import sys, time, statistics
from sacrebleu.metrics import BLEU, CHRF
ref, hyp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
read = lambda p: [l.rstrip() for l in open(p, encoding="utf-8", newline="\n")]
R, H = read(ref), read(hyp)
ts = []
for _ in range(n):
    t = time.perf_counter()
    BLEU().corpus_score(H, [R]); CHRF().corpus_score(H, [R])
    ts.append(time.perf_counter() - t)
print(f"{statistics.median(ts):.4f}")
EOF
)
    sout=$("$SACREBLEU" "$REF" -i "$HYP" -m bleu chrf -f text -w 2 | sed 's/^ *//')
    if [ "$(sed 's/version:[^ ]*/version:V/' <<<"$out")" = "$(sed 's/version:[^ ]*/version:V/' <<<"$sout")" ]; then
        same=true
    else
        same=false
        echo "sacreBLEU printed:"
        echo "$sout"
    fi
    ratio=$(awk -v a="$s_cli" -v b="$t_both" 'BEGIN{printf "%.1f", a/b}')
    ratio_bleu=$(awk -v a="$s_cli_bleu" -v b="$t_bleu" 'BEGIN{printf "%.1f", a/b}')
    echo "sacrebleu -m bleu         median of $sruns: ${s_cli_bleu}s command line"
    echo "sacrebleu (BLEU + chrF)   median of $sruns: ${s_cli}s command line, ${s_api}s in corpus_score alone"
    echo "same scores as sacreBLEU: $same; petit is ${ratio_bleu}x (BLEU) and ${ratio}x (BLEU + chrF) faster than the sacrebleu command"
else
    echo "sacrebleu not found: skipping the comparison (pip install sacrebleu into .venv/)"
fi
echo "{\"bench\": \"bleu\", \"lines\": $lines, \"runs\": $runs, \"bleu\": $bleu, \"chrf\": $chrf," \
    "\"petit_bleu_s\": $t_bleu, \"petit_chrf_s\": $t_chrf, \"petit_bleu_chrf_s\": $t_both," \
    "\"petit_start_s\": $t_start, \"sacrebleu_bleu_s\": $s_cli_bleu, \"sacrebleu_bleu_chrf_s\": $s_cli," \
    "\"sacrebleu_api_s\": $s_api, \"speedup_bleu\": $ratio_bleu, \"speedup_bleu_chrf\": $ratio, \"same_as_sacrebleu\": $same, \"load_avg\": $load}"
