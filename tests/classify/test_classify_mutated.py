"""Every engine of ``classify`` reads a damaged nginx line as the per-line recogniser
(``errorlog.classify_line``, explain's) reads it.

The real fixture lines are bent the ways pastes and hostile inputs bend them: a digit of another
script (Arabic-Indic) in the time, the errno or the connection number; a doubled space; the
message quoted after the head; the errno taken out; a tab; a cut mark or full stop at the end; a
character dropped.  Found by a differential run of the engines on such lines (stop 50): the
polars engine and the C scanner missed the two repairs of ``normalize`` a head line can need --
a message quoted after the head (``_QUOTED_ACTION``) and an errno tail inside an unknown message
(``FRAGMENT_INSIDE``) -- and read Unicode digits where the per-line engine read others.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import polars as pl
import pytest

from tests.classify.test_classify_engines import YEAR, assert_engines_agree, recognised_real_lines
from tests.classify.test_classify_native import BUILT, engine, summary_of
from why502.app.classify import jsonl_paths
from why502.parsers import errorlog_batch
from why502.parsers.errorlog import classify_line
from why502.parsers.normalize import normalize

ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"
_AFTER_HEAD = re.compile(r"^(.*?#\d+: (?:\*\d+ )?)(.*)$")


def _bend(line: str, kind: int, rng: random.Random) -> str:
    """``line`` bent one way (``kind``), at a place ``rng`` picks."""
    spaces = [k for k, c in enumerate(line) if c == " "]
    digits = [k for k, c in enumerate(line) if c.isascii() and c.isdigit()]
    at = rng.randrange(len(line))
    if kind == 0 and digits:
        k = rng.choice(digits)
        return line[:k] + ARABIC_INDIC[int(line[k])] + line[k + 1:]
    if kind == 1 and spaces:
        k = rng.choice(spaces)
        return line[:k] + " " + line[k:]
    if kind == 2 and (m := _AFTER_HEAD.match(line)):
        return f'{m.group(1)}"{m.group(2)}"'
    if kind == 3:
        return re.sub(r" \(\d+: ", " ", line, count=1)
    if kind == 4:
        return line[:at] + "\t" + line[at:]
    if kind == 5:
        return line + rng.choice([".", "...", " (truncated)", ",", ">"])
    return line[:at] + line[at + 1:]


def bent_lines() -> list[str]:
    """Each recognised real line bent every way, twice (fixed seed: the same lines each run)."""
    rng = random.Random(502)
    out = [_bend(line, kind, rng) for line in recognised_real_lines() for kind in range(7) for _ in range(2)]
    return [line for line in out if "\n" not in line and "\r" not in line]


@pytest.fixture(scope="module")
def lines() -> list[str]:
    got = bent_lines()
    # the corpus holds each repair the engines once missed
    repairs = {r for line in got for r in normalize(line).repairs}
    assert "the message quoted inside a sentence: only the quoted part read" in repairs
    assert "only the tail of the message: the call is inferred from the phase" in repairs
    return got


def test_the_polars_engine_reads_bent_lines_as_the_per_line_recogniser(lines: list[str]) -> None:
    assert_engines_agree(lines)


def test_the_summary_counts_what_the_records_hold(lines: list[str]) -> None:
    text = pl.Series(lines)
    keys = list(errorlog_batch.SUMMARY_KEYS)
    want = errorlog_batch.aggregate_records(errorlog_batch.classify_series(text, year=YEAR))
    got = errorlog_batch.summarize_series(text, year=YEAR)

    def counts(df: pl.DataFrame) -> list[dict[str, object]]:
        return df.group_by(keys).agg(pl.col("n").sum()).sort(keys, nulls_last=True).to_dicts()

    assert counts(got) == counts(want)


@pytest.mark.parametrize("native", [False, True], ids=["polars", "native"])
def test_the_command_reads_bent_lines_as_the_per_line_recogniser(
        lines: list[str], native: bool, tmp_path: Path) -> None:
    """``classify --format jsonl``'s reader, each engine, against ``classify_line`` line by line;
    the C scanner's summary equals the polars engine's."""
    if native and not BUILT:
        pytest.skip("the native scanner is not built")
    path = tmp_path / "bent.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    want = {}
    for number, line in enumerate(lines, 1):
        c = classify_line(line, year=YEAR)
        if c is not None:
            want[number] = (c.symptom, c.status, c.upstream)
    got = {}
    with engine(native=native):
        for text, _count in jsonl_paths([str(path)]):
            for row in text.decode("utf-8").splitlines():
                obj = json.loads(row)
                got[int(obj["line"])] = (obj["symptom"], obj["status"], obj["upstream"])
    assert got == want
    if native:
        with engine(native=True):
            native_summary = summary_of([str(path)])
        with engine(native=False):
            assert summary_of([str(path)]) == native_summary


def test_a_time_in_another_scripts_digits_is_no_time() -> None:
    """Python's ``\\d`` takes any script's digits: "202٦-11-21" would sort after every real time
    and end up as a summary's last time; the per-line recogniser drops it, as the polars engine's
    strptime does."""
    apache = ("[Mon Nov 23 09:32:33.986462 202٦] [proxy:error] [pid 31985:tid 31992] (111)Connection "
              "refused: AH00957: http: attempt to connect to 10.0.0.1:8080 (10.0.0.1:8080) failed")
    nginx = ("2026/11/2١ 21:13:47 [error] 29402#29402: *4 upstream timed out (110: Connection timed out) "
             "while reading response header from upstream, client: 127.0.0.1, server: _")
    for line in (apache, nginx):
        c = classify_line(line, year=YEAR)
        assert c is not None and c.time is None, line
    assert classify_line(apache.replace("202٦", "2026"), year=YEAR).time == "2026-11-23T09:32:33.986462"  # type: ignore[union-attr]


def test_the_repair_shortcut_misses_no_repair_of_a_real_or_bent_line(lines: list[str]) -> None:
    """``normalize.may_change`` (a few literal tests, ~1 us) is False only for lines every repair
    leaves as they are (``every_repair``, ~35 us): on every fixture line and each bent one."""
    from tests.classify.test_classify_engines import real_lines
    from why502.parsers.normalize import every_repair, may_change

    texts = [*real_lines(), *lines]
    for text in texts:
        if every_repair(text).changed:
            assert may_change(text), text
    assert sum(not may_change(t) for t in texts) > len(texts) // 4  # the shortcut does skip lines


# _BARE_ERRNO_ACTION reads the errno text, "while" and the action in any case
ANY_CASE = ["x connection refused WHILE connecting to upstream",
            "x connection refused while CONNECTING TO UPSTREAM",
            "- Connection Timed Out While Reading Response Header From Upstream",
            "1 CONNECTION RESET BY PEER WHILE READING UPSTREAM"]


@pytest.mark.parametrize("text", ANY_CASE)
def test_an_action_in_any_case_is_a_repair_both_shortcuts_see(text: str) -> None:
    """``may_change`` and ``MAY_CHANGE_ASCII`` (the polars engine's framing peel) flag what
    ``every_repair`` changes: ``MAY_CHANGE_ASCII`` read " while " and " upstream" in lower case
    only, so a framed line of this shape was never repaired by the polars engine."""
    import re

    from why502.parsers.normalize import MAY_CHANGE_ASCII, every_repair, may_change

    assert every_repair(text).changed
    assert may_change(text)
    assert re.search(MAY_CHANGE_ASCII, text)
