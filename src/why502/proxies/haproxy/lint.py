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

What a rule must not mistake for a pitfall (each was a false finding on the held-out configs,
``docs/lint/held-out-results.md``):

- HAProxy 1.x spellings, still in many configs: ``srvtimeout``/``contimeout``/``clitimeout`` are
  ``timeout server``/``connect``/``client``, bare ``redispatch`` is ``option redispatch``
  (configuration.txt 1.8, 4.2: "srvtimeout (deprecated) ... use timeout server instead");
- ``default-server check`` gives every later server of the section its health check (5.2
  "default-server": "Change default options for a server in a backend");
- a ``disabled`` proxy never starts (4.2 "disabled"), so nothing in it can fail;
- a ``backup`` server is used only when every active server is down (5.2 "backup"), so it
  takes no share from the others and a retry cannot be redispatched onto it while they are up;
- a server whose address is ``0.0.0.0`` (or ``*``, or IPv6's ``::``) has no destination of its
  own: "the connection will be forwarded to the same IP address as the one from the client
  connection" (5.2 "<address>"), or to the one ``http-request set-dst`` sets per request ("use
  '0.0.0.0:0' as a server address in the backend", 4.3 "set-dst"); a health check has no
  address to probe;
- a queue forms only when more requests arrive than the servers' ``maxconn`` admit (5.2
  "maxconn"); when ``global maxconn`` (3.2, the process's total) is no more than their sum, no
  request ever waits in it.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from typing import ClassVar

from why502.analyzers.lint import LintFacts, LintSpec
from why502.analyzers.lint.common import file_lines, finding
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.facts.setting import Setting
from why502.findings.lint import LintFinding, LintNote
from why502.proxies.haproxy.config import (
    HaproxyConfig,
    Section,
    Server,
    fcgi_app,
    held_idle_connections,
    keeps_connections,
    time_ms,
)
from why502.proxies.haproxy.edit import set_keyword, set_server_param
from why502.proxies.haproxy.proxy import PROXY


@dataclass(frozen=True)
class HaproxyLintInput:
    """A ``haproxy.cfg`` plus what only the backend can tell (its own request timeout)."""

    config: HaproxyConfig
    backend_timeout: float | None = None  # seconds the backend may take (gunicorn --timeout, ...)
    proxy: ClassVar[str] = PROXY.name

    def directive_names(self) -> frozenset[str]:
        """Every keyword in the file (``timeout server`` and ``option redispatch`` count whole)."""
        return frozenset(ln.keyword.lower() for sec in self.config.sections for ln in sec.lines)

    def file_text(self, path: str) -> str | None:
        return self.config.texts.get(path)


def _input(config: HaproxyConfig, facts: LintFacts) -> HaproxyLintInput:
    return HaproxyLintInput(config, backend_timeout=facts.backend_timeout)


LINT = LintSpec(
    build=_input,
    notes=lambda cfg: [LintNote(p.severity, p.message, p.file, p.line) for p in cfg.problems],
    unreadable=lambda cfg: None if cfg.sections else
    "not a readable haproxy.cfg: no section or directive in it")
"""How ``app.lint`` lints a ``haproxy.cfg`` (``Hooks.lint_input``)."""

DEFAULT_TIMEOUT_SERVER = "50s"
"""What Debian's shipped ``/etc/haproxy/haproxy.cfg`` sets (``timeout server 50000``)."""

QUEUE_TIMEOUT = "30s"
"""A queue wait long enough to ride out a burst, short enough that the client gets an answer."""



def _served(cfg: HaproxyConfig) -> list[Section]:
    """Backend and listen sections that have servers and can run (a frontend alone proxies
    nowhere; a ``disabled`` proxy never starts)."""
    return [s for s in cfg.backends if s.servers and s.own("disabled") is None]


OLD_SPELLING = {"timeout server": "srvtimeout", "timeout connect": "contimeout",
                "timeout client": "clitimeout"}
"""HAProxy 1.x keywords that mean the same as the 2.x ones (configuration.txt 1.8, 4.2)."""


def effective(sec: Section, keyword: str) -> Setting:
    """``keyword`` in effect for ``sec`` as HAProxy reads it: the section's own line (either
    spelling, the later one wins), else its defaults', else HAProxy's default."""
    old = OLD_SPELLING.get(keyword)
    scope: Section | None = sec
    while scope is not None and old is not None:
        lines = [ln for ln in (scope.own(keyword), scope.own(old)) if ln is not None]
        if lines:
            ln = max(lines, key=lambda x: x.line)
            return Setting(ln.value, ln.file, ln.line, False)
        scope = scope.defaults
    return sec.effective(keyword)


def redispatches(sec: Section) -> bool:
    """``option redispatch`` in effect, or its 1.x spelling ``redispatch`` in the section or
    its defaults."""
    scope: Section | None = sec
    while scope is not None:
        if scope.own("redispatch") is not None:
            return True
        scope = scope.defaults
    return sec.option("redispatch")


def _default_server_words(sec: Section) -> list[str]:
    """The ``default-server`` parameters in effect for the section's servers."""
    scope: Section | None = sec
    while scope is not None:
        ln = scope.own("default-server")
        if ln is not None:
            return list(ln.words[1:])
        scope = scope.defaults
    return []


def health_checked(sec: Section, srv: Server) -> bool:
    """``check`` on the server line, or from ``default-server`` (and no ``no-check``)."""
    if "no-check" in srv.params:
        return False
    return srv.check or "check" in _default_server_words(sec)


def host_of(srv: Server) -> str:
    """The server's host without an address-family prefix the parser keeps (``mptcp@``,
    ``tcp4@``... configuration.txt 11 "Address formats") nor IPv6 brackets."""
    host = srv.host or ""
    return re.sub(r"^[a-z0-9+-]+@", "", host).strip("[]")


def placeholder(srv: Server) -> bool:
    """A server without a destination of its own (``0.0.0.0``/``*``/``::``, any port): the
    address is the client's or the one ``set-dst`` gives per request, so nothing to check."""
    return srv.unix_path is None and host_of(srv) in ("0.0.0.0", "::", "*")  # noqa: S104 (a config, not a bind)


def active(sec: Section) -> list[Server]:
    """Servers that take requests while all is well: not ``backup``, not ``disabled``."""
    return [s for s in sec.servers if not s.backup and "disabled" not in s.params]


def _admitted(cfg: HaproxyConfig, sec: Section) -> int | None:
    """How many connections can reach ``sec`` at once, when the config bounds it: ``global
    maxconn`` (3.2, the process's total), and for a ``listen`` section its own ``maxconn`` (4.2,
    "Fix the maximum number of concurrent connections on a frontend")."""
    caps: list[int] = []
    g = cfg.global_
    ln = g.own("maxconn") if g is not None else None
    if ln is not None and ln.value.isdigit():
        caps.append(int(ln.value))
    if sec.kind == "listen":
        own = sec.effective("maxconn")
        if not own.is_default and own.value.isdigit():
            caps.append(int(own.value))
    return min(caps) if caps else None


@rule("W502-024", directives=("server",))
def check_server_without_check(inp: HaproxyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-024.  No ``check``: HAProxy never marks the server DOWN (configuration.txt 5.2)."""
    files = file_lines(inp.config.texts)
    out: list[LintFinding] = []
    for sec in _served(inp.config):
        for srv in active(sec):
            if health_checked(sec, srv) or placeholder(srv):
                continue
            others = len(active(sec)) - 1
            tail = (f"; the other {others} server(s) could have taken its share" if others
                    else "; with health checks a 503 says 'no server available' at once instead of "
                    "every request waiting for its own failed connect")
            out.append(finding(rule, f"server {srv.name} of {sec.kind} {sec.name} has no 'check': HAProxy "
                               "keeps sending it requests when it is down (503, state SC)" + tail,
                               srv.file, srv.line,
                               set_server_param(files, srv.file, srv.line, "check", None)))
    return out


@rule("W502-025", directives=())
def check_timeout_server_unset(inp: HaproxyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-025.  Fires on HAProxy's default (no keyword at all), so it declares none.  One
    finding per ``defaults`` section the backends inherit from (the fix goes there once), else
    per backend."""
    cfg = inp.config
    files = file_lines(cfg.texts)
    value = f"{math.ceil(inp.backend_timeout) + 5}s" if inp.backend_timeout else DEFAULT_TIMEOUT_SERVER
    by_parent: dict[int, tuple[Section, list[Section]]] = {}
    out: list[LintFinding] = []
    for sec in _served(cfg):
        eff = effective(sec, "timeout server")
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


@rule("W502-026", directives=("timeout server",))
def check_timeout_server_below_backend(inp: HaproxyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-026.  ``timeout server`` fires before the backend's own limit: 504, state ``sH``."""
    backend = inp.backend_timeout
    if not backend:
        return []
    cfg = inp.config
    files = file_lines(cfg.texts)
    seen: dict[tuple[str | None, int | None], list[Section]] = {}
    for sec in _served(cfg):
        eff = effective(sec, "timeout server")
        ms = time_ms(eff.value)
        if eff.is_default or ms is None or ms <= 0 or ms / 1000 >= backend:
            continue
        seen.setdefault((eff.file, eff.line), []).append(sec)
    out: list[LintFinding] = []
    for (file, line), secs in seen.items():
        eff = effective(secs[0], "timeout server")
        names = ", ".join(f"{s.kind} {s.name}" for s in secs)
        out.append(finding(rule, f"timeout server {eff.value} ({names}) is shorter than the backend's own "
                           f"timeout ({backend:g}s, --backend-timeout): slower requests get 504 (state sH) "
                           "while the backend keeps working", file, line,
                           set_keyword(files, "timeout server", f"{math.ceil(backend) + 5}s", setting=eff,
                                       section_file=secs[0].file, section_line=secs[0].line)))
    return out


@rule("W502-027", directives=("server",))
def check_retries_without_redispatch(inp: HaproxyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-027.  Retries stay on the failed server without ``option redispatch``."""
    files = file_lines(inp.config.texts)
    out: list[LintFinding] = []
    for sec in _served(inp.config):
        up = active(sec)
        if len(up) < 2 or redispatches(sec):
            continue
        retries = sec.effective("retries")
        if not retries.value.isdigit() or int(retries.value) == 0:
            continue
        how = f"retries {retries.value}" + (" (HAProxy's default)" if retries.is_default else "")
        out.append(finding(rule, f"{sec.kind} {sec.name} has {len(up)} servers and {how} but no "
                           "'option redispatch': every retry of a failed connection goes to the same "
                           "server, so the request gets 503 although another server is up",
                           sec.file, sec.line,
                           set_keyword(files, "option redispatch", "", setting=None,
                                       section_file=sec.file, section_line=sec.line)))
    return out


@rule("W502-028", directives=("server",))
def check_maxconn_without_timeout_queue(inp: HaproxyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-028.  ``maxconn`` queues requests; their wait is bounded by ``timeout connect``."""
    files = file_lines(inp.config.texts)
    out: list[LintFinding] = []
    for sec in _served(inp.config):
        limited = [s for s in sec.servers if (s.param("maxconn") or "0").isdigit()
                   and int(s.param("maxconn") or "0") > 0]
        if not limited:
            continue
        queue = sec.effective("timeout queue")
        if not queue.is_default:
            continue
        limited = [s for s in limited if s in active(sec)] or limited
        cap = _admitted(inp.config, sec)
        if cap is not None and len(limited) == len(active(sec)) and cap <= sum(
                int(s.param("maxconn") or "0") for s in limited):
            continue  # the process admits no more than the servers take: no queue forms
        queue = effective(sec, "timeout connect")
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


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def resolved_at_start(sec: Section, srv: Server) -> bool:
    """A server named by a DNS name that no ``resolvers`` applies to (configuration.txt 5.3):
    not an IP literal, a unix socket, a placeholder, ``localhost`` (the hosts file, whose answer
    does not move) or an environment variable HAProxy substitutes at start (2.3)."""
    host = host_of(srv)
    if srv.unix_path is not None or not host or placeholder(srv) or _ip_literal(host):
        return False
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost") or "$" in host:
        return False
    words = list(srv.params)
    return "resolvers" not in words and "resolvers" not in _default_server_words(sec)


@rule("W502-032", directives=("server",))
def check_server_name_resolved_at_start(inp: HaproxyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-032.  A server's host name is resolved once, when HAProxy starts (5.3)."""
    out: list[LintFinding] = []
    for sec in _served(inp.config):
        for srv in active(sec) + [s for s in sec.servers if s.backup]:
            if not resolved_at_start(sec, srv):
                continue
            out.append(finding(rule, f"server {srv.name} of {sec.kind} {sec.name} names {host_of(srv)}, "
                               "which HAProxy resolves once, at start (no 'resolvers' applies): when "
                               "its address changes, HAProxy keeps the old one and clients get 503 "
                               "until a reload", srv.file, srv.line))
    return out


@rule("W502-041", directives=("use-fcgi-app",))
def check_fcgi_idle_connections_hold_workers(inp: HaproxyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-041.  A FastCGI server behind ``http-reuse safe`` with ``option keep-conn``: each idle
    kept connection holds a PHP-FPM worker, and the first request of a new client never reuses
    one (configuration.txt 4.2 ``http-reuse``; haproxy/haproxy#2936), so new clients wait
    ``timeout server`` for a worker.  ``aggressive``/``always`` reuse idle connections for
    first requests and ``never`` closes them with the client's session: measured silent."""
    cfg = inp.config
    files = file_lines(cfg.texts)
    out: list[LintFinding] = []
    for sec in _served(cfg):
        fcgi = [s for s in active(sec) if s.param("proto") == "fcgi"]
        app = fcgi_app(cfg, sec)
        if not fcgi or app is None or held_idle_connections(cfg, sec) is None:
            continue
        _keeps, line = keeps_connections(app)  # where the diff goes
        reuse = sec.effective("http-reuse")
        where = (f"'option keep-conn' at line {line.line}" if line is not None and line.line
                 else "'option keep-conn' (on by default)")
        out.append(finding(
            rule, f"{sec.kind} {sec.name} sends FastCGI to {', '.join(s.name for s in fcgi)} through "
            f"fcgi-app {app.name} with {where} and http-reuse {reuse.value}"
            + (" (the default)" if reuse.is_default else "")
            + ": every idle connection HAProxy keeps holds a PHP-FPM worker, and a new client's "
            "request waits for one until timeout server (504, state sH)",
            app.file, app.line,
            set_keyword(files, "no option keep-conn", "",
                        setting=Setting("on", line.file, line.line, False) if line is not None else None,
                        section_file=app.file, section_line=app.line)))
    return out
