"""``kubectl get ... -o json`` text to ``facts.kubernetes`` records.

Takes what ``kubectl`` prints: a ``List`` (``kubectl get pods,endpointslices,events -o json``),
a typed list (``PodList``, ``EventList``), a single object (``kubectl get httproute NAME -o
json``), or several JSON documents one after the other (``for r in ...; do kubectl get $r -o
json; done > dump.json``).  Kinds other than Pod, EndpointSlice, Service, Event and the Gateway
API's routes and Gateway are counted and skipped.  Times are RFC 3339 (the API's), kept as naive
UTC datetimes.  No I/O: ``sources.kubernetes`` reads the files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from why502.facts.kubernetes import (
    BackendRef,
    Condition,
    ContainerFacts,
    EndpointFacts,
    EventFacts,
    KubeFacts,
    PodFacts,
    RouteFacts,
    ServiceFacts,
    SliceFacts,
)

ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute", "Gateway")


@dataclass
class Parsed:
    """What one input held: the objects, the kinds skipped and the problems met."""

    pods: list[PodFacts] = field(default_factory=list)
    slices: list[SliceFacts] = field(default_factory=list)
    services: list[ServiceFacts] = field(default_factory=list)
    events: list[EventFacts] = field(default_factory=list)
    routes: list[RouteFacts] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def facts(self, sources: tuple[str, ...] = ()) -> KubeFacts:
        return KubeFacts(pods=tuple(self.pods), slices=tuple(self.slices),
                         services=tuple(self.services),
                         events=tuple(sorted(self.events, key=lambda e: e.last or e.first
                                             or datetime.min)),
                         routes=tuple(self.routes), sources=sources)


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 time of the API (``2025-03-08T02:07:53Z``, with fractions) as naive UTC."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_time(value)


@lru_cache(maxsize=8192)  # a dump repeats its times (one per event series, per rollout)
def _parse_time(value: str) -> datetime | None:
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if "." in text:  # microseconds at most: the API writes nanoseconds in eventTime
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t.astimezone(timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def _documents(text: str) -> Iterator[Any]:
    """Each JSON document of ``text`` (one, or several written one after the other)."""
    decoder = json.JSONDecoder()
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n\ufeff":
            i += 1
        if i >= n:
            return
        doc, i = decoder.raw_decode(text, i)
        yield doc


def parse_json(text: str, source: str | None = None, into: Parsed | None = None) -> Parsed:
    """Add the objects of one ``kubectl ... -o json`` output to ``into`` (a new ``Parsed``)."""
    out = into if into is not None else Parsed()
    try:
        for doc in _documents(text):
            _add(doc, source, out)
    except json.JSONDecodeError as err:
        out.problems.append(f"{source or 'input'}: not kubectl JSON ({err.msg} at line {err.lineno})")
    return out


def _add(obj: Any, source: str | None, out: Parsed) -> None:
    if isinstance(obj, list):
        for item in obj:
            _add(item, source, out)
        return
    if not isinstance(obj, dict):
        return
    kind = str(obj.get("kind") or "")
    if isinstance(obj.get("items"), list) and (kind.endswith("List") or not kind):
        for item in obj["items"]:
            if isinstance(item, dict) and not item.get("kind") and kind.endswith("List"):
                item = {**item, "kind": kind[:-4]}  # PodList items carry no kind
            _add(item, source, out)
        return
    try:
        if kind == "Pod":
            out.pods.append(pod(obj, source))
        elif kind == "EndpointSlice":
            out.slices.append(endpoint_slice(obj, source))
        elif kind == "Service":
            out.services.append(service(obj, source))
        elif kind == "Event":
            out.events.append(event(obj, source))
        elif kind in ROUTE_KINDS:
            out.routes.append(route(obj, source))
        else:
            out.skipped[kind or "?"] += 1
    except (TypeError, ValueError, AttributeError) as err:
        out.problems.append(f"{source or 'input'}: a {kind or 'object'} not read ({err})")


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _meta(obj: dict[str, Any]) -> tuple[str, str]:
    meta = _d(obj.get("metadata"))
    return str(meta.get("namespace") or "default"), str(meta.get("name") or "?")


def _conditions(items: Any) -> tuple[Condition, ...]:
    return tuple(Condition(type=str(c.get("type") or ""), status=str(c.get("status") or ""),
                           reason=c.get("reason"), message=c.get("message"),
                           time=parse_time(c.get("lastTransitionTime")))
                 for c in _l(items) if isinstance(c, dict))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def pod(obj: dict[str, Any], source: str | None) -> PodFacts:
    ns, name = _meta(obj)
    meta, spec, status = _d(obj.get("metadata")), _d(obj.get("spec")), _d(obj.get("status"))
    ips = [str(status["podIP"])] if status.get("podIP") else []
    ips += [str(p.get("ip")) for p in _l(status.get("podIPs"))
            if isinstance(p, dict) and p.get("ip") and str(p.get("ip")) not in ips]
    specs = {str(c.get("name")): c for c in _l(spec.get("containers")) if isinstance(c, dict)}
    containers = []
    for cs in _l(status.get("containerStatuses")):
        if not isinstance(cs, dict):
            continue
        state, last = _d(cs.get("state")), _d(_d(cs.get("lastState")).get("terminated"))
        cspec = specs.get(str(cs.get("name")))
        containers.append(ContainerFacts(
            name=str(cs.get("name") or "?"), ready=cs.get("ready") if isinstance(cs.get("ready"), bool)
            else None, restarts=_int(cs.get("restartCount")) or 0,
            waiting=_d(state.get("waiting")).get("reason"),
            waiting_message=_d(state.get("waiting")).get("message"),
            running_since=parse_time(_d(state.get("running")).get("startedAt")),
            ended=parse_time(_d(state.get("terminated")).get("finishedAt")),
            last_reason=last.get("reason"), last_exit=_int(last.get("exitCode")),
            last_started=parse_time(last.get("startedAt")),
            last_finished=parse_time(last.get("finishedAt")),
            memory_limit=(str(m) if (m := _d(_d(_d(cspec).get("resources")).get("limits"))
                                     .get("memory")) else None),
            readiness_probe=None if cspec is None else bool(cspec.get("readinessProbe")),
            pre_stop=None if cspec is None else bool(_d(cspec.get("lifecycle")).get("preStop"))))
    return PodFacts(namespace=ns, name=name, ips=tuple(ips), phase=status.get("phase"),
                    node=spec.get("nodeName"), created=parse_time(meta.get("creationTimestamp")),
                    deleted=parse_time(meta.get("deletionTimestamp")),
                    grace_seconds=_int(spec.get("terminationGracePeriodSeconds")),
                    conditions=_conditions(status.get("conditions")),
                    containers=tuple(containers), source=source)


def _flag(conditions: dict[str, Any], key: str, default: bool) -> bool:
    value = conditions.get(key)
    return value if isinstance(value, bool) else default


def endpoint_slice(obj: dict[str, Any], source: str | None) -> SliceFacts:
    ns, name = _meta(obj)
    labels = _d(_d(obj.get("metadata")).get("labels"))
    endpoints = []
    for ep in _l(obj.get("endpoints")):
        if not isinstance(ep, dict):
            continue
        cond = _d(ep.get("conditions"))
        ready = _flag(cond, "ready", True)
        ref = _d(ep.get("targetRef"))
        endpoints.append(EndpointFacts(
            addresses=tuple(str(a) for a in _l(ep.get("addresses"))), ready=ready,
            serving=_flag(cond, "serving", ready), terminating=_flag(cond, "terminating", False),
            pod=(f"{ref.get('namespace') or ns}/{ref['name']}"
                 if ref.get("kind") == "Pod" and ref.get("name") else None),
            node=ep.get("nodeName")))
    ports = tuple(p for p in (_int(_d(p).get("port")) for p in _l(obj.get("ports"))) if p)
    return SliceFacts(namespace=ns, name=name, service=labels.get("kubernetes.io/service-name"),
                      ports=ports, endpoints=tuple(endpoints), source=source)


def service(obj: dict[str, Any], source: str | None) -> ServiceFacts:
    ns, name = _meta(obj)
    spec = _d(obj.get("spec"))
    ips = [str(i) for i in _l(spec.get("clusterIPs")) if i] or (
        [str(spec["clusterIP"])] if spec.get("clusterIP") else [])
    ports = [p for p in _l(spec.get("ports")) if isinstance(p, dict)]
    return ServiceFacts(namespace=ns, name=name, cluster_ips=tuple(ips),
                        ports=tuple(x for x in (_int(p.get("port")) for p in ports) if x),
                        target_ports=tuple(str(p.get("targetPort")) for p in ports
                                           if p.get("targetPort") is not None),
                        selector=tuple(sorted((str(k), str(v)) for k, v in
                                              _d(spec.get("selector")).items())),
                        source=source)


def event(obj: dict[str, Any], source: str | None) -> EventFacts:
    ns, _ = _meta(obj)
    about = _d(obj.get("involvedObject")) or _d(obj.get("regarding"))
    series = _d(obj.get("series"))
    first = parse_time(obj.get("firstTimestamp")) or parse_time(obj.get("eventTime"))
    last = (parse_time(obj.get("lastTimestamp")) or parse_time(series.get("lastObservedTime"))
            or first)
    count = _int(obj.get("count")) or _int(series.get("count")) or 1
    return EventFacts(namespace=str(about.get("namespace") or ns), kind=str(about.get("kind") or ""),
                      name=str(about.get("name") or "?"), reason=str(obj.get("reason") or ""),
                      message=str(obj.get("message") or obj.get("note") or ""),
                      type=str(obj.get("type") or "Normal"), first=first, last=last, count=count,
                      source=source)


def route(obj: dict[str, Any], source: str | None) -> RouteFacts:
    ns, name = _meta(obj)
    kind = str(obj.get("kind"))
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    refs = []
    for rule in _l(spec.get("rules")):
        for ref in _l(_d(rule).get("backendRefs")):
            if isinstance(ref, dict) and ref.get("name"):
                refs.append(BackendRef(name=str(ref["name"]), namespace=str(ref.get("namespace") or ns),
                                       port=_int(ref.get("port")),
                                       kind=str(ref.get("kind") or "Service")))
    if kind == "Gateway":
        conditions = _conditions(status.get("conditions"))
    else:
        conditions = tuple(c for parent in _l(status.get("parents"))
                           for c in _conditions(_d(parent).get("conditions")))
    return RouteFacts(kind=kind, namespace=ns, name=name,
                      hostnames=tuple(str(h) for h in _l(spec.get("hostnames"))),
                      backend_refs=tuple(refs), conditions=conditions, source=source)
