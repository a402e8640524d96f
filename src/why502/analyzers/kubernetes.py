"""What the Kubernetes objects of ``--k8s`` prove about the proxy's failures.

no-ready-endpoints, terminating-endpoint-routed, readiness-probe-failing, backend-ref-unresolved
here; a container OOMKilled (``backend-oom-killed``) or in CrashLoopBackOff
(``backend-crash-loop``) is the same root cause as on a host, so ``oom`` and ``crash_loop`` are
called by ``backend_death`` and ``backend_down``, the families that own those causes.

Every fact counts only when it is about what the proxy failed to reach (the pod whose
``status.podIP`` is the failing upstream's address while it failed, the Service or route the
proxy's line names) and near when it failed (``evidence.kubernetes``).  The fix is in
Kubernetes' terms: a readinessProbe, a preStop sleep and terminationGracePeriodSeconds, a
memory limit, a backendRef.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from why502.analyzers.base import (
    Candidate,
    GroupKey,
    by_peer,
    catalog_fix,
    claims,
    group_items,
    iso,
    make_finding,
)
from why502.analyzers.cloud_lb import claim as edge_claim
from why502.evidence.kubernetes import (
    NEAR,
    UNEXPLAINED,
    Window,
    controller_groups,
    edge_cause,
    endpoint_of,
    events_about,
    failing_groups,
    hosts_of,
    naive_utc,
    peer_ip,
    placeholders,
    pod_at,
    pods_with_ip,
    route_matches,
    routes_named,
    service_by_peer,
    slices_of,
    window,
)
from why502.evidence.model import Evidence, SymptomGroup
from why502.facts.kubernetes import ContainerFacts, EventFacts, PodFacts
from why502.findings.model import EvidenceItem, Fix

# what a pod that died, restarted, stopped or stopped answering leaves in the proxy's log
POD_SYMPTOMS = ("connection-refused", "connect-timeout", "premature-close", "connection-reset",
                "broken-pipe", "unreachable", "connect-failed", "no-live-upstreams")
SLOW_SYMPTOMS = ("read-timeout", "send-timeout")


def analyze(ev: Evidence) -> list[Candidate]:
    out: list[Candidate] = _placeholders(ev)
    if not ev.k8s:
        return out
    for peer, groups, when, pod in _failing_pods(ev, (*POD_SYMPTOMS, *SLOW_SYMPTOMS)):
        dying = [g for g in groups if g.symptom in POD_SYMPTOMS]
        if dying and (cand := _terminating(ev, pod, peer, dying, when)):
            out.append(cand)
        if cand := _readiness(ev, pod, peer, groups, when):
            out.append(cand)
    out.extend(_no_ready(ev))
    out.extend(_unresolved(ev))
    return out


def oom(ev: Evidence) -> list[Candidate]:
    """A container of the failing pod OOMKilled near the failures (``backend_death``)."""
    out = []
    for peer, groups, when, pod in _failing_pods(ev, POD_SYMPTOMS):
        killed = [c for c in pod.containers if c.last_reason == "OOMKilled"
                  and when.near(c.last_finished)]
        if not killed:
            continue
        c = killed[0]
        items = [_pod_item(pod, f"containerStatuses[{c.name}].lastState.terminated.reason="
                                f"OOMKilled (exitCode {c.last_exit}) at {_z(c.last_finished)}, "
                                f"restartCount {c.restarts}", c.last_finished),
                 *_other_pods(ev, pod, peer[0])]
        limit = c.memory_limit or "no limit in the dump"
        fix = Fix(summary=f"Give container {c.name} of {pod.ref} the memory it uses "
                          f"(resources.limits.memory: {limit}), or find what grows",
                  commands=[f"kubectl -n {pod.namespace} describe pod {pod.name}",
                            f"kubectl -n {pod.namespace} top pod {pod.name} --containers",
                            f"kubectl -n {pod.namespace} set resources deploy/DEPLOYMENT "
                            f"-c {c.name} --limits=memory=NEW_LIMIT"],
                  notes=catalog_fix("backend-oom-killed"))
        out.append(_candidate(ev, "backend-oom-killed", 0.95, peer, groups, items, fix,
                              f"Kubernetes OOM-killed container {c.name} of pod {pod.ref}, "
                              f"which is {peer[1]} the proxy failed to reach, at "
                              f"{_z(c.last_finished)}, while the failures happened."))
    return out


def crash_loop(ev: Evidence) -> list[Candidate]:
    """The failing pod's container crash-looping in the window (``backend_down``)."""
    out = []
    for peer, groups, when, pod in _failing_pods(ev, POD_SYMPTOMS):
        items: list[EvidenceItem] = []
        for c in pod.containers:
            if c.last_reason == "OOMKilled":
                continue  # oom() says it
            crashed = c.last_reason is not None and when.near(c.last_finished)
            if c.waiting == "CrashLoopBackOff" or (crashed and c.restarts >= 2):
                items.append(_pod_item(pod, _crash_words(c), c.last_finished))
        backoffs = [e for e in events_about(ev.k8s, pod, "BackOff")
                    if when.overlaps(e.first, e.last)]
        items += [_event_item(e) for e in backoffs[:2]]
        # the state is now: it counts when the pod's own times put a crash near the failures
        timed = backoffs or any(when.near(c.last_finished) for c in pod.containers)
        if not items or not timed:
            continue
        fix = Fix(summary=f"Find why pod {pod.ref} exits: its previous container's log, its "
                          "exit code; a liveness probe that kills a slow start",
                  commands=[f"kubectl -n {pod.namespace} logs {pod.name} --previous",
                            f"kubectl -n {pod.namespace} describe pod {pod.name}",
                            f"kubectl -n {pod.namespace} get events "
                            f"--field-selector involvedObject.name={pod.name}"],
                  notes=catalog_fix("backend-crash-loop"))
        out.append(_candidate(ev, "backend-crash-loop", 0.9, peer, groups,
                              [*items, *_other_pods(ev, pod, peer[0])], fix,
                              f"Pod {pod.ref} ({peer[1]}) keeps crashing and being restarted by "
                              "the kubelet while the proxy sends it requests."))
    return out


