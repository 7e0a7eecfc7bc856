#!/usr/bin/python3
# torch_decode_ref.py — the PyTorch reference for petit's decoder (MODEL.md, "Decoding").
#
# Loads a petit model file (GGUF) into the MODEL.md network of tools/torch_ref.py and
# decodes source id sequences greedily and with beam search, exactly as MODEL.md defines
# them, by full recomputation of the decoder at every step (slow, simple, a reference).
# It writes the expected outputs as a GGUF fixture that the C decoder is tested against;
# nothing in `make test` runs Python.
#
#     /usr/bin/python3 tools/torch_decode_ref.py MODEL.gguf SOURCES.ids -o EXPECTED.gguf
#
# SOURCES.ids: one source per line, space-separated ids ending with EOS (2), as
# `petit encode --ids` prints them plus a final 2. Options: --dtype float64 (default) or
# float32 (the same network in single precision, for comparisons), --beams "4:1.0,3:0.6"
# (K:alpha pairs), --a 2 --b 10 (max_out = min(P-1, floor(a*S + b))), --tie-eps 1e-4,
# --rules model (MODEL.md's beam search, the default) or ct2 (CTranslate2's beam rules, to
# check tools/export_ct2.py's output against).
#
# The loader (`load_model`) is also the way to run a petit model in PyTorch:
#     m, kv = load_model("model.gguf", torch.float32)   # float32 also becomes torch's default
#     logits = m.logits(src_ids, [prefix_ids, ...])      # next-token logits, (n, V)
#
# Before writing, the script checks itself and prints the results: greedy == beam with K=1,
# every n-best score recomputed by teacher forcing, greedy log-probs likewise. It also
# reports near-ties (decisions whose score margin is below --tie-eps) per sentence.
# Fixture layout: tools/README.md, "torch_decode_ref.py".

import argparse
import math
import os
import struct
import sys

import numpy as np

PAD, BOS, EOS, UNK = 3, 1, 2, 0

# ---------------------------------------------------------------------------------------
# GGUF v3 reader (numpy only; src/gguf/gguf.h describes the format)
# ---------------------------------------------------------------------------------------
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B",
           10: "<Q", 11: "<q", 12: "<d"}
_NP = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<u1",
       10: "<u8", 11: "<i8", 12: "<f8"}
_TT = {0: ("<f4", 4), 1: ("<f2", 2), 24: ("<i1", 1), 25: ("<i2", 2), 26: ("<i4", 4),
       28: ("<f8", 8)}


def read_gguf(path):
    """Returns (kv, tensors): kv maps key -> python value (arrays of numbers as numpy
    arrays, arrays of strings as lists); tensors maps name -> numpy array whose shape is
    ne reversed (a (rows, cols) matrix as PyTorch writes it). Tensor order is kept."""
    with open(path, "rb") as f:
        buf = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string():
        nonlocal pos
        n = take("<Q")
        s = buf[pos:pos + n].decode("utf-8", "replace")
        pos += n
        return s

    def value(vt):
        nonlocal pos
        if vt == 8:
            return string()
        if vt == 9:
            et, n = take("<I"), take("<Q")
            if et == 8:
                return [string() for _ in range(n)]
            a = np.frombuffer(buf, dtype=_NP[et], count=n, offset=pos).copy()
            pos += n * a.itemsize
            return a
        v = take(_SCALAR[vt])
        return bool(v) if vt == 7 else v

    if buf[:4] != b"GGUF":
        raise ValueError(f"{path}: not a GGUF file")
    pos = 4
    version, n_t, n_kv = take("<I"), take("<Q"), take("<Q")
    if version not in (2, 3):
        raise ValueError(f"{path}: GGUF version {version}")
    kv = {}
    for _ in range(n_kv):
        k = string()
        kv[k] = value(take("<I"))
    infos = []
    for _ in range(n_t):
        name = string()
        nd = take("<I")
        ne = [take("<Q") for _ in range(nd)]
        infos.append((name, ne, take("<I"), take("<Q")))
    align = int(kv.get("general.alignment", 32))
    base = pos + (-pos % align)
    tensors = {}
    for name, ne, tt, off in infos:
        if tt not in _TT:
            raise ValueError(f"{path}: tensor {name} has type {tt}, not supported here")
        dt, _ = _TT[tt]
        n = int(np.prod(ne))
        a = np.frombuffer(buf, dtype=dt, count=n, offset=base + off)
        tensors[name] = a.reshape(list(reversed(ne))).copy()
    return kv, tensors


def spm_pieces(kv):
    """The vocabulary's pieces in id order (tokenizer.ggml.tokens)."""
    return list(kv["tokenizer.ggml.tokens"])


