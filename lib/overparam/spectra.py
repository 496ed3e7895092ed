"""Spectral tools for batched symmetric operators: Lanczos, stochastic Lanczos quadrature, Hutchinson.

They act on a :class:`SymmetricOperator` (batched: ``(S, R, P) -> (S, R, P)``), built from an explicit
Hessian with :func:`as_operator` or from autograd Hessian-vector products with :func:`hvp_operator`.
:func:`lanczos` (full reorthogonalisation; extreme eigenvalues), :func:`slq` (stochastic Lanczos quadrature:
nodes and weights of a spectral density; :func:`smoothed_density` puts it on a grid) and
:func:`hutchinson_trace` (with its standard error). Probe vectors are Rademacher, drawn for seed ``s`` of
the batch from ``generator(seed, f"probe/{s}")`` (sub-streams of ``"probe"``), so seed ``s`` gets the same
probes whatever the batch size. Eigenproblems use ``scipy.linalg.eigh_tridiagonal`` / ``eigvalsh`` only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal
from torch import Tensor

from . import mlp as _mlp
from .hessian import _prepare
from .rng import generator
from .validate import check_float, check_int, check_shape, check_square_batch

__all__ = [
    "SymmetricOperator", "LanczosResult", "SpectralDensity", "SmoothedDensity", "TraceEstimate",
    "hvp", "hvp_operator", "as_operator", "lanczos", "slq", "smoothed_density", "hutchinson_trace",
    "rademacher_probes",
]


# ============================================================================ Hessian-vector products
@dataclass(frozen=True)
class SymmetricOperator:
    """A batch of symmetric ``P x P`` operators, one per seed: ``matvec(V (S, R, P)) -> (S, R, P)``."""
    matvec: Callable[[Tensor], Tensor]
    n_seeds: int
    n_params: int
    dtype: torch.dtype
    device: torch.device
    name: str = "operator"

    def __post_init__(self):
        if not callable(self.matvec):
            raise ValueError("matvec must be callable: (S, R, P) -> (S, R, P)")
        check_int("n_seeds", self.n_seeds, min=1)
        check_int("n_params", self.n_params, min=1)

    def __call__(self, V: Tensor) -> Tensor:
        out = self.matvec(V)
        if out.shape != V.shape:
            raise ValueError(f"matvec returned shape {tuple(out.shape)} for input {tuple(V.shape)}")
        return out


def as_operator(A) -> SymmetricOperator:
    """A :class:`SymmetricOperator` from a symmetric matrix ``(P, P)`` or batch ``(S, P, P)``
    (an operator is returned unchanged)."""
    if isinstance(A, SymmetricOperator):
        return A
    A = check_square_batch("A", A)
    scale = float(A.abs().max())
    if float((A - A.transpose(1, 2)).abs().max()) > 1e-8 * max(scale, 1e-300):
        raise ValueError("A must be symmetric (to 1e-8 relative)")
    return SymmetricOperator(lambda V: torch.matmul(V, A), A.shape[0], A.shape[1], A.dtype, A.device, "matrix")


def _autograd_grad(net, x, y, loss):
    theta = _mlp.flatten(net).detach().clone().requires_grad_(True)
    value = _mlp.loss(_mlp.unflatten(theta, net), x, y, loss).sum()
    (g,) = torch.autograd.grad(value, theta, create_graph=True)
    return theta, g


def hvp_operator(net: _mlp.MLP, x: Tensor, y: Tensor, loss: str = "mse") -> SymmetricOperator:
    """Hessian-vector products of the loss by double backpropagation through :func:`overparam.mlp.loss`
    (the gradient graph is built once and reused for every product)."""
    _prepare(net, x, y, loss)
    theta, g = _autograd_grad(net, x, y, loss)

    def matvec(V: Tensor) -> Tensor:
        cols = [torch.autograd.grad(g, theta, grad_outputs=V[:, r], retain_graph=True)[0]
                for r in range(V.shape[1])]
        return torch.stack(cols, dim=1).detach()
    return SymmetricOperator(matvec, net.n_seeds, net.n_params, net.dtype, net.device, "hvp")


def hvp(net: _mlp.MLP, x: Tensor, y: Tensor, v: Tensor, loss: str = "mse") -> Tensor:
    """``H v`` per seed: ``v`` is ``(S, P)`` (one vector per seed) or ``(S, R, P)``; same shape back."""
    if not torch.is_tensor(v) or v.dim() not in (2, 3):
        raise ValueError(f"v must be a tensor shaped (S, P) or (S, R, P), got "
                         f"{tuple(v.shape) if torch.is_tensor(v) else type(v).__name__}")
    check_shape("v", v, (net.n_seeds,) + (None,) * (v.dim() - 2) + (net.n_params,))
    op = hvp_operator(net, x, y, loss)
    V = v.to(dtype=net.dtype, device=net.device)
    return op(V[:, None] if v.dim() == 2 else V)[:, 0] if v.dim() == 2 else op(V)


# ============================================================================ probes and Lanczos
def rademacher_probes(n_seeds: int, n_probes: int, n_params: int, seed: int, *, dtype=torch.float64,
                      device=None) -> Tensor:
    """``(S, R, P)`` entries +-1; seed ``s`` of the batch draws from ``generator(seed, f"probe/{s}")``."""
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    n_probes = check_int("n_probes", n_probes, min=1)
    n_params = check_int("n_params", n_params, min=1)
    seed = check_int("seed", seed, min=0)
    out = torch.empty(n_seeds, n_probes, n_params, dtype=dtype)
    for s in range(n_seeds):
        g = generator(seed, f"probe/{s}")
        out[s] = torch.randint(0, 2, (n_probes, n_params), generator=g).to(dtype) * 2 - 1
    return out.to(device) if device is not None else out


def _lanczos_runs(op: SymmetricOperator, V0: Tensor, m: int, seed: int):
    """Lanczos with full reorthogonalisation from the unit vectors ``V0 (S, R, P)``, ``m`` steps.

    On breakdown (an invariant subspace found) a chain restarts from a fresh random vector orthogonal to
    its basis, with beta = 0, so T stays a valid (block) tridiagonal Ritz matrix."""
    S, R, P = V0.shape
    g = generator(seed, "probe/restart")
    Q = V0.new_zeros(S, R, m, P)
    alpha = V0.new_zeros(S, R, m)
    beta = V0.new_zeros(S, R, max(m - 1, 0))
    Q[:, :, 0] = V0
    scale = V0.new_zeros(S, R)
    for j in range(m):
        q = Q[:, :, j]
        w = op(q)
        alpha[:, :, j] = (w * q).sum(-1)
        scale = torch.maximum(scale, w.norm(dim=-1))
        if j == m - 1:
            break
        Qj = Q[:, :, : j + 1]
        for _ in range(2):                                   # full reorthogonalisation, twice
            w = w - torch.einsum("srkp,srk->srp", Qj, torch.einsum("srkp,srp->srk", Qj, w))
        b = w.norm(dim=-1)
        fresh = torch.randn(S, R, P, generator=g, dtype=V0.dtype).to(V0.device)
        broke = b <= 1e-10 * torch.clamp(scale, min=torch.finfo(V0.dtype).tiny)
        if bool(broke.any()):
            for _ in range(2):
                fresh = fresh - torch.einsum("srkp,srk->srp", Qj, torch.einsum("srkp,srp->srk", Qj, fresh))
            fresh = fresh / fresh.norm(dim=-1, keepdim=True)
            w = torch.where(broke[..., None], fresh, w / torch.where(broke, 1.0, b)[..., None])
            b = torch.where(broke, 0.0, b)
        else:
            w = w / b[..., None]
        beta[:, :, j] = b
        Q[:, :, j + 1] = w
    return alpha, beta, Q


def _tridiag_eigh(alpha: Tensor, beta: Tensor, vectors: bool):
    """Eigen-decompositions of the tridiagonal matrices ``(..., m)`` with scipy's eigh_tridiagonal."""
    a = alpha.detach().cpu().double().numpy()
    b = beta.detach().cpu().double().numpy()
    lead = a.shape[:-1]
    m = a.shape[-1]
    vals = np.empty(a.shape)
    vecs = np.empty(a.shape + (m,)) if vectors else None
    for idx in np.ndindex(*lead):
        if m == 1:
            vals[idx] = a[idx]
            if vectors:
                vecs[idx] = 1.0
            continue
        if vectors:
            vals[idx], vecs[idx] = eigh_tridiagonal(a[idx], b[idx])
        else:
            vals[idx] = eigh_tridiagonal(a[idx], b[idx], eigvals_only=True)
    return vals, vecs


