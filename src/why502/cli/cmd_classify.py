"""`why502 classify [FILE ...]`: recognise upstream failures in log lines of any format.

Heavy imports (polars, rich) happen inside ``run`` so ``why502 --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from why502.cli.nothingread import nothing_read
from why502.cli.proxyargs import in_words
from why502.cli.vocab import add_format_argument, add_output_argument
from why502.errors import EXIT_FINDINGS, EXIT_HEALTHY, UsageError

if TYPE_CHECKING:
    from why502.findings.results import ClassifySummary

DESCRIPTION = in_words("""\
Recognise every upstream failure in log lines without being told their format: {own.title} error logs
(proxy, fastcgi, uwsgi, scgi, grpc, memcached; glibc and musl errno texts), {others},
PHP-FPM, gunicorn, uWSGI, Node/PM2, kernel OOM, systemd and SELinux lines, even
wrapped by docker/kubectl/compose/syslog/journald or cut short.  Reads FILEs (plain, .gz, globs,
rotated sets) or stdin.  Client aborts (499), client TLS noise, "Primary script unknown" (404)
and static-file errors are not reported.

examples:
  why502 classify {own.default_error_log} --rotated --since 2h
  kubectl logs {own.k8s_logs} | why502 classify --format jsonl
  why502 classify 'error.log*' --format jsonl | jq -r .symptom | sort | uniq -c

nothing to classify: no line at all (an empty or just-rotated log, an empty pipe -- `grep X log |
why502 classify` when grep matched nothing) is not "no failure": it says so and exits 3.

exit: 0 no upstream-failure symptom in the lines read, 1 some found, 2 usage error, 3 unreadable
input or no line to read""")

_BIG = 64 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="log files, globs or - for stdin (default: stdin)")
    add_format_argument(parser, "classify", ("text", "json", "jsonl"),
                        notes="text is the summary tables (also --format summary); json the summary "
                              "as one object; jsonl one object per recognised line")
    add_output_argument(parser)
    parser.add_argument("--since", metavar="TIME",
                        help="only lines at/after TIME: ISO 8601 or relative (30m, 2h, 1d)")
    parser.add_argument("--rotated", action="store_true",
                        help="also read FILE.1, FILE.2.gz ... (oldest first)")
    parser.add_argument("--top", type=int, default=10, metavar="N",
                        help="rows per summary table (default 10)")
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    parser.add_argument("--log-type", metavar="TYPE",
                        help=in_words("read FILEs as a load balancer / proxy access log: {log_types} "
                                      "(default: detected from the first lines)"))


def run(args: argparse.Namespace) -> int:
    from why502.app.classify import jsonl_paths, summarize_paths

    if args.top < 1:
        raise UsageError("--top must be at least 1")
    if not args.files and sys.stdin.isatty():
        # alone at a terminal it would wait silently for typed lines, which looks like a hang
        raise UsageError("give a log file (or - to type lines), or pipe lines into it: "
                         "kubectl logs ... | why502 classify")
    from why502.app.stats.sniff import check_log_type, sniff_log_type

    log_type = check_log_type(args.log_type)
    if log_type is None:  # stdin too: its head is peeked and replayed to the read (sources.replay)
        log_type = sniff_log_type(list(args.files) or ["-"])
    from why502.proxies import ENGINE

    if log_type not in (None, ENGINE):  # --log-type nginx: the engine's own error log
        return _run_lb(args, str(log_type))
    from why502.app.stats.formats import access_log_head

    # (before the read: the file is opened once; no FILE: the piped stdin, its head replayed)
    head = access_log_head(output_inputs(args) or ["-"])
    progress = _Progress(enabled=not args.no_progress)
    notes: list[str] = []  # a damaged rotated sibling found by --rotated: a note, not an abort
    try:
        if args.format in ("text", "json"):
            # each worker aggregates its batch: no per-line records are materialised
            summary = summarize_paths(args.files, since=args.since, rotated=args.rotated,
                                      on_batch=progress.update, notes=notes)
        else:
            # the records are the output: only the exit code needs a total (no per-batch summary)
            failures = 0
            batches = 0  # an empty file or pipe gives none: nothing to classify (exit 3)

            def seen(batch: Any) -> None:
                nonlocal batches
                batches += 1
                progress.update(batch)

            for text, count in jsonl_paths(args.files, since=args.since, rotated=args.rotated,
                                           on_batch=seen, notes=notes):
                failures += count
                _write_jsonl(text)
            if not batches:
                return nothing_read("classify", "nothing to classify", output_inputs(args) or ["-"])
            return EXIT_FINDINGS if failures or _access_log(head) else EXIT_HEALTHY
    finally:
        progress.close()
        _print_notes(notes)  # after the data, whichever way the run ends
    # text: the whole summary, cut to --top by the reporter (its catalog notes name the three
    # first symptoms whatever --top is); json: the first --top rows of each list
    _write(args, summary.summary(args.top if args.format == "json" else None))
    if summary.lines_read == 0:  # the text said it ("Nothing to classify"); json says lines_read 0
        return nothing_read("classify", "nothing to classify", summary.files if args.format == "json" else [])
    return EXIT_FINDINGS if summary.failures() or _access_log(head) else EXIT_HEALTHY


def _access_log(head: tuple[str, list[str]] | None) -> bool:
    """No failure found: when the input is an access log, say so on stderr (``classify`` reads
    error logs) and whether its first lines hold a 5xx -- then the run is not "healthy" (exit
    1): a log whose proxy served 5xx is never that (``app.stats.formats.access_log_hint``)."""
    from why502.app.stats.formats import access_log_hint

    hint = access_log_hint(*head) if head is not None else None
    if hint is None:
        return False
    print(f"why502 classify: note: {hint[0]}", file=sys.stderr)
    return hint[1] > 0


def output_inputs(args: argparse.Namespace) -> list[str]:
    """What ``-o`` must never replace: the logs read, a glob's matches included (``cli.main._run``;
    the temporary file ``-o`` writes first is a dot-file, which a glob's ``*`` does not match)."""
    import glob

    return [path for name in args.files for path in (glob.glob(name) or [name])]


