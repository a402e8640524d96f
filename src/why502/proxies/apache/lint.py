"""Apache httpd 2.4 (mod_proxy, mod_proxy_fcgi, mod_proxy_balancer): reuse against PHP-FPM's
pool, the proxy timeout against the backend's, and how long a failed member stays out.

Claims are httpd's documentation:

- mod_proxy_fcgi.html: connection reuse is off by default; with ``enablereuse=on`` "the
  connection will be held open by that httpd child process", and if the FastCGI application "is
  unable to handle enough concurrent connections from httpd, requests can block waiting for the
  application to close an existing connection" (PHP-FPM serves one connection per child);
- mod_proxy.html "BalancerMember and ProxyPass parameters": ``max`` defaults to the MPM's
  threads per child (1 under prefork), ``timeout`` to ``ProxyTimeout``, which defaults to
  ``Timeout`` (60 s, ``DEFAULT_TIMEOUT`` in include/httpd.h); ``retry`` defaults to 60: "If the
  connection pool worker to the backend server is in the error state, Apache httpd will not
  forward any requests to that server until the timeout expires";
- mpm_common.html: ``ThreadsPerChild`` 25 and ``MaxRequestWorkers`` ``ServerLimit`` (16) x
  ``ThreadsPerChild`` for event/worker, 256 for prefork.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from why502.analyzers.lint import LintFacts, LintSpec
from why502.analyzers.lint.common import file_lines, finding, pool_for
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.facts.fpm import FpmPool
from why502.findings.lint import LintFinding, LintNote
from why502.findings.patch import replace_line
from why502.proxies.apache.config import ApacheConfig, ProxyTarget
from why502.proxies.apache.edit import apache_timeout_diff
from why502.proxies.apache.proxy import PROXY


@dataclass(frozen=True)
class ApacheLintInput:
    """An Apache httpd config (includes read) plus the PHP-FPM pools and the backend's timeout."""

    config: ApacheConfig
    pools: tuple[FpmPool, ...] = ()
    backend_timeout: float | None = None
    proxy: ClassVar[str] = PROXY.name

    def directive_names(self) -> frozenset[str]:
        """Directive names in lower case (httpd matches them case-insensitively)."""
        return frozenset(d.name.lower() for d in self.config.directives)

    def file_text(self, path: str) -> str | None:
        return self.config.texts.get(path)


def _input(config: ApacheConfig, facts: LintFacts) -> ApacheLintInput:
    return ApacheLintInput(config, pools=facts.pools, backend_timeout=facts.backend_timeout)


LINT = LintSpec(
    build=_input,
    notes=lambda cfg: [LintNote("warning", m) for m in cfg.problems],
    unreadable=lambda cfg: None if cfg.directives else
    "not a readable Apache config: no section or directive in it",
    pools=True)
"""How ``app.lint`` lints an Apache config (``Hooks.lint_input``): with the FPM pools."""

MEMBER_RETRY = 5
"""Seconds a failed member stays out in the fix: a restarted backend is back within seconds,
and a dead one is still tried only every few seconds."""

_PASSES = ("proxypass", "proxypassmatch", "balancermember", "sethandler", "rewriterule")



def _number(cfg: ApacheConfig, name: str) -> int | None:
    d = cfg.last(name)
    return int(d.args[0]) if d and d.args and d.args[0].isdigit() else None


def mpm_processes(cfg: ApacheConfig) -> tuple[str, int, int]:
    """(MPM, threads per child, child processes at full load) from the config's ``LoadModule
    mpm_*`` and its limits, with the MPMs' defaults (mpm_common.html)."""
    mpm = "event"
    for d in cfg.values("LoadModule"):
        m = re.match(r"mpm_(\w+)_module$", d.args[0]) if d.args else None
        if m:
            mpm = m.group(1)
    if mpm == "prefork":
        workers = _number(cfg, "MaxRequestWorkers") or _number(cfg, "MaxClients") or 256
        return mpm, 1, workers
    threads = _number(cfg, "ThreadsPerChild") or 25
    workers = (_number(cfg, "MaxRequestWorkers") or _number(cfg, "MaxClients")
               or (_number(cfg, "ServerLimit") or 16) * threads)
    return mpm, threads, max(1, math.ceil(workers / threads))


def _seconds(text: str | None) -> float | None:
    """``60``, ``60s`` or ``1500ms`` (httpd 2.4.x timeouts accept a unit suffix)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", (text or "").strip())
    if not m:
        return None
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


def _set_param(files: Mapping[str, Sequence[str]], t: ProxyTarget, key: str, value: str) -> str | None:
    """Diff of ``t``'s ProxyPass/BalancerMember line with ``key=value`` set."""
    d = t.directive
    if d.name.lower() not in ("proxypass", "proxypassmatch", "balancermember"):
        return None
    lines = files.get(d.file)
    if not lines or not 1 <= d.line <= len(lines) or lines[d.line - 1].rstrip().endswith("\\"):
        return None
    text = lines[d.line - 1].rstrip()
    pat = re.compile(rf"(?i)(\s){re.escape(key)}=\S+")
    new = pat.sub(rf"\g<1>{key}={value}", text) if pat.search(text) else f"{text} {key}={value}"
    return replace_line(files, d.file, d.line, [new.strip()])


