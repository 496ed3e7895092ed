"""The counting-tickets chapter's analyses of its experiments (``{k: TicketExperiment}``).

The two halves of the power-set prediction at ``n = k + 1`` and how many outcomes the wide step
moves (:func:`halves_tables`, :func:`halves_words`, :func:`steps_glue`), the margins of the certified
failures (:func:`margins_table`, :func:`margins_glue`), and inside the winner: the wide solution
restricted to a winning subnetwork against that subnetwork's own solution, pair by pair
(:func:`inside_table`) and seed by seed (:func:`inside_seeds_table`), summarised by
:func:`inside_stats` and :func:`inside_glue`. Everything here is built by
:mod:`overparam.ticket_analysis` and :mod:`overparam.tickets`; this module only assembles tables.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .. import ticket_analysis as A
from .. import tickets as T
from ..stats import RateCI, wilson_interval

__all__ = [
    "halves_tables", "HALVES_COLUMNS", "HALVES_INTERVALS", "halves_words", "relation_clause", "steps_glue",
    "margins_table", "margins_glue", "inside_table", "inside_seeds_table", "InsideStats",
    "inside_stats", "inside_glue", "inside_summary",
]

_HALVES = {"power-set prediction": "power_set_prediction",
           "some subnetwork wins": "some_subnetwork_rate", "wide student wins": "wide_success"}
#: The columns of the halves table the chapter shows, and their intervals for ``show_table``.
HALVES_COLUMNS = ["k", "seeds"] + [f"{c}{s}" for c in _HALVES.values() for s in ("", "_low", "_high")]
HALVES_INTERVALS = {label: (c, f"{c}_low", f"{c}_high") for label, c in _HALVES.items()}
#: What each relation of the halves table compares with (the object of "lies ... ").
_OBJECTS = {"finds_winner": "the wide student's success",
            "independence": "the measured some-subnetwork rate",
            "power_set_vs_wide": "the wide student's measured success"}


def halves_tables(experiments: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(halves, steps_moved)`` at ``n = k + 1`` for every teacher width: one row of
    :func:`overparam.ticket_analysis.lottery_halves` and of
    :func:`overparam.ticket_analysis.step_size_changes` per ``k``."""
    halves = pd.DataFrame([A.lottery_halves(ex, k + 1) for k, ex in experiments.items()])
    steps = pd.DataFrame([A.step_size_changes(ex, k + 1) for k, ex in experiments.items()])
    return halves, steps


def _ks(ks: list) -> str:
    return ", ".join(map(str, ks[:-1])) + f" and {ks[-1]}" if len(ks) > 1 else str(ks[0])


def relation_clause(relations: dict, obj: str) -> str:
    """What follows "lies" in a sentence comparing a measured rate with ``obj`` at several teacher
    widths: ``relations`` maps k to "above", "below", "inside" (within both intervals) or None/NaN
    (not measurable). The widths are grouped by relation, the most common first and "not measurable"
    last, e.g. "within the
    intervals of the wide student's success at *k* = 14, 16 and 18, and above it at *k* = 12"."""
    groups: dict = {}
    for k, rel in relations.items():
        rel = None if rel is None or (isinstance(rel, float) and pd.isna(rel)) else rel
        if rel not in (None, "above", "below", "inside"):
            raise ValueError(f"relations[{k!r}] must be 'above', 'below', 'inside' or None, got {rel!r}")
        groups.setdefault(rel, []).append(k)
    if not groups:
        raise ValueError("relations must name at least one teacher width k")
    order = sorted(groups, key=lambda r: (r is None, -len(groups[r])))   # "not measurable" last
    parts = []
    for i, rel in enumerate(order):
        target = obj if i == 0 else "it"
        phrase = {"above": f"above {target}", "below": f"below {target}",
                  "inside": f"within the intervals of {target}", None: "not measurable"}[rel]
        where = (f"at every *k* ({_ks(groups[rel])})" if len(order) == 1 and len(groups[rel]) > 1
                 else f"at *k* = {_ks(groups[rel])}")
        parts.append(f"{phrase} {where}")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f", and {parts[-1]}"


def halves_words(halves: pd.DataFrame) -> dict:
    """Glue name -> Markdown text, one per relation of the halves table (``finds_winner``,
    ``independence``, ``power_set_vs_wide``): what follows "lies" in the chapter's sentence
    (:func:`relation_clause`), its object included."""
    by_k = halves.set_index("k")
    return {f"ct-{col}": relation_clause({k: by_k.loc[k, col] for k in halves.k}, obj)
            for col, obj in _OBJECTS.items()}


def steps_glue(steps_moved: pd.DataFrame) -> dict:
    """The step-size comparison's glued counts, summed over teacher widths."""
    return {"ct-moved": int(steps_moved.moved.sum()), "ct-compared": int(steps_moved.compared.sum()),
            "ct-flag-moved": int(steps_moved.ticket_flag_moved.sum()),
            "ct-flag-seeds": int(steps_moved.seeds.sum())}


