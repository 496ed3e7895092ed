#!/usr/bin/env python
"""Each chapter's claims check must fail when the chapter's data are broken on purpose.

    python scripts/claims_can_fail.py [CHAPTER ...] [--book DIR] [--cases DIR] [--jobs N]

Every chapter of ``_toc.yml`` (or each CHAPTER named) needs a file ``tests/book/sabotage/<chapter>.py`` (its ``CASES`` maps a description
to Python code that breaks the data, e.g. swaps the ticket and re-initialised results), the chapter is
executed at the quick profile (its own defaults) in one kernel, in a temporary folder:

1. every cell up to and including the last cell tagged ``experiment`` (the expensive part, run once);
2. the namespace is saved, then the cells after it up to the cell tagged ``claims-check`` run as they
   are: the unbroken claims check must pass;
3. for each case: the saved namespace is restored, the case's code runs, the same cells run again, and
   the claims-check cell itself must raise ``AssertionError``. A case that passes the claims check, or
   that breaks an earlier cell instead, fails this check.

The kernel runs as in the book build (``OVERPARAM_BOOK_BUILD=1``: static panels instead of live widgets,
whose cells can leave the client waiting on an idle kernel; ``PYTHONHASHSEED=0``). Case code rebinds names (never mutates objects in place), so rebinding the saved names restores the
data. ``--jobs`` chapters are checked at once (default 2, one single-threaded kernel each: the two
cores). Exit status 1 if any chapter fails, with one line per failure.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bookpipe import REPO, report  # noqa: E402
from bookpipe import chapters as book_chapters  # noqa: E402

EXPERIMENT_TAG, CLAIMS_TAG = "experiment", "claims-check"
SAVE = "_claims_saved = dict(globals())"
RESTORE = (
    "for _name in [n for n in globals() if n not in _claims_saved and n != '_claims_saved']:\n"
    "    del globals()[_name]\n"
    "globals().update(_claims_saved)"
)


def load_cases(path: Path) -> dict[str, str]:
    """The ``CASES`` dict of a sabotage file, checked: non-empty, strings to non-empty code."""
    spec = importlib.util.spec_from_file_location(f"sabotage_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases = getattr(module, "CASES", None)
    if not isinstance(cases, dict) or not cases:
        raise ValueError(f"{path}: CASES must be a non-empty dict of description -> code")
    for name, code in cases.items():
        if not (isinstance(name, str) and isinstance(code, str) and code.strip()):
            raise ValueError(f"{path}: case {name!r} must map a description to non-empty code")
    return cases


def tagged(nb, tag: str) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and tag in c.metadata.get("tags", [])]


def locate(nb, name: str) -> tuple[int, int, int]:
    """Indices of the parameters cell, the last experiment cell and the claims-check cell."""
    params, exp, claims = tagged(nb, "parameters"), tagged(nb, EXPERIMENT_TAG), tagged(nb, CLAIMS_TAG)
    if len(params) != 1:
        raise ValueError(f"{name}: needs exactly one cell tagged 'parameters', found {len(params)}")
    if not exp:
        raise ValueError(f"{name}: no code cell tagged {EXPERIMENT_TAG!r}")
    if len(claims) != 1:
        raise ValueError(f"{name}: needs exactly one cell tagged {CLAIMS_TAG!r}, found {len(claims)}")
    if not params[0] < exp[-1] < claims[0]:
        raise ValueError(f"{name}: expected parameters < {EXPERIMENT_TAG} < {CLAIMS_TAG} in cell order")
    return params[0], exp[-1], claims[0]


def check_chapter(notebook: Path, cases: dict[str, str], workdir: Path) -> list[str]:
    """Run the procedure of the module docstring; return the failures (empty: the check holds)."""
    name = notebook.stem
    nb = nbformat.read(notebook, as_version=4)
    p, e, c = locate(nb, name)
    if (notebook.parent / "_data").is_dir():
        shutil.copytree(notebook.parent / "_data", workdir / "_data")

    client = NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})

    def run_code(code: str) -> None:
        """Execute ad-hoc code as a cell appended to the notebook (executed at its own index)."""
        nb.cells.append(nbformat.v4.new_code_cell(code))
        client.execute_cell(nb.cells[-1], len(nb.cells) - 1)

    def run_range(lo: int, hi: int) -> tuple[int, str] | None:
        """Execute cells lo..hi; the first error as (index, exception name), or None."""
        for i in range(lo, hi + 1):
            try:
                client.execute_cell(nb.cells[i], i)
            except CellExecutionError as err:
                return i, err.ename
        return None

    failures = []
    with client.setup_kernel():
        if run_range(0, p) is not None:
            return [f"{name}: the cells up to the parameters cell fail"]
        run_code(f"results_dir = {str(workdir / 'results')!r}")
        err = run_range(p + 1, e)
        if err is not None:
            return [f"{name}: cell {err[0]} up to the experiment raised {err[1]} (unbroken data)"]
        run_code(SAVE)
        err = run_range(e + 1, c)
        if err is not None:
            return [f"{name}: cell {err[0]} raised {err[1]} on the unbroken data: fix the chapter first"]
        for case, code in cases.items():
            run_code(RESTORE)
            try:
                run_code(code)
            except CellExecutionError as err:
                failures.append(f"{name}: case {case!r}: its code raised {err.ename}")
                continue
            err = run_range(e + 1, c)
            if err is None:
                failures.append(f"{name}: case {case!r}: the claims check passed on broken data")
            elif err != (c, "AssertionError"):
                failures.append(f"{name}: case {case!r}: cell {err[0]} raised {err[1]} before the claims check")
    return failures


def check_one(ch: str, book: Path, cases_dir: Path) -> tuple[str, int, list[str], float]:
    """One chapter in a temporary folder: (name, number of cases, failures, seconds)."""
    t0 = time.perf_counter()
    cases = load_cases(cases_dir / f"{ch}.py")
    with tempfile.TemporaryDirectory(prefix=f"claims-{ch}-") as tmp:
        found = check_chapter(book / f"{ch}.ipynb", cases, Path(tmp))
    return ch, len(cases), found, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("chapters", nargs="*", help="chapter names (default: every chapter of _toc.yml)")
    ap.add_argument("--book", type=Path, default=REPO / "book")
    ap.add_argument("--cases", type=Path, default=REPO / "tests" / "book" / "sabotage")
    ap.add_argument("--jobs", type=int, default=2, help="chapters checked at once (one kernel each)")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"--jobs must be an integer >= 1, got {args.jobs}")
    available = sorted(p.stem for p in args.cases.glob("*.py") if not p.name.startswith("_"))
    chapters = args.chapters or list(book_chapters(REPO))
    unknown = [ch for ch in chapters if ch not in available]
    if unknown:
        print(f"CLAIMS CHECK FAILED: no sabotage file for {unknown}; have {available}", file=sys.stderr)
        return 1
    # as in the book build: static panels instead of live widgets (a live widget cell can leave nbclient
    # waiting on an idle kernel), and a fixed hash seed
    os.environ["OVERPARAM_BOOK_BUILD"] = "1"
    os.environ.setdefault("PYTHONHASHSEED", "0")
    failures = []
    with ProcessPoolExecutor(max_workers=min(args.jobs, len(chapters)) or 1) as pool:
        futures = [pool.submit(check_one, ch, args.book, args.cases) for ch in chapters]
        for fut in as_completed(futures):
            ch, n_cases, found, seconds = fut.result()
            failures += found
            status = "FAILED" if found else "ok"
            print(f"  {ch}: {n_cases} broken-data case(s), claims check {status} ({seconds:.0f} s)", flush=True)
    return report("CLAIMS CHECK", failures, f"claims checks fail on broken data: {len(chapters)} chapter(s)")


if __name__ == "__main__":
    sys.exit(main())
