"""Envoy (v3 API): keep-alive inversion, retries that skip resets, clusters of several hosts
without outlier detection, a route timeout below the backend's (bootstrap or ``/config_dump``).

Every claim is Envoy's own API docs (``api/envoy/config/...`` in envoyproxy/envoy):

- the upstream idle timeout (``common_http_protocol_options.idle_timeout`` of the cluster's
  ``envoy.extensions.upstreams.http.v3.HttpProtocolOptions``, or of the cluster itself, the
  deprecated field) "defaults to 1 hour" (core/v3/protocol.proto).  An app server closes an idle
  keep-alive connection much sooner (Node's ``server.keepAliveTimeout`` 5 s, gunicorn's
  ``--keep-alive`` 2 s, uvicorn's ``--timeout-keep-alive`` 5 s): a request Envoy sends on a
  connection the backend is closing is reset, the client gets ``503 UC
  upstream_reset_before_response_started{connection_termination}``;
- ``retry_on`` (route_components.proto RetryPolicy; router filter docs, x-envoy-retry-on):
  ``5xx`` and ``gateway-error`` include a reset / refused connection (``5xx``: "or does not
  respond at all (disconnect/reset/read timeout)"), ``reset`` and ``connect-failure`` name them;
  a policy with none of them (only ``retriable-status-codes``, ``retriable-4xx``,
  ``refused-stream``, ...) retries none of the failures that make a 503 ``UC``/``UF``;
- without ``outlier_detection`` no host is ever ejected (cluster/v3/outlier_detection.proto:
  the cluster's field is "If specified, outlier detection will be enabled for this upstream
  cluster"), and without ``health_checks`` every host is healthy: a dead host of several keeps
  its share of the requests;
- the route ``timeout`` "If not specified, the default is 15s" and covers all retries
  (route_components.proto RouteAction.timeout);
- a cluster's circuit breakers (cluster/v3/circuit_breaker.proto ``Thresholds``, 1024 each when
  unset) cap the connections (``max_connections``), the requests in flight (``max_requests``)
  and the requests waiting for a connection (``max_pending_requests``) of the whole cluster;
  one more is refused at once with ``503 UO`` (docs/root/intro/arch_overview/upstream/
  circuit_breaking.rst: "the cluster ... will not allow more than the configured maximum").
  Over HTTP/1.1 a request holds a connection, so at most ``min(max_connections, max_requests)``
  run and ``max_pending_requests`` wait.

What the config alone cannot say is not guessed: the backend's keep-alive and request timeouts
come from ``--backend-keepalive`` / ``--backend-timeout`` when given; without
``--backend-keepalive`` the keep-alive rule compares with 5 s, the longest of the common app
servers' defaults above (so a cluster that fires would be closed under by all of them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from why502.analyzers.lint import LintFacts, LintSpec
from why502.analyzers.lint.common import file_lines, finding
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding, LintNote
from why502.proxies.envoy.config import Cluster, EnvoyConfig, Map, duration_seconds
from why502.proxies.envoy.edit import add_key, idle_timeout_diff, set_value
from why502.proxies.envoy.proxy import PROXY
from why502.proxies.envoy.xds import advice


@dataclass(frozen=True)
class EnvoyLintInput:
    """An Envoy bootstrap or ``/config_dump`` plus what only the backend can tell (its own
    request timeout and idle keep-alive timeout)."""

    config: EnvoyConfig
    backend_timeout: float | None = None
    backend_keepalive: float | None = None
    concurrency: int | None = None  # requests in flight at the peak (--concurrency)
    proxy: ClassVar[str] = PROXY.name

    def directive_names(self) -> frozenset[str]:
        """Envoy's checks fire on defaults (an unset field): none declares keys."""
        return frozenset()

    def file_text(self, path: str) -> str | None:
        return self.config.texts.get(path)


def _input(config: EnvoyConfig, facts: LintFacts) -> EnvoyLintInput:
    return EnvoyLintInput(config, backend_timeout=facts.backend_timeout,
                          backend_keepalive=facts.backend_keepalive, concurrency=facts.concurrency)


LINT = LintSpec(
    build=_input,
    notes=lambda cfg: [LintNote("info", m) for m in cfg.problems],
    unreadable=lambda cfg: None if cfg.clusters or cfg.listeners or cfg.routes else
    "not a readable Envoy config: no listener, route or cluster in it",
    inputs=("backend_timeout", "backend_keepalive", "concurrency"))
"""How ``app.lint`` lints an Envoy config (``Hooks.lint_input``): with the backend's keep-alive."""

