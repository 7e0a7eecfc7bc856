#!/usr/bin/env bash
# bench/serve.sh: petit serve's requests/s and latency (p50, p99) for 1 and 16 concurrent
# clients against one server process, side by side with the same model through
# `petit translate` on the same sentences; and the server's resident memory before and
# after 10,000 requests.
#
# Sentences: the first LINES (default 300) lines of Multi30k test2016, one sentence a
# request (tools/serve_client.py bench: keep-alive clients, each sending the next sentence
# as soon as its answer arrives). petit translate is measured two ways on the same lines:
# all of them through one process (its throughput: the batch-job way), and one process per
# sentence for the first 30 (load + translate: the latency of the naive script). Each round
# runs the five measures in a rotated order; the figures are medians over ROUNDS (3).
# The memory phase sends 10,000 requests of one short sentence from 16 clients and reads
# the server's VmRSS after its first answer, after the first 10% and at the end.
#
# usage: bench/serve.sh [--quick] [-m MODEL] [--beam N] [--rounds N] [--lines N]
#   --quick      1 round, 100 lines, 2,000 requests in the memory phase
#   -m MODEL     another model (default models/en-fr.gguf); --beam (default 4)
# Environment: PETIT (./petit), PETIT_DATA (../shared/data/en-fr), PAUSE_PID: a process
# to stop (SIGSTOP) for the length of the run and continue (SIGCONT) at the end, whatever
# happens (a trap), so that a busy machine's other job does not skew the figures.
# The last line is one JSON object with the headline figures.
set -euo pipefail
cd "$(dirname "$0")/.."
P=${PETIT:-./petit}
D=${PETIT_DATA:-../shared/data/en-fr}
MODEL=models/en-fr.gguf BEAM=4 ROUNDS=3 LINES=300 MEMN=10000 PER_PROC=30
while [ $# -gt 0 ]; do
    case $1 in
        --quick) ROUNDS=1 LINES=100 MEMN=2000 PER_PROC=10 ;;
        -m) MODEL=$2; shift ;;
        --beam) BEAM=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --lines) LINES=$2; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "bench/serve.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ -x "$P" ] || make -s petit
"$P" serve --help | grep -q "without libmicrohttpd" && { echo "bench/serve.sh: petit has no server built in (libmicrohttpd)"; exit 1; }
W=$(mktemp -d)
. tests/serve_lib.sh
cleanup() {
    serve_kill
    [ -n "${PAUSE_PID:-}" ] && kill -CONT "$PAUSE_PID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -n "${PAUSE_PID:-}" ]; then kill -STOP "$PAUSE_PID" && echo "(process $PAUSE_PID stopped for the run)"; fi
head -n "$LINES" "$D/test/multi30k-test2016.en" > "$W/src.en"
head -n "$PER_PROC" "$W/src.en" > "$W/few.en"
PY=python3
now() { date +%s.%N; }

serve_start -m "$MODEL" --beam "$BEAM" > /dev/null
U=$SERVE_URL
"$PY" tools/serve_client.py bench "$U" "$W/src.en" 16 100 > /dev/null # warm up

declare -a R1 P1a P1b R16 P16a P16b TPUT PPM PPP
m_serve() { # clients
    "$PY" tools/serve_client.py bench "$U" "$W/src.en" "$1" "$LINES"
}
m_translate() { # one process, all lines: sentences/s
    local t0 t1; t0=$(now)
    "$P" translate -m "$MODEL" --beam "$BEAM" < "$W/src.en" > /dev/null
    t1=$(now)
    awk -v a="$t0" -v b="$t1" -v n="$LINES" 'BEGIN{printf "%.2f", n/(b-a)}'
}
m_per_process() { # a process per sentence: p50 p99 ms and sentences/s
    local line t0 t1 lat=()
    while IFS= read -r line; do
        t0=$(now); printf '%s\n' "$line" | "$P" translate -m "$MODEL" --beam "$BEAM" > /dev/null; t1=$(now)
        lat+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{print 1000*(b-a)}')")
    done < "$W/few.en"
    printf '%s\n' "${lat[@]}" | sort -g | awk '{a[NR]=$1; s+=$1} END{printf "%.1f %.1f %.2f", a[int(NR*0.5)+1], a[(NR > 1 ? int(NR * 0.99) + 1 : 1)], 1000*NR/s}'
}
field() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
for ((r = 0; r < ROUNDS; r++)); do
    for k in 0 1 2 3; do
        case $(( (k + r) % 4 )) in
            0) j=$(m_serve 1); R1+=("$(field "$j" rps)"); P1a+=("$(field "$j" p50_ms)"); P1b+=("$(field "$j" p99_ms)") ;;
            1) j=$(m_serve 16); R16+=("$(field "$j" rps)"); P16a+=("$(field "$j" p50_ms)"); P16b+=("$(field "$j" p99_ms)") ;;
            2) TPUT+=("$(m_translate)") ;;
            3) read -r a b c <<<"$(m_per_process)"; PPM+=("$a"); PPP+=("$b") ; PPR+=("$c") ;;
        esac
    done
    echo "(round $((r + 1)) of $ROUNDS done)" >&2
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
serve_stop > /dev/null || true

