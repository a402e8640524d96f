"""``why502 classify``'s summary of a load balancer / proxy log, counted as ``stats`` reads the
log (``app.stats.lbsummary``): the failures the native passes count in their folds
(``BlockFold.codes_only``: the deciding values of each group with its least and greatest time,
each group decided once by the family's parser), the rows they hand over counted by polars,
the lines no parser takes read by the classify rules -- the answer must be the row path's
(``lb.classify_lb``, a record per failure, which ``--format jsonl`` and ``--since`` keep).

Compared, as (symptom, code, status, count, first, last) in the order shown: the fold, the same
native readers with the fold off, the polars-only readers (``WHY502_NATIVE=0``) and the row path;
on every published and recorded edge line with ``test_json_native``'s bends and the published
ALB entries, on the bench's generated lines read in small blocks with the groups taken
many times mid-read, and through the CLI on every recorded edge log.  A spec that leaves out a
key the parser decides from must change the answer (the sabotage below).
"""

from __future__ import annotations

import dataclasses
import functools
import random
import sys
import threading
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import RunMain
from tests.stats.test_alb_native import _published as _alb_published
from tests.stats.test_json_fold import _write
from tests.stats.test_json_native import _lines
from tests.stats.test_lb_fold import _mode
from tests.support.native import native_pass
from why502.app.stats import lb as lb_app
from why502.app.stats import lbsummary
from why502.parsers.errorlog import classify_line
from why502.parsers.lblogs import jsonfold
from why502.parsers.lblogs.family import LogFamilies
from why502.parsers.lblogs.fold import Counted, FoldPerThread
from why502.proxies.envoy import counts as envoy_counts
from why502.proxies.logfamilies import families

ROOT = Path(__file__).resolve().parents[2]
BUILT, pytestmark = native_pass("why502.parsers.lblogs._jsonscan", "the native JSON pass")
RECORDED = ROOT / "tests" / "fixtures" / "cloud"

sys.path.insert(0, str(ROOT / "bench"))
import gen_lb_logs  # noqa: E402  (the bench's lines: bench/gen_lb_logs.py)

FAMILIES = ("alb", "envoy", "cloudflare", "traefik", "caddy")
GENERATED = {"alb": gen_lb_logs.alb, "envoy": gen_lb_logs.envoy_json, "cloudflare": gen_lb_logs.cloudflare,
             "traefik": gen_lb_logs.traefik_json, "caddy": gen_lb_logs.caddy,
             # the text formats, the two kinds of lines of one log
             "envoy-text": gen_lb_logs.envoy, "istio": gen_lb_logs.istio}
#: the text lines bent where the native text pass must hand a line back or read it as the
#: parser does: a flag below 500, no three integers, an absent or dashed host, other flags
_TEXT_BENDS = ((" 200 - ", " 200 UT "), (" 404 - ", " 404 NR "), (" 0 98 ", " x 98 "),
               ("] \"", "] \"\"x\" "), (" 503 UH ", " 503 UF,URX "), (" 502 UF,URX ", " 502 - "),
               ('"-"', '"10.0.0.1:80"'), (" 200 - ", " 503 - "))

Shown = list[tuple[tuple[str, str, str], int, str | None, str | None]]


def _shown(summary: lbsummary.LbSummary) -> Shown:
    return [(key, t.n, t.first, t.last) for key, t in summary.ranked()]


def _folded(path: Path, family: str, mode: str, monkeypatch: pytest.MonkeyPatch, **kw: int) -> Shown:
    with _mode(mode, monkeypatch):
        return _shown(lbsummary.summarize_lb([str(path)], family, **kw))


def _rows(path: Path, family: str) -> Shown:
    return _shown(lbsummary.summary_of_rows(lb_app.classify_lb([str(path)], family)))


def _check(path: Path, family: str, monkeypatch: pytest.MonkeyPatch, **kw: int) -> Shown:
    """The four answers are one; that one.  (The classify rules' reading of a line the family
    does not read is the same function on the same text every time: read once per test, the
    other families' ~1 KB lines cost ~1 ms each.)"""
    rules = functools.cache(classify_line)
    monkeypatch.setattr(lbsummary, "classify_line", rules)
    monkeypatch.setattr(lb_app, "classify_line", rules)
    got = _folded(path, family, "fold", monkeypatch, **kw)
    assert got == _rows(path, family)
    assert got == _folded(path, family, "columns", monkeypatch, **kw)
    assert got == _folded(path, family, "polars", monkeypatch, **kw)
    return got


