"""``watch --error-log`` alone follows that log only (issue 27, class 6).

On a host with nginx installed, ``watch --error-log error.log`` also followed the access log of
the host's own config; an access log followed means the ratio rule decides, so 2000 ``connect()
failed`` lines in the named error log opened no incident (the host's access log was quiet).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.clirun import why502
from tests.watch.test_watch_engine import access_line, error_line
from why502.app.watch.engine import Watch, WatchOptions
from why502.app.watch.incidents import Rules
from why502.findings.model import Diagnostic


def _host_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config standing for this host's own (/etc/nginx/nginx.conf, no nginx binary), whose
    access log holds only 200s."""
    from why502.proxies.nginx import source as nginx_source

    quiet = tmp_path / "host-access.log"
    quiet.write_text("")
    conf = tmp_path / "host-nginx.conf"
    conf.write_text(f"events {{}}\nhttp {{\n  access_log {quiet} combined;\n"
                    "  server { listen 127.0.0.1:8080; location / { proxy_pass http://127.0.0.1:9; } }\n}\n")
    monkeypatch.setattr(nginx_source, "DEFAULT_CONF", str(conf))
    monkeypatch.setattr(nginx_source, "find_nginx", lambda: None)
    return quiet


def test_error_log_alone_is_followed_alone_and_opens_the_incident(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    quiet = _host_conf(tmp_path, monkeypatch)
    error = tmp_path / "error.log"
    error.write_text("")
    events: list[dict[str, object]] = []
    notes: list[Diagnostic] = []
    w = Watch(WatchOptions(error_logs=[str(error)], offline=True, rules=Rules(window=60, min_failures=5)),
              events.append, notes.append)
    assert w.access_paths == [] and w.error_paths == [str(error)]
    w.step()
    with quiet.open("a") as a, error.open("a") as e:
        a.write(access_line(0, 200) * 50)  # the host's own traffic, fine
        e.write("".join(error_line(n) for n in range(2000)))
    while w.step():
        pass
    w.wait_diagnosis(120)
    assert [ev["event"] for ev in events][:1] == ["incident-opened"], (events, notes)


def test_discover_follows_the_hosts_config_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    quiet = _host_conf(tmp_path, monkeypatch)
    error = tmp_path / "error.log"
    error.write_text("")
    w = Watch(WatchOptions(error_logs=[str(error)], offline=True, discover=True),
              lambda _e: None, lambda _d: None)
    assert w.access_paths == [str(quiet)] and w.error_paths == [str(error)]


@pytest.mark.real
def test_with_the_installed_nginx_config_present(tmp_path: Path) -> None:
    """The reproduction through the CLI on a host where nginx is installed (its packaged
    /etc/nginx/nginx.conf names /var/log/nginx/access.log): the named error log alone opens the
    incident."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed")
    if not Path("/etc/nginx/nginx.conf").is_file():
        pytest.skip("nginx is installed without its packaged /etc/nginx/nginx.conf")
    error = tmp_path / "error.log"
    error.write_text("".join(error_line(n) for n in range(2000)))
    res = why502("watch", "--error-log", str(error), "--from-start", "--offline", "--listen", "off",
                 "--format", "jsonl", "--max-events", "1", "--duration", "90")
    assert res.returncode == 0, res.stderr
    assert '"incident-opened"' in res.stdout, (res.stdout, res.stderr)
    assert "/var/log/nginx/access.log" not in res.stderr
