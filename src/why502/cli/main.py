"""Entry point of the ``why502`` console script.

Start-up must stay fast (``why502 --help`` and ``why502 explain`` target < 150 ms, measured by
``bench/startup.py``): this module and the ``cmd_*`` modules import only the standard library at
module level; each command imports its heavy parts (polars, rich, crossplane) inside ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

from why502 import __version__
from why502.cli.termwidth import HelpFormatter, add_width_everywhere, argv_width, resolve
from why502.cli.threads import ensure_threads
from why502.errors import EXIT_INPUT, EXIT_INTERNAL, EXIT_USAGE, Why502Error
from why502.textutil import strip_terminal_escapes

# name -> (module, one-line help).  Order is the order shown by --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "diagnose": ("why502.cli.cmd_diagnose", "find the root cause of 502/503/504 on this host"),
    "classify": ("why502.cli.cmd_classify", "recognise upstream failures in log lines (any format)"),
    "explain": ("why502.cli.cmd_explain", "explain a cause/symptom ID, a status code or a log line"),
    "causes": ("why502.cli.cmd_causes", "list the catalog of symptoms, events and root causes"),
    "stats": ("why502.cli.cmd_stats", "access-log analytics: 5xx timeline, per-upstream truth"),
    "lint": ("why502.cli.cmd_lint", "find 502/504 pitfalls in a proxy's config before they bite"),
    "fix": ("why502.cli.cmd_fix", "apply a fix safely: backup, config test, reload, verify, rollback"),
    "mitigate": ("why502.cli.cmd_mitigate", "stop the 5xx now: take a failing server out, fall back; revert"),
    "watch": ("why502.cli.cmd_watch", "follow the logs live: metrics, incidents diagnosed on the spot"),
    "fleet": ("why502.cli.cmd_fleet", "many hosts' incidents and 5xx rates, from Prometheus"),
    "render": ("why502.cli.cmd_render", "re-render a saved JSON report as html, markdown or text"),
    "lab": ("why502.cli.cmd_lab", "reproduce each root cause on a real proxy on loopback"),
    "mcp": ("why502.cli.cmd_mcp", "serve the read-only commands to AI agents (Model Context Protocol)"),
    "completion": ("why502.cli.cmd_completion", "print a bash/zsh/fish completion script or the man page"),
}

EXIT_CODES_EPILOG = (
    "exit codes: 0 healthy / no findings, 1 findings, 2 usage error, "
    "3 inputs unreadable or nothing to judge (every log read empty), 4 internal error"
)


def _epilog() -> str:
    """The top-level ``--help`` epilog: exit codes, then every ``WHY502_*`` variable (``envvars``)."""
    from why502.envvars import epilog

    return f"{EXIT_CODES_EPILOG}\n\n{epilog()}"


class _Version(argparse.Action):
    """``--version``: the version, then whether the native nginx scanner and the edge logs'
    native passes were built -- the build-time differences between two installs of the same
    version (``classify`` runs several times faster with the scanner, ALB and JSON edge logs
    ~2-3x with the passes, a proxy's own log with its reader ~2x: ``Hooks.native_log_reader``).
    Looked up only when asked, so ``--help`` stays fast."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        import importlib.util

        from why502.parsers.errorlog_native import edge_status, status
        from why502.proxies import PROXIES  # (hands the engine's scanner down: parsers.native)

        own = tuple(p.vocabulary.title for p in PROXIES.values()
                    if p.hooks.native_log_reader and importlib.util.find_spec(p.hooks.native_log_reader))
        print(f"why502 {__version__}\n{status()}\n{edge_status(own)}")
        parser.exit()


class _TopParser(argparse.ArgumentParser):
    """The top-level parser, whose epilog (exit codes and every ``WHY502_*`` variable, which
    imports the proxies' registry) is made only when its help is printed: a run of one command
    never shows it."""

    def format_help(self) -> str:
        if self.epilog is None:
            self.epilog = _epilog()
        return super().format_help()


class _LazySubParsers(argparse._SubParsersAction):  # type: ignore[type-arg]
    """The ``COMMAND`` choice, whose parsers are filled (their module imported, their arguments
    added) only when argparse picks one.

    Why: building all fourteen commands' parsers imported every ``cmd_*`` module and the
    modules they name (proxies, output, time arguments) at every start, for one command's run
    (BENCHMARKS.md, 2026-11-25 stop 44, start-up by command).  argparse hands a subcommand its
    arguments in ``_SubParsersAction.__call__`` (``values[0]`` is the name): the one place where
    the chosen parser is needed, whatever the order of the options around it.  ``--help`` of
    the top level lists the names and one-line helps only, which every parser has from the
    start, so its text is the same."""

    fill: Callable[[str], None] | None = None

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        if self.fill is not None and values:
            name = values if isinstance(values, str) else values[0]
            if name in self._name_parser_map:
                self.fill(str(name))
        super().__call__(parser, namespace, values, option_string)


def build_parser(lazy: bool = False) -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    """Build the parser; every command module contributes its own arguments.

    ``lazy``: each command's parser is filled when a run picks it (``_LazySubParsers``) and the
    top-level epilog when it is printed; what it parses and prints is the same.  The completion
    scripts, the man page and the docs walk the whole tree: they take the full one (default)."""
    parser = _TopParser(
        prog="why502",
        description="Why is this proxy returning 502/503/504? The root cause, the evidence, the fix.",
        epilog=None if lazy else _epilog(),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="show the version and which classify engine runs, then exit")
    parser.register("action", "parsers", _LazySubParsers)
    # the commands' parsers (and theirs) are plain ones: argparse would make them _TopParser,
    # and each would print the top-level epilog in its own help
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=argparse.ArgumentParser)
    assert isinstance(sub, _LazySubParsers)
    modules: dict[str, ModuleType] = {}
    stubs = {name: sub.add_parser(name, help=help_text, formatter_class=HelpFormatter)
             for name, (_module, help_text) in COMMANDS.items()}
    lock = threading.Lock()

    def fill(name: str) -> None:
        with lock:  # main() also runs in threads (the MCP server): one fill a command
            if name not in modules:
                modules[name] = _fill_command(stubs[name], name)

    if lazy:
        sub.fill = fill
    else:
        for name in COMMANDS:
            fill(name)
    return parser, modules


