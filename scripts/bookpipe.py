"""Shared pieces of the book's build and check scripts: the table of contents, profiles, paths."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PROFILES = ("quick", "paper")


class BuildError(Exception):
    """A failure the build reports in one message (chapter and cause), without a Python traceback."""


def toc_files(root: Path) -> list[str]:
    """Every `file`/`root` entry of `root/_toc.yml`, in reading order, without extension."""
    toc_path = root / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text())
    if not isinstance(toc, dict) or "root" not in toc:
        raise BuildError(f"{toc_path} must be a jb-book table of contents with a `root` entry")
    out = [str(toc["root"])]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                out.append(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [str(Path(f).with_suffix("")) if Path(f).suffix in (".ipynb", ".md") else f for f in out]


def chapters(root: Path) -> dict[str, Path]:
    """The executable chapters: {name: notebook path} for each toc entry that is an .ipynb file.
    The chapter's name is its notebook's file name without extension (unique across the book)."""
    found: dict[str, Path] = {}
    for entry in toc_files(root):
        nb = root / f"{entry}.ipynb"
        md = root / f"{entry}.md"
        if nb.exists() and md.exists():
            raise BuildError(f"{entry}: both .ipynb and .md exist; keep only the notebook")
        if nb.exists():
            name = nb.stem
            if name in found:
                raise BuildError(f"two chapters are named {name!r}: {found[name]} and {nb}")
            found[name] = nb
        elif not md.exists():
            raise BuildError(f"_toc.yml lists {entry!r} but neither {entry}.ipynb nor {entry}.md exists")
    return found


def load_profile(root: Path, profile: str) -> dict[str, dict]:
    """{chapter: {parameter: value}} of `book/_params/<profile>.yml` ({} for quick: notebook defaults)."""
    if profile not in PROFILES:
        raise BuildError(f"PROFILE must be one of {', '.join(PROFILES)}; got {profile!r}")
    path = root / "book" / "_params" / f"{profile}.yml"
    if profile == "quick" and not path.exists():
        return {}
    if not path.exists():
        raise BuildError(f"profile file {path} is missing")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) or v is None for v in data.values()):
        raise BuildError(f"{path} must map each chapter name to a mapping of parameter values")
    return {str(k): dict(v or {}) for k, v in data.items()}


def profile_files(root: Path) -> list[Path]:
    return sorted((root / "book" / "_params").glob("*.yml"))


def assigned_parameters(nb: Path) -> set[str]:
    """Names assigned at top level of the notebook's `parameters` cell, read with `ast`."""
    import ast
    import json

    for cell in json.loads(nb.read_text())["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse("".join(cell["source"]))
            return {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                    if isinstance(t, ast.Name)}
    return set()


def check_profiles(root: Path, chs: dict[str, Path]) -> list[str]:
    """Problems with the profiles: every key of every profile must be a name in the chapter's
    `parameters` cell (papermill would only warn), and `profile`/`results_dir` are set by the build."""
    import papermill

    problems = []
    declared: dict[str, dict] = {}
    for name, nb in chs.items():
        params = papermill.inspect_notebook(str(nb))
        if not params:
            problems.append(f"chapter {name!r} ({nb.name}) has no code cell tagged `parameters`")
            continue
        for required in ("profile", "results_dir", "seed"):
            if required not in params:
                problems.append(f"chapter {name!r}: its parameters cell must define `{required}`")
        for key, want in (("profile", "quick"), ("results_dir", f"results/{name}")):
            if key in params and params[key]["default"].strip() not in (repr(want), f'"{want}"'):
                problems.append(f"chapter {name!r}: the parameters cell must set {key} = \"{want}\" "
                                f"(found {params[key]['default']})")
        unparsed = sorted(assigned_parameters(nb) - set(params))
        if unparsed:
            problems.append(f"chapter {name!r}: papermill cannot read the parameter line(s) for "
                            f"{', '.join(unparsed)} (a comment holding '=' or a multi-line value): "
                            "a profile could not override them")
        declared[name] = params
    for path in profile_files(root):
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            problems.append(f"{path.name} must map chapter names to parameter values")
            continue
        for chapter, values in data.items():
            if chapter not in chs:
                if (root / "book" / f"{chapter}.ipynb").exists():
                    continue  # a chapter not (yet) in _toc.yml: checked once it is listed
                problems.append(f"{path.name} names chapter {chapter!r}, which is not a notebook in book/")
                continue
            if chapter not in declared:
                continue
            for key in (values or {}):
                if key in ("profile", "results_dir"):
                    problems.append(f"{path.name} [{chapter}]: `{key}` is set by the build, not by a profile")
                elif key not in declared[chapter]:
                    allowed = ", ".join(sorted(declared[chapter]))
                    problems.append(f"{path.name} [{chapter}]: parameter `{key}` is not in the chapter's "
                                    f"parameters cell (it has: {allowed})")
    return problems


def fail(message: str) -> None:
    print(f"\nBUILD FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def report(title: str, problems: list[str], success: str) -> int:
    """Exit status of a check: print ``TITLE FAILED`` and one problem per line to stderr (1), or ``success`` (0)."""
    if problems:
        print(f"{title} FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(success)
    return 0
