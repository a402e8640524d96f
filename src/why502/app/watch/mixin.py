"""The monitoring mixin of ``why502 watch``: alerting rules, recording rules and a Grafana
dashboard, generated from the catalog so every root cause has its alert and its runbook.

The shape follows the monitoring-mixins convention (https://monitoring.mixins.dev/, "A mixin is a
package of Prometheus alerts, recording rules and Grafana dashboards"): ``prometheus_alerts.yaml``,
``prometheus_rules.yaml`` and ``dashboards/*.json``.  The rendered files are what users load; jsonnet
is optional in the convention and not needed here, since the rules are data from the catalog
(``catalog/data/causes.toml``).  ``why502 watch --print-rules`` prints the alerts and
``why502 watch --write-mixin DIR`` writes the three files; ``contrib/monitoring-mixin/`` ships them
rendered, and a test keeps the shipped copy identical to what this module renders.

Recording-rule names follow Prometheus's ``level:metric:operations`` convention
(https://prometheus.io/docs/practices/rules/); they are the series ``why502 fleet`` can ask for
instead of evaluating ``rate()`` over every host at query time.

One page per incident: ``why502 watch --alertmanager URL`` sends each incident itself (with its
diagnosis and fix), and exports ``why502_alertmanager_up`` (1 while its posts go through).  The
incident alerts here stand down on an instance whose agent sends its own (``unless on (instance,
job) why502_alertmanager_up == 1``), so loading these rules *and* running watch with
``--alertmanager`` -- as the README does -- pages once, not twice; when watch cannot reach its
Alertmanager the rules page instead.  The 5xx-ratio and target-down alerts say what an open
incident already says, so they stay silent on an instance with an incident open (for the ratio:
one in the rate range, or it fires minutes after the fix, on the 5xx still in its range).

Why one alert per cause rather than one alert with a ``cause`` label: each cause gets its own
summary, first fix step and runbook page in the notification, and a team can route or silence one
cause (``alertname=Why502KeepaliveRace``) without a label matcher.  Causes not in the catalog
(``unknown`` while an incident is being diagnosed) are caught by ``Why502IncidentUndiagnosed``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from why502.catalog import Entry, load_catalog

__all__ = ["ERRORS_RATE", "HOSTS", "JOBS", "RATE_RANGE", "REQUESTS_RATE", "RUNBOOK_BASE", "Rule",
           "alert_groups", "dashboard", "recording_groups", "render_yaml", "write_mixin"]

RUNBOOK_BASE = "https://github.com/why502/why502/blob/main/docs/causes/"
# The 5xx ratio and the traffic floor of Why502High5xxRatio: watch's own incident rule opens at a
# 5% ratio over at least 10 requests per minute by default (--ratio, --min-requests).
RATIO = 0.05
MIN_RPS = 0.1
RATE_RANGE = "5m"
# The recorded per-instance rates `why502 fleet` reads (one series per host, not rate() over
# every host's raw series at query time).
REQUESTS_RATE = f"instance:why502_requests:rate{RATE_RANGE}"
ERRORS_RATE = f"instance:why502_requests_5xx:rate{RATE_RANGE}"
# One series per host that exports why502 metrics, and per job that scrapes them: fleet's host
# list and its silent agents without a `group by` over every host's raw series (at 3,000 hosts
# ~90 ms each at query time, one series per host recorded).
HOSTS = "instance:why502_log_lag_bytes:count"
JOBS = "job:why502_log_lag_bytes:count"
# watch sends this instance's incidents to Alertmanager itself: the rules' incident alerts stand down
SELF_ALERTING = "unless on (instance, job) why502_alertmanager_up == 1"


@dataclass(frozen=True)
class Rule:
    """One Prometheus rule: an alert (``alert`` set) or a recording rule (``record`` set)."""

    expr: str
    alert: str | None = None
    record: str | None = None
    for_: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


def alert_name(cause_id: str) -> str:
    """``keepalive-race`` -> ``Why502KeepaliveRace`` (Prometheus alert names are CamelCase)."""
    return "Why502" + "".join(part[:1].upper() + part[1:] for part in cause_id.split("-"))


def _lower_first(text: str) -> str:
    """``The backend ...`` -> ``the backend ...``; acronyms (``OOM``) stay as they are."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _cause_alert(entry: Entry) -> Rule:
    return Rule(
        alert=alert_name(entry.id),
        expr=f'max by (instance, job) (why502_incidents_open{{cause="{entry.id}"}}) > 0\n'
             f"{SELF_ALERTING}\n",
        labels=(("severity", "critical"), ("cause", entry.id)),
        annotations=(
            ("summary", f"{{{{ $labels.instance }}}}: 5xx incident, {_lower_first(entry.title)}"),
            ("description", f"why502 watch diagnosed the open incident on {{{{ $labels.instance }}}} "
                            f"as {entry.id}: {entry.summary or entry.title}. How to confirm and "
                            f"fix it: `why502 explain {entry.id}` or the runbook."),
            ("runbook_url", f"{RUNBOOK_BASE}{entry.id}.md"),
        ))


