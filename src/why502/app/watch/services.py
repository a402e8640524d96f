"""The threads next to the watch loop: Alertmanager, the health checker, and the mitigations in
force (``app.mitigate.watcher``)."""

from __future__ import annotations

from collections.abc import Callable

from why502.app.watch.alerts import AlertSender
from why502.app.watch.engine import Watch
from why502.app.watch.health import HealthChecker, config_targets
from why502.findings.model import Diagnostic
from why502.proxies import DEFAULT, DEFAULT_FLAG, get

__all__ = ["start_services"]


def start_services(watch: Watch, note: Callable[[Diagnostic], None]) -> Callable[[], None]:
    """Start what the options ask for; returns the function that stops them (flushing alerts)."""
    stops: list[Callable[[], None]] = []
    o = watch.options
    if o.alertmanager:
        watch.metrics.alertmanager_up(True)  # until a post fails: the rules stand down
        sender = AlertSender(o.alertmanager, o.instance, note,
                             resend=min(30.0, max(1.0, o.rules.resolve_after / 2)),
                             posted=watch.metrics.alertmanager_up)
        watch.on_change.append(sender.update)
        sender.start()
        stops.append(sender.stop)
    if o.probe_interval > 0 and not config_targets(watch.cfg):
        note(Diagnostic("info", f"--probe-interval: the {get(DEFAULT).vocabulary.title} config names no "
                        f"target to health-check (pass {DEFAULT_FLAG})"))
    if o.probe_interval > 0:

        def publish(down: list[str]) -> None:
            watch.down = down

        checker = HealthChecker(lambda: config_targets(watch.cfg), watch.metrics, publish, note,
                                o.probe_interval, o.probe_timeout, o.probe_path)
        checker.start()
        stops.append(checker.stop)

    if o.state_dir is not None:
        from pathlib import Path

        from why502.app.mitigate.watcher import MitigationWatcher

        watcher = MitigationWatcher(Path(o.state_dir), lambda text: note(Diagnostic("info", text)),
                                    interval=o.probe_interval if o.probe_interval > 0 else 10.0,
                                    revert_after=o.revert_after, auto_revert=o.auto_revert)
        watcher.start()
        stops.append(watcher.stop)

    def stop_all() -> None:
        for stop in stops:
            stop()

    return stop_all
