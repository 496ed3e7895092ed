"""The build pipeline on small fixture books (tests/book/fixtures): it must fail loudly and name the cause."""
from __future__ import annotations

import json
import shutil

import yaml

from conftest import FIXTURES, REPO, build, make_book, run_script


def test_passing_book_builds_and_publishes_results(built_book):
    html = built_book / "_build" / "html"
    assert (html / "index.html").is_file()
    assert (html / "book" / "passing.html").is_file()
    summary = json.loads((html / "_results" / "passing" / "summary.json").read_text())
    assert summary["n_points"] == 50
    assert (html / "_results" / "passing" / "fig_lines.csv").is_file()
    assert (built_book / "_build" / "executed" / "book" / "passing.ipynb").is_file()
    page = (html / "book" / "passing.html").read_text()
    assert "Fig. 1" in page, "the {numref} to the glued figure should resolve"
    assert "_static/vendor/mathjax/tex-chtml.js" in page
    assert "_static/vendor/ipywidgets/embed.js" in page and "widget-state+json" in page
    assert "cdn.jsdelivr" not in page and "unpkg.com" not in page and "cdnjs" not in page
    assert "REPOSITORY = " not in page, "the setup cell is hidden on the page"
    assert not list((built_book / "_staging").glob("*")), "a successful build removes its staging folder"


def test_browser_check_passes_on_the_fixture_book(built_book):
    proc = run_script("check_html.py", built_book / "_build" / "html")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok   book/passing.html" in proc.stdout


def test_nbval_and_determinism_on_the_fixture_book(built_book):
    proc = run_script("nbval_check.py", "--root", built_book)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "equal in both runs" in proc.stdout


def test_failing_chapter_stops_the_build_and_keeps_the_old_html(built_book, tmp_path):
    root = tmp_path / "book"
    shutil.copytree(built_book, root)
    shutil.copy2(FIXTURES / "failing.ipynb", root / "book" / "failing.ipynb")
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    toc["chapters"].append({"file": "book/failing"})
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    index = root / "_build" / "html" / "index.html"
    before = index.stat().st_mtime_ns
    proc = build(root)
    assert proc.returncode != 0
    err = proc.stderr
    assert "chapter 'failing'" in err and "code cell 3" in err, err
    assert "RuntimeError: deliberate failure for the pipeline test" in err, err
    assert index.stat().st_mtime_ns == before, "the previous good HTML must survive a failed build"
    assert not (root / "_build" / "html" / "book" / "failing.html").exists()


def test_mistyped_profile_parameter_is_named(tmp_path):
    root = make_book(tmp_path / "book", ["passing"], paper={"passing": {"n_point": 3}})
    proc = build(root, profile="paper")
    assert proc.returncode != 0
    assert "paper.yml [passing]: parameter `n_point` is not in the chapter's parameters cell" in proc.stderr
    assert "n_points" in proc.stderr, "the message lists the names the chapter has"


def test_out_of_range_parameter_is_named(tmp_path):
    root = make_book(tmp_path / "book", ["passing"], paper={"passing": {"n_points": 0}})
    proc = build(root, profile="paper")
    assert proc.returncode != 0
    assert "chapter 'passing'" in proc.stderr
    assert "parameter 'n_points' must be an integer in [2, 10000]; got 0" in proc.stderr, proc.stderr


def test_unknown_profile_is_refused(tmp_path):
    root = make_book(tmp_path / "book", [])
    proc = build(root, profile="huge")
    assert proc.returncode != 0 and "PROFILE must be one of quick, paper" in proc.stderr


def test_browser_check_catches_offsite_requests_broken_images_and_errors(tmp_path):
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text(
        '<html><body><p>fine</p></body></html>')
    (html / "bad.html").write_text(
        '<html><body><figure><img src="https://example.com/x.png"></figure>'
        '<img src="missing.png"><script>console.error("boom")</script></body></html>')
    proc = run_script("check_html.py", html, "--screenshots", tmp_path / "shots")
    assert proc.returncode != 0
    assert "ok   index.html" in proc.stdout and "FAIL bad.html" in proc.stdout
    assert "request to a third-party host: https://example.com/x.png" in proc.stderr
    assert "image did not load" in proc.stderr and "console error: boom" in proc.stderr


