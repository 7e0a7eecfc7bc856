#!/usr/bin/env bash
# petit quantize: q8 / q4 by RTN and GPTQ give models that load, report
# their types in `petit info`, and translate close to the float model; bad
# input (a quantized model, an unknown type, an empty, binary or foreign
# calibration file, the output naming the input) is a clear error and the
# input model is untouched.
set -u
P=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

head -400 "$DATA/train/multi30k.en" > "$W/s.en"
head -400 "$DATA/train/multi30k.fr" > "$W/s.fr"
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --vocab tests/data/m30k-1k.model -o "$W/m.gguf" \
    --d-model 64 --heads 2 --ff 128 --enc-layers 1 --dec-layers 1 --max-len 48 --dropout 0 \
    --lr 3e-3 --warmup 10 --batch-tokens 1500 --max-steps 80 --threads 2 --quiet || bad "training the test model"
M="$W/m.gguf"
sum0=$(sha256sum < "$M")
head -60 "$DATA/dev/multi30k-val.en" > "$W/calib.en"
head -40 "$DATA/test/multi30k-test2016.en" > "$W/t.en"
"$P" translate -m "$M" --beam 2 --threads 1 < "$W/t.en" > "$W/f32.txt"

for spec in "q8 rtn" "q4 rtn" "q4 gptq"; do
    set -- $spec
    extra=(); [ "$2" = gptq ] && extra=(--calib "$W/calib.en")
    out="$W/$1-$2.gguf"
    "$P" quantize -m "$M" -o "$out" --type "$1" --method "$2" "${extra[@]}" -q 2> "$W/err"; rc=$?
    [ $rc -eq 0 ] && ok "quantize --type $1 --method $2" || { bad "quantize $spec: exit $rc $(cat "$W/err")"; continue; }
    T=$([ "$1" = q8 ] && echo Q8_0 || echo Q4_0)
    "$P" info "$out" > "$W/info" 2>&1
    grep -qE "^dec\.0\.ffn\.up\.weight +$T " "$W/info" && grep -qE "^tok_emb\.weight +$T " "$W/info" &&
        grep -qE "^dec\.0\.ffn\.up\.bias +F32 " "$W/info" && ok "$1 $2: info lists $T weights, F32 biases" ||
        bad "$1 $2: info: $(grep -E 'ffn.up|tok_emb' "$W/info" | head -4)"
    grep -q 'petit.quant.method.*"'"$2"'"' "$W/info" && ok "$1 $2: petit.quant.method recorded" || bad "$1 $2: no petit.quant.method"
    s0=$(stat -c %s "$M"); s1=$(stat -c %s "$out")
    [ "$s1" -lt $((s0 * 2 / 5)) ] && ok "$1 $2: $s0 -> $s1 bytes" || bad "$1 $2: $s0 -> $s1 bytes, not smaller"
    "$P" translate -m "$out" --beam 2 --threads 1 < "$W/t.en" > "$W/$1-$2.txt" 2> "$W/err"; rc=$?
    n=$(wc -l < "$W/$1-$2.txt")
    [ $rc -eq 0 ] && [ "$n" -eq 40 ] && ok "$1 $2: translates (40 lines)" || bad "$1 $2: translate exit $rc, $n lines: $(cat "$W/err")"
    # closeness to the float model: BLEU of its output against the float output
    b=$("$P" bleu -i "$W/$1-$2.txt" "$W/f32.txt" 2>/dev/null | sed -n 's/^BLEU[^=]*= \([0-9.]*\).*/\1/p')
    min=$([ "$1" = q8 ] && echo 70 || echo 10)
    eval "bleu_$1_$2=$b"
    awk -v b="$b" -v m="$min" 'BEGIN{exit !(b >= m)}' && ok "$1 $2: BLEU against the float output $b >= $min" ||
        bad "$1 $2: BLEU against the float output '$b' < $min"
done
awk -v g="${bleu_q4_gptq:-0}" -v r="${bleu_q4_rtn:-0}" 'BEGIN{exit !(g > r)}' &&
    ok "q4: GPTQ is closer to the float model than RTN ($bleu_q4_gptq > $bleu_q4_rtn)" || bad "q4: GPTQ not closer than RTN"
[ "$(sha256sum < "$M")" = "$sum0" ] && ok "input model untouched" || bad "input model changed"

