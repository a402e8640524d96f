"""Each backend's frontend and each server's settings come from one pass over the config (the
per-backend walk over every frontend line was quadratic: bench/config_scale.py measures it);
the answers are the walk's: the first frontend naming the backend, by ``default_backend`` (its
own or its defaults') or ``use_backend``, a ``listen`` section its own."""

from __future__ import annotations

from why502.proxies.haproxy.config import parse_haproxy_text
from why502.proxies.haproxy.facts import haproxy_facts

CFG = """\
defaults
    mode http
    timeout connect 5s
    timeout server 30s
    default_backend fallback
frontend first
    bind :80
    use_backend api if { path_beg /api }
    use_backend shared
frontend second
    bind :81
    default_backend shared
    use_backend web
    use_backend api
listen both
    bind :82
    server l1 127.0.0.1:7000
backend api
    timeout server 5s
    option redispatch
    server a1 127.0.0.1:8001 check
    server a2 127.0.0.1:8002 maxconn 10
backend shared
    server s1 127.0.0.1:8003
backend web
    server w1 127.0.0.1:8004
backend fallback
    server f1 127.0.0.1:8005
backend orphan
    server o1 127.0.0.1:8006
"""


def test_each_backend_gets_the_first_frontend_that_names_it_and_its_own_settings() -> None:
    targets, groups, _files, aliases = haproxy_facts(parse_haproxy_text(CFG))
    frontend = {t.group: t.server for t in targets}
    assert frontend == {"both": "both", "api": "first", "shared": "first", "web": "second",
                        "fallback": "first", "orphan": None}
    a1, a2 = (t for t in targets if t.group == "api")
    assert a1.settings["timeout server"].value == "5s" and a1.settings["option redispatch"].value == "on"
    assert a1.settings["check"].value == "on" and a2.settings["check"].value == "off"
    assert a2.settings["maxconn"].value == "10" and a1.settings["maxconn"].is_default
    assert list(a1.settings) == ["timeout connect", "timeout server", "timeout queue", "timeout client",
                                 "timeout http-request", "retries", "maxconn", "inter", "fall", "rise",
                                 "option redispatch", "check", "section"]
    shared = next(t for t in targets if t.group == "shared")
    assert shared.settings["timeout server"].value == "30s"
    assert shared.settings["option redispatch"].value == "off"
    assert groups["api"].servers == ("127.0.0.1:8001", "127.0.0.1:8002")
    assert aliases["api/a2"] == "127.0.0.1:8002"
