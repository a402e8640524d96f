"""Issue 24 item 5: a host whose proxy made 5xx for its clients is never "healthy", whatever
the family.  For each family a log in which every request got a 5xx, read the way a user hands
it over (``diagnose --offline``, no ``--log-type`` hint): exit 1, ``healthy: false``, and a finding
that names the 5xx (its status codes) and the file it came from.

The lines: recorded from real proxies (``tests/fixtures/cloud/recorded``: Envoy, Caddy,
Traefik), real lines from public threads (``tests/fixtures/cloud/*.jsonl``,
``tests/fixtures/edge-field/*.jsonl``: ALB, Cloudflare Logpush, Istio, cloudflared, Kong,
APISIX; provenance per line there), and for the formats the proxies' own documentation defines
(nginx's and Apache's ``combined``, HAProxy's ``httplog`` example of its configuration manual,
APISIX's default ``access_log_format`` of ``conf/config.yaml``) lines written in that format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunMain
from tests.support.paths import ROOT_DIR

FIX = ROOT_DIR / "tests" / "fixtures"
REC = FIX / "cloud" / "recorded"


def _jsonl(path: Path, family: str | None = None) -> list[str]:
    """The raw (unmangled) lines of a corpus file whose client status is a 5xx."""
    out = []
    for row in map(json.loads, path.read_text().splitlines()):
        status = (row.get("expect") or {}).get("status")
        if (status and status >= 500 and row.get("framing", "raw") == "raw"
                and row.get("role", "failure") == "failure"
                and (family is None or row["family"] == family)):
            out.append(row["line"])
    return out


def _five(path: Path, marker: str) -> list[str]:
    """The lines of a recorded log that carry a 5xx (``marker`` is how the format writes it)."""
    import re

    rx = re.compile(marker)
    return [line for line in path.read_text().splitlines() if rx.search(line)]


COMBINED = [
    '192.0.2.7 - - [24/Nov/2026:10:00:01 +0000] "GET /api/orders HTTP/1.1" 502 157 "-" "curl/8.5.0"',
    '192.0.2.8 - - [24/Nov/2026:10:00:02 +0000] "GET /api/orders HTTP/1.1" 502 157 "-" "curl/8.5.0"',
    '192.0.2.9 - - [24/Nov/2026:10:00:04 +0000] "POST /api/cart HTTP/1.1" 504 167 "-" "curl/8.5.0"',
]
# HAProxy's configuration manual, "8.2.3. HTTP log format" example, as a 503 with no server
HTTPLOG = [
    "Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] "
    'http-in static/<NOSRV> 10/0/-1/-1/10 503 212 - - SC-- 1/1/0/0/0 0/0 "GET /index.html HTTP/1.1"',
    "Feb  6 12:14:15 localhost haproxy[14389]: 10.0.1.2:33318 [06/Feb/2009:12:14:15.101] "
    'http-in static/<NOSRV> 10/0/-1/-1/10 503 212 - - SC-- 1/1/0/0/0 0/0 "GET /app.js HTTP/1.1"',
]
# APISIX conf/config.yaml access_log_format: "$remote_addr - $remote_user [$time_local]
# $http_host \"$request\" $status $body_bytes_sent $request_time \"$http_referer\"
# \"$http_user_agent\" $upstream_addr $upstream_status $upstream_response_time
# \"$upstream_scheme://$upstream_host$upstream_uri\""
APISIX_ACCESS = [
    '10.0.0.5 - - [24/Nov/2026:10:00:01 +0000] api.example.com "GET /v1/users HTTP/1.1" 502 154 '
    '0.002 "-" "curl/8.5.0" 10.0.1.20:8080 502 0.001 "http://api.example.com/v1/users"',
    '10.0.0.6 - - [24/Nov/2026:10:00:03 +0000] api.example.com "GET /v1/users HTTP/1.1" 504 160 '
    '60.001 "-" "curl/8.5.0" 10.0.1.20:8080 504 60.001 "http://api.example.com/v1/users"',
]

# family -> (the flag a user names the log with, its lines)
CASES: dict[str, tuple[str, list[str]]] = {
    "nginx": ("--access-log", COMBINED),
    "apache": ("--access-log", COMBINED),  # Apache's combined is nginx's: --proxy apache below
    "haproxy": ("--access-log", HTTPLOG),
    "envoy": ("--access-log", _five(REC / "envoy" / "envoy-default.log", r'" 5\d\d ')),
    "istio": ("--access-log", _jsonl(FIX / "cloud" / "istio.jsonl")[:1]),
    "caddy": ("--access-log", _five(REC / "caddy-2.11.7-pypi" / "caddy-access.log", r'"status":5')),
    "traefik": ("--access-log", _five(REC / "traefik-common" / "traefik-access-common.log",
                                      r'" 5\d\d ')),
    "kong": ("--error-log", _jsonl(FIX / "edge-field" / "kong.jsonl")),
    "apisix": ("--access-log", APISIX_ACCESS),
    "apisix-error": ("--error-log", _jsonl(FIX / "edge-field" / "apisix.jsonl")),
    "alb": ("--access-log", _jsonl(FIX / "cloud" / "alb.jsonl")),
    "cloudflare-logpush": ("--access-log", _jsonl(FIX / "cloud" / "cloudflare.jsonl")),
    "cloudflared": ("--error-log", _jsonl(FIX / "edge-field" / "cloudflared.jsonl")),
}


@pytest.mark.parametrize("family", sorted(CASES))
def test_a_log_of_only_5xx_is_never_healthy(run_main: RunMain, tmp_path: Path, family: str) -> None:
    flag, lines = CASES[family]
    assert lines, f"no 5xx line for {family} in the fixtures"
    log = tmp_path / f"{family}.log"
    log.write_text("\n".join(lines) + "\n")
    more = ["--proxy", "apache"] if family == "apache" else []
    code, out, err = run_main("diagnose", "--offline", flag, str(log), *more, "--format", "json")
    assert code == 1, (family, code, err[-500:])
    report: dict[str, Any] = json.loads(out)
    assert report["healthy"] is False
    assert report["findings"], family
    # the symptom is named: a 5xx status (or the symptom the proxy's line says) and the file
    top = report["findings"][0]
    assert any(s >= 500 for s in top["status_codes"]) or top["symptoms"], (family, top)
    assert any(str(log) in json.dumps(e) for f in report["findings"] for e in f["evidence"]), \
        (family, [e["summary"] for e in top["evidence"]])