def alert_groups(causes: Iterable[Entry] | None = None) -> list[tuple[str, list[Rule]]]:
    """The alerting rules, in groups: one alert per root cause of the catalog, then traffic and
    the agent's own health."""
    entries = list(causes) if causes is not None else load_catalog().of_kind("cause")
    ids = "|".join(e.id for e in entries)
    incidents = [_cause_alert(e) for e in entries]
    incidents.append(Rule(
        alert="Why502IncidentUndiagnosed",
        expr=f'max by (instance, job, cause) (why502_incidents_open{{cause!~"{ids}"}}) > 0\n'
             f"{SELF_ALERTING}\n",
        for_="2m", labels=(("severity", "critical"),),
        annotations=(
            ("summary", "{{ $labels.instance }}: 5xx incident, root cause not found ({{ $labels.cause }})"),
            ("description", "why502 watch opened an incident on {{ $labels.instance }} and could not "
                            "name its root cause: run `why502 diagnose --since 15m` there."),
            ("runbook_url", f"{RUNBOOK_BASE}README.md"),
        )))
    total = f"sum by (instance, job) (rate(why502_requests_total[{RATE_RANGE}]))"
    errors = f'sum by (instance, job) (rate(why502_requests_total{{status=~"5.."}}[{RATE_RANGE}]))'
    traffic = [Rule(
        alert="Why502High5xxRatio",
        expr=f"(\n  {errors}\n    / {total}\n) > {RATIO}\nand {total} > {MIN_RPS}\n"
             f"unless on (instance, job)\n"
             f"  max by (instance, job) (max_over_time(why502_incidents_open[{RATE_RANGE}])) > 0\n",
        for_="5m", labels=(("severity", "warning"),),
        annotations=(
            ("summary", "{{ $labels.instance }}: {{ $value | humanizePercentage }} of requests answered 5xx"),
            ("description", "Run `why502 diagnose --since 15m` on {{ $labels.instance }} "
                            "for the root cause."),
            ("runbook_url", f"{RUNBOOK_BASE}README.md"),
        ))]
    agent = [
        Rule(alert="Why502TargetDown",
             expr="why502_target_up == 0\n"
                  "unless on (instance, job) max by (instance, job) (why502_incidents_open) > 0\n",
             for_="1m",
             labels=(("severity", "critical"),),
             annotations=(
                 ("summary", "{{ $labels.instance }}: upstream target {{ $labels.target }} is down"),
                 ("description", "The health check of {{ $labels.target }} fails: the proxy answers "
                                 "502 for requests passed to it."),
                 ("runbook_url", f"{RUNBOOK_BASE}backend-not-running.md"))),
        Rule(alert="Why502LogUnreadable", expr="increase(why502_log_follow_errors_total[10m]) > 0",
             labels=(("severity", "warning"),),
             annotations=(
                 ("summary", "{{ $labels.instance }}: why502 watch cannot read {{ $labels.file }}"),
                 ("description", "Incidents cannot be seen while the log is unreadable: check its "
                                 "owner and mode (logrotate's create line) and the adm group."),
                 ("runbook_url", f"{RUNBOOK_BASE}README.md"))),
        Rule(alert="Why502LogLagging", expr="why502_log_lag_bytes > 64 * 1024 * 1024", for_="10m",
             labels=(("severity", "warning"),),
             annotations=(
                 ("summary", "{{ $labels.instance }}: why502 watch is {{ $value | humanize1024 }}B "
                             "behind {{ $labels.file }}"),
                 ("description", "watch reads slower than the proxy writes: incidents open late. "
                                 "Give the agent more CPU or follow fewer logs."),
                 ("runbook_url", f"{RUNBOOK_BASE}README.md"))),
        Rule(alert="Why502AgentDown", expr='up{job="why502"} == 0', for_="5m",
             labels=(("severity", "warning"),),
             annotations=(
                 ("summary", "{{ $labels.instance }}: why502 watch is not answering scrapes"),
                 ("description", "No incident on this host can be seen while its agent is down: "
                                 "`systemctl status why502-watch` there."),
                 ("runbook_url", f"{RUNBOOK_BASE}README.md"))),
    ]
    return [("why502-incidents", incidents), ("why502-traffic", traffic), ("why502-agent", agent)]


