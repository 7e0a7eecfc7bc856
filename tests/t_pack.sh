#!/usr/bin/env bash
# petit pack: a packed model loads, translates close to the float model, and
# `petit info` shows its coded tensors; bad arguments and damaged packed
# files give clear errors, never garbage translations; the input is untouched.
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
head -40 "$DATA/test/multi30k-test2016.en" > "$W/t.en"
"$P" translate -m "$M" --beam 2 --threads 1 < "$W/t.en" > "$W/f32.txt"

"$P" pack -m "$M" -o "$W/p.gguf" --lambda 0.02 2> "$W/err"; rc=$?
[ $rc -eq 0 ] && ok "pack --lambda 0.02: $(tail -1 "$W/err" | sed 's/.*: lambda/lambda/')" || bad "pack: exit $rc $(cat "$W/err")"
"$P" info "$W/p.gguf" > "$W/info" 2>&1
grep -qE "^dec\.0\.ffn\.up\.weight +ECQ +64 × 128 +[0-9]+ +[0-9.]+ +[0-9.]+$" "$W/info" &&
    grep -qE "^dec\.0\.ffn\.up\.bias +F32" "$W/info" && ok "info: ECQ tensors with size, bits/weight, entropy" ||
    bad "info: $(grep -E 'ffn.up' "$W/info")"
s0=$(stat -c %s "$M"); s1=$(stat -c %s "$W/p.gguf")
[ "$s1" -lt $((s0 / 3)) ] && ok "packed file $s0 -> $s1 bytes" || bad "packed file $s0 -> $s1 bytes"
"$P" translate -m "$W/p.gguf" --beam 2 --threads 1 < "$W/t.en" > "$W/p.txt" 2> "$W/err"; rc=$?
[ $rc -eq 0 ] && [ "$(wc -l < "$W/p.txt")" -eq 40 ] && ok "packed model translates" || bad "translate: $rc $(cat "$W/err")"
# lambda 0: plain 8-bit rounding with per-row steps, close to the float model
"$P" pack -m "$M" -o "$W/p0.gguf" --lambda 0 -q 2> "$W/err" || bad "pack --lambda 0: $(cat "$W/err")"
"$P" translate -m "$W/p0.gguf" --beam 2 --threads 1 < "$W/t.en" > "$W/p0.txt"
b=$("$P" bleu -i "$W/p0.txt" "$W/f32.txt" 2>/dev/null | sed -n 's/^BLEU[^=]*= \([0-9.]*\).*/\1/p')
awk -v b="$b" 'BEGIN{exit !(b >= 60)}' && ok "lambda 0 vs float output: BLEU $b >= 60" || bad "lambda 0 vs float output: BLEU '$b'"
[ "$(stat -c %s "$W/p.gguf")" -lt "$(stat -c %s "$W/p0.gguf")" ] && ok "lambda 0.02 codes smaller than lambda 0" || bad "lambda 0.02 not smaller"
[ "$(sha256sum < "$M")" = "$sum0" ] && ok "input untouched" || bad "input changed"

# a damaged packed file: a clear error, no output
# one byte of dec.0.ffn.down.weight's coded stream (after it: 1 KB of LayerNorms, 4 KB of out.bias)
cp "$W/p.gguf" "$W/d.gguf"
off=$((s1 - 6000))
byte=$(od -An -tu1 -j "$off" -N1 "$W/d.gguf" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 64)))" | dd of="$W/d.gguf" bs=1 seek="$off" conv=notrunc status=none
cmp -s "$W/p.gguf" "$W/d.gguf" && bad "the damaged copy is not damaged"
"$P" translate -m "$W/d.gguf" --threads 1 < "$W/t.en" > "$W/d.txt" 2> "$W/err"; rc=$?
[ $rc -eq 1 ] && grep -q "the file is damaged" "$W/err" && [ ! -s "$W/d.txt" ] &&
    ok "damaged packed file: exit 1, the file's checksum ($(head -1 "$W/err" | cut -c1-100))" ||
    bad "damaged packed file: exit $rc, $(wc -l < "$W/d.txt") lines, $(cat "$W/err")"
# past the file's checksum (on purpose), the coded tensor's own checks name it
PETIT_SKIP_CHECKSUM=1 "$P" translate -m "$W/d.gguf" --threads 1 < "$W/t.en" > "$W/d.txt" 2> "$W/err"; rc=$?
[ $rc -eq 1 ] && grep -q "corrupt" "$W/err" && [ ! -s "$W/d.txt" ] && ok "damaged packed file, checksum skipped: exit 1 ($(head -1 "$W/err"))" ||
    bad "damaged packed file, checksum skipped: exit $rc, $(wc -l < "$W/d.txt") lines, $(cat "$W/err")"
head -c $((s1 - 500)) "$W/p.gguf" > "$W/cut.gguf"
"$P" translate -m "$W/cut.gguf" --threads 1 < "$W/t.en" > /dev/null 2> "$W/err"; rc=$?
[ $rc -eq 1 ] && ok "truncated packed file: exit 1 ($(head -1 "$W/err"))" || bad "truncated packed file: exit $rc"

# GPTQ with the rate shared by sensitivity: runs, translates, and a cached calibration gives the same file
head -40 "$DATA/dev/multi30k-val.en" > "$W/calib.en"
"$P" pack -m "$M" -o "$W/f.gguf" --lambda 0.05 --calib "$W/calib.en" --fisher 0.75 --calib-cache "$W/c.bin" \
    --threads 2 2> "$W/err"; rc=$?
