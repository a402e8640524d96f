"""A proxy's "the response did not parse", decided by what the port speaks (issue 25, shape 2).

HAProxy's termination state ``PH`` (configuration.txt 8.5: "the proxy blocked the server's
response, because it was invalid, incomplete, dangerous", ``H``: while reading its headers) does
not say how the response was bad.  The live probe decides: a port that answers an HTTP status
line -- even one that does not parse, such as the matrix's ``HTTP/1.1 OK`` with no code (RFC 9112
4: the status code is required) -- speaks HTTP badly: backend-invalid-response.  A port that
answers TLS, FastCGI or binary speaks another protocol: protocol-mismatch.  No probe (offline):
undecided, kept as protocol-mismatch (``tests/haproxy``'s ``ph-invalid-header`` recording).

The line is what a real HAProxy wrote in the matrix's ``bad-status-line`` cells.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.support.evidence import evidence
from why502.analyzers.rank import run_all
from why502.evidence.model import Sample, SymptomGroup, TargetFact
from why502.facts.probes import ConnectAttempt, ProbeResult, ProbeTarget, ProtocolResult

T0 = datetime(2026, 11, 24, 5, 9, 53)
PH_LINE = ('<134>Nov 24 05:09:53 localhost haproxy[11524]: 127.0.0.1:46822 [24/Nov/2026:05:09:53.049] '
           'fe app/web1 0/0/0/-1/0 502 209 - - PH-- 1/1/0/0/0 0/0 "GET /orders HTTP/1.1"')
KEY = "127.0.0.1:35129"
TARGET = TargetFact(key=KEY, kind="proxy", scheme="http", host="127.0.0.1", port=35129,
                    group="app", file="/etc/haproxy/haproxy.cfg", line=20, server="fe")
PH = SymptomGroup(symptom="invalid-response", peer=KEY, count=4, first=T0, last=T0, statuses={502: 4},
                  times=(T0,), samples=(Sample(PH_LINE, "/var/log/haproxy.log", 2, T0),), source="haproxy")


def _probe(answer: str, status: int | None = None, line: str | None = None) -> ProbeResult:
    return ProbeResult(ProbeTarget(host="127.0.0.1", port=35129),
                       connect=[ConnectAttempt(KEY, True)],
                       protocol=ProtocolResult("http", answer, status, line))


@pytest.mark.parametrize(("probe", "cause"), [
    (_probe("http", None, "HTTP/1.1 OK"), "backend-invalid-response"),  # HTTP, malformed
    (_probe("http", 200, "HTTP/1.1 200 OK"), "backend-invalid-response"),  # HTTP, a bad header
    (_probe("tls"), "protocol-mismatch"),  # the port speaks TLS
    (_probe("fastcgi"), "protocol-mismatch"),  # the port speaks FastCGI
    (None, "protocol-mismatch"),  # offline: undecided, the commoner cause
])
def test_ph_is_decided_by_what_the_port_speaks(probe: ProbeResult | None, cause: str) -> None:
    ev = evidence(proxy="haproxy", targets=(TARGET,), symptoms=(PH,),
                  probes={KEY: probe} if probe is not None else {})
    findings, _ = run_all(ev)
    assert findings[0].cause == cause, [f.cause for f in findings]
    assert findings[0].target == KEY
    if cause == "backend-invalid-response":
        assert "HAProxy" in findings[0].explanation and "nginx" not in findings[0].explanation
