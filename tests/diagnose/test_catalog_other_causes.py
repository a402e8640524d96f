"""The catalog's other causes in the fault matrix (docs/dev/fault-matrix.md "Stop 45"): each fix
made for the first score of the new faults, on the evidence those cells held.

- A port that resets a plain HTTP request and answers a FastCGI management record speaks
  FastCGI (the probe's second look): ``proxy_pass http://`` to PHP-FPM, not a crash.
- HAProxy's ``proto fcgi`` server is a FastCGI target (probed in FastCGI).
- HAProxy's ``SC--`` for a failed server-side TLS handshake, on a port that takes the connection
  now and answers TLS in plain text: the TLS mismatch, not a recovered outage.
- An edge's (Envoy's, Caddy's) crash on a port that answers another protocol: protocol-mismatch;
  an edge log read alone asks such targets (``edge_probes``).
- Caddy's ``fcgi: invalid header version``: what answered does not speak FastCGI.
- PHP's fatal errors in PHP-FPM's own log for 500s a proxy relayed without a word of its own
  (HAProxy, Caddy): app-fatal-error.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
from datetime import datetime, timezone

import pytest

from tests.support.evidence import evidence
from why502.analyzers import application, edge_apps
from why502.analyzers.rank import run_all
from why502.catalog.terms import term
from why502.evidence.lb_evidence import LbEvidence
from why502.evidence.model import LogEvent, Sample, SymptomGroup, TargetFact, UpstreamTiming
from why502.facts.fpm_access import FpmAccessLog, FpmRequest
from why502.facts.probes import ConnectAttempt, ProbeResult, ProbeTarget, ProtocolResult, TlsAttempt
from why502.findings.model import Finding
from why502.parsers.lblogs.golang import go_error_code
from why502.proxies.haproxy.config import parse_haproxy_text
from why502.proxies.haproxy.facts import haproxy_facts

T0 = datetime(2026, 11, 25, 19, 2, 10)
KEY = "127.0.0.1:52241"


def test_a_haproxy_server_with_proto_fcgi_is_a_fastcgi_target() -> None:
    """``proto fcgi`` makes HAProxy speak FastCGI to the server (configuration.txt 5.2): read as
    HTTP, the probe's ``GET /`` to an HTTP port answered 200 and no mismatch could show."""
    cfg = parse_haproxy_text(
        "defaults\n    mode http\nfrontend fe\n    bind :80\n    default_backend app\n"
        "backend app\n    use-fcgi-app php\n    server web1 127.0.0.1:9000 proto fcgi\n"
        "    server web2 127.0.0.1:8000\nfcgi-app php\n    docroot /var/www\n")
    targets, _groups, _files, _aliases = haproxy_facts(cfg)
    assert {t.key: t.kind for t in targets} == {"127.0.0.1:9000": "fastcgi", "127.0.0.1:8000": "proxy"}


@pytest.mark.real
def test_an_http_target_that_resets_and_answers_fastcgi_speaks_fastcgi() -> None:
    """A real PHP-FPM pool behind an ``http://`` target: its ``GET /`` is reset (FPM reads it as
    a bad FastCGI record), its answer to ``FCGI_GET_VALUES`` says FastCGI."""
    from why502.app.diagnose.probes import probe_targets
    from why502.lab.runtime import Stack

    with Stack() as stack:
        pool = stack.add_php_fpm({}, tcp=True, scripts={"index.php": "<?php echo 1;\n"})
        host, port = pool.listen.rsplit(":", 1)
        target = TargetFact(key=pool.listen, kind="proxy", scheme="http", host=host, port=int(port))
        found, as_json = probe_targets([target], 2.0)
    assert found[pool.listen].answer == "fastcgi"
    assert "speaks FastCGI" in found[pool.listen].detail
    assert as_json[pool.listen]["protocol"]["answer"] in ("reset", "empty")  # what the probe saw first


SC_LINE = ('<134>Nov 25 19:02:10 localhost haproxy[954]: 127.0.0.1:51620 [25/Nov/2026:19:02:10.379] fe '
           'app/web1 0/0/-1/-1/1 503 217 - - SC-- 1/1/0/0/0 0/0 "GET /orders HTTP/1.1"')
