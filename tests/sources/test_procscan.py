"""``sources.procscan``: the one rule of every scan of ``/proc`` (the proxies' masters and edge
servers, the app servers, the PHP-FPM masters), on a ``/proc`` written here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from why502.sources import procscan


def _proc(root: Path, pid: int, comm: str, ppid: int, argv: list[str]) -> None:
    d = root / str(pid)
    d.mkdir(parents=True)
    # proc(5): "pid (comm) state ppid ..."; a comm may hold spaces and parentheses
    (d / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560\n")
    (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    _proc(tmp_path, 1, "init", 0, ["/sbin/init"])
    _proc(tmp_path, 40, "gunicorn", 1, ["/usr/bin/python3", "/usr/bin/gunicorn", "app:app"])
    _proc(tmp_path, 41, "gunicorn", 40, ["/usr/bin/python3", "/usr/bin/gunicorn", "app:app"])
    _proc(tmp_path, 7, "a (b) c", 1, ["odd"])
    (tmp_path / "self").mkdir()  # not a process
    return tmp_path


def test_every_process_lowest_first_without_the_list(proc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(procscan.PIDS_ENV, raising=False)
    assert procscan.pids(str(proc)) == [1, 7, 40, 41]


def test_the_list_takes_its_processes_and_their_children(proc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(procscan.PIDS_ENV, "40, 99")
    assert procscan.pids(str(proc)) == [40, 41]
    assert procscan.pids(str(proc), children=False) == [40]
    assert procscan.pids(str(proc), use_env=False) == [1, 7, 40, 41]


def test_stat_and_cmdline_as_the_kernel_writes_them(proc: Path) -> None:
    assert procscan.stat(7, str(proc)) == ("a (b) c", 1)
    assert procscan.parent_pid(41, str(proc)) == 40
    assert procscan.parent_pid(404, str(proc)) is None  # ended since the listing
    assert procscan.cmdline(40, str(proc)) == b"/usr/bin/python3\0/usr/bin/gunicorn\0app:app\0"
    assert procscan.cmdline(40, str(proc), 4) == b"/usr"


def test_an_unreadable_proc_is_no_process(tmp_path: Path) -> None:
    assert procscan.pids(str(tmp_path / "missing")) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="no /proc here")
def test_this_process_is_seen_in_the_real_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(procscan.PIDS_ENV, str(os.getppid()))
    assert os.getpid() in procscan.pids()  # a child of a listed process
    assert procscan.parent_pid(os.getpid()) == os.getppid()
