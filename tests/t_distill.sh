#!/usr/bin/env bash
# petit distill from the command line: a student of another depth and decoder
# kind learns from a teacher file; a student started from the teacher holds
# its layers; stop + resume equals a straight run bit for bit (the teacher
# given again); wrong uses get a one-line error and exit 1.
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
D=(--src "$W/s.en" --tgt "$W/s.fr" --lr 3e-3 --warmup 10 --batch-tokens 600 --threads 1 --quiet)
"$P" train "${D[@]}" --vocab $V -o "$W/t.gguf" --d-model 32 --heads 2 --ff 64 --enc-layers 2 --dec-layers 2 \
    --max-steps 20 || bad "teacher run"

# a fresh 1+1 multiaxis student, vocabulary taken from the teacher
S=(--teacher "$W/t.gguf" "${D[@]}" --d-model 32 --heads 2 --ff 64 --enc-layers 1 --dec-layers 1
   --dec-attn multiaxis --window 4 --alpha 0.7 --tau 2 --topk 4 --save-every 1000)
"$P" distill "${S[@]}" -o "$W/full.gguf" --max-steps 12 2>"$W/e" && ok "distill a 1+1 multiaxis student" \
    || bad "distill: $(cat "$W/e")"
"$P" info "$W/full.gguf" | grep -q 'dec_attn.*multiaxis' && ok "the student is multiaxis" || bad "student kind"
"$P" distill "${S[@]}" -o "$W/half.gguf" --max-steps 5 || bad "first half"
"$P" distill --teacher "$W/t.gguf" "${D[@]}" --resume "$W/half.ckpt.gguf" -o "$W/half.gguf" --max-steps 12 \
    || bad "second half"
cmp -s "$W/full.gguf" "$W/half.gguf" && cmp -s "$W/full.ckpt.gguf" "$W/half.ckpt.gguf" \
    && ok "distill: stop at 5 + resume to 12 == 12 straight (model and checkpoint bytes)" \
    || bad "resumed distillation differs from the straight one"
# the checkpoint keeps the settings: a resume without the teacher is refused
"$P" train "${D[@]}" --resume "$W/half.ckpt.gguf" -o "$W/x.gguf" --max-steps 13 2>"$W/e"
[ $? -eq 1 ] && grep -q "distillation run" "$W/e" && ok "train --resume of a distillation run: $(head -1 "$W/e")" \
    || bad "train --resume of a distillation run: $(cat "$W/e")"

# started from the teacher's layers: the student's first loss is far below a fresh one's
"$P" distill --teacher "$W/t.gguf" "${D[@]}" --init-from-teacher --d-model 32 --heads 2 --ff 64 --enc-layers 2 \
    --dec-layers 1 --max-steps 1 --alpha 0.5 --metrics "$W/m1" -o "$W/i.gguf" --log-every 1 || bad "init from teacher"
"$P" distill --teacher "$W/t.gguf" "${D[@]}" --d-model 32 --heads 2 --ff 64 --enc-layers 2 \
    --dec-layers 1 --max-steps 1 --alpha 0.5 --metrics "$W/m2" -o "$W/f.gguf" --log-every 1 || bad "fresh student"
l1=$(sed 's/.*"loss":\([0-9.]*\).*/\1/' "$W/m1"); l2=$(sed 's/.*"loss":\([0-9.]*\).*/\1/' "$W/m2")
awk -v a="$l1" -v b="$l2" 'BEGIN{exit !(a + 0.5 < b)}' && ok "first loss from the teacher's layers $l1 < fresh $l2" \
    || bad "first loss from the teacher's layers $l1, fresh $l2"

expect_fail() {
    local name=$1 pat=$2; shift 2
    "$P" distill "$@" >"$W/o" 2>"$W/e"; local rc=$?
    if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then bad "$name: exit $rc: $(head -c 300 "$W/e")"; return; fi
    grep -q -- "$pat" "$W/e" && ok "$name: $(head -1 "$W/e")" || bad "$name: '$(head -c 300 "$W/e")' lacks '$pat'"
}
expect_fail "no teacher" "--teacher" "${D[@]}" -o "$W/x.gguf"
expect_fail "missing teacher" "nope.gguf" --teacher "$W/nope.gguf" "${D[@]}" -o "$W/x.gguf"
expect_fail "narrower student from the teacher" "same width" --teacher "$W/t.gguf" "${D[@]}" --init-from-teacher \
    --d-model 32 --heads 2 --ff 32 -o "$W/x.gguf"
expect_fail "another vocabulary" "vocabulary" --teacher "$W/t.gguf" "${D[@]}" --vocab tests/data/spm/uni_nfkc.model \
    --d-model 32 --heads 2 --ff 64 -o "$W/x.gguf"
expect_fail "alpha 0 of a fresh student" "alpha 0" --teacher "$W/t.gguf" "${D[@]}" --alpha 0 -o "$W/x.gguf"
expect_fail "alpha out of range" "alpha" --teacher "$W/t.gguf" "${D[@]}" --alpha 1.5 -o "$W/x.gguf"
"$P" distill --help | grep -q -- "--topk" && ok "--help" || bad "--help"
[ $fail -eq 0 ] && echo "t_distill: ok" || echo "t_distill: FAILED"
exit $fail
