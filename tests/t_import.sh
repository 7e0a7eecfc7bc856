#!/usr/bin/env bash
# petit import --from marian from the command line: the fixture checkpoint
# (tests/data/marian, tools/marian_fixture.py) imports, translates as
# transformers' generate() did (greedy and beam 4, as text), and the imported
# model goes through info, quantize, pack and distill (as the teacher); bad
# uses get a one-line error, exit 1 (2 for usage), and leave no file.
set -u
P=${PETIT:-./petit}
DATA=${PETIT_DATA:-../shared/data/en-fr}
FIX=tests/data/marian
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

"$P" import --from marian "$FIX/model" -o "$W/m.gguf" 2>"$W/e" && ok "import: $(cat "$W/e")" || bad "import: $(cat "$W/e")"
"$P" info "$W/m.gguf" >"$W/info" && grep -q 'petit.norm .*"post"' "$W/info" && grep -q 'petit.mask_pad .*true' "$W/info" \
    && grep -q 'petit.tokenizer.target.model' "$W/info" && ok "info: post-norm, mask_pad, two SentencePiece models" \
    || bad "info: $(head -30 "$W/info")"

# translations = generate()'s ids, decoded with the target side
for k in greedy:1 beam4:4; do
    kind=${k%:*} beam=${k#*:}
    grep "^$kind " "$FIX/expected.txt" | cut -d' ' -f3- | "$P" decode -m "$W/m.gguf" --ids >"$W/want.$kind"
    "$P" translate -m "$W/m.gguf" --beam "$beam" --length-penalty 0 --threads 1 <"$FIX/sentences.en" >"$W/got.$kind"
    n=$(wc -l <"$FIX/sentences.en")
    [ "$(wc -l <"$W/got.$kind")" -eq "$n" ] && cmp -s "$W/want.$kind" "$W/got.$kind" \
        && ok "translate --beam $beam: the $n lines of generate()" \
        || bad "translate --beam $beam differs from generate(): $(diff "$W/want.$kind" "$W/got.$kind" | head -4)"
done

# the imported model through the other commands
"$P" quantize -m "$W/m.gguf" -o "$W/q4.gguf" --type q4_0 >/dev/null 2>"$W/e" \
    && "$P" translate -m "$W/q4.gguf" --threads 1 <"$FIX/sentences.en" >"$W/q4.out" && [ -s "$W/q4.out" ] \
    && ok "quantize q4_0, translate" || bad "quantize: $(cat "$W/e")"
"$P" pack -q -m "$W/m.gguf" -o "$W/p.gguf" --lambda 0.02 2>"$W/e" \
    && "$P" translate -m "$W/p.gguf" --threads 1 <"$FIX/sentences.en" >"$W/p.out" && [ -s "$W/p.out" ] \
    && ok "pack, translate" || bad "pack: $(cat "$W/e")"
head -60 "$DATA/train/multi30k.en" >"$W/s.en"
head -60 "$DATA/train/multi30k.fr" >"$W/s.fr"
"$P" distill --teacher "$W/m.gguf" --src "$W/s.en" --tgt "$W/s.fr" --lr 3e-3 --warmup 2 --batch-tokens 400 \
    --threads 1 --quiet --init-from-teacher --d-model 32 --heads 4 --ff 64 --enc-layers 1 --dec-layers 1 \
    --norm post --act swish --pos learned --max-len 128 --alpha 0.5 --max-steps 2 -o "$W/st.gguf" 2>"$W/e" \
    && "$P" info "$W/st.gguf" | grep -q 'petit.tokenizer.target.model' \
    && "$P" translate -m "$W/st.gguf" --threads 1 <"$FIX/sentences.en" >"$W/st.out" && [ -s "$W/st.out" ] \
    && ok "distill from the imported teacher (its two SentencePiece models kept)" || bad "distill: $(cat "$W/e")"

# refusals: exit code, one line, no output file
expect() {
    local want=$1 pat=$2; shift 2
    "$P" import "$@" >"$W/o" 2>"$W/e"; local rc=$?
    if [ $rc -eq "$want" ] && grep -q -- "$pat" "$W/e" && [ ! -e "$W/x.gguf" ] && \
       { [ "$want" -eq 2 ] || [ "$(wc -l <"$W/e")" -eq 1 ]; }; then
        ok "refused ($rc): $(head -1 "$W/e")"
    else
        bad "import $*: rc $rc (want $want), stderr: $(cat "$W/e")"
    fi
}
mkdir "$W/d"
expect 1 "missing config.json" --from marian "$W/d" -o "$W/x.gguf"
expect 1 "is not a directory" --from marian "$W/nothere" -o "$W/x.gguf"
cp "$FIX"/model/* "$W/d/"
sed -i 's/"normalize_before": false/"normalize_before": true/' "$W/d/config.json"
expect 1 "normalize_before" --from marian "$W/d" -o "$W/x.gguf"
expect 2 "only 'marian'" --from fairseq "$FIX/model" -o "$W/x.gguf"
expect 2 "required" --from marian "$FIX/model"
"$P" import --help | grep -q "usage: petit import" && ok "import --help" || bad "import --help"
exit $fail
