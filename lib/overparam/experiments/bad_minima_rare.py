"""The chapter *Bad minima are rare*: the numbers it reports from its certified censuses.

The experiments are :func:`overparam.census_runs.safran_shamir_census` and
:func:`overparam.census_runs.smooth_census` (called by the chapter directly). Here: :func:`analyse_safran_shamir` (the bad share at
``n = k`` and ``k + 1``, which teacher widths separate, the uncertified end points, the saturation
text), :func:`analyse_smooth` (the narrowest and the widest student), :func:`counting` (the theory's
piece counts), :func:`findings`, :func:`summary` and :func:`tables` (what the chapter saves).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .. import census
from ..book import finding, format_interval, verdict
from ..validate import check_int
from .. import census_counting

__all__ = ["check_widths", "SHOW_TABLE",
           "SafranShamir", "analyse_safran_shamir", "saturation_text", "Smooth", "analyse_smooth",
           "counting", "findings", "summary", "tables", "UNCERTIFIED"]

UNCERTIFIED = ("unresolved", "degenerate", "saddle")
#: keyword arguments of :func:`overparam.book.show_table` for a census table
SHOW_TABLE = dict(intervals={"bad share (95%)": ("bad_share", "bad_ci_low", "bad_ci_high"),
                             "global share (95%)": ("global_share", "global_ci_low", "global_ci_high")},
                  formats={"max_newton_step": "{:.1e}"})


def check_widths(*, ks, extra, double_ks, widths, r_star) -> None:
    """The chapter's width parameters fit together, else ``ValueError`` naming the parameter: ``extra``
    contains 0 and 1 (the comparison ``n = k`` against ``k + 1``), ``double_ks`` is a list of values in
    ``ks``, and the smooth ``widths`` start at ``r_star`` and go above it."""
    for name, ok, allowed in (
        ("extra", {0, 1} <= set(extra), "contain 0 and 1"),
        ("double_ks", isinstance(double_ks, list) and set(double_ks) <= set(ks), "be a list of values in ks"),
        ("widths", min(widths) == r_star < max(widths), "start at r_star, go above"),
    ):
        if not ok:
            value = {"extra": extra, "double_ks": double_ks, "widths": widths}[name]
            raise ValueError(f"{name} must {allowed}; got {value!r}")


@dataclass(frozen=True)
class SafranShamir:
    """Part 1 of the chapter. ``table``: :meth:`overparam.census.Census.table`; ``strong``: the teacher
    widths whose bad share at ``n = k`` is at least 5%; ``separated``: those of them whose bad share at
    ``n = k + 1`` lies below it beyond both intervals; ``other``: runs ending neither at a global nor at a
    strict minimum; ``verdict``: the front page's verdict on the drop from ``n = k`` to ``k + 1`` at the
    widest teacher (both intervals bound it); ``glue``: the prose's numbers, glue name → value."""
    table: pd.DataFrame
    strong: list
    separated: list
    other: int
    verdict: str
    glue: dict

    @property
    def max_newton_step(self) -> float:
        """The largest Newton step ``‖H⁻¹g‖`` at any certified bad minimum (NaN if none)."""
        return float(self.table.max_newton_step.max())


def _row(table: pd.DataFrame, k: int, n: int) -> pd.Series:
    return table[(table.k == k) & (table.n == n)].iloc[0]


def analyse_safran_shamir(ss_census: census.Census, ks) -> SafranShamir:
    """Part 1's numbers from the Safran–Shamir census over teacher widths ``ks`` (each run at ``n = k``
    and ``n = k + 1`` at least)."""
    ks = [check_int("ks[]", k, min=1) for k in ks]
    if not ks:
        raise ValueError("ks must be a non-empty list of teacher widths")
    table = ss_census.table()
    rec = {(k, n): ss_census[(k, n)].record() for k in ks for n in (k, k + 1)}
    strong = [k for k in ks if rec[(k, k)]["bad_share"] >= 0.05]
    sep = [k for k in strong if rec[(k, k + 1)]["bad_ci_high"] < rec[(k, k)]["bad_ci_low"]]
    other = int(table[list(UNCERTIFIED)].to_numpy().sum())
    kmax = max(ks)
    at_k, at_k1 = _row(table, kmax, kmax), _row(table, kmax, kmax + 1)
    glue = {f"bm-ss-top{e}-{col}": 100 * rec[(kmax, kmax + e)][col]
            for e in (0, 1) for col in ("bad_share", "bad_ci_low", "bad_ci_high")}
    glue.update({"bm-ss-strong": len(strong), "bm-ss-sep": len(sep), "bm-ss-kmax": kmax,
                 "bm-ss-seeds": int(rec[(kmax, kmax)]["runs"]), "bm-ss-runs": int(table.runs.sum()),
                 "bm-ss-max-step": float(table.max_newton_step.max()), "bm-ss-other": other,
                 **{f"bm-ss-{c}": int(table[c].sum()) for c in UNCERTIFIED}})
    return SafranShamir(table=table, strong=strong, separated=sep, other=other, glue=glue,
                        verdict=verdict(at_k.bad_ci_low - at_k1.bad_ci_high, at_k.bad_ci_high - at_k1.bad_ci_low))


