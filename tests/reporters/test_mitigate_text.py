"""``why502 mitigate``'s proposals are a typed result (``findings.results.MitigationPlan``) the
text reporter renders, no longer lines ``app.mitigate.run`` printed as it went (issue 23, item 5).
The live runs of ``tests/mitigate/`` check the words on real proxies; here, the rendering of each
part of a stop-gap and the round trip of the result."""

from __future__ import annotations

from why502.findings.results import MitigationPlan, StopGap
from why502.reporters import render

DIFF = "--- a/etc/nginx/nginx.conf\n+++ b/etc/nginx/nginx.conf\n@@ -1 +1 @@\n-server a;\n+server a down;\n"


def test_each_part_of_a_stop_gap_is_shown_in_order_and_made_inert() -> None:
    plan = MitigationPlan([
        StopGap("take-out", "nginx", "app", ["127.0.0.1:9001"], "refused on every attempt",
                ["connect() failed (111: Connection refused)\x1b[2J"], steps=[], diffs=[DIFF]),
        StopGap("fallback", "haproxy", "be_app", [], "every server is down", [],
                refused="no other server of be_app serves"),
        StopGap("take-out", "haproxy", "be_app", ["s1"], "down", [],
                steps=["set server be_app/s1 state maint (runtime API)"]),
    ])
    text = render("text", plan)
    assert text.splitlines() == [
        "[1] take-out: nginx group app: 127.0.0.1:9001",
        "    why: refused on every attempt",
        "    evidence: connect() failed (111: Connection refused)\\x1b[2J",  # shown, not obeyed
        "    --- a/etc/nginx/nginx.conf",
        "    +++ b/etc/nginx/nginx.conf",
        "    @@ -1 +1 @@",
        "    -server a;",
        "    +server a down;",
        "[2] fallback: haproxy group be_app",
        "    why: every server is down",
        "    REFUSED: no other server of be_app serves",
        "[3] take-out: haproxy group be_app: s1",
        "    why: down",
        "    set server be_app/s1 state maint (runtime API)",
    ]
    assert "\x1b" not in text


def test_nothing_to_mitigate_says_so() -> None:
    assert render("text", MitigationPlan([])).startswith("nothing to mitigate: ")


def test_the_plan_round_trips() -> None:
    plan = MitigationPlan([StopGap("timeout", "apache", "balancer://app", [], "slow", ["e"],
                                   steps=["change: timeout 60"], diffs=[DIFF])])
    assert MitigationPlan.from_dict(plan.to_dict()) == plan


def test_the_plan_document_names_its_schema_and_refuses_another() -> None:
    plan = MitigationPlan([StopGap("take-out", "nginx", "app", ["127.0.0.1:9"], "resets", ["e"])])
    doc = plan.to_dict()
    assert next(iter(doc)) == "schema" and doc["schema"] == "why502.mitigation-plan/1"
    assert MitigationPlan.from_dict(doc) == plan
    try:
        MitigationPlan.from_dict({"schema": "why502.fix-plan/1", "stopgaps": []})
    except ValueError as err:
        assert "not a why502 mitigation plan" in str(err)
    else:
        raise AssertionError("a fix plan was read as a mitigation plan")
