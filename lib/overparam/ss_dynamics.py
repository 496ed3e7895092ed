"""Safran–Shamir students in motion: gradient descent, and the embeddings that add a neuron.

The closed-form loss, gradient and Hessian these use are in :mod:`overparam.safran_shamir` (whose
docstring defines ``K``, ``G``, ``C``, ``D`` and the zero-neuron convention). Parameters ``W`` have
shape ``(S, n, d)``, float64, the seed axis first.

- :func:`gradient_descent`: batched gradient descent with per-seed stopping (:mod:`overparam.descent`);
- :func:`new_neuron_direction`, :func:`neuron_slope`: the one-sided slope for growing a new neuron;
- :func:`split_student_neuron`, :func:`add_zero_neuron`: width ``n + 1`` with the same function;
- :func:`neuron_curvature`, :func:`split_hessian`: the exact Hessian at a split point from the one at ``W``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .descent import descend, torch_threads
from .rng import generator
from .safran_shamir import (_DT, _TWO_PI, _all_neurons, _angles, _check_W, _loss_grad, _norms_dirs,
                            hessian)
from .validate import check_float, check_int, check_square_batch

__all__ = [
    "GDResult", "gradient_descent", "NewNeuronResult", "new_neuron_direction", "neuron_slope",
    "split_student_neuron", "neuron_curvature", "split_hessian", "add_zero_neuron",
]


# --------------------------------------------------------------------------- gradient descent
@dataclass(frozen=True)
class GDResult:
    """How each run of :func:`gradient_descent` ended.

    ``stop_reason[s]`` is ``"grad_tol"`` (gradient norm below ``grad_tol``: a critical point),
    ``"loss_tol"`` (loss below ``loss_tol``), ``"step_limit"`` or ``"diverged"`` (non-finite).
    ``steps[s]`` is the number of steps taken; ``loss``/``grad_norm`` are at the final ``W``.
    ``loss_curve`` ``(S, T)`` holds the loss at steps ``0, record_every, ...``, NaN after a run stopped.
    """
    W: torch.Tensor
    loss: torch.Tensor
    grad_norm: torch.Tensor
    steps: torch.Tensor
    stop_reason: tuple
    loss_curve: np.ndarray
    record_every: int

    @property
    def n_seeds(self) -> int:
        return self.W.shape[0]

    def reason_mask(self, reason: str) -> torch.Tensor:
        return torch.tensor([r == reason for r in self.stop_reason], dtype=torch.bool, device=self.W.device)


def gradient_descent(W0: torch.Tensor, *, lr: float, n_steps: int = 30_000, grad_tol: float = 1e-9,
                     loss_tol: float = 1e-6, record_every: int = 100,
                     num_threads: int | None = 1) -> GDResult:
    """Batched gradient descent ``W ← W − lr ∇L(W)`` on the exact population loss.

    The loop is :func:`overparam.descent.descend`: a run stops (and leaves the batch) at the first
    step where its loss is below ``loss_tol`` (``"loss_tol"``), its gradient norm (over all ``n·d``
    entries) below ``grad_tol`` (``"grad_tol"``), when it turns non-finite (``"diverged"``), or after
    ``n_steps`` steps (``"step_limit"``; default 30 000). ``W0`` is not modified.

    ``num_threads`` torch threads are used meanwhile (the previous setting is restored): these tensors
    are tiny, and measured on 2 busy cores, 2 threads ran 50× slower than 1 (spinning worker
    threads); ``None`` keeps the caller's setting.
    """
    n_steps = check_int("n_steps", n_steps, min=0)
    W = _check_W(W0, "W0")
    lr = check_float("lr", lr, min=0.0, min_inclusive=False)
    grad_tol = check_float("grad_tol", grad_tol, min=0.0)
    loss_tol = check_float("loss_tol", loss_tol, min=0.0)
    record_every = check_int("record_every", record_every, min=1)

    def loss_grad(params):
        L, g = _loss_grad(params[0])
        return L, (g,), torch.linalg.vector_norm(g.reshape(g.shape[0], -1), dim=-1)

    def step(params, grads):
        return (params[0].sub_(grads[0], alpha=lr),)

    with torch_threads(num_threads):
        res = descend((W,), loss_grad, step, n_steps=n_steps, grad_tol=grad_tol, loss_tol=loss_tol,
                      record_every=record_every)
    return GDResult(res.params[0], res.loss, res.grad_norm, res.steps, res.stop_reason, res.loss_curve,
                    record_every)


# --------------------------------------------------------------------------- adding a neuron
@dataclass(frozen=True)
class NewNeuronResult:
    """Steepest one-sided slope for growing a new neuron from zero.

    ``value[s] = min over unit u of E[(f − y)·relu(uᵀx)]`` (best of ``n_starts`` starts) and
    ``u[s]`` the minimiser; a negative value means that adding the neuron ``t·u`` lowers the loss
    at rate ``value`` for small ``t > 0``.
    """
    value: torch.Tensor
    u: torch.Tensor
    n_starts: int


def _slope_and_grad(W: torch.Tensor, u: torch.Tensor):
    """``δ(u) = Σᵢ K(u, wᵢ) − Σⱼ K(u, vⱼ)`` and its Euclidean gradient for unit ``u (S, R, d)``."""
    S, n, d = W.shape
    _, _, _, Zn, b, Z, sigma = _all_neurons(W)
    c, s, th = _angles(u, b)                     # (S, R, m); zero students drop out via Zn = 0
    w = Zn * sigma                                # (S, m)
    val = ((s + (math.pi - th) * c) * w.unsqueeze(1)).sum(-1) / _TWO_PI
    grad = (torch.bmm((math.pi - th) * sigma, Z) + (s * w.unsqueeze(1)).sum(-1, keepdim=True) * u) / _TWO_PI
    return val, grad


def neuron_slope(W: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``E[(f − y)·relu(uᵀx)]`` for directions ``u (S, R, d)`` (normalised here): ``(S, R)``."""
    W = _check_W(W)
    if not torch.is_tensor(u) or u.dim() != 3 or u.shape[0] != W.shape[0] or u.shape[2] != W.shape[2]:
        raise ValueError(f"u must have shape (S, R, d) = ({W.shape[0]}, R, {W.shape[2]}), got "
                         f"{tuple(u.shape) if torch.is_tensor(u) else type(u).__name__}")
    return _slope_and_grad(W, _norms_dirs(u.to(device=W.device, dtype=_DT))[1])[0]


