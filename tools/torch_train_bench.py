#!/usr/bin/python3
# torch_train_bench.py — PyTorch's side of bench/train.sh: trains the MODEL.md network (float32,
# pre-norm, relu, sinusoidal positions, embeddings scaled by sqrt(D) and tied to the output
# layer, dropout 0.1, label smoothing 0.1, AdamW with petit's defaults, clipping at 1.0) on the
# same batches petit trains on, and prints the training speed in tokens per second.
#
# Same model: the parameters carry MODEL.md's names and shapes, checked against
# tools/torch_ref.py's table on every run; `--check` also compares this module's logits with
# torch_ref.forward on a tiny float64 model (dropout off). Dropout sits exactly where MODEL.md
# puts it (embeddings and each residual branch), not on attention probabilities.
#
# Same batches: the corpus is tokenized with the same SentencePiece model (spm_encode), pairs
# are filtered like petit's corpus loader (empty sides and sides longer than --max-len tokens
# dropped), and the epoch is built with petit's own algorithm and random numbers
# (src/train/data.c: splitmix64 shuffle, pools of 16384 sorted by length, greedy packing to at
# most --batch-tokens padded tokens, shuffled batch order), so step k of both engines sees the
# same sentences.
#
# Tokens counted as petit counts them: non-padding source tokens (EOS included) plus non-padding
# target tokens (EOS included), per second of wall time over the timed steps (setup, data and
# the warm-up steps excluded; batch tensors are built outside the timed region).
#
#     /usr/bin/python3 tools/torch_train_bench.py --src S --tgt T --vocab M.model \
#         --steps 30 --warmup-steps 3 --threads 2            # last line: one JSON object
#     /usr/bin/python3 tools/torch_train_bench.py --check    # model equals torch_ref's
#
# Debian's python3-torch (1.13) is enough; nothing to pip-install.

import argparse
import json
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

UNK, BOS, EOS, PAD = 0, 1, 2, 3
M64 = (1 << 64) - 1


# ---------------------------------------------------------------------------------------
# The model: MODEL.md, pre-norm, with MODEL.md's parameter names
# ---------------------------------------------------------------------------------------
def sinusoidal(n, D):
    t = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(D // 2, dtype=torch.float64)[None, :]
    ang = t / torch.pow(10000.0, 2.0 * i / D)
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=1)  # (n, D): sin half, cos half


class Attention(nn.Module):
    """Self-attention (qkv) or cross-attention (q from x, kv from mem); mask is additive."""

    def __init__(self, D, H, cross):
        super().__init__()
        self.H, self.cross = H, cross
        if cross:
            self.q = nn.Linear(D, D)
            self.kv = nn.Linear(D, 2 * D)
        else:
            self.qkv = nn.Linear(D, 3 * D)
        self.out = nn.Linear(D, D)

    def forward(self, x, mem, mask):
        B, Tq, D = x.shape
        H, dh = self.H, D // self.H
        if self.cross:
            q = self.q(x)
            k, v = self.kv(mem).chunk(2, dim=-1)
        else:
            q, k, v = self.qkv(x).chunk(3, dim=-1)
        Tk = k.shape[1]
        q = q.reshape(B, Tq, H, dh).transpose(1, 2)
        k = k.reshape(B, Tk, H, dh).transpose(1, 2)
        v = v.reshape(B, Tk, H, dh).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(dh)) + mask, dim=-1)
        return self.out((a @ v).transpose(1, 2).reshape(B, Tq, D))


class FFN(nn.Module):
    def __init__(self, D, Fd):
        super().__init__()
        self.up = nn.Linear(D, Fd)
        self.down = nn.Linear(Fd, D)

    def forward(self, x):
        return self.down(F.relu(self.up(x)))


class EncLayer(nn.Module):
    def __init__(self, D, H, Fd, p):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(D), Attention(D, H, False)
        self.ln2, self.ffn = nn.LayerNorm(D), FFN(D, Fd)
        self.p = p

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + F.dropout(self.attn(h, h, mask), self.p, self.training)
        return x + F.dropout(self.ffn(self.ln2(x)), self.p, self.training)


