#!/usr/bin/python3
# torch_translate.py — a fast PyTorch fp32 translation engine for petit model files, used
# as a speed peer of petit's C decoder in benchmarks (petit itself never runs it).
#
# The network is MODEL.md's (tools/torch_ref.py), the decoding rules MODEL.md's "Decoding"
# section (tools/torch_decode_ref.py is the slow exact reference), but the engine is written
# the way a production one is: sentences sorted by length and batched; the encoder run once
# per batch with a key-padding mask; cross-attention K/V computed once per batch and shared
# by a sentence's beams; incremental decoding with per-layer self-attention K/V caches
# reordered with index_select; finished sentences dropped from the batch.
#
#     /usr/bin/python3 tools/torch_translate.py MODEL.gguf [--beam 4] [--batch 32] \
#         [--threads 2] [--alpha 1.0] [--max-len-a 2.0] [--max-len-b 10.0] < src.ids > out.ids
#
# stdin: one source per line, space-separated ids WITHOUT the final EOS (appended here; an
# empty line is an empty source, decoded from EOS alone; more than max_len - 1 ids are cut
# there, as in MODEL.md). stdout: the best hypothesis's ids per input line, in input order,
# without BOS and EOS (--beam 1 is greedy). At the end, one JSON line on stderr: sentences,
# tokens_out (best hypotheses' tokens, EOS counted where emitted), seconds (decoding only)
# and load_seconds.

import argparse
import ctypes
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ref as R  # noqa: E402  (sets float64 as torch's default dtype: reset below)
from torch_decode_ref import BOS, EOS, PAD, config_of, max_out_of, read_gguf  # noqa: E402

torch.set_default_dtype(torch.float32)
NEG_INF = float("-inf")


