"""Cloud load balancer / proxy access logs: every published and recorded line of
``tests/fixtures/cloud`` is read into the status the client got, who made it, the symptom and
the RFC 9209 type its ``expect`` says (README of that folder).

Where the log itself cannot tell what the expectation (written from what the backend really did)
says, the test accepts exactly what the log does say, listed in ``LOG_CANNOT_TELL`` with the
reason -- never a different status or a different maker.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from why502.proxies.logfamilies import families

CLOUD = Path(__file__).resolve().parents[1] / "fixtures" / "cloud"

# (file glob, expected symptom) -> symptoms the line itself supports instead, and why.
LOG_CANNOT_TELL: dict[tuple[str, str], tuple[str | None, ...]] = {
    # Caddy's and Traefik's access logs carry no error text: only the status and that the proxy
    # made it (the error log / DEBUG log has the cause).
    ("caddy-access", "connection-refused"): (None,),
    ("caddy-access", "premature-close"): (None,),
    ("caddy-access", "connection-reset"): (None,),
    ("caddy-access", "invalid-response"): (None,),
    ("traefik-access", "premature-close"): (None,),
    ("traefik-access", "connection-reset"): (None,),
    # the 503: the health check had marked the server down
    ("traefik-access", "connection-refused"): (None, "no-live-upstreams"),
    # Envoy's UF flag without a transport failure reason says the connect failed, not how:
    # router.cc streamResetReasonToResponseFlag() sets UF for refused, timed-out and unreachable
    # connects alike (the recorded default format carries no %UPSTREAM_TRANSPORT_FAILURE_REASON%).
    ("envoy", "connection-refused"): ("connect-failed",),
    # Envoy logs a TCP RST before the response as UC / connection_termination, like a crash.
    ("envoy", "connection-reset"): ("premature-close",),
    # Envoy's UPE details do not say which protocol error (#26691: too many headers).
    ("envoy", "header-too-big"): ("invalid-response",),
    # Caddy 2.6.2 wrote "connection reset by peer" for the request that found the port closed.
    ("caddy.stderr", "connection-refused"): ("connection-reset",),
}


def _published() -> list[tuple[str, str, dict[str, object]]]:
    rows = []
    for path in sorted(CLOUD.glob("*.jsonl")):
        for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            d = json.loads(raw)
            rows.append((f"{path.name}:{n}", str(d["line"]), dict(d["expect"])))
    return rows


def _recorded() -> list[tuple[str, str, dict[str, object]]]:
    rows = []
    for exp in sorted(CLOUD.glob("recorded/*/expect.jsonl")):
        for raw in exp.read_text(encoding="utf-8").splitlines():
            e = json.loads(raw)
            lines = (exp.parent / e["file"]).read_text(encoding="utf-8").splitlines()
            rows.append((f"{exp.parent.name}/{e['file']}:{e['line_no']}", lines[e["line_no"] - 1], e))
    return rows


ROWS = _published() + _recorded()


def test_fixture_set_is_complete() -> None:
    families = {name.split(".")[0].split("/")[0].split("-")[0] for name, _, _ in ROWS}
    assert {"alb", "elb", "cloudflare", "envoy", "istio", "caddy", "traefik"} <= families
    assert len(ROWS) > 140


@pytest.mark.parametrize(("name", "line", "expect"), ROWS, ids=[r[0] for r in ROWS])
def test_line_reads_as_expected(name: str, line: str, expect: dict[str, object]) -> None:
    rec = families().parse_line(line)
    assert rec is not None, f"{name}: not recognised"
    assert rec.status == expect["status"], name
    assert rec.made_by == expect["made_by"], name
    want = expect["symptom"]
    allowed: tuple[str | None, ...] = (want,) if isinstance(want, str) or want is None else ()
    for (where, sym), alt in LOG_CANNOT_TELL.items():
        if where in name and sym == want:
            allowed += alt
    assert rec.symptom in allowed, f"{name}: {rec.symptom} not in {allowed}"
    if rec.symptom == want and want is not None:
        assert rec.proxy_status == expect["proxy_status"], name
    if want is None and rec.symptom is None:
        assert rec.proxy_status in (expect["proxy_status"], None), name


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("recorded/envoy/envoy-default.log", "envoy"),
        ("recorded/envoy/envoy-istio-text.log", "envoy"),
        ("recorded/envoy/envoy-istio-json.log", "envoy"),
        ("recorded/caddy-2.6.2-debian/caddy-access.log", "caddy"),
        ("recorded/caddy-2.11.7-pypi/caddy.stderr.log", "caddy"),
        ("recorded/traefik-json/traefik-access-json.log", "traefik"),
        ("recorded/traefik-common/traefik-access-common.log", "traefik"),
    ],
)
def test_detect_family_from_content(path: str, family: str) -> None:
    assert families().detect((CLOUD / path).read_text(encoding="utf-8").splitlines()) == family


def test_detect_published_families() -> None:
    for fname, family in (("alb", "alb"), ("elb", "elb"), ("cloudflare", "cloudflare"),
                          ("istio", "envoy"), ("caddy", "caddy")):
        lines = [json.loads(r)["line"] for r in (CLOUD / f"{fname}.jsonl").read_text().splitlines()]
        assert families().detect(lines) == family, fname


def test_hostile_and_foreign_lines_are_not_records() -> None:
    for line in ("", "garbage", "{", '{"a": 1}', "\x1b[31m[error]\x1b[0m",
                 '2024/05/01 12:00:01 [error] 7#7: *1 connect() failed (111: Connection refused)'):
        assert families().parse_line(line) is None
