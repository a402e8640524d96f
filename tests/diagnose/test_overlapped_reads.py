"""``diagnose`` reads the engine's access logs on a thread of their own while the error logs are
classified (``app.stats.AccessRead``, ``app.diagnose.access.start_access``), and probes the
targets while it reads the logs (``app.diagnose.probes.Probing``; issue 28 item 1).

The answer must be the one of the serial run: the same ``AccessStats`` as
``compute_for_diagnose`` with the same error rows joined (on every recorded nginx fixture with an
access log), each pass's notes (``sources.opening.note``) said in its own place, and the probes
``probe_targets`` gives.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.diagnose.test_diagnose_fixtures import METAS, materialize, options_for
from tests.support.backends import http_backend
from tests.support.reports import without
from why502.app.classify import classify_files
from why502.app.diagnose.logs import error_join_rows
from why502.app.diagnose.probes import Probing, probe_targets
from why502.app.stats import compute_for_diagnose
from why502.app.stats.errorlog import JoinRows
from why502.app.stats.run import AccessRead
from why502.evidence.model import TargetFact
from why502.findings.model import Diagnostic
from why502.proxies.nginx.source import load_config
from why502.sources.opening import note, own_notes, take_notes

WITH_ACCESS = [m for m in METAS if "access_log" in m["files"] and m.get("proxy", "nginx") == "nginx"]


def _error_rows(path: str) -> JoinRows:
    join = JoinRows()
    for df in classify_files([path], with_text=True):
        join.add(error_join_rows(df))
    return join


@pytest.mark.parametrize("meta", WITH_ACCESS, ids=[m["scenario"] for m in WITH_ACCESS])
def test_the_threaded_read_gives_the_serial_stats(meta: dict[str, Any], tmp_path: Path) -> None:
    meta = materialize(meta, tmp_path)
    opts = options_for(meta)
    cfg = load_config(opts.default_proxy_config or "")
    error_log, access = opts.error_logs[0], list(opts.access_logs)
    join = _error_rows(error_log)
    try:
        serial = compute_for_diagnose(access, config=cfg, error_logs=[error_log], errors=join.result())
        read = AccessRead(access, cfg)
        try:
            threaded = read.finish([error_log], join.result())
        finally:
            read.close()
    finally:
        join.close()
    assert threaded.requests > 0
    assert threaded.to_dict() == serial.to_dict()


def test_a_thread_keeps_its_notes_apart() -> None:
    """A note made on the access-log thread is neither taken by the error-log pass's
    ``take_notes`` nor lost: it stays in the thread's own list."""
    take_notes()
    mine: list[str] = []
    noted = threading.Event()
    taken = threading.Event()

    def work() -> None:
        with own_notes() as notes:
            note("access.log: 2 line(s) longer than 64 MiB cut")
            noted.set()
            taken.wait(10)
            mine.extend(notes)

    thread = threading.Thread(target=work)
    thread.start()
    assert noted.wait(10)
    note("error.log: stopped reading after 10 bytes")
    assert take_notes() == ["error.log: stopped reading after 10 bytes"]
    taken.set()
    thread.join(10)
    assert mine == ["access.log: 2 line(s) longer than 64 MiB cut"]
    assert take_notes() == []


def _untimed(doc: Any) -> Any:
    """A probe's JSON without its timings (``elapsed_ms``), which no two probes share."""
    return without(doc, ("elapsed_ms",))


def test_the_probes_started_early_are_the_serial_probes() -> None:
    """A target that answers (a real HTTP server on loopback) and one that refuses (a port
    nobody listens on): ``Probing`` gives what ``probe_targets`` gives."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # free once closed: refused
    with http_backend() as up:
        targets = [TargetFact(key=f"127.0.0.1:{up}", host="127.0.0.1", port=up),
                   TargetFact(key=f"127.0.0.1:{closed}", host="127.0.0.1", port=closed)]
        early = Probing(targets, 2.0).result()
        serial = probe_targets(targets, 2.0)
    assert _untimed(early[1]) == _untimed(serial[1])
    assert early[1][f"127.0.0.1:{up}"]["protocol"]["status"] == 200
    assert early[1][f"127.0.0.1:{closed}"] != early[1][f"127.0.0.1:{up}"]


def test_the_host_read_started_early_is_the_serial_read(tmp_path: Path) -> None:
    """``HostReading`` (``read_host`` on its own thread while the logs are read) gives the
    serial read's facts, and hands its diagnostics and notes to the caller's lists: the
    recorded OOM kill's kernel log (read from the file, as ``--kernel-log`` names it), its
    listeners and units as this host has them."""
    from why502.app.diagnose.inputs import read_config
    from why502.app.diagnose.live import HostReading, read_host

    meta = next(m for m in METAS if m["scenario"] == "backend-oom-killed")
    meta = materialize(meta, tmp_path)
    opts = options_for(meta)
    assert opts.kernel_log
    conf = read_config(opts, [], {})
    serial_diags: list[Diagnostic] = []
    serial = read_host(conf, None, serial_diags, kernel_log_given=False)
    early_diags: list[Diagnostic] = []
    early = HostReading(conf, None, kernel_log_given=False).result(early_diags)
    assert early.events == serial.events  # listeners change from one read to the next; events do not
    assert [d.message for d in early_diags] == [d.message for d in serial_diags]
    assert early.resolvers == serial.resolvers and early.worker_user == serial.worker_user


def test_the_host_reads_notes_and_failure_reach_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``read_host`` notes on its thread is the caller's after ``result`` (not left in the
    thread's list, not taken by the log pass meanwhile), and what it raised is raised there."""
    from why502.app.diagnose import live
    from why502.evidence.model import HostFacts

    def noting(conf: object, since: object, diags: list[Diagnostic], kernel_log_given: bool) -> HostFacts:
        note("kern.log: stopped reading after 10 bytes")
        diags.append(Diagnostic("info", "systemd is not running here"))
        return HostFacts()

    take_notes()
    monkeypatch.setattr(live, "read_host", noting)
    diags: list[Diagnostic] = []
    reading = live.HostReading(None, None, kernel_log_given=False)  # type: ignore[arg-type]
    assert reading.result(diags) == HostFacts()
    assert [d.message for d in diags] == ["systemd is not running here"]
    assert take_notes() == ["kern.log: stopped reading after 10 bytes"]

    def failing(conf: object, since: object, diags: list[Diagnostic], kernel_log_given: bool) -> HostFacts:
        raise OSError("no /proc")

    monkeypatch.setattr(live, "read_host", failing)
    with pytest.raises(OSError, match="no /proc"):
        live.HostReading(None, None, kernel_log_given=False).result([])  # type: ignore[arg-type]
