#!/usr/bin/env bash
# petit train from the command line: bad input gets a one-line error naming
# the file and exit 1 with no output file left behind; a run interrupted
# (SIGINT) or stopped and resumed equals an uninterrupted one bit for bit;
# the same seed and thread count give identical bytes.
set -u
P=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
V=tests/data/m30k-1k.model
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

head -120 "$DATA/train/multi30k.en" > "$W/s.en"
head -120 "$DATA/train/multi30k.fr" > "$W/s.fr"
TINY=(--d-model 32 --heads 2 --ff 64 --enc-layers 1 --dec-layers 1 --lr 3e-3 --warmup 10
      --batch-tokens 600 --threads 1 --quiet)

# expect_fail NAME PATTERN ARGS... : exit 1, message matching PATTERN, no $W/out.gguf
expect_fail() {
    local name=$1 pat=$2; shift 2
    rm -f "$W/out.gguf" "$W/out.ckpt.gguf"
    "$P" train "$@" >"$W/o" 2>"$W/e"; local rc=$?
    if [ $rc -ne 1 ]; then bad "$name: exit $rc (want 1): $(head -c 300 "$W/e")"; return; fi
    if ! grep -q -- "$pat" "$W/e"; then bad "$name: message '$(head -c 300 "$W/e")' lacks '$pat'"; return; fi
    if [ "$(wc -l < "$W/e")" -gt 2 ]; then bad "$name: more than a short error: $(cat "$W/e")"; return; fi
    if ls "$W"/out.gguf* >/dev/null 2>&1; then bad "$name: left an output file"; return; fi
    ok "$name: $(head -1 "$W/e")"
}

expect_fail "missing source" "nope.en" --src "$W/nope.en" --tgt "$W/s.fr" --vocab $V -o "$W/out.gguf" "${TINY[@]}"
expect_fail "directory as input" "is a directory" --src "$W" --tgt "$W/s.fr" --vocab $V -o "$W/out.gguf" "${TINY[@]}"
head -100 "$W/s.fr" > "$W/short.fr"
expect_fail "line counts differ" "120 lines but .*100" --src "$W/s.en" --tgt "$W/short.fr" --vocab $V -o "$W/out.gguf" "${TINY[@]}"
: > "$W/empty.en"; : > "$W/empty.fr"
expect_fail "empty files" "no usable sentence pairs" --src "$W/empty.en" --tgt "$W/empty.fr" --vocab $V -o "$W/out.gguf" "${TINY[@]}"
expect_fail "missing vocabulary" "nope.model" --src "$W/s.en" --tgt "$W/s.fr" --vocab "$W/nope.model" -o "$W/out.gguf" "${TINY[@]}"
printf 'not a model' > "$W/junk.model"
expect_fail "corrupt vocabulary" "junk.model" --src "$W/s.en" --tgt "$W/s.fr" --vocab "$W/junk.model" -o "$W/out.gguf" "${TINY[@]}"
expect_fail "heads do not divide d_model" "multiple of heads" --src "$W/s.en" --tgt "$W/s.fr" --vocab $V -o "$W/out.gguf" "${TINY[@]}" --d-model 30 --heads 4
expect_fail "out-of-range dropout" "dropout" --src "$W/s.en" --tgt "$W/s.fr" --vocab $V -o "$W/out.gguf" "${TINY[@]}" --dropout 2
expect_fail "multiaxis window 0" "window of at least 1" --src "$W/s.en" --tgt "$W/s.fr" --vocab $V -o "$W/out.gguf" "${TINY[@]}" --dec-attn multiaxis --window 0
expect_fail "more sparse heads than heads" "more than the 2 heads" --src "$W/s.en" --tgt "$W/s.fr" --vocab $V -o "$W/out.gguf" "${TINY[@]}" --dec-attn multiaxis --local-heads 2 --grid-heads 1
expect_fail "window beyond max length" "larger than the maximum length" --src "$W/s.en" --tgt "$W/s.fr" --vocab $V -o "$W/out.gguf" "${TINY[@]}" --dec-attn multiaxis --window 500
printf 'd-model = 0\n' > "$W/bad.cfg"
expect_fail "out-of-range config file" "d-model" --src "$W/s.en" --tgt "$W/s.fr" --vocab $V -o "$W/out.gguf" "${TINY[@]}" --config "$W/bad.cfg"
"$P" train --nonsense >/dev/null 2>&1; [ $? -eq 2 ] && ok "unknown option: exit 2" || bad "unknown option: exit not 2"
"$P" train --help | grep -q -- "--resume" && ok "--help" || bad "--help"

# too-long lines are skipped and counted; invalid UTF-8, NUL and CRLF do not crash
{ head -40 "$W/s.en"; printf 'word %.0s' $(seq 400); echo; printf 'bad \xff\xfe utf8 \x00 nul\r\n'; } > "$W/h.en"
{ head -40 "$W/s.fr"; echo "court"; printf 'mauvais \xc3 utf8\r\n'; } > "$W/h.fr"
if "$P" train --src "$W/h.en" --tgt "$W/h.fr" --vocab $V -o "$W/h.gguf" "${TINY[@]}" --max-len 64 --max-steps 3 2>"$W/e"; then
    grep -q "skipped 1 pairs longer than 64" "$W/e" && ok "long line skipped and counted" || bad "long line not reported: $(cat "$W/e")"