class Engine:
    def __init__(self, path):
        kv, ts = read_gguf(path)
        c = self.c = config_of(kv)
        self.p = {}
        for name, shape in R.param_shapes(c):
            if name not in ts or tuple(ts[name].shape) != tuple(shape):
                raise ValueError(f"{path}: tensor {name} missing or not of shape {shape}")
            self.p[name] = torch.from_numpy(np.ascontiguousarray(ts[name], dtype=np.float32))
        self.D, self.H = c["D"], c["H"]
        self.dh = self.D // self.H
        self.pre = c["norm"] == "pre"
        self.act = {"relu": torch.relu, "gelu": F.gelu, "swish": F.silu}[c["act"]]
        self.emb_scale = math.sqrt(self.D) if c["emb_scale"] else 1.0
        self.pos = (R.sinusoidal(c["P"], self.D).float() if c["pos"] == "sinusoidal"
                    else self.p["pos_emb.weight"])

    # -- building blocks ---------------------------------------------------------------
    def lin(self, x, name):
        return F.linear(x, self.p[name + ".weight"], self.p[name + ".bias"])

    def ln(self, x, name):
        return F.layer_norm(x, (self.D,), self.p[name + ".weight"], self.p[name + ".bias"], 1e-5)

    def ffn(self, x, name):
        return self.lin(self.act(self.lin(x, name + ".up")), name + ".down")

    def sublayer(self, x, name, f):
        """Pre-norm: x + f(LN(x)); post-norm: LN(x + f(x))."""
        return x + f(self.ln(x, name)) if self.pre else self.ln(x + f(x), name)

    def attend(self, q, k, v, bias=None):
        """q (.., Tq, dh), k/v (.., Tk, dh); bias broadcast onto the (.., Tq, Tk) scores."""
        sc = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dh))
        if bias is not None:
            sc = sc + bias
        return torch.matmul(torch.softmax(sc, dim=-1), v)

    def attend_few(self, q, k, v, bias=None):
        """attend() for a few queries (decoder steps): broadcast multiply-and-sum instead of
        matmul, whose CPU bmm loops over the batch of tiny matrices (several times slower
        here with Debian's torch + OpenBLAS)."""
        sc = (q.unsqueeze(-2) * k.unsqueeze(-3)).sum(-1) * (1.0 / math.sqrt(self.dh))
        if bias is not None:
            sc = sc + bias
        return (torch.softmax(sc, dim=-1).unsqueeze(-1) * v.unsqueeze(-3)).sum(-2)

    def embed(self, ids, pos):
        return self.p["tok_emb.weight"][ids] * self.emb_scale + self.pos[pos]

    # -- encoder, once per batch ---------------------------------------------------------
    def encode(self, src, src_len):
        """src (B, S) padded with PAD. Returns the additive key mask (B, 1, 1, S) and, per
        decoder layer, the cross-attention keys and values (B, H, S, dh)."""
        B, S = src.shape
        H, dh = self.H, self.dh
        bias = torch.zeros(B, 1, 1, S).masked_fill(
            (torch.arange(S)[None, :] >= src_len[:, None])[:, None, None, :], NEG_INF)
        x = self.embed(src, torch.arange(S)[None, :])

        def self_attn(h, q):
            qkv = self.lin(h, q + ".attn.qkv").view(B, S, 3, H, dh).permute(2, 0, 3, 1, 4)
            ctx = self.attend(qkv[0], qkv[1], qkv[2], bias)
            return self.lin(ctx.transpose(1, 2).reshape(B, S, self.D), q + ".attn.out")

        for l in range(self.c["Le"]):
            q = f"enc.{l}"
            x = self.sublayer(x, q + ".ln1", lambda h: self_attn(h, q))
            x = self.sublayer(x, q + ".ln2", lambda h: self.ffn(h, q + ".ffn"))
        mem = self.ln(x, "enc.ln") if self.pre else x
        cross = []
        for l in range(self.c["Ld"]):
            kv = self.lin(mem, f"dec.{l}.cross.kv").view(B, S, 2, H, dh).permute(2, 0, 3, 1, 4)
            cross.append((kv[0].contiguous(), kv[1].contiguous()))
        return bias, cross

    # -- one incremental decoder step ----------------------------------------------------
    def step(self, tok, t, cache, cross, bias, K):
        """tok (N*K,): the tokens at position t, rows sentence-major (n*K + k). cache: per
        layer [keys, values] of shape (N*K, H, t, dh), extended in place by this step.
        Returns the next-token log-probabilities (N*K, V)."""
        R_, H, dh, D = tok.shape[0], self.H, self.dh, self.D
        N = R_ // K
        x = self.embed(tok, t)

        def self_attn(h, q, kc):
            qkv = self.lin(h, q + ".self.qkv").view(R_, 3, H, 1, dh)
            kc[0] = torch.cat([kc[0], qkv[:, 1]], dim=2) if kc[0] is not None else qkv[:, 1]
            kc[1] = torch.cat([kc[1], qkv[:, 2]], dim=2) if kc[1] is not None else qkv[:, 2]
            return self.lin(self.attend_few(qkv[:, 0], kc[0], kc[1]).view(R_, D), q + ".self.out")

        def cross_attn(h, q, ck, cv):
            # the K beams of a sentence are K queries against the sentence's one memory
            qq = self.lin(h, q + ".cross.q").view(N, K, H, dh).transpose(1, 2)
            ctx = self.attend_few(qq, ck, cv, bias)  # (N, H, K, dh)
            return self.lin(ctx.transpose(1, 2).reshape(R_, D), q + ".cross.out")

        for l in range(self.c["Ld"]):
            q = f"dec.{l}"
            x = self.sublayer(x, q + ".ln1", lambda h: self_attn(h, q, cache[l]))
            x = self.sublayer(x, q + ".ln2", lambda h: cross_attn(h, q, *cross[l]))
            x = self.sublayer(x, q + ".ln3", lambda h: self.ffn(h, q + ".ffn"))
        h = self.ln(x, "dec.ln") if self.pre else x
        logits = F.linear(h, self.p["tok_emb.weight"], self.p["out.bias"])
        return torch.log_softmax(logits, dim=-1)

    # -- beam search over a batch (K = 1 is greedy) --------------------------------------
    def translate_batch(self, srcs, K, alpha, a, b):
        """srcs: id lists ending with EOS. Returns the best hypothesis of each (tokens,
        with the final EOS when one was emitted), by MODEL.md's beam search rules."""
        B, V = len(srcs), self.c["V"]
        S = max(len(s) for s in srcs)
        src = torch.full((B, S), PAD, dtype=torch.long)
        for i, s in enumerate(srcs):
            src[i, :len(s)] = torch.tensor(s)
        bias, cross = self.encode(src, torch.tensor([len(s) for s in srcs]))
        max_out = torch.tensor([max_out_of(self.c, len(s), a, b) for s in srcs])
        sid = torch.arange(B)  # batch index of each active sentence
        finished = [[] for _ in range(B)]  # (tokens, normalized score), in finishing order
        scores = torch.full((B, K), NEG_INF)
        scores[:, 0] = 0.0  # one live hypothesis at t = 0 (the others can never be picked)
        tok = torch.full((B * K,), BOS, dtype=torch.long)
        hist = torch.zeros((B * K, 0), dtype=torch.long)
        cache = [[None, None] for _ in range(self.c["Ld"])]
        arangeK2 = torch.arange(2 * K)
        t = 0
        while sid.numel():
            N = sid.numel()
            lp = self.step(tok, t, cache, cross, bias, K)
            cand = (scores[:, :, None] + lp.view(N, K, V)).view(N, K * V)
            top_s, top_i = cand.topk(2 * K, dim=1)  # the 2K best, decreasing
            beam, top_tok = top_i // V, top_i % V
            is_eos = top_tok == EOS
            live = (~is_eos).long()
            # the walk stops at the K-th live candidate: it reaches the candidates with
            # fewer than K live ones before them; there are always K live among the 2K
            reached = (torch.cumsum(live, dim=1) - live) < K
            first_live = torch.where(reached & ~is_eos, arangeK2, arangeK2 + 2 * K)
            order = first_live.argsort(dim=1)[:, :K]  # the K live, in walk order
            scores = top_s.gather(1, order)
            tok = top_tok.gather(1, order).view(-1)
            parent = (beam.gather(1, order) + torch.arange(N)[:, None] * K).view(-1)
            norm = float(t + 1) ** alpha
            done = torch.zeros(N, dtype=torch.bool)
            eos_met = reached & is_eos
            if eos_met.any():
                for n, j in eos_met.nonzero().tolist():
                    f = finished[int(sid[n])]
                    if len(f) < K:
                        toks = hist[n * K + beam[n, j]].tolist() + [EOS]
                        f.append((toks, top_s[n, j].item() / norm))
                        done[n] = len(f) >= K
            hist = torch.cat([hist.index_select(0, parent), tok[:, None]], dim=1)
            cut = (max_out == t + 1) & ~done
            if cut.any():  # t + 1 = max_out: the live hypotheses finish as they are
                for n in cut.nonzero().view(-1).tolist():
                    finished[int(sid[n])] += [(hist[n * K + k].tolist(), scores[n, k].item() / norm)
                                              for k in range(K)]
                done |= cut
            if done.any():  # drop the finished sentences from the batch
                keep = (~done).nonzero().view(-1)
                rows = (keep[:, None] * K + torch.arange(K)).view(-1)
                sid, max_out, scores = sid[keep], max_out[keep], scores[keep]
                tok, hist, parent = tok[rows], hist[rows], parent[rows]
                bias = bias.index_select(0, keep)
                cross = [(ck.index_select(0, keep), cv.index_select(0, keep)) for ck, cv in cross]
            for kc in cache:
                kc[0], kc[1] = kc[0].index_select(0, parent), kc[1].index_select(0, parent)
            t += 1
        # best by normalized score; ties: earlier finished first (sorted is stable)
        return [sorted(f, key=lambda h: -h[1])[0][0] for f in finished]


