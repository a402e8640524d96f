"""Envoy's native text pass counts the requests ``diagnose`` only counts, and gives what counting
their rows gives.

The counterpart of ``test_alb_answers.py`` for Envoy's and Istio's text lines
(``_envoyscan.text_answers``, ``frame.envoy_answers_block``): a line whose flags are ``-`` and
whose code is below 500 is counted by (status, minute, upstream host) in the pass; every other
line comes as captures and is decided as before.  On the recorded, published, generated and bent
text lines of ``tests/stats/test_envoy_text_fold.py`` and its grid of every flag, detail and
transport failure reason at several statuses, whole and shuffled into blocks (a JSON line first
in a block leaves it to the pass that reads JSON), the counts equal the rows' in every field and
order, the other rows are the same rows, and ``diagnose`` uses the pass with the same report.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from tests.stats.test_envoy_text_fold import _corpus, _generated, _grid
from tests.support.answers import Both, both, counted_alike, diagnose_takes_the_answers, same_in_blocks
from tests.support.native import native_pass
from why502.proxies.envoy import frame
from why502.proxies.logfamilies import families

BUILT, pytestmark = native_pass("why502.proxies.envoy._envoyscan", "the native Envoy text pass")




def _no_upstream() -> list[str]:
    """Lines that name no upstream host (``"-"`` and ``""``: both no target to the reader) or
    one of odd text, at answering and failing statuses."""
    out = []
    for line in _generated("envoy", 40, 11) + _generated("istio", 40, 12):
        quoted = list(re.finditer(r'"(\d+\.\d+\.\d+\.\d+:\d+)"', line))
        if not quoted:
            continue
        at = quoted[-1]
        for host in ("-", "", "--", " x"):
            out.append(line[:at.start()] + f'"{host}"' + line[at.end():])
    assert out
    return out


@functools.cache
def _lines() -> tuple[str, ...]:
    return (*_corpus(), *_grid(), *_no_upstream())


def _both(lines: list[str]) -> Both:
    return both(frame.envoy_block, frame.envoy_answers_block, lines)


def test_the_answers_equal_the_rows_counted() -> None:
    lines = list(_lines())
    counted_alike(_both(lines), len(lines) // 10)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_answers_equal_the_rows_counted_in_any_order_and_block(seed: int) -> None:
    same_in_blocks(list(_lines()), _both, seed, 700)


@pytest.mark.parametrize("kind", ["envoy", "istio"])
def test_diagnose_counts_the_answers_natively(kind: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``diagnose`` on an Envoy or Istio text log takes the pass's answers (most of its
    requests), and its report is the one without them."""
    lines = _generated(kind, 3000, 7)
    log = tmp_path / f"{kind}.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    diagnose_takes_the_answers(log, len(lines), monkeypatch, frame, "envoy_answers_block")


def test_a_log_of_json_lines_is_answered_by_the_json_pass(tmp_path: Path) -> None:
    """A log that starts with JSON lines is answered too, by the JSON pass
    (``tests/diagnose/test_json_answers.py``), and read in the answers' 16 MB batches, as a text
    log is; a family without an answering reader, or a log whose lines its reader hands back, is
    read in the batches every row fits (``app.stats.lb._answers_apply``: with no answers, two
    16 MB blocks held every row at once, 311 MB on 1M Envoy JSON lines, BENCHMARKS.md stop 59)."""
    from why502.app.stats import lb as stats_lb

    text = tmp_path / "envoy.log"
    text.write_text("\n".join(_generated("envoy", 20, 3)) + "\n", encoding="utf-8")
    json_log = tmp_path / "envoy.json.log"
    json_log.write_text("\n".join(
        f'{{"start_time":"2026-11-21T10:00:{k:02d}.000Z","method":"GET","path":"/","response_code":200,'
        '"response_flags":"-","upstream_host":"10.0.0.1:80","duration":5}' for k in range(20)) + "\n",
        encoding="utf-8")
    assert stats_lb._answers_apply([str(text)], "envoy")
    assert stats_lb._answers_apply([str(json_log)], "envoy")
    got = frame.envoy_answers_block(json_log.read_bytes())
    assert got is not None and int(got[2]["len"].sum()) == 20
    assert not stats_lb._answers_apply([str(text)], "elb")  # (no answering reader)
    # a format no pass reads (Envoy's key=value, a user's own): the reader runs and hands every
    # line back, so the log is read in the batches every row fits (1M lines: 465 MB, 277 since)
    kv = tmp_path / "envoy.kv.log"
    kv.write_text("".join(f"ts=2026-11-21T10:00:{k:02d}Z response_flags=UF status=503 "
                          "status_details=upstream_reset_before_response_started{connection_failure}\n"
                          for k in range(20)), encoding="utf-8")
    assert frame.envoy_answers_block(kv.read_bytes()) is not None
    assert families().parse_line(kv.read_text(encoding="utf-8").splitlines()[0], "envoy") is not None
    assert not stats_lb._answers_apply([str(kv)], "envoy")
