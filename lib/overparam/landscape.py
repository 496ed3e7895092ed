"""The loss landscape around a point: neuron splitting, negative-curvature directions, 1-D and 2-D slices.

* :func:`split_mlp_neuron` embeds S networks whose hidden layer ``layer`` has width ``n`` in width ``n + 1``
  computing the same function: neuron ``i``'s incoming weights and bias are duplicated (the copy becomes
  neuron ``n``), and its outgoing weights are shared ``mu : (1 - mu)`` between the original and the copy.
  At a critical point of the narrow network the split point is a critical point of the wide one, for every
  ``mu`` (the line of critical points along which minima can turn into saddles).
* :func:`negative_curvature` returns the eigenpairs of an exact Hessian below a threshold;
  :func:`negative_curvature_directions` does it for an MLP's loss.
* :func:`slice_1d` and :func:`slice_2d` evaluate any loss of a flat parameter vector, ``fn(theta (B, P))
  -> (B,)``, on a grid ``theta + a d1 (+ b d2)`` in batches; :func:`mlp_loss_fn` builds such an ``fn`` for an
  MLP (the rows of ``theta`` become the seeds of one batched network).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from . import hessian as _hs
from . import mlp as _mlp
from .validate import check_choice, check_float, check_int, check_square_batch

__all__ = [
    "CurvatureDirections", "Slice1D", "Slice2D", "split_mlp_neuron", "negative_curvature",
    "negative_curvature_directions", "mlp_loss_fn", "slice_1d", "slice_2d",
]


# ============================================================================ neuron splitting
def _per_seed(name: str, value, S: int, kind):
    """A list of S values from a scalar or a length-S sequence/tensor."""
    if torch.is_tensor(value):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if len(value) != S:
            raise ValueError(f"{name} must be a single value or one per seed ({S}), got {len(value)} values")
        return [kind(f"{name}[{s}]", v) for s, v in enumerate(value)]
    return [kind(name, value)] * S


def split_mlp_neuron(net: _mlp.MLP, layer: int, neuron, mu=0.5) -> _mlp.MLP:
    """The networks with hidden layer ``layer`` (0-based: the output of ``net.weights[layer]``) one neuron
    wider and the same function. ``neuron`` (an int, or one per seed) is duplicated into the new last
    neuron; its outgoing weights become ``mu * w`` (original) and ``(1 - mu) * w`` (copy). ``mu`` is any
    real number (a float or one per seed). ``net`` is not modified."""
    if not isinstance(net, _mlp.MLP):
        raise ValueError(f"net must be an overparam.mlp.MLP, got {type(net).__name__}")
    L, S = len(net.weights), net.n_seeds
    if L < 2:
        raise ValueError("net must have at least one hidden layer to split a neuron")
    layer = check_int("layer", layer, min=0, max=L - 2)
    width = net.weights[layer].shape[1]
    idx = _per_seed("neuron", neuron, S, lambda n, v: check_int(n, v, min=0, max=width - 1))
    mus = _per_seed("mu", mu, S, lambda n, v: check_float(n, v))
    ar = torch.arange(S, device=net.device)
    ii = torch.tensor(idx, device=net.device)
    mu_t = torch.tensor(mus, dtype=net.dtype, device=net.device)

    W_in, b_in, W_out = net.weights[layer], net.biases[layer], net.weights[layer + 1]
    new_W_in = torch.cat([W_in, W_in[ar, ii][:, None, :]], dim=1)
    new_b_in = None if b_in is None else torch.cat([b_in, b_in[ar, ii][:, None]], dim=1)
    col = W_out[ar, :, ii]                                                 # (S, out)
    new_W_out = torch.cat([W_out, ((1 - mu_t)[:, None] * col)[:, :, None]], dim=2)
    new_W_out[ar, :, ii] = mu_t[:, None] * col
    weights = list(net.weights)
    biases = list(net.biases)
    weights[layer], biases[layer], weights[layer + 1] = new_W_in, new_b_in, new_W_out
    return _mlp.MLP(tuple(weights), tuple(biases), net.activation)



# ============================================================================ negative curvature
@dataclass(frozen=True)
class CurvatureDirections:
    """All eigenpairs of the Hessian per seed, ascending: ``eigenvalues (S, P)``, ``eigenvectors (S, P, P)``
    (``eigenvectors[s, k]`` is the unit eigenvector of ``eigenvalues[s, k]``), and ``n_below (S,)``, the number
    of eigenvalues below ``threshold``: the negative-curvature directions are the first ``n_below[s]``."""
    eigenvalues: Tensor
    eigenvectors: Tensor
    n_below: Tensor
    threshold: float
    method: str = "eigh"

    def _below(self, s: int) -> tuple[int, int]:
        """Seed ``s`` (checked) and its number of eigenvalues below the threshold."""
        s = check_int("s", s, min=0, max=self.eigenvalues.shape[0] - 1)
        return s, int(self.n_below[s])

    def directions(self, s: int) -> Tensor:
        """``(k, P)``: seed ``s``'s directions with curvature below the threshold (most negative first)."""
        s, k = self._below(s)
        return self.eigenvectors[s, :k]

    def values(self, s: int) -> Tensor:
        """``(k,)``: seed ``s``'s eigenvalues below the threshold, ascending."""
        s, k = self._below(s)
        return self.eigenvalues[s, :k]


def negative_curvature(H: Tensor, threshold: float = 0.0) -> CurvatureDirections:
    """Eigen-decomposition (``torch.linalg.eigh``) of symmetric Hessians ``(S, P, P)`` (or ``(P, P)``)
    and the directions whose curvature is below ``threshold``."""
    H = check_square_batch("H", H)
    threshold = check_float("threshold", threshold)
    vals, vecs = torch.linalg.eigh(0.5 * (H + H.transpose(1, 2)))
    return CurvatureDirections(vals, vecs.transpose(1, 2).contiguous(), (vals < threshold).sum(1), threshold)


