"""The tables that grew with hostile values are bounded, and say what they left out.

- ``stats``' per-minute timeline (``evidence.stats.timeline.MinuteCounts``): a log whose every
  line has its own minute keeps the most recent minutes, the totals by status stay exact;
  checked in a subprocess under ``RLIMIT_DATA`` (as ``test_resource_limits``), where the table
  of one Counter per minute failed the limit;
- diagnose's error-log groups (``evidence.aggregate.LogAggregator``): past ``MAX_GROUPS``
  (symptom, peer) pairs new peers share one "(other peers)" group; ``per_minute`` keeps the
  most recent minutes;
- ``nginx -T`` is read with the config cap (a real nginx dumping an oversized include);
- the long-line check before the streaming scan maps no file pages (``mmap`` kept up to 434 MB
  of a 1 GB log resident, counted in the run's peak RSS).
"""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.stats.test_resource_limits import FORMAT, limited
from why502.evidence import aggregate
from why502.evidence.aggregate import OTHER_PEER, LogAggregator
from why502.evidence.stats.timeline import MinuteCounts
from why502.proxies.nginx.source import run_nginx_T

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _random_minute_line(rng: random.Random) -> str:
    """A 502 at a random minute of 1990-2029: every line has a minute of its own."""
    ts = (f"{rng.randint(1, 28):02d}/{rng.choice(MONTHS)}/{rng.randint(1990, 2029)}:"
          f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00 +0000")
    return (f'10.0.0.1 - - [{ts}] "GET / HTTP/1.1" 502 157 "-" "curl/8.5.0" "a.example" rt=0.001 '
            'ua="10.0.0.2:8080" us="502" uct="-" uht="-" urt="0.000"\n')


def test_a_timeline_of_random_minutes_stays_under_a_700_mb_limit(tmp_path: Path) -> None:
    rng = random.Random(16)
    log = tmp_path / "random-times.log"
    lines = 500_000
    with open(log, "w", encoding="ascii") as fh:
        for _ in range(lines // 10_000):
            fh.write("".join(_random_minute_line(rng) for _ in range(10_000)))
    proc = limited(["stats", "--log-format", "why502", "--no-error-log", "--format", "json",
                    "--nginx-conf", str(_conf(tmp_path)), str(log)], 700)
    assert proc.returncode == 1, proc.stderr[-500:]
    d = json.loads(proc.stdout)
    assert d["requests"] == lines and d["by_status"] == {"502": lines}  # totals exact
    assert 0 < len(d["timeline"]) <= 50_000
    assert any("distinct minutes" in n for n in d["notes"]), d["notes"]


def _conf(d: Path) -> Path:
    conf = d / "nginx.conf"
    conf.write_text(f"events {{}}\nhttp {{\n  log_format why502 '{FORMAT}';\n}}\n")
    return conf


def test_minute_counts_keep_the_most_recent_minutes_and_exact_totals() -> None:
    mc = MinuteCounts(max_minutes=10)
    for i in range(40):
        mc.add(f"2026-01-01T00:{i:02d}", "502", 2)
        mc.add(f"2026-01-01T00:{i:02d}", "200", 1)
        mc.prune()
    mc.add("2026-01-01T00:00", "502", 5)  # older than what is kept: into the totals only
    assert len(mc.minutes) <= 10
    assert max(mc.minutes) == "2026-01-01T00:39"
    assert all(c == {"502": 2, "200": 1} for c in mc.minutes.values())  # kept minutes are exact
    assert mc.by_status() == {"502": 85, "200": 40}
    note = mc.note()
    assert note is not None and "more than 10 distinct minutes" in note


def _error_rows(start: int, n: int) -> pl.DataFrame:
    return pl.DataFrame({
        "symptom": ["upstream_refused"] * n,
        "source": ["nginx"] * n,
        "status": [502] * n,
        "time": [f"2026-11-21T{i // 60 % 24:02d}:{i % 60:02d}:00" for i in range(start, start + n)],
        "upstream": [f"http://10.{i >> 8 & 255}.{i & 255}.1:8080/" for i in range(start, start + n)],
        "message": ["connect() failed (111: Connection refused)"] * n,
        "file": ["error.log"] * n,
        "line": list(range(start + 1, start + n + 1)),
        "text": [f"line {i}" for i in range(start, start + n)],
    })


def test_error_log_groups_and_minutes_are_capped_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aggregate, "MAX_GROUPS", 20)
    monkeypatch.setattr(aggregate, "MAX_MINUTES", 30)
    agg = LogAggregator()
    for start in range(0, 1000, 100):  # batches, as the classify engine hands them over
        agg.add(_error_rows(start, 100))
    groups = agg.groups()
    assert len(groups) <= 21
    assert sum(g.count for g in groups) == 1000  # every line counted once
    other = [g for g in groups if g.peer == OTHER_PEER]
    assert len(other) == 1 and other[0].count == 980 and other[0].statuses == {502: 980}
    assert len(agg.per_minute) <= 30 and max(agg.per_minute) == "2026-11-21T16:39"
    notes = agg.notes()
    assert any("980 more are counted together" in n for n in notes), notes
    assert any("distinct minutes" in n for n in notes), notes


@pytest.mark.real
def test_nginx_T_output_is_read_with_the_config_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real nginx dumps a config with a 3 MB include; with a 1 MiB cap the dump is refused
    (nginx is stopped) instead of being read whole."""
    (tmp_path / "big.conf").write_text("# padding\n" * 300_000)
    (tmp_path / "nginx.conf").write_text("events {}\nhttp { include big.conf; }\n")
    nginx = "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else "nginx"
    wrapper = tmp_path / "nginx"
    wrapper.write_text(f"#!/bin/sh\nexec {nginx} -p {tmp_path} -c {tmp_path}/nginx.conf "
                       f"-e {tmp_path}/error.log -g 'pid {tmp_path}/nginx.pid;' \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    dump, reason = run_nginx_T(str(wrapper))
    assert dump is not None and "# configuration file" in dump and reason == ""  # under the 4 MiB bound: read
    monkeypatch.setenv("WHY502_MAX_CONFIG_BYTES", str(1 << 20))
    dump, reason = run_nginx_T(str(wrapper))
    assert dump is None
    assert "printed more than 1 MiB" in reason and "WHY502_MAX_CONFIG_BYTES" in reason


_PEAK = """
import resource, sys
from why502.sources.scan import has_long_line
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert not has_long_line(sys.argv[1], 1 << 20)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) >> 10)
"""


def test_the_long_line_check_keeps_no_file_pages_resident(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    with open(log, "w", encoding="ascii") as fh:
        fh.write(("x" * 199 + "\n") * (400 << 10))  # 80 MB of short lines
    os.sync()
    out = subprocess.run([sys.executable, "-c", _PEAK, str(log)], capture_output=True, text=True,
                         timeout=120, check=True)
    assert int(out.stdout) < 16, out.stdout  # MB of peak RSS the check added
