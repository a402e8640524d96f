"""The fold of the native JSON pass (``parsers/lblogs/_jsonscan.c``'s fold,
``parsers/lblogs/jsonfold.py``): the lines of Envoy's, Cloudflare's and Traefik's JSON logs that
``stats`` only counts are grouped in C by the raw values of the keys the family's parser decides
them from (``countspec.JsonFoldSpec``), each group is decided once by the parser, and
``LbStatsAccumulator.add_counted`` sums the groups -- the answer must not change, whichever side
counted a row.

Compared, as the whole ``stats --format json`` document: the fold, the same native reader with
the fold turned off (every row handed over as columns), and the polars-only reader
(``WHY502_NATIVE=0``); on every published and recorded edge line with the bends of
``test_lb_frames`` and ``test_json_native`` (a key twice, escapes, numbers of every kind, nested
values, other families' keys, absent, null, empty and ``-`` values, other time keys...), and on
the bench's generated lines read in small blocks whose groups are taken many times mid-read.
A spec that leaves out a key the parser decides from must change the answer: the comparison
would see it (the sabotages below).
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.stats.test_json_native import _lines
from tests.stats.test_lb_fold import _mode
from tests.support.native import native_pass
from why502.app.stats import lb as lb_app
from why502.parsers.lblogs import counts, jsonfold
from why502.parsers.lblogs.countspec import JsonFoldSpec
from why502.parsers.lblogs.family import LogFamilies
from why502.parsers.lblogs.model import LbRecord
from why502.proxies.caddy import counts as caddy_counts
from why502.proxies.envoy import counts as envoy_counts
from why502.proxies.logfamilies import families
from why502.proxies.traefik import counts as traefik_counts

ROOT = Path(__file__).resolve().parents[2]
BUILT, pytestmark = native_pass("why502.parsers.lblogs._jsonscan", "the native JSON pass")

sys.path.insert(0, str(ROOT / "bench"))
import gen_lb_logs  # noqa: E402  (the bench's lines: bench/gen_lb_logs.py)

FAMILIES = ("envoy", "cloudflare", "traefik", "caddy")
GENERATED = {"envoy": gen_lb_logs.envoy_json, "cloudflare": gen_lb_logs.cloudflare,
             "traefik": gen_lb_logs.traefik_json, "caddy": gen_lb_logs.caddy}


def _stats(path: Path, family: str, mode: str, monkeypatch: pytest.MonkeyPatch, **kw: object) -> str:
    with _mode(mode, monkeypatch):
        return json.dumps(lb_app.lb_stats([str(path)], family, **kw))  # type: ignore[arg-type]


def _check(path: Path, family: str, monkeypatch: pytest.MonkeyPatch, **kw: object) -> dict[str, object]:
    """The three answers are one; that one, parsed."""
    folded = _stats(path, family, "fold", monkeypatch, **kw)
    assert folded == _stats(path, family, "columns", monkeypatch, **kw)
    assert folded == _stats(path, family, "polars", monkeypatch, **kw)
    out: dict[str, object] = json.loads(folded)
    return out


def _folded(family: str, lines: list[str]) -> int:
    """Rows the fold counts of ``lines`` (one block); its take counts as many."""
    fold = families().fold(family)
    assert fold is not None
    _frame, _back, folded = fold.block("\n".join(lines).encode())
    counted = fold.take()
    assert (counted.rows if counted is not None else 0) == folded
    return folded


def _write(tmp: Path, lines: list[str]) -> Path:
    path = tmp / "edge.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("timeout_s", [None, 0.02])
def test_published_recorded_and_bent_lines_give_the_same_answer(
        family: str, timeout_s: float | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every edge line and bend, read as each family (the other families' lines are no rows, or
    the per-line parser's); with a timeout, the near/over counts too."""
    lines = _lines()
    assert _folded(family, lines) > 20  # the fold counted the plain lines
    _check(_write(tmp_path, lines), family, monkeypatch, timeout_s=timeout_s)


def _generated(family: str, n: int, seed: int, rate: float = 2000.0) -> list[str]:
    rng = random.Random(seed)
    return [GENERATED[family](gen_lb_logs.Req(rng, i, rate)) for i in range(n)]


