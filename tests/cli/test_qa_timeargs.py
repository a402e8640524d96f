"""QA: one reader for ``--since``/``--until`` (``why502.timeargs``) in classify, diagnose, stats.

The three commands had three parsers; ``stats`` dropped a time-zone offset while the others
converted it to local time, so ``--since 2026-11-20T10:00:00+00:00`` meant 10:00 local to stats
and 11:00 local to classify on a machine in Berlin.  nginx writes local time
(``src/core/ngx_times.c``), so an offset must be converted.  The zone is pinned (``TZ`` in the
subprocess, ``time.tzset`` in-process) so local time differs from UTC whatever the machine runs.

Logs come from ``tests/support/genlog.py`` (lines stamped ``+0100``, as nginx in Berlin writes
them in November); the expected lines are counted here from each line's own stamp and offset.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import why502
from tests.support.genlog import generate
from tests.support.paths import FIXTURES_DIR
from why502.errors import UsageError
from why502.timeargs import parse_time_arg

RECORDED = FIXTURES_DIR / "recorded"
BERLIN = {"TZ": "Europe/Berlin"}  # +01:00 in November


@pytest.fixture()
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


NOW = datetime(2026, 11, 21, 12, 0)


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("30s", datetime(2026, 11, 21, 11, 59, 30)),
        ("30m", datetime(2026, 11, 21, 11, 30)),
        (" 2h ", datetime(2026, 11, 21, 10, 0)),
        ("1d", datetime(2026, 11, 20, 12, 0)),
        ("1w", datetime(2026, 11, 14, 12, 0)),
        ("2026-11-20", datetime(2026, 11, 20, 0, 0)),
        ("2026-11-20 10:00", datetime(2026, 11, 20, 10, 0)),
        ("2026-11-20T10:00:05", datetime(2026, 11, 20, 10, 0, 5)),
        # an instant: converted to Berlin's local time, never stripped of its offset
        ("2026-11-20T10:00:00Z", datetime(2026, 11, 20, 11, 0)),
        ("2026-11-20 10:00:00+00:00", datetime(2026, 11, 20, 11, 0)),
        ("2026-11-20T10:00:00+05:30", datetime(2026, 11, 20, 5, 30)),
        ("2026-07-20T10:00:00Z", datetime(2026, 7, 20, 12, 0)),  # summer time: +02:00
    ],
)
def test_values_in_berlin(berlin: None, value: str, want: datetime) -> None:
    assert parse_time_arg(value, "--since", NOW) == want


def test_an_aware_now_is_local_time_too(berlin: None) -> None:
    now = datetime(2026, 11, 21, 11, 0, tzinfo=timezone.utc)
    assert parse_time_arg("1h", "--since", now) == datetime(2026, 11, 21, 11, 0)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("yesterday", "cannot read"),
        ("", "cannot read"),
        ("-2h", "cannot read"),
        ("2h ago", "cannot read"),
        ("2026-11-20T25:00", "cannot read"),
        ("99999999d", "reaches back too far"),
        ("9" * 5000 + "h", "reaches back too far"),  # more digits than int() reads: ValueError
        ("0001-01-01T00:00:00+14:00", "out of range"),
        ("9999-12-31T23:59:59-14:00", "out of range"),
    ],
)
def test_bad_values_are_one_line_usage_errors_naming_the_flag(value: str, words: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_time_arg(value, "--until", NOW)
    msg = str(err.value)
    assert msg.startswith("--until ") and words in msg
    assert "\n" not in msg and len(msg) < 200


# ---------------------------------------------------------------------------------------------
# as a user: the same value selects the same instant in all three commands


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One hour of traffic, 10:30-11:30 at +0100, one request per second."""
    out = tmp_path_factory.mktemp("tz")
    generate(3600, out, seed=3, rate=1.0, start="2026-11-20T10:30:00")
    return out


SINCE = "2026-11-20T10:00:00+00:00"  # = 11:00 in Berlin
UNTIL = "2026-11-20T10:15:00Z"  # = 11:15 in Berlin


