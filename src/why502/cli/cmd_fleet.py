"""`why502 fleet`: every host's open incidents, 5xx rate and down targets, from Prometheus.

Only the standard library is imported here at module level (``why502 --help`` stays fast).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from why502.cli.vocab import add_format_argument, add_output_argument
from why502.errors import EXIT_FINDINGS, EXIT_HEALTHY
from why502.timeargs import SecondsArg

if TYPE_CHECKING:
    from why502.app.fleet import Fleet

DESCRIPTION = """\
Ask the Prometheus that scrapes every host's `why502 watch` (its HTTP API, PromQL) for each
host's open incidents and their root cause, 5xx and request rates and down targets, and print
the hosts ranked: open incidents first, then by 5xx rate.  When three or more hosts' incidents
point at one upstream (the same address, or the same upstream name) or started within one
minute, that is said once, first, as a fleet-level finding with the hosts folded.  Hosts with
nothing to say (no incident, no down target, no 5xx) are counted in one line (--all lists them).

examples:
  why502 fleet --prometheus http://prometheus:9090
  why502 fleet --prometheus http://127.0.0.1:9090 --range 15m --format json

Each answer is read within bounds: --timeout seconds for the whole exchange (connect to last
byte), 8 MiB, JSON nested 32 deep, 100,000 series; beyond them, one line and exit 3.
A rate Prometheus gives as NaN or Inf is shown as "-" (null in JSON).

exit codes: 0 no open incident, 1 some host has an open incident, a down target or its watch
not answering Prometheus's scrape,
2 usage error, 3 Prometheus unreachable, too slow, or its answer too big or not a vector
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prometheus", required=True, metavar="URL",
                        help="Prometheus base URL (http://HOST:9090)")
    parser.add_argument("--range", type=SecondsArg("--range", 1), default=300.0, metavar="DURATION",
                        help=f"rate window of the 5xx and request rates ({SecondsArg.HELP}; at least 1 s; "
                             "default 5m)")
    add_format_argument(parser, "fleet", ("text", "json"))
    add_output_argument(parser, "the hosts")
    parser.add_argument("--all", action="store_true",
                        help="text: list every host, also those with nothing to say")
    parser.add_argument("--timeout", type=SecondsArg("--timeout"), default=30.0, metavar="SECONDS",
                        help=f"time for each query's whole exchange with Prometheus ({SecondsArg.HELP}; "
                             "default 30)")


def output_inputs(args: argparse.Namespace) -> list[str]:
    """``fleet`` reads Prometheus's HTTP API, no file: nothing to refuse."""
    return []


def run(args: argparse.Namespace) -> int:
    import math

    from why502.app.fleet import fleet
    from why502.errors import UsageError
    from why502.textutil import strip_terminal_escapes

    if not (math.isfinite(args.timeout) and 0 < args.timeout <= 3600):
        raise UsageError(f"--timeout {args.timeout:g}: expected seconds in (0, 3600]")
    # PromQL's range is whole seconds or units (5m); ours is any duration (timeargs), given in seconds
    answer = fleet(args.prometheus, f"{math.ceil(args.range)}s", args.timeout)
    if args.format == "json":
        from why502.findings.results import FleetReport
        from why502.reporters.json_result import render

        sys.stdout.write(render(FleetReport.from_dict(answer.to_dict())))
    else:
        import shutil

        from why502.textutil import fit_width

        # wrapped to the run's width (cli.termwidth), like every text output (issue 31)
        print(fit_width(strip_terminal_escapes(_text(answer, args.all)), shutil.get_terminal_size().columns))
    return EXIT_FINDINGS if any(h.alarming for h in answer.hosts) else EXIT_HEALTHY


# host names shown under a fleet-level finding before "and N more"
_FOLDED_NAMES = 6


def _text(answer: Fleet, show_all: bool) -> str:
    """Fleet-level findings first (hosts folded), then one row per host with something to say."""
    if not answer.hosts:
        return "no host reports why502 metrics to this Prometheus"
    out: list[str] = []
    folded: set[str] = set()
    if answer.findings:
        out.append("fleet-level findings:")
        for f in answer.findings:
            names = ", ".join(f.hosts[:_FOLDED_NAMES])
            more = f" and {len(f.hosts) - _FOLDED_NAMES} more" if len(f.hosts) > _FOLDED_NAMES else ""
            out += [f"  {f.headline()}", f"    hosts: {names}{more}"]
            folded.update(f.hosts)
        out.append("")
    # a host folded into a finding gets a row only for what the finding does not say
    rows = [h for h in answer.hosts
            if show_all or h.down or h.agent_down
            or (h.instance not in folded
                and (h.causes or (h.errors_per_s or 0.0) > 0 or h.errors_per_s is None))]
    if rows:
        out.append(f"{'host':30} {'5xx/s':>8} {'req/s':>8}  open incidents / targets down")
    for h in rows:
        what = ", ".join(h.causes + [f"down: {d}" for d in h.down]
                         + (["watch not answering scrapes"] if h.agent_down else [])) or "-"
        out.append(f"{h.instance:30} {_rate(h.errors_per_s)} {_rate(h.requests_per_s)}  {what}")
    listed = {h.instance for h in rows}
    quiet = sum(1 for h in answer.hosts if h.instance not in listed and h.instance not in folded)
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
