"""A backend's own 5xx relayed by HAProxy or Apache is evidence, as it is from nginx (issue 25).

The fault matrix's first score (docs/dev/fault-matrix.md) had 16 cells where the backend itself
answered 502 behind HAProxy or Apache and ``diagnose`` said healthy, exit 0 (or ranked a noisy
host's old incident, another backend, first).  What decides it, per proxy:

- HAProxy: the httplog line's termination state (configuration.txt 8.5).  ``----`` on a 502 line
  (or a ``D``/``L`` phase) means the server's headers went through: the 502 is the server's.  A
  session that ended in phase R/Q/C/H/T never passed a server status on (``SH`` 502, ``sH`` 504,
  ``PH`` 502: HAProxy's own), whatever ``Tr`` says -- the manual's ``PH`` example has ``Tr`` 1.
- Apache: mod_log_config has no upstream item, so the access log cannot say who made a 5xx; a
  5xx that no error-log line claims (mod_proxy_http logs its own failures at ``error``:
  AH00957, AH01102, 70007; a complete response is passed on silently) together with a live
  probe of the target that got a 5xx itself names the backend.

The lines below are what a real HAProxy 2.x and Apache 2.4 wrote in the matrix's
``backend-5xx`` cells (``why502 lab matrix --fault backend-5xx``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tests.support.evidence import evidence
from why502.analyzers.rank import run_all
from why502.app.diagnose import DiagnoseOptions, diagnose
from why502.evidence.model import ClientFailures, SymptomGroup, TargetFact
from why502.evidence.model import Sample as LogSample
from why502.facts.probes import ConnectAttempt, ProbeResult, ProbeTarget, ProtocolResult
from why502.proxies.haproxy.log import to_nginx_line

HAPROXY_CFG = """global
    maxconn 200

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    retries 0
    timeout server 1s

frontend fe
    bind 127.0.0.1:36771
    default_backend app

backend app
    server web1 127.0.0.1:39513
