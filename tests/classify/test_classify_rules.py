# ruff: noqa: E501 -- tables of verbatim log lines read better unwrapped
"""Table-driven tests of the classify rules (catalog/data/patterns.toml) on real lines.

Real lines come from tests/fixtures/recorded/ (the lab's recordings of a real nginx 1.22 and
PHP-FPM 8.2) and tests/fixtures/public/lines.tsv (public GitHub issues, URL next to each group).
"""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from tests.support.paths import FIXTURES_DIR
from why502.catalog import load_catalog
from why502.catalog.patterns import FAILED_REQUEST_EVENTS, load_patterns, patterns_for_symptom
from why502.parsers.errorlog import classify_line, key_regex

FIXTURES = FIXTURES_DIR
RECORDED = FIXTURES / "recorded"
PUBLIC = FIXTURES / "public" / "lines.tsv"


def public_rows() -> list[tuple[str, str]]:
    rows = []
    for raw in PUBLIC.read_text(encoding="utf-8").splitlines():
        if raw.startswith("#") or not raw.strip():
            continue
        expect, line = raw.split("\t", 1)
        rows.append((expect, line))
    return rows


def recorded_lines() -> list[tuple[str, str]]:
    """(file label, line) for every line nginx or PHP-FPM wrote in the recordings."""
    out = []
    for path in sorted(RECORDED.glob("*/*.log")):
        if path.name == "access.log":
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            out.append((f"{path.parent.name}/{path.name}", line))
    return out


def known_ids() -> tuple[set[str], set[str]]:
    """Symptom and event IDs of the catalog (the contract: docs/causes/README.md)."""
    catalog = load_catalog()
    return {e.id for e in catalog.of_kind("symptom")}, {e.id for e in catalog.of_kind("event")}


def label(line: str) -> str:
    c = classify_line(line)
    return "-" if c is None else f"{c.symptom}/{'-' if c.status is None else c.status}"


# ---------------------------------------------------------------------------------------------
# The rule table itself
# ---------------------------------------------------------------------------------------------


def test_patterns_load_with_provenance_and_known_ids() -> None:
    symptoms, events = known_ids()
    assert len(symptoms) >= 20 and len(events) >= 10, "the catalog lost symptoms or events"
    patterns = load_patterns()
    assert len(patterns) > 80
    for p in patterns:
        assert p.symptom in symptoms | events, f"{p.id}: unknown symptom {p.symptom}"
        assert p.provenance and "/" in p.provenance, p.id
        assert p.text and p.example, p.id
        if p.symptom in FAILED_REQUEST_EVENTS:
            # a proxy's own error reply: the status is what the line proves
            # (500 too: Kong answers 500 itself, kong/error_handlers.lua's default body; Cloudflare's own
            # 52x/530, which its page rules carry too: cloudflare-told-530, a 530 without its 1xxx page)
            cloudflare_own = p.source == "cloudflare" and p.status is not None and 520 <= p.status <= 530
            assert p.status in (500, 502, 503, 504) or cloudflare_own, f"{p.id}: a proxy reply names its 5xx"
        elif p.symptom in events:
            assert p.status is None, f"{p.id}: evidence events carry no status"


@pytest.mark.parametrize("pattern", load_patterns(), ids=lambda p: p.id)
def test_each_pattern_matches_its_own_example(pattern) -> None:  # type: ignore[no-untyped-def]
    c = classify_line(pattern.example)
    assert c is not None and c.pattern == pattern.id
    assert (c.symptom, c.status, c.source) == (pattern.symptom, pattern.status, pattern.source)


def test_patterns_for_symptom_lists_docs_entries() -> None:
    ids = {p.id for p in patterns_for_symptom("connection-refused")}
    assert {"nginx-connect-refused", "apache-connect-refused", "haproxy-sc"} <= ids


