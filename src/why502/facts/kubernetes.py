"""Kubernetes objects as the user has them: ``kubectl get pods,endpointslices,events,services
-o json`` and the Gateway API's Gateway/HTTPRoute status, typed once (I/O-free).

``parsers.kubernetes`` builds them from the JSON; ``sources.kubernetes`` reads the files (or
runs ``kubectl``); ``evidence.kubernetes`` joins them to the proxy's failing targets by pod IP
and time.  Field names follow the API's (``status.podIP``, ``lastState.terminated.reason``,
``conditions.terminating``) so a finding can name the field it read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Condition:
    """One ``status.conditions[]`` entry (a Pod's ``Ready``, a route's ``ResolvedRefs``)."""

    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str | None = None
    message: str | None = None
    time: datetime | None = None  # lastTransitionTime


@dataclass(frozen=True)
class ContainerFacts:
    """One ``status.containerStatuses[]`` entry, with the container's spec next to it."""

    name: str
    ready: bool | None = None
    restarts: int = 0
    waiting: str | None = None  # state.waiting.reason (CrashLoopBackOff, ...)
    waiting_message: str | None = None
    running_since: datetime | None = None  # state.running.startedAt
    ended: datetime | None = None  # state.terminated.finishedAt (a finished pod's container)
    last_reason: str | None = None  # lastState.terminated.reason (OOMKilled, Error, ...)
    last_exit: int | None = None  # lastState.terminated.exitCode
    last_started: datetime | None = None  # lastState.terminated.startedAt
    last_finished: datetime | None = None  # lastState.terminated.finishedAt
    memory_limit: str | None = None  # spec.containers[].resources.limits.memory
    readiness_probe: bool | None = None  # spec has a readinessProbe (None: no spec read)
    pre_stop: bool | None = None  # spec has lifecycle.preStop


@dataclass(frozen=True)
class PodFacts:
    namespace: str
    name: str
    ips: tuple[str, ...] = ()  # status.podIPs (status.podIP first)
    phase: str | None = None
    node: str | None = None
    created: datetime | None = None  # metadata.creationTimestamp
    deleted: datetime | None = None  # metadata.deletionTimestamp: terminating since
    grace_seconds: int | None = None  # spec.terminationGracePeriodSeconds
    conditions: tuple[Condition, ...] = ()
    containers: tuple[ContainerFacts, ...] = ()
    source: str | None = None  # the file it was read from

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == kind), None)


@dataclass(frozen=True)
class EndpointFacts:
    """One ``endpoints[]`` entry of an EndpointSlice (nil conditions as the API says:
    ready and serving nil = true, terminating nil = false)."""

    addresses: tuple[str, ...]
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    pod: str | None = None  # targetRef namespace/name when it is a Pod
    node: str | None = None


@dataclass(frozen=True)
class SliceFacts:
    namespace: str
    name: str
    service: str | None = None  # label kubernetes.io/service-name
    ports: tuple[int, ...] = ()
    endpoints: tuple[EndpointFacts, ...] = ()
    source: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ServiceFacts:
    namespace: str
    name: str
    cluster_ips: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    target_ports: tuple[str, ...] = ()
    selector: tuple[tuple[str, str], ...] = ()
    source: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class EventFacts:
    """A core/v1 or events.k8s.io/v1 Event about one object."""

    namespace: str
    kind: str  # involvedObject.kind / regarding.kind
    name: str  # involvedObject.name
    reason: str
    message: str = ""
    type: str = "Normal"
    first: datetime | None = None  # firstTimestamp / eventTime
    last: datetime | None = None  # lastTimestamp / series.lastObservedTime
    count: int = 1
    source: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class BackendRef:
    name: str
    namespace: str
    port: int | None = None
    kind: str = "Service"


@dataclass(frozen=True)
class RouteFacts:
    """A Gateway API object's status: an HTTPRoute (per parent) or a Gateway."""

    kind: str  # HTTPRoute | GRPCRoute | Gateway | ...
    namespace: str
    name: str
    hostnames: tuple[str, ...] = ()
    backend_refs: tuple[BackendRef, ...] = ()
    conditions: tuple[Condition, ...] = ()  # every parent's (routes) or the object's (Gateway)
    source: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def failing(self) -> list[Condition]:
        """The conditions that say it does not work (Accepted/Programmed/ResolvedRefs False)."""
        return [c for c in self.conditions
                if c.type in ("Accepted", "Programmed", "ResolvedRefs") and c.status == "False"]


@dataclass(frozen=True)
class KubeFacts:
    """Every object read (empty: no ``--k8s``)."""

    pods: tuple[PodFacts, ...] = ()
    slices: tuple[SliceFacts, ...] = ()
    services: tuple[ServiceFacts, ...] = ()
    events: tuple[EventFacts, ...] = ()
    routes: tuple[RouteFacts, ...] = ()
    sources: tuple[str, ...] = ()  # the files (or "kubectl") they came from

    def __bool__(self) -> bool:
        return bool(self.pods or self.slices or self.services or self.events or self.routes)
