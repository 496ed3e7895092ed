#!/usr/bin/env python
"""Set the book's public repository URL in the one place it is kept, and everywhere it is copied.

    python scripts/set_repository.py https://github.com/OWNER/NAME [--root DIR]
    make set-repository URL=https://github.com/OWNER/NAME

The URL lives in `_config.yml` (`repository.url`: Jupyter Book builds the Binder and Colab launch
links from it). The chapters' setup cell installs the library in Colab from the same URL, so the
script also rewrites the `REPOSITORY = "..."` line of `book/_templates/setup_cell.py` and of the first
code cell of every notebook under `book/` and `tests/book/fixtures/` (which hold that template
verbatim; `tests/book/test_chapters.py` checks all of them against `_config.yml`).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
URL = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
LINE = re.compile(r'^REPOSITORY = "[^"]*"$', re.M)
CONFIG = re.compile(r"^(  url: ).*$", re.M)
PLACEHOLDER_NOTE = "# >>> PLACEHOLDER repository URL: replace with the book's real repository once it exists. <<<\n"


def set_repository(root: Path, url: str) -> list[Path]:
    """Write ``url`` into every place that holds it; returns the files changed."""
    if not URL.match(url):
        raise ValueError(f"URL must look like https://github.com/OWNER/NAME (no trailing slash), got {url!r}")
    changed = []
    config = root / "_config.yml"
    text = config.read_text()
    block = re.search(r"^repository:\n((?:  .*\n)+)", text, re.M)
    if block is None or not CONFIG.search(block.group(1)):
        raise ValueError(f"{config} has no `repository:` block with a `url:` key")
    new_block = CONFIG.sub(lambda m: m.group(1) + url, block.group(1), count=1)
    new = text[:block.start(1)] + new_block + text[block.end(1):]
    new = new.replace(PLACEHOLDER_NOTE, "")
    if new != text:
        config.write_text(new)
        changed.append(config)
    line = f'REPOSITORY = "{url}"'
    template = root / "book" / "_templates" / "setup_cell.py"
    text = template.read_text()
    if not LINE.search(text):
        raise ValueError(f"{template} has no REPOSITORY line")
    if LINE.sub(line, text) != text:
        template.write_text(LINE.sub(line, text))
        changed.append(template)
    for nb_path in sorted(list((root / "book").rglob("*.ipynb")) +
                          list((root / "tests" / "book" / "fixtures").glob("*.ipynb"))):
        if "results" in nb_path.parts or ".ipynb_checkpoints" in nb_path.parts:
            continue
        nb = nbformat.read(nb_path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        if code and LINE.search(code[0].source):
            src = LINE.sub(line, code[0].source)
            if src != code[0].source:
                code[0].source = src
                nbformat.write(nb, nb_path)
                changed.append(nb_path)
    return changed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--root", type=Path, default=REPO)
    args = ap.parse_args(argv)
    try:
        changed = set_repository(args.root.resolve(), args.url)
    except ValueError as exc:
        print(f"set_repository: {exc}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"  updated {path.relative_to(args.root.resolve())}")
    print(f"Repository set to {args.url} ({len(changed)} file(s) changed).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
