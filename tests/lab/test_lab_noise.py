"""Every answer holds on a noisy host: other jobs' OOM kills and segfaults of same-named
processes, yesterday's incident in the rotated error log, a scanner's TLS bytes on the HTTP port
(``why502.lab.noise``).  A few scenarios of different families, kept lean; ``why502 lab check
--noisy`` runs them all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from why502.lab.noise import kernel_noise, old_incident
from why502.lab.runtime import LabSkip, Stack, find_nginx
from why502.lab.scenarios import RECORDINGS


def _run_noisy(stack: Stack, scenario: Any) -> Any:
    """The scenario run on the noisy baseline (skipped when the machine lacks what it needs)."""
    try:
        return scenario.run(stack, noisy=True)
    except LabSkip as err:
        pytest.skip(str(err))


@pytest.mark.real
@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
@pytest.mark.parametrize("name", ["keepalive-race", "php-worker-timeout", "backend-5xx-combined-log",
                                  "two-causes-two-locations", "healthy-control"])
def test_the_answer_does_not_change_on_a_noisy_host(name: str) -> None:
    from why502.app.diagnose import diagnose

    scenario = RECORDINGS[name]
    with Stack() as stack:
        result = _run_noisy(stack, scenario)
        assert result.kernel_log is not None
        assert "Killed process 3101 (python3)" in result.kernel_log.read_text()
        assert result.access_log is not None
        access = result.access_log.read_text(errors="replace")
        # the baseline's traffic really went through this nginx: the other app, static files,
        # the TLS bytes and the client that hung up
        for needle in ('"GET /other/api/items HTTP/1.1" 200', '"GET /static/site.css HTTP/1.1" 200',
                       '"GET /static/missing-logo.png HTTP/1.1" 404', '" 400 ',
                       '"GET /other/report HTTP/1.1" 499'):
            assert needle in access, needle
        with stack.inside():
            report = diagnose(result.diagnose_options(stack))
    causes = [f.cause for f in report.findings]
    if scenario.cause is None:
        assert causes == [], causes
        assert any("past incident" in d.message for d in report.diagnostics)
    else:
        assert causes and causes[0] == scenario.cause, causes
    assert "backend-oom-killed" not in causes
    if name == "two-causes-two-locations":  # neither cause hides the other
        assert "backend-too-slow" in causes[:3], causes


def test_the_noise_is_what_the_classifier_recognises() -> None:
    """The baseline's lines are real formats: classify names each (else the test proves nothing)."""
    from datetime import datetime

    from why502.parsers.errorlog import classify_line

    now = datetime(2026, 11, 23, 9, 0)
    kinds = [r.symptom if (r := classify_line(line)) else None for line in kernel_noise(now)]
    assert kinds.count("oom-kill") == 3 and kinds.count("worker-crashed") == 2, kinds
    old = [r.symptom if (r := classify_line(line)) else None for line in old_incident(now)]
    assert old == ["connection-refused"] * 3


def test_the_recorded_baseline_is_real_client_noise() -> None:
    """The recording holds what the baseline promises, and none of it is an upstream failure:
    a 404's ``open() failed``, the ClientHello's raw bytes, a client's reset and a 499 are the
    client side of a host (classify recognises none of them as a symptom)."""
    from why502.lab.noise import load_baseline
    from why502.parsers.errorlog import classify_line

    base = load_baseline()
    access = "\n".join(base["access"])
    for needle in ("\" 200 ", "\" 404 ", "\" 400 ", "\" 499 ", 'upstream_addr="' + base["backend"]):
        assert needle in access, needle
    error = base["error"]
    assert any("client sent invalid method" in line and "\\x16\\x03" not in line and "\x16\x03" in line
               for line in error), "the ClientHello's raw bytes, as nginx wrote them"
    assert any("open() " in line and "(2: No such file or directory)" in line for line in error)
    assert any("client prematurely closed connection" in line for line in error)
    assert [line for line in error if classify_line(line) is not None] == []


@pytest.mark.real
@pytest.mark.parametrize("name", ["haproxy-too-slow", "apache-balancer-all-down"])
def test_apache_and_haproxy_keep_their_answer_under_their_own_noise(name: str) -> None:
    """The baseline's traffic goes through the scenario's own Apache/HAProxy (routes added, the
    proxy restarted), yesterday's incident lands in the rotated log, and the answer holds."""
    from why502.app.diagnose import diagnose
    from why502.lab.noise_proxies import OTHER_BACKEND, STATIC_BACKEND

    scenario = RECORDINGS[name]
    with Stack() as stack:
        result = _run_noisy(stack, scenario)
        assert result.error_log is not None
        log = result.error_log.read_text(errors="replace")
        rotated = Path(f"{result.error_log}.1").read_text()
        if scenario.proxy == "haproxy":
            needles = [f" {OTHER_BACKEND}/other1 ", f" {STATIC_BACKEND}/static1 ", "<BADREQ>",
                       " CD-- "]
            assert " SC-- " in rotated
        else:
            access = (result.error_log.parent / "apache-access.log").read_text(errors="replace")
            assert '"GET /other/api/items HTTP/1.1" 200' in access
            assert '"GET /static/missing-logo.png HTTP/1.1" 404' in access
            assert '" 400 ' in access
            needles = ["AH00128: File does not exist"]
            assert "AH00957" in rotated
        for needle in needles:
            assert needle in log, needle
        with stack.inside():
            report = diagnose(result.diagnose_options(stack))
    causes = [f.cause for f in report.findings]
    assert causes and causes[0] == scenario.cause, causes
    assert "backend-oom-killed" not in causes


@pytest.mark.parametrize("proxy", ["apache", "haproxy"])
def test_the_recorded_proxy_noise_is_client_noise_and_an_old_refusal(proxy: str) -> None:
    """Apache's and HAProxy's recordings: no client-side line is an upstream failure to the
    classifier; yesterday's incident is (a refusal: that is why it must be aged, not hidden)."""
    from why502.lab.noise import load_baseline
    from why502.parsers.errorlog import classify_line

    base = load_baseline()[proxy]
    kinds = {r.symptom for line in base["old_error"] if (r := classify_line(line)) is not None}
    assert "connection-refused" in kinds, kinds
    found = [(line, r.symptom) for line in base["error"] if (r := classify_line(line)) is not None]
    assert found == [], found
