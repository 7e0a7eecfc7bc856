#!/usr/bin/env bash
# petit average: snapshots of one run average into a model that loads and
# translates; a model averaged with itself translates as itself; bad calls
# (one input, the output among the inputs, integer weights, another
# configuration, a missing file) fail with a message and leave no file.
set -u
P=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

head -200 "$DATA/train/multi30k.en" > "$W/s.en"
head -200 "$DATA/train/multi30k.fr" > "$W/s.fr"
train() { # OUT D extra...
    local out=$1 d=$2; shift 2
    "$P" train --src "$W/s.en" --tgt "$W/s.fr" --vocab tests/data/m30k-1k.model -o "$out" \
        --d-model "$d" --heads 2 --ff 64 --enc-layers 1 --dec-layers 1 --max-len 40 --dropout 0 \
        --lr 3e-3 --warmup 10 --batch-tokens 800 --max-steps 40 --threads 1 --quiet "$@"
}
train "$W/m.gguf" 32 --snapshot-every 20 || bad "training the test model"
[ -f "$W/m.step0000020.gguf" ] && [ -f "$W/m.step0000040.gguf" ] && ok "snapshots kept" || bad "no snapshots: $(ls "$W")"
head -20 "$W/s.en" > "$W/in"

"$P" average -o "$W/avg.gguf" "$W/m.step0000020.gguf" "$W/m.step0000040.gguf" 2> "$W/err" \
    && ok "average of two snapshots" || bad "average: $(cat "$W/err")"
grep -q '2 models' "$W/err" && ok "it says what it did" || bad "no summary: $(cat "$W/err")"
"$P" info "$W/avg.gguf" > "$W/info" 2>&1 && grep -q 'data checksum: ok' "$W/info" && ok "info: checksum ok" \
    || bad "info on the average: $(tail -3 "$W/info")"
"$P" translate -m "$W/avg.gguf" < "$W/in" > "$W/avg.out" 2> "$W/err" && [ "$(wc -l < "$W/avg.out")" = 20 ] \
    && ok "the average translates 20 lines" || bad "translate with the average: $(cat "$W/err")"
"$P" translate -m "$W/m.gguf" < "$W/in" > "$W/m.out"
"$P" average -o "$W/self.gguf" "$W/m.gguf" "$W/m.gguf" -q || bad "average of a model with itself"
"$P" translate -m "$W/self.gguf" < "$W/in" > "$W/self.out"
cmp -s "$W/m.out" "$W/self.out" && ok "a model averaged with itself translates as itself" || bad "self-average translates differently"
cmp -s "$W/avg.out" "$W/m.out" && bad "the average of two snapshots translates exactly as the last (no averaging?)" \
    || ok "the average of two snapshots is another model"

# a checkpoint's weights average too, and the result is a model file (no training state)
"$P" average -o "$W/ck.gguf" "$W/m.ckpt.gguf" "$W/m.gguf" -q && ok "checkpoint + model" || bad "averaging a checkpoint with a model"
"$P" info "$W/ck.gguf" 2>&1 | grep -q 'petit.train\.' && bad "training state copied into the average" || ok "no training state in the output"

expect_fail() { # what, args...
    local what=$1; shift
    rm -f "$W/x.gguf"
    if "$P" average "$@" > "$W/out" 2> "$W/err"; then bad "$what: exit 0"
    elif [ ! -s "$W/err" ]; then bad "$what: no message"
    elif [ -e "$W/x.gguf" ]; then bad "$what: left $W/x.gguf"
    else ok "$what: $(head -1 "$W/err")"; fi
}
expect_fail "one input" -o "$W/x.gguf" "$W/m.gguf"
expect_fail "no output" "$W/m.gguf" "$W/m.gguf"
expect_fail "output is an input" -o "$W/m.gguf" "$W/m.gguf" "$W/m.step0000020.gguf"
expect_fail "a missing file" -o "$W/x.gguf" "$W/m.gguf" "$W/nope.gguf"
"$P" quantize -m "$W/m.gguf" -o "$W/q8.gguf" --type q8 2>/dev/null
[ -f "$W/q8.gguf" ] && expect_fail "integer weights" -o "$W/x.gguf" "$W/m.gguf" "$W/q8.gguf" || bad "no q8 model to test with"
train "$W/w.gguf" 16 || bad "training a narrower model"
expect_fail "another width" -o "$W/x.gguf" "$W/m.gguf" "$W/w.gguf"
"$P" average --help | grep -q 'usage: petit average' && ok "--help" || bad "--help"
[ $fail -eq 0 ] && echo "all ok"
exit $fail
