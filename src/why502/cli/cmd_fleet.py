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
    pass

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
    from why502.findings.results import FleetReport
    from why502.reporters import RenderOptions, write

    if not (math.isfinite(args.timeout) and 0 < args.timeout <= 3600):
        raise UsageError(f"--timeout {args.timeout:g}: expected seconds in (0, 3600]")
    # PromQL's range is whole seconds or units (5m); ours is any duration (timeargs), given in seconds
    answer = fleet(args.prometheus, f"{math.ceil(args.range)}s", args.timeout)
    # the JSON's rates are rounded to 4 decimals; the text compares the whole ones with 0
    report = FleetReport.from_dict(answer.to_dict(rounded=args.format == "json"))
    # text wrapped to the run's width (cli.termwidth), like every text output (issue 31)
    write(args.format, report, sys.stdout, RenderOptions(show_all=args.all))
    return EXIT_FINDINGS if any(h.alarming for h in answer.hosts) else EXIT_HEALTHY
