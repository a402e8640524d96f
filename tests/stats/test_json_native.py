"""The native JSON pass (``parsers/lblogs/_jsonscan.c``) reads no line otherwise than the polars
reader and the per-line parser.

Cloudflare's, Traefik's, Envoy's and Caddy's JSON readers hand a batch to the pass (``batch.json_rows``,
``batch.JsonPass``), which reads the lines whose values leave no doubt and gives the others back
to polars' NDJSON reader behind the family's guards.  On every published and recorded edge line,
on the variants ``test_lb_frames`` bends, and on JSON bent here where a fast reader could go
wrong (a key twice, an escape, a number of another kind or size, a nested value, another
family's key, spaces, a control byte, bad JSON; Caddy's nested ``request`` object and its
``resp_headers`` names), the records ``stats`` gets are the same with and
without the pass, through the batch reader and through the raw-block reader alike; every row the
pass reads is the per-line parser's record; and it does read the plain lines.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from tests.stats.test_lb_frames import _corpus, _frame_agrees, _variants
from tests.support.kubectl_heads import FRAMINGS, HEADS
from tests.support.native import native_pass
from why502.app.stats import lb
from why502.parsers.lblogs import batch
from why502.sources.logfiles import ByteBatch, LineBatch

BUILT, pytestmark = native_pass("why502.parsers.lblogs._jsonscan", "the native JSON pass")


def test_the_pass_is_built_where_the_suite_requires_it() -> None:
    """``scripts/test`` installs a compiler and sets WHY502_REQUIRE_NATIVE=1: a build that
    silently fell back to polars would pass every other test here as skipped."""
    assert BUILT, "why502.parsers.lblogs._jsonscan was not built: see the pip install output"

FAMILIES = ("cloudflare", "traefik", "envoy", "caddy")

# one plain line of each family, as its program writes it (the recorded fixtures' shapes)
PLAIN = {
    "cloudflare": json.dumps({
        "ClientIP": "192.0.2.7", "ClientRequestHost": "shop.example.com", "ClientRequestMethod": "GET",
        "ClientRequestURI": "/cart?id=3", "EdgeStartTimestamp": "2026-11-21T10:00:00Z",
        "EdgeResponseStatus": 502,
        "OriginResponseStatus": 502, "OriginIP": "10.0.0.14", "OriginResponseTime": 25565000, "RayID": "8e1f",
        "WAFRuleIDs": [], "RequestHeaders": {"x-a": "b"}, "ClientRequestUserAgent": "Mozilla/5.0 (X11; é)"},
        separators=(",", ":"), ensure_ascii=False),
    "traefik": json.dumps({
        "ClientHost": "192.0.2.7", "DownstreamStatus": 502, "Duration": 25565000, "OriginDuration": 25000000,
        "OriginContentSize": 0, "OriginStatus": 0, "RequestHost": "shop.example.com", "RequestMethod": "GET",
        "RequestPath": "/cart", "RetryAttempts": 1, "RouterName": "shop@docker", "ServiceName": "shop@docker",
        "ServiceURL": "http://10.0.0.14:8080", "ServiceAddr": "10.0.0.14:8080",
        "StartUTC": "2026-11-21T10:00:00Z",
        "entryPointName": "web", "level": "info", "msg": "", "time": "2026-11-21T10:00:00Z"},
        separators=(",", ":")),
    "envoy": json.dumps({
        "start_time": "2026-11-21T10:00:00.000Z", "method": "GET", "path": "/cart", "protocol": "HTTP/1.1",
        "response_code": 503, "response_flags": "UF",
        "response_code_details": "upstream_reset_before_response_started{connection_failure}",
        "upstream_transport_failure_reason": "delayed_connect_error:_111",
        "bytes_received": 0, "bytes_sent": 91, "duration": 2, "upstream_service_time": None,
        "x_forwarded_for": None, "user_agent": "curl/8.5.0", "request_id": "a",
        "authority": "shop.example.com",
        "upstream_host": "10.0.0.14:8080", "upstream_cluster": "shop",
        "downstream_remote_address": "192.0.2.7:5"},
        separators=(",", ":")),
    # Caddy's own 502 (no body, no header but Server), as recorded from Caddy 2.11
    "caddy": json.dumps({
        "level": "error", "ts": 1795521884.9201121, "logger": "http.log.access.log0",
        "msg": "handled request",
        "request": {"remote_ip": "192.0.2.7", "remote_port": "53250", "client_ip": "192.0.2.7",
                    "proto": "HTTP/1.1", "method": "GET", "host": "shop.example.com", "uri": "/cart",
                    "headers": {"User-Agent": ["curl/8.5.0"], "Accept-Encoding": ["gzip"]}},
        "bytes_read": 0, "user_id": "", "duration": 0.002, "size": 0, "status": 502,
        "resp_headers": {"Server": ["Caddy"]}},
        separators=(",", ":")),
}

# (regex, replacement) bends of the plain lines: where the pass must hand a line back, or may
# read it only as json.loads does.  A replacement is literal text (a backslash is one), \1 its
# group.
_BENDS = (
    (r'^\{', '{"DownstreamStatus":200,"EdgeResponseStatus":200,"response_code":200,'),  # a key twice
    (r'^\{', '{"OriginIP":"10.0.0.99","ServiceURL":"http://10.0.0.99","upstream_host":"10.0.0.99:1",'),
    (r'"(GET)"', r'"G\u0045T"'), (r'"(/cart)', r'"\/cart'), (r'"(/cart)', r'"/caf\u00e9'),
    (r'"(/cart)', '"/café'), (r'"(Mozilla|curl)', r'"\"quoted\" \1'),
    (r':502\b', ':-502'), (r':502\b', ':502.0'), (r':502\b', ':5.02e2'), (r':502\b', ':"502"'),
    (r':502\b', ':null'), (r':502\b', ':true'), (r':503\b', ':-503'), (r':503\b', ':503.5'),
    (r':503\b', ':"503"'), (r':503\b', ':null'),
    (r':25565000\b', ':1234567890123456789012'), (r':25565000\b', ':1e400'), (r':25565000\b', ':2.5565E7'),
    (r':25565000\b', ':-0'), (r':25565000\b', ':-0.0'), (r':25565000\b', ':"25565000"'),
    (r':2,', ':2.5,'), (r':2,', ':"2",'), (r':2,', ':-0,'), (r':2,', ':12345678901234567890,'),
    (r':2,', ':2e1,'),
    (r':0,', ':00,'), (r':0,', ':01,'), (r':0,', ':-1,'),
    (r'"WAFRuleIDs":\[\]', '"WAFRuleIDs":[1,{"a":[true,null]}]'), (r'^\{', '{"nested":{"a":1},'),
    (r'^\{', '{"tags":["x"],'), (r'^\{', '{"x":"RayID",'), (r'^\{', '{"x":"caller",'),
    (r'^\{', '{"Edge\\u0052esponseStatus":1,'), (r'^\{', '{"logger":"http.log.access",'),
    (r'^\{', '{"caller":"x",'), (r'^\{', '{ '), (r'\}$', ' }'), (r':', ' : '), (r',', ' , '),
    (r'^\{', '{\t'), (r'\}$', '}\r'), (r'\}$', '} '), (r'^\{', ' {'), (r'^\{', 'Nov 21 10:00:00 h app: {'),
    (r'\}$', ''), (r'\}$', ',}'), (r'"$', ''), (r'^\{', '{"a":}'), (r'^\{', '{"a":tru,'),
    (r'^\{', '{"a":"\\ud800",'), (r'^\{', '{"a":"\\x",'), (r'^\{', '{"a":"\x01",'), (r'^\{', '{"a":"\x7f",'),
    (r'"(shop)', '"shop\u00e9'), (r'"response_flags":"UF"', '"response_flags":"UF,URX"'),
    (r'"response_flags":"UF"', '"response_flags":null'), (r'"response_flags":"UF"', '"response_flags":""'),
    (r'"upstream_service_time":null', '"upstream_service_time":"12"'),
    (r'"upstream_service_time":null', '"upstream_service_time":12'),
    (r'"upstream_service_time":null', '"upstream_service_time":1.5'),
    (r'"upstream_service_time":null', '"upstream_service_time":"1e3"'),
    (r'"duration":2', '"duration":"2"'), (r'"response_code":503', '"response_code":"503"'),
    (r'"StartUTC":"[^"]*"', '"StartUTC":""'), (r'"ServiceURL":"[^"]*"', '"ServiceURL":"-"'),
    (r'"ServiceURL":"[^"]*"', '"ServiceURL":12'), (r'"RetryAttempts":1', '"RetryAttempts":1.0'),

)


# Caddy's bends, by the text they replace: its request object (a key twice, escaped, of another
# type; the object of another type, empty, null; a read name deeper or at the top level, another
# family's key inside) and resp_headers (an escape, non-ASCII, a nested value, a name twice,
# names in other cases, other headers, {} / null / no object, spaces, a value starting with a
# colon); its logger, size, ts and status
_CADDY_BENDS: dict[str, tuple[str, ...]] = {
    '"method":"GET"': ('"method":"GET","method":"PUT"',),
    '"method":': (r'"m\u0065thod":',),
    '"uri":"[^"]*"': ('"uri":12', '"uri":null', '"uri":""'),
    '"host":"[^"]*"': ('"host":["a"]',),
    '"client_ip":"[^"]*",': ('',),
    '"client_ip":"[^"]*"': ('"client_ip":""',),
    r'"request":\{': (
        '"request":"GET /","r":{', '"request":null,"r":{', '"request":[1],"r":{', '"request":{},"r":{',
        '"request":{"RayID":"1",', '"request" : { ', '"request":{"x":{"method":{"y":[1]}},',
        '"request":{"mé":1,',
    ),
    r'^\{': ('{"request.method":"POST",',),
    r'"headers":\{': ('"headers":{"method":"POST","uri":{"a":1},',),
    r'\["Caddy"\]': (
        r'["Ca\u0064dy"]', '["Caddé"]', '{"a":["b"]}', '["Caddy",{"a":1}]', '["Caddy",": x"]',
        '[": x","Caddy"]',
    ),
    '"Server":': (
        r'"S\u0065rver":', '"Sérver":', '":x":["1"],"Server":', '"RayID":["1"],"Server":',
        '"":["1"],"Server":',
    ),
    r'"Server":\["Caddy"\]': (
        '"Server":["Caddy"],"Server":["x"]', '"X":["1"],"Server":["Caddy"],"X":["2"]',
        '"SERVER":["Caddy"],"alt-svc":["h3"],"DaTe":["x"]', '"Server":["Caddy"],"Via":["1.1 Caddy"]',
        '"Server":["Caddy"],"Date-X":["1"]', '"Serve":[]',
    ),
    r'"resp_headers":\{[^}]*\}': (
        '"resp_headers":{}', '"resp_headers":null', '"resp_headers":"Server"', '"resp_headers":[]',
        '"resp_headers" : { "Server" : [ "Caddy" ] , "date":1 }',
    ),
    '"size":0': ('"size":3', '"size":null', '"size":-1'),
    '"logger":"http.log.access.log0"': ('"logger":"http.log.error.log0"',),
    '"logger":"[^"]*",': ('',),
    r'"ts":[\d.]+': ('"ts":-1', '"ts":1795521884', '"ts":253402300800', '"ts":null'),
    '"status":502': ('"status":503', '"status":504', '"status":200', '"status":404'),
    # a float's significant digits (Go's and Python's shortest repr: up to 17, zeros first)
    r'"duration":[\d.]+': (
        '"duration":0.0011790000000000001', '"duration":0.051139000000000004', '"duration":1e-7',
        '"duration":0.00000000000000000012345678901234567',
        '"duration":0.000000000000000000123456789012345678',
        '"duration":0.' + '0' * 45 + '1', '"duration":100000000000000000.0', '"duration":0.0e0',
    ),
}


def _bent() -> Iterator[str]:
    bends = (*_BENDS, *((rx, repl) for rx, repls in _CADDY_BENDS.items() for repl in repls))
    for base in PLAIN.values():
        yield base
        for rx, repl in bends:
            def put(m: re.Match[str], repl: str = repl) -> str:
                return repl.replace("\\1", m.group(1)) if m.groups() else repl

            bent = re.sub(rx, put, base, count=1)
            if bent != base:
                yield bent
                yield re.sub(rx, put, bent, count=1)  # and twice
    yield "{}"
    yield ""


def _lines() -> list[str]:
    corpus = _corpus()
    return [*corpus, *_variants(corpus), *_bent()]


def _records(family: str, lines: list[str], native: str, monkeypatch: pytest.MonkeyPatch,
             block: bool = False) -> tuple[pl.DataFrame, int, list[tuple[int, str]]]:
    """What ``stats`` counts of ``lines`` read as ``family``: the batch reader's rows (or the
    raw-block reader's), the non-empty lines and the unparsed ones."""
    monkeypatch.setenv("WHY502_NATIVE", native)
    batch._native_pass.cache_clear()
    try:
        text = "\n".join(lines)
        if block:
            done = lb._convert_block(ByteBatch("f.log", text.encode()), 1, family)
        else:
            done = lb._convert(LineBatch("f.log", 1, text, len(lines)), family)
    finally:
        batch._native_pass.cache_clear()
    return done.frame, done.lines, done.unparsed