def test_browser_check_catches_reprs_nan_and_unrendered_roles(tmp_path):
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text(
        '<html><body><main><p>None of the runs failed; the rate was '
        '<span class="pasted-text">0.25</span>.</p></main></body></html>')
    (html / "repr.html").write_text(
        '<html><body><main><p>censored (&lt;IPython.core.display.Markdown object&gt;)</p></main></body></html>')
    (html / "nan.html").write_text(
        '<html><body><main><p>mean <span class="pasted-text">nan</span> and '
        '<span class="pasted-inline">None</span></p></main></body></html>')
    (html / "role.html").write_text(
        '<html><body><main><p>see {doc}`lottery_tickets` and {glue:text}`x`</p></main></body></html>')
    proc = run_script("check_html.py", html, "--screenshots", tmp_path / "shots")
    assert proc.returncode != 0
    assert "ok   index.html" in proc.stdout, "'None' in prose and a number in a glue span are fine"
    for page in ("repr.html", "nan.html", "role.html"):
        assert f"FAIL {page}" in proc.stdout, proc.stdout
    assert "visible text has a Python repr" in proc.stderr
    assert "a glued value reads 'nan'" in proc.stderr and "a glued value reads 'None'" in proc.stderr
    assert "an unrendered doc role" in proc.stderr and "an unrendered glue role" in proc.stderr


def test_browser_check_limits_visible_code_and_wide_lines(tmp_path):
    html = tmp_path / "html"
    html.mkdir()
    cell = '<div class="cell_input"><pre>x = 1</pre></div>'
    hidden = f'<details><summary>Show code</summary>{cell}</details>'
    (html / "index.html").write_text(f'<html><body><main>{cell * 5}{hidden * 3}</main></body></html>')
    (html / "many.html").write_text(f'<html><body><main>{cell * 6}</main></body></html>')
    wide = ('<div class="cell_input"><pre style="width: 200px; overflow: auto">'
            f'y = "{"w" * 150}"</pre></div>')
    (html / "book").mkdir()                        # a chapter page: made from a notebook
    (html / "_sources" / "book").mkdir(parents=True)
    (html / "_sources" / "book" / "wide.ipynb").write_text("{}")
    (html / "book" / "wide.html").write_text(f'<html><body><main><details>{wide}</details></main></body></html>')
    proc = run_script("check_html.py", html, "--screenshots", tmp_path / "shots")
    assert proc.returncode != 0
    assert "ok   index.html" in proc.stdout, proc.stdout + proc.stderr
    assert "FAIL many.html" in proc.stdout and "FAIL book/wide.html" in proc.stdout
    assert "6 code inputs visible without a click (at most 5)" in proc.stderr
    assert "a code line is wider than its box: 'y = \"www" in proc.stderr
    assert (tmp_path / "shots" / "index.html.png").is_file()
    assert (tmp_path / "shots" / "index.html.dark.png").is_file(), "the dark theme is screenshot too"


def test_browser_check_fails_on_a_figure_with_a_transparent_background(tmp_path):
    import base64
    import io

    from matplotlib.figure import Figure

    html = tmp_path / "html"
    html.mkdir()
    for name, transparent in (("index.html", False), ("clear.html", True)):
        fig = Figure(figsize=(2, 1))
        fig.subplots().plot([0, 1], [0, 1])
        buf = io.BytesIO()
        fig.savefig(buf, format="png", transparent=transparent)
        data = base64.b64encode(buf.getvalue()).decode()
        (html / name).write_text(f'<html><body><figure><img src="data:image/png;base64,{data}">'
                                 '</figure></body></html>')
    proc = run_script("check_html.py", html, "--screenshots", tmp_path / "shots")
    assert proc.returncode != 0
    assert "ok   index.html" in proc.stdout and "FAIL clear.html" in proc.stdout, proc.stdout + proc.stderr
    assert "a figure has a transparent background" in proc.stderr