APP_KEEPALIVE = 5.0
"""The longest idle keep-alive of the common app servers (Node 5 s, uvicorn 5 s, gunicorn 2 s)."""

_RESET_CONDITIONS = frozenset({"5xx", "gateway-error", "reset", "connect-failure", "reset-before-request"})



def _editable(cfg: EnvoyConfig) -> bool:
    """A bootstrap is the file to change; a ``/config_dump`` is what the control plane sent."""
    return cfg.source == "bootstrap"


def routed(cfg: EnvoyConfig) -> list[Cluster]:
    """Clusters an HTTP route sends to (the ones with HTTP upstream connections)."""
    names = {name for r in cfg.routes for name in r.clusters}
    return [c for c in cfg.clusters if c.name in names]


@rule("W502-033")
def check_upstream_idle_timeout(inp: EnvoyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-033.  Keep-alive inversion: Envoy keeps idle upstream connections longer than the
    backend does (1 h by default)."""
    limit = inp.backend_keepalive if inp.backend_keepalive else APP_KEEPALIVE
    fix_s = max(1, math.floor(limit) - 1) if inp.backend_keepalive else 4
    out: list[LintFinding] = []
    own = {li.address for li in inp.config.listeners}
    for cl in routed(inp.config):
        if cl.endpoints and all(ep.address in own for ep in cl.endpoints):
            continue  # Envoy sending to its own listener: both sides keep idle connections alike
        idle = cl.setting("idle_timeout")
        secs = duration_seconds(idle.value)
        if secs is not None and 0 < secs < limit:
            continue
        backend = (f"the backend's keep-alive ({limit:g}s, --backend-keepalive)" if inp.backend_keepalive
                   else "an app server's (Node and uvicorn close idle connections after 5 s, gunicorn "
                   "after 2 s)")
        now = ("unset: Envoy's default is 1 hour" if idle.is_default else
               "0: never closed" if secs == 0 else f"{idle.value}")
        out.append(finding(
            rule, f"cluster {cl.name}: the upstream idle_timeout is {now}, longer than {backend}; a "
            "request sent on a connection the backend is closing gets 503 UC "
            "(upstream_reset_before_response_started{connection_termination})"
            + advice(inp.config, cl.name, "idle_timeout", f"{fix_s}s"),
            idle.file or cl.file, idle.line or cl.line, idle_timeout_diff(inp.config, cl, f"{fix_s}s")))
    return out


@rule("W502-034")
def check_retry_without_reset(inp: EnvoyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-034.  A retry policy that retries no reset and no refused connection."""
    cfg = inp.config
    files = file_lines(cfg.texts)
    out: list[LintFinding] = []
    seen: set[tuple[str | None, int | None]] = set()
    for r in cfg.routes:
        if r.retry_on is None or not r.retry_on.value:
            continue
        conditions = {c.strip() for c in r.retry_on.value.split(",") if c.strip()}
        if conditions & _RESET_CONDITIONS or (r.retry_on.file, r.retry_on.line) in seen:
            continue
        seen.add((r.retry_on.file, r.retry_on.line))
        diff = None
        if _editable(cfg) and r.retry_on.file and r.retry_on.line:
            text = files[r.retry_on.file][r.retry_on.line - 1]
            new_value = ",".join([*sorted(conditions), "reset", "connect-failure"])
            holder = _retry_map(cfg, r.retry_on.line)
            diff = set_value(files, r.retry_on.file, holder, "retry_on", new_value,
                             as_json=cfg.json or '"' in text.split(":", 1)[-1])
        out.append(finding(
            rule, f"route {r.match} (cluster {', '.join(r.clusters) or '?'}): retry_on "
            f"'{r.retry_on.value}' retries no reset and no refused connection: a backend that closes "
            "or refuses the connection answers the client 503 (UC/UF) at the first try"
            + advice(cfg, r.clusters[0] if r.clusters else "", "retry",
                     ",".join([*sorted(conditions), "reset", "connect-failure"])),
            r.retry_on.file, r.retry_on.line, diff))
    return out


def _retry_map(cfg: EnvoyConfig, line: int) -> Map | None:
    """The ``retry_policy`` mapping whose ``retry_on`` is on ``line``."""
    for r in cfg.routes:
        for holder in (r.action.get("retry_policy") if r.action else None,):
            if isinstance(holder, Map) and holder.at("retry_on")[0] == line:
                return holder
    return _find_map(cfg, "retry_on", line)


def _find_map(cfg: EnvoyConfig, key: str, line: int) -> Map | None:
    """The mapping of the document holding ``key`` on ``line`` (a virtual host's policy)."""
    from why502.proxies.envoy.config import parse_document

    todo = [parse_document(cfg.texts[cfg.main_file], cfg.main_file)]
    while todo:
        item = todo.pop()
        if isinstance(item, Map):
            if item.at(key)[0] == line:
                return item
            todo += item.values()
        elif isinstance(item, list):
            todo += item
    return None


@rule("W502-035")
def check_no_outlier_detection(inp: EnvoyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-035.  Several endpoints, no outlier detection and no health check: a dead host keeps
    its share."""
    cfg = inp.config
    out: list[LintFinding] = []
    for cl in routed(cfg):
        if len(cl.endpoints) < 2 or cl.outlier_detection is not None or cl.health_checks:
            continue
        diff = None
        if _editable(cfg) and cl.node is not None:
            diff = add_key(file_lines(cfg.texts), cl.file, cl.node, "outlier_detection",
                           {"consecutive_5xx": 5, "max_ejection_percent": 50}, as_json=cfg.json)
        out.append(finding(
            rule, f"cluster {cl.name} has {len(cl.endpoints)} endpoints and neither outlier_detection nor "
            "health_checks: a host that stops keeps getting its share of the requests (503 UF/UC) "
            "while the others could answer" + advice(cfg, cl.name, "outlier", 5), cl.file, cl.line, diff))
    return out


@rule("W502-040")
def check_circuit_breaker_below_concurrency(inp: EnvoyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-040.  Needs ``--concurrency``: the circuit breakers refuse part of the expected peak."""
    if not inp.concurrency:
        return []
    cfg = inp.config
    out: list[LintFinding] = []
    for cl in routed(cfg):
        conns, reqs, pending = (cl.setting(k) for k in ("max_connections", "max_requests",
                                                        "max_pending_requests"))
        try:
            running = min(int(conns.value), int(reqs.value))
            waiting = int(pending.value)
        except ValueError:
            continue
        if running + waiting >= inp.concurrency:
            continue
        low = conns if int(conns.value) <= int(reqs.value) else reqs
        name = "max_connections" if low is conns else "max_requests"
        # the limit to raise: the in-flight one when it is set, else the queue
        key, value = ((name, inp.concurrency - waiting) if not low.is_default and low.line else
                      ("max_pending_requests", inp.concurrency - running))
        where = cl.setting(key)
        diff = _breaker_diff(cfg, cl, key, value) if _editable(cfg) and not where.is_default else None
        out.append(finding(
            rule, f"cluster {cl.name}: its circuit breakers let {running} requests run ({name} "
            f"{low.value}) and {waiting} wait (max_pending_requests {pending.value}), below the "
            f"{inp.concurrency} expected at once (--concurrency): the rest get 503 UO at once"
            + advice(cfg, cl.name, "breakers", inp.concurrency),
            where.file or cl.file, where.line or cl.line, diff))
    return out


def _breaker_diff(cfg: EnvoyConfig, cl: Cluster, key: str, value: int) -> str | None:
    """The diff setting ``key`` of the cluster's thresholds (where it is set) to ``value``."""
    setting = cl.setting(key)
    holder = _find_map(cfg, key, setting.line or 0) if setting.line else None
    if holder is None:
        return None
    return set_value(file_lines(cfg.texts), setting.file, holder, key, str(value), as_json=cfg.json)


@rule("W502-036")
def check_route_timeout_below_backend(inp: EnvoyLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-036.  Needs ``--backend-timeout``: the route gives up before the backend does."""
    if not inp.backend_timeout:
        return []
    cfg = inp.config
    files = file_lines(cfg.texts)
    value = f"{math.ceil(inp.backend_timeout) + 5}s"
    out: list[LintFinding] = []
    for r in cfg.routes:
        t = r.setting("timeout")
        secs = duration_seconds(t.value)
        if secs is None or secs == 0 or secs >= inp.backend_timeout:
            continue
        diff = None
        if _editable(cfg) and r.action is not None:
            diff = (set_value(files, r.file, r.action, "timeout", value, as_json=cfg.json) if not t.is_default
                    else add_key(files, r.file, r.action, "timeout", value, as_json=cfg.json))
        now = f"{t.value} (Envoy's default)" if t.is_default else t.value
        out.append(finding(
            rule, f"route {r.match} (cluster {', '.join(r.clusters) or '?'}): timeout {now} is shorter than "
            f"the backend's {inp.backend_timeout:g}s: slower requests get 504 UT while the backend works on"
            + advice(cfg, r.clusters[0] if r.clusters else "", "route_timeout", value),
            t.file or r.file, t.line or r.line, diff))
    return out
