"""Every registered proxy x every intent of ``facts.edits``: written, or declared unwritten.

What a proxy cannot write is a declared capability (``proxies.writable_intents``: the intents its
edit module's ``RENDERERS`` holds, ``Hooks.edits``), not a branch in an analyzer (issue 23).  For
each pair this test either

- renders the intent on a config a real program ran with (tests/fixtures/recorded,
  tests/fixtures/recorded-proxies), applies the diff with ``patch -p1`` to a temp copy and runs the
  real program's config test on it (``nginx -t``, ``haproxy -c``, ``apache2 -t``): a diff that
  fails it is a wrong fix; or
- checks the proxy renders nothing for it and an analyzer's fix then says so in one neutral
  sentence (``analyzers.base.edit``) instead of no word or nginx's statement.

A renderer added without a case here fails :func:`test_every_written_intent_has_a_case`.
Programs run on 127.0.0.1 configs in temp dirs, for their syntax check only.
"""

from __future__ import annotations

import shutil
import subprocess
import typing
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.evidence import evidence
from tests.support.paths import FIXTURES_DIR
from why502.analyzers.base import edit
from why502.facts.edits import (
    AddResolver,
    CloseIdleBefore,
    Intent,
    KeepIdleConnections,
    Place,
    RaiseConnectionLimit,
    RaiseHeaderBuffer,
    RaiseOpenFiles,
    RaiseServerConnections,
    ReturnServers,
    ReuseConnections,
    Route,
    SendServerName,
    ServerMarks,
    SpeakProtocol,
    TolerateFailures,
)
from why502.facts.setting import Setting
from why502.proxies import PROXIES, render_edit, writable_intents
from why502.proxies.envoy.lab import find_envoy

INTENTS: tuple[type, ...] = typing.get_args(Intent)
NGINX_CONF = FIXTURES_DIR / "recorded" / "all-upstreams-down" / "nginx.conf"
HAP = FIXTURES_DIR / "recorded-proxies" / "haproxy" / "sq-queue-timeout.cfg"
APA = FIXTURES_DIR / "recorded-proxies" / "apache"
CFD = FIXTURES_DIR / "public" / "cloudflared" / "issue-742-config.yml"  # no recorded one: no binary here
ENVOY_YAML = FIXTURES_DIR / "recorded" / "envoy-keepalive-race" / "envoy.yaml"
CADDYFILE = FIXTURES_DIR / "recorded" / "caddy-keepalive-race" / "Caddyfile"

Build = Callable[[Path, list[str]], Intent]
Check = Callable[[Path, Path], list[str]]


def _line(lines: list[str], starts: str) -> int:
    return next(n for n, x in enumerate(lines, 1) if x.strip().startswith(starts))


def _nginx_t(conf: Path, root: Path) -> list[str]:
    return ["nginx", "-t", "-q", "-p", str(root), "-c", str(conf)]


def _haproxy_c(conf: Path, _root: Path) -> list[str]:
    return ["haproxy", "-c", "-q", "-f", str(conf)]


def _apache_t(conf: Path, _root: Path) -> list[str]:
    return [shutil.which("apache2") or "/usr/sbin/apache2", "-t", "-f", str(conf)]


def _cloudflared_validate(conf: Path, _root: Path) -> list[str]:
    """cloudflared's own check of a config's ingress rules (ingress_subcommands.go "validate")."""
    return ["cloudflared", "tunnel", "--config", str(conf), "ingress", "validate"]


def _envoy_validate(conf: Path, _root: Path) -> list[str]:
    """Envoy's own check of a bootstrap (docs/root/operations/cli.rst ``--mode validate``)."""
    return [find_envoy() or "envoy", "--mode", "validate", "-c", str(conf), "-l", "error"]


def _caddy_validate(conf: Path, _root: Path) -> list[str]:
    """Caddy's own check of a Caddyfile (``caddy validate``: adapts and provisions it)."""
    return ["caddy", "validate", "--config", str(conf), "--adapter", "caddyfile"]


def _route(p: Path, lines: list[str], starts: str, kind: str = "proxy") -> Route:
    return Route(Place(str(p), _line(lines, starts)), kind)


def _setting(p: Path, lines: list[str], name: str) -> Setting:
    n = _line(lines, name)
    return Setting(lines[n - 1].split()[1].rstrip(";"), str(p), n, False)


def _up(p: Path, lines: list[str]) -> Place:
    return Place(str(p), _line(lines, "upstream app_cluster"))


def _servers(p: Path, lines: list[str]) -> tuple[Place, ...]:
    return tuple(Place(str(p), n) for n, x in enumerate(lines, 1) if x.strip().startswith("server 127."))


_KEEPALIVE = ("    upstream app_cluster {\n", "    upstream app_cluster {\n        keepalive 8;\n")
_REUSE_OFF = ("\nbackend app\n", "\nbackend app\n    http-reuse never\n")
_BALANCER = ("BalancerMember http://127.0.0.1:45261", "BalancerMember http://127.0.0.1:45261 disablereuse=On")


