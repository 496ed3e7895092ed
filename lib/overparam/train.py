"""Train S networks at once: full-batch GD, Adam, minibatch SGD, with a hand-written backward
(the private module ``overparam.backprop``: one matrix product per layer for all seeds).

Step ``t`` (``t = 0 .. n_steps``) for every still-active seed:

1. snapshot (if ``t`` in ``snapshot_steps``) and ``eval_fn`` (every ``eval_every`` steps) see the
   parameters after ``t`` updates;
2. loss and gradient at those parameters on step ``t``'s batch (the full data for GD and Adam);
   the loss goes into ``loss_curve`` every ``record_every`` steps;
3. the seed stops as ``"diverged"`` if the loss or gradient norm is NaN/inf, else as ``"loss_tol"`` if
   ``loss <= loss_tol`` (checked first), else as ``"grad_tol"`` if ``grad_norm <= grad_tol``, else as
   ``"step_limit"`` at ``t = n_steps``;
   stopped seeds leave the batch (their parameters are frozen; ``steps`` = updates applied);
4. otherwise one optimizer update.

The loop is :func:`overparam.descent.run` (``n_steps``, per-seed stops, a diverged seed never affects
the others, the same four stop reasons and inclusive tolerances); this module supplies the batched
forward and backward pass, the batches and the optimizer updates.

SGD: batches are consecutive slices of a fresh permutation of the N samples each epoch, drawn from
``generator(seed, "batch")`` and shared by all seeds; the last batch of an epoch may be smaller. For SGD
the per-step loss, the convergence checks before ``n_steps`` and ``loss_curve`` use the minibatch;
at ``t = n_steps`` and in ``final_loss``/``grad_norm`` the full data are used.

Masks (1 = kept, 0 = pruned) multiply the weights at the start, the gradient before each update and the
weights after it, so pruned weights stay exactly zero; the gradient norm is that of the masked gradient.
"""
from __future__ import annotations

import math
import dataclasses
from dataclasses import dataclass, field, fields
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from . import descent
from .backprop import _CHUNK_BYTES, _Engine
from .mlp import LOSSES, MLP, _check_x, _labels, _targets_mse, check_masks
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
    stop_reason: tuple            # "loss_tol" | "grad_tol" | "step_limit" | "diverged" per seed
    history: dict = field(default_factory=dict)     # name -> (S, n_evals) from eval_fn
    eval_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    snapshots: dict = field(default_factory=dict)   # step -> MLP (all seeds)
    curve_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def converged(self) -> np.ndarray:
        """``(S,)`` bool: the seed stopped on a tolerance (``"loss_tol"`` or ``"grad_tol"``)."""
        return np.array([r in ("loss_tol", "grad_tol") for r in self.stop_reason])

    @property
    def diverged(self) -> np.ndarray:
        return np.array([r == "diverged" for r in self.stop_reason])


# ----------------------------------------------------------------------------- one optimizer step
def _optimizer_step(eng: _Engine, opt, gW, gb, t: int) -> None:
    """One update of the engine's active seeds (``t`` = number of updates already applied); masked
    weights are zeroed again afterwards."""
    params = eng.W + [b for b in eng.b if b is not None]
    grads = gW + [g for g in gb if g is not None]
    if isinstance(opt, GD) or (isinstance(opt, SGD) and opt.momentum == 0):
        for p, g in zip(params, grads):
            p.add_(g, alpha=-opt.lr)
    elif isinstance(opt, SGD):
        if "mom" not in eng.state:
            eng.state["mom"] = [g.clone() for g in grads]
        else:
            for m, g in zip(eng.state["mom"], grads):
                m.mul_(opt.momentum).add_(g)
        for p, m in zip(params, eng.state["mom"]):
            p.add_(m, alpha=-opt.lr)
    else:
        _adam_step(eng.state, opt, params, grads, t)
    if eng.M is not None:
        for w, m in zip(eng.W, eng.M):
            w.mul_(m)


def _adam_step(state: dict, opt, params, grads, t: int) -> None:
    """Adam's update in place, the same arithmetic as ``torch.optim.Adam``."""
    if "m" not in state:
        state["m"] = [torch.zeros_like(p) for p in params]
        state["v"] = [torch.zeros_like(p) for p in params]
    b1, b2 = opt.betas
    k = t + 1
    step_size = opt.lr / (1 - b1 ** k)
    bc2_sqrt = math.sqrt(1 - b2 ** k)
    for p, g, m, v in zip(params, grads, state["m"], state["v"]):
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (v.sqrt() / bc2_sqrt).add_(opt.eps)
        p.addcdiv_(m, denom, value=-step_size)


