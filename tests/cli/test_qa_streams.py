"""Logs that can be read only once: a shell's process substitution (``why502 stats <(zcat
access.log.3.gz)``) hands why502 a pipe (``/dev/fd/63``), which cannot seek.  The first bytes
are peeked to guess the format and to spot gzip, and must then be replayed to the reader: a
guess that swallowed them used to give ``0 requests`` without a word.  An input that fails to
read (EIO) is a one-line input error, not an internal error."""

from __future__ import annotations

import gzip
import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import WHY502, why502
from tests.support.genlog import generate


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("streams")
    truth = generate(3000, out, seed=5, rate=10.0, garbage_every=1000)
    (out / "access.log.gz").write_bytes(gzip.compress((out / "access.log").read_bytes()))
    return out, truth


def _through_a_pipe(command: str, source: str) -> subprocess.CompletedProcess[str]:
    """``why502 COMMAND <(cat SOURCE)`` run by bash, as a user types it."""
    env = {k: v for k, v in os.environ.items() if k != "WHY502_DEBUG"}
    line = f"{shlex.quote(WHY502)} {command} <(cat {shlex.quote(source)})"
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=120,
                          check=False, env=env, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("name", ["access.log", "access.log.gz"])
@pytest.mark.parametrize("fmt", ["", "--log-format why502 "])
def test_stats_reads_a_pipe_whole(logs: tuple[Path, dict[str, int]], name: str, fmt: str) -> None:
    out, truth = logs
    proc = _through_a_pipe(f"stats {fmt}--no-error-log --format json", str(out / name))
    d = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr  # the generated log has 5xx
    assert d["requests"] == truth["requests"]
    assert d["unparsed"] == truth["unparsed"] > 0


@pytest.mark.parametrize("name", ["error.log"])
def test_classify_reads_a_pipe(logs: tuple[Path, dict[str, int]], name: str) -> None:
    out, _ = logs
    direct = why502("classify", "--format", "jsonl", str(out / name))
    piped = _through_a_pipe("classify --format jsonl", str(out / name))
    assert piped.returncode == direct.returncode, piped.stderr
    strip = [json.dumps({k: v for k, v in json.loads(ln).items() if k != "file"}, sort_keys=True)
             for ln in direct.stdout.splitlines()]
    got = [json.dumps({k: v for k, v in json.loads(ln).items() if k != "file"}, sort_keys=True)
           for ln in piped.stdout.splitlines()]
    assert got == strip and len(got) > 0


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs /proc")
@pytest.mark.parametrize("command", [["stats", "--no-progress"], ["classify"]])
def test_a_read_error_is_one_line(command: list[str]) -> None:
    """``/proc/self/mem`` opens but every read fails with EIO."""
    proc = why502(*command, "/proc/self/mem")
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot read" in lines[0] and "internal error" not in lines[0]
    assert "Traceback" not in proc.stderr


def test_a_load_balancer_log_through_a_pipe_with_its_type() -> None:
    """A pipe is not sniffed (it cannot be read twice): ``--log-type`` names the family."""
    src = Path(__file__).resolve().parents[1] / "fixtures" / "cloud" / "recorded" / "envoy"
    src = src / "envoy-default.log"
    proc = _through_a_pipe("stats --log-type envoy --format json", str(src))
    assert proc.returncode == 1, proc.stderr  # 1: the log holds 5xx
    d = json.loads(proc.stdout)
    assert d["log_type"] == "envoy" and d["requests"] == 14