# ---------------------------------------------------------------------------------------
# The model: tools/torch_ref.py's MODEL.md network, with a petit model file's weights
# ---------------------------------------------------------------------------------------
torch = None
R = None  # the torch_ref module


def _import_torch():
    global torch, R
    if R is None:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import torch as _t
        import torch_ref as _r
        torch, R = _t, _r


def config_of(kv):
    def u(k):
        return int(kv["petit." + k])

    c = dict(V=u("vocab_size"), D=u("d_model"), H=u("n_heads"), F=u("d_ff"),
             Le=u("enc_layers"), Ld=u("dec_layers"), P=u("max_len"),
             norm=kv["petit.norm"], act=kv["petit.act"], pos=kv["petit.pos"],
             emb_scale=bool(kv["petit.emb_scale"]))
    if kv.get("petit.dec_attn", "dense") != "dense":
        raise ValueError("only dense decoder self-attention is supported here")
    if abs(float(kv.get("petit.ln_eps", 1e-5)) - 1e-5) > 1e-12:
        raise ValueError("torch_ref.py's LayerNorm uses eps 1e-5")
    for k, v in (("pad_id", PAD), ("bos_id", BOS), ("eos_id", EOS)):
        if int(kv.get("petit." + k, v)) != v:
            raise ValueError(f"petit.{k} is not {v}")
    return c


class Model:
    """A petit model in PyTorch. logits(src, prefixes) -> the next-token logits (n, V) of
    each prefix (a list of equal-length token lists, BOS excluded) given one source."""

    def __init__(self, c, params, dtype):
        self.c, self.p, self.dtype = c, params, dtype

    def logits(self, src, prefixes):
        n = len(prefixes)
        s = torch.tensor([src] * n, dtype=torch.long)
        sl = torch.tensor([len(src)] * n, dtype=torch.long)
        ti = torch.tensor([[BOS] + list(q) for q in prefixes], dtype=torch.long)
        with torch.no_grad():
            return R.forward(self.c, self.p, s, sl, ti)[:, -1, :]

    def seq_logprobs(self, src, toks):
        """Teacher forcing: log p(toks[j] | src, toks[:j]) for every j."""
        s = torch.tensor([src], dtype=torch.long)
        sl = torch.tensor([len(src)], dtype=torch.long)
        ti = torch.tensor([[BOS] + list(toks[:-1])], dtype=torch.long)
        with torch.no_grad():
            lp = torch.log_softmax(R.forward(self.c, self.p, s, sl, ti)[0], dim=-1)
        return [lp[j, toks[j]].item() for j in range(len(toks))]


def load_model(path, dtype=None):
    """Loads a petit model file into the PyTorch MODEL.md network (float64 by default)."""
    _import_torch()
    dtype = dtype or torch.float64
    kv, ts = read_gguf(path)
    c = config_of(kv)
    p = {}
    for name, shape in R.param_shapes(c):
        if name not in ts:
            raise ValueError(f"{path}: missing tensor {name}")
        a = ts[name]
        if tuple(a.shape) != tuple(shape):
            raise ValueError(f"{path}: {name} has shape {a.shape}, expected {shape}")
        p[name] = torch.from_numpy(a.astype(np.float64)).to(dtype)
    if dtype != torch.float64:
        # torch_ref builds the sinusoidal table in float64; keep the whole network in dtype
        orig = R.sinusoidal
        if not getattr(orig, "_cast", False):
            def sinusoidal(n, D, _o=orig):
                return _o(n, D).to(torch.get_default_dtype())
            sinusoidal._cast = True
            R.sinusoidal = sinusoidal
        torch.set_default_dtype(dtype)
    return Model(c, p, dtype), kv


# ---------------------------------------------------------------------------------------
# Decoding, exactly as MODEL.md's "Decoding" section
# ---------------------------------------------------------------------------------------
def max_out_of(c, S, a, b):
    return min(c["P"] - 1, int(math.floor(a * S + b)))


def greedy(m, src, max_out):
    """Returns (tokens, logprobs, min_gap): tokens include the final EOS when one was
    emitted; logprobs has one entry per token; min_gap is the smallest margin between the
    best and the second-best logit over the steps (a near-tie if tiny)."""
    toks, lps, gap = [], [], math.inf
    while len(toks) < max_out:
        lg = m.logits(src, [toks])[0]
        lp = torch.log_softmax(lg, dim=-1).double().numpy()
        lgn = lg.double().numpy()
        v = int(np.argmax(lgn))  # first maximum: the lowest id on ties
        top2 = np.partition(-lgn, 1)[:2]
        gap = min(gap, float(top2[1] - top2[0]))
        toks.append(v)
        lps.append(float(lp[v]))
        if v == EOS:
            break
    return toks, lps, gap


