"""One test of "the target answered before and after its drops" for an edge log (issue 25 item
4): ``analyzers.edge_apps.answered_around``, called by ``edge_apps.refine`` (Envoy's and
Caddy's own findings) and by ``config_limits`` (Caddy's default keep-alive pool).  A failure
before any answer is no keep-alive race: no idle connection existed to reuse."""

from __future__ import annotations

import dataclasses

from tests.support.evidence import evidence
from why502.analyzers import config_limits, edge_apps
from why502.evidence.lb_evidence import LbEvidence, TargetLife
from why502.evidence.model import EdgeFacts, TargetFact

KEY = "127.0.0.1:48819"
ONLY = (TargetFact(key=KEY, kind="proxy", scheme="http", host="127.0.0.1", port=48819),)


def _lb(**life: object) -> LbEvidence:
    return LbEvidence(family="caddy", unnamed=TargetLife(**life))  # type: ignore[arg-type]


def test_answers_around_the_drops_of_the_only_upstream_are_the_race_evidence() -> None:
    ev = evidence(targets=ONLY)
    lb = _lb(ok=3, failed=2, first_failed_after_ok="t", ok_after_failure=True)
    assert edge_apps.answered_around(ev, lb, KEY) is lb.unnamed
    named = LbEvidence(family="envoy", targets={KEY: TargetLife(ok=2, failed=1, first_failed_after_ok="t",
                                                                ok_after_failure=True)})
    assert edge_apps.answered_around(evidence(), named, KEY) is named.targets[KEY]


def test_no_answer_after_or_before_the_drops_is_no_race() -> None:
    ev = evidence(targets=ONLY)
    assert edge_apps.answered_around(ev, _lb(ok=3, failed=2, first_failed_after_ok="t"), KEY) is None
    assert edge_apps.answered_around(ev, _lb(ok=3, failed=2, ok_after_failure=True), KEY) is None
    # two upstreams: an unnamed answer could be the other's
    two = (*ONLY, TargetFact(key="127.0.0.1:5000", kind="proxy"))
    lb = _lb(ok=3, failed=2, first_failed_after_ok="t", ok_after_failure=True)
    assert edge_apps.answered_around(evidence(targets=two), lb, KEY) is None


def test_the_config_pool_asks_the_same_test() -> None:
    lb = _lb(ok=3, failed=2, first_failed_after_ok="t", ok_after_failure=True)
    ev = evidence(targets=ONLY)
    ev = dataclasses.replace(ev, edge=EdgeFacts(families=(lb,)))
    assert config_limits._edge_answered_around(ev, list(ONLY)) is lb.unnamed
    assert config_limits._edge_answered_around(ev, [*ONLY, *ONLY]) is None