def _fill_command(command_parser: argparse.ArgumentParser, name: str) -> ModuleType:
    """Give one command's parser its description, epilog and arguments (its module's)."""
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    description = getattr(module, "DESCRIPTION", help_text)
    # a command that states its own exit codes (lab run: 0 = the expected cause was found)
    # must not get the generic line too: it said the opposite
    own_codes = re.search(r"^exit( codes)?:", description, re.M) is not None
    command_parser.description = description
    command_parser.epilog = None if own_codes else EXIT_CODES_EPILOG
    module.add_arguments(command_parser)
    # every text output (help included) wraps to one width, --width on every (sub)command
    add_width_everywhere(command_parser)
    return module


# polars allocates through its own jemalloc, configured from ``_RJEM_MALLOC_CONF`` when polars
# loads (so it is set before any command imports it; a value the user set wins).  Two settings,
# each measured on 1M-line / 1 GB inputs (BENCHMARKS.md):
# - returning freed pages at once (``dirty_decay_ms:0``): stats and diagnose on logs of unique
#   hosts/URIs free and reallocate ~100 MB per aggregation group; jemalloc's default keeps them
#   ~10 s, which took stats on 1 GB of them to 393-464 MB peak (now ~300 MB, same user CPU);
# - one arena (``narenas:1``) everywhere: threads reuse each other's pages (stats --error-log on
#   160 MB under a 380 MB RLIMIT_DATA: 4/4 runs passed with it, 2/4 without);
# - address space given back when freed (``retain:false``): jemalloc otherwise keeps every
#   mapping it ever made, and RLIMIT_DATA (and a cgroup's view of a runaway) counts mappings,
#   not touched pages: stats on 60 MB of unique URIs peaked at 315-355 MB of data segment for
#   210 MB RSS (the 500 MB test sat near its edge in a loaded run) and now 240-251 MB, same RSS
#   and CPU;
# - for classify only the arena: its batch threads reuse each other's pages,
#   ~150 MB peak on the 1M-line outage log, and ~35 % less wall time than returning pages at once
#   (1.9-2.1 s against 2.9-3.0 s), since classify's memory is bounded by its batches anyway.
# - for stats, freed pages kept one second (``dirty_decay_ms:1000``): returning them at once
#   was 40 % of its CPU in the kernel (4.7 of 11.6 s on 4M lines: unmapped, then faulted back in
#   zeroed); with the smaller aggregation groups (``sources.scan.GROUP_ROWS``) the peak is the
#   same, 270-290 MB from 1M to 4M lines (BENCHMARKS.md, issue 28 item 4).
# - for diagnose, freed pages kept 50 ms: returning them at once was a third of its CPU on the
#   100 MB host of bench/diagnose_bench.py (0.8-0.9 s of kernel time of 2.8 s; 0.25-0.35 s
#   kept 10 ms to 1 s), for +15-25 MB of peak RSS (~270 MB); on 1 GB of logs 15.1 CPU-s
#   instead of 23.4 s, 432 MB instead of 405 MB (BENCHMARKS.md, issue 28 item 1).  It was 100 ms
#   (25-100 ms alike on that host); what is kept grows with the rate memory is freed, and once
#   HAProxy's session lines got their records by group (twice the pace) 100 ms held its 1M-line
#   log at 280-291 MB, 50 ms at 260-266, as fast (BENCHMARKS.md stop 57).
ALLOCATOR = {"classify": "narenas:1", "stats": "narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0,retain:false",
             "diagnose": "narenas:1,dirty_decay_ms:50,muzzy_decay_ms:0,retain:false"}
