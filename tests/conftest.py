"""Fixtures shared by every test package.

Tests are grouped by the layer they exercise (``tests/<layer>/``); helpers that several packages
use live in the ``tests.support`` package and are imported by their full name, never through
``sys.path``.  Tests marked ``real`` start real programs on loopback; ``browser`` ones drive a
headless chromium.  The quick loop is ``pytest -m "not real and not browser"``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from why502.cli.main import main
from why502.sources.proxyprocs import PIDS_ENV

RunMain = Callable[..., tuple[int, str, str]]


def pytest_configure(config: pytest.Config) -> None:
    """``WHY502_SUITE_CPU=DIR``: each test's CPU is recorded there (``tests/support/suite_cpu.py``)."""
    if os.environ.get("WHY502_SUITE_CPU"):
        from tests.support import suite_cpu

        config.pluginmanager.register(suite_cpu, "why502-suite-cpu")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``real`` that fails runs once more (pytest-rerunfailures' ``flaky``), and
    the rerun is printed in the summary (``R``, "N rerun"): such a test starts real nginx,
    HAProxy, PHP-FPM, Envoy and app servers on a 2-core machine next to five other workers, and
    its bounds are wall-clock ones (a 1 s proxy timeout, "answered within 0.8 s"), which a
    scheduler's stall can cross once without anything being wrong.  A defect fails both runs; a
    rerun seen in a run is looked into (CONTRIBUTING.md "Flaky live tests"), not left.  Pure tests
    are never rerun."""
    if not config.pluginmanager.hasplugin("rerunfailures"):
        return
    for item in items:
        if item.get_closest_marker("real") is not None and item.get_closest_marker("flaky") is None:
            item.add_marker(pytest.mark.flaky(reruns=1))


@pytest.fixture(autouse=True)
def _no_foreign_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """``diagnose`` with no flags diagnoses every proxy running on the host (``/proc``); in the
    suite that would be other tests' (or other projects') nginx and haproxy.  Discovery sees no
    process unless a test names its own PIDs (``WHY502_PROC_PIDS``); the variable reaches the
    command-line runs too (``tests.support.clirun``)."""
    monkeypatch.setenv(PIDS_ENV, "0")


@pytest.fixture(autouse=True)
def _no_notes_from_another_test() -> None:
    """The readers' notes (``sources.opening.note``: a UTF-16 file, a line cut short) wait in the
    process for the command that shows them; a test that reads a hostile file in-process and
    shows nothing would hand its notes to the next test on the same worker (seen: a stats run
    reporting another test's UTF-16 error log).  Each test starts with none."""
    from why502.sources.opening import take_notes

    take_notes()


@pytest.fixture(autouse=True)
def _the_engine_reads_small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process a batch of a few lines goes through the polars engine, not line by line
    (``errorlog_batch.PER_LINE_BELOW``): the engine's equivalence tests feed it batches of a few
    to a few dozen lines, and would otherwise compare the per-line recogniser with itself.  The
    per-line path is checked against the engine in ``tests/classify/test_classify_per_line.py``;
    the command-line runs (subprocesses) take it as a user's run does."""
    from why502.parsers import errorlog_batch

    monkeypatch.setattr(errorlog_batch, "PER_LINE_BELOW", 0)


@pytest.fixture
def run_main(capsys: pytest.CaptureFixture[str]) -> RunMain:
    """``why502 ARGV`` run in this process: (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


# Under pytest-xdist the workers inherit COLUMNS=80 / LINES=24; the commands the tests run read
# COLUMNS to decide where to wrap text, so the suite gives them the same environment whether it
# runs in one process or in several (no COLUMNS: piped output keeps long lines whole).
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

