#!/usr/bin/env bash
# t_python.sh: the Python binding (python/petit, ctypes over libpetit.so) with
# the system python3 and PYTHONPATH (no pip): the same translations as
# `petit translate` at beam 4 and beam 1, a str in gives a str out, errors
# raise petit.Error with the library's message, and a model used for many
# calls keeps its memory flat. Skips when there is no python3.
set -u
P=${PETIT:-build/petit}
B=${BUILD:-build}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
PY=$(command -v python3) || { echo "skip: no python3"; exit 0; }
[ -f models/en-fr.gguf ] || { echo "skip: no models/en-fr.gguf"; exit 0; }
[ -f "$B/libpetit.so" ] || { echo "FAIL no $B/libpetit.so"; exit 1; }
export PETIT_LIB=$PWD/$B/libpetit.so PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH}
# a sanitizer build's library needs its runtime loaded first (python3 has none)
if ldd "$PETIT_LIB" | grep -q libasan; then
    export LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 # python's own allocations
    export PY_CHECK_RSS=0 # ASan's quarantine keeps freed memory: RSS grows by design
fi

printf '%s\n' "A man is riding a bicycle down the street." "Two young girls are playing in the park." \
    "" "I would like a cup of coffee, please." "Ça coûte 5 € — «vraiment»?" > "$W/src.en"
"$P" translate -m models/en-fr.gguf --beam 4 < "$W/src.en" > "$W/b4.fr"
"$P" translate -m models/en-fr.gguf --beam 1 < "$W/src.en" > "$W/b1.fr"

cat > "$W/t.py" <<'PY'
import sys, os
import petit
src = open(sys.argv[1], encoding="utf-8").read().split("\n")[:-1]
b4 = open(sys.argv[2], encoding="utf-8").read().split("\n")[:-1]
b1 = open(sys.argv[3], encoding="utf-8").read().split("\n")[:-1]
fails = 0
def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what)
    fails += not cond
t = petit.Translator("models/en-fr.gguf")
check(petit.library_path() == os.environ["PETIT_LIB"], "library from PETIT_LIB: " + petit.library_path())
got = t.translate(src, beam=4)
check(got == b4, "beam 4 = petit translate --beam 4 (%d lines)" % len(src))
if got != b4: print("  got", got, "\n  want", b4)
got = t.translate(src, beam=1)
check(got == b1, "beam 1 = petit translate --beam 1")
check(t.translate(src[0]) == b4[0], "a str in, a str out: " + b4[0])
check(t.translate([]) == [], "an empty list")
check(t.max_len == 128, "max_len %d" % t.max_len)
try:
    petit.Translator("no-such-model.gguf"); check(False, "a missing model raised nothing")
except petit.Error as e:
    check("no-such-model.gguf" in str(e), "a missing model: petit.Error: %s" % e)
try:
    t.translate([b"bytes"]); check(False, "bytes accepted")
except TypeError as e:
    check(True, "bytes: TypeError: %s" % e)
# memory: the same calls over and over keep the process's RSS flat
def rss():
    for l in open("/proc/self/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1])
n = int(os.environ.get("PY_ROUNDS", "60"))
for i in range(10): t.translate(src[:2], beam=1)
r0 = rss()
for i in range(n): t.translate(src[:2], beam=1)
r1 = rss()
if os.environ.get("PY_CHECK_RSS", "1") == "1":
    check(r1 - r0 < 4096, "RSS over %d more calls: %d -> %d kB" % (n, r0, r1))
else:
    print("skip: RSS check under a sanitizer (%d -> %d kB)" % (r0, r1))
with petit.Translator("models/en-fr.gguf", beam=2) as u:
    check(u.translate(src[1]) != "", "beam 2 in a with block")
t.close()
try:
    t.translate("x"); check(False, "closed translator translated")
except petit.Error as e:
    check(True, "closed: petit.Error: %s" % e)
sys.exit(1 if fails else 0)
PY
"$PY" "$W/t.py" "$W/src.en" "$W/b4.fr" "$W/b1.fr" || fail=1
# a library that is not there: a clear error, not a crash
out=$(PETIT_LIB=$W/nope.so "$PY" -c 'import petit; petit.Translator("models/en-fr.gguf")' 2>&1)
grep -q "petit.Error: libpetit.so not found" <<<"$out" && ok "PETIT_LIB missing: $(tail -1 <<<"$out" | cut -c1-80)" \
    || bad "PETIT_LIB missing: $out"
exit $fail
