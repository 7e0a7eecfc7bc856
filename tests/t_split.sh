#!/usr/bin/env bash
# t_split.sh: petit translate --split. A paragraph of five sentences (real
# ones, from the shared Multi30k test set) comes back as the five sentences'
# own translations joined on one line; lines stay aligned (empty lines, a
# line of one sentence); a line longer than the model's maximum length is
# translated in pieces with nothing cut (no warning), where without --split
# the same line is cut with a warning.
set -u
P=${PETIT:-build/petit}
D=${PETIT_DATA:-../shared/data/en-fr}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
[ -f models/en-fr.gguf ] || { echo "skip: no models/en-fr.gguf"; exit 0; }
SRC=$D/test/multi30k-test2016.en
[ -f "$SRC" ] || { echo "skip: no $SRC"; exit 0; }
# --shortlist off: the shortlist's union is per batch, so a sentence alone and the same
# sentence among others may differ by design; splitting is what is checked here
T() { "$P" translate -m models/en-fr.gguf --beam 2 --shortlist off "$@"; }

sed -n '11,15p' "$SRC" > "$W/five.en"
T < "$W/five.en" > "$W/five.fr"
{ paste -sd' ' "$W/five.en"; echo; echo "One short line."; } > "$W/para.en"
T --split < "$W/para.en" > "$W/para.fr" 2> "$W/err"
want=$(paste -sd' ' "$W/five.fr")
lines=$(wc -l < "$W/para.fr")
[ "$lines" = 3 ] && ok "3 lines in, 3 lines out" || bad "$lines lines out for 3"
got=$(sed -n 1p "$W/para.fr")
[ "$got" = "$want" ] && ok "a paragraph of 5 sentences: their 5 translations on one line" \
    || { bad "paragraph"; echo "  got:  $got"; echo "  want: $want"; }
[ -z "$(sed -n 2p "$W/para.fr")" ] && ok "an empty line stays empty" || bad "empty line: '$(sed -n 2p "$W/para.fr")'"
one=$(echo "One short line." | T)
[ "$(sed -n 3p "$W/para.fr")" = "$one" ] && ok "one sentence: as without --split" || bad "line 3: '$(sed -n 3p "$W/para.fr")' vs '$one'"
[ ! -s "$W/err" ] && ok "nothing on stderr" || bad "stderr: $(head -3 "$W/err")"

# a line of 12 sentences without a full stop between them: one 'sentence' over max_len (128 tokens)
sed -n '1,12p' "$SRC" | sed 's/\.$//' | paste -sd',' > "$W/long.en"
T --split < "$W/long.en" > "$W/long.fr" 2> "$W/err"
[ ! -s "$W/err" ] && ok "--split: a line over the maximum length, no warning" || bad "warning: $(head -2 "$W/err")"
T < "$W/long.en" > "$W/cut.fr" 2> "$W/err2"
grep -q "were cut" "$W/err2" && ok "without --split the same line is cut with a warning" || bad "no warning: $(cat "$W/err2")"
wl=$(wc -w < "$W/long.fr"); wc=$(wc -w < "$W/cut.fr")
[ "$wl" -gt "$wc" ] && ok "the pieces translate more of it: $wl words vs $wc cut" || bad "$wl words with --split, $wc cut"
[ "$(wc -l < "$W/long.fr")" = 1 ] && ok "still one line" || bad "$(wc -l < "$W/long.fr") lines"

# --json with --split: one object a line
T --split --json < "$W/para.en" > "$W/j" 2>&1
[ "$(grep -c '^{"line": [0-9]*, "text": ' "$W/j")" = 3 ] && ok "--split --json: 3 objects" || bad "json: $(head -3 "$W/j")"
T --split --nbest 2 < "$W/para.en" > /dev/null 2> "$W/err"; rc=$?
[ $rc = 2 ] && grep -q "no --nbest" "$W/err" && ok "--split --nbest: usage error" || bad "rc $rc: $(cat "$W/err")"
"$P" translate --help | grep -q -- "--split" && ok "--help lists --split" || bad "--help"
exit $fail
