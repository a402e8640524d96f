"""Timings counted at the tenth of a millisecond (``evidence.lbstats._TIMING``), and read at that
tenth by the native JSON fold (``_jsonscan.c`` ``tenth_ms``: modes 'q' and 'n').

Why: every figure ``stats`` prints of the timings is at 0.1 ms, and a quantile of timings rounded
alike is the same element rounded; counted exactly, Cloudflare's and Traefik's nanosecond
timings made a group of nearly every line (2.7 s and 268 MB for 1M lines, BENCHMARKS.md stop 58).
What must hold: the fold hands on, for every timing, the number whose reading is the timing
rounded as polars rounds it -- on values at and around every half-tenth (the ties, where a
rounding done another way would differ), in ms and in ns, huge and negative ones -- and the
document is the rows' own.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from tests.stats.test_json_fold import _check, _generated, _write
from tests.support.native import native_pass
from why502.evidence.lbstats import _TIMING, compute_lb_stats
from why502.proxies.logfamilies import families

BUILT, pytestmark = native_pass("why502.parsers.lblogs._jsonscan", "the native JSON pass")


def _ms_values(seed: int) -> list[float]:
    """Timings in ms: every half-tenth from 0 to 30 ms and its neighbours a hair away (the ties
    of ``round(1)``), random ones with nanosecond digits, and far ones."""
    rng = random.Random(seed)
    ties = [k / 20 for k in range(0, 601)]
    near = [t + d for t in ties[::7] for d in (-1e-6, 1e-6, -1e-9, 1e-9)]
    rand = [round(rng.expovariate(1 / 40.0), 6) for _ in range(400)]
    far = [123456.789, 99999.95, 1e9 + 0.05, 7e10, 0.0]
    return [v for v in ties + near + rand + far if v >= 0]


def _cloudflare_lines(ms: list[float], key: str) -> list[str]:
    """Generated Cloudflare lines, each with one timing: ``OriginResponseTime`` in ns (an
    integer, as Logpush writes it) or one of the two ``...Ms`` keys (a number of ms)."""
    lines = _generated("cloudflare", len(ms), 5)
    out = []
    for line, v in zip(lines, ms):
        obj = json.loads(line)
        if key == "OriginResponseTime":
            obj[key] = round(v * 1e6)
        else:
            obj[key] = v
        obj["EdgeResponseStatus"] = obj["OriginResponseStatus"] = 200
        out.append(json.dumps(obj, separators=(",", ":")))
    return out


def _traefik_lines(ms: list[float]) -> list[str]:
    lines = _generated("traefik", len(ms), 6)
    out = []
    for line, v in zip(lines, ms):
        obj = json.loads(line)
        obj["OriginDuration"] = round(v * 1e6)
        obj["DownstreamStatus"] = obj["OriginStatus"] = 200
        out.append(json.dumps(obj, separators=(",", ":")))
    return out


def _exact(family: str, lines: list[str]) -> Counter[float]:
    """The rows' timings (the family's column reader, ``frame``), rounded by ``_TIMING``."""
    frame, rest = families().frame(family)(pl.Series("text", lines))  # type: ignore[misc]
    assert rest.len() == 0 and frame.height == len(lines)
    got = frame.select("upstream_ms").with_columns(_TIMING)["upstream_ms"]
    return Counter(got.to_list())


def _folded(family: str, lines: list[str]) -> Counter[float]:
    """The fold's groups' timings, as the accumulator reads them (``_TIMING``), by their rows."""
    fold = families().fold(family)
    assert fold is not None
    _frame, back, folded = fold.block("\n".join(lines).encode())
    assert not back and folded == len(lines)
    counted = fold.take()
    assert counted is not None
    out: Counter[float] = Counter()
    for ms, n in counted.target.with_columns(_TIMING).select("upstream_ms", "n").iter_rows():
        out[ms] += n
    return out


@pytest.mark.parametrize("key", ["OriginResponseTime", "OriginResponseDurationMs",
                                 "OriginResponseHeaderReceiveDurationMs"])
def test_cloudflare_timings_read_at_a_tenth_as_the_rows_round_them(key: str) -> None:
    lines = _cloudflare_lines(_ms_values(11), key)
    assert _folded("cloudflare", lines) == _exact("cloudflare", lines)


def test_traefik_timings_read_at_a_tenth_as_the_rows_round_them() -> None:
    lines = _traefik_lines(_ms_values(12))
    assert _folded("traefik", lines) == _exact("traefik", lines)


def test_groups_of_timings_that_round_alike_are_one() -> None:
    """The point of it: 2,000 distinct nanosecond timings within 0.05 ms of 12.3 ms are one group
    (each of their lines the same but for the timing)."""
    base = json.loads(_cloudflare_lines([1.0], "OriginResponseTime")[0])
    lines = [json.dumps({**base, "OriginResponseTime": 12_260_000 + 40 * k}) for k in range(2000)]
    fold = families().fold("cloudflare")
    assert fold is not None
    fold.block("\n".join(lines).encode())
    # (the groups of its two tables together, ``JsonFold.size``: one timeline group and one
    # per-target group; the rows)
    assert fold.size() == (2, 2000)
    counted = fold.take()
    assert counted is not None and counted.target.select("upstream_ms", "n").rows() == [(12.3, 2000)]


@pytest.mark.parametrize("family", ["cloudflare", "traefik"])
def test_the_document_is_the_rows_own_at_the_ties(family: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ms = _ms_values(13)
    lines = _cloudflare_lines(ms, "OriginResponseTime") if family == "cloudflare" else _traefik_lines(ms)
    doc = _check(_write(tmp_path, lines), family, monkeypatch)
    assert doc["timings"]["p50_ms"] is not None  # type: ignore[index]


def test_a_printed_quantile_is_the_exact_one_rounded() -> None:
    """Rounding keeps the timings' order, so p50 ... max of the rounded timings are the exact
    ones (polars' nearest quantile) rounded -- on 30 random sets, ties and all."""
    rng = random.Random(7)
    for _ in range(30):
        values = [rng.choice(_ms_values(rng.randrange(1000))) for _ in range(rng.randrange(1, 500))]
        df = pl.DataFrame({
            "time": ["2026-11-21T10:00:00Z"] * len(values), "status": [200] * len(values),
            "made_by": ["backend"] * len(values), "code": [None] * len(values),
            "symptom": [None] * len(values), "proxy_status": [None] * len(values),
            "cause": [None] * len(values), "target": ["10.0.0.1:80"] * len(values),
            "group": ["g"] * len(values), "upstream_ms": values, "retries": [0] * len(values),
            "failed": [False] * len(values), "kind": ["access"] * len(values),
        }, schema_overrides={"code": pl.String, "symptom": pl.String, "proxy_status": pl.String,
                             "cause": pl.String})
        doc = compute_lb_stats(df, "cloudflare", lines=len(values), unparsed=0, files=["x"])
        s = pl.Series(values, dtype=pl.Float64)
        want = [s.quantile(q, interpolation="nearest") for q in (0.5, 0.95, 0.99, 1.0)]
        rounded = pl.Series(want, dtype=pl.Float64).round(1).to_list()
        got = [doc["timings"][k] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]
        assert got == [0.0 if v == 0 else v for v in rounded], (values, got, rounded)
