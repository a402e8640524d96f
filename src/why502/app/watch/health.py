"""Active health checks: every target of the nginx config probed on a schedule.

The runbooks' "use health checks" without the third-party ``nginx_upstream_check_module`` (open
source nginx has passive checks only: ``max_fails``/``fail_timeout``, ngx_http_upstream_module
docs).  The probe is diagnose's own (``app.diagnose.probes.probe_targets``: TCP or unix-socket
connect, ``GET /`` for HTTP, a FastCGI management record for ``fastcgi_pass``), so a target is
"down" in the same terms nginx would log.  Up and latency go to ``why502_target_up`` and
``why502_target_probe_duration_seconds``; a down target opens an incident with no traffic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from why502.app.diagnose.probes import probe_targets
from why502.app.watch.metrics import Metrics
from why502.evidence.config_facts import config_facts
from why502.evidence.model import TargetFact
from why502.facts.logconfig import FollowedConfig
from why502.facts.probes import ProbeResult
from why502.findings.model import Diagnostic

__all__ = ["HealthChecker", "config_targets", "healthy"]


def config_targets(cfg: FollowedConfig | None) -> list[TargetFact]:
    """The targets a probe can reach (no ``$variable`` addresses), one per key."""
    if cfg is None:
        return []
    targets, _groups, _files = config_facts(cfg)
    seen: dict[str, TargetFact] = {}
    for t in targets:
        if not t.uses_variables and (t.host or t.unix_path):
            seen.setdefault(t.key, t)
    return list(seen.values())


def healthy(res: ProbeResult) -> bool:
    """Up: the probe got its answer, and an HTTP answer is not a 5xx (a 404 on ``/`` is an app
    that answers; a 503 on its health path is an app saying it is not ready)."""
    status = res.protocol.status if res.protocol is not None else None
    return res.ok and not (status is not None and status >= 500)


class HealthChecker:
    """Probes ``targets()`` every ``interval`` seconds in a daemon thread; ``down`` is shared
    with the watch loop (a list replaced whole, so reading it needs no lock)."""

    def __init__(self, targets: Callable[[], list[TargetFact]], metrics: Metrics,
                 publish: Callable[[list[str]], None], note: Callable[[Diagnostic], None],
                 interval: float, timeout: float = 1.0, path: str = "/") -> None:
        self.targets = targets
        self.metrics = metrics
        self.publish = publish
        self.note = note
        self.interval = interval
        self.timeout = timeout
        self.path = path
        self.stopped = threading.Event()
        self.rounds = 0
        self.thread = threading.Thread(target=self._loop, name="why502-health", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(self.timeout + 1)

    def check_once(self) -> list[str]:
        results, _ = probe_targets(self.targets(), self.timeout, path=self.path)
        down: list[str] = []
        for key, res in results.items():
            up = healthy(res)
            self.metrics.target_up.labels(key).set(1 if up else 0)
            self.metrics.target_latency.labels(key).set(res.elapsed_ms / 1000)
            if not up:
                down.append(key)
        self.rounds += 1
        return sorted(down)

    def _loop(self) -> None:
        before: list[str] = []
        while not self.stopped.is_set():
            down = self.check_once()
            if down != before:
                for key in sorted(set(down) - set(before)):
                    self.note(Diagnostic("warning", f"health check: {key} is down"))
                for key in sorted(set(before) - set(down)):
                    self.note(Diagnostic("info", f"health check: {key} is up again"))
                before = down
            self.publish(down)
            self.stopped.wait(self.interval)