def test_shared_regexes_compile_in_rust_regex() -> None:
    # the polars engine runs these with Rust's regex crate: no lookaround, no backreferences
    s = pl.Series(["connect() failed (111: Connection refused)"])
    assert s.str.extract_groups(key_regex()).struct.field("k1").to_list() == ["connect() failed"]


# ---------------------------------------------------------------------------------------------
# Every symptom / event has a real line
# ---------------------------------------------------------------------------------------------


def test_every_symptom_and_event_has_a_real_line() -> None:
    symptoms, events = known_ids()
    seen: set[str] = set()
    for _, line in recorded_lines():
        c = classify_line(line)
        if c:
            seen.add(c.symptom)
    for expect, _ in public_rows():
        if expect != "-":
            seen.add(expect.split("/")[0])
    # real HAProxy / Apache / gunicorn lines (scripts/record-proxy-fixtures), e.g. HAProxy sQ
    for path in sorted((FIXTURES / "recorded-proxies").glob("*/*.log")):
        for line in path.read_text(encoding="utf-8").splitlines():
            c = classify_line(line)
            if c:
                seen.update(x for x in (c.symptom, c.event) if x)
    # the field corpus: real lines from public reports, with their URLs (tests/fixtures/field)
    for path in sorted((FIXTURES / "field").glob("*.jsonl")):
        for row in path.read_text(encoding="utf-8").splitlines():
            c = classify_line(json.loads(row)["line"]) if row.strip() else None
            if c:
                seen.update(x for x in (c.symptom, c.event) if x)
    # the edge field corpus: real lines of Envoy, Cloudflare, Caddy, APISIX ... (tests/fixtures/edge-field)
    for path in sorted((FIXTURES / "edge-field").glob("*.jsonl")):
        for row in path.read_text(encoding="utf-8").splitlines():
            c = classify_line(json.loads(row)["line"]) if row.strip() else None
            if c:
                seen.update(x for x in (c.symptom, c.event) if x)
    missing = (symptoms | events) - seen
    assert not missing, f"no real line for {sorted(missing)}"


@pytest.mark.parametrize(("expect", "line"), public_rows(), ids=lambda v: str(v)[:60])
def test_public_lines(expect: str, line: str) -> None:
    assert label(line) == expect


# ---------------------------------------------------------------------------------------------
# Recorded real failures (the lab's meta.json says what each run produced)
# ---------------------------------------------------------------------------------------------

# A backend that closes the connection mid-request shows up, depending on timing, as a clean
# close (premature-close), a reset or a broken pipe: the recordings may show any of them.
_CLOSED = {"premature-close", "connection-reset", "broken-pipe"}
EQUIVALENT = {"premature-close": _CLOSED, "connection-reset": _CLOSED, "broken-pipe": _CLOSED}


# Envoy's and Caddy's recordings (their access log, their JSON log) are read as an edge's log,
# not by these rules: tests/lab/test_edge_recordings.py diagnoses them
@pytest.mark.parametrize("scenario", sorted(p.name for p in RECORDED.iterdir() if p.is_dir()
                                            and not p.name.startswith(("envoy-", "caddy-"))))
def test_recorded_scenarios(scenario: str) -> None:
    d = RECORDED / scenario
    meta = json.loads((d / "meta.json").read_text())
    got: set[str] = set()
    by_log = {"error": d / meta.get("files", {}).get("error_log", "error.log"),
              "fpm": d / "php-fpm.log"}
    # other logs a lab run hands to diagnose: the kernel's OOM lines, supervisord's log
    for log, role in (("kernel", "kernel_log"), ("app", "app_log")):
        if role in meta.get("files", {}):
            by_log[log] = d / meta["files"][role]
    for path in by_log.values():
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                c = classify_line(line)
                if c:
                    got.add(c.symptom)
                    if c.event:  # a DOWN line: the reason is the symptom, the marking its event
                        got.add(c.event)
    for sym in meta.get("symptoms", []):
        assert got & EQUIVALENT.get(sym, {sym}), f"{scenario}: {sym} not found in {sorted(got)}"
    # every line the lab proved to be the failure must be recognised (near-miss runs have no cause)
    for log, rx in meta.get("expect", []) if meta.get("cause") else []:
        path = by_log.get(log)
        if path is None or not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if re.search(rx, line) and ("[error]" in line or "[crit]" in line or "[alert]" in line
                                        or "WARNING:" in line):
                assert classify_line(line) is not None, f"{scenario}: unrecognised {line[:160]}"


