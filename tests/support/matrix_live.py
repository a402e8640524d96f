"""The suite's sample of the fault matrix (issue 25 item 1): 40 cells, a new sample each run.

40 stays 40 with Envoy and Caddy in the matrix: the sample is one cell of every proxy x fault
pair first, then random cells up to 40.  With three proxies that was 24 pairs + 16 random; with
five it is 40 pairs + 0 random, so a run costs the same number of cells (the edge cells take
5-15 s each, as the others).  Since stop 45 (the catalog's other causes: TLS and protocol
mismatches, a PHP fatal error, a socket the workers may not open) there are 65 pairs, 75 since
stop 46 (a group held out by its marking, a full worker pool: 2-9 s a cell, as the others), 85
since stop 47 (wrong-target, 2-9 s; crash-loop, 14-16 s: supervisord's back-off): a
run takes 40 of them, drawn uniformly by its seed (``matrix.sample``), one cell each, so every
pair is run over a few runs, not in each.
The new faults' cells are among the quickest (2-4 s: a wrong protocol fails at once), so the
40 cost no more time than before.

The seed is ``WHY502_MATRIX_SEED`` when set (to repeat a run), else the run's own id: the same
in every xdist worker of one run (``PYTEST_XDIST_TESTRUNUID``, so each collects the same cells),
different from run to run.  A single-process run without either takes a fresh seed.  The seed
is in every cell's test id, so a failing cell names what repeats it:
``WHY502_MATRIX_SEED=N why502 lab matrix --sample 40 --seed N``.

The cells are split over ``PARTS`` test files (``test_matrix_live_<part>.py``) so that
``--dist loadfile`` spreads them over the workers.
"""

from __future__ import annotations

import hashlib
import os
import random

from why502.lab import matrix

SAMPLE = 40
PARTS = 4

# Cells that are diagnosed wrong today, with why: each is a real gap of the product, found by
# the matrix's first full run (docs/dev/fault-matrix.md).  The test expects them to fail
# (strict: a cell that starts passing must leave this list).  Keyed by (fault, proxy, backend),
# backend "*" for both loopback families.
# Emptied by the fixes of docs/dev/fault-matrix.md "After the fixes"; the backend kinds added one
# gap ("Backend kinds and slow clients").
KNOWN_MISSES: dict[tuple[str, str, str], str] = {
    # stop 46: Apache's connect to a PHP-FPM unix socket whose backlog is full waits for room
    # (seen: no EAGAIN, AH02454 never logged; the 504s took 1.8-3.4 s at ProxyTimeout 1), then
    # times out reading (AH01075 "(polling)"): the slow backend's words.  What would decide it:
    # 504s that took well past ProxyTimeout (the access log's %D: the wait was before the
    # response timer), or the pool's config (pm.max_children 1) with its access log serving one
    # request at a time; diagnose reads neither for it yet
    ("pool-full", "apache", "fpm-unix"): "Apache waits on a full unix backlog, then logs only "
                                         "read timeouts: backend-too-slow (fault-matrix.md stop 46)",
    # stop 47: php_fastcgi to 127.0.0.1:P while the pool listens on a unix socket.  diagnose
    # (Caddy's config read) says wrong-target from the running pool's config; watch follows
    # Caddy's logs by their family, and an edge log read alone has the listener table but no
    # PHP-FPM pools and no FastCGI target kind to weigh them with: backend-not-running
    ("wrong-target", "caddy", "fpm-tcp"): "watch behind Caddy reads no PHP-FPM pool: backend-not-"
                                          "running where diagnose says wrong-target (stop 47)",
}
# Left it at stop 47 (docs/dev/fault-matrix.md "Stop 47"): (big-header, envoy, *), Envoy's
# UPE for headers past max_response_headers_kb, now set against the probe's measured header.
# Left it at stop 42: (backend-5xx, apache, fpm-*), the pool's own 5xx relayed by mod_proxy_fcgi,
# now named from the error log's silence at a LogLevel that records Apache's own failures
# (analyzers.application ``_fastcgi_made_5xx``; 8/8 cells, docs/dev/fault-matrix.md "Stop 42").
# Left it at stop 40 (docs/dev/fault-matrix.md "Stop 40"): (bad-status-line, envoy, *), where
# Envoy's bare UPE is now decided by a live probe of the target it blames (diagnose and watch,
# which hands the config to its diagnosis); (keepalive-close, caddy, *), where the config's only
# upstream answered before and after the resets in the access log (whose lines name none).
# Cells diagnosed wrong in some runs and right in others, with why: a wrong answer is an expected
# failure, a right one passes (not strict: the outcome depends on timing the cell does not fix).
# Emptied by the fixes of docs/dev/fault-matrix.md "After the fixes"; Apache's FastCGI slow
# clients left it when the AH01075 rules got ``unless`` (patterns.toml).
# Refilled by the stop-35 rehearsals (seed 2786763833).  Left it: the app-timeout cells behind
# Apache and HAProxy with gunicorn and uWSGI, where watch named upstream-returned-5xx or
# backend-crashed on the window diagnose named backend-too-slow on: diagnose was given the app
# server's config (--app-conf), watch is not and its process scan sees nothing in the suite
# (WHY502_PROC_PIDS=0), so the app log had no identity in watch's diagnosis.  An app log now
# names its own server by its start-up line (evidence.appservers ``said``;
# tests/watch/test_watch_app_log_identity.py).
# Left it at stop 40: (backend-5xx, caddy, *), backend-too-slow ranked first in 1 of 3 runs on
# 2026-11-24 (load 11-13), never understood; right in 22 of 22 runs since (16 on 2026-11-25 at
# load 20-24, 6 at stop 40 over tcp4, tcp6, unix, fpm-tcp, fpm-unix and gunicorn at load 20-25).
# A wrong answer now fails the suite, with the seed to repeat it.
UNSTABLE: dict[tuple[str, str, str], str] = {}
# Left it: (backend-5xx, haproxy, fpm-*), whose clients got a 504 beside the pool's 502s.  The
# lab's own HAProxy config held the pool: ``option keep-conn`` (on by default) with ``http-reuse
# safe`` parks a PHP-FPM worker on each idle connection, so a new client waited ``timeout
# server`` (haproxy/haproxy#2936).  The matrix now says ``no option keep-conn``; the fault itself
# is lint rule W502-041, proven live in tests/lint/test_lint_haproxy_fcgi_live.py.


