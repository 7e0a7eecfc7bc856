#!/usr/bin/env bash
# Training never loses work: a run killed with SIGKILL at random moments (over
# and over, in the middle of steps and of checkpoint writes) and resumed each
# time from whatever checkpoint is on disk ends with the same model and
# checkpoint bytes as a run never interrupted; after every kill the checkpoint
# on disk is whole (it loads). A NaN loss stops training with a message
# naming the step and keeps the last good checkpoint. A write that fails (a
# full disk) is an error that leaves no file behind.
set -u
P=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
V=tests/data/m30k-1k.model
W=$(mktemp -d)
trap "[ -n \"${KEEPW:-}\" ] || rm -rf $W" EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

head -120 "$DATA/train/multi30k.en" > "$W/s.en"
head -120 "$DATA/train/multi30k.fr" > "$W/s.fr"
R=(--src "$W/s.en" --tgt "$W/s.fr" --d-model 32 --heads 2 --ff 64 --enc-layers 1 --dec-layers 1 --lr 3e-3
   --warmup 10 --batch-tokens 600 --threads 1 --quiet --dropout 0.1 --save-every 1 --max-steps 80)
"$P" train "${R[@]}" --vocab $V -o "$W/full.gguf" || bad "the straight run"

# the arguments of the next run: resume if a checkpoint is there, else start
next_args() {
    if [ -f "$W/k.ckpt.gguf" ]; then A=(--resume "$W/k.ckpt.gguf"); else A=(--vocab $V); fi
}
kills=0 runs=0 whole=0 done=0
while [ $runs -lt 16 ]; do # up to 16 runs killed at a random moment in their first 0.6 s
    runs=$((runs + 1))
    next_args
    "$P" train "${R[@]}" "${A[@]}" -o "$W/k.gguf" 2>>"$W/err" & # $! is petit itself
    pid=$!
    sleep "0.$((RANDOM % 6))$((RANDOM % 10))"
    if kill -0 $pid 2>/dev/null; then
        kill -KILL $pid
        wait $pid 2>/dev/null
        kills=$((kills + 1))
        if [ -f "$W/k.ckpt.gguf" ]; then
            "$P" info "$W/k.ckpt.gguf" >/dev/null 2>&1 && whole=$((whole + 1)) || bad "after kill $kills the checkpoint does not load"
        fi
    else
        wait $pid; rc=$?
        [ $rc -eq 0 ] || bad "a resumed run failed (exit $rc): $(tail -n 2 "$W/err")"
        done=1
        break
    fi
done
# then let it finish (a slow build, e.g. under a sanitizer, may not have got far)
if [ $done -eq 0 ]; then
    next_args
    "$P" train "${R[@]}" "${A[@]}" -o "$W/k.gguf" 2>>"$W/err" || bad "the last resumed run failed: $(tail -n 2 "$W/err")"
fi
[ $kills -ge 3 ] && ok "$kills SIGKILLs in $runs runs; the checkpoint loaded after each ($whole)" \
    || bad "only $kills kills landed mid-run (the machine is too fast for the test's timing?)"
cmp -s "$W/full.gguf" "$W/k.gguf" && cmp -s "$W/full.ckpt.gguf" "$W/k.ckpt.gguf" \
    && ok "killed $kills times and resumed == never interrupted (model and checkpoint bytes)" \
    || bad "the killed-and-resumed run differs from the straight one"

# a loss that is not finite (weights turned to NaN bytes in the checkpoint,
# loaded past its checksum on purpose) stops the run with exit 1 and a
# message naming the step; the checkpoint on disk is left as it was
"$P" train "${R[@]}" --vocab $V -o "$W/n.gguf" --max-steps 3 || bad "short run"
size=$(stat -c %s "$W/n.ckpt.gguf")
head -c 40000 /dev/zero | tr '\0' '\377' | dd of="$W/n.ckpt.gguf" bs=1 seek=$((size * 40 / 100)) conv=notrunc 2>/dev/null
cp "$W/n.ckpt.gguf" "$W/before.gguf"
"$P" train "${R[@]}" --resume "$W/n.ckpt.gguf" -o "$W/n.gguf" --max-steps 6 2>"$W/e"; rc=$?
[ $rc -eq 1 ] && grep -q "the file is damaged" "$W/e" && ok "the changed checkpoint is refused: its checksum" \
    || bad "a checkpoint with changed bytes: exit $rc, $(head -c 200 "$W/e")"
PETIT_SKIP_CHECKSUM=1 "$P" train "${R[@]}" --resume "$W/n.ckpt.gguf" -o "$W/n.gguf" --max-steps 6 --save-every 100 \
    2>"$W/e"; rc=$?
if [ $rc -eq 1 ] && grep -q "step [4-6]: loss or gradient is not finite" "$W/e" && cmp -s "$W/before.gguf" "$W/n.ckpt.gguf"; then
    ok "non-finite loss: exit 1, '$(head -n 1 "$W/e" | cut -c1-100)', checkpoint kept"
else
    bad "non-finite loss: exit $rc; $(head -c 300 "$W/e")"
fi
# a write that fails (a file size limit fails writes as a full disk does):
# a clear error, exit 1, and neither the output nor a temporary file is left
mkdir -p "$W/full"
(trap '' XFSZ; ulimit -f 40; "$P" train "${R[@]}" --vocab $V -o "$W/full/m.gguf" --max-steps 2) 2>"$W/e"; rc=$?
left=$(ls -A "$W/full")
if [ $rc -eq 1 ] && grep -q "write failed: File too large" "$W/e" && [ -z "$left" ]; then
    ok "write error while saving: exit 1, '$(head -n 1 "$W/e" | cut -c1-90)', nothing left behind"
else
    bad "write error while saving: exit $rc, files left: '$left': $(head -c 300 "$W/e")"
fi
(trap '' XFSZ; ulimit -f 40; "$P" quantize -m "$W/full.gguf" -o "$W/full/q.gguf" --type q8 -q) 2>"$W/e"; rc=$?
left=$(ls -A "$W/full")
[ $rc -eq 1 ] && [ -z "$left" ] && ok "quantize on a full disk: exit 1, nothing left"     || bad "quantize on a full disk: exit $rc, left '$left': $(head -c 200 "$W/e")"
[ $fail -eq 0 ] && echo "t_crash: ok" || echo "t_crash: FAILED"
exit $fail
