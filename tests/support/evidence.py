"""``Evidence`` for analyzer tests, from the fields a test cares about.

``evidence(symptoms=..., listeners=..., probes=...)`` puts each field in the record that has one
of that name (``ConfigFacts``, ``LogFacts``, ``HostFacts``, ``LiveFacts``, ``RunClock``, in that
order: ``events`` goes to the logs' record); ``proxy`` stays on ``Evidence``.  An unknown name
fails, so a test cannot silently set nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from why502.evidence.model import ConfigFacts, Evidence, HostFacts, LiveFacts, LogFacts, RunClock
from why502.facts.net import Listener

_RECORDS: tuple[tuple[str, type[Any]], ...] = (
    ("config", ConfigFacts), ("logs", LogFacts), ("host", HostFacts), ("live", LiveFacts),
    ("clock", RunClock))


def evidence(**fields: Any) -> Evidence:
    """An ``Evidence`` with ``fields`` put in their records (the rest empty)."""
    proxy = fields.pop("proxy", "nginx")
    parts: dict[str, dict[str, Any]] = {name: {} for name, _ in _RECORDS}
    for key, value in fields.items():
        for name, record in _RECORDS:
            if key in {f.name for f in dataclasses.fields(record)}:
                parts[name][key] = value
                break
        else:
            raise TypeError(f"no Evidence record has a field {key!r}")
    return Evidence(proxy=proxy, **{name: record(**parts[name]) for name, record in _RECORDS})


def with_host_listeners(ev: Evidence, listeners: tuple[Listener, ...]) -> Evidence:
    """``ev`` with the host's listening sockets set (what a live run would have read)."""
    return dataclasses.replace(ev, host=dataclasses.replace(ev.host, listeners=listeners))
