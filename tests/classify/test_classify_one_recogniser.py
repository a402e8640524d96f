"""``classify`` reads every line ``explain`` reads: one recogniser, two entry points.

``explain`` reads a pasted line with the per-line recogniser (``errorlog.classify_line``: it may
not import polars).  ``classify`` runs the batch engine (and the C scanner), whose fast paths read
plain nginx lines and hand everything else to that same per-line recogniser.  Two doors could
let a line through one and not the other; each has a guard, and each guard a test here:

* the batch engine's prefilter (``errorlog.prefilter_needles``) must keep every line the
  per-line recogniser can read, including those a paste repair makes readable
  (``normalize.CREATES_KEYS``: ``failed (113: No route to host) while connecting to upstream``);
* a line with nginx's head that the fast path cannot read but a repair can
  (``normalize.HEAD_REPAIR_MARKS``: ``19162#0: _487 recv() failed``) goes to the per-line
  recogniser, in the polars engine and in the C scanner alike.

The lines are the field corpus's (real, as pasted) and the public lines' of ``tests/fixtures``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable

import polars as pl
import pytest

from tests.support.paths import FIXTURES_DIR
from why502.parsers import errorlog, errorlog_batch, errorlog_native
from why502.parsers.normalize import HEAD_REPAIR_MARKS, normalize


def _lines() -> list[str]:
    out: list[str] = []
    for path in sorted((FIXTURES_DIR / "field").glob("*.jsonl")):
        out += [json.loads(t)["line"] for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    for t in (FIXTURES_DIR / "public" / "lines.tsv").read_text(encoding="utf-8").splitlines():
        if "\t" in t and not t.startswith("#"):
            out.append(t.split("\t", 1)[1])
    return out


LINES = _lines()
MANGLED_CONN = ("2013/05/30 22:05:26 [error] 19162#0: _487 recv() failed (104: Connection reset by peer) "
                'while reading response header from upstream, client: *__.49.77.206, server: x, '
                'request: "GET / HTTP/1.1", upstream: "fastcgi://unix:/dev/shm/php-cgi.sock:", host: "x"')
FRAGMENT = ('failed (113: No route to host) while connecting to upstream, client: 10.10.15.21, '
            'server: www.k8s.com, request: "GET /itmp HTTP/1.1", upstream: "http://172.17.69.3:8020/"')


def test_the_prefilter_keeps_every_line_the_per_line_recogniser_reads() -> None:
    needles = errorlog.prefilter_needles()
    dropped = [t for t in [*LINES, FRAGMENT]
               if errorlog.classify_line(t) is not None and not any(n in t.lower() for n in needles)]
    assert dropped == []


def test_every_repair_of_a_head_line_leaves_a_mark() -> None:
    """A head line that only a repair makes readable carries a HEAD_REPAIR_MARKS mark (else the
    batch engine would decide it on the fast path and never give the repair its chance)."""
    head = re.compile(errorlog.ENGINE_HEAD_PREFIX)
    marks = re.compile(HEAD_REPAIR_MARKS)
    repaired = [t for t in [*LINES, MANGLED_CONN] if head.match(t) and normalize(t).changed
                and errorlog.classify_line(t) is not None and errorlog.classify_line(t, repair=False) is None]
    assert MANGLED_CONN in repaired
    assert [t for t in repaired if not marks.search(t)] == []


@pytest.mark.parametrize("native", [False, True], ids=["polars", "native"])
def test_the_batch_engines_read_what_explain_reads(native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every corpus line, in one batch: the batch engine names the symptom explain's recogniser
    names (``classify --format jsonl``'s records), through the C scanner when it is built."""
    if native and not errorlog_native.available():
        pytest.skip("the native scanner is not built")
    monkeypatch.setenv("WHY502_NATIVE", "1" if native else "0")
    lines = [*LINES, MANGLED_CONN, FRAGMENT]
    want = {i: c.symptom for i, t in enumerate(lines) if (c := errorlog.classify_line(t, year=2024))}
    if native:
        from why502.app.classify import jsonl_paths  # the command's own path: C scanner, then polars
        got = _jsonl_symptoms(jsonl_paths, lines)
    else:
        df = errorlog_batch.classify_series(pl.Series(lines), year=2024)
        got = dict(zip(df.get_column("idx").to_list(), df.get_column("symptom").to_list(), strict=True))
    assert {i: (want.get(i), got.get(i)) for i in set(want) | set(got) if want.get(i) != got.get(i)} == {}
    assert got.get(len(lines) - 2) == "connection-reset" and got.get(len(lines) - 1) == "unreachable"


def _jsonl_symptoms(jsonl_paths: Callable[[list[str]], Iterable[tuple[bytes, int]]],
                    lines: list[str]) -> dict[int, str]:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "all.log"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out: dict[int, str] = {}
        for text, _count in jsonl_paths([str(path)]):
            for row in text.decode("utf-8").splitlines():
                obj = json.loads(row)
                out[int(obj["line"]) - 1] = str(obj["symptom"])
        return out


def test_the_summary_counts_what_the_records_hold() -> None:
    """The default output (``summarize_series``) sends the same repairable head lines the exact
    way as ``classify_series`` does: its counts equal the records', the mangled line included."""
    lines = pl.Series([*LINES, MANGLED_CONN, FRAGMENT])
    keys = list(errorlog_batch.SUMMARY_KEYS)
    want = errorlog_batch.aggregate_records(errorlog_batch.classify_series(lines, year=2024))
    got = errorlog_batch.summarize_series(lines, year=2024)
    def counts(df: pl.DataFrame) -> list[dict[str, object]]:  # the parts of a batch, summed
        return df.group_by(keys).agg(pl.col("n").sum()).sort(keys, nulls_last=True).to_dicts()

    assert counts(got) == counts(want)
    assert want.filter(pl.col("symptom") == "connection-reset").get_column("n").sum() >= 1


@pytest.mark.parametrize("native", [False, True], ids=["polars", "native"])
def test_quotes_and_a_full_stop_are_read_alike(native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """``"upstream prematurely closed ..."`` in quotes and a head line ending in the reporter's
    full stop (``... while connecting to upstream.``): explain's recogniser repairs both, and the
    batch engines hand both to it (a head line's trailing stop is a HEAD_REPAIR_MARKS mark and a
    ``may_normalize`` case of the C scanner)."""
    if native and not errorlog_native.available():
        pytest.skip("the native scanner is not built")
    monkeypatch.setenv("WHY502_NATIVE", "1" if native else "0")
    lines = ['"upstream prematurely closed connection while reading response header from upstream"',
             "2024/05/01 12:00:01 [error] 29#29: *5 connect() failed (111: Connection refused) "
             "while connecting to upstream."]
    assert [c.symptom if (c := errorlog.classify_line(t, year=2024)) else None for t in lines] == [
        "premature-close", "connection-refused"]
    assert [errorlog.classify_line(t, year=2024, repair=False) for t in lines] == [None, None]
    assert re.search(HEAD_REPAIR_MARKS, lines[1])
    if native:
        from why502.app.classify import jsonl_paths
        got = _jsonl_symptoms(jsonl_paths, lines)
    else:
        df = errorlog_batch.classify_series(pl.Series(lines), year=2024)
        got = dict(zip(df.get_column("idx").to_list(), df.get_column("symptom").to_list(), strict=True))
    assert got == {0: "premature-close", 1: "connection-refused"}
