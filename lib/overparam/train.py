"""Train S networks at once: full-batch GD, Adam, minibatch SGD, with a hand-written backward.

The fast path keeps every activation feature-major and seed-first, ``(S, features, N)``. When all seeds
share ``x`` (``(N, in)``), the first layer of all S students is ONE matrix product,
``(S*h1, in) @ (in, N)``, and its weight gradient another, ``(S*h1, N) @ (N, in)``; later layers are
batched over seeds (``bmm``/``baddbmm``). Temporaries live in buffers reused from step to step
(float64 buffers reallocated each step cost page faults, DESIGN §6).

Step ``t`` (``t = 0 .. n_steps``) for every still-active seed:

1. snapshot (if ``t`` in ``snapshot_steps``) and ``eval_fn`` (every ``eval_every`` steps) see the
   parameters after ``t`` updates;
2. loss and gradient at those parameters on step ``t``'s batch (the full data for GD and Adam);
   the loss goes into ``loss_curve`` every ``record_every`` steps;
3. the seed stops as ``"diverged"`` if the loss or gradient norm is NaN/inf, as ``"converged"`` if
   ``loss <= loss_tol`` or ``grad_norm <= grad_tol``, as ``"step_limit"`` at ``t = n_steps``;
   stopped seeds leave the batch (their parameters are frozen; ``steps`` = updates applied);
4. otherwise one optimizer update.

SGD: batches are consecutive slices of a fresh permutation of the N samples each epoch, drawn from
``generator(seed, "batch")`` and shared by all seeds; the last batch of an epoch may be smaller. For SGD
the per-step loss, the convergence checks before ``n_steps`` and ``loss_curve`` use the minibatch;
at ``t = n_steps`` and in ``final_loss``/``grad_norm`` the full data are used.

Masks (1 = kept, 0 = pruned) multiply the weights at the start, the gradient before each update and the
weights after it, so pruned weights stay exactly zero; the gradient norm is that of the masked gradient.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from .mlp import ACTIVATIONS, LOSSES, MLP, _check_x, _labels, _targets_mse
from .rng import generator
from .validate import check_choice, check_finite, check_float, check_int

__all__ = ["GD", "Adam", "SGD", "TrainResult", "train"]


def _canonical(obj) -> str:
    parts = [f"{f.name}={getattr(obj, f.name)!r}" for f in fields(obj)
             if f.default is not getattr(obj, f.name) and f.default != getattr(obj, f.name)]
    return f"{type(obj).__name__}({', '.join(parts)})"


@dataclass(frozen=True)
class GD:
    """Full-batch gradient descent: ``theta -= lr * grad``."""
    lr: float

    def __post_init__(self):
        object.__setattr__(self, "lr", check_float("lr", self.lr, min=0.0, min_inclusive=False))

    def __str__(self):
        return _canonical(self)


@dataclass(frozen=True)
class Adam:
    """Adam with per-seed state, the same update as ``torch.optim.Adam`` (no weight decay). Full-batch by
    default; with ``batch_size`` it takes minibatches in the same order as :class:`SGD` (stream "batch")."""
    lr: float
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    batch_size: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "lr", check_float("lr", self.lr, min=0.0, min_inclusive=False))
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2) in [0, 1), got {self.betas!r}")
        b1 = check_float("betas[0]", self.betas[0], min=0.0, max=1.0, max_inclusive=False)
        b2 = check_float("betas[1]", self.betas[1], min=0.0, max=1.0, max_inclusive=False)
        object.__setattr__(self, "betas", (b1, b2))
        object.__setattr__(self, "eps", check_float("eps", self.eps, min=0.0))
        if self.batch_size is not None:
            object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size, min=1))

    def __str__(self):
        return _canonical(self)


@dataclass(frozen=True)
class SGD:
    """Minibatch SGD with optional heavy-ball momentum (as ``torch.optim.SGD``, no dampening)."""
    lr: float
    batch_size: int
    momentum: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "lr", check_float("lr", self.lr, min=0.0, min_inclusive=False))
        object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size, min=1))
        object.__setattr__(self, "momentum", check_float("momentum", self.momentum, min=0.0, max=1.0,
                                                         max_inclusive=False))

    def __str__(self):
        return _canonical(self)


@dataclass(frozen=True)
class TrainResult:
    """How each seed's run ended. Arrays are numpy with the seed axis first."""
    net: MLP                      # final parameters, all seeds
    loss_curve: np.ndarray        # (S, T): loss at steps curve_steps; NaN after a seed stopped
    final_loss: np.ndarray        # (S,) full-data loss at the final parameters
    grad_norm: np.ndarray         # (S,) full-data gradient norm there (masked gradient)
    steps: np.ndarray             # (S,) updates applied
    stop_reason: tuple            # "converged" | "step_limit" | "diverged" per seed
    history: dict = field(default_factory=dict)     # name -> (S, n_evals) from eval_fn
    eval_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    snapshots: dict = field(default_factory=dict)   # step -> MLP (all seeds)
    curve_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def converged(self) -> np.ndarray:
        return np.array([r == "converged" for r in self.stop_reason])

    @property
    def diverged(self) -> np.ndarray:
        return np.array([r == "diverged" for r in self.stop_reason])


