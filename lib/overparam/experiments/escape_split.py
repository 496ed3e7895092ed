"""The chapter *Escape dimensions*: what widening does at a certified minimum, exactly.

(a) Splitting neuron ``i`` at ratio μ (:func:`overparam.ss_dynamics.split_student_neuron`): the split
point's smallest Hessian eigenvalue for every neuron and every μ (:func:`split_spectrum`), beside
the per-neuron curvature terms ``Dᵢ`` whose sign decides it (:func:`split_theory` checks the
theory at every split point). (b) A new neuron at zero: the steepest one-sided slope
(:func:`overparam.ss_dynamics.new_neuron_direction`) and the sum of the slopes along the teacher
directions, which equals ``−2L`` at every critical point. :func:`split_analysis` computes all of it
per teacher width; :func:`split_values` the glued numbers; :func:`split_table` the results table.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from .. import safran_shamir as ss
from .. import ss_dynamics as ssd
from ..book import progress
from ..validate import check_float, check_int, resolve_device

__all__ = ["EIG_TOL", "CLEAR", "ROUNDING", "SplitAnalysis", "split_spectrum", "split_analysis", "split_theory",
           "minima_with_saddle_split", "zero_neuron_deviation", "split_values", "split_table"]

#: An eigenvalue counts as nonzero beyond this: a split point is a saddle when its smallest Hessian
#: eigenvalue is below ``−EIG_TOL``, a point a strict minimum when it is above ``EIG_TOL``.
EIG_TOL = 1e-6
#: Identities that hold exactly (the split theory, the zero-neuron theorem) hold to this in float64.
ROUNDING = 1e-8
#: ``Dᵢ``'s sign is taken as unambiguous where ``|λmin(Dᵢ)|`` exceeds this.
CLEAR = 1e-9
_DT = torch.float64


def split_spectrum(W: torch.Tensor, mus) -> torch.Tensor:
    """λmin at the split point for every neuron and every μ: ``(S, n, len(mus))``.

    Each split point's Hessian is assembled from the narrow one
    (:func:`overparam.ss_dynamics.split_hessian`, the same matrix as
    ``hessian(split_student_neuron(W, i, mu))`` up to rounding, tested) instead of being recomputed."""
    mus = [check_float("mus", mu, min=0.0, max=1.0, min_inclusive=False, max_inclusive=False)
           for mu in mus]
    S, n, d = W.shape
    H = ss.hessian(W)
    out = torch.empty(S, n, len(mus), dtype=_DT, device=W.device)
    for i in range(n):
        for j, mu in enumerate(mus):
            out[:, i, j] = torch.linalg.eigvalsh(ssd.split_hessian(W, i, mu, H))[:, 0]
    return out


@dataclass(frozen=True)
class SplitAnalysis:
    """Widening analysed at ``m`` certified minima ``W (m, n, d)`` of loss ``loss (m,)``.

    ``split_lam (m, n, len(mus))``: the split points' smallest eigenvalues (:func:`split_spectrum`);
    ``curv_lam (m, n)``: λmin(Dᵢ) (:func:`overparam.ss_dynamics.neuron_curvature`); ``slope (m,)``:
    the steepest one-sided slope of a new neuron; ``teacher_sum (m,)``: Σⱼ δ(eⱼ), the slopes along
    the teacher directions summed."""
    loss: torch.Tensor
    split_lam: torch.Tensor
    curv_lam: torch.Tensor
    slope: torch.Tensor
    teacher_sum: torch.Tensor


def _analyse(W: torch.Tensor, loss: torch.Tensor, mus, seed: int) -> SplitAnalysis:
    m, n, d = W.shape
    if m == 0:   # no certified minimum at this width: nothing to analyse
        none = torch.zeros(0, dtype=_DT, device=W.device)
        return SplitAnalysis(loss, torch.zeros(0, n, len(mus), dtype=_DT, device=W.device),
                             torch.zeros(0, n, dtype=_DT, device=W.device), none, none)
    eye = torch.eye(d, dtype=_DT, device=W.device).expand(m, d, d)
    return SplitAnalysis(
        loss=loss, split_lam=split_spectrum(W, mus),
        curv_lam=torch.linalg.eigvalsh(ssd.neuron_curvature(W))[..., 0],
        slope=ssd.new_neuron_direction(W, seed=seed).value,
        teacher_sum=ssd.neuron_slope(W, eye).sum(1))


def split_analysis(certified, ks, mus, *, max_minima: int, seed: int, device=None) -> dict[int, SplitAnalysis]:
    """:class:`SplitAnalysis` of the first ``max_minima`` certified minima at every ``k`` of ``ks``
    (``certified``: ``{k: CertifiedMinima}`` from :func:`.escape_dimensions.certify_minima`);
    ``seed`` seeds the random starts of the slope search (stream ``"probe"``, drawn on the CPU).
    ``device``: None (default) computes where the minima are; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
    ``"auto"`` moves them there first. The results' tensors are on that device."""
    max_minima = check_int("max_minima", max_minima, min=1)
    move = (lambda t: t) if device is None else (lambda t, dev=resolve_device(device): t.to(dev))
    return {k: _analyse(move(certified[k].W[:max_minima]), move(certified[k].loss[:max_minima]), mus, seed)
            for k in progress(list(ks), "escape_dimensions: split spectra")}