def test_recorded_statuses() -> None:
    def first(scenario: str, needle: str) -> str:
        for line in (RECORDED / scenario / "error.log").read_text().splitlines():
            if needle in line:
                return label(line)
        raise AssertionError(f"{needle} not in {scenario}")

    assert first("backend-down-tcp", "connect() failed (111") == "connection-refused/502"
    assert first("backend-down-fpm", "No such file") == "socket-not-found/502"
    assert first("backend-too-slow", "upstream timed out") == "read-timeout/504"
    assert first("send-timeout", "upstream timed out") == "send-timeout/504"
    assert first("protocol-http-to-banner", "no valid HTTP/1.0") == "invalid-response/9"
    assert first("fd-limit", "[alert]") == "fd-exhaustion/500"
    assert first("proxy-rate-limited", "limiting requests") == "rate-limited/503"
    assert first("app-fatal-error", "PHP Fatal error") == "app-error/500"
    assert first("all-upstreams-down", "temporarily disabled") == "upstream-marked-down/-"


def test_recorded_client_noise_is_not_a_failure() -> None:
    for line in (RECORDED / "client-abort" / "error.log").read_text().splitlines():
        if "client prematurely closed" in line or "client closed" in line:
            assert classify_line(line) is None, line


# ---------------------------------------------------------------------------------------------
# Near misses: lines that look alike but must NOT be reported (or must get another ID)
# ---------------------------------------------------------------------------------------------

