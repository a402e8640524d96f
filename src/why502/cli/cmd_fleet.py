"""`why502 fleet`: every host's open incidents, 5xx rate and down targets, from Prometheus.

Only the standard library is imported here at module level (``why502 --help`` stays fast).
"""

from __future__ import annotations

import argparse

from why502.errors import EXIT_FINDINGS, EXIT_HEALTHY

DESCRIPTION = """\
Ask the Prometheus that scrapes every host's `why502 watch` (its HTTP API, PromQL) for each
host's open incidents and their root cause, 5xx and request rates and down targets, and print
the hosts ranked: open incidents first, then by 5xx rate.

examples:
  why502 fleet --prometheus http://prometheus:9090
  why502 fleet --prometheus http://127.0.0.1:9090 --range 15m --format json

Each answer is read within bounds: --timeout seconds for the whole exchange (connect to last
byte), 8 MiB, JSON nested 32 deep, 100,000 series; beyond them, one line and exit 3.
A rate Prometheus gives as NaN or Inf is shown as "-" (null in JSON).

exit codes: 0 no open incident, 1 some host has an open incident or a down target,
2 usage error, 3 Prometheus unreachable, too slow, or its answer too big or not a vector
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prometheus", required=True, metavar="URL",
                        help="Prometheus base URL (http://HOST:9090)")
    parser.add_argument("--range", default="5m", metavar="RANGE",
                        help="rate window of the 5xx and request rates (PromQL range, default 5m)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="time for each query's whole exchange with Prometheus (default 30)")


def run(args: argparse.Namespace) -> int:
    import math
    import re

    from why502.app.fleet import fleet
    from why502.errors import UsageError
    from why502.textutil import dump_json, strip_terminal_escapes

    if not re.fullmatch(r"[0-9]+[smhd]", args.range):
        raise UsageError(f"--range {args.range!r}: expected a PromQL range such as 5m")
    if not (math.isfinite(args.timeout) and 0 < args.timeout <= 3600):
        raise UsageError(f"--timeout {args.timeout:g}: expected seconds in (0, 3600]")
    hosts = fleet(args.prometheus, args.range, args.timeout)
    if args.format == "json":
        print(dump_json({"hosts": [h.to_dict() for h in hosts]}))
    elif not hosts:
        print("no host reports why502 metrics to this Prometheus")
    else:
        print(f"{'host':30} {'5xx/s':>8} {'req/s':>8}  open incidents / targets down")
        for h in hosts:
            what = ", ".join(h.causes + [f"down: {d}" for d in h.down]) or "-"
            print(strip_terminal_escapes(f"{h.instance:30} {_rate(h.errors_per_s)} "
                                         f"{_rate(h.requests_per_s)}  {what}"))
    return EXIT_FINDINGS if any(h.causes or h.down for h in hosts) else EXIT_HEALTHY


def _rate(value: float | None) -> str:
    return f"{'-':>8}" if value is None else f"{value:8.2f}"
