"""Envoy's access log in a ``key=value`` format of the user's own (``log.parse_envoy_kv``, the
batch reader ``frame._kv``).

A log of these lines with 25 % UF 503s came out ``"healthy": true``: only the lines with a flag
were Envoy's (``response_flags=-`` was not), so fewer than half of the first lines voted Envoy
and the file was read as an nginx log that matched nothing.  Read line by line it then took
39 s for 1M lines.  The lines here are the corpus' Envoy JSON lines written as ``key=value``
(the operators' names a user would give them), bent where the two readers could differ."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from tests.stats.test_lb_frames import _corpus, _frame_agrees
from tests.support.clirun import why502
from why502.app.stats.sniff import sniff_log_type
from why502.proxies.envoy.log import parse_envoy_kv


def _as_kv(obj: dict[str, object]) -> str:
    """A flat JSON line's fields as ``key=value`` pairs, a value with a space quoted."""
    parts = []
    for key, value in obj.items():
        text = "-" if value is None else str(value)
        parts.append(f'{key}="{text}"' if (" " in text or not text) else f"{key}={text}")
    return " ".join(parts)


def _kv_lines() -> list[str]:
    return [line for _obj, line in _kv_pairs()]


def _kv_pairs() -> list[tuple[dict[str, object], str]]:
    """The corpus' flat Envoy JSON lines (no boolean: its text is not JSON's), each with its
    key=value twin."""
    out = []
    for line in _corpus():
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "response_flags" in obj and not any(
                isinstance(v, (dict, list, bool)) for v in obj.values()):
            out.append((obj, _as_kv(obj)))
    return out


_BENT = (
    (r"response_flags=\S+", "response_flags=-"),
    (r"response_flags=\S+", "response_flags=uf"),
    (r"response_flags=\S+", 'response_flags=""'),
    (r"response_flags=\S+", 'response_flags="UF,URX"'),
    (r"response_flags=\S+", "response_flags= response_flag=UH"),
    (r"response_flags=(\S+)", r"responseFlags=\1"),
    (r"response_flags=\S+", "no_flags=x"),
    (r"response_code=\d+", "response_code=5e2"),
    (r"response_code=\d+", 'status="503" status=200'),
    (r"response_code=\d+", "response_code="),
    (r"upstream_host=\S+", 'upstream_host="-" upstreamHost=10.0.0.9:80'),
    (r"duration=\d+", "duration=12.5"),
    (r"duration=\d+", "duration=-"),
    (r"response_code_details=\S+", "status_details=no_healthy_upstream"),
    (r"^", 'ua="curl 8 status=200" '),
    (r"^", "\u2003"),
    (r"^", 'x="unterminated '),
    (r"^", "[2026-11-22T11:08:42.000Z] "),
)


def test_a_key_value_line_is_read_as_its_json_twin() -> None:
    """The same fields read alike in both formats: the kv reader reads the JSON reader's keys."""
    from why502.proxies.envoy.log import parse_envoy_json

    pairs = _kv_pairs()
    assert len(pairs) >= 10
    for obj, line in pairs:
        assert parse_envoy_kv(line) == parse_envoy_json(obj), line


def test_the_batch_reader_gives_the_parsers_rows() -> None:
    lines = _kv_lines()
    bent = [re.sub(rx, repl, line, count=1) for line in lines for rx, repl in _BENT]
    taken = _frame_agrees("envoy", lines + bent)
    assert taken >= len(lines) + len(bent) // 2


def test_the_batch_reader_reads_a_batch_in_parts_as_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """``_kv`` reads ``KV_ROWS`` lines at a time (its pivot's memory): the records and the lines
    handed back, numbered in the batch, are the same in parts of any size as whole -- and as
    the per-line parser's (``_frame_agrees``)."""
    from why502.proxies.envoy import frame

    lines = _kv_lines()
    bent = [re.sub(rx, repl, line, count=1) for line in lines for rx, repl in _BENT]
    series = pl.Series("line", lines + bent)
    whole = frame._kv(series)
    for rows in (1, 7, 64, series.len() - 1):
        monkeypatch.setattr(frame, "KV_ROWS", rows)
        rec, rest = frame._kv(series)
        assert rec.equals(whole[0]) and rest.equals(whole[1]), rows
        assert rec["idx"].dtype == pl.UInt32 and rest.dtype == pl.UInt32
    assert _frame_agrees("envoy", lines + bent) >= len(lines)


def test_a_success_line_is_envoys_and_a_log_of_them_is_sniffed(tmp_path: Path) -> None:
    ok = "start_time=2026-11-21T10:00:00.001Z upstream_host=10.0.0.1:8080 response_flags=- response_code=200"
    assert parse_envoy_kv(ok) is not None
    assert parse_envoy_kv(ok.replace("=-", "=uf")) is None
    log = tmp_path / "envoy.kv.log"
    log.write_text("\n".join([ok.replace("=-", "=UF").replace("=200", "=503")] + [ok] * 3) + "\n",
                   encoding="utf-8")
    assert sniff_log_type([str(log)]) == "envoy"


