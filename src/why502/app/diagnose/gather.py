"""Read every input once and join it into ``Evidence`` (the analyzers' only input).

One provider fills each record of ``Evidence`` (docs/architecture.md): ``inputs.read_config``
the ``ConfigFacts`` (the proxy's config and PHP-FPM's pools, after the inputs the user named
are checked: one-line errors before any work), ``logfacts.read_logs`` the ``LogFacts`` (each
log classified once, the access logs joining the error logs' rows), and unless ``--offline``
``live.read_host`` the ``HostFacts`` and ``live.read_live`` the ``LiveFacts``; the run's clock
is ``RunClock``; ``app.diagnose.appservers`` the ``AppServerEvidence`` (``--app-conf`` and the
running app servers, tied to the config's targets by where they listen); ``lb.read_edge`` the
``EdgeFacts`` (a load balancer's or edge proxy's own log).  The later providers take what the
earlier ones parsed, never a path to read again.

When the logs named are an edge's (``lb.edge_families``), the edge provider is the only one
that reads: the log is the evidence, nothing of this host's proxy is read for it.  Next to the
proxy's own inputs (an nginx error log, a config), the access logs that are an edge's
(``lb.edge_logs``) go to the edge provider and the others to the proxy's.  Either way the same
analyzers weigh the one ``Evidence`` (``app.diagnose.report``): one ranked report.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from why502.app.diagnose import appservers
from why502.app.diagnose.inputs import read_config
from why502.app.diagnose.lb import EdgeConfig, edge_config, edge_families, edge_logs, read_edge
from why502.app.diagnose.live import HostReading, read_host, read_listeners, read_live
from why502.app.diagnose.logfacts import read_logs
from why502.app.diagnose.options import DiagnoseOptions, check_named_inputs
from why502.evidence.model import EdgeFacts, Evidence, HostFacts, LiveFacts, RunClock
from why502.evidence.stats import AccessStats
from why502.facts.kubernetes import KubeFacts
from why502.findings.model import Diagnostic
from why502.sources.proxyprocs import EdgeProcess
from why502.timeargs import parse_time_arg

if TYPE_CHECKING:
    from why502.app.diagnose.probes import Probing


@dataclass
class Gathered:
    """Everything read for one diagnosis, before the analyzers run (tests inspect it)."""

    evidence: Evidence
    diagnostics: list[Diagnostic]
    inputs: dict[str, Any]  # the report's "inputs" object (JSON: what was read, from where)
    access_stats: AccessStats | None = None
    probe_dicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # the report's probes
    edge_config: EdgeConfig | None = None  # an edge proxy's --config, joined to the ranked findings


def _access_end(stats: AccessStats | None) -> datetime | None:
    """The minute of the access log's last request (log time), or None."""
    if stats is None or not stats.last_time:
        return None
    try:
        return datetime.fromisoformat(stats.last_time[:16])
    except ValueError:
        return None