def seed() -> int:
    """This run's seed (see the module docstring)."""
    given = os.environ.get("WHY502_MATRIX_SEED")
    if given:
        return int(given)
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id:
        return int(hashlib.sha256(run_id.encode()).hexdigest()[:8], 16)
    return random.SystemRandom().randrange(1 << 31)


SEED = seed()
CELLS = matrix.sample(SAMPLE, SEED)


def part(index: int) -> list[matrix.Cell]:
    """The cells of test file ``index`` (0-based) of ``PARTS``."""
    return CELLS[index::PARTS]


def check(cell: matrix.Cell) -> None:
    """Run ``cell`` and assert what the matrix requires of it."""
    import pytest

    from why502.lab.runtime import LabSkip
    from why502.sources.proxyprocs import PIDS_ENV

    # The cell's host is the cell: its diagnose and watch see the cell's own processes
    # (``matrix._child_env``), as ``why502 lab matrix`` runs it.  The suite's "no process at
    # all" (tests/conftest.py) hid a cell's running PHP-FPM master, whose config says where the
    # pool listens (stop 47: wrong-target on a TCP FastCGI target), so the suite's cells were
    # not the scored ones.
    hidden = os.environ.pop(PIDS_ENV, None)
    try:
        result = matrix.run_cell(cell)
    except LabSkip as err:
        pytest.skip(str(err))
    finally:
        if hidden is not None:
            os.environ[PIDS_ENV] = hidden
    summary = (f"{cell.name} (seed {SEED}): expected {result.expected}, got {result.got}, "
               f"others {result.others}, exit {result.exit_code}, client statuses {result.statuses}, "
               f"{result.error or ''} {result.violations}")
    assert result.error is None or result.reproduced, "harness failure: " + summary
    miss = (KNOWN_MISSES.get((cell.fault.name, cell.proxy, cell.backend))
            or KNOWN_MISSES.get((cell.fault.name, cell.proxy, "*")))
    unstable = (UNSTABLE.get((cell.fault.name, cell.proxy, cell.backend))
                or UNSTABLE.get((cell.fault.name, cell.proxy, "*")))
    if unstable is not None and not result.right:
        pytest.xfail(f"unstable cell: {unstable}: {summary}")
    if miss is not None:
        if result.right:
            pytest.fail(f"a known miss now passes, remove it from KNOWN_MISSES: {summary}")
        pytest.xfail(f"known miss: {miss}: {summary}")
    assert not result.violations, summary
    assert result.right, summary
