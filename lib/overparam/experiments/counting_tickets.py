"""The counting-tickets chapter: the experiment, the predictions table and the seed-by-seed tally.

Per teacher width ``k`` one :class:`overparam.tickets.TicketExperiment` (:func:`run_experiments`);
from them the lottery reading's predictions against the measured success of each wide student
(:func:`predictions_table`, one row per ``(k, n)``, with the seed-by-seed tables where every or a
sample of the subnetworks was trained), the glued numbers of the chapter's prose
(:func:`prediction_glue`, :func:`seed_by_seed`, :func:`seed_by_seed_glue`), the front page's finding
(:func:`findings`) and the ``per_k_n`` records of the chapter's ``summary.json``
(:func:`per_k_n_records`) and the whole summary (:func:`build_summary`). The two halves of the
power-set prediction and the inside-the-winner analysis are in
:mod:`overparam.experiments.counting_analysis`, the 1-D control in
:mod:`overparam.experiments.counting_control`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .. import sweeps
from .. import tickets as T
from ..book import finding, format_interval, verdict
from ..stats import RateCI, wilson_interval
from ..validate import check_int, resolve_device

__all__ = [
    "PARAMETERS", "check_ks_wide", "run_experiments", "rate", "predictions_table",
    "PREDICTION_COLUMNS", "prediction_glue", "SeedBySeed", "seed_by_seed", "seed_by_seed_glue",
    "seed_rows", "findings", "per_k_n_records", "build_summary",
]

#: The chapter's parameter rules for :func:`overparam.book.check_parameters`.
PARAMETERS = {
    "ks": ("int_list", 2, 24),
    "ks_wide": ("int_list", 2, 24),
    "n_seeds": ("int", 4, 2000),
    "max_extra": ("int", 1, 2),
    "n_sampled": ("int", 0, 1000),
    "n_steps": ("int", 100, 10**6),
    "control_widths": ("int_list", 1, 16),
    "control_seeds": ("int", 10, 10000),
    "control_points": ("int", 20, 5000),
    "workers": ("int", 1, None),
    "device": ("choice", ["cpu", "cuda", "auto"]),
}

#: The tally columns copied from :func:`overparam.tickets.tally` into a predictions row.
_TALLY = ("wide_wins", "some_subnetwork_wins", "both", "wide_wins_without_ticket",
          "ticket_without_wide_win", "neither", "undetermined")

#: The columns of the predictions table the chapter shows.
PREDICTION_COLUMNS = ["k", "n", "seeds", "wide_success", "p_k", "pred_tickets", "pred_restarts",
                      "some_subnetwork"]


def check_ks_wide(ks, ks_wide) -> None:
    """Raise ValueError naming ``ks_wide`` unless every one of its widths is also in ``ks``."""
    if not set(ks_wide) <= set(ks):
        raise ValueError(f"ks_wide must be a subset of ks = {ks}; got {ks_wide}")


def run_experiments(ks, ks_wide, n_seeds: int, seed: int, *, max_extra: int = 1, n_sampled: int = 0,
                    n_steps: int = 30_000, workers: int = 1, device="cpu") -> dict:
    """``{k: TicketExperiment}`` for every teacher width of ``ks``: students of width ``k`` and
    ``k + 1`` (plus ``k + 2`` and ``2k`` for the widths in ``ks_wide``, which also get ``max_extra``
    and ``n_sampled``), every subnetwork also trained at the wide student's step (``matched_step``).
    Through :func:`overparam.sweeps.ticket_sweep`, one task per ``k`` (``workers > 1``: a local Dask
    cluster); bit for bit :func:`overparam.tickets.run_experiment` per ``k``, any ``workers``.
    ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``): where the students train, from the
    same CPU-drawn initial weights; the outcome tables are numpy on the CPU."""
    device = resolve_device(device)
    check_ks_wide(ks, ks_wide)
    n_steps = check_int("n_steps", n_steps, min=1)
    specs = {}
    for k in ks:
        wide = k in ks_wide
        specs[k] = dict(widths=[k, k + 1, k + 2, 2 * k] if wide else [k, k + 1],
                        max_extra=max_extra if wide else 1, n_sampled=n_sampled if wide else 0,
                        n_steps=n_steps, matched_step=True)
    return sweeps.ticket_sweep(specs, n_seeds, seed, workers=workers, name="counting_tickets: teacher widths",
                               device=device)


def rate(successes, total) -> tuple[float, float, float]:
    """``(fraction, low, high)``: the Wilson 95% interval of ``successes`` out of ``total``."""
    ci = wilson_interval(int(successes), int(total))
    return ci.fraction, ci.low, ci.high


def _subnetwork_outcomes(ex: T.TicketExperiment, n: int):
    """The subnetwork outcomes the width-``n`` student is compared with seed by seed: all of them at
    its own step where they were trained, the sampled ones for the widest student, else None."""
    if n <= ex.k + ex.max_extra:
        return ex.subnetworks_of(n, matched=True)
    if n == max(ex.wide) and ex.sampled is not None:
        return ex.sampled.outcome
    return None


def _prediction_row(ex: T.TicketExperiment, n: int, pk: dict) -> dict:
    k, wide = ex.k, ex.wide[n]
    resolved = ~wide.unresolved
    frac, lo, hi = rate(wide.wins.sum(), resolved.sum())
    row = dict(k=k, n=n, seeds=int(resolved.sum()), unresolved=int(wide.unresolved.sum()),
               wide_success=frac, wide_low=lo, wide_high=hi, p_k=pk["p"], p_k_low=pk["low"],
               p_k_high=pk["high"], subnetworks=math.comb(n, k))
    for name, f in (("tickets", T.predict_independent_tickets),
                    ("restarts", T.predict_independent_restarts)):
        shown = name == "tickets" or n == 2 * k  # restarts: whole students only
        for key, p in (("", pk["p"]), ("_low", pk["low"]), ("_high", pk["high"])):
            row[f"pred_{name}{key}"] = float(f(p, n, k)) if shown else float("nan")
    return row


def predictions_table(experiments: dict) -> tuple[pd.DataFrame, dict]:
    """``(table, seed_tables)``. ``table``: one row per ``(k, n)``: the wide student's success (Wilson
    interval over its resolved seeds), ``p_k`` (:func:`overparam.tickets.width_k_rate`), the
    independent-tickets and (at ``n = 2k`` only) independent-restarts predictions with ``p_k``'s
    interval carried through, and where subnetworks were trained the seed-by-seed tally, its
    ``ticket_measure`` and the some-subnetwork rate. ``seed_tables``: ``(k, n)`` ->
    :func:`overparam.tickets.seed_table`."""
    rows, seed_tables = [], {}
    for k, ex in experiments.items():
        pk = T.width_k_rate(ex.sub.outcome)
        for n in sorted(ex.wide):
            row = _prediction_row(ex, n, pk)
            sub = _subnetwork_outcomes(ex, n)
            if sub is not None:
                tab = T.seed_table(ex.wide[n].outcome, sub)
                seed_tables[(k, n)] = tab
                t = T.tally(tab)
                row.update({key: t[key] for key in _TALLY})
                row["tally_seeds"] = t["seeds"]
                row["ticket_measure"] = ("all" if n <= k + ex.max_extra
                                         else f"{sub.shape[1]} sampled (lower bound)")
                row["some_subnetwork"], row["some_low"], row["some_high"] = rate(
                    t["some_subnetwork_wins"], max(t["seeds"], 1))
            rows.append(row)
    return pd.DataFrame(rows), seed_tables


def seed_rows(seed_tables: dict) -> pd.DataFrame:
    """All seed tables of :func:`predictions_table` in one, columns ``k, n`` added."""
    if not seed_tables:
        raise ValueError("seed_tables must hold at least one (k, n) table")
    return pd.concat([tab.assign(k=k, n=n) for (k, n), tab in seed_tables.items()],
                     ignore_index=True)


def prediction_glue(table: pd.DataFrame, k_seeds: int, k_wide: int) -> dict:
    """The numbers the predictions section glues, by glue name: ``k_seeds`` is the teacher width of
    the seed-by-seed sections, ``k_wide`` the one whose students run up to width ``2k``."""
    main = table[table.k == k_wide].set_index("n")
    out = {"ct-k": k_seeds, "ct-kw": k_wide, "ct-seeds": int(main.loc[k_wide, "seeds"])}
    for key in ("", "-low", "-high"):
        out[f"ct-pk{key}"] = float(main.loc[k_wide, "p_k" + key.replace("-", "_")])
    for n, name in ((k_wide + 1, "k1"), (2 * k_wide, "2k")):
        for key, col in (("", "wide_success"), ("-low", "wide_low"), ("-high", "wide_high")):
            out[f"ct-wide-{name}{key}"] = float(main.loc[n, col])
        out[f"ct-tickets-{name}"] = float(main.loc[n, "pred_tickets"])
    out["ct-restarts-2k"] = float(main.loc[2 * k_wide, "pred_restarts"])
    for key, col in (("", "some_subnetwork"), ("-low", "some_low"), ("-high", "some_high")):
        out[f"ct-some-k1{key}"] = float(main.loc[k_wide + 1, col])
    out["ct-subnets-k1"] = k_wide + 1
    return out


@dataclass(frozen=True)
class SeedBySeed:
    """The seed-by-seed tally at ``(k, k + 1)``: ``view`` (the tally rows of every ``n > k``, as
    shown), ``row`` (the ``(k, k + 1)`` row of the predictions table), ``holders`` (seeds holding a
    winning ticket), ``disagree`` (seeds where the wide student and "some ticket wins" disagree) and
    ``fail_given_ticket`` (Wilson interval of the wide student failing among the holders)."""
    view: pd.DataFrame
    row: pd.Series
    holders: int
    disagree: int
    fail_given_ticket: RateCI


def seed_by_seed(table: pd.DataFrame, k: int) -> SeedBySeed:
    """The :class:`SeedBySeed` tally of :func:`predictions_table`'s ``table`` at teacher width ``k``."""
    tally_rows = (table.dropna(subset=["tally_seeds"]) if "tally_seeds" in table
                  else table.iloc[:0])
    tally_rows = tally_rows[tally_rows.n > tally_rows.k]
    view = tally_rows[["k", "n", "ticket_measure", "tally_seeds", "both",
                       "wide_wins_without_ticket", "ticket_without_wide_win", "neither",
                       "undetermined"]].astype({"tally_seeds": int})
    at = tally_rows[(tally_rows.k == k) & (tally_rows.n == k + 1)]
    if at.empty:
        raise ValueError(f"k must be a teacher width with a seed-by-seed tally at n = k + 1, got {k}")
    r1 = at.iloc[0]
    holders = int(r1.some_subnetwork_wins)
    fail = wilson_interval(int(r1.ticket_without_wide_win), max(holders, 1))
    return SeedBySeed(view, r1, holders,
                      int(r1.wide_wins_without_ticket + r1.ticket_without_wide_win), fail)