def main():
    ap = argparse.ArgumentParser(description="Fast PyTorch fp32 translation of ids with a "
                                 "petit model (a benchmark peer).")
    ap.add_argument("model")
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--alpha", type=float, default=1.0, help="length penalty")
    ap.add_argument("--max-len-a", type=float, default=2.0)
    ap.add_argument("--max-len-b", type=float, default=10.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:  # Debian's torch calls OpenBLAS, whose own thread pool set_num_threads leaves alone
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(args.threads)
    except (OSError, AttributeError):
        pass

    t0 = time.perf_counter()
    eng = Engine(args.model)
    load_s = time.perf_counter() - t0
    P = eng.c["P"]
    srcs = [[int(x) for x in line.split()][:P - 1] + [EOS] for line in sys.stdin]

    t0 = time.perf_counter()
    out, n_tok = [None] * len(srcs), 0
    order = sorted(range(len(srcs)), key=lambda i: -len(srcs[i]))
    with torch.inference_mode():
        for i in range(0, len(order), args.batch):
            idx = order[i:i + args.batch]
            best = eng.translate_batch([srcs[j] for j in idx], args.beam, args.alpha,
                                       args.max_len_a, args.max_len_b)
            for j, toks in zip(idx, best):
                out[j] = toks
                n_tok += len(toks)
    secs = time.perf_counter() - t0

    sys.stdout.write("".join(" ".join(map(str, o[:-1] if o and o[-1] == EOS else o)) + "\n"
                             for o in out))
    sys.stdout.flush()
    print(json.dumps(dict(sentences=len(srcs), tokens_out=n_tok, seconds=round(secs, 4),
                          load_seconds=round(load_s, 4))), file=sys.stderr)


if __name__ == "__main__":
    main()
