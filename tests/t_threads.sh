#!/usr/bin/env bash
# t_threads.sh: petit runs its OpenMP threads with OMP_WAIT_POLICY=passive
# (waiting threads sleep instead of spinning, which on a busy machine cost
# several times the time: BENCHMARKS.md, "Threads on a busy machine"), unless
# the user set a policy, which wins. Checked in the environment of a running
# `petit translate` (what the OpenMP runtime read at start), not by timing.
set -u
P=${PETIT:-build/petit}
W=$(mktemp -d)
SPID=
trap '[ -n "$SPID" ] && kill $SPID 2>/dev/null; rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
"$P" --version | grep -q "^openmp: not built in" && { echo "skip: built without OpenMP"; exit 0; }
BLAS=$("$P" --version | head -1 | grep -o openblas) # then petit re-executes itself with OPENBLAS_NUM_THREADS=1

# the environment of a translate that waits on its input (a FIFO kept open)
env_of() { # $1: the OMP_WAIT_POLICY to start with ("" = unset); prints the running process's
    mkfifo "$W/in"
    sleep 30 > "$W/in" & SPID=$!
    if [ -n "$1" ]; then OMP_WAIT_POLICY=$1 "$P" translate < "$W/in" > /dev/null 2>&1 &
    else env -u OMP_WAIT_POLICY "$P" translate < "$W/in" > /dev/null 2>&1 & fi
    local pid=$!
    # until petit runs with its final environment: not the shell forked to exec it (its
    # cmdline names no translate), nor the first petit before it re-executes itself with
    # OPENBLAS_NUM_THREADS=1 added. One read decides, so an exec in between cannot blank it.
    # On a loaded machine this takes a while: up to 10 s.
    local e got=none
    for i in $(seq 200); do
        if tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -q ' translate'; then
            e=$(tr '\0' '\n' < /proc/$pid/environ 2>/dev/null)
            if { [ -z "$BLAS" ] || grep -q '^OPENBLAS_NUM_THREADS=1$' <<<"$e"; } && grep -q '^OMP_WAIT_POLICY=' <<<"$e"; then
                got=$(grep '^OMP_WAIT_POLICY=' <<<"$e"); break
            fi
        fi
        sleep 0.05
    done
    echo "$got"
    kill $SPID $pid 2>/dev/null; wait $pid 2>/dev/null; SPID=
    rm -f "$W/in"
}
got=$(env_of "")
[ "$got" = "OMP_WAIT_POLICY=passive" ] && ok "default: $got" || bad "default: '$got', want OMP_WAIT_POLICY=passive"
got=$(env_of active)
[ "$got" = "OMP_WAIT_POLICY=active" ] && ok "the user's policy wins: $got" || bad "user's active: '$got'"
env -u OMP_WAIT_POLICY "$P" --version | grep -q "OMP_WAIT_POLICY=passive" && ok "--version says passive" \
    || bad "--version: $("$P" --version | tail -1)"
# translations do not depend on it
echo "A man is riding a bike." > "$W/s.en"
a=$(env -u OMP_WAIT_POLICY "$P" translate < "$W/s.en"); b=$(OMP_WAIT_POLICY=active "$P" translate < "$W/s.en")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "same translation either way: $a" || bad "'$a' vs '$b'"
exit $fail
