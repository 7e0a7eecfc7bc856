#!/usr/bin/env bash
# petit shortlist: learns a lexical shortlist from parallel text and writes a
# copy of the model that carries it; that copy translates with it by default
# (other output, every word of it from the batch's union), and with
# --shortlist off exactly as the model without it; the file says so in
# petit info; bad calls fail with a message and leave no file.
set -u
P=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
M=models/en-fr.gguf
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

head -20000 "$DATA/train/multi30k.en" > "$W/tr.en"
head -20000 "$DATA/train/multi30k.fr" > "$W/tr.fr"
head -60 "$DATA/test/multi30k-test2016.en" > "$W/in"
"$P" shortlist -m "$M" --src "$W/tr.en" --tgt "$W/tr.fr" -o "$W/sl.gguf" --top 20 --frequent 50 --iters 3 2> "$W/err" \
    && ok "shortlist learned: $(tail -1 "$W/err" | sed 's/.*-> [^:]*: //')" || bad "shortlist: $(cat "$W/err")"
grep -q 'EM iteration 3: perplexity' "$W/err" && ok "progress per EM iteration" || bad "no progress lines: $(cat "$W/err")"
"$P" info "$W/sl.gguf" > "$W/info" 2>&1 && grep -q 'shortlist.s2t' "$W/info" && grep -q 'data checksum: ok' "$W/info" \
    && ok "info lists the shortlist, checksum ok" || bad "info: $(grep -i 'shortlist\|checksum' "$W/info")"
"$P" translate -m "$M" --shortlist off < "$W/in" > "$W/plain.out" # exact (the bundled model has a shortlist too)
"$P" translate -m "$W/sl.gguf" --shortlist off < "$W/in" > "$W/off.out" 2> "$W/err" || bad "--shortlist off: $(cat "$W/err")"
cmp -s "$W/plain.out" "$W/off.out" && ok "--shortlist off translates exactly as the model without one" \
    || bad "--shortlist off differs from the plain model"
"$P" translate -m "$W/sl.gguf" < "$W/in" > "$W/on.out" 2> "$W/err" && [ "$(wc -l < "$W/on.out")" = 60 ] \
    && ok "translates 60 lines with the shortlist" || bad "translate with the shortlist: $(cat "$W/err")"
cmp -s "$W/plain.out" "$W/on.out" && bad "the shortlist changed nothing (not used?)" \
    || ok "the shortlist is used: $(diff "$W/plain.out" "$W/on.out" | grep -c '^<') of 60 lines differ"
# the words of every line come from a union that is far from the whole vocabulary: a
# shortlist of only the frequent pieces (top 1) must change more lines than top 20 does
"$P" shortlist -q -m "$M" --src "$W/tr.en" --tgt "$W/tr.fr" -o "$W/tiny.gguf" --top 1 --frequent 20 --iters 3 \
    || bad "tiny shortlist"
"$P" translate -m "$W/tiny.gguf" < "$W/in" > "$W/tiny.out"
n20=$(diff "$W/plain.out" "$W/on.out" | grep -c '^<'); n1=$(diff "$W/plain.out" "$W/tiny.out" | grep -c '^<')
[ "$n1" -gt "$n20" ] && ok "a smaller shortlist changes more lines ($n1 > $n20)" || bad "top 1: $n1 lines differ, top 20: $n20"

# bad calls
"$P" shortlist -m "$M" --src "$W/tr.en" -o "$W/x.gguf" 2> "$W/err"; [ $? = 2 ] && grep -q 'are all needed' "$W/err" \
    && ok "missing --tgt: usage error" || bad "missing --tgt: $(cat "$W/err")"
"$P" shortlist -m "$M" --src "$W/tr.en" --tgt "$W/tr.fr" -o "$M" 2> "$W/err"; [ $? = 2 ] \
    && ok "output = model refused" || bad "-o the model: $(cat "$W/err")"
head -5 "$W/tr.fr" > "$W/short.fr"
"$P" shortlist -m "$M" --src "$W/tr.en" --tgt "$W/short.fr" -o "$W/x.gguf" 2> "$W/err"; [ $? = 1 ] && [ ! -e "$W/x.gguf" ] \
    && ok "line counts differ: refused, no file ($(head -c 80 "$W/err"))" || bad "differing sides: $(cat "$W/err")"
"$P" shortlist -m "$M" --src "$W/tr.en" --tgt "$W/tr.fr" -o "$W/x.gguf" --top 0 2> "$W/err"; [ $? = 2 ] \
    && ok "--top 0 refused" || bad "--top 0: $(cat "$W/err")"
"$P" translate -m "$W/sl.gguf" --shortlist maybe < "$W/in" > /dev/null 2> "$W/err"; [ $? = 2 ] && grep -q 'on or off' "$W/err" \
    && ok "--shortlist maybe: usage error" || bad "--shortlist maybe: $(cat "$W/err")"
"$P" shortlist --help | grep -q 'IBM model 1' && ok "--help" || bad "--help"
exit $fail
