"""Fixes to a ``haproxy.cfg`` as unified diffs against the real file (``findings.patch``).

Two edits cover the fixes diagnose and lint propose: set a section keyword (``timeout server
30s``, ``timeout queue 10s``, ``option redispatch``) where it is set now, or add it to the
section; and set a parameter of one ``server`` line (``maxconn 20``, ``check``).  HAProxy reads
the last value of a keyword in a section (configuration.txt 4: a setting in a proxy section
overrides the ``defaults``), so replacing the line that is in effect is the smallest change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from why502.facts.edits import KeepIdleConnections, RaiseConnectionLimit, RaiseServerConnections
from why502.facts.setting import Setting
from why502.findings.patch import Edit, edits_diff, insert_after, replace_line
from why502.proxies.haproxy.config import SECTION_KEYWORDS, split_words


def set_keyword(files: Mapping[str, Sequence[str]], keyword: str, value: str, *,
                setting: Setting | None, section_file: str | None,
                section_line: int | None) -> str | None:
    """Diff setting ``keyword value``: on the line now in effect (when it is set in the section
    itself or its defaults), else as a new line of the section at ``section_line``."""
    new = f"{keyword} {value}".strip()
    if setting is not None and not setting.is_default and setting.file and setting.line:
        return replace_line(files, setting.file, setting.line, [new])
    lines = files.get(section_file or "")
    if not lines or section_line is None or section_line >= len(lines):
        return None
    # after the section's first line that is indented like its body (the header has no indent)
    body = section_line + 1
    if split_words(lines[body - 1]) and lines[body - 1][:1] in (" ", "\t"):
        return insert_after(files, section_file, body, [new])
    return insert_after(files, section_file, section_line, ["    " + new])


def set_server_param(files: Mapping[str, Sequence[str]], file: str | None, line: int | None,
                     param: str, value: str | None) -> str | None:
    """Diff of one ``server`` line with ``param value`` set (or the flag ``param`` added)."""
    lines = files.get(file or "")
    if not lines or line is None or not 1 <= line <= len(lines):
        return None
    text = lines[line - 1]
    code, hash_, comment = text.partition("#")
    words = code.split()
    if param in words:
        if value is None:
            return None
        i = words.index(param)
        if i + 1 < len(words):
            words[i + 1] = value
        else:
            words.append(value)
    else:
        words += [param] if value is None else [param, value]
    new = " ".join(words) + (f" {hash_}{comment}" if hash_ else "")
    return replace_line(files, file, line, [new])


# ---- intents (``facts.edits``) written in HAProxy's grammar: what ``Hooks.edits`` renders ----

#: what turns server-side connection reuse off in a section, and what HAProxy 2.x does without
#: it: ``http-reuse safe`` is the default (configuration.txt 4.2 "http-reuse": "By default, a
#: connection established between HAProxy and the backend server which is considered safe for
#: reuse is moved back to the server's idle connections pool"), as is the keep-alive mode
#: (4 "HTTP connection modes": "option http-keep-alive ... the default mode")
_NO_REUSE = {("http-reuse", "never"): "http-reuse safe",
             ("option", "httpclose"): "option http-keep-alive",
             ("option", "http-server-close"): "option http-keep-alive"}


def _section_lines(lines: Sequence[str], header: int) -> range:
    """The 1-based lines of the section whose header is at ``header``: up to the next line that
    starts a section (configuration.txt 2.1: a section keyword at the start of a line)."""
    end = header
    while end < len(lines):
        words = split_words(lines[end])
        if words and words[0] in SECTION_KEYWORDS and lines[end][:1] not in (" ", "\t"):
            break
        end += 1
    return range(header + 1, end + 1)


def _keep_idle(files: Mapping[str, Sequence[str]], i: KeepIdleConnections) -> str | None:
    """Turn server-side reuse back on where the backend's section turns it off (``http-reuse
    never``, ``option httpclose``, ``option http-server-close``); None when nothing there turns it
    off: HAProxy already keeps idle server connections and the finding's words say the rest."""
    lines = files.get(i.place.file or "")
    if not lines or i.place.line is None or not 1 <= i.place.line <= len(lines):
        return None
    edits: list[Edit] = []
    for n in _section_lines(lines, i.place.line):
        words = split_words(lines[n - 1])
        new = _NO_REUSE.get((words[0], words[1])) if len(words) >= 2 else None
        if new is not None:
            indent = lines[n - 1][:len(lines[n - 1]) - len(lines[n - 1].lstrip())]
            edits.append((n - 1, n, [indent + new]))
    return edits_diff(i.place.file or "", lines, edits) if edits else None


def _server_connections(files: Mapping[str, Sequence[str]], i: RaiseServerConnections) -> str | None:
    """``maxconn N`` on the ``server`` line: the requests HAProxy sends the server at once, the
    rest wait in the queue (configuration.txt 5.2 "maxconn")."""
    return set_server_param(files, i.server.place.file, i.server.place.line, "maxconn", str(i.value))


def _connections(files: Mapping[str, Sequence[str]], i: RaiseConnectionLimit) -> str | None:
    """The ``maxconn`` line in effect (``global``: configuration.txt 3.2 "maxconn": the maximum
    per-process number of concurrent connections)."""
    return set_keyword(files, "maxconn", str(i.value), setting=i.setting, section_file=None,
                       section_line=None)


#: the intents HAProxy's grammar writes (``facts.edits``); the others are said in words
RENDERERS: dict[type, Callable[[Mapping[str, Sequence[str]], Any], str | None]] = {
    KeepIdleConnections: _keep_idle, RaiseServerConnections: _server_connections,
    RaiseConnectionLimit: _connections,
}
