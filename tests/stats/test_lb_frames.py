"""The vectorised readers of Envoy (text and JSON), Caddy and Traefik give the per-line parser's
record of every line they take, on every published and recorded line of every family (a reader
must leave another family's line, or a line it would read otherwise, to the per-line parser), and
on variants of them made to trip the fast path (a status as a string, a boolean, a nested
object, a prefix, a time ``strptime`` refuses)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from tests.support.kubectl_heads import FRAMINGS, HEADS
from why502.parsers.lblogs.batch import RECORD_COLUMNS
from why502.proxies.logfamilies import families

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def _corpus() -> list[str]:
    """Every line of the published and recorded edge fixtures, whatever their family."""
    lines: list[str] = []
    for jsonl in sorted((*FIX.glob("cloud/*.jsonl"), *FIX.glob("edge-field/**/*.jsonl"))):
        for row in jsonl.read_text(encoding="utf-8").splitlines():
            if row.strip():
                lines.append(str(json.loads(row)["line"]))
    logs = (*FIX.glob("cloud/*.log"), *FIX.glob("cloud/recorded/**/*.log"),
            *(p for p in FIX.glob("recorded/*/*.log") if re.match(r"(caddy|envoy|traefik)-", p.parent.name)))
    for log in sorted(logs):
        lines += [x for x in log.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
    return lines


def _variants(lines: list[str]) -> list[str]:
    """Each JSON line bent where a fast reader could read it otherwise than the parser."""
    out: list[str] = []
    swaps = (
        (r'("(?:DownstreamStatus|status|response_code|OriginContentSize|size)":)(\d+)', r'\1"\2"'),
        (r'("(?:DownstreamStatus|status|response_code)":)(\d+)', r"\1\2.0"),
        (r'("(?:RetryAttempts|size|duration)":)(\d+(?:\.\d+)?)', r"\1true"),
        (r'("(?:ServiceURL|RouterName|upstream_host|upstream_cluster|method|host)":)"[^"]*"', r"\1 12.0"),
        (r'("(?:ServiceURL|RouterName|upstream_host|path|uri)":)"[^"]*"', r'\1""'),
        (r'("(?:ServiceURL|upstream_host|authority)":)"[^"]*"', r'\1"-"'),
        (r'("(?:Duration|duration|ts)":)[\d.]+', r"\g<1>1e400"),
        (r'("(?:Duration|duration|upstream_service_time)":)("?)[\d.]+', r'\1\g<2>7e-7'),
        (r'("(?:ts)":)[\d.]+', r"\g<1>1700000000.9999996"),
        (r'("resp_headers":)\{[^}]*\}', r'\1{"Server":["Caddy"],"X-Up":["1"]}'),
        (r'("resp_headers":)\{[^}]*\}', r'\1{"server":["Caddy"],"Alt-Svc":["h3"],"Date":["x"]}'),
        (r'("resp_headers":)\{[^}]*\}', r'\1"Server"'),
        (r'("request":)\{', r'\1{"method":"GET","uri":"/a\\u00e9","x":{"y":1},"zz":'),
        (r'^\{', '{"response_flags":"UF",'),
        (r'^\{', '{"RayID":"8a1b",'),
        (r'^\{', 'Nov 22 11:08:42 host app: {'),
        (r'^\{', '{"caller":"github.com/traefik/traefik/v3/pkg/proxy/httputil/proxy.go:1","error":"EOF",'),
        (r'"(?:StartUTC|start_time)":"[^"]*"', '"StartUTC":"","time":"2026-11-22T11:08:42Z"'),
        (r'^\{', '{"response_duration":null,'),
        (r'"(?:OriginStatus)":\d+', '"OriginStatus":0'),
        (r' \[(\d\d)/(\w{3})/', r" [\1/\2x/"),
        (r" \+0000\]", " -0000]"),
        (r" \+0000\]", " +0530]"),
        (r" \[\d\d/", " [31/Feb/2026:"),
        (r'" (\d{3}) (\d+) ', r'" \1 18446744073709551616 '),
        (r"(\d+)ms$", "\u0663ms"),
    )
    for line in lines:
        for rx, repl in swaps:
            bent = re.sub(rx, repl, line, count=1)
            if bent != line:
                out.append(bent)
    return out


def _frame_agrees(family: str, lines: list[str]) -> int:
    """How many lines the family's vectorised reader took; fails on the first row that differs
    from the per-line parser's record of its line."""
    fams = families()
    reader = fams.frame(family)
    assert reader is not None
    frame, rest = reader(pl.Series("text", lines))
    taken = frame["idx"].to_list()
    assert len(set(taken)) == len(taken) and not set(taken) & set(rest.to_list())
    assert sorted(taken + rest.to_list()) == list(range(len(lines)))
    assert taken == sorted(taken)
    for row in frame.iter_rows(named=True):
        rec = fams.parse_line(lines[row["idx"]], family)
        assert rec is not None, lines[row["idx"]]
        for col in RECORD_COLUMNS:
            want = rec.failed if col == "failed" else getattr(rec, col)
            assert row[col] == want, (col, row[col], want, lines[row["idx"]])
    return len(taken)


@pytest.mark.parametrize(("family", "least"), [("envoy", 60), ("caddy", 40), ("traefik", 20)])
def test_vectorised_reader_gives_the_parsers_rows(family: str, least: int) -> None:
    lines = _corpus()
    assert len(lines) > 500
    assert _frame_agrees(family, lines) >= least


@pytest.mark.parametrize("family", ["envoy", "caddy", "traefik"])
def test_vectorised_reader_on_bent_lines(family: str) -> None:
    lines = _variants(_corpus())
    assert len(lines) > 500
    _frame_agrees(family, lines)


def test_duplicate_key_guard_finds_a_key_written_twice() -> None:
    """``batch.twice`` (one Aho-Corasick pass) flags the lines where a read key is written twice
    (``json.loads`` keeps the last value, the NDJSON reader the first), and only those: a key
    inside a string is escaped, a longer key holding the name is another key."""
    from why502.parsers.lblogs.batch import twice

    lines = {
        '{"status":502,"size":0}': False,
        '{"status":502,"status":200}': True,
        '{"size":1,"a":{"size":2}}': True,  # nested: left to the per-line parser, as before
        '{"s":"\\"status\\":1","status":3}': False,
        '{"x-envoy-origin-path":"/","x-envoy-origin-path":"/b"}': True,
        '{"statuses":1,"status":2,"xstatus":3}': False,
    }
    got = pl.DataFrame({"text": list(lines)}).select(
        twice(pl.col("text"), ("status", "size", "x-envoy-origin-path")).alias("t"))["t"].to_list()
    assert got == list(lines.values())


@pytest.mark.parametrize("family", ["envoy", "caddy", "traefik"])
def test_vectorised_reader_behind_kubectl_framing(family: str) -> None:
    """``kubectl logs --timestamps`` / ``--prefix`` lines: the reader takes what the per-line
    parser reads through the framing (``family.parse_line``), with the same record; Traefik's
    common-format reader and Envoy's text reader retry a line they refused without the framing,
    as the parser does."""
    plain = _corpus()
    lines = [head + line for head in HEADS for line in plain]
    taken = _frame_agrees(family, lines)
    if family in ("traefik", "envoy"):  # every plain text line, behind each real framing
        text = [x for x in plain if not x.lstrip().startswith("{")]
        assert taken >= len(FRAMINGS) * _frame_agrees(family, text) > 0
