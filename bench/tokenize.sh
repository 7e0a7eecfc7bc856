#!/usr/bin/env bash
# bench/tokenize.sh: tokens per second of petit's SentencePiece encoder
# against sentencepiece's spm_encode, side by side in one run: same input
# (the whole training corpus, train/*.en and train/*.fr concatenated), same
# model, ids written to a file, one thread each, median of 3 runs (the two
# tools alternate). It also counts the lines whose ids differ.
#
# usage: bench/tokenize.sh [--quick] [-m MODEL] [--runs N]
#   --quick    the first 50,000 lines only (about a minute with training)
#   -m MODEL   use this .model instead of training a unigram 8k model
#              (trained once with `petit vocab` into build/bench/)
# The last line of output is one JSON object: lines, tokens, mismatches,
# petit_tok_s, spm_tok_s, ratio (petit / spm), and the settings.
set -euo pipefail
cd "$(dirname "$0")/.."
PETIT=${PETIT:-build/petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
quick=0 model="" runs=3
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    -m) model=$2; shift ;;
    --runs) runs=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tokenize.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
command -v spm_encode >/dev/null || { echo "tokenize.sh: spm_encode not found (apt-get install sentencepiece)" >&2; exit 1; }
[ -x "$PETIT" ] || { echo "tokenize.sh: $PETIT not built (run make)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat "$DATA"/train/*.en "$DATA"/train/*.fr >"$tmp/all"
if [ $quick = 1 ]; then head -n 50000 "$tmp/all" >"$tmp/corpus"; else mv "$tmp/all" "$tmp/corpus"; fi
lines=$(wc -l <"$tmp/corpus")
if [ -z "$model" ]; then
    model=build/bench/spm_uni8k.model
    if [ ! -s "$model" ]; then
        mkdir -p build/bench
        "$PETIT" vocab $(for f in "$DATA"/train/*.en "$DATA"/train/*.fr; do echo -i "$f"; done) \
            -o build/bench/spm_uni8k --size 8000 >&2
    fi
fi

now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
: >"$tmp/t_spm"
: >"$tmp/t_petit"
for ((r = 1; r <= runs; r++)); do
    t0=$(now)
    spm_encode --model="$model" --output_format=id <"$tmp/corpus" >"$tmp/spm.ids"
    t1=$(now)
    "$PETIT" encode -m "$model" --ids <"$tmp/corpus" >"$tmp/petit.ids"
    t2=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }' >>"$tmp/t_spm"
    awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }' >>"$tmp/t_petit"
done
tokens=$(wc -w <"$tmp/spm.ids")
mismatches=$(awk 'NR == FNR { a[FNR] = $0; n = FNR; next }
                  { if (!(FNR in a) || a[FNR] != $0) d++; m = FNR }
                  END { if (n > m) d += n - m; print d + 0 }' "$tmp/spm.ids" "$tmp/petit.ids")
t_spm=$(median <"$tmp/t_spm")
t_petit=$(median <"$tmp/t_petit")
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')

awk -v lines="$lines" -v tokens="$tokens" -v ts="$t_spm" -v tp="$t_petit" -v mm="$mismatches" \
    -v model="$model" -v runs="$runs" -v quick="$quick" -v cpu="$cpu" -v all_s="$(tr '\n' ' ' <"$tmp/t_spm")" \
    -v all_p="$(tr '\n' ' ' <"$tmp/t_petit")" 'BEGIN {
    printf "tokenization: %d lines, %d tokens, model %s, median of %d runs, 1 thread each (%s)\n", lines, tokens, model, runs, cpu
    printf "%-12s %10s %14s %14s   %s\n", "encoder", "seconds", "lines/s", "tokens/s", "runs (s)"
    printf "%-12s %10.3f %14.0f %14.0f   %s\n", "spm_encode", ts, lines / ts, tokens / ts, all_s
    printf "%-12s %10.3f %14.0f %14.0f   %s\n", "petit", tp, lines / tp, tokens / tp, all_p
    printf "petit / spm_encode: %.2fx; lines whose ids differ: %d\n", ts / tp, mm
    printf "{\"bench\":\"tokenize\",\"lines\":%d,\"tokens\":%d,\"mismatches\":%d,\"petit_tok_s\":%.0f,\"spm_tok_s\":%.0f,\"ratio\":%.3f,\"petit_s\":%.4f,\"spm_s\":%.4f,\"runs\":%d,\"quick\":%s,\"model\":\"%s\"}\n",
        lines, tokens, mm, tokens / tp, tokens / ts, ts / tp, tp, ts, runs, quick ? "true" : "false", model
}'