def seed_by_seed_glue(s: SeedBySeed) -> dict:
    """The numbers the seed-by-seed section glues, by glue name."""
    r1 = s.row
    return {"ct-tally-seeds": int(r1.tally_seeds), "ct-both": int(r1.both),
            "ct-neither": int(r1.neither), "ct-wide-no-ticket": int(r1.wide_wins_without_ticket),
            "ct-ticket-no-wide": int(r1.ticket_without_wide_win), "ct-disagree": s.disagree,
            "ct-holders": s.holders, "ct-fgt-low": float(s.fail_given_ticket.low),
            "ct-fgt-high": float(s.fail_given_ticket.high)}


def findings(s: SeedBySeed, k: int) -> tuple[list, str]:
    """``(findings, verdict)``: the chapter's row of the front page's results table, from the
    seed-by-seed tally ``s`` at teacher width ``k`` (does holding a winning ticket make the wide
    student win? supported when failures among the holders are above 0)."""
    f = s.fail_given_ticket
    v = verdict(f.low, f.high)
    row = finding(
        "1",
        f"Safran–Shamir teacher of width {k}, student of width {k + 1}: does holding a "
        "winning ticket make the wide student win?",
        f"the wide student fails at {int(s.row.ticket_without_wide_win)} of {s.holders} seeds "
        f"that hold a winning width-{k} subnetwork, a fraction of "
        f"{format_interval(f.fraction, f.low, f.high)} (a literal lottery reading predicts none)",
        v)
    return [row], v


