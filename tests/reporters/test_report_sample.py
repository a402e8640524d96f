"""A realistic incident Report for the report tests, and its JSON round trip.

The incident: PHP-FPM pool ``www`` (pm.max_children = 5) is exhausted during a burst; nginx
returns 504 (read timeouts) and 502 (unix-socket backlog full, EAGAIN); the kernel OOM-kills a
php-fpm child, systemd restarts the unit, the admin reloads nginx.  The log lines follow the
message formats in docs/reference/proxy-messages.md (nginx ngx_http_upstream.c /
ngx_event_connect.c, php-fpm fpm_process_ctl.c, kernel oom_kill.c, systemd service.c).
"""

from __future__ import annotations

import json

from why502.findings.model import (
    Diagnostic,
    EvidenceItem,
    Finding,
    Fix,
    Report,
    TimelineEvent,
    TimelinePoint,
    UpstreamSummary,
)

FPM_CONF = "/etc/php/8.2/fpm/pool.d/www.conf"
SOCK = "unix:/run/php/php8.2-fpm.sock"

READ_TIMEOUT_LINE = (
    "2026/11/21 09:52:03 [error] 812#812: *4411 upstream timed out (110: Connection timed out) while "
    "reading response header from upstream, client: 203.0.113.9, server: shop.example, request: "
    '"GET /checkout HTTP/1.1", upstream: "fastcgi://unix:/run/php/php8.2-fpm.sock", host: "shop.example"'
)
BACKLOG_LINE = (
    "2026/11/21 09:53:10 [error] 812#812: *4520 connect() to unix:/run/php/php8.2-fpm.sock failed "
    "(11: Resource temporarily unavailable) while connecting to upstream, client: 198.51.100.4, "
    'server: shop.example, request: "GET /cart HTTP/1.1", upstream: '
    '"fastcgi://unix:/run/php/php8.2-fpm.sock:", host: "shop.example"'
)
MAX_CHILDREN_LINE = (
    "[21-Nov-2026 09:51:47] WARNING: [pool www] server reached pm.max_children setting (5), "
    "consider raising it"
)
OOM_LINE = (
    "Nov 21 09:55:30 web1 kernel: Out of memory: Killed process 23817 (php-fpm8.2) total-vm:912344kB, "
    "anon-rss:702112kB, file-rss:0kB, shmem-rss:1024kB, UID:33 pgtables:1612kB oom_score_adj:0"
)
RESTART_LINE = (
    "Nov 21 09:55:33 web1 systemd[1]: php8.2-fpm.service: Scheduled restart job, restart counter is at 1."
)
RELOAD_LINE = "2026/11/21 09:58:00 [notice] 801#801: signal process started"

FIX_DIFF = f"""--- a{FPM_CONF}
+++ b{FPM_CONF}
@@ -110,7 +110,7 @@
 ; Note: This value is mandatory.
-pm.max_children = 5
+pm.max_children = 20
{" "}
 ; The number of child processes created on startup.
"""

# Per-minute counts: quiet, a burst from 09:52 to 09:58, then recovery.  (minute offset -> counts)
BURST: dict[int, dict[str, int]] = {
    12: {"504": 3},
    13: {"504": 9, "502": 4},
    14: {"504": 14, "502": 22},
    15: {"504": 11, "502": 37},
    16: {"504": 8, "502": 30},
    17: {"504": 5, "502": 12},
    18: {"502": 3},
}
TOTAL_502 = sum(c.get("502", 0) for c in BURST.values())  # 108
TOTAL_504 = sum(c.get("504", 0) for c in BURST.values())  # 50


def timeline() -> list[TimelinePoint]:
    points = []
    for i in range(30):
        minute = f"2026-11-21T09:{40 + i:02d}" if 40 + i < 60 else f"2026-11-21T10:{40 + i - 60:02d}"
        counts = BURST.get(i, {})
        points.append(TimelinePoint(minute=minute, counts=dict(counts), total=180 + sum(counts.values())))
    return points