def saturation_text(table: pd.DataFrame) -> str:
    """How saturated the census is, at ``n = k`` and at ``n > k``: distinct bad minima and how many of
    them a single run reached (Markdown)."""
    sat = table.groupby(table.n > table.k)[["singletons", "distinct_bad_minima"]]
    return "; ".join(
        f"at *n* {'>' if w else '='} *k*, {r.distinct_bad_minima} distinct bad minima, "
        f"{r.singletons} of them reached by a single run"
        for w, r in sat.sum().iterrows() if r.distinct_bad_minima
    ) or "no run ended at a bad minimum"


@dataclass(frozen=True)
class Smooth:
    """Part 2 of the chapter. ``table``: the smooth census's table; ``narrow`` and ``wide``: its rows of the
    narrowest and the widest student; ``separated``: the widest's global share lies above the
    narrowest's beyond both intervals; ``unresolved``: the unresolved end points; ``glue``: the prose's
    numbers."""
    table: pd.DataFrame
    narrow: pd.Series
    wide: pd.Series
    separated: bool
    unresolved: pd.DataFrame
    glue: dict


def analyse_smooth(sm_census: census.Census, n_runs: int) -> Smooth:
    """Part 2's numbers from the smooth census (``n_runs`` runs per width)."""
    n_runs = check_int("n_runs", n_runs, min=1)
    table = sm_census.table()
    narrow, wide = table.iloc[0], table.iloc[-1]
    sep = bool(wide.global_ci_low > narrow.global_ci_high)
    glue = {f"bm-sm-{name}-{col}": 100 * float(row[col]) for name, row in (("narrow", narrow), ("wide", wide))
            for col in ("global_share", "global_ci_low", "global_ci_high", "bad_share")}
    glue["bm-sm-verdict"] = (
        "lies above the narrowest's beyond both intervals" if sep else
        "does not lie above the narrowest's beyond both intervals: with "
        f"{n_runs} runs per width this profile cannot separate the two")
    unres = sm_census.end_points().query("verdict == 'unresolved'")
    for key, val in (("distinct", table.distinct_bad_minima.sum()), ("unresolved", len(unres)),
                     ("degenerate", table.degenerate.sum()), ("unres-high", (unres.loss > 1e-8).sum()),
                     ("wide-m", wide.n)):
        glue[f"bm-sm-{key}"] = int(val)
    return Smooth(table=table, narrow=narrow, wide=wide, separated=sep, unresolved=unres, glue=glue)


def counting(r_star: int) -> tuple[pd.DataFrame, dict]:
    """Part 3: :func:`overparam.census_counting.subspace_counts` for widths ``r_star .. 3 r_star`` as a table, and
    the prose's numbers: the first width at which ``T`` exceeds ``G`` and ``T / G`` at the widest."""
    counts = pd.DataFrame(census_counting.subspace_counts(r_star, range(r_star, 3 * r_star + 1)))
    above = counts[counts["T"] > counts.G].m
    return counts, {"bm-count-cross": int(above.min()) if len(above) else None, "bm-count-r-star": r_star,
                    "bm-count-ratio": float(counts["T"].iloc[-1] / counts.G.iloc[-1])}


def findings(ss: SafranShamir) -> list:
    """This chapter's row of the front page's results table (the widest teacher, ``n = k`` against
    ``n = k + 1``)."""
    kmax = int(ss.glue["bm-ss-kmax"])
    at_k, at_k1 = _row(ss.table, kmax, kmax), _row(ss.table, kmax, kmax + 1)
    share = lambda r: format_interval(r.bad_share, r.bad_ci_low, r.bad_ci_high)  # noqa: E731
    return [finding(
        "4", f"a certified census of gradient-descent end points, Safran–Shamir teacher of width {kmax}",
        f"share of runs at a certified bad minimum: {share(at_k)} at n = k, {share(at_k1)} at n = k + 1 "
        f"({int(at_k.runs)} runs each)",
        ss.verdict)]


def summary(ss: SafranShamir, ss_census, sm_census, counts: pd.DataFrame, *, profile: str) -> dict:
    """The chapter's ``summary.json``."""
    return {"findings": findings(ss), "profile": profile,
            "census": ss_census.records() + sm_census.records(),
            "counting": counts.to_dict(orient="records")}


def tables(ss_census, sm_census, counts: pd.DataFrame) -> dict:
    """The chapter's CSV tables, name → DataFrame."""
    out = {name: pd.concat([getattr(c, name)() for c in (ss_census, sm_census)], ignore_index=True)
           for name in ("rarefaction_table", "minima", "end_points")}
    return out | {"safran_shamir_census": ss_census.table(), "smooth_census": sm_census.table(),
                  "counting": counts}
