#!/usr/bin/python3
# torch_ref.py — the PyTorch reference that petit's C training engine is tested against.
#
# It builds the network of MODEL.md from its equations (plain tensor ops, float64, no
# nn.Transformer), draws tiny random weights and a padded batch, and writes GGUF v3
# fixtures holding the config, the initial weights, the batch, the logits, the loss, the
# gradients, and the loss trajectory and final weights of 10 AdamW steps on that batch.
# Before writing, it checks itself: finite-difference gradients, padding independence,
# and its hand-written loss/clipping/AdamW against PyTorch's own implementations.
#
# Regenerate the committed fixtures (tests/data/ref_pre.gguf, tests/data/ref_post.gguf)
# with Debian's Python, which ships torch and numpy (nothing to pip-install):
#
#     /usr/bin/python3 tools/torch_ref.py -o tests/data            # --seed 1234 is the default
#
# The output is deterministic for a given seed and torch version. Fixture layout: see
# tools/README.md.

import argparse
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

PAD, BOS, EOS, UNK = 3, 1, 2, 0

# ---------------------------------------------------------------------------------------
# GGUF v3 writer (little-endian)
# ---------------------------------------------------------------------------------------
GGUF_V_U32, GGUF_V_I32, GGUF_V_F32, GGUF_V_BOOL, GGUF_V_STR = 4, 5, 6, 7, 8
GGUF_T_F32, GGUF_T_I32 = 0, 26
ALIGN = 32