def _members(p: Path, lines: list[str]) -> tuple[Route, ...]:
    return tuple(Route(Place(str(p), n)) for n, x in enumerate(lines, 1)
                 if x.strip().startswith("BalancerMember"))


#: a case: (the fixture, the file name of its copy, a text edit before (old, new) or None, the
#: intent built from the copy's path and its lines, the config test's argv of the copy and its dir)
CASES: dict[tuple[str, type], tuple[Path, str, tuple[str, str] | None, Build, Check]] = {
    # nginx: ngx_http_upstream_module, ngx_http_proxy_module, ngx_core_module
    ("nginx", KeepIdleConnections): (NGINX_CONF, "nginx.conf", None, lambda p, ls: KeepIdleConnections(
        "app_cluster", _up(p, ls), (_route(p, ls, "proxy_pass"),)), _nginx_t),
    ("nginx", ReuseConnections): (NGINX_CONF, "nginx.conf", None, lambda p, ls: ReuseConnections(
        _route(p, ls, "proxy_pass"), http11=True, clear_connection=True), _nginx_t),
    ("nginx", CloseIdleBefore): (NGINX_CONF, "nginx.conf",
                                 _KEEPALIVE, lambda p, ls: CloseIdleBefore(
                                     "app_cluster", _up(p, ls), _line(ls, "keepalive 8"), None, 2.0),
                                 _nginx_t),
    ("nginx", RaiseHeaderBuffer): (NGINX_CONF, "nginx.conf", None, lambda p, ls: RaiseHeaderBuffer(
        _route(p, ls, "proxy_pass"), None, 16384), _nginx_t),
    ("nginx", SendServerName): (NGINX_CONF, "nginx.conf", None, lambda p, ls: SendServerName(
        _route(p, ls, "proxy_pass")), _nginx_t),
    ("nginx", AddResolver): (NGINX_CONF, "nginx.conf", None, lambda p, ls: AddResolver(
        _route(p, ls, "proxy_pass"), "127.0.0.53"), _nginx_t),
    ("nginx", RaiseConnectionLimit): (NGINX_CONF, "nginx.conf", None, lambda p, ls: RaiseConnectionLimit(
        _setting(p, ls, "worker_connections"), 256), _nginx_t),
    ("nginx", RaiseOpenFiles): (NGINX_CONF, "nginx.conf", None, lambda p, _ls: RaiseOpenFiles(str(p)),
                                _nginx_t),
    ("nginx", SpeakProtocol): (NGINX_CONF, "nginx.conf", None, lambda p, ls: SpeakProtocol(
        _route(p, ls, "proxy_pass").place, "tls"), _nginx_t),
    ("nginx", ReturnServers): (NGINX_CONF, "nginx.conf", (" max_fails=1 fail_timeout=30s;", " down;"),
                               lambda p, ls: ReturnServers(_servers(p, ls)[:1]), _nginx_t),
    ("nginx", TolerateFailures): (NGINX_CONF, "nginx.conf", None, lambda p, ls: TolerateFailures(tuple(
        ServerMarks(place, 3, 10.0) for place in _servers(p, ls))), _nginx_t),
    # HAProxy: configuration.txt 5.2 (server maxconn), 3.2 (global maxconn), 4.2 (http-reuse)
    ("haproxy", KeepIdleConnections): (HAP, "haproxy.cfg", _REUSE_OFF, lambda p, ls: KeepIdleConnections(
        "app", Place(str(p), _line(ls, "backend app"))), _haproxy_c),
    ("haproxy", RaiseServerConnections): (HAP, "haproxy.cfg", None, lambda p, ls: RaiseServerConnections(
        _route(p, ls, "server web1"), 2), _haproxy_c),
    ("haproxy", RaiseConnectionLimit): (HAP, "haproxy.cfg", None, lambda p, ls: RaiseConnectionLimit(
        _setting(p, ls, "maxconn 100"), 400), _haproxy_c),
    # Apache: mod_proxy.html worker parameters (disablereuse, ttl, max), mod_proxy_fcgi (the scheme)
    ("apache", KeepIdleConnections): (APA / "balancer-all-down.conf", "apache2.conf", _BALANCER,
                                      lambda p, ls: KeepIdleConnections(
                                          "balancer://app", _members(p, ls)[0].place, _members(p, ls)),
                                      _apache_t),
    ("apache", CloseIdleBefore): (APA / "balancer-all-down.conf", "apache2.conf", None,
                                  lambda p, ls: CloseIdleBefore(
                                      "balancer://app", _members(p, ls)[0].place, None, None, 5.0,
                                      _members(p, ls)),
                                  _apache_t),
    # cloudflared: the rule's originRequest.keepAliveTimeout (ingress/origin_service.go IdleConnTimeout)
    ("cloudflared", CloseIdleBefore): (CFD, "config.yml", None, lambda p, ls: CloseIdleBefore(
        "http://localhost:8080", Place(str(p), _line(ls, "- hostname")), None, None, 5.0,
        (Route(Place(str(p), _line(ls, "- hostname"))),)), _cloudflared_validate),
    # Envoy: the cluster's common_http_protocol_options.idle_timeout (core/v3/protocol.proto)
    ("envoy", CloseIdleBefore): (ENVOY_YAML, "envoy.yaml", None, lambda p, ls: CloseIdleBefore(
        "api", Place(str(p), _line(ls, "- name: api")), None, None, 2.0,
        (Route(Place(str(p), _line(ls, "- name: api"))),)), _envoy_validate),
    # Caddy: keepalive in reverse_proxy's transport http (reverseproxy/httptransport.go KeepAlive)
    ("caddy", CloseIdleBefore): (CADDYFILE, "Caddyfile", None, lambda p, ls: CloseIdleBefore(
        "127.0.0.1:33703", Place(str(p), _line(ls, "reverse_proxy 127.0.0.1:33703")), None, None, 5.0,
        (Route(Place(str(p), _line(ls, "reverse_proxy 127.0.0.1:33703"))),)), _caddy_validate),
    ("apache", RaiseServerConnections): (APA / "balancer-all-down.conf", "apache2.conf", None,
                                         lambda p, ls: RaiseServerConnections(_members(p, ls)[1], 20),
                                         _apache_t),
    ("apache", SpeakProtocol): (APA / "fcgi-refused.conf", "apache2.conf", None, lambda p, ls: SpeakProtocol(
        _route(p, ls, "ProxyPass /").place, "http"), _apache_t),
}


