"""The counting-tickets chapter's figures. Each function takes the chapter's tables
(:mod:`overparam.experiments.counting_tickets`, ``counting_analysis``, ``counting_control``) and
returns a matplotlib Figure (never shown or saved here)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..plotting import COLORS, figure

__all__ = ["plot_predictions", "plot_halves", "plot_seed_strip", "plot_inside", "plot_control"]


def _errorbar(ax, x, m, low, high, **kw):
    ax.errorbar(x, m, yerr=[m - low, high - m], capsize=3, **kw)


def plot_predictions(table: pd.DataFrame, k: int):
    """Success of each wide student at teacher width ``k`` (Wilson intervals) against the
    independent-tickets and independent-restarts predictions (bands: ``p_k``'s interval) and the
    measured some-subnetwork rate, from
    :func:`~overparam.experiments.counting_tickets.predictions_table`."""
    t = table[table.k == k]
    if t.empty:
        raise ValueError(f"k must be a teacher width of the table, got {k}")
    fig, ax = figure(aspect=0.6)
    x = np.arange(len(t))
    for name, colour, label in (
            ("tickets", COLORS[1], "independent tickets $1-(1-p_k)^{\\binom{n}{k}}$"),
            ("restarts", COLORS[2], "independent restarts $1-(1-p_k)^{n/k}$")):
        ax.fill_between(x, t[f"pred_{name}_low"], t[f"pred_{name}_high"], color=colour, alpha=0.25)
        ax.plot(x, t[f"pred_{name}"], "-" if name == "tickets" else "D", color=colour, label=label)
    _errorbar(ax, x, t.wide_success, t.wide_low, t.wide_high, fmt="o", color="black",
              label="wide student (measured)")
    if "some_subnetwork" in t:
        m = t.some_subnetwork.notna().to_numpy()
        _errorbar(ax, x[m] + 0.08, t.some_subnetwork[m], t.some_low[m], t.some_high[m], fmt="s",
                  mfc="white", color=COLORS[0], label="some subnetwork wins alone (measured)")
    ax.set_xticks(x, [f"n = {n}" for n in t.n])
    ax.set_ylim(-0.02, 1.05)
    ax.set_ylabel("success rate")
    ax.set_title(f"k = {k}: {int(t.seeds.iloc[0])} seeds")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_halves(halves: pd.DataFrame):
    """Per teacher width, at ``n = k + 1``: the power-set prediction, the some-subnetwork rate and
    the wide success with their intervals, from
    :func:`~overparam.experiments.counting_analysis.halves_tables`."""
    fig, ax = figure(aspect=0.55)
    x = halves.k.to_numpy(dtype=float)
    for j, (col, label, colour, mk) in enumerate([
            ("power_set_prediction", "power-set prediction", COLORS[1], "D"),
            ("some_subnetwork_rate", "some subnetwork wins alone", COLORS[0], "s"),
            ("wide_success", "wide student wins", "black", "o")]):
        _errorbar(ax, x + 0.12 * (j - 1), halves[col].to_numpy(), halves[f"{col}_low"],
                  halves[f"{col}_high"], fmt=mk, color=colour,
                  mfc="white" if mk == "s" else colour, label=label)
    ax.set(xlabel="teacher width k (student k + 1)", ylabel="rate", ylim=(-0.02, 1.05),
           xticks=halves.k.tolist())
    ax.legend(fontsize=8, loc="lower left")
    return fig


def plot_seed_strip(seed_tables: dict, k: int, n: int):
    """Seed by seed at ``(k, n)``: how many subnetworks win alone (bars; a cross at zero when none
    does), coloured by the wide student's outcome, from ``seed_tables[(k, n)]``."""
    if (k, n) not in seed_tables:
        raise ValueError(f"k, n must be a setting of seed_tables {sorted(seed_tables)}, got {(k, n)}")
    tab = seed_tables[(k, n)]
    fig, ax = figure(aspect=0.45)
    colours = tab.wide.map({"win": COLORS[0], "fail": COLORS[1], "unresolved": "0.6"})
    ax.bar(tab.seed, tab.winning_subnetworks, color=colours, width=0.8)
    none = tab.winning_subnetworks == 0
    ax.scatter(tab.seed[none], np.zeros(none.sum()), marker="x", color=colours[none], zorder=3)
    ax.set_xlabel("seed")
    ax.set_ylabel("winning subnetworks")
    ax.set_title(f"k = {k}, n = {n}: {int(tab.subnetworks.iloc[0])} subnetworks per seed; "
                 "blue: wide student wins, red: fails (x: no winner)", fontsize=8)
    return fig


def plot_inside(pairs: pd.DataFrame):
    """Two histograms over (seed, subnetwork) pairs where both win: the relative distance of the
    wide solution's restriction to the subnetwork's solution, and log10 of the restriction's loss."""
    fig, axs = figure(1, 2, aspect=0.9)
    axs[0].hist(pairs.relative_distance, bins=20, color=COLORS[0])
    axs[0].set_xlabel("relative distance to the subnetwork's solution")
    axs[0].set_ylabel("(seed, subnetwork) pairs")
    axs[1].hist(np.log10(pairs.restriction_loss.clip(lower=1e-16)), bins=20, color=COLORS[3])
    axs[1].set_xlabel("log10 loss of the restriction alone")
    return fig


def plot_control(control: pd.DataFrame):
    """The 1-D control: measured success per width (Wilson intervals) against the ticket/restart
    prediction ``1 - (1 - p_1)^n`` (band: ``p_1``'s interval)."""
    fig, ax = figure(aspect=0.5)
    ax.fill_between(control.n, control.pred_low, control.pred_high, color=COLORS[2], alpha=0.25)
    ax.plot(control.n, control.pred_restarts, "-", color=COLORS[2],
            label="tickets = restarts: $1-(1-p_1)^n$")
    _errorbar(ax, control.n, control.success, control.low, control.high, fmt="o", color="black",
              label="width-n student (measured)")
    ax.set_xlabel("student width n")
    ax.set_ylabel("success rate")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="lower right")
    return fig
