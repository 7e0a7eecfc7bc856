#!/usr/bin/env bash
# bench/isa.sh: the same integer model at every instruction-set level this CPU has
# (PETIT_ISA=scalar|avx2|avx512|avx512-vnni): BLEU on Multi30k test2016 (beam 4,
# batch 32) and speed side by side, in one run, rounds rotating the levels.
#
# Model: MODEL (default models/en-fr.gguf, the bundled model) quantized to q8
# (petit quantize --type q8, unless MODEL is already integer or packed).
# Speed: translation wall time of the set (load included, the same for all) at
# batch 32 beam 4 and batch 1 greedy (first B1_LINES lines), 2 threads, median of
# ROUNDS; the f32 model at the same setting beside it, to see whether q8 products of
# many rows beat fp32 on this CPU (on AVX-512 VNNI they run integer).
# Target (issue): BLEU within 0.1 across levels.
# Last line: JSON with each level's BLEU and times.
#
# usage: bench/isa.sh [--quick] [-m MODEL] [--rounds N] [--emul512]
#   --quick   200 lines, 1 round
#   --emul512 also the AVX-512 levels this CPU lacks, emulated on AVX2 (make
#             emul512's binary, SIMDe): their BLEU is the real kernels' BLEU, lane
#             for lane; their times are the emulation's, not a speed (marked *)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=3 LINES=0 B1_LINES=100 MODEL=models/en-fr.gguf EMUL=0
while [ $# -gt 0 ]; do
    case $1 in
    --quick) ROUNDS=1 LINES=200 B1_LINES=30 ;;
    -m) MODEL=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --emul512) EMUL=1 ;;
    -h | --help) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/isa.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
P=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
O=bench/out/isa
mkdir -p "$O"
make -s petit
src=$DATA/test/multi30k-test2016.en ref=$DATA/test/multi30k-test2016.fr
if [ "$LINES" -gt 0 ]; then
    head -n "$LINES" "$src" >"$O/src.en"; head -n "$LINES" "$ref" >"$O/ref.fr"; src=$O/src.en ref=$O/ref.fr
fi
head -n "$B1_LINES" "$src" >"$O/b1.en"
Q=$O/q8.gguf
info=$("$P" info "$MODEL")
if ! grep -qE ' (Q8_0|Q4_0) |packed|ecq' <<<"$info"; then
    [ "$Q" -nt "$MODEL" ] || "$P" quantize -m "$MODEL" -o "$Q" --type q8 2>/dev/null
else
    Q=$MODEL
fi
levels=$("$P" --version | sed -n 's/^isa: [^ ]* (this CPU: \([^;]*\);.*/\1/p')
declare -A BIN
for isa in $levels; do BIN[$isa]=$P; done
if [ "$EMUL" = 1 ]; then
    E=build-emul512/petit
    make -s BUILD=build-emul512 EMUL512=1 OPT="-O2 -mavx2 -mfma -mf16c -Wno-psabi" "$E"
    for isa in avx512 avx512-vnni; do
        [ -n "${BIN[$isa]:-}" ] && continue
        BIN[$isa]=$E levels+=" $isa"
    done
fi
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "CPU: $cpu; levels: $levels; model: $Q; $(wc -l <"$src") lines; $ROUNDS rounds"
# secs IN OUT CMD...: CMD <IN >OUT, prints its wall time in seconds
secs() {
    local in=$1 out=$2 t0 t1; shift 2
    t0=$(date +%s.%N); "$@" <"$in" >"$out" 2>/dev/null; t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}'
}
declare -A T32 T1 F32
for r in $(seq 1 "$ROUNDS"); do
    set -- $levels
    # rotate the order each round
    for k in $(seq 2 "$r"); do set -- "${@:2}" "$1"; done
    for isa in "$@"; do
        T32[$isa]+="$(PETIT_ISA=$isa secs "$src" "$O/hyp.$isa" "${BIN[$isa]}" translate -m "$Q" --beam 4 --batch 32 --threads 2) "
        T1[$isa]+="$(PETIT_ISA=$isa secs "$O/b1.en" /dev/null "${BIN[$isa]}" translate -m "$Q" --beam 1 --batch 1 --threads 2) "
        if [ "$Q" != "$MODEL" ]; then
            F32[$isa]+="$(PETIT_ISA=$isa secs "$src" /dev/null "${BIN[$isa]}" translate -m "$MODEL" --beam 4 --batch 32 --threads 2) "
        fi
    done
done
med() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '%-12s %8s %14s %14s %14s\n' level BLEU "b32 beam4 s" "b1 greedy s" "f32 b32 s"
json="{\"cpu\":\"$cpu\",\"lines\":$(wc -l <"$src")"
for isa in $levels; do
    b=$("$P" bleu "$ref" <"$O/hyp.$isa" | sed -n 's/^BLEU[^=]*= \([0-9.]*\) .*/\1/p')
    t32=$(echo "${T32[$isa]}" | med) t1=$(echo "${T1[$isa]}" | med) f=-
    [ -n "${F32[$isa]:-}" ] && f=$(echo "${F32[$isa]}" | med)
    if [ "${BIN[$isa]}" != "$P" ]; then # emulated: BLEU only
        printf '%-12s %8s %14s %14s %14s\n' "$isa*" "$b" "$t32*" "$t1*" "${f}*"
        json+=",\"${isa//-/_}_emulated_bleu\":$b"
        continue
    fi
    printf '%-12s %8s %14s %14s %14s\n' "$isa" "$b" "$t32" "$t1" "$f"
    json+=",\"${isa//-/_}_bleu\":$b,\"${isa//-/_}_b32_s\":$t32,\"${isa//-/_}_b1_s\":$t1"
    [ "$f" != - ] && json+=",\"${isa//-/_}_f32_b32_s\":$f"
done
[ "$EMUL" = 1 ] && echo "* emulated on AVX2 (make emul512): the AVX-512 kernels' results, not their speed"
echo "$json}"
