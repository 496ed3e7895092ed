"""Figures of the chapter *Bad minima are rare*: each takes a census table (or the counting table) and
returns a matplotlib Figure in the house style; nothing is saved or shown."""
from __future__ import annotations

from ..census import CLASSES
from ..plotting import COLORS, figure, style
from ..validate import check_int

__all__ = ["slots", "plot_share", "plot_rarefaction", "plot_smooth", "plot_counts"]


def slots(double_ks) -> list:
    """The x positions' labels of the student widths: ``k``, ``k + 1``, ``k + 2`` and, when some teacher
    width is also run at ``2k``, ``2k``."""
    return ["k", "k + 1", "k + 2", "2k"][: 3 + bool(list(double_ks))]


def _slot(k: int, n: int) -> int:
    return 3 if n == 2 * k and n > k + 2 else n - k


def _kcolour(ks, k):
    from matplotlib import colormaps

    return colormaps["viridis"](list(ks).index(k) / max(1, len(ks) - 1) * 0.9)


def plot_share(table, published, ks, double_ks):
    """The share of runs at a certified bad minimum (Wilson intervals) against the student width, one
    line per teacher width in ``ks``; crosses: the ``published`` rates (columns ``k``, ``n``,
    ``bad_fraction``) for ``n ≤ k + 2``."""
    labels = slots(double_ks)
    with style():
        fig, ax = figure()
        for j, k in enumerate(ks):
            r = table[table.k == k].sort_values("n")
            ax.errorbar([_slot(k, n) + 0.02 * j for n in r.n], r.bad_share,
                        yerr=[r.bad_share - r.bad_ci_low, r.bad_ci_high - r.bad_share], fmt="o-", ms=4,
                        capsize=2, color=_kcolour(ks, k), label=f"k = {k}")
            p = published[(published.k == k) & (published.n - published.k <= 2)]
            ax.plot([_slot(k, n) + 0.02 * j for n in p.n], p.bad_fraction, "x", color=_kcolour(ks, k), ms=7)
        ax.plot([], [], "x", color="0.4", label="published")
        ax.set(xticks=range(len(labels)), xticklabels=labels, xlabel="student width n",
               ylabel="share of runs at a bad minimum", ylim=(-0.02, 1))
        ax.legend(fontsize=7, ncol=2)
    return fig


def plot_rarefaction(rare, ks, double_ks):
    """Rarefaction curves (expected distinct bad minima against runs) of every (k, n) that found one: at
    ``n = k`` (left panel) and at wider students (right)."""
    labels = slots(double_ks)
    with style():
        fig, axes = figure(1, 2, width="page", sharey=True)
        found = rare[rare.groupby(["k", "n"]).distinct.transform("max") > 0]
        for (k, n), g in found.groupby(["k", "n"]):
            axes[int(n > k)].plot(g.runs, g.distinct, ["-", "--", ":", "-."][_slot(k, n)],
                                  color=_kcolour(ks, k), label=f"k = {k}, n = {labels[_slot(k, n)]}")
        for ax, title, yl in zip(axes, ("n = k", "n > k"), ("distinct bad minima", "")):
            ax.set(xlabel="runs", title=title, ylabel=yl)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, ncol=2)
            else:
                ax.text(0.3, 0.5, "no bad minimum found", transform=ax.transAxes)
    return fig


def plot_smooth(table, n_runs: int):
    """Smooth teacher, by student width: the fraction of all ``n_runs`` runs per class (stacked bars,
    left) and the shares of resolved runs at the global and at a bad minimum with intervals (right)."""
    n_runs = check_int("n_runs", n_runs, min=1)
    with style():
        fig, (ax, ax2) = figure(1, 2, width="page")
        frac = table.set_index("n")[list(CLASSES)] / n_runs
        frac.plot.bar(stacked=True, ax=ax, color=COLORS[:5], width=0.7, rot=0)
        ax.set(xlabel="student width m", ylabel="fraction of runs")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        for j, (key, lab) in enumerate((("global", "global minimum"), ("bad", "bad minimum"))):
            f = table[f"{key}_share"]
            ax2.errorbar(table.n, f, yerr=[f - table[f"{key}_ci_low"], table[f"{key}_ci_high"] - f], fmt="o-",
                         capsize=2, color=COLORS[j], label=lab)
        ax2.set(xlabel="student width m", ylabel="share of resolved runs", ylim=(-0.02, 1.02))
        ax2.legend(fontsize=8)
    return fig


def plot_counts(counts, r_star: int):
    """The piece counts ``T`` and ``G`` against the student width (log scale)."""
    r_star = check_int("r_star", r_star, min=2)
    with style():
        fig, ax = figure()
        ax.plot(counts.m, counts["T"], "o-", color=COLORS[2], label="T: global-minimum pieces")
        ax.plot(counts.m, counts["G"], "s-", color=COLORS[1],
                label=f"G: symmetry-induced pieces from width {r_star - 1}")
        ax.set(yscale="log", xlabel="student width m", ylabel="number of affine subspaces")
        ax.legend(fontsize=8)
    return fig