H = "2024/05/01 12:00:01 [error] 7#7: *9 "
C = ', client: 203.0.113.9, server: example.com, request: "GET / HTTP/1.1", host: "example.com"'
NEAR_MISSES = [
    # client aborts (499)
    ("-", "2024/05/01 12:00:01 [info] 7#7: *9 client prematurely closed connection while sending to client" + C),
    ("-", "2024/05/01 12:00:01 [info] 7#7: *9 epoll_wait() reported that client prematurely closed connection, "
          "so upstream connection is closed too while connecting to upstream" + C),
    ("-", "2024/05/01 12:00:01 [info] 7#7: *9 client closed keepalive connection"),
    # client-side I/O: the action is not an upstream one
    ("-", H + "recv() failed (104: Connection reset by peer) while reading client request headers" + C),
    ("-", H + "writev() failed (32: Broken pipe) while sending to client" + C),
    ("-", H + "recv() failed (104: Connection reset by peer) while waiting for request, client: 1.2.3.4, "
          "server: 0.0.0.0:443"),
    ("-", "2024/05/01 12:00:01 [crit] 7#7: *9 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::"
          "unsupported protocol) while SSL handshaking, client: 1.2.3.4, server: 0.0.0.0:443"),
    # FastCGI stderr that is not a failure
    ("-", H + 'FastCGI sent in stderr: "Primary script unknown" while reading response header from upstream' + C),
    ("-", H + 'FastCGI sent in stderr: "PHP message: PHP Warning:  Undefined variable $x in /var/www/a.php '
          'on line 3" while reading response header from upstream' + C),
    ("-", "2024/05/01 12:00:01 [warn] 7#7: *9 an upstream response is buffered to a temporary file "
          "/var/cache/nginx/proxy_temp/1/00/0000000001 while reading upstream" + C),
    ("-", H + 'open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory)' + C),
    ("-", "2024/05/01 12:00:01 [warn] 7#7: 1024 worker_connections are not enough, reusing connections"),
    ("-", "2024/05/01 12:00:01 [warn] 7#7: *9 upstream sent duplicate header line: \"Expires: 0\", previous "
          "value: \"Expires: 0\", ignoring while reading response header from upstream" + C),
    # the same key with another errno / action gives another symptom
    ("connect-timeout/504", H + "upstream timed out (110: Connection timed out) while connecting to upstream" + C),
    ("connect-timeout/502", H + "connect() failed (110: Connection timed out) while connecting to upstream" + C),
    ("connect-timeout/502", H + "connect() failed (110: Operation timed out) while connecting to upstream" + C),
    ("read-timeout/-", H + "upstream timed out (110: Operation timed out) while reading upstream" + C),
    ("premature-close/-", H + "upstream prematurely closed connection while reading upstream" + C),
    ("connection-reset/-", H + "readv() failed (104: Connection reset by peer) while reading upstream" + C),
    ("unreachable/502", H + "connect() failed (113: Host is unreachable) while connecting to upstream" + C),
    ("port-exhaustion/502", "2024/05/01 12:00:01 [crit] 7#7: *9 connect() to 10.0.0.7:80 failed (99: Address "
                            "not available) while connecting to upstream" + C),
    ("fd-exhaustion/500", "2024/05/01 12:00:01 [alert] 7#7: *9 socket() failed (24: No file descriptors "
                          "available) while connecting to upstream" + C),
    ("tls-failure/502", H + "peer closed connection in SSL handshake (104: Connection reset by peer) while SSL "
                        "handshaking to upstream" + C),
    ("dns-failure/-", H + "recv() failed (111: Connection refused) while resolving, resolver: 127.0.0.11:53"),
    ("rate-limited/-", H + 'limiting connections, dry run, by zone "addr"' + C),
    ("rate-limited/503", H + 'limiting connections by zone "addr"' + C),
    ("invalid-response/502", H + 'upstream sent invalid status "abc" while reading response header from upstream'
                             + C),
    ("connection-reset/502", H + "upstream rejected request with error 2 while reading response header from "
                             "upstream" + C),
    ("premature-close/502", H + "upstream prematurely closed FastCGI stdout while reading response header from "
                            "upstream" + C),
    # other programs
    ("-", "[01-May-2024 12:00:01] NOTICE: [pool www] child 4243 exited on signal 3 (SIGQUIT) after 1.0 seconds "
          "from start"),
    ("-", "[01-May-2024 12:00:01] NOTICE: [pool www] child 4243 exited with code 0 after 1.0 seconds from start"),
    ("-", "[01-May-2024 12:00:01] WARNING: [pool www] child 99 said into stderr: \"Primary script unknown\""),
    ("-", "[Mon May 01 12:00:01.000001 2024] [proxy_fcgi:error] [pid 42] [client 1.2.3.4:5] AH01071: Got error "
          "'Primary script unknown'"),
    ("-", "[Mon May 01 12:00:01.000001 2024] [ssl:debug] [pid 42] AH02207: loaded 1 client certs for SSL proxy"),
    ("-", "systemd[1]: nginx.service: Main process exited, code=exited, status=0/SUCCESS"),
    ("-", "systemd[1]: nginx.service: Deactivated successfully."),
    ("-", "2024-05-01T12:00:00: PM2 log: App [api:0] exited with code [0] via signal [SIGINT]"),
    ("-", "[2024-05-01 12:00:00 +0000] [7] [INFO] Worker exiting (pid: 12)"),
    ("-", "uwsgi_response_write_body_do(): Broken pipe [core/writer.c line 341] during GET /x (1.2.3.4)"),
    ("-", 'haproxy[1]: 10.0.0.1:5000 [01/May/2024:12:00:01.000] fe be/web1 0/0/1/2/3 200 100 - - ---- '
          '1/1/0/0/0 0/0 "GET / HTTP/1.1"'),
    ("-", 'haproxy[1]: 10.0.0.1:5000 [01/May/2024:12:00:01.000] fe be/web1 -1/-1/-1/-1/1 400 0 - - CR-- '
          '1/1/0/0/0 0/0 "<BADREQ>"'),
    ("-", "Server app/web1 is UP, reason: Layer4 check passed, check duration: 0ms. 1 active and 0 backup "
          "servers online."),
    ("-", "kernel: oom_reaper: reaped process 4242 (python3), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB"),
    ("-", "systemd[1]: Killing process 4242 (python3) with signal SIGKILL."),
    ("-", 'type=AVC msg=audit(1714564801.123:456): avc:  granted  { setenforce } for  pid=1 comm="x"'),
    ("-", ""),
    ("-", "just some text with upstream and failed words in it"),
]


