"""HAProxy's session lines counted by group for ``classify``'s summary (``_hapscan.session_groups``,
``proxies/haproxy/classifyfold.py``) must give what ``classify_line`` gives each line alone.

The pass takes only lines of one strict shape and decides each group (backend, server, state,
status) once, on its first line: so every line it takes must read, through ``classify_line``, as
the group's decision with the time the pass computed; every line it does not take must come back
as it was.  Checked on every real line of the fixtures, on lines bent at every field (prefixes,
names, timers, states, statuses, requests, the words and marks that would let another rule
read a line), on generated ones, and through the command against the per-line engine.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from tests.classify.test_classify_engines import real_lines
from tests.support.clirun import WHY502
from tests.support.kubectl_heads import HEADS, NOT_FRAMINGS
from tests.support.paths import FIXTURES_DIR
from tests.support.reports import without
from why502.parsers.errorlog import classify_line
from why502.proxies.haproxy.classifyfold import MAX_GROUPS, _native, fold_block

NATIVE = _native()
pytestmark = pytest.mark.skipif(NATIVE is None and os.environ.get("WHY502_REQUIRE_NATIVE") != "1",
                                reason="_hapscan was not built (no C compiler at install time)")

BASE = ('{prefix}{client}:{port} [{date}] {fe} {be}/{srv} {timers} {status} {bytes} {cc} {cs} {ts} '
        '{counters} 0/0 {captures}"{request}"')
PREFIXES = ["", "<134>Nov 21 10:00:00 haproxy[29614]: ", "Nov  1 09:08:07 lb-1 haproxy[7]: ",
            "<13>Dec 31 23:59:59 host.example haproxy[1]: ", "2026-11-21T10:00:00.123+01:00 lb haproxy[9]: ",
            "2026-11-21T10:00:00Z haproxy[9]: ", "Nov 21 10:00:00 localhost haproxy[11396]: "]
DATES = ["21/Nov/2026:10:00:00.004", "21/Nov/2026:10:00:00.5", "21/Nov/2026:10:00:00",
         "01/Jan/1999:00:00:59.123456789", "29/Feb/2024:23:59:59.999"]
STATES = ["----", "SC--", "sC--", "SH--", "sH--", "PH--", "sQ--", "CR--", "PR--", "LR--", "CD--",
          "SD--", "cD--", "--NI", "CH--", "cH--", "SCDN", "IH--", "RR--", "KR--"]
STATUSES = ["200", "302", "400", "403", "404", "408", "429", "500", "502", "503", "504"]
SERVERS = [("app", "web1"), ("api", "<NOSRV>"), ("fe", "<NOSRV>"), ("static", "10.0.0.7:8080"), ("b", "s/x"),
           ("requests", "limiting"), ("Be", "Srv")]
REQUESTS = ["GET / HTTP/1.1", "POST /api/v1/users/42?x=1&y=%20 HTTP/1.0", "<BADREQ>",
            "GET /limiting%20requests HTTP/2.0", "DELETE /a;b,c.d!e@f$g~h'i HTTP/1.1"]
TIMERS = ["0/0/0/25/26", "0/-1/-1/-1/0", "-1/-1/-1/-1/+5054", "0/30001/-1/-1/30001", "12/0/1/-1/401"]


def _line(**over: str) -> str:
    fields = {"prefix": PREFIXES[1], "client": "192.168.0.1", "port": "33492", "date": DATES[0], "fe": "fe",
              "be": "app", "srv": "web1", "timers": TIMERS[0], "status": "503", "bytes": "217", "cc": "-",
              "cs": "-", "ts": "SC--", "counters": "1/1/0/0/0", "request": "GET / HTTP/1.1", "captures": ""}
    fields.update(over)
    return BASE.format(**fields)


def bent_lines() -> list[str]:
    """Each field's values, crossed where the decision could depend on them."""
    out = []
    for (be, srv), ts, status in itertools.product(SERVERS, STATES, STATUSES):
        out.append(_line(be=be, srv=srv, ts=ts, status=status))
    for prefix, date, timers, request in itertools.product(PREFIXES, DATES, TIMERS, REQUESTS):
        out.append(_line(prefix=prefix, date=date, timers=timers, request=request, ts="sH--", status="504"))
        out.append(_line(prefix=prefix, date=date, timers=timers, request=request, ts="----", status="200"))
    for fe, cc, cs in itertools.product(["fe", "https-in~", "Limiting", "limiting", "x.y-z_1"],
                                        ["-", "requests", "connections", "SESSID=1"],
                                        ["-", "worker_connections"]):
        out += [_line(fe=fe, cc=cc, cs=cs), _line(fe=fe, cc=cc, cs=cs, ts="----", status="200")]
    for word in ["{", "}", "While", "WHILE", "client:", "unix:", "lua", "Upstream"]:
        out += [_line(fe=f"f{word}e"), _line(request=f"GET /a{word}b HTTP/1.1", ts="----", status="200")]
    for captures in ["{Go-http-client/2.0} ", "{docs.example.internal||} {|||} ", "{} ", "{a|b} " * 8]:
        out += [_line(captures=captures), _line(captures=captures, ts="----", status="200")]
    for client in ["::1", "10.0.0.1", "fe80::1", "host-name"]:
        out += [_line(client=client), _line(client=client, ts="----", status="200")]
    out += [_line(bytes="+512"), _line(counters="+1/1/0/0/+3"), _line(be="b" * 256), _line(srv="s" * 256)]
    return out


