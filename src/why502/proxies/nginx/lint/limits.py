"""nginx's own limits: worker_connections against open files."""

from __future__ import annotations

from why502.analyzers.lint.common import finding
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding
from why502.proxies.nginx.lint.input import NginxLintInput


@rule("W502-013")
def check_worker_connections_nofile(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
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
    return [finding(rule, f"worker_connections {cfg.worker_connections} needs about {need} descriptors"
                     f"{why}, but {source} is {limit}: past it accept() and connect() fail with "
                     '"(24: Too many open files)" -> 500/502', where[0], where[1])]
