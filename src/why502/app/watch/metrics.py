"""The Prometheus metrics of ``why502 watch`` (prometheus_client), served on ``--listen``.

Names and units follow Prometheus's naming guide (https://prometheus.io/docs/practices/naming/):
a ``why502_`` prefix, base units (seconds, bytes), ``_total`` on counters.  Label values are
bounded, as the instrumentation guide asks (https://prometheus.io/docs/practices/instrumentation/,
"Do not overuse labels"): the status code, the symptom and cause IDs of the catalog, the
upstream *target* (``scheme://host:port`` or a unix socket, never a URI) and the followed file --
no client address, no URI, no Host header (they are client-controlled).  An upstream label takes
at most ``MAX_UPSTREAMS`` values; more are counted under ``other``.

``why502_incident_started_timestamp_seconds{cause, upstream, target}`` carries the open
incident's identity for ``why502 fleet`` (which upstream, since when: many hosts failing on one
shared upstream, or starting within one minute, are one fleet-level finding): its series exists
only while the incident is open (removed when it resolves or its labels change), so a watch
exports at most one at a time and the label values go through the same ``MAX_UPSTREAMS`` bound.
The value is a Unix time, as ``process_start_time_seconds`` is (the naming guide's
``_timestamp_seconds`` suffix).
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import choose_encoder

from why502.app.watch.httpd import HttpServer, Request, Response, Route, serve
from why502.app.watch.traffic import Traffic

__all__ = ["MAX_UPSTREAMS", "Metrics", "upstream_label"]

# The open incident's identity: (cause, upstream, target) label values of
# why502_incident_started_timestamp_seconds.
IncidentKey = tuple[str, str, str]

MAX_UPSTREAMS = 64
# scheme://host:port or scheme://unix:/path: -- the peer, without the URI nginx appends
_PEER = re.compile(r"^(?:(?P<scheme>[a-z0-9]+)://)?(?P<peer>unix:[^:]*|\[[^\]]*\](?::\d+)?|[^/?\s]*)")


def upstream_label(raw: str | None) -> str:
    """The target part of an error log's ``upstream: "..."`` or an ``$upstream_addr`` entry."""
    if not raw or raw == "-":
        return ""
    m = _PEER.match(raw.strip())
    if not m:
        return ""
    scheme = m.group("scheme")
    peer = m.group("peer")
    return f"{scheme}://{peer}" if scheme else peer