_BENDS: dict[str, tuple[tuple[str, str], ...]] = {
    # (text, replacement): other statuses, flags, details, timings, keys absent or null or "-",
    # the time written as another key or not as a time (those rows are handed over)
    "envoy": (('"response_flags":"-"', '"response_flags":"UH"'),
              ('"response_flags":"-"', '"response_flags":"UF,URX"'),
              ('"response_flags":"-"', '"response_flags":"NR"'),
              ('"response_code_details":"via_upstream"', '"response_code_details":"upstream_reset_before_'
               'response_started{connection_termination}"'),
              ('"response_code_details":"via_upstream"', '"response_code_details":null'),
              ('"upstream_transport_failure_reason":null',
               '"upstream_transport_failure_reason":"TLS_error:x"'),
              ('"upstream_service_time":"', '"upstreamServiceTime":"'),
              ('"upstream_service_time":"', '"x":"'),
              ('"upstream_host":"', '"upstreamHost":"'),
              ('"upstream_cluster":"', '"upstream_cluster":"-","c":"'),
              ('"response_code":', '"responseCode":'),
              ('"response_code":', '"status":'),
              ('"start_time":"', '"startTime":"'),
              ('"start_time":"', '"start_time":"-","t":"'),
              ('"authority":', '"response_duration":null,"authority":'),
              ('"authority":', '"response_duration":"12","authority":'),
              ('"authority":', '"responseDuration":"-","authority":')),
    "cloudflare": (('"EdgeResponseStatus":200', '"EdgeResponseStatus":520'),
                   ('"OriginResponseStatus":200', '"OriginResponseStatus":0'),
                   ('"EdgeResponseStatus":200', '"EdgeResponseStatus":429'),
                   ('"OriginResponseTime":',
                    '"OriginResponseHeaderReceiveDurationMs":12,"OriginResponseTime":'),
                   ('"OriginResponseTime":', '"OriginResponseDurationMs":7.5,"OriginResponseTime":'),
                   ('"OriginResponseTime":', '"x":'),
                   ('"OriginIP":"', '"OriginIP":"","x":"'),
                   ('"ClientRequestHost":"', '"ClientRequestHost":null,"x":"'),
                   ('"EdgeStartTimestamp":"2026-11-21T10:0', '"EdgeStartTimestamp":"2026-11-21T09:5')),
    "traefik": (('"ServiceURL":"', '"ServiceURL":"","x":"'),
                ('"ServiceURL":"', '"ServiceURL":"-","x":"'),
                ('"RouterName":"', '"x":"'),
                ('"RetryAttempts":0', '"RetryAttempts":2'),
                ('"OriginContentSize":11', '"OriginContentSize":12'),
                ('"OriginDuration":', '"x":'),
                ('"ServiceAddr":"', '"ServiceAddr":"","x":"'),
                ('"ServiceName":"', '"x":"'),
                ('"StartUTC":"', '"S":"'),
                ('"StartUTC":"2026-11-21T10:0', '"StartUTC":"2026-11-21T09:5')),
    # Caddy's time is Unix seconds: the minute's edge as fromtimestamp rounds it (59.9999996 s
    # is the next minute; within the lines' three minutes, so first and last stay theirs), whole
    # seconds, a text (before the epoch and past year 9999: test_json_native's bends); another logger (not
    # its error logger: with error lines, ``by_code`` shows theirs, and the access codes' first
    # and last times, which the fold keeps, would not be compared)
    "caddy": (('"status":200', '"status":503'), ('"status":200', '"status":404'),
              ('"size":0', '"size":3'), ('"size":11', '"size":0'),
              ('{"Via":["1.1 Caddy"],"Content-Type":["text/plain"]}', '{"Server":["Caddy"]}'),
              ('{"Server":["Caddy"]}', '{"server":["Caddy"],"X-Up":["1"]}'),
              ('"resp_headers":{', '"resp_headers":null,"r":{'),
              ('"logger":"http.log.access.log0"', '"logger":"http.log.accessx"'),
              ('"host":"', '"host":"","h":"'),
              ('"ts":', '"ts":1795255259.9999996,"t":'), ('"ts":', '"ts":1795255259.9999994,"t":'),
              ('"ts":', '"ts":1795255260,"t":'), ('"ts":', '"ts":"2026-11-21T10:00:00Z","t":'),
              ('"ts":', '"ts":1795255199.5,"t":'), ('"ts":', '"ts":1795255190.25,"t":')),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_generated_lines_in_small_blocks(family: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's lines (a quarter failing), bent here and there, read 16 KB at a time, the
    groups taken whenever a table holds 40 of them: counts summed across many takes, the
    decisions cached across them, first and last times across blocks."""
    lines = _generated(family, 4000, 11, rate=20.0)  # over three minutes: first and last times vary
    rng = random.Random(5)
    bends = _BENDS[family]
    for k in rng.sample(range(len(lines)), 600):
        old, new = bends[rng.randrange(len(bends))]
        lines[k] = lines[k].replace(old, new, 1)
    lines.insert(1000, "not an entry")
    assert _folded(family, lines) > 3000
    path = _write(tmp_path, lines)
    monkeypatch.setattr(lb_app, "FOLD_TAKE_GROUPS", 40)
    got = _check(path, family, monkeypatch, batch_bytes=16 << 10, timeout_s=0.02)
    assert got["5xx"] and got["by_code"] and got["unparsed"]
    assert len(got["groups"]) > 1  # type: ignore[arg-type]
    if family != "caddy":  # (Caddy's access log names no upstream and no upstream time)
        assert len(got["targets"]) > 3 and got["timings"]["p50_ms"] is not None  # type: ignore[arg-type,index]
    # blocks and takes change nothing
    assert got == json.loads(_stats(path, family, "fold", monkeypatch, timeout_s=0.02))


def _without(spec: JsonFoldSpec, key: str) -> JsonFoldSpec:
    return dataclasses.replace(spec, decide=tuple(p for p in spec.decide if p[0] != key),
                               per=tuple(p for p in spec.per if p[0] != key),
                               timing=tuple(p for p in spec.timing if p[0] != key),
                               timing_reads=tuple(k for k in spec.timing_reads if k != key),
                               # (the family's timing expression reads the key's column)
                               timing_of=None if key in (*(p[0] for p in spec.timing), *spec.timing_reads)
                               else spec.timing_of)


@pytest.mark.parametrize(("family", "module", "name", "key"), [
    ("envoy", envoy_counts, "FOLD", "response_flags"),
    ("envoy", envoy_counts, "FOLD", "upstream_host"),
    ("envoy", envoy_counts, "FOLD", "upstream_service_time"),
    ("cloudflare", counts, "CLOUDFLARE_FOLD", "OriginResponseStatus"),
    ("cloudflare", counts, "CLOUDFLARE_FOLD", "OriginResponseTime"),
    ("traefik", traefik_counts, "FOLD", "ServiceURL"),
    ("traefik", traefik_counts, "FOLD", "ServiceName"),
    ("caddy", caddy_counts, "FOLD", "resp_headers"),
    ("caddy", caddy_counts, "FOLD", "request.host"),
])
def test_a_spec_without_a_key_its_parser_reads_changes_the_answer(
        family: str, module: object, name: str, key: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The sabotage the comparisons above must catch: a key left out of the spec."""
    lines = _generated(family, 3000, 2)
    path = _write(tmp_path, lines)
    right = _stats(path, family, "fold", monkeypatch)
    fam = families().get(family)
    assert fam is not None and fam.fold is not None and fam.parse_json is not None
    count = counts.CLOUDFLARE_COUNTS if family == "cloudflare" else fam.counts
    assert count is not None
    parse, spec = fam.parse_json, _without(getattr(module, name), key)
    monkeypatch.setattr(LogFamilies, "fold", lambda self, _name: jsonfold.json_fold(count, spec, parse))
    assert _stats(path, family, "fold", monkeypatch) != right


def test_a_group_its_parser_refuses_is_an_error() -> None:
    """The pass takes no line the family's parser does not read as a request; were one taken,
    its rows could not be counted as the parser's, and the read fails rather than miscounts."""
    decide = jsonfold._Decider(lambda obj: None, ("a",), dict)
    with pytest.raises(ValueError, match="does not read"):
        decide((1,), 1)


@pytest.mark.parametrize("family", ["caddy", "cloudflare", "traefik"])
def test_a_fold_is_read_on_two_lanes(family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``read_lb``'s ``Lanes``: a stats fold takes its second thread once ``FOLD_WIDEN_ROWS`` rows
    were counted -- Cloudflare's and Traefik's nanosecond timings too, now counted at 0.1 ms (until
    stop 58 their groups were nearly the rows, and they stayed on one); the document is the
    rows' own, and the same run after run whatever order the two threads' groups come in."""
    lines = _generated(family, 6000, 17, rate=20.0)
    path = _write(tmp_path, lines)
    monkeypatch.setattr(lb_app, "FOLD_TAKE_GROUPS", 200)
    monkeypatch.setattr(lb_app, "FOLD_WIDEN_ROWS", 800)
    widen = lb_app.Lanes.widen
    calls: list[int] = []

    def counted(self: lb_app.Lanes) -> None:
        calls.append(self.n)
        widen(self)

    monkeypatch.setattr(lb_app.Lanes, "widen", counted)
    # 32 KiB: ~30 (Cloudflare) to ~70 (Caddy) lines a batch, the lanes widened by the 30th batch
    # of 100-200; at 8 KiB the test read 350-820 batches a run, each paying a batch's fixed cost
    runs = {_stats(path, family, "fold", monkeypatch, batch_bytes=32 << 10) for _ in range(3)}
    assert calls, calls
    assert len(runs) == 1
    assert runs == {_stats(path, family, "polars", monkeypatch, batch_bytes=32 << 10)}


@pytest.mark.parametrize("family", FAMILIES)
def test_lines_over_many_hours_in_small_blocks(family: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The timeline's groups are decided in two parts, the other values once and each minute
    once (``_Decider.timed``), and joined back: over ~11 hours of lines (a minute's few lines
    each, the same values in many minutes), bent as above, taken many times mid-read on two
    lanes -- the document is the rows' own.  (The bench's logs span ~8 minutes; a day's log,
    decided a group at a time, was 5x slower: BENCHMARKS.md stop 72.)"""
    lines = _generated(family, 4000, 23, rate=0.1)
    rng = random.Random(7)
    bends = _BENDS[family]
    for k in rng.sample(range(len(lines)), 400):
        old, new = bends[rng.randrange(len(bends))]
        lines[k] = lines[k].replace(old, new, 1)
    path = _write(tmp_path, lines)
    monkeypatch.setattr(lb_app, "FOLD_TAKE_GROUPS", 150)
    monkeypatch.setattr(lb_app, "FOLD_WIDEN_ROWS", 400)
    got = _check(path, family, monkeypatch, batch_bytes=32 << 10)
    assert len(got["timeline"]) > 600  # type: ignore[arg-type]
    assert got["5xx"] and got["by_code"]


def test_a_timeline_group_is_decided_as_its_values_and_its_time() -> None:
    """``timed``: a group's record is the one of its other values, its time the parser's text
    of its own time -- whichever group came first for each -- and the parser is asked once per
    new combination or new time, not once per group."""
    asked: list[dict[str, object]] = []

    def parse(obj: dict[str, Any]) -> LbRecord:
        asked.append(obj)
        status = int(obj["s"])
        return LbRecord(family="x", status=status, made_by="lb" if obj.get("u") is None else "backend",
                        time=f"T{obj['t']}")

    decide = jsonfold._Decider(parse, ("s", "u", "t"), dict)
    whole = jsonfold._Decider(parse, ("s", "u", "t"), dict)
    groups = [((s, u, t), present) for s in (200, 502) for u in ("a", None) for t in range(5)
              for present in (0b111, 0b101)]
    for values, present in groups:
        rec, text = decide.timed(values, present)
        want = whole(values, present)
        assert (rec.status, rec.made_by, text) == (want.status, want.made_by, want.time)
    assert len(asked) - len(groups) <= 2 * 2 * 2 + 5  # (``whole``'s: one per group)


def test_the_folds_of_one_read_share_their_decisions() -> None:
    """Two lanes' folds of one read (``FoldPerThread``, a fold per thread) keep one cache of
    decided groups: each saw the same groups and decided them again (two 1M-line Traefik JSON
    folds: 4,320 decisions each, the same ones); another read's folds keep their own."""
    import threading

    from why502.parsers.lblogs.fold import FoldPerThread

    lines = "\n".join(_generated("traefik", 500, 3)).encode()
    reads = [FoldPerThread(lambda: families().fold("traefik")) for _ in range(2)]
    for read in reads:
        for _ in range(2):  # a fold on each of two threads
            t = threading.Thread(target=read.block, args=(lines,))
            t.start()
            t.join()
    caches = [[fold.json.timeline.cache for fold in read.folds] for read in reads]  # type: ignore[attr-defined]
    assert all(len(c) == 2 for c in caches)
    assert caches[0][0] is caches[0][1] and caches[1][0] is caches[1][1]
    assert caches[0][0] is not caches[1][0]
    for read in reads:
        first, second = read.folds
        assert first.json.per.cache is second.json.per.cache  # type: ignore[attr-defined]
        assert first.json.timeline.times is second.json.timeline.times  # type: ignore[attr-defined]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_fold_is_as_big_as_its_tables_together(family: str) -> None:
    """``JsonFold.size``: the groups of its timeline and per-target tables together, what its
    memory holds -- a take bounded by the largest let two full tables of Traefik's long keys
    hold 364 MB on a day's log (BENCHMARKS.md stop 72).  Each table's frame has a row per group."""
    fold = families().fold(family)
    assert fold is not None
    fold.block("\n".join(_generated(family, 3000, 31, rate=0.2)).encode())
    groups, rows = fold.size()
    counted = fold.take()
    assert counted is not None and counted.rows == rows
    assert counted.timeline.height > 100 and counted.target.height > 0
    assert groups == counted.timeline.height + counted.target.height