@pytest.mark.parametrize("family", FAMILIES)
def test_the_records_are_the_same_with_and_without_the_native_pass(family: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _lines()
    assert len(lines) > 3000
    ref = _records(family, lines, "0", monkeypatch)
    got = _records(family, lines, "1", monkeypatch)
    blocks = _records(family, lines, "1", monkeypatch, block=True)
    assert ref[0].height > 50
    for other in (got, blocks):
        assert other[1:] == ref[1:]
        assert other[0].equals(ref[0], null_equal=True), [
            (i, a, b) for i, (a, b) in enumerate(zip(other[0].iter_rows(), ref[0].iter_rows(), strict=False))
            if a != b][:2]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_row_the_pass_reads_is_the_per_line_parsers(family: str) -> None:
    lines = [*_bent()]
    assert _frame_agrees(family, lines) >= 5


def _native_spec(family: str) -> tuple[object, object]:
    """The family's schema and native pass spec, for ``batch.json_block``."""
    if family == "traefik":
        from why502.proxies.traefik import frame as traefik

        return traefik.SCHEMA, traefik._NATIVE
    if family == "envoy":
        from why502.proxies.envoy import frame as envoy

        return envoy.SCHEMA, envoy._NATIVE
    if family == "caddy":
        from why502.proxies.caddy import frame as caddy

        return caddy.SCHEMA, caddy._NATIVE
    return batch.CLOUDFLARE_SCHEMA, batch._CF_NATIVE


@pytest.mark.parametrize("family", FAMILIES)
def test_json_lines_behind_kubectl_framing_are_read_as_without_the_pass(
        family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every JSON line of the corpus behind each framing: the same records with and without the
    pass, through the batch and the raw-block readers; and the pass takes a plain line behind
    each real framing (before, it handed every framed line back: 200k lines 5.5-7.8 s against
    0.4-0.6 s plain, BENCHMARKS.md stop 71)."""
    plain = [x for x in _corpus() if x.startswith("{")]
    lines = [head + x for head in HEADS for x in plain]
    ref = _records(family, lines, "0", monkeypatch)
    assert ref[0].height > 20
    for other in (_records(family, lines, "1", monkeypatch),
                  _records(family, lines, "1", monkeypatch, block=True)):
        assert other[1:] == ref[1:]
        assert other[0].equals(ref[0], null_equal=True)
    schema, native = _native_spec(family)
    got = batch.json_block("\n".join(head + PLAIN[family] for head in HEADS).encode(), schema, native)
    assert got is not None
    frame, back = got  # (the heads that are no framing go back: family.json_object reads them)
    framed = len(FRAMINGS)  # (HEADS: the framings first)
    assert frame["idx"].to_list() == list(range(framed)) and back == list(range(framed, len(HEADS)))


@pytest.mark.parametrize("family", FAMILIES)
def test_the_pass_reads_the_plain_lines_and_hands_back_the_doubtful(family: str) -> None:
    """The plain line is read (and its reader's other-family, nested, escaped variants are not:
    the pass is not an equality reached by handing every line back, nor one reached by reading
    everything)."""
    from why502.proxies.logfamilies import families

    reader = families().block(family)
    assert reader is not None or family == "envoy"
    base = PLAIN[family]
    schema, native = _native_spec(family)
    lines = [base, base.replace('"GET"', '"G\\u0045T"'), "{" + base[1:-1] + "," + base[1:-1] + "}",
             base.replace("{", '{"x":"RayID","y":"caller",', 1), base + "\r", "", base]
    got = batch.json_block("\n".join(lines).encode(), schema, native)
    assert got is not None
    frame, back = got
    # another family's names as values: Cloudflare's guards have none (its key ranks first); a
    # CRLF line is read without its "\r", as the per-line parser reads it (stop 69: it went back)
    other = [3] if family == "cloudflare" else []
    assert frame["idx"].to_list() == sorted([0, 4, 6, *other])
    assert back == [i for i in (1, 2, 3, 5) if i not in other]


@pytest.mark.parametrize("family", FAMILIES)
def test_stats_and_classify_of_a_file_are_the_same_without_the_native_pass(family: str,
                                                                           tmp_path: Path) -> None:
    """The commands a user runs, on a file of many blocks: ``stats --format json`` and ``classify
    --format jsonl`` (its line numbers included)."""
    log = tmp_path / f"{family}.json"
    # the proxy's own failures (classify's rows): Cloudflare's 520, Traefik's own error page
    own = PLAIN[family].replace('"EdgeResponseStatus":502', '"EdgeResponseStatus":520').replace(
        '"OriginContentSize":0', '"OriginContentSize":11')
    plain = [own.replace('"/cart', f'"/cart{i}') for i in range(3000)]
    log.write_text("\n".join([*plain[:1500], *_bent(), *plain[1500:]]) + "\n", encoding="utf-8")
    outs = []
    for native in ("1", "0"):
        got = []
        for cmd in (["stats", str(log), "--log-type", family, "--format", "json", "--no-progress"],
                    ["classify", str(log), "--log-type", family, "--format", "jsonl"]):
            proc = subprocess.run([sys.executable, "-m", "why502", *cmd], capture_output=True, text=True,
                                  env={**os.environ, "WHY502_NATIVE": native}, timeout=300, check=False)
            assert proc.returncode in (0, 1), proc.stderr[-2000:]
            got.append(proc.stdout)
        outs.append(got)
    assert json.loads(outs[0][0])["requests"] >= 3000
    assert len(outs[0][1].splitlines()) >= 3000  # every plain line is a failure the proxy made
    assert outs[0] == outs[1]


def test_caddy_request_keys_and_header_names_are_read_or_handed_back() -> None:
    """Caddy's ``request.*`` keys are read from the nested object only, and of ``resp_headers``
    the names not Caddy's own are counted (case-insensitive, each occurrence); a nested key or
    header name the pass could misread sends the line back."""
    from why502.proxies.caddy import frame as caddy

    base = PLAIN["caddy"]
    hdr = '"resp_headers":{"Server":["Caddy"]}'
    read = [  # (line, request.method, header names not Caddy's own)
        (base, "GET", 0),
        (base.replace('"Server":', '"SERVER":["Caddy"],"alt-svc":["h3"],"DaTe":["x"],"Server":'), "GET", 0),
        (base.replace('"Server":["Caddy"]', '"Server":["Caddy"],"Via":["1"],"Via":["2"]'), "GET", 2),
        (base.replace('"Server":["Caddy"]', '"Server":["Caddy"],"Server":["x"],"Dates":[]'), "GET", 1),
        (base.replace(hdr, '"resp_headers":{}'), "GET", 0),
        (base.replace(hdr, '"resp_headers" : { "date" : 1 , "x" : [ ] }'), "GET", 1),
        (base.replace(hdr, '"resp_headers":null'), "GET", None),
        (base.replace("," + hdr, ""), "GET", None),
        (base.replace('["Caddy"]', '{"a":[{"b":1}]}'), "GET", 0),  # a value: skipped
        (base.replace('["Caddy"]', '["Ca\\u0064dy",": x","é"]'), "GET", 0),
        (base.replace('"request":{', '"request":null,"r":{'), None, 0),
        (base.replace('"request":{', '"request":{},"r":{'), None, 0),
        (base.replace('{"level"', '{"request.method":"POST","level"'), "GET", 0),  # a key of its own
        (base.replace('"headers":{', '"headers":{"method":"POST",'), "GET", 0),  # deeper: not read
        (base.replace('"request":{', '"request" : { "x" : { "method" : "PUT" } , "mé" : 1 ,'), "GET", 0),
        (base.replace('"duration":0.002', '"duration":0.0011790000000000001'), "GET", 0),  # 17 significant
        (base.replace('"uri":"/cart"', '"uri":"/café"'), "GET", 0),  # well-formed UTF-8: read (stop 69)
    ]
    back = [
        base.replace('"Server":', '"S\\u0065rver":'), base.replace('"Server":', '"Sérver":'),
        base.replace('"Server":', '"RayID":[],"Server":'), base.replace(hdr, '"resp_headers":["Server"]'),
        base.replace(hdr, '"resp_headers":"Server"'), base.replace('"Server":["Caddy"]', '"Server":[nul]'),
        base.replace('"method":"GET"', '"method":"GET","method":"PUT"'),
        base.replace('"method":', '"m\\u0065thod":'), base.replace('"method":"GET"', '"method":"G\\u0045T"'),
        base.replace('"uri":"/cart"', '"uri":12'),
        base.replace('"request":{', '"request":"x","r":{'), base.replace('"request":{', '"request":[],"r":{'),
        base.replace('"request":{', '"request":{"RayID":"1",'),
        base.replace('"request":{', '"request":{"m\\u00e9":1,'),
        base.replace('"request":{', '"request":{},"request":{'),
        base.replace(hdr, hdr + "," + hdr), base.replace('"request":{', '"request":{"a":tru,'),
        base.replace('"duration":0.002', '"duration":0.000000000000000000123456789012345678'),  # 18
    ]
    lines = [line for line, _m, _n in read] + back
    got = batch.json_block("\n".join(lines).encode(), caddy.SCHEMA, caddy._NATIVE)
    assert got is not None
    frame, handed = got
    assert handed == list(range(len(read), len(lines)))
    assert frame["idx"].to_list() == list(range(len(read)))
    assert frame["request.method"].to_list() == [m for _l, m, _n in read]
    assert frame["resp_headers"].to_list() == [n for _l, _m, n in read]
    assert frame["request.uri"].to_list() == [None if m is None else "/café" if "/café" in line else "/cart"
                                              for line, m, _n in read]
    # and the decisions on them are the per-line parser's, through the batch reader too
    assert _frame_agrees("caddy", lines) == len(read)


def test_the_pass_reads_each_number_as_python_does() -> None:
    """A float column's numbers (Caddy's ``duration``, kind 'g'): up to 15 digits without an
    exponent the pass divides the digits by a power of ten (Clinger's fast path), beyond it
    calls strtod; either way the double is ``float(text)``'s, on random numbers of every
    length, scale and sign, the halfway cases and the zeros."""
    import random

    from why502.proxies.caddy.frame import _NATIVE, SCHEMA

    rng = random.Random(52)
    texts = ["0", "-0", "0.0", "-0.0", "0.1", "0.3", "1.5", "2.675", "9007199254740993", "123456789012345",
             "1234567890.12345", "0.000000000000001", "999999999999999", "0.1234567890123456",
             "1795521884.9201121", "1e5", "2.5E-3"]
    for _ in range(3000):
        int_part = str(rng.randrange(10 ** rng.randrange(1, 12)))
        frac = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 10)))
        texts.append(("-" if rng.random() < 0.2 else "") + int_part + (f".{frac}" if frac else ""))
    base = json.loads(PLAIN["caddy"])
    lines = []
    for t in texts:
        lines.append(json.dumps(base, separators=(",", ":")).replace('"duration":0.002', f'"duration":{t}'))
    got = batch.json_block("\n".join(lines).encode(), SCHEMA, _NATIVE)
    assert got is not None
    frame, _back = got
    read = dict(zip(frame["idx"].to_list(), frame["duration"].to_list()))
    assert len(read) > 2800  # (a few bent ones go back: a zero-padded one, ...)
    for k, t in enumerate(texts):
        if k in read:
            want = float(t)
            assert read[k] == want and str(read[k]) == str(want), t  # the sign of zero too


@pytest.mark.parametrize("family", FAMILIES)
def test_a_control_byte_anywhere_sends_the_line_back(family: str) -> None:
    """json.loads refuses a raw control byte in a string and the pass takes whitespace to be the
    space only: a line with a byte below 0x20 or 0x7f anywhere -- in a key, a value, an escaped
    string, a number, between tokens -- is handed back (the string scan finds them,
    ``quote_or_backslash``; there is no pass over the line for them any more)."""
    import random

    from why502.proxies.caddy import frame as caddy
    from why502.proxies.envoy import frame as envoy
    from why502.proxies.traefik import frame as traefik

    schema, native = {"cloudflare": (batch.CLOUDFLARE_SCHEMA, batch._CF_NATIVE),
                      "traefik": (traefik.SCHEMA, traefik._NATIVE), "envoy": (envoy.SCHEMA, envoy._NATIVE),
                      "caddy": (caddy.SCHEMA, caddy._NATIVE)}[family]
    base = '{"zz":"a\\u0045\\nb",' + PLAIN[family][1:]  # an escaped string (a key not read) too
    rng = random.Random(7)
    lines = [base]
    for _ in range(400):
        at = rng.randrange(1, len(base) - 1)
        byte = rng.choice([*range(0x20), 0x7f])
        lines.append(base[:at] + chr(byte) + base[at:])
    got = batch.json_block("\n".join(lines).replace("\n\n", "\n").encode(), schema, native)
    assert got is not None
    frame, _back = got
    assert frame["idx"].to_list() == [0]  # only the line without one


@pytest.mark.parametrize("family", FAMILIES)
def test_a_high_byte_anywhere_in_a_string_is_seen(family: str) -> None:
    """An invalid byte >= 0x80 in a string the pass reads sends the line back (Python decodes it
    to U+FFFD: it must never reach a column), wherever it stands against the scan's 16- and
    8-byte words -- before the closing quote in the same word, in an earlier word, right after
    it -- and one in a string the pass does not read leaves the row as it was; well-formed UTF-8
    (é) in a read string is read, as the per-line parser reads it (stop 69: such lines went back,
    2-3x slower).  Every value string of the line is bent in turn, padded to land on each side
    of the words' edges."""
    from why502.proxies.caddy import frame as caddy
    from why502.proxies.envoy import frame as envoy
    from why502.proxies.traefik import frame as traefik

    schema, native = {"cloudflare": (batch.CLOUDFLARE_SCHEMA, batch._CF_NATIVE),
                      "traefik": (traefik.SCHEMA, traefik._NATIVE), "envoy": (envoy.SCHEMA, envoy._NATIVE),
                      "caddy": (caddy.SCHEMA, caddy._NATIVE)}[family]
    base = PLAIN[family].encode()
    plain = batch.json_block(base, schema, native)
    assert plain is not None and plain[0].height == 1
    want = plain[0].row(0, named=True)
    lines: list[bytes] = []
    spans = [m.span(1) for m in re.finditer(rb':"([^"\\]*)"', base)]
    for start, end in spans:
        for high in (b"\xc3\xa9", b"\xff"):
            for at in range(start, end + 1):
                for pad in (0, 7, 15, 16, 17, 31):
                    lines.append(base[:at] + b"a" * pad + high + base[at:])
    got = batch.json_block(b"\n".join(lines), schema, native)
    assert got is not None
    frame, _back = got
    changed = []  # é in a string the pass reads: read, with the é
    for row in frame.iter_rows(named=True):
        line = lines[row["idx"]]
        same = {k: v for k, v in row.items() if k not in ("idx", "_seen")} == \
            {k: v for k, v in want.items() if k not in ("idx", "_seen")}
        if b"\xff" not in line:
            if not same:
                changed.append(line.decode())
            continue
        # taken: the invalid byte is in a string the pass does not read, and the row is the plain one
        assert same, line
    assert len(spans) >= 4 and 0 < frame.height < len(lines)
    assert changed
    if family != "envoy":  # (Envoy's frame reader is its text reader's and the pass's: envoy_block)
        assert _frame_agrees(family, changed[::7]) > 0  # (every row it takes is the parser's)
