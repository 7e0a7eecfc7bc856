#!/usr/bin/env bash
# t_plot.sh: `petit plot` on a small hand-written metrics file (train and dev
# loss), on garbage, on empty and missing files, and --help. The SVG is checked
# with xmllint when it is installed, else with greps for its structure.
set -u
PETIT=${PETIT:-build/petit}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
has() { grep -qF -- "$2" "$1" || fail "$3: no '$2' in: $(head -c 1500 "$1")"; }

# a well-formed, self-contained SVG with at least one curve of points
svg_ok() {
    local f=$1 what=$2
    [ -s "$f" ] || { fail "$what: empty output"; return; }
    if command -v xmllint >/dev/null 2>&1; then
        xmllint --noout "$f" 2>"$tmp/xml" || fail "$what: not well-formed XML: $(head -c 500 "$tmp/xml")"
    fi
    grep -q '<svg ' "$f" || fail "$what: no <svg"
    [ "$(tail -n 1 "$f")" = "</svg>" ] || fail "$what: does not end with </svg>"
    grep -qE '<polyline [^>]*points="[0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+' "$f" || fail "$what: no polyline with points"
    ! grep -qiE '[="., ](-?nan|-?inf)' "$f" || fail "$what: NaN or Inf in the SVG"
}

cat >"$tmp/run.jsonl" <<'EOF'
{"step":10,"epoch":1,"loss":9.1234,"lr":0.00001,"tok_s":3450.2,"gflops":12.3,"elapsed":8.2}
{"step":20,"epoch":1,"loss":8.0012,"lr":0.00002,"tok_s":3500.0,"gflops":12.4,"elapsed":16.1}
{"step":30,"epoch":1,"loss":7.2,"lr":0.00003,"tok_s":3510.5,"gflops":12.5,"elapsed":24.0}
{"step":40,"epoch":1,"loss":6.55,"lr":0.00004,"tok_s":3490.9,"gflops":12.2,"elapsed":32.3,"dev_loss":6.9}
{ "step" : 50 , "epoch" : 1 , "loss" : 6.1e0 , "note" : "a string, ignored" , "ok" : true }
{"step":60,"epoch":2,"loss":5.8,"nested":{"a":[1,2,{"b":"}"}]},"x":null}
{"step":70,"epoch":2,"loss":5.5,"lr":0.00007}
{"step":80,"epoch":2,"loss":5.3,"lr":0.00008,"dev_loss":5.6}
EOF

# to a file
"$PETIT" plot "$tmp/run.jsonl" -o "$tmp/curve.svg" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || fail "plot exit $rc: $(cat "$tmp/err")"
[ -s "$tmp/out" ] && fail "plot -o wrote to stdout"
[ -s "$tmp/err" ] && fail "clean file gave stderr: $(cat "$tmp/err")"
svg_ok "$tmp/curve.svg" "run.jsonl"
[ "$(grep -c '<polyline' "$tmp/curve.svg")" -eq 2 ] || fail "expected 2 polylines (train, dev)"
[ "$(grep -c '<circle' "$tmp/curve.svg")" -ge 2 ] || fail "dev points are not drawn as circles"
has "$tmp/curve.svg" "<title>run.jsonl</title>" "title is the file name"
has "$tmp/curve.svg" "train loss (last 5.3)" "legend: train"
has "$tmp/curve.svg" "dev loss (best 5.6 at step 80)" "legend: dev"
has "$tmp/curve.svg" ">step</text>" "x axis label"
ls "$tmp"/curve.svg.tmp.* >/dev/null 2>&1 && fail "temp file left behind"
# the train polyline has one point per line with a loss (8)
n=$(grep '<polyline' "$tmp/curve.svg" | head -n 1 | sed 's/.*points="//; s/".*//' | wc -w)
[ "$n" -eq 8 ] || fail "train polyline has $n points, want 8"

# to stdout, with a title that needs escaping
"$PETIT" plot --title 'a<b & "c"' "$tmp/run.jsonl" >"$tmp/stdout.svg" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || fail "plot to stdout exit $rc: $(cat "$tmp/err")"
svg_ok "$tmp/stdout.svg" "stdout"
has "$tmp/stdout.svg" "a&lt;b &amp; &quot;c&quot;" "escaped title"

