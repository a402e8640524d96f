"""``why502 fleet`` for a person: fleet-level findings first (hosts folded), then one row per
host with something to say, then how many hosts had nothing to say.

Reads the typed ``findings.results.FleetReport`` (its rates unrounded: ``app.fleet.Fleet.to_dict
(rounded=False)``, so a host whose 5xx rate is above 0 but below 0.00005/s is still listed, as
before).  Moved from ``cli/cmd_fleet.py`` (issue 23, item 5); the text is the same: log- and
Prometheus-controlled strings made inert, wrapped to the run's width (issue 31).
"""

from __future__ import annotations

from why502.findings.results import FleetReport
from why502.reporters.options import RenderOptions
from why502.textutil import fit_width, strip_terminal_escapes

# host names shown under a fleet-level finding before "and N more"
FOLDED_NAMES = 6


def render_fleet(report: FleetReport, options: RenderOptions) -> str:
    """The text, one newline at the end, wrapped to ``options.columns()``."""
    return fit_width(strip_terminal_escapes(_text(report, options.show_all)), options.columns()) + "\n"


def _text(report: FleetReport, show_all: bool) -> str:
    if not report.hosts:
        return "no host reports why502 metrics to this Prometheus"
    out: list[str] = []
    folded: set[str] = set()
    findings = report.fleet_findings
    if findings:
        out.append("fleet-level findings:")
        for f in findings:
            hosts = [str(h) for h in f.get("hosts") or []]
            names = ", ".join(hosts[:FOLDED_NAMES])
            more = f" and {len(hosts) - FOLDED_NAMES} more" if len(hosts) > FOLDED_NAMES else ""
            out += [f"  {f.get('summary')}", f"    hosts: {names}{more}"]
            folded.update(hosts)
        out.append("")
    # a host folded into a finding gets a row only for what the finding does not say
    rows = [h for h in report.hosts
            if show_all or h.targets_down or h.agent_down
            or (h.instance not in folded
                and (h.open_incidents or (h.errors_5xx_per_s or 0.0) > 0 or h.errors_5xx_per_s is None))]
    if rows:
        out.append(f"{'host':30} {'5xx/s':>8} {'req/s':>8}  open incidents / targets down")
    for h in rows:
        what = ", ".join(h.open_incidents + [f"down: {d}" for d in h.targets_down]
                         + (["watch not answering scrapes"] if h.agent_down else [])) or "-"
        out.append(f"{h.instance:30} {_rate(h.errors_5xx_per_s)} {_rate(h.requests_per_s)}  {what}")
    listed = {h.instance for h in rows}
    quiet = sum(1 for h in report.hosts if h.instance not in listed and h.instance not in folded)
    tail = []
    if folded:
        tail.append(f"{_hosts(len(folded))} in the fleet-level findings above")
    if quiet:
        tail.append(f"{_hosts(quiet)} with no incident, no down target and no 5xx (--all lists them)")
    if tail:
        out.append(f"({'; '.join(tail)})")
    return "\n".join(out)


def _hosts(n: int) -> str:
    return f"{n} host" if n == 1 else f"{n} hosts"


def _rate(value: float | None) -> str:
    return f"{'-':>8}" if value is None else f"{value:8.2f}"