def _terminating(ev: Evidence, pod: PodFacts, peer: tuple[str, str],
                 groups: list[SymptomGroup], when: Window) -> Candidate | None:
    found = endpoint_of(ev.k8s, peer[0])
    ep = found[1] if found else None
    killing = [e for e in events_about(ev.k8s, pod, "Killing") if when.overlaps(e.first, e.last)]
    grace = pod.grace_seconds if pod.grace_seconds is not None else 30
    start = (min((naive_utc(e.first or e.last) for e in killing), default=None)  # type: ignore[type-var]
             or (pod.deleted - timedelta(seconds=grace) if pod.deleted else None))
    if start is None and not (ep and ep.terminating):
        return None
    if start is None or not (start - NEAR / 4 <= when.last and
                             (pod.deleted is None or when.first <= pod.deleted + NEAR)):
        return None
    after = sum(1 for g in groups for t in (g.times or (g.first,))
                if t is not None and (naive_utc(t) or start) >= start)
    if not after:
        return None
    items = []
    if ep is not None and found is not None:
        items.append(EvidenceItem(
            kind="kubernetes", source=found[0].source,
            summary=f"EndpointSlice {found[0].ref}: endpoint {peer[0]} ({ep.pod or pod.ref}) "
                    f"conditions ready={_b(ep.ready)} serving={_b(ep.serving)} "
                    f"terminating={_b(ep.terminating)}"))
    if pod.deleted:
        items.append(_pod_item(pod, f"metadata.deletionTimestamp={_z(pod.deleted)} "
                                    f"(terminationGracePeriodSeconds {grace}): terminating "
                                    f"since {_z(start)}", start))
    items += [_event_item(e) for e in killing[:1]]
    no_hook = [c.name for c in pod.containers if c.pre_stop is False]
    if no_hook:
        items.append(_pod_item(pod, f"containers {', '.join(no_hook)} have no lifecycle.preStop "
                                    "hook: the process stops before the proxies stop sending"))
    items.append(EvidenceItem(kind="stat", summary=f"{after} of the failed attempts to {peer[1]} "
                                                   f"came after the pod began terminating "
                                                   f"({_z(start)})"))
    fix = Fix(summary="Let the pod drain before it stops: a preStop sleep longer than the "
                      "time the proxies take to drop the endpoint, and a grace period above it",
              commands=[f"kubectl -n {pod.namespace} get pod {pod.name} -o "
                        "jsonpath='{.spec.containers[*].lifecycle}'",
                        "# in the Deployment's pod template:",
                        "#   lifecycle: {preStop: {sleep: {seconds: 10}}}   # or exec: [sleep, '10']",
                        "#   terminationGracePeriodSeconds: 40              # > preStop + shutdown"],
              notes=catalog_fix("terminating-endpoint-routed"))
    return _candidate(ev, "terminating-endpoint-routed", 0.9 if ep is not None else 0.8, peer, groups,
                      items, fix,
                      f"The proxy kept sending requests to pod {pod.ref} ({peer[1]}) after it "
                      "began terminating: the process stopped accepting before every proxy "
                      "had dropped the endpoint (a rollout or scale-down without a drain).")


