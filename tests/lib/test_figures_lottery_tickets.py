"""Tests of overparam.figures.lottery_tickets: each figure draws one series per condition, with the axes
and labels the chapter's captions describe (checked on a small hand-built summary; no pixels)."""
import numpy as np
import pandas as pd
import pytest

from overparam.figures import lottery_tickets as ltfig

DENS = [0.6, 0.36, 0.216]


def stats(censored_at=None):
    def cond(acc):
        cens = [0.0] * 3 if censored_at is None else [1.0 if i == censored_at else 0.0 for i in range(3)]
        return {"density": DENS, "acc_mean": acc, "acc_ci_low": [a - 0.02 for a in acc],
                "acc_ci_high": [a + 0.02 for a in acc], "stop_iter_mean": [300.0, 350.0, 400.0],
                "stop_iter_censored_fraction": cens}
    out = {c: cond([0.8, 0.78, 0.75]) for c in ("ticket", "rewind", "reinit", "random_mask")}
    out["dense"] = {"acc_mean": 0.8, "acc_ci_low": 0.78, "acc_ci_high": 0.82, "stop_iter_mean": 250.0}
    return out


CONDS = ltfig.conditions(50)


def test_conditions_label_the_rewind_step():
    assert list(CONDS) == ["ticket", "rewind", "reinit", "random_mask"]
    assert CONDS["rewind"][0] == "rewound to step 50"


def test_plot_accuracy_has_a_series_per_condition_and_a_percent_axis():
    fig = ltfig.plot_accuracy(stats(), CONDS)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "weights remaining (%)"
    assert ax.get_ylabel() == "test accuracy at early stop"
    assert ax.get_xscale() == "log"
    lo, hi = ax.get_xlim()
    assert lo > hi  # inverted: pruning proceeds to the right
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["dense (95% interval)", *(v[0] for v in CONDS.values())]
    assert [f"{t:g}" for t in ax.get_xticks()] == ["60", "40", "20"]


def test_plot_stop_marks_censored_points_hollow():
    fig = ltfig.plot_stop(stats(censored_at=2), CONDS, n_steps=1000)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "early-stopping iteration"
    assert ax.get_ylim() == pytest.approx((0, 1050))
    assert len(ax.lines) == 2 + len(CONDS)  # dense, step cap, one line per condition
    hollow = [c for c in ax.collections if len(c.get_offsets()) and
              np.allclose(c.get_facecolors()[:, :3], 1.0)]
    assert len(hollow) == len(CONDS) and all(len(c.get_offsets()) == 1 for c in hollow)


def test_plot_curves_picks_the_nearest_density():
    rows = [dict(condition=c, round=r, seed=s, step=t, test_acc=0.1 * r + 0.001 * t)
            for c in ("dense", "ticket", "rewind", "reinit", "random_mask") for r in range(4)
            for s in range(2) for t in (0, 10, 20)]
    fig = ltfig.plot_curves(pd.DataFrame(rows), DENS, CONDS, density=30.0)
    ax = fig.axes[0]
    assert ax.get_title() == "36.0% of the weights"
    assert len(ax.lines) == 1 + len(CONDS)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.2, 0.21, 0.22])  # the ticket at round 2


def test_curve_choices_spread_over_the_rounds():
    assert ltfig.curve_choices(DENS) == [60.0, 36.0, 21.6]
    assert ltfig.curve_choices(DENS, max_panels=2) == [60.0, 21.6]


@pytest.mark.parametrize("call, name", [
    (lambda: ltfig.plot_stop(stats(), CONDS, n_steps=0), "n_steps"),
    (lambda: ltfig.plot_curves(pd.DataFrame(), DENS, CONDS, density=-1.0), "density"),
    (lambda: ltfig.curve_choices(DENS, max_panels=0), "max_panels"),
])
def test_bad_arguments_name_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()
