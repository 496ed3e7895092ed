#!/usr/bin/env python
"""Open every page of the built book in headless Debian chromium and check what a reader sees.

    python scripts/check_html.py _build/html [--screenshots DIR]

Serves the folder on 127.0.0.1 (a random free port), opens every page with Playwright driving
/usr/bin/chromium (never a downloaded browser) and fails on:
  - any request to a host other than 127.0.0.1 (it is blocked and reported), or a failed local request;
  - any console error or uncaught page error;
  - an image that did not load (complete and naturalWidth > 0), or a figure without an image;
  - math on the page that MathJax did not typeset (or typeset with an error);
  - saved ipywidgets state that did not render;
  - on a page made from a notebook, missing Binder/Colab launch links, or links to the wrong notebook;
  - visible text (code inputs aside) holding a Python repr (`<IPython.`, ` object at 0x`), a MyST role
    left unrendered (`{glue`, `{doc`), or a glued value that reads `nan`, `NaN` or `None`;
  - more than MAX_VISIBLE_CODE code inputs visible without a click, or (with every collapsed cell
    opened) a code block whose lines are wider than its box.
Screenshots of every page, in the theme's light and dark modes (NAME.png, NAME.dark.png), land in DIR
(default: <html>/../screenshots); a figure image with a transparent background fails (it would be
unreadable in the dark mode).
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SKIP_DIRS = ("_static", "_sources", "_images", "_results", "_sphinx_design_static")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory: Path):
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def pages(html: Path) -> list[Path]:
    return sorted(p.relative_to(html) for p in html.rglob("*.html")
                  if not p.relative_to(html).parts[0] in SKIP_DIRS)


JS_IMAGES = """() => Array.from(document.images).map(i => ({src: i.currentSrc || i.src,
    ok: i.complete && i.naturalWidth > 0, inFigure: !!i.closest('figure, .cell_output')}))"""
# A figure must carry its own opaque background, so that it stays readable in the dark theme.
JS_TRANSPARENT = """() => Array.from(document.querySelectorAll('figure img, .cell_output img'))
  .filter(i => i.complete && i.naturalWidth > 0)
  .filter(i => {
    const c = document.createElement('canvas');
    c.width = i.naturalWidth; c.height = i.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(i, 0, 0);
    const corners = [[0, 0], [c.width - 1, 0], [0, c.height - 1], [c.width - 1, c.height - 1]];
    return corners.some(([x, y]) => g.getImageData(x, y, 1, 1).data[3] < 255);
  }).map(i => i.currentSrc || i.src)"""
JS_MATH = """async () => {
  const nodes = document.querySelectorAll('div.math, span.math');
  if (nodes.length === 0) return {n: 0};
  if (!window.MathJax || !MathJax.startup) return {n: nodes.length, error: 'MathJax did not load'};
  await MathJax.startup.promise;
  const untypeset = Array.from(nodes).filter(n => !n.querySelector('mjx-container')).length;
  return {n: nodes.length, typeset: document.querySelectorAll('mjx-container').length, untypeset,
          merror: document.querySelectorAll('mjx-merror').length};
}"""
JS_WIDGETS = """() => ({views: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
   rendered: document.querySelectorAll('.widget-subarea .jupyter-widgets, .jupyter-widgets.widget-tab, .lm-TabPanel, .widget-tab').length,
   images: Array.from(document.querySelectorAll('.jupyter-widgets img, .widget-image')).map(i => i.complete && i.naturalWidth > 0)})"""
JS_LAUNCH = """() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)
   .filter(h => h.includes('mybinder.org') || h.includes('colab.research.google.com'))"""
JS_TEXT = """() => {
  const root = document.querySelector('main') || document.body;
  const clone = root.cloneNode(true);
  clone.querySelectorAll('.cell_input, script, style, .headerlink').forEach(e => e.remove());
  const glued = Array.from(root.querySelectorAll('[class*="pasted"]'))
    .filter(e => !e.querySelector('img, figure, table'))
    .map(e => e.textContent.trim());
  return {text: clone.textContent, glued: glued};
}"""
JS_CODE_VISIBLE = """() => Array.from(document.querySelectorAll('.cell_input'))
  .filter(e => e.checkVisibility()).length"""
JS_CODE_WIDE = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  return Array.from(document.querySelectorAll('.cell_input pre, div.highlight pre'))
    .filter(p => p.scrollWidth > p.clientWidth + 1)
    .map(p => p.textContent.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), ''));
}"""
MAX_VISIBLE_CODE = 5
BAD_TEXT = (("<IPython.", "a Python repr"), (" object at 0x", "a Python repr"),
            ("{glue", "an unrendered glue role"), ("{doc", "an unrendered doc role"))
BAD_GLUED = re.compile(r"^(nan|NaN|None)$|\b(nan|NaN)\b")


def text_problems(text: str, glued: list[str]) -> list[str]:
    """What a reader should never see in a page's visible text or in its glued values."""
    problems = []
    for needle, what in BAD_TEXT:
        i = text.find(needle)
        if i >= 0:
            problems.append(f"visible text has {what}: ...{' '.join(text[max(0, i - 40):i + 50].split())}...")
    for value in glued:
        if BAD_GLUED.search(value):
            problems.append(f"a glued value reads {value[:60]!r}")
    return problems