def _readiness(ev: Evidence, pod: PodFacts, peer: tuple[str, str], groups: list[SymptomGroup],
               when: Window) -> Candidate | None:
    probes = _readiness_events(ev, pod, when)
    if not probes:
        return None
    items = list(probes[:2])
    ready = pod.condition("Ready")
    if ready is not None and ready.status == "False" and ready.time and ready.time <= when.last + NEAR:
        items.append(_pod_item(pod, f"status.conditions[Ready]=False since {_z(ready.time)}"
                                    + (f" ({ready.reason})" if ready.reason else ""), ready.time))
    unprobed = [c.name for c in pod.containers if c.readiness_probe is False]
    fix = Fix(summary=f"Find why pod {pod.ref} fails its readiness probe while it gets traffic "
                      "(the app, a dependency, a probe timeout too short for its load)",
              commands=[f"kubectl -n {pod.namespace} describe pod {pod.name}",
                        f"kubectl -n {pod.namespace} get pod {pod.name} -o "
                        "jsonpath='{.spec.containers[*].readinessProbe}'",
                        f"kubectl -n {pod.namespace} logs {pod.name} --since=15m"],
              notes=[*(["containers without a readinessProbe: " + ", ".join(unprobed)]
                       if unprobed else []), *catalog_fix("readiness-probe-failing")])
    return _candidate(ev, "readiness-probe-failing", 0.8, peer, groups, items, fix,
                      f"Pod {pod.ref} ({peer[1]}) failed its readiness probe while the proxy "
                      "failed to get answers from it: the app behind it was not answering.")


def _readiness_events(ev: Evidence, pod: PodFacts, when: Window) -> list[EvidenceItem]:
    return [_event_item(e) for e in events_about(ev.k8s, pod, "Unhealthy")
            # a series says only its first and last occurrence: one near the failures counts
            if e.message.startswith("Readiness probe failed")
            and (when.near(e.first) or when.near(e.last))]


