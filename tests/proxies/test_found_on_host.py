"""Discovery asks every registered proxy the same question (issue 23: ``app.diagnose.proxies.
discovered()`` used to ask nginx's own source module, and the others for their config only).

Each proxy declares how it is found on a host (``Detection``: its program names on PATH, its
``sbin`` paths, its packaged configs); ``proxies.found_on_host`` reads those declarations on this
machine, where nginx, HAProxy, Apache httpd and Caddy are installed from their packages."""

from __future__ import annotations

import os
import shutil

import pytest

from why502 import proxies
from why502.app.diagnose import proxies as which
from why502.proxies import PROXIES, found_on_host, installed_binary, packaged_config


@pytest.mark.parametrize("name", list(PROXIES))
def test_each_proxy_is_asked_from_its_declaration(name: str) -> None:
    proxy = PROXIES[name]
    on_path = next((p for p in (shutil.which(b) for b in proxy.detection.programs) if p), None)
    in_sbin = next((p for p in proxy.detection.sbin if os.access(p, os.X_OK)), None)
    assert installed_binary(name) == (on_path or in_sbin)
    configs = proxy.detection.packaged_configs or (proxy.vocabulary.default_config,)
    assert packaged_config(name) == next((c for c in configs if os.path.exists(c)), None)
    assert found_on_host(name) == (installed_binary(name), packaged_config(name))


def test_the_installed_programs_of_this_host_are_found() -> None:
    """The programs the test machine has (the suite's real-program tests use them)."""
    for name, program in (("nginx", "nginx"), ("haproxy", "haproxy"), ("apache", "apache2")):
        if shutil.which(program) or os.path.exists(f"/usr/sbin/{program}"):
            assert installed_binary(name) is not None, name


def _host(monkeypatch: pytest.MonkeyPatch, found: dict[str, tuple[str | None, str | None]]) -> None:
    monkeypatch.setattr(which, "found_on_host", lambda name: found.get(name, (None, None)))


def test_the_default_proxy_wins_when_it_is_there_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    _host(monkeypatch, {proxies.DEFAULT: ("/usr/sbin/nginx", None), "haproxy": (None, "/etc/h.cfg")})
    assert which.discovered() == proxies.DEFAULT
    _host(monkeypatch, {proxies.DEFAULT: (None, "/etc/nginx/nginx.conf"), "apache": ("/x", "/y")})
    assert which.discovered() == proxies.DEFAULT


def test_a_packaged_config_then_a_binary_in_priority_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # HAProxy's packaged config outranks Apache's (Detection.priority), as before
    _host(monkeypatch, {"apache": (None, "/etc/apache2/apache2.conf"), "haproxy": (None, "/etc/h.cfg")})
    assert which.discovered() == "haproxy"
    # a config beats a binary alone: Apache configured, HAProxy only installed
    _host(monkeypatch, {"apache": (None, "/etc/apache2/apache2.conf"),
                        "haproxy": ("/usr/sbin/haproxy", None)})
    assert which.discovered() == "apache"
    # new: a proxy installed without its packaged config is found (was: the default's error)
    _host(monkeypatch, {"haproxy": ("/usr/sbin/haproxy", None)})
    assert which.discovered() == "haproxy"
    _host(monkeypatch, {})
    assert which.discovered() == proxies.DEFAULT
