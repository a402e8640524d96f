"""Findings speak the words of the proxy that wrote the evidence (issue 23 item 2).

The analyzers used to write "nginx" into every report and tell the user to run ``nginx -T``
whatever the proxy.  Each case here runs one analyzer on the same typed evidence once per
registered proxy: an nginx report says what it always said (byte for byte, the strings below),
any other proxy's report names that proxy by its ``Vocabulary.title`` and never says "nginx".
The log lines are real nginx lines of the recorded fixtures (tests/fixtures/recorded/
``proxy-rate-limited``, ``fd-limit``); only the proxy that wrote them changes.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.diagnose.test_diagnose_analyzers import ev, group, target
from why502 import proxies
from why502.analyzers import connectivity, routing
from why502.evidence.model import PROXY_NOFILE
from why502.findings.model import Finding

RATE_LINE = ('2026/11/21 21:14:07 [error] 29956#29956: *6 limiting requests, excess: 1.998 by zone '
             '"api_limit", client: 127.0.0.1, server: lab.example, request: "GET /api HTTP/1.1", '
             'host: "lab.example"')  # tests/fixtures/recorded/proxy-rate-limited/error.log:1
FD_LINE = "2026/11/21 21:14:06 [warn] 29942#29942: 3 worker_connections are not enough, reusing connections"

OTHERS = [name for name in proxies.PROXIES if name != proxies.DEFAULT]


def _text(f: Finding) -> str:
    parts = [f.explanation, f.fix.summary if f.fix else "", *(f.fix.commands if f.fix else []),
             *(f.fix.notes if f.fix else []), *(i.summary for i in f.evidence)]
    return "\n".join(parts)


def _rate_limited(name: str) -> Finding:
    g = replace(group("rate-limited", peer=None, count=2, text=RATE_LINE, status=503), source=name)
    return routing.analyze(ev(proxy=name, symptoms=(g,)))[0].finding


def _misrouted(name: str) -> Finding:
    return routing.analyze(ev(proxy=name, targets=(target("127.0.0.1:80"),),
                              listens=("127.0.0.1:80",)))[0].finding


def _fd(name: str) -> Finding:
    g = replace(group("fd-exhaustion", peer=None, count=3, text=FD_LINE, status=500), source=name)
    return connectivity.analyze(ev(proxy=name, symptoms=(g,), limits={PROXY_NOFILE: 1024}))[0].finding


def test_nginx_says_what_it_always_said() -> None:
    rate = _text(_rate_limited("nginx"))
    assert "nginx itself rejected these requests with 503" in rate
    assert "nginx -T | grep -n -E 'limit_(req|conn)'" in rate
    assert "2 requests rejected before any upstream attempt, nginx answered 503" in rate
    loop = _text(_misrouted("nginx"))
    assert "where nginx itself listens: the request loops back into nginx" in loop
    assert "nginx -T | grep -n -E 'listen|proxy_pass'" in loop
    fd = _text(_fd("nginx"))
    assert "nginx ran out of worker_connections" in fd
    assert "(and LimitNOFILE= of nginx.service)" in fd
    assert "cat /proc/$(pgrep -o nginx)/limits | grep files" in fd
    assert "nginx worker open-files limit 1024" in fd


@pytest.mark.parametrize("name", OTHERS)
def test_another_proxy_is_named_by_its_title(name: str) -> None:
    title = proxies.of(name).vocabulary.title
    for finding in (_rate_limited(name), _misrouted(name), _fd(name)):
        text = _text(finding)
        assert "nginx" not in text, (name, finding.cause, text)
        assert title in text, (name, finding.cause)