def beam_search(m, src, K, alpha, max_out, rules="model"):
    """Beam search. Returns (nbest, info). nbest: up to K tuples (tokens, raw score,
    normalized score, ended_with_eos), best first; tokens include the final EOS when the
    hypothesis ended with one. info: dict(steps, cut (the search ended at max_out),
    min_gap (the smallest score margin at any decision), cut_alt_differs).

    rules="model": MODEL.md's. The walk over the 2K best candidates stops as soon as K
      live hypotheses exist; an EOS candidate met before that finishes (while fewer than
      K have finished).
    rules="walk_all": the other reading of MODEL.md, for comparison: all 2K candidates
      are walked, so an EOS candidate ranked after the K-th live one still finishes.
    rules="ct2": CTranslate2's BeamSearch (with return_end_token=True, so that its
      length normalization counts EOS as MODEL.md does): only EOS candidates among the
      K best finish (no cap of K), the live ones are the first K non-EOS candidates; at
      the last step the K best candidates are all finished."""
    V = m.c["V"]
    live = [([], 0.0)]
    finished = []  # (tokens, raw, norm, eos)
    gap = math.inf
    t = 0
    cut = False
    alt = None
    while True:
        lg = m.logits(src, [h[0] for h in live])
        lp = torch.log_softmax(lg, dim=-1).double().numpy()
        base = np.array([h[1] for h in live], dtype=np.float64)
        flat = (base[:, None] + lp).reshape(-1)  # index i*V + v: (hypothesis, token) order
        n_take = min(2 * K, flat.size)
        # decreasing score; ties: lower flat index = lower hypothesis index, then lower id
        order = np.argsort(-flat, kind="stable")[:n_take + 1]
        last = t + 1 == max_out
        new_live = []
        walked = 0
        for j in range(n_take):
            idx = int(order[j])
            i, v = divmod(idx, V)
            s = float(flat[idx])
            walked = j + 1
            toks = live[i][0] + [v]
            if rules == "ct2":
                if j < K and (v == EOS or last):
                    finished.append((toks, s, s / (t + 1) ** alpha, v == EOS))
                elif v != EOS and len(new_live) < K:
                    new_live.append((toks, s))
                if len(new_live) == K and j >= K - 1:
                    break
                continue
            if v == EOS:
                if len(finished) < K:
                    finished.append((toks, s, s / (t + 1) ** alpha, True))
            elif len(new_live) < K:
                new_live.append((toks, s))
            if rules == "model" and len(new_live) == K:
                break
        # margins between consecutive candidates up to the first one not walked
        sc = flat[order[:min(walked + 1, order.size)]]
        if sc.size > 1:
            gap = min(gap, float(np.min(sc[:-1] - sc[1:])))
        if len(finished) >= K and not (rules == "ct2" and last):
            break
        if last:
            cut = True
            if rules != "ct2":
                # every live hypothesis becomes finished (more than K can be finished
                # then: the n-best keeps the K best); alt: had only K been finished
                for toks, s in new_live:
                    finished.append((toks, s, s / (t + 1) ** alpha, False))
                alt = sorted(finished[:K], key=lambda h: -h[2])
            break
        live = new_live
        t += 1
    # sort by normalized score, ties: earlier finished first (stable)
    ranked = sorted(range(len(finished)), key=lambda q: -finished[q][2])
    nb = [finished[q] for q in ranked]
    ns = [h[2] for h in nb[:K + 1]]
    if len(ns) > 1:
        gap = min(gap, float(min(a - b for a, b in zip(ns[:-1], ns[1:]))))
    alt_differs = alt is not None and len(finished) > K and \
        [h[0] for h in alt] != [h[0] for h in nb[:K]]
    return nb[:K], dict(steps=t + 1, cut=cut, min_gap=gap, n_finished=len(finished),
                        cut_alt_differs=bool(alt_differs))


# ---------------------------------------------------------------------------------------
# GGUF writer (torch_ref.py's) and main
# ---------------------------------------------------------------------------------------
def read_sources(path):
    out = []
    with open(path) as f:
        for ln, line in enumerate(f, 1):
            ids = [int(x) for x in line.split()]
            if not ids or ids[-1] != EOS or EOS in ids[:-1]:
                raise ValueError(f"{path}:{ln}: a source must end with EOS ({EOS}), once")
            out.append(ids)
    return out


