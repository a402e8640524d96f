"""HAProxy 2.x: health checks, the server timeout, retries and the queue (``haproxy.cfg``).

Every claim is HAProxy's ``doc/configuration.txt`` (2.6):

- 5.2 ``check``: "If this option is not set, the server is always considered available" -- a
  dead server keeps its share of requests (503, termination state ``SC``) until someone notices;
- 4.2 ``timeout server``: "An unspecified timeout results in an infinite timeout, which is not
  recommended", and ``haproxy -c`` warns "missing timeouts for backend";
- 4.2 ``retries``: connection attempts retry the same server unless ``option redispatch`` is set
  ("By default this will only be the last retry"), so without it a request bound for a dead,
  not-yet-detected server fails although other servers are up;
- 4.2 ``timeout queue``: "If unspecified, the same value as the backend's connection timeout
  ("timeout connect") is used" -- requests waiting for a server's ``maxconn`` slot get 503
  (``sQ``) after the connect timeout, often a few seconds.
"""

from __future__ import annotations

import math

from why502.analyzers.lint import HaproxyLintInput
from why502.analyzers.lint.common import finding
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding
from why502.proxies.haproxy.config import HaproxyConfig, Section, time_ms
from why502.proxies.haproxy.edit import set_keyword, set_server_param

DEFAULT_TIMEOUT_SERVER = "50s"
"""What Debian's shipped ``/etc/haproxy/haproxy.cfg`` sets (``timeout server 50000``)."""

QUEUE_TIMEOUT = "30s"
"""A queue wait long enough to ride out a burst, short enough that the client gets an answer."""


def _files(cfg: HaproxyConfig) -> dict[str, list[str]]:
    return {path: text.splitlines() for path, text in cfg.texts.items()}


def _served(cfg: HaproxyConfig) -> list[Section]:
    """Backend and listen sections that have servers (a frontend alone proxies nowhere)."""
    return [s for s in cfg.backends if s.servers]


