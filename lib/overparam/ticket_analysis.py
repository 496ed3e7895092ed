"""The lottery reading, tested in its parts on a :class:`overparam.tickets.TicketExperiment`.

Read literally, the lottery analogy makes two claims about a width-``n`` student and its ``C(n, k)``
width-``k`` subnetworks, and its power-set prediction needs both:

(a) *training finds a winner when one exists*: the wide student wins exactly when some subnetwork
    would win alone (compare the wide success with the measured some-subnetwork rate, and seed by
    seed: :func:`lottery_halves`);
(b) *tickets are independent*: the chance that some subnetwork wins is ``1 − (1 − p_k)^C(n, k)``
    (compare that prediction with the measured some-subnetwork rate).

Together they give the power-set prediction for the wide success itself. Each comparison is stated
as a :func:`relation` between two intervals: the prediction lies ``"above"`` or ``"below"`` the
measurement beyond both intervals, or ``"inside"`` (the intervals overlap: no difference detected).

Also here: how many outcomes move when subnetworks train with the wide student's step instead of
their own (:func:`step_size_changes`), whether a wide winner is a winning ticket's own solution plus
an inert neuron (:func:`inside_winner_seeds`), and the margins of every certified failure
(:func:`failure_margins`).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from .stats import wilson_interval
from .tickets import FAIL, UNRESOLVED, WIN, Outcomes, TicketExperiment, predict_independent_tickets, \
    seed_table, width_k_rate
from .validate import check_float

__all__ = ["RELATIONS", "relation", "lottery_halves", "step_size_changes", "inside_winner_seeds",
           "failure_margins"]

#: Where a prediction's interval lies relative to a measured one (see :func:`relation`).
RELATIONS = ("above", "inside", "below")


def relation(pred_low: float, pred_high: float, low: float, high: float) -> str:
    """``"above"`` when the prediction's interval ``[pred_low, pred_high]`` lies entirely above the
    measured ``[low, high]``, ``"below"`` when entirely below, otherwise ``"inside"`` (they overlap)."""
    vals = [pred_low, pred_high, low, high]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
        raise ValueError(f"interval ends must be finite numbers, got {vals}")
    if pred_low > pred_high or low > high:
        raise ValueError(f"each interval must have low <= high, got [{pred_low}, {pred_high}] and "
                         f"[{low}, {high}]")
    if pred_low > high:
        return "above"
    if pred_high < low:
        return "below"
    return "inside"


def _rate(successes: int, total: int, level: float) -> tuple[float, float, float]:
    if total == 0:
        return float("nan"), float("nan"), float("nan")
    ci = wilson_interval(int(successes), int(total), level)
    return ci.fraction, ci.low, ci.high


def _relation_or_none(pred, meas) -> str | None:
    if not all(math.isfinite(v) for v in (*pred, *meas)):
        return None
    return relation(*pred, *meas)


def lottery_halves(ex: TicketExperiment, n: int, level: float = 0.95) -> dict:
    """The two halves of the lottery prediction at width ``n`` (``k < n <= k + max_extra``), over the
    seeds where the wide outcome and the ticket are both determined.

    Subnetwork outcomes are those trained with the wide student's step where the experiment has them
    (``ex.matched``), else at step ``lr_scale / k``. ``p_k`` (the width-``k`` rate behind the power-set
    prediction) always comes from all subnetworks at ``lr_scale / k``, the width-``k`` student's own step.
    Keys: ``k, n, seeds, subnetworks, matched_step``; ``p_k`` with ``p_k_low/high``;
    ``power_set_prediction`` with ``_low/_high`` (``p_k``'s interval carried through);
    ``wide_success``, ``some_subnetwork_rate``, ``wide_given_ticket``, ``ticket_given_wide`` (each
    with Wilson ``_low/_high``); ``finds_winner`` (relation of the some-subnetwork rate to the wide
    success: half (a)), ``independence`` (relation of the power-set prediction to the some-subnetwork
    rate: half (b)) and ``power_set_vs_wide`` (the prediction against the wide success)."""
    level = check_float("level", level, min=0.0, max=1.0, min_inclusive=False, max_inclusive=False)
    matched = n in ex.matched
    sub = ex.subnetworks_of(n, matched=matched)
    tab = seed_table(ex.wide[n].outcome, sub)
    det = (tab["wide"] != "unresolved") & tab["ticket"].notna()
    t = tab[det]
    w = (t["wide"] == "win").to_numpy()
    tk = t["ticket"].astype(bool).to_numpy()
    pk = width_k_rate(ex.sub.outcome, level)
    out = {"k": ex.k, "n": n, "seeds": int(det.sum()), "subnetworks": math.comb(n, ex.k),
           "matched_step": matched, "p_k": pk["p"], "p_k_low": pk["low"], "p_k_high": pk["high"]}
    pred = [float(predict_independent_tickets(pk[key], n, ex.k)) for key in ("p", "low", "high")]
    out.update(power_set_prediction=pred[0], power_set_prediction_low=pred[1],
               power_set_prediction_high=pred[2])
    for name, (num, den) in {"wide_success": (w.sum(), w.size), "some_subnetwork_rate": (tk.sum(), tk.size),
                             "wide_given_ticket": ((w & tk).sum(), tk.sum()),
                             "ticket_given_wide": ((w & tk).sum(), w.sum())}.items():
        out[name], out[f"{name}_low"], out[f"{name}_high"] = _rate(num, den, level)
    some = (out["some_subnetwork_rate_low"], out["some_subnetwork_rate_high"])
    wide = (out["wide_success_low"], out["wide_success_high"])
    out["finds_winner"] = _relation_or_none(some, wide)
    out["independence"] = _relation_or_none(tuple(pred[1:]), some)
    out["power_set_vs_wide"] = _relation_or_none(tuple(pred[1:]), wide)
    return out


def step_size_changes(ex: TicketExperiment, n: int) -> dict:
    """How many subnetwork outcomes of the width-``n`` student move when they train with the wide
    step ``lr_scale / n`` instead of ``lr_scale / k``: ``compared`` (runs determined both times),
    ``moved`` (win <-> fail among them), ``seeds``, ``ticket_flag_moved`` (seeds whose "some
    subnetwork wins" changes, among seeds determined both times)."""
    own = ex.subnetworks_of(n)
    same = ex.subnetworks_of(n, matched=True)
    both = (own != UNRESOLVED) & (same != UNRESOLVED)
    t_own = seed_table(ex.wide[n].outcome, own)["ticket"]
    t_same = seed_table(ex.wide[n].outcome, same)["ticket"]
    det = t_own.notna() & t_same.notna()
    return {"k": ex.k, "n": n, "compared": int(both.sum()), "moved": int((both & (own != same)).sum()),
            "seeds": int(det.sum()),
            "ticket_flag_moved": int((t_own[det].astype(bool) != t_same[det].astype(bool)).sum())}


def _inert_candidates(W: torch.Tensor, zero_tol: float, split_cos: float):
    """(kind, j, partner): neuron ``j`` of ``W (n, d)`` is (nearly) zero, or parallel to ``partner``."""
    norms = W.norm(dim=1)
    for j in np.flatnonzero((norms < zero_tol).cpu().numpy()):
        yield "zero", int(j), None
    U = W / norms.clamp(min=1e-300)[:, None]
    cos = U @ U.T
    n = W.shape[0]
    for i in range(n):
        for j in range(n):
            if i != j and norms[i] >= zero_tol and norms[j] >= zero_tol and cos[i, j] > split_cos:
                yield "split", j, i


def inside_winner_seeds(ex: TicketExperiment, n: int, *, zero_tol: float = 1e-2,
                        split_cos: float = 0.99, rel_tol: float = 1e-2) -> pd.DataFrame:
    """Per seed where the width-``n`` student wins and some subnetwork wins alone: is the wide solution
    a winning ticket's own solution plus one inert neuron?

    A neuron ``j`` of the wide solution is inert when it is (nearly) zero (norm below ``zero_tol``) or
    one piece of a split teacher neuron (cosine above ``split_cos`` with another neuron ``i``). Removing
    it (for a split, adding it back to its partner ``i``) leaves a width-``k`` network on the other
    neurons; the seed counts as *inside* when those neurons form a winning subnetwork whose own
    solution, trained alone, lies within relative distance ``rel_tol`` of it, neuron by neuron.
    Columns: ``seed, inside, inert`` ("zero", "split" or None when no neuron is inert),
    ``subnetwork`` (its column among the width-``n`` student's subnetworks, -1 when none),
    ``relative_distance`` (smallest over the inert candidates; NaN when none)."""
    if n != ex.k + 1:
        raise ValueError(f"n must be k + 1 = {ex.k + 1} (one inert neuron), got {n}")
    zero_tol = check_float("zero_tol", zero_tol, min=0.0)
    split_cos = check_float("split_cos", split_cos, min=0.0, max=1.0)
    rel_tol = check_float("rel_tol", rel_tol, min=0.0, min_inclusive=False)
    sub: Outcomes = ex.subnetwork_outcomes(n, matched=n in ex.matched)
    idx = ex.idx[ex.columns_within(n)]
    rows_of = {tuple(r.tolist()): c for c, r in enumerate(idx)}
    wide = ex.wide[n]
    out = []
    for s in range(wide.outcome.shape[0]):
        if wide.outcome[s] != WIN or not (sub.outcome[s] == WIN).any():
            continue
        W = wide.W[s]
        best = (False, None, -1, float("nan"))
        for kind, j, partner in _inert_candidates(W, zero_tol, split_cos):
            keep = [i for i in range(n) if i != j]
            c = rows_of[tuple(keep)]
            reduced = W[keep].clone()
            if partner is not None:
                reduced[keep.index(partner)] += W[j]
            mine = sub.W[s, c]
            d = float((reduced - mine).norm() / mine.norm())
            inside = bool(sub.outcome[s, c] == WIN and d < rel_tol)
            if inside or best[1] is None or (not best[0] and (math.isnan(best[3]) or d < best[3])):
                best = (inside, kind, c, d)
            if inside:
                break
        out.append({"seed": s, "inside": best[0], "inert": best[1], "subnetwork": best[2],
                    "relative_distance": best[3]})
    return pd.DataFrame(out, columns=["seed", "inside", "inert", "subnetwork", "relative_distance"])


def failure_margins(ex: TicketExperiment) -> pd.DataFrame:
    """The margins of every certified failure: per group of runs (subnetworks at their own step, each
    wide width, subnetworks at each matched step), ``runs``, ``fails``, ``unresolved``, the smallest
    Hessian eigenvalue over the failures (the bar is 1e-6) and the longest Newton step ``‖H⁻¹g‖``
    (how far a failure may lie from its exact minimum)."""
    groups = [(f"width-{ex.k} subnetworks, step {ex.lr_scale:g}/{ex.k}", ex.sub)]
    groups += [(f"width-{n} student, step {ex.lr_scale:g}/{n}", o) for n, o in sorted(ex.wide.items())
               if n != ex.k]
    groups += [(f"width-{ex.k} subnetworks of width {n}, step {ex.lr_scale:g}/{n}", o)
               for n, o in sorted(ex.matched.items())]
    rows = []
    for name, o in groups:
        f = o.outcome == FAIL
        lam = o.lambda_min[f]
        step = o.newton_step[f] if o.newton_step is not None else np.array([np.nan])
        rows.append({"k": ex.k, "runs": name, "total": int(o.outcome.size), "fails": int(f.sum()),
                     "unresolved": int((o.outcome == UNRESOLVED).sum()),
                     "min_lambda_min": float(lam.min()) if lam.size else float("nan"),
                     "max_newton_step": float(np.nanmax(step)) if f.any() and np.isfinite(step).any()
                     else float("nan")})
    return pd.DataFrame(rows)