class DecLayer(nn.Module):
    def __init__(self, D, H, Fd, p):
        super().__init__()
        self.ln1, self.self = nn.LayerNorm(D), Attention(D, H, False)
        self.ln2, self.cross = nn.LayerNorm(D), Attention(D, H, True)
        self.ln3, self.ffn = nn.LayerNorm(D), FFN(D, Fd)
        self.p = p

    def forward(self, y, mem, self_mask, cross_mask):
        h = self.ln1(y)
        y = y + F.dropout(self.self(h, h, self_mask), self.p, self.training)
        y = y + F.dropout(self.cross(self.ln2(y), mem, cross_mask), self.p, self.training)
        return y + F.dropout(self.ffn(self.ln3(y)), self.p, self.training)


class Stack(nn.Module):
    """Layers named 0..L-1 plus the final LayerNorm `ln`: keys enc.{l}.* and enc.ln.*."""

    def __init__(self, layers, D):
        super().__init__()
        for l, layer in enumerate(layers):
            self.add_module(str(l), layer)
        self.n = len(layers)
        self.ln = nn.LayerNorm(D)

    def layer(self, l):
        return getattr(self, str(l))


class OutBias(nn.Module):
    def __init__(self, V):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(V))


class Transformer(nn.Module):
    def __init__(self, V, D, H, Fd, Le, Ld, P, dropout):
        super().__init__()
        self.D, self.p = D, dropout
        self.tok_emb = nn.Embedding(V, D)
        self.enc = Stack([EncLayer(D, H, Fd, dropout) for _ in range(Le)], D)
        self.dec = Stack([DecLayer(D, H, Fd, dropout) for _ in range(Ld)], D)
        self.out = OutBias(V)
        self.register_buffer("pe", sinusoidal(P, D).to(torch.get_default_dtype()), persistent=False)
        # MODEL.md's initialization: Xavier-uniform linears, N(0, D^-1/2) embedding, zero biases
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.tok_emb.weight, 0.0, D ** -0.5)

    def embed(self, ids):
        x = self.tok_emb(ids) * math.sqrt(self.D) + self.pe[: ids.shape[1]]
        return F.dropout(x, self.p, self.training)

    def forward(self, src, src_len, tgt_in):
        B, S = src.shape
        T = tgt_in.shape[1]
        neg = float("-inf")
        pad = torch.arange(S)[None, :] >= src_len[:, None]  # (B, S) True at padding
        key_mask = torch.zeros(B, 1, 1, S, dtype=self.pe.dtype).masked_fill(pad[:, None, None, :], neg)
        causal = torch.full((T, T), neg, dtype=self.pe.dtype).triu(1)[None, None]
        x = self.embed(src)
        for l in range(self.enc.n):
            x = self.enc.layer(l)(x, key_mask)
        mem = self.enc.ln(x)
        y = self.embed(tgt_in)
        for l in range(self.dec.n):
            y = self.dec.layer(l)(y, mem, causal, key_mask)
        return F.linear(self.dec.ln(y), self.tok_emb.weight, self.out.bias)


