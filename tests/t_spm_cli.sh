#!/usr/bin/env bash
# t_spm_cli.sh: petit encode / decode / vocab from the outside — output
# formatted exactly as spm_encode/spm_decode wrote it for the fixtures,
# streaming, exit codes and messages. `petit vocab` is run for real only when
# spm_train is installed; its missing-trainer message is checked always.
set -u
PETIT=${PETIT:-build/petit}
FIX=tests/data/spm
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# ---- output equals sentencepiece's, byte for byte ----------------------------
for m in uni_nfkc bpe_id_bf uni_nfkc_user; do
    "$PETIT" encode -m $FIX/$m.model --ids <$FIX/lines.txt >"$tmp/ids" &&
        cmp -s "$tmp/ids" $FIX/$m.ids && ok "$m encode --ids" || fail "$m encode --ids differs"
    "$PETIT" encode -m $FIX/$m.model <$FIX/lines.txt >"$tmp/pieces" &&
        cmp -s "$tmp/pieces" $FIX/$m.pieces && ok "$m encode" || fail "$m encode (pieces) differs"
    "$PETIT" decode -m $FIX/$m.model --ids <$FIX/$m.ids >"$tmp/dec" &&
        cmp -s "$tmp/dec" $FIX/$m.decoded && ok "$m decode --ids" || fail "$m decode --ids differs"
    "$PETIT" decode -m $FIX/$m.model <$FIX/$m.pieces >"$tmp/pdec" &&
        cmp -s "$tmp/pdec" $FIX/$m.pdecoded && ok "$m decode" || fail "$m decode (pieces) differs"
done

# empty input, and a last line without '\n'
out=$("$PETIT" encode -m $FIX/uni_nfkc.model --ids </dev/null | od -An -c | tr -d ' ')
[ -z "$out" ] && ok "empty input" || fail "empty input gave '$out'"
printf 'a dog\n\nthe cat' | "$PETIT" encode -m $FIX/uni_nfkc.model --ids >"$tmp/o"
[ "$(wc -l <"$tmp/o")" = 3 ] && [ "$(sed -n 2p "$tmp/o")" = "" ] && ok "line structure kept" ||
    fail "line structure: $(od -c "$tmp/o" | head -3)"

# streaming: an answer comes before the input ends
coproc ENC { "$PETIT" encode -m $FIX/uni_nfkc.model --ids; }
echo "A dog runs." >&"${ENC[1]}"
if read -r -t 10 line <&"${ENC[0]}"; then
    want=$(echo "A dog runs." | "$PETIT" encode -m $FIX/uni_nfkc.model --ids)
    [ "$line" = "$want" ] && ok "streams line by line" || fail "streamed '$line' want '$want'"
else
    fail "no output before end of input"
fi
exec {ENC[1]}>&-
wait

# ---- errors -------------------------------------------------------------------
"$PETIT" encode --help | grep -q "usage: petit encode" && ok "encode --help" || fail "encode --help"
"$PETIT" decode --help | grep -q "usage: petit decode" && ok "decode --help" || fail "decode --help"
"$PETIT" vocab --help | grep -q "usage: petit vocab" && ok "vocab --help" || fail "vocab --help"
"$PETIT" encode </dev/null 2>"$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q "petit encode: -m MODEL is required" "$tmp/err" && ok "encode without -m: 2" || fail "encode without -m: rc $rc"
"$PETIT" decode -m $FIX/uni_nfkc.model --bogus </dev/null 2>/dev/null; rc=$?
[ $rc = 2 ] && ok "unknown flag: 2" || fail "unknown flag: rc $rc"
"$PETIT" encode -m "$tmp/missing.model" </dev/null 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "petit encode: $tmp/missing.model: cannot open" "$tmp/err" && ok "missing model: 1" ||
    fail "missing model: rc $rc $(cat "$tmp/err")"
"$PETIT" encode -m $FIX/lines.txt </dev/null 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "petit encode: $FIX/lines.txt: " "$tmp/err" && ok "not a model: 1 ($(cat "$tmp/err"))" ||
    fail "not a model: rc $rc $(cat "$tmp/err")"