def broken_lines() -> list[str]:
    """Lines the pass must hand back: each mark or word another rule (or ``normalize``) reads,
    and each way out of the strict shape."""
    marks = ["(", ")", "#", "*", "`", "\\", "upstream", "[lua]", ", client: ", "unix: ", " while ", " WHILE ",
             " While "]
    out = [_line(request=f"GET /a{m}b HTTP/1.1") for m in marks]
    # each mark at every place of a sixteen-byte word (the pass compares sixteen bytes at a time)
    out += [_line(request=f"GET /a{m}b{'x' * pad} HTTP/1.1") for m in marks for pad in range(1, 16)]
    # " while " where a taken line can hold a space around a word: the syslog host, at many places
    out += [_line(prefix=f"{pri}Nov 21 10:00:00{' ' * (1 + len(pri) % 2)}{host} haproxy[1]: ")
            for host in ("while", "While", "WHILE", "wHiLe") for pri in ("", "<1>", "<13>", "<134>", "<1>1 ")]
    out += [_line(prefix=f"2026-11-21T10:00:00{frac}Z {host} haproxy[1]: ")
            for host in ("While", "WHILE") for frac in ("", ".1", ".12", ".123", ".1234", ".12345")]
    out += [_line(fe=f"f{m}e") for m in marks if " " not in m]
    out += [
        _line(be="b" * 257), _line(srv="s" * 257), _line(date="21/Foo/2026:10:00:00"),
        _line(date="21/Nov/2026:10:00:00.1234567890"), _line(status="-1"), _line(status="5030"),
        _line(ts="S1--"), _line(ts="SC-"), _line(request="GET worker_connections are not enough"),
        _line(request="GET / HTTP/1.1 extra"), _line(request="GET / HTTP/1.1x"),
        _line(request='GET /"x HTTP/1.1'), _line(port="123456"), _line(prefix="web-1  | "),
        _line(prefix="<134>"), _line(prefix="2026-11-21T10:00:00+0000 lb haproxy[9]: "),
        _line(timers="0/0/0/25"), _line(timers="0/0/0/25/26/27"), _line(timers="0/ 0/0/25/26"),
        _line(fe="a/b"), _line(client="1.2.3.4/5"), _line() + " ", _line() + " {x}",
        _line(captures="{Mozilla/5.0 X11} "), _line(captures="{a|b} " * 9), _line(captures="{a{b} "),
        _line(captures="{ab "), _line(captures="{a}"), _line().replace(" fe ", " fe\t"),
        _line(request="GET /\u00e9 HTTP/1.1"), "(" + _line(),
        json.dumps({"log": _line()}), _line(prefix="nginx: [error] "),
    ]
    return out


def _count(taken: object) -> int:
    """How many lines a finder's mask (``linememo.known``) took; None: none."""
    return 0 if taken is None else int(taken.sum())  # type: ignore[attr-defined]


def _random_lines(n: int, seed: int) -> list[str]:
    """Fields drawn from the values above and from bytes near the shape's edges."""
    rnd = random.Random(seed)
    pool = "aZ09-_./:;,~!@$%'=+<>[] "
    out = []
    for _ in range(n):
        token = "".join(rnd.choice(pool) for _ in range(rnd.randint(1, 6))).strip() or "x"
        field = rnd.choice(["fe", "srv", "cc", "cs", "request", "client", "be"])
        value = {"request": f"GET /{token} HTTP/1.1"}.get(field, token)
        out.append(_line(**{field: value, "ts": rnd.choice(STATES), "status": rnd.choice(STATUSES),
                            "prefix": rnd.choice(PREFIXES)}))
    return out


def _taken(line: str) -> tuple[tuple[str, ...], int, str, str, str] | None:
    assert NATIVE is not None
    groups, back = NATIVE.session_groups((line + "\n").encode(), MAX_GROUPS)
    if not groups:
        assert back == (line + "\n").encode("utf-8", "surrogateescape")
        return None
    assert back == b"" and len(groups) == 1
    key, n, first, least, most = groups[0]
    assert n == 1 and first.decode() == line and least == most
    return key, n, first.decode(), least, most


