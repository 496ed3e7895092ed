"""Helpers for the book's chapters: parameter checks, results files, precomputed panels.

A chapter (``book/<chapter>.ipynb``) uses them like this::

    # parameters  (the cell tagged `parameters`: the quick profile)
    profile = "quick"
    results_dir = "results/my_chapter"
    seed = 0
    n_seeds = 8
    widths = [2, 4, 8]
    lr = 0.05

    # next cell
    from overparam.book import check_parameters, save_results, explore, panels
    check_parameters(globals(), {
        "n_seeds": ("int", 1, 1000),        # int in [1, 1000]; None for an open end: ("int", 1, None)
        "widths": ("int_list", 1, 512),     # non-empty list of ints, each in [1, 512]
        "lr": ("float", 0.0, 1.0),          # finite real number in [0, 1] (ints accepted)
        # also: ("float_list", lo, hi), ("choice", [allowed values]), ("bool",), ("str",)
    })

``check_parameters`` always checks the three standard parameters too (``profile`` in
{"quick", "paper"}, ``results_dir`` a non-empty string, ``seed`` an int >= 0) unless the spec
overrides them. A wrong type or range raises ``ValueError`` naming the parameter and what is allowed,
so the chapter (and the build) stops there. (The build separately checks that every key of
``book/_params/paper.yml`` is a name of the parameters cell: papermill alone only warns.)

At the end of the chapter::

    save_results(results_dir, summary={"best_loss": 1.2e-9, "success_rate": [0.2, 0.5]},
                 tables={"fig_success": df_success, "fig_curves": df_curves})

writes ``summary.json`` (sorted keys; numpy/torch numbers converted; NaN and infinities written as
``null``) and one ``<name>.csv`` per table, atomically (a temporary folder renamed into place). The build
publishes the folder at ``_build/html/_results/<chapter>/``. To link the files from the chapter's prose
(a missing file then fails the build)::

    The data behind {numref}`fig-success`: {download}`fig_success.csv <results/my_chapter/fig_success.csv>`.

nbval re-executes every chapter and compares its outputs with the build's run. It ignores a trailing
``;`` (IPython's quiet-output check looks at the stored history, which nbval does not write), so do not
rely on ``;`` to hide a value: assign it (``_ = ax.plot(...)``) or end the cell with a statement.

Precomputed panels (``panels``, ``explore``: interactivity that survives a static page) are in
:mod:`overparam.book_panels`; both names are also reachable here.
"""
from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

__all__ = ["check_parameters", "save_results", "load_results", "to_json_value",
           "in_book_build", "STANDARD_SPEC", "BUILD_ENV", "format_interval", "show_table", "VERDICTS",
           "verdict", "finding", "progress", "PROGRESS_ENV"]

BUILD_ENV = "OVERPARAM_BOOK_BUILD"

#: Checked in every chapter unless the chapter's spec gives its own entry.
STANDARD_SPEC: dict[str, tuple] = {
    "profile": ("choice", ["quick", "paper"]),
    "results_dir": ("str",),
    "seed": ("int", 0, None),
}

_KINDS = ("int", "float", "int_list", "float_list", "choice", "bool", "str")


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _range_text(lo, hi) -> str:
    return f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"


def _in_range(v, lo, hi) -> bool:
    return (lo is None or v >= lo) and (hi is None or v <= hi)


