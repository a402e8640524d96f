"""`why502 mcp`: serve diagnose, classify, explain, stats and lint to AI agents over MCP (stdio).

Only the standard library is imported here at module level (``why502 --help`` stays fast); the
server and the SDK are imported when the command runs (``cli.mcp_server``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from why502.cli.proxyargs import in_words
from why502.errors import EXIT_HEALTHY, UsageError
from why502.timeargs import SecondsArg

DESCRIPTION = in_words("""\
Serve why502's read-only commands (diagnose, classify, explain, stats, lint) as Model Context
Protocol tools on stdin/stdout, for an AI agent or an IDE. Each call runs the command itself and
returns its JSON; nothing is written (no fix), diagnose runs offline, and every path an agent names
must be under a --root you give.

examples (an MCP client's server entry):
  why502 mcp --root {own_logs} --root {own_dir}
  {{"command": "why502", "args": ["mcp", "--root", "{own_logs}", "--root", "{own_dir}"]}}
""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", action="append", default=[], metavar="DIR",
                        help="a directory whose files agents may read (repeatable; none: only "
                             "explain works)")
    parser.add_argument("--timeout", type=SecondsArg("--timeout"), default="120s", metavar="DURATION",
                        help=f"longest a tool call may run ({SecondsArg.HELP}; default 120s)")
    parser.add_argument("--max-output", type=int, default=4 << 20, metavar="BYTES",
                        help="largest answer a tool call may return (default 4 MiB)")


def run(args: argparse.Namespace) -> int:
    from why502.cli.mcp_server import Limits, serve
    roots = []
    for raw in args.root:
        real = Path(os.path.realpath(raw))
        if not real.is_dir():
            raise UsageError(f"--root {raw}: not a directory")
        roots.append(real)
    if args.max_output < 1024:
        raise UsageError("--max-output must be at least 1024 bytes")
    serve(Limits(roots=tuple(roots), timeout=args.timeout, max_output=args.max_output))
    return EXIT_HEALTHY
