"""Apache's rules see balancers however they are declared and members however they are reached
(issue 26): through the command, on a fixture that declares them every way mod_proxy allows."""

from __future__ import annotations

import json

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.cli.main import main

FIXTURE = FIXTURES_DIR / "lint" / "W502-031" / "fire-declared-every-way.conf"


def test_every_member_is_seen(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--config", str(FIXTURE), "--format", "json", "--fail-on", "never"]) == 0
    report = json.loads(capsys.readouterr().out)
    found = {(f["line"], f["message"].split(" has ")[0])
             for f in report["findings"] if f["code"] == "W502-031"}
    assert found == {
        # <Proxy "balancer://opening" lbmethod=... stickysession=...>: parameters on the opening
        # line once hid the balancer's name; reached by ProxyPassMatch
        (6, "BalancerMember 127.0.0.1:8001 of balancer://opening"),
        # declared outside <Proxy> (balancer URL first), reached by RewriteRule ... [P,L]
        (11, "BalancerMember 127.0.0.1:8002 of balancer://outside"),
    }
    # the RewriteRule does not count "balancer" as a host of its own
    assert not any("balancer://outside:" in f["message"] for f in report["findings"])
