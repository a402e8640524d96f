"""Score the field corpus through the installed command, as users run it.

``tests/fixtures/field/*.jsonl`` holds real lines copied from public threads (the README next to
them gives the record format and the labelling rules).  A user meets them two ways, and both are
measured here with the installed ``why502`` console script, never an internal function:

* **pasted**: the line alone in a file, as pasted from a thread (no hint, no neighbours):
  ``why502 classify FILE --format jsonl``;
* **log**: every line of one program from one thread, in the corpus order, in one file (the
  same command on a whole log: a line's neighbours must not change what it says);
* **explain**: ``why502 explain 'LINE'`` on each line, through ``explain - --format jsonl`` (each
  stdin line explained as ``explain 'LINE'`` would, one start-up for all).

A line is right when the failure symptom named (an evidence-event ID counts as none) is the
``expected`` one; a false alarm is a failure symptom on a line that expects none; explain
agrees when it names the same failure symptom as ``classify`` on the pasted line.  All the files
go to ONE ``classify`` run (its ``file``/``line`` columns attribute each record) and all the lines
to ONE ``explain`` run, so scoring 1,000 lines costs two start-ups.

Run it as a tool: ``.venv/bin/python -m tests.support.field [--batch NAME ...] [--misses]``
(``scripts/field-score`` wraps it); ``tests/classify/test_field_cli.py`` is the gate.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.clirun import WHY502
from tests.support.paths import FIXTURES_DIR

FIELD = FIXTURES_DIR / "field"


@dataclass(frozen=True)
class Record:
    """One corpus line and where it came from (``batch``: the file's stem)."""

    batch: str
    n: int  # 1-based line number in its batch file
    line: str
    source: str
    proxy: str
    framing: str
    expected: str | None
    event: str | None


@dataclass(frozen=True)
class Result:
    """What the command said of one record: the failure symptom (None: none or an event only)."""

    record: Record
    pasted: str | None
    log: str | None
    explained: str | None

    @property
    def right(self) -> bool:
        """Right on its own and inside its thread's log."""
        return self.pasted == self.record.expected and self.log == self.record.expected

    @property
    def negative(self) -> bool:
        return self.record.expected is None

    @property
    def false_alarm(self) -> bool:
        return self.negative and (self.pasted is not None or self.log is not None)

    @property
    def agree(self) -> bool:
        return self.explained == self.pasted


@dataclass
class Score:
    lines: int = 0
    right: int = 0
    pasted: int = 0
    log: int = 0
    negatives: int = 0
    false_alarms: int = 0
    agree: int = 0
    sources: set[str] = field(default_factory=set)

    def add(self, r: Result) -> None:
        self.lines += 1
        self.right += r.right
        self.pasted += r.pasted == r.record.expected
        self.log += r.log == r.record.expected
        self.negatives += r.negative
        self.false_alarms += r.false_alarm
        self.agree += r.agree
        self.sources.add(r.record.source)

    @property
    def accuracy(self) -> float:
        return self.right / self.lines if self.lines else 1.0

    @property
    def alarm_rate(self) -> float:
        return self.false_alarms / self.negatives if self.negatives else 0.0

    @property
    def agreement(self) -> float:
        return self.agree / self.lines if self.lines else 1.0


def load(batches: Iterable[str] | None = None, where: Path = FIELD) -> list[Record]:
    """The corpus records, batch files in name order (``batches``: only these stems)."""
    wanted = set(batches) if batches else None
    out: list[Record] = []
    for path in sorted(where.glob("*.jsonl")):
        if wanted is not None and path.stem not in wanted:
            continue
        for n, text in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
            if not text.strip():
                continue
            obj = json.loads(text)
            out.append(Record(batch=path.stem, n=n, line=obj["line"], source=obj["source"],
                              proxy=obj["proxy"], framing=obj.get("framing") or "raw",
                              expected=obj.get("expected"), event=obj.get("event")))
    return out


def event_ids() -> frozenset[str]:
    """Evidence-event IDs (not failure symptoms), as the command lists them."""
    out = subprocess.run([WHY502, "causes", "--kind", "event", "--format", "json"], capture_output=True,
                         text=True, timeout=120, check=True, stdin=subprocess.DEVNULL).stdout
    return frozenset(e["id"] for e in _entries(json.loads(out)) if e.get("kind") == "event")


def _entries(doc: object) -> list[dict[str, str]]:
    if isinstance(doc, dict):
        doc = doc.get("entries", [])
    return [e for e in doc if isinstance(e, dict)] if isinstance(doc, list) else []


_SAFE = re.compile(r"[^A-Za-z0-9]+")


def run(records: Sequence[Record], events: frozenset[str] | None = None) -> list[Result]:
    """Classify every record pasted alone and inside its thread's log, explain every line; one
    ``classify`` and one ``explain`` process in all."""
    events = event_ids() if events is None else events

    def failure(obj: dict[str, object] | None) -> str | None:
        sym = obj.get("symptom") if obj else None
        return str(sym) if sym and sym not in events else None

    with tempfile.TemporaryDirectory(prefix="why502-field-") as tmp:
        root = Path(tmp).resolve()
        (root / "p").mkdir()
        (root / "l").mkdir()
        pasted_file: list[str] = []
        logs: dict[tuple[str, str], list[int]] = {}
        for i, rec in enumerate(records):
            path = root / "p" / f"{i:06d}.log"
            path.write_bytes(rec.line.encode("utf-8") + b"\n")
            pasted_file.append(str(path))
            logs.setdefault((rec.proxy, rec.source), []).append(i)
        at_log: dict[tuple[str, int], int] = {}  # (file, line) -> record index
        for k, members in enumerate(logs.values()):
            path = root / "l" / f"{k:06d}.log"
            path.write_bytes(b"".join(records[i].line.encode("utf-8") + b"\n" for i in members))
            for ln, i in enumerate(members, start=1):
                at_log[(str(path), ln)] = i
        proc = subprocess.run([WHY502, "classify", "--format", "jsonl", "--no-progress",
                               str(root / "p" / "*.log"), str(root / "l" / "*.log")],
                              capture_output=True, text=True, timeout=600, check=False,
                              stdin=subprocess.DEVNULL)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"why502 classify exited {proc.returncode}: {proc.stderr.strip()[:500]}")
        index = {p: i for i, p in enumerate(pasted_file)}
        pasted: dict[int, dict[str, object]] = {}
        logged: dict[int, dict[str, object]] = {}
        for text in proc.stdout.splitlines():
            obj = json.loads(text)
            fname, ln = str(obj["file"]), int(obj["line"])
            if fname in index and ln == 1:
                pasted[index[fname]] = obj
            elif (fname, ln) in at_log:
                logged[at_log[(fname, ln)]] = obj
        stdin = b"".join(r.line.encode("utf-8") + b"\n" for r in records)
        ex = subprocess.run([WHY502, "explain", "-", "--format", "jsonl"], input=stdin,
                            capture_output=True, timeout=600, check=False)
        if ex.returncode != 0:
            raise RuntimeError(f"why502 explain exited {ex.returncode}: {ex.stderr.decode()[:500]}")
        explained = {int(o["n"]) - 1: o for o in map(json.loads, ex.stdout.decode("utf-8").splitlines())}
    return [Result(rec, failure(pasted.get(i)), failure(logged.get(i)),
                   failure(explained.get(i) if explained.get(i, {}).get("type") == "line" else None))
            for i, rec in enumerate(records)]


