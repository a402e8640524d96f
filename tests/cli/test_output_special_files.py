"""``-o`` naming a device or a FIFO writes into it and never replaces it (subprocess).

Found on this project's own build machine: ``why502 classify big.log -o /dev/null`` (run as root,
as a benchmark does) renamed its temporary file over ``/dev/null``, which became a regular file;
tmux then failed to start ("daemon failed: No such device") and every program writing to
``/dev/null`` filled it.  The tests use a FIFO and a device node of their own in a temp dir, never
the host's ``/dev/null``, so a regression cannot break the machine that runs them.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from tests.support.clirun import why502


def test_output_to_a_fifo_is_written_into_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    proc = why502("diagnose", "--demo", "--format", "json", "-o", str(fifo))
    reader.join(timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced by a regular file"
    assert b'"findings"' in got[0]
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]  # no temporary file left beside it


def test_output_to_a_null_device_node_stays_a_device(tmp_path: Path) -> None:
    null = tmp_path / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        null.write_text("probe")  # a filesystem mounted nodev refuses to open it
    except (PermissionError, OSError):
        pytest.skip("cannot make or open a device node here (not root, or nodev)")
    proc = why502("diagnose", "--demo", "-o", str(null))
    assert proc.returncode == 1, proc.stderr
    assert stat.S_ISCHR(os.stat(null).st_mode), "the device was replaced by a regular file"
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


def test_a_regular_file_is_still_replaced_whole(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    out.write_text("old " * 10_000)
    proc = why502("diagnose", "--demo", "--format", "json", "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert out.read_text().lstrip().startswith("{") and "old old" not in out.read_text()