# ----------------------------------------------------------------------------- the steps of train
def _check_options(optimizer, n_steps, seed, chunk_bytes, record_every, grad_tol, loss_tol,
                   eval_every, eval_fn, snapshot_steps):
    """The checked scalar options of :func:`train` (a dict) or ``ValueError`` naming the bad one."""
    if not isinstance(optimizer, (GD, Adam, SGD)):
        raise ValueError(f"optimizer must be GD(...), Adam(...) or SGD(...), got {optimizer!r}")
    n_steps = check_int("n_steps", n_steps, min=0)
    opts = dict(
        n_steps=n_steps, seed=check_int("seed", seed, min=0),
        chunk_bytes=_CHUNK_BYTES if chunk_bytes is None else check_int("chunk_bytes", chunk_bytes, min=1),
        record_every=check_int("record_every", record_every, min=1),
        grad_tol=None if grad_tol is None else check_float("grad_tol", grad_tol, min=0.0),
        loss_tol=None if loss_tol is None else check_float("loss_tol", loss_tol, min=0.0))
    if (eval_every is None) != (eval_fn is None):
        raise ValueError("eval_every and eval_fn must be given together (eval_fn(net) -> dict of (S,) tensors)")
    if eval_every is not None:
        eval_every = check_int("eval_every", eval_every, min=1)
        if not callable(eval_fn):
            raise ValueError("eval_fn must be callable: eval_fn(net) -> dict of (S,) tensors")
    opts["eval_every"] = eval_every
    opts["snaps"] = sorted({check_int("snapshot_steps[]", k, min=0, max=n_steps) for k in snapshot_steps})
    return opts


def _check_data(net, x, y, loss, masks, optimizer):
    """Checked ``x``, targets ``y``, masks (or None) and the number of samples ``N``."""
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
    masks = None if masks is None else check_masks(masks, net)
    if getattr(optimizer, "batch_size", None) is not None and optimizer.batch_size > N:
        raise ValueError(f"batch_size must be at most the number of samples N={N}, got {optimizer.batch_size}")
    return x, y, masks, N


