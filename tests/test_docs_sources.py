"""The documentation's sources, checked without building the site: what a user reads
names no issue number and tells no history of the work, the README stays a front page,
the tutorials are notebooks the build executes, the results page includes generated
blocks that exist, and the command-line reference is the scripts' own ``--help``."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from _shared_data import REPO

DOCS = REPO / "docs"
README = REPO / "README.md"
#: what a user document must not say: issue numbers and the history of the work
HISTORY = re.compile(r"\bissues? #?\d+|(?<![\w&])#\d{1,4}\b|\bsession \d+", re.IGNORECASE)
TUTORIALS = ("cell-types", "spatial-domains", "scanpy-workflow", "unknown-k")
INCLUDED_BLOCK = re.compile(r":start-after: <!-- report:([a-z0-9-]+) -->")

sys.path.insert(0, str(DOCS / "_ext"))


def user_documents() -> list[Path]:
    return [README] + sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


@pytest.mark.parametrize("path", user_documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_user_documents_name_no_issue_and_no_history(path):
    hits = [f"{i}: {line.strip()}" for i, line in enumerate(path.read_text().splitlines(), 1)
            if HISTORY.search(line)]
    assert not hits, hits


def test_the_history_pattern_catches_what_it_should():
    assert HISTORY.search("as issue 14 decided") and HISTORY.search("see #12")
    assert HISTORY.search("since session 7")
    assert not HISTORY.search("ARI 0.588 on 5 seeds; K = 13; colour #1f77b4")


def test_readme_is_a_front_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    assert "pip install -r requirements.txt && python runSC.py --dataset demo" in text
    assert "python -m pytest" in text
    for script in ("runSC.py", "runST.py", "draw_DEGs.py"):
        assert script in text
    assert "sphinx-build" in text and "docs/" in text


def test_tutorials_are_notebooks_executed_at_build_time():
    index = (DOCS / "tutorials" / "index.md").read_text()
    for name in TUTORIALS:
        text = (DOCS / "tutorials" / f"{name}.md").read_text()
        front = text.split("---", 2)[1]
        assert "file_format: mystnb" in front, name
        assert text.count("```{code-cell}") >= 2, name
        assert "500" in text, f"{name} should say that the published protocol trains longer"
        assert name in index, f"{name} is not in the tutorials' table of contents"
    conf = (DOCS / "conf.py").read_text()
    assert 'nb_execution_mode = "force"' in conf
    assert "nb_execution_raise_on_error = True" in conf


def test_results_page_includes_generated_blocks_that_exist():
    page = (DOCS / "results.md").read_text()
    names = INCLUDED_BLOCK.findall(page)
    assert "sc-summary" in names
    benchmarks = (REPO / "BENCHMARKS.md").read_text()
    for name in names:
        start = f"<!-- report:{name} -->"
        assert start in benchmarks, f"BENCHMARKS.md has no block {name}"
        block = benchmarks.split(start, 1)[1].split("<!-- /report -->", 1)[0]
        assert block.count("\n|") >= 2, f"block {name} of BENCHMARKS.md holds no table"


@pytest.mark.parametrize("module", ["sc", "st", "degs"])
def test_cli_reference_is_the_scripts_help(module):
    import importlib

    from cli_help import help_text

    parser = importlib.import_module(f"scrcl.cli.{module}").build_parser()
    text = help_text(module)
    options = [s for action in parser._actions for s in action.option_strings
               if s.startswith("--")]
    assert options and not [s for s in options if s not in text]
    cli_page = (DOCS / "cli.md").read_text()
    assert f"```{{cli-help}} {module}" in cli_page
