#!/usr/bin/env python
"""Second execution of every chapter, by nbval, and the determinism check (no third execution).

    python scripts/nbval_check.py [--root DIR]

Copies the notebooks that `scripts/build_book.py` executed (`_build/executed/`, outputs included) to
`_build/nbval/`, where their `results_dir` ("results/<chapter>", relative to the notebook) points to a
fresh folder. `pytest --nbval` re-executes each copy and compares every output with the papermill run's
(tests/book/nbval_sanitize.cfg lists what may differ; images are not compared by nbval). Then each chapter's
summary.json and CSV files from this run must equal the published ones in `_build/html/_results/<chapter>/`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bookpipe import REPO, report  # noqa: E402

SANITIZE = REPO / "tests" / "book" / "nbval_sanitize.cfg"


def compare(name: str, published: Path, rerun: Path) -> list[str]:
    problems = []
    if not (rerun / "summary.json").is_file():
        return [f"{name}: the nbval run wrote no {rerun}/summary.json"]
    a = json.loads((published / "summary.json").read_text())
    b = json.loads((rerun / "summary.json").read_text())
    if a != b:
        keys = sorted(k for k in set(a) | set(b) if a.get(k, "<missing>") != b.get(k, "<missing>"))
        detail = "; ".join(f"{k}: {a.get(k, '<missing>')!r} vs {b.get(k, '<missing>')!r}" for k in keys[:5])
        problems.append(f"{name}: summary.json differs between the two runs ({detail})")
    csv_a = {p.name for p in published.glob("*.csv")}
    csv_b = {p.name for p in rerun.glob("*.csv")}
    if csv_a != csv_b:
        problems.append(f"{name}: the runs wrote different CSV files: {sorted(csv_a ^ csv_b)}")
    for fn in sorted(csv_a & csv_b):
        if (published / fn).read_bytes() != (rerun / fn).read_bytes():
            problems.append(f"{name}: {fn} differs between the two runs")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--root", type=Path, default=REPO)
    args = ap.parse_args(argv)
    root = args.root.resolve()
    executed, html, work = root / "_build" / "executed", root / "_build" / "html", root / "_build" / "nbval"
    meta = executed / "build.json"
    if not meta.is_file():
        print(f"NBVAL FAILED: {meta} is missing: build the book first (make book)", file=sys.stderr)
        return 1
    build = json.loads(meta.read_text())
    chapters = build["chapters"]
    if not chapters:
        print("nbval: no chapters in _toc.yml yet; nothing to execute")
        return 0
    shutil.rmtree(work, ignore_errors=True)
    notebooks = []
    for name, rel in chapters.items():
        dest = work / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(executed / rel, dest)
        notebooks.append(dest)
        data = root / Path(rel).parent / "_data"      # data files a chapter reads relative to itself
        if data.is_dir() and not (dest.parent / "_data").exists():
            shutil.copytree(data, dest.parent / "_data")

    env = dict(os.environ, OVERPARAM_BOOK_BUILD="1", PYTHONHASHSEED=os.environ.get("PYTHONHASHSEED", "0"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
           "--nbval-sanitize-with", str(SANITIZE), "--rootdir", str(work), *map(str, notebooks)]
    print(f"nbval: re-executing {len(notebooks)} chapter(s) ({build['profile']} profile) ...", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, cwd=work, env=env).returncode
    print(f"nbval: {time.perf_counter() - t0:.0f} s", flush=True)
    if rc != 0:
        print("NBVAL FAILED: a chapter raised, or its outputs differ from the papermill run (see above)",
              file=sys.stderr)
        return 1
    problems = []
    for name, rel in chapters.items():
        problems += compare(name, html / "_results" / name, (work / rel).parent / "results" / name)
    return report("DETERMINISM CHECK", problems,
                  f"Determinism: summary.json and CSVs of {len(chapters)} chapter(s) equal in both runs.")


if __name__ == "__main__":
    sys.exit(main())
