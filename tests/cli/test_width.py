"""Every text output wraps to one width (``cli.termwidth``, issue 31): 80 columns when piped,
``--width N`` on every command, ``COLUMNS`` honoured.  Before, the same report came out 159, 110
or 80 columns wide by command, and ``explain`` was hard-wrapped at 100 on an 80-column terminal.

Run through the installed console script on recorded files, as a user pipes them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len

from tests.support.clirun import why502

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CASE = FIXTURES / "recorded" / "all-upstreams-down"

COMMANDS = {
    "diagnose": ["diagnose", "--offline", "--nginx-conf", str(CASE / "nginx.conf"),
                 "--error-log", str(CASE / "error.log"), "--access-log", str(CASE / "access.log")],
    "diagnose -v": ["diagnose", "-v", "--offline", "--nginx-conf", str(CASE / "nginx.conf"),
                    "--error-log", str(CASE / "error.log"), "--access-log", str(CASE / "access.log")],
    "classify": ["classify", str(CASE / "error.log")],
    "stats": ["stats", str(CASE / "access.log"), "--error-log", str(CASE / "error.log")],
    "explain": ["explain", "502"],
    "explain line": ["explain", "upstream timed out (110: Connection timed out) while reading response "
                     "header from upstream, client: 10.0.0.1, server: a, request: \"GET / HTTP/1.1\""],
    "causes": ["causes"],
    "lint": ["lint", str(CASE / "nginx.conf")],
}


def _widest(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_piped_text_fits_80_columns_and_width_is_honoured(name: str) -> None:
    args = COMMANDS[name]
    piped = why502(*args)
    assert piped.stdout.strip() and "Traceback" not in piped.stderr, piped.stderr
    assert _widest(piped.stdout) <= 80, piped.stdout
    narrow = why502(*args, "--width", "60")
    assert narrow.returncode == piped.returncode
    assert _widest(narrow.stdout) <= 60, narrow.stdout
    wide = why502(*args, env={"COLUMNS": "132"})
    assert _widest(wide.stdout) <= 132
    if _widest(why502(*args, "--width", "200").stdout) > 80:  # a report with long lines: COLUMNS used
        assert _widest(wide.stdout) > 80, wide.stdout


@pytest.mark.parametrize("value", ["abc", "10", "-3"])
def test_a_width_that_is_not_a_usable_number_is_a_usage_error(value: str) -> None:
    res = why502("explain", "502", "--width", value)
    assert res.returncode == 2 and "--width" in res.stderr and "Traceback" not in res.stderr
