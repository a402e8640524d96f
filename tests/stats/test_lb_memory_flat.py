"""``stats`` on a load-balancer log holds the same memory whatever the length of the log.

Why: the edge logs are the biggest logs users have (an ALB writes a file per node every five
minutes; issue 28 item 2 asks for RSS flat from 1M to 20M lines).  The rows of a batch are
reduced to per-key sums and dropped (``evidence.lbstats.LbStatsAccumulator``), batches are
converted at most one ahead (``app.stats.lb.read_lb``): the peak is a batch, the pool of rows
before a reduction and the timing tables (bounded by ``VALUE_CAP``), not the file.  An earlier
design held a row per line (~800 MB per 1M lines): 75k more lines of this shape would add
~60 MB, far above the margin here.

The log is the recorded Traefik JSON access log (``tests/fixtures/cloud/recorded/traefik-json``,
a real Traefik's lines, the worst family for RSS in BENCHMARKS.md), each line repeated with its
time moved on, its target and its durations varied over a bounded set of timings, so that the
timing tables (bounded by ``VALUE_CAP``, the one state meant to grow with distinct values) hold
the same at N and 4N and any growth is rows held.  The real CLI runs on N and 4N lines
and its peak RSS (``VmHWM``) is compared: a few seconds each.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.support.limits import peak_rss_mb
from tests.support.paths import FIXTURES_DIR

RECORDED = FIXTURES_DIR / "cloud" / "recorded" / "traefik-json" / "traefik-access-json.log"
N = 40_000  # past the pool of rows a reduction waits for (``POOL_ROWS``, 32k): both runs hold a full pool
MARGIN_MB = 20  # what 4N may hold above N: allocator noise and a batch's conversion
# distinct timings: a real log's repeat (its durations are rounded to what the clock gives); the
# timing tables are the one state that may grow with distinct values (bounded by ``VALUE_CAP``),
# so with them bounded here, what 4N adds over N is rows kept -- the growth this test is about
TIMINGS = 5_000


def _write(path: Path, lines: int) -> None:
    base = [json.loads(t) for t in RECORDED.read_text(encoding="utf-8").splitlines()
            if t.startswith("{") and '"DownstreamStatus"' in t]
    start = dt.datetime(2026, 11, 22, 11, 0, 0, tzinfo=dt.timezone.utc)
    with open(path, "w", encoding="utf-8") as fh:
        for block in range(0, lines, 5_000):
            out = []
            for i in range(block, min(lines, block + 5_000)):
                rec = dict(base[i % len(base)])
                when = (start + dt.timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
                rec.update(StartUTC=when, StartLocal=when, time=when[:19] + "Z",
                           Duration=1_000_000 + (i % TIMINGS) * 7919,
                           OriginDuration=900_000 + (i % TIMINGS) * 104_729,
                           ServiceAddr=f"10.0.{i % 3}.{10 + i % 8}:8080")
                out.append(json.dumps(rec, separators=(",", ":")))
            fh.write("\n".join(out) + "\n")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("lbflat")
    _write(d / "short.log", N)
    _write(d / "long.log", 4 * N)
    return d / "short.log", d / "long.log"


def test_stats_rss_does_not_grow_with_the_lines(logs: tuple[Path, Path]) -> None:
    short, long = logs
    peaks = []
    for log in (short, long):
        code, peak = peak_rss_mb(["stats", str(log), "--format", "json", "--no-progress"], timeout=300)
        assert code == 1, (log, code)  # findings: the recorded log has 5xx
        peaks.append(peak)
    assert peaks[1] - peaks[0] < MARGIN_MB, f"{N:,} lines: {peaks[0]:.0f} MB, {4 * N:,}: {peaks[1]:.0f} MB"