def _access_instants(path: Path) -> list[datetime]:
    """Each line's own ``$time_local`` with its offset: an instant, independent of any zone."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stamp = line.split("[", 1)[1].split("]", 1)[0]
        out.append(datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S %z"))
    return out


def _stats_json(logs: Path, *window: str) -> dict[str, Any]:
    """``why502 stats --format json`` on the generated access log, in Berlin time."""
    proc = why502(
        "stats",
        str(logs / "access.log"),
        "--log-format",
        "why502",
        "--no-error-log",
        "--no-progress",
        "--format",
        "json",
        *window,
        env=BERLIN,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    assert proc.returncode == (1 if result["total_5xx"] else 0), proc.stderr  # 1: 5xx found
    return result


def test_stats_since_with_an_offset_selects_exactly_the_lines_after_that_instant(logs: Path) -> None:
    instants = _access_instants(logs / "access.log")
    since = datetime.fromisoformat(SINCE)
    want = sum(1 for t in instants if t >= since)
    assert 0 < want < len(instants)  # the cut is inside the log
    d = _stats_json(logs, "--since", SINCE)
    assert d["requests"] == want
    assert min(r["minute"] for r in d["timeline"]) == "2026-11-20T11:00"


def test_stats_since_and_until_with_offsets(logs: Path) -> None:
    instants = _access_instants(logs / "access.log")
    lo, hi = datetime.fromisoformat(SINCE), datetime.fromisoformat(UNTIL.replace("Z", "+00:00"))
    want = sum(1 for t in instants if lo <= t <= hi)
    assert 0 < want < len(instants)
    assert _stats_json(logs, "--since", SINCE, "--until", UNTIL)["requests"] == want


def test_classify_since_with_an_offset_is_the_same_instant(logs: Path) -> None:
    # error-log stamps carry no zone: they are Berlin local time (the generator's +0100 clock)
    stamps = [
        datetime.strptime(ln[:19], "%Y/%m/%d %H:%M:%S")
        for ln in (logs / "error.log").read_text(encoding="utf-8").splitlines()
    ]
    want = sum(1 for t in stamps if t >= datetime(2026, 11, 20, 11, 0))
    assert 0 < want < len(stamps)
    proc = why502("classify", "--format", "jsonl", "--since", SINCE, str(logs / "error.log"), env=BERLIN)
    assert proc.returncode in (0, 1), proc.stderr
    times = [json.loads(r)["time"] for r in proc.stdout.splitlines() if r.strip()]
    assert len(times) == want
    assert min(times) >= "2026-11-20T11:00:00"


def test_diagnose_since_with_an_offset_is_the_same_instant(logs: Path) -> None:
    proc = why502(
        "diagnose",
        "--offline",
        "--nginx-conf",
        str(logs / "nginx.conf"),
        "--error-log",
        str(logs / "error.log"),
        "--format",
        "json",
        "--since",
        SINCE,
        env=BERLIN,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads(proc.stdout)["inputs"]["since"] == "2026-11-20T11:00:00"


DEMO = RECORDED / "demo-fpm-exhausted"
COMMANDS = {
    "classify": ["classify", str(DEMO / "error.log")],
    "stats": ["stats", str(DEMO / "access.log"), "--no-progress"],
    "diagnose": [
        "diagnose",
        "--offline",
        "--nginx-conf",
        str(DEMO / "nginx.conf"),
        "--error-log",
        str(DEMO / "error.log"),
    ],
}
FLAGS = [(c, "--since") for c in sorted(COMMANDS)] + [("stats", "--until")]


@pytest.mark.parametrize("value", ["yesterday", "0001-01-01T00:00:00+14:00", "2h\x1b]0;x\x07"])
@pytest.mark.parametrize(("command", "flag"), FLAGS)
def test_bad_value_is_one_line_naming_the_flag(command: str, flag: str, value: str) -> None:
    proc = why502(*COMMANDS[command], f"{flag}={value}")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"why502: {flag} ")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "\x1b" not in proc.stderr and "internal error" not in proc.stderr


@pytest.mark.parametrize(("value", "seconds"), [
    ("10", 10.0), ("10s", 10.0), ("1m", 60.0), ("250ms", 0.25), ("1.5h", 5400.0), ("1m30s", 90.0),
    (" 2d ", 172800.0), ("0.5", 0.5)])
def test_durations_read_as_operators_write_them(value: str, seconds: float) -> None:
    from why502.timeargs import parse_duration

    assert parse_duration(value, "--window") == seconds


@pytest.mark.parametrize("value", ["", "x", "1y", "-1", "1e9", "1m-", "m", "10 s s", "inf", "nan"])
def test_a_bad_duration_is_one_line_naming_the_flag(value: str) -> None:
    from why502.errors import UsageError
    from why502.timeargs import parse_duration

    with pytest.raises(UsageError, match=r"^--window "):
        parse_duration(value, "--window")


def test_a_duration_below_the_minimum_is_refused() -> None:
    from why502.errors import UsageError
    from why502.timeargs import parse_duration

    with pytest.raises(UsageError, match="at least 1 s"):
        parse_duration("250ms", "--window", minimum=1)
