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
# lines with ctranslate2.Translator.translate_batch (source.spm pieces in,
# target.spm decode out; beam_size 1 and 4, length_penalty 0,
# min_decoding_length 0, max_decoding_length = petit's per-sentence limit
# min(P-1, 2S+10), S counting the </s> CTranslate2 appends); compares line by
# line, prints a table and, last, one JSON line.
#
# The start embedding. CTranslate2's Marian loader drops <pad> from the
# vocabulary and starts the decoder from a zero vector
# (start_from_zero_embedding), where transformers (and petit, which follows
# it) start from the embedding of <pad>, the decoder_start_token. The two
# agree when that row is zero, as in Marian-trained OPUS-MT checkpoints; the
# tiny fixture's row is random (tools/marian_fixture.py randomized every
# embedding row and training never updates <pad>'s), so the first decoder
# input differs. A second conversion ("pad-start") therefore runs the same
# converter with exactly that changed: <pad> kept in the vocabulary as the
# decoder start token, start_from_zero_embedding off, and <pad> suppressed at
# translation (suppress_sequences) as bad_words_ids [[pad]] asks.
#
# Exit status: 0 if every line is the same with the plain conversion; also 0
# if the checkpoint's <pad> row is nonzero and every line is the same with the
# pad-start conversion (the difference is then the start embedding and
# nothing else, reported as such); 1 otherwise.
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

# the largest |x| in <pad>'s embedding row
PADNORM=$("$PY" - "$MODEL" <<'EOF'
import json, os, sys
import numpy as np
from safetensors.numpy import load_file
pad = json.load(open(os.path.join(sys.argv[1], "config.json")))["pad_token_id"]
t = load_file(os.path.join(sys.argv[1], "model.safetensors"))
print("%.6g" % max(float(np.abs(v[pad]).max()) for k, v in t.items()
                   if v.ndim == 2 and v.shape[0] > pad and ("shared" in k or "embed_tokens" in k)))
EOF
)

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
opt = {"suppress_sequences": [["<pad>"]]} if os.environ.get("PAD_START") == "1" else {}
with open(sent, encoding="utf-8") as f, open(out, "w", encoding="utf-8") as o:
    for line in f:
        line = line.rstrip("\n")
        if not line:
            o.write("\n"); continue
        pieces = src.encode(line, out_type=str)[:P - 1]   # CTranslate2 appends </s>
        S = len(pieces) + 1
        r = tr.translate_batch([pieces], beam_size=beam, num_hypotheses=1, length_penalty=0.0,
                               max_decoding_length=min(P - 1, 2 * S + 10), min_decoding_length=0,
                               return_end_token=False, **opt)[0]
        o.write(tgt.decode(r.hypotheses[0]) + "\n")
EOF

