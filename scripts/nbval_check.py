#!/usr/bin/env python
"""Second execution of every chapter, by nbval, and the determinism check (no third execution).

    python scripts/nbval_check.py [--root DIR] [--jobs J]

Copies the notebooks that `scripts/build_book.py` executed (`_build/executed/`, outputs included) to
`_build/nbval/`, where their `results_dir` ("results/<chapter>", relative to the notebook) points to a
fresh folder. `pytest --nbval` re-executes each copy and compares every output with the papermill run's
(tests/book/nbval_sanitize.cfg lists what may differ; images are not compared by nbval). Then each chapter's
summary.json and CSV files from this run must equal the published ones in `_build/html/_results/<chapter>/`.
Each chapter runs with the torch thread count of the build (`_build/executed/build.json`); `--jobs J`
re-executes J chapters at once.
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


def _pytest(nb: Path, work: Path, env: dict) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
           "--nbval-sanitize-with", str(SANITIZE), "--rootdir", str(work), str(nb)]
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)


def run_nbval(notebooks: list, work: Path, env: dict, jobs: int) -> list:
    """``pytest --nbval`` on each notebook, ``jobs`` at a time; prints each one's report as it ends;
    returns the names that failed."""
    import concurrent.futures as cf

    jobs = min(jobs, len(notebooks))
    failed = []
    with cf.ThreadPoolExecutor(jobs) as pool:
        futures = {pool.submit(_pytest, nb, work, env): nb for nb in notebooks}
        for fut in cf.as_completed(futures):
            proc, nb = fut.result(), futures[fut]
            print(f"--- {nb.stem}: {'ok' if proc.returncode == 0 else 'FAILED'}", flush=True)
            print((proc.stdout + proc.stderr).rstrip(), flush=True)
            if proc.returncode != 0:
                failed.append(nb.stem)
    return sorted(failed)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--root", type=Path, default=REPO)
    ap.add_argument("--jobs", type=int, default=1, help="chapters re-executed at once (as build_book.py --jobs)")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"--jobs must be an integer >= 1, got {args.jobs}")
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
    # the same torch thread count as the papermill run (reductions may round differently with another)
    threads = str(build.get("torch_threads") or env.get("OMP_NUM_THREADS") or 1)
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    print(f"nbval: re-executing {len(notebooks)} chapter(s) ({build['profile']} profile), "
          f"{min(args.jobs, len(notebooks))} at a time ...", flush=True)
    t0 = time.perf_counter()
    failed = run_nbval(notebooks, work, env, args.jobs)
    print(f"nbval: {time.perf_counter() - t0:.0f} s", flush=True)
    if failed:
        print(f"NBVAL FAILED: {', '.join(failed)}: a chapter raised, or its outputs differ from the papermill "
              "run (see above)", file=sys.stderr)
        return 1
    problems = []
    for name, rel in chapters.items():
        problems += compare(name, html / "_results" / name, (work / rel).parent / "results" / name)
    return report("DETERMINISM CHECK", problems,
                  f"Determinism: summary.json and CSVs of {len(chapters)} chapter(s) equal in both runs.")


if __name__ == "__main__":
    sys.exit(main())
