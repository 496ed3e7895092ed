"""Precomputed panels for the book's chapters (also reachable as ``overparam.book.panels`` / ``.explore``).

A control that needs Python callbacks is dead on the static HTML page. Instead::

    def plot_slice(width, lr):          # returns a matplotlib Figure, never saves it
        ...
    explore(plot_slice, {"width": [2, 4, 8], "lr": [0.01, 0.1]})

In the book build (papermill and nbval set ``OVERPARAM_BOOK_BUILD=1``) ``explore`` calls ``plot_slice`` for
every combination (at most ``max_panels``) and shows the figures as an ``ipywidgets.Tab`` of ``Image``
widgets: the notebook saves that widget state, and the static page renders it with the vendored
ipywidgets HTML manager, no kernel needed. In a live kernel (Colab, Binder, local Jupyter) it shows a live
``ipywidgets.interactive`` control instead; pass ``live={"lr": FloatLogSlider(...)}`` to offer
controls beyond the precomputed grid. ``panels({"label": fig, ...})`` builds the tab group directly.
``in_book_build()`` tells which situation the chapter runs in (use it sparingly: outputs should agree).
"""
from __future__ import annotations

import io
import itertools
from typing import Any, Callable, Mapping, Sequence

from .book import in_book_build

__all__ = ["panels", "explore"]


def _png_bytes(fig, dpi: int) -> bytes:
    if isinstance(fig, (bytes, bytearray)):
        return bytes(fig)
    buf = io.BytesIO()
    # A fixed Software stamp-free PNG: the same figure gives the same bytes on every run.
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt
    plt.close(fig)
    return buf.getvalue()


def panels(figures: Mapping[str, Any], *, dpi: int = 100):
    """An ``ipywidgets.Tab`` with one ``Image`` per figure (matplotlib Figure or PNG bytes), titled by
    the mapping's keys. Figures are closed after rendering. Its widget state is saved in the executed
    notebook, so the tabs work on the static HTML page without a kernel."""
    import ipywidgets as widgets

    if not isinstance(figures, Mapping) or not figures:
        raise ValueError("figures must be a non-empty dict {tab title: matplotlib Figure or PNG bytes}")
    children = [widgets.Image(value=_png_bytes(f, dpi), format="png",
                              layout=widgets.Layout(max_width="100%", height="auto"))
                for f in figures.values()]
    tab = widgets.Tab(children=children)
    tab.titles = tuple(str(k) for k in figures)
    tab.selected_index = 0
    return tab


def _label(combo: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in combo.items())


def explore(plot: Callable[..., Any], choices: Mapping[str, Sequence], *, live: Mapping[str, Any] | None = None,
            max_panels: int = 12, dpi: int = 100):
    """Precomputed panels in the book build, a live control in a kernel (see the module docstring).

    ``plot(**kwargs)`` returns a matplotlib Figure; ``choices`` maps each keyword to the values shown as
    panels (all combinations, at most ``max_panels``); ``live`` optionally maps keywords to ipywidgets
    controls for the live version (default: a dropdown over ``choices``).
    """
    import ipywidgets as widgets

    if not isinstance(choices, Mapping) or not choices or any(len(v) == 0 for v in choices.values()):
        raise ValueError("choices must be a non-empty dict {keyword: non-empty list of values}")
    combos = [dict(zip(choices, vals)) for vals in itertools.product(*choices.values())]
    if len(combos) > max_panels:
        raise ValueError(f"choices give {len(combos)} panels; max_panels is {max_panels}: offer fewer "
                         f"settings (the live control can offer more through `live`)")
    if in_book_build():
        return panels({_label(c): plot(**c) for c in combos}, dpi=dpi)

    from IPython.display import display

    controls = {k: widgets.Dropdown(options=list(v), description=k) for k, v in choices.items()}
    controls.update(live or {})

    def show(**kwargs):
        fig = plot(**kwargs)
        display(fig)
        import matplotlib.pyplot as plt
        plt.close(fig)

    return widgets.interactive(show, **controls)
