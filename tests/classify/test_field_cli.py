"""The field corpus through the command users run: the gate of issue 26.

``tests/support/field.py`` runs the installed ``why502 classify FILE --format jsonl`` on every
corpus line alone in a file (pasted, no hint) and on every thread's lines together (a whole log),
and ``why502 explain`` on every line; this module holds the targets.  The per-line function
(``parsers.errorlog.classify_line``, ``test_classify_field.py``) is an implementation detail: a
line it reads and the command does not is a miss here.  The table (``pytest -s``, or
``scripts/field-score``) is part of every failure message, with the lines got wrong.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support import field
from tests.support.clirun import WHY502

MIN_ACCURACY = 0.97  # right overall, pasted alone and inside its thread's log
MIN_PER_PROGRAM = 0.95
MAX_FALSE_ALARMS = 0.02  # of the lines that expect no failure symptom
MIN_LINES = 400


@pytest.fixture(scope="module")
def results() -> list[field.Result]:
    return field.run(field.load())


def _detail(results: list[field.Result]) -> str:
    return field.table(results) + "\n" + "\n".join(field.misses(results)[:80])


def test_the_command_reads_the_field_corpus(results: list[field.Result]) -> None:
    overall, per_program = field.tally(results, "proxy")
    print("\n" + field.table(results) + "\n\n" + field.batch_table(results))
    assert overall.lines >= MIN_LINES
    assert overall.accuracy >= MIN_ACCURACY, _detail(results)
    assert overall.alarm_rate <= MAX_FALSE_ALARMS, _detail(results)
    low = {p: f"{s.accuracy:.1%}" for (p,), s in per_program.items() if s.accuracy < MIN_PER_PROGRAM}
    assert low == {}, _detail(results)


def test_explain_and_classify_name_the_same_symptom(results: list[field.Result]) -> None:
    """``explain 'LINE'`` and ``classify`` on a file holding LINE must not disagree on any line."""
    disagree = [r for r in results if not r.agree]
    assert disagree == [], "\n".join(field.misses(disagree))


def test_a_line_says_the_same_alone_and_in_its_log(results: list[field.Result]) -> None:
    """A line's neighbours in its thread's log do not change what classify names for it."""
    differ = [r for r in results if r.pasted != r.log]
    assert differ == [], "\n".join(field.misses(differ))


def test_explain_jsonl_reads_each_stdin_line_as_explain_does() -> None:
    """``explain - --format jsonl`` (the scorer's batch) gives per line what ``explain LINE`` gives."""
    lines = ["2024/05/01 12:00:01 [error] 7#7: *1 connect() failed (111: Connection refused) while "
             "connecting to upstream, client: 10.0.0.1, server: a, request: \"GET / HTTP/1.1\", "
             "upstream: \"http://127.0.0.1:8080/\", host: \"a\"",
             "", "hello world", "Server app/web1 is DOWN, reason: Layer4 timeout, check duration: 2001ms."]
    batch = subprocess.run([WHY502, "explain", "-", "--format", "jsonl"], input="\n".join(lines) + "\n",
                           capture_output=True, text=True, timeout=120, check=True).stdout.splitlines()
    assert [json.loads(t)["n"] for t in batch] == [1, 2, 3, 4]
    for text, got in zip(lines, batch, strict=True):
        obj = json.loads(got)
        one = subprocess.run([WHY502, "explain", text, "--format", "json"], capture_output=True, text=True,
                             timeout=120, check=False)
        if one.returncode:
            assert "error" in obj and "symptom" not in obj, text
        else:
            assert obj.get("symptom") == (json.loads(one.stdout)["line"] or {}).get("symptom"), text


def test_explain_jsonl_takes_lines_from_stdin_only() -> None:
    """``--format jsonl`` is the batch mode: with an argument other than ``-`` it is a usage error
    (one line, exit 2), not a page of a different shape."""
    res = subprocess.run([WHY502, "explain", "502", "--format", "jsonl"], capture_output=True, text=True,
                         timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert res.returncode == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and "stdin" in res.stderr