def gather(options: DiagnoseOptions, edge: tuple[str, ...] | None = None,
           discovered: EdgeProcess | None = None) -> Gathered:
    """Read every input (config, logs, live state) into typed evidence.  ``edge``: the edge
    log families of the inputs when already sniffed (``lb.edge_families``); ``discovered``: the
    running edge proxy whose logs these are (``discover.discover_edge``)."""
    diags: list[Diagnostic] = []
    inputs: dict[str, Any] = {"offline": options.offline}
    since = (None if options.since is None
             else parse_time_arg(options.since, "--since", options.now))
    check_named_inputs(options)
    if since:
        inputs["since"] = since.isoformat(timespec="seconds")
    families = edge_families(options) if edge is None else edge
    # an edge proxy's log with the app servers' logs or configs (--app-log, --app-conf): read as
    # an edge log next to the proxy's inputs, so the app servers' lines, their settings and the
    # live probes of the config's targets are evidence too (analyzers.edge_apps)
    with_apps = bool(families) and bool(options.app_logs or options.app_confs)
    if families and not with_apps:
        facts = read_edge(options, families, since, diags, inputs, discovered)
        clock = RunClock(offline=options.offline, now=options.now or datetime.now())
        # --k8s next to an edge's log: its targets are pod IPs (an Envoy/Istio %UPSTREAM_HOST%)
        k8s = read_k8s(options, diags, inputs)
        config = edge_config(options, diags, families, inputs)
        edge_live, edge_probe_dicts = LiveFacts(), dict[str, dict[str, Any]]()
        if config is not None and not options.offline:
            # live, the targets the log blames for a cause a live answer decides are asked
            # (probes.edge_probes: Envoy's UPE, a protocol mismatch or HTTP spoken badly)
            from why502.app.diagnose.probes import edge_probes

            found_edge, edge_probe_dicts = edge_probes(config.targets, facts, options.probe_timeout)
            if found_edge:
                edge_live = LiveFacts(probes=found_edge)
        if config is not None:
            facts = replace(facts, targets=config.targets, files=config.files)
        # live, what listens where: a refused target whose app listens elsewhere (wrong-target)
        edge_host = HostFacts() if options.offline else read_listeners(diags)
        return Gathered(Evidence(edge=facts, clock=clock, k8s=k8s, live=edge_live, host=edge_host),
                        diags, inputs,
                        probe_dicts=edge_probe_dicts, edge_config=config)
    edge_facts = EdgeFacts()
    paths, families = edge_logs(options)
    if paths:  # an edge's log next to the proxy's own inputs: both read, one report
        edge_inputs: dict[str, Any] = {}
        edge_facts = read_edge(replace(options, access_logs=paths, error_logs=[]), families, since,
                               diags, edge_inputs, alone=False, join_with=tuple(options.error_logs))
        inputs["edge"] = edge_inputs
        options = replace(options, access_logs=[p for p in options.access_logs if p not in paths])
    conf = read_config(options, diags, inputs)
    # the probes wait on the network, the host's reads on other programs (journalctl, dmesg,
    # systemctl), the log reading on the CPUs: all at once
    probing: Probing | None = None
    hosting: HostReading | None = None
    if not options.offline:
        from why502.app.diagnose.probes import Probing

        try:
            probing = Probing(list(conf.facts.targets), options.probe_timeout)
        except RuntimeError:  # no thread to be had (a pids limit): probed after the logs
            probing = None
        try:
            hosting = HostReading(conf, since, kernel_log_given=bool(options.kernel_log))
        except RuntimeError:  # no thread to be had: read after the logs
            hosting = None
    found = appservers.read_app_servers(options, diags)
    logs = read_logs(options, conf, since, diags, inputs, found_app_logs=found.logs)
    apps = appservers.evidence(found, conf.facts.targets, conf.facts.groups,
                               list(inputs.get("app_logs", [])), diags, inputs, logs.facts.events)
    host, live = HostFacts(), LiveFacts()
    probe_dicts: dict[str, dict[str, Any]] = {}
    if not options.offline:
        host = (hosting.result(diags) if hosting is not None
                else read_host(conf, since, diags, kernel_log_given=bool(options.kernel_log)))
        live, probe_dicts = read_live(conf, options.probe_timeout, diags, inputs, probing)
        if live.probes:  # a backend's own 5xx on the route the clients asked for, not on /
            from why502.app.diagnose.probes import probe_failed_path

            found_probes = dict(live.probes)
            probe_failed_path(list(conf.facts.targets), found_probes, probe_dicts,
                              logs.facts.client_5xx, options.probe_timeout)
            live = replace(live, probes=found_probes)
    clock = RunClock(offline=options.offline, now=options.now or datetime.now(),
                     inputs_end=_access_end(logs.stats))
    ev = Evidence(proxy=conf.proxy, config=conf.facts, logs=logs.facts, host=host, live=live,
                  clock=clock, apps=apps, k8s=read_k8s(options, diags, inputs), edge=edge_facts)
    # the proxy's own access log next to its config (Caddy's: the site's host, no upstream): its
    # findings are joined to the config's route too, so they name the backend (issue 24)
    own_edge = bool(paths) and conf.proxy in families
    return Gathered(ev, diags, inputs, logs.stats, probe_dicts,
                    edge_config=(edge_config(options, diags, families, inputs)
                                 if with_apps or own_edge else None))


def read_k8s(options: DiagnoseOptions, diags: list[Diagnostic], inputs: dict[str, Any]) -> KubeFacts:
    """``--k8s``: the Kubernetes objects (a dump, or ``kubectl`` when named), else none."""
    if not options.k8s:
        return KubeFacts()
    from why502.sources.kubernetes import read_kubernetes

    read = read_kubernetes(options.k8s, namespace=options.k8s_namespace)
    diags.extend(read.diagnostics)
    k = read.facts
    inputs["k8s"] = read.inputs
    inputs["k8s_objects"] = {"pods": len(k.pods), "endpointslices": len(k.slices),
                             "services": len(k.services), "events": len(k.events),
                             "routes": len(k.routes)}
    return k
