"""Apache's logs given alone -- no ``--proxy``, no config -- are read as Apache's.

``diagnose --access-log access.log --error-log error.log`` on the six scenarios recorded from a
real ``apache2`` (``tests/fixtures/recorded/apache-*``) said "nginx gave up", "raise
proxy_read_timeout", "nginx -t", "systemctl reload nginx": the run was the default proxy's,
because only HAProxy's own access log was sniffed.  Scored before the change (logs-only runs on
every recorded scenario, the first finding's proxy): Apache 0 of 6, HAProxy 6 of 6, nginx 55 of
55; after: Apache 6 of 6, the others unchanged, and every scenario's causes the same.

Now the error log's own head says whose it is (``Hooks.error_sniff``:
``proxies.apache.log.looks_like_error_log``), no config of this host is read for such a run
(``read_apache``: the logs may come from another machine), and the access log's ``LogFormat``,
which no config names, is guessed from its head (``log.guess_log_format``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.clirun import why502
from tests.support.paths import FIXTURES_DIR
from why502.proxies.apache.log import (
    COMBINED,
    NICKNAMES,
    compile_log_format,
    guess_log_format,
    looks_like_error_log,
)

RECORDED = sorted(p for p in (FIXTURES_DIR / "recorded").glob("apache-*")
                  if (p / "apache-error.log").exists())
NGINX_ERRORS = sorted((FIXTURES_DIR / "recorded").glob("backend-*/error.log"))
HAPROXY_LOGS = sorted((FIXTURES_DIR / "recorded").glob("haproxy-*/haproxy.log"))
HEAD = '127.0.0.1 - - [23/Nov/2026:09:36:55 +0000] "GET / HTTP/1.1" 502 381'


def test_the_recorded_apache_error_logs_are_apaches() -> None:
    assert len(RECORDED) == 6
    for d in RECORDED:
        assert looks_like_error_log((d / "apache-error.log").read_text().splitlines()), d


def test_other_programs_logs_are_not() -> None:
    others = [*NGINX_ERRORS, *HAPROXY_LOGS, *(FIXTURES_DIR / "recorded").glob("apache-*/apache-access.log")]
    assert len(others) > 10
    for path in others:
        assert not looks_like_error_log(path.read_text().splitlines()), path
    assert not looks_like_error_log([]) and not looks_like_error_log(["", "  "])


def test_half_the_lines_is_enough_and_less_is_not() -> None:
    apache = "[Mon Nov 23 09:36:54.905946 2026] [proxy_http:error] [pid 1:tid 2] AH01102: error reading"
    assert looks_like_error_log([apache, "a stack trace line"])
    assert not looks_like_error_log([apache, "a stack trace line", "another"])


@pytest.mark.parametrize(("lines", "want"), [
    ([f"{HEAD} 1000852"] * 3, (NICKNAMES["common"], True)),
    ([f'{HEAD} "-" "curl/8" 1000852'] * 3, (COMBINED, True)),
    ([f'{HEAD} "-" "curl/8"'] * 3, (COMBINED, False)),
    ([HEAD] * 3, (NICKNAMES["common"], False)),
    ([f'www.example.com:80 {HEAD} "-" "curl/8"'] * 3, (NICKNAMES["vhost_combined"], False)),
    (["no access line"] * 3, (COMBINED, False)),
    ([], (COMBINED, False)),
])
def test_the_log_format_is_guessed_from_the_head(lines: list[str], want: tuple[str, bool]) -> None:
    assert guess_log_format(lines) == want
    fmt = compile_log_format(*want)
    assert fmt.followed is want[1]
    if lines and lines[0] != "no access line":
        assert all(fmt.regex.match(ln) for ln in lines)


@pytest.mark.parametrize("scenario", RECORDED, ids=lambda p: p.name)
def test_a_logs_only_run_is_apaches(scenario: Path) -> None:
    access = scenario / "apache-access.log"  # (not every scenario recorded one)
    logs = ["--access-log", str(access)] if access.exists() else []
    done = why502("diagnose", "--offline", "--error-log", str(scenario / "apache-error.log"), *logs,
                  "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    doc = json.loads(done.stdout)
    assert doc["inputs"]["proxy"] == "apache"
    assert "config" not in doc["inputs"]  # no config of this host read
    if logs:
        assert doc["inputs"]["access_requests"] == len([ln for ln in access.read_text().splitlines() if ln])
    assert doc["findings"] and {f["proxy"] for f in doc["findings"]} == {"apache"}
    text = json.dumps(doc["findings"])
    assert "nginx -t" not in text and "proxy_read_timeout" not in text and "nginx gave up" not in text


def test_stats_with_the_proxy_named_guesses_the_format_too(tmp_path: Path) -> None:
    access = FIXTURES_DIR / "matrix-cells" / "apache-gunicorn-timeout-window" / "apache-access.log"
    done = why502("stats", "--proxy", "apache", str(access), "--format", "json", "--no-progress")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    lines = [ln for ln in access.read_text().splitlines() if ln]
    assert doc["requests"] == len(lines) and doc["unparsed"] == 0