ALLOCATOR_DEFAULT = "narenas:1,dirty_decay_ms:0,muzzy_decay_ms:0,retain:false"
# What polars' own ``__init__`` writes into ``os.environ["_RJEM_MALLOC_CONF"]`` when it is
# imported (polars/__init__.py: its defaults, THP keys with ``POLARS_THP=1``, then the value it
# found appended), so every child of a process that imported polars inherits it: not a setting
# anybody chose for why502 (issue 27 class 8: the stats memory tests failed only in a suite
# that had imported polars, their child running on polars' retain-everything defaults).
POLARS_WRITTEN_CONF = ("dirty_decay_ms:500", "muzzy_decay_ms:1000", "thp:always", "metadata_thp:always")


def allocator_conf(command: str, inherited: str | None) -> str:
    """The ``_RJEM_MALLOC_CONF`` a run of ``command`` uses: the user's value when there is one
    (it wins), else ``ALLOCATOR[command]``.  What polars wrote in a parent process is not the
    user's: its leading keys (``POLARS_WRITTEN_CONF``) are dropped, and what follows them (the
    value the parent had before importing polars) counts as the user's."""
    keys = [k for k in (inherited or "").split(",") if k]
    while keys and keys[0] in POLARS_WRITTEN_CONF:
        keys.pop(0)
    return ",".join(keys) or ALLOCATOR.get(command, ALLOCATOR_DEFAULT)

# Python's cycle collector is off for the commands that build a big config model: every
# directive, scope, location, target and setting lives to the end of the run and nothing in it
# forms a cycle, so each collection only walks them.  At the default thresholds a 5000-server
# config made 7 full collections (~0.9 s of a 4.4 s diagnose); with rarer ones (100000, 20, 20)
# 14 young collections still cost ~0.1 s, and off saves ~0.1-0.3 s more (bench/config_scale.py).
# Their memory is bounded by design, not by the collector: peak RSS of diagnose on 300 MB error
# and access logs 356 MB with it, 359 MB without (bench/rss_table.py).  Short-lived commands
# only; watch keeps it.
GC_OFF = frozenset({"diagnose", "lint", "fix", "mitigate"})