def new_neuron_direction(W: torch.Tensor, *, n_starts: int = 32, n_iter: int = 300, seed: int = 0) -> NewNeuronResult:
    """Minimise ``δ(u) = E[(f − y)·relu(uᵀx)]`` over the unit sphere, per seed.

    Riemannian gradient descent with a per-start adaptive step, from the ± teacher directions,
    the ± student directions and random starts (stream ``"probe"``), ``n_starts`` in all (at least
    the deterministic ones). ``δ`` is smooth on the sphere (C² where ``u`` is parallel to a neuron).
    """
    W = _check_W(W)
    n_starts = check_int("n_starts", n_starts, min=1)
    n_iter = check_int("n_iter", n_iter, min=1)
    S, n, d = W.shape
    _, a, _ = _norms_dirs(W)
    eye = torch.eye(d, dtype=_DT, device=W.device).expand(S, d, d)
    fixed = torch.cat([eye, -eye, a, -a], dim=1)
    n_rand = max(0, n_starts - fixed.shape[1])
    g = generator(seed, "probe")
    rand = torch.randn(S, n_rand, d, generator=g, dtype=_DT).to(W.device)   # CPU stream on every device
    u = _norms_dirs(torch.cat([fixed, rand], dim=1))[1]
    u = torch.where(torch.linalg.vector_norm(u, dim=-1, keepdim=True) > 0, u, eye[:, :1])
    R = u.shape[1]
    val, gr = _slope_and_grad(W, u)
    eta = torch.full((S, R), 1.0, dtype=_DT, device=W.device)
    for _ in range(n_iter):
        rg = gr - (gr * u).sum(-1, keepdim=True) * u          # tangent part
        trial = u - eta.unsqueeze(-1) * rg
        trial = trial / torch.linalg.vector_norm(trial, dim=-1, keepdim=True)
        tval, tgr = _slope_and_grad(W, trial)
        ok = tval <= val - 1e-4 * eta * (rg * rg).sum(-1)
        u = torch.where(ok.unsqueeze(-1), trial, u)
        val = torch.where(ok, tval, val)
        gr = torch.where(ok.unsqueeze(-1), tgr, gr)
        eta = torch.where(ok, (eta * 1.5).clamp(max=10.0), eta * 0.5).clamp(min=1e-12)
    best = val.argmin(dim=1)
    ar = torch.arange(S, device=W.device)
    return NewNeuronResult(val[ar, best], u[ar, best], R)


def split_student_neuron(W: torch.Tensor, i: int, mu: float) -> torch.Tensor:
    """Embed in width ``n + 1`` with the same function: row ``i → μ wᵢ``, new last row ``(1 − μ) wᵢ``.

    relu's positive homogeneity keeps the function for ``μ ∈ [0, 1]``; the ends give a zero neuron.
    Every critical point of width ``n`` maps to one of width ``n + 1`` (``G`` is 0-homogeneous in ``u``).
    """
    W = _check_W(W)
    i = check_int("i", i, min=0, max=W.shape[1] - 1)
    mu = check_float("mu", mu, min=0.0, max=1.0)
    out = torch.cat([W, (1.0 - mu) * W[:, i:i + 1]], dim=1)
    out[:, i] = mu * W[:, i]
    return out


