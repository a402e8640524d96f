"""Fixes to an Apache config as unified diffs against the real file (``findings.patch``).

A proxied request's timeout is the worker's ``timeout=`` when set, else ``ProxyTimeout``, else
``Timeout`` (mod_proxy.html: ProxyTimeout "defaults to Timeout"; worker parameter ``timeout``:
"defaults to ProxyTimeout").  The smallest fix changes the one in effect: the ``timeout=`` on
the ProxyPass line, the ``ProxyTimeout`` line, or -- when only ``Timeout`` (or its default)
applies -- a ``ProxyTimeout`` line next to the ProxyPass, so client timeouts stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from why502.facts.edits import (
    CloseIdleBefore,
    KeepIdleConnections,
    Place,
    RaiseServerConnections,
    SpeakProtocol,
)
from why502.facts.setting import Setting
from why502.findings.patch import combine, edits_diff, insert_after, replace_line


def apache_timeout_diff(files: Mapping[str, Sequence[str]], setting: Setting | None,
                        pass_file: str | None, pass_line: int | None, seconds: int) -> str | None:
    lines = files.get((setting.file if setting else None) or "")
    if setting is not None and not setting.is_default and lines and setting.line:
        text = lines[setting.line - 1]
        if re.search(r"\btimeout=\S+", text, re.IGNORECASE):
            new = re.sub(r"\b(timeout=)\S+", rf"\g<1>{seconds}", text, flags=re.IGNORECASE)
            return replace_line(files, setting.file, setting.line, [new.strip()])
        if text.strip().lower().startswith("proxytimeout"):
            return replace_line(files, setting.file, setting.line, [f"ProxyTimeout {seconds}"])
    return insert_after(files, pass_file, pass_line, [f"ProxyTimeout {seconds}"])


# ---- intents (``facts.edits``) written in Apache's grammar: what ``Hooks.edits`` renders ----
#
# The pool of a backend is the worker of its ``ProxyPass`` or ``BalancerMember`` line, and its
# parameters are ``key=value`` words of that line, in any order after the URL (mod_proxy.html,
# ProxyPass "BalancerMember and ProxyPass parameters"; ``add_pass``, modules/proxy/mod_proxy.c,
# reads every word after the URL as a flag or a key=value).  A backend reached through
# ``SetHandler "proxy:..."`` has no such line: no diff, the finding says the change in words.

_WORKER_LINE = re.compile(r"^\s*(ProxyPass|ProxyPassMatch|BalancerMember)\s", re.IGNORECASE)


def _worker_param(files: Mapping[str, Sequence[str]], place: Place, key: str, value: str
                  ) -> tuple[int, str] | None:
    """The worker line at ``place`` with ``key=value`` set (replaced when the line has the key,
    else added at its end, before a trailing comment): (0-based index, new line), or None when
    ``place`` is no ProxyPass/BalancerMember line or already says so."""
    lines = files.get(place.file or "")
    if not lines or place.line is None or not 1 <= place.line <= len(lines):
        return None
    text = lines[place.line - 1]
    if not _WORKER_LINE.match(text) or text.rstrip().endswith("\\"):
        return None  # a continued line: its parameters may be on the next one
    rx = re.compile(rf"(?<!\S){key}=\S+", re.IGNORECASE)
    new = rx.sub(f"{key}={value}", text, count=1) if rx.search(text) else text.rstrip() + f" {key}={value}"
    return (place.line - 1, new) if new != text else None


def _on_workers(files: Mapping[str, Sequence[str]], places: Sequence[Place],
                change: Callable[[str, Place], tuple[str, str] | None]) -> str | None:
    """One diff setting, on each worker line of ``places``, the parameter ``change`` says."""
    by_file: dict[str, dict[int, str]] = {}
    for place in places:
        kv = change(place.file or "", place)
        done = _worker_param(files, place, *kv) if kv else None
        if done is not None:
            by_file.setdefault(place.file or "", {})[done[0]] = done[1]
    diffs = [edits_diff(path, files[path], [(i, i + 1, [new]) for i, new in sorted(edits.items())])
             for path, edits in by_file.items()]
    return combine(diffs)


def _line(files: Mapping[str, Sequence[str]], place: Place) -> str:
    lines = files.get(place.file or "", ())
    return lines[place.line - 1] if place.line and 1 <= place.line <= len(lines) else ""


def _keep_idle(files: Mapping[str, Sequence[str]], i: KeepIdleConnections) -> str | None:
    """Reuse the members' connections: ``disablereuse=On`` turned off where it is set, and
    ``enablereuse=on`` on a FastCGI worker, whose scheme handler does not reuse them unless told
    (mod_proxy.html ``enablereuse``: "provided as a convenience for scheme handlers that require
    opt-in for connection reuse (such as mod_proxy_fcgi)"; mod_proxy_fcgi.html, "Enable
    connection reuse to a FCGI backend").  HTTP workers reuse their connections by default."""
    kinds = {r.place: r.kind for r in i.members}

    def change(_path: str, place: Place) -> tuple[str, str] | None:
        text = _line(files, place)
        if re.search(r"(?<!\S)disablereuse=on\b", text, re.IGNORECASE):
            return "disablereuse", "Off"
        if kinds.get(place) == "fastcgi" and not re.search(r"(?<!\S)enablereuse=on\b", text, re.IGNORECASE):
            return "enablereuse", "on"
        return None

    return _on_workers(files, [r.place for r in i.members], change)


def _close_idle(files: Mapping[str, Sequence[str]], i: CloseIdleBefore) -> str | None:
    """``ttl=N`` on the members: "Time to live for inactive connections and associated connection
    pool entries, in seconds. Once reaching this limit, a connection will not be used again"
    (mod_proxy.html, worker parameter ``ttl``).  Whole seconds: one below the backend's idle
    timeout, at least 1."""
    ttl = str(max(1, int(i.backend_idle_s or 2) - 1))
    return _on_workers(files, [r.place for r in i.members], lambda _p, _pl: ("ttl", ttl))


def _server_connections(files: Mapping[str, Sequence[str]], i: RaiseServerConnections) -> str | None:
    """``max=N``: "Maximum number of connections that will be allowed to the backend server"
    (mod_proxy.html, worker parameter ``max``; per child process)."""
    return _on_workers(files, [i.server.place], lambda _p, _pl: ("max", str(i.value)))


#: the URL scheme of a worker that speaks each protocol (mod_proxy_http: ``http://``,
#: ``https://`` with ``SSLProxyEngine``; mod_proxy_fcgi: ``fcgi://``)
_SCHEMES = {"http": "http://", "tls": "https://", "fastcgi": "fcgi://"}


def _protocol(files: Mapping[str, Sequence[str]], i: SpeakProtocol) -> str | None:
    """The worker line's URL in the scheme of what the backend answered (the first of
    ``http://``, ``https://``, ``fcgi://`` on the line replaced); nothing on a line that is not
    a ProxyPass/ProxyPassMatch/BalancerMember one."""
    text = _line(files, i.target)
    want = _SCHEMES.get(i.protocol)
    if want is None or not _WORKER_LINE.match(text):
        return None
    m = re.search(r"\b(https?|fcgi)://", text, re.IGNORECASE)
    if m is None or m.group(0).lower() == want:
        return None
    new = text[:m.start()] + want + text[m.end():]
    return replace_line(files, i.target.file, i.target.line, [new])


#: the intents Apache's grammar writes (``facts.edits``); the others are said in words
RENDERERS: dict[type, Callable[[Mapping[str, Sequence[str]], Any], str | None]] = {
    KeepIdleConnections: _keep_idle, CloseIdleBefore: _close_idle,
    RaiseServerConnections: _server_connections, SpeakProtocol: _protocol,
}
