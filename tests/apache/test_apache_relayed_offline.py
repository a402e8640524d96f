"""Offline proof that Apache relayed a backend's own 5xx (issue 25 item 4): ``%{proxy-status}n``.

mod_proxy_http sets the request note ``proxy-status`` to the backend's status code once it has
read a valid status line (mod_proxy_http.c ``ap_proxy_http_process_response``), and only then:
a request Apache failed itself (refused, reset, no status line: AH00957, AH01102) logs ``-``.
A LogFormat with ``%{proxy-status}n`` therefore says, with no live probe, which 5xx the backend
made.  Real Apache httpd on loopback, a second ``CustomLog`` with that item beside the lab's
own; ``why502 diagnose --offline`` reads it (``proxies.apache.log``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.clirun import why502
from why502.proxies.apache.log import compile_log_format, to_nginx_line

RELAY_FORMAT = '"%h %l %u %t \\"%r\\" %>s %b %D %{proxy-status}n"'


def test_the_line_says_who_made_the_status() -> None:
    fmt = compile_log_format('%h %l %u %t "%r" %>s %b %D %{proxy-status}n')
    assert fmt.relay
    head = '127.0.0.1 - - [24/Nov/2026:08:12:49 +0000] "GET /a HTTP/1.1"'
    relayed = to_nginx_line(f"{head} 502 26 4257 502", fmt, "127.0.0.1:8080")
    own = to_nginx_line(f"{head} 502 381 5113 -", fmt, "127.0.0.1:8080")
    replaced = to_nginx_line(f"{head} 502 381 5113 200", fmt, "127.0.0.1:8080")
    static = to_nginx_line(f"{head} 200 10 99 -", fmt, "127.0.0.1:8080")
    assert relayed is not None and 'us="502"' in relayed and 'uht="0.004"' in relayed
    # Apache's own 502 (no status line came, or it replaced the backend's answer): no header time
    assert own is not None and 'us="502"' in own and 'uht="-"' in own
    assert replaced is not None and 'uht="-"' in replaced
    assert static is not None and 'ua="-" us="-"' in static
    # without the item the line is what it always was
    plain = compile_log_format('%h %l %u %t "%r" %>s %b %D')
    assert not plain.relay and "ua=" not in (to_nginx_line(f"{head} 502 26 4257", plain) or "ua=")


def _run(mode: str) -> tuple[str, list[dict[str, object]], str]:
    """Apache in front of a lab backend in ``mode``, a few requests, then ``diagnose
    --offline`` on the config, the error log and the access log with ``%{proxy-status}n``."""
    from why502.lab.runtime import LabSkip, Stack
    from why502.proxies.apache.lab import apache_paths

    with Stack() as stack:
        try:
            backend = stack.add_backend(mode)
            relay_log = stack.p.root / "logs" / "relay-access.log"
            stack.start_apache(f"LogFormat {RELAY_FORMAT} relay\nCustomLog {relay_log} relay\n"
                               f"ProxyTimeout 1\nProxyPass / http://{backend.address}/\n")
        except LabSkip as err:
            pytest.skip(str(err))
        statuses = [r.status for r in stack.requests("/orders", count=3)]
        assert any(s is not None and s >= 500 for s in statuses), statuses
        conf, error_log, _access = apache_paths(stack)
        stack.wait_for_log(relay_log, "/orders", timeout=3)
        done = why502("diagnose", "--offline", "--format", "json", "--proxy", "apache",
                      "--config", str(conf), "--error-log", str(error_log),
                      "--access-log", str(relay_log))
        assert done.returncode in (0, 1), done.stderr
        findings = json.loads(done.stdout)["findings"]
        return backend.address, findings, Path(relay_log).read_text()


@pytest.mark.real
def test_a_relayed_502_is_named_offline() -> None:
    address, findings, log = _run("status502")
    assert log.split()[-1] == "502"  # the note: the backend's own status line
    assert findings and findings[0]["cause"] == "upstream-returned-5xx", findings
    assert findings[0].get("target") == address


@pytest.mark.real
def test_a_proxy_made_502_is_never_called_relayed() -> None:
    """The backend dies mid-request (AH01102, then refused): Apache made every 5xx, the note
    is ``-`` on each, and nothing is called the backend's own 5xx."""
    _address, findings, log = _run("crash")
    assert all(line.split()[-1] == "-" for line in log.splitlines() if line.strip())
    assert findings and findings[0]["cause"] == "backend-crashed", findings
    assert "upstream-returned-5xx" not in {f["cause"] for f in findings}


@pytest.mark.parametrize("err", ["(70007)The timeout specified has expired",
                                 "(104)Connection reset by peer"])
def test_a_client_side_fcgi_dispatch_error_is_no_backend_symptom(err: str) -> None:
    """mod_proxy_fcgi's AH01075 with "(reading input brigade)" is the client's body that did not
    come (a slow client: Apache answers 408), with "(passing ... to output filters)" the answer
    the client did not take: no backend symptom (recorded from the lab's slow-client cells)."""
    from why502.parsers.errorlog import classify_line

    head = ("[Tue Nov 24 08:28:27.458289 2026] [proxy_fcgi:error] [pid 6191:tid 6197] "
            f"{err}: [client 127.0.0.1:56474] AH01075: Error dispatching request to : ")
    for tail in ("(reading input brigade)", "(passing headers brigade to output filters)",
                 "(passing brigade to output filters)"):
        found = classify_line(head + tail)
        assert found is None, (tail, found)
    # the batch engine (polars) honours the rules' ``unless`` the same way
    import polars as pl

    from why502.parsers.errorlog_batch import classify_series

    lines = [head + t for t in ("(reading input brigade)", "(passing brigade to output filters)",
                                "(polling)")]
    frame = classify_series(pl.Series(lines), year=2026)
    per_line = {i: c.symptom for i, line in enumerate(lines) if (c := classify_line(line)) is not None}
    assert dict(zip(frame.get_column("idx").to_list(), frame.get_column("symptom").to_list())) == per_line
    assert list(per_line) == [2], per_line  # only the backend's (polling)
    # the backend's own dispatch failures still count
    polling = classify_line(head.replace(err, "(70007)The timeout specified has expired") + "(polling)")
    assert polling is not None and polling.symptom == "read-timeout"
