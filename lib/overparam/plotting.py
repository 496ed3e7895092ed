"""The book's house style for figures. Functions return figures; nothing here saves a file::

    from overparam.plotting import style, figure, mean_band, COLORS
    with style():
        fig, ax = figure()
        mean_band(ax, steps, losses, label="width 4")   # losses: (n_seeds, n_steps), the seed axis first
        ax.set(xlabel="step", ylabel="loss", yscale="log")
    glue("fig-loss", fig, display=False)

``style()`` is a context manager (``matplotlib.rc_context``); ``use_style()`` applies the same settings to
the whole session. Importing this module changes nothing (no ``matplotlib.use``, no rcParams edits).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["COLORS", "RC", "style", "use_style", "figure", "mean_band", "label_panels"]

#: Okabe-Ito, distinguishable with the common colour-vision deficiencies.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")

RC = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.figsize": (6.0, 3.6),
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "svg.hashsalt": "overparam",  # deterministic SVG ids
}


def _rc() -> dict:
    from cycler import cycler
    rc = dict(RC)  # plus the colour cycle (a cycler object)
    rc["axes.prop_cycle"] = cycler(color=list(COLORS))
    return rc


def style():
    """``with style(): ...`` draws figures in the house style."""
    import matplotlib as mpl
    return mpl.rc_context(_rc())


def use_style() -> None:
    """Apply the house style to the whole session (for a chapter's setup)."""
    import matplotlib as mpl
    mpl.rcParams.update(_rc())


_WIDTHS = {"column": 6.0, "page": 9.0}


def figure(nrows: int = 1, ncols: int = 1, *, width: str | float = "column", aspect: float = 0.6,
           **subplots_kw):
    """``(fig, axes)`` sized for the page: ``width`` "column" (6 in), "page" (9 in) or inches; the height
    is ``aspect`` times the width of one panel times ``nrows``. Uses constrained layout; the figure is
    not attached to pyplot's global state, so it never shows up twice in a notebook."""
    from matplotlib.figure import Figure

    _display_figures_as_png()
    if nrows < 1 or ncols < 1:
        raise ValueError(f"nrows and ncols must be >= 1, got {nrows}, {ncols}")
    w = _WIDTHS.get(width, width) if isinstance(width, str) else float(width)
    if isinstance(w, str) or not w > 0:
        raise ValueError(f"width must be 'column', 'page' or a positive number of inches, got {width!r}")
    fig = Figure(figsize=(w, aspect * w / ncols * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=True, **subplots_kw)
    return fig, axes


def _display_figures_as_png() -> None:
    """In an IPython kernel, show Figure objects (also glued ones) as PNG, as pyplot's inline backend
    would once activated; our figures are made without pyplot, so it may never be."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return
    from matplotlib.figure import Figure
    if Figure not in ip.display_formatter.formatters["image/png"].type_printers:
        from IPython.core.pylabtools import select_figure_formats
        select_figure_formats(ip, {"png"}, bbox_inches="tight")


def mean_band(ax, x: Sequence[float], y, *, label: str | None = None, color=None, z: float = 1.96,
              log: bool = False):
    """Plot the mean over seeds of ``y`` (shape ``(n_seeds, len(x))``; NaN ignored) with a band of
    ``z`` standard errors. ``log=True`` averages log10(y) (for losses spanning decades). Returns the line."""
    y = np.asarray(y, dtype=float)
    if y.ndim != 2 or y.shape[1] != len(x):
        raise ValueError(f"y must have shape (n_seeds, {len(x)}), got {y.shape}")
    v = np.log10(y) if log else y
    n = np.sum(np.isfinite(v), axis=0)
    mean = np.nansum(v, axis=0) / np.maximum(n, 1)
    mean[n == 0] = np.nan
    dev = np.where(np.isfinite(v), v - mean, 0.0)
    var = np.sum(dev ** 2, axis=0) / np.maximum(n - 1, 1)
    sem = np.where(n > 1, np.sqrt(var / np.maximum(n, 1)), 0.0)  # a single seed: no band
    lo, hi = mean - z * sem, mean + z * sem
    if log:
        mean, lo, hi = 10 ** mean, 10 ** lo, 10 ** hi
        ax.set_yscale("log")
    (line,) = ax.plot(x, mean, label=label, color=color)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def label_panels(axes, *, start: str = "a") -> None:
    """Write (a), (b), ... in the top-left corner of each panel."""
    for i, ax in enumerate(np.ravel(axes)):
        ax.text(-0.02, 1.02, f"({chr(ord(start) + i)})", transform=ax.transAxes, ha="right", va="bottom",
                fontweight="bold")
