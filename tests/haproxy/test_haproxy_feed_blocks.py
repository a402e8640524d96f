"""``diagnose`` reads HAProxy's one log once: the error-log pass hands each batch to the feed
that aggregates its requests (``HttplogFeed``).  The feed now hands the batch's text to the
native pass, as ``stats`` reads the file (``FedLog.read_text``, in the classifying workers:
``app.classify.SideRead``); it split the text into lines for
polars (two thirds of the classifying thread: BENCHMARKS.md stop 55).  The report is the same
either way -- recorded logs, the bench's generated lines and lines the pass must hand back --
and so are the statistics the feed gives diagnose, to the 5xx rows' line numbers."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunMain
from tests.support.native import native_pass
from tests.support.paths import FIXTURES_DIR
from tests.support.reports import without_timing

BUILT, pytestmark = native_pass("why502.proxies.haproxy._hapscan", "HAProxy's native pass")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import gen_lb_logs  # noqa: E402  (the bench's lines: bench/gen_lb_logs.py)

HAP = FIXTURES_DIR / "recorded-proxies" / "haproxy"


def _reports(run_main: RunMain, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[Any, Any]:
    from why502.app.stats import run as stats_run

    calls: list[int] = []
    real = stats_run.FedLog.read_text

    def counted(self: Any, first_line: int, text: str) -> Any:
        got = real(self, first_line, text)
        calls.append(got is not None)
        return got
    monkeypatch.setattr(stats_run.FedLog, "read_text", counted)
    code, out, _err = run_main("diagnose", "--offline", "--format", "json", *args)
    assert any(calls), "the feed's native pass was not used"
    with monkeypatch.context() as m:  # the lines through polars, as before
        m.setattr(stats_run.FedLog, "__init__", _without_blocks(stats_run.FedLog.__init__))
        code2, out2, _err2 = run_main("diagnose", "--offline", "--format", "json", *args)
    assert code == code2
    return without_timing(json.loads(out)), without_timing(json.loads(out2))


def _without_blocks(init: Any) -> Any:
    def wrapped(self: Any, *a: Any, **k: Any) -> None:
        k["blocks"] = None
        init(self, *a, **k)
    return wrapped


@pytest.mark.parametrize("name", ["sh-timeout", "sc-refused", "backend-502", "server-down-nosrv"])
def test_the_recorded_logs(run_main: RunMain, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    native, lines = _reports(run_main, monkeypatch, "--access-log", str(HAP / f"{name}.log"))
    assert native == lines


def test_generated_lines_and_lines_the_pass_hands_back(run_main: RunMain, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    rng = random.Random(5)
    made = [gen_lb_logs.haproxy(gen_lb_logs.Req(rng, i, 2000.0)) for i in range(3000)]
    for i in range(0, 3000, 97):  # not printable ASCII, a tab, a cut line: handed back to polars
        made[i] = made[i].replace("GET /", "GET /\u00e9t\u00e9/", 1).replace(" fe ", " fe\t", i % 2)
    made.insert(1500, made[1500][:40])
    log = tmp_path / "haproxy.log"
    log.write_text("\n".join(made) + "\n", encoding="utf-8")
    native, lines = _reports(run_main, monkeypatch, "--access-log", str(log))
    assert native["findings"] and native == lines


def _sorted(value: Any) -> Any:
    """Tables as sorted items: the pass counts the rows it folds into groups that reach the
    tables in another order than the rows do (the values, not the order, are the statistics)."""
    if isinstance(value, dict):
        return sorted(((repr(k), _sorted(v)) for k, v in value.items()), key=lambda kv: kv[0])
    if isinstance(value, (list, tuple)):
        return [_sorted(v) for v in value]
    return value


def _fed_stats(log: Path, blocks: bool) -> Any:
    """The statistics the feed gives diagnose (``compute_for_diagnose(fed=...)``), every field:
    the 5xx rows' files and line numbers too, which no report shows."""
    import dataclasses

    from why502.app.stats.run import compute_for_diagnose
    from why502.proxies.haproxy.stats import HttplogFeed
    from why502.sources.logfiles import iter_batches

    feed = HttplogFeed(None)
    if not blocks:
        feed._log._blocks = None
    try:
        for batch in iter_batches([log], batch_bytes=64 << 10):
            feed.feed(batch)
        st = compute_for_diagnose([], error_logs=[str(log)], fed=feed.log())
        return _sorted(dataclasses.asdict(st) if dataclasses.is_dataclass(st) else vars(st))
    finally:
        feed.close()


def test_the_fed_statistics_are_the_same_line_for_line(tmp_path: Path) -> None:
    rng = random.Random(6)
    made = [gen_lb_logs.haproxy(gen_lb_logs.Req(rng, i, 2000.0)) for i in range(4000)]
    for i in range(0, 4000, 89):
        made[i] = made[i].replace("GET /", "GET /\u00e9/", 1)
    log = tmp_path / "haproxy.log"
    log.write_text("\n".join(made) + "\n", encoding="utf-8")
    native, lines = _fed_stats(log, True), _fed_stats(log, False)
    assert str(log) in repr(native) and native == lines