# bad input: a clear error, exit 1 (usage: 2), no output file, input untouched
expect() { # expect CODE WORD description -- args
    local code=$1 word=$2 what=$3; shift 4
    rm -f "$W/o.gguf"
    "$P" quantize "$@" > /dev/null 2> "$W/err"; rc=$?
    if [ $rc -eq "$code" ] && grep -qi -- "$word" "$W/err" && [ ! -e "$W/o.gguf" ]; then ok "$what: exit $rc ($(head -1 "$W/err"))"
    else bad "$what: exit $rc, want $code and '$word': $(cat "$W/err")"; fi
}
expect 1 "already quantized" "a quantized model" -- -m "$W/q8-rtn.gguf" -o "$W/o.gguf" --type q4
expect 2 "unknown --type" "unknown type" -- -m "$M" -o "$W/o.gguf" --type q3
expect 2 "unknown --method" "unknown method" -- -m "$M" -o "$W/o.gguf" --type q8 --method awq
expect 2 "needs --calib" "gptq without --calib" -- -m "$M" -o "$W/o.gguf" --type q4 --method gptq
: > "$W/empty.txt"
expect 1 "empty" "empty calibration file" -- -m "$M" -o "$W/o.gguf" --type q4 --method gptq --calib "$W/empty.txt"
printf '\n\n  \n' > "$W/blank.txt"
expect 1 "empty" "blank calibration file" -- -m "$M" -o "$W/o.gguf" --type q4 --method gptq --calib "$W/blank.txt"
expect 1 "not a text" "binary calibration file" -- -m "$M" -o "$W/o.gguf" --type q4 --method gptq --calib "$M"
printf 'これは日本語の文です。\n漢字と仮名だけ。\n' > "$W/ja.txt"
expect 1 "does not match" "calibration text in another script" -- -m "$M" -o "$W/o.gguf" --type q4 --method gptq --calib "$W/ja.txt"
expect 1 "No such file" "missing calibration file" -- -m "$M" -o "$W/o.gguf" --type q4 --method gptq --calib "$W/nope.txt"
expect 2 "overwrite the input" "output = input" -- -m "$M" -o "$M" --type q8
ln -s "$M" "$W/link.gguf"
expect 2 "overwrite the input" "output = a link to the input" -- -m "$M" -o "$W/link.gguf" --type q8
expect 2 "unknown tensor group" "bad --tensors" -- -m "$M" -o "$W/o.gguf" --type q8 --tensors emb,mlp
expect 1 "nope.gguf" "missing model" -- -m "$W/nope.gguf" -o "$W/o.gguf" --type q8
[ "$(sha256sum < "$M")" = "$sum0" ] && ok "input model untouched after the bad runs" || bad "input model changed"
"$P" quantize --help | grep -q -- "--method" && ok "--help" || bad "--help"

# --tensors: only the FFN quantized
"$P" quantize -m "$M" -o "$W/ffn.gguf" --type q8 --tensors ffn -q 2> "$W/err" || bad "--tensors ffn: $(cat "$W/err")"
"$P" info "$W/ffn.gguf" > "$W/info"
grep -qE "^enc\.0\.ffn\.down\.weight +Q8_0 " "$W/info" && grep -qE "^enc\.0\.attn\.qkv\.weight +F32 " "$W/info" &&
    grep -qE "^tok_emb\.weight +F32 " "$W/info" && ok "--tensors ffn: only FFN weights are Q8_0" || bad "--tensors ffn"

# quantization-aware training from the float model: writes integer weights
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --init "$M" --qat q4 --qat-emb q8 -o "$W/qat.gguf" --lr 1e-3 \
    --warmup 5 --batch-tokens 1500 --max-steps 20 --dropout 0 --threads 2 --quiet 2> "$W/err" || bad "train --qat: $(cat "$W/err")"
"$P" info "$W/qat.gguf" > "$W/info" 2>&1
grep -qE "^dec\.0\.ffn\.up\.weight +Q4_0 " "$W/info" && grep -qE "^tok_emb\.weight +Q8_0 " "$W/info" &&
    grep -q 'petit.quant.method.*"qat"' "$W/info" && ok "train --qat q4 --qat-emb q8: Q4_0 weights, Q8_0 embedding, method qat" ||
    bad "train --qat: $(grep -E 'quant|ffn.up.weight|tok_emb' "$W/info")"
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --init "$M" --qat q8 --qat-lsq -o "$W/lsq.gguf" --lr 1e-3 \
    --warmup 5 --batch-tokens 1500 --max-steps 10 --dropout 0 --threads 2 --quiet 2> "$W/err" || bad "train --qat-lsq: $(cat "$W/err")"
"$P" info "$W/lsq.gguf" 2>&1 | grep -q 'petit.quant.method.*"qat-lsq"' && ok "train --qat q8 --qat-lsq: method qat-lsq" || bad "--qat-lsq"
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --init "$M" --qat-lsq -o "$W/x.gguf" > /dev/null 2>&1
[ $? -eq 2 ] && ok "--qat-lsq without --qat: usage error" || bad "--qat-lsq without --qat"
n=$("$P" translate -m "$W/qat.gguf" --threads 1 < "$W/t.en" | wc -l)
[ "$n" -eq 40 ] && ok "QAT model translates" || bad "QAT model: $n lines"
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --init "$M" --qat q3 -o "$W/x.gguf" > /dev/null 2>&1
[ $? -eq 2 ] && ok "train --qat q3: usage error" || bad "train --qat q3"
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --init "$M" --d-model 128 -o "$W/x.gguf" > /dev/null 2>&1
[ $? -eq 2 ] && ok "train --init with a size option: usage error" || bad "train --init --d-model"
# --init from an integer model starts from its dequantized weights: a step at lr 0
# writes a float model that quantizes back to the same q8 model (Q8_0's fp16
# scales make the round trip exact), so both translate alike
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --init "$W/q8-rtn.gguf" --lr 0 --max-steps 1 -o "$W/x.gguf" \
    --threads 1 --quiet 2> "$W/err" || bad "train --init from an integer model: $(cat "$W/err")"
"$P" quantize -m "$W/x.gguf" -o "$W/x8.gguf" --type q8 > /dev/null 2>&1 || bad "quantizing the dequantized model"
"$P" translate -m "$W/q8-rtn.gguf" --threads 1 < "$W/t.en" > "$W/a.txt"
"$P" translate -m "$W/x8.gguf" --threads 1 < "$W/t.en" > "$W/b.txt"
[ -s "$W/a.txt" ] && cmp -s "$W/a.txt" "$W/b.txt" && ok "train --init from a q8 model: its weights, dequantized" ||
    bad "train --init from a q8 model: translations differ after the round trip"

[ $fail -eq 0 ] && echo "t_quantize: all ok"
exit $fail