def _check_H(H, S: int, P: int) -> torch.Tensor:
    H = check_square_batch("H", H)
    if tuple(H.shape) != (S, P, P):
        raise ValueError(f"H must be the Hessian at W, shaped (S, n·d, n·d) = ({S}, {P}, {P}), got {tuple(H.shape)}")
    return H


def neuron_curvature(W: torch.Tensor, H: torch.Tensor | None = None) -> torch.Tensor:
    """Per-neuron curvature ``Dᵢ = Σⱼ σⱼ D(wᵢ, zⱼ)``, shape ``(S, n, d, d)``.

    It is neuron ``i``'s diagonal Hessian block minus ``C(wᵢ, wᵢ) = I/2`` (zero for a zero neuron):
    the part of the curvature that scales as ``1/‖wᵢ‖``. ``H``, the Hessian at ``W``, is computed
    when not given.

    At a split point (:func:`split_student_neuron` with ratio μ) the direction that moves the two pieces
    apart, ``(y, −y)``, has curvature ``yᵀDᵢy / (2μ(1 − μ))`` per unit length; at μ = ½ every
    eigenpair ``(λ, y)`` of ``Dᵢ`` gives an exact eigenpair ``(2λ, (y, −y)/√2)`` of the split
    point's Hessian (see :func:`split_hessian`).
    """
    W = _check_W(W)
    S, n, d = W.shape
    if H is None:
        H = hessian(W)
    H = _check_H(H, S, n * d)
    blocks = H.reshape(S, n, d, n, d).diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2)   # (S, n, d, d)
    nz = _norms_dirs(W)[2].to(W.dtype)
    eye = torch.eye(d, dtype=W.dtype, device=W.device)
    return (blocks - 0.5 * eye) * nz[..., None, None]


def split_hessian(W: torch.Tensor, i: int, mu: float, H: torch.Tensor | None = None) -> torch.Tensor:
    """The exact Hessian at ``split_student_neuron(W, i, mu)``, assembled from the Hessian ``H`` at ``W``.

    ``C`` is 0-homogeneous in both neurons and ``D(u, ·)`` scales as ``1/‖u‖``, so the pieces
    ``a = μwᵢ`` (row ``i``) and ``b = (1 − μ)wᵢ`` (new last row) see neuron ``i``'s off-diagonal
    blocks unchanged, ``H_ab = C(wᵢ, wᵢ) = I/2``, ``H_aa = I/2 + Dᵢ/μ`` and ``H_bb = I/2 + Dᵢ/(1 − μ)``
    (:func:`neuron_curvature`); every other block is as in ``H``. This holds at any ``W``, critical or
    not, and costs a copy instead of a new Hessian: equal to ``hessian(split_student_neuron(W, i, mu))`` up
    to rounding (tested). ``0 < mu < 1``.
    """
    W = _check_W(W)
    S, n, d = W.shape
    i = check_int("i", i, min=0, max=n - 1)
    mu = check_float("mu", mu, min=0.0, max=1.0, min_inclusive=False, max_inclusive=False)
    if H is None:
        H = hessian(W)
    H = _check_H(H, S, n * d)
    D = neuron_curvature(W, H)[:, i]
    nz = _norms_dirs(W)[2][:, i].to(W.dtype)[:, None, None]
    half = 0.5 * torch.eye(d, dtype=W.dtype, device=W.device) * nz
    B = H.reshape(S, n, d, n, d)
    out = W.new_zeros(S, n + 1, d, n + 1, d)
    out[:, :n, :, :n] = B
    out[:, n, :, :n] = B[:, i]
    out[:, :n, :, n] = B[:, :, :, i]
    out[:, i, :, i] = half + D / mu
    out[:, n, :, n] = half + D / (1.0 - mu)
    out[:, i, :, n] = half
    out[:, n, :, i] = half
    return out.reshape(S, (n + 1) * d, (n + 1) * d)


def add_zero_neuron(W: torch.Tensor, u: torch.Tensor | None = None, t: float = 0.0) -> torch.Tensor:
    """Width ``n + 1``: a new last neuron ``t·u`` (``u (S, d)`` unit; zero when ``t = 0``)."""
    W = _check_W(W)
    t = check_float("t", t, min=0.0)
    S, n, d = W.shape
    if u is None:
        new = torch.zeros(S, 1, d, dtype=_DT, device=W.device)
    else:
        if not torch.is_tensor(u) or tuple(u.shape) != (S, d):
            raise ValueError(f"u must have shape (S, d) = ({S}, {d}), got "
                             f"{tuple(u.shape) if torch.is_tensor(u) else type(u).__name__}")
        new = (t * u.to(device=W.device, dtype=_DT)).unsqueeze(1)
    return torch.cat([W, new], dim=1)

