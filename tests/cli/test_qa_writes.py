"""Nothing overwritten, nothing started when read-only: ``-o`` never replaces an input (compared
by inode, so a symlink or a hard link is caught), writes are atomic, ``--offline`` starts no
process (not even ``nginx -T``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.clirun import why502
from tests.support.paths import FIXTURES_DIR

HOSTILE = FIXTURES_DIR / "hostile"


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    for name in ("error.log", "nginx.conf"):
        shutil.copy(HOSTILE / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
@pytest.mark.parametrize("victim", ["error.log", "nginx.conf"])
def test_diagnose_refuses_to_write_over_an_input(inputs: Path, how: str, victim: str) -> None:
    before = (inputs / victim).read_bytes()
    out = inputs / victim
    if how == "symlink":
        out = inputs / "report.json"
        out.symlink_to(inputs / victim)
    elif how == "hardlink":
        out = inputs / "report.json"
        os.link(inputs / victim, out)
    res = why502("diagnose", "--offline", "--nginx-conf", str(inputs / "nginx.conf"),
                 "--error-log", str(inputs / "error.log"), "--format", "json", "-o", str(out))
    assert res.returncode == 2, res.stderr
    assert "input of this run" in res.stderr
    assert (inputs / victim).read_bytes() == before


def test_diagnose_refuses_an_included_config_found_by_itself(inputs: Path) -> None:
    (inputs / "extra.conf").write_text("# included\n")
    conf = (inputs / "nginx.conf").read_text().replace("events {}", "events {}\ninclude extra.conf;")
    (inputs / "nginx.conf").write_text(conf)
    res = why502("diagnose", "--offline", "--nginx-conf", str(inputs / "nginx.conf"),
                 "--error-log", str(inputs / "error.log"), "-o", str(inputs / "extra.conf"))
    assert res.returncode == 2, res.stderr
    assert (inputs / "extra.conf").read_text() == "# included\n"


def test_render_refuses_the_report_it_renders_and_writes_whole_files(inputs: Path) -> None:
    report = inputs / "report.json"
    res = why502("diagnose", "--offline", "--nginx-conf", str(inputs / "nginx.conf"),
                 "--error-log", str(inputs / "error.log"), "-o", str(report))
    assert res.returncode == 1, res.stderr
    saved = report.read_bytes()
    res = why502("render", str(report), "--format", "markdown", "-o", str(report))
    assert res.returncode == 2 and report.read_bytes() == saved
    md = inputs / "report.md"
    md.write_text("x" * 1_000_000)  # a longer old file: nothing of it may remain
    res = why502("render", str(report), "-o", str(md))
    assert res.returncode == 1, res.stderr
    assert not md.read_text().endswith("x" * 10)
    assert [p.name for p in inputs.iterdir() if p.name.startswith(".why502-")] == []


def test_offline_starts_no_nginx(tmp_path: Path) -> None:
    """``--offline`` without ``--nginx-conf``: ``nginx -T`` is a process, and as root it creates
    logs and directories; offline must not run it."""
    marker = tmp_path / "nginx-ran"
    fake = tmp_path / "bin" / "nginx"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    shutil.copy(HOSTILE / "error.log", tmp_path / "error.log")
    env = {"PATH": f"{fake.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    res = why502("diagnose", "--offline", "--error-log", str(tmp_path / "error.log"), env=env)
    assert res.returncode in (0, 1), res.stderr
    assert not marker.exists()
