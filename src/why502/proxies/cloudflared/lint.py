"""cloudflared (a locally managed tunnel's ``config.yml``): four checks.

- W502-047: the last ingress rule is not the catch-all, or a rule before the last is one.
  cloudflared refuses such a file (ingress/ingress.go ``validateHostname``:
  ``errLastRuleNotCatchAll`` "The last ingress rule must match all URLs (i.e. it should not have a
  hostname or path filter)", ``ruleShouldNotBeCatchAllError``): ``tunnel run`` does not start, and
  every hostname of the tunnel gets Cloudflare's error page instead of an origin.
- W502-048: a ``service:`` on ``localhost``.  Go resolves ``localhost`` to every loopback address,
  ``::1`` first on most hosts, and dials them in turn (net/dial.go ``dialSerial``, ``dialParallel``:
  the error returned is the first address's), so an origin that is down is reported as
  ``dial tcp [::1]:8080: connect: connection refused`` even when it listens on 127.0.0.1 only
  (cloudflare/cloudflared#742, #622); and cloudflared in a container dials the container's own
  loopback, where no origin listens (cloudflare/cloudflared#976).  ``127.0.0.1`` (or the
  origin's service name in a container network) says which address is meant.
- W502-049: ``keepAliveTimeout`` (1m30s by default, the origin transport's ``IdleConnTimeout``:
  ingress/origin_service.go ``newHTTPTransport``) at or above the origin's own idle keep-alive
  timeout (``--backend-keepalive``: Node's 5 s, gunicorn's 2 s): cloudflared reuses a connection
  the origin is closing and the request fails with ``EOF`` or ``connection reset by peer``, a 502
  (the keep-alive race).
- W502-050: a TLS setting of ``originRequest`` (``noTLSVerify``, ``originServerName``, ``caPool``,
  ``matchSNItoHost``, or their flag spellings ``no-tls-verify``...) written beside a rule's
  ``service:``.  A rule has only ``hostname``, ``path``, ``service`` and ``originRequest``
  (config/configuration.go ``UnvalidatedIngressRule``); cloudflared's YAML decoder drops any other
  key (``ReadConfigFile``: only a strict second read warns), so the origin's certificate is still
  checked and its x509 error stays a 502 (cloudflare/cloudflared#277, cloudflare-docs#2649).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from why502.analyzers.lint import LintFacts, LintSpec
from why502.analyzers.lint.common import finding
from why502.analyzers.lint.one_file import OneFileLintInput, config_lines
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding, LintNote
from why502.proxies.cloudflared.config import (
    RULE_KEYS,
    TLS_KEYS,
    CloudflaredConfig,
    duration_seconds,
    localhost,
)
from why502.proxies.cloudflared.edit import move_to_origin_request, set_origin_request, set_service
from why502.proxies.cloudflared.proxy import PROXY


@dataclass(frozen=True)
class CloudflaredLintInput(OneFileLintInput[CloudflaredConfig]):
    """A cloudflared config, and the origin's idle keep-alive timeout when given."""

    backend_keepalive: float | None = None
    proxy: ClassVar[str] = PROXY.name


def _build(cfg: CloudflaredConfig, facts: LintFacts) -> CloudflaredLintInput:
    return CloudflaredLintInput(cfg, backend_keepalive=facts.backend_keepalive)


LINT = LintSpec(
    build=_build,
    notes=lambda cfg: [LintNote("info", m) for m in cfg.problems],
    unreadable=lambda cfg: None if cfg.rules else
    "not a readable cloudflared config: no ingress rules in it (a tunnel run with --url has none)",
    inputs=("backend_keepalive",))
"""How ``app.lint`` lints a cloudflared config (``Hooks.lint_input``)."""