# memory: 10,000 requests
serve_start -m "$MODEL" --beam "$BEAM" > /dev/null
"$PY" tools/serve_client.py load "$SERVE_URL" 1 1 "Hello." > /dev/null
rss0=$(awk '/^VmRSS/{print $2}' /proc/$SERVE_PID/status)
memj=$("$PY" tools/serve_client.py load "$SERVE_URL" "$MEMN" 16 "Hello." "$SERVE_PID")
rss1=$(awk '/^VmRSS/{print $2}' /proc/$SERVE_PID/status)
memok=$(field "$memj" ok)
rss10=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["rss_kb"][0])' "$memj")
serve_stop > /dev/null || true

load=$(cut -d' ' -f1-3 /proc/loadavg)
printf '\npetit serve vs petit translate: %s, beam %s, %s lines of Multi30k test2016, %s round(s), medians\n' \
    "$MODEL" "$BEAM" "$LINES" "$ROUNDS"
printf '  machine: %s, %s cores; load average at the end: %s\n' \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" "$(nproc)" "$load"
printf '  %-44s %10s %9s %9s\n' "" "req/s" "p50 ms" "p99 ms"
printf '  %-44s %10s %9s %9s\n' "petit serve, 1 client" "$(med "${R1[@]}")" "$(med "${P1a[@]}")" "$(med "${P1b[@]}")"
printf '  %-44s %10s %9s %9s\n' "petit serve, 16 clients" "$(med "${R16[@]}")" "$(med "${P16a[@]}")" "$(med "${P16b[@]}")"
printf '  %-44s %10s %9s %9s\n' "petit translate, one process, all lines" "$(med "${TPUT[@]}")" "-" "-"
printf '  %-44s %10s %9s %9s\n' "petit translate, a process per sentence" "$(med "${PPR[@]}")" "$(med "${PPM[@]}")" "$(med "${PPP[@]}")"
printf '  memory (16 clients): RSS %s kB after the first request, %s kB after %s more, %s kB after %s (%s answered)\n' \
    "$rss0" "$rss10" "$((MEMN / 10))" "$rss1" "$MEMN" "$memok"
printf '{"bench": "serve", "model": "%s", "beam": %s, "lines": %s, "rounds": %s, "serve_1_rps": %s, "serve_1_p50_ms": %s, "serve_1_p99_ms": %s, "serve_16_rps": %s, "serve_16_p50_ms": %s, "serve_16_p99_ms": %s, "translate_batch_sps": %s, "translate_per_process_sps": %s, "translate_per_process_p50_ms": %s, "rss_kb_first": %s, "rss_kb_at_10pct": %s, "rss_kb_after": %s, "memory_requests": %s, "load": "%s"}\n' \
    "$MODEL" "$BEAM" "$LINES" "$ROUNDS" "$(med "${R1[@]}")" "$(med "${P1a[@]}")" "$(med "${P1b[@]}")" \
    "$(med "${R16[@]}")" "$(med "${P16a[@]}")" "$(med "${P16b[@]}")" "$(med "${TPUT[@]}")" "$(med "${PPR[@]}")" \
    "$(med "${PPM[@]}")" "$rss0" "$rss10" "$rss1" "$MEMN" "$load"
