#!/usr/bin/env python3
# export_ct2.py — write a petit model as a CTranslate2 model (same weights), and check
# that CTranslate2 decodes it as the PyTorch reference does.
#
# Needs the `ctranslate2` Python package (and numpy) in a venv, e.g. the git-ignored
# .venv/:  .venv/bin/pip install ctranslate2 . Nothing in `make test` uses it.
#
#   .venv/bin/python tools/export_ct2.py MODEL.gguf OUTDIR [--quantization int8] [--force]
#   .venv/bin/python tools/export_ct2.py --verify OUTDIR SOURCES.ids EXPECTED.gguf
#           [--ct2-expected EXPECTED_CT2.gguf] [--compute-type float32|int8]
#
# The export builds ctranslate2.specs.TransformerSpec from the model's config and fills it
# from the GGUF tensors (names: MODEL.md). Conventions, and what CTranslate2 cannot match
# of MODEL.md's decoding: tools/README.md, "export_ct2.py".
#
# --verify translates each source of SOURCES.ids (ids ending with EOS) with CTranslate2,
# greedy and with the beams recorded in EXPECTED.gguf (written by torch_decode_ref.py),
# and prints the agreement: identical ids, scores, and CTranslate2's teacher-forced
# log-probs (score_batch) against the reference's greedy log-probs. EXPECTED_CT2.gguf,
# written by `torch_decode_ref.py --rules ct2`, is the reference under CTranslate2's own
# beam rules, which CTranslate2 should match up to float32 rounding.

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_decode_ref import BOS, EOS, config_of, read_gguf, read_sources, spm_pieces  # noqa: E402


