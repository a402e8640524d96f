"""The proxy's own limits (the fault matrix's big-header and rate-limited, stop 47): the words
each proxy writes when it refuses an answer or a request by a limit of its own.

The lines are what the real proxies wrote in the matrix's cells (Apache 2.4.71, Caddy 2.6,
HAProxy 2.6; the temp dir and ports as they were): a response header past Apache's
``ResponseFieldSize`` and Caddy's ``max_response_header``, and HAProxy's ``http-request deny
deny_status 503`` on a stick table's request rate.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.evidence import evidence
from why502.analyzers import edge_apps
from why502.app.diagnose import DiagnoseOptions
from why502.app.diagnose.gather import gather
from why502.app.diagnose.report import report_from
from why502.catalog.terms import term
from why502.evidence.lb_evidence import LbEvidence
from why502.evidence.model import TargetFact
from why502.facts.probes import ConnectAttempt, ProbeResult, ProbeTarget, ProtocolResult
from why502.facts.setting import Setting
from why502.findings.model import Finding
from why502.parsers.errorlog import classify_line
from why502.parsers.lblogs.golang import go_error_code
from why502.proxies.haproxy.config import parse_haproxy_text
from why502.proxies.haproxy.facts import header_limit, limit_settings

CADDY = ("net/http: HTTP/1.x transport connection broken: net/http: server response headers exceeded "
         "16000 bytes; aborted")
APACHE = ("[Wed Nov 25 21:14:23.616756 2026] [proxy_http:warn] [pid 11515:tid 11517] (28)No space left "
          "on device: [client 127.0.0.1:48864] AH10124: header size is over the limit allowed by "
          "ResponseFieldSize (8192 bytes). Bad response header: 'Set-Cookie: session=xxxxxxxx[...]xxxxxxxx'")
APACHE_NEXT = ("[Wed Nov 25 21:14:23.616813 2026] [proxy_http:warn] [pid 11515:tid 11517] [client "
               "127.0.0.1:48864] AH01106: bad HTTP/1.1 header returned by /orders (GET)")
# the cell's haproxy.cfg, the lines the rule does not read left out
HAPROXY_CFG = """defaults
    mode http
    option httplog
    timeout server 1s
frontend fe
    bind 127.0.0.1:60287
    default_backend app
    stick-table type ip size 100k expire 30s store http_req_rate(10s)
    http-request track-sc0 src
    http-request deny deny_status 503 if { sc_http_req_rate(0) gt 2 }
backend app
    server web1 127.0.0.1:36301
"""
_HEAD = "<134>Nov 25 21:19:57 localhost haproxy[19774]: 127.0.0.1:{port} [25/Nov/2026:21:19:57.{ms}] "
_TAIL = ' 1/1/0/0/0 0/0 "GET /orders HTTP/1.1"\n'
HAPROXY_LOG = "".join(_HEAD.format(port=port, ms=ms) + session + _TAIL for port, ms, session in (
    (45080, 401, "fe app/web1 0/0/0/0/0 200 85 - - ----"),
    (45094, 402, "fe app/web1 0/0/0/0/0 200 85 - - ----"),
    (45108, 403, "fe fe/<NOSRV> 0/-1/-1/-1/0 503 217 - - PR--"),
    (45120, 404, "fe fe/<NOSRV> 0/-1/-1/-1/0 503 217 - - PR--")))


def test_caddys_response_header_limit_is_the_proxys_buffer() -> None:
    """Without its own code Go's "server response headers exceeded" was no term at all: the 502s
    had no cause but the last resort (big-header behind Caddy: unexplained-5xx, 6 of 6 cells)."""
    code = go_error_code(CADDY)
    assert code == "server response headers exceeded"
    found = term("caddy", code)
    assert found is not None and found.cause == "buffer-too-small" and found.symptom == "header-too-big"


def test_apaches_response_field_size_is_a_header_too_big_not_a_bad_header() -> None:
    """AH10124 names the limit; the AH01106 after it ("bad HTTP/1.1 header") alone read as an
    invalid response (big-header behind Apache: backend-invalid-response or protocol-mismatch,
    6 of 6 cells)."""
    first = classify_line(APACHE)
    assert first is not None and first.symptom == "header-too-big" and first.status == 502
    nxt = classify_line(APACHE_NEXT)
    assert nxt is not None and nxt.symptom == "invalid-response"


def test_haproxys_rate_rule_is_read_from_its_config() -> None:
    cfg = parse_haproxy_text(HAPROXY_CFG)
    found = limit_settings(cfg)
    assert [s.value for s in found] == ["http-request deny deny_status 503 if { sc_http_req_rate(0) gt 2 }"]
    assert found[0].line == 10
    # an ACL deny is no rate limit
    assert not limit_settings(parse_haproxy_text(HAPROXY_CFG.replace("sc_http_req_rate(0) gt 2",
                                                                     "path_beg /admin")))


def _diagnose(tmp_path: Path, cfg_text: str) -> list[str]:
    cfg, log = tmp_path / "haproxy.cfg", tmp_path / "haproxy.log"
    cfg.write_text(cfg_text)
    log.write_text(HAPROXY_LOG)
    report = report_from(gather(DiagnoseOptions(proxy="haproxy", config=str(cfg), error_logs=[str(log)],
                                                offline=True)))
    return [f.cause for f in report.findings]


def test_haproxys_own_deny_on_a_rate_is_its_rate_limit(tmp_path: Path) -> None:
    """``<NOSRV> ... PR--`` 503 had no rule: diagnose said healthy (exit 0) while clients got
    HAProxy's 503s (rate-limited behind HAProxy, 4 of 4 cells, deny_status 503)."""
    causes = _diagnose(tmp_path, HAPROXY_CFG)
    assert causes[:1] == ["proxy-rate-limited"]


