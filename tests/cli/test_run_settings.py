"""A run of ``main`` inside a longer-lived process leaves the process as it found it.

``main`` sets process-wide things for its command: the allocator's ``_RJEM_MALLOC_CONF``, the
cycle collector (off for the config-heavy commands), SIGTERM as an exception.  In the console
script the process ends with the run; inside the MCP server or the test suite it does not, and
a leftover ``narenas:1`` from an in-process ``classify`` was inherited by every ``why502`` the
process started later -- the memory-limit tests of ``stats`` then failed only in a one-process
suite (issue 27, class 8).  These tests fail without ``cli.main._run_settings``'s restore.
"""

from __future__ import annotations

import gc
import os
import signal
from pathlib import Path

import pytest

from why502.cli.main import main

LINE = ("2026/11/21 10:00:00 [error] 7#7: *1 connect() failed (111: Connection refused) while "
        'connecting to upstream, client: 10.0.0.1, server: a, request: "GET / HTTP/1.1", '
        'upstream: "http://127.0.0.1:8080/", host: "a"\n')


@pytest.fixture
def error_log(tmp_path: Path) -> Path:
    path = tmp_path / "error.log"
    path.write_text(LINE * 3)
    return path


def test_classify_in_process_leaves_no_allocator_setting(
    error_log: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("_RJEM_MALLOC_CONF", raising=False)
    assert main(["classify", str(error_log)]) in (0, 1)
    capsys.readouterr()
    assert "_RJEM_MALLOC_CONF" not in os.environ


def test_a_users_allocator_setting_is_kept(
    error_log: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("_RJEM_MALLOC_CONF", "narenas:2")
    main(["classify", str(error_log)])
    capsys.readouterr()
    assert os.environ["_RJEM_MALLOC_CONF"] == "narenas:2"


def test_the_collector_and_sigterm_are_put_back(
    error_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gc.isenabled()
    before = signal.getsignal(signal.SIGTERM)
    # lint is one of the commands that run with the collector off
    main(["lint", "--config", str(error_log)])
    capsys.readouterr()
    assert gc.isenabled()
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_run_that_ends_the_process_freezes_its_objects_before_collecting_again(
    error_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The console script's run (``exiting``) of a command with the collector off turns it on
    again only after ``gc.freeze``: else the first allocation collects every object the run
    made (30-40 ms at the end of each ``diagnose``) in a process about to exit.  A run inside a
    longer-lived process (``exiting`` False) freezes nothing: its objects must stay collectable."""
    assert gc.isenabled() and gc.get_freeze_count() == 0
    try:
        main(["lint", "--config", str(error_log)])
        assert gc.isenabled() and gc.get_freeze_count() == 0
        main(["lint", "--config", str(error_log)], exiting=True)
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        gc.unfreeze()
        # a command that keeps the collector on has nothing to collect at once: nothing frozen
        main(["classify", str(error_log)], exiting=True)
        assert gc.isenabled() and gc.get_freeze_count() == 0, frozen
    finally:
        gc.unfreeze()
        capsys.readouterr()


def test_what_a_parents_polars_wrote_is_not_the_users_setting() -> None:
    """polars' ``__init__`` writes its own defaults into ``_RJEM_MALLOC_CONF`` when imported, so
    a child of any process that imported polars (a test suite, an agent, a notebook) inherited
    ``dirty_decay_ms:500,muzzy_decay_ms:1000`` and ran on it instead of why502's setting: the
    stats memory-limit tests failed only inside a suite (issue 27, class 8)."""
    from why502.cli.main import ALLOCATOR, ALLOCATOR_DEFAULT, allocator_conf

    assert allocator_conf("watch", None) == ALLOCATOR_DEFAULT
    assert allocator_conf("watch", "dirty_decay_ms:500,muzzy_decay_ms:1000") == ALLOCATOR_DEFAULT
    assert allocator_conf("watch", "dirty_decay_ms:500,muzzy_decay_ms:1000,thp:always,"
                                   "metadata_thp:always") == ALLOCATOR_DEFAULT
    assert allocator_conf("diagnose", "dirty_decay_ms:500,muzzy_decay_ms:1000") == ALLOCATOR["diagnose"]
    assert allocator_conf("classify", "dirty_decay_ms:500,muzzy_decay_ms:1000") == "narenas:1"
    assert allocator_conf("stats", "dirty_decay_ms:500,muzzy_decay_ms:1000") == ALLOCATOR["stats"]
    # the value the parent had before polars appended to it is the user's, and it wins
    assert allocator_conf("stats", "dirty_decay_ms:500,muzzy_decay_ms:1000,narenas:4") == "narenas:4"
    assert allocator_conf("stats", "narenas:2") == "narenas:2"


def test_polars_import_writes_the_variable_this_guard_expects() -> None:
    """The guard names polars' keys: if a polars upgrade writes others, this says so."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import os; os.environ.pop('_RJEM_MALLOC_CONF', None);"
                          "import polars; print(os.environ.get('_RJEM_MALLOC_CONF', ''))"],
                         capture_output=True, text=True, check=True, timeout=120).stdout.strip()
    from why502.cli.main import POLARS_WRITTEN_CONF

    assert out and all(k in POLARS_WRITTEN_CONF for k in out.split(",")), out
