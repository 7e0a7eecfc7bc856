#!/usr/bin/env bash
# tools/spm_compare.sh: petit's SentencePiece encoder/decoder against
# sentencepiece's own spm_encode/spm_decode, line by line, on every file of
# the shared corpus (train, dev, test; ~430k lines).
#
# It trains the models it needs into build/spm/ (once; they are kept) with
# spm_train, then for every model and file compares
#   ids     petit encode --ids        vs  spm_encode --output_format=id
#   pieces  petit encode              vs  spm_encode
#   round   petit encode --ids | petit decode --ids
#                                     vs  spm_encode --output_format=id | spm_decode --input_format=id
# and prints the number of differing lines of each. Exit 1 if any differ.
#
# usage: tools/spm_compare.sh [--quick] [--models "NAME..."] [-m FILE.model ...]
#   --quick       the first 2000 lines of each file, and only 4 models
#   --models      a subset of the model names below
#   -m FILE       compare this .model too (repeatable); with -m only, no training
# Environment: PETIT (default build/petit), PETIT_DATA (../shared/data/en-fr),
# SPM_DIR (build/spm), THREADS for spm_train (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
PETIT=${PETIT:-build/petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
DIR=${SPM_DIR:-build/spm}
THREADS=${THREADS:-$(nproc)}
quick=0 only_given=0 models="" given=()
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --models) models=$2; shift ;;
    -m) given+=("$2"); shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "spm_compare: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ ${#given[@]} -gt 0 ] && [ -z "$models" ] && only_given=1
for t in spm_train spm_encode spm_decode; do
    command -v $t >/dev/null || { echo "spm_compare: $t not found (apt-get install sentencepiece)" >&2; exit 1; }
done
[ -x "$PETIT" ] || { echo "spm_compare: $PETIT not built (run make)" >&2; exit 1; }
mkdir -p "$DIR"

# name  spm_train options (all with petit's special ids)
declare -A SPEC=(
    [uni8k]="--model_type=unigram --vocab_size=8000"
    [bpe8k]="--model_type=bpe --vocab_size=8000"
    [uni8k_id]="--model_type=unigram --vocab_size=8000 --normalization_rule_name=identity"
    [bpe8k_id]="--model_type=bpe --vocab_size=8000 --normalization_rule_name=identity"
    [uni8k_bf]="--model_type=unigram --vocab_size=8000 --byte_fallback=true"
    [bpe8k_bf]="--model_type=bpe --vocab_size=8000 --byte_fallback=true"
    [uni8k_id_bf]="--model_type=unigram --vocab_size=8000 --normalization_rule_name=identity --byte_fallback=true"
    [bpe8k_id_bf]="--model_type=bpe --vocab_size=8000 --normalization_rule_name=identity --byte_fallback=true"
    [uni1k_cov]="--model_type=unigram --vocab_size=1000 --character_coverage=0.98"
    [bpe1k_cov]="--model_type=bpe --vocab_size=1000 --character_coverage=0.98"
    [uni2k_user]="--model_type=unigram --vocab_size=2000 --user_defined_symbols=<sep>,@@,the,▁de --control_symbols=<mask> --byte_fallback=true"
    [bpe2k_user]="--model_type=bpe --vocab_size=2000 --user_defined_symbols=<sep>,@@,the,▁de --control_symbols=<mask>"
    [uni4k_split]="--model_type=unigram --vocab_size=4000 --split_digits=true --remove_extra_whitespaces=false --add_dummy_prefix=false"
)
ORDER="uni8k bpe8k uni8k_id bpe8k_id uni8k_bf bpe8k_bf uni8k_id_bf bpe8k_id_bf uni1k_cov bpe1k_cov uni2k_user bpe2k_user uni4k_split"
if [ -z "$models" ]; then
    if [ $only_given = 1 ]; then models=""
    elif [ $quick = 1 ]; then models="uni8k bpe8k uni8k_id_bf bpe2k_user"
    else models=$ORDER; fi
fi

train_files=$(ls "$DATA"/train/*.en "$DATA"/train/*.fr)
inputs=$(echo $train_files | tr ' ' ',')
paths=()
for name in $models; do
    [ -n "${SPEC[$name]:-}" ] || { echo "spm_compare: unknown model $name" >&2; exit 2; }
    if [ ! -s "$DIR/$name.model" ]; then
        echo "training $name ..." >&2
        spm_train --input="$inputs" --model_prefix="$DIR/$name" ${SPEC[$name]} \
            --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=3 --num_threads="$THREADS" \
            --input_sentence_size=1000000 --shuffle_input_sentence=true >"$DIR/$name.log" 2>&1 ||
            { echo "spm_compare: spm_train failed for $name, see $DIR/$name.log" >&2; exit 1; }
    fi
    paths+=("$DIR/$name.model")
done
paths+=("${given[@]}")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=$(ls "$DATA"/train/* "$DATA"/dev/* "$DATA"/test/* | grep -E '\.(en|fr)$')
# lines that differ between two files (a missing line counts)
differ() {
    awk 'NR==FNR { a[FNR] = $0; n = FNR; next }
         { if (!(FNR in a) || a[FNR] != $0) d++; m = FNR }
         END { if (n > m) d += n - m; print d + 0 }' "$1" "$2"
}
total_lines=0 total_bad=0
printf '%-14s %-28s %8s %6s %7s %6s\n' model file lines ids pieces round
for model in "${paths[@]}"; do
    mname=$(basename "$model" .model)
    for f in $files; do
        src=$f
        if [ $quick = 1 ]; then head -n 2000 "$f" >"$tmp/in"; src=$tmp/in; fi
        spm_encode --model="$model" --output_format=id <"$src" >"$tmp/spm.ids"
        "$PETIT" encode -m "$model" --ids <"$src" >"$tmp/pt.ids"
        spm_encode --model="$model" <"$src" >"$tmp/spm.pieces"
        "$PETIT" encode -m "$model" <"$src" >"$tmp/pt.pieces"
        spm_decode --model="$model" --input_format=id <"$tmp/spm.ids" >"$tmp/spm.round"
        "$PETIT" decode -m "$model" --ids <"$tmp/pt.ids" >"$tmp/pt.round"
        lines=$(wc -l <"$src")
        a=$(differ "$tmp/spm.ids" "$tmp/pt.ids")
        b=$(differ "$tmp/spm.pieces" "$tmp/pt.pieces")
        c=$(differ "$tmp/spm.round" "$tmp/pt.round")
        printf '%-14s %-28s %8d %6d %7d %6d\n' "$mname" "${f#$DATA/}" "$lines" "$a" "$b" "$c"
        total_lines=$((total_lines + lines))
        total_bad=$((total_bad + a + b + c))
    done
done
echo "total: $total_lines lines compared, $total_bad mismatches"
[ $total_bad -eq 0 ]
