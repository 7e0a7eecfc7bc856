#!/usr/bin/env bash
# t_bleu_cli.sh: `petit bleu` against sacreBLEU's own command-line output.
#
# Every case in tests/data/bleu/cases.txt (written by tools/bleu_fixtures.py)
# carries the two lines sacreBLEU 2.6.0 printed (`-f text -w 2`); petit must
# print the same lines, the version field aside. Then the input handling the
# help text promises: CRLF, a missing final newline, stdin vs -i, mismatched
# line counts, empty files, NUL bytes, invalid UTF-8, --json, -m, -b, usage
# errors. Run from the repository root with $PETIT set (tests/run.sh does).
set -u
PETIT=${PETIT:-build/petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
CASES=tests/data/bleu/cases.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 checks=0

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}
check() { # check DESCRIPTION COMMAND...: the command must succeed
    checks=$((checks + 1))
    local what=$1
    shift
    "$@" || fail "$what"
}
nover() { sed 's/version:[^ ]*/version:V/'; }

# ---- every case of cases.txt, as sacreBLEU printed it ------------------------
ncases=0
refs=() want=()
while IFS= read -r line; do
    key=${line%% *} rest=${line#* }
    case $key in
    case) name=$rest refs=() want=() ;;
    hyp) hyp=${rest/\$DATA/$DATA} ;;
    ref) refs+=("${rest/\$DATA/$DATA}") ;;
    opts)
        read -r tok blc clc <<<"$rest"
        flags=(-tok "$tok")
        [ "$blc" = 1 ] && flags+=(-lc)
        [ "$clc" = 1 ] && flags+=(--chrf-lowercase)
        ;;
    text) want+=("$rest") ;;
    end)
        ncases=$((ncases + 1))
        checks=$((checks + 1))
        got=$("$PETIT" bleu "${flags[@]}" "${refs[@]}" <"$hyp" | nover)
        exp=$(printf '%s\n' "${want[@]}" | nover)
        if [ "$got" != "$exp" ]; then
            fail "case $name"
            printf '  got:  %s\n' "$got"
            printf '  want: %s\n' "$exp"
        else
            echo "ok  $name: ${want[0]#* = }" | cut -c1-60
        fi
        ;;
    esac
done < <(grep -v '^#' "$CASES")
check "at least 5 cases in $CASES (got $ncases)" test "$ncases" -ge 5

# ---- sentence level: sacreBLEU's -sl output -------------------------------------
B=tests/data/bleu
for f in sl-tatoeba3.bleu sl-tatoeba3.chrf sl-tricky.bleu; do
    metric=${f##*.}
    case $f in
    sl-tatoeba3.*) args=("$B"/tatoeba3-ref-0.fr "$B"/tatoeba3-ref-1.fr "$B"/tatoeba3-ref-2.fr -i "$B"/tatoeba3-hyp.fr) ;;
    sl-tricky.*) args=("$B"/tricky.txt -i "$B"/tricky-hyp.txt) ;;
    esac
    "$PETIT" bleu -sl -m "$metric" "${args[@]}" | nover >"$tmp/sl"
    nover <"$B/$f" >"$tmp/sl.want"
    check "-sl $f equals sacreBLEU -sl ($(wc -l <"$tmp/sl.want") lines)" cmp -s "$tmp/sl" "$tmp/sl.want"
done
"$PETIT" bleu -sl --json "$B"/tatoeba3-ref-0.fr -i "$B"/tatoeba3-hyp.fr >"$tmp/sl.json"
check "-sl --json: one object per line" test "$(grep -c '^{"line": [0-9]*, "bleu": .*"chrf": .*}$' "$tmp/sl.json")" -eq 63
"$PETIT" bleu -sl "$B"/tatoeba3-ref-0.fr -i "$B"/tatoeba3-hyp.fr >"$tmp/sl.both"
check "-sl with both metrics: two lines per sentence" test "$(wc -l <"$tmp/sl.both")" -eq 126

# ---- input handling --------------------------------------------------------------
ref=$DATA/test/multi30k-test2016.fr
hyp=$DATA/test/multi30k-test2017.fr
base=$("$PETIT" bleu "$ref" <"$hyp")
check "baseline run" test -n "$base"
check "-i equals stdin" test "$("$PETIT" bleu -i "$hyp" "$ref")" = "$base"
check "'-i -' is stdin" test "$("$PETIT" bleu -i - "$ref" <"$hyp")" = "$base"

sed 's/$/\r/' "$ref" >"$tmp/ref.crlf"
sed 's/$/\r/' "$hyp" >"$tmp/hyp.crlf"
check "CRLF files score as LF files" test "$("$PETIT" bleu "$tmp/ref.crlf" <"$tmp/hyp.crlf")" = "$base"
head -c -1 "$ref" >"$tmp/ref.nonl"
head -c -1 "$hyp" >"$tmp/hyp.nonl"
check "no final newline changes nothing" \
    test "$("$PETIT" bleu "$tmp/ref.nonl" <"$tmp/hyp.nonl")" = "$base"
check "no final newline on one side only" test "$("$PETIT" bleu "$ref" <"$tmp/hyp.nonl")" = "$base"

# mismatched line counts: exit 1, both files and both counts named
head -n 999 "$hyp" >"$tmp/short.fr"
"$PETIT" bleu "$ref" <"$tmp/short.fr" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "line-count mismatch exits 1 (got $rc)" test $rc -eq 1
check "mismatch message names the files and counts: $(cat "$tmp/err")" \
    grep -q "$ref has 1000 lines but the hypotheses (stdin) have 999" "$tmp/err"
