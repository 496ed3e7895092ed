"""scripts/claims_can_fail.py on a toy chapter: broken data must fail the claims check itself."""
from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from conftest import REPO

SCRIPT = REPO / "scripts" / "claims_can_fail.py"


def cell(src, *tags):
    c = nbformat.v4.new_code_cell(src)
    c.metadata["tags"] = list(tags)
    return c


@pytest.fixture
def toy(tmp_path):
    """A chapter whose claim is `total > 0`, with `x` made by its experiment cell."""
    book, cases = tmp_path / "book", tmp_path / "cases"
    book.mkdir()
    cases.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        cell('results_dir = "results"', "parameters"),
        cell("x = [1, 2, 3]", "experiment"),
        cell("total = sum(x)"),
        cell("assert total > 0, total", "claims-check", "remove-input"),
        cell("raise RuntimeError('cells after the claims check are not run')"),
    ]
    nbformat.write(nb, book / "toy.ipynb")

    def run(cases_src):
        (cases / "toy.py").write_text(cases_src)
        return subprocess.run([sys.executable, str(SCRIPT), "toy", "--book", str(book), "--cases", str(cases)],
                              capture_output=True, text=True, timeout=300)
    return run


def test_cases_that_break_the_claim_pass(toy):
    # the second case sees the original x again: the namespace is restored between cases
    r = toy('CASES = {"negated": "x = [-v for v in x]", "restored": "assert x == [1, 2, 3]; x = [0]"}')
    assert r.returncode == 0, r.stderr
    assert "toy: 2 broken-data case(s), claims check ok" in r.stdout


def test_a_case_the_claims_check_misses_fails(toy):
    r = toy('CASES = {"harmless": "x = [5]"}')
    assert r.returncode == 1
    assert "case 'harmless': the claims check passed on broken data" in r.stderr


def test_a_case_that_breaks_an_earlier_cell_fails(toy):
    r = toy('CASES = {"not a list": "x = None"}')
    assert r.returncode == 1
    assert "case 'not a list': cell 2 raised TypeError before the claims check" in r.stderr


def test_missing_sabotage_file_is_named(toy, tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), "nochapter", "--cases", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "no sabotage file for ['nochapter']" in r.stderr