def sinusoidal_table(n, D):
    """MODEL.md's table: pe[t, i] = sin(t / 10000^(2i/D)), pe[t, D/2 + i] = cos(...).
    CTranslate2's built-in sinusoidal encoder uses log(10000)/(D/2 - 1) as the frequency
    step (tensor2tensor's), not 2/D, so the table is written out explicitly."""
    t = np.arange(n, dtype=np.float64)[:, None]
    i = np.arange(D // 2, dtype=np.float64)[None, :]
    ang = t / np.power(10000.0, 2.0 * i / D)
    return np.concatenate([np.sin(ang), np.cos(ang)], axis=1).astype(np.float32)


def build_spec(path):
    from ctranslate2.specs import common_spec, transformer_spec

    kv, ts = read_gguf(path)
    c = config_of(kv)
    pre = c["norm"] == "pre"
    act = {"relu": common_spec.Activation.RELU, "gelu": common_spec.Activation.GELU,
           "swish": common_spec.Activation.SWISH}[c["act"]]
    spec = transformer_spec.TransformerSpec.from_config(
        (c["Le"], c["Ld"]), c["H"], pre_norm=pre, activation=act)

    def t(name):
        return np.ascontiguousarray(ts[name].astype(np.float32))

    def ln(s, name):
        s.gamma, s.beta = t(name + ".weight"), t(name + ".bias")

    def lin(s, name):
        s.weight, s.bias = t(name + ".weight"), t(name + ".bias")

    E = t("tok_emb.weight")  # one array: the converter stores it once, aliased
    pe = t("pos_emb.weight") if c["pos"] == "learned" else sinusoidal_table(c["P"], c["D"])
    enc, dec = spec.encoder, spec.decoder
    enc.embeddings[0].weight = E
    dec.embeddings.weight = E
    for side in (enc, dec):
        side.scale_embeddings = bool(c["emb_scale"])  # x sqrt(D)
        side.position_encodings.encodings = pe
    if pre:
        ln(enc.layer_norm, "enc.ln")
        ln(dec.layer_norm, "dec.ln")
    for l, ls in enumerate(enc.layer):
        p = f"enc.{l}."
        ln(ls.self_attention.layer_norm, p + "ln1")
        lin(ls.self_attention.linear[0], p + "attn.qkv")  # fused rows Q, K, V: the same
        lin(ls.self_attention.linear[1], p + "attn.out")
        ln(ls.ffn.layer_norm, p + "ln2")
        lin(ls.ffn.linear_0, p + "ffn.up")
        lin(ls.ffn.linear_1, p + "ffn.down")
    for l, ls in enumerate(dec.layer):
        p = f"dec.{l}."
        ln(ls.self_attention.layer_norm, p + "ln1")
        lin(ls.self_attention.linear[0], p + "self.qkv")
        lin(ls.self_attention.linear[1], p + "self.out")
        ln(ls.attention.layer_norm, p + "ln2")
        lin(ls.attention.linear[0], p + "cross.q")
        lin(ls.attention.linear[1], p + "cross.kv")  # fused rows K, V: the same
        lin(ls.attention.linear[2], p + "cross.out")
        ln(ls.ffn.layer_norm, p + "ln3")
        lin(ls.ffn.linear_0, p + "ffn.up")
        lin(ls.ffn.linear_1, p + "ffn.down")
    dec.projection.weight = E  # tied output layer
    dec.projection.bias = t("out.bias")

    pieces = spm_pieces(kv)
    if len(pieces) != c["V"] or len(set(pieces)) != len(pieces):
        raise ValueError("the vocabulary must have V distinct pieces")
    spec.register_source_vocabulary(pieces)
    spec.register_target_vocabulary(pieces)
    cfg = spec.config
    cfg.unk_token = pieces[int(kv.get("petit.unk_id", 0))]
    cfg.bos_token = pieces[BOS]
    cfg.eos_token = pieces[EOS]
    cfg.decoder_start_token = pieces[BOS]  # MODEL.md: the decoder starts from BOS
    cfg.add_source_bos = False
    cfg.add_source_eos = True  # sources are the pieces; EOS is appended as in petit
    cfg.layer_norm_epsilon = float(kv.get("petit.ln_eps", 1e-5))
    return spec, c, pieces


def quantize_linears_7bit(spec):
    """int8 weights limited to [-63, 63] (per-row scale 63/max|w|) for every linear layer,
    the output projection included; embeddings stay float32. CTranslate2's int8 GEMM on
    CPUs without AVX-512 VNNI (oneDNN, u8 x s8 through vpmaddubsw) adds pairs of u8*s8
    products in int16 and saturates when two large weights meet two large inputs; with
    7-bit weights a pair stays below 2*255*63 = 32130 and never saturates."""
    from ctranslate2.specs import common_spec

    def visit(obj):
        if isinstance(obj, common_spec.LinearSpec):
            w = np.asarray(obj.weight, dtype=np.float32)
            amax = np.abs(w).max(axis=1)
            amax[amax == 0] = 63.0
            scale = (63.0 / amax).astype(np.float32)
            obj.weight = np.rint(w * scale[:, None]).astype(np.int8)
            obj.weight_scale = scale
            return
        if isinstance(obj, list):
            for x in obj:
                visit(x)
        elif hasattr(obj, "__dict__"):
            for k, v in list(vars(obj).items()):
                if not k.startswith("_"):
                    visit(v)

    visit(spec)


def export(model, outdir, quantization=None, force=False):
    from ctranslate2.converters.converter import Converter

    int7 = quantization == "int8_7bit"
    if int7:
        quantization = None

    class _Petit(Converter):
        def _load(self):
            spec = build_spec(model)[0]
            if int7:
                quantize_linears_7bit(spec)
            return spec

    out = _Petit().convert(outdir, quantization=quantization, force=force)
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {out} ({size} bytes: {', '.join(sorted(os.listdir(out)))})")


# ---------------------------------------------------------------------------------------
# Verification against torch_decode_ref.py's fixture
# ---------------------------------------------------------------------------------------
def _beams_of(kv):
    return [(int(kv[f"decode.beam.{j}.k"]), float(kv[f"decode.beam.{j}.alpha"]))
            for j in range(int(kv["decode.n_beams"]))]


def _nbest(ts, tag, i, K):
    out = []
    for r in range(K):
        name = f"{tag}.{i}.{r}"
        if name not in ts:
            break
        out.append([int(x) for x in ts[name]])
    return out


def verify(outdir, sources, expected, ct2_expected=None, compute_type="float32", threads=1):
    import ctranslate2

    kv, ts = read_gguf(expected)
    ckv, cts = read_gguf(ct2_expected) if ct2_expected else (None, None)
    srcs = read_sources(sources)
    vocab = os.path.join(outdir, "shared_vocabulary.json")  # source == target: one file
    if not os.path.exists(vocab):
        vocab = os.path.join(outdir, "source_vocabulary.json")
    with open(vocab, encoding="utf-8") as f:
        pieces = json.load(f)
    index = {p: i for i, p in enumerate(pieces)}
    tr = ctranslate2.Translator(outdir, device="cpu", compute_type=compute_type,
                                inter_threads=1, intra_threads=threads)
    n = len(srcs)
    print(f"CTranslate2 {ctranslate2.__version__}, compute_type {compute_type}: "
          f"{n} sources, reference {os.path.basename(expected)}")

    def ids_of(tokens):
        return [index[x] for x in tokens]

    def run(toks, K, alpha, mo):
        r = tr.translate_batch([toks], beam_size=K, num_hypotheses=K, length_penalty=alpha,
                               max_decoding_length=mo, min_decoding_length=0,
                               return_scores=True, return_end_token=True)[0]
        return [ids_of(h) for h in r.hypotheses], list(r.scores)

    g_same, lp_diff, g_score = 0, 0.0, 0.0
    g_bad = []
    beams = _beams_of(kv)
    res = {K: dict(best=0, nbest=0, score=0.0, bad=[], cbest=0, cnbest=0, cbad=[], cscore=0.0)
           for K, _ in beams}
    lp_sum, lp_n, skipped = 0.0, 0, []
    for i, src in enumerate(srcs):
        if [int(x) for x in ts[f"src.{i}"]] != src:
            raise ValueError(f"source {i} differs from the fixture's")
        if len(src) == 1:
            # CTranslate2 returns an empty translation for an empty source without
            # decoding; MODEL.md decodes from [EOS]. Not comparable.
            skipped.append(i)
            continue
        toks = [pieces[x] for x in src[:-1]]
        mo = int(ts["max_out"][i])
        ref = [int(x) for x in ts[f"greedy.{i}"]]
        hyp, sc = run(toks, 1, 0.0, mo)
        if hyp[0] == ref:
            g_same += 1
            g_score = max(g_score, abs(sc[0] - float(np.sum(ts[f"greedy_logprob.{i}"]
                                                           .astype(np.float64)))))
        else:
            g_bad.append(i)
        # CTranslate2's teacher-forced log-probs of the reference's greedy output
        tgt = ref[:-1] if ref and ref[-1] == EOS else ref
        sr = tr.score_batch([toks], [[pieces[x] for x in tgt]])[0]
        lp = np.array(sr.log_probs[:len(ref)], dtype=np.float64)
        d = np.abs(lp - ts[f"greedy_logprob.{i}"])
        lp_diff = max(lp_diff, float(np.max(d)))
        lp_sum, lp_n = lp_sum + float(np.sum(d)), lp_n + d.size
        for K, alpha in beams:
            hyp, sc = run(toks, K, alpha, mo)
            st = res[K]
            want = _nbest(ts, f"beam{K}", i, K)
            if hyp[0] == want[0]:
                st["best"] += 1
            else:
                st["bad"].append(i)
            if hyp == want:
                st["nbest"] += 1
                st["score"] = max(st["score"], float(np.max(np.abs(
                    np.array(sc) - ts[f"beam{K}_score.{i}"]))))
            if cts is not None:
                cw = _nbest(cts, f"beam{K}", i, K)
                if hyp[0] == cw[0]:
                    st["cbest"] += 1
                if hyp == cw:
                    st["cnbest"] += 1
                    st["cscore"] = max(st["cscore"], float(np.max(np.abs(
                        np.array(sc) - cts[f"beam{K}_score.{i}"]))))
                else:
                    st["cbad"].append(i)
    if skipped:
        print(f"  skipped {skipped}: empty source (CTranslate2 answers it with an empty "
              f"translation without decoding)")
    n -= len(skipped)
    print(f"  greedy (beam_size=1): same ids {g_same}/{n}"
          + (f" (differ: {g_bad})" if g_bad else "")
          + f"; max |score - sum of reference log-probs| = {g_score:.2e}")
    print(f"  score_batch on the reference greedy outputs: max |log-prob diff| = {lp_diff:.2e}, "
          f"mean {lp_sum / max(lp_n, 1):.2e} over {lp_n} tokens")
    for K, alpha in beams:
        st = res[K]
        print(f"  beam {K}, length_penalty {alpha:g}: vs MODEL.md's rules: best same "
              f"{st['best']}/{n}, whole {K}-best same {st['nbest']}/{n}"
              + (f" (best differs: {st['bad']})" if st["bad"] else "")
              + (f"; max |score diff| where equal {st['score']:.2e}" if st["nbest"] else ""))
        if cts is not None:
            print(f"      vs the reference under CTranslate2's rules: best same {st['cbest']}/{n}, "
                  f"whole {K}-best same {st['cnbest']}/{n}"
                  + (f" (differ: {st['cbad']})" if st["cbad"] else "")
                  + (f"; max |score diff| {st['cscore']:.2e}" if st["cnbest"] else ""))
    return g_same, res


def main():
    ap = argparse.ArgumentParser(description="Export a petit model to CTranslate2; verify it.")
    ap.add_argument("args", nargs="+", help="MODEL.gguf OUTDIR, or with --verify: "
                    "OUTDIR SOURCES.ids EXPECTED.gguf")
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--ct2-expected", help="reference written with --rules ct2")
    ap.add_argument("--compute-type", default="float32")
    ap.add_argument("--quantization", default=None, help="store weights as int8, ... "
                    "(default: float32; int8 can also be chosen at load time), or "
                    "int8_7bit: int8 linear weights in [-63, 63] (see quantize_linears_7bit)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--force", action="store_true", help="replace OUTDIR")
    a = ap.parse_args()
    if a.verify:
        if len(a.args) != 3:
            ap.error("--verify takes OUTDIR SOURCES.ids EXPECTED.gguf")
        verify(*a.args, ct2_expected=a.ct2_expected, compute_type=a.compute_type,
               threads=a.threads)
    else:
        if len(a.args) != 2:
            ap.error("export takes MODEL.gguf OUTDIR")
        export(a.args[0], a.args[1], a.quantization, a.force)


if __name__ == "__main__":
    main()