def _copy(src: Path, tmp: Path, name: str, change: tuple[str, str] | None) -> Path:
    """The recorded config under ``tmp`` with its ``/lab`` placeholder made real."""
    for sub in ("run", "logs", "www", "tmp"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    text = src.read_text().replace("/lab", str(tmp))
    if change is not None:
        assert change[0] in text, change
        text = text.replace(change[0], change[1], 1)
    path = tmp / name
    path.write_text(text)
    return path


PAIRS = [(name, intent) for name in PROXIES for intent in INTENTS]


def test_the_intents_are_the_twelve_of_facts_edits() -> None:
    assert len(INTENTS) == 12 and ServerMarks not in INTENTS


def test_every_written_intent_has_a_case() -> None:
    """A proxy's declared intents are exactly the cases here (a new renderer brings its case)."""
    written = {(name, intent) for name, intent in PAIRS if intent in writable_intents(name)}
    assert written == set(CASES)


@pytest.mark.real
@pytest.mark.parametrize(("name", "intent"), PAIRS, ids=[f"{n}-{i.__name__}" for n, i in PAIRS])
def test_each_intent_is_written_and_accepted_or_declared_unwritten(name: str, intent: type,
                                                                   tmp_path: Path) -> None:
    if intent not in writable_intents(name):
        # a config of the proxy's own kind gives no diff, and the fix says so in words
        sample = _sample(intent, tmp_path)
        assert render_edit(name, {str(tmp_path / "x.conf"): ("a", "b")}, sample) is None
        diff, notes = edit(evidence(proxy=name), sample, "do it by hand")
        title = PROXIES[name].vocabulary.title
        said = f"why502 writes no {title} config change for this; by hand: do it by hand"
        assert diff is None and notes == [said]
        return
    src, file_name, change, build, check = CASES[(name, intent)]
    conf = _copy(src, tmp_path, file_name, change)
    built = build(conf, conf.read_text().splitlines())
    assert isinstance(built, intent)
    diff = render_edit(name, {str(conf): tuple(conf.read_text().splitlines())}, built)
    assert diff is not None, f"{name} declares {intent.__name__} but wrote nothing"
    res = subprocess.run(["patch", "-p1", "-d", "/", "--batch", "--forward"], input=diff, text=True,
                         capture_output=True, check=False, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    argv = check(conf, tmp_path)
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        pytest.skip(f"{argv[0]} is not installed")
    res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert res.returncode == 0, diff + res.stdout + res.stderr


def _sample(intent: type, tmp: Path) -> Intent:
    """Any instance of ``intent`` (an unwritten one is refused for its kind, not its fields)."""
    place = Place(str(tmp / "x.conf"), 1)
    route = Route(place)
    setting = Setting("1", place.file, 1, False)
    samples: dict[type, Intent] = {
        KeepIdleConnections: KeepIdleConnections("g", place, (route,)),
        ReuseConnections: ReuseConnections(route, http11=True),
        CloseIdleBefore: CloseIdleBefore("g", place, 1, setting, 2.0, (route,)),
        RaiseHeaderBuffer: RaiseHeaderBuffer(route, setting, 16384),
        SendServerName: SendServerName(route), AddResolver: AddResolver(route, "127.0.0.53"),
        RaiseConnectionLimit: RaiseConnectionLimit(setting, 4),
        RaiseOpenFiles: RaiseOpenFiles(place.file or ""),
        RaiseServerConnections: RaiseServerConnections(route, 4), SpeakProtocol: SpeakProtocol(place, "http"),
        ReturnServers: ReturnServers((place,)),
        TolerateFailures: TolerateFailures((ServerMarks(place, 3, 10.0),)),
    }
    return samples[intent]
