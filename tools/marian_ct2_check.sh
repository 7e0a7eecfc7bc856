#!/usr/bin/env bash
# marian_ct2_check.sh: cross-check `petit import --from marian` against
# CTranslate2's own converter on the same checkpoint directory.
#
#   tools/marian_ct2_check.sh [MODEL_DIR [SENTENCES]]
#       (defaults: tests/data/marian/model, tests/data/marian/sentences.en)
#
# It imports MODEL_DIR with `petit import --from marian` and translates
# SENTENCES with `petit translate --beam 1` and `--beam 4 --length-penalty 0`;
# converts MODEL_DIR with `ct2-transformers-converter` and translates the same
# lines with ctranslate2.Translator.translate_batch (source.spm pieces and
# </s> in, as MarianTokenizer gives them: the converted model's config says
# add_source_eos false; target.spm decode out; beam_size 1 and 4,
# length_penalty 0, min_decoding_length 0, max_decoding_length = petit's
# per-sentence limit min(P-1, 2S+10), S counting </s>); compares line by line,
# prints a table and, last, one JSON line.
#
# Two things about <pad> (the decoder_start_token) separate the two by design:
# - The start embedding. CTranslate2's Marian loader drops <pad> from the
#   vocabulary and starts the decoder from a zero vector
#   (start_from_zero_embedding); transformers (and petit, which follows it)
#   start from <pad>'s embedding row. The same when that row is zero, as in
#   OPUS-MT checkpoints and tools/marian_fixture.py's. Only when it is not, a
#   "pad-start" conversion runs the same converter with exactly that changed:
#   <pad> kept in the vocabulary as the start token, start_from_zero_embedding
#   off, <pad> suppressed at translation (suppress_sequences).
# - <pad>'s probability mass. generate() (and petit, held to it) normalizes
#   each step's log-probabilities over the whole vocabulary, <pad> included,
#   and only then bans <pad> (bad_words_ids [[pad]]); CTranslate2 normalizes
#   without <pad>. Greedy search does not see the difference, beam search
#   does when <pad>'s logit is large (the fixture sets its
#   final_logits_bias to 8). A "no-pad" control therefore runs a copy of the
#   checkpoint with <pad>'s row zeroed and its final_logits_bias at -1e9
#   through petit and the plain conversion.
#
# Exit status: 0 if every line is the same with the plain conversion; also 0
# if the differences are those two and nothing else: greedy all the same with
# the plain conversion (or, if <pad>'s row is nonzero, the pad-start one) and
# every line the same in the no-pad control (the reason is then printed);
# 1 otherwise.
#
# Needs a venv with ctranslate2, transformers, torch, sentencepiece and
# safetensors: $VENV (default .venv-marian, git-ignored) is created with
# Debian's torch (--system-site-packages) and the rest pip-installed if
# missing. Python is only a tool here: nothing in make / make test uses it.
# KEEP=1 keeps the work directory (printed on stderr).
set -eu -o pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-marian}
P=${PETIT:-./petit}
MODEL=${1:-tests/data/marian/model}
SENT=${2:-tests/data/marian/sentences.en}
PY=$VENV/bin/python

W=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then echo "work dir: $W" >&2; else trap 'rm -rf "$W"' EXIT; fi

# ---- the venv ------------------------------------------------------------------------
if ! "$PY" -c 'import ctranslate2, transformers, torch, sentencepiece, safetensors' 2>/dev/null; then
    echo "setting up $VENV (ctranslate2, transformers 4.36.2, sentencepiece, safetensors)" >&2
    [ -x "$PY" ] || /usr/bin/python3 -m venv --system-site-packages "$VENV"
    echo 'numpy<2' >"$W/constraints.txt"   # Debian's torch 1.13 is built against numpy 1.x
    "$VENV/bin/pip" install -q -c "$W/constraints.txt" ctranslate2 transformers==4.36.2 sentencepiece safetensors
fi

# ---- petit ---------------------------------------------------------------------------
if [ "$P" = ./petit ]; then nice -n 10 make -s petit; fi

# the largest |x| in <pad>'s embedding row, and <pad>'s final_logits_bias
read -r PADNORM PADBIAS < <("$PY" - "$MODEL" <<'EOF'
import json, os, sys
import numpy as np
from safetensors.numpy import load_file
pad = json.load(open(os.path.join(sys.argv[1], "config.json")))["pad_token_id"]
t = load_file(os.path.join(sys.argv[1], "model.safetensors"))
b = t.get("final_logits_bias")
print("%.6g %.6g" % (max(float(np.abs(v[pad]).max()) for k, v in t.items()
                         if v.ndim == 2 and v.shape[0] > pad and ("shared" in k or "embed_tokens" in k)),
                     float(b.reshape(-1)[pad]) if b is not None else 0.0))
EOF
)
PADROW=0; awk -v x="$PADNORM" 'BEGIN { exit !(x > 0) }' && PADROW=1

