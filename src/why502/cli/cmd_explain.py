"""`why502 explain ARG`: print the catalog page for an ID, a status code or a pasted log line.

Start-up matters (``why502 explain ID`` targets < 150 ms, ``bench/startup.py``): this module imports
only the standard library; the catalog is loaded inside ``run``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import TYPE_CHECKING

from why502.cli.proxyargs import in_words
from why502.cli.vocab import add_format_argument, add_output_argument

if TYPE_CHECKING:
    pass
from why502.textutil import dump_json

DESCRIPTION = in_words("""\
Explain a root cause, symptom or evidence-event ID, a status code, a lint rule, or a pasted log line.

examples:
  why502 explain backend-not-running     the cause page: what it is, how to confirm, the fix
  why502 explain 502                     502 vs 503 vs 504: who produces each and why
  why502 explain W502-001                a lint rule's page (its code or its name)
  why502 explain '2024/05/01 12:00:01 [error] 7#7: *1 connect() failed (111: Connection refused) ...'
                                         a pasted log line: what it means, then the symptom page
  tail -1 {own.default_error_log} | why502 explain -
                                         the line read from stdin
  tail -50 error.log | why502 explain - --format jsonl
                                         every stdin line in turn, one JSON object each
  why502 explain read-timeout --format json
""")


_WORD = re.compile(r"[A-Za-z0-9][\w.-]*")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("arg", nargs="+", metavar="ARG",
                        help="an ID (why502 causes lists them), a status code (502, 009, 524, 460 ...), "
                             "a lint rule (W502-001 or its name, why502 lint --list-rules) "
                             "or a log line (quote it; - reads it from stdin)")
    add_format_argument(parser, "explain", ("text", "json", "jsonl"),
                        notes="jsonl (with -): every stdin line read as a log line, one JSON object "
                              "per line in order")
    add_output_argument(parser, "the page")


def output_inputs(args: argparse.Namespace) -> list[str]:
    """``explain`` reads no file (a log line comes as an argument or on stdin): nothing to refuse."""
    return []


def _use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


# the most ``explain -`` reads: the first non-blank line must fit (a log line is at most a few KB;
# nginx cuts its own at 2048 bytes, NGX_MAX_ERROR_STR in src/core/ngx_log.h)
MAX_LINE_BYTES = 1 << 20


def run(args: argparse.Namespace) -> int:
    from why502.app.explain import explain
    from why502.errors import UsageError

    if len(args.arg) > 1 and all(_WORD.fullmatch(a) for a in args.arg) and not _one_id(args.arg):
        # `why502 explain 502 504` (the usage's ARG...): each ID or status code in turn; a log
        # line pasted without quotes has words no ID has (``2024/05/01``, ``connect()``)
        sys.stdout.write(_render([_result(a, args.format) for a in args.arg], args.format))
        return 0
    if args.format == "jsonl":
        if args.arg != ["-"]:
            raise UsageError("--format jsonl reads log lines from stdin: why502 explain - --format jsonl")
        return _each_stdin_line()
    text = " ".join(args.arg)
    if args.arg == ["-"]:
        from why502.sources.opening import first_line, stdin_bytes

        text = first_line(stdin_bytes(MAX_LINE_BYTES), MAX_LINE_BYTES, "stdin").decode("utf-8", "replace")
    if len(text.split()) == 1 and (lint := _lint_rule(text, args.format)) is not None:
        sys.stdout.write(_render(lint, args.format))
        return 0
    result = explain(text)
    sys.stdout.write(_render(result.result() if args.format == "json" else result, args.format))
    return 0


def _each_stdin_line() -> int:
    """``explain - --format jsonl``: every stdin line (split at ``\\n`` only, as log files are)
    explained as ``explain 'LINE'`` would, one object per line in input order, so many pasted
    lines cost one start-up.  Object: ``n`` (1-based), ``type``, the recognised line's fields
    (``symptom``, ``event`` ...) or ``error`` (the one-line reason ``explain`` would exit 2 with)."""
    from why502.app.explain import explain
    from why502.errors import UsageError
    from why502.sources.opening import stdin_bytes

    fh = stdin_bytes(MAX_LINE_BYTES)
    n = 0
    while raw := fh.readline(MAX_LINE_BYTES + 1):
        n += 1
        doc: dict[str, object] = {"n": n}
        text = raw.rstrip(b"\n").decode("utf-8", "replace")
        if len(raw) > MAX_LINE_BYTES:  # not read on: the rest of the line is skipped unread
            while raw and not raw.endswith(b"\n"):
                raw = fh.readline(MAX_LINE_BYTES)
            doc["error"] = f"line longer than {MAX_LINE_BYTES >> 20} MiB"
        elif not text.strip():
            doc["error"] = "blank line"
        else:
            try:
                result = explain(text)
            except UsageError as exc:
                doc["error"] = str(exc)
            else:
                doc["type"] = result.type
                doc.update(result.line.fields if result.line else {})
        sys.stdout.write(dump_json(doc, indent=None) + "\n")
    return 0


def _one_id(words: list[str]) -> bool:
    """Do the words name one ID together (``why502 explain Backend Not Running``)?"""
    from why502.app.explain import explain
    from why502.errors import UsageError

    try:
        return explain(" ".join(words)).type in ("id", "status", "term")
    except UsageError:
        return False


def _result(text: str, fmt: str) -> object:
    """What ``reporters`` renders for one ID, status code or lint rule: its typed result
    (``findings.results.ExplainResult``) for JSON, the explanation or the rule for text."""
    from why502.app.explain import explain

    lint = _lint_rule(text, fmt)
    if lint is not None:
        return lint
    result = explain(text)
    return result.result() if fmt == "json" else result


def _render(result: object, fmt: str) -> str:
    """``reporters.<fmt>.render`` of a result (or of a list of them: one JSON array, or the
    pages one after the other), text at the run's width (cli.termwidth), coloured on a
    terminal without NO_COLOR."""
    from why502.reporters import RenderOptions, render

    # jsonl is `explain -`'s records (_each_stdin_line); pages asked with it are text, as ever
    return render("json" if fmt == "json" else "text", result, RenderOptions(color=_use_color()))


def _lint_rule(text: str, fmt: str) -> object | None:
    """The lint rule ``text`` names (its typed result for JSON), or None when it names none."""
    from why502.catalog.explain import lint_rule_to_dict, resolve_lint_rule

    rule = resolve_lint_rule(text)
    if rule is None or fmt != "json":
        return rule
    from why502.findings.results import ExplainResult

    return ExplainResult(query=text, type="lint-rule", lint_rule=lint_rule_to_dict(rule))