def _resolve_op(A) -> SymmetricOperator:
    if isinstance(A, SymmetricOperator):
        return A
    return as_operator(A)


def _steps(n_iter, P, name="n_iter"):
    n_iter = check_int(name, n_iter, min=1)
    return min(n_iter, P)


@dataclass(frozen=True)
class LanczosResult:
    """Ritz values ``(S, m)`` ascending (``m = min(n_iter, P)``), with residual norms ``|beta_m y_m|``
    ``(S, m)`` (small: converged). ``vectors (S, m, P)`` are the Ritz vectors when asked for."""
    eigenvalues: Tensor
    residuals: Tensor
    n_iter: int
    seed: int
    vectors: Tensor | None = None
    method: str = "lanczos"

    @property
    def min_eigenvalue(self) -> Tensor:
        return self.eigenvalues[:, 0]

    @property
    def max_eigenvalue(self) -> Tensor:
        return self.eigenvalues[:, -1]


def lanczos(A, n_iter: int = 100, *, seed: int = 0, return_vectors: bool = False) -> LanczosResult:
    """Extreme eigenvalues of each seed's symmetric operator ``A`` (a matrix ``(S, P, P)`` or a
    :class:`SymmetricOperator`) by ``min(n_iter, P)`` Lanczos steps with full reorthogonalisation,
    started from a Rademacher probe drawn from ``(seed, "probe")``. With ``n_iter >= P`` the Ritz values
    are the eigenvalues."""
    op = _resolve_op(A)
    m = _steps(n_iter, op.n_params)
    seed = check_int("seed", seed, min=0)
    if not isinstance(return_vectors, bool):
        raise ValueError(f"return_vectors must be True or False, got {return_vectors!r}")
    V0 = rademacher_probes(op.n_seeds, 1, op.n_params, seed, dtype=op.dtype, device=op.device)
    V0 = V0 / op.n_params ** 0.5
    alpha, beta, Q = _lanczos_runs(op, V0, m, seed)
    vals, vecs = _tridiag_eigh(alpha[:, 0], beta[:, 0], True)
    last = beta.new_zeros(op.n_seeds) if m == op.n_params else None
    # residual of Ritz pair k: |beta_m * y_k[m-1]|, beta_m = norm of the next Lanczos vector's coefficient
    if m < op.n_params:
        q = Q[:, 0, m - 1]
        w = op(q[:, None])[:, 0]
        w = w - torch.einsum("skp,sk->sp", Q[:, 0], torch.einsum("skp,sp->sk", Q[:, 0], w))
        last = w.norm(dim=-1)
    ev = torch.as_tensor(vals, dtype=op.dtype, device=op.device)
    Y = torch.as_tensor(vecs, dtype=op.dtype, device=op.device)          # (S, m, m), columns eigvecs
    res = (last[:, None] * Y[:, -1, :]).abs()
    vectors = torch.einsum("skp,skj->sjp", Q[:, 0], Y) if return_vectors else None
    return LanczosResult(ev, res, m, seed, vectors)


