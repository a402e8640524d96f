"""Apache's finder for the per-line paths (``proxies.apache.known.known_lines``, the registry's
``Hooks.classify_known``) must give each line it takes the record ``classify_line`` gives it, and
take no line whose record it cannot give -- on recorded httpd lines, their heads bent, random
edits, many pid and tid pairs, days written " 1" and "01", keys seen once, with and without a
client -- and, through the command, ``--format jsonl`` (with ``--since`` too) and ``diagnose``
must print what ``WHY502_NATIVE=0`` prints (every line read alone).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import polars as pl
import pytest

from tests.classify.test_apache_summary import DAYS, _lines, _stamped
from tests.support.clirun import WHY502
from tests.watch.test_apache_keyed import _bent, _edits, bent_lines
from tests.watch.test_watch_errorscan import APACHE
from why502.parsers.errorlog import classify_line
from why502.parsers.errorlog_batch import OUTPUT_SCHEMA, captures_column
from why502.parsers.linememo import joiner
from why502.proxies.apache import known
from why502.proxies.apache.error_memo import _module

NATIVE = _module()
pytestmark = pytest.mark.skipif(NATIVE is None and os.environ.get("WHY502_REQUIRE_NATIVE") != "1",
                                reason="_apachescan was not built (no C compiler at install time)")


def _row(idx: int, line: str) -> dict[str, object] | None:
    rec = classify_line(line)
    if rec is None:
        return None
    return {"idx": idx, **rec.to_dict(), "pattern": rec.pattern, "captures": captures_column(rec.captures)}


def _check(lines: list[str]) -> int:
    """``known_lines`` of ``lines`` against ``classify_line`` of each: the lines taken, and the
    records of those with one; the number taken."""
    series = pl.Series("line", lines, dtype=pl.String)
    mask, records = known.known_lines(series, 2026, joiner(series))
    if mask is None:
        assert records is None
        return 0
    assert mask.len() == len(lines)
    taken = [k for k, t in enumerate(mask.to_list()) if t]
    want = [r for k in taken if (r := _row(k, lines[k])) is not None]
    got = records.to_dicts() if records is not None else []
    assert got == want
    if records is not None:
        assert records.schema == pl.Schema(OUTPUT_SCHEMA)
    return len(taken)


def _threaded(n: int, seed: int) -> list[str]:
    """httpd's lines under many pid:tid pairs and days, a prefork's pid alone, with and without
    a client, failures and benign lines, some keys seen once."""
    rnd = random.Random(seed)
    msgs = ["(111)Connection refused: AH00957: http: attempt to connect to 10.0.0.1:8080 "
            "(10.0.0.1:8080) failed",
            "AH01102: error reading status line from remote server 10.0.0.2:9000",
            "AH01114: HTTP: failed to make connection to backend: 127.0.0.1",
            "AH01964: Connection to child 4 established (server shop:443)",
            "AH00128: File does not exist: /var/www/html/favicon.ico"]
    out = []
    for k in range(n):
        # now and then a message of its own: a key seen once
        msg = rnd.choice(msgs) if rnd.random() < 0.95 else f"AH01097: pass request body failed to 10.9.{k}.1"
        line = _bent(msg=msg, module=rnd.choice(["proxy", "proxy_http", "ssl"]),
                     pid=str(rnd.choice([502, rnd.randrange(1, 10 ** 6)])),
                     tid=rnd.choice(["", ":tid 503", f":tid {rnd.randrange(1, 10 ** 6)}"]),
                     client=rnd.choice(["", " [client 10.1.0.7:502]", " [client fe80::1:4000]",
                                        f" [client 10.1.{k % 250}.9:{40000 + k}]"]))
        out.append(_stamped(line, rnd.choice([*DAYS, "Sun Mar  1 01:02:03.000004 2026"])))
    return out


def test_the_records_are_classify_lines() -> None:
    assert _check(_threaded(4000, seed=75)) > 3000
    assert _check(_lines(4000, seed=75)) > 2000
    _check(APACHE + bent_lines())
    _check(_edits(APACHE + bent_lines() + _threaded(200, seed=7), 3000, seed=75))
    assert _check(["2026/11/23 09:00:00 [error] 7#7: *1 connect() failed"] * 3) == 0


def test_a_key_seen_once_and_a_line_of_no_key_are_left() -> None:
    once = _bent(msg="AH01102: error reading status line from remote server 10.0.0.3:1")
    twice = _bent(msg="AH01102: error reading status line from remote server 10.0.0.4:1")
    series = pl.Series("line", [once, twice, "not httpd", twice], dtype=pl.String)
    mask, records = known.known_lines(series, 2026, joiner(series))
    assert mask is not None and mask.to_list() == [False, True, False, True]
    assert records is not None and records.get_column("idx").to_list() == [1, 3]


def _run(path: Path, native: str, *args: str) -> bytes:
    env = {**os.environ, "WHY502_NATIVE": native, "COLUMNS": "400"}
    got = subprocess.run([WHY502, *args, str(path)], capture_output=True, env=env, timeout=180)
    assert got.returncode in (0, 1), got.stderr
    return got.stdout


@pytest.mark.parametrize("since", [(), ("--since", "2026-11-23T00:00:00")], ids=["whole", "since"])
def test_jsonl_prints_what_every_line_read_alone_prints(tmp_path: Path, since: tuple[str, ...]) -> None:
    """``classify --format jsonl`` of a log of httpd's lines among other programs', in the
    scanner's batches: the lines ``WHY502_NATIVE=0`` prints, byte for byte."""
    lines = _threaded(30000, seed=1) + _lines(30000, seed=2)
    path = tmp_path / "error.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ("classify", "--no-progress", "--format", "jsonl", *since)
    fast = _run(path, "1", *args)
    assert fast == _run(path, "0", *args)
    assert fast.count(b"\n") > (3000 if since else 20000)


def test_diagnose_reads_what_every_line_read_alone_reads(tmp_path: Path) -> None:
    lines = _threaded(20000, seed=3)
    path = tmp_path / "error.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    conf = tmp_path / "apache2.conf"  # (not the machine's /etc/apache2)
    conf.write_text(f"ServerName localhost\nListen 127.0.0.1:8080\nErrorLog {path}\n"
                    "ProxyPass / http://10.0.0.1:8080/\n", encoding="utf-8")
    args = ("diagnose", "--offline", "--proxy", "apache", "--config", str(conf), "--format", "json",
            "--error-log")
    fast, slow = (json.loads(_run(path, n, *args)) for n in ("1", "0"))
    for doc in (fast, slow):  # (when it ran and how long it took differ from run to run)
        doc.pop("generated_at")
        doc["inputs"].pop("elapsed_ms")
    assert fast == slow
    assert fast["findings"]