def _check_taken(lines: list[str]) -> tuple[int, int, int]:
    """Every taken line reads as its group's first taken line does, at the pass's time."""
    decided: dict[tuple[str, ...], tuple[object, ...] | None] = {}
    taken = failures = 0
    for line in lines:
        got = _taken(line)
        if got is None:
            continue
        key, _, _, least, _ = got
        taken += 1
        rec = classify_line(line, year=2026)
        mine = None if rec is None else (rec.symptom, rec.status, rec.source, rec.upstream)
        if key not in decided:
            decided[key] = mine
        assert mine == decided[key], (key, line)
        if rec is not None:
            failures += 1
            assert rec.time == least, line
            assert rec.upstream == f"{key[0]}/{key[1]}", line
    return taken, failures, len(decided)


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_every_taken_real_line_reads_as_its_group() -> None:
    lines = real_lines()
    for path in sorted((FIXTURES_DIR / "recorded-proxies" / "haproxy").glob("*.log")):
        lines += path.read_text(encoding="utf-8").splitlines()
    for raw in (FIXTURES_DIR / "field").glob("*.jsonl"):
        lines += [json.loads(x)["line"] for x in raw.read_text(encoding="utf-8").splitlines() if x.strip()]
    taken, failures, groups = _check_taken(lines)
    # 56 lines hold an httplog line: 47 are of the strict shape (the others: a docker or
    # custom prefix, a capture of words, a line cut short, a log-format with more after it)
    assert taken >= 45 and failures >= 30 and groups >= 12, (taken, failures, groups)


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_every_taken_bent_line_reads_as_its_group() -> None:
    lines = bent_lines()
    taken, failures, groups = _check_taken(lines)
    assert taken == len(lines), [ln for ln in lines if _taken(ln) is None][:5]
    assert failures >= 500 and groups >= 300


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_generated_lines_taken_read_as_their_group() -> None:
    lines = _random_lines(3000, seed=20261126)
    taken, failures, _ = _check_taken(lines)
    assert taken >= 500 and failures >= 100, (taken, failures)


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
@pytest.mark.parametrize("line", broken_lines())
def test_lines_out_of_the_shape_go_back(line: str) -> None:
    assert _taken(line) is None


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_a_crlf_line_is_taken_as_the_line_without_its_cr() -> None:
    """A CRLF log's line (written or copied on Windows) is the line without its ``\\r``, as the
    per-line recogniser reads it (``errorlog`` strips it): the pass took none, stop 69."""
    assert NATIVE is not None
    for line in (_line(), _line(ts="sH--", status="504")):
        groups, back = NATIVE.session_groups((line + "\r\n").encode(), MAX_GROUPS)
        assert back == b"" and len(groups) == 1
        key, n, first = groups[0][:3]
        assert (key, n, first.decode()) == (_taken(line) or ())[:3]


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_a_block_keeps_its_other_lines_in_order_and_counts_each_group() -> None:
    assert NATIVE is not None
    dates = ("21/Nov/2026:10:00:00.5", "21/Nov/2026:10:00:00.004", "21/Nov/2026:09:59:59",
             "21/Nov/2026:10:00:00")
    good = [_line(ts="sH--", status="504", date=d) for d in dates]
    bad = broken_lines()[:4]
    mixed = [good[0], bad[0], good[1], bad[1], "", good[2], bad[2], good[3], bad[3]]
    for ends in (True, False):
        data = "\n".join(mixed).encode() + (b"\n" if ends else b"")
        groups, back = NATIVE.session_groups(data, MAX_GROUPS)
        want = "\n".join([bad[0], bad[1], "", bad[2], bad[3]]) + ("\n" if ends else "")
        assert back.decode() == want
        assert len(groups) == 1
        key, n, first, least, most = groups[0]
        assert (key, n, first.decode()) == (("app", "web1", "sH", "504"), 4, good[0])
        times = [classify_line(g).time for g in good]  # type: ignore[union-attr]
        assert (least, most) == (min(times), max(times))  # type: ignore[type-var]
    assert NATIVE.session_groups(b"", MAX_GROUPS) == ([], b"")
    assert NATIVE.session_groups(b"\n", MAX_GROUPS) == ([], b"\n")


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_past_the_group_bound_lines_go_back() -> None:
    assert NATIVE is not None
    lines = [_line(srv=f"web{k}") for k in range(10)]
    groups, back = NATIVE.session_groups(("\n".join(lines) + "\n").encode(), 3)
    assert len(groups) == 3 and back.decode().splitlines() == lines[3:]


def test_without_the_pass_every_line_goes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    data = ("\n".join(bent_lines()[:50]) + "\n").encode()
    monkeypatch.setenv("WHY502_NATIVE", "0")
    assert fold_block(data) == ([], data)


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_fold_rows_are_the_failures_of_the_groups() -> None:
    lines = [_line(ts="SC--", status="503"), _line(ts="SC--", status="503", date="21/Nov/2026:09:00:00"),
             _line(ts="----", status="200"), _line(ts="PR--", status="403"), broken_lines()[0]]
    rows, back = fold_block(("\n".join(lines) + "\n").encode())
    rec = classify_line(lines[0])
    assert rec is not None
    assert rows == [(rec.symptom, rec.status, "haproxy", "app/web1", 2, "2026-11-21T09:00:00",
                     "2026-11-21T10:00:00.004")]
    assert back.decode() == lines[4] + "\n"


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_lines_before_since_are_left_out_as_filter_since_leaves_them() -> None:
    """``--since`` compares the record's time with the cutoff as text (``filter_since``): a
    fraction sorts after the whole second, the cutoff's second itself is in."""
    dates = ["21/Nov/2026:09:59:59.999", "21/Nov/2026:10:00:00", "21/Nov/2026:10:00:00.000",
             "21/Nov/2026:10:00:01", "20/Dec/2025:23:00:00"]
    rows, back = fold_block(("\n".join(_line(date=d) for d in dates) + "\n").encode(), "2026-11-21T10:00:00")
    assert back == b"" and len(rows) == 1
    assert rows[0][4:] == (3, "2026-11-21T10:00:00", "2026-11-21T10:00:01")


