"""Figures of the chapter *Tickets in context*: each takes the chapter's summaries and returns a matplotlib
Figure in the house style; nothing is saved or shown."""
from __future__ import annotations

import numpy as np

from ..plotting import COLORS, figure, style

__all__ = ["plot_mnist1d", "plot_students"]

_ENDS = ("_mean", "_ci_low", "_ci_high")


def plot_mnist1d(summ: dict, densities, scales):
    """MNIST-1D, one colour per ticket density: (a) test accuracy at early stop of the network holding the
    ticket against the scale ``s`` of the rest (dashed: the ticket alone; grey band: the dense network at
    the first density); (b) the accuracy of the ticket's part alone at the end of training (dashed: the
    ticket alone; dotted: the extracted ticket). ``summ``: :func:`overparam.context_mnist1d.summarize_mnist1d`."""
    from ..experiments.tickets_in_context import percent

    ta, ex, dense = summ["ticket_alone"], summ["extracted"], summ["dense"]
    x, ebar = np.arange(len(scales)), dict(marker="o", ms=4, capsize=2)
    with style():
        fig, axs = figure(1, 2, width="page", aspect=0.8, sharey=True)
        axs[0].axhspan(dense[0]["acc_ci_low"], dense[0]["acc_ci_high"], color="0.85", label="dense")
        for i, d in enumerate(densities):
            recs, c = [r for r in summ["mnist1d"] if r["density"] == d], COLORS[i]
            xi, lab = x + 0.06 * (i - 1), f"{percent(d)} in context"
            for ax, key in zip(axs, ("acc", "ticket_part_acc")):
                m, lo, hi = (np.array([r[key + e] for r in recs]) for e in _ENDS)
                ax.errorbar(xi, m, [m - lo, hi - m], c=c, label=lab, **ebar)
                ax.axhline(ta[i][key + "_mean"], c=c, ls="--", lw=1)
            axs[1].axhline(ex[i]["acc_mean"], color=c, ls=":")
        axs[0].set(ylabel="accuracy at early stop", title="(a) whole network")
        axs[1].set(title="(b) the ticket's part alone, end of training")
        for ax in axs:
            ax.set_xticks(x, [f"{s:g}" for s in scales])
            ax.set_xlabel("scale s of the rest of the network")
        axs[0].legend(fontsize=8, loc="lower left")
    return fig


def plot_students(table, ks, scales):
    """Teacher-student: per teacher width in ``ks``, the fraction of ticket holders whose wide student
    fails, with Wilson intervals, against the scale of the extra neuron's initial row. ``table``:
    :func:`overparam.context_students.summarize_students` as a DataFrame."""
    with style():
        fig, ax = figure()
        for i, k in enumerate(ks):
            t = table[table.k == k]
            f, lo, hi = t.fail_fraction, t.ci_low, t.ci_high
            lab = f"k = {k}: {int(t.holders.iloc[0])} ticket holders"
            ax.errorbar(np.arange(len(t)) + 0.08 * i, f, [f - lo, hi - f], label=lab, c=COLORS[i], marker="o",
                        ms=4, capsize=3)
        ax.set_xticks(np.arange(len(scales)), [f"{s:g}" for s in scales])
        ax.set(xlabel="scale s of the extra neuron's initial row")
        ax.set(ylabel="wide student fails (fraction)", ylim=(-0.02, None))
        ax.legend(fontsize=8, loc="upper left")
    return fig
