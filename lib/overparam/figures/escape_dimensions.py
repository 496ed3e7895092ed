"""The figures of the chapter *Escape dimensions*; each takes the chapter's data and returns a Figure.

:func:`plot_escape_fractions` (escape fraction per teacher width, embedding and extra width),
:func:`plot_escape_slice` (the loss on a 2-D slice through a split minimum, with the descent path, and
the Hessian spectra before and after the split) and :func:`plot_rates` (bad-run rates beside the
published ones).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..experiments.escape_dimensions import PUBLISHED_NAMES as _PUBLISHED
from ..experiments.escape_runs import EMBEDDINGS as _EMBEDDINGS
from ..plotting import COLORS, figure, style

__all__ = ["plot_escape_fractions", "plot_escape_slice", "plot_rates"]



def _errorbar(ax, x, r, value, **kw):
    ax.errorbar(x, r[value], yerr=[(r[value] - r.ci_low).clip(lower=0),
                                   (r.ci_high - r[value]).clip(lower=0)], capsize=2, **kw)


def plot_escape_fractions(esc_k: pd.DataFrame, ks):
    """Escape fraction with its 95% interval against ``k`` (``esc_k`` from
    :func:`overparam.experiments.escape_runs.escape_by_k`): one series per embedding and number of
    extra neurons (circles and solid lines: one; squares and dashes: two)."""
    with style():
        fig, ax = figure()
        for j, (how, e) in enumerate([(h, e) for e in (1, 2) for h in _EMBEDDINGS]):
            r = esc_k[(esc_k.embedding == how) & (esc_k.extra == e)]
            _errorbar(ax, r.k + 0.06 * (j - 2.5), r, "fraction", fmt="o-" if e == 1 else "s--",
                      color=COLORS[list(_EMBEDDINGS).index(how)], ms=4,
                      label=f"{_EMBEDDINGS[how]}, {e} extra")
        ax.set(xlabel="teacher width k", ylabel="fraction of minima escaped (loss / 10)",
               ylim=(-0.03, 1.03), xticks=list(ks))
        ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.08, 0.02))
    return fig


def _slice_panel(ax, fig, s):
    cs = ax.contourf(s.grid, s.grid, np.log10(s.loss_grid), levels=20, cmap="viridis")
    fig.colorbar(cs, ax=ax, label="log10 loss")
    if s.path is not None:
        ax.plot(s.path[:, 0], s.path[:, 1], color="w", lw=1.4)
        ax.annotate("B", s.path[-1], color="w", fontsize=11, xytext=(4, 4), textcoords="offset points")
    ax.plot([0], [0], "o", color="w")
    ax.annotate("A", (0, 0), color="w", fontsize=11, xytext=(4, -12), textcoords="offset points")
    ax.set(xlabel="narrow network's flattest direction", ylabel="escape direction",
           title=f"k = n = {s.k}, split neuron {s.neuron}, μ = {s.mu}")
    ax.grid(False)


def plot_escape_slice(s):
    """Left: log10 loss on the slice ``s`` (:func:`overparam.experiments.escape_slice.escape_slice`),
    A the split minimum at the origin and, when ``s.path`` is given, the descent path to its end B.
    Right: the Hessian spectra before (narrow) and after (split) the embedding."""
    with style():
        fig, (ax, ax2) = figure(1, 2, width="page", aspect=0.85)
        _slice_panel(ax, fig, s)
        for lam, j, label in ((s.lam_narrow, 0, f"narrow (n = {s.k})"),
                              (s.lam_split, 1, f"split (n = {s.k + 1})")):
            ax2.plot(np.arange(lam.size), np.sort(lam), ".", color=COLORS[j], label=label)
        ax2.axhline(0, color="k", lw=0.6)
        ax2.set(xlabel="eigenvalue index", ylabel="Hessian eigenvalue", title="spectrum")
        ax2.legend()
    return fig


def plot_rates(rates: pd.DataFrame, published: pd.DataFrame):
    """Fraction of bad runs with 95% intervals against ``k`` at ``n = k``, ``k + 1``, ``k + 2`` and
    ``2k`` (``rates`` from :func:`overparam.experiments.escape_dimensions.rate_table`), beside the
    published fractions at ``n = k`` and ``k + 1`` (``published``: k, n, source, bad_fraction)."""
    series = [("n = k", rates.n == rates.k), ("n = k + 1", rates.n == rates.k + 1),
              ("n = k + 2", rates.n == rates.k + 2), ("n = 2k", rates.n == 2 * rates.k)]
    with style():
        fig, ax = figure()
        for j, (label, sel) in enumerate(series):
            r = rates[sel & (rates.runs > 0)]
            if len(r):
                _errorbar(ax, r.k + 0.08 * j, r, "bad_fraction", fmt="o", color=COLORS[j],
                          label=f"{label} (ours)")
        for src, mk in (("ss2018", "x"), ("sys2021", "+")):
            for off in (0, 1):
                p = published[(published.source == src) & (published.n == published.k + off)]
                ax.plot(p.k, p.bad_fraction, mk, color=COLORS[off], alpha=0.6,
                        label=f"n = k{' + 1' if off else ''} ({_PUBLISHED[src]})")
        ax.set(xlabel="teacher width k", ylabel="fraction of bad runs", ylim=(-0.02, 1))
        ax.legend(fontsize=7)
    return fig
