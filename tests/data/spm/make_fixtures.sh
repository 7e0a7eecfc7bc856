#!/usr/bin/env bash
# Regenerates the SentencePiece fixtures of tests/test_spm.c and
# tests/t_spm_cli.sh: small models trained with spm_train on the shared
# corpus, the test lines, and what sentencepiece's own spm_encode/spm_decode
# (0.1.97) make of them. Needs sentencepiece (spm_train etc.) and python3;
# the tests themselves need neither. Run from the repository root:
#   bash tests/data/spm/make_fixtures.sh [--outputs-only]
# --outputs-only keeps the committed models and redoes lines and outputs.
set -euo pipefail
outputs_only=0
[ "${1:-}" = --outputs-only ] && outputs_only=1
cd "$(dirname "$0")"
DATA=${PETIT_DATA:-../../../../shared/data/en-fr}
TRAIN=$(ls "$DATA"/train/*.en "$DATA"/train/*.fr | tr '\n' ',' | sed 's/,$//')

# ---- test lines: real ones (every file), then hostile ones ----------------
: >lines.txt
for f in "$DATA"/train/*.?? "$DATA"/dev/*.?? "$DATA"/test/*.??; do
    n=$(wc -l <"$f")
    # 7 lines spread over the file, the shorter ones of their neighbourhoods
    for k in 1 2 3 4 5 6 7; do
        awk -v from=$((n * k / 8)) 'NR > from && length($0) < 160 { print; exit }' "$f"
    done >>lines.txt
done
{
    printf '\n'                                   # empty
    printf '   \n'                                # spaces only
    printf '\t\t\n'                               # tabs only
    printf '  leading and trailing  \n'
    printf 'several     spaces\tand\ttabs  inside\n'
    printf 'Hello world.\r\n'                     # CRLF: the \r stays in the line
    printf '\r\n'
    printf "Élève à l'école, ça va ? Où est-il… «Très bien» — dit-il.\n"
    printf 'Cafe\xcc\x81 de\xcc\x81compose\xcc\x81 (combining accents)\n'
    printf '\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3\xef\xbc\x91\xef\xbc\x92 full width, \xef\xac\x81 \xef\xac\x82 ligatures, \xe2\x91\xa0 \xe2\x84\xa2 \xc2\xbd \xe3\x8e\x8f\n'
    printf '日本語のテキストです。中文句子。한국어 문장.\n'
    printf 'مرحبا بالعالم. שלום עולם. สวัสดีชาวโลก. नमस्ते दुनिया.\n'
    printf 'emoji 😀 👍🏽 👨‍👩‍👧 🇫🇷 end\n'
    printf 'control \x01\x02\x1b[31mred\x1b[0m \x7f del\n'
    printf 'zero\xe2\x80\x8bwidth \xef\xbb\xbfbom non\xc2\xa0breaking soft\xc2\xadhyphen line\xe2\x80\xa8sep\n'
    printf '\xe3\x80\x80ideographic\xe3\x80\x80space\xe3\x80\x80 and em\xe2\x80\x83space\xe2\x80\x83\n'
    printf '\xe2\x80\x8b\xe2\x80\x8b\n'           # only zero-width spaces
    printf 'invalid \xff byte\n'
    printf 'truncated \xc3 two \xe2\x82 three\n'
    printf 'overlong \xc0\xaf surrogate \xed\xa0\x80 too big \xf4\x90\x80\x80 lone \x80\x80 cont\n'
    printf '\xfe\xfe\xfe\n'
    printf 'trailing invalid \xe9\n'
    printf 'nul \x00 byte and a\x00b\n'
    printf '\x00\n'
    printf '▁▁x▁ lower one eighth ▁ blocks ▁\n'
    printf '<unk> <s> </s> <pad> <mask> <0x41> <sep> @@ literal specials\n'
    printf 'the theory of there<sep>then@@ other@@the\n'
    printf 'digits 1234567890 3.14159 1,000,000 2023-10-05 +33 6 12 34 56 78\n'
    printf 'replacement \xef\xbf\xbd char\n'
    printf 'mixed abcабвαβγ scripts ß İ ǅ ﬃ\n'
    printf '!!!???...---***///\\\\\\ ((([[[{{{\n'
    printf '%s\n' "$(printf 'a%.0s' $(seq 1 600))"
    printf '%s\n' "$(printf 'word %.0s' $(seq 1 400))"
    printf '%s\n' "$(printf 'Ǆ%.0s' $(seq 1 100))"
    # equal-score BPE merges side by side: the leftmost pair goes first
    printf 'lll llll lllll ooooo ppppp sssss eeeee ttttt nnnnn rrrrr mmmmm ffff\n'
    printf 'Hmmm... Ssssh! Zzzz. Aaaaah, nooooon, ouiiii, bbbbb cccccc\n'
} >>lines.txt
[ $outputs_only = 1 ] && [ -s uni_nfkc.model ] && skip_models=1 || skip_models=0

