"""The lint checks, one function per rule code, registered in ``CHECKS``.

Each check is pure: ``check(inp, rule) -> list[LintFinding]``.  Behaviour claims cite nginx's
source (``nginx/nginx`` paths) or docs; the rule texts in ``lint_rules.toml`` say the same for
users.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator

from why502.analyzers.lint import LintFinding, LintInput, LintRule
from why502.facts.fpm import FPM_BACKLOG_DEFAULT, FpmPool
from why502.parsers.nginx_config import (
    Directive,
    Location,
    NginxConfig,
    Scope,
    Server,
    Setting,
    Target,
    UpstreamGroup,
    format_seconds,
    parse_size,
    set_directive_text,
    unified_diff,
)

Check = Callable[[LintInput, LintRule], list[LintFinding]]

PREFIX = {"proxy": "proxy", "fastcgi": "fastcgi", "uwsgi": "uwsgi", "scgi": "scgi", "grpc": "grpc",
          "memcached": "memcached"}


def _finding(rule: LintRule, message: str, file: str | None, line: int | None,
             diff: str | None = None, related: tuple[tuple[str, int], ...] = ()) -> LintFinding:
    return LintFinding(rule.code, rule.name, rule.severity, message, file, line, diff, related)


def _is_ip(host: str | None) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _http_targets(cfg: NginxConfig) -> Iterator[tuple[Server, Location, Target]]:
    """Each ``*_pass`` with the location it is written in."""
    for server in cfg.servers:
        for loc in server.all_locations():
            for t in (cfg_target for cfg_target in _loc_targets(cfg, server, loc)):
                yield server, loc, t


def _loc_targets(cfg: NginxConfig, server: Server, loc: Location) -> list[Target]:
    from why502.parsers.nginx_config import PASS_DIRECTIVES, make_target

    return [make_target(d, PASS_DIRECTIVES[d.name], cfg.upstreams, server, loc.label)
            for d in loc.directives if d.name in PASS_DIRECTIVES and d.args]


def _unreadable_include(cfg: NginxConfig, loc: Location) -> bool:
    """An include in this location's files (or in files they include) could not be read: it may
    set what we miss."""
    files = {s.file for s in loc.scopes} | {d.file for s in loc.scopes for d in s.directives}
    return any(p.message.startswith("include ") and p.file in files for p in cfg.problems)


def _scope_with(loc: Location, d: Directive) -> Scope | None:
    for scope in loc.scopes:
        if any(x is d for x in scope.directives):
            return scope
    return None


class _Edits:
    """Several directive edits to one file, rendered as one unified diff."""

    def __init__(self, cfg: NginxConfig) -> None:
        self.cfg = cfg
        self.path: str | None = None
        self.old: str | None = None
        self.new: str | None = None
        self.shift = 0  # lines inserted so far (all insertions are after their block's opener)

    def set(self, file: str | None, block_line: int | None, directive: str, value: str,
            existing: Directive | None = None) -> None:
        if file is None or block_line is None:
            return
        if self.path is not None and file != self.path:
            return  # one diff per finding; keep the first file's edits
        if self.old is None:
            text = self.cfg.file_text(file)
            if text is None:
                return
            self.path, self.old, self.new = file, text, text
        assert self.new is not None
        try:
            if existing is not None and existing.file == file:
                line = existing.line + (self.shift if existing.line > block_line else 0)
                self.new = set_directive_text(self.new, directive=directive, value=value,
                                              block_line=block_line, existing_line=line, path=file)
            else:
                self.new = set_directive_text(self.new, directive=directive, value=value,
                                              block_line=block_line, path=file)
                self.shift += 1
        except ValueError:
            return

    def diff(self) -> str | None:
        if self.path is None or self.old is None or self.new is None or self.old == self.new:
            return None
        return unified_diff(self.old, self.new, self.path)


def _set_in_location(cfg: NginxConfig, loc: Location, directive: str, value: str,
                     eff: Setting | None = None) -> str | None:
    """Diff setting a merge-type directive in ``loc`` (replacing it when the location sets it)."""
    edits = _Edits(cfg)
    existing = eff.entries[-1] if eff and eff.level in ("location", "if") and eff.entries else None
    if existing is not None and _scope_with(loc, existing) is not loc.scopes[-1]:
        existing = None
    edits.set(loc.file, loc.line, directive, value, existing)
    return edits.diff()


def _array_block(loc: Location, eff: Setting) -> tuple[str, int] | None:
    """Where to add one more entry of an array directive without losing the inherited ones:
    the block of the level whose entries win (adding there keeps them), else the location."""
    if eff.entries:
        scope = _scope_with(loc, eff.entries[0])
        if scope is None or scope.file is None or scope.line is None or scope.kind == "main":
            return None
        if scope.kind == "http" and scope.directives and scope.line == 1 and scope.file == loc.scopes[0].file:
            return None  # pseudo http level of a fragment: no block to edit
        return scope.file, scope.line
    return loc.file, loc.line


# ---------------------------------------------------------------------------------------------


def check_keepalive_http11(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-001.  ``proxy_http_version`` defaults to 1.0 and ``proxy_set_header Connection close``
    is a built-in default (``ngx_http_proxy_headers`` in ngx_http_proxy_module.c), so the
    keepalive cache (``ngx_http_upstream_keepalive_module.c``) never gets a reusable connection.
    FastCGI needs ``fastcgi_keep_conn on`` (ngx_http_fastcgi_module.c)."""
    cfg = inp.config
    out: list[LintFinding] = []
    for _server, loc, t in _http_targets(cfg):
        if not t.group or t.group not in cfg.upstreams:
            continue
        group = cfg.upstreams[t.group]
        if not group.keepalive:
            continue
        related = ((group.file, group.keepalive_line or group.line),)
        if t.kind == "fastcgi":
            eff = loc.effective("fastcgi_keep_conn")
            if eff.value != "on":
                out.append(_finding(rule, f'fastcgi_pass to upstream "{group.name}" (keepalive '
                                    f"{group.keepalive}) without fastcgi_keep_conn on: FPM closes "
                                    "every connection", t.file, t.line,
                                    _set_in_location(cfg, loc, "fastcgi_keep_conn", "on", eff), related))
            continue
        if t.kind != "proxy":
            continue
        version = loc.effective("proxy_http_version")
        headers = loc.effective("proxy_set_header")
        conn = [e for e in headers.entries if e.args and e.args[0].lower() == "connection"]
        conn_value = conn[-1].args[1] if conn and len(conn[-1].args) > 1 else ("close" if not conn else "")
        problems = []
        if version.value != "1.1":
            problems.append(f"proxy_http_version is {version.value}"
                            + (" (default)" if version.is_default else ""))
        if conn_value.lower() == "close":
            problems.append('the Connection header is "close"'
                            + (" (default)" if not conn else ""))
        if not problems:
            continue
        edits = _Edits(cfg)
        if version.value != "1.1":
            existing = version.entries[-1] if version.level in ("location", "if") and \
                _scope_with(loc, version.entries[-1]) is loc.scopes[-1] else None
            edits.set(loc.file, loc.line, "proxy_http_version", "1.1", existing)
        if conn_value.lower() == "close":
            where = _array_block(loc, headers)
            if where and (edits.path in (None, where[0])):
                if conn and conn[-1].file == where[0]:
                    edits.set(where[0], where[1], "proxy_set_header", 'Connection ""', conn[-1])
                else:
                    edits.set(where[0], where[1], "proxy_set_header", 'Connection ""')
        out.append(_finding(rule, f'proxy_pass to upstream "{group.name}" with keepalive {group.keepalive}, '
                            f"but {' and '.join(problems)}: nginx closes every backend connection",
                            t.file, t.line, edits.diff(), related))
    return out


