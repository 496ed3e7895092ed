"""Tests of overparam.figures.tickets_in_context: panels, series and labels of the two figures on
hand-built summaries (no pixels)."""
import numpy as np
import pandas as pd

from overparam.figures import tickets_in_context as ticfig

DENS, SCALES = (0.5, 0.25), [0.0, 1.0, 4.0]


def rec(d, **extra):
    out = {"density": d, "ticket_move_ratio_mean": 0.5, "censored_fraction": 0.0}
    for key, v in (("acc", 0.7), ("ticket_part_acc", 0.3), ("finetuned_acc", 0.75)):
        out |= {key + "_mean": v, key + "_ci_low": v - 0.02, key + "_ci_high": v + 0.02}
    return out | extra


SUMM = {"mnist1d": [rec(d, scale=s) for d in DENS for s in SCALES], "ticket_alone": [rec(d) for d in DENS],
        "dense": [rec(d) for d in DENS], "extracted": [rec(d) for d in DENS]}


def test_plot_mnist1d_two_panels_one_series_per_density():
    fig = ticfig.plot_mnist1d(SUMM, DENS, SCALES)
    a, b = fig.axes
    assert a.get_title() == "(a) whole network" and b.get_title() == "(b) the ticket's part alone, end of training"
    assert a.get_ylabel() == "accuracy at early stop"
    for ax in (a, b):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "4"]
        assert len(ax.containers) == len(DENS)  # one errorbar series per density
    # dashed lines: the ticket alone per density (both panels); dotted: the extracted ticket (panel b)
    assert sum(ln.get_linestyle() == "--" for ln in a.lines) == len(DENS)
    assert sum(ln.get_linestyle() == ":" for ln in b.lines) == len(DENS)
    assert sorted(t.get_text() for t in a.get_legend().get_texts()) == ["25.0% in context", "50.0% in context",
                                                                       "dense"]


def test_plot_students_one_series_per_teacher_width():
    rows = [dict(k=k, scale=s, holders=h, fail_fraction=f, ci_low=max(f - 0.1, 0), ci_high=f + 0.1)
            for k, h in ((8, 12), (16, 9)) for s, f in zip(SCALES, (0.0, 0.2, 0.5))]
    fig = ticfig.plot_students(pd.DataFrame(rows), [8, 16], SCALES)
    ax = fig.axes[0]
    assert len(ax.containers) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["k = 8: 12 ticket holders",
                                                                  "k = 16: 9 ticket holders"]
    assert ax.get_ylabel() == "wide student fails (fraction)"
    np.testing.assert_allclose(np.asarray(ax.containers[1].lines[0].get_ydata(), dtype=float), [0.0, 0.2, 0.5])