else bad "hostile text: exit $?: $(cat "$W/e")"; fi

# a checkpoint of another model size is refused
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --vocab $V -o "$W/a.gguf" "${TINY[@]}" --max-steps 2 || bad "tiny run"
expect_fail "checkpoint of another size" "checkpoint is d_model 32" --resume "$W/a.ckpt.gguf" --src "$W/s.en" --tgt "$W/s.fr" -o "$W/out.gguf" "${TINY[@]}" --d-model 64
expect_fail "resume on other data" "differ" --resume "$W/a.ckpt.gguf" --src "$W/h.en" --tgt "$W/h.fr" -o "$W/out.gguf" "${TINY[@]}"

# resume equals an uninterrupted run, bit for bit (dropout on, 2 epochs crossed)
R=(--src "$W/s.en" --tgt "$W/s.fr" "${TINY[@]}" --dropout 0.1 --save-every 1000)
"$P" train "${R[@]}" --vocab $V -o "$W/full.gguf" --max-steps 40 || bad "full run"
"$P" train "${R[@]}" --vocab $V -o "$W/half.gguf" --max-steps 17 || bad "first half"
"$P" train "${R[@]}" --resume "$W/half.ckpt.gguf" -o "$W/half.gguf" --max-steps 40 || bad "second half"
cmp -s "$W/full.gguf" "$W/half.gguf" && cmp -s "$W/full.ckpt.gguf" "$W/half.ckpt.gguf" \
    && ok "stop at 17 + resume to 40 == 40 straight (model and checkpoint bytes)" \
    || bad "resumed run differs from the straight one"

# SIGINT writes a checkpoint; resuming from it equals the straight run
"$P" train "${R[@]}" --vocab $V -o "$W/int.gguf" --max-steps 100 --d-model 64 --ff 256 --heads 4 \
    --save-every 5 &
pid=$!
for i in $(seq 100); do [ -e "$W/int.ckpt.gguf" ] && break; sleep 0.05; done
sleep 0.2; kill -INT $pid; wait $pid; rc=$?
"$P" train "${R[@]}" --vocab $V -o "$W/full64.gguf" --max-steps 100 --d-model 64 --ff 256 --heads 4 || bad "full64"
if [ $rc -eq 130 ]; then
    step=$("$P" info "$W/int.ckpt.gguf" 2>/dev/null | awk '/petit.train.step/{print $NF}')
    "$P" train "${R[@]}" --resume "$W/int.ckpt.gguf" -o "$W/int.gguf" --max-steps 100 --d-model 64 --ff 256 --heads 4 || bad "resume after SIGINT"
    cmp -s "$W/full64.gguf" "$W/int.gguf" && ok "SIGINT at step ${step:-?}, resumed: identical to the straight run" \
        || bad "SIGINT + resume differs from the straight run"
elif [ $rc -eq 0 ]; then ok "SIGINT came after the run ended (machine fast); nothing to compare"
else bad "SIGINT: exit $rc"; fi

# determinism: same seed and threads -> identical bytes; other thread counts
# -> the same loss to float reassociation (README, Determinism)
for r in a b; do "$P" train "${R[@]}" --vocab $V -o "$W/t2$r.gguf" --max-steps 10 --threads 2 || bad "threads 2"; done
cmp -s "$W/t2a.gguf" "$W/t2b.gguf" && cmp -s "$W/t2a.ckpt.gguf" "$W/t2b.ckpt.gguf" \
    && ok "two runs with 2 threads: identical bytes" || bad "two runs with 2 threads differ"

# a multiaxis decoder: its settings are stored in the model file, which
# translates; resuming keeps them
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --vocab $V -o "$W/ma.gguf" "${TINY[@]}" --max-steps 6 \
    --dec-attn multiaxis --window 3 || bad "multiaxis training"
info=$("$P" info "$W/ma.gguf" 2>&1)
grep -q "petit.dec_attn.*multiaxis" <<<"$info" && grep -q "petit.attn_window.*3" <<<"$info" &&
    grep -q "petit.local_heads.*1" <<<"$info" && grep -q "petit.grid_heads.*1" <<<"$info" &&
    ok "multiaxis settings in the model file (W 3, 1 local + 1 grid head)" || bad "multiaxis keys: $info"
n=$(head -5 "$W/s.en" | "$P" translate -m "$W/ma.gguf" --threads 1 | wc -l)
[ "$n" -eq 5 ] && ok "a multiaxis model translates" || bad "multiaxis translate: $n lines"
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --resume "$W/ma.ckpt.gguf" -o "$W/ma2.gguf" --max-steps 8 \
    --threads 1 --quiet || bad "multiaxis resume"
"$P" info "$W/ma2.gguf" 2>&1 | grep -q "petit.attn_window.*3" && ok "resume keeps the multiaxis settings" ||
    bad "resume lost the multiaxis settings"

# progress without a dev set shows no dev loss (it used to print "dev nan")
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --vocab $V -o "$W/nd.gguf" "${TINY[@]:0:${#TINY[@]}-1}" --max-steps 2 --log-every 1 \
    2>"$W/e" >/dev/null
if grep -q '^step 2 ' "$W/e" && ! grep -qi 'nan' "$W/e"; then ok "progress without a dev set: no 'dev nan'"
else bad "progress without a dev set: $(grep step "$W/e" | head -2)"; fi

[ $fail -eq 0 ] && echo "t_train: all ok"
exit $fail