_PER_K_N = ("k", "n", "seeds", "unresolved", "wide_success", "wide_low", "wide_high", "p_k",
            "p_k_low", "p_k_high", "pred_tickets", "pred_tickets_low", "pred_tickets_high",
            "pred_restarts", "pred_restarts_low", "pred_restarts_high")
_COUNTS = ("some_subnetwork_wins", "wide_wins_without_ticket", "ticket_without_wide_win", "both",
           "neither", "undetermined")


def per_k_n_records(table: pd.DataFrame) -> list:
    """The ``per_k_n`` records of the chapter's summary, one per row of :func:`predictions_table`:
    the rates and predictions, ``wide_wins``, the seed-by-seed counts (None where not measured),
    ``some_subnetwork_measure`` and ``seed_by_seed_seeds``."""
    out = []
    for r in table.to_dict("records"):
        rec = {key: r.get(key) for key in _PER_K_N}
        rec["wide_wins"] = int(round(r["wide_success"] * r["seeds"]))
        for key in _COUNTS:
            v = r.get(key)
            rec[key] = None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
        measure = r.get("ticket_measure")
        rec["some_subnetwork_measure"] = measure if isinstance(measure, str) else None
        rec["seed_by_seed_seeds"] = (None if pd.isna(r.get("tally_seeds", float("nan")))
                                     else int(r["tally_seeds"]))
        out.append(rec)
    return out


