#!/usr/bin/env python3
# ct2_translate.py — translate SentencePiece pieces with CTranslate2, as a speed peer for
# bench/translate.sh. The model directory is what export_ct2.py writes from a petit model.
#
#   .venv/bin/python tools/ct2_translate.py CT2_DIR [--beam 4] [--batch 32] [--threads 2]
#       [--compute-type float32|int8] [--alpha 1.0] [--max-len 127] < src.pieces > out.pieces
#
# Reads one line of space-separated source pieces per sentence (without </s>: the model's
# config appends it, as petit does) and writes the best hypothesis's pieces, in input
# order, without </s>. CTranslate2 sorts the sentences by length and cuts them into
# batches of --batch sentences itself. Length normalization counts the end token
# (return_end_token=True), as MODEL.md's does. One difference from petit that stays:
# CTranslate2 has a single maximum output length (--max-len), petit min(P-1, 2S+10).
# On stderr at the end, one JSON line: sentences, tokens_out (EOS included when emitted),
# seconds (translation only) and load_seconds.

import argparse
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser(description="CTranslate2 translation of SentencePiece pieces")
    ap.add_argument("model_dir")
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compute-type", default="float32")
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--max-len", type=int, default=127)
    a = ap.parse_args()

    import ctranslate2

    t0 = time.perf_counter()
    tr = ctranslate2.Translator(a.model_dir, device="cpu", compute_type=a.compute_type,
                                inter_threads=1, intra_threads=a.threads)
    load = time.perf_counter() - t0
    src = [line.split() for line in sys.stdin.read().split("\n")]
    if src and src[-1] == []:
        src.pop()  # the final newline
    t0 = time.perf_counter()
    res = tr.translate_batch(src, max_batch_size=a.batch, batch_type="examples",
                             beam_size=a.beam, length_penalty=a.alpha,
                             max_decoding_length=a.max_len, return_end_token=True)
    secs = time.perf_counter() - t0
    out, ntok = [], 0
    for r in res:
        toks = r.hypotheses[0]
        ntok += len(toks)
        if toks and toks[-1] == "</s>":
            toks = toks[:-1]
        out.append(" ".join(toks))
    sys.stdout.write("".join(s + "\n" for s in out))
    print(json.dumps(dict(sentences=len(src), tokens_out=ntok, seconds=round(secs, 4),
                          load_seconds=round(load, 4))), file=sys.stderr)


if __name__ == "__main__":
    main()
