"""HAProxy server addresses as HAProxy reads them (configuration.txt 5.2 "<address>", 11
"Address formats"): an address-family prefix is not part of the host, and an any-address server
forwards to the client's destination."""

from __future__ import annotations

from why502.analyzers.lint import run_lint
from why502.proxies.haproxy.config import parse_haproxy_text
from why502.proxies.haproxy.lint import HaproxyLintInput

HEAD = ("defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n"
        "frontend web\n    bind 127.0.0.1:8080\n    default_backend app\nbackend app\n")


def _codes(servers: str) -> list[tuple[str, str]]:
    inp = HaproxyLintInput(parse_haproxy_text(HEAD + servers))
    return [(f.code, f.message) for f in run_lint(inp, {"W502-024", "W502-032"})]


def test_prefixed_any_address_is_a_placeholder() -> None:
    assert _codes("    server mp mptcp@[::]:4331\n    server t tcp4@0.0.0.0:0\n") == []


def test_prefixed_name_is_judged_by_its_host() -> None:
    found = _codes("    server a tcp4@app.internal:80 check\n")
    assert [c for c, _ in found] == ["W502-032"]
    assert "names app.internal," in found[0][1]