# ============================================================================ SLQ
@dataclass(frozen=True)
class SpectralDensity:
    """Stochastic Lanczos quadrature: for each seed and probe, Gauss quadrature nodes ``(S, R, m)`` and
    weights ``(S, R, m)`` (each probe's weights sum to 1). The density is
    ``phi(t) = (1/R) sum_r sum_k weights[r,k] delta(t - nodes[r,k])``, an estimate of
    ``(1/P) sum_i delta(t - lambda_i)``."""
    nodes: Tensor
    weights: Tensor
    n_iter: int
    n_probes: int
    n_params: int
    seed: int
    method: str = "slq"

    def moment(self, k: int) -> Tensor:
        """``integral t^k phi(t) dt`` per seed ``(S,)``: estimates ``tr(H^k) / P``
        (exact per probe for ``k <= 2 n_iter - 1``)."""
        k = check_int("k", k, min=0)
        return (self.weights * self.nodes ** k).sum(-1).mean(-1)


def slq(A, n_iter: int = 80, n_probes: int = 10, *, seed: int = 0) -> SpectralDensity:
    """Spectral density of each seed's symmetric operator ``A`` by stochastic Lanczos quadrature:
    ``n_probes`` normalised Rademacher probes from ``(seed, "probe")``, ``min(n_iter, P)`` Lanczos steps
    each, with full reorthogonalisation."""
    op = _resolve_op(A)
    m = _steps(n_iter, op.n_params)
    n_probes = check_int("n_probes", n_probes, min=1)
    seed = check_int("seed", seed, min=0)
    V0 = rademacher_probes(op.n_seeds, n_probes, op.n_params, seed, dtype=op.dtype, device=op.device)
    V0 = V0 / op.n_params ** 0.5
    alpha, beta, _ = _lanczos_runs(op, V0, m, seed)
    vals, vecs = _tridiag_eigh(alpha, beta, True)
    nodes = torch.as_tensor(vals, dtype=op.dtype, device=op.device)
    weights = torch.as_tensor(vecs[..., 0, :] ** 2, dtype=op.dtype, device=op.device)
    return SpectralDensity(nodes, weights, m, n_probes, op.n_params, seed)


