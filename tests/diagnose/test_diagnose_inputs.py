"""One rule for the inputs of ``why502 diagnose``.

A file the user named with a flag that is missing or unreadable is a one-line error and exit 3:
the user asked for it, and going on without it could print a false "healthy".  A file why502
found by itself (logs named by the config, ...) that cannot be read is a note under the answer.

The unreadable half runs why502 without the right to read a chmod 000 copy: as ``nobody``
(``runuser``) when nobody can run this venv's interpreter, else as root with
CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH dropped from the bounding set (``setpriv``), so that the file
mode applies to root too; skipped when neither is possible (not root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR

RECORDED = FIXTURES_DIR / "recorded" / "keepalive-race"
WHY502 = [sys.executable, "-m", "why502"]
FLAGS = ("--nginx-conf", "--error-log", "--access-log", "--fpm-conf", "--fpm-log",
         "--kernel-log", "--app-log")


def _unprivileged() -> list[str] | None:
    """A command prefix that runs why502 without the right to read mode-000 files."""
    if os.geteuid() != 0:
        return None
    nobody = ["runuser", "-u", "nobody", "--"]
    if shutil.which("runuser") and subprocess.run(
            [*nobody, sys.executable, "-c", "import why502"], capture_output=True,
            timeout=60).returncode == 0:
        return nobody
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    if shutil.which("setpriv") and subprocess.run(
            [*drop, "cat", "/proc/self/status"], capture_output=True, timeout=60).returncode == 0:
        return drop
    return None


@pytest.fixture(scope="module")
def world() -> Iterator[Path]:
    """The recorded keepalive-race run plus FPM/kernel/app files, in a world-searchable dir."""
    root = Path(tempfile.mkdtemp(prefix="why502-inputs-", dir="/tmp"))
    try:
        os.chmod(root, 0o755)
        for name in ("nginx.conf", "error.log", "access.log"):
            text = (RECORDED / name).read_text(encoding="utf-8").replace("/lab/logs", str(root))
            (root / name).write_text(text, encoding="utf-8")
        (root / "www.conf").write_text("[www]\nlisten = 127.0.0.1:9\npm = static\n"
                                       "pm.max_children = 2\n", encoding="utf-8")
        (root / "php-fpm.log").write_text("[21-Nov-2026 21:18:40] NOTICE: ready to handle "
                                          "connections\n", encoding="utf-8")
        (root / "kern.log").write_text("", encoding="utf-8")
        (root / "app.log").write_text("started\n", encoding="utf-8")
        for f in root.iterdir():
            os.chmod(f, 0o644)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _args(world: Path, flag: str, path: str) -> list[str]:
    conf, err = str(world / "nginx.conf"), str(world / "error.log")
    if flag == "--nginx-conf":
        return ["--offline", "--nginx-conf", path, "--error-log", err]
    if flag == "--error-log":
        return ["--offline", "--nginx-conf", conf, "--error-log", path]
    return ["--offline", "--nginx-conf", conf, "--error-log", err, flag, path]


def _run(args: list[str], prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or []), *WHY502, "diagnose", *args], capture_output=True,
                          text=True, timeout=120, cwd="/tmp")


@pytest.mark.parametrize("flag", FLAGS)
def test_named_missing_file_is_an_error(world: Path, flag: str) -> None:
    missing = str(world / f"missing{flag}")
    r = _run(_args(world, flag, missing))
    assert r.returncode == 3, (r.returncode, r.stdout[-500:], r.stderr)
    assert missing in r.stderr and "no such file" in r.stderr.lower(), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("flag", FLAGS)
def test_named_unreadable_file_is_an_error(world: Path, flag: str) -> None:
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("needs root (to run why502 without the right to read a chmod 000 file)")
    source = {"--nginx-conf": "nginx.conf", "--error-log": "error.log",
              "--access-log": "access.log", "--fpm-conf": "www.conf",
              "--fpm-log": "php-fpm.log", "--kernel-log": "kern.log",
              "--app-log": "app.log"}[flag]
    locked = world / f"locked{flag}"
    shutil.copy(world / source, locked)
    os.chmod(locked, 0)
    try:
        r = _run(_args(world, flag, str(locked)), prefix)
    finally:
        locked.unlink()
    assert r.returncode == 3, (r.returncode, r.stdout[-500:], r.stderr)
    assert str(locked) in r.stderr and "permission denied" in r.stderr.lower(), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_discovered_missing_log_is_a_note(world: Path, tmp_path: Path) -> None:
    """The config names an access log that is not there: a note, the diagnosis goes on."""
    conf = world / "nginx-missing-access.conf"
    conf.write_text((world / "nginx.conf").read_text().replace(
        str(world / "access.log"), str(world / "gone.log")))
    try:
        r = _run(["--offline", "--nginx-conf", str(conf), "--format", "json"])
    finally:
        conf.unlink()
    assert r.returncode == 1, (r.returncode, r.stderr)
    doc = json.loads(r.stdout)
    assert doc["findings"][0]["cause"] == "keepalive-race"
    assert any(str(world / "gone.log") in d["message"] for d in doc["diagnostics"]), doc["diagnostics"]


def test_discovered_unreadable_logs_are_notes(world: Path) -> None:
    """The config's access log cannot be read: a note; its error log still gives the cause."""
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("needs root (to run why502 without the right to read a chmod 000 file)")
    locked = world / "access-locked.log"
    shutil.copy(world / "access.log", locked)
    os.chmod(locked, 0)
    conf = world / "nginx-locked-access.conf"
    conf.write_text((world / "nginx.conf").read_text().replace(str(world / "access.log"),
                                                               str(locked)))
    os.chmod(conf, 0o644)
    try:
        r = _run(["--offline", "--nginx-conf", str(conf), "--format", "json"], prefix)
    finally:
        locked.unlink()
        conf.unlink()
    assert r.returncode == 1, (r.returncode, r.stderr)
    doc = json.loads(r.stdout)
    assert doc["findings"][0]["cause"] == "keepalive-race"
    notes = [d["message"] for d in doc["diagnostics"]]
    assert any(str(locked) in m and "permission denied" in m.lower() for m in notes), notes