@rule("W502-029", directives=("proxypass", "proxypassmatch", "balancermember"))
def check_fcgi_reuse_exceeds_pool(inp: ApacheLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-029.  ``enablereuse=on`` pins one FPM child per idle kept connection."""
    if not inp.pools:
        return []
    cfg = inp.config
    files = file_lines(cfg.texts)
    mpm, threads, processes = mpm_processes(cfg)
    out: list[LintFinding] = []
    for t in cfg.targets():
        if t.kind != "fastcgi" or (t.param("enablereuse") or "off").lower() != "on":
            continue
        pool = pool_for(inp.pools, t)
        if pool is None or not pool.max_children:
            continue
        max_param = t.param("max") or ""
        per_child = int(max_param) if max_param.isdigit() else threads
        total = per_child * processes
        if total <= pool.max_children:
            continue
        fits = pool.max_children // processes
        fix = (_set_param(files, t, "max", str(fits)) if fits >= 1
               else _set_param(files, t, "enablereuse", "off"))
        how = f"max={per_child}" if t.param("max") else f"max unset (= ThreadsPerChild {threads})"
        out.append(finding(rule, f"{t.directive.name} to {t.key} has enablereuse=on and {how} in each of up "
                           f"to {processes} {mpm} children: {total} kept connections, but PHP-FPM pool "
                           f"[{pool.name}] has pm.max_children = {pool.max_children} ({pool.file}:"
                           f"{pool.max_children_line or pool.line}): idle kept connections hold every "
                           "FPM child and new requests wait until they time out (503/504)",
                           t.directive.file, t.directive.line, fix))
    return out


@rule("W502-030", directives=_PASSES)
def check_proxy_timeout_below_backend(inp: ApacheLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-030.  mod_proxy gives up first: 504 with "(70007)The timeout specified has expired:
    AH01102: error reading status line" (mod_proxy_http.c) while the backend keeps working."""
    cfg = inp.config
    files = file_lines(cfg.texts)
    out: list[LintFinding] = []
    for t in cfg.targets():
        backend: float | None = None
        source = ""
        pool = pool_for(inp.pools, t) if t.kind == "fastcgi" else None
        if pool and pool.request_terminate_timeout:
            backend = float(pool.request_terminate_timeout)
            source = (f"PHP-FPM pool [{pool.name}] request_terminate_timeout "
                      f"({pool.file}:{pool.line_of('request_terminate_timeout')})")
        elif pool and pool.max_execution_time:
            backend = pool.max_execution_time
            source = (f"PHP-FPM pool [{pool.name}] max_execution_time "
                      f"({pool.file}:{pool.line_of('max_execution_time')}, CPU seconds)")
        elif inp.backend_timeout:
            backend, source = inp.backend_timeout, "the backend's own timeout (--backend-timeout)"
        if not backend:
            continue
        eff = cfg.timeout(t)
        secs = _seconds(eff.value)
        if secs is None or secs >= backend:
            continue
        if eff.is_default:
            name = "Timeout (default)"
        elif eff.file == t.directive.file and eff.line == t.directive.line:
            name = "timeout="
        else:  # the ProxyTimeout or Timeout line in effect, by its own first word
            text = files.get(eff.file or "", ())
            words = text[eff.line - 1].split() if eff.line and 0 < eff.line <= len(text) else []
            name = words[0] if words else "the timeout"
        where = (eff.file, eff.line) if eff.file and eff.line else (t.directive.file, t.directive.line)
        # ProxyTimeout is valid at server and virtual-host level only: never insert it inside
        # <Location>/<FilesMatch>/<Proxy> (apache2 -t would refuse the config)
        nested = any(not s.startswith("VirtualHost") for s in t.directive.scope)
        diff = None if nested and eff.is_default else apache_timeout_diff(
            files, eff, t.directive.file, t.directive.line, math.ceil(backend))
        shown = f"{name}{eff.value}" if name.endswith("=") else f"{name} {eff.value}"
        out.append(finding(rule, f"{shown} for {t.key} is shorter than what {source} allows "
                           f"({backend:g}s): slower requests get 504 from Apache while the backend keeps "
                           "working", where[0], where[1], diff))
    return out


@rule("W502-031", directives=("balancermember",))
def check_member_without_retry(inp: ApacheLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-031.  A member in error state is skipped for ``retry`` (60 s) seconds."""
    files = file_lines(inp.config.texts)
    out: list[LintFinding] = []
    for t in inp.config.targets():
        if t.directive.name.lower() != "balancermember" or t.param("retry") is not None:
            continue
        out.append(finding(rule, f"BalancerMember {t.key} of {t.group or 'its balancer'} has no retry=: "
                           "after one failed connection it is out for 60 s (the default); when every "
                           "member is out, clients get 503 'all workers are in error state' for up to a "
                           "minute after the backends are back", t.directive.file, t.directive.line,
                           _set_param(files, t, "retry", str(MEMBER_RETRY))))
    return out