def parse_beams(s):
    out = []
    for part in s.split(","):
        k, a = part.split(":")
        out.append((int(k), float(a)))
    return out


def main():
    ap = argparse.ArgumentParser(description="PyTorch reference decoding of a petit model; "
                                 "writes the expected outputs as a GGUF fixture.")
    ap.add_argument("model")
    ap.add_argument("sources", help="one source per line: ids ending with EOS (2)")
    ap.add_argument("-o", dest="out", help="expected-output GGUF to write")
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--beams", default="4:1.0,3:0.6", help="K:alpha,... (default 4:1.0,3:0.6)")
    ap.add_argument("--a", type=float, default=2.0)
    ap.add_argument("--b", type=float, default=10.0)
    ap.add_argument("--tie-eps", type=float, default=1e-4,
                    help="flag decisions whose score margin is below this (default 1e-4)")
    ap.add_argument("--rules", choices=["model", "ct2"], default="model",
                    help="beam search rules: MODEL.md's (default) or CTranslate2's")
    ap.add_argument("--quiet", action="store_true", help="no per-sentence lines")
    a = ap.parse_args()

    _import_torch()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    dtype = torch.float64 if a.dtype == "float64" else torch.float32
    m, kv = load_model(a.model, dtype)
    c = m.c
    pieces = spm_pieces(kv) if "tokenizer.ggml.tokens" in kv else None
    srcs = read_sources(a.sources)
    for s in srcs:
        if len(s) > c["P"]:
            raise ValueError(f"a source has {len(s)} ids, over max_len {c['P']}")
    beams = parse_beams(a.beams)

    def text(toks):
        if pieces is None:
            return " ".join(map(str, toks))
        return "".join(pieces[x] for x in toks if x != EOS).replace("\u2581", " ").strip()

    print(f"model {os.path.basename(a.model)}: V={c['V']} D={c['D']} H={c['H']} F={c['F']} "
          f"Le={c['Le']} Ld={c['Ld']} P={c['P']} norm={c['norm']} act={c['act']} "
          f"pos={c['pos']} emb_scale={c['emb_scale']}; {len(srcs)} sources; dtype {a.dtype}")
    tensors, ok = [], True
    n = len(srcs)
    g_tie, g_gap, max_outs = np.zeros(n, np.int32), np.zeros(n, np.float32), np.zeros(n, np.int32)
    b_tie = {K: np.zeros(n, np.int32) for K, _ in beams}
    b_gap = {K: np.zeros(n, np.float32) for K, _ in beams}
    b_cut = {K: np.zeros(n, np.int32) for K, _ in beams}
    b_walk = {K: np.zeros(n, np.int32) for K, _ in beams}
    per_k = ("differs", "walk", "cutalt", "cut", "btie")
    stats = dict(k1=0, tf=0.0, glp=0.0, gtie=0, mingap=math.inf,
                 **{s: {K: 0 for K, _ in beams} for s in per_k})
    per_sent = []
    for i, src in enumerate(srcs):
        mo = max_out_of(c, len(src), a.a, a.b)
        max_outs[i] = mo
        tensors.append((f"src.{i}", np.array(src, np.int32)))
        gt, gl, gg = greedy(m, src, mo)
        tensors.append((f"greedy.{i}", np.array(gt, np.int32)))
        tensors.append((f"greedy_logprob.{i}", np.array(gl, np.float32)))
        g_gap[i] = gg
        g_tie[i] = int(gg < a.tie_eps)
        stats["gtie"] += int(g_tie[i])
        stats["mingap"] = min(stats["mingap"], gg)
        # self-check: greedy log-probs by teacher forcing
        tf = m.seq_logprobs(src, gt)
        stats["glp"] = max(stats["glp"], max(abs(x - y) for x, y in zip(tf, gl)))
        # self-check: beam K=1 equals greedy (alpha irrelevant)
        nb1, _ = beam_search(m, src, 1, 1.0, mo, a.rules)
        if nb1[0][0] != gt or abs(nb1[0][1] - sum(gl)) > 1e-9:
            ok = False
            print(f"  SELF-CHECK: sentence {i}: beam K=1 {nb1[0][0]} != greedy {gt}")
        else:
            stats["k1"] += 1
        line = [f"[{i}] S={len(src)} max_out={mo} greedy: {text(gt)}"
                + ("" if gt[-1] == EOS else "  (cut at max_out)")]
        for K, alpha in beams:
            nb, info = beam_search(m, src, K, alpha, mo, a.rules)
            for r, (toks, raw, norm, eos) in enumerate(nb):
                tensors.append((f"beam{K}.{i}.{r}", np.array(toks, np.int32)))
                # self-check: the score by teacher forcing
                lp = m.seq_logprobs(src, toks)
                d = max(abs(sum(lp) - raw), abs(sum(lp) / len(toks) ** alpha - norm))
                stats["tf"] = max(stats["tf"], d)
                if len(toks) != (len(toks) if eos else mo) or (toks[-1] == EOS) != eos:
                    ok = False
                    print(f"  SELF-CHECK: sentence {i} beam{K} rank {r}: bad length/EOS")
            tensors.append((f"beam{K}_score.{i}", np.array([h[2] for h in nb], np.float32)))
            tensors.append((f"beam{K}_raw.{i}", np.array([h[1] for h in nb], np.float32)))
            b_gap[K][i] = info["min_gap"]
            b_tie[K][i] = int(info["min_gap"] < a.tie_eps)
            b_cut[K][i] = int(info["cut"])
            stats["btie"][K] += int(b_tie[K][i])
            stats["cut"][K] += int(info["cut"])
            stats["mingap"] = min(stats["mingap"], info["min_gap"])
            if nb[0][0] != gt:
                stats["differs"][K] += 1
            if a.rules == "model":
                nb_alt, _ = beam_search(m, src, K, alpha, mo, "walk_all")
            else:
                nb_alt = nb
            if [h[0] for h in nb_alt] != [h[0] for h in nb]:
                stats["walk"][K] += 1
                b_walk[K][i] = 1
            stats["cutalt"][K] += int(info["cut_alt_differs"])
            line.append(f"    beam{K} a={alpha}: {text(nb[0][0])}  [{nb[0][2]:.4f}"
                        + "".join(f", {h[2]:.4f}" for h in nb[1:]) + "]"
                        + ("  (cut at max_out)" if info["cut"] else ""))
        per_sent.append("\n".join(line))
        if not a.quiet:
            print(per_sent[-1], flush=True)

    tensors += [("max_out", max_outs), ("greedy_tie", g_tie), ("greedy_gap", g_gap)]
    for K, _ in beams:
        tensors += [(f"beam{K}_tie", b_tie[K]), (f"beam{K}_gap", b_gap[K]),
                    (f"beam{K}_cut", b_cut[K]), (f"beam{K}_walk", b_walk[K])]

    print("self-checks:")
    print(f"  greedy == beam K=1 (ids and score): {stats['k1']}/{n}")
    print(f"  greedy log-probs vs teacher forcing: max |diff| = {stats['glp']:.3e}")
    print(f"  n-best scores (raw and normalized) vs teacher forcing: "
          f"max |diff| = {stats['tf']:.3e}")
    tol = 1e-9 if a.dtype == "float64" else 1e-3
    ok &= stats["k1"] == n and stats["glp"] < tol and stats["tf"] < tol
    for K, alpha in beams:
        print(f"  beam{K} (alpha {alpha}): best != greedy on {stats['differs'][K]}/{n}; "
              f"ended at max_out on {stats['cut'][K]}/{n}; near-ties (< {a.tie_eps:g}) on "
              f"{stats['btie'][K]}; walking all 2K candidates would change the n-best on "
              f"{stats['walk'][K]}/{n}; keeping only K finished at max_out would change it "
              f"on {stats['cutalt'][K]}/{n}")
    print(f"  greedy near-ties (< {a.tie_eps:g}): {stats['gtie']}; smallest decision margin "
          f"anywhere: {stats['mingap']:.3e}")
    if not ok:
        print("SELF-CHECK FAILED", file=sys.stderr)
        sys.exit(1)
    if a.out:
        U, Fl, St = R.GGUF_V_U32, R.GGUF_V_F32, R.GGUF_V_STR
        kvs = [("decode.n_sources", U, n), ("decode.a", Fl, a.a), ("decode.b", Fl, a.b),
               ("decode.n_beams", U, len(beams)), ("decode.bos_id", U, BOS),
               ("decode.eos_id", U, EOS), ("decode.tie_eps", Fl, a.tie_eps),
               ("decode.dtype", St, a.dtype), ("decode.rules", St, a.rules),
               ("decode.model", St, os.path.basename(a.model))]
        for j, (K, alpha) in enumerate(beams):
            kvs += [(f"decode.beam.{j}.k", U, K), (f"decode.beam.{j}.alpha", Fl, alpha)]
        R.write_gguf(a.out, kvs, tensors)
        print(f"wrote {a.out}: {len(kvs)} keys, {len(tensors)} tensors, "
              f"{os.path.getsize(a.out)} bytes")


if __name__ == "__main__":
    main()
