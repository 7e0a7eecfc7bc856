#!/usr/bin/env bash
# t_translate_io.sh: petit translate's input and output. A write error is
# reported ("standard output: write failed: No space left on device");
# -i FILE / a positional FILE / -o FILE (written atomically: on an error no
# partial file, an older one kept); --json, one object per line; --nbest
# lists distinct texts. Uses a small model trained here.
set -u
P=${PETIT:-build/petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

head -200 "$DATA/train/multi30k.en" > "$W/s.en"
head -200 "$DATA/train/multi30k.fr" > "$W/s.fr"
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --vocab tests/data/m30k-1k.model -o "$W/m.gguf" \
    --d-model 32 --heads 2 --ff 64 --enc-layers 1 --dec-layers 1 --max-len 40 --dropout 0 \
    --lr 3e-3 --warmup 10 --batch-tokens 800 --max-steps 30 --threads 1 --quiet 2>/dev/null || bad "training the test model"
M=(-m "$W/m.gguf" --threads 1)
head -20 "$W/s.en" > "$W/in.en"
"$P" translate "${M[@]}" < "$W/in.en" > "$W/ref.txt" || bad "plain translate"

# item 5: a write error says what failed (stdout to /dev/full: a redirect, safe)
if [ -w /dev/full ]; then
    "$P" translate "${M[@]}" < "$W/in.en" > /dev/full 2> "$W/err"; rc=$?
    [ $rc -eq 1 ] && grep -q "^petit translate: standard output: write failed: No space left on device" "$W/err" \
        && ok "stdout on /dev/full: $(cat "$W/err")" || bad "stdout on /dev/full: exit $rc, stderr '$(cat "$W/err")'"
    "$P" translate "${M[@]}" --nbest 2 < "$W/in.en" > /dev/full 2> "$W/err"; rc=$?
    [ $rc -eq 1 ] && grep -q "write failed" "$W/err" && ok "--nbest on /dev/full: said" || bad "--nbest on /dev/full: exit $rc '$(cat "$W/err")'"
fi

# -i FILE, a positional FILE, '-' for stdin, -o FILE: the same lines
"$P" translate "${M[@]}" -i "$W/in.en" > "$W/a.txt" && cmp -s "$W/ref.txt" "$W/a.txt" && ok "-i FILE" || bad "-i FILE"
"$P" translate "${M[@]}" "$W/in.en" > "$W/b.txt" && cmp -s "$W/ref.txt" "$W/b.txt" && ok "positional FILE" || bad "positional FILE"
"$P" translate "${M[@]}" - < "$W/in.en" > "$W/c.txt" && cmp -s "$W/ref.txt" "$W/c.txt" && ok "'-' is stdin" || bad "'-'"
"$P" translate "${M[@]}" --input="$W/in.en" --output="$W/d.txt" > "$W/out" && cmp -s "$W/ref.txt" "$W/d.txt" && [ ! -s "$W/out" ] \
    && ok "--input=FILE --output=FILE (nothing on stdout)" || bad "--input= --output="
"$P" translate "${M[@]}" "$W/in.en" "$W/other.en" > /dev/null 2> "$W/err"; rc=$?
[ $rc -eq 2 ] && grep -q "one input file at a time" "$W/err" && ok "two input files: usage error" || bad "two inputs: exit $rc $(cat "$W/err")"
"$P" translate "${M[@]}" "$W/missing.en" > /dev/null 2> "$W/err"; rc=$?
[ $rc -eq 1 ] && grep -q "^petit translate: $W/missing.en: cannot open" "$W/err" && ok "missing input: named" || bad "missing input: exit $rc $(cat "$W/err")"
# -o on an error: an older file is kept, no temporary file is left (a file
# size limit makes the writes fail, as a full disk would)
echo "older" > "$W/e.txt"
for i in $(seq 30); do cat "$W/in.en"; done > "$W/big.en"
( trap '' XFSZ; ulimit -f 4; "$P" translate "${M[@]}" -i "$W/big.en" -o "$W/e.txt" ) > /dev/null 2> "$W/err"; rc=$?
[ $rc -eq 1 ] && grep -q "e.txt.*write failed\|e.txt.*File too large" "$W/err" && [ "$(cat "$W/e.txt")" = older ] \
    && ! ls "$W" | grep -q 'e.txt.tmp' && ok "-o with failing writes: error, older file kept, no temp file" \
    || bad "-o with failing writes: exit $rc, $(cat "$W/err"), e.txt: $(head -c 40 "$W/e.txt"), $(ls "$W")"
"$P" translate "${M[@]}" -i "$W/in.en" -o "$W/nodir/x.txt" > /dev/null 2> "$W/err"; rc=$?
[ $rc -eq 1 ] && grep -q "nodir/x.txt: cannot create a file there" "$W/err" && ok "-o in a missing folder: refused first" \
    || bad "-o nodir: exit $rc $(cat "$W/err")"

# --json: one object per line, text = the plain output
"$P" translate "${M[@]}" --json < "$W/in.en" > "$W/j.txt" || bad "--json failed"
[ "$(wc -l < "$W/j.txt")" -eq 20 ] || bad "--json: $(wc -l < "$W/j.txt") lines for 20"
n=$(grep -cE '^\{"line": [0-9]+, "text": "([^"\\]|\\.)*", "score": -?[0-9]+\.[0-9]+, "ms": [0-9]+\.[0-9]+\}$' "$W/j.txt")
[ "$n" -eq 20 ] && ok "--json: 20 well-formed objects" || bad "--json: $n of 20 lines well-formed: $(head -2 "$W/j.txt")"
sed -E 's/^\{"line": [0-9]+, "text": "(([^"\\]|\\.)*)", .*/\1/' "$W/j.txt" > "$W/jt.txt"
cmp -s "$W/jt.txt" "$W/ref.txt" && ok "--json texts = plain output" || bad "--json texts differ: $(diff "$W/jt.txt" "$W/ref.txt" | head -3)"
[ "$(sed -n 5p "$W/j.txt" | cut -d, -f1)" = '{"line": 4' ] || bad "--json: line numbers"
printf 'quote " and \\ backslash\n' | "$P" translate "${M[@]}" --json --nbest 3 > "$W/jq.txt"
grep -qE '^\{"line": 0, "text": .*, "nbest": \[\{"text": .*, "score": -?[0-9.]+\}(, \{"text": .*, "score": -?[0-9.]+\})*\]\}$' "$W/jq.txt" \
    && ok "--json --nbest: an nbest array" || bad "--json --nbest: $(cat "$W/jq.txt")"

# --nbest: distinct texts. A model with a byte-fallback vocabulary after one
# step emits byte pieces whose text (U+FFFD for a lone byte) repeats
"$P" train --src "$W/s.en" --tgt "$W/s.fr" --vocab tests/data/spm/uni_id_bf.model -o "$W/bf.gguf" \
    --d-model 16 --heads 2 --ff 32 --enc-layers 1 --dec-layers 1 --max-len 100 --max-steps 1 --seed 2 \
    --threads 1 --quiet 2>/dev/null || bad "training the byte-fallback model"
head -40 "$DATA/test/multi30k-test2016.en" > "$W/nb.en"
"$P" translate -m "$W/bf.gguf" --threads 1 --beam 8 --nbest 16 --max-len-a 0 --max-len-b 3 < "$W/nb.en" > "$W/nb.txt" \
    || bad "--nbest 16"
dups=$(awk -F' \\|\\|\\| ' '{k=$1 "|" $2; if (seen[k]++) n++} END {print n+0}' "$W/nb.txt")
fewer=$(awk -F' \\|\\|\\| ' '{c[$1]++} END {n=0; for (k in c) if (c[k] < 8) n++; print n}' "$W/nb.txt")
[ "$dups" -eq 0 ] && ok "--nbest: no text twice for a line ($fewer of 40 lines had fewer than 8 distinct)" \
    || bad "--nbest: $dups repeated texts: $(awk -F' \\|\\|\\| ' '{k=$1 "|" $2; if (seen[k]++) print}' "$W/nb.txt" | head -2)"
exit $fail