"""

_HA = "<134>Nov 24 05:09:16 localhost haproxy[6980]: 127.0.0.1:{port} [24/Nov/2026:05:09:16.{ms}] fe "
HAPROXY_RELAYED = "".join([
    _HA.format(port=34494, ms=681) + 'fe/<NOSRV> -1/-1/-1/-1/0 400 0 - - CR-- 1/1/0/0/0 0/0 "<BADREQ>"\n',
    *(_HA.format(port=port, ms=ms) + 'app/web1 0/0/0/0/0 502 107 - - ---- 1/1/0/0/0 0/0 '
      '"GET /orders HTTP/1.1"\n' for port, ms in ((34502, 682), (34518, 683), (34534, 684), (34548, 684)))])


def test_haproxy_relayed_502_is_the_backends_and_names_it(tmp_path: Path) -> None:
    """Before: no access log given, HAProxy's one log read as an error log only, ``----``
    lines carry no symptom: "healthy", exit 0."""
    (tmp_path / "haproxy.cfg").write_text(HAPROXY_CFG)
    (tmp_path / "haproxy.log").write_text(HAPROXY_RELAYED)
    report = diagnose(DiagnoseOptions(config=str(tmp_path / "haproxy.cfg"),
                                      error_logs=[str(tmp_path / "haproxy.log")], offline=True))
    top = report.findings[0]
    assert top.cause == "upstream-returned-5xx", [f.cause for f in report.findings]
    assert top.target == "127.0.0.1:39513" and top.count == 4
    assert not report.healthy
    text = " ".join([top.explanation] + [i.summary for i in top.evidence])
    assert "nginx" not in text and "termination state ----" in text


def _phase_of(line: str) -> str:
    row = to_nginx_line(line, {"app/web1": "127.0.0.1:8080"})
    assert row is not None
    return row.split('uht="', 1)[1].split('"', 1)[0]


def test_haproxy_who_made_the_status_is_the_termination_states_phase() -> None:
    line = ('haproxy[1]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in app/web1 0/0/0/{tr}/1 '
            '{st} 204 - - {ts} 1/1/0/0/0 0/0 "GET /index.html HTTP/1.1"')
    # configuration.txt 8.5's own PH example has Tr 1: HAProxy blocked it, its 502
    assert _phase_of(line.format(tr=1, st=502, ts="PH--")) == "-"
    assert _phase_of(line.format(tr=-1, st=502, ts="SH--")) == "-"
    assert _phase_of(line.format(tr=1, st=502, ts="----")) == "0.001"  # relayed
    assert _phase_of(line.format(tr=1, st=503, ts="SD--")) == "0.001"  # cut in the data phase


APACHE_CONF = """ServerRoot {root}
ServerName localhost
Listen 127.0.0.1:44187
ErrorLog {root}/logs/apache-error.log
LogLevel warn
LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so
LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" timed
CustomLog {root}/logs/apache-access.log timed
ProxyTimeout 1
ProxyPass / http://127.0.0.1:57445/
"""
APACHE_ACCESS = """\
127.0.0.1 - - [24/Nov/2026:05:10:16 +0000] "GET /orders HTTP/1.1" 502 26 3198
127.0.0.1 - - [24/Nov/2026:05:10:16 +0000] "GET /orders HTTP/1.1" 502 26 1203
127.0.0.1 - - [24/Nov/2026:05:10:16 +0000] "GET /orders HTTP/1.1" 502 26 7011
127.0.0.1 - - [24/Nov/2026:05:10:16 +0000] "GET /orders HTTP/1.1" 502 26 842
"""
APACHE_ERROR = ("[Tue Nov 24 05:10:16.489328 2026] [mpm_event:notice] [pid 13213:tid 13213] AH00489: "
                "Apache/2.4.71 (Debian) configured -- resuming normal operations\n")


def test_apache_access_log_is_read_through_its_logformat(tmp_path: Path) -> None:
    """Before: the access log was read in nginx's format, "none of the 4 lines matches", so the
    clients' 502s were unseen: "healthy", exit 0.  Offline (no probe) the 502s are known but not
    who made them: never healthy, the first 5xx line cited in the user's file."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "apache2.conf").write_text(APACHE_CONF.format(root=tmp_path))
    (tmp_path / "logs" / "apache-access.log").write_text(APACHE_ACCESS)
    (tmp_path / "logs" / "apache-error.log").write_text(APACHE_ERROR)
    report = diagnose(DiagnoseOptions(
        config=str(tmp_path / "apache2.conf"), proxy="apache",
        access_logs=[str(tmp_path / "logs" / "apache-access.log")],
        error_logs=[str(tmp_path / "logs" / "apache-error.log")], offline=True))
    assert not report.healthy
    top = report.findings[0]
    assert top.cause == "unexplained-5xx" and top.status_codes == [502]
    assert any(i.source == str(tmp_path / "logs" / "apache-access.log") for i in top.evidence)


def _probe(host: str, port: int, status: int, line: str) -> ProbeResult:
    return ProbeResult(ProbeTarget(host=host, port=port), connect=[ConnectAttempt(f"{host}:{port}", True)],
                       protocol=ProtocolResult("http", "http", status, line), ok=True)


def _apache_target(key: str) -> TargetFact:
    host, _, port = key.rpartition(":")
    return TargetFact(key=key, kind="proxy", host=host, port=int(port), file="/etc/apache2/site.conf",
                      line=3, location="/" + port, pass_file="/etc/apache2/site.conf", pass_line=3)


T0 = datetime(2026, 11, 24, 5, 10)
CLIENTS = ClientFailures(statuses={502: 4}, requests=4, first=T0, last=T0,
                         file="/var/log/apache2/access.log", line=1, request="GET /orders HTTP/1.1")


def test_relayed_5xx_names_the_backend_the_probe_got_5xx_from() -> None:
    """An access log without upstream fields: the backend named is the one answering 5xx, never
    its healthy peer."""
    ev = evidence(proxy="apache",
                  targets=(_apache_target("127.0.0.1:8080"), _apache_target("127.0.0.1:8081")),
                  client_5xx=CLIENTS, access_has_upstream=False,
                  probes={"127.0.0.1:8080": _probe("127.0.0.1", 8080, 200, "HTTP/1.1 200 OK"),
                          "127.0.0.1:8081": _probe("127.0.0.1", 8081, 502, "HTTP/1.1 502 Bad Gateway")})
    findings, _ = run_all(ev)
    assert findings[0].cause == "upstream-returned-5xx"
    assert findings[0].target == "127.0.0.1:8081" and findings[0].count == 4
    assert "Apache" in findings[0].explanation and "nginx" not in findings[0].explanation