@dataclass(frozen=True)
class SmoothedDensity:
    """A spectral density on a grid: ``density (S, G)`` at ``grid (G,)``, Gaussian kernel of width
    ``sigma`` (it integrates to 1 over the real line)."""
    grid: Tensor
    density: Tensor
    sigma: float
    seed: int
    method: str = "slq"


def smoothed_density(sd: SpectralDensity, grid, sigma: float) -> SmoothedDensity:
    """``(1/R) sum_r sum_k w_rk N(t; node_rk, sigma^2)`` at each ``t`` of ``grid``."""
    if not isinstance(sd, SpectralDensity):
        raise ValueError(f"sd must be a SpectralDensity (from slq), got {type(sd).__name__}")
    sigma = check_float("sigma", sigma, min=0.0, min_inclusive=False)
    t = torch.as_tensor(grid, dtype=sd.nodes.dtype, device=sd.nodes.device)
    if t.dim() != 1 or t.numel() < 1 or not bool(torch.isfinite(t).all()):
        raise ValueError("grid must be a non-empty 1-D sequence of finite numbers")
    z = (t[None, None, None, :] - sd.nodes[..., None]) / sigma           # (S, R, m, G)
    k = torch.exp(-0.5 * z * z) / (sigma * (2 * np.pi) ** 0.5)
    dens = (sd.weights[..., None] * k).sum(2).mean(1)
    return SmoothedDensity(t, dens, sigma, sd.seed, sd.method)


# ============================================================================ Hutchinson
@dataclass(frozen=True)
class TraceEstimate:
    """Hutchinson's estimate of ``tr(A)`` per seed: ``trace (S,)``, its ``standard_error (S,)``
    (sample standard deviation over probes / sqrt(R)), and the ``samples (S, R)`` ``z^T A z``."""
    trace: Tensor
    standard_error: Tensor
    samples: Tensor
    n_probes: int
    seed: int
    method: str = "hutchinson"


def hutchinson_trace(A, n_probes: int = 100, *, seed: int = 0) -> TraceEstimate:
    """``tr(A)`` per seed from ``n_probes`` Rademacher probes ``z`` drawn from ``(seed, "probe")``."""
    op = _resolve_op(A)
    n_probes = check_int("n_probes", n_probes, min=2)
    seed = check_int("seed", seed, min=0)
    Z = rademacher_probes(op.n_seeds, n_probes, op.n_params, seed, dtype=op.dtype, device=op.device)
    samples = (Z * op(Z)).sum(-1)
    se = samples.std(dim=1, unbiased=True) / n_probes ** 0.5
    return TraceEstimate(samples.mean(1), se, samples, n_probes, seed)