def _write(args: argparse.Namespace, result: ClassifySummary) -> None:
    """The summary in ``--format``: text tables (``reporters.text.classify``, coloured on a
    terminal) or one JSON object on one line, strict (no NaN) and inert (``reporters.json``)."""
    from why502.reporters import RenderOptions, write

    write(args.format, result, sys.stdout, RenderOptions(color=sys.stdout.isatty(), top=args.top))


def _print_notes(notes: list[str]) -> None:
    """What the readers did not read or cut short, on stderr so that stdout stays the data: a
    damaged rotated sibling found by ``--rotated``, a UTF-16 file, a FIFO that went quiet, a
    sibling that is not a file (``sources.opening``)."""
    from why502.sources.opening import take_notes
    from why502.textutil import strip_terminal_escapes

    notes = [*notes, *take_notes()]  # a UTF-16 file is one of them (sources.opening.note_utf16)
    for note in notes:
        print(f"why502 classify: note: {strip_terminal_escapes(note)}", file=sys.stderr)


def _run_lb(args: argparse.Namespace, log_type: str) -> int:
    """A load balancer / proxy access log (files, a directory or stdin): one row per request it
    failed itself (``jsonl``), or their summary, counted as ``stats`` reads the log
    (``app.stats.lbsummary``: no record per failure) unless ``--since`` asks for each failure's
    time."""
    from why502.app.stats.lb import classify_lb, classify_lb_jsonl
    from why502.app.stats.lbsummary import summarize_lb, summary_of_rows
    from why502.findings.results import ClassifySummary, ClassifySymptom
    from why502.textutil import dump_json
    from why502.timeargs import parse_time_arg

    # stdin (``-``, or no FILE with a pipe) is read as a file is: its head, sniffed for the batch
    # size, is replayed to the read (sources.replay; tests/classify/test_classify_edge_stdin.py)
    paths = list(args.files) or ["-"]
    since = parse_time_arg(args.since, "--since") if args.since else None
    if args.format == "jsonl":
        rows = 0
        if since is None:  # a block's rows written at once (app.stats.lb.classify_lb_jsonl)
            for text, count in classify_lb_jsonl(paths, log_type):
                rows += count
                _write_jsonl(text)
            return EXIT_FINDINGS if rows else EXIT_HEALTHY
        for row in classify_lb(paths, log_type, since=since):
            rows += 1
            sys.stdout.write(dump_json(row, indent=None) + "\n")
        return EXIT_FINDINGS if rows else EXIT_HEALTHY
    summary = (summarize_lb(paths, log_type) if since is None
               else summary_of_rows(classify_lb(paths, log_type, since=since)))
    failures = summary.failures
    _write(args, ClassifySummary(
        files=paths, log_type=log_type, lines_read=None, recognised=failures,
        failures=failures,
        symptoms=[ClassifySymptom(id=sym, kind="symptom", lines=t.n, word=code,
                                  statuses={status: t.n} if status != "-" else {},
                                  sources={log_type: t.n}, first=t.first, last=t.last)
                  for (sym, code, status), t in summary.ranked(args.top)]))
    return EXIT_FINDINGS if failures else EXIT_HEALTHY


def _write_jsonl(text: bytes) -> None:
    """One batch of JSON lines (UTF-8, C1 controls already escaped) to stdout, through Python's
    own stream: when polars wrote to the stream itself, a closed pipe (``| head -1``) came back
    as a plain OSError instead of BrokenPipeError, so ``main`` could not tell it from a real
    failure."""
    sys.stdout.flush()
    sys.stdout.buffer.write(text)
    sys.stdout.buffer.flush()


class _Progress:
    """A rich progress bar on stderr, only for big files and only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.bar: Any = None
        self.task: Any = None
        self.path: str | None = None

    def update(self, batch: Any) -> None:
        if not self.enabled or batch.bytes_total < _BIG:
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

            self.bar = Progress("[progress.description]{task.description}", BarColumn(),
                                DownloadColumn(), TimeRemainingColumn(),
                                console=Console(stderr=True), transient=True)
            self.bar.start()
        if batch.path != self.path:
            from why502.textutil import strip_terminal_escapes

            self.path = batch.path
            self.task = self.bar.add_task(strip_terminal_escapes(batch.path)[-40:],
                                          total=batch.bytes_total)
        self.bar.update(self.task, completed=batch.bytes_done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
