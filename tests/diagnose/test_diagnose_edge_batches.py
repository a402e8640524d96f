"""``diagnose --access-log`` on an edge log counts a batch at a time and gives the evidence that
counting line by line gives.

``app.diagnose.lb._count_batches`` counts the requests that answered together (``Answered``)
and the batch's other rows together too (``evidence.lb_rows``; a batch of few such rows sends
each through ``LbEvidence.add`` in line order: the ``together`` fixture runs both ways), then
restores what the order of the lines decides: which target answered before it failed, whether
one answered after a failure, its last answer's time, and the order of every table
(``LbEvidence.reserve``).  Here
the whole report (findings, evidence, notes; timing fields dropped) is compared with the
line-by-line count -- the code before the change, still run for ``--since`` and mixed families
-- on every published and recorded edge line of each family, and on ALB logs built so that a
target answers, fails and answers again inside one batch and across batches of a few lines.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stats.test_lb_frames import _corpus
from tests.support.reports import without_timing
from why502.app.diagnose import lb as diagnose_lb
from why502.app.stats import lb as stats_lb
from why502.cli.main import main
from why502.proxies.logfamilies import families

ALB = ("https 2026-11-21T10:{m:02d}:{s:02d}.{us:06d}Z app/lb/1 192.0.2.{c}:4431 {target} 0.000 {tp} "
       '0.000 {st} {tst} 34 366 "GET https://www.example.com:443/{path} HTTP/1.1" "curl/8" ECDHE TLSv1.2 '
       "arn:aws:elasticloadbalancing:us-east-2:1:targetgroup/{group}/73e2 \"Root=1-1\" \"www.example.com\" "
       '"-" 0 2026-11-21T10:{m:02d}:{s:02d}.{us:06d}Z "forward" "-" "-" "{target}" "{tst}" "-" "-"')


@pytest.fixture(params=["records-below-256", "rows-always"])
def together(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Both ways a batch counts its other rows: a record each through ``LbEvidence.add`` (a few
    rows), or together as a frame (``evidence.lb_rows``; forced here on every batch, however
    small).  Yields the rows counted together, so a test can tell the second way ran."""
    counted: list[int] = []
    if request.param == "rows-always":
        from why502.evidence import lb_rows

        real = lb_rows.add_rows
        monkeypatch.setattr(stats_lb, "GROUPED_MIN_ROWS", 0)

        def spy(ev: Any, rows: Any, *args: Any) -> None:
            counted.append(rows.height)
            real(ev, rows, *args)
        monkeypatch.setattr(lb_rows, "add_rows", spy)
    yield counted
    if request.param == "rows-always":  # (a batch whose rows --since dropped counts 0 of them)
        assert counted, "no batch counted its rows together"


def _diagnose(log: Path, *extra: str) -> tuple[int, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["diagnose", "--offline", "--access-log", str(log), *extra, "--format", "json"])
    return code, without_timing(json.loads(out.getvalue())) if out.getvalue().strip() else None