def _check_one(name: str, value, rule: tuple) -> None:
    if not isinstance(rule, tuple) or not rule or rule[0] not in _KINDS:
        raise ValueError(f"spec for parameter {name!r} must be a tuple starting with one of {_KINDS}, "
                         f"got {rule!r}")
    kind = rule[0]
    where = "(set in the chapter's parameters cell or in book/_params/<profile>.yml)"

    def fail(allowed: str):
        raise ValueError(f"parameter {name!r} must be {allowed}; got {value!r} {where}")

    if kind in ("int", "float", "int_list", "float_list"):
        lo, hi = (tuple(rule[1:]) + (None, None))[:2]
        scalar_ok = _is_int if kind.startswith("int") else _is_real
        noun = "an integer" if kind.startswith("int") else "a finite number"
        if kind in ("int", "float"):
            if not scalar_ok(value) or (kind == "float" and not math.isfinite(value)) \
                    or not _in_range(value, lo, hi):
                fail(f"{noun} in {_range_text(lo, hi)}")
        else:
            ok = isinstance(value, (list, tuple)) and len(value) > 0 and all(
                scalar_ok(v) and (kind == "int_list" or math.isfinite(v)) and _in_range(v, lo, hi)
                for v in value)
            if not ok:
                fail(f"a non-empty list of {'integers' if kind == 'int_list' else 'finite numbers'}, "
                     f"each in {_range_text(lo, hi)}")
    elif kind == "choice":
        if len(rule) != 2:
            raise ValueError(f"spec for parameter {name!r}: ('choice', [allowed values]), got {rule!r}")
        if value not in rule[1] or isinstance(value, bool) != any(isinstance(c, bool) for c in rule[1]):
            fail("one of " + ", ".join(map(repr, rule[1])))
    elif kind == "bool":
        if not isinstance(value, bool):
            fail("True or False")
    elif kind == "str":
        if not isinstance(value, str) or not value:
            fail("a non-empty string")


def check_parameters(namespace: Mapping[str, Any], spec: Mapping[str, tuple]) -> None:
    """Check every parameter named in ``spec`` (plus ``STANDARD_SPEC``) in ``namespace`` (``globals()``).

    ``spec`` maps a name to a rule: ``("int", lo, hi)``, ``("float", lo, hi)``, ``("int_list", lo, hi)``,
    ``("float_list", lo, hi)`` (bounds inclusive, ``None`` for an open end, omitted = unbounded),
    ``("choice", [values])``, ``("bool",)``, ``("str",)``. Raises ``ValueError`` naming the first
    missing or bad parameter and what is allowed; returns None (nothing to print in the notebook).
    """
    full = {**STANDARD_SPEC, **dict(spec)}
    missing = [n for n in full if n not in namespace]
    if missing:
        raise ValueError(f"parameter(s) {', '.join(map(repr, missing))} are checked but not defined: "
                         f"define them in the chapter's parameters cell")
    for name, rule in full.items():
        _check_one(name, namespace[name], rule)


# ----------------------------------------------------------------------------------------------- results

