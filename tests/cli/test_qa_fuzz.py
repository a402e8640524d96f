"""Fuzzing in the quick loop: every parser and reader of outside text, fed generated and mutated
input, raises nothing but our own input errors (``why502.errors.Why502Error``: exit 2 or 3).

Each property starts from real lines (the hostile corpus, recorded nginx/HAProxy/Apache/ALB/
Envoy lines) and mutates them (bytes inserted, deleted, replaced, lines cut, control
characters, huge numbers), or generates text outright.  The budget is fixed and small (200
examples each, no deadline) so the suite stays quick; ``bench/fuzz.py`` runs millions.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR
from why502.cli.cmd_render import load_report
from why502.errors import Why502Error
from why502.evidence.stats.parser import LineParser
from why502.parsers.errorlog import classify_line
from why502.parsers.errorlog_batch import classify_series
from why502.parsers.lblogs.batch import alb_frame
from why502.parsers.log_format import compile_format
from why502.proxies.apache import log as apache_log
from why502.proxies.envoy.log import envoy_frame
from why502.proxies.haproxy import log as haproxy_log
from why502.proxies.logfamilies import families
from why502.proxies.nginx.config import parse_nginx

BUDGET = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HOSTILE = FIXTURES_DIR / "hostile"


def _lines(path: Path) -> list[str]:
    return [ln for ln in path.read_bytes().decode("utf-8", "replace").splitlines() if ln.strip()][:20]


ERROR_SEEDS = _lines(HOSTILE / "error.log") + _lines(HOSTILE / "error-truncated.log")
ACCESS_SEEDS = [*_lines(HOSTILE / "access.log"),
                '1.2.3.4 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 502 157 "-" "curl/8" '
                '0.001 "0.000" "-" "60.001"']
LB_SEEDS = [
    'h2 2024-05-01T10:00:00.000000Z app/x/1 1.2.3.4:5 10.0.0.1:80 0.001 -1 -1 502 - 34 108 '
    '"GET https://x:443/ HTTP/2.0" "curl/8" ECDHE - arn:aws:x "Root=1-x" "x" "-" 0 '
    '2024-05-01T10:00:00.000000Z "forward" "-" "Target.ResponseCodeMismatch" "10.0.0.1:80" "502" "-" "-"',
    '[2024-05-01T10:00:00.000Z] "GET / HTTP/1.1" 503 UF,URX '
    'upstream_reset_before_response_started{connection_failure} - 0 91 1 - "-" "curl/8" "x" "x" '
    '"10.0.0.1:80"',
    '{"level":"error","ts":1714557600.0,"logger":"http.log.access","msg":"handled request",'
    '"request":{"method":"GET","uri":"/"},"status":502,"duration":0.001}',
]
HAPROXY_SEEDS = [
    "May  1 10:00:00 lb haproxy[1]: 1.2.3.4:5000 [01/May/2024:10:00:00.000] fe be/s1 "
    '0/0/-1/-1/3001 503 216 - - SC-- 1/1/0/0/3 0/0 "GET / HTTP/1.1"']
APACHE_SEEDS = ['1.2.3.4 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 502 341 "-" "curl/8"']
NASTY = ["\x00", "\x1b[2J", "\u009b", "\u202e", "\r", "\n", '"', "\\", "{", "}", ";", "$", "%",
         "-1.000", "NaN", "inf", "1e309", "9" * 40, "9" * 5000, "9999/13/45 99:99:99", "\ufffd", "\udcff",
         "A" * 3000, " ", ",", ":"]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[str]) -> str:
    """A seed line with a few edits: a nasty piece inserted, a span deleted or replaced, a cut."""
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "cut"]))
        piece = draw(st.one_of(st.sampled_from(NASTY), st.text(max_size=8)))
        end = min(len(text), pos + draw(st.integers(0, 12)))
        if op == "insert":
            text = text[:pos] + piece + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[end:]
        elif op == "replace":
            text = text[:pos] + piece + text[end:]
        else:
            text = text[:pos]
    return text


def lines_of(seeds: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(mutated(seeds), st.text(max_size=200))


def _utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def _only_input_errors(fn: Callable[[], Any]) -> None:
    with contextlib.suppress(Why502Error):  # our own one-line input/usage errors (exit 2/3)
        fn()


@BUDGET
@given(lines_of(ERROR_SEEDS))
def test_error_log_line(line: str) -> None:
    _only_input_errors(lambda: classify_line(line))


@BUDGET
@given(st.lists(lines_of(ERROR_SEEDS), min_size=1, max_size=8))
def test_error_log_batch(lines: list[str]) -> None:
    # as the readers give them: decoded with errors="replace" (a str Series holds no surrogate)
    _only_input_errors(lambda: classify_series(pl.Series("line", [_utf8(x) for x in lines], dtype=pl.Utf8)))


_FORMAT = compile_format('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                         '"$http_referer" "$http_user_agent" $request_time "$upstream_connect_time" '
                         '"$upstream_header_time" "$upstream_response_time"')


@BUDGET
@given(st.lists(lines_of(ACCESS_SEEDS), min_size=1, max_size=8))
def test_access_log_lines_against_a_compiled_format(lines: list[str]) -> None:
    data = "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"
    _only_input_errors(lambda: LineParser(_FORMAT).parse(data))


@BUDGET
@given(st.lists(st.sampled_from(["$remote_addr", "$status", "$request", "$msec", "$upstream_response_time",
                                 "$time_local", "$time_iso8601", '"', " ", "[", "]", "-", "$host"]),
                min_size=1, max_size=12))
def test_log_format_compiler(pieces: list[str]) -> None:
    def run() -> None:
        fmt = compile_format("".join(pieces))
        LineParser(fmt).parse(b'1.2.3.4 502 "GET / HTTP/1.1" 1714557600.123 0.5\n')
    _only_input_errors(run)


CONF_SEEDS = [(HOSTILE / "nginx.conf").read_text(encoding="utf-8"),
              (HOSTILE / "nginx-truncated.conf").read_text(encoding="utf-8")]


@BUDGET
@given(mutated(CONF_SEEDS))
def test_nginx_config_through_crossplane(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nginx.conf"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")

        def run() -> None:
            cfg = parse_nginx(path)
            cfg.targets()
            for loc in cfg.all_locations():
                loc.effective("proxy_read_timeout")
        _only_input_errors(run)


REPORT_SEED = json.dumps({"schema_version": "1.1", "healthy": False, "findings": [
    {"cause": "backend-not-running", "title": "x", "confidence": 0.7, "count": 3, "status_codes": [502],
     "symptoms": ["connection-refused"],
     "evidence": [{"kind": "log", "summary": "s", "source": "f", "line": 1}],
     "fix": {"summary": "s", "commands": ["c"], "diff": None}}], "diagnostics": [], "inputs": {}})


@BUDGET
@given(st.one_of(mutated([REPORT_SEED]), st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.sampled_from(
        ["schema_version", "healthy", "findings", "cause", "confidence", "count", "evidence", "fix",
         "diagnostics", "inputs", "timeline", "events", "upstreams", "x"]), kids, max_size=5))).map(
    lambda v: json.dumps(v, allow_nan=True))))
def test_report_loader(text: str) -> None:
    fd, name = tempfile.mkstemp(suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(text)
        _only_input_errors(lambda: load_report(name))
    finally:
        os.unlink(name)


@BUDGET
@given(lines_of(LB_SEEDS))
def test_load_balancer_lines(line: str) -> None:
    _only_input_errors(lambda: families().parse_line(line))
    series = pl.Series("line", [_utf8(line)], dtype=pl.Utf8)
    _only_input_errors(lambda: alb_frame(series))
    _only_input_errors(lambda: envoy_frame(series))


@BUDGET
@given(lines_of(HAPROXY_SEEDS))
def test_haproxy_lines(line: str) -> None:
    _only_input_errors(lambda: haproxy_log.to_nginx_line(line))


_APACHE = apache_log.compile_log_format(apache_log.COMBINED)


@BUDGET
@given(lines_of(APACHE_SEEDS))
def test_apache_lines(line: str) -> None:
    _only_input_errors(lambda: apache_log.to_nginx_line(line, _APACHE))


@pytest.mark.parametrize("seeds", [ERROR_SEEDS, ACCESS_SEEDS, LB_SEEDS, HAPROXY_SEEDS, APACHE_SEEDS])
def test_the_seeds_are_real_lines(seeds: list[str]) -> None:
    assert seeds and sum(len(s) > 40 for s in seeds) >= len(seeds) // 2


@pytest.mark.parametrize("line", ["<134>Nov" + "9" * 100_000, "1#" * 50_000, "1/" * 50_000,
                                  "a.b.service" * 10_000, "x " + "A" * 100_000])
def test_a_long_run_of_one_character_class_is_read_in_linear_time(line: str) -> None:
    """bench/fuzz.py found searches with unbounded ``\\d+``/``\\S+`` (nginx's ``pid#tid:``,
    HAProxy's timers, systemd unit names) quadratic on a long run of digits: 0.5 s for a 10 KB
    line, ~50 s for these 100 KB ones.  Bounded now, each of these takes milliseconds."""
    classify_line(line)


@pytest.mark.parametrize("line", [
    '{"ClientIP":"1.1.1.1","EdgeStartTimestamp":' + "9" * 300
    + ',"EdgeResponseStatus":502,"OriginResponseStatus":0}',
    '{"ts": 1677436806.2, "logger": "http.log.error", "status": 1e309, "msg": "no upstreams available"}',
    '{"ts": 1e309, "logger": "http.log.access", "status": 502, "duration": NaN}',
    '{"a":' * 5000 + "1" + "}" * 5000,
])
def test_json_load_balancer_lines_with_absurd_numbers(line: str) -> None:
    """bench/fuzz.py found Cloudflare and Caddy lines with a 300-digit timestamp or a 1e309 status
    raising OverflowError (exit 4): such a number is no value now, the rest of the line is read."""
    families().parse_line(line)


def test_a_5000_digit_errno_or_timer_is_no_number() -> None:
    """bench/fuzz.py: ``int()`` of a 5000-digit errno (Apache) raised ValueError, exit 4."""
    classify_line("[Sat Nov 21 21:37:25.535723 2026] [proxy_http:error] [pid 30930:tid 30935] ("
                  + "9" * 5005 + ")Connection refused: AH00957: http: attempt to connect to 127.0.0.1:8080 "
                  "(127.0.0.1:8080) failed")
    haproxy_log.to_nginx_line("May  1 10:00:00 lb haproxy[1]: 1.2.3.4:5000 [01/May/2024:10:00:00.000] fe "
                              "be/s1 0/0/-1/-1/" + "3" * 5000
                              + ' 503 216 - - SC-- 1/1/0/0/3 0/0 "GET / HTTP/1.1"')


def test_an_alb_line_with_a_5000_digit_status_is_read() -> None:
    """bench/fuzz.py: ``to_int`` of a 5000-digit ALB field raised ValueError (exit 4)."""
    families().parse_line(
        "https 2018-07-02T22:23:00.186641Z app/lb/50dc 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 "
        "0.037 200 " + "9" * 5000 + ' 34 366 "GET https://x:443/ HTTP/1.1" "curl" - - arn:x "Root=1" '
        '"-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-"')


_HUGE = "99999999999999999999"  # 20 digits: no Int64 holds it


@pytest.mark.parametrize("line", [
    '127.0.0.1 - - [22/Nov/2026:11:08:42 +0000] "GET /ok HTTP/1.1" ' + _HUGE
    + ' 11 "-" "-" 1 "ok@file" "http://127.0.0.1:47025" 1ms',
    '{"EdgeResponseStatus":' + _HUGE + ',"OriginResponseStatus":502,'
    '"EdgeStartTimestamp":"2026-11-21T10:00:00Z","ClientRequestHost":"a","RayID":"1"}',
    '{"DownstreamStatus":502,"RetryAttempts":' + _HUGE + ',"StartUTC":"2026-11-21T10:00:00Z",'
    '"ServiceURL":"http://10.0.0.1:80"}',
], ids=["traefik-clf-status", "cloudflare-status", "traefik-json-retries"])
@pytest.mark.parametrize("command", ["stats", "classify", "diagnose"])
def test_a_20_digit_number_in_an_edge_log_is_no_number(line: str, command: str, run_main: RunMain,
                                                       tmp_path: Path) -> None:
    """A status (or count) no Int64 holds made ``stats``, ``classify`` and ``diagnose`` end in an
    internal error (exit 4) building their Int64 columns: ``model.to_int`` now reads it as no number."""
    log = tmp_path / "access.log"
    log.write_text(line + "\n" + line.replace(_HUGE, "502", 1) + "\n", encoding="utf-8")
    argv = (["diagnose", "--offline", "--access-log", str(log)] if command == "diagnose"
            else [command, str(log)])
    code, out, err = run_main(*argv, "--format", "json")
    assert code in (0, 1), err
    assert json.loads(out)