def margins_table(experiments: dict) -> pd.DataFrame:
    """:func:`overparam.ticket_analysis.failure_margins` of every experiment, one table."""
    return pd.concat([A.failure_margins(ex) for ex in experiments.values()], ignore_index=True)


def margins_glue(margins: pd.DataFrame) -> dict:
    """The margins section's glued numbers: the smallest eigenvalue and the longest Newton step at
    any certified failure, the unresolved runs and all runs."""
    return {"ct-min-lambda": float(margins.min_lambda_min.min()),
            "ct-max-newton": float(margins.max_newton_step.max()),
            "ct-unresolved": int(margins.unresolved.sum()), "ct-total-runs": int(margins.total.sum())}


def inside_table(experiments: dict) -> pd.DataFrame:
    """:func:`overparam.tickets.compare_winners` at ``n = k + 1`` over every (seed, subnetwork) pair
    where the wide student and the subnetwork (trained at the wide step) both win; columns ``k, n``
    added."""
    rows = []
    for k, ex in experiments.items():
        n = k + 1
        cols = ex.columns_within(n)
        sub = ex.subnetworks_of(n, matched=True)
        wide = ex.wide[n].outcome
        pairs = [(s, c) for s in range(wide.shape[0]) if wide[s] == T.WIN
                 for c in range(len(cols)) if sub[s, c] == T.WIN]
        df = T.compare_winners(ex.wide[n].W, ex.subnetwork_outcomes(n, matched=True).W,
                               ex.idx[cols], pairs)
        df["k"], df["n"] = k, n
        rows.append(df)
    return pd.concat(rows, ignore_index=True)


def inside_seeds_table(experiments: dict) -> pd.DataFrame:
    """:func:`overparam.ticket_analysis.inside_winner_seeds` at ``n = k + 1``, a column ``k`` added."""
    return pd.concat([A.inside_winner_seeds(ex, k + 1).assign(k=k) for k, ex in experiments.items()],
                     ignore_index=True)


@dataclass(frozen=True)
class InsideStats:
    """Inside the winner at one teacher width: ``pairs`` and ``seeds`` (its rows of
    :func:`inside_table` and :func:`inside_seeds_table`) and Wilson intervals of the pairs with the
    same teacher assignment (``same_assign``), of the restrictions failing alone (``restr_fail``, loss
    at least ``1e-6``) and of the seeds whose wide solution is a winning ticket's own solution plus
    an inert neuron (``inside_seeds``)."""
    pairs: pd.DataFrame
    seeds: pd.DataFrame
    same_assign: RateCI
    restr_fail: RateCI
    inside_seeds: RateCI


def inside_stats(inside: pd.DataFrame, seed_inside: pd.DataFrame, k: int) -> InsideStats:
    """:class:`InsideStats` at teacher width ``k`` from :func:`inside_table` and
    :func:`inside_seeds_table`."""
    ins = inside[inside.k == k]
    si = seed_inside[seed_inside.k == k]
    n_pairs = max(len(ins), 1)
    return InsideStats(
        ins, si, wilson_interval(int(ins.same_assignment.sum()), n_pairs),
        wilson_interval(int((ins.restriction_loss >= 1e-6).sum()), n_pairs),
        wilson_interval(int(si.inside.sum()), max(len(si), 1)))


def inside_glue(s: InsideStats) -> dict:
    """The inside-the-winner section's glued numbers (NaN medians when there is no pair)."""
    ins, si = s.pairs, s.seeds
    return {
        "ct-pairs": len(ins), "ct-same-assign": float(s.same_assign.fraction),
        "ct-same-assign-high": float(s.same_assign.high),
        "ct-restr-fail": float(s.restr_fail.fraction), "ct-restr-fail-low": float(s.restr_fail.low),
        "ct-reldist-med": float(ins.relative_distance.median()) if len(ins) else float("nan"),
        "ct-restr-loss-med": float(ins.restriction_loss.median()) if len(ins) else float("nan"),
        "ct-inside-seeds": int(si.inside.sum()), "ct-inside-total": len(si),
        "ct-inside-low": float(s.inside_seeds.low), "ct-inside-high": float(s.inside_seeds.high),
        "ct-inside-split": int((si.inside & (si.inert == "split")).sum()),
    }


def inside_summary(seed_inside: pd.DataFrame, s: InsideStats) -> dict:
    """The summary's ``inside_winner_seed_fraction`` (per teacher width: seeds, inside, fraction)
    and ``inside_the_winner`` (pairs, same-assignment fraction, medians) entries."""
    ins = s.pairs
    return {
        "inside_winner_seed_fraction": {
            str(k): {"seeds": int(len(g)), "inside": int(g.inside.sum()),
                     "fraction": float(g.inside.mean()) if len(g) else None}
            for k, g in seed_inside.groupby("k")},
        "inside_the_winner": {
            "pairs": int(len(ins)),
            "same_assignment_fraction": float(ins.same_assignment.mean()) if len(ins) else None,
            "median_relative_distance": float(ins.relative_distance.median()) if len(ins) else None,
            "median_restriction_loss": float(ins.restriction_loss.median()) if len(ins) else None,
        },
    }
