"""The noisy host's baseline laid over a *recorded* scenario, offline (no proxy runs).

Re-running every proxy on a noisy host takes minutes; the noise itself is recorded from a real
nginx (:func:`why502.lab.noise.record_baseline`, ``lab/assets/noise.json``), so laying it over
the recorded inputs of a scenario (``tests/fixtures/recorded/<name>/``) checks the same thing in
a second: the answer must not change on a host that also serves another healthy application,
static files (some missing), TLS scanners and impatient clients, whose kernel log holds other
jobs' OOM kills and whose error log still holds yesterday's incident.

What :func:`replay` changes in a materialized recording (its ``/lab`` put back to a real dir):

- ``nginx.conf``: the other application's ``upstream`` and the ``/other/`` and ``/static/``
  locations in the scenario's server (nginx recordings only);
- ``access.log``: the recorded noise requests, their times moved into the scenario's own minute
  and merged in time order (cut to nginx's ``combined`` fields when the scenario logs
  ``combined``, which is a prefix of the lab's format);
- the error log: yesterday's finished incident first, then the noise's error/info lines merged in
  time order (the ClientHello's raw bytes included);
- the kernel log: other jobs' OOM kills and segfaults an hour before the scenario (every proxy).

Apache and HAProxy recordings get their own proxy's recorded noise
(:func:`why502.lab.noise_replay_proxies.replay_proxy`): the routes in their config, the lines in their
error log / httplog, yesterday's incident first.

The listener of the other application (``python3`` on the recorded address) is returned: it was
listening when the noise was recorded, as the scenario's backends were during theirs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from why502.facts.net import Listener, split_key
from why502.lab.noise import PLACEHOLDER, insert_blocks, kernel_noise, load_baseline, old_incident

_ACCESS_TIME = re.compile(r"\[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}) ([+-]\d{4})\]")
_ERROR_TIME = re.compile(r"^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) ")
_COMBINED = re.compile(r'^(\S+ \S+ \S+ \[[^\]]+\] "(?:[^"\\]|\\.)*" \d{3} \S+ "(?:[^"\\]|\\.)*" '
                       r'"(?:[^"\\]|\\.)*")')
TimeOf = Callable[[str], "datetime | None"]
_A_FMT = "%d/%b/%Y:%H:%M:%S"
_E_FMT = "%Y/%m/%d %H:%M:%S"


def _read(path: Path) -> list[str]:
    if not path.exists():
        return []
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n") if text else []


def _write(path: Path, lines: list[str]) -> None:
    path.write_bytes(("".join(line + "\n" for line in lines)).encode("utf-8", "surrogateescape"))


def _access_time(line: str) -> datetime | None:
    m = _ACCESS_TIME.search(line)
    return datetime.strptime(m.group(1), _A_FMT) if m else None


def _error_time(line: str) -> datetime | None:
    m = _ERROR_TIME.match(line)
    return datetime.strptime(m.group(1), _E_FMT) if m else None


def _shift_access(line: str, delta: timedelta) -> str:
    def sub(m: re.Match[str]) -> str:
        t = datetime.strptime(m.group(1), _A_FMT) + delta
        return f"[{t.strftime(_A_FMT)} {m.group(2)}]"
    return _ACCESS_TIME.sub(sub, line, count=1)


def _shift_error(line: str, delta: timedelta) -> str:
    m = _ERROR_TIME.match(line)
    if not m:
        return line
    return (datetime.strptime(m.group(1), _E_FMT) + delta).strftime(_E_FMT) + line[m.end(1):]


def _merge(own: list[str], noise: list[str], when: TimeOf) -> list[str]:
    """Both lists in time order (stable: at equal seconds the scenario's lines come first; a line
    without a time, such as a continuation of raw bytes, stays after the line before it)."""
    keyed: list[tuple[datetime, int, int, str]] = []
    for rank, lines in enumerate((own, noise)):
        last = datetime.min
        for i, line in enumerate(lines):
            t = when(line) or last
            last = t
            keyed.append((t, rank, i, line))
    return [line for *_, line in sorted(keyed)]


def _start(lines: list[str], when: TimeOf) -> datetime | None:
    return next((t for line in lines if (t := when(line)) is not None), None)


def replay(root: Path, meta: dict[str, Any]) -> tuple[dict[str, str], tuple[Listener, ...]]:
    """Lay the recorded baseline over the recording materialized at ``root`` (see the module
    docstring); returns its new file map (a ``kernel_log`` added) and the extra listeners."""
    base = load_baseline()
    if meta.get("proxy") in ("apache", "haproxy") and meta["proxy"] in base:
        from why502.lab.noise_replay_proxies import replay_proxy  # it uses this module's helpers

        return replay_proxy(root, meta, base[meta["proxy"]])
    files = dict(meta["files"])
    fix = str(root)

    def here(text: str) -> str:
        return text.replace(PLACEHOLDER, fix)

    error_path = root / files["error_log"]
    access_path = root / files["access_log"] if "access_log" in files else None
    own_error = _read(error_path)
    own_access = _read(access_path) if access_path is not None else []
    start = _start(own_access, _access_time) or _start(own_error, _error_time)
    if start is None:
        start = datetime.strptime(str(meta.get("recorded_at", ""))[:19], "%Y-%m-%dT%H:%M:%S")
    listeners: tuple[Listener, ...] = ()
    nginx = "nginx_conf" in files
    if nginx:
        conf_path = root / files["nginx_conf"]
        conf = insert_blocks(conf_path.read_text(), base["upstream"], here(base["locations"]))
        if conf is not None:
            conf_path.write_text(conf)
            host, port, _ = split_key(base["backend"])
            listeners = (Listener("tcp", host, port, process="python3"),)
        noise_start = _start(base["access"], _access_time) or start
        delta = start - noise_start
        if access_path is not None:
            combined = (meta.get("log_format") or {}).get("name") == "combined"
            lines = [_shift_access(here(line), delta) for line in base["access"]]
            if combined:
                lines = [m.group(1) if (m := _COMBINED.match(line)) else line for line in lines]
            _write(access_path, _merge(own_access, lines, _access_time))
        noise_error = [_shift_error(here(line), delta) for line in base["error"]]
        own_error = _merge(own_error, noise_error, _error_time)
    _write(error_path, old_incident(start) + own_error if nginx else own_error)
    kernel = root / files.get("kernel_log", "kernel.log")
    _write(kernel, kernel_noise(start) + _read(kernel))
    files["kernel_log"] = str(kernel.relative_to(root))
    return files, listeners
