"""Every ``cli/cmd_*.py`` only parses its arguments, calls ``app`` and hands the result to a
reporter (issue 23, item 5; docs/architecture.md, "reporters").

Before, the text of classify, explain, causes, fleet, fix and watch was drawn beside the
commands (12 text-rendering paths, 4 in ``reporters/``).  An AST walk of each command module
fails on what drawing a result there looks like:

- a call of a ``.print`` method (``console.print(...)``, rich's way to draw);
- an import of rich other than ``rich.progress`` and ``rich.console`` (the progress bars that
  ``stats`` and ``classify`` draw on standard error while reading; not a result);
- a function named like a renderer (``render*``, ``_render*``, ``*_text``, ``print_*``)
  that does not hand its work to ``why502.reporters``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[2] / "src" / "why502" / "cli"
COMMANDS = sorted(CLI.glob("cmd_*.py"))
RICH_ALLOWED = {"rich.progress", "rich.console"}
RENDERER_NAME = re.compile(r"^_?render|_text$|^print_")


def _delegates(fn: ast.FunctionDef) -> bool:
    """The function imports from ``why502.reporters`` (and so hands the drawing to it)."""
    return any(isinstance(node, ast.ImportFrom)
               and ((node.module or "").startswith("why502.reporters")
                    or (node.module == "why502" and any(a.name == "reporters" for a in node.names)))
               for node in ast.walk(fn))


def offences(source: str) -> list[str]:
    """What in ``source`` (a command module) draws a result itself, one line each."""
    tree = ast.parse(source)
    found: list[str] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "print"):
            found.append(f"line {node.lineno}: .print() call")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rich":
            if node.module not in RICH_ALLOWED:
                found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] == "rich" and a.name not in RICH_ALLOWED]
        elif (isinstance(node, ast.FunctionDef) and RENDERER_NAME.search(node.name)
              and not _delegates(node)):
            found.append(f"line {node.lineno}: def {node.name} draws a result itself")
    return sorted(found, key=lambda f: int(f.split()[1].rstrip(":")))


def test_there_are_commands() -> None:
    assert len(COMMANDS) >= 10, COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: p.name)
def test_a_command_draws_no_result_itself(path: Path) -> None:
    assert offences(path.read_text(encoding="utf-8")) == [], (
        f"{path.name}: render results in why502.reporters.<format> (render(result, options))")


def test_the_check_catches_a_command_that_draws() -> None:
    drawn = '''
from rich.table import Table

def render_summary(summary, top):
    from rich.console import Console
    console = Console()
    console.print(Table(title="x"))

def _render(result):
    from why502.reporters import render
    return render("text", result)
'''
    assert offences(drawn) == ["line 2: from rich.table import ...",
                               "line 4: def render_summary draws a result itself",
                               "line 7: .print() call"]