@rule("W502-047")
def check_catch_all(inp: CloudflaredLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-047.  The last rule must be the catch-all, and only the last (cloudflared refuses)."""
    cfg = inp.config
    out: list[LintFinding] = []
    if not cfg.rules:
        return out
    last = cfg.rules[-1]
    for r in cfg.rules[:-1]:
        if r.catch_all:
            out.append(finding(
                rule, f"ingress rule {r.index} (service {r.service}) matches every request but is not the "
                f"last: cloudflared refuses the file (\"Rule #{r.index + 1} is matching the hostname "
                f"'{r.hostname}', but this will match every hostname\") and the tunnel does not start",
                cfg.path, r.line))
    if not last.catch_all:
        out.append(finding(
            rule, f"the last ingress rule ({last.route} -> {last.service}) has a hostname or path: "
            "cloudflared refuses the file (\"The last ingress rule must match all URLs\") and the tunnel "
            "does not start; end the list with a rule that has only a service (service: http_status:404)",
            cfg.path, last.line))
    return out


@rule("W502-048")
def check_localhost_service(inp: CloudflaredLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-048.  ``service: http://localhost:PORT``: ``::1`` tried first, a container's own loopback."""
    cfg = inp.config
    out: list[LintFinding] = []
    for r in cfg.origins():
        host, port = r.host_port
        if not localhost(host):
            continue
        fixed = r.service.replace(host or "localhost", "127.0.0.1", 1)
        out.append(finding(
            rule, f"ingress rule {r.index} ({r.route}) sends to {r.service}: Go dials localhost's addresses "
            f"in turn, [::1] first on most hosts, so a refused origin is reported as 'dial tcp [::1]:{port}' "
            "even when it listens on 127.0.0.1 only; in a container, localhost is the container itself",
            cfg.path, r.service_line, set_service(config_lines(cfg), cfg.path, r, fixed)))
    return out


@rule("W502-049")
def check_keepalive_above_origin(inp: CloudflaredLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-049.  ``keepAliveTimeout`` >= the origin's idle timeout: the keep-alive race."""
    backend = inp.backend_keepalive
    if not backend:
        return []
    cfg = inp.config
    out: list[LintFinding] = []
    for r in cfg.origins():
        if r.scheme not in ("http", "https"):
            continue  # tcp/ssh/rdp are streams over a WebSocket, no pool of idle HTTP connections
        kt = r.settings["keepAliveTimeout"]
        secs = duration_seconds(kt.value)
        if secs is None or secs < backend:
            continue
        idle = max(1, int(backend) - 1)
        where = "cloudflared's default" if kt.is_default else f"set at line {kt.line}"
        out.append(finding(
            rule, f"ingress rule {r.index} ({r.route}) keeps idle connections to {r.service} for "
            f"keepAliveTimeout {kt.value} ({where}), at or above the origin's own keep-alive ({backend:g} s, "
            "--backend-keepalive): cloudflared reuses connections the origin is closing, and those "
            "requests fail (EOF, connection reset: 502)",
            kt.file or cfg.path, kt.line or r.line,
            set_origin_request(config_lines(cfg), cfg.path, r, {"keepAliveTimeout": f"{idle}s"})))
    return out


@rule("W502-050")
def check_tls_setting_beside_rule(inp: CloudflaredLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-050.  ``noTLSVerify`` & co. written beside ``service:``: ignored (cloudflared#277)."""
    cfg = inp.config
    out: list[LintFinding] = []
    for r in cfg.rules:
        if r.node is None:
            continue
        for key in r.node:
            if key in RULE_KEYS or key not in TLS_KEYS:
                continue
            line = r.node.keys_at[key][0]
            setting = TLS_KEYS[key]
            out.append(finding(
                rule, f"ingress rule {r.index} ({r.route}) sets {key} beside its service: cloudflared "
                "reads only hostname, path, service and originRequest there and drops it, so its origin's "
                "TLS is checked as if it were not written (x509 errors stay 502s); it belongs under "
                f"originRequest as {setting}",
                cfg.path, line, move_to_origin_request(config_lines(cfg), cfg.path, r, key, setting)))
    return out