def test_paper_profile_injects_its_values(tmp_path):
    root = make_book(tmp_path / "book", ["passing"], paper={"passing": {"n_points": 20, "slopes": [3.0]}})
    proc = build(root, profile="paper")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((root / "_build" / "html" / "_results" / "passing" / "summary.json").read_text())
    assert summary["n_points"] == 20 and summary["max_y"] > 2.9
    page = (root / "_build" / "html" / "book" / "passing.html").read_text()
    assert "paper" in page and "_downloads" in page, "the injected cell and the data download links are shown"


def test_parameter_line_papermill_cannot_read_is_named(tmp_path):
    """papermill silently skips a parameter line whose comment holds '='; the build must not."""
    root = make_book(tmp_path / "book", ["passing"])
    nb_path = root / "book" / "passing.ipynb"
    nb = json.loads(nb_path.read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    cell["source"] = "".join(cell["source"]) + "\nwidth = 3   # hidden width (n = k + 1)\n"
    nb_path.write_text(json.dumps(nb))
    proc = build(root)
    assert proc.returncode != 0
    assert "papermill cannot read the parameter line(s) for width" in proc.stderr, proc.stderr


def test_workers_are_injected_only_where_the_chapter_names_them(tmp_path):
    root = make_book(tmp_path / "book", ["passing"])
    proc = run_script("build_book.py", "--root", root, "--workers", "2", "--node-modules", REPO / "node_modules")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    executed = json.loads((root / "_build" / "executed" / "book" / "passing.ipynb").read_text())
    assert not any("injected-parameters" in c["metadata"].get("tags", []) for c in executed["cells"])
    nb_path = root / "book" / "passing.ipynb"
    nb = json.loads(nb_path.read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    cell["source"] = "".join(cell["source"]) + "\nworkers = 1\n"
    nb_path.write_text(json.dumps(nb))
    proc = run_script("build_book.py", "--root", root, "--workers", "2", "--node-modules", REPO / "node_modules")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    executed = json.loads((root / "_build" / "executed" / "book" / "passing.ipynb").read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "workers = 2" in "".join(injected[0]["source"])
    assert "--workers must be an integer >= 1" in run_script("build_book.py", "--root", root, "--workers", "0").stderr


def test_jobs_run_chapters_at_once_and_a_failure_is_named(tmp_path):
    root = make_book(tmp_path / "book", ["passing"])
    proc = run_script("build_book.py", "--root", root, "--jobs", "2", "--node-modules", REPO / "node_modules")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 at a time" in proc.stdout and "executed passing:" in proc.stdout, proc.stdout
    meta = json.loads((root / "_build" / "executed" / "build.json").read_text())
    assert meta["torch_threads"] >= 1
    proc = run_script("nbval_check.py", "--root", root, "--jobs", "2")
    assert proc.returncode == 0 and "equal in both runs" in proc.stdout, proc.stdout + proc.stderr
    shutil.copy2(FIXTURES / "failing.ipynb", root / "book" / "failing.ipynb")
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    toc["chapters"].append({"file": "book/failing"})
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    proc = run_script("build_book.py", "--root", root, "--jobs", "2", "--node-modules", REPO / "node_modules")
    assert proc.returncode != 0
    assert "chapter 'failing'" in proc.stderr and "code cell 3" in proc.stderr, proc.stderr
    assert "--jobs must be an integer >= 1" in run_script("build_book.py", "--root", root, "--jobs", "0").stderr
    assert "--jobs must be an integer >= 1" in run_script("nbval_check.py", "--root", root, "--jobs", "0").stderr
