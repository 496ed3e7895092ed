"""The chapter *Escape dimensions*: the claims' inputs, the front page's finding and ``summary.json``.

:func:`claim_measures` recomputes, from the chapter's data (rates, certified minima, split analyses,
escape runs), every measured quantity its claims check compares with a stated bar; the claims check
itself (the asserts) stays in the chapter. :func:`findings` gives the front page's row and
:func:`summary` the dictionary saved as ``summary.json``.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..book import finding, format_interval, verdict
from ..stats import wilson_interval
from .escape_dimensions import separation
from .escape_runs import EMBEDDINGS, EXTRAS, escape_by_k
from .escape_split import EIG_TOL, minima_with_saddle_split, split_theory, zero_neuron_deviation

__all__ = ["ClaimMeasures", "claim_measures", "findings", "summary"]


@dataclass(frozen=True)
class ClaimMeasures:
    """The measured quantities of the chapter's claims.

    ``per_k`` (one row per teacher width): ``n_bad`` bad runs and ``n_certified`` certified minima
    at ``n = k``; ``low_narrow`` (the ``n = k`` rate's interval, lower end), ``high_wide`` (the
    ``n = k + 1`` rate's, upper end) and ``bad_fraction`` at ``n = k``; ``neg_split`` the fraction
    of split points with an eigenvalue below ``−EIG_TOL``; ``max_slope`` the largest steepest
    new-neuron slope; ``max_teacher_sum`` the largest Σⱼ δ(eⱼ); ``min_mu_step`` the smallest
    increase of a split point's λmin from one μ to the next on (0, ½].
    Over all ``k``: ``minima_saddle`` of ``n_spectrum`` minima have a saddle split; ``thm_dev`` the
    largest ``|Σⱼ δ(eⱼ) + 2L|``; ``theory`` (:func:`.escape_split.split_theory`); ``n_separated`` the
    teacher widths where ``n = k + 1`` lies below ``n = k`` beyond both intervals; ``lowered`` and
    ``escaped_two`` (per embedding, two extra neurons) the Wilson intervals of the escape runs;
    ``stuck_reasons`` the stop reasons of the runs that did not escape, ``stuck_not_lowered`` how
    many of them did not lower the loss."""
    per_k: pd.DataFrame
    minima_saddle: int
    n_spectrum: int
    thm_dev: float
    theory: dict
    n_separated: int
    lowered: object
    escaped_two: dict
    stuck_reasons: frozenset
    stuck_not_lowered: int


def _mu_steps(split_lam, mu_values):
    order = sorted(range(len(mu_values)), key=lambda j: mu_values[j])
    lam_mu = split_lam[..., [j for j in order if mu_values[j] <= 0.5]]
    steps = lam_mu.diff(dim=-1)
    return float(steps.min()) if steps.numel() else float("inf")


def _rate(rates, k, n, column):
    return float(rates[(rates.k == k) & (rates.n == n)][column].iloc[0])


def claim_measures(rates, certified, splits, escapes, ks, mu_values) -> ClaimMeasures:
    """:class:`ClaimMeasures` from the chapter's data: ``rates`` (the rates table), ``certified``
    (``{k: CertifiedMinima}``), ``splits`` (``{k: SplitAnalysis}``) and ``escapes`` (the escape runs'
    table)."""
    per_k = pd.DataFrame([dict(
        k=k, n_bad=int(_rate(rates, k, k, "bad")), n_certified=certified[k].count,
        low_narrow=_rate(rates, k, k, "ci_low"), high_wide=_rate(rates, k, k + 1, "ci_high"),
        bad_fraction=_rate(rates, k, k, "bad_fraction"),
        neg_split=float((splits[k].split_lam < -EIG_TOL).double().mean()),
        max_slope=float(splits[k].slope.max()), max_teacher_sum=float(splits[k].teacher_sum.max()),
        min_mu_step=_mu_steps(splits[k].split_lam, list(mu_values))) for k in ks])
    saddle, total = minima_with_saddle_split(splits)
    stuck = escapes[~escapes.escaped]
    return ClaimMeasures(
        per_k=per_k, minima_saddle=saddle, n_spectrum=total, thm_dev=zero_neuron_deviation(splits),
        theory=split_theory(splits, mu_values),
        n_separated=sum(ok for ok, _ in separation(rates, ks).values()),
        lowered=wilson_interval(int(escapes.lowered.sum()), len(escapes)),
        escaped_two={how: wilson_interval(int(sel.escaped.sum()), len(sel)) for how in EMBEDDINGS
                     for sel in [escapes[(escapes.embedding == how) & (escapes.extra == 2)]]},
        stuck_reasons=frozenset(stuck.stop_reason), stuck_not_lowered=int((~stuck.lowered).sum()))


def findings(escapes, splits) -> tuple[list, str]:
    """The front page's row and its verdict: "most minima escape with two extra neurons", the
    Wilson interval of the zero-neuron embedding's escape fraction above one half (``escapes``, the
    escape runs' table; ``splits``, ``{k: SplitAnalysis}``, gives the minima with a saddle split)."""
    minima_saddle, n_spectrum = minima_with_saddle_split(splits)
    two = escapes[(escapes.embedding == "zero") & (escapes.extra == 2)]
    esc2 = wilson_interval(int(two.escaped.sum()), len(two))
    ed_verdict = verdict(esc2.low, esc2.high, bar=0.5)
    return [finding(
        "3", "certified bad minima of the Safran–Shamir family, widened by a neuron",
        f"{minima_saddle} of {n_spectrum} minima become saddles when a neuron is split; with two new "
        f"neurons the loss falls tenfold from a fraction "
        f"{format_interval(esc2.fraction, esc2.low, esc2.high)} of them", ed_verdict)], ed_verdict


def _fraction(escapes, column):
    return {f"{how}_extra{e}": float(escapes[(escapes.embedding == how)
                                             & (escapes.extra == e)][column].mean())
            for how in EMBEDDINGS for e in EXTRAS}


def summary(profile, findings, rates, certified, splits, escapes, *, ks, mu_values) -> dict:
    """The chapter's ``summary.json``: ``findings`` (:func:`findings`), ``profile``, the rates, the
    certified minima, the smallest eigenvalues after widening (split, per μ; zero-neuron slopes;
    λmin(Dᵢ)), the split theory's check (:func:`.escape_split.split_theory`), the escape, global and
    lowered fractions and the escape fractions per ``k`` (:func:`.escape_runs.escape_by_k`)."""
    return {
        "findings": findings,
        "profile": profile,
        "rates": rates.to_dict(orient="records"),
        "certified": {str(k): {
            "count": certified[k].count,
            "bad_runs": int(rates[(rates.k == k) & (rates.n == k)].bad.iloc[0]),
            "lambda_min_before": certified[k].lambda_min.tolist()} for k in ks},
        "lambda_min_after": {
            "split": {str(k): {str(mu): {"min": float(splits[k].split_lam[:, :, j].min()),
                                         "max": float(splits[k].split_lam[:, :, j].max())}
                               for j, mu in enumerate(mu_values)} for k in ks},
            "zero_neuron_slope": {str(k): splits[k].slope.tolist() for k in ks},
            "curvature_lambda_min": {str(k): splits[k].curv_lam.min(dim=1).values.tolist()
                                     for k in ks},
        },
        "split_theory_check": split_theory(splits, mu_values),
        "escape_fraction": _fraction(escapes, "escaped"),
        "global_fraction": _fraction(escapes, "global"),
        "lowered_fraction": float(escapes.lowered.mean()),
        "escape_by_k": escape_by_k(escapes, ks).to_dict(orient="records"),
    }