ALB_502 = ('http 2026-11-21T10:00:0{s}.000000Z app/lb/1 192.0.2.7:4431 10.0.0.5:8080 0.000 0.001 -1 502 '
           '- 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/8" - - '
           'arn:aws:elasticloadbalancing:us-east-2:1:targetgroup/web/73e2 "Root=1-1" "-" "-" 0 '
           '2026-11-21T10:00:0{s}.000000Z "forward" "-" "-" "10.0.0.5:8080" "-" "-" "-"\n')


@pytest.mark.parametrize("flag", FLAGS)
def test_named_folder_without_what_the_flag_reads_is_an_error(world: Path, tmp_path: Path, flag: str) -> None:
    """A directory is read by two flags only (``--access-log``: a load balancer's log tree,
    ``--fpm-conf``: a folder of pools); one holding none of that, or a directory given to a flag
    that reads one file, is exit 3 naming it -- it was a warning under "healthy", exit 0."""
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("nothing a proxy wrote\n", encoding="utf-8")
    r = _run(_args(world, flag, str(folder)))
    assert r.returncode == 3, (r.returncode, r.stdout[-500:], r.stderr)
    assert str(folder) in r.stderr and "directory" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    r = _run(["--kernel-log" if flag != "--kernel-log" else "--app-log", str(folder)])
    assert r.returncode == 3 and "directory" in r.stderr, (r.returncode, r.stdout[-500:], r.stderr)


def test_named_folders_that_hold_what_their_flag_reads_are_read(world: Path, tmp_path: Path) -> None:
    """The other side: an ALB log tree under ``--access-log`` and a pool folder under
    ``--fpm-conf`` are read, not refused."""
    tree = tmp_path / "AWSLogs" / "1" / "elasticloadbalancing" / "us-east-2"
    tree.mkdir(parents=True)
    (tree / "1_elasticloadbalancing_us-east-2_app.lb.1_20261121T1005Z_10.0.0.1_x.log").write_text(
        "".join(ALB_502.format(s=s) for s in range(6)), encoding="utf-8")
    r = _run(["--access-log", str(tmp_path / "AWSLogs"), "--format", "json"])
    assert r.returncode == 1, (r.returncode, r.stdout[-800:], r.stderr)
    assert json.loads(r.stdout)["findings"], r.stdout[-800:]
    pools = tmp_path / "pool.d"
    pools.mkdir()
    shutil.copy(world / "www.conf", pools / "www.conf")
    r = _run([*_args(world, "--fpm-conf", str(pools)), "--format", "json"])
    assert r.returncode in (0, 1), (r.returncode, r.stdout[-800:], r.stderr)