def negative_curvature_directions(net: _mlp.MLP, x: Tensor, y: Tensor, loss: str = "mse", *,
                                  threshold: float = 0.0) -> CurvatureDirections:
    """:func:`negative_curvature` of the exact Hessian (:func:`overparam.hessian.hessian`) of the loss."""
    return negative_curvature(_hs.hessian(net, x, y, loss), threshold)


# ============================================================================ slices
@dataclass(frozen=True)
class Slice1D:
    """``losses[g] = fn(theta + alphas[g] * direction)``; ``origin_loss = fn(theta)``."""
    alphas: Tensor
    losses: Tensor
    origin_loss: float
    theta: Tensor
    direction: Tensor


@dataclass(frozen=True)
class Slice2D:
    """``losses[a, b] = fn(theta + alphas[a] * d1 + betas[b] * d2)``; ``origin_loss = fn(theta)``."""
    alphas: Tensor
    betas: Tensor
    losses: Tensor
    origin_loss: float
    theta: Tensor
    d1: Tensor
    d2: Tensor


def mlp_loss_fn(like: _mlp.MLP, x: Tensor, y: Tensor, loss: str = "mse") -> Callable[[Tensor], Tensor]:
    """``fn(theta (B, P)) -> (B,)``: the loss of networks shaped like ``like`` on the shared data ``x, y``
    (each row of ``theta`` is one network, in :func:`overparam.mlp.flatten` order)."""
    if not isinstance(like, _mlp.MLP):
        raise ValueError(f"like must be an overparam.mlp.MLP, got {type(like).__name__}")
    check_choice("loss", loss, _mlp.LOSSES)
    if torch.is_tensor(x) and x.dim() == 3:
        raise ValueError("x must be shared by all rows of theta, shaped (N, in), not (S, N, in)")
    if torch.is_tensor(y) and ((loss == "mse" and y.dim() == 3) or (loss == "cross_entropy" and y.dim() == 2)):
        raise ValueError("y must be shared by all rows of theta (no seed axis)")

    def fn(theta: Tensor) -> Tensor:
        return _mlp.loss(_mlp.unflatten(theta, like), x, y, loss)
    return fn


def _vector(name: str, v, P: int | None, like: Tensor | None = None) -> Tensor:
    t = v if torch.is_tensor(v) else torch.as_tensor(v, dtype=torch.float64)
    if like is not None:
        t = t.to(dtype=like.dtype, device=like.device)
    if not t.is_floating_point() or t.dim() != 1 or t.numel() < 1:
        raise ValueError(f"{name} must be a non-empty 1-D floating-point vector, got shape {tuple(t.shape)}")
    if P is not None and t.numel() != P:
        raise ValueError(f"{name} must have {P} entries (like theta), got {t.numel()}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite")
    return t


def _direction(name: str, d, theta: Tensor) -> Tensor:
    d = _vector(name, d, theta.numel(), theta)
    if float(d.abs().max()) == 0.0:
        raise ValueError(f"{name} must be a non-zero vector")
    return d


def _evaluate(fn, points: Tensor, chunk_size: int) -> Tensor:
    out = []
    for i in range(0, points.shape[0], chunk_size):
        with torch.no_grad():
            v = fn(points[i:i + chunk_size])
        if not torch.is_tensor(v) or v.shape != (min(chunk_size, points.shape[0] - i),):
            raise ValueError("fn must map theta (B, P) to a tensor of B losses")
        out.append(v.detach())
    return torch.cat(out)


def _check_fn(fn, chunk_size):
    if not callable(fn):
        raise ValueError("fn must be callable: theta (B, P) -> losses (B,)")
    return check_int("chunk_size", chunk_size, min=1)


def slice_1d(fn: Callable[[Tensor], Tensor], theta: Tensor, direction: Tensor, alphas, *,
             chunk_size: int = 256) -> Slice1D:
    """The loss along the line ``theta + a * direction`` for each ``a`` in ``alphas``, evaluated in
    batches of ``chunk_size`` points."""
    chunk_size = _check_fn(fn, chunk_size)
    theta = _vector("theta", theta, None)
    d = _direction("direction", direction, theta)
    a = _vector("alphas", alphas, None, theta)
    losses = _evaluate(fn, theta[None] + a[:, None] * d[None], chunk_size)
    origin = float(_evaluate(fn, theta[None], 1)[0])
    return Slice1D(a, losses, origin, theta, d)


def slice_2d(fn: Callable[[Tensor], Tensor], theta: Tensor, d1: Tensor, d2: Tensor, alphas, betas, *,
             chunk_size: int = 256) -> Slice2D:
    """The loss on the plane ``theta + a * d1 + b * d2`` for ``a`` in ``alphas`` (rows) and ``b`` in
    ``betas`` (columns), evaluated in batches of ``chunk_size`` points."""
    chunk_size = _check_fn(fn, chunk_size)
    theta = _vector("theta", theta, None)
    u, v = _direction("d1", d1, theta), _direction("d2", d2, theta)
    a, b = _vector("alphas", alphas, None, theta), _vector("betas", betas, None, theta)
    pts = (theta[None, None] + a[:, None, None] * u[None, None] + b[None, :, None] * v[None, None])
    losses = _evaluate(fn, pts.reshape(-1, theta.numel()), chunk_size).reshape(a.numel(), b.numel())
    origin = float(_evaluate(fn, theta[None], 1)[0])
    return Slice2D(a, b, losses, origin, theta, u, v)