def recording_groups() -> list[tuple[str, list[Rule]]]:
    """The recording rules: per-instance request and 5xx rates, the ratio, upstream failures by
    symptom, open incidents by cause, and the hosts and jobs that export why502 metrics -- what
    ``fleet`` and the dashboard ask for."""
    r = RATE_RANGE
    return [("why502.rules", [
        Rule(record=REQUESTS_RATE,
             expr=f"sum by (instance, job) (rate(why502_requests_total[{r}]))"),
        # "or 0 * total": a host that served no 5xx has a 5xx rate of 0, not no series
        Rule(record=ERRORS_RATE,
             expr=f'sum by (instance, job) (rate(why502_requests_total{{status=~"5.."}}[{r}]))\n'
                  f"  or 0 * {REQUESTS_RATE}"),
        Rule(record=f"instance:why502_requests_5xx:ratio_rate{r}",
             expr=f"instance:why502_requests_5xx:rate{r}\n  / instance:why502_requests:rate{r}"),
        Rule(record=f"instance_status:why502_requests:rate{r}",
             expr=f"sum by (instance, job, status) (rate(why502_requests_total[{r}]))"),
        Rule(record=f"instance_upstream_symptom:why502_upstream_failures:rate{r}",
             expr=f"sum by (instance, job, upstream, symptom) "
                  f"(rate(why502_upstream_failures_total[{r}]))"),
        Rule(record="cause:why502_incidents_open:count",
             expr="count by (cause) (why502_incidents_open > 0)"),
        Rule(record=HOSTS, expr="count by (instance, job) (why502_log_lag_bytes)"),
        Rule(record=JOBS, expr="count by (job) (why502_log_lag_bytes)"),
    ])]


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's escaping is valid YAML 1.2)."""
    return json.dumps(text, ensure_ascii=False)


def render_yaml(groups: list[tuple[str, list[Rule]]], header: str) -> str:
    """Rules in Prometheus's rule-file format (``groups: [{name, rules}]``), hand-written so no
    YAML library is needed; every string is double-quoted, multi-line exprs are literal blocks."""
    out = [f"# {line}".rstrip() for line in header.splitlines()]
    out.append("groups:")
    for name, rules in groups:
        out += [f"  - name: {name}", "    rules:"]
        for rule in rules:
            out.append(f"      - alert: {rule.alert}" if rule.alert else f"      - record: {rule.record}")
            if "\n" in rule.expr:
                out.append("        expr: |")
                out += [f"          {line}".rstrip() for line in rule.expr.rstrip("\n").splitlines()]
            else:
                out.append(f"        expr: {_q(rule.expr)}")
            if rule.for_:
                out.append(f"        for: {rule.for_}")
            for key, pairs in (("labels", rule.labels), ("annotations", rule.annotations)):
                if pairs:
                    out.append(f"        {key}:")
                    out += [f"          {k}: {_q(v)}" for k, v in pairs]
    return "\n".join(out) + "\n"


def _panel(pid: int, title: str, exprs: list[tuple[str, str]], x: int, y: int, w: int = 12,
           unit: str = "short", kind: str = "timeseries") -> dict[str, Any]:
    return {
        "id": pid, "type": kind, "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom"}},
        "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
                     "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                    for i, (expr, legend) in enumerate(exprs)],
    }


