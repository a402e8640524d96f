"""The fold of HAProxy's native pass (``proxies/haproxy/_hapscan.c``, its ``Fold``): the rows
`why502 stats --proxy haproxy` only counts (no 5xx) are grouped in C and handed to the engine as
``Folded`` instead of as columns, and the raw blocks are read undecoded (``app.stats.read``'s
``BlockReader``) -- and the answer must not change, whichever side counted a row.

The logs take every shape the fold distinguishes: 5xx (left out), 444 and 499 (not answers),
timers of -1 (no connection, no response: ``-`` timings), ``<NOSRV>`` (the backend is the
upstream; a backend named ``-`` is none), termination states of every phase, retries and
redirects, times out of order, a month or a year the engine refuses (unparsed, with a sample),
servers by the hundred, several config names for one address, lines that are not ASCII, carry a
carriage return, are noise or blank.  The references are the polars reader (``WHY502_NATIVE=0``)
and the native reader with the fold off (``Reducer.folds_fields`` False); the fold must also have
counted most rows.
"""

from __future__ import annotations

import functools
import json
import os
import random
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from tests.classify.test_classify_native import engine
from tests.support.clirun import WHY502
from tests.support.native import native_pass
from why502.app.stats import StatsOptions, run_stats
from why502.app.stats import read as stats_read
from why502.app.stats.report import proxied_report
from why502.evidence.stats import AccessStats
from why502.evidence.stats import reduce as stats_reduce
from why502.evidence.stats.plan import RowPlan
from why502.proxies.haproxy.stats import foldable, httplog_block

BUILT, pytestmark = native_pass("why502.proxies.haproxy._hapscan", "HAProxy's native httplog pass")

STATES = ["----", "----", "----", "--NI", "SC--", "sH--", "SH--", "CD--", "cD--", "PH--", "-R--", "-Q--",
          "CR--", "LR--", "IH--", "cH--", "sQ--", "SD--", "--VN"]
STATUSES = [200] * 20 + [201, 204, 301, 302, 304, 400, 401, 404, 408, 444, 499, 500, 502, 503, 504, 599]
MONTHS = ["Nov"] * 40 + ["Dec", "Jan", "Foo"]  # "Foo": the regex takes it, the engine does not
YEARS = ["2026"] * 40 + ["1969", "9999", "1970"]
BACKENDS = ["app", "api", "static", "-"]


def _timers(rnd: random.Random) -> str:
    """TR/Tw/Tc/Tr/Ta as HAProxy writes them: -1 for a phase not reached, Ta with a "+" when
    logged before the end (``option logasap``)."""
    tr, tw = rnd.choice([0, 0, 1, 5, -1]), rnd.choice([0, 0, 3, -1])
    tc = rnd.choice([0, 0, 1, 2, 15, -1])
    t_r = -1 if tc < 0 else rnd.choice([0, 1, 12, 25, 120, 999, 1000, 30001, -1])
    ta = max(tr, 0) + max(tw, 0) + max(tc, 0) + max(t_r, 0) + rnd.choice([0, 1, 7])
    return f"{tr}/{tw}/{tc}/{t_r}/{'+' if rnd.random() < 0.05 else ''}{ta}"


def _line(rnd: random.Random, minute: int, servers: int) -> str:
    backend = rnd.choice(BACKENDS)
    server = "<NOSRV>" if rnd.random() < 0.08 else f"s{rnd.randrange(servers)}"
    month, year = rnd.choice(MONTHS), rnd.choice(YEARS)
    time = f"21/{month}/{year}:10:{minute % 60:02d}:{rnd.randrange(60):02d}"
    frac = rnd.choice([".000", ".123", "", ".5"])
    retries = rnd.choice(["0", "0", "+1", "3"])
    request = rnd.choice(['"GET / HTTP/1.1"', '"POST /api/orders HTTP/2.0"', '""', '"GET /cut', "",
                          '{a|b} "GET /h HTTP/1.1"'])
    head = rnd.choice(["<134>Nov 21 10:00:00 haproxy[29614]: ", "", "lb1 haproxy[1]: "])
    client = rnd.choice(["198.51.100.7", f"10.0.{rnd.randrange(4)}.{rnd.randrange(256)}", "[2001:db8::1]"])
    return (f"{head}{client}:{rnd.randrange(1, 65536)} [{time}{frac}] fe {backend}/{server} {_timers(rnd)} "
            f"{rnd.choice(STATUSES)} {rnd.randrange(100000)} - - {rnd.choice(STATES)} 1/1/0/0/{retries} 0/0 "
            f"{request}").rstrip()


