"""How requests are proxied: retries, TLS SNI, intercepted errors, URI parts nginx refuses."""

from __future__ import annotations

from why502.analyzers.lint.common import finding, literal_hostname
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding
from why502.proxies.nginx.lint.config import PASSES, set_in_location
from why502.proxies.nginx.lint.input import NginxLintInput

_KINDS = ("proxy", "fastcgi", "uwsgi", "scgi", "grpc")
NEXT_UPSTREAM = tuple(f"{k}_next_upstream" for k in _KINDS)
INTERCEPT_ERRORS = tuple(f"{k}_intercept_errors" for k in _KINDS)


@rule("W502-008", directives=NEXT_UPSTREAM)
def check_non_idempotent(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-008.  ``ngx_http_upstream_next()``: non_idempotent requests are retried only with
    the ``non_idempotent`` flag (``NGX_HTTP_UPSTREAM_FT_NON_IDEMPOTENT``)."""
    out: list[LintFinding] = []
    for _server, loc, t in inp.config.located_targets():
        if t.kind == "memcached":
            continue
        eff = loc.effective(f"{t.kind}_next_upstream")
        if eff.value and "non_idempotent" in eff.args:
            out.append(finding(rule, f"{t.kind}_next_upstream {eff.value}: POST/PATCH/LOCK requests "
                                "are repeated on the next server after an error or timeout: an order or "
                                "payment that timed out is executed twice",
                                eff.file or t.file, eff.line or t.line))
    return out


@rule("W502-014", directives=PASSES)
def check_https_sni(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-014.  ``ngx_http_upstream_ssl_name()`` sends SNI only with ``proxy_ssl_server_name on``."""
    cfg = inp.config
    out: list[LintFinding] = []
    for _server, loc, t in cfg.located_targets():
        if t.scheme not in ("https", "grpcs") or t.uses_variables:
            continue
        names: list[str] = []
        if t.group and t.group in cfg.upstreams:
            names = [s.host for s in cfg.upstreams[t.group].servers if literal_hostname(s.host) and s.host]
        elif literal_hostname(t.host) and t.host:
            names = [t.host]
        if not names:
            continue
        name = "grpc_ssl_server_name" if t.kind == "grpc" else "proxy_ssl_server_name"
        eff = loc.effective(name)
        if eff.value == "on":
            continue
        out.append(finding(rule, f"{t.raw}: TLS to {', '.join(names)} without SNI ({name} {eff.value}"
                            + (", the default" if eff.is_default else "") + "): a backend that picks its "
                            "certificate or vhost by SNI fails the handshake -> 502 "
                            "(SSL_do_handshake() failed)",
                            t.file, t.line,
                            set_in_location(cfg, loc, name, "on", eff)))
    return out


@rule("W502-016", directives=INTERCEPT_ERRORS)
def check_intercept_errors(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-016.  ``ngx_http_upstream_intercept_errors()`` replaces codes that have an error_page."""
    out: list[LintFinding] = []
    for _server, loc, t in inp.config.located_targets():
        if t.kind not in ("proxy", "fastcgi", "uwsgi", "scgi", "grpc"):
            continue
        eff = loc.effective(f"{t.kind}_intercept_errors")
        if eff.value != "on":
            continue
        pages = loc.effective("error_page")
        codes = sorted({a for e in pages.entries for a in e.args if a in ("500", "502", "503", "504")})
        if codes:
            out.append(finding(rule, f"{t.kind}_intercept_errors on with error_page for {' '.join(codes)}: "
                                "the backend's own 5xx look like nginx's (its error body is replaced, "
                                "so who failed is hidden)", eff.file or t.file,
                                eff.line or t.line))
    return out


@rule("W502-018", directives=("proxy_pass",))
def check_uri_in_regex_location(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-018.  ngx_http_proxy_pass(): "cannot have URI part in location given by regular
    expression, or inside named location, or inside "if" statement..." (emerg)."""
    out: list[LintFinding] = []
    for _server, loc, t in inp.config.located_targets():
        if t.kind != "proxy" or t.uses_variables or not t.uri:
            continue
        kind = ("regex location" if loc.is_regex else "named location" if loc.is_named
                else '"if" block' if loc.modifier == "if" else None)
        if kind:
            out.append(finding(rule, f"proxy_pass {t.raw} has URI part {t.uri} inside a {kind} "
                                f"({loc.label}): nginx refuses the configuration", t.file, t.line))
    return out