@rule("W502-024", directives=("server",), proxy="haproxy")
def check_server_without_check(inp: HaproxyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-024.  No ``check``: HAProxy never marks the server DOWN (configuration.txt 5.2)."""
    files = _files(inp.config)
    out: list[LintFinding] = []
    for sec in _served(inp.config):
        for srv in sec.servers:
            if srv.check or "disabled" in srv.params:
                continue
            others = len(sec.servers) - 1
            tail = (f"; the other {others} server(s) could have taken its share" if others
                    else "; with health checks a 503 says 'no server available' at once instead of "
                    "every request waiting for its own failed connect")
            out.append(finding(rule, f"server {srv.name} of {sec.kind} {sec.name} has no 'check': HAProxy "
                               "keeps sending it requests when it is down (503, state SC)" + tail,
                               srv.file, srv.line,
                               set_server_param(files, srv.file, srv.line, "check", None)))
    return out


@rule("W502-025", directives=(), proxy="haproxy")
def check_timeout_server_unset(inp: HaproxyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-025.  Fires on HAProxy's default (no keyword at all), so it declares none.  One
    finding per ``defaults`` section the backends inherit from (the fix goes there once), else
    per backend."""
    cfg = inp.config
    files = _files(cfg)
    value = f"{math.ceil(inp.backend_timeout) + 5}s" if inp.backend_timeout else DEFAULT_TIMEOUT_SERVER
    by_parent: dict[int, tuple[Section, list[Section]]] = {}
    out: list[LintFinding] = []
    for sec in _served(cfg):
        eff = sec.effective("timeout server")
        if not eff.is_default and time_ms(eff.value):
            continue
        if sec.defaults is not None:
            by_parent.setdefault(id(sec.defaults), (sec.defaults, []))[1].append(sec)
            continue
        out.append(finding(rule, f"{sec.kind} {sec.name} has no 'timeout server': a backend that stops "
                           "answering holds the connection forever (haproxy -c warns 'missing timeouts')",
                           sec.file, sec.line,
                           set_keyword(files, "timeout server", value, setting=None,
                                       section_file=sec.file, section_line=sec.line)))
    for parent, secs in by_parent.values():
        names = ", ".join(s.name for s in secs)
        out.append(finding(rule, f"'timeout server' is set neither in this defaults section nor in "
                           f"{names}: a backend that stops answering holds the connection forever "
                           "(haproxy -c warns 'missing timeouts')", parent.file, parent.line,
                           set_keyword(files, "timeout server", value, setting=None,
                                       section_file=parent.file, section_line=parent.line),
                           tuple((s.file, s.line) for s in secs)))
    return out


@rule("W502-026", directives=("timeout server",), proxy="haproxy")
def check_timeout_server_below_backend(inp: HaproxyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-026.  ``timeout server`` fires before the backend's own limit: 504, state ``sH``."""
    backend = inp.backend_timeout
    if not backend:
        return []
    cfg = inp.config
    files = _files(cfg)
    seen: dict[tuple[str | None, int | None], list[Section]] = {}
    for sec in _served(cfg):
        eff = sec.effective("timeout server")
        ms = time_ms(eff.value)
        if eff.is_default or ms is None or ms <= 0 or ms / 1000 >= backend:
            continue
        seen.setdefault((eff.file, eff.line), []).append(sec)
    out: list[LintFinding] = []
    for (file, line), secs in seen.items():
        eff = secs[0].effective("timeout server")
        names = ", ".join(f"{s.kind} {s.name}" for s in secs)
        out.append(finding(rule, f"timeout server {eff.value} ({names}) is shorter than the backend's own "
                           f"timeout ({backend:g}s, --backend-timeout): slower requests get 504 (state sH) "
                           "while the backend keeps working", file, line,
                           set_keyword(files, "timeout server", f"{math.ceil(backend) + 5}s", setting=eff,
                                       section_file=secs[0].file, section_line=secs[0].line)))
    return out


@rule("W502-027", directives=("server",), proxy="haproxy")
def check_retries_without_redispatch(inp: HaproxyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-027.  Retries stay on the failed server without ``option redispatch``."""
    files = _files(inp.config)
    out: list[LintFinding] = []
    for sec in _served(inp.config):
        if len(sec.servers) < 2 or sec.option("redispatch"):
            continue
        retries = sec.effective("retries")
        if not retries.value.isdigit() or int(retries.value) == 0:
            continue
        how = f"retries {retries.value}" + (" (HAProxy's default)" if retries.is_default else "")
        out.append(finding(rule, f"{sec.kind} {sec.name} has {len(sec.servers)} servers and {how} but no "
                           "'option redispatch': every retry of a failed connection goes to the same "
                           "server, so the request gets 503 although another server is up",
                           sec.file, sec.line,
                           set_keyword(files, "option redispatch", "", setting=None,
                                       section_file=sec.file, section_line=sec.line)))
    return out


@rule("W502-028", directives=("server",), proxy="haproxy")
def check_maxconn_without_timeout_queue(inp: HaproxyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-028.  ``maxconn`` queues requests; their wait is bounded by ``timeout connect``."""
    files = _files(inp.config)
    out: list[LintFinding] = []
    for sec in _served(inp.config):
        limited = [s for s in sec.servers if (s.param("maxconn") or "0").isdigit()
                   and int(s.param("maxconn") or "0") > 0]
        if not limited:
            continue
        queue = sec.effective("timeout queue")
        if not queue.is_default:
            continue
        bound = (f"'timeout connect' ({queue.value}, {queue.file}:{queue.line})" if queue.value
                 else "nothing: timeout connect is unset too, so a queued request waits forever")
        srv = limited[0]
        out.append(finding(rule, f"server {srv.name} of {sec.kind} {sec.name} has maxconn "
                           f"{srv.param('maxconn')} but no 'timeout queue': requests waiting for a free "
                           f"slot are bounded by {bound}, then get 503 (state sQ)", srv.file, srv.line,
                           set_keyword(files, "timeout queue", QUEUE_TIMEOUT, setting=None,
                                       section_file=sec.file, section_line=sec.line),
                           tuple((s.file, s.line) for s in limited[1:])))
    return out
