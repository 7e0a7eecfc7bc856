#!/usr/bin/env bash
# t_serve_memory.sh: petit serve's memory stays flat over 10,000 requests
# (a tiny sentence, greedy, from 64 keep-alive connections through
# tools/serve_client.py): its resident memory after the first 10% of the
# requests and at the end differ by less than 3 MB, the bytes malloc has
# handed out (GET /health's heap_kb, glibc's mallinfo2, read when no
# connection is open) by less than 256 kB, every request is answered, and
# the server exits 0 on SIGTERM (under AddressSanitizer, where there is no
# heap figure and its quarantine makes RSS grow, only LeakSanitizer's check
# at that exit watches memory). Under a sanitizer build (PETIT_ASAN=1, set by
# `make asan`) it sends 400 requests: ASan's decoder is 20-50x slower.
# SERVE_REQUESTS overrides the count.
set -u
P=${PETIT:-build/petit}
. tests/serve_lib.sh
trap 'serve_kill' EXIT
if "$P" serve --help | grep -q "without libmicrohttpd"; then echo "skip: petit built without libmicrohttpd"; exit 0; fi
PY=$(command -v python3) || { echo "skip: no python3"; exit 0; }
[ -f models/en-fr.gguf ] || { echo "skip: no models/en-fr.gguf"; exit 0; }
N=${SERVE_REQUESTS:-$([ "${PETIT_ASAN:-0}" = 1 ] && echo 400 || echo 10000)}
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
serve_start -m models/en-fr.gguf --beam 1 --max-connections 128 || exit 1
rss() { awk '/^VmRSS/{print $2}' /proc/$SERVE_PID/status; }
heap() { sleep 0.5; "$PY" -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1] + "/health")).get("heap_kb", -1))' "$SERVE_URL"; }
warm=$((N / 10))
r1=$("$PY" tools/serve_client.py load "$SERVE_URL" "$warm" 64 "Hello.")
rss1=$(rss) heap1=$(heap)
r2=$("$PY" tools/serve_client.py load "$SERVE_URL" "$((N - warm))" 64 "Hello.")
rss2=$(rss) heap2=$(heap)
echo "  $r1"; echo "  $r2"
echo "  after $warm requests: RSS $rss1 kB, heap in use $heap1 kB; after $N: RSS $rss2 kB, heap $heap2 kB"
oks=$("$PY" -c 'import json,sys; print(sum(json.loads(a)["ok"] for a in sys.argv[1:]))' "$r1" "$r2")
[ "$oks" = "$N" ] && ok "$N requests, all answered" || bad "$oks of $N answered"
if ldd "$P" 2>/dev/null | grep -q libasan; then
    echo "skip: RSS under AddressSanitizer (its quarantine keeps freed memory: RSS grows by design)"
else
    [ $((rss2 - rss1)) -lt 3072 ] && ok "RSS flat: $((rss2 - rss1)) kB after the first $warm (< 3 MB)" || bad "RSS grew $((rss2 - rss1)) kB"
fi
if [ "${heap1:-0}" -gt 0 ] 2>/dev/null; then
    [ $((heap2 - heap1)) -lt 256 ] && ok "malloc's bytes in use flat: $((heap2 - heap1)) kB (< 256 kB: a leak of 30 bytes a request would show)" \
        || bad "heap in use grew $((heap2 - heap1)) kB over $((N - warm)) requests"
else
    echo "skip: no heap figure (not glibc, or a sanitizer's allocator: LeakSanitizer checks at exit)"
fi
serve_stop && ok "exit 0 on SIGTERM" || bad "exit $?: $(tail -5 "$SERVE_LOG")"
grep -q "ERROR: \|runtime error" "$SERVE_LOG" && bad "sanitizer: $(grep -m3 "ERROR\|runtime error" "$SERVE_LOG")"
exit $fail