def _log(path: Path, lines: int, seed: int, servers: int = 6) -> Path:
    """``lines`` httplog lines, minutes moving forward with some out of order, and lines that
    are no request or that the pass hands back."""
    rnd = random.Random(seed)
    out: list[str] = []
    for k in range(lines):
        minute = max(0, k * 9 // lines + (rnd.random() < 0.05) * rnd.randrange(-3, 3))
        line = _line(rnd, minute, servers)
        out.append(line)
        if rnd.random() < 0.02:
            out.append(rnd.choice(["", "Server app/s1 is DOWN, reason: Layer4 connection problem",
                                   line + "\r", line.replace("GET /", "GET /\u00e9"),
                                   line[: len(line) // 2], line.replace(" fe ", " f\te ")]))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def _config(path: Path, servers: int, same: bool = False) -> Path:
    """A config naming every ``s<k>`` of every backend ("-" cannot be a backend's name):
    each its own address, or (``same``) the servers of every backend on a few addresses."""
    text = "defaults\n    mode http\n    timeout server 30s\n"
    for b in BACKENDS[:-1]:
        text += f"\nbackend {b}\n"
        for k in range(servers):
            addr = f"10.1.0.{k % 3}:80" if same else f"10.{BACKENDS.index(b)}.0.{k}:8080"
            text += f"    server s{k} {addr}\n"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 16 KiB and aggregation every 2,000 rows: the logs here span many of both (both
    readers cut alike, as they must: see ``FrameFeed._hold``)."""
    monkeypatch.setattr(stats_read, "iter_batches",
                        functools.partial(stats_read.iter_batches, batch_bytes=16 << 10))
    monkeypatch.setattr(stats_read, "iter_numbered_bytes",
                        functools.partial(stats_read.iter_numbered_bytes, batch_bytes=16 << 10))
    monkeypatch.setattr(stats_read, "GROUP_ROWS", 2000)


def _stats(log: Path, native: bool, config: Path | None = None, **kw: Any) -> str:
    """The whole answer as JSON text, with each upstream's last answered request (what only
    ``diagnose`` reads of it: ``analyzers.rank``'s "recovered", not in the report)."""
    runs: list[AccessStats] = []

    def run(opts: StatsOptions) -> tuple[AccessStats, str]:
        got = run_stats(opts)
        runs.append(got[0])
        return got

    with engine(native), mock.patch("why502.app.stats.run_stats", run):
        report = proxied_report([str(log)], "haproxy", str(config) if config else None, None, None,
                                kw.get("since"), kw.get("until"))
    last_ok = {str(u.address): str(u.last_ok) for u in runs[0].upstreams}
    return json.dumps([report.to_dict(), last_ok], sort_keys=False, default=str)


def _folded_rows(log: Path) -> int:
    got = httplog_block(log.read_bytes(), {}, "+0000", 0, True)
    assert got is not None
    return 0 if got[1] is None else got[1].rows


@pytest.mark.parametrize("servers,same", [(6, False), (300, False), (6, True)],
                         ids=["few servers", "many servers", "shared addresses"])
@pytest.mark.usefixtures("small_batches")
def test_fold_gives_the_polars_answer(tmp_path: Path, servers: int, same: bool,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    log = _log(tmp_path / "haproxy.log", 4000, seed=servers + same, servers=servers)
    config = _config(tmp_path / "haproxy.cfg", servers, same)
    folded = _folded_rows(log)
    assert 1500 < folded < 4000  # most rows, not the 5xx nor the refused times
    native = _stats(log, True, config)
    assert native == _stats(log, False, config)
    got = json.loads(native)[0]
    assert got["requests"] > 3500 and got["unparsed"] > 0  # the refused times are unparsed lines
    assert '"2026-11-21' in native  # an upstream's last answer (its "recovered" time)
    monkeypatch.setattr(stats_reduce.Reducer, "folds_fields", property(lambda self: False))
    assert _stats(log, True, config) == native  # the native reader, fold off
    assert _stats(log, True) == _stats(log, False)  # and without a config: the backend/server names


def test_the_command_prints_the_same_bytes_with_and_without_the_pass(tmp_path: Path) -> None:
    """The CLI's JSON, to the byte, over several of its 1 MiB batches (the file's name aside)."""
    log = _log(tmp_path / "haproxy.log", 30000, seed=5, servers=40)
    config = _config(tmp_path / "haproxy.cfg", 40)

    def stats(native: str) -> str:
        run = subprocess.run([WHY502, "stats", "--proxy", "haproxy", "--config", str(config), str(log),
                              "--format", "json", "--no-progress"], capture_output=True, text=True,
                             timeout=300, env={**os.environ, "WHY502_NATIVE": native}, check=False)
        assert run.returncode in (0, 1), run.stderr
        return run.stdout

    on = stats("1")
    assert log.stat().st_size > 3 << 20 and json.loads(on)["requests"] > 25000
    assert on == stats("0")


@pytest.mark.usefixtures("small_batches")
def test_a_window_reads_every_row_whole(tmp_path: Path) -> None:
    """``--since``/``--until`` need each row's time: no fold, the same answer."""
    log = _log(tmp_path / "haproxy.log", 3000, seed=3)
    since, until = datetime(2026, 11, 21, 10, 2), datetime(2026, 11, 21, 10, 6)
    assert _stats(log, True, since=since, until=until) == _stats(log, False, since=since, until=until)


def test_the_fold_is_off_where_a_row_is_wanted_whole() -> None:
    from why502.app.stats.formats import choose_format

    fmt, _src = choose_format("why502", None, [])
    assert stats_reduce.Reducer(RowPlan(fmt)).folds_fields
    assert not stats_reduce.Reducer(RowPlan(fmt, since=datetime(2026, 11, 21))).folds_fields
    assert not stats_reduce.Reducer(RowPlan(fmt, until=datetime(2026, 11, 21))).folds_fields
    assert not stats_reduce.Reducer(RowPlan(choose_format("combined", None, [])[0])).folds_fields
    # an address the engine would read as several attempts, or as none
    assert foldable({"app/s1": "10.0.0.1:80"})
    for odd in ("10.0.0.1:80, 10.0.0.2:80", "a : b", "-", ""):
        assert not foldable({"app/s1": odd})
    assert not foldable({"-": "10.0.0.1:80"})  # "-" would become an upstream


def test_a_block_of_nothing_but_folded_rows(tmp_path: Path) -> None:
    """Every row counted in the fold: no column row is left for the engine, the answer the same."""
    line = ('1.2.3.4:5 [21/Nov/2026:10:00:00.000] fe app/s1 0/0/1/20/21 200 9 - - ---- 1/1/0/0/0 0/0 '
            '"GET / HTTP/1.1"')
    log = tmp_path / "haproxy.log"
    log.write_text("\n".join([line] * 50) + "\n", encoding="utf-8")
    got = httplog_block(log.read_bytes(), {}, "+0000", 0, True)
    assert got is not None and got[0].height == 0 and got[1] is not None and got[1].rows == 50
    assert _stats(log, True) == _stats(log, False)


@pytest.mark.usefixtures("small_batches")
def test_gz_and_several_files_read_as_one_set(tmp_path: Path) -> None:
    """A rotated set (``.gz`` and plain, read in the order given, each file's rows flushed apart)
    through the raw blocks gives the polars answer; the rows name their own file's lines."""
    import gzip

    old = _log(tmp_path / "haproxy.log.1", 2500, seed=8)
    gz = tmp_path / "haproxy.log.2.gz"
    gz.write_bytes(gzip.compress(_log(tmp_path / "plain", 2500, seed=9).read_bytes()))
    new = _log(tmp_path / "haproxy.log", 2500, seed=10)

    def both(native: bool) -> str:
        with engine(native):
            report = proxied_report([str(gz), str(old), str(new)], "haproxy", None, None, None, None, None)
        return json.dumps(report.to_dict(), sort_keys=False, default=str)

    native = both(True)
    assert native == both(False)
    assert json.loads(native)["requests"] > 6000


def test_a_log_without_a_request_says_so_alike(tmp_path: Path) -> None:
    """No httplog line at all: the same message with the raw blocks as with the lines (the
    non-blank lines counted, the first one named)."""
    from why502.errors import InputError

    log = tmp_path / "haproxy.log"
    log.write_text("\n\nServer app/s1 is DOWN, reason: Layer4 connection problem\nProxy fe started.\n",
                   encoding="utf-8")
    said = []
    for native in (True, False):
        with engine(native), pytest.raises(InputError) as err:
            proxied_report([str(log)], "haproxy", None, None, None, None, None)
        said.append(str(err.value))
    assert said[0] == said[1] and "none of the 2 lines" in said[0] and ":3" in said[0]


def test_an_unreadable_file_fails_the_run_from_the_workers(tmp_path: Path) -> None:
    from why502.errors import InputError

    bad = tmp_path / "haproxy.log.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + b"not gzip at all" * 10)
    with engine(True), pytest.raises(InputError):
        proxied_report([str(bad)], "haproxy", None, None, None, None, None)