# ---- models ----------------------------------------------------------------
if [ $skip_models = 0 ]; then
train() { # name options...
    local name=$1
    shift
    spm_train --input="$TRAIN" --model_prefix="$name" --input_sentence_size=100000 \
        --shuffle_input_sentence=true --num_threads=2 --unk_id=0 --bos_id=1 --eos_id=2 \
        --pad_id=3 "$@" >/dev/null 2>&1
    rm -f "$name.vocab"
}
train uni_nfkc --model_type=unigram --vocab_size=1000
train bpe_nfkc --model_type=bpe --vocab_size=1000
train uni_nfkc_user --model_type=unigram --vocab_size=800 --byte_fallback=true \
    --user_defined_symbols='<sep>,@@,the' --control_symbols='<mask>'
train uni_id_bf --model_type=unigram --vocab_size=500 --normalization_rule_name=identity \
    --byte_fallback=true
train bpe_id_bf --model_type=bpe --vocab_size=500 --normalization_rule_name=identity \
    --byte_fallback=true --user_defined_symbols='<sep>'
train uni_id_ws --model_type=unigram --vocab_size=500 --normalization_rule_name=identity \
    --remove_extra_whitespaces=false --add_dummy_prefix=false --split_digits=true
train bpe_id_suffix --model_type=bpe --vocab_size=500 --normalization_rule_name=identity \
    --treat_whitespace_as_suffix=true

# UNUSED pieces (sentencepiece's vocabulary restriction) cannot be trained;
# mark every 5th multi-character NORMAL piece of two models UNUSED.
python3 - <<'PY'
def varint(b, i):
    r = s = 0
    while True:
        c = b[i]; i += 1; r |= (c & 0x7f) << s; s += 7
        if c < 0x80: return r, i
def enc(v):
    out = bytearray()
    while True:
        c = v & 0x7f; v >>= 7
        if v: out.append(c | 0x80)
        else: out.append(c); return bytes(out)
def fields(b):
    i = 0
    while i < len(b):
        k, j = varint(b, i); f, w = k >> 3, k & 7
        if w == 0: _, j = varint(b, j)
        elif w == 5: j += 4
        elif w == 1: j += 8
        elif w == 2: n, j = varint(b, j); j += n
        yield f, w, b[i:j]
        i = j
for src, dst in (("bpe_id_bf", "bpe_id_unused"), ("uni_id_bf", "uni_id_unused")):
    b = open(src + ".model", "rb").read()
    out = bytearray(); k = 0
    for f, w, raw in fields(b):
        if f == 1:
            kl, j = varint(raw, 0); n, j = varint(raw, j); body = raw[j:]
            parts = list(fields(body))
            piece = [p for (g, _, p) in parts if g == 1][0]
            plen, pj = varint(piece, 1); text = piece[pj:].decode("utf-8", "replace")
            typ = [varint(p, 1)[0] for (g, _, p) in parts if g == 3]
            normal = not typ or typ[0] == 1
            if normal and len(text) > 1:
                k += 1
                if k % 5 == 0:
                    body = b"".join(p for (g, _, p) in parts if g != 3) + bytes([0x18, 5])
            raw = bytes([0x0a]) + enc(len(body)) + body
        out += raw
    open(dst + ".model", "wb").write(out)
PY
fi

