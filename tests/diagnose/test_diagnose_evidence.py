"""Evidence building: log aggregation, config facts and the FPM pool adapter on real inputs."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from tests.support.paths import FIXTURES_DIR
from why502.app.diagnose import DiagnoseOptions
from why502.app.diagnose.gather import gather
from why502.evidence.aggregate import LogAggregator
from why502.parsers.errorlog_batch import classify_series

FIXTURES = FIXTURES_DIR / "recorded"


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
    g = gather(DiagnoseOptions(default_proxy_config=str(tmp_path / "nginx.conf"),
                               error_logs=[str(tmp_path / "error.log")],
                               fpm_conf=str(tmp_path / "php-fpm.conf"),
                               fpm_logs=[str(tmp_path / "php-fpm.log")], offline=True))
    ev = g.evidence
    sock = f"unix:{tmp_path}/run/www.sock"
    t = ev.target(sock)
    assert t is not None and t.kind == "fastcgi" and t.file and t.line
    assert t.settings["fastcgi_read_timeout"].value
    pool = ev.config.fpm_pools[0]
    assert pool.key == sock and pool.max_children == 2 and pool.max_children_line
    lines = ev.config.files[pool.file or ""]
    assert lines[pool.max_children_line - 1].startswith("pm.max_children")
    assert ev.host.listeners is None and ev.live.probes is None  # offline: nothing live was read
    assert any(e.kind == "fpm-max-children" for e in ev.all_events)


def test_oom_kill_in_the_uid_format_is_tied_to_the_backend_it_killed() -> None:
    """RHEL 6's ``Killed process PID, UID N, (COMM)`` was classified as oom-kill but lost its pid
    and process; now the catalog captures them and the kill is matched to the listener."""
    from datetime import datetime, timedelta

    from tests.support.evidence import evidence
    from why502.analyzers.rank import run_all
    from why502.evidence.events import event_from_text
    from why502.evidence.model import Sample, SymptomGroup
    from why502.facts.net import Listener

    t0 = datetime(2026, 5, 1, 8, 15, 31)
    kill = event_from_text(
        "oom-kill", "Mar  2 17:35:10 web1 kernel: [2858609.598568] Killed process 4242, UID 33, "
        "(php-fpm8.2) total-vm:1716580kB, anon-rss:1461342kB, file-rss:0kB", source="kernel", time=t0)
    assert (kill.pid, kill.process) == (4242, "php-fpm8.2")
    resets = SymptomGroup(symptom="connection-reset", peer="127.0.0.1:9000", count=2, first=t0,
                          last=t0 + timedelta(seconds=1), statuses={502: 2},
                          samples=(Sample("recv() failed (104: Connection reset by peer)",
                                          "/var/log/nginx/error.log", 3, t0),))
    listener = Listener("tcp", "127.0.0.1", 9000, pid=4242, process="php-fpm8.2")
    findings, _ = run_all(evidence(symptoms=(resets,), listeners=(listener,), events=(kill,)))
    top = findings[0]
    assert top.cause == "backend-oom-killed"
    assert any(i.summary == "identity: pid 4242 was listening on 127.0.0.1:9000" for i in top.evidence)


def test_batches_counted_together_give_what_each_counted_alone_gives(tmp_path: Path) -> None:
    """``LogAggregator.add_all`` (``diagnose`` counts several classified batches at once:
    ``app.diagnose.logs.COUNTED_ROWS``) gives the groups, their samples, times and statuses, the
    events, the minutes and the line count that ``add`` of each batch in turn gives -- on every
    real line of the fixtures (nginx's, DNS lines whose peer is in the message, HAProxy's,
    Apache's, the apps' and the kernel's events), cut into many batches."""
    import random

    from tests.classify.test_classify_engines import real_lines
    from why502.app.classify import classify_files

    lines = real_lines()
    random.Random(66).shuffle(lines)
    log = tmp_path / "mixed.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    frames = list(classify_files([str(log)], batch_bytes=4 << 10, with_text=True, year=2026))
    assert len(frames) > 30 and sum(f.height for f in frames) > 300

    def counted(chunks: list[list[pl.DataFrame]]) -> tuple[object, ...]:
        agg = LogAggregator()
        for chunk in chunks:
            agg.add_all(chunk)
        return agg.lines, agg.groups(), agg.events(), agg.per_minute, agg.notes()

    alone = counted([[f] for f in frames])
    assert alone[1] and alone[2]  # groups and events both
    assert counted([frames]) == alone
    assert counted([frames[k:k + 3] for k in range(0, len(frames), 3)]) == alone


def test_batches_counted_together_keep_each_batchs_first_events() -> None:
    """``add`` keeps the first 5,000 other rows (evidence events) of each batch; ``add_all`` of
    several keeps each one's, not the first 5,000 of them together: a kind met only in a later
    batch after a busy one is still an event."""
    def events(kind: str, n: int, first_line: int) -> pl.DataFrame:
        return pl.DataFrame({
            "symptom": [kind] * n, "source": ["kernel"] * n, "text": [f"{kind} {k}" for k in range(n)],
            "message": [f"{kind} {k}" for k in range(n)], "time": ["2026-11-21T10:00:00"] * n,
            "file": ["kern.log"] * n, "line": list(range(first_line, first_line + n)), "pattern": [""] * n,
        })

    busy, late = events("segfault", 6000, 1), events("oom-kill", 3, 6001)
    alone, together = LogAggregator(), LogAggregator()
    alone.add(busy)
    alone.add(late)
    together.add_all([busy, late])
    assert [e.kind for e in together.events()] == [e.kind for e in alone.events()]
    assert {e.kind for e in together.events()} == {"segfault", "oom-kill"}
    assert together.lines == alone.lines == 6003


def test_the_records_read_before_a_file_fails_are_counted(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``classify_into`` counts several batches at once (``COUNTED_ROWS``); a discovered file that
    fails in the middle (a note, not an error) still has the batches read before it counted, as
    when each batch was counted as it came."""
    from why502.app.diagnose import logs

    log = tmp_path / "error.log"
    log.write_text("x\n", encoding="utf-8")
    line = ('2024/05/01 10:00:00 [error] 31#31: *1 connect() failed (111: Connection refused) while '
            'connecting to upstream, client: 10.0.0.1, server: x, request: "GET / HTTP/1.1", '
            'upstream: "http://127.0.0.1:9000/"')
    frame = classify_series(pl.Series("line", [line]), year=2024).with_columns(
        pl.lit("l").alias("text"), pl.lit(str(log)).alias("file"), pl.lit(1).alias("line"))

    def failing(*_a: object, **_k: object) -> object:
        yield frame
        yield frame
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(logs, "classify_files", failing)
    agg, diags = LogAggregator(), []
    logs.classify_into(agg, [str(log)], None, diags, explicit=False)
    assert agg.lines == 2 and agg.groups()[0].count == 2
    assert any("Input/output error" in d.message for d in diags)
