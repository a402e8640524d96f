"""QA as a user: bad, hostile and odd input to every command, run as a subprocess.

Each test here was written first, failing, for a bug found by hand (see the commit that fixed it).
The rules checked are the README's: never a traceback or "internal error" (exit 4) for bad input,
one clear line on stderr with the documented exit code, nothing from an input unescaped on a
terminal.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import WHY502, why502
from tests.support.paths import FIXTURES_DIR

RECORDED = FIXTURES_DIR / "recorded"
DEMO = RECORDED / "demo-fpm-exhausted"  # error log 21:11:54-57, access log 21:14 (local time)


HOSTILE = "x\x1b]0;pwned\x07\x1b[2J.log"


@pytest.mark.parametrize("args", [["classify", HOSTILE], ["stats", HOSTILE], ["lint", HOSTILE],
                                  ["render", HOSTILE], ["diagnose", "--offline", "--error-log",
                                                        HOSTILE]])
def test_error_lines_carry_no_terminal_escapes(args: list[str]) -> None:
    """A path (from a glob, a config or a paste) is printed in the error line: made inert."""
    proc = why502(*args)
    assert proc.returncode == 3, proc.stderr
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr, repr(proc.stderr)
    # the name as it is, its control characters shown inert (never a clean-looking "x.log")
    assert "x\\x1b]0;pwned\\x07\\x1b[2J.log" in proc.stderr


def _with_closed_stdout(*args: str) -> subprocess.CompletedProcess[str]:
    """Run with a stdout pipe whose reader is already gone (``why502 ... | head -0``)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([WHY502, *args], stdout=write_end, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", proc.stderr)


@pytest.mark.parametrize("args", [
    ["stats", str(DEMO / "access.log"), "--no-progress"],  # rich tables
    ["stats", str(DEMO / "access.log"), "--no-progress", "--format", "json"],  # plain write
    ["causes"],
])
def test_reader_gone_is_not_an_error(args: list[str]) -> None:
    """``why502 stats log | head -1``: the same exit code whether the output is rich or plain."""
    proc = _with_closed_stdout(*args)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def test_classify_names_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    proc = why502("classify", str(empty))
    # no line: nothing to classify, exit 3 (it was 0, "No upstream failure found.": an all-clear)
    assert proc.returncode == 3, proc.stderr
    first = proc.stdout.split("\n\n")[0].replace("\n", "")  # the header, wrapped at 80 columns
    assert "empty.log" in first and "(no input)" not in first, first
    assert "Nothing to classify" in first


def test_classify_without_a_file_on_a_terminal_says_what_it_wants() -> None:
    """``why502 classify`` typed alone at a terminal waited silently for stdin (like a hang);
    ``why502 stats`` says what to give. A pipe (``... | why502 classify``) still works."""
    import pty
    import select
    import time

    main, sub = pty.openpty()
    proc = subprocess.Popen([WHY502, "classify"], stdin=sub, stdout=sub, stderr=sub)
    os.close(sub)
    out = b""
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if select.select([main], [], [], 0.2)[0]:
                try:
                    out += os.read(main, 4096)
                except OSError:
                    break
        # the pty read can end (EIO) a moment before the process is reaped: wait, bounded
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(main)
    assert code == 2, out
    assert b"stdin" in out or b"pipe" in out, out
