"""overparam.figures.counting_tickets: each figure's axes, labels and plotted elements, drawn from
small hand-made tables (no pixels compared)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from overparam import tickets as T
from overparam.figures import counting_tickets as F


def _errorbars(ax):
    return [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]


def _predictions():
    nan = float("nan")
    rows = []
    for k, ns in ((3, [3, 4, 5, 6]), (4, [4, 5])):
        for n in ns:
            rows.append(dict(k=k, n=n, seeds=20, wide_success=0.5, wide_low=0.3, wide_high=0.7,
                             pred_tickets=0.6, pred_tickets_low=0.5, pred_tickets_high=0.7,
                             pred_restarts=0.4 if n == 2 * k else nan,
                             pred_restarts_low=0.3 if n == 2 * k else nan,
                             pred_restarts_high=0.5 if n == 2 * k else nan,
                             some_subnetwork=nan if n == 5 else 0.55, some_low=nan if n == 5 else 0.4,
                             some_high=nan if n == 5 else 0.7))
    return pd.DataFrame(rows)


def test_plot_predictions():
    fig = F.plot_predictions(_predictions(), 3)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() == "k = 3: 20 seeds" and ax.get_ylabel() == "success rate"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["n = 3", "n = 4", "n = 5", "n = 6"]
    bars = _errorbars(ax)
    assert len(bars) == 2
    assert len(bars[1].lines[0].get_xdata()) == 3, "no some-subnetwork point where it is not measured"
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 2
    assert len(ax.get_legend().get_texts()) == 4
    with pytest.raises(ValueError, match=r"^k\b"):
        F.plot_predictions(_predictions(), 9)


def test_plot_halves():
    cols = {}
    for c, v in (("power_set_prediction", 0.9), ("some_subnetwork_rate", 0.8), ("wide_success", 0.6)):
        cols.update({c: [v, v], f"{c}_low": [v - 0.1] * 2, f"{c}_high": [v + 0.05] * 2})
    fig = F.plot_halves(pd.DataFrame(dict(k=[12, 14], **cols)))
    ax = fig.axes[0]
    assert len(_errorbars(ax)) == 3 and ax.get_xlabel() == "teacher width k (student k + 1)"
    assert list(ax.get_xticks()) == [12, 14]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "power-set prediction", "some subnetwork wins alone", "wide student wins"]


def test_plot_seed_strip():
    wide = np.array([T.WIN, T.FAIL, T.UNRESOLVED, T.WIN])
    sub = np.array([[T.WIN, T.FAIL], [T.FAIL, T.FAIL], [T.WIN, T.WIN], [T.FAIL, T.UNRESOLVED]])
    tabs = {(2, 3): T.seed_table(wide, sub)}
    fig = F.plot_seed_strip(tabs, 2, 3)
    ax = fig.axes[0]
    assert len(ax.patches) == 4 and [p.get_height() for p in ax.patches] == [1, 0, 2, 0]
    assert len(ax.collections[0].get_offsets()) == 2, "a cross at each seed without a winner"
    assert ax.get_title().startswith("k = 2, n = 3: 2 subnetworks per seed")
    with pytest.raises(ValueError, match=r"^k, n\b"):
        F.plot_seed_strip(tabs, 2, 4)


def test_plot_inside():
    pairs = pd.DataFrame(dict(relative_distance=[0.1, 0.5, 1.0], restriction_loss=[0.0, 1e-3, 0.25]))
    fig = F.plot_inside(pairs)
    a, b = fig.axes
    assert a.get_xlabel() == "relative distance to the subnetwork's solution"
    assert b.get_xlabel() == "log10 loss of the restriction alone"
    assert len(a.patches) == len(b.patches) == 20
    assert sum(p.get_height() for p in b.patches) == 3


def test_plot_control():
    control = pd.DataFrame(dict(n=[1, 2, 4], success=[0.5, 0.7, 0.9], low=[0.4, 0.6, 0.8],
                                high=[0.6, 0.8, 0.95], pred_restarts=[0.5, 0.75, 0.94],
                                pred_low=[0.45, 0.7, 0.9], pred_high=[0.55, 0.8, 0.96]))
    ax = F.plot_control(control).axes[0]
    assert ax.get_xlabel() == "student width n" and len(_errorbars(ax)) == 1
    assert list(ax.lines[0].get_xdata()) == [1, 2, 4]
    assert len(ax.get_legend().get_texts()) == 2