mults=$(grep -o "lambda x[0-9.]*" "$W/err" | sort -u | wc -l)
[ $rc -eq 0 ] && [ "$mults" -gt 3 ] && ok "pack --calib --fisher 0.75: $mults distinct lambda multipliers" ||
    bad "pack --fisher: exit $rc, $mults multipliers: $(tail -3 "$W/err")"
"$P" translate -m "$W/f.gguf" --beam 2 --threads 1 < "$W/t.en" > "$W/f.txt" 2> "$W/err"; rc=$?
[ $rc -eq 0 ] && [ "$(wc -l < "$W/f.txt")" -eq 40 ] && ok "the --fisher model translates" || bad "translate: $rc $(cat "$W/err")"
"$P" pack -m "$M" -o "$W/f2.gguf" --lambda 0.05 --calib "$W/calib.en" --calib-cache "$W/c.bin" \
    --threads 2 2> "$W/err"; rc=$?
[ $rc -eq 0 ] && grep -q "statistics from" "$W/err" && cmp -s "$W/f.gguf" "$W/f2.gguf" &&
    ok "a second run (--fisher by default 0.75) reads the cached statistics and writes the same file" ||
    bad "cached run: exit $rc, $(grep -c 'statistics from' "$W/err") cache reads, files $(cmp "$W/f.gguf" "$W/f2.gguf" 2>&1)"

"$P" pack -m "$M" -o "$W/f0.gguf" --lambda 0.05 --calib "$W/calib.en" --calib-cache "$W/c.bin" --fisher 0 \
    --threads 2 2> "$W/err"; rc=$?
[ $rc -eq 0 ] && [ "$(grep -o "lambda x[0-9.]*" "$W/err" | sort -u)" = "lambda x1.00" ] &&
    ok "--fisher 0: the same lambda for every tensor" || bad "--fisher 0: exit $rc $(grep -o "lambda x[0-9.]*" "$W/err" | sort -u | tr '\n' ' ')"

# ECQ-aware fine-tuning with each tensor's multiplier from the --fisher model
ft=(--src "$W/s.en" --tgt "$W/s.fr" --vocab tests/data/m30k-1k.model --init "$M" --ecq 0.05 --lr 1e-4 --warmup 1
    --batch-tokens 1500 --max-steps 2 --threads 2 --quiet)
"$P" train "${ft[@]}" --ecq-scales "$W/f.gguf" -o "$W/ft.gguf" 2> "$W/err"; rc=$?
[ $rc -eq 0 ] && "$P" translate -m "$W/ft.gguf" --threads 1 < "$W/t.en" > /dev/null 2>&1 &&
    ok "train --ecq --ecq-scales: a packed model that translates" || bad "train --ecq-scales: exit $rc $(cat "$W/err")"
"$P" train "${ft[@]}" --ecq-scales "$M" -o "$W/ft2.gguf" 2> "$W/err"; rc=$?
[ $rc -eq 1 ] && grep -q "not an entropy-coded" "$W/err" && [ ! -e "$W/ft2.gguf" ] &&
    ok "--ecq-scales with a float model: exit 1 ($(head -1 "$W/err" | cut -c1-120))" ||
    bad "--ecq-scales with a float model: exit $rc $(cat "$W/err")"

expect() { # expect CODE WORD description -- args
    local code=$1 word=$2 what=$3; shift 4
    rm -f "$W/o.gguf"
    "$P" pack "$@" > /dev/null 2> "$W/err"; rc=$?
    if [ $rc -eq "$code" ] && grep -qi -- "$word" "$W/err" && [ ! -e "$W/o.gguf" ]; then ok "$what: exit $rc ($(head -1 "$W/err"))"
    else bad "$what: exit $rc, want $code and '$word': $(cat "$W/err")"; fi
}
expect 2 "lambda" "negative lambda" -- -m "$M" -o "$W/o.gguf" --lambda -0.1
expect 2 "lambda" "lambda not a number" -- -m "$M" -o "$W/o.gguf" --lambda abc
expect 2 "lambda" "lambda nan" -- -m "$M" -o "$W/o.gguf" --lambda nan
expect 2 "lambda" "no lambda" -- -m "$M" -o "$W/o.gguf"
expect 2 "bits" "bits 1" -- -m "$M" -o "$W/o.gguf" --lambda 0.1 --bits 1
expect 2 "bits" "bits 9" -- -m "$M" -o "$W/o.gguf" --lambda 0.1 --bits 9
expect 1 "not a float model" "a packed model as input" -- -m "$W/p.gguf" -o "$W/o.gguf" --lambda 0.1
expect 2 "overwrite" "output = input" -- -m "$M" -o "$M" --lambda 0.1
expect 2 "needs --calib" "--fisher without --calib" -- -m "$M" -o "$W/o.gguf" --lambda 0.1 --fisher 1
expect 2 "fisher" "--fisher negative" -- -m "$M" -o "$W/o.gguf" --lambda 0.1 --calib "$W/calib.en" --fisher -1
[ "$(sha256sum < "$M")" = "$sum0" ] && ok "input untouched after the bad runs" || bad "input changed"
"$P" pack --help | grep -q -- "--lambda" && ok "--help" || bad "--help"

[ $fail -eq 0 ] && echo "t_pack: all ok"
exit $fail