# garbage lines: skipped and counted, never a crash
{
    head -n 3 "$tmp/run.jsonl"
    echo 'not json at all'
    echo '{"step":35,"loss":}'
    echo '{"step":36,"loss":7.0'
    echo '{"step":"37","loss":7.0}'        # step is a string: usable JSON, not a point
    echo '{"step":38,"loss":1e999}'        # overflows: not a point
    echo '{"step":39,"loss":NaN,"dev_loss":-Infinity}'
    echo '[1,2,3]'
    echo '{"step":39.5,"loss":7.0} trailing'
    echo '{"step":40,"loss":0x10}'
    printf '{"st\x00ep":41,"loss":\xff\xfe}\n'
    head -c 3000 /dev/urandom | tr -d '\n'; echo
    echo '{"step":1e308,"loss":-1e308}'
    echo '{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{'
    printf '{"step":90,"loss":5.0}'   # last line without a newline
} >"$tmp/garbage.jsonl"
"$PETIT" plot "$tmp/garbage.jsonl" -o "$tmp/g.svg" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || fail "garbage file: exit $rc: $(cat "$tmp/err")"
svg_ok "$tmp/g.svg" "garbage.jsonl"
grep -q "^petit plot: $tmp/garbage.jsonl: skipped 9 malformed lines" "$tmp/err" ||
    fail "garbage count: $(cat "$tmp/err")"
n=$(grep '<polyline' "$tmp/g.svg" | head -n 1 | sed 's/.*points="//; s/".*//' | wc -w)
[ "$n" -eq 4 ] || fail "garbage: train polyline has $n points, want 4"

# only garbage: a clear error, exit 1, no output file
head -c 20000 /dev/urandom >"$tmp/random.jsonl"
"$PETIT" plot "$tmp/random.jsonl" -o "$tmp/r.svg" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "random bytes: exit $rc"
grep -q "^petit plot: $tmp/random.jsonl: nothing to plot" "$tmp/err" || fail "random bytes: message '$(cat "$tmp/err")'"
[ -e "$tmp/r.svg" ] && fail "random bytes: an SVG was written"

# a restarted run (the step goes back) draws two segments; a lone dev point still draws
printf '{"step":1,"loss":3}\n{"step":2,"loss":2}\n{"step":1,"loss":3.5}\n{"step":3,"loss":1,"dev_loss":2}\n' >"$tmp/restart.jsonl"
"$PETIT" plot "$tmp/restart.jsonl" -o "$tmp/restart.svg" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || fail "restart: exit $rc: $(cat "$tmp/err")"
svg_ok "$tmp/restart.svg" "restart"
[ "$(grep -c '<polyline' "$tmp/restart.svg")" -eq 3 ] || fail "restart: expected 2 train segments + 1 dev"

# one point only
echo '{"step":5,"loss":4.2}' >"$tmp/one.jsonl"
"$PETIT" plot "$tmp/one.jsonl" -o "$tmp/one.svg" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || fail "one point: exit $rc: $(cat "$tmp/err")"
svg_ok "$tmp/one.svg" "one point"

# a long run is thinned but keeps its shape
awk 'BEGIN{for(s=1;s<=50000;s++) printf "{\"step\":%d,\"loss\":%.4f}\n", s, 2+8/(1+s/500)+(s%7)/20}' >"$tmp/long.jsonl"
"$PETIT" plot "$tmp/long.jsonl" -o "$tmp/long.svg" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || fail "long run: exit $rc: $(cat "$tmp/err")"
svg_ok "$tmp/long.svg" "long run"
[ "$(wc -c <"$tmp/long.svg")" -lt 200000 ] || fail "long run: SVG of $(wc -c <"$tmp/long.svg") bytes"

# empty and blank-only files: a clear error, exit 1
: >"$tmp/empty.jsonl"
"$PETIT" plot "$tmp/empty.jsonl" -o "$tmp/e.svg" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "empty file: exit $rc"
has "$tmp/err" "petit plot: $tmp/empty.jsonl: empty file" "empty file message"
[ -e "$tmp/e.svg" ] && fail "empty file: an SVG was written"
printf '\n  \n\r\n' >"$tmp/blank.jsonl"
"$PETIT" plot "$tmp/blank.jsonl" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "blank file: exit $rc"
has "$tmp/err" "empty file" "blank file message"

# missing file, a directory, an unwritable output
"$PETIT" plot "$tmp/missing.jsonl" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "missing file: exit $rc"
has "$tmp/err" "petit plot: $tmp/missing.jsonl: cannot open" "missing file message"
"$PETIT" plot "$tmp" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "directory: exit $rc"
"$PETIT" plot "$tmp/run.jsonl" -o "$tmp/no/such/dir.svg" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "unwritable output: exit $rc"
grep -q "^petit plot: " "$tmp/err" || fail "unwritable output: message '$(cat "$tmp/err")'"

# usage
"$PETIT" plot --help >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 0 ] || fail "--help exit $rc"
has "$tmp/out" "usage: petit plot" "--help text"
"$PETIT" plot >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "no FILE: exit $rc"
"$PETIT" plot --nope "$tmp/run.jsonl" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "unknown option: exit $rc"
"$PETIT" plot "$tmp/run.jsonl" -o >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "-o without a value: exit $rc"
"$PETIT" plot "$tmp/run.jsonl" "$tmp/run.jsonl" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "two files: exit $rc"

[ $fails -eq 0 ] && echo "t_plot: ok"
exit $((fails > 0))
