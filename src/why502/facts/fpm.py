"""A PHP-FPM pool as its config defines it (``why502.parsers.fpm_config`` builds it).

One type for everyone: diagnose joins a pool to nginx's ``fastcgi_pass`` by its ``listen`` key
and cites the ``listen`` / ``pm.max_children`` lines in a diff; lint compares its numbers (mode
bits, memory per child, timeouts) with nginx's.  ``None`` means "not set": FPM's default applies.
Defaults from the php.net FPM configuration page and php-src ``sapi/fpm/fpm/fpm_conf.c``:
``listen.mode`` 0660, ``listen.backlog`` 511 (``FPM_BACKLOG_DEFAULT``; -1 on Linux: capped by
``net.core.somaxconn``), ``request_terminate_timeout`` 0 (off), PHP's ``memory_limit`` 128M.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from why502.facts.setting import Setting

FPM_BACKLOG_DEFAULT = 511
PHP_MEMORY_LIMIT_DEFAULT = 128 * 1024 * 1024
_SIZE = re.compile(r"\s*(\d+)([kKmMgG]?)\s*")
_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024, "g": 1024 * 1024 * 1024}
_ADMIN_OR_VALUE = ("php_admin_value[{}]", "php_value[{}]")  # admin wins (fpm_php.c)


def php_size(text: str) -> int | None:
    """PHP's shorthand bytes: ``256M`` -> 268435456, ``1g``, ``512`` (php.ini "shorthand
    notation", ``zend_atol()`` in Zend/zend_operators.c); ``None`` for anything else."""
    m = _SIZE.fullmatch(text)
    if not m:
        return None
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


_DEBIAN_CONF = re.compile(r"/etc/php/([\d.]+)/fpm/")


def debian_php_version(path: str) -> str | None:
    """``8.2`` for a file under ``/etc/php/8.2/fpm/``: Debian's packages run one FPM per PHP
    version, as the unit ``php8.2-fpm.service`` logging to ``/var/log/php8.2-fpm.log``."""
    m = _DEBIAN_CONF.search(path)
    return m.group(1) if m else None


def listen_key(listen: str) -> str:
    """Identity key of an FPM ``listen`` value (``/run/x.sock``, ``9000``, ``127.0.0.1:9000``).

    FPM treats a value starting with ``/`` as a unix socket path and a bare port as all
    addresses (``fpm_sockets.c``)."""
    value = listen.strip()
    if value.startswith("/"):
        return f"unix:{value}"
    if value.isdigit():
        return f"0.0.0.0:{value}"
    return value


