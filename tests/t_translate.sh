#!/usr/bin/env bash
# petit translate: one line in, one line out, in order, whatever the input;
# streams through a pipe; batching does not change the output; bad model
# files get a clear error and exit 1.
set -u
P=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
W=$(mktemp -d)
trap 'rm -rf "$W"; [ -n "${CPID:-}" ] && kill $CPID 2>/dev/null' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

head -200 "$DATA/train/multi30k.en" > "$W/s.en"
head -200 "$DATA/train/multi30k.fr" > "$W/s.fr"
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --vocab tests/data/m30k-1k.model -o "$W/m.gguf" \
    --d-model 32 --heads 2 --ff 64 --enc-layers 1 --dec-layers 1 --max-len 40 --dropout 0 \
    --lr 3e-3 --warmup 10 --batch-tokens 800 --max-steps 60 --threads 1 --quiet || bad "training the test model"
M="$W/m.gguf"

# hostile input keeps the line alignment
{
    head -20 "$W/s.en"
    echo
    printf 'x%.0s' $(seq 100000); echo            # a 100,000-character line
    printf 'bad \xff\xfe utf8 \xc3\n'
    printf 'nul \x00 byte\n'
    printf 'crlf line\r\n'
    echo "   "
    printf 'no final newline'
} > "$W/in.txt"
nin=$(( $(wc -l < "$W/in.txt") + 1 ))
"$P" translate -m "$M" --beam 2 --threads 1 < "$W/in.txt" > "$W/out.txt" 2> "$W/err.txt"; rc=$?
nout=$(wc -l < "$W/out.txt")
[ $rc -eq 0 ] && ok "hostile input: exit 0" || bad "hostile input: exit $rc: $(head -3 "$W/err.txt")"
[ "$nout" -eq "$nin" ] && ok "hostile input: $nin lines in, $nout out" || bad "hostile input: $nin lines in, $nout out"
[ -z "$(sed -n 21p "$W/out.txt")" ] && ok "empty line gives an empty line" || bad "empty line gave '$(sed -n 21p "$W/out.txt")'"
grep -q "cut" "$W/err.txt" && ok "long line: truncation warned" || bad "long line: no warning ($(cat "$W/err.txt"))"

# batching and sorting do not change translations
"$P" translate -m "$M" --beam 3 --batch 1 --threads 1 < "$W/s.en" > "$W/b1.txt" || bad "batch 1"
"$P" translate -m "$M" --beam 3 --batch 64 --threads 2 < "$W/s.en" > "$W/b64.txt" || bad "batch 64"
cmp -s "$W/b1.txt" "$W/b64.txt" && ok "batch 1 == batch 64 (200 lines, beam 3)" || bad "batch size changed the output"
[ "$(wc -l < "$W/b1.txt")" -eq 200 ] && ok "200 lines in, 200 out" || bad "line count changed"

# n-best format
head -3 "$W/s.en" | "$P" translate -m "$M" --beam 3 --nbest 3 > "$W/nb.txt"
[ "$(grep -c ' ||| ' "$W/nb.txt")" -eq 9 ] && ok "--nbest 3: 9 'i ||| text ||| score' lines" || bad "nbest output: $(cat "$W/nb.txt")"

# streaming: a line written through a pipe comes back before end of input
coproc TR { "$P" translate -m "$M" --beam 2 --threads 1; }
CPID=$TR_PID
echo "A man rides a bike." >&"${TR[1]}"
if read -r -t 20 reply <&"${TR[0]}"; then ok "streaming: got '$reply' before closing the pipe"
else bad "streaming: no answer within 20 s while the pipe stayed open"; fi
exec {TR[1]}>&-
wait $CPID 2>/dev/null; CPID=