def split_theory(splits, mus) -> dict:
    """The theory of the split, checked at every split point of ``splits`` (``{k: SplitAnalysis}``):
    ``inertia_mismatches``, split points where "saddle" (λmin < 0) disagrees with λmin(Dᵢ) < 0
    (where Dᵢ's sign is clear, :data:`CLEAR`); ``bound_excess``, the largest excess of λmin over the
    bound λmin(Dᵢ)/(2μ(1 − μ)) (0 if never above it); ``half_deviation``, the largest
    ``|λmin − 2λmin(Dᵢ)|`` at μ = ½ over neurons with λmin(Dᵢ) < 0."""
    mus = list(mus)
    if 0.5 not in mus:
        raise ValueError(f"mus must contain 0.5; got {mus!r}")
    mu_t = torch.tensor(mus, dtype=_DT)
    half = mus.index(0.5)
    mismatch, excess, half_dev = 0, 0.0, 0.0
    for a in splits.values():
        lam_D, mu_d = a.curv_lam, mu_t.to(a.curv_lam.device)
        clear = lam_D.abs() > CLEAR
        saddle = a.split_lam < 0
        mismatch += int(((saddle != (lam_D < 0)[..., None]) & clear[..., None]).sum())
        excess = max(excess, float((a.split_lam - lam_D[..., None] / (2 * mu_d * (1 - mu_d))).max()))
        neg = lam_D < -CLEAR
        if bool(neg.any()):
            half_dev = max(half_dev, float((a.split_lam[..., half] - 2 * lam_D)[neg].abs().max()))
    return {"inertia_mismatches": mismatch, "bound_excess": excess, "half_deviation": half_dev}


def minima_with_saddle_split(splits) -> tuple[int, int]:
    """(minima with some split point below ``−EIG_TOL``, minima analysed) over all ``k``."""
    saddle = sum(int((a.split_lam < -EIG_TOL).flatten(1).any(1).sum()) for a in splits.values())
    return saddle, sum(a.split_lam.shape[0] for a in splits.values())


def zero_neuron_deviation(splits) -> float:
    """The largest ``|Σⱼ δ(eⱼ) + 2L|`` over all analysed minima (the zero-neuron theorem says 0)."""
    return max((float((a.teacher_sum + 2 * a.loss).abs().max()) for a in splits.values()
                if len(a.teacher_sum)), default=0.0)


def split_values(splits, theory: dict) -> dict:
    """The glued numbers of the widening experiments (``theory`` from :func:`split_theory`)."""
    saddle, total = minima_with_saddle_split(splits)
    a = list(splits.values())
    neg = torch.cat([(x.split_lam < -EIG_TOL).double().flatten() for x in a])
    return {
        "ed-n-spectrum": total,
        "ed-minima-saddle": saddle,
        "ed-inertia-mismatch": theory["inertia_mismatches"],
        "ed-bound-excess": theory["bound_excess"],
        "ed-half-dev": theory["half_deviation"],
        "ed-thm-dev": zero_neuron_deviation(splits),
        "ed-max-teacher-sum": max(float(x.teacher_sum.max()) for x in a if len(x.teacher_sum)),
        "ed-frac-neg-split": 100 * float(neg.mean()),
        "ed-max-lam-split": float(max(x.split_lam.max() for x in a)),
        "ed-max-slope": float(max(x.slope.max() for x in a)),
    }


def split_table(splits, mus) -> pd.DataFrame:
    """The split points one by one: k, minimum, neuron, mu, lambda_min."""
    return pd.DataFrame([
        dict(k=k, minimum=s, neuron=i, mu=mu, lambda_min=float(a.split_lam[s, i, j]))
        for k, a in splits.items()
        for s in range(a.split_lam.shape[0])
        for i in range(a.split_lam.shape[1])
        for j, mu in enumerate(mus)])
