"""Did the fix cure the 5xx?  Judged on what the *new* configuration served only.

For ``--verify-for`` seconds after the reload: each ``--verify-url`` is requested through the
proxy again and again (requests sent after the reload reach the new workers), and every new
error-log line is classified.  At the end the finding's own backends (the targets diagnose
probed) are probed again: one that still refuses, is missing, or speaks another protocol fails
the fix.  A probe that only waits (``read-timeout``, ``workers-exhausted``) is no verdict: a
slow backend stays slow after its timeout is raised, which is what such a fix is for.

A proxy 5xx symptom from a new worker fails the fix; lines of the
old workers do not count: after a reload the old workers finish the requests they hold under the
old settings and may still log, e.g., ``upstream timed out`` (``ngx_master_process_cycle()``,
src/os/unix/ngx_process_cycle.c).  nginx writes its pid in every error-log line
(``PID#TID: *CONN``, ``ngx_log_error_core()``, src/core/ngx_log.c), which is what tells them
apart; Apache httpd writes ``[pid N]`` (its children finish their requests after a graceful
restart the same way, stopping.html).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from why502.errors import InputError
from why502.facts.probes import ProbeTarget
from why502.parsers.errorlog import classify_line
from why502.sources.netread import Bounds, fetch
from why502.sources.probes import probe
from why502.textutil import strip_terminal_escapes

# nginx: "2024/05/01 12:00:00 [error] 1234#0: ..."; Apache httpd: "[...] [proxy:error] [pid 1234:tid 5]
# ..." (ErrorLogFormat's default %P, server/log.c)
_PID = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] (\d+)#\d+:"
                  r"|^\[[^\]]*\] \[[^\]]*\] \[pid (\d+)")
FAILING = frozenset({502, 503, 504})
WAITING = frozenset({"read-timeout", "workers-exhausted"})  # probe symptoms that are no verdict


@dataclass
class Verdict:
    ok: bool
    reason: str = ""
    requests: int = 0
    ignored_old_workers: int = 0
    lines_read: int = 0
    probed: int = 0
    lines: list[str] = field(default_factory=list)


def log_offsets(paths: Iterable[str]) -> dict[str, int]:
    """The current end of each error log: only lines written after it are read."""
    out: dict[str, int] = {}
    for p in paths:
        try:
            out[p] = os.path.getsize(p)
        except OSError:
            continue
    return out


def _new_lines(offsets: dict[str, int]) -> list[str]:
    lines: list[str] = []
    for path, start in offsets.items():
        try:
            with open(path, "rb") as fh:
                fh.seek(start)
                data = fh.read(4 << 20)
        except OSError:
            continue
        complete = data[:data.rfind(b"\n") + 1]
        offsets[path] = start + len(complete)
        lines.extend(complete.decode("utf-8", "replace").splitlines())
    return lines


def request(url: str, timeout: float) -> int | str:
    """The status of ``GET url`` (any status is an answer, a redirect too), or the error as
    text.  Through the bounded reader: ``timeout`` is the whole exchange's (a server trickling
    its status line held a per-read timeout for up to 64 KiB x ``timeout``), no body is read,
    no ``http_proxy`` is used (as with ``http.client`` before)."""
    try:
        return fetch(url, Bounds(seconds=timeout), headers={"User-Agent": "why502-fix-verify"},
                     follow_redirects=False, read_body=False, proxies=False).status
    except InputError as err:
        return str(err).removeprefix(f"{url}: ")


def probe_again(targets: Sequence[ProbeTarget], verdict: Verdict, timeout: float = 2.0) -> None:
    """Probe each target once more; the first that fails in a way a config fix should have
    cured (not merely slow) fails the verdict."""
    for target in targets:
        result = probe(target, timeout=timeout)
        if result.error == "not probed":
            continue
        verdict.probed += 1
        if not result.ok and result.symptom and result.symptom not in WAITING:
            verdict.ok = False
            verdict.reason = f"probe after the reload: {strip_terminal_escapes(result.detail)[:200]}"
            return


def verify(offsets: dict[str, int], old_workers: set[int], urls: list[str], seconds: float,
           targets: Sequence[ProbeTarget] = ()) -> Verdict:
    """Watch for ``seconds``; fail at the first 5xx the new configuration serves, or when a
    backend of the finding still fails its probe at the end."""
    verdict = Verdict(True)
    deadline = time.monotonic() + seconds
    while True:
        for url in urls:
            status = request(url, timeout=max(1.0, seconds + 30))
            verdict.requests += 1
            if isinstance(status, str) or status in FAILING:
                verdict.ok = False
                verdict.reason = f"GET {url} answered {status} after the reload"
                break
        for line in _new_lines(offsets):
            verdict.lines_read += 1
            m = _PID.match(line)
            hit = classify_line(line)
            if hit is None or hit.status not in FAILING:
                continue
            if m and int(m.group(1) or m.group(2)) in old_workers:
                verdict.ignored_old_workers += 1
                continue
            verdict.ok = False
            verdict.lines.append(strip_terminal_escapes(line)[:300])
            verdict.reason = verdict.reason or f"new error-log line: {hit.symptom} ({verdict.lines[0][:160]})"
        if not verdict.ok:
            return verdict
        if time.monotonic() >= deadline:
            probe_again(targets, verdict)
            return verdict
        time.sleep(0.2)
