"""Caddy 2: what can be decided from the config alone (a Caddyfile through ``caddy adapt``, or
Caddy's JSON).  Every claim is Caddy's source (modules/caddyhttp/reverseproxy/, v2.10) or its
documentation (https://caddyserver.com/docs/caddyfile/directives/reverse_proxy):

- retries are off by default (reverseproxy.go ``LoadBalancing``: "By default, retries are
  disabled"; ``tryAgain`` returns false when ``TryDuration == 0 && Retries == 0``); a dial error
  is always safe to retry when they are on;
- passive health checks are off unless ``fail_duration`` > 0 (healthchecks.go
  ``PassiveHealthChecks.FailDuration``), active ones need a ``health_uri`` or ``health_port``.

What a rule must not mistake for a defect:

- ``response_header_timeout`` unset: Caddy then waits for the response header as long as the
  client does (httptransport.go: no default); that is a choice, not a cause of 502/504;
- a ``reverse_proxy`` with one upstream and no retry: there is nothing to retry on, a health check
  would only turn a 502 into a 503;
- ``dial_timeout`` unset: 3s by default (httptransport.go ``NewTransport``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from why502.analyzers.lint import LintFacts, LintSpec
from why502.analyzers.lint.common import file_lines, finding
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding, LintNote
from why502.proxies.caddy.config import CaddyConfig, Handler
from why502.proxies.caddy.edit import set_subdirective
from why502.proxies.caddy.proxy import PROXY


@dataclass(frozen=True)
class CaddyLintInput:
    """A Caddy config as its rules read it."""

    config: CaddyConfig
    proxy: ClassVar[str] = PROXY.name

    def directive_names(self) -> frozenset[str]:
        return frozenset({"reverse_proxy"} if self.config.handlers else set())

    def file_text(self, path: str) -> str | None:
        return self.config.texts.get(path)


def _input(config: CaddyConfig, facts: LintFacts) -> CaddyLintInput:
    return CaddyLintInput(config)


LINT = LintSpec(build=_input, notes=lambda cfg: [LintNote("warning", str(p)) for p in cfg.problems],
                echo_host=False)
"""How ``app.lint`` lints a Caddy config (``Hooks.lint_input``): nothing read from the host."""



def _unique(cfg: CaddyConfig) -> list[Handler]:
    """One handler per ``reverse_proxy`` line (a site of several addresses repeats it per server)."""
    seen: set[tuple[str | None, int | None, tuple[str, ...]]] = set()
    out = []
    for h in cfg.handlers:
        key = (h.file, h.line, tuple(u.dial for u in h.upstreams))
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out


def _set(h: Handler, name: str) -> bool:
    s = h.settings.get(name)
    if s is None or s.is_default:
        return False
    secs = h.seconds(name)
    return secs is None or secs > 0 if name not in ("lb_retries",) else s.value not in ("0", "")


@rule("W502-037", directives=("reverse_proxy",))
def upstreams_without_retry_or_health_check(inp: CaddyLintInput, rule: LintRule) -> list[LintFinding]:
    out = []
    files = file_lines(inp.config.texts)
    for h in _unique(inp.config):
        if len(h.upstreams) < 2:
            continue
        active = h.raw_value("health_uri") is not None or "health_port" in str(h.raw.get("health_checks"))
        if active or _set(h, "fail_duration") or _set(h, "lb_try_duration") or _set(h, "lb_retries"):
            continue
        dials = ", ".join(u.dial for u in h.upstreams)
        diff = set_subdirective(files, h.file, h.line, "lb_try_duration", "5s")
        out.append(finding(rule, f"reverse_proxy to {dials} ({h.name}) has {len(h.upstreams)} upstreams, "
                           "no health check and no retry: a stopped upstream keeps getting its share "
                           "of requests, each a 502", h.file, h.line, diff))
    return out


@rule("W502-038", directives=("reverse_proxy",))
def unix_socket_upstream(inp: CaddyLintInput, rule: LintRule) -> list[LintFinding]:
    out = []
    for h in _unique(inp.config):
        for u in h.upstreams:
            if u.unix_path is not None:
                out.append(finding(rule, f"upstream {u.dial} ({h.name}) is a unix socket: Caddy's user "
                                   "must have write permission on it", u.file, u.line))
    return out
