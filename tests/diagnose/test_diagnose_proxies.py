"""Findings about HAProxy or Apache speak of that proxy: on every lab recording of theirs, the top
finding is the recorded cause and neither its title, explanation nor evidence mentions nginx."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.diagnose.test_diagnose_fixtures import METAS, diagnose_fixture, real  # noqa: F401

OTHERS = [m for m in METAS if m.get("proxy", "nginx") != "nginx" and m.get("cause")]


@pytest.mark.parametrize("meta", OTHERS, ids=[m["scenario"] for m in OTHERS])
def test_other_proxies_findings_name_their_proxy(meta: dict[str, Any], real: Any) -> None:  # noqa: F811
    report, _g = diagnose_fixture(real(meta))
    top = report.findings[0]
    assert top.cause == meta["cause"]
    said = json.dumps({"title": top.title, "explanation": top.explanation,
                       "evidence": [e.summary for e in top.evidence]})
    assert "nginx" not in said, said
    assert report.inputs["proxy"] == meta["proxy"]


def test_both_other_proxies_have_six_recorded_scenarios() -> None:
    for proxy in ("haproxy", "apache"):
        assert len([m for m in OTHERS if m["proxy"] == proxy]) >= 6