def _no_ready(ev: Evidence) -> list[Candidate]:
    out = []
    named = by_peer([*failing_groups(ev), *controller_groups(ev)])
    for peer, groups in named.items():
        svc = service_by_peer(ev.k8s, peer)
        when = window(groups)
        if svc is None or when is None:
            continue
        slices = slices_of(ev.k8s, svc)
        endpoints = [ep for s in slices for ep in s.endpoints]
        if any(ep.ready for ep in endpoints):
            continue
        items = [EvidenceItem(kind="kubernetes", source=s.source,
                              summary=f"EndpointSlice {s.ref} of Service {svc.ref}: "
                                      f"{len(s.endpoints)} endpoints, 0 ready")
                 for s in slices] or [EvidenceItem(
                     kind="kubernetes", source=svc.source,
                     summary=f"Service {svc.ref}: no EndpointSlice in the dump (no pod matches "
                             f"its selector {dict(svc.selector)})")]
        timed, later = False, False
        for ep in endpoints:
            pod = next((p for p in ev.k8s.pods if p.ref == ep.pod), None)
            ready = pod.condition("Ready") if pod else None
            if pod is None or ready is None or ready.status != "False" or ready.time is None:
                continue
            if ready.time > when.last + NEAR:  # it was ready when the proxy failed
                later = True
                continue
            timed = True
            items.append(_pod_item(pod, f"status.conditions[Ready]=False since "
                                        f"{_z(ready.time)}", ready.time))
            items += _readiness_events(ev, pod, when)[:1]
        if later and not timed:
            continue  # the objects are of a later state than the failures
        fix = Fix(summary=f"Give Service {svc.ref} a ready pod: find why its pods fail readiness "
                          "(or why none matches its selector)",
                  commands=[f"kubectl -n {svc.namespace} get endpointslices "
                            f"-l kubernetes.io/service-name={svc.name} -o wide",
                            f"kubectl -n {svc.namespace} describe pods "
                            f"-l {','.join(f'{k}={v}' for k, v in svc.selector) or 'SELECTOR'}",
                            f"kubectl -n {svc.namespace} get events --field-selector reason=Unhealthy"],
                  notes=catalog_fix("no-ready-endpoints"))
        out.append(_candidate(ev, "no-ready-endpoints", 0.9 if timed else 0.6, (peer or "", svc.ref),
                              groups, items, fix,
                              f"Service {svc.ref}, which the proxy sends to, had no ready "
                              "endpoint: every pod behind it failed readiness (or none matched), "
                              "so there was nothing to send requests to."
                              + ("" if timed else " The dump does not say since when.")))
    return out


def _unresolved(ev: Evidence) -> list[Candidate]:
    groups = failing_groups(ev)
    when = window(groups)
    if not groups or when is None:
        return []
    hosts, names = hosts_of(groups), routes_named(groups)
    out = []
    for route in ev.k8s.routes:
        bad = [c for c in route.failing() if c.type == "ResolvedRefs"
               and (c.time is None or c.time <= when.last + NEAR)]
        if not bad or not route_matches(route, hosts, names):
            continue
        cond = bad[0]
        items = [EvidenceItem(kind="kubernetes", source=route.source, time=iso(cond.time),
                              summary=f"{route.kind} {route.ref}: status.parents[].conditions"
                                      f"[ResolvedRefs]=False reason {cond.reason}"
                                      + (f": {cond.message}" if cond.message else "")
                                      + (f" since {_z(cond.time)}" if cond.time else ""))]
        refs = ", ".join(f"{r.kind} {r.namespace}/{r.name}:{r.port}" for r in route.backend_refs)
        fix = Fix(summary=f"Point {route.kind} {route.ref}'s backendRefs at a Service that exists "
                          "(name, namespace, port), or create it; a cross-namespace ref needs a "
                          "ReferenceGrant",
                  commands=[f"kubectl -n {route.namespace} get {route.kind.lower()} {route.name} "
                            "-o jsonpath='{.spec.rules[*].backendRefs}'",
                            f"kubectl -n {route.namespace} get services",
                            f"# backendRefs now: {refs or 'none'}"],
                  notes=catalog_fix("backend-ref-unresolved"))
        matched = [g for g in groups if route_matches(route, hosts_of([g]), routes_named([g]))]
        out.append(_candidate(ev, "backend-ref-unresolved", 0.9, ("", route.ref), matched, items, fix,
                              f"{route.kind} {route.ref} routes the failing requests, and its "
                              f"backendRefs do not resolve ({cond.reason}): the gateway has no "
                              "backend to send them to and answers with an error itself."))
    return out