# Python's own big buffers (classify's batches of 2-4 MiB, their copies, the native scanner's output)
# come from glibc's malloc, which maps each one afresh and unmaps it when it is freed: ~90k page
# faults and ~0.4 s of system time on a 2M-line log, a third of classify's CPU with the native
# scanner.  Fixed mmap and trim thresholds (mallopt(3): M_MMAP_THRESHOLD -3, M_TRIM_THRESHOLD
# -1) keep freed batches in the heap for the next ones; resident memory stays what the batches
# in flight need (BENCHMARKS.md).  stats the same way: its 15 MiB chunks (``app.stats.read.
# NATIVE_CHUNKS``) and the native scanner's columns were mapped afresh per chunk, ~215k page
# faults on 5M lines (1.27 GB) against ~100-110k with the thresholds fixed: 7.6 instead of 8.2
# CPU-s (kernel 1.2 instead of 1.5 s), the same peak RSS (BENCHMARKS.md, stop 50, issue 28 item 4).
_KEEP_FREED = ((-3, 64 << 20), (-1, 256 << 20))  # (M_MMAP_THRESHOLD, 64 MiB), (M_TRIM_THRESHOLD, 256 MiB)
# stats' workers read and parse their own chunks (``app.stats.read._feed``): each thread's own
# glibc arena kept what it freed, 252-264 MB peak on 5M lines against 240-249 with one arena
# (M_ARENA_MAX -8), at the same speed (BENCHMARKS.md, stop 51)
# diagnose the same way: it reads an edge log's batches on two threads (``app.stats.lb.
# RECORD_WORKERS``), whose own arenas held their freed lines (Traefik's common-format log, 1M
# lines: 274 MB against 249 MB with one arena), and each 8 MB block was mapped afresh (ALB, 1M
# lines: 0.60 s of kernel time, 0.33 s with the thresholds fixed; BENCHMARKS.md stop 59)
GLIBC_MALLOPT = {"classify": _KEEP_FREED, "stats": (*_KEEP_FREED, (-8, 1)),
                 "diagnose": (*_KEEP_FREED, (-8, 1))}


def _tune_glibc_malloc(command: str) -> None:
    """Apply ``GLIBC_MALLOPT[command]`` when the C library has ``mallopt`` (musl's ignores it)."""
    settings = GLIBC_MALLOPT.get(command)
    if not settings:
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    for param, value in settings:
        mallopt(param, value)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like ``KeyboardInterrupt`` for SIGINT.

    Why: Python's default for SIGTERM ends the process at once, so no ``finally`` ran and the
    spilled rows of a big run stayed in ``$TMPDIR``; as an exception it unwinds like Ctrl-C does,
    every ``finally`` closes what it opened and the run's scratch directory is removed
    (``sources.scratch``).  A ``BaseException``, so ``except Exception`` does not swallow it."""

    exit_code = 128 + signal.SIGTERM


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def _remove_scratch() -> None:
    """Remove the run's scratch directory now (it is also an ``atexit`` handler), with further
    SIGINT/SIGTERM ignored so a second signal cannot cut the removal short."""
    scratch = sys.modules.get("why502.sources.scratch")
    if scratch is None:
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        scratch.cleanup()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _run_settings(command: str, exiting: bool = False) -> Iterator[None]:
    """The process-wide settings of one run: the allocator's ``_RJEM_MALLOC_CONF``, the cycle
    collector, SIGTERM as an exception -- each put back as it was when the run returns.

    Why put back: ``main`` also runs inside other processes (the MCP server, the test suite).
    There a setting left behind outlived its command: ``classify``'s ``narenas:1`` stayed in
    ``os.environ`` and every ``why502`` the process started later inherited it instead of its
    own command's setting (``stats`` on 60 MB of unique URIs then needed ~320 MB of data segment
    instead of ~260 MB), and the collector stayed off for the rest of a long-lived process.  In
    the console script the process ends with the run, so nothing changes there.  The allocator
    reads the variable when polars loads, during the run; what a parent's polars wrote there is
    not taken for the user's (``allocator_conf``).

    ``exiting``: the process ends when the run returns (``console``).  The collector is then
    turned on again only after every object is frozen (``gc.freeze``): turned on over a run
    that kept it off (``GC_OFF``), the first allocation after starts a collection of the young
    generation, which holds every object the run made -- 30-40 ms at the end of each
    ``diagnose`` (BENCHMARKS.md, 2026-11-28 stop 68), for a process about to exit."""
    old_conf = os.environ.get("_RJEM_MALLOC_CONF")
    os.environ["_RJEM_MALLOC_CONF"] = allocator_conf(command, old_conf)
    _tune_glibc_malloc(command)
    gc_was_on = gc.isenabled()
    if command in GC_OFF:
        gc.disable()
    old_term = None
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        old_term = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if old_conf is None:
            os.environ.pop("_RJEM_MALLOC_CONF", None)
        else:
            os.environ["_RJEM_MALLOC_CONF"] = old_conf
        if gc_was_on:
            if exiting and not gc.isenabled():
                gc.freeze()
            gc.enable()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def main(argv: Sequence[str] | None = None, exiting: bool = False) -> int:
    """Run the CLI and return the process exit code (never raises, never prints a traceback).
    ``exiting``: the process ends with the run (``console``; ``_run_settings``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args if not a.startswith("-")), "")
    with _run_settings(command, exiting):
        return _main_guarded(argv)


