"""Join Kubernetes objects (``facts.kubernetes``) to the proxy's failures, by identity and time.

Identity: an upstream the proxy names as ``IP:port`` is a pod whose ``status.podIP`` is that IP
(and an EndpointSlice endpoint with that address), a Service's ``clusterIP``, or a Service named
by ingress-nginx's ``Service "NS/NAME" does not have any active Endpoint``; a Gateway API route
is named by its hostnames (the ``host:`` of the proxy's error line) or by Envoy Gateway's
``route_name`` (``httproute/NS/NAME/rule/...``).  Time: a pod IP is reused by the next pod
scheduled on the node, so a pod counts only when it existed while the failures happened
(created before the last failure, not gone before the first); a container's OOM kill or crash
counts only when it ended near the failures.

Log times without a zone are compared as UTC: ingress-nginx, Envoy and most containers log in
UTC, and the API's times are UTC.  No I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from why502.catalog.kubernetes import controller_words
from why502.evidence.lb_evidence import LbEvidence
from why502.evidence.model import Evidence, GroupFact, Sample, SymptomGroup, TargetFact
from why502.facts.kubernetes import (
    EndpointFacts,
    EventFacts,
    KubeFacts,
    PodFacts,
    RouteFacts,
    ServiceFacts,
    SliceFacts,
)
from why502.facts.net import split_key

NEAR = timedelta(minutes=2)  # how far an OOM kill, a crash or a probe failure may be from a failure
_HOST = re.compile(r'\bhost: "([^"]+)"')
_ROUTE = re.compile(r'\b(httproute|grpcroute)/([^/\s"]+)/([^/\s"]+)/')


def naive_utc(t: datetime | None) -> datetime | None:
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Window:
    """When the proxy failed towards one peer (first and last failure, UTC)."""

    first: datetime
    last: datetime

    def near(self, t: datetime | None, slack: timedelta = NEAR) -> bool:
        return t is not None and self.first - slack <= t <= self.last + slack

    def overlaps(self, start: datetime | None, end: datetime | None,
                 slack: timedelta = NEAR) -> bool:
        if start is None and end is None:
            return False
        s, e = start or end, end or start
        assert s is not None and e is not None
        return s - slack <= self.last and e + slack >= self.first


def window(groups: Iterable[SymptomGroup]) -> Window | None:
    firsts = [naive_utc(g.first) for g in groups if g.first]
    lasts = [naive_utc(g.last or g.first) for g in groups if g.last or g.first]
    if not firsts or not lasts:
        return None
    return Window(min(t for t in firsts if t), max(t for t in lasts if t))


def peer_ip(peer: str | None) -> tuple[str | None, int | None]:
    if not peer:
        return None, None
    host, port, _ = split_key(peer)
    return host, port


def pod_at(k8s: KubeFacts, ip: str, when: Window) -> PodFacts | None:
    """The pod that had ``ip`` while the failures happened (an IP reused by a later or an
    earlier pod is not it)."""
    live = [p for p in k8s.pods if ip in p.ips and lived_through(p, when)]
    return max(live, key=lambda p: p.created or datetime.min) if live else None


def pods_with_ip(k8s: KubeFacts, ip: str) -> list[PodFacts]:
    return [p for p in k8s.pods if ip in p.ips]


def lived_through(pod: PodFacts, when: Window) -> bool:
    """Did the pod exist during the window?  Created before its last failure and, when being
    deleted, not deleted before its first (``deletionTimestamp`` is when the grace period ends);
    a finished pod, not finished before its first."""
    if pod.created is not None and pod.created > when.last:
        return False
    if pod.deleted is not None and pod.deleted + NEAR < when.first:
        return False
    # a finished pod (a Job's, an evicted one) keeps its podIP in the dump after it stopped
    ends = [c.ended for c in pod.containers]
    if pod.phase in ("Succeeded", "Failed") and ends and all(ends):
        return max(t for t in ends if t) + NEAR >= when.first
    return True


def endpoint_of(k8s: KubeFacts, ip: str,
                port: int | None = None) -> tuple[SliceFacts, EndpointFacts] | None:
    for s in k8s.slices:
        if port is not None and s.ports and port not in s.ports:
            continue
        for ep in s.endpoints:
            if ip in ep.addresses:
                return s, ep
    return None


def service_of_slice(k8s: KubeFacts, sl: SliceFacts) -> ServiceFacts | None:
    return next((s for s in k8s.services
                 if s.namespace == sl.namespace and s.name == sl.service), None)


def service_by_peer(k8s: KubeFacts, peer: str | None) -> ServiceFacts | None:
    """The Service a peer names: ``NS/NAME`` (ingress-nginx's message), ``NS-NAME-PORT``
    (ingress-nginx's upstream names) or a ``clusterIP:port``."""
    if not peer:
        return None
    host, port = peer_ip(peer)
    for s in k8s.services:
        if peer == s.ref or (host in s.cluster_ips and (port is None or not s.ports
                                                         or port in s.ports)):
            return s
        if any(peer == f"{s.namespace}-{s.name}-{p}" for p in (*s.ports, *s.target_ports)):
            return s
    return None


def slices_of(k8s: KubeFacts, svc: ServiceFacts) -> list[SliceFacts]:
    return [s for s in k8s.slices if s.namespace == svc.namespace and s.service == svc.name]


def events_about(k8s: KubeFacts, pod: PodFacts, *reasons: str) -> list[EventFacts]:
    return [e for e in k8s.events if e.kind == "Pod" and e.namespace == pod.namespace
            and e.name == pod.name and (not reasons or e.reason in reasons)]


def hosts_of(groups: Iterable[SymptomGroup]) -> set[str]:
    """The request hosts the proxy's lines name (``host: "www.example.com"``)."""
    out: set[str] = set()
    for g in groups:
        for s in g.samples:
            out.update(m.group(1).split(":")[0].lower() for m in _HOST.finditer(s.text))
    return out


def routes_named(groups: Iterable[SymptomGroup]) -> set[str]:
    """``NS/NAME`` of the routes an Envoy Gateway line names (``route_name``)."""
    return {f"{m.group(2)}/{m.group(3)}" for g in groups for s in g.samples
            for m in _ROUTE.finditer(s.text)}


def route_matches(route: RouteFacts, hosts: set[str], names: set[str]) -> bool:
    if route.ref in names:
        return True
    for h in route.hostnames:
        h = h.lower()
        if h in hosts or (h.startswith("*.") and any(x.endswith(h[1:]) for x in hosts)):
            return True
    return False


def failing_groups(ev: Evidence) -> list[SymptomGroup]:
    """The proxy's failure groups that carry a time (what a Kubernetes fact may explain): its
    error log's, and an edge proxy's access log's per target (``edge_groups``)."""
    return [*(g for g in ev.logs.symptoms if g.first is not None), *edge_groups(ev)]


EDGE = "edge:"  # the ``source`` of a group built from an edge's log: ``edge:<family>``


def edge_groups(ev: Evidence) -> list[SymptomGroup]:
    """An edge proxy's own failures (an Envoy/Istio access log's ``UF``/``UC``/``URX`` lines,
    ``Evidence.edge``) as one group per failure cause and target, timed: the target an Envoy
    logs as ``%UPSTREAM_HOST%`` is the pod's IP and port, so it joins the pod that had that IP
    then, as an nginx ``upstream: "http://IP:port"`` does.  The group's symptom is the one its
    cause's lines said most; ``message`` carries the edge's cause (``edge_cause``)."""
    out = []
    for lb in ev.edge.families:
        for grp in lb.lb_failures.values():
            if not grp.symptoms:
                continue
            symptom = grp.symptoms.most_common(1)[0][0]
            for target, stamps in grp.target_times.items():
                timed = sorted((t, st) for t, st in ((edge_time(s), st) for s, st in stamps)
                               if t is not None)
                if not timed:
                    continue
                times = tuple(t for t, _ in timed)
                statuses = Counter(st for _, st in timed if st is not None)
                samples = tuple(Sample(text=s.text, file=s.file, line=s.line, time=edge_time(s.time))
                                for s in grp.samples if target in s.text)
                # each line is one request and its status what the client got (an access log)
                out.append(SymptomGroup(symptom=symptom, peer=target, count=grp.targets[target],
                                        first=times[0], last=times[-1], statuses=dict(statuses),
                                        samples=samples, source=f"{EDGE}{lb.family}", times=times,
                                        message=grp.cause,
                                        clients={s: n for s, n in statuses.items() if s >= 500}))
        if lb.unexplained and lb.five_samples:
            out.append(_unexplained_group(lb))
    return out


# an edge's 5xx that no word of its log explains (``LbEvidence.unexplained``): the analyzers'
# last resort names them ``unexplained-5xx`` (analyzers.unexplained.CAUSE)
UNEXPLAINED = "unexplained-5xx"


def _unexplained_group(lb: LbEvidence) -> SymptomGroup:
    """The 5xx an edge made with no word for why (Envoy Gateway's ``direct_response`` 500 of a
    route whose backendRefs do not resolve), as one group named by its first lines: their
    ``route_name`` (``httproute/NS/NAME/...``) ties them to the route (``routes_named``)."""
    samples = tuple(Sample(text=s.text, file=s.file, line=s.line, time=edge_time(s.time))
                    for s in lb.five_samples)
    times = sorted(t for t in (s.time for s in samples) if t is not None)
    statuses = {st: n for st, n in lb.statuses.items() if st >= 500}
    return SymptomGroup(symptom="upstream-not-configured", peer=None, count=lb.unexplained,
                        first=times[0] if times else None, last=times[-1] if times else None,
                        statuses=statuses, samples=samples, source=f"{EDGE}{lb.family}",
                        times=tuple(times), message=UNEXPLAINED, clients=statuses)


def edge_cause(group: SymptomGroup) -> tuple[str, str] | None:
    """(family, cause) of a group ``edge_groups`` built, else None."""
    if group.source.startswith(EDGE) and group.message:
        return group.source[len(EDGE):], group.message
    return None


def edge_time(text: str | None) -> datetime | None:
    """An edge log's ISO time (``2024-05-14T10:05:12.345Z``) as naive UTC, else None."""
    if not text:
        return None
    try:
        return naive_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def controller_groups(ev: Evidence) -> list[SymptomGroup]:
    """ingress-nginx's ``Service "NS/NAME" does not have any active Endpoint`` lines (events of
    the logs' record, with their times), as one no-live-upstreams group per Service."""
    # the controllers' messages are data with their provenance (catalog/data/kubernetes.toml)
    by: dict[tuple[str, str], list[tuple[datetime, Sample]]] = {}
    for e in ev.all_events:
        for said in controller_words().no_endpoints if e.time else ():
            m = said.pattern.search(e.text)
            if m and e.time:
                by.setdefault((m.group(1), said.source), []).append(
                    (e.time, Sample(text=e.text, file=e.file, line=e.line, time=e.time)))
                break
    out = []
    for (ref, source), rows in by.items():
        times = sorted(t for t, _ in rows)
        out.append(SymptomGroup(symptom="no-live-upstreams", peer=ref, count=len(rows),
                                first=times[0], last=times[-1], statuses={503: len(rows)},
                                samples=tuple(s for _, s in rows[:3]), source=source,
                                times=tuple(times[:300])))
    return out


# The servers a Kubernetes controller writes into an upstream block when it has nothing to send
# to (NGINX Gateway Fabric's 503 and 500 servers): an upstream whose only server is one of them
# routes nothing, the cause, not a guess.  Data with its provenance: catalog/data/kubernetes.toml.
def _placeholders() -> dict[str, tuple[str, str, int]]:
    return {k: (p.cause, p.meaning, p.status) for k, p in controller_words().placeholders.items()}


@dataclass(frozen=True)
class Placeholder:
    """An upstream block that sends to a controller's placeholder server, and the routes to it."""

    group: GroupFact
    server: str
    cause: str
    meaning: str
    status: int
    routes: tuple[TargetFact, ...]


def placeholders(ev: Evidence) -> list[Placeholder]:
    """The config's upstream blocks whose every server is a placeholder (``_placeholders``),
    each with the ``*_pass`` lines that name it (also as ``http://NAME$request_uri``, the way
    NGINX Gateway Fabric writes each route: the host is the block's name)."""
    out = []
    known = _placeholders()
    for name, g in ev.config.groups.items():
        marks = [known[s] for s in g.servers if s in known]
        if not marks or len(marks) != len(g.servers):
            continue
        cause, meaning, status = marks[0]
        routes = tuple(t for t in ev.config.targets
                       if t.group == name or re.split(r"[$/?]", t.key, maxsplit=1)[0] == name)
        out.append(Placeholder(g, g.servers[0], cause, meaning, status, routes))
    return out
