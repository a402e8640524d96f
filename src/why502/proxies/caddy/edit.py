"""Fixes to a Caddyfile as unified diffs against the real file (``findings.patch``).

One edit covers the fixes diagnose and lint propose: set a subdirective of one
``reverse_proxy`` (``lb_try_duration 5s``, ``fail_duration 30s``) or of its ``transport http``
block (``response_header_timeout 60s``, ``dial_timeout 5s``): on its line when it is set, else
as a new line of the block, which is opened when the directive has none
(https://caddyserver.com/docs/caddyfile/directives/reverse_proxy#syntax).

``RENDERERS`` (``Hooks.edits``): ``CloseIdleBefore``, the keep-alive race's fix on the proxy's
side, is ``keepalive`` in the ``transport http`` block (the idle time of a kept upstream
connection, 2m by default: reverseproxy/httptransport.go ``NewTransport``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from why502.facts.edits import CloseIdleBefore
from why502.findings.patch import unified
from why502.proxies.caddy.caddyfile import PROXY_DIRECTIVES, Directive, parse, walk
from why502.proxies.caddy.config import TRANSPORT_SETTINGS


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _unit(lines: Sequence[str], d: Directive) -> str:
    """One level of indentation as the file writes it (a tab, or the spaces it uses)."""
    ind = _indent(lines[d.line - 1])
    for c in d.children:
        inner = _indent(lines[c.line - 1])
        if len(inner) > len(ind):
            return inner[len(ind):]
    return "\t" if "\t" in ind or not ind else "    "


def set_subdirective(files: Mapping[str, Sequence[str]], file: str | None, line: int | None,
                     name: str, value: str) -> str | None:
    """Diff setting ``name value`` in the ``reverse_proxy`` at ``file:line`` (in its
    ``transport http`` block for a transport setting); None when the line is not a
    ``reverse_proxy`` of the file."""
    lines = list(files.get(file or "") or ())
    if not lines or line is None or file is None:
        return None
    target = next((d for d in walk(parse("\n".join(lines) + "\n"))
                   if d.line == line and d.name in PROXY_DIRECTIVES), None)
    if target is None:
        return None
    new = list(lines)
    ind, unit = _indent(lines[target.line - 1]), _unit(lines, target)
    transport = name in TRANSPORT_SETTINGS
    block = target
    if transport:
        block = next((c for c in target.children if c.name == "transport"), None)  # type: ignore[assignment]
        if block is not None and block.args[:1] not in (("http",), ()):
            return None  # a fastcgi transport has no such timeout of this name
    if block is not None:
        own = next((c for c in block.children if c.name == name), None)
        if own is not None:
            text = lines[own.line - 1]
            new[own.line - 1] = f"{_indent(text)}{name} {value}"
            return unified(file, lines, new)
    if block is target and target.opens_block and target.end_line:
        new.insert(target.end_line - 1, f"{ind}{unit}{name} {value}")
        return unified(file, lines, new)
    if block is not None and block.opens_block and block.end_line:  # transport http { ... }
        new.insert(block.end_line - 1, f"{_indent(lines[block.line - 1])}{unit}{name} {value}")
        return unified(file, lines, new)
    body = ([f"{ind}{unit}transport http {{", f"{ind}{unit}{unit}{name} {value}", f"{ind}{unit}}}"]
            if transport else [f"{ind}{unit}{name} {value}"])
    if target.opens_block and target.end_line:
        new[target.end_line - 1:target.end_line - 1] = body
    else:  # ``reverse_proxy 127.0.0.1:9000`` on one line: open its block
        head = lines[target.line - 1].rstrip()
        new[target.line - 1:target.line] = [f"{head} {{", *body, f"{ind}}}"]
    return unified(file, lines, new)


def _close_idle(files: Mapping[str, Sequence[str]], i: CloseIdleBefore) -> str | None:
    """``keepalive`` of the ``reverse_proxy`` that passes to the backend, below the backend's idle
    timeout: half of it when it is 2 s or less (gunicorn's ``--keep-alive`` default), else 1s,
    below Node.js's and uvicorn's 5 s (Caddy takes Go durations: ``500ms``)."""
    idle = i.backend_idle_s
    value = f"{int(idle * 500)}ms" if idle is not None and idle <= 2 else "1s"
    place = i.members[0].place if i.members else i.place
    return set_subdirective(files, place.file, place.line, "keepalive", value)


RENDERERS: dict[type, Any] = {CloseIdleBefore: _close_idle}
