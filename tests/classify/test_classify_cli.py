"""End to end: ``.venv/bin/why502 classify`` as a user runs it (subprocess)."""

from __future__ import annotations

import datetime
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.app.classify import JSONL_COLUMNS, classify_paths
from why502.parsers.errorlog import classify_line

WHY502 = str(Path(sys.executable).with_name("why502"))
FIXTURES = FIXTURES_DIR
REFUSED = ('2016/11/06 11:03:01 [error] 3860#0: *37 connect() failed (111: Connection refused) while '
           'connecting to upstream, client: 127.0.0.1, server: _, request: "GET /www/muke/index.php '
           'HTTP/1.1", upstream: "fastcgi://127.0.0.1:9000", host: "127.0.0.1"')
TIMEOUT = ('2016/12/03 01:18:40 [error] 1330#0: *363441461 upstream timed out (110: Connection timed out) '
           'while reading response header from upstream, client: 10.0.0.1, server: site.com, request: '
           '"GET / HTTP/1.1", upstream: "uwsgi://unix:///var/run/uwsgi/app/site/socket", host: "site.com"')
NOISE = ('2022/12/11 06:38:53 [error] 2667#2667: *7467 open() "/var/www/html//ab2h" failed (2: No such '
         'file or directory), client: 10.0.0.2, server: x, request: "GET /ab2h HTTP/1.1", host: "y"')


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([WHY502, "classify", *args], input=stdin, capture_output=True, timeout=120,
                          check=False)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                                       proc.stderr.decode("utf-8", "replace"))


def jsonl(out: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in out.splitlines() if x.strip()]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_summary_on_recorded_logs() -> None:
    files = sorted(str(p) for p in (FIXTURES / "recorded").glob("*/error.log"))
    res = run(*files)
    assert res.returncode == 1, res.stderr
    assert "connection-refused" in res.stdout and "Symptoms" in res.stdout
    assert "Per upstream" in res.stdout and "What the top symptoms mean" in res.stdout
    assert "fastcgi://unix:" in res.stdout
    assert "\x1b" not in res.stdout and res.stderr == ""


def test_jsonl_keys_and_line_numbers(tmp_path: Path) -> None:
    log = write(tmp_path / "error.log", [NOISE, REFUSED, "", NOISE, TIMEOUT])
    res = run("--format", "jsonl", str(log))
    assert res.returncode == 1
    rows = jsonl(res.stdout)
    assert [tuple(r) for r in rows] == [JSONL_COLUMNS] * 2
    assert [(r["line"], r["symptom"], r["status"]) for r in rows] == [
        (2, "connection-refused", 502), (5, "read-timeout", 504)]
    assert rows[0]["file"] == str(log) and rows[0]["time"] == "2016-11-06T11:03:01"
    assert rows[0]["upstream"] == "fastcgi://127.0.0.1:9000" and rows[0]["level"] == "error"
    assert rows[0]["message"].startswith("connect() failed (111")


def test_gzip_and_plain_give_the_same_records(tmp_path: Path) -> None:
    lines = [REFUSED, NOISE, TIMEOUT] * 50
    plain = write(tmp_path / "a.log", lines)
    gz = tmp_path / "b.log.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = jsonl(run("--format", "jsonl", str(plain)).stdout), jsonl(run("--format", "jsonl", str(gz)).stdout)
    assert len(a) == 100
    assert [{**r, "file": None} for r in a] == [{**r, "file": None} for r in b]


def test_rotated_sets_are_read_oldest_first(tmp_path: Path) -> None:
    write(tmp_path / "error.log", [TIMEOUT])
    write(tmp_path / "error.log.1", [REFUSED, REFUSED])
    (tmp_path / "error.log.2.gz").write_bytes(gzip.compress((NOISE + "\n" + TIMEOUT + "\n").encode()))
    expected = [("error.log.2.gz", 2), ("error.log.1", 1), ("error.log.1", 2), ("error.log", 1)]
    for args in (["--rotated", str(tmp_path / "error.log")], [str(tmp_path / "error.log*")]):
        rows = jsonl(run("--format", "jsonl", *args).stdout)
        assert [(Path(str(r["file"])).name, r["line"]) for r in rows] == expected, args


