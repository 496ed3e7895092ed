#!/usr/bin/env python
"""Colab, simulated: install the book's library the way a chapter's setup cell does in Colab, into an
environment that has only what Colab has that matters, then run one chapter there.

    python scripts/colab_check.py [--chapter escape_dimensions] [--keep]

1. Clones this repository (its committed HEAD) into a temporary folder.
2. Creates a fresh virtual environment with Python, pip, numpy and torch (the CPU wheel this machine
   holds; pins from requirements.txt), plus the kernel machinery (ipykernel, nbclient), and a stand-in
   `google.colab` package imported at kernel start, as Colab's kernel does.
3. Executes the chapter (quick profile) with nbclient in that environment, its setup cell's
   REPOSITORY pointing at the clone through a file URL: the cell runs the same
   `pip install git+<REPOSITORY>#subdirectory=lib` as in Colab (git+file:// instead of git+https://).
It fails, naming the step, if the setup cell, the library's declared dependencies (lib/pyproject.toml)
or the chapter's imports are wrong. Offline: packages come from the machine's package index.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLAB_STANDS_IN = {
    "google/colab/__init__.py": "# stand-in for Colab's google.colab (scripts/colab_check.py)\n",
    "google/colab/output.py": "def enable_custom_widget_manager():\n    pass\n",
}


def pins() -> dict:
    return dict(line.split("==", 1) for line in (REPO / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.lstrip().startswith("#"))


def run(step: str, cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise SystemExit(f"COLAB CHECK FAILED at {step}:\n{tail}")
    return proc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chapter", default="escape_dimensions")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="colab-check-"))
    try:
        clone = tmp / "clone"
        run("cloning the repository", ["git", "clone", "--quiet", str(REPO), str(clone)])
        venv = tmp / "venv"
        run("creating the environment", [sys.executable, "-m", "venv", str(venv)])
        py = venv / "bin" / "python"
        p = pins()
        base = [f"numpy=={p['numpy']}", f"torch=={p['torch']}", f"ipykernel=={p['ipykernel']}",
                f"nbclient=={p['nbclient']}", f"nbformat=={p['nbformat']}"]
        run("installing Python, numpy, torch and the kernel", [py, "-m", "pip", "install", "--quiet", *base])
        site = Path(run("locating site-packages", [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                    .stdout.strip())
        for rel, text in COLAB_STANDS_IN.items():
            (site / rel).parent.mkdir(parents=True, exist_ok=True)
            (site / rel).write_text(text)
        ipython = tmp / "ipython"
        startup = ipython / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-colab.py").write_text("import google.colab  # as in Colab's kernel\n")
        missing = run("checking the environment", [py, "-c", textwrap.dedent("""
            import importlib.util
            print([m for m in ("overparam", "pandas", "matplotlib", "scipy", "mnist1d", "myst_nb")
                   if importlib.util.find_spec(m) is not None])""")]).stdout.strip()
        if missing != "[]":
            raise SystemExit(f"COLAB CHECK FAILED: the fresh environment already has {missing}")

        nb_path = clone / "book" / f"{args.chapter}.ipynb"
        if not nb_path.is_file():
            raise SystemExit(f"COLAB CHECK FAILED: no chapter {args.chapter!r} ({nb_path.name}) in the clone")
        runner = textwrap.dedent(f"""
            import os, re, sys, nbformat
            from nbclient import NotebookClient
            nb = nbformat.read({str(nb_path)!r}, as_version=4)
            first = next(c for c in nb.cells if c.cell_type == "code")
            first.source = re.sub(r'^REPOSITORY = "[^"]*"', 'REPOSITORY = "file://{clone}"',
                                  first.source, flags=re.M)
            client = NotebookClient(nb, timeout=900, kernel_name="python3",
                                    resources={{"metadata": {{"path": {str(nb_path.parent)!r}}}}})
            client.execute()
            out = "".join(o.get("text", "") for o in nb.cells[[c.cell_type for c in nb.cells].index("code")].outputs)
            print("setup cell said:", out.strip())
        """)
        env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp), "IPYTHONDIR": str(ipython),
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
        proc = run(f"executing {args.chapter} in the Colab-like environment", [py, "-c", runner], env=env,
                   cwd=tmp)
        said = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        if "Installing the book's library" not in said:
            raise SystemExit(f"COLAB CHECK FAILED: the setup cell did not install the library ({said!r})")
        installed = run("checking the install", [py, "-c", "import overparam, sys; print(overparam.__file__)"])
        print(f"colab check: {args.chapter} ran in a fresh environment after the setup cell installed "
              f"the library from git+file://…#subdirectory=lib ({installed.stdout.strip()}) "
              f"in {time.perf_counter() - t0:.0f} s")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
