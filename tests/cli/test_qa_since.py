"""QA as a user: ``--since``/``--until`` values that are odd but typed by real people.

Each test here was written first, failing, for a bug found by hand (see the commit that fixed it).
The rules checked are the README's: never a traceback or "internal error" (exit 4) for bad input,
one clear line on stderr with the documented exit code, nothing from an input unescaped on a
terminal.
"""

from __future__ import annotations

import json

import pytest

from tests.support.clirun import why502
from tests.support.paths import FIXTURES_DIR

RECORDED = FIXTURES_DIR / "recorded"
DEMO = RECORDED / "demo-fpm-exhausted"  # error log 21:11:54-57, access log 21:14 (local time)


def diagnose_args() -> list[str]:
    return ["diagnose", "--offline", "--nginx-conf", str(DEMO / "nginx.conf"),
            "--error-log", str(DEMO / "error.log")]


SINCE_COMMANDS = {
    "classify": lambda: ["classify", str(DEMO / "error.log")],
    "stats": lambda: ["stats", str(DEMO / "access.log"), "--no-progress"],
    "diagnose": diagnose_args,
}


@pytest.mark.parametrize("since", ["99999999d", "999999999999999999999999h"])
@pytest.mark.parametrize("command", sorted(SINCE_COMMANDS))
def test_since_too_far_back_is_a_usage_error(command: str, since: str) -> None:
    """``--since 99999999d`` reaches before year 1: a usage error, not an OverflowError (exit 4)."""
    proc = why502(*SINCE_COMMANDS[command](), f"--since={since}")
    assert proc.returncode == 2, proc.stderr
    assert "internal error" not in proc.stderr
    assert proc.stderr.startswith("why502") and len(proc.stderr.strip().splitlines()) == 1
    assert "--since" in proc.stderr or since in proc.stderr


def test_stats_until_too_far_back_is_a_usage_error() -> None:
    proc = why502("stats", str(DEMO / "access.log"), "--no-progress", "--until=99999999d")
    assert proc.returncode == 2, proc.stderr
    assert "internal error" not in proc.stderr


# The machine's zone is pinned to UTC: an offset of +05:00 then means five hours earlier in the
# log's (local) time. 21:20+05:00 is 16:20 local, before every line of the fixture, so nothing
# may be dropped; read as 21:20 local (offset thrown away), everything would be.
UTC = {"TZ": "UTC"}


def test_diagnose_since_with_an_offset_is_converted_to_local_time() -> None:
    proc = why502(*diagnose_args(), "--format", "json", "--since", "2026-11-21T21:20:00+05:00",
                  env=UTC)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["findings"] and report["findings"][0]["cause"] == "workers-exhausted"