TLS_TARGET = TargetFact(key=KEY, kind="proxy", scheme="https", host="127.0.0.1", port=52241,
                        group="app", file="/etc/haproxy/haproxy.cfg", line=20, server="fe")
REFUSED = SymptomGroup(symptom="connection-refused", peer=KEY, count=4, first=T0, last=T0,
                       statuses={503: 4}, times=(T0,), source="haproxy",
                       samples=(Sample(SC_LINE, "/var/log/haproxy.log", 2, T0),))


def _tls_probe(ok: bool) -> ProbeResult:
    return ProbeResult(ProbeTarget(scheme="https", host="127.0.0.1", port=52241),
                       connect=[ConnectAttempt(KEY, True)],
                       tls=[TlsAttempt("no-sni", None, ok, error=None if ok else "wrong version number")],
                       protocol=ProtocolResult("http", "http", 200, "HTTP/1.1 200 OK") if ok else None)


def test_haproxy_sc_on_a_tls_server_whose_port_answers_plain_text_is_the_tls_mismatch() -> None:
    """HAProxy writes a failed server handshake as ``SC`` (the connect phase), as a refused port;
    the probe connects and its handshake fails with "wrong version number": upstream-tls-mismatch,
    stated as the current fault (not a past outage, recovered: exit 0 under proxy-made 503s)."""
    ev = evidence(proxy="haproxy", targets=(TLS_TARGET,), symptoms=(REFUSED,),
                  probes={KEY: _tls_probe(False)})
    findings, _ = run_all(ev)
    assert findings[0].cause == "upstream-tls-mismatch" and findings[0].target == KEY
    assert "plain HTTP" in findings[0].explanation and not findings[0].recovered
    # a port whose handshake works (it came back with its certificate) is no TLS mismatch
    ok = evidence(proxy="haproxy", targets=(TLS_TARGET,), symptoms=(REFUSED,), probes={KEY: _tls_probe(True)})
    assert run_all(ok)[0][0].cause == "backend-not-running"
    # nor one that refuses now: not running
    refused = dataclasses.replace(_tls_probe(False), tls=[],
                                  connect=[ConnectAttempt(KEY, False, symptom="connection-refused")])
    down = evidence(proxy="haproxy", targets=(TLS_TARGET,), symptoms=(REFUSED,), probes={KEY: refused})
    assert run_all(down)[0][0].cause == "backend-not-running"


def _crashed(target: str) -> Finding:
    return Finding(cause="backend-crashed", title="t", confidence=0.6, status_codes=[503],
                   symptoms=["connection-reset"], explanation="e", target=target,
                   first_seen="2026-11-25T19:02:35Z", last_seen="2026-11-25T19:02:35Z")


@pytest.mark.parametrize(("answer", "cause"), [
    ("fastcgi", "protocol-mismatch"),  # http:// to PHP-FPM
    ("tls", "protocol-mismatch"),  # http:// to a TLS port
    ("reset", "backend-crashed"),  # not a protocol: the backend may be dying
    ("http", "backend-crashed"),  # the protocol spoken: a crash that came back
])
def test_an_edges_crash_on_a_port_that_speaks_another_protocol_is_the_mismatch(answer: str,
                                                                             cause: str) -> None:
    """Envoy's ``UC`` and Caddy's "connection reset by peer" on a target whose probe answers
    another protocol than the proxy speaks there (a unix socket named by Envoy's bare path)."""
    path = "/run/php/php-fpm.sock"
    probe = ProbeResult(ProbeTarget(unix_path=path), connect=[ConnectAttempt(f"unix:{path}", True)],
                        protocol=ProtocolResult("http", answer))
    ev = evidence(proxy="envoy", probes={f"unix:{path}": probe})
    got = edge_apps.refine(ev, LbEvidence(family="envoy"), _crashed(path))
    assert got.cause == cause


