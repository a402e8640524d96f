"""Send incidents to Alertmanager's v2 API (``POST /api/v2/alerts``), in a thread of its own.

Why v2: ``/api/v1/alerts`` was removed in Alertmanager 0.27 (its CHANGELOG); v2 takes a JSON
list of ``postableAlert`` (``labels``, ``annotations``, ``startsAt``, ``endsAt``,
``generatorURL``; api/v2/openapi.yaml in prometheus/alertmanager).  Alertmanager resolves an
alert that is not re-sent before ``endsAt`` (or ``resolve_timeout``, 5m by default), so a firing
alert is re-sent every ``resend`` seconds -- as Prometheus does -- and a resolved one is sent once
more with ``endsAt`` = now.

Alertmanager down: the send is retried with exponential backoff (1 s doubling to ``max_backoff``);
the watch loop only hands the state over under a lock and never waits for the network.  Each post
goes through the bounded reader (``sources.netread``): ``timeout`` is the whole exchange's, so an
Alertmanager (or a proxy) that trickles its answer cannot hold the sender, and its answer is
read up to 64 KiB.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from why502 import PROJECT_URL
from why502.app.watch.incidents import Incident
from why502.errors import InputError
from why502.findings.model import Diagnostic
from why502.findings.redact import notice
from why502.sources.netread import Bounds, fetch
from why502.textutil import dump_json

__all__ = ["AlertSender", "alert_of"]

ALERTNAME = "Why502Incident"


def _utc(local_iso: str | None) -> str:
    """A local ISO time (the logs' clock) as RFC 3339 UTC, as Alertmanager wants it."""
    when = datetime.fromisoformat(local_iso) if local_iso else datetime.now()
    return when.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def alert_of(inc: Incident, instance: str) -> dict[str, Any]:
    """One ``postableAlert``: labels identify the incident's alert, annotations explain it."""
    alert: dict[str, Any] = {
        "labels": {"alertname": ALERTNAME, "cause": inc.cause, "upstream": inc.upstream or "",
                   "severity": "critical", "instance": instance, "incident": inc.id},
        "annotations": {
            "summary": inc.title or "upstream failures (5xx) on this proxy",
            "description": inc.summary,
            "evidence": inc.evidence or "; ".join(inc.trigger),
            "fix": inc.fix,
            "runbook_url": f"{PROJECT_URL}/blob/main/docs/causes/{inc.cause}.md",
        },
        "startsAt": _utc(inc.opened),
        "generatorURL": f"{PROJECT_URL}#why502-watch",
    }
    if inc.redacted:
        alert["annotations"]["redacted"] = notice(inc.redacted)
    if inc.resolved:
        alert["endsAt"] = _utc(inc.resolved)
    return alert


class AlertSender:
    """Keeps the alerts to send and sends them from a daemon thread."""

    def __init__(self, url: str, instance: str, note: Callable[[Diagnostic], None],
                 resend: float = 30.0, max_backoff: float = 60.0, timeout: float = 5.0,
                 posted: Callable[[bool], None] | None = None) -> None:
        self.endpoint = url.rstrip("/") + "/api/v2/alerts"
        self.instance = instance
        self.note = note
        # told whether each post went through (the why502_alertmanager_up gauge)
        self.posted = posted
        self.resend = resend
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.firing: dict[str, dict[str, Any]] = {}
        self.resolved: dict[str, dict[str, Any]] = {}
        self.sent = 0
        self.failures = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="why502-alerts", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def update(self, inc: Incident, kind: str) -> None:
        """Called by the watch loop on every incident event: never blocks on the network."""
        alert = alert_of(inc, self.instance)
        with self.lock:
            old = self.firing.pop(inc.id, None)
            if old is not None and old["labels"] != alert["labels"]:
                # the cause changed (while open, or re-diagnosed over the whole incident at its
                # close): the alert with the old labels is a different alert for Alertmanager;
                # it is resolved too, at the same time, rather than left to time out
                self.resolved[f"{inc.id}/{len(self.resolved)}"] = {
                    **old, "endsAt": alert.get("endsAt") or _utc(None)}
            if inc.resolved:
                self.resolved[inc.id] = alert
            else:
                self.firing[inc.id] = alert
        self.wake.set()

    def stop(self, flush: float = 2.0) -> None:
        """Send what is pending (a last try, bounded by ``flush`` seconds) and stop."""
        self.stopped.set()
        self.wake.set()
        self.thread.join(flush)

    def _loop(self) -> None:
        backoff = 1.0
        while True:
            with self.lock:
                batch = [*self.firing.values(), *self.resolved.values()]
                resolved = list(self.resolved)
            ok = True
            if batch:
                ok = self._post(batch)
                if ok:
                    with self.lock:
                        for key in resolved:
                            self.resolved.pop(key, None)
            if self.stopped.is_set():
                return
            wait = self.resend if ok else backoff
            backoff = 1.0 if ok else min(self.max_backoff, backoff * 2)
            self.wake.wait(wait)
            self.wake.clear()

    def _post(self, batch: list[dict[str, Any]]) -> bool:
        body = dump_json(batch, indent=None).encode()
        try:
            answer = fetch(self.endpoint, Bounds(max_bytes=64 << 10, seconds=self.timeout), data=body,
                           headers={"Content-Type": "application/json"}, what=self.endpoint)
            if answer.status >= 300:
                raise InputError(f"HTTP {answer.status}")
        except InputError as err:
            self.failures += 1
            if self.posted is not None:
                self.posted(False)
            if self.failures == 1 or self.failures % 10 == 0:
                self.note(Diagnostic("warning", f"Alertmanager {self.endpoint}: {err} "
                                     f"(retrying with backoff; {self.failures} failures)"))
            return False
        self.sent += len(batch)
        if self.posted is not None:
            self.posted(True)
        return True
