"""A batch whose first line a proxy's writer reads goes to the proxies' writers whole, before the
nginx scanner (``app.classify._writer_reads`` for ``--format jsonl``, ``_fold_reads`` for the
summary): HAProxy's log, every line of which the scanner handed back after reading it.  The
records and the summary must be what the per-line engine (``WHY502_NATIVE=0``) gives, whichever
line a batch starts with: a session line (the writers first), an nginx line or HAProxy's own
alert (the scanner first), a line with a CR or UTF-8 in the batch (the scanner first); and the
scanner must not be asked about a batch the writers take.  Apache's error log the same way,
through its memo's ``LineMemo.reads_first``: ``--format jsonl`` and ``diagnose``'s rows hand such
a batch to the per-line path whole, the summary to the memo first.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from tests.classify.test_classify_engines import real_lines
from tests.classify.test_classify_sessions import (
    STATES,
    STATUSES,
    _line,
    _random_lines,
    bent_lines,
    broken_lines,
)
from tests.support.paths import FIXTURES_DIR
from why502.app import classify
from why502.parsers import errorlog_native
from why502.proxies.haproxy.classifyfold import _native

if TYPE_CHECKING:
    import polars as pl

pytestmark = pytest.mark.skipif(
    (_native() is None or not errorlog_native.available()) and os.environ.get("WHY502_REQUIRE_NATIVE") != "1",
    reason="the native passes were not built (no C compiler at install time)")

T = TypeVar("T")
# HAProxy's own lines (alerts, a server going down): no session line, the scanner reads them first
ALERTS = [ln for f in sorted((FIXTURES_DIR / "recorded").glob("haproxy-*/haproxy.log"))
          for ln in f.read_text().splitlines() if "]: " in ln and " [" not in ln.split("]: ", 1)[1][:40]]
BATCH = 6_000  # ~35 lines: each kind of line starts some batches
NGINX = [ln for ln in real_lines() if ln[:4].isdigit() and ln[4:5] == "/"]


def _mixed_log(path: Path, crlf_every: int = 0) -> Path:
    """Runs of session lines (every shape) with nginx's lines, HAProxy's alerts and a UTF-8 line
    among them, so that the small batches below start with each kind of line."""
    rnd = random.Random(76)
    sessions = rnd.sample(bent_lines(), 500) + rnd.sample(broken_lines(), 100) + _random_lines(300, seed=76)
    rnd.shuffle(sessions)
    lines: list[str] = []
    for k in range(0, len(sessions), 37):
        lines += sessions[k:k + 37]
        lines += rnd.sample(NGINX, 3) + rnd.sample(ALERTS, 2)
        if k % 5 == 0:
            lines.append(_line(request="GET /usérs/42 HTTP/1.1", status="502", ts="SH--"))
    text = "\n".join(lines) + "\n"
    if crlf_every:
        text = "".join(ln + ("\r\n" if i % crlf_every == 0 else "\n") for i, ln in enumerate(lines))
    path.write_bytes(text.encode("utf-8"))
    return path


def _jsonl(path: Path, since: str | None = None, batch: int | None = None) -> bytes:
    return b"".join(out for out, _ in classify.jsonl_paths([str(path)], since=since, batch_bytes=batch))


def _summary(path: Path, since: str | None = None, batch: int | None = None) -> dict[str, object]:
    return classify.summarize_paths([str(path)], since=since, batch_bytes=batch).to_dict()


def _per_line(monkeypatch: pytest.MonkeyPatch, run: Callable[..., T], *args: object) -> T:
    """``run(*args)`` with ``WHY502_NATIVE=0``: every line through the per-line engine."""
    monkeypatch.setenv("WHY502_NATIVE", "0")
    try:
        return run(*args)
    finally:
        monkeypatch.delenv("WHY502_NATIVE")


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[bool]:
    """Each answer of ``classify.<name>`` (whether the writers took a batch first)."""
    seen: list[bool] = []
    real = getattr(classify, name)

    def spy(*args: object) -> object:
        got = real(*args)
        seen.append(bool(got))
        return got

    monkeypatch.setattr(classify, name, spy)
    return seen


def _failures(out: bytes | dict[str, object]) -> int:
    """The failures in ``--format jsonl``'s records or in the summary."""
    return out.count(b'"source":"haproxy"') if isinstance(out, bytes) else int(out["failures"])  # type: ignore[call-overload]


@pytest.mark.parametrize("crlf_every", [0, 97])
@pytest.mark.parametrize(("run", "probe"), [(_jsonl, "_writer_reads"), (_summary, "_fold_reads")],
                         ids=["jsonl", "summary"])
def test_whatever_line_a_batch_starts_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crlf_every: int,
                                           run: Callable[..., bytes | dict[str, object]], probe: str) -> None:
    path = _mixed_log(tmp_path / "haproxy.log", crlf_every)
    for since in (None, "2026-11-21T10:00:00"):
        seen = _counting(monkeypatch, probe)
        native = run(path, since, BATCH)
        monkeypatch.undo()
        assert native == _per_line(monkeypatch, run, path, since), since
        assert _failures(native) >= 300
        # both ways were taken: batches the writers read first, and the scanner's
        assert seen.count(True) >= 5 and seen.count(False) >= 3, seen