def sample_report(request_line: str = "GET /checkout HTTP/1.1") -> Report:
    """The PHP-FPM exhaustion incident; ``request_line`` lets tests inject hostile text."""
    evidence = [
        EvidenceItem(
            kind="log",
            summary="PHP-FPM pool www reached pm.max_children (5)",
            source="/var/log/php8.2-fpm.log",
            line=1804,
            time="2026-11-21T09:51:47",
            text=MAX_CHILDREN_LINE,
            symptom="fpm-max-children",
            count=4,
        ),
        EvidenceItem(
            kind="log",
            summary=f"first read timeout: {request_line}",
            source="/var/log/nginx/error.log",
            line=20331,
            time="2026-11-21T09:52:03",
            text=READ_TIMEOUT_LINE.replace("GET /checkout HTTP/1.1", request_line),
            symptom="read-timeout",
            count=TOTAL_504,
        ),
        EvidenceItem(
            kind="log",
            summary="first backlog-full 502 on the FPM socket",
            source="/var/log/nginx/error.log",
            line=20412,
            time="2026-11-21T09:53:10",
            text=BACKLOG_LINE,
            symptom="backlog-full",
            count=TOTAL_502,
        ),
        EvidenceItem(
            kind="config",
            summary="pm = dynamic, pm.max_children = 5",
            source=FPM_CONF,
            line=113,
            text="pm.max_children = 5",
        ),
        EvidenceItem(kind="stat", summary="158 of 5,558 requests failed between 09:52 and 09:58", count=158),
    ]
    top = Finding(
        cause="workers-exhausted",
        title="PHP-FPM pool 'www' ran out of workers (pm.max_children = 5)",
        confidence=0.92,
        status_codes=[502, 504],
        symptoms=["backlog-full", "read-timeout"],
        explanation=(
            "Every PHP-FPM worker of pool www was busy. New connections queued in the socket's "
            "listen backlog until it filled (502, EAGAIN) and queued requests waited longer than "
            "fastcgi_read_timeout (504).\n\nRaise pm.max_children within the memory budget, or "
            "make the slow requests faster."
        ),
        upstream="php-fpm",
        target=SOCK,
        evidence=evidence,
        fix=Fix(
            summary="Raise pm.max_children for pool www (about 60 MB per worker fits in RAM).",
            commands=["sudo systemctl reload php8.2-fpm", "sudo php-fpm8.2 -tt"],
            diff=FIX_DIFF,
            file=FPM_CONF,
            notes=["Check memory: ps -ylC php-fpm8.2 --sort:rss"],
        ),
        first_seen="2026-11-21T09:52:03",
        last_seen="2026-11-21T09:58:41",
        count=TOTAL_502 + TOTAL_504,
    )
    oom = Finding(
        cause="backend-oom-killed",
        title="The kernel OOM-killed a php-fpm8.2 worker",
        confidence=0.41,
        status_codes=[502],
        symptoms=["premature-close"],
        explanation="A php-fpm child was killed for memory during the burst.",
        upstream="php-fpm",
        target=SOCK,
        evidence=[
            EvidenceItem(
                kind="kernel",
                summary="OOM kill of php-fpm8.2 (pid 23817)",
                source="journal",
                time="2026-11-21T09:55:30",
                text=OOM_LINE,
                symptom="oom-kill",
            )
        ],
        fix=Fix(summary="Lower pm.max_children or memory_limit so the pool fits in RAM."),
        count=3,
    )
    return Report(
        findings=[top, oom],
        diagnostics=[
            Diagnostic("warning", "permission denied reading the journal; used /var/log/syslog", "journal"),
            Diagnostic(
                "info", "12 access-log lines did not match log_format 'main'", "/var/log/nginx/access.log"
            ),
        ],
        inputs={
            "error_logs": ["/var/log/nginx/error.log"],
            "access_logs": ["/var/log/nginx/access.log"],
            "nginx_conf": "/etc/nginx/nginx.conf",
            "since": "2026-11-21T09:40",
        },
        timeline=timeline(),
        events=[
            TimelineEvent(
                "2026-11-21T09:51:47",
                "fpm-max-children",
                "pool www reached pm.max_children (5)",
                "/var/log/php8.2-fpm.log:1804",
                MAX_CHILDREN_LINE,
            ),
            TimelineEvent(
                "2026-11-21T09:52:03",
                "read-timeout",
                f"first 504: {request_line}",
                "/var/log/nginx/error.log:20331",
                READ_TIMEOUT_LINE.replace("GET /checkout HTTP/1.1", request_line),
            ),
            TimelineEvent(
                "2026-11-21T09:53:10",
                "backlog-full",
                "first 502 (backlog full)",
                "/var/log/nginx/error.log:20412",
                BACKLOG_LINE,
            ),
            TimelineEvent(
                "2026-11-21T09:55:30", "oom-kill", "OOM kill: php-fpm8.2 pid 23817", "journal", OOM_LINE
            ),
            TimelineEvent(
                "2026-11-21T09:55:33",
                "unit-restart",
                "php8.2-fpm.service restarted (counter 1)",
                "journal",
                RESTART_LINE,
            ),
            TimelineEvent(
                "2026-11-21T09:58:00",
                "config-reload",
                "nginx reloaded",
                "/var/log/nginx/error.log:20998",
                RELOAD_LINE,
            ),
        ],
        upstreams=[
            UpstreamSummary(
                name="php-fpm",
                targets=[SOCK],
                symptoms={"backlog-full": TOTAL_502, "read-timeout": TOTAL_504},
                statuses={"502": TOTAL_502, "504": TOTAL_504},
                probes=[{"target": SOCK, "ok": True, "protocol": "fastcgi", "elapsed_ms": 3.2}],
                config="/etc/nginx/sites-enabled/shop:41",
            )
        ],
        generated_at="2026-11-21T10:12:00+00:00",
        host="web1",
        tool_version="0.1.0",
    )


HOSTILE_REQUEST = (
    "GET /<script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">"
    "|`x`|\x1b]0;pwned\x07\x1b[31m HTTP/1.1"
)


def test_sample_round_trips_through_json() -> None:
    report = sample_report(HOSTILE_REQUEST)
    again = Report.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report
    assert sum(sum(p.counts.values()) for p in again.timeline) == TOTAL_502 + TOTAL_504


def test_sample_is_valid_against_the_shipped_report_schema() -> None:
    from importlib import resources

    import jsonschema

    schema_file = resources.files("why502").joinpath("schemas", "report.schema.json")
    assert schema_file.is_file(), "why502/schemas/report.schema.json is missing"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(json.dumps(sample_report(HOSTILE_REQUEST).to_dict())), schema)
