#!/usr/bin/env python
"""Build the book: stage a copy, execute every chapter with papermill, render with jupyter-book.

    python scripts/build_book.py [--profile quick|paper] [--root DIR] [--jobs J] [--workers N] [--device D]

1. Reads the chapters from `_toc.yml` (every entry that is an .ipynb) and checks that every key of every
   profile in `book/_params/` is a name in the chapter's `parameters` cell.
2. Copies `_config.yml`, `_toc.yml` and `book/` to a staging folder and vendors the JavaScript
   (MathJax, the ipywidgets HTML manager) from node_modules into its `book/_static/vendor/`.
3. Executes the staged chapters with papermill, one after another (`--jobs J`: J at a time, each in a
   process of its own with OMP_NUM_THREADS / J torch threads), in the notebook's folder, with
   OVERPARAM_BOOK_BUILD=1: quick = the notebook's defaults (results_dir "results/<chapter>" beside the
   staged notebook); paper = `profile` and the chapter's section of paper.yml injected. `--workers N`
   (N > 1: the chapters' seed sweeps sharded over a Dask cluster, see overparam.shard) and `--device`
   ("cpu", "cuda", "auto") are injected into every chapter whose parameters cell names them.
   A chapter that raises stops the build with the chapter, the cell and the error named.
4. `jupyter-book build` with execution off and `-W -n --keep-going` (every warning is an error).
5. Copies each chapter's results folder to `html/_results/<chapter>/`; keeps the executed notebooks.
6. Only then replaces `<root>/_build/html` (and `_build/executed`): a failed build leaves the previous
   good HTML in place.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bookpipe import (  # noqa: E402
    REPO, BuildError, assigned_parameters, chapters, check_profiles, fail, load_profile,
)

BUILD_ENV = "OVERPARAM_BOOK_BUILD"
PROGRESS_ENV = "OVERPARAM_PROGRESS"  # overparam.book.progress appends its lines to this file


class FollowProgress:
    """Print the lines the chapters' kernels append to the progress file, while they run."""

    def __init__(self, path: Path):
        import threading

        self.path, self.stop, self.pos = path, threading.Event(), 0
        path.write_text("")
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _emit(self) -> None:
        with open(self.path) as fh:
            fh.seek(self.pos)
            text = fh.read()
            self.pos = fh.tell()
        if text:
            print("\n" + text.rstrip("\n"), flush=True)

    def _run(self) -> None:
        while not self.stop.wait(2.0):
            self._emit()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self._emit()


def vendor_js(node_modules: Path, static: Path) -> None:
    """Copy the pinned JavaScript from node_modules into `static/vendor` (see package.json)."""
    mathjax = node_modules / "mathjax" / "es5"
    widgets = node_modules / "@jupyter-widgets" / "html-manager" / "dist"
    for path in (mathjax, widgets):
        if not path.is_dir():
            raise BuildError(f"{path} is missing: run `npm ci` in {REPO} first (`make book` does)")
    vendor = static / "vendor"
    shutil.rmtree(vendor, ignore_errors=True)
    # sre (speech rule engine) is only fetched when a reader turns on MathJax's speech options; keep it so
    # that those menu entries work offline as well.
    shutil.copytree(mathjax, vendor / "mathjax")
    shutil.copytree(widgets, vendor / "ipywidgets", ignore=shutil.ignore_patterns("*.map", "*amd*"))


def stage(root: Path, dest: Path, node_modules: Path) -> None:
    dest.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, dest / name)
    shutil.copytree(root / "book", dest / "book",
                    ignore=shutil.ignore_patterns("results", ".ipynb_checkpoints", "__pycache__", "vendor"))
    (dest / "book" / "_static").mkdir(exist_ok=True)
    vendor_js(node_modules, dest / "book" / "_static")


def hide_setup_cell(nb_path: Path, root: Path) -> None:
    """Tag the standard setup cell `remove-cell` in the staged copy: it matters in Colab, not on the page."""
    import nbformat

    template = (root / "book" / "_templates" / "setup_cell.py").read_text().strip()
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            if cell.source.strip() == template:
                tags = cell.metadata.setdefault("tags", [])
                if "remove-cell" not in tags:
                    tags.append("remove-cell")
                nbformat.write(nb, nb_path)
            return


def which_cell(nb_path: Path, source: str) -> str:
    """'code cell N' (counting code cells from 1, as a reader would) of the cell with this source."""
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
    for i, cell in enumerate(code, start=1):
        if cell.source == source:
            return f"code cell {i}"
    return "the injected parameters cell" if "# Parameters" in source else "a code cell"


