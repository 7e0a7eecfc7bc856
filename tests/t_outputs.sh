#!/usr/bin/env bash
# t_outputs.sh: what every command that writes a file does when the output
# path is not a plain new or regular file, and that train checks its outputs
# before the first step.
#  - a FIFO, a directory, a character device (made with mknod in the temp
#    folder, as root only): refused with "PATH: is a FIFO ..." and left as it
#    was (the atomic rename would have put a regular file in its place)
#  - a symbolic link to a regular file: written through (the target is
#    replaced, the link stays); a link to nothing: refused
#  - train/distill -o, --checkpoint, --metrics in a folder that does not
#    exist: refused before reading the data, not after the last step
# Never uses a real device as an output.
set -u
P=${PETIT:-build/petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
T="timeout 60"

head -50 "$DATA/train/multi30k.en" > "$W/s.en"
head -50 "$DATA/train/multi30k.fr" > "$W/s.fr"
TRV=(--src "$W/s.en" --tgt "$W/s.fr" --vocab tests/data/m30k-1k.model --d-model 32 --heads 2 --ff 64
     --enc-layers 1 --dec-layers 1 --max-len 40 --threads 1)
TR=("${TRV[@]}" --quiet)
"$P" train "${TR[@]}" --max-steps 2 --log-every 1 -o "$W/m.gguf" --metrics "$W/metrics.jsonl" 2>/dev/null \
    || bad "training the test model"

# the special destinations, made afresh for each command
make_specials() {
    rm -rf "$W/o" && mkdir "$W/o"
    mkfifo "$W/o/fifo"
    mkdir "$W/o/dir"
    echo "old content" > "$W/o/target"
    ln -s target "$W/o/link"
    ln -s missing "$W/o/dangling"
    CHAR=
    if [ "$(id -u)" = 0 ] && mknod "$W/o/char" c 1 3 2>/dev/null; then CHAR=1; fi   # like /dev/null, but ours
}
check_left() { # what each special is after the command
    [ -p "$W/o/fifo" ] || bad "$1: the FIFO was replaced"
    [ -d "$W/o/dir" ] || bad "$1: the directory was replaced"
    [ -z "$CHAR" ] || [ -c "$W/o/char" ] || bad "$1: the character device was replaced"
    [ -L "$W/o/dangling" ] || bad "$1: the dangling link was replaced"
    ls "$W/o" | grep -q '\.tmp\.' && bad "$1: a temporary file was left: $(ls "$W/o")"
}
# run CMD with its output at each special; $1 = name, then the command with
# OUT where the output path goes (SUFFIX: vocab's prefix gets .model etc)
try_outputs() {
    local name=$1; shift
    make_specials
    local kinds=("fifo:is a FIFO" "dir:is a directory" "dangling:is a symbolic link to a missing file")
    [ -n "$CHAR" ] && kinds+=("char:is a character device")
    for k in "${kinds[@]}"; do
        local f=${k%%:*} msg=${k#*:}
        local args=("${@//OUT/$W/o/$f}")
        $T "${args[@]}" > "$W/out" 2> "$W/err"; rc=$?
        if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "$W/o/$f: $msg" "$W/err"; then ok "$name -o $f: refused ($(head -1 "$W/err"))"
        else bad "$name -o $f: exit $rc: $(head -3 "$W/err")"; fi
    done
    check_left "$name"
    local args=("${@//OUT/$W/o/link}")
    $T "${args[@]}" > "$W/out" 2> "$W/err"; rc=$?
    if [ $rc -eq 0 ] && [ -L "$W/o/link" ] && [ -f "$W/o/target" ] && ! echo "old content" | cmp -s - "$W/o/target"; then
        ok "$name -o link: written through to its target, the link kept"
    else bad "$name -o link: exit $rc, link $( [ -L "$W/o/link" ] && echo kept || echo replaced): $(head -3 "$W/err" | tr -d '\0')"; fi
}

try_outputs quantize "$P" quantize -m "$W/m.gguf" --type q8 -o OUT
try_outputs pack "$P" pack -q -m "$W/m.gguf" --lambda 0.05 -o OUT
try_outputs import "$P" import --from marian -q tests/data/marian/model -o OUT
try_outputs plot "$P" plot "$W/metrics.jsonl" -o OUT
try_outputs train "$P" train "${TR[@]}" --max-steps 1 -o OUT
try_outputs distill "$P" distill --teacher "$W/m.gguf" "${TR[@]}" --max-steps 1 -o OUT
if command -v spm_train >/dev/null; then
    # vocab writes OUT.model, OUT.vocab and OUT.log: the specials are named so
    make_specials
    for f in fifo dir; do mv "$W/o/$f" "$W/o/v$f.model"; done
    for f in fifo dir; do
        $T "$P" vocab -i "$W/s.en" -o "$W/o/v$f" --size 60 > /dev/null 2> "$W/err"; rc=$?
        [ $rc -eq 1 ] && grep -q "v$f.model: is a" "$W/err" && ok "vocab: a $f at PREFIX.model refused" \
            || bad "vocab: $f at PREFIX.model: exit $rc: $(head -2 "$W/err")"
    done
    [ -p "$W/o/vfifo.model" ] && [ -d "$W/o/vdir.model" ] || bad "vocab replaced a special file"
fi

# train checks every output before the first step (before reading the data)
mkdir -p "$W/adir"
for o in "-o $W/nodir/m.gguf" "-o $W/m2.gguf --checkpoint $W/nodir/c.gguf" \
         "-o $W/m3.gguf --metrics $W/nodir/metrics.jsonl" "-o $W/adir"; do
    $T "$P" train "${TRV[@]}" --max-steps 30 $o > "$W/out" 2> "$W/err"; rc=$?
    if [ $rc -eq 1 ] && ! grep -q "pairs (" "$W/err" && grep -q "nodir\|is a directory" "$W/err"; then
        ok "train $o: refused before training: $(head -1 "$W/err")"
    else bad "train $o: exit $rc: $(head -3 "$W/err")"; fi
done
exit $fail
