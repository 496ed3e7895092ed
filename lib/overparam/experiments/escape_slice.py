"""The chapter *Escape dimensions*: the escape made visible on a 2-D slice of the loss.

:func:`escape_slice` splits one neuron of a certified minimum ``A`` and returns everything the
slice figure (:func:`overparam.figures.escape_dimensions.plot_escape_slice`) draws: the plane
through ``A`` spanned by the narrow network's flattest direction (carried through the split) and
the split point's most negative curvature direction, the loss on a grid of that plane, both Hessian
spectra, and the gradient-descent path from a small step off ``A``, projected on the plane.
:func:`recorded_descent` is that path: plain gradient descent that keeps its iterates (which
:func:`overparam.ss_dynamics.gradient_descent` does not).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import safran_shamir as ss
from .. import ss_dynamics as ssd
from ..validate import check_float, check_int, resolve_device

__all__ = ["recorded_descent", "slice_plane", "loss_slice", "EscapeSlice", "escape_slice"]

_DT = torch.float64


def recorded_descent(W0: torch.Tensor, *, lr: float, n_steps: int, record_every: int = 1):
    """Gradient descent ``W ← W − lr ∇L(W)`` on the exact loss for exactly ``n_steps`` steps (no
    stopping rule), keeping the iterate and its loss before steps ``0, record_every, ...``:
    ``(iterates (T, S, n, d), losses (T, S))``."""
    W = ss._check_W(W0, "W0")
    lr = check_float("lr", lr, min=0.0, min_inclusive=False)
    n_steps = check_int("n_steps", n_steps, min=1)
    record_every = check_int("record_every", record_every, min=1)
    iterates, losses = [], []
    for t in range(n_steps):
        L, g = ss.loss_and_gradient(W)
        if t % record_every == 0:
            iterates.append(W)
            losses.append(L)
        W = W - lr * g
    return torch.stack(iterates), torch.stack(losses)


def slice_plane(W: torch.Tensor, neuron: int, mu: float):
    """The plane through ``A = split_student_neuron(W, neuron, mu)`` (``W (1, n, d)``, a minimum):
    ``(A, e1, e2, spectrum at W, spectrum at A)``. ``e1`` is the narrow Hessian's flattest
    eigenvector, split the same way; ``e2`` the split point's most negative curvature eigenvector
    made orthogonal to ``e1``; both unit vectors shaped like ``A``. Spectra ascending."""
    W = ss._check_W(W)
    if W.shape[0] != 1:
        raise ValueError(f"W must hold one minimum, shaped (1, n, d); got {tuple(W.shape)}")
    lam_n, Q_n = torch.linalg.eigh(ss.hessian(W))
    flat = ssd.split_student_neuron(Q_n[:, :, 0].reshape(W.shape), neuron, mu)
    A = ssd.split_student_neuron(W, neuron, mu)
    lam_w, Q_w = torch.linalg.eigh(ss.hessian(A))
    e1 = flat / flat.norm()
    e2 = Q_w[:, :, 0].reshape(A.shape)
    e2 = e2 - (e2 * e1).sum() * e1
    return A, e1, e2 / e2.norm(), lam_n[0], lam_w[0]


def loss_slice(A, e1, e2, radius: float, m: int = 41):
    """The loss at ``A + a e1 + b e2`` on an ``m × m`` grid of ``[−radius, radius]²``:
    ``(a (m,), loss (m, m))``, rows indexed by ``b``, on ``A.device``."""
    radius = check_float("radius", radius, min=0.0, min_inclusive=False)
    m = check_int("m", m, min=2)
    a = torch.linspace(-radius, radius, m, dtype=_DT, device=A.device)
    Ag, Bg = torch.meshgrid(a, a, indexing="xy")
    pts = A + Ag.reshape(-1, 1, 1) * e1 + Bg.reshape(-1, 1, 1) * e2
    return a, ss.loss(pts).reshape(m, m)


@dataclass(frozen=True)
class EscapeSlice:
    """What the slice figure draws (see :func:`escape_slice`): ``k`` (the narrow width), ``neuron``,
    ``mu``; ``grid (m,)`` and ``loss_grid (m, m)``; ``lam_narrow``/``lam_split`` the ascending Hessian
    spectra before and after the split; ``path (T, 2)`` the projected descent path (None without)."""
    k: int
    neuron: int
    mu: float
    grid: np.ndarray
    loss_grid: np.ndarray
    lam_narrow: np.ndarray
    lam_split: np.ndarray
    path: np.ndarray | None

    @property
    def lambda_min_narrow(self) -> float:
        """The narrow Hessian's smallest eigenvalue at A."""
        return float(self.lam_narrow.min())

    @property
    def lambda_min_split(self) -> float:
        """The split Hessian's smallest eigenvalue at A."""
        return float(self.lam_split.min())


def escape_slice(W: torch.Tensor, neuron: int, mu: float, *, eps: float, lr: float, path: bool = True,
                 n_path: int = 3000, record_every: int = 10, m: int = 41,
                 min_radius: float = 0.4, device=None) -> EscapeSlice:
    """The slice of :func:`slice_plane` through the split minimum ``W (1, n, d)``, with the path of
    :func:`recorded_descent` (step ``lr``, ``n_path`` steps) from ``A + eps‖A‖ e2`` projected on
    ``(e1, e2)`` when ``path``. The grid's half-width is ``min_radius`` or 1.1 times the path's
    farthest coordinate, whichever is larger. ``device``: None (default) computes where ``W`` is;
    ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` moves ``W`` there first. The result is numpy."""
    eps = check_float("eps", eps, min=0.0)
    if device is not None and torch.is_tensor(W):
        W = W.to(resolve_device(device))
    A, e1, e2, lam_n, lam_w = slice_plane(W, neuron, mu)
    coords = None
    if path:
        its, _ = recorded_descent(A + eps * A.norm() * e2, lr=lr, n_steps=n_path,
                                  record_every=record_every)
        D = its[:, 0] - A[0]
        coords = torch.stack([(D * e1[0]).sum((1, 2)), (D * e2[0]).sum((1, 2))], 1).cpu().numpy()
    radius = max(min_radius, 1.1 * float(np.abs(coords).max())) if path else min_radius
    a, L = loss_slice(A, e1, e2, radius, m)
    return EscapeSlice(k=W.shape[1], neuron=neuron, mu=mu, grid=a.cpu().numpy(), loss_grid=L.cpu().numpy(),
                       lam_narrow=lam_n.cpu().numpy(), lam_split=lam_w.cpu().numpy(), path=coords)
