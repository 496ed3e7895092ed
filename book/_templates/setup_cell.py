# Setup (the same first cell in every chapter): make the book's library `overparam`
# importable. Where it is missing (Colab, a downloaded notebook) it is installed from
# the book's repository; the URL is set with `make set-repository URL=...`.
REPOSITORY = "https://github.com/PLACEHOLDER-OWNER/tickets-or-escape-dimensions"
import importlib, importlib.util, subprocess, sys


class SetupError(Exception):
    # IPython shows this one sentence instead of a traceback
    def _render_traceback_(self):
        return [str(self)]


if importlib.util.find_spec("overparam") is None:
    if "PLACEHOLDER" in REPOSITORY:
        raise SetupError(
            "This chapter needs the book's library `overparam`, and the book's "
            "repository URL is not set yet: from a clone of the repository run "
            "`make env` (or `pip install -r requirements.txt -e lib`) and use that "
            "environment's kernel."
        )
    print("Installing the book's library from its repository (about a minute)...")
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            f"git+{REPOSITORY}#subdirectory=lib",
            "mnist1d==0.0.2.post1",
            "myst-nb==1.4.0",
        ],
        capture_output=True,
        text=True,
    )
    importlib.invalidate_caches()
    if pip.returncode != 0 or importlib.util.find_spec("overparam") is None:
        said = pip.stderr.strip().splitlines()[-1] if pip.stderr.strip() else "nothing"
        raise SetupError(
            f"Could not install the book's library from {REPOSITORY} "
            f"(pip said: {said})."
        )
if "google.colab" in sys.modules:
    # ipywidgets 8 controls need Colab's custom widget manager
    from google.colab import output

    output.enable_custom_widget_manager()
import overparam
