"""A ``.gz`` log inflates through one bounded reader (``sources.opening.gunzip``): past
``WHY502_MAX_INFLATED_BYTES`` the run stops with one line that names the bound and how to raise
it (exit 3) -- a 10 MB ``.gz`` inflating to 10 GB kept classify busy for minutes.  The real
console script on a real gzip file, a small bound set through the environment."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import WHY502

LINE = ('2024/05/01 10:00:00 [error] 31#31: *1 connect() failed (111: Connection refused) while '
        'connecting to upstream, client: 10.0.0.1, server: s, request: "GET / HTTP/1.1", '
        'upstream: "http://127.0.0.1:8080/", host: "s"\n')
ACCESS = '10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 502 12 "-" "curl/8"\n'


def _run(*argv: str, bound: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "WHY502_DEBUG"}
    env["WHY502_MAX_INFLATED_BYTES"] = bound
    return subprocess.run([WHY502, *argv], capture_output=True, timeout=120, check=False, env=env,
                          input=stdin if stdin is not None else b"")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("gz")
    with gzip.open(d / "error.log.gz", "wb") as fh:
        fh.write(LINE.encode() * ((3 << 20) // len(LINE) + 1))  # > 2 MiB inflated
    with gzip.open(d / "access.log.gz", "wb") as fh:
        fh.write(ACCESS.encode() * ((3 << 20) // len(ACCESS) + 1))
    return d


@pytest.mark.parametrize("argv", [("classify",), ("classify", "--format", "jsonl"),
                                  ("stats", "--no-error-log", "--log-format", "combined")])
def test_a_gz_inflating_past_the_bound_is_one_line_exit_3(logs: Path, argv: tuple[str, ...]) -> None:
    log = logs / ("access.log.gz" if argv[0] == "stats" else "error.log.gz")
    proc = _run(*argv, str(log), bound="1M")
    assert proc.returncode == 3, proc.stderr[-500:]
    (line,) = proc.stderr.decode().splitlines()
    assert "inflates to more than 1 MiB" in line and "WHY502_MAX_INFLATED_BYTES=" in line


def test_a_gz_on_stdin_is_bounded_too(logs: Path) -> None:
    proc = _run("classify", "-", bound="1M", stdin=(logs / "error.log.gz").read_bytes())
    assert proc.returncode == 3 and b"inflates to more than 1 MiB" in proc.stderr, proc.stderr[-500:]


def test_a_gz_within_the_bound_is_read_whole(logs: Path) -> None:
    proc = _run("classify", str(logs / "error.log.gz"), bound="64M")
    assert proc.returncode == 1, proc.stderr[-500:]
    assert f"{(3 << 20) // len(LINE) + 1:,}".replace(",", "") in proc.stdout.decode().replace(",", "")