head -c 200000 $FIX/uni_nfkc.model >"$tmp/trunc.model"
"$PETIT" decode -m "$tmp/trunc.model" </dev/null 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "truncated" "$tmp/err" && ok "truncated model: 1" || fail "truncated model: rc $rc $(cat "$tmp/err")"
printf '5 6\n7 99999\n' | "$PETIT" decode -m $FIX/uni_nfkc.model --ids >"$tmp/o" 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "line 2: '99999' is not an id" "$tmp/err" && [ "$(wc -l <"$tmp/o")" = 1 ] &&
    ok "bad id: 1 after the good lines" || fail "bad id: rc $rc $(cat "$tmp/err")"
printf '5 x\n' | "$PETIT" decode -m $FIX/uni_nfkc.model --ids >/dev/null 2>&1; rc=$?
[ $rc = 1 ] && ok "non-numeric id: 1" || fail "non-numeric id: rc $rc"
# NUL bytes and invalid UTF-8 survive the pipeline
printf 'a\x00b \xff\xfe c\r\n' | "$PETIT" encode -m $FIX/uni_id_bf.model --ids |
    "$PETIT" decode -m $FIX/uni_id_bf.model --ids >"$tmp/o" && [ "$(od -An -tx1 "$tmp/o" | tr -d ' \n')" = "61006220efbfbdefbfbd20630d0a" ] &&
    ok "NUL, invalid UTF-8 and CR round trip" || fail "NUL/invalid round trip: $(od -An -tx1 "$tmp/o")"

# ---- petit vocab ----------------------------------------------------------------
env PATH=/nonexistent "$PETIT" vocab -i $FIX/lines.txt -o "$tmp/v" --size 100 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "apt-get install sentencepiece" "$tmp/err" && ok "no spm_train: says how to install" ||
    fail "no spm_train: rc $rc $(cat "$tmp/err")"
"$PETIT" vocab -i $FIX/lines.txt -o "$tmp/v" 2>/dev/null; rc=$?
[ $rc = 2 ] && ok "vocab without --size: 2" || fail "vocab without --size: rc $rc"
"$PETIT" vocab -i $FIX/lines.txt -o "$tmp/v" --size 100 --type word 2>/dev/null; rc=$?
[ $rc = 2 ] && ok "vocab --type word: 2" || fail "vocab --type word: rc $rc"
"$PETIT" vocab -i "$tmp/nope.txt" -o "$tmp/v" --size 100 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "nope.txt: cannot open" "$tmp/err" && ok "vocab missing input: 1" || fail "vocab missing input: rc $rc"
if command -v spm_train >/dev/null && command -v spm_encode >/dev/null; then
    for t in unigram bpe; do
        "$PETIT" vocab -i $FIX/lines.txt -i $FIX/uni_nfkc.decoded -o "$tmp/v_$t" --size 700 --type $t \
            --threads 1 2>"$tmp/err"; rc=$?
        if [ $rc = 0 ] && [ -s "$tmp/v_$t.model" ] && [ -s "$tmp/v_$t.vocab" ]; then
            ids=$(cut -f1 "$tmp/v_$t.vocab" | head -4 | tr '\n' ' ')
            [ "$ids" = "<unk> <s> </s> <pad> " ] && ok "vocab $t: special pieces $ids" || fail "vocab $t specials: $ids"
            spm_encode --model="$tmp/v_$t.model" --output_format=id <$FIX/lines.txt >"$tmp/a"
            "$PETIT" encode -m "$tmp/v_$t.model" --ids <$FIX/lines.txt >"$tmp/b"
            cmp -s "$tmp/a" "$tmp/b" && ok "vocab $t: petit encodes as spm_encode" || fail "vocab $t: encodings differ"
        else
            fail "vocab $t: rc $rc $(tail -3 "$tmp/err")"
        fi
    done
    "$PETIT" vocab -i $FIX/lines.txt -o "$tmp/big" --size 100000 --threads 1 2>"$tmp/err"; rc=$?
    [ $rc = 1 ] && grep -q "spm_train failed" "$tmp/err" && grep -q "Vocabulary size" "$tmp/err" &&
        ok "vocab too large: spm_train's reason shown" || fail "vocab too large: rc $rc $(cat "$tmp/err")"
else
    echo "skip: spm_train not installed, petit vocab not run"
fi

echo "$fails failed"
[ $fails = 0 ]
