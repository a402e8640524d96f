"""``stats``' native fold of Traefik's common-format access lines (``_traefikscan.c``'s
``clf_fold_*``, ``proxies/traefik/clffold.py``): the lines the block reader takes are counted in C
by the captures the counted values are decided on, each group decided by the reader's own
expressions -- the ``stats`` document and ``classify``'s summary must not change, whichever side
counted a line.

Compared, as the whole document: the fold, the native passes with the fold turned off (every line
a row of the block reader) and the polars-only readers (``WHY502_NATIVE=0``), on every recorded,
published and generated common-format line and their bends (``test_traefik_block``'s), with
Traefik's JSON lines and other families' lines among them; on a grid of the values Traefik's own
failures are decided on; on times at every edge of the one form ``clf_iso`` converts; on the
bench's lines read in small blocks whose groups are taken many times; and through the commands.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import RunMain
from tests.stats import test_lb_fold as lb_fold
from tests.stats.test_json_native import _lines as _edge_lines
from tests.stats.test_lb_fold import _mode
from tests.stats.test_traefik_block import _clf_lines, _plain_and_bent
from tests.support import blocks
from tests.support.native import native_pass
from tests.support.reports import without_timing
from why502.app.stats import lb as lb_app
from why502.parsers.arrowcols import frame as arrow_frame
from why502.parsers.lblogs import batch
from why502.proxies.traefik.frame import clf_pass

ROOT = Path(__file__).resolve().parents[2]
BUILT, pytestmark = native_pass("why502.proxies.traefik._traefikscan", "the native Traefik CLF pass")

sys.path.insert(0, str(ROOT / "bench"))
import gen_lb_logs  # noqa: E402  (the bench's lines: bench/gen_lb_logs.py)

_LINE = '10.0.0.{k} - - [{time}] "GET /x HTTP/1.1" {status} {size} "-" "curl/8.5" {k} {router} {url} {ms}ms'


def _grid() -> list[str]:
    """Lines of every status, body size, router and URL that decide Traefik's own failures
    (``log._traefik_own``, ``_traefik_code``): the lengths of the 5xx phrases and one more (its
    own error page), other sizes, no router or URL, a quoted dash, odd statuses; in time order."""
    statuses = ("200", "404", "499", "500", "502", "503", "504", "0502", "5000", "-500", "abc", "0")
    sizes = ("11", "12", "19", "20", "21", "22", "0", "-", "x")
    routers = ("-", '"web@file"', '""', '"-"')
    urls = ("-", '"http://10.0.0.1:80"', '"-"', '""')
    out = []
    k = 0
    for status in statuses:
        for size in sizes:
            for router in routers:
                for url in urls:
                    k += 1
                    time = f"21/Nov/2026:10:{k // 60 % 60:02d}:{k % 60:02d} +0000"
                    out.append(_LINE.format(k=k % 250, time=time, status=status, size=size, router=router,
                                            url=url, ms=k % 97))
    return out


def _times() -> list[str]:
    """Times at every edge of the form ``clf_iso`` converts: every month, the last days of
    February in leap and common years (the centuries), days 00 and 32, hours, minutes, seconds
    and offsets at their limits and one past, a zero offset either sign, year 0000, a month as
    Go does not write it, a field a digit short or long."""
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    out = [f"{d}/{m}/2026:10:00:00 +0000" for m in months for d in ("28", "29", "30", "31")]
    out += [f"{d}/Feb/{y}:10:00:00 +0000" for y in ("2024", "2100", "2000", "1900", "0004", "0001")
            for d in ("28", "29", "30")]
    clocks = (("00", "00", "00"), ("23", "59", "59"), ("24", "00", "00"), ("19", "60", "00"),
              ("19", "00", "60"), ("29", "00", "00"))
    out += [f"21/Nov/2026:{h}:{m}:{s} {z}" for h, m, s in clocks
            for z in ("+0000", "-0000", "+2359", "-2359", "+2400", "-0060", "+0530", "-1000")]
    out += ["00/Nov/2026:10:00:00 +0000", "32/Nov/2026:10:00:00 +0000", "21/Nov/0000:10:00:00 +0000",
            "21/nov/2026:10:00:00 +0000", "21/NOV/2026:10:00:00 +0000", "21/Xyz/2026:10:00:00 +0000",
            "1/Nov/2026:10:00:00 +0000", "021/Nov/2026:10:00:00 +0000", "21/Nov/2026:10:00:00 +000",
            "21/Nov/2026:10:00:00 0000", "21/Nov/2026:10:00:00  +0000", "21/Nov/2026:10:00:00.5 +0000",
            "21/Nov/2026 10:00:00 +0000", "21/Nov/12026:10:00:00 +0000", "2026-11-21T10:00:00Z"]
    return out


def _generated(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [gen_lb_logs.traefik_clf(gen_lb_logs.Req(rng, i, 20.0)) for i in range(n)]


def _write(tmp: Path, lines: list[str], name: str = "access.log") -> Path:
    path = tmp / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _folded(lines: list[str]) -> int:
    return blocks.folded("traefik", lines)


def _check(path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> dict[str, object]:
    """The fold's document is the rows' (native readers without the fold, polars alone)."""
    return lb_fold._check(path, monkeypatch, "traefik", **kw)


@pytest.mark.parametrize("timeout_s", [None, 0.05])
def test_recorded_published_and_bent_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           timeout_s: float | None) -> None:
    """Every recorded, published and generated common-format line and their bends, with JSON
    lines of Traefik's and other families' among them, out of time order."""
    plain, bent = _plain_and_bent()
    assert _folded(plain) == len(plain) and 0 < _folded(bent) < len(bent)  # the bent ones in part
    lines = [*plain, *bent]
    rng = random.Random(4)
    edge = _edge_lines()
    mixed = [*lines, *rng.sample(edge, min(600, len(edge)))]
    rng.shuffle(mixed)
    got = _check(_write(tmp_path, mixed), monkeypatch, timeout_s=timeout_s)
    assert got["5xx"] and got["by_code"]
    assert len(got["targets"]) > 3 and len(got["groups"]) > 3  # type: ignore[arg-type]


def test_every_status_size_router_and_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``_grid``: every decision of Traefik's own failures and their codes counted alike, and the
    codes of one count ranked alike (the grid's have ties)."""
    lines = _grid()
    assert _folded(lines) == len(lines)
    got = _check(_write(tmp_path, lines), monkeypatch)
    made = got["made_by"]
    assert made["lb"] and made["backend"]  # type: ignore[index]
    codes = {code["code"] for code in got["by_code"]}  # type: ignore[attr-defined]
    assert {"500 Internal Server Error", "502 Bad Gateway", "503 no healthy server", "504 Gateway Timeout",
            None} <= codes, codes