def test_haproxys_deny_without_a_rate_rule_is_not_a_rate_limit(tmp_path: Path) -> None:
    causes = _diagnose(tmp_path, HAPROXY_CFG.replace("sc_http_req_rate(0) gt 2", "path_beg /admin"))
    assert "proxy-rate-limited" not in causes


def _probed(header_bytes: int | None) -> ProbeResult:
    values = {"header_bytes": str(header_bytes)} if header_bytes else {}
    return ProbeResult(ProbeTarget(host="127.0.0.1", port=8080),
                       connect=[ConnectAttempt("127.0.0.1:8080", True)],
                       protocol=ProtocolResult("http", "http", 200, "HTTP/1.1 200 OK", values=values),
                       ok=True)


def test_haproxys_ph_on_a_well_formed_answer_past_its_buffer_is_the_buffer() -> None:
    """HAProxy's ``PH--`` 502 says only that it refused the response; a probe that gets a
    well-formed answer whose headers are larger than tune.bufsize less tune.maxrewrite says it
    was the size (big-header behind HAProxy: backend-invalid-response, 6 of 6 cells).  A
    malformed answer of small headers stays the backend's."""
    from tests.diagnose.test_diagnose_analyzers import ev, group, top

    cfg = parse_haproxy_text(HAPROXY_CFG)
    limit = header_limit(cfg)
    assert limit[0] == 15360 and limit[1].is_default  # 16384 less 1024, HAProxy's defaults
    tuned = header_limit(parse_haproxy_text("global\n    tune.bufsize 65536\n" + HAPROXY_CFG))
    assert tuned[0] == 64512 and tuned[1].line == 2
    refused = (group("invalid-response", "127.0.0.1:8080", count=4),)
    big = ev(proxy="haproxy", symptoms=refused, header_limit=limit, probes={"127.0.0.1:8080": _probed(20105)})
    assert top(big) == "buffer-too-small"
    small = ev(proxy="haproxy", symptoms=refused, header_limit=limit, probes={"127.0.0.1:8080": _probed(300)})
    assert top(small) == "backend-invalid-response"
    # a buffer raised past the header: not the buffer
    raised = ev(proxy="haproxy", symptoms=refused, header_limit=tuned,
                probes={"127.0.0.1:8080": _probed(20105)})
    assert top(raised) == "backend-invalid-response"


def _upe(target: str) -> Finding:
    """Envoy's ``502 UPE`` read by the edge family: an answer it could not parse."""
    return Finding(cause="protocol-mismatch", title="t", confidence=0.7, status_codes=[502],
                   symptoms=["invalid-response"], explanation="e", target=target, count=4,
                   first_seen="2026-11-25T21:14:26Z", last_seen="2026-11-25T21:14:26Z")


def test_envoys_upe_on_a_well_formed_answer_past_max_response_headers_kb_is_the_buffer() -> None:
    """Envoy's ``502 UPE`` for headers past the cluster's ``max_response_headers_kb`` read as the
    backend's malformed HTTP, the probe answering well-formed HTTP (big-header behind Envoy:
    backend-invalid-response, 6 of 6 cells).  Under the limit it stays that."""
    key = "127.0.0.1:8080"

    def refined(kb: str, default: bool, header_bytes: int) -> str:
        limit = Setting(kb, None if default else "/etc/envoy/envoy.yaml", None if default else 41, default)
        target = TargetFact(key=key, kind="proxy", scheme="http", host="127.0.0.1", port=8080,
                            settings={"max_response_headers_kb": limit})
        ev = evidence(proxy="envoy", targets=(target,), probes={key: _probed(header_bytes)})
        return edge_apps.refine(ev, LbEvidence(family="envoy"), _upe(key)).cause

    assert refined("16", False, 20105) == "buffer-too-small"
    assert refined("60", True, 20105) == "backend-invalid-response"  # Envoy's default takes it
    assert refined("16", False, 300) == "backend-invalid-response"


def test_haproxys_pr_with_a_client_error_is_the_clients_not_a_denial() -> None:
    """``PR--`` is HAProxy refusing the client's request (doc/configuration.txt 8.5): with a 400
    and ``<BADREQ>`` a request it could not parse, with a deny's default 403 its rule.  Neither is
    a failure on the way to a backend; only a refusal answered with a 5xx (``deny_status 503``, a
    rate limit) is ``request-denied``.  A scanner's unparsable request in the lab's recorded
    noise had been read as request-denied after stop 47 (tests/lab/test_lab_noise.py)."""
    head = ("haproxy[15769]: 127.0.0.1:44934 [23/Nov/2026:12:58:12.778] fe fe/<NOSRV> "
            "-1/-1/-1/-1/0 {status} 0 - - PR-- 1/1/0/0/0 0/0 \"{request}\"")
    assert classify_line("<134>Nov 23 12:58:12 localhost "
                         + head.format(status=400, request="<BADREQ>")) is None
    assert classify_line(head.format(status=403, request="GET /admin HTTP/1.1")) is None
    denied = classify_line(head.format(status=503, request="GET /orders HTTP/1.1"))
    assert denied is not None and denied.symptom == "request-denied"
