"""``why502 classify --format jsonl`` on an edge log writes a block's failures with polars
(``app.stats.lb.classify_lb_jsonl``): the same bytes as ``dump_json`` of each ``classify_lb``
row, on the published lines of every family, on values holding every character JSON escapes,
and on a block where a line no reader takes is a failure too (written row by row)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import RunMain
from why502.app.stats import lb
from why502.proxies.logfamilies import families
from why502.textutil import dump_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# the families whose published lines the fixtures hold, and the log type each is read as
FAMILIES = {"alb": "alb", "cloudflare": "cloudflare", "envoy": "envoy", "caddy": "caddy",
            "traefik": "traefik", "istio": "envoy"}


def _published(family: str, own: bool = False) -> list[str]:
    """The published lines of ``family`` (``own``: only those its parser reads as its records)."""
    lines = []
    for name in (FIXTURES / "cloud" / f"{family}.jsonl", FIXTURES / "edge-field" / f"{family}.jsonl"):
        if name.exists():
            lines += [json.loads(row)["line"] for row in name.read_text().splitlines() if row.strip()]
    lines = [line for line in lines if "\n" not in line]
    if own:
        lines = [line for line in lines if families().parse_line(line, FAMILIES[family]) is not None]
    return lines


_ROW = lb._row  # (the row writer, for the tests that count its calls)

#: a Logpush http_requests record with the fields of Cloudflare's dataset
#: (developers.cloudflare.com/logs/reference/log-fields/zone/http_requests/), its values those
#: of the published example in tests/fixtures/cloud/cloudflare.jsonl; a 522 the edge made itself
LOGPUSH = {
    "CacheCacheStatus": "miss", "CacheResponseBytes": 177, "CacheResponseStatus": 522, "ClientASN": 56046,
    "ClientCountry": "cn", "ClientDeviceType": "desktop", "ClientIP": "1.1.1.1", "ClientRequestBytes": 1082,
    "ClientRequestHost": "foo.com", "ClientRequestMethod": "GET", "ClientRequestPath": "/favicon.ico",
    "ClientRequestProtocol": "HTTP/2", "ClientRequestReferer": "", "ClientRequestURI": "/favicon.ico",
    "ClientRequestUserAgent": "Mozilla/5.0", "ClientSSLCipher": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ClientSSLProtocol": "TLSv1.2", "ClientSrcPort": 123, "EdgeColoID": 49, "EdgeEndTimestamp":
    "2019-07-16T02:39:53Z", "EdgePathingOp": "wl", "EdgePathingSrc": "macro", "EdgePathingStatus": "nr",
    "EdgeRequestHost": "foo.com", "EdgeResponseBytes": 1257, "EdgeResponseContentType": "text/html",
    "EdgeResponseStatus": 522, "EdgeServerIP": "10.1.1.1", "EdgeStartTimestamp": "2019-07-16T02:39:23Z",
    "OriginIP": "192.0.2.10", "OriginResponseBytes": 0, "OriginResponseStatus": 0, "OriginResponseTime": 0,
    "OriginSSLProtocol": "unknown", "RayID": "4f6a0a4d6ef3d8d5", "SecurityLevel": "med",
    "WAFAction": "unknown", "WorkerStatus": "unknown", "ZoneID": 123}


def _object(line: str) -> dict[str, object]:
    """A published line as the object it is, or {} (a line wrapped in another framing)."""
    try:
        rec = json.loads(line)
    except ValueError:
        return {}
    return rec if isinstance(rec, dict) else {}


def _row_by_row(path: Path, log_type: str) -> bytes:
    """What ``classify --format jsonl`` wrote before: a ``dump_json`` per row."""
    return "".join(dump_json(row, indent=None) + "\n"
                   for row in lb.classify_lb([str(path)], log_type)).encode("utf-8")


def _vectorised(path: Path, log_type: str) -> bytes:
    return b"".join(text for text, _n in lb.classify_lb_jsonl([str(path)], log_type))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_same_bytes_as_row_by_row(family: str, tmp_path: Path) -> None:
    """Every published line, its family's and the others (a block with a failure no reader
    takes is written row by row)."""
    lines = _published(family)
    assert lines, family
    log = tmp_path / f"{family}.log"
    # enough lines for several batches of the smallest size (the lines' numbers run on)
    rng = random.Random(7)
    log.write_text("".join(rng.choice(lines) + "\n" for _ in range(6000)), encoding="utf-8")
    want = _row_by_row(log, FAMILIES[family])
    assert want, "no failure among the published lines"
    assert _vectorised(log, FAMILIES[family]) == want


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_family_lines_in_batches(family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lines the family reads, in several batches (of one 2 MiB block each): the same bytes
    (the rows its readers read written by polars, the lines they leave to its parser one by
    one)."""
    lines = _published(family, own=True)
    log = tmp_path / f"{family}.log"
    rng = random.Random(11)
    log.write_text("".join(rng.choice(lines) + "\n" for _ in range(20_000)), encoding="utf-8")
    monkeypatch.setattr(lb, "JSONL_BATCH_LINES", 1)
    want = _row_by_row(log, FAMILIES[family])
    assert want.count(b"\n") > 100, family
    assert _vectorised(log, FAMILIES[family]) == want


