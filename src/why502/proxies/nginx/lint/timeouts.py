"""nginx's timeouts against the backend's and against each other."""

from __future__ import annotations

from why502.analyzers.lint.common import finding, pool_for
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding
from why502.proxies.nginx.config.units import format_seconds
from why502.proxies.nginx.lint.config import PASSES, set_in_location
from why502.proxies.nginx.lint.input import NginxLintInput

READ_TIMEOUTS = tuple(f"{k}_read_timeout" for k in ("proxy", "fastcgi", "uwsgi", "scgi", "grpc"))


@rule("W502-005", directives=PASSES)
def check_read_timeout_vs_backend(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-005.  nginx's read timer (``ngx_http_upstream_process_header``) fires first -> 504."""
    cfg = inp.config
    out: list[LintFinding] = []
    for _server, loc, t in cfg.located_targets():
        if t.kind == "memcached":
            continue
        backend: float | None = None
        source = ""
        if t.kind == "fastcgi":
            for sub in cfg.peers(t):
                pool = pool_for(inp.pools, sub)
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
        out.append(finding(rule, f"{name} is {eff.value}" + (" (default)" if eff.is_default else "")
                            + f" but {source} allows {format_seconds(backend)}: slower requests get 504 "
                            "while the backend keeps working", where[0], where[1],
                            set_in_location(cfg, loc, name, format_seconds(backend), eff)))
    return out


@rule("W502-015", directives=READ_TIMEOUTS)
def check_read_below_connect(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-015.  A unit slip guard: read < connect is never intended."""
    out: list[LintFinding] = []
    for _server, loc, t in inp.config.located_targets():
        if t.kind == "memcached":
            continue
        read = loc.effective(f"{t.kind}_read_timeout")
        conn = loc.effective(f"{t.kind}_connect_timeout")
        if read.is_default or read.seconds is None or conn.seconds is None or read.seconds >= conn.seconds:
            continue  # only an explicitly set read timeout can be a unit slip
        where = (read.file, read.line) if read.file else (conn.file or t.file, conn.line or t.line)
        out.append(finding(rule, f"{t.kind}_read_timeout {read.value} is shorter than "
                            f"{t.kind}_connect_timeout {conn.value} (a unit slip?): any answer slower "
                            f"than {read.value} gets 504", where[0], where[1]))
    return out