class Metrics:
    """Every metric of one watch process, in its own registry (no process-global state)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.traffic = Traffic()  # requests, upstream responses, response times
        r.register(self.traffic)
        self.upstream_failures = Counter(
            "why502_upstream_failures",
            "Failed upstream attempts in the error logs, by symptom ID (why502 explain ID).",
            ["symptom", "upstream"], registry=r)
        self.incidents_open = Gauge("why502_incidents_open",
                                    "Open incidents, by root cause ID (unknown until diagnosed).",
                                    ["cause"], registry=r)
        self.incident_started = Gauge(
            "why502_incident_started_timestamp_seconds",
            "Start (Unix time) of the open incident, by root cause, upstream name and upstream "
            "address (the series exists only while the incident is open).",
            ["cause", "upstream", "target"], registry=r)
        self._incident: IncidentKey | None = None
        self.incidents = Counter("why502_incidents", "Incidents opened, by root cause ID.",
                                 ["cause"], registry=r)
        self.lines = Counter("why502_log_lines", "Lines read from a followed log.", ["file"],
                             registry=r)
        self.unparsed = Counter("why502_log_lines_unparsed",
                                "Access-log lines that did not match the log_format.", ["file"],
                                registry=r)
        self.lag = Gauge("why502_log_lag_bytes",
                         "Bytes written to a followed log and not yet read.", ["file"], registry=r)
        self.rotation_gaps = Counter(
            "why502_log_rotation_gaps",
            "Truncations (copytruncate) whose unread tail no rotated copy held: lines may be lost.",
            ["file"], registry=r)
        self.follow_errors = Counter(
            "why502_log_follow_errors",
            "Times a followed log became unreadable or vanished.", ["file"], registry=r)
        self.target_up = Gauge("why502_target_up",
                               "1 when the last health check of a config target succeeded.",
                               ["target"], registry=r)
        self.target_latency = Gauge("why502_target_probe_duration_seconds",
                                    "Duration of the last health check of a config target.",
                                    ["target"], registry=r)
        self._upstreams: set[str] = set()
        #: ``upstream_failures``' child of each (symptom, upstream) pair (``failed``)
        self._failure_children: dict[tuple[str, str], Counter] = {}
        self._labels: dict[str, str] = {}
        self._alertmanager_up: Gauge | None = None

    def alertmanager_up(self, up: bool) -> None:
        """``why502_alertmanager_up``: 1 while watch's own incident alerts reach Alertmanager
        (``--alertmanager``; set at start, then after every post), 0 after a failed post.  Not
        exported without ``--alertmanager``.  The mixin's incident rules stand down on an
        instance where it is 1, so an incident pages once (``mixin``).  The first call is made
        at start-up, before the sender's thread, so the gauge is created once."""
        if self._alertmanager_up is None:
            self._alertmanager_up = Gauge(
                "why502_alertmanager_up",
                "1 while why502 watch's own incident alerts reach Alertmanager (--alertmanager).",
                registry=self.registry)
        self._alertmanager_up.set(1 if up else 0)

    def upstream_of(self, raw: str) -> str:
        """The bounded label of one ``$upstream_addr`` entry (cached: a host has few)."""
        label = self._labels.get(raw)
        if label is None:
            label = self.bounded(upstream_label(raw))
            if len(self._labels) < 4096:
                self._labels[raw] = label
        return label

    def bounded(self, upstream: str) -> str:
        """The upstream label value, capped at ``MAX_UPSTREAMS`` distinct values."""
        if upstream in self._upstreams:
            return upstream
        if len(self._upstreams) >= MAX_UPSTREAMS:
            return "other"
        self._upstreams.add(upstream)
        return upstream

    def failed(self, symptom: str, upstream: str, n: int) -> None:
        """``why502_upstream_failures{symptom, upstream}`` += ``n``, each pair's child looked up
        once: prometheus_client's ``labels()`` checks its values and takes a lock at every call
        (~2-3 us), and a block of Cloudflare's lines counts ~30 pairs, ~7 % of the agent's CPU
        there (BENCHMARKS.md stop 63).  The children are never removed, and the pairs are few
        (``bounded`` upstreams)."""
        key = (symptom, upstream)
        child = self._failure_children.get(key)
        if child is None:
            child = self._failure_children[key] = self.upstream_failures.labels(symptom, upstream)
        child.inc(n)

    def caps(self, upstreams: set[str]) -> bool:
        """Would ``bounded`` of these upstreams reach the cap with some of them still new (which
        of them become "other" then depends on their order)?"""
        new = len(upstreams - self._upstreams)
        return new > 0 and len(self._upstreams) + new > MAX_UPSTREAMS

    def open_incident(self, cause: str, upstream: str | None, target: str | None,
                      started: float) -> None:
        """Export the open incident (``None`` upstream/target: ``""``), replacing the series of
        the one exported before: one series at a time, whatever the incidents were."""
        key = (cause, self.bounded(upstream_label(upstream)), self.bounded(upstream_label(target)))
        if key != self._incident:
            self.close_incident()
            self._incident = key
        self.incident_started.labels(*key).set(started)

    def close_incident(self) -> None:
        """Remove the open incident's series (it resolved, or its labels changed)."""
        if self._incident is not None:
            self.incident_started.remove(*self._incident)
            self._incident = None

    def route(self) -> Route:
        """``GET /metrics``: the registry in the format the scraper asks for (``Accept``:
        OpenMetrics for Prometheus >= 2.5, else the text format 0.0.4), as
        ``prometheus_client``'s own server negotiates it."""

        def metrics(req: Request) -> Response:
            encoder, content_type = choose_encoder(req.headers.get("Accept") or "")
            return Response(200, content_type, encoder(self.registry))

        return metrics

    def serve(self, host: str, port: int, routes: dict[str, Route] | None = None) -> HttpServer:
        """Serve ``/metrics`` (and ``routes``) on ``host:port`` from daemon threads
        (:mod:`why502.app.watch.httpd`: no client can stall it); returns the server (its
        ``server_port`` is the real port when ``port`` was 0)."""
        return serve(host, port, {"/metrics": self.route(), **(routes or {})})
