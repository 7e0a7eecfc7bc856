#!/usr/bin/env bash
# t_serve_memory.sh: petit serve's memory stays flat over 10,000 requests
# (a tiny sentence, greedy, from 64 keep-alive connections through
# tools/serve_client.py): its resident memory after the first 10% of the
# requests and at the end differ by less than 3 MB (a leak of 300 bytes a
# request would pass that), every request is answered, and the server exits
# 0 on SIGTERM (under AddressSanitizer, LeakSanitizer's check at that exit
# catches smaller leaks). Under a sanitizer build (PETIT_ASAN=1, set by
# `make asan`) it sends 2,000 requests: ASan's decoder is ~10x slower.
# SERVE_REQUESTS overrides the count.
set -u
P=${PETIT:-build/petit}
. tests/serve_lib.sh
trap 'serve_kill' EXIT
if "$P" serve --help | grep -q "without libmicrohttpd"; then echo "skip: petit built without libmicrohttpd"; exit 0; fi
PY=$(command -v python3) || { echo "skip: no python3"; exit 0; }
[ -f models/en-fr.gguf ] || { echo "skip: no models/en-fr.gguf"; exit 0; }
N=${SERVE_REQUESTS:-$([ "${PETIT_ASAN:-0}" = 1 ] && echo 2000 || echo 10000)}
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
serve_start -m models/en-fr.gguf --beam 1 --max-connections 128 || exit 1
r=$("$PY" tools/serve_client.py load "$SERVE_URL" "$N" 64 "Hello." "$SERVE_PID")
echo "  $r"
"$PY" - "$r" "$N" <<'PY' && ok "$N requests all answered; RSS flat (< 3 MB more after the first 10%)" || bad "memory or answers: $r"
import json, sys
r = json.loads(sys.argv[1]); n = int(sys.argv[2])
a, b = r["rss_kb"]
print("  RSS %d kB after %d requests, %d kB after %d (%+d kB)" % (a, n // 10, b, n, b - a))
sys.exit(0 if r["ok"] == n and b - a < 3072 else 1)
PY
serve_stop && ok "exit 0 on SIGTERM" || bad "exit $?: $(tail -5 "$SERVE_LOG")"
grep -q "ERROR: \|runtime error" "$SERVE_LOG" && bad "sanitizer: $(grep -m3 "ERROR\|runtime error" "$SERVE_LOG")"
exit $fail
