#!/usr/bin/python3
# kd_ref.py — the PyTorch reference for petit's distillation loss (nn_kd_backward) and the
# teacher's targets (nn_soft_targets).
#
# Draws student and teacher logits, labels (one row PAD), and for each setting (top-k, tau,
# alpha, label smoothing) computes with PyTorch's own functions, in float64:
#   teacher targets  p = softmax(topk(z_t) / tau) renormalized over the top k (all: k = V)
#   loss  = (1 - alpha) * F.cross_entropy(z, y, label_smoothing=eps, reduction="sum")
#         + alpha * tau^2 * F.kl_div(log_softmax(z / tau) at the kept ids, p, reduction="sum")
#   grad  = d loss / d z by autograd
# and writes them to tests/data/kd_ref.gguf. Regenerate with Debian's Python (torch, numpy):
#
#     /usr/bin/python3 tools/kd_ref.py -o tests/data
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ref import GGUF_V_F32, GGUF_V_U32, write_gguf  # noqa: E402

torch.set_default_dtype(torch.float64)
PAD = 3
SETTINGS = [  # (k, tau, alpha, eps); k = 0: the whole distribution
    (8, 1.0, 0.5, 0.1),
    (0, 2.0, 0.7, 0.0),
    (5, 0.5, 1.0, 0.1),
    (0, 1.0, 0.0, 0.1),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-o", "--out", default="tests/data")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    g = torch.Generator().manual_seed(args.seed)
    N, V = 6, 37
    z = (torch.randn(N, V, generator=g) * 2.0).float().double()   # float32-exact values
    zt = (torch.randn(N, V, generator=g) * 3.0).float().double()
    y = torch.randint(4, V, (N,), generator=g)
    y[2] = PAD
    tensors = [("logits", z.numpy().astype(np.float32)), ("teacher_logits", zt.numpy().astype(np.float32)),
               ("labels", y.numpy().astype(np.int32))]
    kvs = [("kd.n", GGUF_V_U32, N), ("kd.vocab", GGUF_V_U32, V), ("kd.pad", GGUF_V_U32, PAD),
           ("kd.settings", GGUF_V_U32, len(SETTINGS))]
    keep = y != PAD
    for s, (k, tau, alpha, eps) in enumerate(SETTINGS):
        kk = V if k == 0 else k
        top = torch.topk(zt, kk, dim=1)
        ids = top.indices if k else torch.arange(V).expand(N, V)
        p = torch.softmax(top.values / tau if k else zt / tau, dim=1)
        x = z.clone().requires_grad_(True)
        ce = F.cross_entropy(x[keep], y[keep], label_smoothing=eps, reduction="sum")
        logq = torch.log_softmax(x / tau, dim=1).gather(1, ids)
        kl = F.kl_div(logq[keep], p[keep], reduction="sum")
        loss = (1 - alpha) * ce + alpha * tau * tau * kl
        loss.backward()
        kvs += [(f"kd.{s}.k", GGUF_V_U32, k), (f"kd.{s}.tau", GGUF_V_F32, tau),
                (f"kd.{s}.alpha", GGUF_V_F32, alpha), (f"kd.{s}.eps", GGUF_V_F32, eps),
                (f"kd.{s}.loss", GGUF_V_F32, float(loss))]
        tensors += [(f"kd.{s}.p", p.numpy().astype(np.float32)), (f"kd.{s}.grad", x.grad.numpy().astype(np.float32))]
        if k:
            tensors.append((f"kd.{s}.ids", ids.numpy().astype(np.int32)))
        print(f"setting {s}: k={k} tau={tau} alpha={alpha} eps={eps} loss={float(loss):.6f}")
    path = os.path.join(args.out, "kd_ref.gguf")
    write_gguf(path, kvs, tensors)
    print("wrote", path)


if __name__ == "__main__":
    main()