@pytest.mark.parametrize(("expect", "line"), NEAR_MISSES, ids=lambda v: str(v)[:70])
def test_near_misses(expect: str, line: str) -> None:
    assert label(line) == expect


def test_fields_of_an_nginx_line() -> None:
    line = ('2024/05/01 12:00:02 [crit] 2107#2107: *1850 connect() to unix:/run/php/php8.2-fpm.sock failed '
            '(2: No such file or directory) while connecting to upstream, client: 203.0.113.9, server: '
            'example.com, request: "GET /index.php HTTP/1.1", upstream: "fastcgi://unix:/run/php/php8.2-fpm.'
            'sock:", host: "example.com", referrer: "https://example.com/"')
    c = classify_line(line)
    assert c is not None
    assert c.to_dict() == {
        "source": "nginx", "symptom": "socket-not-found", "event": None, "side": "backend", "status": 502,
        "time": "2024-05-01T12:00:02",
        "level": "crit", "upstream": "fastcgi://unix:/run/php/php8.2-fpm.sock:", "client": "203.0.113.9",
        "server": "example.com", "request": "GET /index.php HTTP/1.1", "host": "example.com",
        "message": line.split("*1850 ", 1)[1],
    }


def test_fields_of_other_sources() -> None:
    c = classify_line('[Fri Dec 20 22:00:10.627156 2019] [proxy_fcgi:error] [pid 1252] [client '
                      '163.172.11.188:51906] AH01079: failed to make connection to backend: localhost')
    assert c is not None and (c.source, c.time, c.level, c.client, c.upstream) == (
        "apache", "2019-12-20T22:00:10.627156", "error", "163.172.11.188:51906", "localhost")
    c = classify_line('xxx.xxx.xxx.xxx:43608 [07/Mar/2023:11:33:48.083] ssl~ http/10.81.15.120 '
                      '0/0/3/-1/600004 504 198 - - sH-- 1757/1757/11/0/0 0/0 {Go-http-client/2.0} '
                      '"GET https://api.domain.com/xyz HTTP/2.0"')
    assert c is not None and (c.source, c.time, c.upstream, c.request) == (
        "haproxy", "2023-03-07T11:33:48.083", "http/10.81.15.120", "GET https://api.domain.com/xyz HTTP/2.0")
    c = classify_line("[24-Oct-2021 00:50:27] WARNING: [pool rss-bridge] server reached pm.max_children "
                      "setting (5), consider raising it")
    assert c is not None and (c.source, c.time, c.level) == ("php-fpm", "2021-10-24T00:50:27", "warning")
    c = classify_line('type=AVC msg=audit(1491961946.603:287): avc:  denied  { name_connect } for  pid=1111 '
                      'comm="nginx" dest=8000')
    assert c is not None and c.time == "2017-04-12T01:52:26.603000+00:00"
    c = classify_line("May 15 23:09:30 host kernel: [  518.050606] Out of memory: Killed process 15784 "
                      "(python3) total-vm:11964kB, anon-rss:4288kB, file-rss:3028kB, shmem-rss:0kB", year=2024)
    assert c is not None and (c.source, c.upstream, c.time) == ("kernel", "python3", "2024-05-15T23:09:30")
