# serve_lib.sh: sourced by tests/t_serve*.sh and bench/serve.sh. serve_start ARGS...
# starts `petit serve --port 0 ARGS` (a free port chosen by the kernel), waits
# until it prints its address (polling, up to SERVE_WAIT seconds, default 120:
# a sanitizer build on a busy machine loads slowly) and sets SERVE_PID,
# SERVE_URL and SERVE_LOG. serve_stop sends SIGTERM and waits (up to 60 s,
# then SIGKILL); its status is the server's exit code. The caller's trap
# should call serve_kill.
SERVE_PID= SERVE_URL= SERVE_LOG=
serve_start() {
    SERVE_LOG=$(mktemp)
    "$P" serve --port 0 "$@" 2> "$SERVE_LOG" &
    SERVE_PID=$!
    local i port
    for ((i = 0; i < ${SERVE_WAIT:-120} * 10; i++)); do
        port=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$SERVE_LOG" | sed 's/.*://' || true)
        [ -n "$port" ] && { SERVE_URL=http://127.0.0.1:$port; return 0; }
        kill -0 $SERVE_PID 2>/dev/null || break
        sleep 0.1
    done
    echo "petit serve did not start:"; cat "$SERVE_LOG"
    return 1
}
serve_stop() {
    [ -n "$SERVE_PID" ] || return 0
    kill -TERM $SERVE_PID 2>/dev/null
    local i
    for ((i = 0; i < 600; i++)); do kill -0 $SERVE_PID 2>/dev/null || break; sleep 0.1; done
    kill -0 $SERVE_PID 2>/dev/null && { echo "petit serve: no exit 60 s after SIGTERM"; kill -KILL $SERVE_PID; }
    wait $SERVE_PID
    local rc=$?
    SERVE_PID=
    return $rc
}
serve_kill() {
    [ -n "$SERVE_PID" ] && kill -KILL $SERVE_PID 2>/dev/null
    [ -n "$SERVE_LOG" ] && rm -f "$SERVE_LOG"
    return 0
}
