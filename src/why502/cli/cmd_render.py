"""`why502 render REPORT.json`: re-render a saved JSON report as html, markdown or text.

docs/architecture.md: "reporters render a saved Report and nothing else, so `why502 render report.json
--format html` works with no inputs at hand".  The exit code follows ``diagnose`` (0 healthy
or no finding, 1 findings, 3 a report of no evidence: nothing was judged) so scripts can branch
on a saved report too; a missing file or a JSON document that is not a why502 report is an input
error (exit 3, one line).

Heavy imports (rich, the reporters) happen inside ``run`` only, so ``why502 --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from why502.cli.output import add_redact_argument, for_output, refuse_input, write_output
from why502.cli.vocab import add_format_argument, add_output_argument
from why502.errors import EXIT_FINDINGS, EXIT_HEALTHY, EXIT_INPUT, InputError, UsageError, not_found

if TYPE_CHECKING:
    from why502.findings.model import Report

DESCRIPTION = """\
Re-render a report saved with `why502 diagnose --format json` -- no logs, config or host needed.

  why502 render report.json                      # text on the terminal
  why502 render report.json --format html -o incident.html
  why502 render report.json --format markdown    # for a ticket or chat
  why502 diagnose --format json | why502 render - --format markdown

The HTML page is one self-contained file (chart library and styles inline, strict
Content-Security-Policy): it works offline from file:// and makes no network request.
Without --format, the format follows the -o suffix (.html/.htm, .md/.markdown), else text.
"""

FORMATS = ("html", "markdown", "text")
_SUFFIXES = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``REPORT`` (a path or ``-``), ``--format``, ``-o``."""
    parser.add_argument(
        "report", metavar="REPORT", help="JSON report file (from diagnose --format json), or - for stdin"
    )
    add_format_argument(parser, "render", FORMATS, default=None,
                        notes="default: from the -o suffix (.html/.htm, .md/.markdown), else text",
                        short="-f")
    add_output_argument(parser, "the rendered report")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="text: the whole report (default: the first screen, as diagnose prints it)")
    add_redact_argument(parser)


# the biggest report read (diagnose's JSON is tens of KB; json.loads needs ~10x its size)
MAX_REPORT_BYTES = 16 << 20


def load_report(source: str) -> Report:
    """Read and validate a saved report; every failure is a one-line ``InputError``."""
    from why502.findings.model import Report
    from why502.sources.opening import open_capped_input

    try:
        # capped: a report is KBs; a huge or endless input is refused before it is held in memory
        raw = open_capped_input(source, MAX_REPORT_BYTES, "a report")
        name = "<stdin>" if source == "-" else source
    except FileNotFoundError:
        raise InputError(not_found(source)) from None
    except IsADirectoryError:
        raise InputError(f"{source}: is a directory, not a report") from None
    except PermissionError:
        raise InputError(f"{source}: permission denied") from None
    except OSError as err:
        raise InputError(f"{source}: cannot read: {err.strerror or err}") from None
    try:
        data: Any = json.loads(raw.decode("utf-8-sig"), parse_constant=_no_constant,
                               parse_int=_bounded_int, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise InputError(f"{name}: not a why502 report (not UTF-8 text)") from None
    except json.JSONDecodeError as err:
        raise InputError(
            f"{name}: not a why502 report (invalid JSON at line {err.lineno}: {err.msg})"
        ) from None
    except _Absurd as err:
        raise InputError(f"{name}: not a why502 report ({err})") from None
    except RecursionError:
        raise InputError(f"{name}: not a why502 report (nested too deeply)") from None
    try:
        return Report.from_dict(data)
    except RecursionError:
        raise InputError(f"{name}: not a why502 report (nested too deeply)") from None
    except (ValueError, TypeError, AttributeError, KeyError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        if not message.startswith(("not a why502 report", "unsupported")):
            message = f"not a why502 report ({message})"
        raise InputError(f"{name}: {message}") from None


class _Absurd(ValueError):
    """A JSON value no why502 report holds."""


def _no_constant(name: str) -> Any:
    """``NaN``/``Infinity`` are not JSON (RFC 8259) and no report field holds them."""
    raise _Absurd(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    """Counts and line numbers of a report fit in 20 digits; a 5000-digit one is an attack on
    ``int()`` (CPython refuses over 4300 digits with a ValueError deep inside a renderer)."""
    if len(text.lstrip("-")) > 20:
        raise _Absurd(f"a {len(text)}-digit number")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e309 overflows to inf
        raise _Absurd(f"{text[:20]} is out of range")
    return value


def render(report: Report, fmt: str, name: str = "report", to_file: bool = False,
           verbose: bool = False) -> str:
    """Render in ``fmt`` (``reporters.<fmt>.render``; text coloured only when stdout is a
    terminal and nothing goes to a file); a report whose fields have the wrong types is an
    input error."""
    from why502 import reporters

    color = fmt == "text" and sys.stdout.isatty() and not to_file
    try:
        return reporters.render(fmt, report, reporters.RenderOptions(color=color, verbose=verbose))
    except (TypeError, ValueError, AttributeError, KeyError) as err:
        raise InputError(f"{name}: malformed report ({type(err).__name__}: {err})") from None


def run(args: argparse.Namespace) -> int:
    """Load, render, write; exit 1 when the report has findings, 3 when it judged nothing (schema
    1.6 ``no_evidence``: as ``diagnose`` of it did), else 0."""
    fmt: str | None = args.format
    if fmt is None:
        fmt = _SUFFIXES.get(Path(args.output).suffix.lower(), "text") if args.output else "text"
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if args.output and args.output != "-":
        refuse_input(args.output, [args.report])
    # a report saved with --no-redact (or by an older why502) is redacted here like a fresh one
    report = for_output(load_report(args.report), args)
    to_file = bool(args.output and args.output != "-")
    text = render(report, fmt, "<stdin>" if args.report == "-" else args.report, to_file,
                  verbose=bool(getattr(args, "verbose", False)))
    if args.output and args.output != "-":
        write_output(args.output, text, [args.report])
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if report.findings:
        return EXIT_FINDINGS
    return EXIT_INPUT if report.no_evidence else EXIT_HEALTHY