def _cli(path: Path, native: bool, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "WHY502_NATIVE": "1" if native else "0", "COLUMNS": "400"}
    return subprocess.run([WHY502, "classify", "--no-progress", "--format", "json", *args, str(path)],
                          capture_output=True, env=env, timeout=120)


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_the_command_prints_what_the_per_line_engine_prints(tmp_path: Path) -> None:
    """The whole summary (symptoms, statuses, first and last times, upstreams and their cut)
    through the command, against ``WHY502_NATIVE=0`` (every line through the rules)."""
    rnd = random.Random(7)
    lines = bent_lines() + broken_lines() + _random_lines(500, seed=3)
    lines += [_line(be=f"b{k % 40}", srv=f"s{k % 7}", ts=rnd.choice(STATES), status=rnd.choice(STATUSES),
                    date=f"21/Nov/2026:10:{k % 60:02d}:{rnd.randint(0, 59):02d}.{rnd.randint(0, 999)}")
              for k in range(3000)]
    rnd.shuffle(lines)
    lines += (FIXTURES_DIR / "recorded" / "haproxy-too-slow" / "haproxy.log").read_text().splitlines()
    path = tmp_path / "haproxy.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    per_line, folded = _cli(path, native=False), _cli(path, native=True)
    assert folded.returncode == per_line.returncode == 1, folded.stderr
    assert json.loads(folded.stdout) == json.loads(per_line.stdout)
    assert len(json.loads(folded.stdout)["upstreams"]) == 10
    # --since: the lines before the cutoff left out the same way (the 2026 lines span 10:00-10:59)
    whole = json.loads(folded.stdout)["failures"]
    for since in ("2026-11-21T10:30:00", "2026-11-21T10:00:00", "2030-01-01"):
        per_line, folded = _cli(path, False, "--since", since), _cli(path, True, "--since", since)
        assert folded.returncode == per_line.returncode
        assert json.loads(folded.stdout) == json.loads(per_line.stdout)
        if since == "2026-11-21T10:30:00":
            assert 0 < json.loads(folded.stdout)["failures"] < whole


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_the_per_line_engine_gives_the_records_of_the_lines_it_does_not_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``classify_series`` (``diagnose``'s and ``--format jsonl``'s per-line path) with the
    session lines' records built by group (``Hooks.classify_known``: each group decided once,
    each line its own time, client, frontend, request and message) gives every record, every
    column, that reading each line gives."""
    import polars as pl
    from polars.testing import assert_frame_equal

    from why502.parsers.errorlog_batch import classify_series
    from why502.parsers.linememo import known

    lines = bent_lines() + broken_lines() + _random_lines(800, seed=11) + real_lines()[:600]
    series = pl.Series(lines)
    taken, records = known(series, 2026)
    # the test is of lines not read one by one: many of them, failures among them
    assert taken is not None and taken.len() == series.len()
    assert taken.sum() >= 1000 and sum(r.height for r in records) >= 300
    fast = classify_series(series, year=2026)
    monkeypatch.setenv("WHY502_NATIVE", "0")
    assert known(series, 2026) == (None, [])
    assert_frame_equal(fast, classify_series(series, year=2026))
    assert fast.height >= 1500


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_jsonl_and_diagnose_print_what_the_per_line_engine_prints(tmp_path: Path) -> None:
    rnd = random.Random(9)
    lines = [_line(be=f"b{k % 5}", srv=f"s{k % 3}", ts=rnd.choice(STATES), status=rnd.choice(STATUSES),
                   date=f"21/Nov/2026:10:{k % 60:02d}:{rnd.randint(0, 59):02d}.{rnd.randint(0, 999):03d}")
             for k in range(4000)] + broken_lines()
    path = tmp_path / "haproxy.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = {native: _jsonl_and_diagnose(path, native) for native in ("0", "1")}
    assert out["1"] == out["0"]
    assert out["1"][1].count(b"\n") >= 1000 and out["1"][3]["findings"]


def _jsonl_and_diagnose(path: Path, native: str) -> tuple[int, bytes, int, dict[str, object]]:
    """``classify --format jsonl`` of ``path`` (exit code, records) and ``diagnose``'s JSON report
    of it as HAProxy's log (exit code, report without its run's time), ``WHY502_NATIVE=native``."""
    env = {**os.environ, "COLUMNS": "400", "WHY502_NATIVE": native}
    jsonl = subprocess.run([WHY502, "classify", "--no-progress", "--format", "jsonl", str(path)],
                           capture_output=True, env=env, timeout=120)
    diag = subprocess.run([WHY502, "diagnose", "--offline", "--proxy", "haproxy", "--error-log",
                           str(path), "--format", "json"], capture_output=True, env=env, timeout=120)
    report = json.loads(diag.stdout)
    report.pop("generated_at")
    report["inputs"].pop("elapsed_ms", None)
    return jsonl.returncode, jsonl.stdout, diag.returncode, report


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_each_line_of_a_group_keeps_its_own_head(monkeypatch: pytest.MonkeyPatch) -> None:
    """The records built by group (``known_lines``) take each line's own head: lines of one
    group (backend, server, state, status) whose clients are up to the date regex's 64
    characters and past them (then it has none), each prefix, date, frontend and request --
    every column as reading each line alone gives it."""
    import polars as pl
    from polars.testing import assert_frame_equal

    from why502.parsers.errorlog_batch import classify_series
    from why502.parsers.linememo import known

    rnd = random.Random(17)
    clients = ["10.0.0.1", "::ffff:10.0.0.1", "a" * 63, "b" * 64, "c" * 65, "d-" * 34, "host_x.example"]
    lines = [_line(prefix=rnd.choice(PREFIXES), client=rnd.choice(clients), date=rnd.choice(DATES),
                   fe=rnd.choice(["fe", "https-in", "f" * 256]), request=rnd.choice(REQUESTS),
                   status=status, ts=ts)
             for _ in range(60) for status, ts in (("503", "SC--"), ("504", "sH--"), ("200", "----"))]
    series = pl.Series(lines)
    taken, records = known(series, 2026)
    assert taken is not None and taken.sum() > 150  # (a client past 70 goes back)
    assert sum(r.height for r in records) > 100
    fast = classify_series(series, year=2026)
    monkeypatch.setenv("WHY502_NATIVE", "0")
    assert_frame_equal(fast, classify_series(series, year=2026))
    assert fast["client"].null_count() > 0 and fast["client"].n_unique() >= 5


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_messages_the_pass_leaves_to_unwrap_are_unwraps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The message of each failed line is the native pass's (``_hapscan.session_failed``,
    ``native/unwrap_ascii.h``) or, for a line it hands back, ``unwrap``'s: with every failed line
    handed back, or every other one, the records are the same."""
    import array

    import polars as pl
    from polars.testing import assert_frame_equal

    from why502.parsers import arrowcols
    from why502.parsers.errorlog_batch import classify_series
    from why502.proxies.haproxy import classifyfold

    rnd = random.Random(62)
    lines = [_line(prefix=rnd.choice(PREFIXES), date=rnd.choice(DATES), request=rnd.choice(REQUESTS),
                   status=status, ts=ts)
             for _ in range(80) for status, ts in (("503", "SC--"), ("504", "sH--"), ("200", "----"))]
    series = pl.Series(lines)
    right = classify_series(series, year=2026)
    real, real_frame = classifyfold._native(), arrowcols.frame
    assert real is not None
    dropped: set[int] = set()  # the rows the pass below handed back in its last call
    for back_every in (1, 2):
        class HandsBack:
            """The pass, handing back every ``back_every``-th row ``session_failed`` wrote."""

            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

            @staticmethod
            def session_failed(data: bytes, groups: bytes, want: bytes,
                               every: int = back_every) -> tuple[object, ...]:
                sc, ac, count, back, text = real.session_failed(data, groups, want)
                wrote = real_frame(sc, ac)["idx"].to_list()  # (capsules are read once: made again)
                sc, ac, count, back, text = real.session_failed(data, groups, want)
                dropped.clear()
                dropped.update(wrote[::every])
                rows = sorted({*array.array("I", back), *dropped})
                return sc, ac, count, array.array("I", rows).tobytes(), text

        def frame(*capsules: object) -> pl.DataFrame:
            cols = real_frame(*capsules)  # type: ignore[arg-type]
            if "group" not in cols.columns:
                return cols
            return cols.filter(~pl.col("idx").is_in(sorted(dropped)))

        monkeypatch.setattr(classifyfold, "_TEMPLATES", classifyfold._GroupMemo())
        monkeypatch.setattr(classifyfold, "_native", HandsBack)
        monkeypatch.setattr(arrowcols, "frame", frame)
        got = classify_series(series, year=2026)
        assert_frame_equal(got, right)
        assert got["message"].null_count() == 0 and got.height > 100 and dropped