def test_non_utf8_bytes(tmp_path: Path) -> None:
    log = tmp_path / "bin.log"
    log.write_bytes(REFUSED.replace("/www/muke", "/\xff\xfe\x00").encode("latin-1") + b"\n\xff\xfe garbage\n")
    res = run("--format", "jsonl", str(log))
    assert res.returncode == 1
    (row,) = jsonl(res.stdout)
    assert "\ufffd" in str(row["request"])


def test_missing_file_is_exit_3_one_line(tmp_path: Path) -> None:
    res = run(str(tmp_path / "nope.log"))
    assert res.returncode == 3
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "nope.log" in res.stderr


@pytest.mark.parametrize("kind", ["directory", "corrupt-gzip", "no-glob-match"])
def test_unreadable_inputs(tmp_path: Path, kind: str) -> None:
    if kind == "directory":
        target = str(tmp_path)
    elif kind == "corrupt-gzip":
        bad = tmp_path / "x.log.gz"
        import random

        bad.write_bytes(gzip.compress(random.Random(1).randbytes(5000))[:100])
        target = str(bad)
    else:
        target = str(tmp_path / "*.nothing")
    res = run(target)
    assert res.returncode == 3, res
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


def test_stdin_dash_and_default() -> None:
    data = (NOISE + "\n" + REFUSED + "\n").encode()
    for args in (["--format", "jsonl", "-"], ["--format", "jsonl"]):
        res = run(*args, stdin=data)
        rows = jsonl(res.stdout)
        assert res.returncode == 1 and [(r["line"], r["file"]) for r in rows] == [(2, "-")]
    gz = run("--format", "jsonl", stdin=gzip.compress(data))
    assert [r["line"] for r in jsonl(gz.stdout)] == [2]


def test_exit_0_without_upstream_failures(tmp_path: Path) -> None:
    log = write(tmp_path / "ok.log", [NOISE, "[24-Oct-2021 00:50:27] WARNING: [pool www] server reached "
                                             "pm.max_children setting (5), consider raising it"])
    res = run(str(log))
    assert res.returncode == 0, res.stdout
    assert "fpm-max-children" in res.stdout and "(event)" in res.stdout


def test_since_filters_by_time(tmp_path: Path) -> None:
    log = write(tmp_path / "e.log", [REFUSED, TIMEOUT])
    rows = jsonl(run("--format", "jsonl", "--since", "2016-12-01T00:00:00", str(log)).stdout)
    assert [r["symptom"] for r in rows] == ["read-timeout"]
    assert run("--since", "2h", str(log)).returncode == 0  # both lines are older than 2 hours
    bad = run("--since", "yesterday-ish", str(log))
    assert bad.returncode == 2 and "--since" in bad.stderr and "Traceback" not in bad.stderr


def test_terminal_escapes_are_stripped_in_the_summary(tmp_path: Path) -> None:
    evil = REFUSED.replace('upstream: "fastcgi://127.0.0.1:9000"', 'upstream: "http://x\x1b]0;pwned\x07\x1b[31m"')
    res = run(str(write(tmp_path / "evil.log", [evil])))
    assert res.returncode == 1 and "\x1b" not in res.stdout and "\x07" not in res.stdout
    # jsonl stays exact but JSON-escaped
    raw = run("--format", "jsonl", str(tmp_path / "evil.log")).stdout
    assert "\x1b" not in raw and "\\u001b" in raw


def test_wrapped_docker_json_log(tmp_path: Path) -> None:
    lines = [json.dumps({"log": ln + "\n", "stream": "stderr", "time": "2024-05-01T12:00:01.5Z"})
             for ln in (NOISE, REFUSED)]
    rows = jsonl(run("--format", "jsonl", str(write(tmp_path / "c-json.log", lines))).stdout)
    got = [(r["line"], r["symptom"], r["time"]) for r in rows]
    assert got == [(2, "connection-refused", "2016-11-06T11:03:01")]