def _batches(optimizer, seed: int, N: int, n_steps: int, device):
    """Sample indices of step ``t`` for ``t = 0 .. n_steps`` (``None``: the full data). Minibatches
    (SGD, or Adam with ``batch_size``) are consecutive slices of a fresh permutation each epoch,
    stream ``"batch"``; step ``n_steps`` always sees the full data."""
    B = getattr(optimizer, "batch_size", None)
    if B is None:
        for _ in range(n_steps + 1):
            yield None
        return
    g_batch = generator(seed, "batch")
    n_batches = -(-N // B)
    perm = None
    for t in range(n_steps):
        j = t % n_batches
        if j == 0:
            perm = torch.randperm(N, generator=g_batch).to(device)
        yield perm[j * B:(j + 1) * B]
    yield None


class _TrainProblem:
    """The MLP trainer as a :class:`overparam.descent.DescentProblem`: the engine's running seeds,
    step ``t``'s batch, one optimizer update (its state kept per seed), masks re-applied."""

    def __init__(self, eng: _Engine, optimizer, batches):
        self.eng, self.optimizer, self.batches = eng, optimizer, iter(batches)
        self.L = len(eng.W)

    @property
    def params(self) -> tuple:
        return tuple(self.eng.W) + tuple(b for b in self.eng.b if b is not None)

    def loss_grad(self, t):
        lv, gW, gb, gn = self.eng.loss_grad(*self.eng.batch(next(self.batches)))
        return lv, tuple(gW) + tuple(gb), gn

    def step(self, grads, t):
        _optimizer_step(self.eng, self.optimizer, list(grads[:self.L]), list(grads[self.L:]), t)

    def keep(self, mask):
        self.eng.keep(mask.nonzero()[:, 0])


def _to_mlp(params: tuple, biases, activation: str) -> MLP:
    """An MLP from a flat parameter tuple (weights, then the biases that exist, as in ``biases``)."""
    L = len(biases)
    it = iter(params[L:])
    return MLP(tuple(params[:L]), tuple(None if b is None else next(it) for b in biases), activation)


class _Observer:
    """Snapshots (steps ``snaps``) and evaluations (every ``eval_every`` steps) of all seeds."""

    def __init__(self, S, biases, activation, snaps, eval_every, eval_fn):
        self.S, self.biases, self.activation = S, biases, activation
        self.snaps, self.eval_every, self.eval_fn = snaps, eval_every, eval_fn
        self.history, self.eval_steps, self.snapshots = {}, [], {}

    def __call__(self, t: int, current) -> None:
        evaluate = self.eval_every is not None and t % self.eval_every == 0
        if t not in self.snaps and not evaluate:
            return
        cur = _to_mlp(current(), self.biases, self.activation)
        if t in self.snaps:
            self.snapshots[t] = cur
        if evaluate:
            out = self.eval_fn(cur)
            if not isinstance(out, dict):
                raise ValueError("eval_fn must return a dict name -> (S,) tensor")
            for name, v in out.items():
                v = np.asarray(torch.as_tensor(v).detach().cpu(), dtype=float)
                if v.shape != (self.S,):
                    raise ValueError(f"eval_fn's {name!r} must have shape ({self.S},), got {v.shape}")
                self.history.setdefault(name, []).append(v)
            self.eval_steps.append(t)

    def result(self, res, n_steps: int) -> TrainResult:
        final = _to_mlp(res.params, self.biases, self.activation)
        for k in self.snaps:             # every seed had stopped before step k: its weights are final
            self.snapshots.setdefault(k, final)
        return TrainResult(
            net=final, loss_curve=res.loss_curve, final_loss=res.loss.detach().cpu().numpy().astype(float),
            grad_norm=res.grad_norm.detach().cpu().numpy().astype(float), steps=res.steps.cpu().numpy(),
            stop_reason=res.stop_reason,
            history={k: np.stack(v, axis=1) for k, v in self.history.items()},
            eval_steps=np.asarray(self.eval_steps, dtype=np.int64), snapshots=self.snapshots,
            curve_steps=np.arange(0, n_steps + 1, res.record_every))


def _full_data_values(res: TrainResult, x, y, loss, masks) -> TrainResult:
    """``final_loss`` and ``grad_norm`` on the full data (minibatch runs judged early stops on a batch)."""
    fe = _Engine(res.net, x, y, loss, None if masks is None else [m for m in masks])
    lv, _, _, gn = fe.loss_grad(fe.xT, fe.tgt)
    return dataclasses.replace(res, final_loss=lv.detach().cpu().numpy().astype(float),
                               grad_norm=gn.detach().cpu().numpy().astype(float))


# ----------------------------------------------------------------------------- train
def train(net: MLP, x: Tensor, y: Tensor, *, loss: str = "mse", optimizer, n_steps: int, masks=None,
          grad_tol: float | None = None, loss_tol: float | None = None, seed: int = 0, record_every: int = 1,
          eval_every: int | None = None, eval_fn: Callable | None = None, snapshot_steps=(),
          chunk_bytes: int | None = None) -> TrainResult:
    """Train all seeds of ``net`` on ``(x, y)`` at once. See the module docstring for the exact semantics.

    ``chunk_bytes``: seeds are processed in chunks whose largest temporary is about this many bytes
    (default 2 MiB, or ``OVERPARAM_CHUNK_BYTES``); results do not depend on it beyond rounding.

    ``x``: ``(N, in)`` shared or ``(S, N, in)``. ``y``: as in :func:`overparam.mlp.loss`. ``eval_fn(net)``
    returns a dict of ``(S,)`` tensors, recorded in ``history`` at ``eval_steps``. ``loss_tol`` /
    ``grad_tol`` (``None``: not checked) stop a seed when ``loss <= loss_tol`` / ``grad_norm <=
    grad_tol`` (inclusive), with stop reason ``"loss_tol"`` / ``"grad_tol"``.
    """
    if not isinstance(net, MLP):
        raise ValueError(f"net must be an overparam.mlp.MLP, got {type(net).__name__}")
    check_choice("loss", loss, LOSSES)
    o = _check_options(optimizer, n_steps, seed, chunk_bytes, record_every, grad_tol, loss_tol,
                       eval_every, eval_fn, snapshot_steps)
    n_steps, snaps = o["n_steps"], o["snaps"]
    x, y, masks, N = _check_data(net, x, y, loss, masks, optimizer)
    eng = _Engine(net, x, y, loss, masks, o["chunk_bytes"])
    observer = _Observer(net.n_seeds, net.biases, net.activation, snaps, o["eval_every"], eval_fn)
    problem = _TrainProblem(eng, optimizer, _batches(optimizer, o["seed"], N, n_steps, net.device))
    res = descent.run(problem, n_steps=n_steps, grad_tol=o["grad_tol"], loss_tol=o["loss_tol"],
                      record_every=o["record_every"], observe=observer)
    res = observer.result(res, n_steps)
    if getattr(optimizer, "batch_size", None) is not None:
        res = _full_data_values(res, x, y, loss, masks)
    return res
