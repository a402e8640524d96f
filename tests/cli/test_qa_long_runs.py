"""A long line made of one character class ends in time, through the command a user types.

Python's ``re`` backtracks.  A search whose pattern starts with a repeat of a character class
(HAProxy's httplog client ``[\\w.:\\[\\]-]+?``, nginx's headless key after ``[^ ]+``) is tried
from every character of a run of that class, and each try walks to the run's end: quadratic in
the line.  ``diagnose --error-log`` of one 256 KiB access-log-shaped line spent ~25 minutes
sniffing which proxy wrote it (the old client pattern: 5 s at 16 KiB, 94 s at 64 KiB), and a
1 MiB ``1:1:1:...`` message after Apache's error head (a key phrase searched from every ``:``)
some 15.  Guessing an Apache access log's format did the same after every ``:`` of a run
(``vhost_combined``'s ``%v:%p``, the port read as ``\\S*``).  The fixes start those tries where
a run starts, and read the port as digits; the first tests here show the matches did not
change, the next three that the commands end (their timeout is a hang guard,
minutes above the ~1 s they take: no speed is asserted).  The lines are generated: they are
shapes, not any program's output.

A PHP-FPM pool's ``access.format`` is compiled to a pattern of lazy free items between
literals, which Python's ``re`` cut every way on a line the format did not take (34 s for 4 KiB
with php-fpm's example format); a pool's lines are matched by polars' linear engine now, and
two tests show it gives Python's groups and that ``diagnose`` ends.  An nginx ``log_format``
with two variables side by side (``$host$request_uri``) had the first as ``.*?``, retried from
every start of the second (15 s for a 40 KB line of ``stats --config``); two tests show its
new pattern matches as ``.*?`` did, and that ``stats`` ends.  The next two do the same for an
Apache ``LogFormat`` with items side by side (``"%m %U%q %H"``: ~5 minutes for 250 KiB).
The next two: Caddy's status regex in ``watch`` found the logger's name at each of its places
(14 s for 208 KB of it), and now once.  The last: the fourteen Go-proxy rules of ``classify``
searched each of their seven heads from every place it occurs (``parsers.go_prefix``; its
matches are compared in ``tests/classify/test_go_prefix_search.py``).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import WHY502
from tests.support.paths import FIXTURES_DIR, matrix_cell
from why502.catalog.patterns import load_patterns
from why502.parsers import errorlog, fpm_access, log_format
from why502.proxies.haproxy import log as haproxy_log

HANG_GUARD = 240  # seconds: the old patterns took ~15-25 minutes on these lines


def _httplog_lines() -> list[str]:
    """Every recorded HAProxy log line of the fixtures (real haproxy, lab scenarios)."""
    out: list[str] = []
    for path in sorted((FIXTURES_DIR / "recorded").glob("haproxy-*/haproxy.log")):
        out.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    assert len(out) > 20
    return out


def _same(a: re.Match[str] | None, b: re.Match[str] | None, *groups: str) -> bool:
    if a is None or b is None:
        return a is b
    return a.span() == b.span() and all(a.span(g) == b.span(g) for g in groups)


def test_httplog_started_at_runs_finds_what_the_shared_text_finds() -> None:
    """``HTTPLOG`` (Python's, its client tried where a run starts) against ``HTTPLOG_TEXT`` as
    polars reads it: the same span and groups on every recorded line, and on those lines cut,
    spliced and salted with the client's characters (short: the old pattern is quadratic)."""
    shared = re.compile(haproxy_log.HTTPLOG_TEXT)
    groups = tuple(shared.groupindex)
    lines = _httplog_lines()
    salt = ["a", "1", ":", ".", "[", "]", "-", " ", "x:1 ", "1.2.3.4:5", "[::1]:80 ", "\t", '"']
    rnd = random.Random(28)
    cases = list(lines)
    for _ in range(4000):
        line = rnd.choice(lines)
        cut = rnd.randrange(len(line))
        cases.append(line[:cut] + "".join(rnd.choice(salt) for _ in range(rnd.randint(0, 4))) + line[cut:])
        cases.append("".join(rnd.choice(salt) for _ in range(rnd.randint(0, 6))) + line)
    matched = 0
    for case in cases:
        new, old = haproxy_log.HTTPLOG.search(case), shared.search(case)
        assert _same(new, old, *groups), case
        matched += new is not None
    assert matched > len(cases) // 3


def test_headless_key_started_at_runs_finds_what_every_separator_found() -> None:
    """nginx's headless key (``errorlog._headless_re``) against the pattern as it was, its word
    tried after every separator: the same match and message start on generated lines of keys,
    separators, tabs and words."""
    plain, prefixed = errorlog.engine_keys()
    before = re.compile(
        r"(?:^|[\s:\]])(?P<m>(?:" + "|".join(errorlog.rx_escape(k) for k in plain) + ")"
        r"|[^ ]+ (?:" + "|".join(errorlog.rx_escape(k) for k in prefixed) + "))")
    now = errorlog._headless_re()
    tokens = [*plain[:12], *prefixed * 6, "word", " ", " ", "\t", ":", "]", "[", "a", "x:y", "1",
              "\n", "\r", "  "]
    rnd = random.Random(28)
    after_a_word = 0
    for _ in range(30000):
        line = "".join(rnd.choice(tokens) for _ in range(rnd.randint(1, 9)))
        got = now.search(line)
        assert _same(got, before.search(line), "m"), line
        after_a_word += got is not None and not got.group("m").startswith(plain)
    assert after_a_word > 500  # the branch the change is in


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WHY502, *args], capture_output=True, text=True, errors="replace",
                          timeout=HANG_GUARD, check=False, stdin=subprocess.DEVNULL)


