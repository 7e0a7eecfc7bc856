#!/usr/bin/env bash
# t_options.sh: the command line's small promises.
#  - --name=value means --name value, for the long options of every command
#    (not inside vocab's --spm-arg value, not after a bare --); a flag that
#    takes no value, given one, is a usage error that says so
#  - a missing file is named once ("nope.model: cannot open"), never
#    "nope.model: nope.model: ..."
#  - pack / quantize of a model with nothing to code say so (no "-nan")
set -u
P=${PETIT:-build/petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
head -50 "$DATA/train/multi30k.en" > "$W/s.en"
head -50 "$DATA/train/multi30k.fr" > "$W/s.fr"
echo "A dog runs." > "$W/in.en"

# --opt=value, command by command (each must succeed)
"$P" train --src="$W/s.en" --tgt="$W/s.fr" --vocab=tests/data/m30k-1k.model -o "$W/m.gguf" --d-model=32 \
    --heads=2 --ff=64 --enc-layers=1 --dec-layers=1 --max-len=40 --max-steps=2 --log-every=1 --threads=1 \
    --metrics="$W/metrics.jsonl" --quiet 2> "$W/err" && ok "train --opt=value" || bad "train: $(head -2 "$W/err")"
while IFS= read -r cmd; do
    eval "$cmd" < "$W/in.en" > "$W/out" 2> "$W/err" && ok "$cmd" || bad "$cmd: $(head -2 "$W/err")"
done <<CMDS
"$P" translate --model="$W/m.gguf" --beam=2 --threads=1 --batch=4 --length-penalty=0.5
"$P" encode --model="$W/m.gguf"
"$P" decode --model=tests/data/m30k-1k.model --ids <<< "10 20 2"
"$P" bleu --metrics=chrf --tokenize=13a "$W/in.en"
"$P" quantize --model="$W/m.gguf" --type=q8 --output="$W/q.gguf" -q
"$P" pack --model="$W/m.gguf" --lambda=0.05 --bits=6 --output="$W/p.gguf" -q
"$P" plot --title=curve "$W/metrics.jsonl" --output="$W/c.svg"
"$P" import --from=marian tests/data/marian/model --output="$W/i.gguf" -q
"$P" distill --teacher="$W/m.gguf" --src="$W/s.en" --tgt="$W/s.fr" --max-steps=1 --max-len=40 --threads=1 -o "$W/d.gguf" --quiet
CMDS
"$P" translate --beam=0 < "$W/in.en" > /dev/null 2> "$W/err"; rc=$?
[ $rc -eq 2 ] && grep -q "^petit translate: --beam: '0' is not an integer" "$W/err" && ok "--beam=0: checked like --beam 0" \
    || bad "--beam=0: exit $rc $(cat "$W/err")"
# a flag that takes no value, given one: said so (not "unknown option '1'" or a file named 1)
for cmd in "translate --verbose=1" "info --json=1 tests/data/gguf_py.gguf" "train --quiet=yes" "bleu --json=1 $W/in.en"; do
    "$P" $cmd < "$W/in.en" > /dev/null 2> "$W/err"; rc=$?
    f=${cmd#* }; f=${f%%=*}
    [ $rc -eq 2 ] && grep -q -- "$f takes no value" "$W/err" && ok "$(head -1 "$W/err")" || bad "petit $cmd: exit $rc: $(head -1 "$W/err")"
done
if command -v spm_train > /dev/null; then
    "$P" vocab --input="$W/s.en" --output="$W/v" --size=400 --spm-arg --hard_vocab_limit=false --spm-arg --max_sentence_length=5000 > /dev/null 2> "$W/err" \
        && grep -q "max_sentence_length: 5000" "$W/v.log" && ok "vocab --opt=value; --spm-arg --key=value passed whole" \
        || bad "vocab: $(tail -2 "$W/err")"
fi

# a missing file is named once
for cmd in "train --src $W/s.en --tgt $W/s.fr --vocab nope.model -o $W/x.gguf" \
           "train --init nope.model --src $W/s.en --tgt $W/s.fr -o $W/x.gguf" \
           "distill --teacher nope.model --src $W/s.en --tgt $W/s.fr -o $W/x.gguf" \
           "translate -m nope.model" "encode -m nope.model" "decode -m nope.model" "info nope.model" \
           "quantize -m nope.model --type q8 -o $W/x.gguf" "pack -m nope.model --lambda 1 -o $W/x.gguf"; do
    "$P" $cmd < /dev/null > /dev/null 2> "$W/err"; rc=$?
    [ $rc -eq 1 ] && grep -q "nope.model: cannot open" "$W/err" && ! grep -q "nope.model: nope.model" "$W/err" \
        && ok "$(head -1 "$W/err")" || bad "petit $cmd: exit $rc: $(head -1 "$W/err")"
done
mkdir "$W/adir"
"$P" pack -m "$W/m.gguf" --lambda 0.05 -o "$W/adir" > /dev/null 2> "$W/err"
grep -q "adir: .*adir:" "$W/err" && bad "pack -o DIR: the path twice: $(cat "$W/err")" || ok "pack -o DIR: $(cat "$W/err")"

# nothing to code: a model whose matrices have rows of 8 weights
"$P" pack -q -m tests/fuzz/translate.gguf --lambda 0.05 -o "$W/p8.gguf" > /dev/null 2> "$W/err"; rc=$?
[ $rc -eq 0 ] && grep -q "no weight matrix to code" "$W/err" && ! grep -qi "nan" "$W/err" \
    && ok "pack, nothing to code: $(cat "$W/err")" || bad "pack, nothing to code: exit $rc: $(cat "$W/err")"
"$P" quantize -q -m tests/fuzz/translate.gguf --type q8 -o "$W/q8.gguf" > /dev/null 2> "$W/err"; rc=$?
[ $rc -eq 0 ] && grep -q "no weight matrix to quantize" "$W/err" && ok "quantize, nothing to quantize: said" \
    || bad "quantize, nothing to quantize: exit $rc: $(cat "$W/err")"
exit $fail
