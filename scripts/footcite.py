"""One-off migration helper: per-page references with {footcite}/{footbibliography}.

sphinxcontrib-bibtex warns "duplicate citation" (an error under -W) when two pages' {bibliography}
blocks list the same work; footnote citations are local to their page, so each chapter keeps its own
reference list. Usage: python scripts/footcite.py FILE... (.md or .ipynb), rewrites in place.
"""
import json
import re
import sys

BIB = re.compile(r"```\{bibliography\}\n(:filter:[^\n]*\n)?```")


def convert(text: str) -> str:
    text = re.sub(r"\{cite(:[pt])?\}", lambda m: "{footcite" + (m.group(1) or ":p") + "}", text)
    return BIB.sub("```{footbibliography}\n```", text)


for path in sys.argv[1:]:
    if path.endswith(".ipynb"):
        nb = json.load(open(path))
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                cell["source"] = convert("".join(cell["source"])).splitlines(keepends=True)
        with open(path, "w") as f:
            json.dump(nb, f, indent=1, ensure_ascii=False)
            f.write("\n")
    else:
        src = open(path).read()
        open(path, "w").write(convert(src))