class _WrongTime:
    """The native pass, but ``session_own`` says a wrong time: every group's first line
    disagrees with ``classify_line``'s record of it."""

    def __init__(self, real: object) -> None:
        self.real = real

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def session_own(self, line: bytes) -> object:
        got = self.real.session_own(line)  # type: ignore[attr-defined]
        if got is None:
            return None
        year = "1998" if got[0].startswith("1999") else "1999"  # (a bent line's own year may be 1999)
        return (year + got[0][4:], *got[1:])


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_a_group_whose_first_line_disagrees_is_read_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check ``known_lines`` makes on each group's first line: when the pass's fields are not
    the record ``classify_line`` gives it (here the time made wrong on purpose), the group's lines
    go to the per-line path -- fewer lines known, the same records."""
    import polars as pl
    from polars.testing import assert_frame_equal

    from why502.parsers.errorlog_batch import classify_series
    from why502.parsers.linememo import known
    from why502.proxies.haproxy import classifyfold

    lines = bent_lines()[:2000]
    series = pl.Series(lines)
    right = classify_series(series, year=2026)
    whole = _count(known(series, 2026)[0])
    wrong = _WrongTime(classifyfold._native())
    monkeypatch.setattr(classifyfold, "_TEMPLATES", classifyfold._GroupMemo())
    monkeypatch.setattr(classifyfold, "_native", lambda: wrong)
    taken, records = known(series, 2026)
    assert _count(taken) < whole and not records  # only the groups read as nothing are known
    assert_frame_equal(classify_series(series, year=2026), right)


def test_finders_first_or_after_the_regexes_give_the_same_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """``errorlog_batch.classify_series`` lets HAProxy's finder read a batch before the nginx
    regexes unless the batch starts with an nginx engine line: every real line of the fixtures
    (HAProxy's, nginx's, Apache's, the edges'), shuffled into batches, gets the same record in
    both orders."""
    import re

    import polars as pl

    from why502.parsers import errorlog_batch

    lines = real_lines()
    rng = random.Random(61)
    for _ in range(6):
        batch = pl.Series("line", rng.sample(lines, min(len(lines), 3000)))
        assert errorlog_batch._known_first(batch, 2026)[1] is not None  # HAProxy's lines among them
        monkeypatch.setattr(errorlog_batch, "_ENGINE_FIRST", re.compile(r"(?!)"))  # finders first
        first = errorlog_batch.classify_series(batch, year=2026)
        monkeypatch.setattr(errorlog_batch, "_ENGINE_FIRST", re.compile(r""))  # the regexes first
        after = errorlog_batch.classify_series(batch, year=2026)
        assert first.height > 100
        assert first.equals(after)


def _jsonl_lines() -> list[str]:
    """Session lines of every shape (bent, broken, random, real) among nginx's, Apache's and the
    edges' real lines, shuffled: the scanner's records and the session lines' interleave."""
    rnd = random.Random(71)
    lines = bent_lines() + broken_lines() + _random_lines(600, seed=23) + real_lines()
    rnd.shuffle(lines)
    return lines


