"""``Hooks.edits`` (issue 23): an analyzer says what to change as an intent (``facts.edits``) and
each proxy writes it in its own grammar (``proxies.render_edit``), or gives no diff.

Each renderer's diff is applied with ``patch -p1`` to a config a real program ran with
(tests/fixtures/recorded, tests/fixtures/recorded-proxies) and the real program's config test
(``nginx -t``, ``haproxy -c``, ``apache2 -t``) must accept the result: a diff that fails it is a
wrong fix.  The programs run on 127.0.0.1 configs in temp dirs, for their syntax check only.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.facts.edits import (
    CloseIdleBefore,
    KeepIdleConnections,
    Place,
    RaiseConnectionLimit,
    RaiseServerConnections,
    Route,
    SendServerName,
    SpeakProtocol,
)
from why502.facts.setting import Setting
from why502.proxies import PROXIES, Capability, render_edit

RECORDED = FIXTURES_DIR / "recorded"
HAP = FIXTURES_DIR / "recorded-proxies" / "haproxy"
APACHE = FIXTURES_DIR / "recorded-proxies" / "apache"


def _copy(src: Path, tmp: Path, name: str, edit: tuple[str, str] | None = None) -> Path:
    """The recorded config under ``tmp``, its ``/lab`` placeholder made real (its run, log and
    document directories exist, as the recorder's did)."""
    for sub in ("run", "logs", "www", "tmp"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    text = src.read_text().replace("/lab", str(tmp))
    if edit is not None:
        assert edit[0] in text
        text = text.replace(edit[0], edit[1], 1)
    path = tmp / name
    path.write_text(text)
    return path


def _files(path: Path) -> dict[str, tuple[str, ...]]:
    return {str(path): tuple(path.read_text().splitlines())}


def _line(path: Path, starts: str) -> int:
    return next(n for n, x in enumerate(path.read_text().splitlines(), 1) if x.strip().startswith(starts))


def _apply(diff: str | None, path: Path) -> str:
    assert diff is not None
    res = subprocess.run(["patch", "-p1", "-d", "/", "--batch", "--forward"], input=diff, text=True,
                         capture_output=True, check=False, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    return path.read_text()


def _check(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        pytest.skip(f"{argv[0]} is not installed")
    res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_catalog_proxy_renders_every_intent_the_analyzers_had_in_its_words() -> None:
    """nginx (``CATALOG_WORDING``) writes every intent it wrote before issue 23; a proxy whose
    config has no such edits renders nothing: the finding says the change in words."""
    [catalog] = [p for p in PROXIES.values() if p.can(Capability.CATALOG_WORDING)]
    conf = RECORDED / "backend-too-slow" / "nginx.conf"
    diff = render_edit(catalog.name, _files(conf), SendServerName(Route(Place(str(conf), 29))))
    assert diff is not None
    added = [x[1:].strip() for x in diff.splitlines()[2:] if x.startswith("+")]
    assert added == ["proxy_ssl_server_name on;"]
    without = [p.name for p in PROXIES.values() if not p.hooks.edits]
    sni = SendServerName(Route(Place(str(conf), 29)))
    assert without and render_edit(without[0], _files(conf), sni) is None


@pytest.mark.real
def test_nginx_keeps_and_closes_idle_connections_nginx_accepts_it(tmp_path: Path) -> None:
    """``keepalive 32;`` in the upstream block, then its ``keepalive_timeout`` below the
    backend's idle 2 s (``1000ms``): ``nginx -t`` accepts both."""
    conf = _copy(RECORDED / "all-upstreams-down" / "nginx.conf", tmp_path, "nginx.conf")
    up = _line(conf, "upstream app_cluster")
    text = _apply(render_edit("nginx", _files(conf), KeepIdleConnections(
        "app_cluster", Place(str(conf), up))), conf)
    assert "keepalive 32;" in text
    kl = _line(conf, "keepalive 32;")
    text = _apply(render_edit("nginx", _files(conf), CloseIdleBefore(
        "app_cluster", Place(str(conf), up), kl, None, 2.0)), conf)
    assert "keepalive_timeout 1000ms;" in text
    _check(["nginx", "-t", "-q", "-p", str(tmp_path), "-c", str(conf)])


@pytest.mark.real
def test_haproxy_server_maxconn_and_reuse_haproxy_accepts_them(tmp_path: Path) -> None:
    """``maxconn`` raised on the ``server`` line (configuration.txt 5.2); ``http-reuse never``
    and ``option httpclose`` in the backend turned back into HAProxy's defaults (4.2
    ``http-reuse``; 4 "HTTP connection modes"); ``haproxy -c`` accepts the result."""
    conf = _copy(HAP / "sq-queue-timeout.cfg", tmp_path, "haproxy.cfg",
                 ("\nbackend app\n", "\nbackend app\n    http-reuse never\n    option httpclose\n"))
    server = _line(conf, "server web1")
    text = _apply(render_edit("haproxy", _files(conf), RaiseServerConnections(
        Route(Place(str(conf), server)), 2)), conf)
    assert "server web1" in text and "maxconn 2" in text
    backend = _line(conf, "backend app")
    text = _apply(render_edit("haproxy", _files(conf), KeepIdleConnections(
        "app", Place(str(conf), backend))), conf)
    assert "http-reuse safe" in text and "option http-keep-alive" in text
    assert "http-reuse never" not in text and "httpclose" not in text
    # nothing left that turns reuse off: HAProxy reuses by default, no diff
    assert render_edit("haproxy", _files(conf), KeepIdleConnections("app", Place(str(conf), backend))) is None
    glob = _line(conf, "maxconn 100")
    text = _apply(render_edit("haproxy", _files(conf), RaiseConnectionLimit(
        Setting("100", str(conf), glob, False), 400)), conf)
    assert "maxconn 400" in text
    _check(["haproxy", "-c", "-q", "-f", str(conf)])


@pytest.mark.real
def test_apache_worker_parameters_apache_accepts_them(tmp_path: Path) -> None:
    """``disablereuse=Off`` where reuse was disabled, ``ttl=`` and ``max=`` on BalancerMember
    lines (mod_proxy.html worker parameters), ``enablereuse=on`` on a FastCGI ProxyPass
    (mod_proxy_fcgi.html), its scheme made ``http://`` for a backend that answers HTTP;
    ``apache2 -t`` accepts each result."""
    binary = shutil.which("apache2") or "/usr/sbin/apache2"
    first, second = "BalancerMember http://127.0.0.1:45261", "BalancerMember http://127.0.0.1:34735"
    conf = _copy(APACHE / "balancer-all-down.conf", tmp_path, "apache2.conf",
                 (first, f"{first} disablereuse=On"))
    members = tuple(Route(Place(str(conf), _line(conf, m))) for m in (first, second))
    group = Place(str(conf), members[0].place.line)
    keep = KeepIdleConnections("balancer://app", group, members)
    text = _apply(render_edit("apache", _files(conf), keep), conf)
    assert "disablereuse=Off" in text and "disablereuse=On" not in text
    text = _apply(render_edit("apache", _files(conf), CloseIdleBefore(
        "balancer://app", group, None, None, 5.0, members)), conf)
    assert text.count("ttl=4") == 2
    text = _apply(render_edit("apache", _files(conf), RaiseServerConnections(members[1], 20)), conf)
    assert "34735 ttl=4 max=20" in text
    _check([binary, "-t", "-f", str(conf)])

    fcgi = _copy(APACHE / "fcgi-refused.conf", tmp_path / "fcgi", "apache2.conf")
    route = Route(Place(str(fcgi), _line(fcgi, "ProxyPass /")), "fastcgi")
    text = _apply(render_edit("apache", _files(fcgi), KeepIdleConnections("x", route.place, (route,))), fcgi)
    assert "enablereuse=on" in text
    _check([binary, "-t", "-f", str(fcgi)])
    # the backend answered HTTP: the worker's URL says http:// (mod_proxy_http)
    fcgi_line = Place(str(fcgi), route.place.line)
    text = _apply(render_edit("apache", _files(fcgi), SpeakProtocol(fcgi_line, "http")), fcgi)
    assert "ProxyPass / http://127.0.0.1:" in text and "enablereuse=on" in text
    _check([binary, "-t", "-f", str(fcgi)])
    # a SetHandler backend has no worker line to carry a parameter: no diff
    sock = _copy(APACHE / "fcgi-socket-missing.conf", tmp_path / "sock", "apache2.conf")
    place = Place(str(sock), _line(sock, "ErrorLog"))
    keep = KeepIdleConnections("x", place, (Route(place, "fastcgi"),))
    assert render_edit("apache", _files(sock), keep) is None
