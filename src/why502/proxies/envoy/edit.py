"""Fixes to an Envoy bootstrap (YAML or JSON) as unified diffs against the real file.

Two edits cover what lint and diagnose propose: replace a scalar value where it is set (the
value's own span on its line, so a JSON line keeps its comma), and add a key to a mapping, on a
line of its own before one of the mapping's other keys (so it lands inside the mapping whatever
the value of the key before it spans; a mapping written on one line gets no diff).  Nested
values (``common_http_protocol_options: {idle_timeout: 4s}``) are written as block YAML, or as
one JSON member.

``RENDERERS`` (``Hooks.edits``): ``CloseIdleBefore``, the keep-alive race's fix on the proxy's
side, is the cluster's upstream ``common_http_protocol_options.idle_timeout`` (1 h when unset:
api/envoy/config/core/v3/protocol.proto ``HttpProtocolOptions.idle_timeout``), written where lint's
W502 keep-alive rule writes it (:func:`idle_timeout_diff`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from why502.errors import InputError
from why502.facts.edits import CloseIdleBefore
from why502.findings.patch import window_diff
from why502.proxies.envoy.config import HTTP_OPTIONS, Cluster, EnvoyConfig, Map, parse_envoy_text

# the protocol options a cluster may still set on its own (the deprecated v3 fields): the idle
# timeout then goes next to them, not into typed_extension_protocol_options (cluster.proto)
_DEPRECATED_PROTOCOL = ("http_protocol_options", "http2_protocol_options", "common_http_protocol_options")


def _yaml_lines(key: str, value: object, pad: str) -> list[str]:
    if isinstance(value, dict) and not value:
        return [f"{pad}{key}: {{}}"]
    if isinstance(value, dict):
        out = [f"{pad}{key}:"]
        for k, v in value.items():
            out += _yaml_lines(k, v, pad + "  ")
        return out
    text = str(value)
    if key.startswith("@") or text.startswith(("@", "{", "[", "*", "&")) or ": " in text:
        return [f"{pad}{json.dumps(key) if key.startswith('@') else key}: {json.dumps(text)}"]
    return [f"{pad}{key}: {text}"]


def add_key(files: Mapping[str, Sequence[str]], path: str | None, mapping: Map | None, key: str,
            value: object, *, as_json: bool) -> str | None:
    """Diff adding ``key: value`` to ``mapping`` (of ``path``); None when the mapping is written
    on one line (no line of its own to put the key on)."""
    lines = files.get(path or "")
    if not lines or mapping is None or not mapping.keys_at:
        return None
    # before a later key that starts its line (block YAML, or pretty-printed JSON)
    for other, (line, col) in list(mapping.keys_at.items())[1:]:
        text = lines[line - 1]
        if text[:col].strip() or other == key:
            continue
        pad = text[:col]
        new = [f"{pad}{json.dumps(key)}: {json.dumps(value)},"] if as_json else _yaml_lines(key, value, pad)
        return window_diff(path or "", lines, line - 1, line - 1, new)
    # else after the last key, when it and its value are the last things on their line (YAML)
    last, (line, col) = list(mapping.keys_at.items())[-1]
    v_line, _vcol, end_line, end_col = mapping.values_at[last]
    text = lines[line - 1]
    if as_json or text[:col].strip() or v_line != line or end_line != line or text[end_col:].strip():
        return None
    return window_diff(path or "", lines, line, line, _yaml_lines(key, value, text[:col]))


def set_value(files: Mapping[str, Sequence[str]], path: str | None, mapping: Map | None, key: str,
              value: str, *, as_json: bool) -> str | None:
    """Diff replacing the scalar value of ``key`` in ``mapping`` by ``value``; None when it is
    not a scalar on the key's line."""
    lines = files.get(path or "")
    if not lines or mapping is None or key not in mapping.values_at:
        return None
    line, col, end_line, end_col = mapping.values_at[key]
    if line != end_line or isinstance(mapping.get(key), (dict, list)):
        return None
    text = lines[line - 1]
    shown = json.dumps(value) if as_json or text[col:col + 1] in "\"'" else value
    new = text[:col] + shown + text[end_col:]
    return window_diff(path or "", lines, line - 1, line, [new])


def idle_timeout_diff(cfg: EnvoyConfig, cl: Cluster, value: str) -> str | None:
    """Diff setting cluster ``cl``'s upstream ``idle_timeout`` to ``value``: where it is set, else
    in its ``common_http_protocol_options`` (of the typed ``HttpProtocolOptions`` extension, or of
    the cluster itself when it uses the deprecated fields).  None for a ``/config_dump`` (what a
    control plane sent is changed there, not in the dump)."""
    files = {path: tuple(text.splitlines()) for path, text in cfg.texts.items()}
    path = cl.file
    if cl.node is None or cfg.source != "bootstrap":
        return None
    holder = cl.http_options
    if holder is not None:
        common = holder.get("common_http_protocol_options")
        if isinstance(common, Map):
            if "idle_timeout" in common:
                return set_value(files, path, common, "idle_timeout", value, as_json=cfg.json)
            return add_key(files, path, common, "idle_timeout", value, as_json=cfg.json)
        return add_key(files, path, holder, "common_http_protocol_options", {"idle_timeout": value},
                       as_json=cfg.json)
    if any(k in cl.node for k in _DEPRECATED_PROTOCOL):
        return add_key(files, path, cl.node, "common_http_protocol_options", {"idle_timeout": value},
                       as_json=cfg.json)
    typed = cl.node.get("typed_extension_protocol_options")
    options = {"@type": f"type.googleapis.com/{HTTP_OPTIONS}",
               "common_http_protocol_options": {"idle_timeout": value},
               "explicit_http_config": {"http_protocol_options": {}}}
    if isinstance(typed, Map):
        return add_key(files, path, typed, HTTP_OPTIONS, options, as_json=cfg.json)
    return add_key(files, path, cl.node, "typed_extension_protocol_options", {HTTP_OPTIONS: options},
                   as_json=cfg.json)


def _close_idle(files: Mapping[str, Sequence[str]], i: CloseIdleBefore) -> str | None:
    """The cluster's upstream ``idle_timeout`` below the backend's idle timeout: half of it when it
    is 2 s or less (gunicorn's ``--keep-alive`` default), else 1s, below Node.js's and uvicorn's
    5 s (a protobuf Duration: seconds with an ``s``, ``0.5s``).  The cluster is found again in the
    lines of its file (the renderer is given the lines, not the parsed config)."""
    lines = files.get(i.place.file or "")
    if not lines or not i.place.file:
        return None
    try:
        cfg = parse_envoy_text("\n".join(lines) + "\n", i.place.file)
    except (InputError, ValueError):
        return None
    cl = cfg.cluster(i.group)
    idle = i.backend_idle_s
    value = f"{idle / 2:g}s" if idle is not None and idle <= 2 else "1s"
    return idle_timeout_diff(cfg, cl, value) if cl is not None else None


RENDERERS: dict[type, Any] = {CloseIdleBefore: _close_idle}