# bad models and usage
printf 'GGUF\3\0\0\0garbage' > "$W/junk.gguf"
echo hi | "$P" translate -m "$W/junk.gguf" > "$W/o" 2> "$W/e"; rc=$?
[ $rc -eq 1 ] && grep -q "junk.gguf" "$W/e" && ok "not a model: exit 1 ($(head -1 "$W/e"))" || bad "not a model: exit $rc $(cat "$W/e")"
head -c 3000 "$M" > "$W/trunc.gguf"
echo hi | "$P" translate -m "$W/trunc.gguf" > "$W/o" 2> "$W/e"; rc=$?
[ $rc -eq 1 ] && ok "truncated model: exit 1 ($(head -1 "$W/e"))" || bad "truncated model: exit $rc"
echo hi | "$P" translate -m "$W/nope.gguf" > /dev/null 2>&1; [ $? -eq 1 ] && ok "missing model: exit 1" || bad "missing model"
# no -m: $PETIT_MODEL, else models/en-fr.gguf beside the executable or here; else a usage error
echo "A dog runs." | PETIT_MODEL="$M" "$P" translate > "$W/o" 2>/dev/null; rc=$?
[ $rc -eq 0 ] && [ "$(wc -l < "$W/o")" -eq 1 ] && ok "no -m: \$PETIT_MODEL" || bad "no -m with PETIT_MODEL: exit $rc"
if [ -f models/en-fr.gguf ]; then
    echo "A dog runs." | PETIT_MODEL= "$P" translate > "$W/o" 2>/dev/null; rc=$?
    [ $rc -eq 0 ] && [ -s "$W/o" ] && ok "no -m: the bundled model ($(cat "$W/o"))" || bad "no -m: bundled model: exit $rc"
fi
cp "$P" "$W/lone-petit"
(cd "$W" && PETIT_MODEL= ./lone-petit translate < /dev/null > /dev/null 2> "$W/e"); rc=$?
[ $rc -eq 2 ] && grep -q "no -m MODEL.gguf" "$W/e" && ok "no -m and no model anywhere: exit 2" \
    || bad "no -m and no model anywhere: exit $rc: $(head -c 200 "$W/e")"
"$P" translate --help | grep -q -- "--beam" && ok "--help" || bad "--help"
: | "$P" translate -m "$M" > "$W/o"; [ $? -eq 0 ] && [ ! -s "$W/o" ] && ok "empty input: empty output" || bad "empty input"

# -m takes a bundled model's name: tiny is models/en-fr.gguf; base is
# models/en-fr-base.gguf, or a clear error where it is not installed; a file
# of that name in the current folder wins
head -5 "$W/s.en" > "$W/five.en"
if [ -f models/en-fr.gguf ]; then
    "$P" translate -m tiny --threads 1 < "$W/five.en" > "$W/a" && "$P" translate -m models/en-fr.gguf --threads 1 \
        < "$W/five.en" > "$W/b" && [ -s "$W/a" ] && cmp -s "$W/a" "$W/b" && ok "-m tiny: the bundled model" ||
        bad "-m tiny"
fi
if [ -f models/en-fr-base.gguf ]; then
    "$P" translate -m base --threads 1 < "$W/five.en" > "$W/a" && "$P" translate -m models/en-fr-base.gguf \
        --threads 1 < "$W/five.en" > "$W/b" && [ -s "$W/a" ] && cmp -s "$W/a" "$W/b" && ok "-m base: models/en-fr-base.gguf" ||
        bad "-m base"
else
    "$P" translate -m base < "$W/five.en" > /dev/null 2> "$W/e"
    [ $? -eq 1 ] && grep -q "bundled model 'base'" "$W/e" && ok "-m base, not installed: $(cat "$W/e")" ||
        bad "-m base without the file: $(cat "$W/e")"
fi
PP=$(cd "$(dirname "$P")" && pwd)/$(basename "$P")
(cd "$W" && cp m.gguf base && "$PP" translate -m base --threads 1 < five.en > a2 && "$PP" translate -m m.gguf \
    --threads 1 < five.en > b2 && cmp -s a2 b2) && ok "-m base: a file named base in the current folder wins" ||
    bad "-m base with a file of that name"

[ $fail -eq 0 ] && echo "t_translate: all ok"
exit $fail