# ----------------------------------------------------------------------------- the batched engine
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
        S, B, L, buf = self.S, xT.shape[-1], self.L, self.buf
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

    def update(self, opt, gW, gb, t):
        """One optimizer step (t = number of updates already applied)."""
        params = self.W + [b for b in self.b if b is not None]
        grads = gW + [g for g in gb if g is not None]
        if isinstance(opt, GD) or (isinstance(opt, SGD) and opt.momentum == 0):
            for p, g in zip(params, grads):
                p.add_(g, alpha=-opt.lr)
        elif isinstance(opt, SGD):
            if "mom" not in self.state:
                self.state["mom"] = [g.clone() for g in grads]
            else:
                for m, g in zip(self.state["mom"], grads):
                    m.mul_(opt.momentum).add_(g)
            for p, m in zip(params, self.state["mom"]):
                p.add_(m, alpha=-opt.lr)
        else:
            if "m" not in self.state:
                self.state["m"] = [torch.zeros_like(p) for p in params]
                self.state["v"] = [torch.zeros_like(p) for p in params]
            b1, b2 = opt.betas
            k = t + 1
            step_size = opt.lr / (1 - b1 ** k)
            bc2_sqrt = math.sqrt(1 - b2 ** k)
            for p, g, m, v in zip(params, grads, self.state["m"], self.state["v"]):
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (v.sqrt() / bc2_sqrt).add_(opt.eps)
                p.addcdiv_(m, denom, value=-step_size)
        if self.M is not None:
            for w, m in zip(self.W, self.M):
                w.mul_(m)


# ----------------------------------------------------------------------------- train
def _check_masks(net, masks):
    if masks is None:
        return None
    if not isinstance(masks, (tuple, list)) or len(masks) != len(net.weights):
        raise ValueError(f"masks must be a tuple of {len(net.weights)} tensors shaped like net.weights")
    out = []
    for l, (m, w) in enumerate(zip(masks, net.weights)):
        if not torch.is_tensor(m) or tuple(m.shape) != tuple(w.shape):
            shape = tuple(m.shape) if torch.is_tensor(m) else type(m).__name__
            raise ValueError(f"masks[{l}] must have shape {tuple(w.shape)}, got {shape}")
        m = m.to(device=net.device)
        if not bool(((m == 0) | (m == 1)).all()):
            raise ValueError(f"masks[{l}] must hold only 0 (pruned) and 1 (kept)")
        out.append(m)
    return out


