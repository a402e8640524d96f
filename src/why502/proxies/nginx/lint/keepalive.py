"""Upstream keep-alive that does not keep connections, or keeps them longer than the backend does."""

from __future__ import annotations

from why502.analyzers.lint.common import finding
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding
from why502.proxies.nginx.config.edit import ConfigEdits
from why502.proxies.nginx.config.units import format_seconds
from why502.proxies.nginx.lint.config import array_block, header, own_entry, set_in_location
from why502.proxies.nginx.lint.input import NginxLintInput


@rule("W502-001", directives=("keepalive",))
def check_keepalive_http11(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-001.  ``proxy_http_version`` defaults to 1.0 and ``proxy_set_header Connection close``
    is a built-in default (``ngx_http_proxy_headers`` in ngx_http_proxy_module.c), so the
    keepalive cache (``ngx_http_upstream_keepalive_module.c``) never gets a reusable connection.
    FastCGI needs ``fastcgi_keep_conn on`` (ngx_http_fastcgi_module.c)."""
    cfg = inp.config
    out: list[LintFinding] = []
    for _server, loc, t in cfg.located_targets():
        if not t.group or t.group not in cfg.upstreams:
            continue
        group = cfg.upstreams[t.group]
        if not group.keepalive:
            continue
        related = ((group.file, group.keepalive_line or group.line),)
        if t.kind == "fastcgi":
            eff = loc.effective("fastcgi_keep_conn")
            if eff.value != "on":
                out.append(finding(rule, f'fastcgi_pass to upstream "{group.name}" (keepalive '
                                    f"{group.keepalive}) without fastcgi_keep_conn on: FPM closes "
                                    "every connection, so each request opens a new one (no reuse; "
                                    "under load: TIME_WAIT, 502 connect() failed)", t.file, t.line,
                                    set_in_location(cfg, loc, "fastcgi_keep_conn", "on", eff), related))
            continue
        if t.kind != "proxy":
            continue
        version = loc.effective("proxy_http_version")
        headers = loc.effective("proxy_set_header")
        conn = loc.header("proxy_set_header", "Connection")
        conn_value = conn.args[1] if conn and len(conn.args) > 1 else ("close" if conn is None else "")
        problems = []
        if version.value != "1.1":
            problems.append(f"proxy_http_version is {version.value}"
                            + (" (default)" if version.is_default else ""))
        if conn_value.lower() == "close":
            problems.append('the Connection header is "close"'
                            + (" (default)" if conn is None else ""))
        if not problems:
            continue
        edits = ConfigEdits(cfg)
        if version.value != "1.1":
            edits.set(loc.file, loc.line, "proxy_http_version", "1.1", own_entry(loc, version), header(loc))
        if conn_value.lower() == "close":
            where = array_block(loc, headers)
            if where and (edits.path in (None, where[0])):
                if conn and conn.file == where[0]:
                    edits.set(where[0], where[1], "proxy_set_header", 'Connection ""', conn)
                else:
                    edits.set(where[0], where[1], "proxy_set_header", 'Connection ""',
                              anchor=header(loc) if where == (loc.file, loc.line) else None)
        out.append(finding(rule, f'proxy_pass to upstream "{group.name}" with keepalive {group.keepalive}, '
                            f"but {' and '.join(problems)}: nginx closes every backend connection, so each "
                            "request opens a new one (no reuse; under load: TIME_WAIT, 502 connect() failed)",
                            t.file, t.line, edits.diff(), related))
    return out


@rule("W502-021", directives=("keepalive",))
def check_keepalive_race(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
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
        edits = ConfigEdits(cfg)
        existing = kt.entries[-1] if kt.entries else None
        edits.set(g.file, g.line, "keepalive_timeout", format_seconds(new), existing)
        out.append(finding(rule, f'upstream "{g.name}" keeps idle connections '
                            f"{format_seconds(g.keepalive_timeout)}"
                            + (" (default)" if kt.is_default else "")
                            + f" but the backend closes them after {format_seconds(inp.backend_keepalive)}"
                            ": a request sent on a connection the backend is closing fails with 502 "
                            "(upstream "
                            "prematurely closed / reset by peer)",
                            kt.file or g.file, kt.line or g.keepalive_line or g.line, edits.diff()))
    return out
