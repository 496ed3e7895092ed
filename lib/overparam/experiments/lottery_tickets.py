"""The chapter *Lottery tickets, reproduced on MNIST-1D*: its experiment and the numbers it reports.

:func:`run` is the experiment (iterative magnitude pruning with its controls,
:func:`overparam.lottery.run_lottery`, on MNIST-1D with a validation split). :func:`analyse` turns its
:class:`~overparam.lottery.LotteryResult` into every quantity the chapter states: the accuracy summary,
the paired differences at the three lowest densities, the seed-level count against the re-initialised
twin, the contiguous "matches dense down to" density, and the early-stopping speed comparison.
:func:`glue_values`, :func:`findings` and :func:`summary` shape those for the prose, the front page and
``summary.json``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import data, lottery, shard, sweeps, train
from ..book import finding, format_interval, verdict
from ..stats import MeanCI, t_interval
from ..validate import check_float, check_int, resolve_device

__all__ = ["run", "LotteryAnalysis", "analyse", "glue_values", "findings", "summary", "SUMMARY_KEYS"]

SUMMARY_KEYS = ("acc_mean", "acc_ci_low", "acc_ci_high", "stop_iter_mean", "stop_iter_censored_fraction")


def run(*, seed: int, n_seeds: int, n_rewind_seeds: int, rounds: int, fraction: float,
        output_fraction: float, rewind_step: int, n_steps: int, eval_every: int, lr: float,
        batch_size: int, val_fraction: float, hidden=(300, 100), dataset=None,
        device="cpu", workers: int = 1) -> lottery.LotteryResult:
    """The chapter's experiment: MNIST-1D (or ``dataset``, a :class:`overparam.data.Dataset` without a
    validation split) with ``val_fraction`` of the training set held out (split seed ``seed``), then
    :func:`overparam.lottery.run_lottery` with minibatch Adam (``lr``, ``batch_size``) and the four
    conditions. The other arguments are passed on unchanged. ``device`` (``"cpu"``, ``"cuda"``,
    ``"cuda:N"``, ``"auto"``): where the data set is put and so where the networks train (their
    initialisations and masks are drawn on the CPU and moved; :func:`overparam.lottery.run_lottery`
    follows the data's device). ``workers > 1``: one seed per task on a Dask cluster
    (:func:`overparam.sweeps.lottery_sweep`), bit for bit the single-process result."""
    device = resolve_device(device)
    check_float("val_fraction", val_fraction, min=0.0, max=1.0)
    check_int("n_rewind_seeds", n_rewind_seeds, min=2, max=check_int("n_seeds", n_seeds, min=2))
    check_int("rewind_step", rewind_step, min=0, max=check_int("n_steps", n_steps, min=1))
    if n_steps % check_int("eval_every", eval_every, min=1):
        raise ValueError(f"eval_every must divide n_steps = {n_steps}; got {eval_every}")
    ds = data.mnist1d(device=device) if dataset is None else data.to_device(dataset, device)
    ds = data.validation_split(ds, val_fraction, seed)
    kwargs = dict(hidden=hidden, seed=seed, rounds=rounds, fraction=fraction, output_fraction=output_fraction,
                  rewind_step=rewind_step, n_rewind_seeds=n_rewind_seeds,
                  optimizer=train.Adam(lr, batch_size=batch_size), n_steps=n_steps, eval_every=eval_every)
    if check_int("workers", workers, min=1) == 1 and shard.resolve_address() is None:
        return lottery.run_lottery(ds, n_seeds=n_seeds, **kwargs)
    return sweeps.lottery_sweep(ds, n_seeds=n_seeds, block=1, workers=workers,
                                name="lottery_tickets: seeds", **kwargs)


@dataclass(frozen=True)
class LotteryAnalysis:
    """Everything the chapter reports about one :class:`~overparam.lottery.LotteryResult`.

    ``stats``: :func:`overparam.lottery.summarize`; ``densities``: the ticket's density per pruned round
    (high to low); ``pd_reinit``, ``pd_random``, ``pd_rewind``: paired differences (ticket − reinit,
    ticket − random mask, rewind − ticket) over the ``n_lowest`` lowest densities; ``seed_wins``: seeds
    at which the ticket beats its own re-initialised twin there; ``lowest_match``: the last density of
    the unbroken run from the top whose ticket mean is at least the dense mean minus the dense interval's
    half-width (None if the first already falls short); ``separated``: at the lowest density the ticket's
    interval lies above the re-initialised one. Speed: ``speed_rounds``, the (up to) ``n_lowest`` lowest
    rounds with no censored ticket run, ``speed_densities`` their densities, ``stop_diff`` the paired
    reinit − ticket early-stopping iteration there, ``stop_ticket``/``stop_reinit`` the mean iterations,
    ``censored`` the censored share per condition there and ``censored_all`` over all pruned runs (NaN
    and an empty list where every round has a censored ticket run).
    ``dense_final``/``ticket_final_lowest``: mean test accuracy at the end of training (dense; ticket at
    the lowest density)."""
    stats: dict
    densities: np.ndarray
    pd_reinit: MeanCI
    pd_random: MeanCI
    pd_rewind: MeanCI
    seed_wins: int
    lowest_match: float | None
    separated: bool
    speed_rounds: list
    speed_densities: list
    stop_diff: MeanCI
    stop_ticket: float
    stop_reinit: float
    censored: dict
    censored_all: float
    dense_final: float
    ticket_final_lowest: float

    @property
    def verdict(self) -> str:
        """The front page's verdict on ticket − re-initialised (:func:`overparam.book.verdict`)."""
        return verdict(self.pd_reinit.low, self.pd_reinit.high)


def _lowest_match(densities, ticket_acc, dense: dict):
    half = (dense["acc_ci_high"] - dense["acc_ci_low"]) / 2
    matches = []
    for d, a in zip(densities, ticket_acc):
        if a < dense["acc_mean"] - half:
            break
        matches.append(d)
    return min(matches) if matches else None


def _speed(runs: pd.DataFrame, densities, n_lowest: int) -> dict:
    ticket_cens = runs[(runs.condition == "ticket") & (runs["round"] > 0)].groupby("round").censored.any()
    speed_rounds = [r for r, c in ticket_cens.items() if not c][-n_lowest:]
    low = runs[runs["round"].isin(speed_rounds)]
    if not speed_rounds:  # every round has a censored ticket run: no speed comparison
        nan = float("nan")
        return dict(speed_rounds=[], speed_densities=[], stop_diff=MeanCI(nan, nan, nan, 0), stop_ticket=nan,
                    stop_reinit=nan, censored={c: nan for c in lottery.CONDITIONS},
                    censored_all=float(runs[runs["round"] > 0].censored.mean()))
    pairs = low.pivot_table(index=["seed", "round"], columns="condition", values="stop_step")
    cens_by = low.groupby("condition").censored.mean()
    diff = (pairs["reinit"] - pairs["ticket"]).groupby("seed").mean()
    return dict(speed_rounds=speed_rounds,
                speed_densities=[float(d) for d in densities[[r - 1 for r in speed_rounds]]],
                stop_diff=t_interval(diff.to_numpy()),
                stop_ticket=float(low[low.condition == "ticket"].stop_step.mean()),
                stop_reinit=float(low[low.condition == "reinit"].stop_step.mean()),
                censored={c: float(v) for c, v in cens_by.items()},
                censored_all=float(runs[runs["round"] > 0].censored.mean()))


def analyse(result: lottery.LotteryResult, n_lowest: int = 3) -> LotteryAnalysis:
    """The chapter's numbers from ``result`` (see :class:`LotteryAnalysis`); comparisons over the
    ``n_lowest`` lowest densities."""
    stats = lottery.summarize(result)
    densities = np.array(stats["ticket"]["density"])
    n_lowest = check_int("n_lowest", n_lowest, min=1, max=len(densities))
    runs, rounds = result.runs, int(result.config["rounds"])
    wins = lottery.seed_differences(result, "ticket", "reinit", n_lowest=n_lowest) > 0
    return LotteryAnalysis(
        stats=stats, densities=densities,
        pd_reinit=lottery.paired_difference(result, "ticket", "reinit", n_lowest=n_lowest),
        pd_random=lottery.paired_difference(result, "ticket", "random_mask", n_lowest=n_lowest),
        pd_rewind=lottery.paired_difference(result, "rewind", "ticket", n_lowest=n_lowest),
        seed_wins=int(wins.sum()),
        lowest_match=_lowest_match(densities, stats["ticket"]["acc_mean"], stats["dense"]),
        separated=bool(stats["ticket"]["acc_ci_low"][-1] > stats["reinit"]["acc_ci_high"][-1]),
        dense_final=float(runs[runs.condition == "dense"].final_test_acc.mean()),
        ticket_final_lowest=float(
            runs[(runs.condition == "ticket") & (runs["round"] == rounds)].final_test_acc.mean()),
        **_speed(runs, densities, n_lowest))


def glue_values(a: LotteryAnalysis, n_lowest: int = 3) -> dict:
    """The prose's numbers, glue name → value, from :func:`analyse`; the texts that the prose shows
    as Markdown (the glue:md role) are IPython ``Markdown`` objects."""
    from IPython.display import Markdown

    dense = a.stats["dense"]
    out = {"lt-dense-acc": dense["acc_mean"], "lt-dense-low": dense["acc_ci_low"],
           "lt-dense-high": dense["acc_ci_high"],
           "lt-low3": ", ".join(f"{100 * d:.1f}%" for d in a.densities[-n_lowest:]),
           "lt-sep-text": "do not overlap" if a.separated else "still overlap",
           "lt-ticket-lowest": a.stats["ticket"]["acc_mean"][-1],
           "lt-reinit-lowest": a.stats["reinit"]["acc_mean"][-1],
           "lt-dense-final": a.dense_final, "lt-ticket-final-lowest": a.ticket_final_lowest,
           "lt-seed-wins": a.seed_wins,
           "lt-match-text": (f"down to {100 * a.lowest_match:.1f}% of the weights"
                             if a.lowest_match is not None else "at none of the pruned densities"),
           "lt-speed-densities": ", ".join(f"{100 * d:.1f}%" for d in a.speed_densities),
           "lt-stop-ticket": a.stop_ticket, "lt-stop-reinit": a.stop_reinit,
           "lt-stop-diff": a.stop_diff.mean, "lt-stop-diff-low": a.stop_diff.low,
           "lt-stop-diff-high": a.stop_diff.high,
           "lt-cens-all": 100 * a.censored_all}
    for name, d in (("reinit", a.pd_reinit), ("random", a.pd_random), ("rewind", a.pd_rewind)):
        out.update({f"lt-diff-{name}": d.mean, f"lt-diff-{name}-low": d.low, f"lt-diff-{name}-high": d.high})
    for cond in lottery.CONDITIONS:
        out[f"lt-cens-{cond}"] = 100 * a.censored[cond]
    for name in ("lt-low3", "lt-sep-text", "lt-match-text", "lt-speed-densities"):
        out[name] = Markdown(out[name])
    return out


def findings(a: LotteryAnalysis, n_seeds: int) -> list:
    """This chapter's row of the front page's results table."""
    d = a.pd_reinit
    return [finding(
        "context", "winning tickets on MNIST-1D, found by iterative magnitude pruning",
        f"accuracy of the ticket minus its re-initialised twin at the three lowest densities: "
        f"{format_interval(d.mean, d.low, d.high)} ({n_seeds} seeds; the ticket is ahead at {a.seed_wins})",
        a.verdict)]


def summary(result: lottery.LotteryResult, a: LotteryAnalysis, *, profile: str) -> dict:
    """The chapter's ``summary.json``."""
    cfg = result.config
    interval = {name: {"mean": d.mean, "low": d.low, "high": d.high} for name, d in (
        ("paired_ticket_minus_reinit_lowest3", a.pd_reinit),
        ("paired_ticket_minus_random_mask_lowest3", a.pd_random),
        ("paired_rewind_minus_ticket_lowest3", a.pd_rewind))}
    return {
        "findings": findings(a, cfg["n_seeds"]), "profile": profile, "n_seeds": cfg["n_seeds"],
        "n_rewind_seeds": cfg["n_rewind_seeds"], "seed": cfg["seed"],
        "densities": [float(d) for d in a.densities],
        "layer_densities": result.layer_densities[1:].tolist(),
        **{cond: {k: a.stats[cond][k] for k in SUMMARY_KEYS} for cond in lottery.CONDITIONS},
        "dense": {k: a.stats["dense"][k] for k in SUMMARY_KEYS},
        **interval,
        "lowest_density_matching_dense": a.lowest_match,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
    }
