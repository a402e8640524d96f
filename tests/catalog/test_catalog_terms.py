"""The proxies' vocabulary (``catalog/data/proxy_terms.toml``): every word maps onto IDs that
exist, onto a registered RFC 9209 Proxy-Status type, and has a documentation URL; ``explain``
finds words by the code the logs use."""

from __future__ import annotations

import json

from tests.conftest import RunMain
from why502.catalog import load_catalog
from why502.catalog.terms import PROXY_STATUS_TYPES, find_terms, go_error_family, load_terms
from why502.proxies.logfamilies import log_types


def test_every_term_points_into_the_catalog() -> None:
    catalog = load_catalog()
    seen = set()
    for t in load_terms():
        assert (t.family, t.code) not in seen, t.code
        seen.add((t.family, t.code))
        assert t.family in log_types()
        assert t.made_by in ("lb", "backend")
        assert not t.symptom or catalog.get(t.symptom) is not None, t.code
        assert not t.cause or catalog.get(t.cause) is not None, t.code
        assert not t.proxy_status or t.proxy_status in PROXY_STATUS_TYPES, t.code
        assert t.url.startswith("https://"), t.code
        assert t.title and t.meaning and t.fix


def test_every_family_has_words() -> None:
    assert {t.family for t in load_terms()} == set(log_types())
    assert go_error_family() in log_types()


def test_find_terms_by_the_logs_spelling() -> None:
    assert [t.family for t in find_terms("UF")] == ["envoy"]
    assert [t.code for t in find_terms("TargetConnectionError")] == ["TargetConnectionErrorCount"]
    assert [t.code for t in find_terms("lambdainvalidresponse")] == ["LambdaInvalidResponse"]


def test_explain_flag_status_and_reason(run_main: RunMain) -> None:
    code, out, _ = run_main("explain", "UH")
    assert code == 0 and "destination_unavailable" in out and "all-upstreams-down" in out
    code, out, _ = run_main("explain", "524", "--format", "json")
    doc = json.loads(out)
    assert doc["type"] == "status" and doc["terms"][0]["proxy_status"] == "http_response_timeout"
    code, out, _ = run_main("explain", "TargetConnectionError")
    assert code == 0 and "target_processing_time -1" in out


def test_explain_pasted_envoy_line(run_main: RunMain) -> None:
    line = ('[2026-11-22T11:07:58.526Z] "GET /dead HTTP/1.1" 503 UF 0 98 0 - "-" "why502-recorder/1" '
            '"66108e88" "127.0.0.1:57335" "127.0.0.1:54367"')
    code, out, _ = run_main("explain", line, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["type"] == "line"
    # UF alone (the default format has no transport failure reason): the connect failed, the line
    # does not say refused, timed out or unreachable (router.cc streamResetReasonToResponseFlag())
    assert doc["line"]["made_by"] == "lb" and doc["line"]["symptom"] == "connect-failed"
    assert doc["terms"][0]["code"] == "UF"