def console() -> int:
    """The ``why502`` console script and ``python -m why502``: ``main`` on this process's own
    command line, then every object frozen (``gc.freeze``) before the interpreter exits.

    Why: when Python exits, it runs one last full cycle collection, whether the collector was
    on or not (``Py_FinalizeEx``).  It walks every object still alive -- after a diagnose, with
    the collector off for the run (``GC_OFF``), polars' and the run's objects all sit in the
    young generation -- and found nothing to free: 0.18-0.2 s of CPU per ``diagnose`` start on
    the recorded fixture, ~20 % of it (BENCHMARKS.md, 2026-11-25 stop 44).  Frozen objects are
    left out of every collection, that last one included; what the run opened it closed itself,
    the scratch directory is removed in ``main`` and by ``atexit``, which still run, and the
    standard streams are flushed at exit as before.  Not in ``main``: it also runs in-process,
    many times in one interpreter (the MCP server, the tests), where frozen objects would never
    be collected."""
    try:
        return main(exiting=True)
    finally:  # --help and --version end in SystemExit (argparse)
        gc.freeze()


def _main_guarded(argv: Sequence[str] | None) -> int:
    """``_main`` with the signals that arrive outside a command's own handling reported."""
    try:
        return _main(argv)
    except (KeyboardInterrupt, Terminated) as err:
        # a signal that arrived while an error was being reported, or before a command ran
        print("why502: " + ("terminated" if isinstance(err, Terminated) else "interrupted"), file=sys.stderr)
        return Terminated.exit_code if isinstance(err, Terminated) else 130
    finally:
        # the run's answer (its exit code, its one-line error) stands if the removal fails --
        # out of memory, say: the ``atexit`` handler tries again
        with contextlib.suppress(Exception):
            _remove_scratch()


def _main(argv: Sequence[str] | None) -> int:
    saved_columns = os.environ.get("COLUMNS")
    try:
        return _main_width(argv)
    finally:  # main() also runs in-process: the width exported for this run is put back
        if saved_columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved_columns


# build_parser(), once a process.  main() also runs in-process, many times in one interpreter (the
# edge corpus test's child makes ~2,400 calls): building the twenty commands' parsers again for each
# was 60% of a one-line `classify` (cProfile of a loop of main([...]) calls: 0.19 s of 0.30 s a call).
# Reusing it is correct because nothing of a run is in the parser: argparse makes a fresh Namespace
# for each parse_args(); the help formatter reads the width when it formats (termwidth.HelpFormatter
# calls resolve()), not when the parser is built; no add_arguments() reads the environment or the
# terminal.  The one thing a run could change is a mutable default an "append" option hands over
# uncopied (argparse sets the default list itself on the Namespace when the option is not given):
# _own_defaults() gives each run its own copies.
_PARSER: tuple[argparse.ArgumentParser, dict[str, ModuleType]] | None = None
_PARSER_LOCK = threading.Lock()


def _parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    global _PARSER
    with _PARSER_LOCK:
        if _PARSER is None:
            _PARSER = build_parser(lazy=True)
        return _PARSER


def _own_defaults(args: argparse.Namespace) -> None:
    """Copy the Namespace's mutable values (the shared parser's defaults when an option was not
    given), so a command that appends to one cannot change the next run's default."""
    for name, value in vars(args).items():
        if isinstance(value, (list, dict, set)):
            setattr(args, name, type(value)(value))