def _fold_times(times: list[str]) -> dict[str, str | None]:
    """Each time's reading by the fold (its ISO form, or None: the line handed back)."""
    module = clf_pass()
    assert module is not None
    out: dict[str, str | None] = {}
    for time in times:
        cap = module.clf_fold_new()
        line = _LINE.format(k=1, time=time, status=502, size=11, router='"r@file"', url='"http://a:1"', ms=3)
        back, text, taken = module.clf_fold_block(cap, (line + "\n").encode())
        if not taken:
            assert len(back) == 4 and text == (line + "\n").encode()
            out[time] = None
            continue
        caps, rows = module.clf_fold_take(cap)
        row = arrow_frame(*caps).row(0, named=True)
        assert rows == 1 and row["first"] == row["last"] and row["minute"] == row["first"][:16]
        out[time] = row["first"]
    return out


def test_the_fold_converts_each_time_as_clf_iso() -> None:
    """Time by time: the fold takes a line exactly when ``clf_iso`` converts its time (the
    reader hands the others to the per-line parser), with the same ISO form."""
    times = [*_times(), *(line.split("[", 1)[1].split("]")[0] for line in _clf_lines() if "[" in line)]
    want = pl.DataFrame({"t": times}).select(batch.clf_iso(pl.col("t")).alias("i"))["i"].to_list()
    got = _fold_times(times)
    assert {t: got[t] for t in times} == dict(zip(times, want, strict=True))
    assert sum(w is None for w in want) > 40 and sum(w is not None for w in want) > 100


def test_the_times_through_stats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The edge times as lines of a log: the fold's document is the rows'."""
    lines = [_LINE.format(k=i % 200, time=t, status=(502, 200, 503)[i % 3], size=11, router='"r@file"',
                          url="-" if i % 5 == 0 else '"http://a:1"', ms=i) for i, t in enumerate(_times())]
    _check(_write(tmp_path, lines), monkeypatch)


def test_generated_lines_in_small_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's lines, bent here and there, a tenth Traefik's JSON lines, out of time order;
    read 16 KB at a time with the groups taken whenever a table holds 40 of them."""
    rng = random.Random(9)
    lines = _generated(4000, 7)
    bent = _clf_lines()
    for k in rng.sample(range(len(lines)), 300):
        lines[k] = rng.choice(bent)
    lines[::10] = [gen_lb_logs.traefik_json(gen_lb_logs.Req(rng, i, 20.0)) for i in range(len(lines[::10]))]
    blocks.scrambled(lines, rng)
    assert _folded(lines) > 3000
    path = _write(tmp_path, lines)
    monkeypatch.setattr(lb_app, "FOLD_TAKE_GROUPS", 40)
    got = _check(path, monkeypatch, batch_bytes=16 << 10)
    assert got["unparsed"] and got["by_code"]
    assert got == json.loads(lb_fold._stats(path, "fold", monkeypatch, "traefik"))


def test_stats_text_output(tmp_path: Path, run_main: RunMain, monkeypatch: pytest.MonkeyPatch) -> None:
    """``stats`` as the on-call reads it: the same text with the fold and without native passes."""
    path = _write(tmp_path, [*_generated(2000, 5), *_grid()])
    monkeypatch.setenv("COLUMNS", "200")
    argv = ("stats", str(path), "--format", "text", "--no-progress")
    with _mode("fold", monkeypatch):
        native = run_main(*argv)
    with _mode("polars", monkeypatch):
        rows = run_main(*argv)
    assert native == rows and "502" in native[1]


@pytest.mark.parametrize("command", ["stats", "classify"])
def test_the_commands(command: str, tmp_path: Path) -> None:
    """What a user runs on Traefik's default log, as JSON: the same document and exit code with
    the native passes and without (``classify``'s summary keeps the fold's codes)."""
    log = _write(tmp_path, [*_generated(3000, 11), *_clf_lines(), *_grid()])
    docs, codes = [], []
    for native in ("1", "0"):
        env = {"WHY502_NATIVE": native, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        run = subprocess.run([sys.executable, "-m", "why502", command, str(log), "--format", "json"],
                             capture_output=True, text=True, env=env, timeout=120)
        assert run.stdout, run.stderr
        docs.append(without_timing(json.loads(run.stdout)))
        codes.append(run.returncode)
    assert docs[0] == docs[1] and codes[0] == codes[1] == 1
