"""A config lint could not read whole is never "clean", and a symlink loop is said as one
(issue 27, class 7: round-1 leftovers)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.clirun import why502

BODY = "server { listen 80; location / { proxy_pass http://127.0.0.1:8080; } }"


def _conf(tmp_path: Path, include: str) -> Path:
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"events {{}}\nhttp {{\n  include {include};\n  {BODY}\n}}\n")
    return conf


def _loop(tmp_path: Path) -> Path:
    a, b = tmp_path / "loop-a.conf", tmp_path / "loop-b.conf"
    os.symlink(b.name, a)
    os.symlink(a.name, b)
    return a


@pytest.mark.parametrize("kind", ["device", "symlink-loop"])
def test_an_include_that_cannot_be_read_makes_lint_incomplete(tmp_path: Path, kind: str) -> None:
    """``include /dev/zero;`` once linted as "no findings", exit 0.  ``--host``: lint reads a named
    config's absolute includes from this machine only when asked (without it they are a note,
    "not read"); asked, an include that is there and cannot be read makes the check incomplete."""
    target = "/dev/zero" if kind == "device" else str(_loop(tmp_path))
    conf = _conf(tmp_path, target)
    res = why502("lint", "--config", str(conf), "--host")
    assert res.returncode == 3, (res.stdout, res.stderr)
    last = res.stdout.strip().splitlines()[-1]
    assert "INCOMPLETE: 1 included file(s) could not be read" in last, res.stdout
    assert target in res.stdout
    if kind == "symlink-loop":
        assert "symlink loop" in res.stdout and "no such file" not in res.stdout
    doc = json.loads(why502("lint", "--config", str(conf), "--host", "--format", "json").stdout)
    assert doc["complete"] is False
    sarif = json.loads(why502("lint", "--config", str(conf), "--host", "--format", "sarif").stdout)
    assert sarif["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_a_readable_config_is_complete(tmp_path: Path) -> None:
    extra = tmp_path / "extra.conf"
    extra.write_text("proxy_read_timeout 30s;\n")
    res = why502("lint", "--config", str(_conf(tmp_path, str(extra))), "--format", "json")
    assert res.returncode == 0 and json.loads(res.stdout)["complete"] is True, res.stderr


@pytest.mark.parametrize("argv", [
    ("stats", "{}"), ("render", "{}"), ("fix", "{}"), ("lint", "--config", "{}"),
    ("diagnose", "--offline", "--nginx-conf", "{}"), ("classify", "{}"),
])
def test_a_symlink_loop_is_never_no_such_file(tmp_path: Path, argv: tuple[str, ...]) -> None:
    loop = str(_loop(tmp_path))
    res = why502(*(a.replace("{}", loop) for a in argv))
    assert res.returncode == 3, (res.stdout, res.stderr)
    (line,) = res.stderr.strip().splitlines()
    assert "symlink loop" in line.lower() or "too many levels of symbolic links" in line.lower(), line
    assert "no such file" not in line.lower(), line
