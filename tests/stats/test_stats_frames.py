"""``why502 stats`` on HAProxy's and Apache's logs: each read once, straight into the engine's
columns by the proxy's stats plug-in (``Hooks.stats``, ``app.stats.read.read_frames``), with no
rewritten copy in a temporary file (issue 23 item 3; before: ``app.stats.rewrite`` wrote every
line again as nginx text into a scratch file that the engine then parsed a second time).

The opens are counted with an audit hook (``open`` for reading, as ``tests/project/
test_read_once.py`` counts them; ``tempfile.mkstemp`` and ``open`` for writing for a scratch
file), on the repository's recordings of real HAProxy and Apache runs, through the CLI's entry
point as a user would run it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.cli.main import main

HAP = FIXTURES_DIR / "recorded-proxies" / "haproxy"
APA = FIXTURES_DIR / "recorded" / "apache-too-slow"
_WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT

# An audit hook cannot be removed: it records only while a block below is armed.
_ARMED: list[dict[str, list[str]]] = []


def _record(event: str, args: tuple[Any, ...]) -> None:
    if not _ARMED:
        return
    seen = _ARMED[-1]
    if event == "tempfile.mkstemp":
        seen["scratch"].append(str(args[0]))
    elif event == "open" and args:
        mode, flags = args[1], args[2] if len(args) > 2 else 0
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & _WRITES)
        seen["write" if writing else "read"].append(str(args[0]))


@contextlib.contextmanager
def recording() -> Iterator[dict[str, list[str]]]:
    if not getattr(recording, "hooked", False):
        sys.addaudithook(_record)
        recording.hooked = True  # type: ignore[attr-defined]
    seen: dict[str, list[str]] = {"read": [], "write": [], "scratch": []}
    _ARMED.append(seen)
    try:
        yield seen
    finally:
        _ARMED.remove(seen)


def _stats(*argv: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    with recording() as seen, contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["stats", *argv, "--format", "json"])
    assert code in (0, 1), (argv, code)
    return json.loads(out.getvalue()), seen


@pytest.mark.parametrize(("cfg", "log"), [
    (HAP / "sc-refused.cfg", HAP / "sc-refused.log"),
    (APA / "apache2.conf", APA / "apache-access.log"),
])
def test_another_proxys_log_is_read_once_and_copied_nowhere(cfg: Any, log: Any) -> None:
    data, seen = _stats("--config", str(cfg), str(log))
    assert data["requests"] > 0 and data["by_status"], data
    assert seen["read"].count(str(log)) == 1, seen["read"]
    assert seen["scratch"] == [], f"a temporary file was made: {seen['scratch']}"
    assert seen["write"] == [], f"a file was written: {seen['write']}"


def test_a_5xx_row_names_its_line_in_the_users_file() -> None:
    """The rows of the 5xx name the line of HAProxy's own file (its startup and "server DOWN"
    lines count): before, the line numbers were those of the rewritten copy, which held only
    the request lines."""
    log = HAP / "server-down-nosrv.log"
    data, _seen = _stats("--config", str(HAP / "server-down-nosrv.cfg"), str(log))
    lines = log.read_text(encoding="utf-8").splitlines()
    rows = data["requests_5xx"]
    assert rows, data
    for row in rows:
        assert row["file"] == str(log)
        text = lines[row["line"] - 1]
        assert f" {row['status']} " in text and "[" in text, (row, text)
    # the file holds lines that are no request before the first 5xx: numbering them matters
    assert rows[0]["line"] > 1 + sum(1 for ln in lines[:rows[0]["line"] - 1] if '"GET ' in ln)


def test_a_log_the_format_does_not_read_is_an_error_not_an_empty_log(tmp_path: Any) -> None:
    """Apache's access log in a ``LogFormat`` no nickname starts (without ``--config`` the
    format is guessed from the head, ``log.guess_log_format``, else ``combined``): before, the
    reader left every line out and ``stats`` printed "0 lines, 0 requests, 0 unparsed" as for an
    empty file; now it says none of the lines is a request in that format, names the first one,
    and exits 3.  A file of blank lines is still an empty log: nothing to count (exit 3 since
    stop 71, docs/guide/stats.md "Exit codes"), not a format the lines do not match."""
    log = tmp_path / "access.log"
    log.write_text("".join(f'[21/Nov/2026:10:00:0{i} +0000] 192.0.2.{i} "GET / HTTP/1.1" 502 25565\n'
                           for i in range(5)), encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["stats", "--proxy", "apache", str(log), "--format", "json", "--no-progress"])
    assert code == 3
    msg = err.getvalue().strip()
    assert len(msg.splitlines()) == 1, msg
    assert "none of the 5 lines" in msg and f"{log}:1" in msg and "--log-format" in msg
    with contextlib.redirect_stdout(io.StringIO()):  # the format given: read
        assert main(["stats", "--proxy", "apache", str(log), "--log-format", '%t %h "%r" %>s %D',
                     "--format", "json", "--no-progress"]) in (0, 1)
    blank = tmp_path / "blank.log"
    blank.write_text("\n\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(["stats", "--proxy", "apache", str(blank), "--format", "json", "--no-progress"]) == 3
    assert json.loads(out.getvalue())["lines"] == 0
    assert "nothing to count" in err.getvalue() and "none of the" not in err.getvalue()


@pytest.mark.parametrize("group_rows", [3000, 75_000])
def test_every_batch_of_a_plugins_log_is_counted(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                                 group_rows: int) -> None:
    """``read_frames`` without a native pass: each batch read by the plug-in's reader in the
    workers, the groups aggregated there and merged in order -- every one of them, the last
    too (a run that did not wait for the last group lost 8 % of 1M Apache lines while it was
    being written, BENCHMARKS.md stop 58).  Many 1 MiB batches, in groups of 3,000 rows and in
    one group."""
    import random

    from why502.app.stats import read as read_mod

    monkeypatch.setattr(read_mod, "GROUP_ROWS", group_rows)
    rng = random.Random(9)
    statuses = [rng.choice([200, 200, 200, 502, 503, 504]) for _ in range(40_000)]
    log = tmp_path / "access.log"
    log.write_text("".join(
        f'192.0.2.{i % 250} - - [21/Nov/2026:10:{i % 60:02d}:00 +0000] "GET /a/{i} HTTP/1.1" {st} 217 '
        f'{rng.randrange(10**6)}\n' for i, st in enumerate(statuses)), encoding="utf-8")
    assert log.stat().st_size > 3 << 20
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["stats", "--proxy", "apache", str(log), "--log-format", '%h %l %u %t "%r" %>s %b %D',
                     "--format", "json", "--no-progress"])
    assert code == 1
    doc = json.loads(out.getvalue())
    assert doc["lines"] == doc["requests"] == len(statuses)
    assert doc["by_status"] == {str(k): v for k, v in sorted(Counter(statuses).items())}
