"""What ``why502 stats`` reads of the config of the proxy whose access log is the engine's own
format (``Capability.ENGINE_LOGS``, nginx): its ``access_log`` and ``error_log`` lines and its
named ``log_format``s, as read-only protocols.

Why protocols: ``app.stats`` chooses the files and the format from that config without importing
the proxy's folder (issue 23 item 2; ``pyproject.toml``'s forbidden contract).  nginx's
``NginxConfig`` (``proxies.nginx.config.model``: ``LogTarget``, ``LogFormat``) satisfies them as
it is.  I/O-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class LogLine(Protocol):
    """An ``access_log``/``error_log`` line: the file (``off``: none), its format, where it is."""

    @property
    def path(self) -> str: ...

    @property
    def format(self) -> str | None: ...

    @property
    def file(self) -> str: ...

    @property
    def line(self) -> int: ...

    @property
    def is_off(self) -> bool: ...


class NamedFormat(Protocol):
    """A ``log_format``: its text and escaping (``default``, ``json``, ``none``)."""

    @property
    def format(self) -> str: ...

    @property
    def escape(self) -> str: ...


class LogConfig(Protocol):
    """The config's log lines and named formats."""

    @property
    def access_logs(self) -> Sequence[LogLine]: ...

    @property
    def error_logs(self) -> Sequence[LogLine]: ...

    @property
    def log_formats(self) -> Mapping[str, NamedFormat]: ...


class NamedServer(Protocol):
    """A ``server`` block's names (``server_name``): ``watch`` tells its access lines' hosts by them."""

    @property
    def server_names(self) -> Sequence[str]: ...


class FollowedConfig(LogConfig, Protocol):
    """The default proxy's parsed config as ``watch`` holds it: its logs and formats
    (:class:`LogConfig`) and its servers' names.  nginx's ``NginxConfig`` satisfies it as it is,
    so ``app.watch`` imports no proxy's folder (pyproject.toml, "the registry only")."""

    @property
    def servers(self) -> Sequence[NamedServer]: ...