def tally(results: Iterable[Result], key: str = "proxy") -> tuple[Score, dict[tuple[str, ...], Score]]:
    """Overall score, and per (program, framing) or per (program,) or per (batch,)."""
    overall = Score()
    parts: dict[tuple[str, ...], Score] = {}
    for r in results:
        overall.add(r)
        rec = r.record
        keys: list[tuple[str, ...]]
        if key == "batch":
            keys = [(rec.batch,)]
        elif key == "framing":
            keys = [(rec.proxy, rec.framing)]
        else:
            keys = [(rec.proxy,)]
        for k in keys:
            parts.setdefault(k, Score()).add(r)
    return overall, parts


def table(results: Sequence[Result]) -> str:
    """Markdown: per program and framing, per program, overall."""
    head = ["| program | framing | lines | threads | right | % | pasted | log | negatives | false alarms | "
            "explain agrees |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    overall, per_framing = tally(results, "framing")
    _, per_proxy = tally(results, "proxy")

    def row(a: str, b: str, s: Score, bold: bool = False) -> str:
        pct = f"**{s.accuracy:.1%}**" if bold else f"{s.accuracy:.1%}"
        return (f"| {a} | {b} | {s.lines} | {len(s.sources)} | {s.right} | {pct} | "
                f"{s.pasted} | {s.log} | {s.negatives} | {s.false_alarms} ({s.alarm_rate:.1%}) | "
                f"{s.agree} ({s.agreement:.1%}) |")

    out = list(head)
    for (proxy,), ps in sorted(per_proxy.items()):
        for (p, framing), s in sorted(per_framing.items()):
            if p == proxy:
                out.append(row(p, framing, s))
        out.append(row(f"**{proxy}**", "all", ps, bold=True))
    out.append(row("**all**", "all", overall, bold=True))
    return "\n".join(out)


def batch_table(results: Sequence[Result]) -> str:
    _, per_batch = tally(results, "batch")
    out = ["| batch | lines | threads | right | % | false alarms | explain agrees |",
           "|---|---|---|---|---|---|---|"]
    for (b,), s in sorted(per_batch.items()):
        out.append(f"| {b} | {s.lines} | {len(s.sources)} | {s.right} | {s.accuracy:.1%} | "
                   f"{s.false_alarms}/{s.negatives} | {s.agreement:.1%} |")
    return "\n".join(out)


def misses(results: Iterable[Result]) -> list[str]:
    """One line per record the command got wrong or explain disagreed on."""
    out = []
    for r in results:
        if r.right and r.agree:
            continue
        rec = r.record
        out.append(f"{rec.batch}:{rec.n} {rec.proxy}/{rec.framing} expected {rec.expected}: "
                   f"pasted {r.pasted}, log {r.log}, explain {r.explained}: {rec.line[:160]!r}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="field-score", description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", action="append", help="only this batch (file stem); repeatable")
    ap.add_argument("--misses", action="store_true", help="also list every line got wrong")
    args = ap.parse_args(argv)
    results = run(load(args.batch))
    print(table(results))
    print()
    print(batch_table(results))
    if args.misses:
        print()
        print("\n".join(misses(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