def execute(name: str, nb: Path, parameters: dict, failed_dir: Path, timeout: int) -> float:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(str(nb), str(nb), parameters=parameters, cwd=str(nb.parent),
                                   kernel_name="python3", progress_bar=False, log_output=False,
                                   request_save_on_cell_execute=False, execution_timeout=timeout)
    except PapermillExecutionError as exc:
        failed_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(nb, failed_dir / nb.name)
        first = next((ln for ln in exc.source.splitlines() if ln.strip()), "")
        raise BuildError(
            f"chapter {name!r} ({nb.name}) failed in {which_cell(nb, exc.source)} (\"{first[:80]}\"): "
            f"{exc.ename}: {exc.evalue}\n  the executed copy, with the traceback, is {failed_dir / nb.name}"
        ) from None
    except Exception as exc:  # kernel died, timeout, unreadable notebook...
        raise BuildError(f"chapter {name!r} ({nb.name}) could not be executed: "
                         f"{type(exc).__name__}: {exc}") from None
    return time.perf_counter() - t0


def _threads_per_job(jobs: int) -> int:
    """Torch threads for each of ``jobs`` chapters run at once: the build's OMP_NUM_THREADS shared out."""
    total = int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    return max(1, total // jobs)


def _job_init(threads: int) -> None:
    """In each worker process: the kernels it starts inherit this torch thread count."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def execute_all(jobs: dict, failed_dir: Path, timeout: int, n_jobs: int) -> None:
    """Execute the chapters ``jobs`` (name -> (staged notebook, parameters)), ``n_jobs`` at a time.

    One at a time (``n_jobs=1``): in this process, in _toc order. Several: each chapter in a worker
    process of its own, with OMP_NUM_THREADS shared out (two jobs on two threads: one thread each); the
    first chapter that fails stops the build (the others are cancelled, running ones terminated)."""
    if n_jobs == 1:
        for name, (nb, params) in jobs.items():
            print(f"  executing {name} ...", end=" ", flush=True)
            print(f"{execute(name, nb, params, failed_dir, timeout):.0f} s", flush=True)
        return
    import concurrent.futures as cf
    import multiprocessing

    threads = _threads_per_job(n_jobs)
    print(f"  executing {len(jobs)} chapter(s), {n_jobs} at a time ({threads} torch thread(s) each) ...",
          flush=True)
    pool = cf.ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_job_init, initargs=(threads,))
    futures = {pool.submit(execute, name, nb, params, failed_dir, timeout): name
               for name, (nb, params) in jobs.items()}
    try:
        for fut in cf.as_completed(futures):
            print(f"  executed {futures[fut]}: {fut.result():.0f} s", flush=True)
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


CLAIM_ORDER = ("context", "1", "2", "3", "4")
VERDICTS = ("supported", "not supported", "not separable at this scale")


def findings_markdown(results: dict[str, Path], profile: str) -> str:
    """The front page's "Results at a glance": one row per finding in the chapters' summary.json
    (``summary["findings"]``, made with ``overparam.book.finding``), then one paragraph per claim."""
    rows = []
    for name, res in results.items():
        summary = json.loads((res / "summary.json").read_text())
        for i, f in enumerate(summary.get("findings", [])):
            keys = {"claim", "experiment", "result", "verdict"}
            if not isinstance(f, dict) or set(f) != keys or f["verdict"] not in VERDICTS:
                raise BuildError(f"chapter {name!r}: summary.json findings[{i}] must have exactly the keys "
                                 f"{sorted(keys)} and a verdict in {VERDICTS}; got {f!r}")
            rows.append((name, f))
    rows.sort(key=lambda r: (CLAIM_ORDER.index(r[1]["claim"]) if r[1]["claim"] in CLAIM_ORDER
                             else len(CLAIM_ORDER), r[0]))
    if not rows:
        return "No chapter has reported a finding yet.\n"
    out = [f"Computed when this page was built, from each chapter's `summary.json` ({profile} profile).",
           "", "```{list-table}", ":header-rows: 1", ":class: findings-table", "",
           "* - claim", "  - experiment", "  - result", "  - verdict", "  - chapter"]
    for name, f in rows:
        out += [f"* - {f['claim']}", f"  - {f['experiment']}", f"  - {f['result']}",
                f"  - **{f['verdict']}**", f"  - {{doc}}`{name}`"]
    out += ["```", "", "### What we found", ""]
    for name, f in rows:
        label = "Context" if f["claim"] == "context" else f"Claim {f['claim']}"
        out += [f"**{label}: {f['verdict']}.** {f['experiment'][0].upper() + f['experiment'][1:]}: "
                f"{f['result']} (see {{doc}}`{name}`).", ""]
    return "\n".join(out)


def jupyter_book(src: Path, out: Path, log: Path) -> None:
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(src), "--path-output", str(out),
           "--builder", "html", "-W", "-n", "--keep-going"]
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        lines = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text()).splitlines()
        interesting = [ln for ln in lines if "WARNING" in ln or "ERROR" in ln or "Error" in ln] or lines[-40:]
        raise BuildError("jupyter-book build failed (warnings are errors):\n  " +
                         "\n  ".join(interesting[:40]) + f"\n  full log: {log}")


def replace_dir(new: Path, target: Path) -> None:
    """Put `new` at `target`, moving the old one aside first (two renames on one file system)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--profile", default=os.environ.get("PROFILE", "quick"))
    ap.add_argument("--root", type=Path, default=REPO, help="the book's root (has _config.yml, _toc.yml, book/)")
    ap.add_argument("--node-modules", type=Path, default=REPO / "node_modules")
    ap.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS") or 1),
                    help="Dask workers for the chapters' seed sweeps (1: one process, no Dask)")
    ap.add_argument("--device", default=os.environ.get("DEVICE") or "cpu", choices=("cpu", "cuda", "auto"),
                    help="torch device of the chapters' experiments")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS") or 1),
                    help="chapters executed at once (each with OMP_NUM_THREADS / jobs torch threads)")
    ap.add_argument("--cell-timeout", type=int, default=1800, help="seconds per cell (quick chapters: ~1 min each)")
    args = ap.parse_args(argv)
    if args.workers < 1:
        ap.error(f"--workers must be an integer >= 1, got {args.workers}")
    if args.jobs < 1:
        ap.error(f"--jobs must be an integer >= 1, got {args.jobs}")
    root = args.root.resolve()
    t_start = time.perf_counter()
    build_dir = root / "_build"
    staging = root / "_staging" / f"{args.profile}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    try:
        chs = chapters(root)
        profile = load_profile(root, args.profile)
        problems = check_profiles(root, chs)
        if problems:
            raise BuildError("parameter profiles do not match the chapters:\n  " + "\n  ".join(problems))
        print(f"Building the book ({args.profile} profile): {len(chs)} chapter(s) "
              f"{', '.join(chs) or '(none yet)'}; staging in {staging}", flush=True)
        src = staging / "src"
        stage(root, src, args.node_modules.resolve())

        os.environ[BUILD_ENV] = "1"  # chapters' kernels inherit it (see overparam.book.in_book_build)
        os.environ[PROGRESS_ENV] = str(staging / "progress.log")
        os.environ.setdefault("PYTHONHASHSEED", "0")
        jobs: dict[str, tuple] = {}
        for name, nb in chs.items():
            staged = src / nb.relative_to(root)
            # quick = the notebook's defaults: nothing injected; otherwise papermill adds a visible
            # "injected-parameters" cell, so the page shows the settings it was computed with.
            params = {"profile": args.profile, **profile.get(name, {})} if args.profile != "quick" else {}
            names = assigned_parameters(nb)
            params.update({key: value for key, value, default in (("workers", args.workers, 1),
                                                                   ("device", args.device, "cpu"))
                           if value != default and key in names})
            hide_setup_cell(staged, root)
            jobs[name] = (staged, params or None)
        with FollowProgress(staging / "progress.log"):
            execute_all(jobs, build_dir / "failed", args.cell_timeout, args.jobs)
        results: dict[str, Path] = {}
        for name, (staged, _) in jobs.items():
            res = staged.parent / "results" / name
            if not (res / "summary.json").is_file():
                raise BuildError(f"chapter {name!r} wrote no {res.relative_to(src)}/summary.json: "
                                 f"call overparam.book.save_results(results_dir, summary, tables)")
            results[name] = res

        generated = src / "book" / "_generated"
        generated.mkdir(exist_ok=True)
        (generated / "findings.md").write_text(findings_markdown(results, args.profile))

        print("  rendering HTML with jupyter-book (-W -n --keep-going) ...", end=" ", flush=True)
        t0 = time.perf_counter()
        out = staging / "out"
        jupyter_book(src, out, staging / "jupyter-book.log")
        print(f"{time.perf_counter() - t0:.0f} s", flush=True)
        html = out / "_build" / "html"
        if not (html / "index.html").is_file():
            raise BuildError(f"jupyter-book produced no {html / 'index.html'}")
        executed = staging / "executed"
        for name, res in results.items():
            shutil.copytree(res, html / "_results" / name)
            dest = executed / chs[name].relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / chs[name].relative_to(root), dest)
        executed.mkdir(exist_ok=True)
        (executed / "build.json").write_text(json.dumps(
            {"profile": args.profile, "chapters": {n: str(p.relative_to(root)) for n, p in chs.items()},
             "torch_threads": _threads_per_job(args.jobs)},
            indent=2) + "\n")

        replace_dir(html, build_dir / "html")
        replace_dir(executed, build_dir / "executed")
        shutil.rmtree(build_dir / "failed", ignore_errors=True)
    except BuildError as exc:
        print("", flush=True)
        print(f"  (the previous HTML, if any, is untouched in {build_dir / 'html'}; staging kept in {staging})",
              file=sys.stderr)
        fail(str(exc))
    shutil.rmtree(staging, ignore_errors=True)
    index = build_dir / "html" / "index.html"
    print(f"Book built ({args.profile} profile) in {time.perf_counter() - t_start:.0f} s.\n"
          f"Open file://{index}\n  or serve it: python -m http.server -d {build_dir / 'html'} 8000 "
          f"and browse http://127.0.0.1:8000/", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
