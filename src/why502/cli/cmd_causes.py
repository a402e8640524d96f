"""`why502 causes`: list the catalog (ID, kind, status codes, title).

Only the standard library at module level (fast ``--help``); the catalog is loaded in ``run``.
"""

from __future__ import annotations

import argparse
import sys

from why502.cli.vocab import add_format_argument, add_output_argument

DESCRIPTION = """\
List the catalog: root causes, symptoms (one proxy error-log line each), evidence events (lines
from PHP-FPM, app servers, the kernel, systemd) and status-code pages.

examples:
  why502 causes                       everything but status pages
  why502 causes --kind cause          root causes only
  why502 causes --kind status         status-code pages (500, 502, 503, 504, 499, 009, 52x, 46x ...)
  why502 causes --format json
"""

_KINDS = ("cause", "symptom", "event", "status")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=_KINDS, action="append",
                        help="only this kind (repeatable); default: cause, symptom and event")
    add_format_argument(parser, "causes", ("text", "json"))
    add_output_argument(parser, "the list")


def output_inputs(args: argparse.Namespace) -> list[str]:
    """``causes`` reads only the bundled catalog: nothing of the user's to refuse."""
    return []


def run(args: argparse.Namespace) -> int:
    from why502.catalog import KIND_LABELS, format_status, load_catalog, load_statuses
    from why502.findings.results import CauseRow
    from why502.reporters import RenderOptions, write

    kinds = args.kind or ["cause", "symptom", "event"]
    catalog = load_catalog()
    entries = [e for k in ("cause", "symptom", "event") if k in kinds for e in catalog.of_kind(k)]
    pages = list(load_statuses().values()) if "status" in kinds else []
    rows = [CauseRow(id=e.id, kind=e.kind, kind_label=KIND_LABELS[e.kind],
                     status_codes=[format_status(c) for c in e.status_codes], title=e.title)
            for e in entries]
    rows += [CauseRow(id=p.code, kind="status", kind_label="status code", family=p.family,
                      status_codes=[p.code], title=p.title) for p in pages]
    options = RenderOptions()  # the run's width (cli.termwidth)
    write(args.format, rows, sys.stdout, options)
    if args.format == "text" and not args.kind:
        from why502.reporters.text.causes import render_hint

        sys.stdout.write(render_hint(options))
    return 0