def test_no_relayed_5xx_when_the_error_log_names_a_failure_at_the_target() -> None:
    """Apache logs its own failures of a backend (AH01102, AH00957): those 5xx are Apache's."""
    ah01102 = SymptomGroup(
        symptom="premature-close", peer="127.0.0.1:8081", count=4, first=T0, last=T0,
        statuses={502: 4}, times=(T0,),
        samples=(LogSample("AH01102: error reading status line from remote server 127.0.0.1:8081",
                           "/var/log/apache2/error.log", 3, T0),))
    ev = evidence(proxy="apache", targets=(_apache_target("127.0.0.1:8081"),), symptoms=(ah01102,),
                  client_5xx=CLIENTS, access_has_upstream=False,
                  probes={"127.0.0.1:8081": _probe("127.0.0.1", 8081, 502, "HTTP/1.1 502 Bad Gateway")})
    causes = [f.cause for f in run_all(ev)[0]]
    assert "upstream-returned-5xx" not in causes


def test_the_probe_asks_the_route_the_clients_got_a_5xx_on(tmp_path: Path) -> None:
    """An app's own 5xx is one route's (``/orders/status/502``), not ``/``'s: the matrix's
    gunicorn, uWSGI and Node cells behind Apache read ``unexplained-5xx`` while the probe asked
    ``GET /`` (200).  A target whose ``GET /`` answered below 500 is asked once more for the
    path of the first unclaimed 5xx, a plain GET; its 5xx answer is the proof."""
    from tests.support.backends import http_backend
    from why502.app.diagnose.probes import failed_path, probe_failed_path, probe_targets

    with http_backend(lambda path: 502 if path.startswith("/orders/") else 200) as port:
        key = f"127.0.0.1:{port}"
        targets = [TargetFact(key=key, host="127.0.0.1", port=port)]
        failures = ClientFailures(statuses={502: 3}, request="GET /orders/status/502 HTTP/1.1")
        found, as_json = probe_targets(targets, 2.0)
        assert found[key].protocol is not None and found[key].protocol.status == 200
        probe_failed_path(targets, found, as_json, failures, 2.0)
        assert found[key].protocol is not None and found[key].protocol.status == 502
        assert found[key].detail.startswith("GET /orders/status/502")
        assert as_json[key]["protocol"]["status"] == 502
    # only a plain GET of another path than /, and only 5xx no error-log line claims
    assert failed_path(failures) == "/orders/status/502"
    assert failed_path(ClientFailures(statuses={502: 3}, request="POST /orders HTTP/1.1")) is None
    assert failed_path(ClientFailures(statuses={502: 3}, request="GET / HTTP/1.1")) is None
    assert failed_path(ClientFailures(statuses={502: 3}, by_proxy=3, request="GET /x HTTP/1.1")) is None
    assert failed_path(ClientFailures(statuses={502: 1}, request="GET /a\x01b HTTP/1.1")) is None


def test_unclaimed_5xx_are_a_targets_only_when_nothing_else_could_have_sent_them() -> None:
    """``analyzers.apps.unclaimed_timing``: an access log without upstream fields credits its
    unclaimed 5xx to a target only when it is the config's only one (or an app server is known
    to listen on it); the proxy's own 5xx (claimed by error lines) are never credited."""
    from why502.analyzers.apps import unclaimed_timing

    one = TargetFact(key="127.0.0.1:8000", host="127.0.0.1", port=8000)
    other = TargetFact(key="127.0.0.1:8001", host="127.0.0.1", port=8001)
    first = datetime(2026, 11, 24, 11, 58)
    cf = ClientFailures(statuses={500: 4}, first=first, last=first)
    ev = evidence(targets=(one,), client_5xx=cf, access_has_upstream=False)
    got = unclaimed_timing(ev, one)
    assert got is not None and got.upstream == one.key and dict(got.backend_5xx) == {500: 4}
    assert got.first == first
    assert unclaimed_timing(evidence(targets=(one, other), client_5xx=cf, access_has_upstream=False),
                            one) is None
    assert unclaimed_timing(evidence(targets=(one,), client_5xx=cf, access_has_upstream=True), one) is None
    claimed = ClientFailures(statuses={502: 4}, by_proxy=4, first=first, last=first)
    assert unclaimed_timing(evidence(targets=(one,), client_5xx=claimed, access_has_upstream=False),
                            one) is None