def _jsonl_cli(path: Path, native: bool, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "WHY502_NATIVE": "1" if native else "0"}
    return subprocess.run([WHY502, "classify", "--no-progress", "--format", "jsonl", *args, str(path)],
                          capture_output=True, env=env, timeout=120)


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_jsonl_records_written_natively_are_the_per_line_engines_byte_for_byte(tmp_path: Path) -> None:
    """``classify --format jsonl`` writes the session lines' records in the native pass
    (``classifyfold.jsonl_block``, ``_hapscan.session_jsonl``) and splices them among the nginx
    scanner's: every byte, line number and order is what the per-line engine
    (``WHY502_NATIVE=0``) prints -- with ``--since`` too (the pass leaves out what
    ``filter_since`` leaves out)."""
    path = tmp_path / "mixed.log"
    path.write_text("\n".join(_jsonl_lines()) + "\n", encoding="utf-8")
    for args in ((), ("--since", "2026-11-21T10:00:00")):
        per_line, native = _jsonl_cli(path, False, *args), _jsonl_cli(path, True, *args)
        assert native.returncode == per_line.returncode == 1, native.stderr
        assert native.stdout == per_line.stdout, args
        assert native.stdout.count(b'"source":"haproxy"') >= 1000


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_jsonl_block_writes_most_session_records_and_hands_the_rest_back() -> None:
    """The pass itself, on one block: it writes the records of the session lines of a group with
    one (in runs), leaves out those of a group read as nothing or before ``since``, and hands
    back every other line -- the other proxies' lines, the broken ones, a group whose first line
    disagrees -- with their text, in order.  What it writes plus what the per-line engine gives
    the lines it hands back is what the per-line engine gives the whole block."""
    import array

    import polars as pl

    from why502.app.classify import JSONL_COLUMNS
    from why502.parsers.errorlog_batch import classify_series
    from why502.proxies.haproxy.classifyfold import jsonl_block

    lines = _jsonl_lines()
    marks = array.array("q", [v for i in range(len(lines)) for v in (i, 0)]).tobytes()
    got = jsonl_block("\n".join(lines).encode("utf-8", "surrogateescape"), marks, 1, b'"f"', None, 2026)
    assert got is not None
    blob, runs, back, back_text, failures = got
    handed = array.array("I", back).tolist()
    assert back_text.decode().split("\n")[:-1] == [lines[i] for i in handed]
    spans = array.array("q", runs).tolist()
    assert spans and len(handed) < len(lines) // 2 and failures > 500
    written: dict[int, list[bytes]] = {}
    for k in range(0, len(spans), 5):
        first, last, offset, start, end = spans[k:k + 5]
        assert offset == 0 and first <= last and not any(first <= i <= last for i in handed)
        written[first] = blob[start:end].splitlines(keepends=True)
    whole = classify_series(pl.Series("line", lines), year=2026)
    whole = whole.with_columns((pl.col("idx").cast(pl.Int64) + 1).alias("line"), pl.lit("f").alias("file"))
    kept = whole.filter(~pl.col("idx").is_in(handed)).select(JSONL_COLUMNS)
    expected = [json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in kept.iter_rows(named=True)]
    assert b"".join(b"".join(written[k]) for k in sorted(written)) == b"".join(expected)


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_jsonl_a_group_whose_first_line_disagrees_goes_back(monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    """``jsonl_block``'s check of each group's first line: when the fields the pass would write
    are not the record ``classify_line`` gives it (here the time made wrong on purpose), every
    line of the group is handed back -- the same records, in more batches than one."""
    import array

    from why502.app.classify import jsonl_paths
    from why502.proxies.haproxy import classifyfold

    lines = _jsonl_lines()
    path = tmp_path / "mixed.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    wrong = _WrongTime(classifyfold._native())
    right = _jsonl_cli(path, False).stdout
    monkeypatch.setattr(classifyfold, "_native", lambda: wrong)
    monkeypatch.setattr(classifyfold, "_TEMPLATES", classifyfold._GroupMemo())
    monkeypatch.setattr(classifyfold, "_WRITINGS", classifyfold._GroupMemo())
    wrote = b"".join(out for out, _n in jsonl_paths([str(path)], batch_bytes=64 * 1024))
    assert wrote == right
    data = "\n".join(lines).encode("utf-8", "surrogateescape")
    marks = array.array("q", [0, 0] * len(lines)).tobytes()
    got = classifyfold.jsonl_block(data, marks, 1, b'"f"', None, 2026)
    assert got is not None and got[0] == b"" and got[1] == b""  # every group disagreed: all went back


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_jsonl_block_counts_an_empty_last_line_as_the_marks_do() -> None:
    """Lines joined by newlines whose last one is empty end in a newline: the session passes count
    that empty line as the nginx scanner's marks do (a row each, ``session_groups(rows=True)``),
    write the other lines' records and hand it back, so such a block is not left whole to the
    per-line path (until stop 67 its rows were one short of its marks, and a guard did that)."""
    import array

    from why502.proxies.haproxy.classifyfold import jsonl_block

    assert NATIVE is not None
    line = _line().encode()
    for data in (b"", b"\n", line + b"\n", line + b"\n\n" + line, line + b"\n" + line + b"\n"):
        _groups, _back, rows = NATIVE.session_groups(data, MAX_GROUPS, None, True)
        assert len(rows) == 4 * (data.count(b"\n") + 1), data
    marks = array.array("q", [0, 0, 1, 0, 2, 0]).tobytes()
    got = jsonl_block(line + b"\n" + line + b"\n", marks, 1, b'"f"', None, 2026)
    assert got is not None and got[0].count(b"\n") == 2
    assert array.array("I", got[2]).tolist() == [2] and got[3] == b"\n"  # the empty line, handed back
    got = jsonl_block(line + b"\n" + line, marks[:32], 1, b'"f"', None, 2026)
    assert got is not None and got[0].count(b"\n") == 2 and got[2] == b""
    with pytest.raises(ValueError, match="one entry per line"):  # marks one short: refused, not read past
        jsonl_block(line + b"\n" + line + b"\n", marks[:32], 1, b'"f"', None, 2026)


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_the_finders_read_the_callers_bytes_only_when_they_are_the_lines(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``classify_series(joined=...)``: the finders read the batch's bytes the caller hands over,
    joining nothing themselves -- unless a line was changed (a CR stripped, a frame peeled) or
    the bytes are not the lines' length; the records are the same either way."""
    import polars as pl

    from why502.parsers import arrowcols
    from why502.parsers.errorlog_batch import classify_series

    lines = [_line(be=f"b{k % 3}", ts=STATES[k % len(STATES)], status=STATUSES[k % len(STATUSES)])
             for k in range(300)] + bent_lines()[:200]
    series = pl.Series(lines)
    data = "\n".join(lines).encode()
    expected = classify_series(series, year=2026)
    assert expected.height >= 100
    joins: list[int] = []
    real = arrowcols.joined_bytes
    monkeypatch.setattr(arrowcols, "joined_bytes", lambda s: joins.append(s.len()) or real(s))
    assert classify_series(series, year=2026, may_have_cr=False, joined=data).equals(expected)
    assert joins == []  # the caller's bytes, read as they are
    for may_have_cr, given in ((True, data), (False, data + b"x"), (False, data[:-1])):
        assert classify_series(series, year=2026, may_have_cr=may_have_cr, joined=given).equals(expected)
        assert joins and joins[-1] == series.len()  # not those bytes: the lines joined instead
        joins.clear()
    # nginx's lines behind kubectl's stamp among them, peeled to the lines inside: not the bytes'
    nginx = [ln for ln in real_lines() if ln[:4].isdigit() and ln[4:5] == "/"][:50]
    mixed = lines + [f"2026-11-21T10:00:00.123456789Z {ln}" for ln in nginx]
    framed = pl.Series(mixed)
    expected = classify_series(framed, year=2026)
    assert expected.filter(pl.col("source") == "nginx").height >= 20
    joins.clear()
    given = "\n".join(mixed).encode()
    assert classify_series(framed, year=2026, may_have_cr=False, joined=given).equals(expected)
    assert joins == [framed.len()]


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_known_lines_reads_nothing_of_lines_that_hold_a_newline() -> None:
    """``known_lines`` joins its lines by newlines for the pass: a line holding one (the readers
    never give such) would shift every row after it, so none is taken, and the per-line path
    reads them all."""
    import polars as pl

    from why502.parsers.linememo import joiner
    from why502.proxies.haproxy.classifyfold import known_lines

    line = _line(ts="sH--", status="504")
    plain, bent = pl.Series([line, line]), pl.Series([line, "a\nb", line])
    taken, records = known_lines(plain, 2026, joiner(plain))
    assert taken is not None and taken.to_list() == [True, True]
    assert records is not None and records.height == 2
    assert known_lines(bent, 2026, joiner(bent)) == (None, None)


@pytest.mark.skipif(NATIVE is None, reason="_hapscan not built")
def test_session_lines_behind_kubectl_framing_are_taken_and_read_as_their_group(tmp_path: Path) -> None:
    """The pass takes a session line behind kubectl's framing as the line without it (before,
    every such line went to ``classify_line``: 200k lines 13 s against 0.4 s plain), each taken
    line reads as its group, and the command prints what the per-line engine prints -- summary,
    ``--format jsonl`` and ``diagnose`` -- on a log of them with the heads that are none."""
    rnd = random.Random(71)
    inner = bent_lines()[:300] + _random_lines(300, seed=71)
    # (haproxy-ingress logs to stdout: kubectl logs prints it)
    framed = [head + line for head in HEADS for line in rnd.sample(inner, 60)]
    taken, failures, _groups = _check_taken(framed)
    plain_taken = sum(1 for line in inner if _taken(line) is not None)
    assert plain_taken > 300 and taken >= 100 and failures >= 30, (plain_taken, taken, failures)
    for head in NOT_FRAMINGS:  # no framing: its lines are not taken through it
        assert all(_taken(head + line) is None for line in inner[:40]), head
    path = tmp_path / "haproxy.log"
    path.write_text("\n".join(framed) + "\n", encoding="utf-8")
    per_line, folded = _cli(path, native=False), _cli(path, native=True)
    assert folded.returncode == per_line.returncode == 1, folded.stderr
    assert json.loads(folded.stdout) == json.loads(per_line.stdout)
    out = {native: _jsonl_and_diagnose(path, native) for native in ("0", "1")}
    assert out["1"][1] == out["0"][1] and out["1"][1].count(b"\n") >= 30  # the records
    assert out["1"][2:] == out["0"][2:] and out["1"][3]["findings"]  # diagnose


#: HAProxy's ``log ... format iso`` head (an ISO stamp, the host, ``haproxy[pid]: ``, no PRI)
ISO_HEAD = "2026-11-21T10:00:00.123+01:00 lb haproxy[9]: "


def test_a_session_line_stamped_by_kubectl_and_by_syslog_reads_as_the_line_inside() -> None:
    """``kubectl logs --timestamps`` of an ISO-syslog session line: kubectl's stamp, then the
    syslog head.  RFC 5424's shape once took the second stamp for its host, the client for its
    msgid and the accept date for its structured data, so the record lost its client, frontend and
    accept date; it now reads as the line without kubectl's stamp does, on every framing."""
    from tests.support.kubectl_heads import FRAMINGS

    for status, ts in (("503", "SC--"), ("504", "sH--"), ("502", "SH--")):
        inner = ISO_HEAD + _line(prefix="", status=status, ts=ts)
        want = classify_line(inner, year=2026)
        assert want is not None and want.client == "192.168.0.1" and want.server == "fe"
        for head in FRAMINGS:
            assert classify_line(head + inner, year=2026) == want, head


def test_the_commands_read_doubly_stamped_lines_as_the_plain_ones(tmp_path: Path) -> None:
    """The same through the commands: ``classify --format jsonl`` and ``diagnose`` of a log of
    doubly stamped session lines print what they print for the same lines stamped once (the raw
    lines apart), with and without the native passes; the session pass takes every such line
    (it sent them back to ``classify_line`` while that misread them: ~120 us a line)."""
    rnd = random.Random(28)
    inner = [ISO_HEAD + _line(prefix="", be=f"b{k % 3}", srv=f"s{k % 2}", ts=rnd.choice(STATES),
                              status=rnd.choice(STATUSES), client=f"10.0.0.{k % 9}")
             for k in range(600)]
    plain, doubled = tmp_path / "plain.log", tmp_path / "doubled.log"
    plain.write_text("\n".join(inner) + "\n", encoding="utf-8")
    doubled.write_text("\n".join("2026-11-21T09:00:00.123456789Z " + line for line in inner) + "\n",
                       encoding="utf-8")

    def records(path: Path, native: str) -> tuple[list[dict[str, object]], dict[str, object]]:
        _rc, jsonl, _drc, report = _jsonl_and_diagnose(path, native)
        rows = [{k: v for k, v in json.loads(r).items() if k != "file"} for r in jsonl.splitlines()]
        text = json.dumps(report).replace(str(path), "LOG")
        return rows, without(json.loads(text), ("text",))  # (a sample's line holds kubectl's stamp)

    want = records(plain, "1")
    assert len(want[0]) >= 100 and all(r["client"] and r["server"] == "fe" for r in want[0])
    for native in ("1", "0"):
        assert records(doubled, native) == want, native
    if NATIVE is not None:  # and the session pass takes them, as it takes the plain lines
        assert _check_taken(doubled.read_text(encoding="utf-8").splitlines())[0] == len(inner)

