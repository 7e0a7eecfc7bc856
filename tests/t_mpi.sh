#!/usr/bin/env bash
# petit train under mpirun (data parallel, src/train/dist.h):
#  - 2 ranks of 1 thread follow 1 rank's loss trajectory over 20 steps (same
#    global batch: --accum 2 of 600 tokens) within 1e-4 relative per step;
#    dropout is 0 because each rank draws the masks of its own shard;
#  - every rank holds the same weights and optimizer state at every
#    checkpoint (PETIT_MPI_SAVE_ALL=1 writes each rank's; cmp), and a run
#    resumed with another number of ranks (1 -> 2, 2 -> 1) stays on the track;
#  - ranks started with different options or data refuse to train, naming
#    what differs; a rank that fails alone or dies ends the job (no hang).
# Skipped (passes) when petit was built without MPI or mpirun is missing.
set -u
P=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
V=tests/data/m30k-1k.model
if ! command -v mpirun >/dev/null || "$P" --version 2>/dev/null | grep -q "mpi: none"; then
    echo "skip: petit built without MPI or no mpirun"; exit 0
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# the sanitizers' leak check does not know MPI's own allocations
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
MPI=(timeout 120 mpirun -np 2)

head -400 "$DATA/train/multi30k.en" > "$W/s.en"
head -400 "$DATA/train/multi30k.fr" > "$W/s.fr"
TINY=(--src "$W/s.en" --tgt "$W/s.fr" --vocab $V --d-model 32 --heads 2 --ff 64 --enc-layers 1 --dec-layers 1
      --lr 3e-3 --warmup 10 --batch-tokens 600 --accum 2 --threads 1 --dropout 0 --log-every 1 --quiet)

# losses A B: step-by-step comparison of two metrics files, 1e-4 relative
same_track() {
    paste <(grep -o '"loss":[-0-9.e]*' "$1" | cut -d: -f2) <(grep -o '"loss":[-0-9.e]*' "$2" | cut -d: -f2) |
        awk -v n="$3" '{ d = $1 - $2; if (d < 0) d = -d; m = $1 < 0 ? -$1 : $1; if (m < 1) m = 1;
                        if (d > 1e-4 * m) { printf "step %d: %s vs %s\n", NR, $1, $2; bad = 1 }
                        if (d > worst) worst = d }
                   END { if (NR != n) { printf "%d steps, want %d\n", NR, n; bad = 1 }
                         if (!bad) printf "max |diff| %.2g\n", worst; exit bad }'
}

# 1 rank, 20 steps straight
"$P" train "${TINY[@]}" -o "$W/one.gguf" --max-steps 20 --metrics "$W/one.jsonl" || bad "1 rank run"
# 2 ranks, in legs of 5 steps: every checkpoint compared across ranks
legs_ok=1
for s in 5 10 15 20; do
    res=(); [ $s -gt 5 ] && res=(--resume "$W/two.ckpt.gguf")
    PETIT_MPI_SAVE_ALL=1 "${MPI[@]}" "$P" train "${TINY[@]}" -o "$W/two.gguf" --max-steps $s \
        --metrics "$W/two.jsonl" "${res[@]}" 2>"$W/e" || { bad "2 ranks to step $s: $(tail -3 "$W/e")"; legs_ok=0; break; }
    cmp -s "$W/two.ckpt.gguf" "$W/two.ckpt.gguf.rank1" || { bad "step $s: rank 1's checkpoint differs from rank 0's"; legs_ok=0; }
done
[ $legs_ok = 1 ] && ok "2 ranks: checkpoints at steps 5, 10, 15, 20 identical on both ranks"
r=$(same_track "$W/one.jsonl" "$W/two.jsonl" 20) && ok "2 ranks follow 1 rank over 20 steps: $r" ||
    bad "2 ranks vs 1 rank: $r"
cmp -s "$W/one.gguf" "$W/two.gguf" && echo "     (final models even byte-identical)"

# resume with another number of ranks: 1 -> 2 and 2 -> 1
"$P" train "${TINY[@]}" -o "$W/a.gguf" --max-steps 10 --metrics "$W/a.jsonl" &&
    "${MPI[@]}" "$P" train "${TINY[@]}" -o "$W/a.gguf" --max-steps 20 --metrics "$W/a.jsonl" --resume "$W/a.ckpt.gguf" 2>"$W/e" ||
    bad "1 then 2 ranks: $(tail -3 "$W/e")"
r=$(same_track "$W/one.jsonl" "$W/a.jsonl" 20) && ok "1 rank to step 10, then 2 ranks to 20: $r" || bad "1 -> 2 ranks: $r"
"${MPI[@]}" "$P" train "${TINY[@]}" -o "$W/b.gguf" --max-steps 10 --metrics "$W/b.jsonl" 2>"$W/e" &&
    "$P" train "${TINY[@]}" -o "$W/b.gguf" --max-steps 20 --metrics "$W/b.jsonl" --resume "$W/b.ckpt.gguf" ||
    bad "2 then 1 ranks: $(tail -3 "$W/e")"