"$PETIT" bleu -i "$tmp/short.fr" "$ref" "$ref" >/dev/null 2>"$tmp/err"
check "mismatch with -i names the hypothesis file" grep -q "($tmp/short.fr) have 999" "$tmp/err"
check "no output on a mismatch" test ! -s "$tmp/out"

# empty files: BLEU 0 and chrF 0, exit 0, a warning
: >"$tmp/empty"
"$PETIT" bleu "$tmp/empty" <"$tmp/empty" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "empty files exit 0 (got $rc)" test $rc -eq 0
check "empty files: BLEU 0" grep -q '^BLEU|.* = 0.00 0.0/0.0/0.0/0.0 (BP = 1.000 ratio = 0.000 hyp_len = 0 ref_len = 0)$' "$tmp/out"
check "empty files: chrF 0" grep -q '^chrF2|.* = 0.00$' "$tmp/out"
check "empty files: a warning" grep -q "empty" "$tmp/err"
"$PETIT" bleu "$tmp/empty" <"$hyp" >/dev/null 2>&1
check "an empty reference against a full hypothesis is a mismatch" test $? -eq 1

# NUL bytes and invalid UTF-8: scored, never a crash; invalid UTF-8 warned about
printf 'le chat\000noir est l\xe0\nune ligne \xff\xfe\xc3 cass\xc3\xa9e\n\000\n\n' >"$tmp/bad"
printf 'le chat\000noir est la\nune ligne cass\xc3\xa9e\n\000\n\n' >"$tmp/bad.ref"
"$PETIT" bleu "$tmp/bad.ref" <"$tmp/bad" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "NUL and invalid UTF-8 exit 0 (got $rc)" test $rc -eq 0
check "NUL and invalid UTF-8 give both scores" test "$(grep -c ' = ' "$tmp/out")" -eq 2
check "invalid UTF-8 warning names the file and line" \
    grep -q "stdin: 2 lines are not valid UTF-8 (first: line 1)" "$tmp/err"
check "a valid reference gets no warning" test "$(grep -c warning "$tmp/err")" -eq 1
"$PETIT" bleu "$tmp/bad" <"$tmp/bad" >"$tmp/out" 2>/dev/null
check "invalid text against itself: chrF 100" grep -q '^chrF2|.* = 100.00$' "$tmp/out"

# --json: one object with the promised keys; the numbers match the text output
json=$("$PETIT" bleu --json "$ref" <"$hyp")
for key in bleu chrf signature bleu_exact chrf_exact precisions bp ratio hyp_len ref_len counts totals; do
    check "--json has \"$key\"" grep -q "\"$key\": " <<<"$json"
done
check "--json is one line" test "$(wc -l <<<"$json")" -eq 1
b=$(sed -n 's/^BLEU|[^=]*= \([0-9.]*\) .*/\1/p' <<<"$base")
c=$(sed -n 's/^chrF2|[^=]*= \([0-9.]*\)$/\1/p' <<<"$base")
check "--json bleu equals the text score ($b)" grep -q "^{\"bleu\": $b, \"chrf\": $c, " <<<"$json"
check "--json signatures" grep -q '"signature": {"bleu": "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:[^"]*", "chrf": "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:[^"]*"}' <<<"$json"

# -m, -b, -w
check "-m bleu prints only BLEU" test "$("$PETIT" bleu -m bleu "$ref" <"$hyp")" = "$(head -n1 <<<"$base")"
check "-m chrf prints only chrF" test "$("$PETIT" bleu -m chrf "$ref" <"$hyp")" = "$(tail -n1 <<<"$base")"
check "-b prints the two numbers" test "$("$PETIT" bleu -b "$ref" <"$hyp" | tr '\n' ' ')" = "$b $c "
check "-w 4" grep -q '^BLEU|[^=]*= [0-9]*\.[0-9][0-9][0-9][0-9] ' <<<"$("$PETIT" bleu -w 4 "$ref" <"$hyp")"
nrefs2=$("$PETIT" bleu "$ref" "$DATA/test/multi30k-test2016.en" <"$hyp")
check "two references: nrefs:2 in both signatures" test "$(grep -c 'nrefs:2|' <<<"$nrefs2")" -eq 2

# usage and file errors
"$PETIT" bleu --help >"$tmp/out" 2>&1
check "--help exits 0" test $? -eq 0
check "--help documents empty files" grep -q "Empty files" "$tmp/out"
check "--help documents invalid UTF-8" grep -q "valid UTF-8" "$tmp/out"
"$PETIT" bleu <"$hyp" >/dev/null 2>&1
check "no reference: exit 2" test $? -eq 2
"$PETIT" bleu --bogus "$ref" <"$hyp" >/dev/null 2>&1
check "unknown option: exit 2" test $? -eq 2
"$PETIT" bleu -tok zh "$ref" <"$hyp" >/dev/null 2>&1
check "unknown tokenizer: exit 2" test $? -eq 2
"$PETIT" bleu -m bleu,ter "$ref" <"$hyp" >/dev/null 2>&1
check "unknown metric: exit 2" test $? -eq 2
"$PETIT" bleu "$tmp/nonexistent" <"$hyp" >/dev/null 2>"$tmp/err"
rc=$?
check "missing reference file: exit 1" test $rc -eq 1
check "missing reference file is named" grep -q "petit bleu: $tmp/nonexistent" "$tmp/err"

echo "t_bleu_cli: $checks checks, $fails failed"
[ $fails -eq 0 ]