def check_page(page, base: str, rel: Path, html: Path, shots: Path) -> list[str]:
    problems: list[str] = []
    url = f"{base}/{rel.as_posix()}"
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})")
            if urlparse(r.url).hostname == "127.0.0.1" else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    try:
        page.wait_for_load_state("networkidle", timeout=15_000)
    except Exception:
        problems.append("the page did not settle (network not idle after 15 s)")

    for img in page.evaluate(JS_IMAGES):
        if not img["ok"]:
            problems.append(f"image did not load: {img['src'][:120]}")
    n_figures = page.evaluate("() => document.querySelectorAll('figure').length")
    n_fig_img = page.evaluate("() => document.querySelectorAll('figure img').length")
    if n_figures and n_fig_img < n_figures:
        problems.append(f"{n_figures} figures but only {n_fig_img} images in them")

    math = page.evaluate(JS_MATH)
    if math.get("error"):
        problems.append(math["error"])
    elif math["n"] and (math["untypeset"] or math["merror"]):
        problems.append(f"math not typeset: {math['untypeset']} of {math['n']} untypeset, {math['merror']} errors")

    widgets = page.evaluate(JS_WIDGETS)
    if widgets["views"]:
        try:
            page.wait_for_selector(".jupyter-widgets", timeout=10_000)
        except Exception:
            pass
        widgets = page.evaluate(JS_WIDGETS)
        if widgets["rendered"] == 0:
            problems.append(f"{widgets['views']} saved widget views but none rendered")
        if not all(widgets["images"]):
            problems.append("a widget image did not load")

    shown = page.evaluate(JS_TEXT)
    problems += text_problems(shown["text"], shown["glued"])

    visible = page.evaluate(JS_CODE_VISIBLE)
    if visible > MAX_VISIBLE_CODE:
        problems.append(f"{visible} code inputs visible without a click (at most {MAX_VISIBLE_CODE}): "
                        f"tag the others hide-input or remove-input")

    source_nb = html / "_sources" / rel.with_suffix(".ipynb")
    if source_nb.exists():
        expected = rel.with_suffix(".ipynb").as_posix()
        links = page.evaluate(JS_LAUNCH)
        binder = [h for h in links if "mybinder.org" in h]
        colab = [h for h in links if "colab.research.google.com" in h]
        if not binder or not all(h.endswith(f"urlpath=tree/{expected}") for h in binder):
            problems.append(f"Binder launch link missing or not to {expected}: {binder}")
        if not colab or not all("/blob/" in h and h.endswith(f"/{expected}") for h in colab):
            problems.append(f"Colab launch link missing or not to {expected}: {colab}")

    for src in page.evaluate(JS_TRANSPARENT):
        problems.append(f"a figure has a transparent background (unreadable in the dark theme): {src[:100]}")

    shot = shots / (rel.as_posix().replace("/", "__") + ".png")
    page.screenshot(path=str(shot), full_page=True)
    # the theme's dark mode (pydata-sphinx-theme reads data-theme on <html>): a second screenshot
    page.evaluate("() => { document.documentElement.dataset.theme = 'dark'; }")
    page.screenshot(path=str(shot.with_suffix(".dark.png")), full_page=True)
    # chapters and the front page (the API page's docstring formulas may scroll): opens collapsed
    # cells, so after the screenshot
    if source_nb.exists() or rel.name == "index.html":
        for line in page.evaluate(JS_CODE_WIDE):
            problems.append(f"a code line is wider than its box: {line.strip()[:80]!r}")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("html", type=Path)
    ap.add_argument("--screenshots", type=Path, default=None)
    args = ap.parse_args(argv)
    html = args.html.resolve()
    if not (html / "index.html").is_file():
        print(f"BROWSER CHECK FAILED: {html}/index.html does not exist (run `make book` first)", file=sys.stderr)
        return 1
    if not Path(CHROMIUM).exists():
        print(f"BROWSER CHECK FAILED: {CHROMIUM} not found: `apt-get install -y chromium` (.ci/run does)",
              file=sys.stderr)
        return 1
    shots = (args.screenshots or html.parent / "screenshots").resolve()
    shots.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    server = serve(html)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    offsite: list[str] = []
    failures: dict[str, list[str]] = {}
    t0 = time.perf_counter()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")

        def guard(route):  # nothing may leave 127.0.0.1: block and record it
            u = urlparse(route.request.url)
            if u.scheme in ("data", "blob", "about") or u.hostname == "127.0.0.1":
                route.continue_()
            else:
                offsite.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        all_pages = pages(html)
        for rel in all_pages:
            page = context.new_page()
            before = len(offsite)
            problems = check_page(page, base, rel, html, shots)
            problems += [f"request to a third-party host: {u}" for u in offsite[before:]]
            # a blocked off-site request also shows as a failed request / console error: report it once
            problems = [p for p in problems if not (offsite[before:] and ("ERR_FAILED" in p or "net::" in p))] \
                or problems
            page.close()
            status = "ok" if not problems else "FAIL"
            print(f"  {status:4} {rel}", flush=True)
            if problems:
                failures[str(rel)] = problems
        browser.close()
    server.shutdown()
    print(f"Browser check: {len(all_pages)} pages in {time.perf_counter() - t0:.0f} s; screenshots in {shots}")
    if failures:
        for rel, problems in failures.items():
            print(f"BROWSER CHECK FAILED on {rel}:", file=sys.stderr)
            for p in dict.fromkeys(problems):
                print(f"    {p}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
