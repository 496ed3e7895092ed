"""Publishing and the places readers run the book: the Pages workflow, Binder's CPU-only torch, the
one repository URL. (The Colab simulation is `make colab-check`, scripts/colab_check.py.)"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _pins(path: Path) -> dict:
    return dict(line.split("==", 1) for line in path.read_text().splitlines()
                if "==" in line and not line.lstrip().startswith(("#", "-")))


def test_binder_requirements_pin_the_cpu_torch_wheel():
    text = (REPO / "binder" / "requirements.txt").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert f"--extra-index-url {CPU_INDEX}" in lines, "binder/requirements.txt must name the CPU index"
    torch = _pins(REPO / "requirements.txt")["torch"]
    assert f"torch=={torch}+cpu" in lines, f"Binder must pin torch=={torch}+cpu (the book pins {torch})"
    assert "-r ../requirements.txt" in lines, "Binder installs the book's own pins too"
    assert not re.search(r"nvidia|cuda|\+cu\d", "\n".join(lines).replace(CPU_INDEX, ""), re.I), \
        "no CUDA package in Binder"
    post = (REPO / "binder" / "postBuild").read_text()
    assert "pip install --no-deps -e lib" in post
    assert (REPO / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_binder_torch_resolves_to_a_cpu_wheel_without_nvidia_packages(tmp_path):
    """Where the PyTorch CPU index is reachable, resolve torch there and check the resolved set."""
    torch = _pins(REPO / "requirements.txt")["torch"]
    report = tmp_path / "report.json"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
             "--report", str(report), "--timeout", "5", "--retries", "0", "--isolated",
             "--index-url", CPU_INDEX, f"torch=={torch}+cpu"],
            capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        proc = None
    if proc is None or proc.returncode != 0 or not report.is_file():
        pytest.skip(f"the PyTorch CPU index ({CPU_INDEX}) is not reachable from this machine: "
                    "binder/requirements.txt was checked by inspecting the file only "
                    "(test_binder_requirements_pin_the_cpu_torch_wheel)")
    resolved = {i["metadata"]["name"].lower(): i["metadata"]["version"]
                for i in json.loads(report.read_text())["install"]}
    assert resolved["torch"].endswith("+cpu"), resolved["torch"]
    assert not [n for n in resolved if n.startswith("nvidia")], sorted(resolved)


def test_pages_workflow_builds_and_deploys_the_book():
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "book.yml").read_text())
    on = wf.get("on", wf.get(True))          # YAML 1.1 reads the key `on` as True
    assert "main" in on["push"]["branches"] and "workflow_dispatch" in on
    assert on["push"].get("tags"), "a tag builds the paper profile"
    assert wf["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build = wf["jobs"]["build"]["steps"]
    runs = "\n".join(s.get("run", "") for s in build)
    uses = [s.get("uses", "") for s in build]
    assert "make book PROFILE=" in runs and CPU_INDEX in runs, "CPU torch, then the book"
    assert "make node" in runs and "make env" in runs, "installs as .ci/run does"
    upload = next(s for s in build if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert any(u.startswith("actions/checkout") for u in uses)
    deploy = wf["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy["steps"])
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci and "github" not in ci.lower(), ".ci/run stays what it was"
