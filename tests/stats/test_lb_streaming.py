"""The streaming load-balancer statistics are the whole-file ones: ``stats`` on every published
and recorded log of each family (ALB, ELB, Cloudflare, Envoy/Istio text and JSON, Caddy,
Traefik JSON and CLF) read in many tiny batches and reduced in many tiny pools gives the
document that a line-by-line reference (``parse_line`` on each line, one frame, one reduction)
gives; the vectorised Cloudflare reader gives the per-line parser's records; the percentiles
taken from (value, count) rows are polars' ``nearest`` quantiles; and the reader stays within a
memory limit that the whole-file reader exceeded."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl

from tests.support.limits import limited
from why502.app.stats.lb import _record, read_lb
from why502.evidence.lbstats import (
    MERGE_EVERY,
    LbFrameBuilder,
    LbStatsAccumulator,
    _pick,
    _Sums,
    compute_lb_stats,
)
from why502.parsers.lblogs.batch import cloudflare_frame
from why502.proxies.logfamilies import families

CLOUD = Path(__file__).resolve().parents[1] / "fixtures" / "cloud"
REC = CLOUD / "recorded"
PUBLISHED = ("alb", "elb", "cloudflare", "envoy", "istio", "caddy", "traefik")
RECORDED = ("envoy/envoy-default.log", "envoy/envoy-istio-text.log", "envoy/envoy-istio-json.log",
            "caddy-2.6.2-debian/caddy-access.log", "caddy-2.11.7-pypi/caddy-access.log",
            "traefik-json/traefik-access-json.log", "traefik-common/traefik-access-common.log")
FAMILY = {"istio": "envoy"}


def _published(tmp_path: Path, name: str) -> Path:
    rows = [json.loads(r) for r in (CLOUD / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
    path = tmp_path / f"{name}.log"
    path.write_text("".join(str(r["line"]) + "\n" for r in rows), encoding="utf-8")
    return path


def _reference(path: Path, family: str) -> dict[str, object]:
    """Every line through the per-line parser, one frame, one reduction."""
    builder = LbFrameBuilder()
    lines = unparsed = 0
    for n, text in enumerate(path.read_text(encoding="utf-8", errors="replace").split("\n"), 1):
        if not text.strip():
            continue
        lines += 1
        rec = families().parse_line(text, family)
        if rec is None:
            unparsed += 1
        else:
            builder.add(rec, str(path), n)
    return compute_lb_stats(builder.frame(), family, lines=lines, unparsed=unparsed, files=[str(path)])


def _streamed(path: Path, family: str) -> dict[str, object]:
    acc = LbStatsAccumulator(family, pool_rows=2)
    read = read_lb([str(path)], family, acc.add, batch_bytes=700)
    return acc.result(lines=read.lines, unparsed=read.unparsed, files=read.files)


def _cases(tmp_path: Path) -> list[tuple[Path, str]]:
    return ([(_published(tmp_path, n), FAMILY.get(n, n)) for n in PUBLISHED]
            + [(REC / rel, rel.split("/")[0].split("-")[0]) for rel in RECORDED])


def test_streamed_statistics_are_the_line_by_line_ones(tmp_path: Path) -> None:
    for path, family in _cases(tmp_path):
        want = _reference(path, family)
        got = _streamed(path, family)
        assert got == want, path.name
        assert got["requests"], path.name  # each file holds requests of its family


def test_cloudflare_reader_gives_the_per_line_records() -> None:
    lines = [str(json.loads(r)["line"]) for r in (CLOUD / "cloudflare.jsonl").read_text().splitlines()]
    base = json.loads(lines[0].replace("******", "0"))
    # the shapes that must leave the vectorised path: numeric timestamps, booleans, a prefix,
    # a redacted field, a record without OriginResponseStatus, and one the reader refuses
    odd = [
        json.dumps({**base, "EdgeStartTimestamp": 1506702504433000000,
                    "EdgeEndTimestamp": 1506702504433000123}),
        json.dumps({**base, "EdgeResponseStatus": True}),
        "Nov 21 10:00:00 host logpush[1]: " + json.dumps(base),
        json.dumps({k: v for k, v in base.items() if k != "OriginResponseStatus"}),
        json.dumps({**base, "OriginResponseTime": "12"}),
        json.dumps({**base, "OriginResponseStatus": 0, "EdgeResponseStatus": 403, "OriginIP": ""}),
        json.dumps({**base, "OriginResponseTime": 25565000, "ClientRequestURI": ""}),
    ]
    # nanosecond origin times whose ms are not exact in binary (25565000 / 1e6 must be 25.565)
    good = [json.dumps({**base, "OriginResponseTime": 25_565_000 + 1000 * i}) for i in range(300)]
    every = good + lines + odd
    frame, rest = cloudflare_frame(pl.Series(every))
    # the well-formed records took the vectorised path (a refused line costs its part of < 64 lines)
    assert frame.height >= 250
    for row in frame.iter_rows(named=True):
        assert _record("cloudflare", row) == families().parse_line(every[row["idx"]], "cloudflare")
    assert sorted([*frame["idx"].to_list(), *rest.to_list()]) == list(range(len(every)))


def test_percentiles_from_counts_are_polars_nearest() -> None:
    r = random.Random(7)
    for _ in range(200):
        values = [float(r.randrange(40)) for _ in range(r.randrange(1, 300))]
        counts = pl.DataFrame({"v": values}).group_by("v").agg(pl.len().cast(pl.Int64).alias("n"))
        s = pl.Series(values)
        assert _pick(counts, "v", (0.5, 0.95, 0.99, 1.0)) == [
            s.quantile(0.5, interpolation="nearest"), s.quantile(0.95, interpolation="nearest"),
            s.quantile(0.99, interpolation="nearest"), s.max()]


ENVOY = ('[2026-11-21T10:{m:02d}:{s:02d}.{ms:03d}Z] "GET /u/{i} HTTP/1.1" {st} {flags} 0 98 {d} {u} '
         '"192.168.{a}.{b}" "curl/8.5.0" "{i:016x}" "web.example.com" "10.0.0.{t}:8080"\n')


def _envoy(i: int) -> str:
    fail = i % 5 == 0
    return ENVOY.format(m=i // 60000 % 60, s=i // 1000 % 60, ms=i % 1000, i=i, a=i >> 8 & 255, b=i & 255,
                        t=i % 13, st=503 if fail else 200, flags="UF,URX" if fail else "-",
                        d=i % 997 + 1, u="-" if fail else str(i % 997))


def test_envoy_stats_within_a_data_limit_the_whole_file_reader_exceeded(tmp_path: Path) -> None:
    """1M Envoy lines (155 MB) under a 600 MiB data limit: the reader that held every row as
    a frame peaked at ~715 MB of RSS at 1M lines, growing with the file (issue 28; its data
    segment, which counts every private writable mapping, is at least that), and aborted on 2M
    lines under 800 MiB; batch by batch the data segment peaks at ~400-450 MB and RSS stays at
    ~230-250 MB from 1M to 5M lines.  (It read 2M lines under 800 MiB until stop 42: half the
    lines and a limit below the old reader's 1M-line peak prove the same at half the cost.)"""
    log = tmp_path / "envoy.log"
    with open(log, "w", encoding="ascii") as fh:
        for start in range(0, 1_000_000, 10_000):
            fh.write("".join(_envoy(i) for i in range(start, start + 10_000)))
    proc = limited(["stats", str(log), "--format", "json", "--no-progress"], 600)
    assert proc.returncode == 1, proc.stderr[-500:]  # 1: 5xx answered
    data = json.loads(proc.stdout)
    assert data["requests"] == 1_000_000 and data["5xx"] == 200_000
    assert data["made_by"]["lb"] == 200_000


def test_partial_sums_merged_by_level_are_one_grouping() -> None:
    """``_Sums`` merges its parts ``MERGE_EVERY`` at a time and the merged ones by level: its
    frame is the one grouping of every row added -- the same sums, every key in its first-seen
    place -- whatever the parts' sizes and however many of them (keys nearly the rows, and keys
    that repeat)."""
    rng = random.Random(3)
    for spread in (10, 100_000):
        sums = _Sums(["k"], [pl.col("n").sum()])
        added = []
        for _ in range(MERGE_EVERY ** 2 + 37):
            keys = [rng.randrange(spread) for _ in range(rng.randrange(0, 40))]
            part = pl.DataFrame({"k": keys, "n": [1] * len(keys)}, schema={"k": pl.Int64, "n": pl.Int64})
            added.append(part)
            sums.add(part)
        assert len(sums.parts) < 2 * MERGE_EVERY  # merged as it went, by level
        whole = pl.concat(added).group_by("k", maintain_order=True).agg(pl.col("n").sum())
        assert sums.frame().equals(whole)