def _kv_log(path: Path, n: int, timed: bool = True) -> Path:
    rows = []
    for k in range(n):
        bad = k % 4 == 0
        when = f"start_time=2026-11-21T10:00:{k % 60:02d}.000Z " if timed else ""
        details = "upstream_reset_before_response_started{connection_failure}" if bad else "via_upstream"
        rows.append(f"{when}upstream_host=10.0.0.{k % 3}:8080 "
                    f"response_flags={'UF' if bad else '-'} response_code={503 if bad else 200} "
                    f"response_code_details={details} path=/api/{k}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_diagnose_finds_the_failures_of_a_key_value_log(tmp_path: Path) -> None:
    """Through the CLI, as a user runs it: the 25 % UF 503s are the finding, never "healthy"."""
    log = _kv_log(tmp_path / "envoy.kv.log", 400)
    res = why502("diagnose", "--access-log", str(log), "--format", "json")
    report = json.loads(res.stdout)
    assert report["healthy"] is False, res.stdout[:2000]
    top = report["findings"][0]
    assert top["cause"] == "backend-not-running"
    assert "100 requests failed by Envoy itself (UF (100)) between 2026-11-21T10:00:00.000Z" in res.stdout
    res = why502("stats", str(log))
    assert "100 of 400 requests ended in a 5xx" in res.stdout


def test_a_format_without_a_time_says_no_span(tmp_path: Path) -> None:
    """A key=value format without a time key: the count says no "between None and None"."""
    log = _kv_log(tmp_path / "envoy.kv.log", 40, timed=False)
    res = why502("diagnose", "--access-log", str(log), "--format", "json")
    report = json.loads(res.stdout)
    said = [e["summary"] for f in report["findings"] for e in f["evidence"]]
    assert any("10 requests failed by Envoy itself (UF (10)): 503 (10)" in s for s in said), said
    assert not any("None" in s for s in said), said


def test_the_vectorised_and_the_line_reader_see_one_log(tmp_path: Path) -> None:
    """The whole reader on a batch (polars Series) equals the per-line one on every line."""
    from why502.proxies.envoy.frame import envoy_frame

    lines = _kv_log(tmp_path / "x.log", 50).read_text(encoding="utf-8").splitlines()
    frame, rest = envoy_frame(pl.Series(lines))
    assert rest.len() == 0 and frame.height == 50
    assert frame.filter(pl.col("code") == "UF").height == 13


def test_the_decisions_are_made_once_per_combination_across_batches() -> None:
    """``batch.DecisionMemo``: each combination decided once while it is kept, the rows as
    ``decide`` gives them whatever was kept, an empty batch typed alike, and past ``most`` it
    starts again (a hostile log's endless details cannot grow it)."""
    from why502.parsers.lblogs.batch import DecisionMemo
    from why502.proxies.envoy.frame import _DECISION_KEYS, _decided

    seen: list[int] = []

    def counting(combos: pl.DataFrame) -> pl.DataFrame:
        seen.append(combos.height)
        return _decided(combos)

    memo = DecisionMemo(_DECISION_KEYS, counting, most=3)
    rows = [(503, "UF", "upstream_reset_before_response_started{connection_failure}", "", False),
            (200, "", "via_upstream", "", False), (None, "", "", "", False), (504, "UT", "", "", True)]
    schema = {"status": pl.Int64, "_flags": pl.String, "_details": pl.String, "_tfr": pl.String,
              "_local": pl.Boolean}

    def frame(at: list[int]) -> pl.DataFrame:
        return pl.DataFrame([rows[k] for k in at], schema=schema, orient="row")

    for at in ([0, 1], [1, 0], [2], [0, 1], [3], [0]):
        got = memo(frame(at))
        assert got.equals(_decided(frame(at)).select(got.columns)), at
    # [1, 0] and the second [0, 1] were kept; [3] was a fourth: it started over, so [0] is new
    assert seen == [2, 1, 1, 1]
    empty = memo(frame([]))
    assert empty.height == 0 and empty.schema == _decided(frame([0])).select(empty.columns).schema


def test_an_access_log_of_no_known_format_is_no_healthy_verdict(tmp_path: Path) -> None:
    """A named access log none of whose lines any reader takes: the report is printed (its notes
    say why) and the run exits 3 with the reason, as ``stats`` does -- not "healthy", exit 0,
    which is what the key=value Envoy log got.  With a finding from another input the report
    stands (exit 1)."""
    log = tmp_path / "own.log"
    log.write_text("".join(f"ts=2026-11-21T10:00:{k:02d}Z code={503 if k % 4 == 0 else 200} x=1\n"
                           for k in range(40)), encoding="utf-8")
    res = why502("diagnose", "--access-log", str(log))
    assert res.returncode == 3, res.stderr
    assert "no root cause found in what could be read" in res.stdout
    assert res.stderr.count("\n") == 1 and f"none of the 40 lines of {log} matches" in res.stderr
    out = tmp_path / "r.json"
    res = why502("diagnose", "--access-log", str(log), "--format", "json", "-o", str(out))
    assert res.returncode == 3 and "(no finding)" in res.stderr
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["findings"] == []
    notes = [d for d in saved["diagnostics"] if d["message"].startswith("access log not used")]
    assert [d["source"] for d in notes] == [str(log)]  # the note names its file
    error_log = Path(__file__).resolve().parents[1] / "fixtures/recorded/all-upstreams-down/error.log"
    res = why502("diagnose", "--access-log", str(log), "--error-log", str(error_log), "--format", "json")
    assert res.returncode == 1, res.stderr
    assert json.loads(res.stdout)["findings"]