def dashboard() -> dict[str, Any]:
    """A Grafana dashboard (schemaVersion 39): 5xx by status and by upstream, incidents by cause,
    targets up, log lag and the agent's own health, with ``datasource`` and ``instance``
    template variables."""
    inst = 'instance=~"$instance"'
    r = RATE_RANGE
    panels = [
        _panel(1, "Requests per second by status",
               [(f"sum by (status) (rate(why502_requests_total{{{inst}}}[{r}]))", "{{status}}")], 0, 0,
               unit="reqps"),
        _panel(2, "5xx ratio",
               [(f'sum(rate(why502_requests_total{{{inst}, status=~"5.."}}[{r}])) / '
                 f"sum(rate(why502_requests_total{{{inst}}}[{r}]))", "5xx ratio")], 12, 0,
               unit="percentunit"),
        _panel(3, "Upstream failures by upstream and symptom",
               [(f"sum by (upstream, symptom) (rate(why502_upstream_failures_total{{{inst}}}[{r}]))",
                 "{{upstream}} {{symptom}}")], 0, 8, unit="ops"),
        _panel(4, "Upstream 5xx responses by upstream",
               [(f'sum by (upstream, status) (rate(why502_upstream_responses_total{{{inst}, '
                 f'status=~"5.."}}[{r}]))', "{{upstream}} {{status}}")], 12, 8, unit="reqps"),
        _panel(5, "Open incidents by root cause",
               [(f"sum by (instance, cause) (why502_incidents_open{{{inst}}})",
                 "{{instance}} {{cause}}")], 0, 16),
        _panel(6, "Targets up (health checks)",
               [(f"why502_target_up{{{inst}}}", "{{instance}} {{target}}")], 12, 16),
        _panel(7, "Log lag (bytes written, not yet read)",
               [(f"why502_log_lag_bytes{{{inst}}}", "{{instance}} {{file}}")], 0, 24, unit="bytes"),
        _panel(8, "Agent health",
               [(f'up{{job="why502", {inst}}}', "up {{instance}}"),
                (f"rate(why502_log_lines_total{{{inst}}}[{r}])", "lines/s {{file}}"),
                (f"increase(why502_log_follow_errors_total{{{inst}}}[{r}])", "read errors {{file}}"),
                (f"increase(why502_log_rotation_gaps_total{{{inst}}}[{r}])", "rotation gaps {{file}}")],
               12, 24),
    ]
    return {
        "uid": "why502-overview", "title": "why502 / overview", "tags": ["why502"],
        "schemaVersion": 39, "version": 1, "editable": True, "timezone": "utc",
        "time": {"from": "now-3h", "to": "now"}, "refresh": "30s",
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
            {"name": "instance", "type": "query", "label": "Host", "multi": True, "includeAll": True,
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(why502_log_lag_bytes, instance)", "refId": "instance"},
             "refresh": 2, "current": {"text": "All", "value": "$__all"}},
        ]},
        "panels": panels,
    }


ALERTS_HEADER = """Prometheus alerting rules for why502 watch (`why502 watch --print-rules`; rendered from the
catalog by why502.app.watch.mixin -- do not edit, regenerate with `why502 watch --write-mixin DIR`).
Proven by `promtool test rules` in the test suite (contrib/monitoring-mixin/tests/alerts_test.yaml).
One page per incident: the incident alerts stand down where watch sends its own
(`--alertmanager`, why502_alertmanager_up == 1), so loading them next to it pages once
(docs/guide/watch.md, "One page per incident")."""

RULES_HEADER = """Prometheus recording rules for why502 watch (rendered by why502.app.watch.mixin -- do not
edit).  The series why502 fleet and the dashboard ask for, precomputed per instance."""


def write_mixin(directory: Path) -> list[Path]:
    """Write ``prometheus_alerts.yaml``, ``prometheus_rules.yaml`` and
    ``dashboards/why502-overview.json`` under ``directory``; returns the paths written."""
    (directory / "dashboards").mkdir(parents=True, exist_ok=True)
    files = {
        directory / "prometheus_alerts.yaml": render_yaml(alert_groups(), ALERTS_HEADER),
        directory / "prometheus_rules.yaml": render_yaml(recording_groups(), RULES_HEADER),
        directory / "dashboards" / "why502-overview.json": json.dumps(dashboard(), indent=2) + "\n",
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return list(files)