def test_framed_lines_without_the_native_scanner(tmp_path: Path) -> None:
    """``python -m why502 classify`` as a user runs it, on a file of plain and framed lines (CRI,
    a partial CRI line, ``--timestamps``, docker json-file with escapes, a framing around another
    program's line, a broken object): without the native scanner (the polars engine's peel) and
    with it, the records are the per-line recogniser's, line for line, and so are the summaries."""
    php = ("[01-May-2024 12:00:01] WARNING: [pool www] server reached pm.max_children setting (5), "
           "consider raising it")
    inner = [REFUSED, TIMEOUT, NOISE, REFUSED.replace("GET /www", 'GET /"q"&<x>\tb\u00e9'), php]
    lines = [inner[0]]
    for ln in inner:
        lines += [f"2024-05-01T12:00:01.5Z stderr F {ln}", f"2024-05-01T12:00:01.5Z stdout P {ln}",
                  f"2024-05-01T12:00:01+02:00 {ln}",
                  json.dumps({"log": ln + "\n", "stream": "stderr", "time": "2024-05-01T12:00:01.5Z"},
                             separators=(",", ":")).replace("<", "\\u003c").replace("&", "\\u0026")]
    lines += [lines[-1][:-9], lines[-1].replace('"stderr"', '"console"')]
    log = write(tmp_path / "framed.log", lines)
    expected = []
    for n, ln in enumerate(lines, 1):
        c = classify_line(ln, year=datetime.date.today().year)
        if c is not None:
            expected.append({"line": n, "file": str(log), **c.to_dict()})
    assert len(expected) > 10
    outputs = []
    for native in ("0", "1"):
        env = {**os.environ, "WHY502_NATIVE": native}
        got = subprocess.run([sys.executable, "-m", "why502", "classify", str(log), "--format", "jsonl"],
                             capture_output=True, text=True, timeout=120, check=False, env=env)
        assert got.returncode == 1, got.stderr
        assert jsonl(got.stdout) == expected
        summary = subprocess.run([sys.executable, "-m", "why502", "classify", str(log), "--format", "json"],
                                 capture_output=True, text=True, timeout=120, check=False, env=env)
        outputs.append(summary.stdout)
    assert outputs[0] == outputs[1] and json.loads(outputs[0])["recognised"] == len(expected)


def test_line_numbers_across_small_batches(tmp_path: Path) -> None:
    lines = [NOISE, REFUSED, TIMEOUT] * 40
    log = write(tmp_path / "big.log", lines)
    frames = list(classify_paths([str(log)], batch_bytes=300))
    assert len(frames) > 10
    got = [(r["line"], r["symptom"]) for f in frames for r in f.iter_rows(named=True)]
    expected = [(i + 1, "connection-refused" if ln is REFUSED else "read-timeout")
                for i, ln in enumerate(lines) if ln is not NOISE]
    assert got == expected


def test_parse_since_relative() -> None:
    import datetime as dt

    from why502.timeargs import parse_time_arg

    now = dt.datetime(2024, 5, 1, 12, 0, 0)
    assert parse_time_arg("30m", now=now) == dt.datetime(2024, 5, 1, 11, 30)
    assert parse_time_arg("2h", now=now) == dt.datetime(2024, 5, 1, 10, 0)
    assert parse_time_arg("2024-05-01 10:00:00", now=now) == dt.datetime(2024, 5, 1, 10, 0)


def test_help_does_not_import_polars() -> None:
    code = ("import sys; from why502.cli.main import build_parser; build_parser(); "
            "print(any(m.split('.')[0] in ('polars', 'rich') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_reader_cuts_endless_lines_and_keeps_numbering(tmp_path: Path) -> None:
    from why502.sources.logfiles import iter_batches

    log = tmp_path / "long.log"
    log.write_bytes(b"x" * (3 * 1024 * 1024) + b"\n" + REFUSED.encode() + b"\n")
    batches = list(iter_batches([log], batch_bytes=64 * 1024, max_line_bytes=256 * 1024))
    lines = [(b.first_line + i, ln) for b in batches for i, ln in enumerate(b.lines)]
    assert [n for n, _ in lines] == [1, 2]
    assert len(lines[0][1]) == 256 * 1024 and lines[1][1] == REFUSED
    assert max(len(b.text) for b in batches) <= 256 * 1024 + len(REFUSED) + 1
