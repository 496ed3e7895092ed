"""Classify a trained point from its loss, gradient norm and smallest Hessian eigenvalue.

Verdicts, checked in this order::

    "not_converged"          the gradient norm is not below grad_tol (or a number is not finite);
    "global_minimum"         the loss is below loss_tol (the loss is ≥ 0, so this is a global minimum
                             up to the tolerance, whatever the curvature: with extra width global minima
                             come in flat families and λmin ≈ 0 there);
    "strict_local_minimum"   λmin > eig_tol;
    "saddle"                 λmin < −eig_tol;
    "degenerate"             |λmin| ≤ eig_tol: second order cannot decide.

Every verdict comes back as a :class:`Certificate` carrying the numbers and thresholds behind it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch

from .validate import check_float

__all__ = ["VERDICTS", "Certificate", "classify", "certify_hessian", "count_verdicts"]

VERDICTS = ("global_minimum", "strict_local_minimum", "saddle", "degenerate", "not_converged")


@dataclass(frozen=True)
class Certificate:
    verdict: str
    loss: float
    grad_norm: float
    lambda_min: float
    grad_tol: float
    loss_tol: float
    eig_tol: float

    @property
    def is_minimum(self) -> bool:
        return self.verdict in ("global_minimum", "strict_local_minimum")

    def __str__(self) -> str:
        return (f"{self.verdict}: loss={self.loss:.3e}, |grad|={self.grad_norm:.2e} (tol {self.grad_tol:g}), "
                f"lambda_min={self.lambda_min:.3e} (tol {self.eig_tol:g})")


def _as_1d(name, value):
    t = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    if t.dim() > 1:
        raise ValueError(f"{name} must be a number or a 1-D array over seeds, got shape {tuple(t.shape)}")
    return t.reshape(-1)


def classify(loss, grad_norm, lambda_min, *, grad_tol: float = 1e-9, loss_tol: float = 1e-6,
             eig_tol: float = 1e-6) -> tuple[Certificate, ...]:
    """One :class:`Certificate` per seed from ``loss``, ``grad_norm``, ``lambda_min`` (numbers or 1-D, same length).

    The verdicts are bookkeeping: the three values are moved to the CPU in float64 (``.cpu()``) and
    compared there, so tensors on any device are accepted."""
    grad_tol = check_float("grad_tol", grad_tol, min=0.0, min_inclusive=False)
    loss_tol = check_float("loss_tol", loss_tol, min=0.0)
    eig_tol = check_float("eig_tol", eig_tol, min=0.0)
    L, G, E = _as_1d("loss", loss), _as_1d("grad_norm", grad_norm), _as_1d("lambda_min", lambda_min)
    if not (L.numel() == G.numel() == E.numel()):
        raise ValueError(f"loss, grad_norm and lambda_min must have the same length, got "
                         f"{L.numel()}, {G.numel()}, {E.numel()}")
    out = []
    for l, g, e in zip(L.tolist(), G.tolist(), E.tolist()):
        finite = all(map(lambda v: v == v and abs(v) != float("inf"), (l, g, e)))
        if not finite or g >= grad_tol:
            v = "not_converged"
        elif l < loss_tol:
            v = "global_minimum"
        elif e > eig_tol:
            v = "strict_local_minimum"
        elif e < -eig_tol:
            v = "saddle"
        else:
            v = "degenerate"
        out.append(Certificate(v, l, g, e, grad_tol, loss_tol, eig_tol))
    return tuple(out)


def certify_hessian(loss, grad, hess, **thresholds) -> tuple[Certificate, ...]:
    """:func:`classify` from ``loss (S,)``, ``grad (S, P)`` and a symmetric ``hess (S, P, P)`` (``eigvalsh``,
    in float64 on the device of ``hess``; the verdicts as in :func:`classify`)."""
    grad = torch.as_tensor(grad, dtype=torch.float64)
    hess = torch.as_tensor(hess, dtype=torch.float64)
    if grad.dim() != 2 or hess.dim() != 3 or hess.shape != (grad.shape[0], grad.shape[1], grad.shape[1]):
        raise ValueError(f"grad must be (S, P) and hess (S, P, P); got {tuple(grad.shape)} and {tuple(hess.shape)}")
    lam = torch.linalg.eigvalsh(0.5 * (hess + hess.transpose(1, 2)))[:, 0]
    return classify(loss, torch.linalg.vector_norm(grad, dim=-1), lam, **thresholds)


def count_verdicts(certificates) -> dict[str, int]:
    """``{verdict: count}`` over all verdicts (zeros included)."""
    c = Counter(cert.verdict for cert in certificates)
    return {v: int(c.get(v, 0)) for v in VERDICTS}