# ---- hand-made models for cases training does not reach -------------------
# hm_uni: a path that wins only in double precision (sentencepiece sums
# scores in double, keeps them in float), an exact tie (the first path
# found stays), a user-defined piece against its characters, unknowns, and
# an unknown character that loses to a piece only by the unk penalty (10).
# hm_bpe: UNUSED pieces in a chain of merges.
python3 - <<'PY'
import struct
def enc(v):
    out = bytearray()
    while True:
        c = v & 0x7f; v >>= 7
        if v: out.append(c | 0x80)
        else: out.append(c); return bytes(out)
def field(f, payload): return enc(f << 3 | 2) + enc(len(payload)) + payload
def vint(f, v): return enc(f << 3) + enc(v)
def piece(text, score, typ):
    return field(1, field(1, text.encode()) + enc(2 << 3 | 5) + struct.pack('<f', score) + vint(3, typ))
def model(name, pieces, model_type):
    b = b''.join(piece(*p) for p in pieces)
    b += field(2, vint(3, model_type) + vint(4, len(pieces)))
    b += field(3, field(1, b'identity'))
    open(name + '.model', 'wb').write(b)
N, UNK, CTRL, USER, UNUSED = 1, 2, 3, 4, 5
model('hm_uni', [('<unk>', 0, UNK), ('<s>', 0, CTRL), ('</s>', 0, CTRL),
    ('\u2581', -1.0, N), ('a', -0.5, N), ('b', -0.49999997, N), ('ab', -1.0, N),
    ('c', -0.05, N), ('d', -0.06, N), ('cd', 0, USER),
    ('x', -3.0, N), ('y', -3.0, N), ('xy', -6.0, N), ('\u2581x', -3.0, N),
    ('e', 5.0, N), ('qe', -30.0, N)], 1)
model('hm_bpe', [('<unk>', 0, UNK), ('<s>', 0, CTRL), ('</s>', 0, CTRL),
    ('\u2581', -1, N), ('a', -2, N), ('b', -3, N), ('c', -4, N),
    ('ab', -0.5, UNUSED), ('abc', -0.7, N), ('bc', -0.6, UNUSED), ('\u2581ab', -0.8, N),
    ('ca', -5, N), ('aa', -6, UNUSED), ('aaa', -7, N)], 2)
PY
printf '%s\n' ab cd xy 'ab cd xy' abab cdcd 'xyxy x y' 'q' 'qq q' 'ab?cd' 'cdab' '  cd  ' \
    qe 'eqe qeq' >hm_uni.txt
printf '%s\n' ab abc 'abc abc' bc cab aaa aaaa 'aab abcab' 'd' 'cabd' >hm_bpe.txt

# random id sequences (byte pieces, control and unknown ids among them) for
# decoding; not <0x0A>, which would end the line
for m in uni_id_bf uni_nfkc_user; do
    spm_export_vocab --model=$m.model | awk '$1 == "<0x0A>" { print NR - 1 }' >$m.nl
done
python3 - <<'PY'
import random
r = random.Random(7)
for name, n in (('uni_id_bf', 500), ('uni_nfkc_user', 800)):
    nl = int(open(name + '.nl').read())
    with open(name + '.rids', 'w') as f:
        for _ in range(150):
            ids = []
            for _ in range(r.randrange(0, 24)):
                k = r.random()
                if k < 0.45: ids.append(r.randrange(4, 260))           # byte pieces
                elif k < 0.55: ids.append(r.randrange(0, 4))           # unk and control
                else: ids.append(r.randrange(260, n))
            f.write(' '.join(str(i) for i in ids if i != nl) + '\n')
PY
rm -f uni_id_bf.nl uni_nfkc_user.nl
for m in uni_id_bf uni_nfkc_user; do
    spm_decode --model=$m.model --input_format=id <$m.rids >$m.rdecoded
done

# ---- what sentencepiece makes of the lines -------------------------------
for m in *.model; do
    name=${m%.model}
    in=lines.txt
    [ -e "$name.txt" ] && in=$name.txt # a hand-made model's own lines
    spm_encode --model="$m" --output_format=id <$in >"$name.ids"
    spm_encode --model="$m" <$in >"$name.pieces"
    spm_decode --model="$m" --input_format=id <"$name.ids" >"$name.decoded"
    spm_decode --model="$m" <"$name.pieces" >"$name.pdecoded"
done
ls -l