def _assemble(full_W, full_b, eng, active, activation):
    """An MLP of all seeds: frozen ones from full_*, active ones from the engine."""
    Ws = [fw.index_copy(0, active, w) for fw, w in zip(full_W, eng.W)]
    bs = [None if fb is None else fb.index_copy(0, active, b) for fb, b in zip(full_b, eng.b)]
    return MLP(tuple(Ws), tuple(bs), activation)


def train(net: MLP, x: Tensor, y: Tensor, *, loss: str = "mse", optimizer, n_steps: int, masks=None,
          grad_tol: float | None = None, loss_tol: float | None = None, seed: int = 0, record_every: int = 1,
          eval_every: int | None = None, eval_fn: Callable | None = None, snapshot_steps=(),
          chunk_bytes: int | None = None) -> TrainResult:
    """Train all seeds of ``net`` on ``(x, y)`` at once. See the module docstring for the exact semantics.

    ``chunk_bytes``: seeds are processed in chunks whose largest temporary is about this many bytes
    (default 2 MiB, or ``OVERPARAM_CHUNK_BYTES``); results do not depend on it beyond rounding.

    ``x``: ``(N, in)`` shared or ``(S, N, in)``. ``y``: as in :func:`overparam.mlp.loss`. ``eval_fn(net)``
    returns a dict of ``(S,)`` tensors, recorded in ``history`` at ``eval_steps``.
    """
    if not isinstance(net, MLP):
        raise ValueError(f"net must be an overparam.mlp.MLP, got {type(net).__name__}")
    check_choice("loss", loss, LOSSES)
    if not isinstance(optimizer, (GD, Adam, SGD)):
        raise ValueError(f"optimizer must be GD(...), Adam(...) or SGD(...), got {optimizer!r}")
    n_steps = check_int("n_steps", n_steps, min=0)
    seed = check_int("seed", seed, min=0)
    chunk_bytes = _CHUNK_BYTES if chunk_bytes is None else check_int("chunk_bytes", chunk_bytes, min=1)
    record_every = check_int("record_every", record_every, min=1)
    grad_tol = None if grad_tol is None else check_float("grad_tol", grad_tol, min=0.0)
    loss_tol = None if loss_tol is None else check_float("loss_tol", loss_tol, min=0.0)
    if (eval_every is None) != (eval_fn is None):
        raise ValueError("eval_every and eval_fn must be given together (eval_fn(net) -> dict of (S,) tensors)")
    if eval_every is not None:
        eval_every = check_int("eval_every", eval_every, min=1)
        if not callable(eval_fn):
            raise ValueError("eval_fn must be callable: eval_fn(net) -> dict of (S,) tensors")
    snaps = sorted({check_int("snapshot_steps[]", k, min=0, max=n_steps) for k in snapshot_steps})
    check_finite("x", x)
    x = _check_x(net, x.detach())
    N = x.shape[-2]
    if N < 1:
        raise ValueError("x must hold at least one sample (N >= 1)")
    if loss == "mse":
        check_finite("y", y)
        y = _targets_mse(net, y.detach(), N)
    else:
        y = _labels(net, y, N)
    masks = _check_masks(net, masks)
    if getattr(optimizer, "batch_size", None) is not None and optimizer.batch_size > N:
        raise ValueError(f"batch_size must be at most the number of samples N={N}, got {optimizer.batch_size}")

    S, dev = net.n_seeds, net.device
    eng = _Engine(net, x, y, loss, masks, chunk_bytes)
    full_W = [w.clone() for w in eng.W]
    full_b = [None if b is None else b.clone() for b in eng.b]
    active = torch.arange(S, device=dev)
    active_np = np.arange(S)
    curve_steps = np.arange(0, n_steps + 1, record_every)
    curve = np.full((S, len(curve_steps)), np.nan)
    final_loss, grad_norm = np.full(S, np.nan), np.full(S, np.nan)
    steps = np.zeros(S, dtype=np.int64)
    reason = [""] * S
    history, eval_steps, snapshots = {}, [], {}

    sgd = getattr(optimizer, "batch_size", None) is not None     # minibatches: SGD, or Adam with batch_size
    if sgd:
        g_batch = generator(seed, "batch")
        B = optimizer.batch_size
        n_batches = -(-N // B)
        perm = None

    for t in range(n_steps + 1):
        if t in snaps or (eval_every is not None and t % eval_every == 0):
            cur = _assemble(full_W, full_b, eng, active, net.activation)
            if t in snaps:
                snapshots[t] = cur
            if eval_every is not None and t % eval_every == 0:
                out = eval_fn(cur)
                if not isinstance(out, dict):
                    raise ValueError("eval_fn must return a dict name -> (S,) tensor")
                for name, v in out.items():
                    v = np.asarray(torch.as_tensor(v).detach().cpu(), dtype=float)
                    if v.shape != (S,):
                        raise ValueError(f"eval_fn's {name!r} must have shape ({S},), got {v.shape}")
                    history.setdefault(name, []).append(v)
                eval_steps.append(t)
        idx = None
        if sgd and t < n_steps:
            j = t % n_batches
            if j == 0:
                perm = torch.randperm(N, generator=g_batch).to(dev)
            idx = perm[j * B:(j + 1) * B]
        lv, gW, gb, gn = eng.loss_grad(*eng.batch(idx))
        if t % record_every == 0:
            curve[active_np, t // record_every] = lv.detach().cpu().numpy()
        bad = ~(torch.isfinite(lv) & torch.isfinite(gn))
        conv = torch.zeros_like(bad)
        if loss_tol is not None:
            conv |= lv <= loss_tol
        if grad_tol is not None:
            conv |= gn <= grad_tol
        done = bad | conv
        if t == n_steps:
            done = torch.ones_like(bad)
        if bool(done.any()):
            loc = done.nonzero()[:, 0]
            glob = active.index_select(0, loc)
            for fw, w in zip(full_W, eng.W):
                fw.index_copy_(0, glob, w.index_select(0, loc))
            for fb, b in zip(full_b, eng.b):
                if fb is not None:
                    fb.index_copy_(0, glob, b.index_select(0, loc))
            lv_np, gn_np = lv.detach().cpu().numpy(), gn.detach().cpu().numpy()
            bad_np, conv_np, loc_np = bad.cpu().numpy(), conv.cpu().numpy(), loc.cpu().numpy()
            for i in loc_np:
                s = active_np[i]
                final_loss[s], grad_norm[s], steps[s] = lv_np[i], gn_np[i], t
                reason[s] = "diverged" if bad_np[i] else "converged" if conv_np[i] else "step_limit"
            keep = (~done).nonzero()[:, 0]
            if keep.numel() == 0:
                break
            active, active_np = active.index_select(0, keep), active_np[keep.cpu().numpy()]
            eng.keep(keep)
            gW = [g.index_select(0, keep) for g in gW]
            gb = [None if g is None else g.index_select(0, keep) for g in gb]
        eng.update(optimizer, gW, gb, t)

    final = MLP(tuple(full_W), tuple(full_b), net.activation)
    for k in snaps:                     # every seed had stopped before step k: its weights are final
        snapshots.setdefault(k, final)
    if sgd:                             # early SGD stops were judged on a minibatch: report full-data values
        fe = _Engine(final, x, y, loss, None if masks is None else [m for m in masks])
        lv, _, _, gn = fe.loss_grad(fe.xT, fe.tgt)
        final_loss, grad_norm = lv.detach().cpu().numpy().astype(float), gn.detach().cpu().numpy().astype(float)
    return TrainResult(
        net=final, loss_curve=curve, final_loss=final_loss, grad_norm=grad_norm, steps=steps,
        stop_reason=tuple(reason),
        history={k: np.stack(v, axis=1) for k, v in history.items()},
        eval_steps=np.asarray(eval_steps, dtype=np.int64), snapshots=snapshots, curve_steps=curve_steps)
