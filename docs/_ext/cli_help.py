"""``.. cli-help:: module`` renders the ``--help`` text of a scrcl script.

The text comes from ``build_parser().format_help()`` of ``scrcl.cli.<module>``, the parser
the script itself uses, so the page shows exactly what ``runSC.py --help`` prints.
"""
from __future__ import annotations

import importlib
import os

from docutils import nodes
from docutils.parsers.rst import Directive

#: the width the help text is wrapped to (argparse reads $COLUMNS)
WIDTH = "90"


def help_text(module: str) -> str:
    """``--help`` of ``scrcl.cli.<module>``'s parser."""
    parser = importlib.import_module(f"scrcl.cli.{module}").build_parser()
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        return parser.format_help()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


class CliHelp(Directive):
    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        text = help_text(self.arguments[0])
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def setup(app):
    app.add_directive("cli-help", CliHelp)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
