"""The native JSON pass reads a line the same whatever line came before it.

``_jsonscan.c`` compares each key with the key at the same place in the line before (its
``Shape``: a log's lines come from one encoder, so their keys come in the same order), and uses
what that place decided of the key (read, forbidden, counted) without scanning or looking it up
again.  A key that only looks like the one before is the case to get wrong: longer or shorter, one
byte changed, the same text at another depth or in another object, with an escape or a byte
>= 0x80, or the key before it removed so that every later key is at a new place.  Each such line
is read right after the plain line and right before it, and the pass must read every line
exactly as it reads that line alone in its block (rows, values, and the lines handed back).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import polars as pl
import pytest

from tests.stats.test_json_native import PLAIN
from tests.support.native import native_pass
from why502.parsers.lblogs import batch

BUILT, pytestmark = native_pass("why502.parsers.lblogs._jsonscan", "the native JSON pass")

FAMILIES = ("cloudflare", "traefik", "envoy", "caddy")

#: a row the pass read: (its line, its values in the order of the columns)
Row = tuple[int, tuple[object, ...]]

_KEY = re.compile(r'"([^"\\]*)"(\s*):')


def _spec(family: str) -> tuple[dict[str, pl.DataType], batch.JsonPass]:
    from why502.proxies.caddy import frame as caddy
    from why502.proxies.envoy import frame as envoy
    from why502.proxies.traefik import frame as traefik

    return {"cloudflare": (batch.CLOUDFLARE_SCHEMA, batch._CF_NATIVE),
            "traefik": (traefik.SCHEMA, traefik._NATIVE), "envoy": (envoy.SCHEMA, envoy._NATIVE),
            "caddy": (caddy.SCHEMA, caddy._NATIVE)}[family]


def _bent_keys(base: str) -> Iterator[str]:
    """``base`` with each of its keys (at every depth) changed one way at a time."""
    for m in _KEY.finditer(base):
        key, a, b = m.group(1), m.start(1), m.end(1)
        edits = [key + "x", key[:-1], key[:-1] + chr(ord(key[-1]) ^ 1) if key else "x", "x" + key,
                 key[:1] + "\\u00" + f"{ord(key[1]):02x}" + key[2:] if len(key) > 1 else "\\u0041",
                 key + "é", key.upper(), "RayID", "caller", "EdgeResponseStatus", "status", "method"]
        for new in edits:
            if new != key:
                yield base[:a] + new + base[b:]
        # the member removed (every later key at a new place), or written twice
        end = _member_end(base, m.end())
        if end is not None:
            start = m.start()
            member = base[start:end]
            if base[start - 1] == ",":
                yield base[:start - 1] + base[end:]
            yield base[:start] + member + "," + base[start:]
            yield base[:start] + member.replace(f'"{key}"', '"moved"', 1) + "," + base[start:]


def _member_end(text: str, at: int) -> int | None:
    """The end of the value starting after ``at`` (a colon's end), or None."""
    try:
        _value, end = json.JSONDecoder().raw_decode(text, at)
    except ValueError:
        return None
    return end


def _read(lines: list[str], family: str) -> tuple[list[Row], list[int]]:
    """(the rows the pass reads of ``lines`` in one block, each with its line; the lines back)."""
    schema, native = _spec(family)
    got = batch.json_block("\n".join(lines).encode(), schema, native)
    assert got is not None
    frame, back = got
    rows = [(row["idx"], tuple(v for k, v in row.items() if k != "idx"))
            for row in frame.iter_rows(named=True)]
    return rows, back


def _alone(lines: list[str], family: str) -> tuple[list[Row], list[int]]:
    """``_read`` with each line in a block of its own (no line before it)."""
    rows: list[Row] = []
    back: list[int] = []
    for i, line in enumerate(lines):
        got, handed = _read([line], family)
        rows += [(i, values) for _idx, values in got]
        back += [i for _ in handed]
    return rows, back


@pytest.mark.parametrize("family", FAMILIES)
def test_a_line_is_read_as_alone_whatever_line_came_before(family: str) -> None:
    base = PLAIN[family]
    lines: list[str] = [base]
    for bent in _bent_keys(base):
        lines += [bent, base, bent, bent]  # after the plain line, before it, after itself
    # the plain lines of the other families between them (every key at a new place)
    for other in FAMILIES:
        lines += [PLAIN[other], base, PLAIN[other]]
    assert len(lines) > 400
    together, alone = _read(lines, family), _alone(lines, family)
    assert together == alone
    # and the bends are not all handed back: the pass does read lines after another shape
    read = {i for i, _values in together[0]}
    assert len(read) > len(lines) // 4
    assert {i for i, line in enumerate(lines) if line == base} <= read


def test_a_key_in_another_object_at_the_same_place_is_read_as_there() -> None:
    """Caddy's ``method`` is read inside ``request`` (``request.method``) and not at the top
    level: a line whose key at some place is ``method`` at the top level, after a line that had
    ``method`` at that place inside ``request`` (and the other way round), is read as alone."""
    req = {"remote_ip": "192.0.2.7", "method": "GET", "host": "shop.example.com", "uri": "/cart"}
    inner = {"level": "error", "ts": 1795521884.5, "logger": "http.log.access.log0", "msg": "handled request",
             "request": req, "status": 502, "size": 0, "duration": 0.002}
    # the same keys in the same order, "method" moved out of the request to the top level
    outer = {"level": "error", "ts": 1795521884.5, "logger": "http.log.access.log0", "msg": "handled request",
             "request": {"remote_ip": "192.0.2.7"}, "method": "PUT", "host": "shop.example.com", "uri": "/x",
             "status": 502, "size": 0, "duration": 0.002}
    a, b = json.dumps(inner, separators=(",", ":")), json.dumps(outer, separators=(",", ":"))
    lines = [a, b, a, a, b, b, a]
    together = _read(lines, "caddy")
    assert together == _alone(lines, "caddy")
    schema, native = _spec("caddy")
    got = batch.json_block("\n".join(lines).encode(), schema, native)
    assert got is not None and got[1] == []
    assert got[0]["request.method"].to_list() == ["GET" if line == a else None for line in lines]
