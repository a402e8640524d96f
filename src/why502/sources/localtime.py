"""The machine's time zone by name (for ``$msec`` access-log times).

nginx writes ``$time_local`` and the error log in the machine's local time (``ngx_times.c``,
``ngx_localtime()``), while ``$msec`` is seconds since the epoch.  To put ``$msec`` requests on
the same clock as the error log, the epoch seconds are shown in the local zone; polars needs
its IANA name (``Europe/Berlin``), which Linux keeps in ``$TZ``, ``/etc/timezone`` (Debian) or
the target of the ``/etc/localtime`` link.
"""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _valid(name: str) -> str | None:
    name = name.strip().lstrip(":")
    if not name or name.startswith("/"):
        name = name.split("zoneinfo/", 1)[1] if "zoneinfo/" in name else ""
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
    return name


def local_zone_name() -> str | None:
    """The IANA name of the local zone, or None when it cannot be told (then UTC is used)."""
    env = os.environ.get("TZ")
    if env is not None:
        return _valid(env)
    try:
        with open("/etc/timezone", encoding="utf-8") as fh:
            name = _valid(fh.read())
        if name:
            return name
    except OSError:
        pass
    try:
        return _valid(os.path.realpath("/etc/localtime"))
    except OSError:
        return None
