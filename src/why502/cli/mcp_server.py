"""``why502 mcp``: the read-only commands as Model Context Protocol tools, over stdio.

An agent (an AI SRE assistant, an IDE) asks the same questions a person types: ``diagnose``,
``classify``, ``explain``, ``stats`` and ``lint``.  Each tool call runs the installed command
itself (``python -m why502 CMD ... --format json``) in a child process, so

* the answer is the command's JSON byte for byte (an agent and a person see the same result);
* a call is bounded: a wall-clock timeout, a cap on the bytes it may return, and the command's own
  input bounds (config size, line length) -- a runaway call is killed, the server stays up;
* nothing is written: ``fix`` is not a tool, no ``-o`` is ever passed, and ``diagnose`` runs
  ``--offline`` (no probes, no /proc, no journal) and ``lint`` ``--no-host``;
* every path an agent names must resolve (symlinks followed) under one of the ``--root``
  directories the user started the server with; anything else is refused before a process runs.

The protocol is served by the ``mcp`` SDK's low-level server (https://modelcontextprotocol.io/,
"Tools": ``tools/list`` returns each tool's ``inputSchema`` and, where the result type has one,
its ``outputSchema``; ``tools/call`` returns ``structuredContent`` and the same JSON as text).
The output schemas are the result types' own (``schemas/report.schema.json`` for diagnose,
``schemas/classify.schema.json`` for classify).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from why502 import proxies
from why502.errors import InputError
from why502.textutil import dump_json

__all__ = ["Limits", "ToolError", "build_argv", "call_tool", "serve", "tool_specs"]

PATH_ITEMS = {"type": "array", "items": {"type": "string"}, "maxItems": 32}
SINCE = {"type": "string", "maxLength": 40,
         "description": "only lines since this time: 30m, 2h, 1d or an ISO 8601 time"}
PROXY = {"enum": list(proxies.names()), "description": "the config's proxy (default: detected)"}


class ToolError(Exception):
    """A call the server refuses or a command that failed: the one line the agent sees."""


@dataclass(frozen=True)
class Limits:
    """What the user allowed at start: the roots paths must be under, the time and bytes a call
    may take."""

    roots: tuple[Path, ...]
    timeout: float = 120.0
    max_output: int = 4 << 20


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: str | None  # a file of why502/schemas, or None
    argv: Callable[[dict[str, Any], Limits], list[str]]


def _paths(args: dict[str, Any], key: str, limits: Limits) -> list[str]:
    value = args.get(key)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [_allowed(str(v), limits, key) for v in items]


def _allowed(raw: str, limits: Limits, key: str) -> str:
    """``raw`` resolved, if it lies under a root; else ``ToolError``.  Resolving first means a
    symlink or ``..`` cannot lead outside; ``-`` (stdin) is refused: the server's stdin is the
    protocol."""
    if not limits.roots:
        raise ToolError(f"{key}: this server reads no files (start it with --root DIR)")
    if not raw or raw == "-" or "\x00" in raw:
        raise ToolError(f"{key}: a file path is expected")
    real = Path(os.path.realpath(raw))
    if not any(real == root or root in real.parents for root in limits.roots):
        raise ToolError(f"{key}: {raw} is not under an allowed root "
                        f"({', '.join(str(r) for r in limits.roots)})")
    return str(real)


def _flags(flag: str, values: Sequence[str]) -> list[str]:
    return [part for v in values for part in (flag, v)]


def _since(args: dict[str, Any]) -> list[str]:
    since = args.get("since")
    return ["--since", str(since)] if since else []


def _diagnose_argv(args: dict[str, Any], limits: Limits) -> list[str]:
    config = _paths(args, "config", limits)
    logs = {k: _paths(args, k, limits) for k in ("error_logs", "access_logs", "fpm_logs", "app_logs")}
    if not config and not any(logs.values()):
        raise ToolError("diagnose needs a config or a log (config, error_logs, access_logs, ...)")
    argv = ["diagnose", "--offline", "--format", "json"]
    argv += _flags("--config", config)
    if args.get("proxy"):
        argv += ["--proxy", str(args["proxy"])]
    argv += _flags("--error-log", logs["error_logs"]) + _flags("--access-log", logs["access_logs"])
    argv += _flags("--fpm-log", logs["fpm_logs"]) + _flags("--app-log", logs["app_logs"])
    argv += _flags("--fpm-conf", _paths(args, "fpm_conf", limits))
    return argv + _since(args)


def _classify_argv(args: dict[str, Any], limits: Limits) -> list[str]:
    files = _paths(args, "files", limits)
    if not files:
        raise ToolError("classify needs files")
    return ["classify", *files, "--format", "json", "--no-progress", *_since(args)]


def _explain_argv(args: dict[str, Any], _limits: Limits) -> list[str]:
    query = args.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ToolError("explain needs a query: a cause/symptom ID, a status code or a log line")
    return ["explain", "--format", "json", "--", query]


def _stats_argv(args: dict[str, Any], limits: Limits) -> list[str]:
    files = _paths(args, "files", limits)
    if not files:
        raise ToolError("stats needs access-log files")
    errors = _paths(args, "error_logs", limits)
    argv = ["stats", *files, "--format", "json", "--no-progress", *_since(args)]
    argv += _flags("--config", _paths(args, "config", limits))
    return argv + (_flags("--error-log", errors) if errors else ["--no-error-log"])


def _lint_argv(args: dict[str, Any], limits: Limits) -> list[str]:
    config = _paths(args, "config", limits)
    if not config:
        raise ToolError("lint needs a config")
    argv = ["lint", "--config", config[0], "--format", "json", "--no-host", "--fail-on", "never"]
    if args.get("proxy"):
        argv += ["--proxy", str(args["proxy"])]
    return argv + _flags("--fpm-conf", _paths(args, "fpm_conf", limits))


def _schema(properties: dict[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


def tool_specs() -> list[ToolSpec]:
    """The tools, their input schemas and which result schema each answers with; the proxies
    each reads are the registry's (``why502.proxies.PROXIES``: every proxy's lint rules, its
    log lines classified), named by their titles."""
    path = {"type": "string", "maxLength": 4096}
    titles = ", ".join(p.vocabulary.title for p in proxies.PROXIES.values())
    return [
        ToolSpec("diagnose", "Find the root cause of a proxy's 502/503/504 from its config and logs "
                 "(offline: no probes). Returns why502's diagnose report: findings ranked most likely "
                 "first, each with its evidence and fix.",
                 _schema({"config": path, "proxy": PROXY, "error_logs": PATH_ITEMS,
                          "access_logs": PATH_ITEMS, "fpm_logs": PATH_ITEMS, "app_logs": PATH_ITEMS,
                          "fpm_conf": path, "since": SINCE}),
                 "report.schema.json", _diagnose_argv),
        ToolSpec("classify", f"Recognise upstream failures in log files of any format ({titles}, "
                 "PHP-FPM, app servers, kernel; docker/CRI/syslog framings). Returns counts "
                 "per symptom and per upstream.",
                 _schema({"files": PATH_ITEMS, "since": SINCE}, ["files"]),
                 "classify.schema.json", _classify_argv),
        ToolSpec("explain", "Explain a root cause or symptom ID, a status code (502, 504, 522, ...), a "
                 "lint rule or a pasted log line: what it means, how to confirm, how to fix.",
                 _schema({"query": {"type": "string", "maxLength": 65536}}, ["query"]),
                 None, _explain_argv),
        ToolSpec("stats", "Access-log analytics: the 5xx timeline and per-upstream truth (statuses, "
                 "times), joined with the error log when given.",
                 _schema({"files": PATH_ITEMS, "config": path, "error_logs": PATH_ITEMS,
                          "since": SINCE}, ["files"]),
                 None, _stats_argv),
        ToolSpec("lint", f"Find 502/504 pitfalls in a proxy config ({titles}) before they "
                 "bite, each with the rule, the place and the fix.",
                 _schema({"config": path, "proxy": PROXY, "fpm_conf": path}, ["config"]),
                 None, _lint_argv),
    ]


def build_argv(name: str, args: dict[str, Any], limits: Limits) -> list[str]:
    """The command line of one call (``ToolError`` when refused)."""
    spec = next((s for s in tool_specs() if s.name == name), None)
    if spec is None:
        raise ToolError(f"no tool {name!r} (tools: diagnose, classify, explain, stats, lint)")
    return spec.argv(args, limits)


def call_tool(name: str, args: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """Run one call to the end and return the command's JSON object.

    Exit 0 and 1 are answers (1 = findings); 2, 3 and 4 are the command's own one-line error,
    passed on as a ``ToolError``.  Output past ``max_output`` bytes or a run past ``timeout``
    kills the child."""
    argv = [sys.executable, "-m", "why502", *build_argv(name, args, limits)]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        out, err = _bounded(proc, limits)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode not in (0, 1):
        last = (err.decode("utf-8", "replace").strip().splitlines() or ["(no message)"])[-1]
        raise ToolError(f"why502 {name}: {last}")
    try:
        result = json.loads(out)
    except ValueError:
        raise ToolError(f"why502 {name}: the command wrote no JSON") from None
    if not isinstance(result, dict):
        raise ToolError(f"why502 {name}: the command wrote no JSON object")
    return result


def _bounded(proc: subprocess.Popen[bytes], limits: Limits) -> tuple[bytes, bytes]:
    """stdout and stderr of ``proc``, read together (no pipe can fill and stall the child),
    stopping it when either bound is passed."""
    import selectors
    import time

    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + limits.timeout
    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    size = 0
    with selectors.DefaultSelector() as sel:
        for stream in (proc.stdout, proc.stderr):
            sel.register(stream, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise ToolError(f"the call took longer than {limits.timeout:g} s and was stopped")
            for key, _ in sel.select(timeout=min(left, 1.0)):
                data = os.read(key.fd, 1 << 16)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                chunks[key.fd].append(data)
                if key.fd == proc.stdout.fileno():
                    size += len(data)
                    if size > limits.max_output:
                        raise ToolError(f"the answer is larger than {limits.max_output:,} bytes: "
                                        "narrow it (fewer files, since)")
    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    return b"".join(chunks[proc.stdout.fileno()]), b"".join(chunks[proc.stderr.fileno()])


def _output_schema(name: str | None) -> dict[str, Any] | None:
    if name is None:
        return None
    schema = json.loads(resources.files("why502").joinpath("schemas", name).read_text("utf-8"))
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}


def serve(limits: Limits) -> None:
    """Serve the tools over stdio until the client closes the stream."""
    try:
        import anyio
        import mcp_types as types
        from mcp.server.lowlevel import Server
        from mcp.server.stdio import stdio_server
    except ImportError:
        raise InputError("why502 mcp needs the MCP SDK: pip install 'why502[mcp]'") from None
    from why502 import __version__

    specs = tool_specs()
    tools = [types.Tool(name=s.name, description=s.description, input_schema=s.input_schema,
                        output_schema=_output_schema(s.output_schema),
                        annotations=types.ToolAnnotations(read_only_hint=True, destructive_hint=False,
                                                          idempotent_hint=True,
                                                          open_world_hint=False))
             for s in specs]

    async def list_tools(_ctx: Any, _params: Any) -> Any:
        return types.ListToolsResult(tools=tools)

    async def call(_ctx: Any, params: Any) -> Any:
        args = dict(params.arguments or {})
        try:
            result = await anyio.to_thread.run_sync(call_tool, params.name, args, limits)
        except ToolError as err:
            return types.CallToolResult(content=[types.TextContent(type="text", text=str(err))],
                                        is_error=True)
        text = dump_json(result, indent=None)  # strict JSON, inert text (textutil)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                    structured_content=result)

    server: Any = Server("why502", version=__version__,
                         instructions="Read-only 502/503/504 diagnosis. Paths must be under the "
                                      "roots the user allowed: "
                                      + (", ".join(str(r) for r in limits.roots) or "none"),
                         on_list_tools=list_tools, on_call_tool=call)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)
