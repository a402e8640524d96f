"""Evidence building: log aggregation, config facts and the FPM pool adapter on real inputs."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from why502.app.diagnose import DiagnoseOptions, gather
from why502.evidence.build import LogAggregator
from why502.parsers.errorlog_batch import classify_series

FIXTURES = Path(__file__).parent / "fixtures" / "recorded"


def _frame(path: Path, repeat: int = 1) -> pl.DataFrame:
    lines = path.read_text().splitlines() * repeat
    series = pl.Series("line", lines, dtype=pl.Utf8)
    df = classify_series(series)
    return df.with_columns(
        pl.Series("text", series.gather(df["idx"].cast(pl.UInt32)).to_list(), dtype=pl.Utf8),
        (pl.col("idx").cast(pl.Int64) + 1).alias("line"), pl.lit(str(path)).alias("file"))


def test_aggregation_counts_match_the_log() -> None:
    log = FIXTURES / "all-upstreams-down" / "error.log"
    assert log.exists(), log
    agg = LogAggregator()
    df = _frame(log, repeat=50)
    half = df.height // 2
    agg.add(df.slice(0, half))  # two batches: the accumulation must add up
    agg.add(df.slice(half))
    groups = {(g.symptom, g.peer): g for g in agg.groups()}
    text = log.read_text()
    refused = len(re.findall(r"Connection refused", text)) * 50
    no_live = len(re.findall(r"no live upstreams", text)) * 50
    assert sum(g.count for (s, _), g in groups.items() if s == "connection-refused") == refused
    assert groups[("no-live-upstreams", "app_cluster")].count == no_live
    g = groups[("no-live-upstreams", "app_cluster")]
    assert g.samples and "no live upstreams" in g.samples[0].text and g.samples[0].line
    assert g.first is not None and g.last is not None and g.first <= g.last
    assert sum(g.statuses.values()) <= g.count
    # the per-minute timeline is exact (not limited to the sampled times)
    assert sum(n for m in agg.per_minute.values() for n in m.values()) == df.height
    assert all(len(m) == 16 and m[10] == "T" for m in agg.per_minute)


def test_fpm_events_carry_pool_and_pid() -> None:
    meta_dir = FIXTURES / "backend-crashed-php"
    assert (meta_dir / "php-fpm.log").exists(), meta_dir
    agg = LogAggregator()
    agg.add(_frame(meta_dir / "php-fpm.log"))
    crashed = [e for e in agg.events() if e.kind == "worker-crashed"]
    assert crashed and crashed[0].pool == "www" and crashed[0].pid
    assert "SIGSEGV" in (crashed[0].detail or "")


def test_gather_builds_targets_settings_and_pools_from_real_config(tmp_path: Path) -> None:
    d = FIXTURES / "workers-exhausted-fpm"
    assert d.exists(), d
    # the recording wrote its temp dir as /lab; put a real one back so includes resolve
    for src in d.rglob("*"):
        dst = tmp_path / src.relative_to(d)
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(src.read_text().replace("/lab", str(tmp_path)))
    g = gather(DiagnoseOptions(nginx_conf=str(tmp_path / "nginx.conf"),
                               error_logs=[str(tmp_path / "error.log")],
                               fpm_conf=str(tmp_path / "php-fpm.conf"),
                               fpm_logs=[str(tmp_path / "php-fpm.log")], offline=True))
    ev = g.evidence
    sock = f"unix:{tmp_path}/run/www.sock"
    t = ev.target(sock)
    assert t is not None and t.kind == "fastcgi" and t.file and t.line
    assert t.settings["fastcgi_read_timeout"].value
    pool = ev.fpm_pools[0]
    assert pool.key == sock and pool.max_children == 2 and pool.max_children_line
    lines = ev.files[pool.file or ""]
    assert lines[pool.max_children_line - 1].startswith("pm.max_children")
    assert ev.listeners is None and ev.probes is None  # offline: nothing live was read
    assert any(e.kind == "fpm-max-children" for e in ev.events)