def _placeholders(ev: Evidence) -> list[Candidate]:
    """A controller's config that routes to its placeholder server (``evidence.kubernetes.
    PLACEHOLDERS``): NGINX Gateway Fabric's ``nginx -T`` with an upstream whose only server is its
    503 socket (the Service had no endpoint when the config was written) or its 500 socket (a
    backendRef that does not resolve).  Read from the config alone, each route named."""
    out = []
    for p in placeholders(ev):
        g = p.group
        where = [f"server {t.server or '_'} location {t.location or '/'}" for t in p.routes[:5]]
        line = g.server_lines.get(p.server, ("", g.line))[1]
        items = [EvidenceItem(kind="config", source=g.file, line=line,
                              summary=f"upstream {g.name} {{ server {p.server}; }}: {p.meaning}; "
                                      f"every request routed there is answered {p.status}"),
                 *[EvidenceItem(kind="config", source=t.file, line=t.line,
                                summary=f"route: {w} passes to {g.name}")
                   for t, w in zip(p.routes[:5], where)]]
        svc = _ngf_service(g.name)
        if p.cause == "no-ready-endpoints":
            fix = Fix(summary=f"Give {svc or 'the Service'} a ready pod (the controller rewrites "
                              "the upstream with its endpoints)",
                      commands=[*([f"kubectl -n {svc.split('/')[0]} get endpointslices "
                                   f"-l kubernetes.io/service-name={svc.split('/')[1]} -o wide"]
                                  if svc else []),
                                "kubectl get httproutes -A -o wide"],
                      notes=catalog_fix("no-ready-endpoints"))
            words = (f"Upstream {g.name}" + (f" (Service {svc})" if svc else "") + " has no "
                     "endpoint: the controller pointed it at its 503 server, so "
                     + (", ".join(where[:3]) or "its routes") + " answer 503.")
        else:
            fix = Fix(summary="Point the route's backendRef at a Service that exists (name, "
                              "namespace, port), or add the ReferenceGrant it needs",
                      commands=["kubectl get httproutes -A -o jsonpath='{range .items[*]}"
                                "{.metadata.namespace}/{.metadata.name}: {.status.parents[*]"
                                ".conditions[?(@.type==\"ResolvedRefs\")]}{\"\\n\"}{end}'"],
                      notes=catalog_fix("backend-ref-unresolved"))
            words = ("A backendRef does not resolve: the controller routes "
                     + (", ".join(where[:3]) or "its routes") + f" to {g.name}, its 500 server.")
        cand = _candidate(ev, p.cause, 0.85, ("", g.name), [], items, fix, words)
        out.append(replace(cand, finding=replace(cand.finding, status_codes=[p.status])))
    return out


def _ngf_service(upstream: str) -> str | None:
    """``NS/NAME`` of NGINX Gateway Fabric's upstream name ``NS_NAME_PORT`` (graph/
    backend_refs.go: ``fmt.Sprintf("%s_%s_%d", namespace, name, port)``), else None."""
    parts = upstream.split("_")
    if len(parts) == 3 and parts[2].isdigit():
        return f"{parts[0]}/{parts[1]}"
    return None


# -- helpers ----------------------------------------------------------------------------------


def _pod_peers(ev: Evidence, symptoms: Iterable[str]
               ) -> list[tuple[tuple[str, str], list[SymptomGroup]]]:
    """(ip, peer), groups for every failing peer that is an address some pod had."""
    wanted = set(symptoms)
    out = []
    for peer, groups in by_peer(g for g in failing_groups(ev) if g.symptom in wanted).items():
        ip, _ = peer_ip(peer)
        if ip and peer and pods_with_ip(ev.k8s, ip):
            out.append(((ip, peer), groups))
    return out


