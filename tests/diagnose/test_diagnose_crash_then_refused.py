"""A backend that broke mid-response and then refused every connect crashed (issue 25, shape 3).

The root cause is the crash (backend-crashed); "nothing listens" is its consequence.  The rule is
the time order of the two symptoms at one target (``analyzers.base.died_then_refused``), whatever
proxy wrote them.  The matrix's crash cells behind Apache were read as backend-not-running on
``[::1]`` every time and on 127.0.0.1 now and then, for two reasons these tests pin:

- identity: mod_proxy_http writes AH01102's peer as ``backend->hostname:port``, and
  apr_uri_parse() strips an IPv6 literal's brackets ("remote server ::1:37237"), while AH00957
  and the config's key say ``[::1]:37237``: the death and the refusals were two peers;
- order: concurrent requests are logged by different threads as each finishes, so a refusal can
  be stamped a millisecond before the premature close of the request in flight at the crash.

The Apache lines are what a real Apache 2.4 wrote in ``crash-apache-tcp6-steady-quiet``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from tests.support.evidence import evidence
from why502.analyzers.rank import run_all
from why502.app.diagnose import DiagnoseOptions, diagnose
from why502.evidence.model import Sample, SymptomGroup, TargetFact

APACHE_CONF = """ServerRoot {root}
ServerName localhost
Listen 127.0.0.1:44187
ErrorLog {root}/logs/apache-error.log
LogLevel warn
LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so
ProxyTimeout 1
ProxyPass / http://[::1]:37237/
"""
_T = "[Tue Nov 24 05:29:18.{us} 2026] "
APACHE_ERROR = "".join([
    _T.format(us=461603) + "[proxy_http:error] [pid 20273:tid 20279] (20014)Internal error (specific "
    "information not available): [client 127.0.0.1:45658] AH01102: error reading status line from "
    "remote server ::1:37237\n",
    _T.format(us=461663) + "[proxy:error] [pid 20273:tid 20279] [client 127.0.0.1:45658] AH00898: Error "
    "reading from remote server returned by /orders\n",
    *(_T.format(us=us) + "[proxy:error] [pid 20272:tid 20302] (111)Connection refused: AH00957: http: "
      "attempt to connect to [::1]:37237 (::1:37237) failed\n"
      + _T.format(us=us + 86) + "[proxy_http:error] [pid 20272:tid 20302] [client 127.0.0.1:45668] "
      "AH01114: HTTP: failed to make connection to backend: ::1\n"
      for us in (462716, 463498, 464139)),
])


def test_apache_crash_on_ipv6_is_one_peer_and_ranks_the_crash_first(tmp_path: Path) -> None:
    """Before: AH01102's "::1:37237" was another peer than "[::1]:37237": backend-not-running
    (0.97, three refusals) over backend-crashed (0.54, naming "::1:37237")."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "apache2.conf").write_text(APACHE_CONF.format(root=tmp_path))
    (tmp_path / "logs" / "apache-error.log").write_text(APACHE_ERROR)
    report = diagnose(DiagnoseOptions(config=str(tmp_path / "apache2.conf"), proxy="apache",
                                      error_logs=[str(tmp_path / "logs" / "apache-error.log")],
                                      offline=True))
    top = report.findings[0]
    assert top.cause == "backend-crashed", [(f.cause, f.target) for f in report.findings]
    assert top.target == "[::1]:37237"
    assert all(f.target == "[::1]:37237" for f in report.findings if f.target)


T0 = datetime(2026, 11, 24, 5, 29, 18)
KEY = "127.0.0.1:50833"


def _group(symptom: str, times: list[datetime], text: str, status: int) -> SymptomGroup:
    return SymptomGroup(symptom=symptom, peer=KEY, count=len(times), first=min(times), last=max(times),
                        statuses={status: len(times)}, times=tuple(sorted(times)),
                        samples=(Sample(text, "/var/log/apache2/error.log", 1, min(times)),),
                        source="apache")


def test_a_refusal_stamped_just_before_the_crash_is_still_after_it() -> None:
    """Bursty traffic: the refusal of a request that connected just after the death is logged
    1 ms before the AH01102 of the request in flight.  Still the crash first; a close a minute
    after the refusals began is not (the backend came back and broke again: no such order)."""
    crash = T0 + timedelta(milliseconds=1)
    refused = [T0, T0 + timedelta(milliseconds=2), T0 + timedelta(milliseconds=3)]
    target = TargetFact(key=KEY, kind="proxy", host="127.0.0.1", port=50833, file="/etc/apache2/a.conf",
                        line=3, location="/", pass_file="/etc/apache2/a.conf", pass_line=3)

    def top(death_at: datetime) -> str:
        ev = evidence(proxy="apache", targets=(target,), symptoms=(
            _group("premature-close", [death_at], "AH01102: error reading status line from remote "
                   f"server {KEY}", 502),
            _group("connection-refused", refused, "(111)Connection refused: AH00957: http: attempt "
                   f"to connect to {KEY} ({KEY}) failed", 503)))
        return run_all(ev)[0][0].cause

    assert top(crash) == "backend-crashed"
    assert top(T0 - timedelta(seconds=2)) == "backend-crashed"  # the plain order
    assert top(T0 + timedelta(seconds=30)) == "backend-not-running"
