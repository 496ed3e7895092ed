"""The batched forward and backward pass behind :func:`overparam.train.train`: per-seed loss and gradient.

The fast path keeps every activation feature-major and seed-first, ``(S, features, N)``. When all seeds
share ``x`` (``(N, in)``), the first layer of all S students is ONE matrix product,
``(S*h1, in) @ (in, N)``, and its weight gradient another, ``(S*h1, N) @ (N, in)``; later layers are
batched over seeds (``bmm``/``baddbmm``). Temporaries live in buffers reused from step to step
(float64 buffers reallocated each step cost page faults, DESIGN §6). Seeds are processed in chunks
whose largest temporary is about ``chunk_bytes`` (default 2 MiB, or ``OVERPARAM_CHUNK_BYTES``).

Masks (1 = kept, 0 = pruned) multiply the weights at the start and the gradient; the gradient norm is
that of the masked gradient. Private to the library: :mod:`overparam.train` is the interface.
"""
from __future__ import annotations

import math
import os

import torch

__all__: list = []


class _Buffers:
    """Named temporaries reused while their shape stays the same."""

    def __init__(self, dtype, device):
        self.dtype, self.device, self.store = dtype, device, {}

    def get(self, key, shape, dtype=None):
        t = self.store.get(key)
        if t is None or tuple(t.shape) != tuple(shape):
            t = torch.empty(shape, dtype=dtype or self.dtype, device=self.device)
            self.store[key] = t
        return t

    def clear(self):
        self.store.clear()


def _act_forward(name, Z, buf):
    """sigma(Z) into a buffer (relu and linear act in place on Z)."""
    if name == "relu":
        return Z.clamp_min_(0)
    if name == "linear":
        return Z
    if name == "tanh":
        return torch.tanh(Z, out=buf)
    if name == "erf":
        return torch.erf(Z, out=buf)
    if name == "softplus":
        buf.copy_(torch.nn.functional.softplus(Z))
        return buf
    torch.sigmoid(Z.mul(4), out=buf)
    return buf.add_(torch.nn.functional.softplus(Z))       # g


def _act_backward_(name, D, Z, A, buf):
    """D *= sigma'(Z) in place (A = sigma(Z); for relu Z is A)."""
    if name == "relu":
        torch.ops.aten.threshold_backward.grad_input(D, A, 0, grad_input=D)
        return
    if name == "linear":
        return
    tmp = buf.get(("T",) + tuple(D.shape), D.shape)
    if name == "tanh":
        torch.mul(A, A, out=tmp)
        tmp.neg_().add_(1)
    elif name == "softplus":
        torch.sigmoid(Z, out=tmp)
    elif name == "erf":
        torch.mul(Z, Z, out=tmp)
        tmp.neg_().exp_().mul_(2 / math.sqrt(math.pi))
    else:                                                 # g
        s4 = torch.sigmoid(4 * Z)
        torch.sigmoid(Z, out=tmp)
        tmp.add_(4 * s4 * (1 - s4))
    D.mul_(tmp)


# Seeds per chunk: enough that one (chunk, width, N) temporary is about this many bytes (fits in cache).
_CHUNK_BYTES = int(os.environ.get("OVERPARAM_CHUNK_BYTES", 1 << 21))