def to_json_value(value):
    """``value`` as plain JSON data: numpy/torch scalars and arrays to numbers and lists, tuples to
    lists, NaN and infinities to ``None``. Mapping keys must be strings."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple, dict)):  # numpy array/scalar
        value = value.tolist()
        if isinstance(value, (bool, str)) or value is None:
            return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"summary keys must be strings, got {k!r} ({type(k).__name__})")
            out[k] = to_json_value(v)
        return out
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    raise ValueError(f"summary values must be numbers, strings, booleans, None, lists or dicts; "
                     f"got {type(value).__name__}: {value!r}")


_TABLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def save_results(results_dir, summary: Mapping[str, Any], tables: Mapping[str, Any] | None = None) -> None:
    """Write ``summary.json`` and one ``<name>.csv`` per table into ``results_dir``, atomically.

    Everything is written to a temporary folder beside ``results_dir`` that then replaces it, so a reader
    never sees a half-written or mixed folder. ``tables`` maps a file stem (letters, digits, ``_-.``) to
    a ``pandas.DataFrame``; its index is written only when it is not the default range index.
    Returns None, so that a chapter's last line prints nothing (nbval ignores a trailing ``;``).
    """
    import pandas as pd

    if not isinstance(results_dir, (str, os.PathLike)) or not str(results_dir):
        raise ValueError(f"results_dir must be a non-empty path, got {results_dir!r}")
    if not isinstance(summary, Mapping):
        raise ValueError(f"summary must be a dict, got {type(summary).__name__}")
    tables = dict(tables or {})
    for name, df in tables.items():
        if not isinstance(name, str) or not _TABLE_NAME.match(name) or name == "summary":
            raise ValueError(f"table name {name!r} must be a file stem of letters, digits, '_', '-', '.' "
                             f"(not 'summary')")
        if not isinstance(df, pd.DataFrame):
            raise ValueError(f"table {name!r} must be a pandas.DataFrame, got {type(df).__name__}")
    text = json.dumps(to_json_value(dict(summary)), indent=2, sort_keys=True, allow_nan=False) + "\n"

    target = Path(results_dir).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        (tmp / "summary.json").write_text(text)
        for name, df in tables.items():
            df.to_csv(tmp / f"{name}.csv", index=not isinstance(df.index, pd.RangeIndex))
        os.chmod(tmp, 0o755)
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            os.rename(target, old)
        os.rename(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_results(results_dir) -> tuple[dict, dict]:
    """``(summary, tables)`` as written by ``save_results`` (tables as DataFrames)."""
    import pandas as pd

    d = Path(results_dir)
    summary = json.loads((d / "summary.json").read_text())
    tables = {p.stem: pd.read_csv(p) for p in sorted(d.glob("*.csv"))}
    return summary, tables


# ---------------------------------------------------------------------------------------------- panels

def in_book_build() -> bool:
    """True while the book build (papermill) or its nbval check executes the chapter."""
    return os.environ.get(BUILD_ENV, "") == "1"


# --- tables and findings ------------------------------------------------------------------------

def format_interval(value, low, high, digits: int = 3) -> str:
    """``"0.610 (0.590–0.630)"``: a value and its interval, for tables and prose."""
    for name, v in (("value", value), ("low", low), ("high", high)):
        if not _is_real(v) or not math.isfinite(float(v)):
            raise ValueError(f"{name} must be a finite real number, got {v!r}")
    d = _check_digits(digits)
    return f"{float(value):.{d}f} ({float(low):.{d}f}–{float(high):.{d}f})"


def _check_digits(digits) -> int:
    if not _is_int(digits) or not 0 <= int(digits) <= 12:
        raise ValueError(f"digits must be an integer in [0, 12], got {digits!r}")
    return int(digits)


def show_table(df, *, intervals: Mapping[str, tuple[str, str, str]] | None = None, digits: int = 3,
               rename: Mapping[str, str] | None = None, formats: Mapping[str, str] | None = None):
    """A DataFrame as the book shows it: no index, floats at ``digits`` decimals, intervals merged.

    ``intervals = {"bad share (95%)": ("bad_fraction", "ci_low", "ci_high")}`` replaces the three
    columns by one column of :func:`format_interval` strings, placed where the value column was.
    ``rename`` renames the remaining columns; ``formats`` gives a column (by its final name) its own
    format string, e.g. ``{"moved": "{:.1e}"}`` for numbers far below ``10**-digits``. Returns a pandas ``Styler`` (rendered as an HTML table
    by Jupyter and the book); ``.data`` is the formatted DataFrame."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    d = _check_digits(digits)
    # a named index (a groupby's keys) becomes columns; an unnamed one is dropped
    out = df.reset_index(drop=not any(n is not None for n in df.index.names))
    for label, cols in (intervals or {}).items():
        missing = [c for c in cols if c not in out.columns]
        if len(cols) != 3 or missing:
            raise ValueError(f"intervals[{label!r}] must name three columns (value, low, high) of df; "
                             f"missing {missing or cols}")
        value, low, high = cols
        text = [format_interval(v, lo, hi, d) if all(math.isfinite(float(x)) for x in (v, lo, hi)) else "–"
                for v, lo, hi in zip(out[value], out[low], out[high])]
        at = list(out.columns).index(value)
        out = out.drop(columns=list(cols))
        out.insert(at, label, text)
    if rename:
        unknown = [c for c in rename if c not in out.columns]
        if unknown:
            raise ValueError(f"rename names columns that are not in the table: {unknown}")
        out = out.rename(columns=dict(rename))
    unknown = [c for c in (formats or {}) if c not in out.columns]
    if unknown:
        raise ValueError(f"formats names columns that are not in the table: {unknown}")
    fmt = {c: f"{{:.{d}f}}" for c in out.columns if pd.api.types.is_float_dtype(out[c])}
    fmt.update(formats or {})
    # a table id from the content, not a random one: nbval compares two runs' HTML
    uid = hashlib.sha1(out.to_csv(index=False).encode()).hexdigest()[:10]
    return out.style.hide(axis="index").format(fmt, na_rep="–").set_uuid(uid)


