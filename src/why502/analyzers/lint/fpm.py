"""PHP-FPM pools as lint sees them (``PoolInfo``), built from the FPM config parser's pools.

Parsing is ``why502.parsers.fpm_config`` (shared with diagnose); this module only converts its
``FpmPool`` into the numbers lint compares (octal mode, byte sizes, seconds, key -> line) and
applies FPM's defaults.  Defaults from the php.net FPM configuration page:
``listen.mode`` 0660, ``listen.backlog`` 511 (``FPM_BACKLOG_DEFAULT``), owner/group = the user
running FPM, ``request_terminate_timeout`` 0 (off).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from why502.parsers.fpm_config import FpmPool, build_config, parse_fpm_text
from why502.parsers.nginx_config import parse_size

FPM_BACKLOG_DEFAULT = 511
PHP_MEMORY_LIMIT_DEFAULT = 128 * 1024 * 1024


@dataclass(frozen=True)
class PoolInfo:
    """The keys lint uses, with the line of each key (``lines``) for file:line findings."""

    name: str
    file: str
    line: int
    listen: str | None = None
    listen_owner: str | None = None
    listen_group: str | None = None
    listen_mode: int | None = None
    listen_backlog: int | None = None
    listen_acl_users: str | None = None
    listen_acl_groups: str | None = None
    user: str | None = None
    group: str | None = None
    pm: str | None = None
    max_children: int | None = None
    request_terminate_timeout: float | None = None
    memory_limit: int | None = None
    max_execution_time: float | None = None  # pool php_(admin_)value[max_execution_time], if set
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def unix_path(self) -> str | None:
        """The socket path when ``listen`` is a path (FPM: anything starting with ``/``)."""
        if self.listen and self.listen.startswith("/"):
            return self.listen
        return None

    @property
    def tcp(self) -> tuple[str | None, int] | None:
        """``(host or None for any, port)`` when ``listen`` is TCP (``9000``, ``127.0.0.1:9000``)."""
        if not self.listen or self.listen.startswith("/"):
            return None
        text = self.listen
        if text.isdigit():
            return None, int(text)
        host, _, port = text.rpartition(":")
        if not port.isdigit():
            return None
        host = host.strip("[]")
        wildcard = ("", "*", "0.0.0.0", "::")  # noqa: S104 - FPM's "any address" spellings
        return (None if host in wildcard else host), int(port)

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.line)


def pool_info(pool: FpmPool) -> PoolInfo:
    """Lint's view of a pool parsed by ``why502.parsers.fpm_config``."""
    mem: int | None = PHP_MEMORY_LIMIT_DEFAULT
    lines = {key: st.line for key, st in pool.settings.items()}
    if pool.memory_limit is not None:
        mem = None if pool.memory_limit.strip() == "-1" else parse_size(pool.memory_limit)
        for key in ("php_admin_value[memory_limit]", "php_value[memory_limit]"):
            if key in pool.php_values:
                lines.setdefault("memory_limit", pool.php_values[key].line)
                break
    mode: int | None = None
    if pool.listen_mode:
        try:
            mode = int(pool.listen_mode, 8)
        except ValueError:
            mode = None
    rtt = pool.request_terminate_timeout
    met: float | None = None
    for key in ("php_admin_value[max_execution_time]", "php_value[max_execution_time]"):
        st = pool.php_values.get(key)
        if st is not None and st.value.strip().isdigit():
            met = float(st.value.strip()) or None
            lines.setdefault("max_execution_time", st.line)
            break
    return PoolInfo(
        name=pool.name, file=pool.file, line=pool.line, listen=pool.listen,
        listen_owner=pool.listen_owner or None, listen_group=pool.listen_group or None,
        listen_mode=mode, listen_backlog=pool.listen_backlog,
        listen_acl_users=_value(pool, "listen.acl_users"),
        listen_acl_groups=_value(pool, "listen.acl_groups"),
        user=pool.user, group=pool.group, pm=pool.pm, max_children=pool.max_children,
        request_terminate_timeout=float(rtt) if rtt else None, memory_limit=mem,
        max_execution_time=met, lines=lines,
    )


def _value(pool: FpmPool, key: str) -> str | None:
    st = pool.settings.get(key)
    return st.value if st and st.value else None


def parse_pools(text: str, file: str) -> list[PoolInfo]:
    """Every pool section of one FPM config file's text (includes are not followed)."""
    return [pool_info(p) for p in build_config(parse_fpm_text(text, file)).pools]
