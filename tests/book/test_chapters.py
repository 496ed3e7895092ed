"""Checks of the real book (book/, _toc.yml, _config.yml, book/_params): fast, no execution."""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
from bookpipe import chapters, check_profiles, profile_files  # noqa: E402

TEMPLATE = (REPO / "book" / "_templates" / "setup_cell.py").read_text()
NOTEBOOKS = sorted((REPO / "book").rglob("*.ipynb"))
FIXTURE_NOTEBOOKS = sorted((REPO / "tests" / "book" / "fixtures").glob("*.ipynb"))
ALL_NOTEBOOKS = [p for p in NOTEBOOKS + FIXTURE_NOTEBOOKS if "results" not in p.parts]


def ids(paths):
    return [str(p.relative_to(REPO)) for p in paths]


def test_toc_entries_exist_and_chapter_names_are_unique():
    chapters(REPO)  # raises on a missing file, an .md beside an .ipynb, or a duplicate name


def test_every_profile_key_exists_in_the_chapters():
    assert profile_files(REPO), "book/_params/paper.yml should exist"
    assert check_profiles(REPO, chapters(REPO)) == []


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=ids(ALL_NOTEBOOKS))
def test_notebooks_are_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts; clear them"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernelspec must be python3"
    assert not path.with_suffix(".md").exists(), f"{path.with_suffix('.md').name} beside {path.name}"


@pytest.mark.parametrize("path", [p for p in ALL_NOTEBOOKS if p.parent.name != "_templates"],
                         ids=ids([p for p in ALL_NOTEBOOKS if p.parent.name != "_templates"]))
def test_first_code_cell_is_the_setup_template(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cell"
    assert code[0].source.strip() == TEMPLATE.strip(), \
        f"{path.name}: the first code cell must be book/_templates/setup_cell.py verbatim"
    assert "parameters" in code[1].metadata.get("tags", []), \
        f"{path.name}: the second code cell must be the one tagged `parameters`"


def test_setup_cell_repository_matches_config():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    url = config["repository"]["url"]
    assert re.search(r'^REPOSITORY = "([^"]+)"', TEMPLATE, re.M).group(1) == url
    assert "PLACEHOLDER" in url or url.startswith("https://github.com/"), url


def test_setup_cell_pins_match_requirements():
    reqs = dict(line.split("==") for line in (REPO / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for name, version in re.findall(r'"([A-Za-z0-9_.-]+)==([^"]+)"', TEMPLATE):
        assert reqs.get(name) == version, f"setup cell pins {name}=={version}, requirements.txt has {reqs.get(name)}"


def test_setup_cell_says_one_sentence_without_the_library(tmp_path):
    """Outside Colab, without overparam: one clear sentence, not an ImportError traceback."""
    ns = {"__name__": "__main__"}
    import importlib.util
    real = importlib.util.find_spec
    try:
        importlib.util.find_spec = lambda name, *a: None if name == "overparam" else real(name, *a)
        with pytest.raises(Exception) as err:
            exec(compile(TEMPLATE, "setup_cell", "exec"), ns)
    finally:
        importlib.util.find_spec = real
    assert type(err.value).__name__ == "SetupError"
    assert err.value._render_traceback_() == [str(err.value)]
    assert "make env" in str(err.value)


def test_setup_cell_imports_the_library_when_installed():
    ns = {"__name__": "__main__"}
    exec(compile(TEMPLATE, "setup_cell", "exec"), ns)
    assert ns["overparam"].__name__ == "overparam"


def test_setup_cell_installs_from_the_repository_where_the_library_is_missing(monkeypatch):
    """With a real URL, a missing library is pip-installed from git+URL#subdirectory=lib (Colab or a
    downloaded notebook); a failed install is one sentence naming the URL and pip's last line."""
    import importlib.util
    import subprocess

    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: could not reach the host")

    real = importlib.util.find_spec
    url = "https://github.com/someone/tickets-or-escape-dimensions"
    src = re.sub(r'^REPOSITORY = "[^"]*"', f'REPOSITORY = "{url}"', TEMPLATE, flags=re.M)
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "overparam" else real(n, *a))
    with pytest.raises(Exception) as err:
        exec(compile(src, "setup_cell", "exec"), {"__name__": "__main__"})
    assert type(err.value).__name__ == "SetupError"
    assert str(err.value) == (f"Could not install the book's library from {url} "
                              "(pip said: ERROR: could not reach the host).")
    assert calls and f"git+{url}#subdirectory=lib" in calls[0]


def test_set_repository_updates_every_copy(tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    from set_repository import set_repository

    root = tmp_path / "book-root"
    root.mkdir()
    shutil.copy2(REPO / "_config.yml", root / "_config.yml")
    shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns("results", "_static"))
    shutil.copytree(REPO / "tests" / "book" / "fixtures", root / "tests" / "book" / "fixtures")
    url = "https://github.com/owner/tickets-or-escape-dimensions"
    changed = set_repository(root, url)
    assert root / "_config.yml" in changed and root / "book" / "_templates" / "setup_cell.py" in changed
    config = yaml.safe_load((root / "_config.yml").read_text())
    assert config["repository"]["url"] == url
    assert "PLACEHOLDER" not in (root / "_config.yml").read_text()
    template = (root / "book" / "_templates" / "setup_cell.py").read_text().strip()
    assert f'REPOSITORY = "{url}"' in template
    notebooks = [p for p in (root / "book").glob("*.ipynb")] + list((root / "tests").rglob("*.ipynb"))
    assert notebooks
    for p in notebooks:
        first = next(c for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
        assert first.source.strip() == template, f"{p.name}: setup cell not updated"
    assert set_repository(root, url) == [], "a second run changes nothing"
    with pytest.raises(ValueError, match=r"^URL must look like https://github.com/OWNER/NAME"):
        set_repository(root, "https://example.com/x")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_parameters_cells_hold_one_line_per_value(path):
    """A reader (and papermill) reads `name = value  # comment` lines; a formatter that wraps a long
    comment into a multi-line value makes the cell hard to read: shorten the comment instead."""
    if path.parent.name == "_templates":
        return
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    bad = [ln for ln in cell.source.splitlines()
           if ln.strip() and not ln.lstrip().startswith("#")
           and not re.match(r"^[A-Za-z_]\w* = \S.*$", ln)]
    assert not bad, f"{path.name}: parameters cell lines that are not `name = value`: {bad}"


CHAPTERS = [p for p in NOTEBOOKS if p.parent.name != "_templates"]


@pytest.mark.parametrize("path", CHAPTERS, ids=ids(CHAPTERS))
def test_every_chapter_honours_the_device_parameter(path):
    """`device = "cpu"` in the parameters cell (the build injects `--device`), checked as a choice of
    "cpu", "cuda", "auto" (in the notebook, or in the experiment module's PARAMETERS it checks with), and
    passed to the chapter's experiment calls."""
    nb = nbformat.read(path, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert re.search(r'^device = "cpu"', params.source, re.M), f"{path.name}: no `device = \"cpu\"` parameter"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    rule = ("choice", ["cpu", "cuda", "auto"])
    if "check_parameters(globals(), C.PARAMETERS)" in code:    # the spec lives in the experiment module
        from overparam.experiments.counting_tickets import PARAMETERS
        checked = PARAMETERS.get("device") == rule
    else:
        checked = re.search(r'"?device"?\W{1,4}\("choice", \["cpu", "cuda", "auto"\]\)', code)
    assert checked, f"{path.name}: `device` is not checked as {rule} with check_parameters"
    assert "device=device" in code, f"{path.name}: no experiment call receives device=device"