def test_an_edge_log_read_alone_asks_its_crashed_targets_and_its_refused_tls_ones() -> None:
    """``edge_probes`` asks the targets a crash or a protocol mismatch is blamed on, and a
    refused one only when the proxy speaks TLS there (Envoy's ``UF`` is a refused port and a
    failed handshake alike); a refused plain target is the log's own word.  A real listener on
    loopback that speaks plain HTTP: the TLS target's probe connects and fails its handshake."""
    from why502.app.diagnose.probes import edge_probes
    from why502.evidence.model import EdgeFacts

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    key = f"127.0.0.1:{port}"
    tls = TargetFact(key=key, kind="proxy", scheme="https", host="127.0.0.1", port=port)
    plain = TargetFact(key="127.0.0.1:1", kind="proxy", scheme="http", host="127.0.0.1", port=1)
    from collections import Counter

    from why502.evidence.lb_evidence import FailureGroup

    refused = FailureGroup(cause="backend-not-running", targets=Counter({key: 4, "127.0.0.1:1": 4}))
    lb = LbEvidence(family="envoy", failures={"backend-not-running": refused})
    try:
        found, _ = edge_probes((tls, plain), EdgeFacts(families=(lb,)), 2.0)
    finally:
        srv.close()
    assert set(found) == {key}
    assert found[key].connect_state == "ok" and found[key].tls_state == "wrong version number"


def test_caddys_fcgi_invalid_header_version_is_a_protocol_mismatch() -> None:
    """Caddy's FastCGI transport on an HTTP port (record.go ``fill()``): not an unknown 502."""
    code = go_error_code("fcgi: invalid header version")
    assert code == "fcgi: invalid header version"
    found = term("caddy", code)
    assert found is not None and found.cause == "protocol-mismatch" and found.symptom == "invalid-response"


FPM_KEY = "127.0.0.1:47119"
FPM_TARGET = TargetFact(key=FPM_KEY, kind="fastcgi", host="127.0.0.1", port=47119, group="app",
                        file="/etc/haproxy/haproxy.cfg", line=21, server="fe")
FATAL = LogEvent(kind="app-error", source="php", file="/var/log/php8.2-fpm.log", line=7,
                 text="NOTICE: PHP message: PHP Fatal error:  Uncaught Error: Call to undefined "
                      "function render_invoice_pdf() in /var/www/app.php:3")
RELAYED = UpstreamTiming(upstream=FPM_KEY, requests=4, statuses={500: 4}, backend_5xx={500: 4},
                         samples=(Sample("... 500 120 - - ---- ...", "/var/log/haproxy.log", 3, T0),))


def _pool_log(status: int, when: datetime = T0) -> FpmAccessLog:
    at = when.replace(tzinfo=timezone.utc)
    return FpmAccessLog(file="/var/log/php-fpm.access.log", format='%R - %u %t "%m %r" %s',
                        requests=tuple(FpmRequest(line=i, text="x", time=at, status=status, method="GET",
                                                  uri="/app.php") for i in range(1, 5)), lines=4)


def test_php_fatal_errors_in_fpms_log_name_the_500s_a_proxy_relayed_silently() -> None:
    """HAProxy relays PHP's 500 with ``----`` and no word of FastCGI stderr; PHP-FPM's own log has
    ``PHP Fatal error`` (undated: the workers' output undecorated), the pool's own access log
    dates its 500s in those minutes: app-fatal-error.  Without the pool's record of 500s the
    undated lines are not tied to these requests: the relayed 5xx stays upstream-returned-5xx;
    a dated line hours away is another time."""
    def top(**fields: object) -> str:
        ev = evidence(proxy="haproxy", targets=(FPM_TARGET,), access={FPM_KEY: RELAYED}, **fields)
        return run_all(ev)[0][0].cause

    assert top(events=(FATAL,), fpm_access=(_pool_log(500),)) == "app-fatal-error"
    assert top(events=(FATAL,), fpm_access=(_pool_log(200),)) == "upstream-returned-5xx"
    assert top(events=(FATAL,)) == "upstream-returned-5xx"
    assert top(events=(dataclasses.replace(FATAL, time=T0),)) == "app-fatal-error"
    assert top(events=(dataclasses.replace(FATAL, time=T0.replace(hour=9)),)) == "upstream-returned-5xx"
    # an HTTP target's relayed 500 is no PHP's
    http = dataclasses.replace(FPM_TARGET, kind="proxy")
    assert application.pool_fatal_errors(evidence(events=(dataclasses.replace(FATAL, time=T0),)),
                                         http, [T0], {500: 4}) == []