# ---- CTranslate2's converter -----------------------------------------------------------
# = ct2-transformers-converter (its main(), same arguments). CTranslate2 >= 4.6
# passes from_pretrained(dtype=...), which transformers only accepts from 4.56 on;
# with an older transformers (4.36.2 made the fixture) the same call is retried
# with the older name, torch_dtype. With PAD_START=1, the Marian loader keeps
# <pad> and starts the decoder from its embedding (see the top of this file).
cat >"$W/convert.py" <<'EOF'
import os, sys
import ctranslate2.converters.transformers as T
load = T.TransformersConverter.load_model
def load_model(self, model_class, path, **kw):
    try:
        return load(self, model_class, path, **kw)
    except TypeError as e:
        if "dtype" not in str(e) or "dtype" not in kw:
            raise
        kw["torch_dtype"] = kw.pop("dtype")
        print("note: transformers wants torch_dtype, not dtype: renamed", file=sys.stderr)
        return load(self, model_class, path, **kw)
T.TransformersConverter.load_model = load_model
if os.environ.get("PAD_START") == "1":
    L = T.MarianMTLoader
    L._remove_pad_weights = lambda self, spec: None
    L.get_vocabulary = lambda self, model, tokenizer: T.BartLoader.get_vocabulary(self, model, tokenizer)
    set_config, set_decoder = L.set_config, L.set_decoder
    def pad_config(self, config, model, tokenizer):
        set_config(self, config, model, tokenizer)
        config.decoder_start_token = tokenizer.convert_ids_to_tokens(model.config.decoder_start_token_id)
    def pad_decoder(self, spec, decoder):
        set_decoder(self, spec, decoder)
        spec.start_from_zero_embedding = False
    L.set_config, L.set_decoder = pad_config, pad_decoder
sys.argv[0] = "ct2-transformers-converter"
T.main()
EOF

# ---- CTranslate2's translations ----------------------------------------------------------
cat >"$W/ct2.py" <<'EOF'
import json, os, sys
import ctranslate2, sentencepiece as spm
ct2dir, mdir, sent, beam, out = sys.argv[1:6]
beam = int(beam)
P = json.load(open(os.path.join(mdir, "config.json")))["max_position_embeddings"]
src = spm.SentencePieceProcessor(model_file=os.path.join(mdir, "source.spm"))
tgt = spm.SentencePieceProcessor(model_file=os.path.join(mdir, "target.spm"))
tr = ctranslate2.Translator(ct2dir, device="cpu", inter_threads=1, intra_threads=1)
# the converter writes add_source_eos false: the caller appends </s>, as
# MarianTokenizer does (without it every logit differs, by up to 2 for "A")
eos = [] if json.load(open(os.path.join(ct2dir, "config.json"))).get("add_source_eos") else ["</s>"]
opt = {"suppress_sequences": [["<pad>"]]} if os.environ.get("PAD_START") == "1" else {}
with open(sent, encoding="utf-8") as f, open(out, "w", encoding="utf-8") as o:
    for line in f:
        line = line.rstrip("\n")
        if not line:
            o.write("\n"); continue
        pieces = src.encode(line, out_type=str)[:P - 1] + eos
        S = len(pieces)
        r = tr.translate_batch([pieces], beam_size=beam, num_hypotheses=1, length_penalty=0.0,
                               max_decoding_length=min(P - 1, 2 * S + 10), min_decoding_length=0,
                               return_end_token=False, **opt)[0]
        o.write(tgt.decode(r.hypotheses[0]) + "\n")
EOF

