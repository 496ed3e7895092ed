"""Fixture books for the pipeline tests: a tiny book (the real _config.yml, the fixture chapters) built
with the real scripts, once per session where possible."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCRIPTS = REPO / "scripts"


def make_book(root: Path, chapters: list[str], paper: dict | None = None) -> Path:
    """A book at `root`: the repository's _config.yml and references, `chapters` from the fixtures."""
    (root / "book" / "_params").mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "_config.yml", root / "_config.yml")
    shutil.copy2(REPO / "book" / "references.bib", root / "book" / "references.bib")
    for infra in ("_ext", "_static", "_templates"):  # the book's build machinery, as in the real book
        if (REPO / "book" / infra).is_dir():
            shutil.copytree(REPO / "book" / infra, root / "book" / infra, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "vendor"))
    (root / "book" / "index.md").write_text("# Fixture book\n\nA test book {cite}`frankle2019lottery`.\n\n"
                                            "```{bibliography}\n:filter: docname in docnames\n```\n")
    for ch in chapters:
        shutil.copy2(FIXTURES / f"{ch}.ipynb", root / "book" / f"{ch}.ipynb")
    toc = {"format": "jb-book", "root": "book/index", "chapters": [{"file": f"book/{ch}"} for ch in chapters]}
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    (root / "book" / "_params" / "paper.yml").write_text(yaml.safe_dump(paper or {}))
    return root


def run_script(script: str, *args, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([sys.executable, str(SCRIPTS / script), *map(str, args)], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def build(root: Path, profile: str = "quick") -> subprocess.CompletedProcess:
    return run_script("build_book.py", "--root", root, "--profile", profile,
                      "--node-modules", REPO / "node_modules")


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """A fixture book with the passing chapter, built once per session (~25 s)."""
    root = make_book(tmp_path_factory.mktemp("book"), ["passing"])
    proc = build(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root
