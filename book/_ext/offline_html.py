"""Sphinx extension (loaded from _config.yml): keep the HTML offline, its console clean.

- Drops sphinx-thebe's scripts. Jupyter Book always loads sphinx-thebe, whose inline
  configuration names a CDN (unpkg.com) and is emitted twice on every page (a
  "THEBE_JS_URL has already been declared" error). Live code runs in Binder or Colab
  instead (the launch buttons), so the book does not use thebe.
- Sets the theme's default colour mode (left empty, pydata-sphinx-theme logs a console
  error).
"""


def _drop_thebe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if scripts is None:
        return
    kept = [
        s
        for s in scripts
        if "sphinx-thebe" not in str(s)
        and "THEBE_JS_URL" not in str(getattr(s, "attributes", {}).get("body", ""))
    ]
    scripts[:] = kept


def _theme_defaults(app, config):
    context = dict(config.html_context or {})
    context.setdefault(
        "default_mode", "light"
    )  # read by pydata-sphinx-theme's layout.html
    config.html_context = context


def setup(app):
    app.connect("config-inited", _theme_defaults)
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
