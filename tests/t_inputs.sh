#!/usr/bin/env bash
# t_inputs.sh: a model or a vocabulary that is not a regular file (a FIFO,
# a directory) is refused at once with "PATH: is a FIFO, not a regular
# file" (the path said once), by every command that loads one; nothing
# waits for a writer.
set -u
P=${PETIT:-build/petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
mkfifo "$W/g"
mkdir "$W/d"
head -20 "$DATA/train/multi30k.en" > "$W/s.en"
head -20 "$DATA/train/multi30k.fr" > "$W/s.fr"
T0=(--src "$W/s.en" --tgt "$W/s.fr" --max-steps 1 --threads 1 --quiet -o "$W/out.gguf")
TR=("${T0[@]}" --d-model 16 --heads 2 --ff 32 --enc-layers 1 --dec-layers 1 --max-len 40)
for X in g d; do
    kind=$([ $X = g ] && echo "a FIFO" || echo "a directory")
    while IFS= read -r cmd; do
        eval "timeout 10 $cmd" < /dev/null > /dev/null 2> "$W/err"; rc=$?
        if [ $rc -eq 1 ] && grep -q "$W/$X: is $kind, not a regular file" "$W/err" && ! grep -q "$W/$X: $W/$X" "$W/err"; then ok "$kind: $cmd: $(head -1 "$W/err")"
        else bad "$kind: $cmd: exit $rc $( [ $rc -eq 124 ] && echo '(it waited)'): $(head -2 "$W/err")"; fi
    done <<CMDS
"$P" translate -m "$W/$X"
"$P" info "$W/$X"
"$P" encode -m "$W/$X"
"$P" decode -m "$W/$X"
"$P" quantize -m "$W/$X" --type q8 -o "$W/q.gguf"
"$P" pack -m "$W/$X" --lambda 0.05 -o "$W/p.gguf"
"$P" train "\${TR[@]}" --vocab "$W/$X"
"$P" train "\${T0[@]}" --init "$W/$X"
"$P" train "\${T0[@]}" --resume "$W/$X"
"$P" distill "\${T0[@]}" --teacher "$W/$X"
CMDS
done
# the C API too (through translate's loader) and a model path given by $PETIT_MODEL
PETIT_MODEL="$W/g" timeout 10 "$P" translate < /dev/null > /dev/null 2> "$W/err"; rc=$?
[ $rc -eq 1 ] && grep -q "is a FIFO" "$W/err" && ok "PETIT_MODEL=FIFO refused" || bad "PETIT_MODEL=FIFO: exit $rc: $(cat "$W/err")"
exit $fail
