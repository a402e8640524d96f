"""The noisy baseline of Apache httpd and HAProxy laid over their *recorded* scenarios, offline.

:func:`replay_proxy` does for an Apache or HAProxy recording what
:func:`why502.lab.noise_replay.replay` does for nginx's, with the noise recorded from the real
proxy (:func:`why502.lab.noise_proxies.record`, ``noise.json`` ``"apache"``/``"haproxy"``):

- the config gets the other application's route and the static files (Apache: ``ProxyPass
  /other/`` and ``ProxyPass /static/ !`` before the scenario's routes; HAProxy: two
  ``use_backend`` rules in the frontend and ``backend noise_other``/``noise_static``);
- the error log (Apache's ``ErrorLog``, HAProxy's httplog) starts with yesterday's finished
  incident (the recorded ``/legacy`` lines moved a day before the scenario, towards an application
  the config no longer has), then the noise's lines merged in time order into the scenario's
  (HAProxy's ``haproxy[PID]`` made the scenario's own: one process writes that log);
- Apache's access log gets the recorded 200/404/400 lines the same way;
- the kernel log: other jobs' OOM kills and segfaults, as for every proxy.

Times: Apache's error log stamps ``[Mon Nov 23 09:36:53.886640 2026]`` (``apr_ctime`` with
microseconds, ``ErrorLogFormat`` default), HAProxy's RFC 3164 header ``Nov 23 09:19:43`` (day
padded with a space) and its accept date ``[23/Nov/2026:09:19:43.486]`` (configuration.txt 8.2.3)
are both moved.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from why502.facts.net import Listener, split_key
from why502.lab.noise import PLACEHOLDER, kernel_noise
from why502.lab.noise_proxies import apache_directives, haproxy_blocks, insert_apache, insert_haproxy
from why502.lab.noise_replay import TimeOf, _access_time, _merge, _read, _shift_access, _start, _write

_APACHE = re.compile(r"^\[([A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2})\.(\d+) (\d{4})\]")
_SYSLOG = re.compile(r"^(<\d+>)([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) ")
_ACCEPT = re.compile(r"\[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2})\.(\d{3})\]")
_PID = re.compile(r"haproxy\[(\d+)\]")


def _apache_time(line: str) -> datetime | None:
    m = _APACHE.match(line)
    if not m:
        return None
    t = datetime.strptime(f"{m.group(1)} {m.group(3)}", "%a %b %d %H:%M:%S %Y")
    return t.replace(microsecond=int(m.group(2)[:6].ljust(6, "0")))


def _shift_apache(line: str, delta: timedelta) -> str:
    t = _apache_time(line)
    if t is None:
        return line
    m = _APACHE.match(line)
    t += delta
    return f"[{t:%a %b %d %H:%M:%S}.{t.microsecond:06d} {t.year}]" + line[m.end():] if m else line


def _syslog_time(year: int) -> TimeOf:
    def when(line: str) -> datetime | None:
        m = _SYSLOG.match(line)
        return datetime.strptime(f"{year} {m.group(2)}", "%Y %b %d %H:%M:%S") if m else None
    return when


def _shift_haproxy(line: str, delta: timedelta, year: int) -> str:
    m = _SYSLOG.match(line)
    if m:
        t = datetime.strptime(f"{year} {m.group(2)}", "%Y %b %d %H:%M:%S") + delta
        line = f"{m.group(1)}{t:%b} {t.day:2d} {t:%H:%M:%S} " + line[m.end():]

    def accept(a: re.Match[str]) -> str:
        t = datetime.strptime(a.group(1), "%d/%b/%Y:%H:%M:%S") + delta
        return f"[{t:%d/%b/%Y:%H:%M:%S}.{a.group(2)}]"
    return _ACCEPT.sub(accept, line, count=1)


def yesterday_lines(proxy: str, base: dict[str, Any], now: datetime) -> list[str]:
    """The recorded old incident of ``proxy`` moved to a day before ``now`` (the rotated log)."""
    when = _apache_time if proxy == "apache" else _syslog_time(now.year)
    first = _start(base["old_error"], when) or now
    delta = now - first - timedelta(days=1)
    if proxy == "apache":
        return [_shift_apache(ln, delta) for ln in base["old_error"]]
    return [_shift_haproxy(ln, delta, now.year) for ln in base["old_error"]]


def replay_proxy(root: Path, meta: dict[str, Any], base: dict[str, Any]
                 ) -> tuple[dict[str, str], tuple[Listener, ...]]:
    """Lay ``base`` (the proxy's recorded noise) over the recording materialized at ``root``;
    returns its new file map (a ``kernel_log`` added) and the noise's listeners."""
    files = dict(meta["files"])
    fix = str(root)
    proxy = meta["proxy"]
    error_path = root / files["error_log"]
    own = _read(error_path)
    year = datetime.now().year
    if proxy == "apache":
        when: TimeOf = _apache_time
    else:
        when = _syslog_time(year)
    start = _start(own, when)
    if start is None:
        start = datetime.strptime(str(meta.get("recorded_at", ""))[:19], "%Y-%m-%dT%H:%M:%S")
        year = start.year
        when = _apache_time if proxy == "apache" else _syslog_time(year)
    noise_start = _start(base["error"] + base["old_error"], when) or start
    delta = start - noise_start
    yesterday = delta - timedelta(days=1)
    conf_path = root / files["config"]
    conf = conf_path.read_text()
    addresses = [base["other"]]
    if proxy == "apache":
        conf_path.write_text(insert_apache(conf, apache_directives(base["other"])))
        noise = [_shift_apache(ln.replace(PLACEHOLDER, fix), delta) for ln in base["error"]]
        old = [_shift_apache(ln, yesterday) for ln in base["old_error"]]
        if "access_log" in files:
            access = root / files["access_log"]
            lines = [_shift_access(ln, delta) for ln in base["access"]]
            _write(access, [_shift_access(ln, yesterday) for ln in base["old_access"]]
                   + _merge(_read(access), lines, _access_time))
    else:
        addresses.append(base["static"])
        front, back = haproxy_blocks(base["other"], base["static"])
        conf_path.write_text(insert_haproxy(conf, front, back))
        pid = next((m.group(1) for ln in own if (m := _PID.search(ln))), None)
        noise = [_shift_haproxy(ln, delta, year) for ln in base["error"]]
        if pid is not None:
            noise = [_PID.sub(f"haproxy[{pid}]", ln, count=1) for ln in noise]
        old = [_shift_haproxy(ln, yesterday, year) for ln in base["old_error"]]
    _write(error_path, old + _merge(own, noise, when))
    kernel = root / files.get("kernel_log", "kernel.log")
    _write(kernel, kernel_noise(start) + _read(kernel))
    files["kernel_log"] = str(kernel.relative_to(root))
    listeners = []
    for address in addresses:
        host, port, _ = split_key(address)
        listeners.append(Listener("tcp", host, port, process="python3"))
    return files, tuple(listeners)
