"""A second-order finisher: from near a critical point down to gradient norm ~1e-10.

First-order methods reach a minimum's neighbourhood quickly but creep the last few decades of the
gradient norm; certifying a minimum needs the gradient far below the smallest Hessian eigenvalue.
:func:`newton_finish` runs a batched, damped Newton method on the exact Hessian, in float64::

    p = −Q diag(1 / (|λ| + μ)) Qᵀ g,        H = Q diag(λ) Qᵀ  (``torch.linalg.eigh``)

with a per-seed damping ``μ`` adapted by the ratio of actual to predicted decrease (a
Levenberg–Marquardt-style trust region). Using ``|λ|`` keeps every step a descent direction: near a
strict minimum it is Newton's method (quadratic convergence); near a saddle it moves away along
negative curvature instead of converging to the saddle, so a point it certifies is not a slow
saddle. Once the predicted decrease falls below the loss's round-off a step is judged by the
gradient norm instead. Seeds that converge drop out of the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .validate import check_float, check_finite, check_int

__all__ = ["FinishResult", "newton_finish"]


@dataclass(frozen=True)
class FinishResult:
    """Per seed: final ``theta (S, P)``, ``loss``, ``grad_norm``, Newton ``iterations``,
    ``converged`` (gradient norm below ``grad_tol``), ``distance`` ``‖theta − theta0‖`` (how far the
    finisher moved the point) and ``lambda_min``, the smallest Hessian eigenvalue at the final point."""
    theta: torch.Tensor
    loss: torch.Tensor
    grad_norm: torch.Tensor
    iterations: torch.Tensor
    converged: torch.Tensor
    distance: torch.Tensor
    lambda_min: torch.Tensor


def newton_finish(theta: torch.Tensor, fn: Callable, *, grad_tol: float = 1e-10, max_iter: int = 200,
                  mu0: float = 1e-8) -> FinishResult:
    """Polish ``theta (S, P)`` with damped Newton steps until ``‖grad‖ < grad_tol`` or ``max_iter``.

    ``fn(theta (S', P)) -> (loss (S',), grad (S', P), hess (S', P, P))`` for any subset of seeds.
    ``theta`` is not modified; the computation runs in float64 on ``theta.device`` (every result
    tensor is there too).
    """
    if not torch.is_tensor(theta) or theta.dim() != 2 or min(theta.shape) < 1:
        raise ValueError(f"theta must be a tensor of shape (S, P) with S, P >= 1, got "
                         f"{tuple(theta.shape) if torch.is_tensor(theta) else type(theta).__name__}")
    if not callable(fn):
        raise ValueError(f"fn must be callable (theta -> loss, grad, hess), got {type(fn).__name__}")
    check_finite("theta", theta)
    grad_tol = check_float("grad_tol", grad_tol, min=0.0, min_inclusive=False)
    max_iter = check_int("max_iter", max_iter, min=0)
    mu0 = check_float("mu0", mu0, min=0.0)
    theta0 = theta.detach().to(torch.float64)
    S, P = theta0.shape
    eps = torch.finfo(torch.float64).eps

    x = theta0.clone()
    L, g, H = _call(fn, x, S, P)
    gn = torch.linalg.vector_norm(g, dim=-1)
    out_x, out_L, out_gn = x.clone(), L.clone(), gn.clone()
    out_H = H.clone()
    dev = theta0.device
    iters = torch.zeros(S, dtype=torch.int64, device=dev)
    mu = torch.full((S,), mu0, dtype=torch.float64, device=dev)
    alive = torch.arange(S, device=dev)
    active = gn >= grad_tol
    alive, x, L, g, H, gn, mu = (t[active] for t in (alive, x, L, g, H, gn, mu))

    for it in range(1, max_iter + 1):
        if alive.numel() == 0:
            break
        x, L, g, H, gn, mu = _newton_step(fn, x, L, g, H, gn, mu, eps)
        iters[alive] = it
        out_x[alive], out_L[alive], out_gn[alive], out_H[alive] = x, L, gn, H
        keep = gn >= grad_tol
        if not bool(keep.all()):
            alive, x, L, g, H, gn, mu = (t[keep] for t in (alive, x, L, g, H, gn, mu))

    lam_min = torch.linalg.eigvalsh(out_H)[:, 0]
    return FinishResult(
        theta=out_x, loss=out_L, grad_norm=out_gn, iterations=iters, converged=out_gn < grad_tol,
        distance=torch.linalg.vector_norm(out_x - theta0, dim=-1), lambda_min=lam_min,
    )


def _newton_step(fn, x, L, g, H, gn, mu, eps):
    """One damped Newton step per seed, accepted or not by the trust-ratio rule; the new
    ``(x, L, g, H, gn, mu)``."""
    lam, Q = torch.linalg.eigh(H)
    gt = torch.einsum("spq,sp->sq", Q, g)                      # Qᵀg
    scale = lam.abs().amax(-1).clamp(min=1e-300)
    step_c = -gt / (lam.abs() + (mu * scale).unsqueeze(-1))
    p = torch.einsum("spq,sq->sp", Q, step_c)
    pred = (gt * step_c).sum(-1) + 0.5 * (lam * step_c ** 2).sum(-1)   # model change (< 0)
    xn = x + p
    Ln, gnew, Hn = _call(fn, xn, x.shape[0], x.shape[1])
    gnn = torch.linalg.vector_norm(gnew, dim=-1)
    finite = torch.isfinite(Ln) & torch.isfinite(gnn)
    actual = Ln - L
    rho = actual / pred.clamp(max=-1e-300)
    tiny = (-pred) < 100 * eps * (L.abs() + 1e-300)
    accept = finite & torch.where(tiny, gnn < gn, rho > 1e-4)
    good = finite & ~tiny & (rho > 0.75)
    mu = torch.where(accept & good, mu / 10, torch.where(accept, mu, mu * 10 + 1e-12))
    mu = mu.clamp(max=1e12)
    a = accept.unsqueeze(-1)
    return (torch.where(a, xn, x), torch.where(accept, Ln, L), torch.where(a, gnew, g),
            torch.where(a.unsqueeze(-1), Hn, H), torch.where(accept, gnn, gn), mu)


def _call(fn, x, S, P):
    out = fn(x)
    if not isinstance(out, tuple) or len(out) != 3:
        raise ValueError("fn must return a tuple (loss (S,), grad (S, P), hess (S, P, P))")
    L, g, H = (t.to(torch.float64) for t in out)
    if tuple(L.shape) != (S,) or tuple(g.shape) != (S, P) or tuple(H.shape) != (S, P, P):
        raise ValueError(f"fn must return shapes (S,), (S, P), (S, P, P) with S={S}, P={P}; got "
                         f"{tuple(L.shape)}, {tuple(g.shape)}, {tuple(H.shape)}")
    return L, g, H
