"""What a diagnosis' verdict rests on (``Report.judged``, schema 1.6), and which logs were empty.

Why: "no finding" is an answer only about what was read.  An on-call engineer who points
``diagnose --offline`` at a log that was just rotated (0 bytes) was told "healthy", exit 0: a
false all-clear on nothing read.  The rule (docs/guide/diagnose.md, "No evidence is no
verdict"), as an SRE would weigh it:

- a log line read, a live check that answered (a target probed, the proxy's runtime or admin
  API, the host's kernel / systemd / SELinux records holding an event) or Kubernetes objects
  read: evidence of what the proxy does now -- with no finding, "healthy" stands;
- a config read alone (offline, every log empty): evidence of the config only -- "no config
  pitfall found; no log line to judge", exit 0, never "healthy";
- nothing of these: no evidence -- no verdict, exit 3 ("nothing could be read").

One log empty and another with lines is evidence: the lines are judged, the empty log is said
("(0 lines)" on the report's read: line).  A log whose emptiness cannot be told (gone since,
unreadable now) counts as read with lines: the report never says "0 lines" of a log it could
not look at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from why502.findings.model import Judged
from why502.sources.logfiles import holds_lines

if TYPE_CHECKING:
    from why502.evidence.model import Evidence

__all__ = ["EMPTY_LOGS", "judged", "logs_read"]

EMPTY_LOGS = "empty_logs"
"""The report's ``inputs`` key: the logs read that held no line (schema 1.6)."""

# the report's ``inputs`` keys that list the logs a run read (a list of paths, or one path)
_LOG_KEYS = ("error_logs", "access_logs", "fpm_logs", "app_logs", "fpm_access_logs", "kernel_log")


def logs_read(inputs: dict[str, Any]) -> list[str]:
    """Every log this run read, as its ``inputs`` lists them (an edge's log read next to the
    proxy's inputs too), each once, in that order."""
    found: dict[str, None] = {}
    for where in (inputs, inputs.get("edge")):
        if not isinstance(where, dict):
            continue
        for key in _LOG_KEYS:
            value = where.get(key)
            for path in value if isinstance(value, list) else [value]:
                if isinstance(path, str) and path:
                    found.setdefault(path, None)
    return list(found)


def judged(ev: Evidence, inputs: dict[str, Any], probed: bool = False) -> list[Judged]:
    """What the verdict rests on (``Judged``, in its order), and ``inputs[EMPTY_LOGS]`` set to
    the logs read that held no line (when any did).  ``probed``: the run's probes answered for
    some target (``Gathered.probe_dicts``).

    With ``--since`` a log last written before it is not read at all (``logs.classify_into``),
    and the access logs' requests are counted in the window only: access logs with lines but
    not one request since then hold no line of the window, and are said so."""
    logs = logs_read(inputs)
    named = inputs.get("access_logs")
    access: list[str] = [p for p in named if isinstance(p, str)] if isinstance(named, list) else []
    # (the proxy's access reader counts the window's requests; an edge's log counts its own)
    counted = "access_requests" in inputs and not _positive(inputs.get("access_requests"))
    quiet = set(access) if inputs.get("since") and counted else set()
    empty = [p for p in logs if p in quiet or holds_lines(p) is False]
    if empty:
        inputs[EMPTY_LOGS] = empty
    out: list[Judged] = []
    # (a line recognised, or an edge's request read, is a line whatever the files' sizes say)
    if (len(empty) < len(logs) or ev.logs.symptoms or ev.logs.events or ev.edge.families
            or _positive(inputs.get("access_requests"))):
        out.append("logs")
    c = ev.config
    if (c.main_file or c.files or c.targets or c.fpm_pools or ev.edge.targets or ev.edge.files
            or ev.apps.servers):
        out.append("config")
    if (probed or ev.live.probes or ev.live.server_states or ev.host.events or ev.host.units
            or inputs.get("runtime_api") or inputs.get("admin_api")):
        out.append("live")
    if ev.k8s:
        out.append("kubernetes")
    return out


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