r=$(same_track "$W/one.jsonl" "$W/b.jsonl" 20) && ok "2 ranks to step 10, then 1 rank to 20: $r" || bad "2 -> 1 ranks: $r"

# ranks started differently: refused before training, naming what differs
mismatch() {
    local name=$1 pat=$2; shift 2
    rm -f "$W/m.gguf" "$W/m.ckpt.gguf"
    timeout 60 mpirun -np 1 "$P" train "${TINY[@]}" -o "$W/m.gguf" --max-steps 3 : \
        -np 1 "$P" train "${TINY[@]}" -o "$W/m.gguf" --max-steps 3 "$@" >"$W/o" 2>"$W/e"
    local rc=$?
    if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then bad "$name: exit $rc"; return; fi
    if ! grep -q "differ in .*$pat" "$W/e"; then bad "$name: message lacks '$pat': $(head -c 400 "$W/e")"; return; fi
    if [ -e "$W/m.gguf" ]; then bad "$name: wrote a model"; return; fi
    ok "$name: $(grep -m1 differ "$W/e")"
}
mismatch "different --lr" "training options" --lr 1e-3
mismatch "different data" "training data" --max-lines 300
mismatch "different model size" "model configuration" --ff 128
mismatch "different --max-steps" "stopping" --max-steps 4
mismatch "different --seed" "starting weights" --seed 7

# a rank that fails alone (its input is missing) ends the whole job
timeout 60 mpirun -np 1 "$P" train "${TINY[@]}" -o "$W/f.gguf" --max-steps 3 : \
    -np 1 "$P" train "${TINY[@]}" -o "$W/f.gguf" --max-steps 3 --src "$W/missing.en" >"$W/o" 2>"$W/e"
rc=$?
if [ $rc -eq 124 ]; then bad "a rank failing alone: the job hung"
elif [ $rc -eq 0 ]; then bad "a rank failing alone: exit 0"
elif grep -q "rank 1.*missing.en" "$W/e"; then ok "a rank failing alone ends the job (exit $rc): $(grep -m1 missing.en "$W/e")"
else bad "a rank failing alone: $(head -c 400 "$W/e")"; fi

# a rank killed mid-training: the other stops, mpirun reports it
rm -f "$W/k.jsonl"
timeout 60 mpirun -np 2 "$P" train "${TINY[@]}" -o "$W/k.gguf" --max-steps 1000000 --metrics "$W/k.jsonl" \
    >"$W/o" 2>"$W/e" &
job=$!
for i in $(seq 100); do [ -s "$W/k.jsonl" ] && break; sleep 0.1; done
victim=$(pgrep -n -f "^$P train .*$W/k.gguf")
[ -n "$victim" ] && kill -9 "$victim"
wait $job
rc=$?
if [ -z "$victim" ]; then bad "a killed rank: no rank found to kill"
elif [ $rc -eq 124 ]; then bad "a killed rank: the job hung"
elif [ $rc -eq 0 ]; then bad "a killed rank: exit 0"
elif pgrep -f "^$P train .*$W/k.gguf" >/dev/null; then bad "a killed rank: a rank is still running"
elif grep -q "signal 9" "$W/e"; then ok "a killed rank ends the job (exit $rc): $(grep -m1 'signal 9' "$W/e")"
else bad "a killed rank: $(head -c 400 "$W/e")"; fi

# Ctrl-C: mpirun passes SIGINT on; the ranks stop together and rank 0 saves
rm -f "$W/c.jsonl"
TALK=("${TINY[@]/--quiet/--log-every}")
timeout 60 mpirun -np 2 "$P" train "${TALK[@]}" 1000 -o "$W/c.gguf" --max-steps 1000000 --metrics "$W/c.jsonl" \
    >"$W/o" 2>"$W/e" &
job=$!
for i in $(seq 100); do [ -s "$W/c.jsonl" ] && break; sleep 0.1; done
sleep 0.5
kill -INT $(pgrep -P $job -x mpirun) 2>/dev/null
wait $job
rc=$?
if [ $rc -eq 124 ]; then bad "SIGINT: the job hung"
elif ! n=$(grep -o "interrupted at step [0-9]*" "$W/e" | grep -o "[0-9]*$"); then bad "SIGINT: $(head -c 400 "$W/e")"
elif [ ! -s "$W/c.ckpt.gguf" ]; then bad "SIGINT: no checkpoint (exit $rc)"
elif ! "$P" train "${TINY[@]}" -o "$W/c.gguf" --resume "$W/c.ckpt.gguf" --max-steps $((n + 2)) --metrics "$W/c2.jsonl" 2>"$W/e2" ||
     ! grep -q "\"step\":$((n + 1))," "$W/c2.jsonl"; then
    bad "SIGINT: the checkpoint does not resume: $(head -c 300 "$W/e2")"
else ok "SIGINT under mpirun: the ranks stopped together at step $n; rank 0's checkpoint resumes at $((n + 1))"; fi

exit $fail
