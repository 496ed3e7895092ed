"""overparam.figures.escape_dimensions: the chapter's figures from small, made-up data (axes, labels,
series), and the slice figure from a real (small) split minimum."""
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from overparam.experiments import escape_dimensions as ed
from overparam.experiments.escape_runs import EMBEDDINGS
from overparam.experiments.escape_slice import EscapeSlice
from overparam.figures import escape_dimensions as figs


def _esc_k(ks):
    return pd.DataFrame([dict(k=k, embedding=how, extra=e, minima=4, escaped=2, fraction=0.5, ci_low=0.2,
                              ci_high=0.8) for k in ks for how in EMBEDDINGS for e in (1, 2)])


def test_plot_escape_fractions_one_series_per_embedding_and_extra():
    fig = figs.plot_escape_fractions(_esc_k([8, 10]), [8, 10])
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xlabel() == "teacher width k" and "escaped" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 6 and "a new neuron, 2 extra" in labels
    assert list(ax.get_xticks()) == [8, 10]


def test_plot_rates_ours_and_published():
    rates = pd.DataFrame(dict(k=[8, 8, 8, 10, 10], n=[8, 9, 10, 10, 11], runs=[200] * 5,
                              bad_fraction=[0.2, 0.05, 0.0, 0.1, 0.03], ci_low=[0.15, 0.02, 0.0, 0.06, 0.01],
                              ci_high=[0.26, 0.09, 0.02, 0.15, 0.06]))
    published = pd.DataFrame(dict(k=[8, 8, 10], n=[8, 9, 10], source=["ss2018", "sys2021", "ss2018"],
                                  bad_fraction=[0.25, 0.04, 0.12]))
    fig = figs.plot_rates(rates, published)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"n = k (ours)", "n = k + 1 (ours)", "n = k + 2 (ours)"} <= set(labels)
    assert "n = k + 1 (Safran et al. 2021)" in labels and "n = 2k (ours)" not in labels
    assert len(labels) == 3 + 4  # our three widths; each source at n = k and k + 1 (even if empty)
    assert len(ax.containers) == 3  # one errorbar series per width that has runs
    assert ax.get_ylim() == (-0.02, 1) and ax.get_ylabel() == "fraction of bad runs"


@pytest.mark.parametrize("path", [True, False])
def test_plot_escape_slice_panels(path):
    g = np.linspace(-0.4, 0.4, 5)
    s = EscapeSlice(k=3, neuron=1, mu=0.5, grid=g, loss_grid=1 + np.add.outer(g, g) ** 2,
                    lam_narrow=np.array([0.1, 0.2, 0.5]), lam_split=np.array([-0.3, 0.0, 0.1, 0.4]),
                    path=np.array([[0.0, 0.01], [0.1, 0.2]]) if path else None)
    fig = figs.plot_escape_slice(s)
    ax, ax2 = fig.axes[:2]
    assert ax.get_title() == "k = n = 3, split neuron 1, μ = 0.5"
    assert ax.get_xlabel() == "narrow network's flattest direction" and ax.get_ylabel() == "escape direction"
    texts = [t.get_text() for t in ax.texts]
    assert ("B" in texts) == path and "A" in texts
    assert [t.get_text() for t in ax2.get_legend().get_texts()] == ["narrow (n = 3)", "split (n = 4)"]
    assert [len(line.get_xdata()) for line in ax2.get_lines()[:2]] == [3, 4]


def test_plot_escape_slice_of_a_real_minimum():
    from overparam.experiments.escape_slice import escape_slice
    runs = {(8, 8): ed.run_rates(8, 8, 1, 0, 3000, first_run=31)}
    cert, _ = ed.certify_minima(runs, [8])
    s = escape_slice(cert[8].W, 0, 0.5, eps=1e-3, lr=5 / 8, n_path=100, m=9)
    fig = figs.plot_escape_slice(s)
    assert len(fig.axes) == 3  # the slice, the spectra, the colour bar
    assert min(fig.axes[1].get_lines()[1].get_ydata()) < 0 < min(fig.axes[1].get_lines()[0].get_ydata())