def _main_width(argv: Sequence[str] | None) -> int:
    parser, modules = _parser()
    # --help is printed while parsing: the width (--width N, else COLUMNS, the terminal's, 80)
    # is decided and exported before it, so help wraps like every other text output
    os.environ["COLUMNS"] = str(resolve(argv_width(list(sys.argv[1:] if argv is None else argv))))
    try:
        args = parser.parse_args(argv)
        _own_defaults(args)
    except Why502Error as err:
        # a value an option's type refused (timeargs.SecondsArg): one line, like run()'s errors
        print(f"why502: {strip_terminal_escapes(str(err))}", file=sys.stderr)
        return err.exit_code
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    # the width of every text output of this run, decided once (cli.termwidth) and exported so
    # rich, shutil and argparse read the same
    os.environ["COLUMNS"] = str(resolve(getattr(args, "width", None)))
    try:
        ensure_threads(args.command)
        from why502.sources.once import run_inputs  # stdlib only: each input parsed once a run

        with run_inputs():
            return _run(modules[args.command], args)
    except Why502Error as err:
        # the message may quote a path or a value from an input (a glob, a config's error_log):
        # made inert like any log text before it reaches the terminal
        print(f"why502: {strip_terminal_escapes(str(err))}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("why502: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("why502: terminated", file=sys.stderr)
        return Terminated.exit_code
    except BrokenPipeError:
        # `why502 classify big.log | head`: the reader went away; that is not an error.
        _silence_stdout()
        return 0
    except SystemExit as exc:
        # rich's Console.on_broken_pipe() answers the same EPIPE with SystemExit(1) (stdout
        # already pointed at /dev/null): the same exit as a plain write, not "findings".
        if isinstance(exc.__context__, BrokenPipeError):
            return 0
        raise
    except MemoryError:
        # Python could not allocate (a memory limit, a full machine): not a bug, and not the
        # input's fault either; say what to do.  (An allocation that fails inside polars is
        # Rust's: it prints "memory allocation of N bytes failed" and aborts the process.)
        return _out_of_memory()
    except Exception as err:
        if _machine_refused(err):
            return _out_of_memory()
        return _internal_error(err)
    except BaseException as err:
        # a Rust panic inside polars reaches Python as pyo3's PanicException, a BaseException
        # (so that `except Exception` does not swallow it): an internal error like any other,
        # one line, not a traceback and exit 1 ("findings")
        if type(err).__name__ != "PanicException":
            raise
        return _internal_error(err)


def _run(module: ModuleType, args: argparse.Namespace) -> int:
    """Run one command; ``-o FILE`` of a command that defines ``output_inputs(args)`` (the files
    it reads, which ``-o`` must never replace) takes its standard output (``cli.output.result_to``:
    atomic, refused over an input).  Commands without it (diagnose, render, lab run) write their
    own ``-o`` as they choose the format from its suffix."""
    output = getattr(args, "output", None)
    inputs = getattr(module, "output_inputs", None)
    if output and output != "-" and inputs is not None:
        from why502.cli.output import result_to

        with result_to(output, inputs(args)):
            code: int = module.run(args)
        return code
    code = module.run(args)
    return code


def _out_of_memory() -> int:
    print("why502: out of memory (a memory limit, or the machine is full): give it more memory, "
          "or less to read at once", file=sys.stderr)
    return EXIT_INPUT


def _machine_refused(err: BaseException) -> bool:
    """True when the kernel refused a resource rather than the code being wrong: a system call
    that failed with ``ENOMEM`` (under ``RLIMIT_DATA`` even ``os.scandir`` of the catalog's
    folder can: its buffer is a ``malloc``; CI saw ``OSError: [Errno 12] Cannot allocate
    memory`` there, reported as an internal error), or a thread that could not start
    (``RuntimeError("can't start new thread")``, CPython's ``_thread.start_new_thread`` when
    ``pthread_create`` fails, which it does when the stack cannot be mapped).  Both are the
    memory limit said as such, exit 3 -- like ``MemoryError``.  So is a ``SystemError`` "error
    return without exception set" -- a C function that returned NULL and set no error, the mark
    of an allocation it did not check -- when the process is at its memory limit (less than
    ``AT_THE_LIMIT`` left, ``configread.memory_headroom``): CI saw one under a 100 MB
    ``RLIMIT_DATA`` (``tests/stats/test_resource_limits.py``, stop 51); away from a limit it is
    a bug, an internal error."""
    import errno

    if isinstance(err, OSError) and err.errno == errno.ENOMEM:
        return True
    if isinstance(err, SystemError) and "without exception set" in str(err):
        from why502.parsers.configread import memory_headroom

        room = memory_headroom()
        return room is not None and room < AT_THE_LIMIT
    return isinstance(err, RuntimeError) and "can't start new thread" in str(err)


#: what a process has left when an unexplained failure is read as its memory limit
AT_THE_LIMIT = 64 << 20


def _internal_error(err: BaseException) -> int:
    if os.environ.get("WHY502_DEBUG"):
        raise err
    message = " ".join(str(err).split())[:300]  # a panic's message can run over many lines
    print(f"why502: internal error: {type(err).__name__}: {message} "
          "(set WHY502_DEBUG=1 for the traceback)", file=sys.stderr)
    return EXIT_INTERNAL


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