def _literal_hostname(host: str | None) -> bool:
    return bool(host) and "$" not in (host or "") and not _is_ip(host) and host != "localhost"


def check_hostname_resolved_once(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-002.  A literal name in ``*_pass`` or an upstream ``server`` is resolved by
    ``ngx_parse_url()``/``ngx_inet_resolve_host()`` at configuration time only; ``resolver``
    is used for variables and the ``resolve`` parameter (ngx_http_upstream.c)."""
    cfg = inp.config
    out: list[LintFinding] = []
    for t in cfg.targets():
        if t.group or t.uses_variables or t.unix_path or not _literal_hostname(t.host):
            continue
        if t.port is None and t.kind in ("fastcgi", "uwsgi", "scgi", "memcached"):
            continue  # no port and no upstream: W502-023 (nginx refuses it outright)
        out.append(_finding(rule, f"{t.raw} names host {t.host}: resolved once when nginx starts; "
                            "a new address needs a reload", t.file, t.line))
    for group in list(cfg.upstreams.values()) + list(cfg.stream_upstreams.values()):
        for s in group.servers:
            if s.resolve or s.unix_path or s.service or not _literal_hostname(s.host):
                continue
            out.append(_finding(rule, f'upstream "{group.name}" server {s.address}: resolved once when '
                                "nginx starts (no `resolve` parameter)", s.file, s.line))
    return out


_VAR = re.compile(r"^\$\{?(\w+)\}?$")


def _var_values(cfg: NginxConfig, var: str) -> list[str] | None:
    """Every literal value ``set``/``map`` can give ``$var``, or None when unknown."""
    values: list[str] = []
    found = False

    def walk(ds: tuple[Directive, ...]) -> None:
        nonlocal found
        for d in ds:
            if d.name == "set" and len(d.args) >= 2 and d.args[0] in (f"${var}", f"${{{var}}}"):
                values.append(d.args[1])
                found = True
            elif d.name == "map" and len(d.args) >= 2 and d.args[1] in (f"${var}", f"${{{var}}}"):
                found = True
                # map entries are "key value;": crossplane gives directive=key, args=[value]
                values.extend(c.args[0] if c.args else "" for c in d.block or ()
                              if c.name not in ("hostnames", "volatile"))
            if d.block:
                walk(d.block)

    walk(cfg.main.directives)
    if not found:
        return None
    return values


def _host_part(raw: str) -> str:
    rest = raw.split("://", 1)[1] if "://" in raw else raw
    host = rest.split("/", 1)[0]
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def check_variable_pass_resolver(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-003.  With variables, ``ngx_http_upstream_init_request()`` looks the host up among
    the upstream blocks, else needs ``clcf->resolver``: "no resolver defined to resolve %V" (502)."""
    cfg = inp.config
    out: list[LintFinding] = []
    for _server, loc, t in _http_targets(cfg):
        if not t.uses_variables or t.unix_path:
            continue
        host = _host_part(t.raw)
        if host.startswith("unix:"):
            continue
        if "$" in host:
            m = _VAR.match(host)
            vals = _var_values(cfg, m.group(1)) if m else None
            if vals is not None and all(
                    _is_ip(_host_part(v)) or _host_part(v) in cfg.upstreams or v.startswith("unix:")
                    for v in vals):
                continue
            detail = f"the host comes from {host}"
        else:
            if _is_ip(host) or host in cfg.upstreams:
                continue
            detail = f"host {host} must be resolved per request"
        if not loc.effective("resolver").is_default or _unreadable_include(cfg, loc):
            continue  # a resolver applies, or an unreadable include may define one
        out.append(_finding(rule, f"{t.raw} uses variables ({detail}) and no resolver applies here: "
                            '"no resolver defined to resolve" -> 502', t.file, t.line))
    return out


def _pow2_at_least(n: int) -> int:
    size = 4096
    while size < n:
        size *= 2
    return size


def check_buffer_size(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-004.  ``ngx_http_upstream_process_header()``: a header that does not fit
    ``u->buffer`` (``*_buffer_size``) is "upstream sent too big header" (502)."""
    if not inp.header_bytes:
        return []
    cfg = inp.config
    out: list[LintFinding] = []
    for _server, loc, t in _http_targets(cfg):
        if t.kind == "memcached":
            continue
        name = f"{t.kind}_buffer_size"
        eff = loc.effective(name)
        size = eff.bytes
        if size is None or size >= inp.header_bytes:
            continue
        new = _pow2_at_least(inp.header_bytes + 512)
        edits = _Edits(cfg)
        existing = eff.entries[-1] if eff.level in ("location", "if") and eff.entries else None
        edits.set(loc.file, loc.line, name, f"{new // 1024}k", existing)
        if t.kind != "grpc":
            bufs = loc.effective(f"{t.kind}_buffers")
            busy = loc.effective(f"{t.kind}_busy_buffers_size")
            if bufs.is_default or (parse_size(bufs.args[-1]) or 0) < new:
                edits.set(loc.file, loc.line, f"{t.kind}_buffers", f"8 {new // 1024}k",
                          bufs.entries[-1] if bufs.level in ("location", "if") and bufs.entries else None)
            if busy.is_default or (busy.bytes or 0) < 2 * new:
                edits.set(loc.file, loc.line, f"{t.kind}_busy_buffers_size", f"{2 * new // 1024}k",
                          busy.entries[-1] if busy.level in ("location", "if") and busy.entries else None)
        where = (eff.file, eff.line) if eff.file and eff.line else (t.file, t.line)
        dflt = " (default, one page)" if eff.is_default else ""
        out.append(_finding(rule, f"{name} is {eff.value}{dflt}"
                            + f" but the backend sends {inp.header_bytes} bytes of headers: "
                            '"upstream sent too big header" -> 502', where[0], where[1], edits.diff(),
                            ((t.file, t.line),) if where != (t.file, t.line) else ()))
    return out


def _pool_for(inp: LintInput, t: Target) -> FpmPool | None:
    for pool in inp.pools:
        if t.unix_path and pool.unix_path == t.unix_path:
            return pool
        tcp = pool.tcp
        if tcp and t.port == tcp[1] and (tcp[0] is None or tcp[0] == t.host
                                         or {tcp[0], t.host} <= {"127.0.0.1", "localhost"}):
            return pool
    return None


def _group_targets(cfg: NginxConfig, t: Target) -> list[Target]:
    """A group target expanded to one pseudo-target per server (for FPM matching)."""
    if not t.group or t.group not in cfg.upstreams:
        return [t]
    out = []
    for s in cfg.upstreams[t.group].servers:
        out.append(Target(t.kind, t.scheme, s.host, s.port, s.unix_path, None, False, s.file, s.line,
                          t.server, t.location, s.address))
    return out


def check_read_timeout_vs_backend(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-005.  nginx's read timer (``ngx_http_upstream_process_header``) fires first -> 504."""
    cfg = inp.config
    out: list[LintFinding] = []
    for _server, loc, t in _http_targets(cfg):
        if t.kind == "memcached":
            continue
        backend: float | None = None
        source = ""
        if t.kind == "fastcgi":
            for sub in _group_targets(cfg, t):
                pool = _pool_for(inp, sub)
                if pool and pool.request_terminate_timeout:
                    backend = pool.request_terminate_timeout
                    source = (f"PHP-FPM pool [{pool.name}] request_terminate_timeout "
                              f"({pool.file}:{pool.line_of('request_terminate_timeout')})")
                    break
                if pool and pool.max_execution_time:
                    # PHP counts CPU time here on Linux (ITIMER_PROF), so wall time may be longer
                    backend = pool.max_execution_time
                    source = (f"PHP-FPM pool [{pool.name}] max_execution_time "
                              f"({pool.file}:{pool.line_of('max_execution_time')}, CPU seconds)")
                    break
        if backend is None and inp.backend_timeout:
            backend, source = inp.backend_timeout, "the backend's own timeout (--backend-timeout)"
        if not backend:
            continue
        name = f"{t.kind}_read_timeout"
        eff = loc.effective(name)
        secs = eff.seconds
        if secs is None or secs >= backend:
            continue
        where = (eff.file, eff.line) if eff.file and eff.line else (t.file, t.line)
        out.append(_finding(rule, f"{name} is {eff.value}" + (" (default)" if eff.is_default else "")
                            + f" but {source} allows {format_seconds(backend)}: slower requests get 504 "
                            "while the backend keeps working", where[0], where[1],
                            _set_in_location(cfg, loc, name, format_seconds(backend), eff)))
    return out


def _all_groups(cfg: NginxConfig) -> list[UpstreamGroup]:
    return list(cfg.upstreams.values()) + list(cfg.stream_upstreams.values())


def check_max_fails_empty_group(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-006.  ``ngx_http_upstream_free_round_robin_peer()`` disables a peer for fail_timeout
    once ``fails >= max_fails``; single-peer groups skip it (``peers->single``)."""
    out: list[LintFinding] = []
    for g in _all_groups(inp.config):
        primary = [s for s in g.servers if not s.backup and not s.down]
        if len(primary) < 2 or any(s.backup for s in g.servers) or any(s.service for s in g.servers):
            continue
        if all(s.max_fails == 1 and s.fail_timeout > 0 for s in primary):
            out.append(_finding(rule, f'upstream "{g.name}": all {len(primary)} servers have max_fails=1 '
                                f"(fail_timeout {format_seconds(primary[0].fail_timeout)}) and there is no "
                                'backup: one failed attempt each gives "no live upstreams" (502)',
                                g.file, g.line))
    return out


def check_single_server(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-007.  Informational: nothing can take over from the only server."""
    out: list[LintFinding] = []
    for g in _all_groups(inp.config):
        if len(g.servers) == 1 and not g.servers[0].backup and not g.servers[0].service:
            out.append(_finding(rule, f'upstream "{g.name}" has one server ({g.servers[0].address}) and '
                                "no backup: its restarts are 502s", g.file, g.line))
    return out


def check_non_idempotent(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-008.  ``ngx_http_upstream_next()``: non_idempotent requests are retried only with
    the ``non_idempotent`` flag (``NGX_HTTP_UPSTREAM_FT_NON_IDEMPOTENT``)."""
    out: list[LintFinding] = []
    for _server, loc, t in _http_targets(inp.config):
        if t.kind == "memcached":
            continue
        eff = loc.effective(f"{t.kind}_next_upstream")
        if eff.value and "non_idempotent" in eff.args:
            out.append(_finding(rule, f"{t.kind}_next_upstream {eff.value}: POST/PATCH/LOCK requests "
                                "are repeated on the next server after an error or timeout",
                                eff.file or t.file, eff.line or t.line))
    return out


def check_fastcgi_target_pool(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-009.  ENOENT/ECONNREFUSED from ``ngx_event_connect_peer()`` when nothing listens."""
    if not inp.pools:
        return []
    cfg = inp.config
    listens = ", ".join(sorted({p.listen for p in inp.pools if p.listen}))
    out: list[LintFinding] = []
    for _server, _loc, t in _http_targets(cfg):
        if t.kind != "fastcgi" or t.uses_variables:
            continue
        for sub in _group_targets(cfg, t):
            if sub.unix_path is None and sub.port is None:
                continue
            if _pool_for(inp, sub) is None:
                out.append(_finding(rule, f"fastcgi_pass {sub.address} matches no PHP-FPM pool listen "
                                    f"(pools listen on: {listens or 'nothing'})", sub.file, sub.line,
                                    related=tuple((p.file, p.line_of("listen")) for p in inp.pools)))
    return out


def _nginx_identity(cfg: NginxConfig) -> tuple[str, str]:
    user = cfg.user or "nobody"
    group = cfg.group or (user if cfg.user else "nogroup")
    return user, group


def check_socket_permissions(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-010.  unix(7): connecting needs write permission on the socket file.  Checked only
    when the pool sets ``listen.owner``/``listen.group`` (otherwise the owner is whoever runs
    the FPM master, which only a ``stat`` of the live socket can tell)."""
    if not inp.pools:
        return []
    cfg = inp.config
    user, group = _nginx_identity(cfg)
    out: list[LintFinding] = []
    seen: set[str] = set()
    for _server, _loc, t in _http_targets(cfg):
        if t.kind != "fastcgi":
            continue
        for sub in _group_targets(cfg, t):
            pool = _pool_for(inp, sub)
            if pool is None or pool.unix_path is None or pool.name in seen:
                continue
            if pool.listen_acl_users or pool.listen_acl_groups:
                users = {u.strip() for u in (pool.listen_acl_users or "").split(",")}
                groups = {g.strip() for g in (pool.listen_acl_groups or "").split(",")}
                if user in users or group in groups or groups & set(inp.nginx_groups):
                    continue
                reason = f"listen.acl_users/acl_groups do not include {user}/{group}"
            else:
                if pool.listen_owner is None and pool.listen_group is None:
                    continue
                mode = pool.listen_mode_bits if pool.listen_mode_bits is not None else 0o660
                owner = pool.listen_owner
                sgroup = pool.listen_group
                if owner == user:
                    allowed = bool(mode & 0o200)
                elif sgroup is not None and (sgroup == group or sgroup in inp.nginx_groups):
                    allowed = bool(mode & 0o020)
                else:
                    allowed = bool(mode & 0o002)
                if allowed:
                    continue
                reason = (f"socket {owner or '?'}:{sgroup or '?'} mode {mode:04o} gives nginx's worker "
                          f"{user}:{group} no write permission")
            seen.add(pool.name)
            src = "user directive" if cfg.user else "nginx default, no user directive"
            out.append(_finding(rule, f"fastcgi_pass {sub.address}: {reason} ({src}) -> "
                                "(13: Permission denied), 502", t.file, t.line,
                                related=((pool.file, pool.line_of("listen.owner")
                                          if pool.listen_owner else pool.line_of("listen")),)))
    return out


def check_backlog_somaxconn(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-011.  listen(2): backlog is silently truncated to ``net.core.somaxconn``."""
    if not inp.somaxconn or not inp.pools:
        return []
    out: list[LintFinding] = []
    for pool in inp.pools:
        backlog = pool.listen_backlog if pool.listen_backlog is not None else FPM_BACKLOG_DEFAULT
        if backlog == -1 or backlog > inp.somaxconn:
            shown = "-1 (maximum)" if backlog == -1 else str(backlog)
            out.append(_finding(rule, f"pool [{pool.name}] listen.backlog {shown}"
                                + (" (default)" if pool.listen_backlog is None else "")
                                + f" is capped to net.core.somaxconn = {inp.somaxconn}",
                                pool.file, pool.line_of("listen.backlog")))
    return out


def check_max_children_memory(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-012.  Worst case: every child at ``memory_limit``."""
    if not inp.mem_total or not inp.pools:
        return []
    out: list[LintFinding] = []
    for pool in inp.pools:
        if not pool.max_children or not pool.memory_limit_bytes:
            continue
        need = pool.max_children * pool.memory_limit_bytes
        if need > inp.mem_total:
            out.append(_finding(rule, f"pool [{pool.name}] pm.max_children {pool.max_children} x "
                                f"memory_limit {pool.memory_limit_bytes // (1024 * 1024)}M = "
                                f"{need // (1024 * 1024)} MiB > MemTotal "
                                f"{inp.mem_total // (1024 * 1024)} MiB",
                                pool.file, pool.line_of("pm.max_children")))
    return out


def check_worker_connections_nofile(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-013.  ``ngx_event_connect_peer()``: socket() EMFILE -> "socket() failed (24: ...)" (500)."""
    cfg = inp.config
    limit = cfg.worker_rlimit_nofile
    source = "worker_rlimit_nofile"
    line_dir = cfg.main.get("worker_rlimit_nofile")
    where: tuple[str | None, int | None] = (
        (line_dir[-1].file, line_dir[-1].line) if line_dir else (None, None))
    if limit is None:
        limit, source = inp.nofile, "the open-files limit nginx runs with"
        wc = cfg.worker_connections_line
        where = (wc.file, wc.line) if wc else (cfg.main_file, None)
    if not limit:
        return []
    proxies = bool(cfg.targets())
    need = cfg.worker_connections * (2 if proxies else 1)
    if limit >= need:
        return []
    why = " (a proxied request holds two: client + upstream)" if proxies else ""
    return [_finding(rule, f"worker_connections {cfg.worker_connections} needs about {need} descriptors"
                     f"{why}, but {source} is {limit}", where[0], where[1])]


def check_https_sni(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-014.  ``ngx_http_upstream_ssl_name()`` sends SNI only with ``proxy_ssl_server_name on``."""
    cfg = inp.config
    out: list[LintFinding] = []
    for _server, loc, t in _http_targets(cfg):
        if t.scheme not in ("https", "grpcs") or t.uses_variables:
            continue
        names: list[str] = []
        if t.group and t.group in cfg.upstreams:
            names = [s.host for s in cfg.upstreams[t.group].servers if _literal_hostname(s.host) and s.host]
        elif _literal_hostname(t.host) and t.host:
            names = [t.host]
        if not names:
            continue
        name = "grpc_ssl_server_name" if t.kind == "grpc" else "proxy_ssl_server_name"
        eff = loc.effective(name)
        if eff.value == "on":
            continue
        out.append(_finding(rule, f"{t.raw}: TLS to {', '.join(names)} without SNI ({name} {eff.value}"
                            + (", the default" if eff.is_default else "") + ")", t.file, t.line,
                            _set_in_location(cfg, loc, name, "on", eff)))
    return out


def check_read_below_connect(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-015.  A unit slip guard: read < connect is never intended."""
    out: list[LintFinding] = []
    for _server, loc, t in _http_targets(inp.config):
        if t.kind == "memcached":
            continue
        read = loc.effective(f"{t.kind}_read_timeout")
        conn = loc.effective(f"{t.kind}_connect_timeout")
        if read.is_default or read.seconds is None or conn.seconds is None or read.seconds >= conn.seconds:
            continue  # only an explicitly set read timeout can be a unit slip
        where = (read.file, read.line) if read.file else (conn.file or t.file, conn.line or t.line)
        out.append(_finding(rule, f"{t.kind}_read_timeout {read.value} is shorter than "
                            f"{t.kind}_connect_timeout {conn.value}", where[0], where[1]))
    return out


def check_intercept_errors(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-016.  ``ngx_http_upstream_intercept_errors()`` replaces codes that have an error_page."""
    out: list[LintFinding] = []
    for _server, loc, t in _http_targets(inp.config):
        if t.kind not in ("proxy", "fastcgi", "uwsgi", "scgi", "grpc"):
            continue
        eff = loc.effective(f"{t.kind}_intercept_errors")
        if eff.value != "on":
            continue
        pages = loc.effective("error_page")
        codes = sorted({a for e in pages.entries for a in e.args if a in ("500", "502", "503", "504")})
        if codes:
            out.append(_finding(rule, f"{t.kind}_intercept_errors on with error_page for {' '.join(codes)}: "
                                "the backend's own 5xx look like nginx's", eff.file or t.file,
                                eff.line or t.line))
    return out


def check_script_filename(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-017.  ``fastcgi_param`` is an array directive: one in the location drops the
    inherited ones (``ngx_http_fastcgi_merge_params``)."""
    cfg = inp.config
    out: list[LintFinding] = []
    for _server, loc, t in _http_targets(cfg):
        if t.kind != "fastcgi":
            continue
        params = loc.effective("fastcgi_param")
        if any(e.args and e.args[0] == "SCRIPT_FILENAME" for e in params.entries):
            continue
        if _unreadable_include(cfg, loc):
            continue  # an unreadable include (fastcgi.conf, snippets/fastcgi-php.conf) may set it
        edits = _Edits(cfg)
        where = _array_block(loc, params)
        if where:
            edits.set(where[0], where[1], "fastcgi_param",
                      "SCRIPT_FILENAME $document_root$fastcgi_script_name")
        hint = (f" (a fastcgi_param at {params.where} replaces the inherited ones)"
                if params.entries and params.level in ("location", "if") else "")
        out.append(_finding(rule, f"fastcgi_pass {t.raw} without fastcgi_param SCRIPT_FILENAME{hint}: "
                            'PHP-FPM answers "Primary script unknown"', t.file, t.line, edits.diff()))
    return out


def check_uri_in_regex_location(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-018.  ngx_http_proxy_pass(): "cannot have URI part in location given by regular
    expression, or inside named location, or inside "if" statement..." (emerg)."""
    out: list[LintFinding] = []
    for _server, loc, t in _http_targets(inp.config):
        if t.kind != "proxy" or t.uses_variables or not t.uri:
            continue
        kind = ("regex location" if loc.is_regex else "named location" if loc.is_named
                else '"if" block' if loc.modifier == "if" else None)
        if kind:
            out.append(_finding(rule, f"proxy_pass {t.raw} has URI part {t.uri} inside a {kind} "
                                f"({loc.label}): nginx refuses the configuration", t.file, t.line))
    return out


def check_resolve_without_zone(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-019.  ngx_http_upstream_zone_module / ngx_http_upstream_server(): ``resolve`` needs
    the group in shared memory."""
    out: list[LintFinding] = []
    for g in _all_groups(inp.config):
        if g.zone is None and any(s.resolve for s in g.servers):
            s = next(s for s in g.servers if s.resolve)
            out.append(_finding(rule, f'upstream "{g.name}": server {s.address} resolve needs a zone '
                                "in the upstream block", s.file, s.line, related=((g.file, g.line),)))
    return out


def check_all_down(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-020.  All peers ``down`` -> the balancer returns NGX_BUSY -> "no live upstreams"."""
    out: list[LintFinding] = []
    for g in _all_groups(inp.config):
        primary = [s for s in g.servers if not s.backup]
        if primary and all(s.down for s in primary):
            out.append(_finding(rule, f'upstream "{g.name}": every server is marked down', g.file, g.line))
    return out


def check_keepalive_race(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-021.  ngx_http_upstream_keepalive_module: cached connections live keepalive_timeout."""
    if not inp.backend_keepalive:
        return []
    cfg = inp.config
    out: list[LintFinding] = []
    for g in cfg.upstreams.values():
        if not g.keepalive or g.keepalive_timeout < inp.backend_keepalive:
            continue
        kt = g.effective("keepalive_timeout")
        new = max(1.0, inp.backend_keepalive - 1)
        edits = _Edits(cfg)
        existing = kt.entries[-1] if kt.entries else None
        edits.set(g.file, g.line, "keepalive_timeout", format_seconds(new), existing)
        out.append(_finding(rule, f'upstream "{g.name}" keeps idle connections '
                            f"{format_seconds(g.keepalive_timeout)}"
                            + (" (default)" if kt.is_default else "")
                            + f" but the backend closes them after {format_seconds(inp.backend_keepalive)}",
                            kt.file or g.file, kt.line or g.keepalive_line or g.line, edits.diff()))
    return out


def check_localhost(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-022.  ``ngx_inet_resolve_host()`` keeps every address of the name as a peer."""
    cfg = inp.config
    out: list[LintFinding] = []
    for t in cfg.targets():
        if t.host == "localhost" and not t.group and not t.uses_variables:
            out.append(_finding(rule, f"{t.raw}: localhost is ::1 and 127.0.0.1, two peers; a backend "
                                "listening on one refuses the other", t.file, t.line))
    for g in _all_groups(cfg):
        for s in g.servers:
            if s.host == "localhost":
                out.append(_finding(rule, f'upstream "{g.name}" server {s.address}: localhost is ::1 and '
                                    "127.0.0.1, two peers", s.file, s.line))
    return out


def check_pass_without_port(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-023.  ``ngx_http_upstream_add()`` with no port and no upstream of that name:
    "no port in upstream" (fastcgi/uwsgi/scgi/memcached have no default port)."""
    out: list[LintFinding] = []
    for t in inp.config.targets():
        if t.context != "http" or t.kind not in ("fastcgi", "uwsgi", "scgi", "memcached"):
            continue
        if t.uses_variables or t.unix_path or t.group or t.port is not None or not t.host:
            continue
        if t.scheme is not None:
            continue
        out.append(_finding(rule, f'{t.kind}_pass {t.raw}: no upstream "{t.host}" is defined and there is '
                            'no port: "no port in upstream"', t.file, t.line))
    return out


CHECKS: dict[str, Check] = {
    "W502-001": check_keepalive_http11,
    "W502-002": check_hostname_resolved_once,
    "W502-003": check_variable_pass_resolver,
    "W502-004": check_buffer_size,
    "W502-005": check_read_timeout_vs_backend,
    "W502-006": check_max_fails_empty_group,
    "W502-007": check_single_server,
    "W502-008": check_non_idempotent,
    "W502-009": check_fastcgi_target_pool,
    "W502-010": check_socket_permissions,
    "W502-011": check_backlog_somaxconn,
    "W502-012": check_max_children_memory,
    "W502-013": check_worker_connections_nofile,
    "W502-014": check_https_sni,
    "W502-015": check_read_below_connect,
    "W502-016": check_intercept_errors,
    "W502-017": check_script_filename,
    "W502-018": check_uri_in_regex_location,
    "W502-019": check_resolve_without_zone,
    "W502-020": check_all_down,
    "W502-021": check_keepalive_race,
    "W502-022": check_localhost,
    "W502-023": check_pass_without_port,
}
