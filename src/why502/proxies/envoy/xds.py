"""An Envoy whose config comes from a control plane (xDS): which one, and a lint finding's change
said in that control plane's terms.  Pure.

An Envoy run by Istio or Envoy Gateway is configured over xDS: editing what ``/config_dump``
shows, or the bootstrap, changes nothing that lasts -- the control plane sends its own config
again.  The change belongs in the control plane's resources, so why502 prints it there and never
applies it (``why502 fix`` refuses ``--apply``: ``proxies.envoy.fix``).

How the control plane is recognised (from the text of the bootstrap or dump read):

- Istio: its bootstrap's xDS cluster ``xds-grpc`` and node metadata ``ISTIO_VERSION``
  (tools/packaging/common/envoy_bootstrap.json in istio/istio), its cluster names
  ``outbound|PORT|SUBSET|HOST`` (pilot/pkg/model: ``BuildSubsetKey``);
- Envoy Gateway: cluster names ``httproute/NS/NAME/rule/N`` (internal/xds/translator) and its
  xDS server ``envoy-gateway`` in the bootstrap (internal/xds/bootstrap);
- any other: ``dynamic_resources`` (bootstrap.proto) or ``dynamic_active_clusters`` in a dump.

The field names (cited per resource):

- Istio ``DestinationRule`` (networking.istio.io, https://istio.io/latest/docs/reference/config/
  networking/destination-rule/): ``trafficPolicy.connectionPool.http.idleTimeout``,
  ``connectionPool.tcp.maxConnections``, ``connectionPool.http.http1MaxPendingRequests``,
  ``connectionPool.http.http2MaxRequests``, ``outlierDetection.consecutive5xxErrors``; its
  ``VirtualService`` (https://istio.io/latest/docs/reference/config/networking/virtual-service/):
  ``http[].timeout``, ``http[].retries.retryOn``;
- Envoy Gateway ``BackendTrafficPolicy`` (gateway.envoyproxy.io/v1alpha1,
  https://gateway.envoyproxy.io/docs/api/extension_types/): ``timeout.http.connectionIdleTimeout``,
  ``timeout.http.requestTimeout``, ``circuitBreaker.maxConnections`` / ``maxPendingRequests`` /
  ``maxParallelRequests``, ``healthCheck.passive.consecutive5XxErrors``,
  ``retry.retryOn.triggers``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from why502.proxies.envoy.config import EnvoyConfig

ISTIO = "Istio"
GATEWAY = "Envoy Gateway"
XDS = "an xDS control plane"

_ISTIO = re.compile(r"ISTIO_VERSION|\bxds-grpc\b|\boutbound\|\d+\|")
_GATEWAY = re.compile(r"\bhttproute/[^/\s\"]+/[^/\s\"]+/rule/\d+|envoy-gateway")
_DYNAMIC = re.compile(r"\bdynamic_resources\b|\bdynamic_active_clusters\b|\bdynamic_route_configs\b")


def controller(cfg: EnvoyConfig) -> str | None:
    """:data:`ISTIO`, :data:`GATEWAY`, :data:`XDS` or None (a static bootstrap)."""
    text = "\n".join(cfg.texts.values())
    if _ISTIO.search(text):
        return ISTIO
    if _GATEWAY.search(text):
        return GATEWAY
    if _DYNAMIC.search(text) or cfg.source == "config_dump":
        return XDS
    return None


def managed(cfg: object) -> str | None:
    """``Hooks.managed``: the sentence ``why502 fix`` says before it refuses to apply a change to
    a config its control plane owns; None for a static bootstrap."""
    if not isinstance(cfg, EnvoyConfig):
        return None
    who = controller(cfg)
    if who is None:
        return None
    return (f"{cfg.main_file} is configured by {who} (xDS): a change written into Envoy's config "
            f"would be replaced by the next push, so why502 prints it in {who}'s terms and never "
            "applies it")


@dataclass(frozen=True)
class Target:
    """What the control plane calls the cluster: Istio's service host, Envoy Gateway's route."""

    host: str | None = None  # Istio: web.shop.svc.cluster.local
    namespace: str | None = None  # Envoy Gateway: the HTTPRoute's
    route: str | None = None


def target(cluster: str) -> Target:
    """``outbound|80||web.shop.svc.cluster.local`` -> host; ``httproute/shop/web/rule/0`` ->
    namespace and route."""
    parts = cluster.split("|")
    if len(parts) == 4 and parts[0] in ("outbound", "inbound"):
        return Target(host=parts[3])
    m = re.match(r"httproute/([^/]+)/([^/]+)/rule/\d+$", cluster)
    if m:
        return Target(namespace=m.group(1), route=m.group(2))
    return Target()


def _istio_rule(host: str | None, body: list[str], kind: str = "DestinationRule") -> str:
    name = (host or "SERVICE").split(".")[0]
    hostline = (f"  host: {host or 'SERVICE'}" if kind == "DestinationRule"
                else f"  hosts: [{host or 'SERVICE'}]")
    return "\n".join([f"apiVersion: networking.istio.io/v1\nkind: {kind}\nmetadata:\n  name: {name}",
                      "spec:", hostline, *body])


def _gateway_policy(t: Target, body: list[str]) -> str:
    ns = f"\n  namespace: {t.namespace}" if t.namespace else ""
    route = t.route or "ROUTE"
    return "\n".join([f"apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\n"
                      f"metadata:\n  name: {route}-backend{ns}", "spec:", "  targetRefs:",
                      "  - group: gateway.networking.k8s.io", "    kind: HTTPRoute",
                      f"    name: {route}", *body])


def change(who: str, cluster: str, what: str, value: str | int) -> str | None:
    """The resource to apply with the control plane (``kubectl apply -f``) for ``what``
    (``idle_timeout``, ``outlier``, ``breakers``, ``route_timeout``, ``retry``) of ``cluster``;
    None when the control plane is not one whose API is known here."""
    t = target(cluster)
    if who == ISTIO:
        body = {
            "idle_timeout": ["  trafficPolicy:", "    connectionPool:", "      http:",
                             f"        idleTimeout: {value}"],
            "outlier": ["  trafficPolicy:", "    outlierDetection:", "      consecutive5xxErrors: 5",
                        "      interval: 10s", "      baseEjectionTime: 30s",
                        "      maxEjectionPercent: 50"],
            "breakers": ["  trafficPolicy:", "    connectionPool:", "      tcp:",
                         f"        maxConnections: {value}", "      http:",
                         f"        http1MaxPendingRequests: {value}",
                         f"        http2MaxRequests: {value}"],
        }.get(what)
        if body is not None:
            return _istio_rule(t.host, body)
        vs = {"route_timeout": ["  http:", "  - timeout: " + str(value), "    route:",
                                f"    - destination: {{host: {t.host or 'SERVICE'}}}"],
              "retry": ["  http:", "  - retries:", "      attempts: 2",
                        f"      retryOn: {value}", "    route:",
                        f"    - destination: {{host: {t.host or 'SERVICE'}}}"]}.get(what)
        return _istio_rule(t.host, vs, "VirtualService") if vs is not None else None
    if who == GATEWAY:
        body = {
            "idle_timeout": ["  timeout:", "    http:", f"      connectionIdleTimeout: {value}"],
            "outlier": ["  healthCheck:", "    passive:", "      consecutive5XxErrors: 5",
                        "      interval: 10s", "      baseEjectionTime: 30s",
                        "      maxEjectionPercent: 50"],
            "breakers": ["  circuitBreaker:", f"    maxConnections: {value}",
                         f"    maxPendingRequests: {value}", f"    maxParallelRequests: {value}"],
            "route_timeout": ["  timeout:", "    http:", f"      requestTimeout: {value}"],
            "retry": ["  retry:", "    numRetries: 2", "    retryOn:", "      triggers: ["
                      + ", ".join(str(value).split(",")) + "]"],
        }.get(what)
        return _gateway_policy(t, body) if body is not None else None
    return None


def advice(cfg: EnvoyConfig, cluster: str, what: str, value: str | int) -> str:
    """What a lint finding adds for a config its control plane owns: the change as that control
    plane's resource (or, for one whose API is not known here, where it must be made); ""
    for a static bootstrap."""
    who = controller(cfg)
    if who is None:
        return ""
    res = change(who, cluster, what, value)
    if res is None:
        return (f"\nthis Envoy is configured by {who}: make the change in its resources "
                "(why502 never edits an xDS-managed config)")
    return (f"\nin {who}'s terms (apply it with kubectl apply -f -; why502 never applies it):\n"
            + res)