n=$(wc -l <"$SENT")
"$P" import --from marian "$MODEL" -o "$W/m.gguf" -q
"$P" translate -m "$W/m.gguf" --beam 1 --threads 1 <"$SENT" >"$W/petit.greedy"
"$P" translate -m "$W/m.gguf" --beam 4 --length-penalty 0 --threads 1 <"$SENT" >"$W/petit.beam4"
# the zero-start control: a copy of the checkpoint with <pad>'s row zeroed,
# through petit and the plain conversion (petit.zero.*, ct2.zero.*)
mkdir "$W/zero"; cp "$MODEL"/* "$W/zero/"
"$PY" - "$MODEL" "$W/zero" <<'EOF'
import json, os, sys
from safetensors.numpy import load_file, save_file
pad = json.load(open(os.path.join(sys.argv[1], "config.json")))["pad_token_id"]
t = load_file(os.path.join(sys.argv[1], "model.safetensors"))
for k, v in t.items():
    if v.ndim == 2 and v.shape[0] > pad and ("shared" in k or "embed_tokens" in k):
        v = v.copy(); v[pad] = 0; t[k] = v
save_file(t, os.path.join(sys.argv[2], "model.safetensors"), metadata={"format": "pt"})
EOF
"$P" import --from marian "$W/zero" -o "$W/zero.gguf" -q
"$P" translate -m "$W/zero.gguf" --beam 1 --threads 1 <"$SENT" >"$W/petit.zero.greedy"
"$P" translate -m "$W/zero.gguf" --beam 4 --length-penalty 0 --threads 1 <"$SENT" >"$W/petit.zero.beam4"
declare -A SAME
for v in plain padstart zero; do
    ps=0; [ $v = padstart ] && ps=1
    d=$MODEL; [ $v = zero ] && d=$W/zero
    PAD_START=$ps "$PY" "$W/convert.py" --model "$d" --output_dir "$W/ct2.$v" >"$W/conv.$v.log" 2>&1 \
        || { cat "$W/conv.$v.log" >&2; exit 1; }
    for k in greedy:1 beam4:4; do
        kind=${k%:*} b=${k#*:}
        PAD_START=$ps "$PY" "$W/ct2.py" "$W/ct2.$v" "$d" "$SENT" "$b" "$W/ct2.$v.$kind"
    done
done

# ---- the table ---------------------------------------------------------------------------
mine() { if [ "$1" = zero ]; then echo "$W/petit.zero.$2"; else echo "$W/petit.$2"; fi; }
same() { [ "$(sed -n "$3p" "$(mine $1 $2)")" = "$(sed -n "$3p" "$W/ct2.$1.$2")" ] && echo same || echo DIFFERENT; }
for v in plain padstart zero; do for kind in greedy beam4; do
    SAME[$v.$kind]=$(paste -d '\t' "$(mine $v $kind)" "$W/ct2.$v.$kind" | awk -F'\t' '$1==$2' | wc -l)
done; done
echo "petit vs CTranslate2: plain conversion | pad-start conversion | zero-start control (both sides)"
printf '%-3s %-42s %-9s %-9s | %-9s %-9s | %-9s %-9s\n' '#' 'sentence' greedy beam4 greedy beam4 greedy beam4
for i in $(seq 1 "$n"); do
    printf '%-3s %-42s %-9s %-9s | %-9s %-9s | %-9s %-9s\n' "$i" "$(sed -n "${i}p" "$SENT" | cut -c1-40)" \
        "$(same plain greedy $i)" "$(same plain beam4 $i)" "$(same padstart greedy $i)" "$(same padstart beam4 $i)" \
        "$(same zero greedy $i)" "$(same zero beam4 $i)"
done
echo "zero-start outputs (petit), distinct: $(sort -u "$W/petit.zero.greedy" "$W/petit.zero.beam4" | tr '\n' '|')"
for v in plain padstart zero; do
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
rc=0 note="all same"
if [ "$g" -ne "$n" ] || [ "$b4" -ne "$n" ]; then
    if [ "$pg" -eq "$n" ] && [ "$pb" -eq "$n" ] && awk -v x="$PADNORM" 'BEGIN { exit !(x > 0) }'; then
        note="the plain conversion differs by its start embedding only: <pad>'s row (max |x| = $PADNORM) is not zero, CTranslate2 starts from zero; started from <pad>'s embedding, all same"
    else
        note="unexplained differences"; rc=1
    fi
fi
echo "ctranslate2 $("$PY" -c 'import ctranslate2; print(ctranslate2.__version__)'), transformers $("$PY" -c 'import transformers; print(transformers.__version__)'): $note"
printf '{"sentences": %d, "same_greedy": %d, "same_beam4": %d, "pad_start_same_greedy": %d, "pad_start_same_beam4": %d, "zero_start_same_greedy": %d, "zero_start_same_beam4": %d, "pad_row_max_abs": %s}\n' \
    "$n" "$g" "$b4" "$pg" "$pb" "${SAME[zero.greedy]}" "${SAME[zero.beam4]}" "$PADNORM"
exit $rc