@pytest.mark.parametrize("family", FAMILIES)
def test_published_recorded_and_bent_lines(family: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every edge line and bend (and the ALB's published entries), read as each family: the other
    families' lines are the classify rules' or nothing."""
    lines = [*_lines(), *_alb_published()]
    got = _check(_write(tmp_path, lines), family, monkeypatch)
    assert sum(n for _k, n, _f, _l in got) > 10


def _generated(family: str, n: int, seed: int, rate: float = 20.0) -> list[str]:
    rng = random.Random(seed)
    return [GENERATED[family](gen_lb_logs.Req(rng, i, rate)) for i in range(n)]


@pytest.mark.parametrize("kind", [*FAMILIES, "envoy-text", "istio"])
def test_generated_lines_in_small_blocks(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's lines (a quarter failing, over three minutes: first and last times vary),
    read 16 KB at a time with the groups taken whenever a table holds 40 of them, with an
    error page pasted in: counts summed across many takes, times across blocks.  Envoy's text
    lines bent, with some of its JSON lines among them."""
    family = "envoy" if kind in ("envoy-text", "istio") else kind
    lines = _generated(kind, 3000, 7)
    if family != kind:
        rng = random.Random(9)
        for k in rng.sample(range(len(lines)), 500):
            old, new = _TEXT_BENDS[rng.randrange(len(_TEXT_BENDS))]
            lines[k] = lines[k].replace(old, new, 1)
        lines[::10] = _generated("envoy", len(lines[::10]), 8)
        for _ in range(300):  # out of time order here and there (several workers write a log)
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        fold = families().fold("envoy")
        assert fold is not None
        fold.codes_only()
        assert fold.block("\n".join(lines).encode())[2] > 2000  # the text pass took them
    lines[1500:1500] = ["2026/11/21 10:00:01 [error] 7#7: *1 connect() failed (111: Connection refused) "
                        "while connecting to upstream, client: 10.0.0.1, server: x, request: \"GET / "
                        "HTTP/1.1\", upstream: \"http://10.0.0.9:80/\"", "not an entry"]
    path = _write(tmp_path, lines)
    monkeypatch.setattr(lb_app, "FOLD_TAKE_CODES_GROUPS", 40)  # (the summary's bound)
    got = _check(path, family, monkeypatch, batch_bytes=16 << 10)
    assert len(got) >= 2 and all(first and last for _k, _n, first, last in got)
    assert any(key[0] == "connection-refused" and key[1] == "-" for key, *_ in got)  # the rules' row
    assert got == _folded(path, family, "fold", monkeypatch)  # blocks and takes change nothing


def test_a_spec_without_a_key_its_parser_reads_changes_the_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sabotage the comparisons above must catch: the codes' table keyed without a key the
    parser decides a failure from."""
    path = _write(tmp_path, _generated("envoy", 3000, 2))
    right = _folded(path, "envoy", "fold", monkeypatch)
    fam = families().get("envoy")
    assert fam is not None and fam.counts is not None and fam.parse_json is not None
    count, parse = fam.counts, fam.parse_json
    spec = dataclasses.replace(envoy_counts.FOLD,
                               decide=tuple(p for p in envoy_counts.FOLD.decide if p[0] != "response_flags"))
    monkeypatch.setattr(LogFamilies, "fold", lambda self, _name: jsonfold.json_fold(count, spec, parse))
    assert _folded(path, "envoy", "fold", monkeypatch) != right


def _recorded() -> list[Path]:
    return sorted(p for p in RECORDED.rglob("*.log"))


@pytest.mark.parametrize("path", _recorded(), ids=lambda p: str(p.relative_to(RECORDED)))
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_the_cli_summary_is_the_rows_summary(path: Path, fmt: str, run_main: RunMain,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the command a user types: the summary is the one ``--since`` (the row path)
    gives when it keeps every line, on every recorded edge log."""
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = run_main("classify", str(path), "--format", fmt)
    again = run_main("classify", str(path), "--format", fmt, "--since", "1970-01-01T00:00:00Z")
    assert (code, out, err) == again


def test_a_fold_per_thread_counts_what_one_fold_does() -> None:
    """``FoldPerThread``: two threads reading blocks, a fold each, taken at the end, count the
    failures one fold counts (the summary's two cores)."""
    lines = _generated("envoy", 2000, 3)
    blocks = ["\n".join(lines[k:k + 100]).encode() for k in range(0, len(lines), 100)]

    def codes(counted: list[Counted]) -> list[tuple[object, ...]]:
        frame = pl.concat([c.codes for c in counted]).group_by("code", "status").agg(
            pl.col("n").sum(), pl.col("first").min(), pl.col("last").max())
        return sorted(frame.iter_rows())

    one = families().fold("envoy")
    assert one is not None
    one.codes_only()
    for data in blocks:
        one.block(data)
    whole = one.take()
    assert whole is not None
    per = FoldPerThread(lambda: families().fold("envoy"), codes_only=True)
    ready = threading.Barrier(2)

    def read(part: list[bytes]) -> None:
        ready.wait()  # both threads hold a fold
        for data in part:
            per.block(data)

    threads = [threading.Thread(target=read, args=(blocks[k::2],)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(per.folds) == 2
    assert codes(per.take_all()) == codes([whole]) and codes([whole])


def test_the_text_pass_keeps_each_groups_least_and_greatest_time() -> None:
    """``_envoyscan.text_ranges``: a group's times in any order, one a prefix of another (the
    shorter first, as ``min`` of the strings has it)."""
    from why502.proxies.envoy.textcount import _module

    module = _module()
    assert module is not None
    line = ('[{t}] "GET /a HTTP/1.1" 502 UF,URX 0 98 3 - "10.0.0.1" "curl" "r1" "a.example.com" '
            '"10.0.0.9:80"')
    times = ["2026-11-21T10:00:05.000Z", "2026-11-21T10:00:01.000Z", "2026-11-21T10:00:09.000Z",
             "2026-11-21T10:00:01.000", "2026-11-21T10:00:03.000Z"]
    statuses, groups, back = module.text_ranges("\n".join(line.format(t=t) for t in times).encode())
    assert statuses == {502: 5} and not back
    assert list(groups.values()) == [[5, b"2026-11-21T10:00:01.000", b"2026-11-21T10:00:09.000Z"]]


def test_a_build_without_the_text_fold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build of ``_envoyscan`` from before ``stats``' text fold (no ``text_fold_*``): Envoy's
    fold is ``EnvoyFold``, whose summary counts the text lines with ``watch``'s counter
    (``text_ranges``) and whose ``stats`` keeps them rows -- the same answers."""
    from tests.stats import test_lb_fold as lb_fold
    from why502.proxies.envoy import textfold
    from why502.proxies.envoy.textcount import _module

    module = _module()
    assert module is not None
    older = type("Older", (), {"text_ranges": staticmethod(module.text_ranges),
                               "text_counts": staticmethod(module.text_counts)})
    monkeypatch.setattr(textfold, "_module", lambda: older)
    assert isinstance(families().fold("envoy"), textfold.EnvoyFold)
    rng = random.Random(5)
    lines = [*_generated("istio", 1500, 3), *_generated("envoy-text", 1500, 4)]
    for k in rng.sample(range(len(lines)), 400):
        old, new = _TEXT_BENDS[rng.randrange(len(_TEXT_BENDS))]
        lines[k] = lines[k].replace(old, new, 1)
    lines[::10] = _generated("envoy", len(lines[::10]), 8)
    path = _write(tmp_path, lines)
    monkeypatch.setattr(lb_app, "FOLD_TAKE_GROUPS", 40)
    monkeypatch.setattr(lb_app, "FOLD_TAKE_CODES_GROUPS", 40)
    got = _check(path, "envoy", monkeypatch, batch_bytes=16 << 10)
    assert len(got) >= 3
    lb_fold._check(path, monkeypatch, "envoy", batch_bytes=64 << 10)


def test_a_summary_read_takes_its_folds_at_the_codes_bound(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``classify``'s summary takes its folds at ``FOLD_TAKE_CODES_GROUPS`` groups, not at
    ``stats``' ``FOLD_TAKE_GROUPS``: Traefik's common-format fold keeps its full tables there,
    and a day of its lines (each value in many minutes) held two folds of 128k groups, 333 MB
    (BENCHMARKS.md stop 72).  Over ~11 hours of lines taken every 60 groups, the answer is the
    rows' own; at the stats bound the same read takes once, at its end."""
    rng = random.Random(3)
    lines = [gen_lb_logs.traefik_clf(gen_lb_logs.Req(rng, i, 0.1)) for i in range(4000)]
    path = _write(tmp_path, lines)
    takes: list[int] = []
    take = FoldPerThread.take

    def counted(self: FoldPerThread) -> Counted | None:
        takes.append(1)
        return take(self)

    monkeypatch.setattr(FoldPerThread, "take", counted)
    monkeypatch.setattr(lb_app, "FOLD_TAKE_GROUPS", 10**9)
    monkeypatch.setattr(lb_app, "FOLD_TAKE_CODES_GROUPS", 60)
    got = _check(path, "traefik", monkeypatch, batch_bytes=32 << 10)
    assert sum(n for _k, n, _f, _l in got) > 100
    assert len(takes) > 5
    takes.clear()
    monkeypatch.setattr(lb_app, "FOLD_TAKE_CODES_GROUPS", 10**9)
    assert _folded(path, "traefik", "fold", monkeypatch, batch_bytes=32 << 10) == got
    assert not takes  # (taken only by take_all, after the read)
