#!/usr/bin/env bash
# Every instruction-set level this CPU has (petit --version lists them;
# PETIT_ISA caps the choice):
#   - translations (float, q8, q4; beam 2, n-best with scores) are the same
#     bits with --threads 1 and --threads 2;
#   - training is not bit-identical across thread counts (BLAS's sgemm and the
#     threads' partial sums of the weight gradients round differently), so
#     its tolerance: every step's loss within 1e-5 relative over 12 steps,
#     and the two models translate the test lines alike (at least 22 of 24);
#   - across levels, the float and q8 models' translations agree on at least
#     20 of 24 lines (the levels differ in the last bits of their sums).
set -u
P=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

levels=$("$P" --version | sed -n 's/^isa: [^ ]* (this CPU: \([^;]*\);.*/\1/p')
[ -n "$levels" ] || { echo "FAIL petit --version names no levels"; exit 1; }
cap=${PETIT_ISA:-}
echo "levels on this CPU: $levels${cap:+ (PETIT_ISA=$cap)}"
head -300 "$DATA/train/multi30k.en" > "$W/s.en"
head -300 "$DATA/train/multi30k.fr" > "$W/s.fr"
head -24 "$DATA/test/multi30k-test2016.en" > "$W/t.en"
T=(--src "$W/s.en" --tgt "$W/s.fr" --vocab tests/data/m30k-1k.model --d-model 64 --heads 2 --ff 128
   --enc-layers 1 --dec-layers 2 --dec-attn multiaxis --max-len 48 --lr 3e-3 --warmup 10
   --batch-tokens 1200 --max-steps 12 --quiet)
top=$("$P" --version | sed -n 's/^isa: \([^ ]*\) .*/\1/p') past=
ran=()
for isa in scalar avx2 avx512 avx512-vnni; do
    case " $levels " in *" $isa "*) ;; *) echo "skip $isa: not on this CPU"; continue ;; esac
    # above the level in use (PETIT_ISA's cap: PETIT_ISA=avx2 reproduces an AVX2-only machine)
    if [ -n "$past" ]; then echo "skip $isa: PETIT_ISA=$cap"; continue; fi
    [ "$isa" = "$top" ] && past=1
    ran+=("$isa")
    d="$W/$isa"; mkdir -p "$d"
    for th in 1 2; do
        PETIT_ISA=$isa "$P" train "${T[@]}" --threads $th -o "$d/m$th.gguf" --metrics "$d/l$th.jsonl" --log-every 1 \
            || bad "$isa: training, $th threads"
    done
    worst=$(paste -d' ' <(grep -o '"loss":[0-9.]*' "$d/l1.jsonl" | cut -d: -f2) \
                        <(grep -o '"loss":[0-9.]*' "$d/l2.jsonl" | cut -d: -f2) |
            awk '{d=$1-$2; if(d<0)d=-d; r=d/$1; if(r>w)w=r; n++} END{if(n<12)print "short"; else printf "%.2g", w}')
    if [ "$worst" != short ] && awk -v w="$worst" 'BEGIN{exit !(w <= 1e-5)}'; then
        ok "$isa: training, 1 and 2 threads: 12 losses within $worst relative"
    else bad "$isa: training, 1 and 2 threads: losses apart by $worst"; fi
    for th in 1 2; do
        PETIT_ISA=$isa "$P" translate -m "$d/m$th.gguf" --beam 2 --threads 1 < "$W/t.en" > "$d/tr$th" 2>/dev/null
    done
    same=$(paste -d'\t' "$d/tr1" "$d/tr2" | awk -F'\t' '$1==$2' | wc -l)
    if [ "$same" -ge 22 ]; then ok "$isa: models trained on 1 and 2 threads: $same of 24 translations the same"
    else bad "$isa: models trained on 1 and 2 threads: only $same of 24 translations the same"; fi
    PETIT_ISA=$isa "$P" quantize -m "$d/m1.gguf" -o "$d/q8.gguf" --type q8 2>/dev/null || bad "$isa: q8"
    PETIT_ISA=$isa "$P" quantize -m "$d/m1.gguf" -o "$d/q4.gguf" --type q4 2>/dev/null || bad "$isa: q4"
    for m in m1 q8 q4; do
        for th in 1 2; do
            PETIT_ISA=$isa "$P" translate -m "$d/$m.gguf" --beam 2 --nbest 2 --verbose --threads $th \
                < "$W/t.en" > "$d/$m.t$th" 2>/dev/null || bad "$isa: translate $m, $th threads"
        done
        if [ -s "$d/$m.t1" ] && cmp -s "$d/$m.t1" "$d/$m.t2"; then ok "$isa: $m translations and scores, 1 and 2 threads: same bits"
        else bad "$isa: $m translations differ between 1 and 2 threads"; fi
    done
done
[ ${#ran[@]} -gt 0 ] || bad "no level ran"
# across levels: the same model file (trained at the first level), translated at each
if [ ${#ran[@]} -gt 1 ]; then
    ref=${ran[0]}
    for isa in "${ran[@]:1}"; do
        for m in m1 q8; do
            PETIT_ISA=$isa "$P" translate -m "$W/$ref/$m.gguf" --beam 2 --threads 1 < "$W/t.en" > "$W/x.$isa.$m" 2>/dev/null
            PETIT_ISA=$ref "$P" translate -m "$W/$ref/$m.gguf" --beam 2 --threads 1 < "$W/t.en" > "$W/x.$ref.$m" 2>/dev/null
            same=$(paste -d'\t' "$W/x.$isa.$m" "$W/x.$ref.$m" | awk -F'\t' '$1==$2' | wc -l)
            if [ "$same" -ge 20 ]; then ok "$m at $isa and $ref: $same of 24 lines the same"
            else bad "$m at $isa and $ref: only $same of 24 lines the same"; fi
        done
    done
fi
echo "levels run: ${ran[*]}"
exit $fail