@dataclass(frozen=True)
class FpmPool:
    """One pool with the settings that matter for 502/504s (``None`` = not set, FPM default)."""

    name: str
    file: str = ""  # where the [pool] section starts
    line: int = 0
    listen: str | None = None
    listen_owner: str | None = None
    listen_group: str | None = None
    listen_mode: str | None = None  # as written, e.g. "0660"; FPM default 0660 when unset
    listen_backlog: int | None = None  # FPM default 511 (-1 on Linux: capped by net.core.somaxconn)
    pm: str | None = None  # static | dynamic | ondemand
    max_children: int | None = None
    start_servers: int | None = None
    min_spare_servers: int | None = None
    max_spare_servers: int | None = None
    max_requests: int | None = None
    request_terminate_timeout: int | None = None  # seconds; 0 or None = off
    request_slowlog_timeout: int | None = None
    slowlog: str | None = None
    user: str | None = None
    group: str | None = None
    catch_workers_output: bool = False
    memory_limit: str | None = None  # php_admin_value / php_value [memory_limit], as written
    error_log: str | None = None  # the global error_log (resolved path or "syslog")
    access_log: str | None = None  # as written (``$pool`` expanded); relative: under the prefix
    access_format: str | None = None  # None: FPM's default (parsers.fpm_access.DEFAULT_FORMAT)
    prefix: str | None = None
    status_path: str | None = None
    settings: dict[str, Setting] = field(default_factory=dict)  # key -> value + file:line
    php_values: dict[str, Setting] = field(default_factory=dict)  # "php_admin_value[memory_limit]" -> ...

    # -- where -----------------------------------------------------------------------------

    def where(self, key: str) -> str | None:
        """``file:line`` of ``key`` in this pool, or ``None`` when it is not set."""
        s = self.settings.get(key)
        return s.where if s else None

    def line_of(self, key: str) -> int:
        """The line that sets ``key`` (``memory_limit`` / ``max_execution_time``: the
        ``php_(admin_)value[...]`` line), else the ``[pool]`` header's."""
        if key == "memory_limit":
            st = self._php_value("memory_limit")
        elif key == "max_execution_time":
            st = self._php_value("max_execution_time", numeric=True)
        else:
            st = self.settings.get(key)
        return st.line if st is not None and st.line is not None else self.line

    @property
    def listen_line(self) -> int | None:
        """The ``listen`` line when it is in the pool's own file (a diff edits that file)."""
        return self._own_line("listen")

    @property
    def max_children_line(self) -> int | None:
        """The ``pm.max_children`` line when it is in the pool's own file."""
        return self._own_line("pm.max_children")

    def _own_line(self, key: str) -> int | None:
        s = self.settings.get(key)
        return s.line if s is not None and s.file == self.file and s.line else None

    def _php_value(self, name: str, numeric: bool = False) -> Setting | None:
        for form in _ADMIN_OR_VALUE:
            st = self.php_values.get(form.format(name))
            if st is not None and (not numeric or st.value.strip().isdigit()):
                return st
        return None

    # -- identity --------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """Identity key of the pool's listen address (``/path`` -> ``unix:/path``)."""
        return listen_key(self.listen or "")

    @property
    def unix_path(self) -> str | None:
        """The socket path when ``listen`` is one: FPM treats a value starting with ``/`` as a unix
        socket path (``fpm_sockets.c``)."""
        return self.listen if self.listen and self.listen.startswith("/") else None

    @property
    def listen_is_unix(self) -> bool:
        return self.unix_path is not None

    def listen_tcp(self) -> tuple[str, int] | None:
        """``listen`` as (host, port): ``9000`` means all addresses, ``[::1]:9000`` IPv6."""
        if not self.listen or self.listen_is_unix:
            return None
        text = self.listen.strip()
        if text.isdigit():
            return "0.0.0.0", int(text)  # noqa: S104 -- FPM's meaning of a bare port
        host, _, port = text.rpartition(":")
        if not port.isdigit():
            return None
        return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104

    @property
    def tcp(self) -> tuple[str | None, int] | None:
        """``(host or None for any, port)`` when ``listen`` is TCP (``9000``, ``127.0.0.1:9000``)."""
        hp = self.listen_tcp()
        if hp is None:
            return None
        wildcard = ("*", "0.0.0.0", "::")  # noqa: S104 - FPM's "any address" spellings
        return (None if hp[0] in wildcard else hp[0]), hp[1]

    # -- numbers ---------------------------------------------------------------------------

    @property
    def listen_mode_bits(self) -> int | None:
        """``listen.mode`` as permission bits (``"0660"`` -> 0o660); ``None`` when unset or bad."""
        if not self.listen_mode:
            return None
        try:
            return int(self.listen_mode, 8)
        except ValueError:
            return None

    @property
    def memory_limit_bytes(self) -> int | None:
        """Bytes one child may use: the pool's ``memory_limit``, else PHP's 128M; ``None`` for
        ``-1`` (unlimited) or a value PHP would not read."""
        if self.memory_limit is None:
            return PHP_MEMORY_LIMIT_DEFAULT
        if self.memory_limit.strip() == "-1":
            return None
        return php_size(self.memory_limit)

    @property
    def max_execution_time(self) -> float | None:
        """The pool's ``php_(admin_)value[max_execution_time]`` in seconds (0 = off: ``None``)."""
        st = self._php_value("max_execution_time", numeric=True)
        return (float(st.value.strip()) or None) if st is not None else None

    @property
    def listen_acl_users(self) -> str | None:
        return self._value("listen.acl_users")

    @property
    def listen_acl_groups(self) -> str | None:
        return self._value("listen.acl_groups")

    def _value(self, key: str) -> str | None:
        st = self.settings.get(key)
        return st.value if st and st.value else None
