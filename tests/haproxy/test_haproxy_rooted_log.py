"""A HAProxy read through a root that is not ours logs inside that root (issue 31).

HAProxy logs through syslog; Debian's rsyslog rule writes ``/var/log/haproxy.log``.  For a
master in a container (``/proc/PID/root``) or a config tree named with a root, that path is the
container's file: reading this host's file of the same name would join another HAProxy's log
to this one's config.
"""

from __future__ import annotations

from pathlib import Path

from why502.app.diagnose.options import DiagnoseOptions
from why502.findings.model import Diagnostic
from why502.proxies import PROXIES
from why502.proxies.base import resolve

CFG = """\
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend web
    bind 127.0.0.1:8080
    default_backend app
backend app
    server a1 127.0.0.1:9001
"""


def _view(root: Path):  # type: ignore[no-untyped-def]
    read = resolve(PROXIES["haproxy"].hooks.diagnose_view)
    diags: list[Diagnostic] = []
    return read(DiagnoseOptions(config=str(root / "etc/haproxy/haproxy.cfg"), root=str(root),
                                offline=True), diags, {})  # type: ignore[operator]


def test_the_syslog_file_is_read_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "etc/haproxy").mkdir(parents=True)
    (tmp_path / "etc/haproxy/haproxy.cfg").write_text(CFG)
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / "var/log/haproxy.log").write_text("")
    assert _view(tmp_path).error_logs == [str(tmp_path / "var/log/haproxy.log")]


def test_no_log_inside_the_root_reads_nothing_of_this_host(tmp_path: Path) -> None:
    (tmp_path / "etc/haproxy").mkdir(parents=True)
    (tmp_path / "etc/haproxy/haproxy.cfg").write_text(CFG)
    assert _view(tmp_path).error_logs == []