#: The one-word verdicts a chapter gives each claim it tests (the front page's results table).
VERDICTS = ("supported", "not supported", "not separable at this scale")


def verdict(low: float, high: float, *, bar: float = 0.0) -> str:
    """The verdict on "the effect is above ``bar``" from its interval ``[low, high]``: ``supported``
    when the whole interval is above the bar, ``not supported`` when it is below, otherwise
    ``not separable at this scale``."""
    for name, v in (("low", low), ("high", high), ("bar", bar)):
        if not _is_real(v) or not math.isfinite(float(v)):
            raise ValueError(f"{name} must be a finite real number, got {v!r}")
    if float(low) > float(high):
        raise ValueError(f"low must be at most high, got low={low!r}, high={high!r}")
    if float(low) > bar:
        return VERDICTS[0]
    if float(high) < bar:
        return VERDICTS[1]
    return VERDICTS[2]


def finding(claim: str, experiment: str, result: str, verdict: str) -> dict:
    """One row of the front page's results table, for a chapter's ``summary["findings"]``.

    ``claim``: the claim's label on the front page ("1" ... "4", or "context"); ``experiment``: a
    phrase naming the experiment; ``result``: the key numbers with their intervals (built from the
    run's data, never typed); ``verdict``: one of :data:`VERDICTS`."""
    for name, v in (("claim", claim), ("experiment", experiment), ("result", result)):
        if not isinstance(v, str) or not v.strip():
            raise ValueError(f"{name} must be a non-empty string, got {v!r}")
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}; got {verdict!r}")
    return {"claim": claim, "experiment": experiment, "result": result, "verdict": verdict}


# --- progress on long runs -------------------------------------------------------------------------

PROGRESS_ENV = "OVERPARAM_PROGRESS"


def progress(iterable, label: str, *, total: int | None = None, stream=None):
    """Yield from ``iterable``, reporting one line per item to the build's console:
    ``label: 3/15 (42 s)``.

    The line is appended to the file named by the environment variable ``OVERPARAM_PROGRESS``,
    which ``scripts/build_book.py`` sets and follows, printing each line as it comes; it never
    reaches the notebook (a kernel forwards even its process's own standard error into the
    notebook's outputs), so the HTML and nbval's comparison stay clean. Without the variable (a live
    kernel, nbval) nothing is written. ``stream`` overrides the destination (tests)."""
    import time

    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"label must be a non-empty string, got {label!r}")
    items = list(iterable)
    n = len(items) if total is None else total
    path = os.environ.get(PROGRESS_ENV)
    t0 = time.perf_counter()
    for i, item in enumerate(items, start=1):
        yield item
        line = f"    {label}: {i}/{n} ({time.perf_counter() - t0:.0f} s)\n"
        if stream is not None:
            stream.write(line)
            stream.flush()
        elif path:
            with open(path, "a") as fh:
                fh.write(line)


# --- precomputed panels: overparam.book_panels -------------------------------------------------
def __getattr__(name):
    if name in ("panels", "explore"):
        from . import book_panels
        return getattr(book_panels, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
