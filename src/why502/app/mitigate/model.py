"""What ``why502 mitigate`` knows about a proxy's server groups, and what it proposes.

Proxy-neutral: the proxy-specific parts (reading groups, writing the change) are in the
``nginx``/``haproxy``/``apache`` modules of this package, each gathered in one :class:`Stopgaps`
that the proxy's ``Hooks.mitigate`` names: ``run`` asks the registry, never a proxy's name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True)
class RuntimeApi:
    """A proxy that takes a server out through its runtime API, with no reload and nothing
    written (HAProxy's ``set server ... state maint``): how to reach it and what it says."""

    load: Callable[[str], Any]  # the main config -> the config the calls below take
    socket: Callable[[Any], str]  # the runtime socket that answers (refuses without one)
    set_state: Callable[[str, str, str, str], None]  # (socket, group, server, state)
    state: Callable[[Any, str, str], str | None]  # (config, group, server) -> its status now
    out: str  # the state that takes a server out ("maint") ...
    back: str  # ... and the one that puts it back ("ready")
    #: the state a server shows once it is out (``state`` starts with it: "MAINT")
    shown_out: str

    def describe(self, group: str, server: str) -> str:
        """The command, as ``mitigate`` shows it before it is sent."""
        return (f"runtime API: set server {group}/{server} state {self.out} "
                "(no reload, nothing written to the config; undo: state " + self.back + ")")


@dataclass(frozen=True)
class Stopgaps:
    """A proxy's part of ``why502 mitigate`` (named by its ``Hooks.mitigate``).

    ``groups``: the main config -> (the parsed config, its server groups).  The stop-gaps it can
    make, None where it cannot: ``take_out`` writes a server's line out of rotation in ``texts``
    (file -> new text) -- else ``runtime`` takes it out live; ``fallback`` answers for a group
    whose every server fails; ``timeout_raise`` gives a slow group more time.  The last two
    return the response (or change) to show."""

    groups: Callable[[str], tuple[Any, list[Group]]]
    take_out: Callable[[dict[str, str], Member, str, str], None] | None = None
    fallback: Callable[[Any, dict[str, str], str, str], str] | None = None
    timeout_raise: Callable[[Any, dict[str, str], str, str, int], str] | None = None
    runtime: RuntimeApi | None = None
