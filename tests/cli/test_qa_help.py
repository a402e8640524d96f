"""QA: every flag of every command says what it does in ``--help`` (subprocess)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

WHY502 = str(Path(sys.executable).with_name("why502"))
COMMANDS = ["diagnose", "classify", "explain", "causes", "stats", "lint", "render", "lab",
            "lab run", "lab check", "lab list"]


def test_top_level_help_lists_every_command() -> None:
    out = subprocess.run([WHY502, "--help"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    for command in ["diagnose", "classify", "explain", "causes", "stats", "lint", "render", "lab"]:
        assert re.search(rf"^\s+{command}\s+\S", out, re.M), command


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_a_description(command: str) -> None:
    out = subprocess.run([WHY502, *command.split(), "--help"], capture_output=True, text=True,
                         timeout=60, check=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
                         ).stdout
    lines = out.split("options:", 1)[1].split("\n\n", 1)[0].splitlines()
    bare = []
    for n, line in enumerate(lines):
        if not line.startswith("  -"):
            continue
        inline_help = re.search(r"\S {2,}\S", line.strip()) is not None
        next_is_help = n + 1 < len(lines) and lines[n + 1].startswith(" " * 8)
        if not (inline_help or next_is_help):
            bare.append(line.strip())
    assert not bare, f"why502 {command}: options without a description: {bare}"


def test_lab_help_states_its_own_exit_codes_only() -> None:
    """``lab run`` exits 0 when diagnose found the expected cause (findings and all): the generic
    "0 healthy / no findings, 1 findings" line appended under it contradicted that."""
    out = subprocess.run([WHY502, "lab", "--help"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    assert "0 when diagnose ranks the expected cause first" in out
    assert "1 findings" not in out, out


@pytest.mark.parametrize("command", ["diagnose", "classify", "stats", "lint", "render", "explain"])
def test_exit_codes_are_stated_once(command: str) -> None:
    out = subprocess.run([WHY502, command, "--help"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    assert len(re.findall(r"^exit( codes)?:", out, re.M)) == 1, out