def test_values_holding_every_escape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cloudflare failures whose host and URI hold what JSON escapes (quotes, backslashes, the
    controls: escaped in the line), what ``json_inert`` escapes (C1, U+2028, a bidi override:
    raw in the line) and text beyond ASCII, all written by polars: the same bytes."""
    base = dict(LOGPUSH)
    escaped = ['a"b\\c', "x\x01\x1b[31m\t\n\r\x08\x0c"]
    raw = ["\u0085\u2028\u202e\x7f é 中 \U0001f600", "\u009b31m", ""]
    rows = []
    for k in range(400):
        rec = dict(base)
        values = escaped if k % 5 == 0 else raw
        rec["ClientRequestHost"] = values[k % len(values)] + str(k)
        rec["ClientRequestURI"] = "/" + values[(k + 1) % len(values)]
        rows.append(json.dumps(rec, ensure_ascii=False))
    log = tmp_path / "cf.log"
    log.write_text("\n".join(rows) + "\n", encoding="utf-8")
    want = _row_by_row(log, "cloudflare")
    assert want.count(b"\n") == 400
    assert b"\\u0085" in want and b"\\u2028" in want and b"\\u009b" in want and "中".encode() in want
    one_by_one: list[object] = []
    monkeypatch.setattr(lb, "_row", lambda *args: one_by_one.append(args) or _ROW(*args))
    assert _vectorised(log, "cloudflare") == want
    assert not one_by_one  # every row written by polars (the escaped values read back by its reader)


def test_a_block_with_a_failure_no_reader_takes(tmp_path: Path) -> None:
    """An nginx error line pasted among Envoy's: classify's rules read it, and the block is
    written in the order of its lines."""
    lines = _published("envoy")
    log = tmp_path / "mixed.log"
    pasted = ('2026/11/27 10:00:00 [error] 7#7: *1 connect() failed (111: Connection refused) while '
              'connecting to upstream, client: 10.0.0.1, server: _, request: "GET / HTTP/1.1", '
              'upstream: "http://127.0.0.1:9/", host: "x"')
    log.write_text("".join(line + "\n" for line in lines * 20) + pasted + "\n" + "".join(
        line + "\n" for line in lines * 20), encoding="utf-8")
    want = _row_by_row(log, "envoy")
    assert b'"source": "nginx"' in want
    assert _vectorised(log, "envoy") == want


def test_json_value_escapes_as_json_dumps() -> None:
    """polars' JSON encoder and ``json.dumps(ensure_ascii=False)`` escape the same characters
    alike: every character below U+3000 and random ones above it."""
    rng = random.Random(3)
    values = ["".join(map(chr, range(start, min(start + 64, 0x3000)))) for start in range(0, 0x3000, 64)]
    values += ["".join(chr(rng.choice([rng.randrange(0xE000, 0x110000), rng.randrange(0x3000, 0xD800)]))
                       for _ in range(40)) for _ in range(2000)]
    values += [None, ""]
    got = pl.DataFrame({"v": values}).select(lb._json_value("v")).to_series().to_list()
    assert got == [json.dumps(v, ensure_ascii=False) for v in values]


def test_the_command_writes_them(run_main: RunMain, tmp_path: Path) -> None:
    """Through the CLI, as a user runs it: the rows parse, one per failure, in line order."""
    lines = _published("alb", own=True)
    log = tmp_path / "alb.log"
    log.write_text("".join(line + "\n" for line in lines * 50), encoding="utf-8")
    code, out, _err = run_main("classify", str(log), "--format", "jsonl")
    assert code == 1
    assert out.encode("utf-8") == _row_by_row(log, "alb")
    numbers = [json.loads(row)["line"] for row in out.splitlines()]
    assert numbers == sorted(numbers) and len(numbers) > 50
