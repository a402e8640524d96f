"""Several ``.gz`` logs (an ALB folder) are inflated ahead on a thread (``sources.readahead``,
issue 28 item 2): the batches, their line numbers, the notes and the errors are the sequential
read's; what is held ahead stays within the budget; a consumer that stops early stops the thread.
The CLI part runs the real console script on an AWS-shaped folder, read ahead and one file after
the other (``WHY502_READ_AHEAD=0``), and compares the outputs byte for byte."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clirun import WHY502
from tests.support.reports import without_timing
from why502.app.stats.sniff import expand_paths
from why502.errors import InputError
from why502.sources import readahead
from why502.sources.logfiles import LineBatch, Tolerate, iter_batches
from why502.sources.opening import own_notes
from why502.sources.readahead import ReadAhead, budget_for

CLOUD = Path(__file__).resolve().parents[1] / "fixtures" / "cloud"
SEED_LINES = [json.loads(r)["line"] for r in (CLOUD / "alb.jsonl").read_text(encoding="utf-8").splitlines()]
TIME = re.compile(r"^(\S+) (\S+)")


def _alb_lines(n: int, start: int) -> list[str]:
    """``n`` ALB lines (the published examples in turn), their times one second apart from
    ``start`` seconds after 2018-07-02T22:00:00Z."""
    out = []
    for i in range(n):
        s = start + i
        stamp = f"2018-07-02T{22 + s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000000Z"
        out.append(TIME.sub(lambda m, t=stamp: f"{m.group(1)} {t}", SEED_LINES[i % len(SEED_LINES)], count=1))
    return out


def _alb_folder(root: Path, files: int = 24, seed: int = 7) -> list[Path]:
    """An AWS-shaped folder of ``files`` ``.log.gz`` files of different sizes (1..400 lines)."""
    day = root / "AWSLogs" / "123456789012" / "elasticloadbalancing" / "us-east-2" / "2018" / "07" / "02"
    day.mkdir(parents=True)
    r = random.Random(seed)
    written, start = [], 0
    for k in range(files):
        n = r.choice((1, 3, 40, 150, 400))
        name = (f"123456789012_elasticloadbalancing_us-east-2_app.lb.50dc_20180702T22{k:02d}Z_"
                f"10.0.0.{k % 3}_x.log.gz")
        body = "\n".join(_alb_lines(n, start)) + "\n"
        (day / name).write_bytes(gzip.compress(body.encode(), compresslevel=6, mtime=0))
        written.append(day / name)
        start += n
    return written


def _shape(batches: Iterator[LineBatch]) -> list[tuple[str, int, int, str, int, int]]:
    return [(b.path, b.first_line, b.count, b.text, b.bytes_done, b.bytes_total) for b in batches]


def _ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "why502-read-ahead"]


def test_a_folder_of_gz_is_read_ahead_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHY502_READ_AHEAD", raising=False)
    files = _alb_folder(tmp_path)
    assert budget_for(files, 2 << 20) == readahead.AHEAD_BATCHES * (2 << 20)
    assert budget_for(files[:1], 2 << 20) == 0  # one file: read as before
    assert budget_for([*files, "-"], 2 << 20) == 0
    plain = tmp_path / "a.log"
    plain.write_text("x\n")
    assert budget_for([plain, plain], 2 << 20) == 0
    batches = iter_batches(files, batch_bytes=4096)
    next(batches)
    assert len(_ahead_threads()) == 1  # the feature is on: a thread reads ahead
    batches.close()
    assert not _ahead_threads()


def test_read_ahead_can_be_turned_off_or_sized(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    files = _alb_folder(tmp_path, files=3)
    monkeypatch.setenv("WHY502_READ_AHEAD", "0")
    assert budget_for(files, 2 << 20) == 0
    monkeypatch.setenv("WHY502_READ_AHEAD", "3M")
    assert budget_for(files, 2 << 20) == 3 << 20


@pytest.mark.parametrize("batch_bytes", [512, 4096, 1 << 20])
def test_same_batches_and_line_numbers_as_the_sequential_read(tmp_path: Path, batch_bytes: int) -> None:
    files = _alb_folder(tmp_path)
    seq = _shape(iter_batches(files, batch_bytes=batch_bytes, ahead=0))
    par = _shape(iter_batches(files, batch_bytes=batch_bytes, ahead=2 * batch_bytes))
    assert par == seq
    assert len({p for p, *_ in seq}) == len(files)  # every file, each numbered from its line 1
    assert [n for p, n, *_ in seq if n == 1] == [1] * len(files)


def test_notes_come_where_the_sequential_read_records_them(tmp_path: Path) -> None:
    files = _alb_folder(tmp_path, files=6)
    long = files[2].with_name("long.log.gz")
    long.write_bytes(gzip.compress(b"a" * 5000 + b"\n" + "\n".join(_alb_lines(3, 0)).encode() + b"\n"))
    files.insert(3, long)
    wide = files[4].with_name("windows.log")  # noted when opened, before its first batch
    wide.write_bytes("\n".join(_alb_lines(40, 0)).encode("utf-16"))
    files.insert(5, wide)

    def run(ahead: int) -> tuple[list[object], list[str]]:
        with own_notes() as notes:
            seen: list[object] = []
            for b in iter_batches(files, batch_bytes=1024, max_line_bytes=2000, ahead=ahead):
                seen.append((b.path, b.first_line, len(notes)))  # the notes recorded so far
            return seen, list(notes)

    seq, par = run(0), run(4096)
    assert par == seq
    assert any("line(s) longer than 2000 bytes" in n for n in seq[1])
    assert any("UTF-16" in n for n in seq[1]), seq[1]


def _corrupt(files: list[Path], how: str) -> Path:
    bad = files[len(files) // 2]
    data = bad.read_bytes()
    if how == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif how == "crc":
        bad.write_bytes(data[:-8] + bytes(b ^ 0xFF for b in data[-8:-4]) + data[-4:])
    else:  # not gzip past its header
        bad.write_bytes(data[:10] + b"\xff" * (len(data) - 10))
    return bad


def _until_error(files: list[Path], ahead: int, tolerate: Tolerate | None = None,
                 ) -> tuple[list[tuple[str, int, int, str, int, int]], str | None]:
    got: list[LineBatch] = []
    try:
        for b in iter_batches(files, batch_bytes=2048, tolerate=tolerate, ahead=ahead):
            got.append(b)
    except InputError as err:
        return _shape(iter(got)), str(err)
    return _shape(iter(got)), None


@pytest.mark.parametrize("how", ["truncated", "crc", "garbage"])
def test_a_corrupt_gz_in_the_middle_fails_as_before(tmp_path: Path, how: str) -> None:
    files = _alb_folder(tmp_path)
    bad = _corrupt(files, how)
    seq = _until_error(files, 0)
    par = _until_error(files, 8192)
    assert par == seq
    assert seq[1] is not None and seq[1].startswith(f"cannot read {bad}: ")
    # tolerated (a rotated sibling nobody named): the same note, the same lines after it
    tol_seq, tol_par = Tolerate(frozenset({str(bad)})), Tolerate(frozenset({str(bad)}))
    assert _until_error(files, 8192, tol_par) == _until_error(files, 0, tol_seq)
    assert tol_par.notes == tol_seq.notes and len(tol_seq.notes) == 1
    assert not _ahead_threads()


def test_a_missing_file_among_them_fails_as_before(tmp_path: Path) -> None:
    files = _alb_folder(tmp_path, files=5)
    files[3].unlink()
    assert _until_error(files, 8192) == _until_error(files, 0)


def test_what_is_held_ahead_stays_within_the_budget(tmp_path: Path) -> None:
    """A consumer slower than the reader: the thread fills the budget, then waits; it never
    holds more than the budget plus one batch (it cannot know a batch's size before reading it)."""
    r = random.Random(3)
    paths = [f"f{i}" for i in range(60)]
    sizes = {p: [r.randint(100, 3000) for _ in range(r.randint(1, 6))] for p in paths}

    def chunks(p: Path | str) -> Iterator[bytes]:
        for n in sizes[str(p)]:
            yield bytes(n)

    budget = 8000
    with ReadAhead(paths, chunks, len, budget) as ahead:
        got = []
        for p, items in ahead.files():
            for item in items:
                got.append((p, len(item)))
                assert ahead.held <= budget + 3000
                time.sleep(0.001)
        assert 0 < ahead.peak <= budget + 3000
    assert got == [(p, n) for p in paths for n in sizes[p]]


def test_the_thread_waits_at_the_budget(tmp_path: Path) -> None:
    files = _alb_folder(tmp_path, files=30)
    budget = 3 * 2048
    with ReadAhead(files, lambda p: iter_batches([p], batch_bytes=2048, ahead=0),
                   lambda b: len(b.text), budget) as ahead:
        deadline = time.monotonic() + 10
        while ahead.held < budget and time.monotonic() < deadline:
            time.sleep(0.01)
        held = ahead.held
        time.sleep(0.2)
        assert held >= budget  # it read ahead, up to the budget ...
        assert ahead.held == held <= budget + 2048 + 600  # ... and no further (a batch, a line)
        assert ahead.peak == held


def test_an_exception_in_the_consumer_stops_the_thread(tmp_path: Path) -> None:
    files = _alb_folder(tmp_path)

    def consume() -> None:
        for b in iter_batches(files, batch_bytes=1024, ahead=4096):
            if b.first_line > 1:
                raise RuntimeError("consumer failed")

    with pytest.raises(RuntimeError, match="consumer failed"):
        consume()
    assert not _ahead_threads()


def test_stopping_early_closes_the_file_being_read(tmp_path: Path) -> None:
    files = _alb_folder(tmp_path)
    batches = iter_batches(files, batch_bytes=1024, ahead=1 << 20)
    next(batches)
    time.sleep(0.05)
    batches.close()
    assert not _ahead_threads()
    fds = Path("/proc/self/fd")
    if fds.is_dir():
        open_now = {os.path.realpath(fds / fd) for fd in os.listdir(fds)}
        assert not open_now & {str(f) for f in files}


# -- the CLI, as a user runs it ---------------------------------------------------------------

def _cli(*argv: str, ahead: str | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("WHY502_DEBUG", "WHY502_READ_AHEAD")}
    if ahead is not None:
        env["WHY502_READ_AHEAD"] = ahead
    return subprocess.run([WHY502, *argv], capture_output=True, timeout=120, check=False, env=env,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("alb")
    _alb_folder(root, files=40)
    return root / "AWSLogs"


@pytest.mark.parametrize("argv", [
    ("stats", "--format", "json", "--no-progress"),
    ("stats", "--format", "json", "--no-progress", "--since", "2018-07-02T22:40:00Z",
     "--until", "2018-07-02T23:10:00Z"),
    ("classify", "--format", "jsonl"),
    ("classify", "--format", "jsonl", "--since", "2018-07-02T22:40:00Z"),
])
def test_cli_outputs_equal_the_sequential_read(folder: Path, argv: tuple[str, ...]) -> None:
    # a small budget: the thread waits for the consumer many times in the run
    cmd = (argv[0], str(folder), *argv[1:])
    par, seq = _cli(*cmd, ahead="64K"), _cli(*cmd, ahead="0")
    assert (par.returncode, par.stdout, par.stderr) == (seq.returncode, seq.stdout, seq.stderr)
    assert seq.returncode == 1, seq.stderr[-500:]  # the ALB answered 5xx
    if argv[0] == "stats":
        data = json.loads(seq.stdout)
        assert data["log_type"] == "alb" and len(data["files"]) == 40
    else:
        rows = [json.loads(r) for r in seq.stdout.splitlines()]
        assert len({r["file"] for r in rows}) > (5 if "--since" in argv else 10)
        assert [(r["file"], r["line"]) for r in rows] == sorted((r["file"], r["line"]) for r in rows)
    default = _cli(*cmd)
    assert default.stdout == seq.stdout


def test_cli_corrupt_gz_in_the_middle_as_before(tmp_path: Path) -> None:
    files = _alb_folder(tmp_path, files=12)
    bad = _corrupt(files, "truncated")
    folder = str(tmp_path / "AWSLogs")
    for argv in (("stats", folder, "--format", "json", "--no-progress"),
                 ("classify", folder, "--format", "jsonl")):
        par, seq = _cli(*argv, ahead="4K"), _cli(*argv, ahead="0")
        assert (par.returncode, par.stdout, par.stderr) == (seq.returncode, seq.stdout, seq.stderr)
        assert seq.returncode == 3 and f"cannot read {bad}" in seq.stderr.decode(), seq.stderr[-500:]


def test_cli_classify_into_head_stops(folder: Path) -> None:
    """``classify DIR | head -1``: the pipe closes, the run ends (no thread left waiting)."""
    env = {k: v for k, v in os.environ.items() if k != "WHY502_DEBUG"}
    env["WHY502_READ_AHEAD"] = "4K"
    proc = subprocess.run(f"'{WHY502}' classify '{folder}' --format jsonl | head -1", shell=True,
                          capture_output=True, timeout=60, check=False, env=env)
    (line,) = proc.stdout.splitlines()
    assert json.loads(line)["line"] >= 1


def test_expand_paths_gives_the_folder_in_name_order(folder: Path) -> None:
    files = expand_paths([str(folder)])
    assert files == sorted(files) and budget_for(files, 2 << 20) > 0


def test_cli_diagnose_access_log_folder_as_before(folder: Path) -> None:
    argv = ("diagnose", "--access-log", str(folder), "--format", "json")
    par, seq = _cli(*argv, ahead="16K"), _cli(*argv, ahead="0")
    assert (par.returncode, par.stderr) == (seq.returncode, seq.stderr)
    assert without_timing(json.loads(par.stdout)) == without_timing(json.loads(seq.stdout))
    assert seq.returncode == 1, seq.stderr[-500:]
