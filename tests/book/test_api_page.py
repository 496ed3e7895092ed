"""The API appendix (book/api.md) documents every public module of the library."""
from __future__ import annotations

import ast
import re

from conftest import REPO

LIB = REPO / "lib" / "overparam"


def public_modules() -> set[str]:
    """Every module under lib/overparam except packages' __init__ and modules that export nothing."""
    names = set()
    for path in LIB.rglob("*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        exports_nothing = any(
            isinstance(node, (ast.Assign, ast.AnnAssign))
            and "__all__" in [getattr(t, "id", None) for t in getattr(node, "targets", [getattr(node, "target", None)])]
            and isinstance(node.value, (ast.List, ast.Tuple)) and not node.value.elts
            for node in tree.body)
        if not exports_nothing:
            names.add("overparam." + ".".join(path.relative_to(LIB).with_suffix("").parts))
    return names


def test_every_public_module_is_on_the_api_page():
    documented = re.findall(r"^\.\. automodule:: (\S+)$", (REPO / "book" / "api.md").read_text(), re.M)
    assert len(documented) == len(set(documented)), "a module is documented twice"
    missing = public_modules() - set(documented)
    assert not missing, f"book/api.md lacks an automodule section for {sorted(missing)}"
    stale = set(documented) - public_modules()
    assert not stale, f"book/api.md documents modules that do not exist: {sorted(stale)}"