def check_names_and_shapes(model, V, D, Fd, Le, Ld, P):
    """The parameters must be MODEL.md's, as tools/torch_ref.py lists them."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    dtype = torch.get_default_dtype()
    import torch_ref  # sets float64 as the default dtype on import
    torch.set_default_dtype(dtype)
    c = {"V": V, "D": D, "F": Fd, "P": P, "Le": Le, "Ld": Ld, "norm": "pre", "pos": "sinusoidal"}
    want = {name: tuple(shape) for name, shape in torch_ref.param_shapes(c)}
    have = {name: tuple(p.shape) for name, p in model.named_parameters()}
    if want != have:
        missing = sorted(set(want) - set(have))[:5]
        extra = sorted(set(have) - set(want))[:5]
        wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])[:5]
        sys.exit(f"torch_train_bench: parameters differ from MODEL.md: missing {missing}, "
                 f"extra {extra}, wrong shape {wrong}")
    return sum(p.numel() for p in model.parameters())


def self_check():
    """Logits of this module equal torch_ref.forward's on a tiny float64 model."""
    torch.set_default_dtype(torch.float64)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_ref
    c = {"V": 37, "D": 16, "H": 4, "F": 24, "P": 32, "Le": 2, "Ld": 2, "norm": "pre", "pos": "sinusoidal",
         "act": "relu", "emb_scale": True}
    gen = torch.Generator().manual_seed(5)
    p = torch_ref.init_params(c, gen)
    m = Transformer(c["V"], c["D"], c["H"], c["F"], c["Le"], c["Ld"], c["P"], 0.1).eval()
    n = check_names_and_shapes(m, c["V"], c["D"], c["F"], c["Le"], c["Ld"], c["P"])
    with torch.no_grad():
        for name, t in m.named_parameters():
            t.copy_(p[name])
    src, src_len, tgt_in, tgt_out, _ = torch_ref.make_batch(c["V"], [5, 3, 1], [4, 6, 2], gen)
    with torch.no_grad():
        ref = torch_ref.forward(c, p, src, src_len, tgt_in)
        got = m(src, src_len, tgt_in)
        err = (got - ref).abs().max().item()
        lref = torch_ref.ls_loss(ref, tgt_out, 0.1).item()
        lgot = F.cross_entropy(got.reshape(-1, c["V"]), tgt_out.reshape(-1), ignore_index=PAD,
                               label_smoothing=0.1).item()
    ok = err < 1e-10 and abs(lref - lgot) < 1e-10
    print(f"check: {n} parameters as MODEL.md names them; max |logits - torch_ref| = {err:.2e}, "
          f"loss {lgot:.12f} vs {lref:.12f}: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------
# Data: petit's corpus filter and epoch builder (src/train/data.c), reproduced exactly
# ---------------------------------------------------------------------------------------
def spm_ids(model, path):
    with open(path, "rb") as f:
        raw = f.read()
    # petit reads CRLF files like LF files; spm_encode would keep the '\r'
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    text = b"\n".join(l[:-1] if l.endswith(b"\r") else l for l in lines) + b"\n"
    out = subprocess.run(["spm_encode", f"--model={model}", "--output_format=id"], input=text,
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    ids = [[int(t) for t in l.split()] for l in out.split("\n")[: len(lines)]]
    if len(ids) != len(lines):
        sys.exit(f"torch_train_bench: {path}: spm_encode returned {len(ids)} lines for {len(lines)}")
    return ids


def load_corpus(src_path, tgt_path, model, max_len):
    s, t = spm_ids(model, src_path), spm_ids(model, tgt_path)
    if len(s) != len(t):
        sys.exit(f"torch_train_bench: {src_path} and {tgt_path} have different line counts")
    pairs = [(a + [EOS], b) for a, b in zip(s, t)
             if a and b and len(a) + 1 <= max_len and len(b) + 1 <= max_len]
    return pairs


class SplitMix:
    """pt_rng (src/base/base.c)."""

    def __init__(self, s):
        self.s = s & M64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        return mix64(self.s)


def mix64(x):
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def hash_u64(x):
    return mix64((x + 0x9E3779B97F4A7C15) & M64)


def epoch_batches(pairs, max_tokens, seed, epoch):
    """pt_epoch_build(..., shuffle=1): lists of example indices, in training order."""
    n = len(pairs)
    order = list(range(n))
    r = SplitMix(hash_u64((seed * 0x9E3779B97F4A7C15 + epoch) & M64))
    for i in range(n - 1, 0, -1):
        j = r.next() % (i + 1)
        order[i], order[j] = order[j], order[i]
    S = [len(a) for a, _ in pairs]
    T = [len(b) + 1 for _, b in pairs]
    pool = 1 << 14
    for p in range(0, n, pool):
        order[p:p + pool] = sorted(order[p:p + pool], key=lambda i: (max(S[i], T[i]), i))
    batches = []
    for p in range(0, n, pool):
        end = min(n, p + pool)
        i = p
        while i < end:
            s = t = k = 0
            while i + k < end:
                ex = order[i + k]
                s2, t2 = max(s, S[ex]), max(t, T[ex])
                if k > 0 and (k + 1) * max(s2, t2) > max_tokens:
                    break
                s, t, k = s2, t2, k + 1
            batches.append(order[i:i + k])
            i += k
    for i in range(len(batches) - 1, 0, -1):
        j = r.next() % (i + 1)
        batches[i], batches[j] = batches[j], batches[i]
    return batches


def make_tensors(pairs, idx):
    """pt_batcher_make: src (B,S) with EOS, tgt_in = BOS + target, tgt_out = target + EOS."""
    B = len(idx)
    S = max(len(pairs[i][0]) for i in idx)
    T = max(len(pairs[i][1]) + 1 for i in idx)
    src = torch.full((B, S), PAD, dtype=torch.long)
    tgt_in = torch.full((B, T), PAD, dtype=torch.long)
    tgt_out = torch.full((B, T), PAD, dtype=torch.long)
    src_len = torch.zeros(B, dtype=torch.long)
    for b, i in enumerate(idx):
        a, t = pairs[i]
        src[b, : len(a)] = torch.tensor(a)
        src_len[b] = len(a)
        tgt_in[b, 0] = BOS
        tgt_in[b, 1: len(t) + 1] = torch.tensor(t)
        tgt_out[b, : len(t)] = torch.tensor(t)
        tgt_out[b, len(t)] = EOS
    tokens = int(src_len.sum()) + sum(len(pairs[i][1]) + 1 for i in idx)
    return src, src_len, tgt_in, tgt_out, tokens


def batch_stream(pairs, max_tokens, seed):
    epoch = 0
    while True:
        for idx in epoch_batches(pairs, max_tokens, seed, epoch):
            yield idx
        epoch += 1


# ---------------------------------------------------------------------------------------
# Training loop
# ---------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1] if __doc__ else None)
    ap.add_argument("--src"), ap.add_argument("--tgt"), ap.add_argument("--vocab")
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=1024)
    ap.add_argument("--enc-layers", type=int, default=6)
    ap.add_argument("--dec-layers", type=int, default=6)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--batch-tokens", type=int, default=5000)
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--warmup-steps", type=int, default=3, help="untimed steps before them")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=4000, help="learning-rate warm-up steps")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--quiet", action="store_true", help="no per-step lines on stderr")
    ap.add_argument("--check", action="store_true", help="compare the model with torch_ref and exit")
    a = ap.parse_args()
    if a.check:
        return self_check()
    if not (a.src and a.tgt and a.vocab):
        ap.error("--src, --tgt and --vocab are needed")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    pairs = load_corpus(a.src, a.tgt, a.vocab, a.max_len)
    top = max(max(max(s), max(t) if t else 0) for s, t in pairs)
    if top >= a.vocab_size:
        sys.exit(f"torch_train_bench: token id {top} >= --vocab-size {a.vocab_size}")
    t_data = time.perf_counter() - t0

    V, D = a.vocab_size, a.d_model
    model = Transformer(V, D, a.heads, a.ff, a.enc_layers, a.dec_layers, a.max_len, a.dropout)
    n_params = check_names_and_shapes(model, V, D, a.ff, a.enc_layers, a.dec_layers, a.max_len)
    model.train()
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": other, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-9)

    stream = batch_stream(pairs, a.batch_tokens, a.seed)
    timed_tokens, timed_secs, losses, step_ms = 0, 0.0, [], []
    for step in range(1, a.warmup_steps + a.steps + 1):
        src, src_len, tgt_in, tgt_out, tokens = make_tensors(pairs, next(stream))
        lr = a.lr * min(step / a.warmup, math.sqrt(a.warmup / step))
        for g in opt.param_groups:
            g["lr"] = lr
        t = time.perf_counter()
        logits = model(src, src_len, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1), ignore_index=PAD,
                               label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        dt = time.perf_counter() - t
        losses.append(loss.item())
        if step > a.warmup_steps:
            timed_tokens += tokens
            timed_secs += dt
            step_ms.append(dt * 1e3)
        if not a.quiet:
            print(f"torch step {step:4d}  B={src.shape[0]:3d} S={src.shape[1]:3d} T={tgt_in.shape[1]:3d}  "
                  f"loss {losses[-1]:.4f}  {tokens / dt:8.1f} tok/s  {dt * 1e3:7.1f} ms"
                  f"{'  (warm-up)' if step <= a.warmup_steps else ''}", file=sys.stderr, flush=True)

    step_ms.sort()
    res = {
        "tok_s": round(timed_tokens / timed_secs, 1) if timed_secs else 0.0,
        "steps": a.steps,
        "warmup_steps": a.warmup_steps,
        "tokens": timed_tokens,
        "seconds": round(timed_secs, 3),
        "median_step_ms": round(step_ms[len(step_ms) // 2], 1) if step_ms else 0.0,
        "params": n_params,
        "pairs": len(pairs),
        "data_s": round(t_data, 2),
        "loss_first": round(losses[0], 4),
        "loss_last": round(losses[-1], 4),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
