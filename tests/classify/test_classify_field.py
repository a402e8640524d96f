"""classify on the field corpus: real lines copied from public reports, as a new user pastes them.

``tests/fixtures/field/*.jsonl`` holds one JSON object per line: ``line`` (as found), ``proxy``,
``framing`` (raw, syslog, docker, fragment, mangled, ...), the expected failure symptom
(``expect``, or ``expected``; null for a line that must raise none), ``event`` and ``side``
(see the README next to the files).  A line is right when the failure symptom classify names
(an evidence-event ID counts as none) is the expected one; a false alarm is a failure symptom on
a line that expects none.  The table per proxy and framing is printed (``pytest -s``) and is part
of every failure message.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.paths import ROOT_DIR
from why502.catalog.patterns import EVENT_IDS
from why502.parsers.errorlog import classify_line

FIELD = ROOT_DIR / "tests" / "fixtures" / "field"
MIN_ACCURACY = 0.97
MAX_FALSE_ALARMS = 0.03
MIN_PER_PROXY = {"apache": 0.95, "haproxy": 0.95}


@dataclass(frozen=True)
class Row:
    line: str
    proxy: str
    framing: str
    expect: str | None
    event: str | None
    url: str


def _rows() -> list[Row]:
    rows = []
    # the four files this engine was written against; later batches (batch-*.jsonl) are measured
    # through the command only (test_field_cli.py), as issue 26 asks
    for path in sorted(p for p in FIELD.glob("*.jsonl") if not p.stem.startswith("batch-")):
        for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not text.strip():
                continue
            obj = json.loads(text)
            expect = obj["expect"] if "expect" in obj else obj.get("expected")
            rows.append(Row(line=obj["line"], proxy=obj.get("proxy") or path.stem,
                            framing=obj.get("framing") or "raw", expect=expect, event=obj.get("event"),
                            url=obj.get("url") or obj.get("source") or f"{path.name}:{n}"))
    return rows


@dataclass
class Score:
    total: int = 0
    right: int = 0
    negatives: int = 0
    false_alarms: int = 0

    def add(self, right: bool, negative: bool, alarm: bool) -> None:
        self.total += 1
        self.right += right
        self.negatives += negative
        self.false_alarms += alarm

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 1.0

    @property
    def alarm_rate(self) -> float:
        return self.false_alarms / self.negatives if self.negatives else 0.0


def failure_of(line: str) -> str | None:
    """The failure symptom classify names for ``line`` (None: none, or an evidence event only)."""
    c = classify_line(line, year=2024)
    if c is None or c.symptom in EVENT_IDS:
        return None
    return c.symptom


def score(rows: list[Row]) -> tuple[Score, dict[str, Score], dict[tuple[str, str], Score], list[str]]:
    overall, per_proxy, per_framing = Score(), {}, {}
    wrong: list[str] = []
    for r in rows:
        got = failure_of(r.line)
        right = got == r.expect
        negative = r.expect is None
        alarm = negative and got is not None
        for s in (overall, per_proxy.setdefault(r.proxy, Score()),
                  per_framing.setdefault((r.proxy, r.framing), Score())):
            s.add(right, negative, alarm)
        if not right:
            wrong.append(f"{r.proxy}/{r.framing}: expected {r.expect}, got {got}: {r.line[:140]!r} ({r.url})")
    return overall, per_proxy, per_framing, wrong


def table(overall: Score, per_proxy: dict[str, Score], per_framing: dict[tuple[str, str], Score]) -> str:
    out = ["| proxy | framing | lines | right | accuracy | negatives | false alarms |",
           "|---|---|---|---|---|---|---|"]
    for proxy in sorted(per_proxy):
        for (p, framing), s in sorted(per_framing.items()):
            if p == proxy:
                out.append(f"| {p} | {framing} | {s.total} | {s.right} | {s.accuracy:.1%} | {s.negatives} | "
                           f"{s.false_alarms} |")
        s = per_proxy[proxy]
        out.append(f"| **{proxy}** | all | {s.total} | {s.right} | **{s.accuracy:.1%}** | {s.negatives} | "
                   f"{s.false_alarms} ({s.alarm_rate:.1%}) |")
    out.append(f"| **all** | all | {overall.total} | {overall.right} | **{overall.accuracy:.1%}** | "
               f"{overall.negatives} | {overall.false_alarms} ({overall.alarm_rate:.1%}) |")
    return "\n".join(out)


ROWS = _rows()


def test_the_field_corpus_is_there() -> None:
    assert ROWS, f"no field corpus in {FIELD}"
    assert {"apache", "haproxy"} <= {r.proxy for r in ROWS}
    assert any(r.expect is None for r in ROWS), "the corpus needs negatives"


def test_classify_reads_field_lines() -> None:
    overall, per_proxy, per_framing, wrong = score(ROWS)
    report = table(overall, per_proxy, per_framing)
    print("\n" + report)
    detail = report + "\n" + "\n".join(wrong[:60])
    assert overall.accuracy >= MIN_ACCURACY, detail
    assert overall.alarm_rate <= MAX_FALSE_ALARMS, detail
    for proxy, floor in MIN_PER_PROXY.items():
        assert per_proxy[proxy].accuracy >= floor, f"{proxy}\n{detail}"


@pytest.mark.parametrize("row", [r for r in ROWS if r.event == "upstream-marked-down" and r.expect],
                         ids=lambda r: r.line[:50])
def test_down_lines_keep_their_reason_and_the_event(row: Row) -> None:
    """A health check that marks a server DOWN names the reason as the symptom and the event beside it."""
    c = classify_line(row.line, year=2024)
    assert c is not None and c.symptom == row.expect and c.event == "upstream-marked-down", row.line


def test_field_files_are_json_lines() -> None:
    for path in sorted(Path(FIELD).glob("*.jsonl")):
        kinds = Counter(type(json.loads(t)).__name__ for t in path.read_text(encoding="utf-8").splitlines()
                        if t.strip())
        assert set(kinds) == {"dict"}, path
