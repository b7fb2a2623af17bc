"""Sphinx configuration of the scrcl documentation.

Why Sphinx + MyST + myst-nb + furo: scanpy, scvi-tools and squidpy, the packages scrcl
sits beside, build their sites the same way, so a reader finds the same layout; autodoc
renders the API reference from the docstrings in the code, so it cannot drift from it;
myst-nb executes the tutorials (MyST notebooks in plain ``.md``) at every build, so each
figure on a page is what the current code draws; furo is a plain, readable theme.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (warnings are
errors). The tutorials read the shared stand-in data from ``$SCRCL_SHARED_DATA`` or
``../shared/data`` beside the repository.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path[:0] = [str(REPO), str(DOCS / "_ext")]
# the notebooks' kernels import scrcl from the repository, whatever is installed
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
os.environ.setdefault("SCRCL_SHARED_DATA", str(REPO.parent / "shared" / "data"))
# one or two threads: the tutorials run beside other work on small machines
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle threads sleep (scrcl.cli does the same)

import scrcl  # noqa: E402

project = "scrcl"
author = "the scrcl authors"
copyright = "2026, the scrcl authors"
version = release = scrcl.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "cli_help",
]

exclude_patterns = ["_build", "README.md", "requirements.txt", "Thumbs.db", ".DS_Store",
                    "jupyter_execute"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# MyST
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3

# myst-nb: execute every tutorial at build time; a failing cell fails the build
nb_execution_mode = "force"
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# library notices on stderr (progress-bar and deprecation warnings) are not for the reader
nb_output_stderr = "remove"

# API reference
autosummary_generate = True
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_mock_imports: list[str] = []
napoleon_numpy_docstring = True
napoleon_google_docstring = False
nitpicky = False

html_theme = "furo"
html_title = f"scrcl {release}"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
html_show_sourcelink = False
