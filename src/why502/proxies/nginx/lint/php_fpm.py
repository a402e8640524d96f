"""FastCGI to PHP-FPM: the pool behind fastcgi_pass, its socket, backlog, memory, SCRIPT_FILENAME."""

from __future__ import annotations

from why502.analyzers.lint.common import finding, pool_for
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.facts.fpm import FPM_BACKLOG_DEFAULT
from why502.findings.lint import LintFinding
from why502.proxies.nginx.config.edit import ConfigEdits
from why502.proxies.nginx.lint.config import array_block, unreadable_include
from why502.proxies.nginx.lint.input import NginxLintInput


@rule("W502-009", directives=("fastcgi_pass",))
def check_fastcgi_target_pool(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-009.  ENOENT/ECONNREFUSED from ``ngx_event_connect_peer()`` when nothing listens."""
    if not inp.pools:
        return []
    cfg = inp.config
    listens = ", ".join(sorted({p.listen for p in inp.pools if p.listen}))
    out: list[LintFinding] = []
    for _server, _loc, t in cfg.located_targets():
        if t.kind != "fastcgi" or t.uses_variables:
            continue
        for sub in cfg.peers(t):
            if sub.unix_path is None and sub.port is None:
                continue
            if pool_for(inp.pools, sub) is None:
                out.append(finding(rule, f"fastcgi_pass {sub.address} matches no PHP-FPM pool listen "
                                    f"(pools listen on: {listens or 'nothing'}): connect() fails "
                                    "(111: Connection refused / 2: No such file) -> 502", sub.file, sub.line,
                                    related=tuple((p.file, p.line_of("listen")) for p in inp.pools)))
    return out


@rule("W502-010", directives=("fastcgi_pass",))
def check_socket_permissions(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-010.  unix(7): connecting needs write permission on the socket file.  Checked only
    when the pool sets ``listen.owner``/``listen.group`` (otherwise the owner is whoever runs
    the FPM master, which only a ``stat`` of the live socket can tell)."""
    if not inp.pools:
        return []
    cfg = inp.config
    user, group = cfg.worker_identity()
    out: list[LintFinding] = []
    seen: set[str] = set()
    for _server, _loc, t in cfg.located_targets():
        if t.kind != "fastcgi":
            continue
        for sub in cfg.peers(t):
            pool = pool_for(inp.pools, sub)
            if pool is None or pool.unix_path is None or pool.name in seen:
                continue
            if pool.listen_acl_users or pool.listen_acl_groups:
                users = {u.strip() for u in (pool.listen_acl_users or "").split(",")}
                groups = {g.strip() for g in (pool.listen_acl_groups or "").split(",")}
                if user in users or group in groups or groups & set(inp.groups):
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
                elif sgroup is not None and (sgroup == group or sgroup in inp.groups):
                    allowed = bool(mode & 0o020)
                else:
                    allowed = bool(mode & 0o002)
                if allowed:
                    continue
                reason = (f"socket {owner or '?'}:{sgroup or '?'} mode {mode:04o} gives nginx's worker "
                          f"{user}:{group} no write permission")
            seen.add(pool.name)
            src = "user directive" if cfg.user else "nginx default, no user directive"
            out.append(finding(rule, f"fastcgi_pass {sub.address}: {reason} ({src}) -> "
                                "(13: Permission denied), 502", t.file, t.line,
                                related=((pool.file, pool.line_of("listen.owner")
                                          if pool.listen_owner else pool.line_of("listen")),)))
    return out


@rule("W502-011")
def check_backlog_somaxconn(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-011.  listen(2): backlog is silently truncated to ``net.core.somaxconn``."""
    if not inp.somaxconn or not inp.pools:
        return []
    out: list[LintFinding] = []
    for pool in inp.pools:
        backlog = pool.listen_backlog if pool.listen_backlog is not None else FPM_BACKLOG_DEFAULT
        if backlog == -1 or backlog > inp.somaxconn:
            shown = "-1 (maximum)" if backlog == -1 else str(backlog)
            out.append(finding(rule, f"pool [{pool.name}] listen.backlog {shown}"
                                + (" (default)" if pool.listen_backlog is None else "")
                                + f" is capped to net.core.somaxconn = {inp.somaxconn}: in a burst, "
                                "connections beyond it fail (11: Resource temporarily unavailable) -> 502",
                                pool.file, pool.line_of("listen.backlog")))
    return out


@rule("W502-012")
def check_max_children_memory(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-012.  Worst case: every child at ``memory_limit``."""
    if not inp.mem_total or not inp.pools:
        return []
    out: list[LintFinding] = []
    for pool in inp.pools:
        if not pool.max_children or not pool.memory_limit_bytes:
            continue
        need = pool.max_children * pool.memory_limit_bytes
        if need > inp.mem_total:
            out.append(finding(rule, f"pool [{pool.name}] pm.max_children {pool.max_children} x "
                                f"memory_limit {pool.memory_limit_bytes // (1024 * 1024)}M = "
                                f"{need // (1024 * 1024)} MiB > MemTotal "
                                f"{inp.mem_total // (1024 * 1024)} MiB: under load the kernel OOM-kills "
                                "workers -> 502 (upstream prematurely closed / reset by peer)",
                                pool.file, pool.line_of("pm.max_children")))
    return out


@rule("W502-017", directives=("fastcgi_pass",))
def check_script_filename(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-017.  ``fastcgi_param`` is an array directive: one in the location drops the
    inherited ones (``ngx_http_fastcgi_merge_params``)."""
    cfg = inp.config
    out: list[LintFinding] = []
    for _server, loc, t in cfg.located_targets():
        if t.kind != "fastcgi":
            continue
        params = loc.effective("fastcgi_param")
        if any(e.args and e.args[0] == "SCRIPT_FILENAME" for e in params.entries):
            continue
        if unreadable_include(cfg, loc):
            continue  # an unreadable include (fastcgi.conf, snippets/fastcgi-php.conf) may set it
        edits = ConfigEdits(cfg)
        where = array_block(loc, params)
        if where:
            edits.set(where[0], where[1], "fastcgi_param",
                      "SCRIPT_FILENAME $document_root$fastcgi_script_name")
        hint = (f" (a fastcgi_param at {params.where} replaces the inherited ones)"
                if params.entries and params.level in ("location", "if") else "")
        out.append(finding(rule, f"fastcgi_pass {t.raw} without fastcgi_param SCRIPT_FILENAME{hint}: "
                            'PHP-FPM answers "Primary script unknown": every PHP request gets 404 '
                            '"File not found."', t.file, t.line, edits.diff()))
    return out