def test_diagnose_sniffs_a_long_access_line_named_as_the_error_log(tmp_path: Path) -> None:
    """One 256 KiB line (all of the head ``diagnose`` sniffs for HAProxy's httplog) of a
    URL of letters: read, judged, one JSON report."""
    log = tmp_path / "long.log"
    log.write_text('1.2.3.4 - - [21/Nov/2026:10:00:01 +0000] "GET /' + "A" * (256 << 10) + "\n")
    done = _run("diagnose", "--offline", "--error-log", str(log), "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    assert "findings" in json.loads(done.stdout)


def test_classify_reads_a_long_run_of_colons_after_apache_s_head(tmp_path: Path) -> None:
    """A 1 MiB message of ``1:`` after Apache's error head, between two real proxy errors:
    classify reads all three lines and recognises the two."""
    head = "[Sat Nov 21 10:00:01.123456 2026] [proxy:error] [pid 1] (111)Connection refused: "
    real = head + "AH00957: http: attempt to connect to 127.0.0.1:8080 (127.0.0.1:8080) failed"
    log = tmp_path / "apache_error.log"
    log.write_text("\n".join([real, head + "AH00957: " + "1:" * (512 << 10), real]) + "\n")
    done = _run("classify", str(log), "--format", "jsonl", "--no-progress")
    assert done.returncode in (0, 1), done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len([r for r in records if r.get("symptom")]) >= 2, done.stdout[:2000]


def test_diagnose_guesses_the_log_format_of_a_long_apache_access_line(tmp_path: Path) -> None:
    """Apache's logs alone: the access log's format is guessed from its head
    (``guess_log_format``); ``vhost_combined``'s ``%v:%p`` tried on a 256 KiB run of ``1:``
    took minutes before the port was read as digits.  The error log is read, the access line
    judged no request, one JSON report."""
    error = tmp_path / "error.log"
    error.write_text("[Sat Nov 21 10:00:01.123456 2026] [proxy:error] [pid 1] (111)Connection refused: "
                     "AH00957: http: attempt to connect to 127.0.0.1:8080 (127.0.0.1:8080) failed\n")
    access = tmp_path / "access.log"
    access.write_text("1:" * (128 << 10) + "\n")
    done = _run("diagnose", "--offline", "--error-log", str(error), "--access-log", str(access),
                "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout)["findings"], done.stdout[:2000]


# php-fpm's own example (``sapi/fpm/www.conf.in``, ``;access.format``): lazy free items
# between literals, which a backtracking engine cuts every way on a line that does not match
FPM_EXAMPLE = '%R - %u %t "%m %r%Q%q" %s %f %{mili}d %{kilo}M %C%%'
_FPM_FORMATS = [fpm_access.DEFAULT_FORMAT, FPM_EXAMPLE,
                '%{REMOTE_ADDR}e %n %t "%m %r%Q%q" %s %{mili}d %{kilo}M %C%% %T',
                '%R %t "%m %r%Q%q" %s %d',
                '%{%Y-%m-%dT%H:%M:%S%z}t %p %P %l "%{User-Agent}o" %{SCRIPT_NAME}e%s',
                '%{HTTP_HOST}e%r%Q%q %s %{micro}d']


def _fpm_lines() -> list[str]:
    """Every line a real PHP-FPM wrote in the fixtures (tests/fixtures/fpm-access/README.md)."""
    out: list[str] = []
    for path in sorted((FIXTURES_DIR / "fpm-access").glob("*.access.log")):
        out.extend(path.read_text(encoding="utf-8").splitlines())
    assert len(out) >= 12
    return out


def test_fpm_lines_read_by_polars_get_the_groups_python_s_re_gives() -> None:
    """The pool's lines are matched by polars' linear engine (``parsers.fpm_access``): on the
    real lines, and on them cut, spliced and salted with what the formats' literals and items
    hold (short: Python's ``re`` is the slow reference here), each format's groups are the ones
    Python's backtracking ``re`` gives for the same pattern, and the same lines match."""
    salt = [" - ", " ", '"', "?", "%", "-", "1", "200", "12.5", " 200 ", '" 502 ', "GET /a.php",
            "25/Nov/2026:12:57:28 +0000", "2026-11-25T12:57:28+0000", "\t", "é", "\x1c", "٣", "www"]
    rnd = random.Random(25)
    real = _fpm_lines()
    cases = list(real)
    for _ in range(3000):
        line = rnd.choice(real)
        cut = rnd.randrange(len(line) + 1)
        cases.append(line[:cut] + "".join(rnd.choice(salt) for _ in range(rnd.randrange(4))) + line[cut:])
        cases.append(line[:cut] + rnd.choice(real)[cut:])
        cases.append("".join(rnd.choice(salt) for _ in range(rnd.randrange(1, 12))))
    matched = 0
    for text in _FPM_FORMATS:
        fmt = fpm_access.compile_format(text)
        assert fmt is not None, text
        python = re.compile(fmt.pattern)
        for line, got in zip(cases, fpm_access.match_lines(fmt, cases), strict=True):
            m = python.match(line)
            assert (m.groupdict() if m else None) == got, (text, line)
            matched += got is not None
    assert matched > 2000  # matches, not only refusals


def test_diagnose_reads_a_pool_access_log_with_a_long_hostile_line(tmp_path: Path) -> None:
    """The recorded pool cell, its pool writing php-fpm's example format, with a 64 KiB line
    that has the format's time and status but not its other items: Python's ``re`` took 34 s
    on 4 KiB of it (hours at 64 KiB).  The pool's own 502 lines around it are still read and
    shown as the evidence."""
    work = matrix_cell("apache-fcgi-5xx-pool-log", tmp_path)
    conf = work / "www.conf"
    quoted = FPM_EXAMPLE.replace('"', '\\"')  # as the pool file writes it
    conf.write_text(conf.read_text() + f'access.format = "{quoted}"\n')
    log = work / "php-fpm.access.log"
    lines = [ln + " /srv/app.php 12.345 2048 0.00%" for ln in log.read_text().splitlines()]
    body = (" - " * (11 << 10))[: 32 << 10]
    hostile = body + ' - - 25/Nov/2026:12:57:28 +0000 "GET /x" 200 ' + body + "%"
    log.write_text("\n".join([*lines[:2], hostile, *lines[2:]]) + "\n")
    done = _run("diagnose", "--offline", "--proxy", "apache", "--config", str(work / "apache2.conf"),
                "--error-log", str(work / "apache-error.log"),
                "--access-log", str(work / "apache-access.log"),
                "--fpm-log", str(work / "php-fpm.log"), "--fpm-conf", str(conf), "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    top = json.loads(done.stdout)["findings"][0]
    texts = [e.get("text") or "" for e in top["evidence"]]
    assert any('"GET /app.php" 502 /srv/app.php' in t for t in texts), texts


# nginx formats with a variable of free text right before another ($host$request_uri): the
# first was ``.*?``, which Python's re retried at every start of the second
_NGINX_ADJACENT = [
    '$remote_addr [$time_local] "$request_method $scheme://$host$request_uri $server_protocol" $status',
    '$remote_addr "$host$uri$is_args$args" $status $body_bytes_sent',
    '$http_x_forwarded_for$remote_addr - [$time_local] $status "$a$b"',
    '$status $request_uri$host|$uri-$args',
    '$remote_addr $status "$host$request_uri\\$args"',
    '$status "$request$http_user_agent" $host$msec',
]


_FIXED_VALUES = {"$status": "502", "$time_local": "21/Nov/2026:10:00:01 +0000", "$msec": "1763719201.123",
                 "$body_bytes_sent": "17", "$request_time": "0.123"}
# escape=json: the values between quotes, as nginx writes them (ngx_http_log_json_variable)
_NGINX_JSON_ADJACENT = [
    '{"status":$status,"url":"$scheme://$host$request_uri","rt":"$request_time"}',
    '{"a":"$host$uri$args","s":$status,"b":"$remote_addr/$http_x_real_ip$remote_user"}',
]


def _json_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _nginx_lines(fmt: str, rnd: random.Random, n: int, escape: str | None = None) -> list[str]:
    """Lines shaped like ``fmt``: each variable filled with a run of the characters its
    neighbours use (the stops ``[^c]*`` and ``(?:[^c]*c)*?`` turn on), then spliced with a
    salt; with ``escape="json"`` each value escaped as nginx escapes it, and a line cut short
    instead (nginx writes no raw quote or lone backslash outside a value)."""
    parts = re.split(r"(\$[A-Za-z_][A-Za-z0-9_]*)", fmt)
    pool = ["a", "b", "/", ":", " ", '"', "|", "-", "\\", "?", "x=1", "200", "502", "1.2.3.4", "7.5"]
    own = _json_escaped if escape == "json" else str
    out: list[str] = []
    for _ in range(n):
        line = "".join(p if not p.startswith("$") else
                       _FIXED_VALUES[p] if p in _FIXED_VALUES and rnd.random() < 0.9 else
                       own("".join(rnd.choice(pool) for _ in range(rnd.randrange(0, 6))))
                       for p in parts)
        if rnd.random() < 0.3:
            line = line.replace(" ", "", 1)
        cut = rnd.randrange(len(line) + 1)
        if rnd.random() < 0.3:  # (a JSON line cut short: a salt there would be no value of it)
            line = line[:cut] if escape == "json" else line[:cut] + rnd.choice(pool) + line[cut:]
        out.append(line)
    return out


def _variables(fmt: str) -> frozenset[str]:
    return frozenset(v for kind, v in log_format.split_pieces(fmt) if kind == "var")


def test_nginx_adjacent_variables_match_as_with_a_lazy_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """``log_format._before_variable`` against the ``.*?`` it replaced, in Python's ``re`` and
    in polars' engine: the same lines match with the same groups, on 2,000 lines a format
    shaped so that most of them match and the others fail in every place (``escape=json``:
    lines whose values are escaped as nginx escapes them, the lines it writes)."""
    import polars as pl

    rnd = random.Random(80)
    matched = 0
    for text, escape in [*((f, None) for f in _NGINX_ADJACENT), *((f, "json") for f in _NGINX_JSON_ADJACENT)]:
        new = log_format.compile_format(text, escape, capture=_variables(text))
        with monkeypatch.context() as m:
            m.setattr(log_format, "_before_variable", lambda *_a: r".*?")
            old = log_format.compile_format(text, escape, capture=_variables(text))
        assert new.pattern != old.pattern, text
        lines = _nginx_lines(text, rnd, 2000, escape)
        py_new, py_old = re.compile(new.pattern), re.compile(old.pattern)
        for line in lines:
            a, b = py_new.match(line), py_old.match(line)
            assert (a.groupdict() if a else None) == (b.groupdict() if b else None), (text, line)
            matched += a is not None
        series = pl.Series(lines)
        got = series.str.extract_groups(new.pattern).struct.unnest()
        want = series.str.extract_groups(old.pattern).struct.unnest()
        assert got.equals(want), text
    assert matched > 4000  # matches, not only refusals


def test_stats_reads_a_long_line_with_a_config_of_adjacent_variables(tmp_path: Path) -> None:
    """``stats --config`` of a log no ``access_log`` names: the config's formats are tried on
    its first lines in Python's ``re``; with ``$host$request_uri`` one 256 KiB line of a URL
    took ~10 minutes (15 s at 40 KB).  The other lines are read as the config's format."""
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "events {}\nhttp {\n"
        "  log_format full '$remote_addr [$time_local] \"$request_method $scheme://$host$request_uri "
        "$server_protocol\" $status';\n"
        "  log_format short '$remote_addr $status';\n"
        "  server {\n    listen 127.0.0.1:8080;\n    access_log /var/log/nginx/a.log full;\n"
        "    access_log /var/log/nginx/b.log short;\n"
        "    location / { proxy_pass http://127.0.0.1:9000; }\n  }\n}\n")
    got = _stats_of_a_copied_log(tmp_path, '1.2.3.4 [21/Nov/2026:10:00:01 +0000] "GET http://example.com/x '
                                 'HTTP/1.1" 502', '1.2.3.4 [21/Nov/2026:10:00:01 +0000] "GET http://',
                                 "--config", str(conf))
    assert got["format_name"] == "full" and got["requests"] == 4 and got["unparsed"] == 1


def _stats_of_a_copied_log(tmp_path: Path, ok: str, long_start: str, *args: str) -> dict[str, Any]:
    """``stats`` (with ``args``) of a log named by no config: three ``ok`` lines, ``long_start``
    with 250 KiB of ``a`` after it (in the 256 KiB head the config's formats are tried on), and
    ``ok`` again; its JSON report."""
    log = tmp_path / "copied.log"
    log.write_text(f"{ok}\n" * 3 + long_start + "a" * (250 << 10) + f"\n{ok}\n")
    done = _run("stats", *args, str(log), "--format", "json", "--no-progress")
    assert done.returncode in (0, 1), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


# Apache LogFormats with free items side by side, or two of a class about a literal of it
_APACHE_SHAPES = [
    '%h %l %u %t "%m %U%q %H" %>s %b',
    '%{Host}i:%{X-Port}i %h %l %u %t "%r" %>s %b',
    '%h %{X-A}i%{X-B}i%{X-C}i %t "%r" %>s %b %D',
    '%h "%{a}i-%{b}i"%{c}i %s %{X-A}i/%{X-B}i',
    '%{X-Forwarded-For}i,%{X-Real-IP}i %h %>s %b "%{User-Agent}i"',
    '%h %l %u %t "%U%q" %>s %b',
    '%h "%{a}i,%{b}i" %>s "%{c}i, %{d}i" %b',
]


def _apache_lines(fmt: str, rnd: random.Random, n: int) -> list[str]:
    """Lines shaped like ``fmt``: each item a value of its kind or a run of the characters the
    items stop at, then spliced with a salt."""
    parts = re.split(r'(%(?:\{[^}]*\})?[<>]?[a-zA-Z%])', fmt)
    values = {"%h": "1.2.3.4", "%t": "[21/Nov/2026:10:00:01 +0000]", "%r": "GET /x HTTP/1.1",
              "%>s": "502", "%s": "502", "%b": "17", "%D": "1234", "%m": "GET", "%H": "HTTP/1.1"}
    pool = ["a", "1", ":", " ", '"', "-", ",", "/", "?", "x=1", ", ", "1:1", "\\"]
    out: list[str] = []
    for _ in range(n):
        line = "".join(p if not p.startswith("%") else
                       values[p] if p in values and rnd.random() < 0.9 else
                       "".join(rnd.choice(pool) for _ in range(rnd.randrange(0, 6)))
                       for p in parts)
        cut = rnd.randrange(len(line) + 1)
        if rnd.random() < 0.3:
            line = line[:cut] + rnd.choice(pool) + line[cut:]
        out.append(line)
    return out


def test_apache_formats_match_as_with_every_cut_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    """``log._written``'s patterns (an item after one of its class empty, an atomic stop)
    against the plain ones they replaced: the same lines match with the same groups in
    Python's ``re`` (``regex``) and in polars' engine (``engine``, whose text has no atomic
    group), the nicknames' patterns unchanged."""
    import polars as pl

    from why502.proxies.apache import log as apache_log

    def plain(text: str, followed: bool) -> apache_log.ApacheFormat:
        with monkeypatch.context() as m:
            m.setattr(apache_log, "_taken_before", lambda *_a: False)
            m.setattr(apache_log, "_stops_once", lambda *_a: False)
            m.setattr(apache_log, "_quoted_stops_once", lambda *_a: False)
            return apache_log.compile_log_format(text, followed)

    for text in apache_log.NICKNAMES.values():
        assert apache_log.compile_log_format(text).regex.pattern == plain(text, False).regex.pattern
    rnd = random.Random(81)
    matched = 0
    for text in _APACHE_SHAPES:
        lines = _apache_lines(text, rnd, 2000)
        for followed in (False, True):
            new, old = apache_log.compile_log_format(text, followed), plain(text, followed)
            assert new.regex.pattern != old.regex.pattern, text
            for line in lines:
                a, b = new.regex.match(line), old.regex.match(line)
                assert (a.groupdict() if a else None) == (b.groupdict() if b else None), (text, line)
                matched += a is not None
            series = pl.Series(lines)
            got = series.str.extract_groups(new.engine).struct.unnest()
            assert got.equals(series.str.extract_groups(old.regex.pattern).struct.unnest()), text
    assert matched > 4000  # matches, not only refusals


def test_stats_reads_a_long_line_with_an_apache_config_of_side_by_side_items(tmp_path: Path) -> None:
    """``stats --proxy apache --config`` of a log no ``CustomLog`` writes: the config's formats
    are tried on its first lines in Python's ``re``; with ``"%m %U%q %H"`` one 256 KiB line of
    a URL took ~5 minutes (0.3 s at 8 KB).  The other lines are read as that format."""
    conf = tmp_path / "apache2.conf"
    conf.write_text('LogFormat "%h %l %u %t \\"%m %U%q %H\\" %>s %b" split\n'
                    'LogFormat "%h %>s" short\n'
                    "CustomLog /var/log/apache2/a.log split\nCustomLog /var/log/apache2/b.log short\n")
    got = _stats_of_a_copied_log(tmp_path, '1.2.3.4 - - [21/Nov/2026:10:00:01 +0000] "GET /x?a=1 '
                                 'HTTP/1.1" 502 17', '1.2.3.4 - - [21/Nov/2026:10:00:01 +0000] "GET /',
                                 "--proxy", "apache", "--config", str(conf))
    assert "%U%q" in got["log_format"] and got["requests"] == 4, got


def test_stats_reads_a_long_line_with_a_quoted_field_s_first_items_side_by_side(tmp_path: Path) -> None:
    """The same with ``"%U%q"`` (a quoted field's first item, then ``\\S*``): each stop of the
    first was tried and each read the run again (0.64 s for 16 KB, minutes for 256 KiB)."""
    conf = tmp_path / "apache2.conf"
    conf.write_text('LogFormat "%h %l %u %t \\"%U%q\\" %>s %b" pathonly\n'
                    'LogFormat "%h %>s" short\n'
                    "CustomLog /var/log/apache2/a.log pathonly\nCustomLog /var/log/apache2/b.log short\n")
    got = _stats_of_a_copied_log(tmp_path, '1.2.3.4 - - [21/Nov/2026:10:00:01 +0000] "/x?a=1" 502 17',
                                 '1.2.3.4 - - [21/Nov/2026:10:00:01 +0000] "/',
                                 "--proxy", "apache", "--config", str(conf))
    assert '"%U%q"' in got["log_format"] and got["requests"] == 4, got


# Caddy's status regex in watch, as it was: two lazy runs, the first retried at every name
_CADDY_STATUS_BEFORE = re.compile(rb'^[^\n]*?"logger":"http\.log\.access[^\n]*?"status":(\d{1,3})[,}]', re.M)


def _caddy_lines() -> list[bytes]:
    """Every access line a real Caddy wrote in the recorded scenarios (their READMEs)."""
    out: list[bytes] = []
    for path in sorted((FIXTURES_DIR / "recorded").glob("caddy-*/caddy-access.log")):
        out.extend(path.read_bytes().splitlines())
    assert len(out) > 50
    return out


def test_caddy_status_after_one_name_finds_what_every_name_found() -> None:
    """``caddy.log.STATUS`` (the logger's name found once) against the pattern it replaced:
    the same matches and statuses over blocks of real lines, cut, spliced and salted with the
    name, statuses and their near misses (short: the old pattern is quadratic)."""
    from why502.proxies.caddy import log as caddy_log

    real = _caddy_lines()
    salt = [b'"logger":"http.log.access"', b'"logger":"http.log.error"', b'"status":502,', b'"status":5021',
            b'"status":200}', b'"status":"502"', b"\n", b"x", b'"status":',
            b'"logger":"http.log.access.log0",']
    rnd = random.Random(82)
    blocks = [b"\n".join(real) + b"\n"]
    for _ in range(1500):
        parts = [rnd.choice(real) for _ in range(rnd.randrange(1, 4))]
        line = b"\n".join(parts)
        cut = rnd.randrange(len(line) + 1)
        salted = b"".join(rnd.choice(salt) for _ in range(rnd.randrange(4)))
        blocks.append(line[:cut] + salted + line[cut:] + b"\n")
        blocks.append(b"".join(rnd.choice(salt) for _ in range(rnd.randrange(1, 10))) + b"\n")
    found = 0
    for block in blocks:
        got = [(m.span(), m.group(1)) for m in caddy_log.STATUS.finditer(block)]
        assert got == [(m.span(), m.group(1)) for m in _CADDY_STATUS_BEFORE.finditer(block)], block
        found += len(got)
    assert found > 1000


def test_watch_counts_caddy_lines_around_a_long_line_of_the_logger_s_name(tmp_path: Path) -> None:
    """``watch`` of Caddy's access log from its start: real lines (its status regex is chosen
    on them), a 1 MiB line of ``"logger":"http.log.access"`` over and over, real lines again.
    The pattern as it was took 14 s on 208 KB of it (minutes for this one); ``watch`` counts
    every real line, opens the recorded scenarios' incident and ends at its ``--duration``."""
    real = _caddy_lines()
    log = tmp_path / "caddy-access.log"
    log.write_bytes(b"\n".join(real[:30]) + b"\n" + b'"logger":"http.log.access"' * (40 << 10) + b"\n"
                    + b"\n".join(real[30:]) + b"\n")
    done = _run("watch", "--log-type", "caddy", "--access-log", str(log), "--from-start", "--offline",
                "--listen", "off", "--format", "jsonl", "--duration", "10")
    assert done.returncode in (0, 1), done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    opened = [e["incident"] for e in events if e.get("event") == "incident-opened"]
    assert opened and opened[0]["requests"] == len(real), done.stdout[:2000]  # those after it too


def test_classify_reads_a_long_line_of_go_proxy_heads_between_two_real_errors(tmp_path: Path) -> None:
    """cloudflared's real error line, a 400 KB line of the seven heads the Go-proxy rules share
    (``upstream roundtrip``, ``http.log.error.x``, ``[ERROR 502 a]``, ...) each over and over
    with no Go error after them, the real line again.  The plain search took 12.7 s for 40 KB
    of ``upstream roundtrip`` alone and more than five CPU-minutes for 380 KB
    (``parsers.go_prefix``); ``classify`` reads the three lines and finds the refused
    connection in the two real ones."""
    real = next(p.example for p in load_patterns() if p.id == "go-proxy-refused")
    assert real is not None
    heads = ["upstream roundtrip ", "http.log.error.x ", "[ERROR 502 a] ", '"msg":"handling connection" ',
             "Unable to reach the origin service ", "HTTP 502: x ",
             "responding to traffic from cloudflared: "]
    hostile = "2024-01-18T06:04:55Z ERR " + "".join(h * (400_000 // len(heads) // len(h)) for h in heads)
    log = tmp_path / "cloudflared.log"
    log.write_text("\n".join([real, hostile, real]) + "\n")
    done = _run("classify", str(log), "--format", "jsonl", "--no-progress")
    assert done.returncode in (0, 1), done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    refused = [r["line"] for r in records if r.get("symptom") == "connection-refused"]
    assert refused == [1, 3], done.stdout[:2000]


def test_classify_reads_a_long_line_of_avc_heads_between_two_real_denials(tmp_path: Path) -> None:
    """The SELinux rule read its permissions as ``[^}]*``: on a line repeating
    ``avc:  denied  { `` with no ``}`` after, from each head to the line's end (10 s for 64 KB,
    the better part of an hour for 1 MB).  The permissions are identifiers, never a brace
    (avc_dump_av()), and are read as ``[^{}]*`` now; 1 MB of heads ends, the two real denials on
    either side are found."""
    real = next(p.example for p in load_patterns() if p.id == "selinux-avc-denied")
    assert real is not None
    head = "type=AVC msg=audit(1714564801.123:456): avc:  denied  { "
    log = tmp_path / "audit.log"
    log.write_text("\n".join([real, head * (1_000_000 // len(head)), real]) + "\n")
    done = _run("classify", str(log), "--format", "jsonl", "--no-progress")
    assert done.returncode in (0, 1), done.stderr
    denied = [json.loads(line)["line"] for line in done.stdout.splitlines()
              if json.loads(line).get("symptom") == "selinux-avc"]
    assert denied == [1, 3], done.stdout[:2000]


def test_classify_reads_long_runs_of_blanks_and_of_while(tmp_path: Path) -> None:
    """cloudflared's console lines were searched from every blank of a run, each try reading
    the run to its end (13 s for 32 KB), and the repair that drops a sentence's full stop after
    nginx's action from every `` while `` (3.5 s for 36 KB): 300 KB runs of blanks before each
    console line's words, 400 KB of `` while``, between two real cloudflared lines.  Before the
    fix the command did not end in a minute; the real lines are found."""
    real = next(p.example for p in load_patterns() if p.id == "go-proxy-refused")
    assert real is not None
    blanks = ["2024-01-18T06:04:55Z" + " " * 300_000 + words
              for words in ("failed to connect to origin", "Proxying to ingress", 'error="x"')]
    log = tmp_path / "cloudflared.log"
    log.write_text("\n".join([real, *blanks, "x" + " while" * 66_000 + " 1.", real]) + "\n")
    done = _run("classify", str(log), "--format", "jsonl", "--no-progress")
    assert done.returncode in (0, 1), done.stderr
    refused = [json.loads(line)["line"] for line in done.stdout.splitlines()
               if json.loads(line).get("symptom") == "connection-refused"]
    assert refused == [1, 6], done.stdout[:2000]
