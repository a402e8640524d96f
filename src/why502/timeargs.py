"""The one reader of ``--since``/``--until`` values (``classify``, ``diagnose``, ``stats``).

Why a module of its own: the three commands had three copies that disagreed -- one dropped a
time-zone offset, the others converted it -- so the same ``--since`` selected different lines.

What it returns is a *naive local* datetime, because that is what the logs hold: nginx writes
``$time_local`` and the error-log stamp from the cached local time (``ngx_time_update()`` in
``src/core/ngx_times.c`` fills ``ngx_cached_err_log_time`` / ``ngx_cached_http_log_time`` from
``ngx_localtime()``), and the error log carries no zone at all.  A value given with ``Z`` or an
offset therefore names an instant: it is converted to local time, never stripped of its offset.

Bottom layer: imports nothing from why502 except ``why502.errors`` (import-linter, pyproject.toml).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from why502.errors import UsageError

__all__ = ["SecondsArg", "parse_duration", "parse_time_arg"]

# ``30s``, ``30m``, ``2h``, ``1d``, ``1w`` ago.  ASCII digits only: ``int()`` would accept other
# scripts' digits, which nobody means to type.
_RELATIVE = re.compile(r"([0-9]+)\s*([smhdw])", re.ASCII)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# a trailing ``Z``/``z`` (UTC) -- Python 3.10's fromisoformat() does not read it
_ZULU = re.compile(r"[Zz]$")
_HINT = "use e.g. 30m, 2h, 1d, 1w or an ISO time like 2026-11-20T10:00 (+01:00 or Z allowed)"


def parse_time_arg(value: str, flag: str = "--since", now: datetime | None = None) -> datetime:
    """Read one ``--since``/``--until`` value into a naive local datetime.

    Accepted: ``30s``/``30m``/``2h``/``1d``/``1w`` (that long before ``now``, default the local
    clock), or an ISO 8601 date or time with ``T`` or a space (``2026-11-20``,
    ``2026-11-20 10:00``, ``2026-11-20T10:00:00.5``), optionally with ``Z`` or ``+hh:mm``,
    which is converted to local time.  ``now`` exists for tests and recorded incidents; an aware
    ``now`` is converted to local time too.

    Raises ``UsageError`` with one line that names ``flag`` for anything else, including values
    that fall outside the years 1..9999 (``99999999d``, ``0001-01-01T00:00+14:00``).
    """
    text = value.strip()
    m = _RELATIVE.fullmatch(text)
    if m:
        try:
            base = datetime.now() if now is None else _local_naive(now)
            return base - timedelta(seconds=int(m.group(1)) * _SECONDS[m.group(2)])
        # before year 1, beyond timedelta's range, or more digits than int() reads (ValueError)
        except (OverflowError, ValueError):
            raise UsageError(f"{flag} {_shown(value)}: reaches back too far") from None
    iso = _ZULU.sub("+00:00", text.replace("/", "-"))
    if len(iso) > 10 and iso[10] == " ":
        iso = f"{iso[:10]}T{iso[11:]}"
    try:
        return _local_naive(datetime.fromisoformat(iso))
    except OverflowError:  # the offset moves it before year 1 or after 9999
        raise UsageError(f"{flag} {_shown(value)}: out of range (years 1 to 9999 only)") from None
    except ValueError:
        raise UsageError(f"{flag} {_shown(value)}: cannot read this time ({_HINT})") from None


# a duration as operators write it: ``10`` (seconds), ``10s``, ``1m``, ``250ms``, ``1.5h``, ``1m30s``
# (a number starts a run of digits, as in ``proxies/caddy/config.py``'s ``_GO_DURATION``)
_DURATION_PART = re.compile(r"(?<![0-9])([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)", re.ASCII)
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str, flag: str, minimum: float = 0.0) -> float:
    """Seconds of a duration option: ``10`` (plain seconds), ``10s``, ``1m``, ``250ms``,
    ``1.5h``, ``1m30s``.  ``UsageError`` naming ``flag`` for anything else or for less than
    ``minimum`` seconds."""
    text = value.strip().lower()
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text, re.ASCII):
        seconds = float(text)
    elif text and _DURATION_PART.sub("", text) == "":
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(text))
    else:
        raise UsageError(f"{flag} {_shown(value)}: not a duration (e.g. 10, 10s, 1m, 250ms)")
    if seconds != seconds or seconds in (float("inf"),) or seconds < minimum:
        raise UsageError(f"{flag} {_shown(value)}: must be at least {minimum:g} s")
    return seconds


class SecondsArg:
    """The argparse ``type=`` of every option that takes seconds: ``parse_duration`` with the
    option's name, so ``10``, ``10s``, ``1m``, ``250ms`` mean the same on every command (issue 26:
    "durations read as operators write them").  A bad value raises ``UsageError`` (not argparse's
    ``ArgumentTypeError``, which prints the usage too): ``cli.main`` shows it as one line naming the
    option, exit 2.  ``tests/cli/test_durations.py`` fails when an option whose
    metavar is ``SECONDS``/``DURATION`` does not use it."""

    HELP = "10, 10s, 1m, 250ms"
    """What the help texts quote."""

    def __init__(self, flag: str, minimum: float = 0.0) -> None:
        self.flag = flag
        self.minimum = minimum

    def __call__(self, value: str) -> float:
        return parse_duration(value, self.flag, self.minimum)

    def __repr__(self) -> str:
        return f"SecondsArg({self.flag!r}, {self.minimum!r})"


def _shown(value: str) -> str:
    """The value as typed, quoted with control characters escaped (``repr``: one line, inert on a
    terminal) and cut to 60 characters so a pasted blob does not flood the error line."""
    return repr(value) if len(value) <= 60 else repr(value[:60]) + "..."


def _local_naive(when: datetime) -> datetime:
    """An aware datetime as naive local time (what nginx writes); a naive one as it is."""
    if when.tzinfo is None:
        return when
    return when.astimezone().replace(tzinfo=None)
