"""An incident's diagnosis: ``why502 diagnose`` run on the lines of watch's window.

Why the same command and not a second engine: the cause an alert names must be the one
``diagnose`` prints for the same lines, and the only way that stays true as analyzers, providers
and proxies change is that it *is* ``diagnose``: the window's lines (``window.LogWindow``, in
memory) are handed to it as the logs, with the inputs watch was given (``--config``,
``--proxy``, ``--log-type``, ``--offline``), so ``watch`` and ``diagnose`` agree by construction
(``tests/watch/test_watch_same_cause.py`` checks it for every proxy family).

Why a child process and not a thread: the diagnosis needs polars, the config parsers, the
probes and the analyzers -- ~60 MB that would stay in the agent's RSS for good after the first
incident (CPython and jemalloc give little back).  In a child they are paid only while an
incident is diagnosed and freed when it exits, so the follow loop stays light (issue 28: a watch
agent <= 64 MB).  The window's lines reach the child as files in a private directory
(``mkdtemp``: mode 0700, this user's only), removed when the diagnosis is in; the child's
report comes back as the JSON of ``diagnose --format json`` (``Report.from_dict``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

from why502.errors import EXIT_FINDINGS, EXIT_HEALTHY
from why502.findings.model import Report
from why502.textutil import dump_json

__all__ = ["DIAGNOSIS_TIMEOUT", "DiagnosisInputs", "diagnose_argv", "diagnose_window"]

DIAGNOSIS_TIMEOUT = 600.0  # seconds: a diagnosis that hangs (a probe, a journal) is given up

# how each kind of followed log is handed to diagnose
FLAG = {"error": "--error-log", "fpm": "--fpm-log", "app": "--app-log", "kernel": "--kernel-log",
        "access": "--access-log",
        "lb": "--access-log"}


@dataclass
class DiagnosisInputs:
    """What watch was told to read besides its logs: the same flags go to ``diagnose``."""

    config: str | None = None  # --config / --nginx-conf (the host's config when discovered)
    proxy: str | None = None
    log_type: str | None = None
    offline: bool = False
    extra: list[str] = field(default_factory=list)  # more diagnose flags (tests)


def diagnose_argv(inputs: DiagnosisInputs, logs: list[tuple[str, str]]) -> list[str]:
    """``why502 diagnose``'s arguments for the window files ``logs`` (``(kind, path)``)."""
    argv = ["diagnose", "--format", "json", "--no-redact"]
    if inputs.config is not None:
        argv += ["--config", inputs.config]
    if inputs.proxy is not None:
        argv += ["--proxy", inputs.proxy]
    if inputs.log_type is not None:
        argv += ["--log-type", inputs.log_type]
    if inputs.offline:
        argv.append("--offline")
    for kind, path in logs:
        argv += [FLAG[kind], path]
    return [*argv, *inputs.extra]


def diagnose_window(inputs: DiagnosisInputs, windows: list[tuple[str, str, bytes]],
                    timeout: float = DIAGNOSIS_TIMEOUT) -> Report | str:
    """The report of ``diagnose`` on the window's lines (``(kind, followed path, lines)`` per
    followed log), or a one-line reason it could not be made (watch says it and goes on).  The
    report names each followed log as ``PATH [watch window]`` where diagnose saw the window's
    file (its line numbers count from the window's first line)."""
    kept = list(windows)
    if not any(data for _kind, _name, data in kept) and inputs.config is None and not inputs.extra:
        return "the window holds no line to diagnose"
    # an empty window is still given (an empty file): diagnose reads the window, never the
    # config's logs on disk; with no line at all the live checks of the config speak (a target
    # found down by the health checks before any traffic)
    tmp = tempfile.mkdtemp(prefix="why502-watch-window-")
    try:
        logs: list[tuple[str, str]] = []
        names: dict[str, str] = {}
        for i, (kind, name, data) in enumerate(kept):
            # under the followed log's own name: diagnose picks an access log's log_format by
            # the config's access_log path or file name (app.stats.formats)
            os.mkdir(os.path.join(tmp, str(i)))
            base = os.path.basename(name) if name != "-" else f"stdin-{kind}.log"
            path = os.path.join(tmp, str(i), base or f"{kind}.log")
            with open(path, "wb") as fh:
                fh.write(data)
            logs.append((kind, path))
            names[path] = f"{'stdin' if name == '-' else name} [watch window]"
        argv = [sys.executable, "-m", "why502", *diagnose_argv(inputs, logs)]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return f"diagnose did not finish in {timeout:g}s"
        except OSError as err:
            return f"cannot run diagnose: {err.strerror or err}"
        if done.returncode not in (EXIT_HEALTHY, EXIT_FINDINGS):
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            return (said[-1] if said else f"diagnose exited {done.returncode}").removeprefix("why502: ")
        text = done.stdout.decode("utf-8", "replace")
        for path, name in names.items():
            text = text.replace(dump_json(path, indent=None)[1:-1], dump_json(name, indent=None)[1:-1])
        try:
            return Report.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError) as err:
            return f"diagnose's report could not be read: {err}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
