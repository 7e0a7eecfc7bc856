#!/usr/bin/env bash
# t_info.sh: `petit info` on the GGUF file written by llama.cpp's gguf Python
# package (tests/data/gguf_py.gguf), on truncated copies of it, and --help.
set -u
PETIT=${PETIT:-build/petit}
F=tests/data/gguf_py.gguf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
has() { grep -qF -- "$2" "$1" || fail "$3: no '$2' in: $(head -c 2000 "$1")"; }

# text
"$PETIT" info "$F" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || fail "info exit $rc: $(cat "$tmp/err")"
has "$tmp/out" "GGUF v3, 640 bytes, alignment 32, 13 keys, 2 tensors" "header line"
grep -qE '^petit\.d_model +u32 +64$' "$tmp/out" || fail "petit.d_model line"
grep -qE '^general\.architecture +str +"petit"$' "$tmp/out" || fail "architecture line"
grep -qE '^petit\.eps +f32 +1e-05$' "$tmp/out" || fail "f32 line"
grep -qE '^tokenizer\.ggml\.tokens +arr\[str\] +\["<unk>", "▁le", "été", "x"\]$' "$tmp/out" || fail "string array line"
grep -qE '^w +F32 +3 × 2 +24 +32\.00$' "$tmp/out" || fail "tensor w line"
grep -qE '^ids +I32 +5 +20 +32\.00$' "$tmp/out" || fail "tensor ids line"
has "$tmp/out" "total: 2 tensors, 11 parameters, 44 bytes, 32.00 bits per weight" "total line"

# JSON
"$PETIT" info --json "$F" >"$tmp/json" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || fail "info --json exit $rc: $(cat "$tmp/err")"
has "$tmp/json" '"version": 3' "json version"
has "$tmp/json" '"petit.d_model": {"type": "u32", "value": 64}' "json u32"
has "$tmp/json" '"petit.big": {"type": "i64", "value": -9000000000000000}' "json i64"
has "$tmp/json" '"tokenizer.ggml.tokens": {"type": "arr", "elem_type": "str", "n": 4, "value": ["<unk>", "▁le", "été", "x"]}' "json string array"
has "$tmp/json" '{"name": "w", "type": "F32", "shape": [3, 2], "elements": 6, "bytes": 24, "bits_per_weight": 32}' "json tensor"
has "$tmp/json" '"total": {"tensors": 2, "parameters": 11, "bytes": 44, "bits_per_weight": 32}}' "json total"
[ "$(head -c 1 "$tmp/json")" = "{" ] && [ "$(tail -c 3 "$tmp/json")" = "}}" ] || fail "json is not one object"

# truncated copies: exit 1 with "petit info: FILE: problem", never a crash
# (the last tensor's data ends at byte 628; the rest is padding)
for n in 0 3 4 23 24 100 300 575 576 600 627; do
    head -c "$n" "$F" >"$tmp/cut.gguf"
    "$PETIT" info "$tmp/cut.gguf" >"$tmp/out" 2>"$tmp/err"; rc=$?
    [ $rc -eq 1 ] || fail "truncated to $n bytes: exit $rc"
    grep -q "^petit info: $tmp/cut.gguf: " "$tmp/err" || fail "truncated to $n bytes: message '$(cat "$tmp/err")'"
done
"$PETIT" info "$tmp/missing.gguf" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "missing file: exit $rc"
has "$tmp/err" "petit info: $tmp/missing.gguf: cannot open" "missing file message"

# usage
"$PETIT" info --help >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 0 ] || fail "--help exit $rc"
has "$tmp/out" "usage: petit info" "--help text"
"$PETIT" info >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "no FILE: exit $rc"
"$PETIT" info --nope "$F" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "unknown option: exit $rc"

[ $fails -eq 0 ] && echo "t_info: ok"
exit $((fails > 0))