class _Engine:
    """Active seeds' parameters, optimizer state and per-seed data; loss and gradient per step."""

    def __init__(self, net, x, y, loss_kind, masks, chunk_bytes=_CHUNK_BYTES):
        self.act, self.kind = net.activation, loss_kind
        self.dtype, self.device = net.dtype, net.device
        self.L = len(net.weights)
        self.W = [w.detach().clone().contiguous() for w in net.weights]
        self.b = [None if b is None else b.detach().clone().contiguous() for b in net.biases]
        self.M = None if masks is None else [m.to(self.dtype).contiguous() for m in masks]
        if self.M is not None:
            for w, m in zip(self.W, self.M):
                w.mul_(m)
        self.shared_x = x.dim() == 2
        self.xT = x.transpose(-1, -2).contiguous()        # (d, N) or (S, d, N)
        self.aug = self.shared_x and self.b[0] is not None
        if self.aug:                                      # (d + 1, N): a row of ones for the bias
            self.xT = torch.cat([self.xT, torch.ones_like(self.xT[:1])], dim=0)
        self.chunk_bytes = chunk_bytes
        if loss_kind == "mse":
            self.shared_y = y.dim() == 2
            self.tgt = y.transpose(-1, -2).contiguous()   # (out, N) or (S, out, N)
        else:
            self.shared_y = y.dim() == 1
            self.tgt = y                                  # (N,) or (S, N) labels
        self.state = {}                                   # optimizer state: name -> list per layer
        self.buf = _Buffers(self.dtype, self.device)

    @property
    def S(self):
        return self.W[0].shape[0]

    def keep(self, local):
        """Keep only the seeds at local positions ``local`` (an index tensor)."""
        pick = lambda t: None if t is None else t.index_select(0, local).contiguous()
        self.W = [pick(w) for w in self.W]
        self.b = [pick(b) for b in self.b]
        if self.M is not None:
            self.M = [pick(m) for m in self.M]
        for k in self.state:
            self.state[k] = [pick(t) for t in self.state[k]]
        if not self.shared_x:
            self.xT = pick(self.xT)
        if not self.shared_y:
            self.tgt = pick(self.tgt)
        self.buf.clear()

    def batch(self, idx):
        """(xT, x rows, targets) for sample indices ``idx`` (None = all)."""
        xT, tgt = self.xT, self.tgt
        if idx is not None:
            xT = xT.index_select(-1, idx)
            tgt = tgt.index_select(-1, idx)
        return xT, tgt

    def loss_grad(self, xT, tgt):
        """Per-seed loss (S,), gradient lists (weights, biases) and gradient norm (S,).

        Seeds are processed in chunks small enough for the temporaries to stay in cache; with a shared
        ``x`` each chunk's first layer is one matrix product over all its seeds."""
        S, B, buf = self.S, xT.shape[-1], self.buf
        lossv = buf.get(("loss", B), (S,))
        gW = [buf.get(("gW", l), w.shape) for l, w in enumerate(self.W)]
        gb = [None if b is None else buf.get(("gb", l), b.shape) for l, b in enumerate(self.b)]
        if self.aug:                                  # [W | b] of the first layer, against [x; 1]
            W0 = buf.get(("W0aug",), self.W[0].shape[:2] + (self.W[0].shape[2] + 1,))
            W0[:, :, :-1].copy_(self.W[0])
            W0[:, :, -1].copy_(self.b[0])
            g0 = buf.get(("gW0aug",), W0.shape)
        else:
            W0, g0 = self.W[0], gW[0]
        hmax = max(w.shape[1] for w in self.W)
        c = max(1, min(S, self.chunk_bytes // (hmax * B * self.W[0].element_size())))
        for s0 in range(0, S, c):
            self._pass(slice(s0, min(S, s0 + c)), c, xT, tgt, W0, g0, lossv, gW, gb)
        if self.aug:
            gW[0], gb[0] = g0[:, :, :-1], g0[:, :, -1]
        if self.M is not None:
            for g, m in zip(gW, self.M):
                g.mul_(m)
        sq = sum(g.square().sum(dim=(1, 2)) for g in gW)
        sq = sq + sum(g.square().sum(dim=1) for g in gb if g is not None)
        return lossv, gW, gb, sq.sqrt()

    def _pass(self, sl, c, xT, tgt, W0, g0, lossv, gW, gb):
        """Forward and backward for the seeds in slice ``sl`` (buffers sized for ``c`` seeds)."""
        buf, act, L, B = self.buf, self.act, self.L, xT.shape[-1]
        cs = sl.stop - sl.start
        Zs, As = [], []
        h = W0.shape[1]
        Z = buf.get(("Z", 0, B), (c, h, B))[:cs]
        if self.shared_x:
            torch.mm(W0[sl].view(cs * h, -1), xT, out=Z.view(cs * h, B))
        elif self.b[0] is None:
            torch.bmm(W0[sl], xT[sl], out=Z)
        else:
            torch.baddbmm(self.b[0][sl, :, None], W0[sl], xT[sl], out=Z)
        for l in range(1, L):
            Zs.append(Z)
            A = _act_forward(act, Z, buf.get(("A", l, B), (c,) + Z.shape[1:])[:cs])
            As.append(A)
            Z = buf.get(("Z", l, B), (c, self.W[l].shape[1], B))[:cs]
            if self.b[l] is None:
                torch.bmm(self.W[l][sl], A, out=Z)
            else:
                torch.baddbmm(self.b[l][sl, :, None], self.W[l][sl], A, out=Z)
        f = Z                                             # (cs, out, B)
        if self.kind == "mse":
            D = torch.sub(f, tgt if self.shared_y else tgt[sl], out=buf.get(("R", B), (c,) + f.shape[1:])[:cs])
            lossv[sl] = 0.5 * D.square().sum(dim=(1, 2)) / B
            D.mul_(1.0 / B)
        else:
            lab = (tgt if self.shared_y else tgt[sl]).expand(cs, B)[:, None, :]
            lossv[sl] = (torch.logsumexp(f, dim=1) - torch.gather(f, 1, lab)[:, 0, :]).mean(dim=1)
            D = torch.softmax(f, dim=1)
            D.scatter_add_(1, lab, torch.full(lab.shape, -1.0, dtype=self.dtype, device=self.device))
            D.mul_(1.0 / B)
        for l in range(L - 1, 0, -1):
            A = As[l - 1]
            torch.bmm(D, A.transpose(1, 2), out=gW[l][sl])
            if self.b[l] is not None:
                torch.sum(D, dim=2, out=gb[l][sl])
            Dp = torch.bmm(self.W[l][sl].transpose(1, 2), D, out=buf.get(("D", l - 1, B), (c,) + A.shape[1:])[:cs])
            _act_backward_(act, Dp, Zs[l - 1], A, buf)
            D = Dp
        if self.shared_x:
            torch.mm(D.view(cs * h, B), xT.t(), out=g0[sl].view(cs * h, -1))
        else:
            torch.bmm(D, xT[sl].transpose(1, 2), out=g0[sl])
            if self.b[0] is not None:
                torch.sum(D, dim=2, out=gb[0][sl])
