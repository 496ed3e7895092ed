"""Tests of overparam.figures.bad_minima_rare: series, axes and labels of each figure on small hand-built
census tables (no pixels)."""
import pandas as pd
import pytest

from overparam.census import CLASSES
from overparam.experiments import bad_minima_rare as bm
from overparam.figures import bad_minima_rare as bmfig


def ss_table(ks=(4, 5), double=()):
    rows = []
    for k in ks:
        for n in [k, k + 1, k + 2] + ([2 * k] if k in double else []):
            share = 0.3 / (1 + n - k)
            rows.append(dict(k=k, n=n, runs=100, bad_share=share, bad_ci_low=share - 0.05,
                             bad_ci_high=share + 0.05, singletons=1, distinct_bad_minima=2))
    return pd.DataFrame(rows)


PUBLISHED = pd.DataFrame(dict(k=[4, 4, 5, 9], n=[4, 5, 5, 9], bad_fraction=[0.3, 0.1, 0.2, 0.5]))


def test_slots_add_2k_only_with_double_ks():
    assert bmfig.slots([]) == ["k", "k + 1", "k + 2"]
    assert bmfig.slots([4]) == ["k", "k + 1", "k + 2", "2k"]


def test_plot_share_one_line_per_teacher_width_plus_published():
    fig = bmfig.plot_share(ss_table(double=(4,)), PUBLISHED, [4, 5], [4])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["k", "k + 1", "k + 2", "2k"]
    assert ax.get_ylabel() == "share of runs at a bad minimum"
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["k = 4", "k = 5", "published"]
    crosses = [ln for ln in ax.lines if ln.get_marker() == "x" and len(ln.get_xdata())]
    assert sorted(len(ln.get_xdata()) for ln in crosses) == [1, 2]  # k = 9 has no line: not drawn


def test_plot_rarefaction_splits_n_equal_k_from_wider():
    rare = pd.DataFrame([dict(k=4, n=n, runs=t, distinct=float(min(t, 2) if n < 6 else 0))
                         for n in (4, 5, 6) for t in range(1, 6)])
    fig = bmfig.plot_rarefaction(rare, [4], [])
    left, right = fig.axes
    assert (left.get_title(), right.get_title()) == ("n = k", "n > k")
    assert len(left.lines) == 1 and len(right.lines) == 1  # n = k + 2 found none: not drawn
    assert right.get_legend().get_texts()[0].get_text() == "k = 4, n = k + 1"
    empty = bmfig.plot_rarefaction(rare[rare.n == 6], [4], [])
    assert "no bad minimum found" in [t.get_text() for t in empty.axes[0].texts]


def test_plot_smooth_stacks_every_class():
    rows = [dict(n=n, **{c: (10 if c == "global" else 2) for c in CLASSES}, global_share=0.8, global_ci_low=0.6,
                 global_ci_high=0.9, bad_share=0.1, bad_ci_low=0.02, bad_ci_high=0.3) for n in (3, 4, 5)]
    fig = bmfig.plot_smooth(pd.DataFrame(rows), 18)
    ax, ax2 = fig.axes
    assert len(ax.patches) == len(CLASSES) * 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(CLASSES)
    assert [t.get_text() for t in ax2.get_legend().get_texts()] == ["global minimum", "bad minimum"]
    assert ax2.get_ylabel() == "share of resolved runs"


def test_plot_counts_log_scale_two_series():
    counts, _ = bm.counting(3)
    fig = bmfig.plot_counts(counts, 3)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.lines) == 2
    assert ax.get_legend().get_texts()[1].get_text() == "G: symmetry-induced pieces from width 2"


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match=r"^r_star\b"):
        bmfig.plot_counts(bm.counting(3)[0], 1)
    with pytest.raises(ValueError, match=r"^n_runs\b"):
        bmfig.plot_smooth(pd.DataFrame(), 0)
