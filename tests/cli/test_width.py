"""Every text output wraps to one width (``cli.termwidth``, issue 31): 80 columns when piped,
``--width N`` on every command, ``COLUMNS`` honoured.  Before, the same report came out 159, 110
or 80 columns wide by command, and ``explain`` was hard-wrapped at 100 on an 80-column terminal.

Run through the installed console script on recorded files, as a user pipes them.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from rich.cells import cell_len

from tests.support.clirun import why502
from why502.textutil import DIFF_LINE

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


# -- every command's text output, help included, and no timestamp broken (issue 31 item 6) --------

TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d)?|\d\d-\d\d \d\d:\d\d:\d\d|\b\d\d:\d\d:\d\d\b")
PARTIAL_DATE = re.compile(r"\d{4}-(?:\d\d-?)?")  # a token that is a date cut short ("2026-11-")
CUT = re.compile(r"\d{4}-\d\d(?:-\d\d)?T?(?:\d\d)?…|\d\d:\d\d:?\d?…")  # "2026-11-21T…", "21:1…"
PARTIAL_TIME = re.compile(r"\d\d:(?:\d\d:)?|:\d\d")  # a time cut short: "21:13:", ":58"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved report of the recorded case, and a copy of its config (fix/mitigate/render)."""
    d = tmp_path_factory.mktemp("width")
    (d / "nginx.conf").write_text((CASE / "nginx.conf").read_text())
    res = why502(*COMMANDS["diagnose"], "--format", "json", "-o", str(d / "r.json"))
    assert (d / "r.json").exists(), res.stderr
    return d


def _with_saved(d: Path) -> dict[str, list[str]]:
    return {
        "fix": ["fix", str(d / "r.json"), "--config", str(d / "nginx.conf")],
        "mitigate": ["mitigate", str(d / "r.json"), "--config", str(d / "nginx.conf")],
        "render": ["render", str(d / "r.json")],
        "lab list": ["lab", "list", "--all"],
        "diagnose --demo": ["diagnose", "--demo"],  # "between 2026-11-21" / "21:11:54" was split
    }


def _unbroken_times(text: str) -> None:
    """No time is split over two lines: none spans a line break (the end of one line joined to
    the start of the next), and no token is a date or a time cut short (a table's column folded
    "2026-11-" / "21" / "21:13:58").  A line cut with "…" at the width is not a split."""
    lines = text.splitlines()
    for token in text.split():
        assert not CUT.search(token), f"{token!r} is a time cut with an ellipsis:\n{text}"
        assert not PARTIAL_DATE.fullmatch(token), f"{token!r} is a date cut short:\n{text}"
        assert not PARTIAL_TIME.fullmatch(token), f"{token!r} is a time cut short:\n{text}"
    for a, b in itertools.pairwise(lines):
        end, start = a.rstrip(), b.lstrip()
        for joined in (f"{end} {start}", end + start):
            for m in TIME.finditer(joined):
                assert not m.start() < len(end) < m.end(), f"{m.group()!r} split:\n{a}\n{b}"


SAVED = ("fix", "mitigate", "render", "lab list", "diagnose --demo")


@pytest.mark.parametrize("name", sorted([*COMMANDS, *SAVED]))
@pytest.mark.parametrize("width", [80, 60])
def test_no_line_over_the_width_and_no_time_broken(saved: Path, name: str, width: int) -> None:
    args = COMMANDS.get(name) or _with_saved(saved)[name]
    narrow = why502(*args, "--width", str(width)) if width != 80 else why502(*args)
    assert narrow.stdout.strip() and "Traceback" not in narrow.stderr, narrow.stderr
    text = narrow.stdout
    if name in ("fix", "mitigate"):
        # a diff's lines are written whole (textutil.DIFF_LINE: a wrapped one would read as two
        # lines of the file); everything else of the plan wraps
        assert name == "fix" or any(DIFF_LINE.match(line) for line in text.splitlines()), text
        text = "\n".join(line for line in text.splitlines() if not DIFF_LINE.match(line))
    assert _widest(text) <= width, text
    _unbroken_times(narrow.stdout)


def test_classify_first_seen_is_one_compact_piece_at_80() -> None:
    """At 80 columns ``2026-11-21 21:13:58`` came out as "2026-11-" / "21" / "21:13:58"."""
    out = why502("classify", str(CASE / "error.log")).stdout
    assert "2026-11-" not in out.replace("2026-11-21 21:13:58", "")
    assert any(("11-21 21:13:58" in line or "2026-11-21 21:13:58" in line) for line in out.splitlines()), out


HELP = ["", "diagnose", "classify", "stats", "explain", "causes", "lint", "fix", "mitigate", "watch",
        "fleet", "render", "completion", "mcp", "lab", "lab list", "lab run", "lab check", "lab matrix"]


@pytest.mark.parametrize("command", HELP, ids=[c or "why502" for c in HELP])
def test_help_wraps_to_the_width(command: str) -> None:
    """``--help`` was pre-wrapped at ~100 columns when piped (101, 112, 103)."""
    args = command.split()
    piped = why502(*args, "--help")
    assert piped.returncode == 0 and piped.stdout.startswith("usage:"), piped.stderr
    assert _widest(piped.stdout) <= 80, piped.stdout
    narrow = why502(*args, "--help", "--width", "60") if args else why502("--help", env={"COLUMNS": "60"})
    assert _widest(narrow.stdout) <= 60, narrow.stdout


def test_width_is_accepted_after_every_subcommand() -> None:
    """``lab list --width 80`` was rejected (the option was on ``lab`` only), and lab list was
    139 columns wide."""
    res = why502("lab", "list", "--all", "--width", "80")
    assert res.returncode == 0, res.stderr
    assert _widest(res.stdout) <= 80
