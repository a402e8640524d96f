"""What ``why502 mitigate`` knows about a proxy's server groups, and what it proposes.

Proxy-neutral: the proxy-specific parts (reading groups, writing the change) are in the
``nginx``/``haproxy`` modules of this package, in functions named after the proxy."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Member:
    """One server of a group, as the config (and, for HAProxy, the runtime API) has it."""

    name: str  # HAProxy's server name; nginx: its address
    address: str
    host: str | None
    port: int | None
    unix_path: str | None
    file: str
    line: int
    backup: bool = False
    out: bool = False  # already out of rotation: nginx ``down``, HAProxy MAINT/DRAIN


@dataclass(frozen=True)
class Group:
    """An nginx ``upstream``, a HAProxy ``backend``/``listen``: the servers one request may reach."""

    name: str
    members: tuple[Member, ...]
    file: str
    line: int


@dataclass
class Proposal:
    """One stop-gap: what it does, to which servers, why, and how it is made.  ``new_texts``
    (file -> new bytes) for a config change made through ``fix``'s transaction; ``runtime``
    (backend, server) pairs for HAProxy's runtime API; ``response`` the answer a fallback serves."""

    kind: str  # take-out | fallback | timeout
    proxy: str
    group: str
    servers: list[str]
    why: str
    evidence: list[str] = field(default_factory=list)
    new_texts: dict[str, str] = field(default_factory=dict)
    runtime: list[tuple[str, str]] = field(default_factory=list)
    response: str = ""
    refused: str = ""  # one line: why this stop-gap is not allowed (nothing is done)
    addresses: list[str] = field(default_factory=list)  # of ``servers``: what --list probes again