def _both(log: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[Any, Any]:
    batched = _diagnose(log, *extra)
    with monkeypatch.context() as m:
        m.setattr(diagnose_lb, "_count_batches", lambda *_a, **_k: (0, 0))  # line by line
        by_line = _diagnose(log, *extra)
    return batched, by_line


def _family_lines(family: str) -> list[str]:
    fams = families()
    return [line for line in _corpus() if fams.parse_line(line, family) is not None]


@pytest.mark.parametrize("family", ["alb", "cloudflare", "envoy", "caddy", "traefik"])
def test_every_published_line_gives_the_same_report(family: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     together: list[int]) -> None:
    lines = _family_lines(family)
    if family == "alb":
        lines = [str(json.loads(r)["line"]) for name in ("cloud/alb.jsonl", "edge-field/alb.jsonl")
                 for r in (Path(__file__).resolve().parents[1] / "fixtures" / name).read_text().splitlines()]
    assert len(lines) >= 8
    log = tmp_path / f"{family}.log"
    log.write_text("\n".join([*lines, "", "not a line of any edge", *lines]) + "\n", encoding="utf-8")
    monkeypatch.setattr(stats_lb, "VECTOR_BATCH_BYTES", 4096)  # many batches
    batched, by_line = _both(log, monkeypatch, "--log-type", family)
    assert batched[1] is not None
    assert batched == by_line


def _alb_log(rng: random.Random, n: int) -> list[str]:
    """ALB lines of five targets (and none: a 503 with no target) that answer, fail and answer
    again, times sometimes out of order, statuses in a shuffled first-seen order."""
    out = []
    for i in range(n):
        target = rng.choice(["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80", "10.0.0.5:80",
                             "-"])
        kind = rng.random()
        if target == "-":
            st, tst, tp = "503", "-", "-1"
        elif kind < 0.55:
            st = tst = rng.choice(["200", "201", "304", "404", "302"])
            tp = f"0.{rng.randint(1, 999):03d}"
        elif kind < 0.75:
            st, tst, tp = "502", "-", "-1"
        elif kind < 0.85:
            st, tst, tp = "504", "-", "60.001"
        else:
            st = tst = rng.choice(["500", "503"])
            tp = "0.010"
        sec = i // 7 + (rng.randint(-3, 3) if rng.random() < 0.1 else 0)
        out.append(ALB.format(m=(sec // 60) % 60, s=sec % 60, us=rng.randint(0, 999999), c=i % 250,
                              target=target, tp=tp, st=st, tst=tst, path=f"p{i}",
                              group=rng.choice(["api", "web"])))
    return out


@pytest.mark.parametrize("batch", [600, 4096, 1 << 20])
def test_answers_and_failures_interleaved_in_a_batch_give_the_same_report(
        batch: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(batch)
    log = tmp_path / "alb.log"
    log.write_text("\n".join(_alb_log(rng, 3000)) + "\n", encoding="utf-8")
    monkeypatch.setattr(stats_lb, "VECTOR_BATCH_BYTES", batch)
    batched, by_line = _both(log, monkeypatch)
    assert batched[1]["findings"], batched
    assert batched == by_line


def test_a_target_that_stopped_is_found_by_the_batch_count(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The finding that depends on order most: a target that answered, then failed every
    request, inside one batch (its answers counted together after its failures)."""
    lines = []
    for i in range(400):
        stopped = i >= 200
        target = "10.0.0.9:80" if i % 2 else "10.0.0.1:80"
        st = "502" if stopped and target == "10.0.0.9:80" else "200"
        lines.append(ALB.format(m=i // 60, s=i % 60, us=0, c=1, target=target,
                                tp="-1" if st == "502" else "0.010", st=st, tst="-" if st == "502" else st,
                                path="x", group="api"))
    log = tmp_path / "alb.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    batched, by_line = _both(log, monkeypatch)
    assert batched == by_line
    assert any("10.0.0.9" in json.dumps(f) for f in batched[1]["findings"])


def _ordered(value: Any) -> Any:
    """A dict as the list of its items, recursively: two evidences are equal only with their
    tables in the same order."""
    if isinstance(value, dict):
        return [(k, _ordered(v)) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [_ordered(v) for v in value]
    return value


def _evidence(paths: list[str], family: str, batched: bool, cutoff: dt.datetime | None = None) -> Any:
    import dataclasses

    from why502.evidence.lb_evidence import LbEvidence

    evs: dict[str, LbEvidence] = {family: LbEvidence(family=family)}
    if batched:
        counted = diagnose_lb._count_batches(paths, family, evs, None, cutoff)
    else:
        counted = (0, 0)
        for path, n, text, rec in stats_lb.iter_records(paths, family):
            counted = (counted[0] + 1, counted[1] + (rec is None))
            if rec is not None and cutoff is not None and rec.time and diagnose_lb._before(rec.time, cutoff):
                continue
            if rec is not None:
                ev = evs.get(rec.family) or evs.setdefault(rec.family, LbEvidence(family=rec.family))
                ev.add(rec, path, n, text)
    return counted, {k: _ordered(dataclasses.asdict(v)) for k, v in evs.items()}


@pytest.mark.parametrize("batch", [600, 4096, 1 << 20])
def test_the_evidence_itself_is_the_same_in_every_field_and_order(batch: int, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  together: list[int]) -> None:
    """Stronger than the report: every field of every target's life (answered before it failed,
    answered after a failure, its last answer's time), every counter and its order."""
    rng = random.Random(batch + 1)
    log = tmp_path / "alb.log"
    log.write_text("\n".join(_alb_log(rng, 2000)) + "\n", encoding="utf-8")
    monkeypatch.setattr(stats_lb, "VECTOR_BATCH_BYTES", batch)
    assert _evidence([str(log)], "alb", True) == _evidence([str(log)], "alb", False)


@pytest.mark.parametrize("most", [0, 400])
def test_batches_counted_together_give_the_same_evidence(most: int, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         together: list[int]) -> None:
    """``_count_batches`` counts consecutive batches of a file as one while their rows stay
    within ``COUNTED_ROWS`` (``RecordBatch.joined``: every later part's places shifted): one at
    a time (0), or several, over two files (a batch of the second file is never joined to one
    of the first), the evidence is the line-by-line count's."""
    rng = random.Random(most + 40)
    lines = _alb_log(rng, 2400)
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_text("\n".join(lines[:1300]) + "\n\n", encoding="utf-8")  # (an empty line: a place)
    second.write_text("\n".join(lines[1300:]) + "\n", encoding="utf-8")
    monkeypatch.setattr(stats_lb, "VECTOR_BATCH_BYTES", 1500)
    monkeypatch.setattr(diagnose_lb, "COUNTED_ROWS", most)
    joined: list[list[tuple[str, int]]] = []
    real = stats_lb.RecordBatch.joined

    def spy(parts: Any) -> Any:
        joined.append([(p.path, p.counted) for p in parts])
        return real(parts)
    monkeypatch.setattr(stats_lb.RecordBatch, "joined", staticmethod(spy))
    paths = [str(first), str(second)]
    assert _evidence(paths, "alb", True) == _evidence(paths, "alb", False)
    assert joined and {p[0][0] for p in joined} == set(paths)
    assert all(len({path for path, _n in p}) == 1 for p in joined)
    assert all(len(p) == 1 or sum(n for _path, n in p) <= most for p in joined)
    assert (max(len(p) for p in joined) > 1) == (most > 0)


def test_a_joined_batch_keeps_every_line_at_its_place() -> None:
    """``RecordBatch.joined``: a later part's rows, other lines, texts and answers' groups
    shifted by its first line's distance from the first part's; parts of two files refused."""
    import polars as pl

    from why502.parsers.lblogs.batch import empty_records

    def part(first_line: int, idx: int) -> stats_lb.RecordBatch:
        answered = empty_records().clear(1).with_columns(pl.lit(idx, pl.UInt32).alias("idx"))
        answers = pl.DataFrame({"status": [200], "_minute": ["m"], "_key": ["t"], "len": [2],
                                "_first": [idx], "_last": [idx + 1], "_time": ["x"], "_lo": ["x"],
                                "_hi": ["x"]}, schema_overrides={"_first": pl.UInt32, "_last": pl.UInt32})
        return stats_lb.RecordBatch("f.log", first_line, answered, [(idx + 2, "text", None)],
                                    rows=pl.DataFrame({"idx": [idx + 3]}, schema={"idx": pl.UInt32}),
                                    texts={idx + 3: "three"}, dropped=1, answers=answers)
    one, two = part(1, 0), part(11, 4)
    got = stats_lb.RecordBatch.joined([one, two])
    assert got.first_line == 1 and got.path == "f.log"
    assert got.answered["idx"].to_list() == [0, 14] and got.answered.schema == one.answered.schema
    assert [o[0] for o in got.others] == [2, 16]
    assert got.rows is not None and got.rows["idx"].to_list() == [3, 17]
    assert got.texts == {3: "three", 17: "three"}
    assert got.answers is not None and got.answers["_first"].to_list() == [0, 14]
    assert got.answers["_last"].to_list() == [1, 15] and got.answers.schema == one.answers.schema  # type: ignore[union-attr]
    assert got.dropped == 2 and got.lines == one.lines + two.lines
    assert stats_lb.RecordBatch.joined([one]) is one
    with pytest.raises(ValueError, match="one file"):
        stats_lb.RecordBatch.joined([one, stats_lb.RecordBatch("g.log", 11, two.answered, [])])


@pytest.mark.parametrize("family", ["alb", "cloudflare", "envoy", "caddy", "traefik"])
def test_the_evidence_of_the_published_lines_is_the_same(family: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          together: list[int]) -> None:
    lines = _family_lines(family)
    rng = random.Random(7)
    shuffled = [rng.choice(lines) for _ in range(400)] if lines else []
    log = tmp_path / f"{family}.log"
    log.write_text("\n".join([*lines, *shuffled]) + "\n", encoding="utf-8")
    monkeypatch.setattr(stats_lb, "VECTOR_BATCH_BYTES", 2048)
    assert _evidence([str(log)], family, True) == _evidence([str(log)], family, False)


def test_an_answer_after_a_failure_in_one_batch(tmp_path: Path, together: list[int]) -> None:
    """A target that fails, then answers, both in one batch: the answer is counted together
    with the batch's others after the failure went through ``add`` -- it must still mark the
    target as answering after a failure, and only the second target answered before failing."""
    rows = [("10.0.0.1:80", "502"), ("10.0.0.1:80", "200"), ("10.0.0.2:80", "200"),
            ("10.0.0.2:80", "502")]
    lines = [ALB.format(m=0, s=i, us=0, c=1, target=t, tp="-1" if st == "502" else "0.010", st=st,
                        tst="-" if st == "502" else st, path="x", group="api")
             for i, (t, st) in enumerate(rows)]
    log = tmp_path / "alb.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    batched = _evidence([str(log)], "alb", True)
    assert batched == _evidence([str(log)], "alb", False)
    lives = dict(dict(batched[1]["alb"])["targets"])
    assert dict(lives["10.0.0.1:80"])["ok_after_failure"] is True
    assert dict(lives["10.0.0.1:80"])["first_failed_after_ok"] is None
    assert dict(lives["10.0.0.2:80"])["first_failed_after_ok"] == "2026-11-21T10:00:03.000000Z"


@pytest.mark.parametrize("batch", [600, 1 << 20])
def test_since_gives_the_same_evidence_and_report(batch: int, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``--since``: a line written before it is a line and nothing else; the answered rows are
    dropped together when their time is one the batch count reads as ``_before`` does, the
    others (another form of time, a date that does not exist) judged line by line."""
    rng = random.Random(batch + 2)
    lines = _alb_log(rng, 2000)
    odd = [lines[5].replace("2026-11-21T10:00:0", "2026-11-21 10:00:0", 1),
           lines[6].replace("2026-11-21T10:00:0", "2026-02-30T10:00:0", 1),
           lines[7].replace(".", ".9", 1),  # seven digits of fraction
           *(" ".join([line.split(" ", 2)[0], "2026-11-21T10:02:00.500000Z", line.split(" ", 2)[2]])
             for line in lines[8:12])]  # at the cutoff: not before it
    log = tmp_path / "alb.log"
    log.write_text("\n".join([*lines[:1000], *odd, *lines[1000:]]) + "\n", encoding="utf-8")
    monkeypatch.setattr(stats_lb, "VECTOR_BATCH_BYTES", batch)
    for cutoff in (dt.datetime(2026, 11, 21, 10, 2, 0, 500000, tzinfo=dt.timezone.utc),
                   dt.datetime(2026, 11, 21, 11, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))):
        assert _evidence([str(log)], "alb", True, cutoff) == _evidence([str(log)], "alb", False, cutoff)
    batched, by_line = _both(log, monkeypatch, "--since", "2026-11-21T10:02:00Z")
    assert batched[1]["findings"] and batched == by_line


@pytest.mark.parametrize("family", ["alb", "cloudflare", "envoy", "caddy", "traefik"])
def test_since_on_the_published_lines(family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      together: list[int]) -> None:
    lines = _family_lines(family)
    log = tmp_path / f"{family}.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(stats_lb, "VECTOR_BATCH_BYTES", 2048)
    for cutoff in (dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
                   dt.datetime(2026, 11, 22, tzinfo=dt.timezone.utc)):
        assert _evidence([str(log)], family, True, cutoff) == _evidence([str(log)], family, False, cutoff)


@pytest.mark.parametrize("batch", [4096, 1 << 20])
def test_the_bounds_of_the_kept_lists_are_the_same(batch: int, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   together: list[int]) -> None:
    """Each failure group keeps its first samples, targets with times and times per target, in
    line order, and its longest duration: made small, the lists fill within a batch and across
    batches (a block holds ~160 of these lines: a target fails ~6 times in one, its 9 times span
    two)."""
    from why502.evidence import lb_evidence

    for name, value in (("TARGET_TIMES", 9), ("TARGETS_TIMED", 2), ("SAMPLES_KEPT", 2)):
        monkeypatch.setattr(lb_evidence, name, value)
    rng = random.Random(batch + 3)
    log = tmp_path / "alb.log"
    log.write_text("\n".join(_alb_log(rng, 1500)) + "\n", encoding="utf-8")
    monkeypatch.setattr(stats_lb, "VECTOR_BATCH_BYTES", batch)
    batched = _evidence([str(log)], "alb", True)
    assert batched == _evidence([str(log)], "alb", False)
    groups = dict(dict(batched[1]["alb"])["failures"])
    assert any(len(dict(g)["target_times"]) == 2 for g in groups.values())
    assert any(dict(g)["worst_ms"] is not None for g in groups.values())


def test_a_backend_5xx_after_a_failure_in_an_earlier_batch(tmp_path: Path, together: list[int]) -> None:
    """A target the load balancer failed in one batch whose next lines are only its own 5xx
    (made by the backend: an answer, to its life) and no answered request: it answered after a
    failure, which only the target's earlier failures can tell."""
    logs = []
    for part, (st, tst, tp) in enumerate((("502", "-", "-1"), ("500", "500", "0.010"))):
        lines = [ALB.format(m=part, s=i % 60, us=i, c=1, target="10.0.0.7:80", tp=tp, st=st, tst=tst,
                            path="x", group="api") for i in range(300)]
        logs.append(tmp_path / f"alb-{part}.log")  # (a batch never spans two files)
        logs[-1].write_text("\n".join(lines) + "\n", encoding="utf-8")
    paths = [str(p) for p in logs]
    batched = _evidence(paths, "alb", True)
    assert batched == _evidence(paths, "alb", False)
    assert dict(dict(dict(batched[1]["alb"])["targets"])["10.0.0.7:80"])["ok_after_failure"] is True


def test_details_that_name_each_request_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    together: list[int]) -> None:
    """Cloudflare's detail names the request ("RayID ..."): its table per failure group holds the
    first ``DETAILS_KEPT`` distinct ones (a table of every one grew with the log), the same
    whichever way the rows are counted."""
    import re

    from why502.evidence import lb_evidence

    monkeypatch.setattr(lb_evidence, "DETAILS_KEPT", 5)
    lines = [line for line in _family_lines("cloudflare") if '"RayID":"' in line]
    assert lines
    rng = random.Random(11)
    made = [re.sub(r'"RayID":"[^"]*"', f'"RayID":"{i:016x}"', rng.choice(lines)) for i in range(600)]
    log = tmp_path / "cloudflare.log"
    log.write_text("\n".join(made) + "\n", encoding="utf-8")
    monkeypatch.setattr(stats_lb, "VECTOR_BATCH_BYTES", 16 << 10)
    batched = _evidence([str(log)], "cloudflare", True)
    assert batched == _evidence([str(log)], "cloudflare", False)
    groups = dict(dict(batched[1]["cloudflare"])["failures"])
    assert groups and all(len(dict(g)["details"]) <= 5 for g in groups.values())
    assert any(len(dict(g)["details"]) == 5 for g in groups.values())


@pytest.mark.parametrize("batch", [16 << 10, 1 << 20])
def test_a_full_table_of_details_still_counts_the_ones_it_has(batch: int, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               together: list[int]) -> None:
    """A failure group's table of details, once full, goes on counting the details it holds
    when they come again (``FailureGroup.count_detail``): counted together, the rows of a full
    group are cut to its details before they are grouped, never dropped."""
    import re

    from why502.evidence import lb_evidence

    monkeypatch.setattr(lb_evidence, "DETAILS_KEPT", 5)
    lines = [line for line in _family_lines("cloudflare") if '"RayID":"' in line]
    rng = random.Random(12)
    made = [re.sub(r'"RayID":"[^"]*"', f'"RayID":"{i % 8:016x}"', rng.choice(lines)) for i in range(800)]
    log = tmp_path / "cloudflare.log"
    log.write_text("\n".join(made) + "\n", encoding="utf-8")
    monkeypatch.setattr(stats_lb, "VECTOR_BATCH_BYTES", batch)
    batched = _evidence([str(log)], "cloudflare", True)
    assert batched == _evidence([str(log)], "cloudflare", False)
    groups = dict(dict(batched[1]["cloudflare"])["failures"])
    # (dataclasses.asdict makes a Counter of its (key, count) pairs: each pair is a key, once)
    sums = [sum(n for (_detail, n), _once in dict(g)["details"]) for g in groups.values()]
    assert sums and max(sums) > 20  # the details kept go on being counted after the table filled


@pytest.mark.parametrize("batch", [4096, 1 << 20])
def test_targets_past_the_bound_are_counted_in_the_totals_only(batch: int, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               together: list[int]) -> None:
    """A log of a target per line: the first ``TARGETS_KEPT`` distinct targets have a life and a
    count per failure group, the others only the totals (a life of each took 1M such lines to
    ~500 MB) -- the same whichever way the rows are counted, with a note."""
    from why502.evidence import lb_evidence

    monkeypatch.setattr(lb_evidence, "TARGETS_KEPT", 40)
    rng = random.Random(batch + 5)
    lines = [ALB.format(m=i // 60 % 60, s=i % 60, us=i, c=1, target=f"10.0.{i // 250}.{i % 250}:80",
                        tp=rng.choice(["0.010", "-1"]), st=st, tst=tst, path="x", group="api")
             for i, (st, tst) in enumerate(rng.choice([("200", "200"), ("502", "-"), ("503", "503")])
                                           for _ in range(900))]
    log = tmp_path / "alb.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(stats_lb, "VECTOR_BATCH_BYTES", batch)
    batched = _evidence([str(log)], "alb", True)
    assert batched == _evidence([str(log)], "alb", False)
    ev = dict(batched[1]["alb"])
    assert len(ev["targets"]) == 40 and ev["targets_capped"] is True
    assert ev["requests"] == 900
    assert all(len(dict(g)["targets"]) <= 40 for g in dict(ev["failures"]).values())
    _code, report = _diagnose(log)
    notes = report["diagnostics"]
    assert any("more than 40 distinct targets" in str(d) for d in notes), notes


def test_the_longest_wait_is_the_longest_of_every_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           together: list[int]) -> None:
    """A group of timeouts says how long its requests waited: the longest of all of them, however
    late in the log it comes (it was the longest of the first 100,000 kept, each a float), the
    same through the batches and line by line."""
    lines = []
    for k in range(3000):
        wait = 60000 + (k % 97) if k != 2711 else 91234
        lines.append(json.dumps({
            "start_time": f"2026-11-21T10:{k // 60 % 60:02d}:{k % 60:02d}.000Z", "method": "GET",
            "path": "/a", "response_code": 504, "response_flags": "UT",
            "response_code_details": "upstream_response_timeout", "duration": wait,
            "upstream_host": f"10.0.0.{k % 5}:8080", "upstream_cluster": "shop"},
            separators=(",", ":")))
    log = tmp_path / "envoy.json.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    batched, by_line = _both(log, monkeypatch)
    assert batched == by_line
    text = json.dumps(batched[1])
    assert "waited up to 91.23s" in text


@pytest.mark.parametrize("family", ["alb", "cloudflare", "envoy", "traefik"])
def test_lines_over_many_hours_give_the_same_evidence(family: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      together: list[int]) -> None:
    """A batch of a day's log spans many minutes, and its rows are counted by minute apart from
    their other values (``lb_rows.Tally.minutes``: with the minute among them the groups were
    ~30x as many, BENCHMARKS.md stop 72): the bench's lines over ~11 hours, in 64 KiB batches,
    give the line-by-line count's evidence, every table in the same order."""
    from tests.stats.test_json_fold import gen_lb_logs  # (bench/gen_lb_logs.py, on the path there)

    make = {"alb": gen_lb_logs.alb, "cloudflare": gen_lb_logs.cloudflare, "envoy": gen_lb_logs.envoy_json,
            "traefik": gen_lb_logs.traefik_json}[family]
    rng = random.Random(13)
    log = tmp_path / "edge.log"
    lines = [make(gen_lb_logs.Req(rng, i, 0.05)) for i in range(2000)]  # 20 s apart
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(stats_lb, "VECTOR_BATCH_BYTES", 64 << 10)
    batched = _evidence([str(log)], family, True)
    assert batched == _evidence([str(log)], family, False)
    assert len(dict(batched[1][family])["per_minute"]) > 100
