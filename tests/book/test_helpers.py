"""overparam.book (chapter helpers) and overparam.plotting (house style)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from overparam import book
from overparam.book import check_parameters, load_results, save_results, to_json_value

BASE = {"profile": "quick", "results_dir": "results/x", "seed": 0}


@pytest.mark.parametrize("rule, good, bad, message", [
    (("int", 1, 100), 5, 0, "an integer in [1, 100]"),
    (("int", 1, 100), 100, 7.0, "an integer in [1, 100]"),
    (("int", 1, None), 10**9, True, "an integer in [1, inf]"),
    (("float", 0.0, 1.0), 1, 1.5, "a finite number in [0.0, 1.0]"),
    (("float", None, None), -3.5, float("nan"), "a finite number in [-inf, inf]"),
    (("int_list", 1, 512), [2, 4], [2, 0], "a non-empty list of integers, each in [1, 512]"),
    (("int_list", 1, 512), (3,), [], "a non-empty list of integers"),
    (("float_list", 0, 1), [0.5, 1], [0.5, "a"], "a non-empty list of finite numbers, each in [0, 1]"),
    (("choice", ["relu", "tanh"]), "tanh", "ReLU", "one of 'relu', 'tanh'"),
    (("bool",), False, 0, "True or False"),
    (("str",), "x", "", "a non-empty string"),
])
def test_check_parameters_rules(rule, good, bad, message):
    check_parameters({**BASE, "p": good}, {"p": rule})
    with pytest.raises(ValueError) as err:
        check_parameters({**BASE, "p": bad}, {"p": rule})
    assert "parameter 'p' must be " + message in str(err.value)
    assert repr(bad) in str(err.value)


def test_check_parameters_standard_and_missing():
    with pytest.raises(ValueError, match="parameter 'profile' must be one of 'quick', 'paper'"):
        check_parameters({**BASE, "profile": "fast"}, {})
    with pytest.raises(ValueError, match="parameter 'seed' must be an integer"):
        check_parameters({**BASE, "seed": -1}, {})
    with pytest.raises(ValueError, match="'n_seeds' are checked but not defined"):
        check_parameters(BASE, {"n_seeds": ("int", 1, 10)})
    with pytest.raises(ValueError, match="spec for parameter 'p'"):
        check_parameters({**BASE, "p": 1}, {"p": ("integer", 1, 2)})
    assert check_parameters(BASE, {}) is None


def test_to_json_value_converts_and_nulls_non_finite():
    torch = pytest.importorskip("torch")
    value = {"a": np.float64(1.5), "b": np.arange(3), "c": (1, float("nan")), "d": torch.tensor(2.0),
             "e": {"f": np.inf, "g": np.bool_(True)}, "h": None}
    assert to_json_value(value) == {"a": 1.5, "b": [0, 1, 2], "c": [1, None], "d": 2.0,
                                    "e": {"f": None, "g": True}, "h": None}
    with pytest.raises(ValueError, match="keys must be strings"):
        to_json_value({1: 2})
    with pytest.raises(ValueError, match="summary values must be"):
        to_json_value({"x": object()})


def test_save_results_writes_atomically_and_replaces(tmp_path):
    target = tmp_path / "results" / "ch"
    df = pd.DataFrame({"w": [1, 2], "loss": [0.1, float("nan")]})
    assert save_results(target, {"best": 0.25, "bad": float("nan")}, {"fig_a": df}) is None
    text = (target / "summary.json").read_text()
    assert "NaN" not in text and json.loads(text) == {"bad": None, "best": 0.25}
    summary, tables = load_results(target)
    assert list(tables) == ["fig_a"] and tables["fig_a"]["w"].tolist() == [1, 2]
    assert math.isnan(tables["fig_a"]["loss"][1])
    save_results(target, {"best": 0.5})  # a second save replaces the folder: the old CSV is gone
    assert sorted(p.name for p in target.iterdir()) == ["summary.json"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["ch"], "no temporary folders left behind"


def test_save_results_rejects_bad_input_without_touching_the_folder(tmp_path):
    target = tmp_path / "ch"
    save_results(target, {"a": 1})
    with pytest.raises(ValueError, match="table name 'fig a'"):
        save_results(target, {"a": 2}, {"fig a": pd.DataFrame()})
    with pytest.raises(ValueError, match="must be a pandas.DataFrame"):
        save_results(target, {"a": 2}, {"fig": [1, 2]})
    with pytest.raises(ValueError, match="summary values must be"):
        save_results(target, {"a": object()})
    assert json.loads((target / "summary.json").read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ch"]


def _fig(a):
    from overparam.plotting import figure
    fig, ax = figure(width=3)
    ax.plot([0, 1], [0, a])
    return fig


def test_panels_and_explore(monkeypatch):
    widgets = pytest.importorskip("ipywidgets")
    tab = book.panels({"a = 1": _fig(1), "a = 2": _fig(2)})
    assert isinstance(tab, widgets.Tab) and tab.titles == ("a = 1", "a = 2")
    assert all(isinstance(c, widgets.Image) and c.value[:4] == b"\x89PNG" for c in tab.children)
    assert book.panels({"x": _fig(1)}).children[0].value == book.panels({"x": _fig(1)}).children[0].value, \
        "the same figure gives the same PNG bytes (nbval, determinism)"
    monkeypatch.setenv(book.BUILD_ENV, "1")
    shown = book.explore(lambda a, b: _fig(a + b), {"a": [1, 2], "b": [0, 10]})
    assert isinstance(shown, widgets.Tab) and len(shown.children) == 4 and shown.titles[0] == "a = 1, b = 0"
    with pytest.raises(ValueError, match="max_panels"):
        book.explore(_fig, {"a": list(range(13))})
    monkeypatch.delenv(book.BUILD_ENV)
    live = book.explore(_fig, {"a": [1, 2]})
    assert isinstance(live, widgets.interactive)


def test_plotting_style_is_scoped_and_figures_are_not_global():
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from overparam.plotting import COLORS, figure, label_panels, mean_band, style

    before = mpl.rcParams["axes.spines.top"]
    with style():
        assert mpl.rcParams["axes.spines.top"] is False
        fig, axes = figure(1, 2, width="page")
        line = mean_band(axes[0], [1, 2, 3], np.array([[1.0, 2, 3], [1.2, 2.2, np.nan]]))
        label_panels(axes)
    assert mpl.rcParams["axes.spines.top"] == before
    assert line.get_color().lower() == COLORS[0].lower()
    assert fig.get_size_inches()[0] == 9.0
    assert plt.get_fignums() == [], "figure() must not register figures with pyplot"
    with pytest.raises(ValueError, match="y must have shape"):
        mean_band(axes[0], [1, 2], np.zeros((2, 3)))


def test_mean_band_numbers():
    """The line is the mean over seeds (NaN ignored), the band 1.96 standard errors; a single seed at a
    step has no band; log=True averages log10."""
    from overparam.plotting import figure, mean_band, style

    y = np.array([[1.0, 2.0, 4.0], [3.0, 6.0, np.nan], [2.0, 4.0, np.nan]])
    with style():
        fig, ax = figure()
        line = mean_band(ax, [0, 1, 2], y)
        np.testing.assert_allclose(line.get_ydata(), [2.0, 4.0, 4.0])
        band = ax.collections[0].get_paths()[0].vertices
        sem0 = np.std([1.0, 3.0, 2.0], ddof=1) / np.sqrt(3)
        at1 = band[band[:, 0] == 1, 1]
        lo, hi = at1.min(), at1.max()
        assert lo == pytest.approx(4.0 - 1.96 * np.std([2.0, 6.0, 4.0], ddof=1) / np.sqrt(3))
        assert hi == pytest.approx(4.0 + 1.96 * np.std([2.0, 6.0, 4.0], ddof=1) / np.sqrt(3))
        assert 2.0 - 1.96 * sem0 == pytest.approx(band[band[:, 0] == 0, 1].min())
        assert set(band[band[:, 0] == 2, 1]) == {4.0}, "one seed at the last step: no band"
        fig2, ax2 = figure()
        logline = mean_band(ax2, [0, 1], np.array([[1.0, 10.0], [100.0, 1000.0]]), log=True)
        np.testing.assert_allclose(logline.get_ydata(), [10.0, 100.0])
        assert ax2.get_yscale() == "log"


def test_format_interval_and_bad_input():
    assert book.format_interval(0.6104, 0.59, 0.63) == "0.610 (0.590–0.630)"
    assert book.format_interval(12, 10, 14.25, digits=1) == "12.0 (10.0–14.2)"
    with pytest.raises(ValueError, match=r"^low\b"):
        book.format_interval(0.5, float("nan"), 0.6)
    with pytest.raises(ValueError, match=r"^digits\b"):
        book.format_interval(0.5, 0.4, 0.6, digits=-1)


def test_show_table_merges_intervals_hides_the_index_and_rounds():
    df = pd.DataFrame({"k": [6, 8], "bad_fraction": [0.25, 0.5], "ci_low": [0.2, 0.41],
                       "ci_high": [0.3, 0.59], "loss": [1.23456789, np.nan]})
    st = book.show_table(df, intervals={"bad share (95%)": ("bad_fraction", "ci_low", "ci_high")},
                         rename={"k": "teacher width"})
    shown = st.data
    assert list(shown.columns) == ["teacher width", "bad share (95%)", "loss"]
    assert list(shown["bad share (95%)"]) == ["0.250 (0.200–0.300)", "0.500 (0.410–0.590)"]
    html = st.to_html()
    assert "1.235" in html and "1.23456789" not in html and "–" in html   # NaN shown as a dash
    assert "<th>0</th>" not in html and 'class="row_heading' not in html  # no index column
    grouped = df.set_index("k")
    assert list(book.show_table(grouped).data.columns)[0] == "k", "a named index becomes a column"
    with pytest.raises(ValueError, match=r"^intervals\['x'\]"):
        book.show_table(df, intervals={"x": ("bad_fraction", "lo", "ci_high")})
    with pytest.raises(ValueError, match=r"^rename\b"):
        book.show_table(df, rename={"n": "width"})
    st = book.show_table(df, formats={"loss": "{:.1e}"})
    assert "1.2e+00" in st.to_html()
    with pytest.raises(ValueError, match=r"^formats\b"):
        book.show_table(df, formats={"moved": "{:.1e}"})
    with pytest.raises(ValueError, match=r"^df\b"):
        book.show_table([1, 2])


def test_verdict_and_finding():
    assert book.verdict(0.01, 0.2) == "supported"
    assert book.verdict(-0.3, -0.02) == "not supported"
    assert book.verdict(-0.1, 0.1) == "not separable at this scale"
    assert book.verdict(0.55, 0.7, bar=0.5) == "supported" and book.verdict(0.4, 0.6, bar=0.5) != "supported"
    with pytest.raises(ValueError, match=r"^low must be at most high"):
        book.verdict(0.3, 0.1)
    row = book.finding("3", "splitting a neuron", "50 of 50 minima become saddles", "supported")
    assert row == {"claim": "3", "experiment": "splitting a neuron",
                   "result": "50 of 50 minima become saddles", "verdict": "supported"}
    with pytest.raises(ValueError, match=r"^verdict must be one of supported"):
        book.finding("3", "x", "y", "likely")
    with pytest.raises(ValueError, match=r"^result\b"):
        book.finding("3", "x", " ", "supported")


def test_progress_writes_one_line_per_item_outside_the_notebook_output(capsys, tmp_path, monkeypatch):
    import io
    log = io.StringIO()
    assert list(book.progress([3, 4, 5], "teacher widths", stream=log)) == [3, 4, 5]
    lines = log.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].strip().startswith("teacher widths: 1/3 (")
    assert lines[-1].strip().startswith("teacher widths: 3/3 (")
    monkeypatch.delenv(book.PROGRESS_ENV, raising=False)
    assert list(book.progress([1, 2], "silent")) == [1, 2]
    target = tmp_path / "progress.log"
    monkeypatch.setenv(book.PROGRESS_ENV, str(target))
    assert list(book.progress("ab", "to the build")) == ["a", "b"]
    assert [ln.split(" (")[0].strip() for ln in target.read_text().splitlines()] == [
        "to the build: 1/2", "to the build: 2/2"]
    out = capsys.readouterr()
    assert out.out == "" and out.err == "", "nothing reaches the captured (notebook) output"
    with pytest.raises(ValueError, match=r"^label\b"):
        list(book.progress([1], ""))


def test_show_table_html_is_the_same_in_two_runs():
    df = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]})
    assert book.show_table(df).to_html() == book.show_table(df.copy()).to_html()
    assert book.show_table(df).to_html() != book.show_table(df.assign(b=[3, 5])).to_html()
