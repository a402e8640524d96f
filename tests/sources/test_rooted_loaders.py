"""Apache's and HAProxy's loaders under a root that is not ours (``parsers.rooted``): what the
real-namespace tests (``tests/diagnose/test_diagnose_container_others_real.py``) cannot vary
cheaply -- a standard stream as ErrorLog, a socket address, ``-f`` arguments."""

from __future__ import annotations

from pathlib import Path

from why502.parsers.rooted import proc_root, under_root
from why502.proxies.apache.config import load_apache
from why502.proxies.haproxy.config import load_haproxy
from why502.sources.proxyprocs import describe


def test_proc_root_is_only_a_process_root() -> None:
    assert proc_root("/proc/42/root/etc/apache2/apache2.conf") == "/proc/42/root"
    assert proc_root("/proc/42/cwd/x") is None
    assert proc_root("/etc/apache2/apache2.conf") is None
    assert under_root(None, "/etc/x") == "/etc/x"


def test_apache_under_a_root_reads_its_files_and_skips_its_standard_streams(tmp_path: Path) -> None:
    """The official httpd image logs to ``/proc/self/fd/2``: through ``/proc/PID/root`` that
    would be *our* standard error; it is a note, and ServerRoot/ErrorLog are taken in the root."""
    etc = tmp_path / "etc" / "httpd"
    (etc / "conf.d").mkdir(parents=True)
    (etc / "conf.d" / "app.conf").write_text("ErrorLog /var/log/httpd/app.log\n")
    (etc / "httpd.conf").write_text("ServerRoot /etc/httpd\nErrorLog /proc/self/fd/2\n"
                                    "Include conf.d/*.conf\n")
    cfg = load_apache(str(etc / "httpd.conf"), root=str(tmp_path))
    assert cfg.server_root == str(etc)
    assert cfg.files == [str(etc / "httpd.conf"), str(etc / "conf.d" / "app.conf")]
    assert cfg.error_logs == [str(tmp_path / "var/log/httpd/app.log")]
    assert any("ErrorLog /proc/self/fd/2 not read" in p for p in cfg.problems), cfg.problems
    # with no root, nothing changes: the stream is this process's (a log named on this host)
    plain = load_apache(str(etc / "httpd.conf"))
    assert "/proc/self/fd/2" in plain.error_logs and plain.problems == []


def test_haproxy_directory_under_a_root_and_its_socket(tmp_path: Path) -> None:
    d = tmp_path / "etc" / "haproxy" / "conf.d"
    d.mkdir(parents=True)
    (d / "20-be.cfg").write_text("backend app\n    server a 127.0.0.1:9\n")
    (d / "10-defaults.cfg").write_text("global\n    stats socket /run/haproxy/admin.sock level admin\n"
                                       "defaults\n    timeout server 7s\n")
    (d / "notes.txt").write_text("backend not_a_config\n")
    cfg = load_haproxy("/etc/haproxy/conf.d", root=str(tmp_path))
    assert cfg.files == [str(d / "10-defaults.cfg"), str(d / "20-be.cfg")]
    backend = cfg.backend("app")
    assert backend is not None and backend.effective("timeout server").value == "7s"  # across files
    assert cfg.stats_sockets == [str(tmp_path / "run/haproxy/admin.sock")]
    assert load_haproxy(str(d / "20-be.cfg")).stats_sockets == []


def test_haproxy_further_f_are_kept() -> None:
    p = describe("haproxy", 1, ["/usr/sbin/haproxy", "-W", "-f", "/etc/haproxy/a.cfg",
                                "-f", "/etc/haproxy/b"])
    assert (p.config, p.more_configs, p.master_worker) == ("/etc/haproxy/a.cfg", ("/etc/haproxy/b",), True)