def build_summary(params: dict, findings: list, table: pd.DataFrame, halves: pd.DataFrame,
                  steps_moved: pd.DataFrame, margins: pd.DataFrame, control: dict,
                  inside: dict) -> dict:
    """The chapter's ``summary.json``: ``params`` (``profile, ks, n_seeds, seed, ks_wide``), the
    ``findings``, ``per_k_n`` (:func:`per_k_n_records` of ``table``), ``lottery_halves`` (per
    ``(k, n = k + 1)``: the power-set prediction, the some-subnetwork rate, the wide success,
    ``wide_given_ticket`` and ``ticket_given_wide``, each with its interval), ``step_size_changes``,
    ``failure_margins``, ``control`` (``counting_control.control_summary``) and the entries of
    ``inside`` (``counting_analysis.inside_summary``)."""
    missing = [key for key in ("profile", "ks", "n_seeds", "seed", "ks_wide") if key not in params]
    if missing:
        raise ValueError(f"params must name profile, ks, n_seeds, seed and ks_wide; missing {missing}")
    return {
        "findings": findings, "profile": params["profile"], "ks": params["ks"],
        "n_seeds": params["n_seeds"], "seed": params["seed"],
        "step_rule": "5/width; subnetworks also at the wide student's step",
        "ks_wide": params["ks_wide"], "per_k_n": per_k_n_records(table), "control": control,
        "lottery_halves": halves.to_dict("records"),
        "step_size_changes": steps_moved.to_dict("records"),
        "failure_margins": margins.to_dict("records"), **inside,
    }
