"""Which access-log files ``why502 stats`` reads: the named files, else the config's
``access_log`` files, else stdin; each file once; rotated sets oldest first; files wholly outside
``--since``/``--until`` left out.

Why here and not in ``sources``: these are choices (what to read and in which order, what to
tell the user when nothing is there), made from the options and the config; ``sources`` only
reads what it is given.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from why502.errors import InputError, UsageError, not_found
from why502.parsers.log_format import CompiledFormat
from why502.proxies import DEFAULT_FLAG
from why502.sources.byte_chunks import head_tail_lines, order_rotated
from why502.sources.logfiles import file_identity
from why502.sources.opening import discovered_skip, note

if TYPE_CHECKING:
    from why502.facts.logconfig import LogConfig


def access_paths(given: list[str], cfg: LogConfig | None, stdin_default: bool) -> list[str]:
    """The access logs to read, in time order: ``given``, else the config's readable
    ``access_log`` files, else ``-`` (stdin) when ``stdin_default`` and stdin is a pipe.
    Raises ``UsageError`` when there is nothing to read, ``InputError`` for a missing file."""
    paths = list(given)
    if not paths and cfg is not None:
        named = list(dict.fromkeys(a.path for a in cfg.access_logs if not a.is_off))
        # found, not named: a FIFO or a link to /dev/stdout is never read (sources.opening)
        skips = {p: why for p in named if (why := discovered_skip(p))}
        paths = [p for p in named if p not in skips and os.path.isfile(p) and os.access(p, os.R_OK)]
        for why in skips.values():
            note(f"access log {why}")
        if not paths:
            raise InputError(
                "no access log given and none of the config's access_log files is readable: "
                + ("; ".join(skips.get(p, p) for p in named) or "none configured")
            )
    if not paths and stdin_default and not sys.stdin.isatty():
        paths = ["-"]
    if not paths:
        raise UsageError(f"give an access log file (or - for stdin), or {DEFAULT_FLAG} to find it")
    for p in paths:
        if p != "-" and not os.path.exists(p):
            raise InputError(not_found(p))
    return order_rotated(distinct(paths))


def distinct(paths: list[str]) -> list[str]:
    """``paths`` without a second name for a file already named (a symlink, a hard link,
    ``./x`` and ``x``): read twice, every line would count twice."""
    seen: set[object] = set()
    out = []
    for p in paths:
        key = file_identity(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def line_time(line: str, fmt: CompiledFormat) -> datetime | None:
    """The time of an access-log line in format ``fmt`` (naive; None when it has none)."""
    m = re.match(fmt.pattern, line)
    tf = fmt.time_field
    if not m or not tf:
        return None
    raw = m.group(tf)
    try:
        if tf == "time_local":
            return datetime.strptime(raw[:20], "%d/%b/%Y:%H:%M:%S")
        if tf == "time_iso8601":
            return datetime.strptime(raw[:19], "%Y-%m-%dT%H:%M:%S")
        return datetime.utcfromtimestamp(float(raw))
    except (ValueError, OverflowError):
        return None


def outside_window(path: str, fmt: CompiledFormat, since: datetime | None, until: datetime | None) -> bool:
    """True when a plain (seekable, not gzip) file lies wholly before ``since`` or after
    ``until``, judged by its first and last lines -- so ``--since 2h`` does not read a rotated
    set's older files at all.  Unknown -> False (read it)."""
    if since is None and until is None:
        return False
    ends = head_tail_lines(path)
    if ends is None:
        return False
    first_lines, last_lines = ends
    firsts = [t for ln in first_lines if (t := line_time(ln, fmt))]
    lasts = [t for ln in last_lines if (t := line_time(ln, fmt))]
    if not firsts or not lasts:
        return False
    if since is not None and max(lasts) < since:
        return True
    return until is not None and min(firsts) > until