def _failing_pods(ev: Evidence, symptoms: Iterable[str]
                  ) -> Iterator[tuple[tuple[str, str], list[SymptomGroup], Window, PodFacts]]:
    """(ip, peer), its groups, their time window and the pod that had the IP then, for every
    failing peer a pod was at the time of the failures (none without ``--k8s`` objects)."""
    if not ev.k8s:
        return
    for peer, groups in _pod_peers(ev, symptoms):
        when = window(groups)
        pod = pod_at(ev.k8s, peer[0], when) if when is not None else None
        if when is not None and pod is not None:
            yield peer, groups, when, pod


def _other_pods(ev: Evidence, pod: PodFacts, ip: str) -> list[EvidenceItem]:
    """Pods that had the same IP at another time: said, never counted."""
    return [_pod_item(p, f"also had {ip}, created {_z(p.created)}: not alive when the proxy "
                         "failed, not counted")
            for p in pods_with_ip(ev.k8s, ip) if p is not pod][:2]


def _candidate(ev: Evidence, cause: str, confidence: float, peer: tuple[str, str],
               groups: list[SymptomGroup], items: list[EvidenceItem], fix: Fix,
               explanation: str) -> Candidate:
    logs = [i for g in groups[:3] for i in group_items(g)]
    finding = make_finding(cause, confidence=confidence, groups=groups, explanation=explanation,
                           evidence=[*logs, *items], fix=fix, upstream=peer[1] or None,
                           target=peer[1] or None)
    return Candidate(finding=finding, claims=claims(groups) | _edge_claims(ev, groups))


def _edge_claims(ev: Evidence, groups: list[SymptomGroup]) -> frozenset[GroupKey]:
    """The edge's failures (``cloud_lb``'s claim of one cause of one edge log) that these groups
    explain whole: every target of that cause is one of theirs and every line named a target.
    Then the edge's own reading of them ("the upstream reset the connection") folds under this
    cause as "also consistent with"; a part of them explained leaves the edge's finding apart."""
    peers = {g.peer for g in groups}
    out = set()
    for g in groups:
        found = edge_cause(g)
        lb = next((x for x in ev.edge.families if found and x.family == found[0]), None)
        fg = lb.lb_failures.get(found[1]) if lb is not None and found else None
        if found and fg is not None and set(fg.targets) <= peers \
                and sum(fg.targets.values()) == fg.count:
            out.add(edge_claim(found[0], found[1]))
        elif found and lb is not None and found[1] == UNEXPLAINED and g.count == lb.unexplained:
            out.add(edge_claim(found[0], found[1]))  # every 5xx the edge had no word for
    return frozenset(out)


def _pod_item(pod: PodFacts, what: str, when: datetime | None = None) -> EvidenceItem:
    return EvidenceItem(kind="kubernetes", source=pod.source, time=iso(when),
                        summary=f"Pod {pod.ref} ({', '.join(pod.ips) or 'no IP'}): {what}")


def _event_item(e: EventFacts) -> EvidenceItem:
    span = _z(e.first or e.last)
    if e.first and e.last and e.last != e.first:
        span += f" .. {_z(e.last)}"
    return EvidenceItem(kind="kubernetes", source=e.source, time=iso(e.last or e.first),
                        summary=f"Event {e.type} {e.reason} on {e.kind} {e.ref} ×{e.count} "
                                f"({span}): {e.message[:200]}")


def _crash_words(c: ContainerFacts) -> str:
    parts = [f"containerStatuses[{c.name}]"]
    if c.waiting:
        parts.append(f"state.waiting.reason={c.waiting}")
    if c.last_reason:
        parts.append(f"lastState.terminated.reason={c.last_reason} exitCode {c.last_exit} "
                     f"at {_z(c.last_finished)}")
    parts.append(f"restartCount {c.restarts}")
    return ", ".join(parts)


def _z(t: datetime | None) -> str:
    """An API time as the API writes it (UTC, ``Z``)."""
    return f"{iso(t)}Z" if t else "?"


def _b(v: bool) -> str:
    return "true" if v else "false"