def _gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def write_gguf(path, kvs, tensors):
    """kvs: list of (key, vtype, value); tensors: list of (name, np.ndarray f32 or i32)."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
    for key, vt, val in kvs:
        out += _gstr(key) + struct.pack("<I", vt)
        if vt == GGUF_V_U32:
            out += struct.pack("<I", val)
        elif vt == GGUF_V_I32:
            out += struct.pack("<i", val)
        elif vt == GGUF_V_F32:
            out += struct.pack("<f", val)
        elif vt == GGUF_V_BOOL:
            out += struct.pack("<B", 1 if val else 0)
        elif vt == GGUF_V_STR:
            out += _gstr(val)
        else:
            raise ValueError(vt)
    data, offset = bytearray(), 0
    for name, arr in tensors:
        if arr.dtype == np.float32:
            tt, raw = GGUF_T_F32, arr.astype("<f4").tobytes()
        elif arr.dtype == np.int32:
            tt, raw = GGUF_T_I32, arr.astype("<i4").tobytes()
        else:
            raise ValueError(f"{name}: dtype {arr.dtype}")
        ne = list(reversed(arr.shape)) or [1]  # ne[0] = fastest-varying (row length)
        out += _gstr(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        out += struct.pack("<IQ", tt, offset)
        raw += b"\0" * (-len(raw) % ALIGN)
        data += raw
        offset += len(raw)
    out += b"\0" * (-len(out) % ALIGN)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(out + data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------
# The model (MODEL.md), functional over a dict name -> float64 tensor
# ---------------------------------------------------------------------------------------
def param_shapes(c):
    V, D, F, P = c["V"], c["D"], c["F"], c["P"]
    pre = c["norm"] == "pre"
    s = [("tok_emb.weight", (V, D))]
    if c["pos"] == "learned":
        s.append(("pos_emb.weight", (P, D)))

    def ln(p):
        return [(p + ".weight", (D,)), (p + ".bias", (D,))]

    def lin(p, o, i):
        return [(p + ".weight", (o, i)), (p + ".bias", (o,))]

    for l in range(c["Le"]):
        p = f"enc.{l}."
        s += ln(p + "ln1") + lin(p + "attn.qkv", 3 * D, D) + lin(p + "attn.out", D, D)
        s += ln(p + "ln2") + lin(p + "ffn.up", F, D) + lin(p + "ffn.down", D, F)
    if pre:
        s += ln("enc.ln")
    for l in range(c["Ld"]):
        p = f"dec.{l}."
        s += ln(p + "ln1") + lin(p + "self.qkv", 3 * D, D) + lin(p + "self.out", D, D)
        s += ln(p + "ln2") + lin(p + "cross.q", D, D) + lin(p + "cross.kv", 2 * D, D)
        s += lin(p + "cross.out", D, D)
        s += ln(p + "ln3") + lin(p + "ffn.up", F, D) + lin(p + "ffn.down", D, F)
    if pre:
        s += ln("dec.ln")
    s.append(("out.bias", (V,)))
    return s


def is_ln(name):
    return ".ln" in name or name.startswith("enc.ln") or name.startswith("dec.ln")


def init_params(c, gen):
    """Fixture weights (not petit's init): weights N(0, 0.3), biases N(0, 0.1),
    LN weight 1 + N(0, 0.1), LN bias N(0, 0.1). Rounded to float32 so the reference
    starts from exactly the weights stored in the file."""
    ps = {}
    for name, shape in param_shapes(c):
        r = torch.randn(shape, generator=gen, dtype=torch.float64)
        if len(shape) == 2:
            v = 0.3 * r
        elif is_ln(name) and name.endswith(".weight"):
            v = 1.0 + 0.1 * r
        else:
            v = 0.1 * r
        ps[name] = v.float().double()
    return ps


def sinusoidal(n, D):
    t = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(D // 2, dtype=torch.float64)[None, :]
    ang = t / torch.pow(10000.0, 2.0 * i / D)
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=1)  # (n, D): sin half, cos half


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)  # biased
    return (x - mu) / torch.sqrt(var + 1e-5) * w + b


def linear(x, w, b):
    return x @ w.t() + b


def act_fn(name):
    if name == "relu":
        return lambda x: torch.clamp(x, min=0.0)
    if name == "gelu":
        return lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name == "swish":
        return lambda x: x * torch.sigmoid(x)
    raise ValueError(name)


def attention(q_in, kv_in, Wq, bq, Wk, bk, Wv, bv, Wo, bo, allowed, H):
    """allowed: bool (B, Tq, Tk), or (B, H, Tq, Tk) for a per-head mask: True where key j
    may be attended by query i."""
    B, Tq, D = q_in.shape
    Tk = kv_in.shape[1]
    dh = D // H
    Q = linear(q_in, Wq, bq).view(B, Tq, H, dh).transpose(1, 2)
    K = linear(kv_in, Wk, bk).view(B, Tk, H, dh).transpose(1, 2)
    Vv = linear(kv_in, Wv, bv).view(B, Tk, H, dh).transpose(1, 2)
    sc = Q @ K.transpose(-1, -2) / math.sqrt(dh)  # (B, H, Tq, Tk)
    am = allowed if allowed.dim() == 4 else allowed[:, None, :, :]
    sc = sc.masked_fill(~am, float("-inf"))
    A = torch.softmax(sc, dim=-1)
    ctx = (A @ Vv).transpose(1, 2).reshape(B, Tq, D)
    return linear(ctx, Wo, bo)


def self_attn(p, pre, x, allowed, H):
    D = x.shape[-1]
    W, b = p[pre + ".qkv.weight"], p[pre + ".qkv.bias"]
    return attention(x, x, W[:D], b[:D], W[D:2 * D], b[D:2 * D], W[2 * D:], b[2 * D:],
                     p[pre + ".out.weight"], p[pre + ".out.bias"], allowed, H)


def cross_attn(p, pre, y, mem, allowed, H):
    D = y.shape[-1]
    W, b = p[pre + ".kv.weight"], p[pre + ".kv.bias"]
    return attention(y, mem, p[pre + ".q.weight"], p[pre + ".q.bias"], W[:D], b[:D], W[D:], b[D:],
                     p[pre + ".out.weight"], p[pre + ".out.bias"], allowed, H)


_ACT_INPUTS = None  # a list while act_margin() records the FFN pre-activations


def ffn(p, pre, x, act):
    u = linear(x, p[pre + ".up.weight"], p[pre + ".up.bias"])
    if _ACT_INPUTS is not None:
        _ACT_INPUTS.append(u.detach())
    h = act(u)
    return linear(h, p[pre + ".down.weight"], p[pre + ".down.bias"])


def dec_self_allowed(c, B, T):
    """The decoder self-attention mask, written from MODEL.md's definitions: causal, or
    multiaxis (per head: local i-W < j <= i; grid j <= i and (i-j) mod W = 0; the heads
    after the local and grid ones are causal). Applied to dense attention."""
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    causal = j <= i
    if c.get("dec_attn", "dense") == "dense":
        return causal[None].expand(B, T, T)
    W, nl, ng = c["window"], c["local_heads"], c["grid_heads"]
    local = causal & (i - W < j)
    grid = causal & ((i - j) % W == 0)
    heads = [local] * nl + [grid] * ng + [causal] * (c["H"] - nl - ng)
    return torch.stack(heads)[None].expand(B, c["H"], T, T)


def forward(c, p, src, src_len, tgt_in):
    """Returns logits (B, T, V). Dropout is 0 (the reference is deterministic)."""
    D, H = c["D"], c["H"]
    pre = c["norm"] == "pre"
    act = act_fn(c["act"])
    B, S = src.shape
    T = tgt_in.shape[1]
    E = p["tok_emb.weight"]
    scale = math.sqrt(D) if c["emb_scale"] else 1.0

    def embed(ids):
        n = ids.shape[1]
        pe = sinusoidal(n, D) if c["pos"] == "sinusoidal" else p["pos_emb.weight"][:n]
        return E[ids] * scale + pe[None]

    def ln(x, name):
        return layer_norm(x, p[name + ".weight"], p[name + ".bias"])

    src_ok = torch.arange(S)[None, :] < src_len[:, None]  # (B, S)
    enc_allowed = src_ok[:, None, :].expand(B, S, S)
    x = embed(src)
    for l in range(c["Le"]):
        q = f"enc.{l}"
        if pre:
            x = x + self_attn(p, q + ".attn", ln(x, q + ".ln1"), enc_allowed, H)
            x = x + ffn(p, q + ".ffn", ln(x, q + ".ln2"), act)
        else:
            x = ln(x + self_attn(p, q + ".attn", x, enc_allowed, H), q + ".ln1")
            x = ln(x + ffn(p, q + ".ffn", x, act), q + ".ln2")
    mem = ln(x, "enc.ln") if pre else x

    causal = dec_self_allowed(c, B, T)
    cross_allowed = src_ok[:, None, :].expand(B, T, S)
    y = embed(tgt_in)
    for l in range(c["Ld"]):
        q = f"dec.{l}"
        if pre:
            y = y + self_attn(p, q + ".self", ln(y, q + ".ln1"), causal, H)
            y = y + cross_attn(p, q + ".cross", ln(y, q + ".ln2"), mem, cross_allowed, H)
            y = y + ffn(p, q + ".ffn", ln(y, q + ".ln3"), act)
        else:
            y = ln(y + self_attn(p, q + ".self", y, causal, H), q + ".ln1")
            y = ln(y + cross_attn(p, q + ".cross", y, mem, cross_allowed, H), q + ".ln2")
            y = ln(y + ffn(p, q + ".ffn", y, act), q + ".ln3")
    h = ln(y, "dec.ln") if pre else y
    return h @ E.t() + p["out.bias"]


def ls_loss(logits, tgt_out, eps):
    """MODEL.md's label-smoothed CE, mean over non-PAD targets."""
    V = logits.shape[-1]
    lp = torch.log_softmax(logits, dim=-1)
    nll = -lp.gather(-1, tgt_out[..., None])[..., 0]
    smooth = -lp.sum(-1) / V
    tok = (1.0 - eps) * nll + eps * smooth
    keep = (tgt_out != PAD).to(logits.dtype)
    return (tok * keep).sum() / keep.sum()


def loss_of(c, p, batch):
    src, src_len, tgt_in, tgt_out, _ = batch
    return ls_loss(forward(c, p, src, src_len, tgt_in), tgt_out, c["ls"])


def act_margin(c, p, batch):
    """Smallest |FFN pre-activation| at non-padding positions: how far the batch stays from
    the relu kink (a float32 engine could land on the other side if this were tiny)."""
    global _ACT_INPUTS
    src, src_len, tgt_in, _, tgt_len = batch
    _ACT_INPUTS = []
    try:
        with torch.no_grad():
            forward(c, p, src, src_len, tgt_in)
        rec = _ACT_INPUTS
    finally:
        _ACT_INPUTS = None
    S, T = src.shape[1], tgt_in.shape[1]
    ok_s = torch.arange(S)[None, :] < src_len[:, None]
    ok_t = torch.arange(T)[None, :] < tgt_len[:, None]
    n_enc = c["Le"]
    return min(u[ok_s if i < n_enc else ok_t].abs().min().item() for i, u in enumerate(rec))


# ---------------------------------------------------------------------------------------
# Batch
# ---------------------------------------------------------------------------------------
def make_batch(V, src_lens, tgt_lens, gen):
    """src_lens include EOS; tgt_lens count tgt_out tokens including EOS."""
    B, S, T = len(src_lens), max(src_lens), max(tgt_lens)
    src = torch.full((B, S), PAD, dtype=torch.long)
    tgt_in = torch.full((B, T), PAD, dtype=torch.long)
    tgt_out = torch.full((B, T), PAD, dtype=torch.long)
    for b in range(B):
        w = torch.randint(4, V, (src_lens[b] - 1,), generator=gen)
        src[b, :src_lens[b] - 1] = w
        src[b, src_lens[b] - 1] = EOS
        t = torch.randint(4, V, (tgt_lens[b] - 1,), generator=gen)
        tgt_in[b, 0] = BOS
        tgt_in[b, 1:tgt_lens[b]] = t
        tgt_out[b, :tgt_lens[b] - 1] = t
        tgt_out[b, tgt_lens[b] - 1] = EOS
    return (src, torch.tensor(src_lens), tgt_in, tgt_out, torch.tensor(tgt_lens))


# ---------------------------------------------------------------------------------------
# Training: clip_grad_norm_ + AdamW (decay on 2-D params only) + inv_sqrt schedule
# ---------------------------------------------------------------------------------------
def lr_at(c, s):
    return c["lr"] * min(s / c["warmup"], math.sqrt(c["warmup"] / s))


def grads_at(c, p, batch):
    q = {k: v.detach().clone().requires_grad_(True) for k, v in p.items()}
    L = loss_of(c, q, batch)
    L.backward()
    return L.item(), {k: v.grad.detach().clone() for k, v in q.items()}


def train_manual(c, p0, batch):
    """MODEL.md's optimizer written out by hand."""
    p = {k: v.clone() for k, v in p0.items()}
    m = {k: torch.zeros_like(v) for k, v in p.items()}
    v2 = {k: torch.zeros_like(v) for k, v in p.items()}
    b1, b2, eps, wd = c["beta1"], c["beta2"], c["adam_eps"], c["wd"]
    traj, norms, margins = [], [], []
    for s in range(1, c["steps"] + 1):
        margins.append(act_margin(c, p, batch))
        L, g = grads_at(c, p, batch)
        traj.append(L)
        norm = math.sqrt(sum(float((x * x).sum()) for x in g.values()))
        norms.append(norm)
        coef = c["clip"] / (norm + 1e-6)
        if coef < 1.0:
            g = {k: x * coef for k, x in g.items()}
        lr = lr_at(c, s)
        for k in p:
            if p[k].dim() == 2:
                p[k] = p[k] * (1.0 - lr * wd)
            m[k] = b1 * m[k] + (1.0 - b1) * g[k]
            v2[k] = b2 * v2[k] + (1.0 - b2) * g[k] * g[k]
            # = p - lr * m_hat / (sqrt(v_hat) + eps), in torch.optim.AdamW's operation order
            denom = torch.sqrt(v2[k]) / math.sqrt(1.0 - b2 ** s) + eps
            p[k] = p[k] - (lr / (1.0 - b1 ** s)) * (m[k] / denom)
    return traj, norms, margins, p


def train_torch(c, p0, batch):
    """The same with torch.optim.AdamW, clip_grad_norm_ and LambdaLR (cross-check)."""
    q = {k: v.clone().requires_grad_(True) for k, v in p0.items()}
    groups = [{"params": [v for v in q.values() if v.dim() == 2], "weight_decay": c["wd"]},
              {"params": [v for v in q.values() if v.dim() != 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["adam_eps"])
    sch = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: lr_at(c, i + 1) / c["lr"])
    traj = []
    for _ in range(c["steps"]):
        opt.zero_grad()
        L = loss_of(c, q, batch)
        traj.append(L.item())
        L.backward()
        torch.nn.utils.clip_grad_norm_(list(q.values()), c["clip"])
        opt.step()
        sch.step()
    return traj, {k: v.detach() for k, v in q.items()}


# ---------------------------------------------------------------------------------------
# Self-checks
# ---------------------------------------------------------------------------------------
def key_bias_mask(name, D, shape):
    """The key biases (qkv.bias rows [D,2D), cross.kv.bias rows [0,D)): adding a constant
    to every key shifts each query's scores by a constant, so their gradient is exactly 0
    and only rounding noise reaches Adam."""
    m = torch.zeros(shape, dtype=torch.bool)
    if name.endswith("qkv.bias"):
        m[D:2 * D] = True
    elif name.endswith("cross.kv.bias"):
        m[:D] = True
    return m


def check_fd(c, p, batch, grads, gen, per_param=6, h=1e-6):
    """Central finite differences on sampled entries of several parameters."""
    names = [n for n in p if n in (
        "tok_emb.weight", "pos_emb.weight", "enc.0.attn.qkv.weight", "enc.1.ffn.down.bias",
        "enc.ln.weight", "enc.1.ln2.weight", "dec.0.self.qkv.bias", "dec.1.cross.kv.weight",
        "dec.0.cross.q.weight", "dec.1.ffn.up.weight", "dec.1.ln3.bias", "dec.ln.bias",
        "out.bias")]
    worst_rel, worst_abs, n = 0.0, 0.0, 0  # rel err over entries with |grad| >= 1e-3
    for name in names:
        flat = p[name].reshape(-1)
        idx = torch.randperm(flat.numel(), generator=gen)[:per_param]
        for i in idx.tolist():
            q = dict(p)
            qp, qm = flat.clone(), flat.clone()
            qp[i] += h
            qm[i] -= h
            q[name] = qp.view_as(p[name])
            Lp = loss_of(c, q, batch).item()
            q[name] = qm.view_as(p[name])
            Lm = loss_of(c, q, batch).item()
            fd = (Lp - Lm) / (2 * h)
            ag = grads[name].reshape(-1)[i].item()
            err = abs(fd - ag)
            worst_abs = max(worst_abs, err)
            if max(abs(fd), abs(ag)) >= 1e-3:
                worst_rel = max(worst_rel, err / max(abs(fd), abs(ag)))
            n += 1
    return worst_rel, worst_abs, n, len(names)


def check_padding(c, p, batch, logits):
    """Each sentence alone, unpadded, must give the same logits at its valid positions."""
    src, src_len, tgt_in, _, tgt_len = batch
    worst = 0.0
    for b in range(src.shape[0]):
        s, t = int(src_len[b]), int(tgt_len[b])
        alone = forward(c, p, src[b:b + 1, :s], src_len[b:b + 1], tgt_in[b:b + 1, :t])
        worst = max(worst, (alone[0] - logits[b, :t]).abs().max().item())
    return worst


# ---------------------------------------------------------------------------------------
# One fixture
# ---------------------------------------------------------------------------------------
def build(c, seed, path):
    gen = torch.Generator().manual_seed(seed)
    p = init_params(c, gen)
    batch = make_batch(c["V"], c["src_lens"], c["tgt_lens"], gen)
    src, src_len, tgt_in, tgt_out, tgt_len = batch

    with torch.no_grad():
        logits = forward(c, p, src, src_len, tgt_in)
        loss = ls_loss(logits, tgt_out, c["ls"]).item()
        loss_pt = torch.nn.functional.cross_entropy(
            logits.reshape(-1, c["V"]), tgt_out.reshape(-1), ignore_index=PAD,
            label_smoothing=c["ls"]).item()
    L, grads = grads_at(c, p, batch)
    traj, norms, margins, final = train_manual(c, p, batch)
    traj_pt, final_pt = train_torch(c, p, batch)

    tag = os.path.basename(path)
    print(f"== {tag}: norm={c['norm']} act={c['act']} pos={c['pos']} emb_scale={c['emb_scale']} "
          f"ls={c['ls']} clip={c['clip']} wd={c['wd']} dec_attn={c.get('dec_attn', 'dense')}")
    print(f"  loss            {loss:.10f}")
    print("  traj            " + " ".join(f"{x:.6f}" for x in traj))
    print("  grad norms      " + " ".join(f"{x:.4f}" for x in norms))
    print(f"  clipping        {'active' if any(x > c['clip'] for x in norms) else 'inactive'}"
          f" ({sum(x > c['clip'] for x in norms)}/{len(norms)} steps)")
    print(f"  min |FFN pre-activation| at valid positions over the {c['steps']} steps: "
          f"{min(margins):.3e} (initial {margins[0]:.3e})")
    checks = [L == loss == traj[0]]
    d_ce = abs(loss - loss_pt)
    print(f"  check loss vs F.cross_entropy       |diff| = {d_ce:.3e}")
    checks.append(d_ce < 1e-12)
    rel, ab, n, k = check_fd(c, p, batch, grads, gen)
    print(f"  check finite differences ({n} entries of {k} params, h=1e-6): "
          f"max rel err = {rel:.3e} (|g| >= 1e-3), max abs err = {ab:.3e}")
    checks.append(rel < 1e-5 and ab < 1e-8)
    dpad = check_padding(c, p, batch, logits)
    print(f"  check padding: each sentence alone, unpadded: max |logit diff| = {dpad:.3e}")
    checks.append(dpad < 1e-12)
    dtr = max(abs(a - b) for a, b in zip(traj, traj_pt))
    kb = {k: key_bias_mask(k, c["D"], final[k].shape) for k in final}
    dfi = max((final[k] - final_pt[k])[~kb[k]].abs().max().item() for k in final)
    dkb = max([(final[k] - p[k])[kb[k]].abs().max().item() for k in final if kb[k].any()])
    gkb = max([grads[k][kb[k]].abs().max().item() for k in final if kb[k].any()])
    print(f"  check hand AdamW vs torch.optim.AdamW: max |traj diff| = {dtr:.3e}, "
          f"max |final diff| = {dfi:.3e} (key biases excluded)")
    print(f"  key biases (gradient analytically 0): max |grad| = {gkb:.3e}, "
          f"max |final - initial| = {dkb:.3e}")
    checks.append(dtr < 1e-12 and dfi < 1e-12 and gkb < 1e-14 and dkb < 1e-9)
    if not all(checks):
        print("  SELF-CHECK FAILED", file=sys.stderr)
        return False

    U, Fl, Bo, St = GGUF_V_U32, GGUF_V_F32, GGUF_V_BOOL, GGUF_V_STR
    kvs = [
        ("petit.vocab_size", U, c["V"]), ("petit.d_model", U, c["D"]),
        ("petit.n_heads", U, c["H"]), ("petit.d_ff", U, c["F"]),
        ("petit.enc_layers", U, c["Le"]), ("petit.dec_layers", U, c["Ld"]),
        ("petit.max_len", U, c["P"]),
        ("petit.norm", St, c["norm"]), ("petit.act", St, c["act"]), ("petit.pos", St, c["pos"]),
        ("petit.emb_scale", Bo, c["emb_scale"]),
    ] + ([("petit.dec_attn", St, "multiaxis"), ("petit.attn_window", U, c["window"]), ("petit.local_heads", U, c["local_heads"]),
          ("petit.grid_heads", U, c["grid_heads"])] if c.get("dec_attn") == "multiaxis" else []) + [
        ("petit.pad_id", U, PAD), ("petit.bos_id", U, BOS), ("petit.eos_id", U, EOS),
        ("ref.label_smoothing", Fl, c["ls"]), ("ref.lr", Fl, c["lr"]),
        ("ref.weight_decay", Fl, c["wd"]), ("ref.beta1", Fl, c["beta1"]),
        ("ref.beta2", Fl, c["beta2"]), ("ref.adam_eps", Fl, c["adam_eps"]),
        ("ref.clip", Fl, c["clip"]), ("ref.warmup", U, c["warmup"]),
        ("ref.steps", U, c["steps"]), ("ref.schedule", St, "inv_sqrt"),
        ("ref.seed", U, seed),
    ]

    def f32(t):
        return np.ascontiguousarray(t.detach().numpy().astype(np.float32))

    def i32(t):
        return np.ascontiguousarray(t.numpy().astype(np.int32))

    names = [n for n, _ in param_shapes(c)]
    tensors = [("param." + n, f32(p[n])) for n in names]
    tensors += [("src", i32(src)), ("src_len", i32(src_len)), ("tgt_in", i32(tgt_in)),
                ("tgt_out", i32(tgt_out)), ("tgt_len", i32(tgt_len)),
                ("logits", f32(logits)), ("loss", np.array([loss], dtype=np.float32))]
    tensors += [("grad." + n, f32(grads[n])) for n in names]
    tensors += [("traj", np.array(traj, dtype=np.float32)),
                ("gnorm", np.array(norms, dtype=np.float32))]
    tensors += [("final." + n, f32(final[n])) for n in names]
    write_gguf(path, kvs, tensors)
    print(f"  wrote {path}: {len(kvs)} keys, {len(tensors)} tensors, {os.path.getsize(path)} bytes")
    return True


BASE = dict(V=40, D=16, H=2, F=24, Le=2, Ld=2, P=16,
            src_lens=[5, 7, 3], tgt_lens=[6, 2, 4],
            lr=3e-3, beta1=0.9, beta2=0.98, adam_eps=1e-8, warmup=4, steps=10)

CONFIGS = [
    ("ref_pre.gguf", dict(BASE, norm="pre", act="relu", pos="sinusoidal", emb_scale=True,
                          ls=0.1, wd=0.1, clip=100.0)),
    ("ref_post.gguf", dict(BASE, norm="post", act="gelu", pos="learned", emb_scale=False,
                           ls=0.0, wd=0.01, clip=0.5)),
    # the multiaxis decoder: 4 heads (1 local, 2 grid, 1 dense), W = 2, targets up to 9
    # positions so the window and the grid stride both bite
    ("ref_multiaxis.gguf", dict(BASE, H=4, tgt_lens=[9, 2, 5], norm="pre", act="relu",
                                pos="sinusoidal", emb_scale=True, ls=0.1, wd=0.1, clip=100.0,
                                dec_attn="multiaxis", window=2, local_heads=1, grid_heads=2)),
]


def main():
    ap = argparse.ArgumentParser(description="Write petit's PyTorch reference fixtures.")
    ap.add_argument("-o", dest="out", default="tests/data", help="output directory")
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    ok = True
    for i, (fname, c) in enumerate(CONFIGS):
        ok &= build(c, a.seed + i, os.path.join(a.out, fname))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