def _refused(*_args: object) -> object:
    raise AssertionError("the nginx scanner was asked about a batch it hands back whole")


def test_the_scanner_reads_no_batch_the_writers_take(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log of session lines only: no batch goes to the nginx scanner (which read every line
    and handed each back), and the records and counts are the per-line engine's."""
    rnd = random.Random(5)
    lines = [_line(be=f"b{k % 5}", srv=f"s{k % 3}", ts=rnd.choice(STATES), status=rnd.choice(STATUSES),
                   date=f"21/Nov/2026:10:{k % 60:02d}:{rnd.randint(0, 59):02d}.{rnd.randint(0, 999):03d}")
             for k in range(1500)]
    path = tmp_path / "haproxy.log"
    path.write_text("\n".join(lines) + "\n")
    expected_jsonl = _per_line(monkeypatch, _jsonl, path)
    expected_summary = _per_line(monkeypatch, _summary, path)

    monkeypatch.setattr(errorlog_native.ThreadScanners, "get", _refused)
    jsonl, summary = _jsonl(path, batch=4000), _summary(path, batch=4000)
    assert jsonl == expected_jsonl and jsonl.count(b"\n") >= 300
    assert summary == expected_summary


def _rows(path: Path, batch: int = 1 << 20) -> pl.DataFrame:
    """``diagnose``'s rows of an error log (``classify_files(with_text=True)``)."""
    import polars as pl

    return pl.concat(list(classify.classify_files([path], batch_bytes=batch, with_text=True)))


def test_the_memos_batches_go_to_the_per_line_path_unread(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Apache's error log (no writer takes it; its memo says it reads such batches first,
    ``LineMemo.reads_first``): ``--format jsonl`` and ``diagnose``'s rows ask the nginx scanner
    about none of its batches, which handed every line back, and give what the per-line
    engine gives."""
    from polars.testing import assert_frame_equal

    from tests.classify.test_apache_known import _threaded

    path = tmp_path / "error.log"
    path.write_text("\n".join(_threaded(3000, seed=76)) + "\n")
    expected, rows = _per_line(monkeypatch, _jsonl, path), _per_line(monkeypatch, _rows, path)
    monkeypatch.setattr(errorlog_native.ThreadScanners, "get", _refused)
    got = _jsonl(path, batch=20_000)
    assert got == expected and got.count(b"\n") >= 1000
    assert_frame_equal(_rows(path, batch=20_000), rows)


def test_the_summary_gives_the_memo_httpds_batches_first(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The summary of Apache's error log with nginx's lines among it, in small batches: a batch
    that starts as httpd's lines do goes to the memo first and the scanner counts only the lines
    it hands back (as ``watch`` reads them); the counts, times and upstreams, in their order, are
    what the per-line engine gives."""
    from tests.classify.test_apache_known import _threaded
    from why502.parsers.linememo import shared_memo

    rnd = random.Random(77)
    apache = _threaded(1200, seed=77)
    lines: list[str] = []
    for k in range(0, len(apache), 40):
        lines += apache[k:k + 40] + rnd.sample(NGINX, 4)
    path = tmp_path / "error.log"
    path.write_text("\n".join(lines) + "\n")
    memo = type(shared_memo())
    seen: list[bool] = []
    first = memo.reads_first
    monkeypatch.setattr(memo, "reads_first", lambda self, data: seen.append(first(self, data)) or seen[-1])
    got = _summary(path, batch=BATCH)
    monkeypatch.undo()
    assert got == _per_line(monkeypatch, _summary, path)
    assert int(got["failures"]) >= 300 and seen.count(True) >= 5 and seen.count(False) >= 3, seen  # type: ignore[call-overload]


def test_which_first_lines_the_writers_take() -> None:
    from why502.proxies import classify_folds, classify_jsonls

    writers, folds = classify_jsonls(), classify_folds()
    session = _line().encode()
    for line, taken in ((session, True), (NGINX[0].encode(), False), (ALERTS[0].encode(), False),
                        (b"", False), (b"not a log line", False)):
        assert classify._writer_reads(writers, line, 1, b'"f"', None, 2026) is taken, line
        got = classify._fold_reads(folds, memoryview(line + b"\n" + session), None)
        assert (got is not None) is taken, line
    # the scanner's turn when it would not hand every line back as it is: a CR, non-ASCII bytes,
    # a first line longer than the part of the batch looked at
    for data in (session + b"\r\n" + session, session + b"\n" + _line(request="GET /é HTTP/1.1").encode(),
                 b"x" * (classify._HEAD_PEEK + 1) + b"\n" + session):
        assert classify._fold_reads(folds, memoryview(data), None) is None
