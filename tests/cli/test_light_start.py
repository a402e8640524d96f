"""A light command imports only what it needs (issue 28 items 1 and 5: start-up by command).

The suite and every user pay a ``why502`` start for each run: ``--version``, ``explain`` and
``lint`` of an nginx config build no frame, so they must not import polars (~200 modules, a
quarter of a second of CPU), and a run builds only its own command's parser
(``cli.main._LazySubParsers``), so the other commands' ``cmd_*`` modules stay out.  The guard
is which modules a real start leaves in ``sys.modules`` (``python -m why502`` as the console
script runs, the names written at exit; ``-X importtime`` misses what
``importlib.import_module`` loads, as the commands and the proxies are), never a time: the
figures are in BENCHMARKS.md, "2026-11-25 (stop 44): start-up by command"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR

NGINX_CONF = FIXTURES_DIR / "recorded" / "backend-down-tcp" / "nginx.conf"
LIGHT = {
    "version": ["--version"],
    "explain": ["explain", "502"],
    "lint": ["lint", str(NGINX_CONF)],
}
# ``python -m why502 ARGV`` with the names in ``sys.modules`` written to a file at exit
PROBE = (
    "import atexit, json, runpy, sys\n"
    "out, sys.argv = sys.argv[1], ['why502', *sys.argv[2:]]\n"
    "atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(sys.modules))))\n"
    "runpy.run_module('why502', run_name='__main__', alter_sys=True)\n"
)


def _imported(argv: list[str], tmp_path: Path) -> tuple[int, set[str]]:
    """The exit code of ``why502 ARGV`` and every module its run imported."""
    out = tmp_path / "modules.json"
    res = subprocess.run([sys.executable, "-c", PROBE, str(out), *argv], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, NO_COLOR="1"))
    return res.returncode, set(json.loads(out.read_text()))


@pytest.mark.parametrize("name", sorted(LIGHT))
def test_light_command_imports_no_polars_nor_other_commands(name: str, tmp_path: Path) -> None:
    code, modules = _imported(LIGHT[name], tmp_path)
    assert code in (0, 1), code  # the command ran (lint: 1 = findings)
    assert "why502.cli.main" in modules  # the names were written
    assert not {m for m in modules if m.split(".")[0] == "polars"}
    commands = {m.rsplit(".", 1)[1] for m in modules if m.startswith("why502.cli.cmd_")}
    assert commands == ({f"cmd_{name}"} if name != "version" else set()), commands