n=$(wc -l <"$SENT")
"$P" import --from marian "$MODEL" -o "$W/m.gguf" -q
"$P" translate -m "$W/m.gguf" --beam 1 --threads 1 <"$SENT" >"$W/petit.greedy"
"$P" translate -m "$W/m.gguf" --beam 4 --length-penalty 0 --threads 1 <"$SENT" >"$W/petit.beam4"
# the no-pad control: a copy of the checkpoint with <pad>'s row zeroed and its
# final_logits_bias at -1e9, through petit and the plain conversion
mkdir "$W/nopad"; cp "$MODEL"/* "$W/nopad/"
"$PY" - "$MODEL" "$W/nopad" <<'EOF'
import json, os, sys
from safetensors.numpy import load_file, save_file
pad = json.load(open(os.path.join(sys.argv[1], "config.json")))["pad_token_id"]
t = load_file(os.path.join(sys.argv[1], "model.safetensors"))
for k, v in t.items():
    if v.ndim == 2 and v.shape[0] > pad and ("shared" in k or "embed_tokens" in k):
        v = v.copy(); v[pad] = 0; t[k] = v
    if k == "final_logits_bias":
        v = v.copy(); v.reshape(-1)[pad] = -1e9; t[k] = v
save_file(t, os.path.join(sys.argv[2], "model.safetensors"), metadata={"format": "pt"})
EOF
"$P" import --from marian "$W/nopad" -o "$W/nopad.gguf" -q
"$P" translate -m "$W/nopad.gguf" --beam 1 --threads 1 <"$SENT" >"$W/petit.nopad.greedy"
"$P" translate -m "$W/nopad.gguf" --beam 4 --length-penalty 0 --threads 1 <"$SENT" >"$W/petit.nopad.beam4"
VARIANTS="plain nopad"; [ $PADROW = 1 ] && VARIANTS="plain padstart nopad"
declare -A SAME
for v in $VARIANTS; do
    ps=0; [ $v = padstart ] && ps=1
    d=$MODEL; [ $v = nopad ] && d=$W/nopad
    PAD_START=$ps "$PY" "$W/convert.py" --model "$d" --output_dir "$W/ct2.$v" >"$W/conv.$v.log" 2>&1 \
        || { cat "$W/conv.$v.log" >&2; exit 1; }
    for k in greedy:1 beam4:4; do
        kind=${k%:*} b=${k#*:}
        PAD_START=$ps "$PY" "$W/ct2.py" "$W/ct2.$v" "$d" "$SENT" "$b" "$W/ct2.$v.$kind"
    done
done

# ---- the table ---------------------------------------------------------------------------
mine() { if [ "$1" = nopad ]; then echo "$W/petit.nopad.$2"; else echo "$W/petit.$2"; fi; }
same() {
    [ -e "$W/ct2.$1.$2" ] || { echo -; return; }
    [ "$(sed -n "$3p" "$(mine $1 $2)")" = "$(sed -n "$3p" "$W/ct2.$1.$2")" ] && echo same || echo DIFFERENT
}
for v in plain padstart nopad; do for kind in greedy beam4; do
    if [ -e "$W/ct2.$v.$kind" ]; then
        SAME[$v.$kind]=$(paste -d '\t' "$(mine $v $kind)" "$W/ct2.$v.$kind" | awk -F'\t' '$1==$2' | wc -l)
    else SAME[$v.$kind]=null; fi
done; done
echo "petit vs CTranslate2: plain conversion | pad-start conversion (only if <pad>'s row is nonzero) | no-pad control (both sides)"
printf '%-3s %-42s %-9s %-9s | %-9s %-9s | %-9s %-9s\n' '#' 'sentence' greedy beam4 greedy beam4 greedy beam4
for i in $(seq 1 "$n"); do
    printf '%-3s %-42s %-9s %-9s | %-9s %-9s | %-9s %-9s\n' "$i" "$(sed -n "${i}p" "$SENT" | cut -c1-40)" \
        "$(same plain greedy $i)" "$(same plain beam4 $i)" "$(same padstart greedy $i)" "$(same padstart beam4 $i)" \
        "$(same nopad greedy $i)" "$(same nopad beam4 $i)"
done
for v in $VARIANTS; do
    for kind in greedy beam4; do
        for i in $(seq 1 "$n"); do
            if [ "$(same $v $kind $i)" != same ]; then
                echo "$v $kind, line $i:"
                echo "  petit: $(sed -n "${i}p" "$(mine $v $kind)")"
                echo "  ct2:   $(sed -n "${i}p" "$W/ct2.$v.$kind")"
            fi
        done
    done
done

g=${SAME[plain.greedy]} b4=${SAME[plain.beam4]} pg=${SAME[padstart.greedy]} pb=${SAME[padstart.beam4]}
ng=${SAME[nopad.greedy]} nb=${SAME[nopad.beam4]}
rc=0 note="all same"
if [ "$g" -ne "$n" ] || [ "$b4" -ne "$n" ]; then
    if [ "$g" -eq "$n" ] && [ "$ng" -eq "$n" ] && [ "$nb" -eq "$n" ]; then
        note="beam 4 differs by <pad>'s probability mass only (its final_logits_bias is $PADBIAS): generate() and petit normalize over the vocabulary with <pad> before banning it, CTranslate2 without; with <pad>'s bias at -1e9, all same"
    elif [ $PADROW = 1 ] && [ "$pg" -eq "$n" ] && [ "$ng" -eq "$n" ] && [ "$nb" -eq "$n" ]; then
        note="the plain conversion differs by its start embedding (<pad>'s row, max |x| = $PADNORM, is not zero, CTranslate2 starts from zero; started from <pad>'s embedding, greedy all same)"
        [ "$pb" -ne "$n" ] && note="$note and beam 4 by <pad>'s probability mass (final_logits_bias $PADBIAS; with <pad>'s row zeroed and its bias at -1e9, all same)"
    else
        note="unexplained differences"; rc=1
    fi
fi
echo "ctranslate2 $("$PY" -c 'import ctranslate2; print(ctranslate2.__version__)'), transformers $("$PY" -c 'import transformers; print(transformers.__version__)'): $note"
printf '{"sentences": %d, "same_greedy": %d, "same_beam4": %d, "pad_start_same_greedy": %s, "pad_start_same_beam4": %s, "no_pad_same_greedy": %d, "no_pad_same_beam4": %d, "pad_row_max_abs": %s, "pad_logit_bias": %s}\n' \
    "$n" "$g" "$b4" "$pg" "$pb" "$ng" "$nb" "$PADNORM" "$PADBIAS"
exit $rc
