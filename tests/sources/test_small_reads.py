"""Small files -- pid files, /proc entries, php-fpm.conf for its pid, watch's --rules -- are read
through one bounded reader (``sources.opening.read_small``): a FIFO or a device is refused without
being opened, and nothing past the bound is read."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import WHY502
from why502.sources.opening import read_small


def test_a_small_file_is_read(tmp_path: Path) -> None:
    pid = tmp_path / "nginx.pid"
    pid.write_text("4242\n")
    assert read_small(pid, encoding="ascii").strip() == "4242"
    assert read_small(f"/proc/{os.getpid()}/stat").startswith(str(os.getpid()))  # size 0, read whole


@pytest.mark.parametrize("kind", ["device", "fifo", "directory", "too-big"])
def test_what_is_not_a_small_file_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x"
    if kind == "device":
        path = Path("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)  # opening it would wait for a writer forever
    elif kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"1" * 70_000)
    with pytest.raises(OSError):
        read_small(path)


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_watch_rules_from_a_device_or_fifo_is_one_line(tmp_path: Path, target: str) -> None:
    rules = Path(target) if target.startswith("/") else tmp_path / target
    if not target.startswith("/"):
        os.mkfifo(rules)
    log = tmp_path / "error.log"
    log.write_text("")
    out = subprocess.run([WHY502, "watch", "--rules", str(rules), "--error-log", str(log),
                          "--listen", "off", "--duration", "5"],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                         check=False)
    assert out.returncode == 3, out.stderr
    assert "--rules" in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
