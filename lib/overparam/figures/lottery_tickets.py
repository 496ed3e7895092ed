"""Figures of the chapter *Lottery tickets, reproduced on MNIST-1D*.

Each function takes the chapter's data (:func:`overparam.lottery.summarize`'s summary, the result's
``curves`` table) and returns a matplotlib Figure in the house style; nothing is saved or shown.
"""
from __future__ import annotations

import numpy as np

from ..plotting import COLORS, figure, style
from ..validate import check_float, check_int

__all__ = ["conditions", "percent_axis", "plot_accuracy", "plot_stop", "plot_curves", "curve_choices"]


def conditions(rewind_step: int) -> dict:
    """Condition → (legend label, colour, marker), in the order the figures draw them."""
    return {
        "ticket": ("winning ticket", COLORS[0], "o"),
        "rewind": (f"rewound to step {rewind_step}", COLORS[2], "D"),
        "reinit": ("same mask, re-initialised", COLORS[1], "s"),
        "random_mask": ("random mask", COLORS[3], "^"),
    }


def percent_axis(ax) -> None:
    """A log x axis in percent of weights remaining with plain-number ticks, pruning proceeding to the
    right (the axis inverted)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log")
    lo, hi = ax.get_xlim()
    ticks = [t for t in (100, 60, 40, 20, 10, 5, 2, 1, 0.5) if min(lo, hi) <= t <= max(lo, hi)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.invert_xaxis()


def _offset(s: dict, j: int) -> np.ndarray:
    # a small horizontal offset per condition keeps the error bars apart
    return 100 * np.array(s["density"]) * (1 + 0.025 * (j - 1.5))


def plot_accuracy(stats: dict, conds: dict):
    """Test accuracy at early stop against the weights remaining: per condition in ``conds`` (see
    :func:`conditions`) the mean with its interval; the dense network's interval as a grey band."""
    dense = stats["dense"]
    with style():
        fig, ax = figure()
        ax.axhspan(dense["acc_ci_low"], dense["acc_ci_high"], color="0.85", label="dense (95% interval)")
        ax.axhline(dense["acc_mean"], color="0.5", lw=1)
        for j, (cond, (label, colour, marker)) in enumerate(conds.items()):
            s = stats[cond]
            m = np.array(s["acc_mean"])
            yerr = [m - np.array(s["acc_ci_low"]), np.array(s["acc_ci_high"]) - m]
            ax.errorbar(_offset(s, j), m, yerr=yerr, color=colour, marker=marker, ms=4, capsize=2,
                        label=label)
        percent_axis(ax)
        ax.set(xlabel="weights remaining (%)", ylabel="test accuracy at early stop")
        ax.legend(fontsize=8, loc="lower left")
    return fig


def plot_stop(stats: dict, conds: dict, n_steps: int):
    """Mean early-stopping iteration against the weights remaining, per condition; hollow markers where
    at least one seed is censored at the step cap ``n_steps`` (dotted line)."""
    n_steps = check_int("n_steps", n_steps, min=1)
    with style():
        fig, ax = figure()
        ax.axhline(stats["dense"]["stop_iter_mean"], color="0.5", lw=1, label="dense")
        ax.axhline(n_steps, color="0.3", lw=0.8, ls=":", label="step cap")
        for j, (cond, (label, colour, marker)) in enumerate(conds.items()):
            s = stats[cond]
            d, stop = _offset(s, j), np.array(s["stop_iter_mean"])
            cens = np.array(s["stop_iter_censored_fraction"]) > 0
            ax.plot(d, stop, color=colour, label=label)
            ax.scatter(d[~cens], stop[~cens], color=colour, marker=marker, s=18, zorder=3)
            ax.scatter(d[cens], stop[cens], facecolors="white", edgecolors=colour, marker=marker, s=22,
                       zorder=3)
        percent_axis(ax)
        ax.set(xlabel="weights remaining (%)", ylabel="early-stopping iteration", ylim=(0, 1.05 * n_steps))
        ax.legend(fontsize=8)
    return fig


def plot_curves(curves, densities, conds: dict, density: float):
    """Test accuracy during training, mean over seeds, per condition at the pruned round whose density
    (in percent) is nearest ``density``; the dense network in grey. ``densities``: per pruned round."""
    density = check_float("density", density, min=0.0, max=100.0)
    densities = np.asarray(densities, dtype=float)
    r = int(np.argmin(np.abs(100 * densities - density))) + 1
    with style():
        fig, ax = figure()
        for cond, (label, colour, _) in [("dense", ("dense", "0.5", None)), *conds.items()]:
            c = curves[(curves.condition == cond) & (curves["round"] == (0 if cond == "dense" else r))]
            m = c.groupby("step").test_acc.mean()
            ax.plot(m.index, m.to_numpy(), color=colour, label=label)
        ax.set(xlabel="update", ylabel="test accuracy", title=f"{100 * densities[r - 1]:.1f}% of the weights")
        ax.legend(fontsize=8, loc="lower right")
    return fig


def curve_choices(densities, max_panels: int = 6) -> list:
    """Up to ``max_panels`` densities (percent, one decimal) spread over the pruned rounds, for the
    precomputed panels of :func:`plot_curves`."""
    densities = np.asarray(densities, dtype=float)
    rounds = len(densities)
    max_panels = check_int("max_panels", max_panels, min=1)
    shown = sorted({int(round(i)) for i in np.linspace(0, rounds - 1, min(rounds, max_panels))})
    return [round(100 * float(densities[i]), 1) for i in shown]
