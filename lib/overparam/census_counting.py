"""Counting in the census (:mod:`overparam.census`): distinct minima up to symmetry, rarefaction, and
the pieces of the global-minimum manifold and of the symmetry-induced critical sets.

``fingerprint`` maps each point to a vector that is invariant under the symmetry by construction and
continuous in the point (sorted quantities), and ``distinct_minima`` groups points whose fingerprints
agree to a relative tolerance (a lower bound on the number of distinct minima). ``rarefaction`` is
the expected number of distinct minima found in a random subset of the runs (Hurlbert's formula).
``subspace_counts`` counts affine pieces (see its docstring). Random stream: ``"census/fingerprint"``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from scipy.special import gammaln, stirling2

from .rng import generator
from .validate import check_float, check_int, check_int_list

__all__ = ["fingerprint", "distinct_minima", "rarefaction", "subspace_counts"]

_DT = torch.float64


def fingerprint(rows: torch.Tensor, *, permute_columns: bool = False) -> torch.Tensor:
    """A vector ``(S, F)`` per point that is invariant under permuting the neurons
    ``rows (S, n, p)`` (and, with ``permute_columns``, also the columns) and continuous
    in the point.

    Neurons only: the sorted projections of the rows on ``p + 2`` fixed generic
    directions (stream ``"census/fingerprint"``), with the sorted row norms. Rows and
    columns (the Safran–Shamir family, ``W ↦ P W Qᵀ``): the sorted entries, the sorted
    row and column norms and sums, and the singular values.
    """
    if not torch.is_tensor(rows) or rows.dim() != 3 or min(rows.shape) < 1:
        raise ValueError(
            f"rows must be a tensor shaped (S, n, p), got "
            f"{tuple(rows.shape) if torch.is_tensor(rows) else type(rows).__name__}"
        )
    if not isinstance(permute_columns, bool):
        raise ValueError(
            f"permute_columns must be True or False, got {permute_columns!r}"
        )
    R = rows.to(_DT)
    S, n, p = R.shape
    norms = torch.linalg.vector_norm(R, dim=-1).sort(-1).values
    if not permute_columns:
        U = torch.randn(
            p, p + 2, generator=generator(0, "census/fingerprint"), dtype=_DT
        ).to(R.device)  # the CPU stream's directions on every device
        proj = (R @ U).sort(dim=1).values  # (S, n, p + 2)
        return torch.cat([proj.transpose(1, 2).reshape(S, -1), norms], dim=1)
    parts = [
        R.reshape(S, -1).sort(-1).values,
        norms,
        torch.linalg.vector_norm(R, dim=1).sort(-1).values,
        R.sum(2).sort(-1).values,
        R.sum(1).sort(-1).values,
        torch.linalg.svdvals(R),
    ]
    return torch.cat(parts, dim=1)


def distinct_minima(fp: torch.Tensor, tol: float = 1e-3) -> np.ndarray:
    """Group points by fingerprint ``fp (S, F)``: labels ``(S,)`` numbered by first
    appearance. Point ``i`` joins the first group whose first member's fingerprint is
    within ``tol·(1 + max|fp|)`` of its own in the max norm."""
    if not torch.is_tensor(fp) or fp.dim() != 2:
        raise ValueError("fp must be a tensor shaped (S, F)")
    tol = check_float("tol", tol, min=0.0, min_inclusive=False)
    labels = np.full(fp.shape[0], -1, dtype=np.int64)
    reps: list[int] = []
    for i in range(fp.shape[0]):
        if reps:
            R = fp[reps]
            scale = 1 + torch.maximum(R.abs().amax(-1), fp[i].abs().max())
            close = ((R - fp[i]).abs().amax(-1) <= tol * scale).nonzero()
            if close.numel():
                labels[i] = int(close[0, 0])
                continue
        labels[i] = len(reps)
        reps.append(i)
    return labels


def rarefaction(counts, n_runs: int) -> np.ndarray:
    """Expected number of distinct minima among ``t`` runs drawn without replacement
    from ``n_runs``, for ``t = 1 .. n_runs``, when minimum ``c`` was reached by
    ``counts[c]`` of them: ``Σ_c 1 − C(n_runs − counts[c], t) / C(n_runs, t)`` (Hurlbert
    1971)."""
    n_runs = check_int("n_runs", n_runs, min=1)
    c = np.asarray(counts, dtype=np.int64).ravel()
    if c.size and (c.min() < 1 or c.sum() > n_runs):
        raise ValueError(
            f"counts must be positive and sum to at most n_runs={n_runs}, "
            f"got {c.tolist()}"
        )
    t = np.arange(1, n_runs + 1)

    def logC(a, b):
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    out = np.zeros(n_runs)
    for ci in c:
        miss = np.where(
            t <= n_runs - ci,
            np.exp(logC(n_runs - ci, np.minimum(t, n_runs - ci)) - logC(n_runs, t)),
            0.0,
        )
        out += 1 - miss
    return out


# ================================================================== counting the pieces
def _configurations(r: int, m: int) -> int:
    """By enumeration: maps from the ``m`` student neurons to ``{0, 1, ..., r}`` (0: a
    zero-type neuron, ``j``: a copy of neuron ``j``) that use every ``j ≥ 1``."""
    count = 0
    need = set(range(1, r + 1))
    for a in itertools.product(range(r + 1), repeat=m):
        if need.issubset(a):
            count += 1
    return count


def _closed_form(r: int, m: int) -> int:
    """``Σ_k C(m, k) r! S(m − k, r)``: choose the ``k`` zero-type neurons, then a
    surjection of the others onto the ``r`` neurons (``S`` the Stirling numbers of the
    second kind)."""
    return sum(
        math.comb(m, k) * math.factorial(r) * int(stirling2(m - k, r, exact=True))
        for k in range(0, m - r + 1)
    )


def subspace_counts(r_star: int, ms, *, enumerate_up_to: int = 8) -> list:
    """``T`` and ``G`` for a two-layer network of width ``m`` (each in ``ms``, ``m ≥
    r_star``) and a teacher of width ``r_star ≥ 2``, counted by this rule (Şimşek et al.
    2021's setting; their closed forms were not available to check against):

    - ``T``: affine pieces of the global-minimum manifold. Each student neuron copies
      one teacher neuron (copies share its input weights; their output weights sum to
      its output weight) or is zero-type (output weight 0, input weights free); every
      teacher neuron is copied at least once.
    - ``G``: pieces of symmetry-induced critical points made from one critical point
      of width ``r = r_star − 1`` (with its ``r!`` permutations) by the same rule, a
      zero-type neuron having input and output weights 0.

    Both are numbers of configurations, ``_closed_form(r, m)``; for ``m ≤
    enumerate_up_to`` they are counted by enumerating all ``(r + 1)^m`` assignments
    (``source = "enumeration"``), which also checks the closed form, else from it
    (``"closed form"``)."""
    r_star = check_int("r_star", r_star, min=2)
    ms = check_int_list("ms", ms, min=r_star)
    enumerate_up_to = check_int("enumerate_up_to", enumerate_up_to, min=0, max=10)
    out = []
    for m in ms:
        if m <= enumerate_up_to:
            T, G = _configurations(r_star, m), _configurations(r_star - 1, m)
            if (T, G) != (_closed_form(r_star, m), _closed_form(r_star - 1, m)):
                raise AssertionError(
                    f"enumeration and closed form disagree at r*={r_star}, m={m}"
                )
            src = "enumeration"
        else:
            T, G, src = (
                _closed_form(r_star, m),
                _closed_form(r_star - 1, m),
                "closed form",
            )
        out.append(dict(r_star=r_star, m=m, T=T, G=G, source=src))
    return out
