"""``why502 diagnose``: read the world once, join the evidence, run the analyzers, build a Report.

What is read (docs/architecture.md, "the pipeline"), module by module:

- ``options``: the command-line choices and the rule for named inputs (a file the user named
  that cannot be read is a one-line error; what discovery finds and cannot read is a note);
- ``inputs``: the proxy's config, read by its own plug-in (``Hooks.diagnose_view``; nginx's:
  ``--nginx-conf``, else ``nginx -T``, else ``/etc/nginx/nginx.conf``), the logs it names,
  PHP-FPM's pools;
- ``logs``: the error, PHP-FPM, app and kernel logs, each line classified once, rotated sets
  included, limited to ``--since``;
- ``live`` (with ``probes`` and ``system``): the listening sockets and their processes, a probe
  of every target of the config (and nothing else), unix-socket permissions, systemd units,
  SELinux, sysctls; ``--offline`` turns every live read off;
- ``access``: the access logs, what the clients got per upstream;
- ``gather``: all of it joined into ``Evidence``; ``report``: the analyzers run and the
  ``Report`` assembled; ``demo``: the bundled incident's saved report (``--demo``);
- ``discover``: with nothing named, every running proxy master (nginx, Apache httpd, HAProxy)
  diagnosed on its own and the reports merged, each finding naming its proxy.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from why502.app.diagnose.options import DiagnoseOptions
from why502.errors import InputError
from why502.findings.model import Diagnostic, Report

if TYPE_CHECKING:
    from why502.app.diagnose.gather import Gathered
    from why502.app.diagnose.report import report_from
    from why502.sources.proxyprocs import ProxyProcess

# ``gather`` is not offered here: it is also the name of the submodule, and once that is
# imported the package's attribute ``gather`` is the module, whatever ``__getattr__`` says (a
# test got the module and called it).  Import it from ``why502.app.diagnose.gather``.
__all__ = ["DiagnoseOptions", "Gathered", "diagnose", "report_from"]


def __getattr__(name: str) -> Any:
    """``Gathered`` and ``report_from`` imported when first asked for (PEP 562): a module that
    needs only ``app.diagnose.inputs`` or ``options`` (``watch``'s follow loop) does not load
    the pipeline, polars and the analyzers with this package."""
    if name == "Gathered":
        from why502.app.diagnose.gather import Gathered

        return Gathered
    if name == "report_from":
        from why502.app.diagnose.report import report_from

        return report_from
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def diagnose(options: DiagnoseOptions) -> Report:
    """Run the whole diagnosis and return the Report (findings ordered most likely first).

    Every run but ``--demo`` is ``gather`` -> ``report_from`` (the analyzers of
    ``analyzers.registry``, ranked by ``analyzers.rank``), once per proxy found running when
    nothing was named, whatever the inputs: a proxy's config and logs, a load balancer's or
    edge proxy's log (``app.diagnose.lb``), or both."""
    if options.demo:
        from why502.app.diagnose.demo import demo_report  # the bundled report only: not for a real run

        return demo_report()
    from why502.app.diagnose.discover import discover, discover_edge
    from why502.app.diagnose.gather import gather
    from why502.app.diagnose.lb import edge_families
    from why502.app.diagnose.report import report_from

    started = time.monotonic()
    families = edge_families(options)
    if not families:
        runs = discover(options)
        if runs:
            return _each_proxy(runs, started)
        edge = discover_edge(options)
        if edge is not None:
            proc, edge_options = edge
            return report_from(gather(edge_options, (proc.kind,), discovered=proc), started)
    return report_from(gather(options, families), started)


def _each_proxy(runs: list[tuple[ProxyProcess, DiagnoseOptions]], started: float) -> Report:
    """Diagnose every discovered proxy and merge; a proxy whose config cannot be read (found,
    not named) becomes a note of the merged report instead of an error."""
    from why502.app.diagnose.discover import merge, root_unreadable
    from why502.app.diagnose.gather import gather
    from why502.app.diagnose.report import report_from

    reports: list[tuple[ProxyProcess, Report]] = []
    notes: list[Diagnostic] = []
    first_error: InputError | None = None
    for proc, opts in runs:
        if opts.root:
            why = root_unreadable(proc, opts.root)
            if why is not None:
                first_error = first_error or InputError(why)
                notes.append(Diagnostic("warning", why, proc.config))
                continue
            notes.append(Diagnostic("info", (
                f"{proc.kind} (pid {proc.pid}) runs in container {proc.container}: its config and logs "
                f"were read under {opts.root} (its root), not from this host's paths"), opts.config))
        if proc.more_configs:  # HAProxy's further -f: its loader reads one path (a file or a folder)
            notes.append(Diagnostic("warning", (
                f"{proc.kind} (pid {proc.pid}) was started with more than one -f: only {proc.config} "
                f"was read, not {', '.join(proc.more_configs)}"), proc.config))
        try:
            reports.append((proc, report_from(gather(opts), started)))
        except InputError as err:
            first_error = first_error or err
            notes.append(Diagnostic("warning", f"{proc.kind} (pid {proc.pid}): {err}", proc.config))
    if not reports:
        assert first_error is not None
        raise first_error
    merged = merge(reports)
    return replace(merged, diagnostics=[*notes, *merged.diagnostics])
